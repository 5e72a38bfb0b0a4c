//! The signing half of regcred's Docker registry token service, without IO: the
//! signing key and its self-signed certificate (what the registry trusts as
//! `auth.token.rootcertbundle`), ES256 JWTs in the shape distribution 2.8 accepts (`x5c` header,
//! `aud` a plain string, `exp`/`nbf`/`iat`, `access`), the parsing of `scope` parameters and of
//! Basic credentials, and the token endpoint's JSON answer. Deciding what a caller may do, and
//! serving HTTP, belong to the server.
//!
//! Crypto is ring alone (rcgen on its ring backend builds the certificate): one crypto provider
//! in the build. The PKCS#8 key is the one secret here; it never reaches `Debug` or an error.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// How long a generated certificate is valid.
const CERTIFICATE_VALIDITY: Duration = Duration::days(3650);

/// A generated certificate starts this long before it was made, so a registry whose clock runs
/// a little behind ours does not find it "not yet valid" and refuse every token.
const CERTIFICATE_BACKDATE: Duration = Duration::hours(1);

/// The DER prefix of a P-256 SubjectPublicKeyInfo: `SEQUENCE { SEQUENCE { id-ecPublicKey,
/// prime256v1 }, BIT STRING (0 unused bits) … }`; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

const CERTIFICATE_TAG: &str = "CERTIFICATE";

/// distribution's limit on a repository name's length (`reference.NameTotalLengthMax`).
const NAME_MAX_LEN: usize = 255;

/// What went wrong in the token service's signing half. No variant carries key material or a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum TokenServiceError {
    #[error("generating the token signing key or its certificate failed")]
    Generate(#[source] rcgen::Error),
    #[error("the token signing key is not a PKCS#8 ECDSA P-256 key ({reason})")]
    InvalidKey { reason: String },
    #[error("the token signing certificate is unusable: {reason}")]
    InvalidCertificate { reason: &'static str },
    #[error("the token signing certificate is not the certificate of the signing key")]
    KeyCertificateMismatch,
    #[error("a token lifetime of {lifetime_seconds} seconds is out of range")]
    Lifetime { lifetime_seconds: u64 },
    #[error("the system random source failed")]
    Random,
    #[error("the Authorization header does not use the Basic scheme")]
    NotBasic,
    #[error("the Basic credentials are malformed: {reason}")]
    MalformedBasic { reason: &'static str },
}

// ---------------------------------------------------------------------------------------------
// Signing key

/// The token service's signing key: an ECDSA P-256 key and a self-signed certificate for it.
/// The certificate is what the registry trusts (`auth.token.rootcertbundle`); tokens carry it in
/// their `x5c` header. Debug never shows key material.
pub struct SigningKey {
    /// PKCS#8 v1 DER, as rcgen (through ring) writes it. Secret.
    pkcs8: Vec<u8>,
    certificate_pem: String,
    /// The base64url-encoded JWT header, the same for every token.
    header_b64: String,
    /// SHA-256 of the certificate DER, lower-case hex: names the key in `Debug`.
    certificate_sha256: String,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("certificate_sha256", &self.certificate_sha256)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    typ: &'static str,
    alg: &'static str,
    x5c: [&'a str; 1],
}

impl SigningKey {
    /// A new key and certificate (CN = `common_name`, valid 10 years, key usage digitalSignature).
    pub fn generate(common_name: &str) -> Result<SigningKey, TokenServiceError> {
        let key_pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(TokenServiceError::Generate)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CERTIFICATE_BACKDATE;
        params.not_after = now + CERTIFICATE_VALIDITY;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let certificate = params
            .self_signed(&key_pair)
            .map_err(TokenServiceError::Generate)?;
        SigningKey::new(key_pair.serialize_der(), certificate.der().to_vec())
    }

    /// Rebuilds a key from what [`SigningKey::pkcs8`] and [`SigningKey::certificate_pem`]
    /// returned, and checks that the certificate holds this key's public key.
    pub fn from_parts(
        pkcs8: &[u8],
        certificate_pem: &str,
    ) -> Result<SigningKey, TokenServiceError> {
        SigningKey::new(pkcs8.to_vec(), certificate_der_from_pem(certificate_pem)?)
    }

    fn new(pkcs8: Vec<u8>, certificate_der: Vec<u8>) -> Result<SigningKey, TokenServiceError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|rejected| TokenServiceError::InvalidKey {
                reason: rejected.to_string(),
            })?;
        let spki = subject_public_key_info(&certificate_der).ok_or(
            TokenServiceError::InvalidCertificate {
                reason: "not a DER X.509 certificate",
            },
        )?;
        let public_key = key.public_key().as_ref();
        let matches = spki.len() == P256_SPKI_PREFIX.len() + public_key.len()
            && spki.starts_with(&P256_SPKI_PREFIX)
            && spki.ends_with(public_key);
        if !matches {
            return Err(TokenServiceError::KeyCertificateMismatch);
        }
        let x5c = STANDARD.encode(&certificate_der);
        let header = serde_json::to_vec(&JwtHeader {
            typ: "JWT",
            alg: "ES256",
            x5c: [&x5c],
        })
        .expect("a struct of strings serializes");
        Ok(SigningKey {
            pkcs8,
            certificate_pem: certificate_pem_from_der(&certificate_der),
            header_b64: URL_SAFE_NO_PAD.encode(header),
            certificate_sha256: hex::encode(Sha256::digest(&certificate_der)),
            key,
            rng,
        })
    }

    /// The private key, PKCS#8 DER. Secret: the caller stores it encrypted.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The certificate, one PEM block: public, the registry's `rootcertbundle`.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Signs `claims` as a compact ES256 JWT with header
    /// `{"typ":"JWT","alg":"ES256","x5c":[certificate DER, base64]}`. The signature is the
    /// fixed-size `r || s` JWS requires (not ASN.1); all three parts are base64url without
    /// padding.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenServiceError> {
        let lifetime = i64::try_from(claims.lifetime_seconds).ok();
        let expires_at = lifetime.and_then(|lifetime| claims.issued_at.checked_add(lifetime));
        let Some(exp) = expires_at else {
            return Err(TokenServiceError::Lifetime {
                lifetime_seconds: claims.lifetime_seconds,
            });
        };
        let payload = serde_json::to_vec(&JwtClaims {
            iss: &claims.issuer,
            sub: &claims.subject,
            // A plain string: distribution 2.8 fails to decode an array here.
            aud: &claims.audience,
            exp,
            nbf: claims.issued_at,
            iat: claims.issued_at,
            jti: &claims.jwt_id,
            access: &claims.access,
        })
        .expect("claims of strings and integers serialize");
        let signing_input = format!("{}.{}", self.header_b64, URL_SAFE_NO_PAD.encode(payload));
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenServiceError::Random)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// A fresh `jti`: 16 random bytes, lower-case hex.
pub fn random_jwt_id() -> Result<String, TokenServiceError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenServiceError::Random)?;
    Ok(hex::encode(bytes))
}

/// The DER of the one `CERTIFICATE` block in `pem`.
fn certificate_der_from_pem(text: &str) -> Result<Vec<u8>, TokenServiceError> {
    let blocks = pem::parse_many(text).map_err(|_| TokenServiceError::InvalidCertificate {
        reason: "the PEM block is not valid base64",
    })?;
    match blocks.as_slice() {
        [one] if one.tag() == CERTIFICATE_TAG => Ok(one.contents().to_vec()),
        _ => Err(TokenServiceError::InvalidCertificate {
            reason: "not exactly one PEM CERTIFICATE block",
        }),
    }
}

/// One PEM block, 64 characters a line, `\n` line ends.
fn certificate_pem_from_der(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(CERTIFICATE_TAG, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// One DER element at the start of `input`: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The whole DER element (tag, length and contents) of the certificate's
/// `subjectPublicKeyInfo`: `Certificate → tbsCertificate → [version], serialNumber, signature,
/// issuer, validity, subject, subjectPublicKeyInfo` (RFC 5280 §4.1).
fn subject_public_key_info(certificate: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let (tag, certificate, trailing) = der_element(certificate)?;
    if tag != SEQUENCE || !trailing.is_empty() {
        return None;
    }
    let (tag, mut fields, _) = der_element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    if der_element(fields)?.0 == VERSION {
        fields = der_element(fields)?.2;
    }
    for _ in 0..5 {
        fields = der_element(fields)?.2;
    }
    let (tag, _, after) = der_element(fields)?;
    (tag == SEQUENCE).then(|| &fields[..fields.len() - after.len()])
}

// ---------------------------------------------------------------------------------------------
// Claims and the token response

/// One entry of the JWT `access` claim: what the token allows on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// What a token says. `subject` is empty for anonymous callers; `audience` is the registry's
/// `service`, `issuer` its `auth.token.issuer`. The token is valid from `issued_at` (unix
/// seconds; also its `nbf`) for `lifetime_seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
    pub access: Vec<Access>,
    pub issued_at: i64,
    pub lifetime_seconds: u64,
    pub jwt_id: String,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: &'a str,
    access: &'a [Access],
}

/// The token endpoint's JSON answer: `token` and `access_token` (the same JWT, for old and
/// OAuth2-style clients), `expires_in`, and `issued_at` in RFC 3339 (left out when `issued_at`
/// is not a representable time).
pub fn token_response(token: &str, lifetime_seconds: u64, issued_at: i64) -> serde_json::Value {
    let mut response = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": lifetime_seconds,
    });
    let issued_at = OffsetDateTime::from_unix_timestamp(issued_at)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok());
    if let Some(issued_at) = issued_at {
        response["issued_at"] = serde_json::Value::String(issued_at);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Scopes

/// One `scope` parameter, `repository:name:pull,push` (also `repository(plugin):name:pull`,
/// `registry:catalog:*`). A resource class such as `(plugin)` is dropped from
/// `resource_type`: distribution treats `repository(plugin)` as `repository` and tells token
/// services not to return classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Parses the `scope` query parameters (each may hold several scopes separated by spaces, as
/// the OAuth2 form does) following distribution's scope grammar: the type is what precedes the
/// first `:`, the actions what follows the last `:` (split at `,`), the name what lies between,
/// so a name may carry one `:` for a registry port (`repository:host:5000/a:pull`). Malformed
/// scopes are skipped, which gives them no access: a type or class that is not `[a-z0-9]+`, a
/// name outside the grammar (lower-case path components, an optional host prefix, at most 255
/// characters), an action outside `[a-z*]*`. Empty actions are dropped, repeated ones merged,
/// and a scope that asks for no action is left out.
pub fn parse_scopes<'a>(params: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
    params
        .into_iter()
        .flat_map(|param| param.split(' '))
        .filter(|scope| !scope.is_empty())
        .filter_map(parse_scope)
        .collect()
}

fn parse_scope(scope: &str) -> Option<Scope> {
    let (resource_type, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let resource_type = resource_type_without_class(resource_type)?;
    if !is_resource_name(name) {
        return None;
    }
    let mut parsed: Vec<String> = Vec::new();
    for action in actions.split(',') {
        if !action.bytes().all(|b| b.is_ascii_lowercase() || b == b'*') {
            return None;
        }
        if !action.is_empty() && !parsed.iter().any(|seen| seen == action) {
            parsed.push(action.to_string());
        }
    }
    (!parsed.is_empty()).then(|| Scope {
        resource_type: resource_type.to_string(),
        name: name.to_string(),
        actions: parsed,
    })
}

fn is_type_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `type` or `type(class)` → `type`.
fn resource_type_without_class(resource_type: &str) -> Option<&str> {
    let (kind, class) = match resource_type.split_once('(') {
        None => (resource_type, None),
        Some((kind, class)) => (kind, Some(class.strip_suffix(')')?)),
    };
    (is_type_value(kind) && class.is_none_or(is_type_value)).then_some(kind)
}

/// `[hostname '/'] component ('/' component)*` with distribution's grammar.
fn is_resource_name(name: &str) -> bool {
    if name.is_empty() || name.len() > NAME_MAX_LEN {
        return false;
    }
    let mut parts = name.split('/');
    let Some(first) = parts.next() else {
        return false;
    };
    let path: Vec<&str> = parts.collect();
    let first_ok = is_path_component(first) || (!path.is_empty() && is_hostname(first));
    first_ok && path.iter().all(|part| is_path_component(part))
}

/// `alpha-numeric (separator alpha-numeric)*`, alpha-numeric `[a-z0-9]+`, separator `[_.]`,
/// `__` or `-+`.
fn is_path_component(component: &str) -> bool {
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alphanumeric(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let separator_start = i;
        while i < bytes.len() && !alphanumeric(bytes[i]) {
            i += 1;
        }
        let separator = &component[separator_start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
}

/// `hostcomponent ('.' hostcomponent)* [':' port]`, hostcomponent
/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_hostname(host: &str) -> bool {
    let (host, port) = match host.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host, None),
    };
    let port_ok =
        port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    port_ok && host.split('.').all(label_ok)
}

// ---------------------------------------------------------------------------------------------
// Basic credentials

/// Standard base64 that accepts the padding or its absence, as some clients leave it off.
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The Basic credentials (username, password) of an `Authorization` header value. The scheme
/// is case-insensitive; the decoded pair is split at the first `:`, so a password may contain
/// `:` and a username may not. Another scheme is [`TokenServiceError::NotBasic`]; bad base64,
/// non-UTF-8 or a missing `:` are [`TokenServiceError::MalformedBasic`]. Errors never carry
/// the header's content.
pub fn basic_credentials(header: &str) -> Result<(String, String), TokenServiceError> {
    let header = header.trim();
    let (scheme, encoded) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenServiceError::NotBasic);
    }
    let encoded = encoded.trim_start_matches(' ');
    if encoded.is_empty() {
        return Err(TokenServiceError::MalformedBasic {
            reason: "no credentials after the scheme",
        });
    }
    let decoded =
        BASE64_ANY_PADDING
            .decode(encoded)
            .map_err(|_| TokenServiceError::MalformedBasic {
                reason: "not valid base64",
            })?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenServiceError::MalformedBasic {
        reason: "not UTF-8",
    })?;
    let (username, password) =
        decoded
            .split_once(':')
            .ok_or(TokenServiceError::MalformedBasic {
                reason: "no ':' between username and password",
            })?;
    Ok((username.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_can_be_shared_between_request_handlers() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SigningKey>();
    }

    #[test]
    fn the_certificate_of_a_generated_key_holds_its_public_key() {
        let key = SigningKey::generate("unit").unwrap();
        let der = certificate_der_from_pem(key.certificate_pem()).unwrap();
        let spki = subject_public_key_info(&der).unwrap();
        assert_eq!(&spki[..P256_SPKI_PREFIX.len()], P256_SPKI_PREFIX);
        assert_eq!(
            &spki[P256_SPKI_PREFIX.len()..],
            key.key.public_key().as_ref()
        );
    }

    #[test]
    fn truncated_der_is_not_a_certificate() {
        let key = SigningKey::generate("unit").unwrap();
        let der = certificate_der_from_pem(key.certificate_pem()).unwrap();
        for len in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            assert!(subject_public_key_info(&der[..len]).is_none(), "{len}");
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(subject_public_key_info(&trailing).is_none());
    }

    #[test]
    fn path_components_and_hostnames_follow_the_grammar() {
        for good in ["a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "0"] {
            assert!(is_path_component(good), "{good}");
        }
        for bad in [
            "", "A", "a..b", "a___b", ".a", "a.", "a-", "a._b", "a b", "a:b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
        for good in ["localhost", "Host", "a.b.c", "host:5000", "my-host.example"] {
            assert!(is_hostname(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a..b", "host:", "host:50a", "a_b"] {
            assert!(!is_hostname(bad), "{bad}");
        }
    }
}
