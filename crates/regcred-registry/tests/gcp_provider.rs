//! The Google provider (`regcred_registry::provider::gcp`) against a local token endpoint on an
//! ephemeral loopback port, named by the key's `token_uri` as Google's own keys name theirs.
//! The endpoint records every request, and the tests check exactly what was sent: the JWT
//! bearer form, and the assertion's header, claims, timing and RS256 signature, verified with
//! the public half of the test key as openssl extracted it (not as the code under test sees it).
//! Then how each kind of answer is classified, and that no secret reaches an error.
//!
//! `tests/data/gcp-test-key.pem` is a test-only RSA 2048 key generated once with openssl; it is
//! not a credential for anything.

use axum::http::Method;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use regcred_core::secret::Secret;
use regcred_registry::provider::gcp::{mint_access_token, ACCESS_TOKEN_USERNAME, DEFAULT_SCOPE};
use regcred_registry::provider::MintError;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Value};

const TEST_KEY_PEM: &str = include_str!("data/gcp-test-key.pem");
const TEST_PUBLIC_KEY_PEM: &str = include_str!("data/gcp-test-key.pub.pem");

const CLIENT_EMAIL: &str = "puller@regcred-test.iam.gserviceaccount.com";
const KEY_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4";
const ACCESS_TOKEN: &str = "ya29.access-token-canary";
/// 2023-11-14T22:13:20.987Z: not a whole second, so rounding of `iat` is visible.
const NOW_MS: i64 = 1_700_000_000_987;
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

mod oauth_endpoint;

use oauth_endpoint::FakeEndpoint;

// ---------------------------------------------------------------------------------------------
// Keys and assertions

/// The `-----BEGIN PRIVATE KEY-----` block of the fixture, as Google puts it in a key file.
fn private_key_pem() -> &'static str {
    let start = TEST_KEY_PEM.find("-----BEGIN PRIVATE KEY-----").unwrap();
    &TEST_KEY_PEM[start..]
}

/// A service-account key shaped like the JSON Google issues, pointing at `token_uri`.
fn key_json(token_uri: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": "regcred-test",
        "private_key_id": KEY_ID,
        "private_key": private_key_pem(),
        "client_email": CLIENT_EMAIL,
        "client_id": "104912345678901234567",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/puller%40regcred-test.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com"
    })
}

fn key(token_uri: &str) -> Secret {
    Secret::new(key_json(token_uri).to_string())
}

/// The fixture's public key: PKCS#1 `RSAPublicKey` DER, what ring verifies with.
fn public_key_der() -> Vec<u8> {
    let body = TEST_PUBLIC_KEY_PEM
        .split("-----BEGIN RSA PUBLIC KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END RSA PUBLIC KEY-----").next())
        .unwrap();
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(base64).unwrap()
}

/// A line of the private key's base64, to look for in error messages.
fn private_key_sample() -> &'static str {
    private_key_pem().lines().nth(5).unwrap()
}

/// Whether the JWT's RS256 signature verifies with the fixture's public key.
fn signature_verifies(jwt: &str) -> bool {
    let Some((signing_input, signature)) = jwt.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der())
        .verify(signing_input.as_bytes(), &signature)
        .is_ok()
}

/// Decodes a JWT after checking its form and its RS256 signature against the fixture's public
/// key: the header and the claims.
fn verified_jwt(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    assert!(
        !jwt.contains('='),
        "JWT parts are base64url without padding"
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(),
        256,
        "an RSA 2048 signature"
    );
    assert!(
        signature_verifies(jwt),
        "the assertion is not signed with the service account's key (RS256)"
    );
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    (decode(parts[0]), decode(parts[1]))
}

fn ok_answer() -> String {
    json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}).to_string()
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

// ---------------------------------------------------------------------------------------------
// The request

#[tokio::test]
async fn sends_a_signed_jwt_bearer_grant_to_the_keys_token_uri() {
    let endpoint = FakeEndpoint::answering(200, &ok_answer()).await;
    let token_uri = endpoint.url("/token");

    let minted = mint_access_token(&http(), &key(&token_uri), None, NOW_MS)
        .await
        .unwrap();

    assert_eq!(minted.username, ACCESS_TOKEN_USERNAME);
    assert_eq!(minted.username, "oauth2accesstoken");
    assert_eq!(minted.password.expose(), ACCESS_TOKEN);
    assert_eq!(minted.expires_at_ms, Some(NOW_MS + 3_599_000));
    assert_eq!(minted.endpoint, None);
    assert!(!format!("{minted:?}").contains(ACCESS_TOKEN));

    let requests = endpoint.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/token");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.accept.as_deref(), Some("application/json"));
    let names: Vec<&str> = request.form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["assertion", "grant_type"]);
    assert_eq!(request.field("grant_type"), JWT_BEARER);

    let (header, claims) = verified_jwt(request.field("assertion"));
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID}));
    assert_eq!(
        claims,
        json!({
            "iss": CLIENT_EMAIL,
            "scope": DEFAULT_SCOPE,
            "aud": token_uri,
            "iat": 1_700_000_000,
            "exp": 1_700_003_600,
        })
    );
    assert_eq!(
        DEFAULT_SCOPE,
        "https://www.googleapis.com/auth/cloud-platform"
    );
}

/// The check above must be able to fail: the same signature over other claims does not verify.
#[tokio::test]
async fn a_tampered_assertion_does_not_verify() {
    let endpoint = FakeEndpoint::answering(200, &ok_answer()).await;
    mint_access_token(&http(), &key(&endpoint.url("/token")), None, NOW_MS)
        .await
        .unwrap();
    let jwt = endpoint.requests()[0].field("assertion").to_owned();
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": "someone-else@example.test", "scope": DEFAULT_SCOPE,
               "aud": endpoint.url("/token"), "iat": 1_700_000_000, "exp": 1_700_003_600})
        .to_string(),
    );
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert!(signature_verifies(&jwt));
    assert!(!signature_verifies(&forged), "a forged assertion verified");
}

#[tokio::test]
async fn the_scope_and_token_uri_are_sent_as_given() {
    let endpoint = FakeEndpoint::answering(200, &ok_answer()).await;
    // No path: `aud` must still be the key's string, not a normalized URL with a trailing `/`.
    let token_uri = format!("http://{}", endpoint.host());
    let scope = "https://www.googleapis.com/auth/devstorage.read_only";

    mint_access_token(&http(), &key(&token_uri), Some(scope), NOW_MS)
        .await
        .unwrap();

    let request = &endpoint.requests()[0];
    assert_eq!(request.path, "/");
    let (_, claims) = verified_jwt(request.field("assertion"));
    assert_eq!(claims["scope"], scope);
    assert_eq!(claims["aud"], token_uri.as_str());
}

#[tokio::test]
async fn a_key_without_private_key_id_signs_without_kid() {
    let endpoint = FakeEndpoint::answering(200, &ok_answer()).await;
    let mut key_json = key_json(&endpoint.url("/token"));
    key_json.as_object_mut().unwrap().remove("private_key_id");

    mint_access_token(&http(), &Secret::new(key_json.to_string()), None, NOW_MS)
        .await
        .unwrap();

    let (header, _) = verified_jwt(endpoint.requests()[0].field("assertion"));
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
}

#[tokio::test]
async fn expiry_follows_expires_in() {
    for (answer, expected_ms) in [
        (
            json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
            NOW_MS + 3_599_000,
        ),
        // Some endpoints quote it.
        (
            json!({"access_token": ACCESS_TOKEN, "expires_in": "1800"}),
            NOW_MS + 1_800_000,
        ),
        // Absent: Google's documented hour.
        (json!({"access_token": ACCESS_TOKEN}), NOW_MS + 3_600_000),
        // Already expired: due now, never in the past of `now`.
        (
            json!({"access_token": ACCESS_TOKEN, "expires_in": -5}),
            NOW_MS,
        ),
    ] {
        let endpoint = FakeEndpoint::answering(200, &answer.to_string()).await;
        let minted = mint_access_token(&http(), &key(&endpoint.url("/token")), None, NOW_MS)
            .await
            .unwrap();
        assert_eq!(minted.expires_at_ms, Some(expected_ms), "{answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Classification

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Rejected,
    Unavailable,
    Invalid,
}

fn kind(e: &MintError) -> Kind {
    match e {
        MintError::Rejected { .. } => Kind::Rejected,
        MintError::Unavailable { .. } => Kind::Unavailable,
        MintError::Invalid { .. } => Kind::Invalid,
    }
}

fn provider(e: &MintError) -> &'static str {
    match e {
        MintError::Rejected { provider, .. }
        | MintError::Unavailable { provider, .. }
        | MintError::Invalid { provider, .. } => provider,
    }
}

/// `Display` and `Debug` of `e` contain none of `secrets` (nor the private key).
#[track_caller]
fn assert_no_secrets(e: &MintError, secrets: &[&str]) {
    let text = format!("{e} | {e:?}");
    for secret in secrets.iter().chain([&private_key_sample()]) {
        assert!(!secret.is_empty());
        assert!(!text.contains(secret), "{secret:?} leaked into {text}");
    }
}

#[tokio::test]
async fn token_endpoint_answers_are_classified() {
    let cases: &[(u16, &str, Kind, &str)] = &[
        (
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            Kind::Rejected,
            "answered 400 Bad Request (invalid_grant)",
        ),
        (
            401,
            r#"{"error":"invalid_client","error_description":"The OAuth client was not found."}"#,
            Kind::Rejected,
            "answered 401 Unauthorized (invalid_client)",
        ),
        (403, r#"{"error":"access_denied"}"#, Kind::Rejected, "403"),
        (
            400,
            r#"{"error":"temporarily_unavailable"}"#,
            Kind::Unavailable,
            "temporarily_unavailable",
        ),
        (408, "", Kind::Unavailable, "408"),
        (
            429,
            r#"{"error":"rate_limit_exceeded"}"#,
            Kind::Unavailable,
            "429",
        ),
        (500, "<html>oops</html>", Kind::Unavailable, "500"),
        (503, "Service Unavailable", Kind::Unavailable, "503"),
        (404, "Not Found", Kind::Invalid, "404"),
        (
            200,
            "<html>garbage</html>",
            Kind::Invalid,
            "not a JSON object",
        ),
        (
            200,
            r#"["ya29.access-token-canary"]"#,
            Kind::Invalid,
            "not a JSON object",
        ),
        (
            200,
            r#"{"token_type":"Bearer"}"#,
            Kind::Invalid,
            "no access_token",
        ),
        (
            200,
            r#"{"access_token":"ya29.access-token-canary","expires_in":"soon"}"#,
            Kind::Invalid,
            "expires_in",
        ),
        (
            200,
            r#"{"access_token":"ya29.access-token-canary","token_type":"MAC"}"#,
            Kind::Invalid,
            "token_type",
        ),
    ];
    for &(status, body, expected, fragment) in cases {
        let endpoint = FakeEndpoint::answering(status, body).await;
        let e = mint_access_token(&http(), &key(&endpoint.url("/token")), None, NOW_MS)
            .await
            .unwrap_err();
        let case = format!("{status} {body} → {e}");
        assert_eq!(kind(&e), expected, "{case}");
        assert_eq!(e.is_transient(), expected == Kind::Unavailable, "{case}");
        assert_eq!(provider(&e), "Google", "{case}");
        assert!(e.to_string().contains(fragment), "{case}");
        // The endpoint's own words are never quoted.
        for text in ["Invalid JWT", "was not found", "oops", "garbage"] {
            assert!(!e.to_string().contains(text), "{case}");
        }
        let requests = endpoint.requests();
        assert_eq!(requests.len(), 1, "{case}");
        assert_no_secrets(&e, &[requests[0].field("assertion"), ACCESS_TOKEN]);
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let e = mint_access_token(&http(), &key(&format!("http://{addr}/token")), None, NOW_MS)
        .await
        .unwrap_err();

    assert_eq!(kind(&e), Kind::Unavailable, "{e}");
    assert!(e.is_transient());
    assert!(e.to_string().contains("could not be reached"), "{e}");
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
    assert_no_secrets(&e, &[]);
}

/// A token endpoint that quotes the assertion back in its error — as is, upper-cased, in
/// pieces, percent-encoded, base64 without padding, in HTML — must not get any of it into ours.
#[tokio::test]
async fn an_echoed_assertion_leaves_no_trace() {
    let endpoint = FakeEndpoint::start(|request| {
        let echo = regcred_testkit::echo_text("assertion", request.field("assertion"));
        (
            400,
            json!({
                "error": "invalid_grant",
                "error_description": echo,
                "errors": [{"code": "INVALID", "message": echo}],
                "message": echo,
            })
            .to_string(),
        )
    })
    .await;

    let e = mint_access_token(&http(), &key(&endpoint.url("/token")), None, NOW_MS)
        .await
        .unwrap_err();

    assert_eq!(kind(&e), Kind::Rejected);
    assert!(
        e.to_string()
            .ends_with("answered 400 Bad Request (invalid_grant)"),
        "{e}"
    );
    let requests = endpoint.requests();
    let assertion = requests[0].field("assertion");
    let shown = format!("{e} {e:?}");
    let leaked = regcred_testkit::leaked_forms(&shown, "assertion", assertion);
    assert!(leaked.is_empty(), "{leaked:?} leaked into {shown}");
    assert!(!shown.contains("invalid credentials"), "{shown}");
    assert_no_secrets(&e, &[assertion]);
}

#[tokio::test]
async fn bad_keys_are_invalid_and_send_nothing() {
    let endpoint = FakeEndpoint::answering(200, &ok_answer()).await;
    let token_uri = endpoint.url("/token");
    let with = |field: &str, value: Value| {
        let mut key = key_json(&token_uri);
        key[field] = value;
        key.to_string()
    };
    let without = |field: &str| {
        let mut key = key_json(&token_uri);
        key.as_object_mut().unwrap().remove(field);
        key.to_string()
    };
    let ec_pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let ec_pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(ec_pkcs8.as_ref())
    );
    let pkcs1_pem = private_key_pem()
        .replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
        .replace("END PRIVATE KEY", "END RSA PRIVATE KEY");

    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("not json canary".into(), None, "not valid JSON"),
        (r#"["canary"]"#.into(), None, "not a JSON object"),
        (
            with("type", json!("authorized_user")),
            None,
            "not \"service_account\"",
        ),
        (
            with("type", json!("external account canary")),
            None,
            "not \"service_account\"",
        ),
        (without("type"), None, "not \"service_account\""),
        (without("client_email"), None, "no client_email"),
        (without("private_key"), None, "no private_key"),
        (
            with("private_key", json!("canary")),
            None,
            "not a PEM PRIVATE KEY block",
        ),
        (
            with(
                "private_key",
                json!("-----BEGIN PRIVATE KEY-----\ncanary!!\n-----END PRIVATE KEY-----\n"),
            ),
            None,
            "not valid base64",
        ),
        (with("private_key", json!(pkcs1_pem)), None, "PKCS#1"),
        (
            with("private_key", json!(ec_pem)),
            None,
            "not a usable RSA key",
        ),
        (
            with("token_uri", json!("ftp://example.test/token")),
            None,
            "token_uri",
        ),
        (with("token_uri", json!(42)), None, "token_uri"),
        (
            key_json(&token_uri).to_string(),
            Some(" "),
            "scope is empty",
        ),
    ];
    for (key, scope, fragment) in cases {
        let e = mint_access_token(&http(), &Secret::new(key.clone()), scope, NOW_MS)
            .await
            .unwrap_err();
        let case = format!("{fragment}: {e}");
        assert_eq!(kind(&e), Kind::Invalid, "{case}");
        assert!(!e.is_transient(), "{case}");
        assert!(e.to_string().contains(fragment), "{case}");
        assert_no_secrets(&e, &["canary"]);
    }
    assert!(endpoint.requests().is_empty(), "{:?}", endpoint.requests());
}
