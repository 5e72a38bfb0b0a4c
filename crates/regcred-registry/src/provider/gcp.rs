//! Google Container Registry / Artifact Registry access tokens: a service-account key
//! signs an RS256 JWT assertion, the key's own `token_uri` exchanges it (the OAuth2 JWT bearer
//! grant, RFC 7523) for a one-hour access token, and registries accept that token as the password
//! of the user `oauth2accesstoken`. The key's `private_key` PEM is parsed here and signed with
//! `ring`, so no second crypto stack is linked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use regcred_core::secret::Secret;
use reqwest::Url;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Serialize;
use serde_json::Value;

use super::oauth::{check_bearer, post_form, seconds, string_field, FormPost};
use super::{MintError, Minted};

const PROVIDER: &str = "Google";

/// The username registries expect with an OAuth2 access token (GCR and Artifact Registry).
pub const ACCESS_TOKEN_USERNAME: &str = "oauth2accesstoken";

/// Where Google's keys send assertions when the key names no `token_uri`.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The scope asked for when the caller names none; registries need no narrower one.
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Lifetime of the assertion itself; Google accepts at most one hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// Lifetime assumed when a 2xx answer carries no `expires_in`: Google documents one hour.
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 3600;

const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Mints a one-hour access token from a service-account key (the JSON Google issues, kept as
/// a [`Secret`]), asking for `scope` ([`DEFAULT_SCOPE`] when `None`). `now_ms` is the current
/// time in Unix milliseconds: the assertion's `iat` and the answer's expiry are counted from it.
///
/// Errors: a malformed key or answer is [`MintError::Invalid`] (and sends nothing when the key
/// is at fault); 400/401/403 from the token endpoint (`invalid_grant`, `invalid_client`, …) is
/// [`MintError::Rejected`]; no connection, a timeout, 408, 429 or 5xx is
/// [`MintError::Unavailable`].
#[tracing::instrument(name = "gcp_mint_access_token", skip_all, fields(client_email))]
pub async fn mint_access_token(
    http: &reqwest::Client,
    service_account_key: &Secret,
    scope: Option<&str>,
    now_ms: i64,
) -> Result<Minted, MintError> {
    let key = ServiceAccountKey::parse(service_account_key.expose())?;
    tracing::Span::current().record("client_email", key.client_email.as_str());
    let scope = match scope {
        None => DEFAULT_SCOPE,
        Some(scope) if scope.trim().is_empty() => return Err(invalid("the scope is empty")),
        Some(scope) => scope,
    };
    let assertion = Secret::new(key.assertion(scope, now_ms)?);

    let answer = post_form(
        http,
        &FormPost {
            provider: PROVIDER,
            what: "the token endpoint",
            url: key.token_uri.clone(),
            form: &[
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", assertion.expose()),
            ],
        },
    )
    .await?;

    let access_token = string_field(&answer, "access_token")
        .ok_or_else(|| invalid("the token endpoint's answer has no access_token"))?;
    check_bearer(&answer, PROVIDER, "the token endpoint")?;
    let lifetime_secs = match answer.get("expires_in") {
        None => DEFAULT_TOKEN_LIFETIME_SECS,
        Some(value) => seconds(value)
            .ok_or_else(|| invalid("the token endpoint's expires_in is not a number of seconds"))?,
    };
    let expires_at_ms = now_ms.saturating_add(lifetime_secs.max(0).saturating_mul(1000));
    tracing::debug!(lifetime_secs, "minted a GCP access token");
    Ok(Minted {
        username: ACCESS_TOKEN_USERNAME.to_owned(),
        password: Secret::new(access_token),
        expires_at_ms: Some(expires_at_ms),
        endpoint: None,
    })
}

fn invalid(message: impl Into<String>) -> MintError {
    MintError::Invalid {
        provider: PROVIDER,
        message: message.into(),
    }
}

/// The parts of a service-account key this provider uses. Holds the signing key, so it has no
/// `Debug`.
struct ServiceAccountKey {
    client_email: String,
    private_key_id: Option<String>,
    /// Where the assertion is posted.
    token_uri: Url,
    /// The `token_uri` exactly as the key spells it: the assertion's `aud`, which Google compares
    /// as a string (`Url` would normalize it, e.g. add a trailing `/`).
    audience: String,
    signer: RsaKeyPair,
}

impl ServiceAccountKey {
    /// Reads the key JSON. Error messages name fields, never their values: serde's own messages
    /// can quote the input, which here is secret.
    fn parse(json: &str) -> Result<ServiceAccountKey, MintError> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            invalid(format!(
                "the service-account key is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let object = value
            .as_object()
            .ok_or_else(|| invalid("the service-account key is not a JSON object"))?;
        match object.get("type").and_then(Value::as_str) {
            Some("service_account") => {}
            _ => {
                return Err(invalid(
                    "the key's type is not \"service_account\"; only service-account keys can mint tokens",
                ))
            }
        }
        let client_email = string_field(object, "client_email")
            .ok_or_else(|| invalid("the service-account key has no client_email"))?;
        let private_key_id = string_field(object, "private_key_id");
        let token_uri = match object.get("token_uri") {
            None | Some(Value::Null) => DEFAULT_TOKEN_URI.to_owned(),
            Some(value) => value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid("the key's token_uri is not a string"))?,
        };
        let audience = token_uri;
        let token_uri = Url::parse(&audience)
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http") && url.host_str().is_some())
            .ok_or_else(|| invalid("the key's token_uri is not an http(s) URL"))?;
        let pem = object
            .get("private_key")
            .and_then(Value::as_str)
            .filter(|pem| !pem.is_empty())
            .ok_or_else(|| invalid("the service-account key has no private_key"))?;
        let signer = RsaKeyPair::from_pkcs8(&pkcs8_from_pem(pem)?).map_err(|rejected| {
            // `KeyRejected` names a reason ("InvalidEncoding", "TooSmall", …), never key bytes.
            invalid(format!(
                "the key's private_key is not a usable RSA key ({rejected})"
            ))
        })?;
        Ok(ServiceAccountKey {
            client_email,
            private_key_id,
            token_uri,
            audience,
            signer,
        })
    }

    /// The signed JWT: `{"alg":"RS256","typ":"JWT","kid":…}` and the claims Google's JWT bearer
    /// grant requires, valid from `now_ms` (rounded down to the second) for one hour.
    fn assertion(&self, scope: &str, now_ms: i64) -> Result<String, MintError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            typ: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let iat = now_ms.div_euclid(1000);
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: self.private_key_id.as_deref(),
        };
        let claims = Claims {
            iss: &self.client_email,
            scope,
            aud: &self.audience,
            iat,
            exp: iat.saturating_add(ASSERTION_LIFETIME_SECS),
        };
        // Serializing these plain structs cannot fail.
        let header = serde_json::to_vec(&header).expect("a JWT header serializes");
        let claims = serde_json::to_vec(&claims).expect("JWT claims serialize");
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| invalid("signing the JWT assertion failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The PKCS#8 DER of the key's `PRIVATE KEY` PEM block (text around it is ignored, as PEM
/// allows). Decoding is the `pem` crate's; when it finds no such block, the BEGIN lines present
/// say why, without quoting anything of the key.
fn pkcs8_from_pem(text: &str) -> Result<Vec<u8>, MintError> {
    let blocks = pem::parse_many(text).unwrap_or_default();
    if let Some(key) = blocks.iter().find(|b| b.tag() == "PRIVATE KEY") {
        return Ok(key.contents().to_vec());
    }
    let has = |line: &str| text.contains(line);
    Err(invalid(if has("-----BEGIN RSA PRIVATE KEY-----") {
        "the key's private_key is a PKCS#1 RSA key; Google keys are PKCS#8 (BEGIN PRIVATE KEY)"
    } else if has("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        "the key's private_key is encrypted"
    } else if !has("-----BEGIN PRIVATE KEY-----") {
        "the key's private_key is not a PEM PRIVATE KEY block"
    } else if !has("-----END PRIVATE KEY-----") {
        "the key's private_key PEM block has no END line"
    } else {
        "the key's private_key PEM block is not valid base64"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors_name_the_problem_without_quoting() {
        for (pem, expected) in [
            (
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
                "PKCS#1",
            ),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n", "encrypted"),
            ("not a pem canary", "not a PEM"),
            ("-----BEGIN PRIVATE KEY-----\ncanary", "no END line"),
            (
                "-----BEGIN PRIVATE KEY-----\n!!canary!!\n-----END PRIVATE KEY-----",
                "base64",
            ),
        ] {
            let e = pkcs8_from_pem(pem).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("canary"), "{text}");
        }
    }
}
