//! The signing half of regcred's token service (`regcred_registry::token_service`): scope and
//! Basic-credential parsing, the JWT's structure and signature checked independently of the
//! code that made them, key round trips and redaction — and the decisive test against the real
//! distribution registry 2.8 (Debian `docker-registry`) in token mode, trusting only our
//! certificate, driven by the real skopeo: a small token endpoint built from `SigningKey`,
//! `parse_scopes`, `basic_credentials` and `token_response` grants pull on `team/app` to one
//! account and pull and push to another, and the registry must let exactly those through.
//!
//! Needs the Debian packages `docker-registry` and `skopeo` (scripts/setup installs them);
//! without them the real-registry tests fail, they do not skip.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use regcred_registry::token_service::{
    basic_credentials, parse_scopes, random_jwt_id, token_response, Access, Claims, Scope,
    SigningKey, TokenServiceError,
};
use regcred_registry::{ClientConfig, Credentials, Endpoint, Outcome, RegistryClient, Target};
use regcred_testkit::{
    push_test_image, Auth, Registry, RegistryOptions, Skopeo, SkopeoAuth, TlsMode,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------------
// Scopes

/// `params` parse to exactly `expected` (type, name, actions).
#[track_caller]
fn check_scopes(params: &[&str], expected: &[(&str, &str, &[&str])]) {
    let expected: Vec<Scope> = expected
        .iter()
        .map(|(resource_type, name, actions)| Scope {
            resource_type: resource_type.to_string(),
            name: name.to_string(),
            actions: actions.iter().map(ToString::to_string).collect(),
        })
        .collect();
    assert_eq!(parse_scopes(params.iter().copied()), expected, "{params:?}");
}

#[test]
fn scopes_from_distributions_examples() {
    check_scopes(
        &["repository:samalba/my-app:pull,push"],
        &[("repository", "samalba/my-app", &["pull", "push"])],
    );
    check_scopes(
        &["repository:a/b:pull,push"],
        &[("repository", "a/b", &["pull", "push"])],
    );
    check_scopes(&["registry:catalog:*"], &[("registry", "catalog", &["*"])]);
    check_scopes(
        &["repository:library/ubuntu:*"],
        &[("repository", "library/ubuntu", &["*"])],
    );
}

#[test]
fn a_resource_class_is_dropped_as_distribution_ignores_it() {
    check_scopes(
        &["repository(plugin):vieux/sshfs:pull"],
        &[("repository", "vieux/sshfs", &["pull"])],
    );
}

#[test]
fn a_name_may_carry_a_host_with_a_port() {
    // distribution's scope grammar: "the resourcename may contain one `:` due to a possible
    // port number", so the actions are what follows the last `:`.
    check_scopes(
        &["repository:host:5000/a:pull"],
        &[("repository", "host:5000/a", &["pull"])],
    );
    check_scopes(
        &["repository:127.0.0.1:5000/team/app:pull,push"],
        &[("repository", "127.0.0.1:5000/team/app", &["pull", "push"])],
    );
    check_scopes(
        &["repository:registry.example.com/team/app:pull"],
        &[("repository", "registry.example.com/team/app", &["pull"])],
    );
}

#[test]
fn several_scopes_in_one_parameter_or_several_parameters() {
    check_scopes(
        &["repository:a:pull repository:b/c:push", "repository:d:pull"],
        &[
            ("repository", "a", &["pull"]),
            ("repository", "b/c", &["push"]),
            ("repository", "d", &["pull"]),
        ],
    );
    check_scopes(
        &["  repository:a:pull  "],
        &[("repository", "a", &["pull"])],
    );
}

#[test]
fn empty_and_repeated_actions_are_dropped() {
    check_scopes(
        &["repository:a:pull,,push,pull,"],
        &[("repository", "a", &["pull", "push"])],
    );
    check_scopes(&["repository:a:", "repository:a:,"], &[]);
}

#[test]
fn malformed_scopes_are_skipped_and_the_rest_kept() {
    let long_name = "a".repeat(256);
    let longest_name = "a".repeat(255);
    let malformed = [
        "",
        "repository",
        "repository:a",
        "repository::pull",
        ":a:pull",
        "Repository:a:pull",
        "repo-sitory:a:pull",
        "repository(:a:pull",
        "repository(plugin:a:pull",
        "repository(Plugin):a:pull",
        "repository():a:pull",
        "repository:a/B:pull",
        "repository:A:pull",
        "repository:a//b:pull",
        "repository:/a:pull",
        "repository:a/:pull",
        "repository:../etc:pull",
        "repository:a/..:pull",
        "repository:a/b:c:pull",
        "repository:host:5000:pull",
        "repository:a:PULL",
        "repository:a:pull;rm",
        &format!("repository:{long_name}:pull"),
    ];
    for scope in malformed {
        check_scopes(&[scope], &[]);
        // A malformed scope does not spoil the well-formed ones around it.
        check_scopes(
            &["repository:ok:pull", scope, "repository:ok2:push"],
            &[
                ("repository", "ok", &["pull"]),
                ("repository", "ok2", &["push"]),
            ],
        );
    }
    check_scopes(
        &[&format!("repository:{longest_name}:pull")],
        &[("repository", &longest_name, &["pull"])],
    );
}

// ---------------------------------------------------------------------------------------------
// Basic credentials

#[track_caller]
fn check_basic(header: &str, expected: Option<(&str, &str)>) {
    let parsed = basic_credentials(header);
    match expected {
        Some((user, password)) => match parsed {
            Ok(pair) => assert_eq!(pair, (user.to_string(), password.to_string()), "{header}"),
            Err(err) => panic!("{header}: {err}"),
        },
        None => assert!(parsed.is_err(), "{header}: parsed as {parsed:?}"),
    }
}

fn basic(user_password: &[u8]) -> String {
    format!("Basic {}", STANDARD.encode(user_password))
}

#[test]
fn basic_credentials_are_parsed_like_go_net_http_does() {
    check_basic(&basic(b"ada:pw"), Some(("ada", "pw")));
    // Scheme case-insensitive.
    check_basic(
        &format!("basic {}", STANDARD.encode("ada:pw")),
        Some(("ada", "pw")),
    );
    check_basic(
        &format!("BASIC {}", STANDARD.encode("ada:pw")),
        Some(("ada", "pw")),
    );
    // Split at the first ':': the password keeps the others.
    check_basic(&basic(b"ada:p:a:ss"), Some(("ada", "p:a:ss")));
    check_basic(
        &basic("ada:p:a&s<s> w%rd-é".as_bytes()),
        Some(("ada", "p:a&s<s> w%rd-é")),
    );
    // Empty parts are still credentials; the caller decides whether they are an account.
    check_basic(&basic(b":"), Some(("", "")));
    check_basic(&basic(b"ada:"), Some(("ada", "")));
    // Surrounding whitespace.
    check_basic(&format!("  {}  ", basic(b"ada:pw")), Some(("ada", "pw")));
}

#[test]
fn basic_credentials_accept_padding_and_its_absence() {
    // "ada:p" is 5 bytes: base64 with one '=' of padding.
    let padded = STANDARD.encode("ada:p");
    assert!(padded.ends_with('='), "{padded}");
    check_basic(&format!("Basic {padded}"), Some(("ada", "p")));
    check_basic(
        &format!("Basic {}", padded.trim_end_matches('=')),
        Some(("ada", "p")),
    );
    // "ada:pw" is 6 bytes: no padding at all.
    check_basic(&basic(b"ada:pw"), Some(("ada", "pw")));
}

#[test]
fn malformed_basic_credentials_are_errors() {
    check_basic("", None);
    check_basic("Basic", None);
    check_basic("Basic ", None);
    check_basic("Basic !!!notbase64", None);
    check_basic(&format!("Basic {}=", STANDARD.encode("ada:p")), None);
    // No ':' at all.
    check_basic(&basic(b"ada"), None);
    // Not UTF-8.
    check_basic(&basic(b"ada:\xff\xfe"), None);
    check_basic(&basic(b"\xc3:pw"), None);
    assert!(matches!(
        basic_credentials("Bearer abc.def.ghi"),
        Err(TokenServiceError::NotBasic)
    ));
    assert!(matches!(
        basic_credentials(&format!("Basicx {}", STANDARD.encode("ada:pw"))),
        Err(TokenServiceError::NotBasic)
    ));
    assert!(matches!(
        basic_credentials(&basic(b"ada")),
        Err(TokenServiceError::MalformedBasic { .. })
    ));
}

#[test]
fn basic_credential_errors_do_not_leak_the_header() {
    let canary = "hunter2-canary";
    for header in [
        basic(canary.as_bytes()),
        format!("Basic {canary}!!"),
        format!("Bearer {canary}"),
        basic(&[b'a', b':', 0xff, b'h', b'u', b'n', b't', b'e', b'r']),
    ] {
        let err = basic_credentials(&header).expect_err(&header);
        for rendered in [err.to_string(), format!("{err:?}")] {
            assert!(!rendered.contains(canary), "{rendered}");
            assert!(!rendered.contains(&STANDARD.encode(canary)), "{rendered}");
            assert!(!rendered.contains("hunter"), "{rendered}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWT structure and signature, checked without the code under test

/// The P-256 SubjectPublicKeyInfo prefix; in a certificate, the 65-byte point follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

/// The uncompressed public point of the P-256 key in a certificate.
fn certificate_public_key(der: &[u8]) -> Vec<u8> {
    let at = der
        .windows(P256_SPKI_PREFIX.len())
        .position(|window| window == P256_SPKI_PREFIX)
        .expect("a P-256 SubjectPublicKeyInfo in the certificate");
    der[at + P256_SPKI_PREFIX.len()..at + P256_SPKI_PREFIX.len() + 65].to_vec()
}

struct DecodedJwt {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn decode_jwt(token: &str) -> DecodedJwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS has three parts: {token}");
    for part in &parts {
        assert!(
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "base64url without padding: {part}"
        );
    }
    let json = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    DecodedJwt {
        header: json(parts[0]),
        claims: json(parts[1]),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("base64url signature"),
    }
}

/// Whether the JWT's signature verifies with the P-256 key of `certificate_pem`.
fn signature_verifies(jwt: &DecodedJwt, certificate_pem: &str) -> bool {
    let point = certificate_public_key(&pem_to_der(certificate_pem));
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(jwt.signing_input.as_bytes(), &jwt.signature)
        .is_ok()
}

fn pull(name: &str) -> Access {
    Access {
        resource_type: "repository".into(),
        name: name.into(),
        actions: vec!["pull".into()],
    }
}

fn claims(access: Vec<Access>) -> Claims {
    Claims {
        issuer: "regcred-issuer".into(),
        subject: "ada".into(),
        audience: "registry.example.com".into(),
        access,
        issued_at: 1_700_000_000,
        lifetime_seconds: 300,
        jwt_id: "jti-1".into(),
    }
}

#[test]
fn jwt_has_the_header_and_claims_distribution_reads() {
    let key = SigningKey::generate("regcred token service").unwrap();
    let token = key
        .sign(&claims(vec![
            Access {
                resource_type: "repository".into(),
                name: "team/app".into(),
                actions: vec!["pull".into(), "push".into()],
            },
            pull("127.0.0.1:5000/x"),
        ]))
        .unwrap();
    let jwt = decode_jwt(&token);

    let certificate_der = pem_to_der(key.certificate_pem());
    assert_eq!(
        jwt.header,
        serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&certificate_der)],
        })
    );
    assert_eq!(
        jwt.claims,
        serde_json::json!({
            "iss": "regcred-issuer",
            "sub": "ada",
            // A plain string, never an array: distribution 2.8 rejects arrays.
            "aud": "registry.example.com",
            "exp": 1_700_000_300,
            "nbf": 1_700_000_000,
            "iat": 1_700_000_000,
            "jti": "jti-1",
            "access": [
                { "type": "repository", "name": "team/app", "actions": ["pull", "push"] },
                { "type": "repository", "name": "127.0.0.1:5000/x", "actions": ["pull"] },
            ],
        })
    );
    assert_eq!(jwt.signature.len(), 64, "ES256 is fixed-size r || s");
    assert!(signature_verifies(&jwt, key.certificate_pem()));

    // The check can fail: another key's certificate, or a changed payload.
    let other = SigningKey::generate("other").unwrap();
    assert!(!signature_verifies(&jwt, other.certificate_pem()));
    let mut tampered = decode_jwt(&token);
    tampered.signing_input.push('x');
    assert!(!signature_verifies(&tampered, key.certificate_pem()));
}

#[test]
fn anonymous_tokens_have_an_empty_subject_and_an_empty_access_list() {
    let key = SigningKey::generate("regcred token service").unwrap();
    let mut anonymous = claims(Vec::new());
    anonymous.subject = String::new();
    let jwt = decode_jwt(&key.sign(&anonymous).unwrap());
    assert_eq!(jwt.claims["sub"], "");
    assert_eq!(jwt.claims["access"], serde_json::json!([]));
    assert!(signature_verifies(&jwt, key.certificate_pem()));
}

#[test]
fn every_signature_is_fresh_and_verifies() {
    // ECDSA signatures are randomized: two signatures of the same claims differ, both verify.
    let key = SigningKey::generate("regcred token service").unwrap();
    let first = key.sign(&claims(vec![pull("a")])).unwrap();
    let second = key.sign(&claims(vec![pull("a")])).unwrap();
    assert_ne!(first, second);
    for token in [first, second] {
        assert!(signature_verifies(
            &decode_jwt(&token),
            key.certificate_pem()
        ));
    }
}

#[test]
fn a_lifetime_past_the_end_of_time_is_an_error() {
    let key = SigningKey::generate("regcred token service").unwrap();
    for (issued_at, lifetime_seconds) in [(0, u64::MAX), (i64::MAX - 10, 11)] {
        let mut claims = claims(Vec::new());
        claims.issued_at = issued_at;
        claims.lifetime_seconds = lifetime_seconds;
        assert!(matches!(
            key.sign(&claims),
            Err(TokenServiceError::Lifetime { .. })
        ));
    }
}

#[test]
fn certificate_is_self_signed_p256_for_ten_years() {
    let key = SigningKey::generate("regcred token service").unwrap();
    let pem = key.certificate_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"), "{pem}");
    assert_eq!(pem.matches("BEGIN").count(), 1);
    assert!(pem.lines().all(|line| line.len() <= 64), "{pem}");
    let der = pem_to_der(pem);
    assert_eq!(certificate_public_key(&der).len(), 65);
    // The common name appears as a UTF8String in issuer and subject (self-signed).
    let cn = b"regcred token service";
    let occurrences = der.windows(cn.len()).filter(|window| window == cn).count();
    assert_eq!(occurrences, 2, "CN in issuer and subject");

    // Validity: SEQUENCE (30 bytes) of two UTCTimes `YYMMDDHHMMSSZ`.
    let at = der
        .windows(4)
        .position(|window| window == [0x30, 0x1e, 0x17, 0x0d])
        .expect("a validity of two UTCTimes");
    let utc_time = |offset: usize| {
        // Two-digit UTCTime years are 20YY until 2049 (RFC 5280).
        let text = format!(
            "20{}",
            std::str::from_utf8(&der[offset..offset + 13]).unwrap()
        );
        let format = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
        time::PrimitiveDateTime::parse(&text, &format)
            .unwrap_or_else(|err| panic!("{text}: {err}"))
            .assume_utc()
    };
    let not_before = utc_time(at + 4);
    let not_after = utc_time(at + 4 + 15);
    let now = OffsetDateTime::now_utc();
    let backdated = now - not_before;
    assert!(
        backdated >= time::Duration::minutes(59) && backdated <= time::Duration::minutes(61),
        "not before {not_before}, now {now}"
    );
    let ahead = not_after - now;
    assert!(
        ahead >= time::Duration::days(3650) - time::Duration::minutes(1)
            && ahead <= time::Duration::days(3650) + time::Duration::minutes(1),
        "not after {not_after}, now {now}"
    );
}

// ---------------------------------------------------------------------------------------------
// Key round trip and redaction

#[test]
fn from_parts_rebuilds_the_same_key() {
    let key = SigningKey::generate("regcred token service").unwrap();
    let rebuilt = SigningKey::from_parts(key.pkcs8(), key.certificate_pem()).unwrap();
    assert_eq!(rebuilt.pkcs8(), key.pkcs8());
    assert_eq!(rebuilt.certificate_pem(), key.certificate_pem());
    // Tokens of the rebuilt key verify with the original certificate.
    let jwt = decode_jwt(&rebuilt.sign(&claims(vec![pull("a")])).unwrap());
    assert!(signature_verifies(&jwt, key.certificate_pem()));
    assert_eq!(
        jwt.header["x5c"][0],
        STANDARD.encode(pem_to_der(key.certificate_pem()))
    );

    // A PEM with CRLF line ends and surrounding blank lines is the same certificate.
    let crlf = format!("\n{}\n", key.certificate_pem().replace('\n', "\r\n"));
    let rebuilt = SigningKey::from_parts(key.pkcs8(), &crlf).unwrap();
    assert_eq!(rebuilt.certificate_pem(), key.certificate_pem());
}

#[test]
fn from_parts_refuses_a_certificate_of_another_key() {
    let key = SigningKey::generate("a").unwrap();
    let other = SigningKey::generate("a").unwrap();
    assert!(matches!(
        SigningKey::from_parts(key.pkcs8(), other.certificate_pem()),
        Err(TokenServiceError::KeyCertificateMismatch)
    ));
    assert!(matches!(
        SigningKey::from_parts(other.pkcs8(), key.certificate_pem()),
        Err(TokenServiceError::KeyCertificateMismatch)
    ));
}

#[test]
fn from_parts_refuses_what_is_not_a_key_or_a_certificate() {
    let key = SigningKey::generate("a").unwrap();
    let pem = key.certificate_pem();
    let mut truncated_key = key.pkcs8().to_vec();
    truncated_key.truncate(truncated_key.len() - 1);
    for bad_key in [&b""[..], b"not a key", &truncated_key] {
        assert!(matches!(
            SigningKey::from_parts(bad_key, pem),
            Err(TokenServiceError::InvalidKey { .. })
        ));
    }
    let der = pem_to_der(pem);
    let truncated_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&der[..der.len() - 10])
    );
    for bad_pem in [
        String::new(),
        "not a certificate".to_string(),
        pem.replace("CERTIFICATE", "PRIVATE KEY"),
        format!("{pem}{pem}"),
        pem.replacen('M', "*", 1),
        truncated_pem,
    ] {
        assert!(
            matches!(
                SigningKey::from_parts(key.pkcs8(), &bad_pem),
                Err(TokenServiceError::InvalidCertificate { .. })
            ),
            "{bad_pem}"
        );
    }
}

#[test]
fn debug_shows_the_certificate_fingerprint_and_no_key_material() {
    let key = SigningKey::generate("regcred token service").unwrap();
    let fingerprint: String = Sha256::digest(pem_to_der(key.certificate_pem()))
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let debug = format!("{key:?}");
    assert_eq!(
        debug,
        format!("SigningKey {{ certificate_sha256: {fingerprint:?}, .. }}")
    );
    let pretty = format!("{key:#?}");
    for secret in [
        STANDARD.encode(key.pkcs8()),
        format!("{:?}", key.pkcs8()),
        key.pkcs8()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect(),
    ] {
        assert!(!pretty.contains(&secret[..24]));
    }
}

// ---------------------------------------------------------------------------------------------
// The token response

#[test]
fn token_response_carries_the_token_twice_the_lifetime_and_the_issue_time() {
    let response = token_response("a.b.c", 300, 1_700_000_000);
    assert_eq!(
        response,
        serde_json::json!({
            "token": "a.b.c",
            "access_token": "a.b.c",
            "expires_in": 300,
            "issued_at": "2023-11-14T22:13:20Z",
        })
    );
    let issued_at = response["issued_at"].as_str().unwrap();
    assert_eq!(
        OffsetDateTime::parse(issued_at, &Rfc3339)
            .unwrap()
            .unix_timestamp(),
        1_700_000_000
    );
    // A time no calendar holds is left out rather than invented.
    let response = token_response("a.b.c", 60, i64::MAX);
    assert_eq!(response.get("issued_at"), None);
    assert_eq!(response["expires_in"], 60);
}

#[test]
fn random_jwt_ids_are_distinct() {
    let first = random_jwt_id().unwrap();
    let second = random_jwt_id().unwrap();
    assert_eq!(first.len(), 32);
    assert_ne!(first, second);
}

// ---------------------------------------------------------------------------------------------
// The real registry

const SERVICE: &str = "registry.regcred.test";
const ISSUER: &str = "regcred token service (test)";
const REPOSITORY: &str = "team/app";
const TOKEN_LIFETIME: u64 = 300;
const OCI_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// An account of the test endpoint and what it may do on [`REPOSITORY`].
struct Account {
    user: &'static str,
    password: &'static str,
    actions: &'static [&'static str],
}

const ACCOUNTS: &[Account] = &[
    Account {
        user: "reader",
        password: "read-pw",
        actions: &["pull"],
    },
    Account {
        user: "pusher",
        password: "push-pw",
        actions: &["pull", "push"],
    },
    // A valid account with no grant: it gets tokens, with an empty access list.
    Account {
        user: "outsider",
        password: "out-pw",
        actions: &[],
    },
];

struct EndpointState {
    key: SigningKey,
    requests: AtomicU64,
}

/// A minimal token endpoint on the library: authenticate (anonymous allowed), intersect the
/// requested scopes with the account's grant on [`REPOSITORY`], sign, answer.
async fn token_endpoint(
    State(state): State<Arc<EndpointState>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "details": "incorrect username or password" })),
        )
            .into_response()
    };
    let account = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let Ok(value) = value.to_str() else {
                return unauthorized();
            };
            match basic_credentials(value) {
                Ok((user, password)) => match ACCOUNTS
                    .iter()
                    .find(|account| account.user == user && account.password == password)
                {
                    Some(account) => Some(account),
                    None => return unauthorized(),
                },
                Err(_) => return unauthorized(),
            }
        }
    };
    let scopes = parse_scopes(
        params
            .iter()
            .filter(|(key, _)| key == "scope")
            .map(|(_, value)| value.as_str()),
    );
    let granted: &[&str] = account.map_or(&[], |account| account.actions);
    let access: Vec<Access> = scopes
        .into_iter()
        .filter(|scope| scope.resource_type == "repository" && scope.name == REPOSITORY)
        .filter_map(|scope| {
            let actions: Vec<String> = scope
                .actions
                .into_iter()
                .filter(|action| granted.contains(&action.as_str()))
                .collect();
            (!actions.is_empty()).then_some(Access {
                resource_type: scope.resource_type,
                name: scope.name,
                actions,
            })
        })
        .collect();
    let issued_at = OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims {
        issuer: ISSUER.into(),
        subject: account.map_or("", |account| account.user).into(),
        audience: SERVICE.into(),
        access,
        issued_at,
        lifetime_seconds: TOKEN_LIFETIME,
        jwt_id: random_jwt_id().expect("random source"),
    };
    let token = state.key.sign(&claims).expect("claims sign");
    Json(token_response(&token, TOKEN_LIFETIME, issued_at)).into_response()
}

/// Serves the endpoint on `127.0.0.1:0`; returns its state and `http://HOST/token`.
async fn start_endpoint(key: SigningKey) -> (Arc<EndpointState>, String, String) {
    let state = Arc::new(EndpointState {
        key,
        requests: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/token", get(token_endpoint))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).into_future().await;
    });
    (state, format!("http://{host}/token"), host)
}

async fn token_registry(key: &SigningKey, realm_url: &str) -> Registry {
    Registry::start(RegistryOptions {
        auth: Auth::Token {
            realm_url: realm_url.to_string(),
            service: SERVICE.to_string(),
            issuer: ISSUER.to_string(),
            root_cert_pem: key.certificate_pem().to_string(),
        },
        tls: None,
    })
    .await
}

/// `skopeo copy` between two tags of the registry, reading as `src` and writing as `dest`.
async fn skopeo_copy(
    skopeo: &Skopeo,
    host: &str,
    from_tag: &str,
    to_tag: &str,
    src: (&str, &str),
    dest: (&str, &str),
) -> regcred_testkit::SkopeoOutput {
    let args: Vec<String> = vec![
        "copy".into(),
        "--src-creds".into(),
        format!("{}:{}", src.0, src.1),
        "--src-tls-verify=false".into(),
        "--dest-creds".into(),
        format!("{}:{}", dest.0, dest.1),
        "--dest-tls-verify=false".into(),
        format!("docker://{host}/{REPOSITORY}:{from_tag}"),
        format!("docker://{host}/{REPOSITORY}:{to_tag}"),
    ];
    skopeo.run(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_registry_accepts_our_tokens_for_exactly_what_they_grant() {
    let (endpoint, realm_url, endpoint_host) =
        start_endpoint(SigningKey::generate("regcred token service (test)").unwrap()).await;
    let registry = token_registry(&endpoint.key, &realm_url).await;
    let host = registry.host();
    let image = registry.image(REPOSITORY, "v1");

    // Push needs pull and push: the pusher's token grants both.
    let digest = push_test_image(
        &host,
        REPOSITORY,
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    assert!(
        endpoint.requests.load(Ordering::SeqCst) > 0,
        "push asked for tokens"
    );

    let skopeo = Skopeo::new();
    let inspect = |auth: SkopeoAuth<'static>| skopeo.inspect_raw(&image, auth, TlsMode::Insecure);

    let reader = inspect(SkopeoAuth::Creds("reader", "read-pw")).await;
    assert!(reader.success, "reader pulls: {}", reader.stderr);
    assert_eq!(reader.stdout_digest(), digest);
    let pusher = inspect(SkopeoAuth::Creds("pusher", "push-pw")).await;
    assert!(pusher.success, "pusher pulls: {}", pusher.stderr);

    for (what, auth) in [
        (
            "valid account without a grant",
            SkopeoAuth::Creds("outsider", "out-pw"),
        ),
        ("wrong password", SkopeoAuth::Creds("reader", "nope")),
        ("unknown user", SkopeoAuth::Creds("eve", "read-pw")),
        ("anonymous", SkopeoAuth::Anonymous),
    ] {
        let refused = inspect(auth).await;
        assert!(!refused.success, "{what} must not pull");
        let stderr = refused.stderr.to_lowercase();
        assert!(
            stderr.contains("unauthorized") || stderr.contains("authentication required"),
            "{what}: refused for the wrong reason: {}",
            refused.stderr
        );
    }

    // A pull-only grant cannot push; the same copy as the pusher can.
    let read_push = skopeo_copy(
        &skopeo,
        &host,
        "v1",
        "v2",
        ("pusher", "push-pw"),
        ("reader", "read-pw"),
    )
    .await;
    assert!(!read_push.success, "reader must not push");
    let v2 = registry.image(REPOSITORY, "v2");
    let missing = skopeo
        .inspect_raw(
            &v2,
            SkopeoAuth::Creds("pusher", "push-pw"),
            TlsMode::Insecure,
        )
        .await;
    assert!(!missing.success, "the refused push left no v2 tag");
    let pushed = skopeo_copy(
        &skopeo,
        &host,
        "v1",
        "v2",
        ("pusher", "push-pw"),
        ("pusher", "push-pw"),
    )
    .await;
    assert!(pushed.success, "pusher copies v1 to v2: {}", pushed.stderr);
    let v2 = skopeo
        .inspect_raw(
            &v2,
            SkopeoAuth::Creds("reader", "read-pw"),
            TlsMode::Insecure,
        )
        .await;
    assert!(v2.success, "reader pulls v2: {}", v2.stderr);
    assert_eq!(v2.stdout_digest(), digest);

    // regcred's own registry client classifies our tokens' answers like the fixture's.
    let client = RegistryClient::new(ClientConfig {
        insecure_http_hosts: vec![host.clone(), endpoint_host],
        ..ClientConfig::default()
    })
    .unwrap();
    let target = Target::Manifest {
        repository: REPOSITORY.into(),
        reference: "v1".into(),
    };
    for (what, creds, expected) in [
        ("reader", Some(("reader", "read-pw")), Outcome::Ok),
        ("outsider", Some(("outsider", "out-pw")), Outcome::Denied),
        (
            "wrong password",
            Some(("reader", "nope")),
            Outcome::Unauthorized,
        ),
        ("anonymous", None, Outcome::Unauthorized),
    ] {
        let credentials = creds.map(|(user, password)| Credentials::new(user, password));
        let report = client
            .check(&Endpoint::new(&host), credentials.as_ref(), &target)
            .await;
        assert_eq!(report.outcome, expected, "{what}: {report:?}");
    }
}

/// `HEAD /v2/team/app/manifests/v1` with `Bearer token`: the status.
async fn head_manifest(http: &reqwest::Client, host: &str, token: &str) -> u16 {
    http.head(format!("http://{host}/v2/{REPOSITORY}/manifests/v1"))
        .header(header::ACCEPT.as_str(), OCI_ACCEPT)
        .bearer_auth(token)
        .send()
        .await
        .expect("registry answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_registry_checks_every_claim_we_set() {
    // Tokens made by hand and sent straight to the registry: the valid ones must pass and each
    // one with a single claim wrong must fail, or acceptance above would prove nothing.
    let (endpoint, realm_url, _) =
        start_endpoint(SigningKey::generate("regcred token service (test)").unwrap()).await;
    let key = &endpoint.key;
    let registry = token_registry(key, &realm_url).await;
    let host = registry.host();
    push_test_image(
        &host,
        REPOSITORY,
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let valid = Claims {
        issuer: ISSUER.into(),
        subject: "reader".into(),
        audience: SERVICE.into(),
        access: vec![pull(REPOSITORY)],
        issued_at: now,
        lifetime_seconds: TOKEN_LIFETIME,
        jwt_id: random_jwt_id().unwrap(),
    };
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut claims = valid.clone();
        change(&mut claims);
        claims
    };
    let stranger = SigningKey::generate("regcred token service (test)").unwrap();
    let rebuilt = SigningKey::from_parts(key.pkcs8(), key.certificate_pem()).unwrap();

    let cases: Vec<(&str, &SigningKey, Claims, u16)> = vec![
        ("valid", key, valid.clone(), 200),
        ("signed by the rebuilt key", &rebuilt, valid.clone(), 200),
        ("empty subject", key, with(&|c| c.subject.clear()), 200),
        (
            "pull among other actions and resources",
            key,
            with(&|c| {
                c.access = vec![
                    pull("other/app"),
                    Access {
                        resource_type: "repository".into(),
                        name: REPOSITORY.into(),
                        actions: vec!["push".into(), "pull".into()],
                    },
                ];
            }),
            200,
        ),
        (
            "issued 30 s in the future (within the 60 s leeway)",
            key,
            with(&|c| c.issued_at = now + 30),
            200,
        ),
        (
            "signed by a key the registry does not trust",
            &stranger,
            valid.clone(),
            401,
        ),
        (
            "other audience",
            key,
            with(&|c| c.audience = "other".into()),
            401,
        ),
        (
            "other issuer",
            key,
            with(&|c| c.issuer = "other".into()),
            401,
        ),
        (
            "expired beyond the leeway",
            key,
            with(&|c| c.issued_at = now - 3600),
            401,
        ),
        (
            "not valid before an hour from now",
            key,
            with(&|c| c.issued_at = now + 3600),
            401,
        ),
        ("no access", key, with(&|c| c.access.clear()), 401),
        (
            "pull on another repository",
            key,
            with(&|c| c.access = vec![pull("team/other")]),
            401,
        ),
        (
            "push only",
            key,
            with(&|c| {
                c.access = vec![Access {
                    resource_type: "repository".into(),
                    name: REPOSITORY.into(),
                    actions: vec!["push".into()],
                }];
            }),
            401,
        ),
        (
            "another resource type",
            key,
            with(&|c| {
                c.access = vec![Access {
                    resource_type: "registry".into(),
                    name: REPOSITORY.into(),
                    actions: vec!["pull".into()],
                }];
            }),
            401,
        ),
    ];

    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for (what, signer, claims, expected) in &cases {
        let token = signer.sign(claims).unwrap();
        let status = head_manifest(&http, &host, &token).await;
        if status != *expected {
            failures.push(format!("{what}: expected {expected}, got {status}"));
        }
    }
    // A token whose signature was altered.
    let token = key.sign(&valid).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[10] ^= 1;
    let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature));
    let status = head_manifest(&http, &host, &forged).await;
    if status != 401 {
        failures.push(format!("altered signature: expected 401, got {status}"));
    }
    assert!(
        failures.is_empty(),
        "{}\nregistry log:\n{}",
        failures.join("\n"),
        registry.log()
    );
}
