//! The Azure provider (`regcred_registry::provider::azure`) against two local endpoints on
//! ephemeral loopback ports: a fake Entra ID authority and a fake registry's `/oauth2/exchange`.
//! Both record every request, and the tests check exactly what was sent to each (path and form
//! fields), the expiry read from the refresh token the fake registry returns, how each kind of
//! answer is classified and by whom, and that no secret reaches an error.

use axum::http::Method;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use regcred_core::secret::Secret;
use regcred_registry::provider::azure::{
    mint_refresh_token, AcrExchange, ACR_SCOPE, REFRESH_TOKEN_USERNAME,
};
use regcred_registry::provider::MintError;
use serde_json::{json, Value};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0c4a1e9e-5b0e-4a49-9f1e-3f6c1d2b7a10";
const CLIENT_SECRET: &str = "client-secret~canary.Qx8";
const AAD_ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.aad-access-token-canary.sig";
/// The refresh token's `exp`: 2023-11-15T01:13:20Z.
const REFRESH_EXP: i64 = 1_700_010_800;
const NOW_MS: i64 = 1_700_000_000_987;

mod oauth_endpoint;

use oauth_endpoint::FakeEndpoint;

// ---------------------------------------------------------------------------------------------
// The two peers, their answers, the exchange

/// A JWT shaped like an ACR refresh token with `claims` (its signature is not checked by us).
fn refresh_token(claims: Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"ABCD:EFGH"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode("refresh-token-signature-canary")
    )
}

fn acr_refresh_token() -> String {
    refresh_token(json!({
        "jti": "8f6a0c0e-2b1d-4c3e-9f1a-1b2c3d4e5f60",
        "sub": "puller@regcred-test",
        "nbf": 1_699_999_900,
        "exp": REFRESH_EXP,
        "iat": 1_699_999_900,
        "iss": "Azure Container Registry",
        "aud": "regcredtest.azurecr.io",
        "version": "1.0",
        "grant_type": "refresh_token",
        "tenant": TENANT,
        "permissions": {"actions": ["read"]},
    }))
}

fn aad_answer() -> String {
    json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
           "access_token": AAD_ACCESS_TOKEN})
    .to_string()
}

fn acr_answer(refresh_token: &str) -> String {
    json!({"refresh_token": refresh_token}).to_string()
}

struct Peers {
    entra: FakeEndpoint,
    acr: FakeEndpoint,
    client_secret: Secret,
}

impl Peers {
    async fn new(entra: FakeEndpoint, acr: FakeEndpoint) -> Self {
        Peers {
            entra,
            acr,
            client_secret: Secret::new(CLIENT_SECRET),
        }
    }

    /// Both answering success, the registry with `refresh_token`.
    async fn answering(refresh_token: &str) -> Self {
        Peers::new(
            FakeEndpoint::answering(200, &aad_answer()).await,
            FakeEndpoint::answering(200, &acr_answer(refresh_token)).await,
        )
        .await
    }

    fn exchange(&self) -> (String, String) {
        (self.acr.host(), self.entra.url(""))
    }

    async fn mint(&self) -> Result<regcred_registry::provider::Minted, MintError> {
        let (registry, authority) = self.exchange();
        let req = AcrExchange {
            registry: &registry,
            tenant: TENANT,
            client_id: CLIENT_ID,
            client_secret: &self.client_secret,
            authority_url: &authority,
            registry_scheme: "http",
        };
        mint_refresh_token(&reqwest::Client::new(), &req, NOW_MS).await
    }
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fields.sort();
    fields
}

// ---------------------------------------------------------------------------------------------
// The requests

#[tokio::test]
async fn client_credentials_then_exchange_for_a_refresh_token() {
    let refresh = acr_refresh_token();
    let peers = Peers::answering(&refresh).await;

    let minted = peers.mint().await.unwrap();

    assert_eq!(minted.username, REFRESH_TOKEN_USERNAME);
    assert_eq!(minted.username, "00000000-0000-0000-0000-000000000000");
    assert_eq!(minted.password.expose(), refresh);
    assert_eq!(minted.expires_at_ms, Some(REFRESH_EXP * 1000));
    assert_eq!(minted.endpoint, None);
    assert!(!format!("{minted:?}").contains(&refresh));

    let entra = peers.entra.requests();
    assert_eq!(entra.len(), 1, "{entra:?}");
    assert_eq!(entra[0].method, Method::POST);
    assert_eq!(entra[0].path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        entra[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        entra[0].form,
        pairs(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "https://containerregistry.azure.net/.default"),
        ])
    );
    assert_eq!(ACR_SCOPE, "https://containerregistry.azure.net/.default");

    let acr = peers.acr.requests();
    assert_eq!(acr.len(), 1, "{acr:?}");
    assert_eq!(acr[0].method, Method::POST);
    assert_eq!(acr[0].path, "/oauth2/exchange");
    assert_eq!(
        acr[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        acr[0].form,
        pairs(&[
            ("grant_type", "access_token"),
            ("service", &peers.acr.host()),
            ("tenant", TENANT),
            ("access_token", AAD_ACCESS_TOKEN),
        ])
    );
}

#[tokio::test]
async fn a_trailing_slash_on_the_authority_is_not_doubled() {
    let peers = Peers::answering(&acr_refresh_token()).await;
    let registry = peers.acr.host();
    let authority = format!("{}/", peers.entra.url(""));
    let req = AcrExchange {
        registry: &registry,
        tenant: TENANT,
        client_id: CLIENT_ID,
        client_secret: &peers.client_secret,
        authority_url: &authority,
        registry_scheme: "http",
    };
    mint_refresh_token(&reqwest::Client::new(), &req, NOW_MS)
        .await
        .unwrap();
    assert_eq!(
        peers.entra.requests()[0].path,
        format!("/{TENANT}/oauth2/v2.0/token")
    );
}

#[tokio::test]
async fn expiry_comes_from_the_refresh_tokens_exp() {
    for (token, expected) in [
        (acr_refresh_token(), Some(REFRESH_EXP * 1000)),
        // Padded base64url is read too.
        (
            format!(
                "e30=.{}.c2ln",
                base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":1700010801}"#)
            ),
            Some(1_700_010_801_000),
        ),
        (refresh_token(json!({"iat": 1_699_999_900})), None),
        ("opaque-refresh-token".to_owned(), None),
    ] {
        let peers = Peers::answering(&token).await;
        let minted = peers.mint().await.unwrap();
        assert_eq!(minted.expires_at_ms, expected, "{token}");
        assert_eq!(minted.password.expose(), token);
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

/// `Display` and `Debug` of `e` contain none of the test secrets.
#[track_caller]
fn assert_no_secrets(e: &MintError) {
    let text = format!("{e} | {e:?}");
    let refresh = acr_refresh_token();
    for secret in [CLIENT_SECRET, AAD_ACCESS_TOKEN, &refresh, "canary"] {
        assert!(!text.contains(secret), "{secret:?} leaked into {text}");
    }
}

#[tokio::test]
async fn entra_id_answers_are_classified_and_stop_before_the_exchange() {
    let cases: &[(u16, &str, Kind, &str)] = &[
        (
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: 1f2e","error_codes":[7000215]}"#,
            Kind::Rejected,
            "answered 401 Unauthorized (invalid_client)",
        ),
        (
            400,
            r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant '72f988bf' not found."}"#,
            Kind::Rejected,
            "(invalid_request)",
        ),
        (
            400,
            r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found."}"#,
            Kind::Rejected,
            "unauthorized_client",
        ),
        (
            400,
            r#"{"error":"temporarily_unavailable","error_description":"AADSTS50196: loop detected"}"#,
            Kind::Unavailable,
            "temporarily_unavailable",
        ),
        (429, "", Kind::Unavailable, "429"),
        (503, "<html>down</html>", Kind::Unavailable, "503"),
        (404, "", Kind::Invalid, "404"),
        (200, "garbage", Kind::Invalid, "not a JSON object"),
        (
            200,
            r#"{"token_type":"Bearer"}"#,
            Kind::Invalid,
            "no access_token",
        ),
        (
            200,
            r#"{"token_type":"pop","access_token":"aad-canary"}"#,
            Kind::Invalid,
            "token_type",
        ),
    ];
    for &(status, body, expected, fragment) in cases {
        let peers = Peers::new(
            FakeEndpoint::answering(status, body).await,
            FakeEndpoint::answering(200, &acr_answer(&acr_refresh_token())).await,
        )
        .await;
        let e = peers.mint().await.unwrap_err();
        let case = format!("{status} {body} → {e}");
        assert_eq!(kind(&e), expected, "{case}");
        assert_eq!(e.is_transient(), expected == Kind::Unavailable, "{case}");
        assert_eq!(provider(&e), "Entra ID", "{case}");
        assert!(e.to_string().contains(fragment), "{case}");
        assert!(!e.to_string().contains("AADSTS"), "{case}");
        assert_eq!(peers.entra.requests().len(), 1, "{case}");
        assert!(peers.acr.requests().is_empty(), "{case}");
        assert_no_secrets(&e);
    }
}

#[tokio::test]
async fn exchange_answers_are_classified() {
    let bad_exp = refresh_token(json!({"exp": "later", "note": "canary"}));
    let cases: Vec<(u16, String, Kind, &str)> = vec![
        (
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization for more information."}]}"#.into(),
            Kind::Rejected,
            "answered 401 Unauthorized (UNAUTHORIZED)",
        ),
        (
            400,
            r#"{"errors":[{"code":"BADREQUEST","message":"the tenant is not valid"}]}"#.into(),
            Kind::Rejected,
            "BADREQUEST",
        ),
        (403, "".into(), Kind::Rejected, "403"),
        (429, "".into(), Kind::Unavailable, "429"),
        (500, "".into(), Kind::Unavailable, "500"),
        (503, "Service Unavailable".into(), Kind::Unavailable, "503"),
        (404, "404 page not found".into(), Kind::Invalid, "404"),
        (200, "<html>garbage</html>".into(), Kind::Invalid, "not a JSON object"),
        (200, "{}".into(), Kind::Invalid, "no refresh_token"),
        (200, acr_answer(&bad_exp), Kind::Invalid, "exp claim"),
    ];
    for (status, body, expected, fragment) in cases {
        let peers = Peers::new(
            FakeEndpoint::answering(200, &aad_answer()).await,
            FakeEndpoint::answering(status, &body).await,
        )
        .await;
        let e = peers.mint().await.unwrap_err();
        let case = format!("{status} {body} → {e}");
        assert_eq!(kind(&e), expected, "{case}");
        assert_eq!(e.is_transient(), expected == Kind::Unavailable, "{case}");
        assert_eq!(provider(&e), "ACR", "{case}");
        assert!(e.to_string().contains(fragment), "{case}");
        for text in [
            "authentication required",
            "tenant is not valid",
            "page not found",
        ] {
            assert!(!e.to_string().contains(text), "{case}");
        }
        assert_eq!(peers.acr.requests().len(), 1, "{case}");
        assert_no_secrets(&e);
        assert!(!format!("{e:?}").contains(&bad_exp), "{case}");
    }
}

#[tokio::test]
async fn refused_connections_are_unavailable() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let client_secret = Secret::new(CLIENT_SECRET);
    let http = reqwest::Client::new();

    // Entra ID down.
    let acr = FakeEndpoint::answering(200, &acr_answer(&acr_refresh_token())).await;
    let (registry, authority) = (acr.host(), format!("http://{closed}"));
    let req = AcrExchange {
        registry: &registry,
        tenant: TENANT,
        client_id: CLIENT_ID,
        client_secret: &client_secret,
        authority_url: &authority,
        registry_scheme: "http",
    };
    let e = mint_refresh_token(&http, &req, NOW_MS).await.unwrap_err();
    assert_eq!(kind(&e), Kind::Unavailable, "{e}");
    assert_eq!(provider(&e), "Entra ID", "{e}");
    assert!(e.to_string().contains("could not be reached"), "{e}");
    assert!(acr.requests().is_empty());
    assert_no_secrets(&e);

    // The registry down.
    let entra = FakeEndpoint::answering(200, &aad_answer()).await;
    let (registry, authority) = (closed.to_string(), entra.url(""));
    let req = AcrExchange {
        registry: &registry,
        authority_url: &authority,
        ..req
    };
    let e = mint_refresh_token(&http, &req, NOW_MS).await.unwrap_err();
    assert_eq!(kind(&e), Kind::Unavailable, "{e}");
    assert!(e.is_transient());
    assert_eq!(provider(&e), "ACR", "{e}");
    assert!(e.to_string().contains("could not be reached"), "{e}");
    assert_eq!(entra.requests().len(), 1);
    assert_no_secrets(&e);
}

/// Peers that quote our secrets back in their errors — as is, upper-cased, in pieces,
/// percent-encoded, base64 without padding, in HTML — must not get any of them into ours.
#[tokio::test]
async fn echoed_secrets_leave_no_trace() {
    let assert_nothing_echoed = |e: &MintError, user: &str, secret: &str| {
        let shown = format!("{e} {e:?}");
        let leaked = regcred_testkit::leaked_forms(&shown, user, secret);
        assert!(leaked.is_empty(), "{leaked:?} leaked into {shown}");
        assert!(!shown.contains("invalid credentials"), "{shown}");
    };
    let entra = FakeEndpoint::start(|request| {
        let echo = regcred_testkit::echo_text(CLIENT_ID, request.field("client_secret"));
        (
            401,
            json!({"error": "invalid_client", "error_description": echo, "message": echo})
                .to_string(),
        )
    })
    .await;
    let peers = Peers::new(entra, FakeEndpoint::answering(500, "").await).await;
    let e = peers.mint().await.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("answered 401 Unauthorized (invalid_client)"),
        "{e}"
    );
    assert_nothing_echoed(&e, CLIENT_ID, CLIENT_SECRET);
    assert_no_secrets(&e);

    let acr = FakeEndpoint::start(|request| {
        let echo = regcred_testkit::echo_text("access_token", request.field("access_token"));
        (
            401,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": echo, "detail": echo}]})
                .to_string(),
        )
    })
    .await;
    let peers = Peers::new(FakeEndpoint::answering(200, &aad_answer()).await, acr).await;
    let e = peers.mint().await.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("answered 401 Unauthorized (UNAUTHORIZED)"),
        "{e}"
    );
    assert_nothing_echoed(&e, "access_token", AAD_ACCESS_TOKEN);
    assert_no_secrets(&e);
}

#[tokio::test]
async fn bad_inputs_are_invalid_and_send_nothing() {
    let peers = Peers::answering(&acr_refresh_token()).await;
    let (registry, authority) = peers.exchange();
    let good = AcrExchange {
        registry: &registry,
        tenant: TENANT,
        client_id: CLIENT_ID,
        client_secret: &peers.client_secret,
        authority_url: &authority,
        registry_scheme: "http",
    };
    let empty = Secret::new("");
    let slashed = format!("{registry}/v2");
    let cases: Vec<(AcrExchange<'_>, &str, &str)> = vec![
        (
            AcrExchange {
                tenant: "../common",
                ..good
            },
            "Entra ID",
            "tenant",
        ),
        (AcrExchange { tenant: "", ..good }, "Entra ID", "tenant"),
        (
            AcrExchange {
                tenant: "a/b",
                ..good
            },
            "Entra ID",
            "tenant",
        ),
        (
            AcrExchange {
                authority_url: "login.microsoftonline.com",
                ..good
            },
            "Entra ID",
            "authority",
        ),
        (
            AcrExchange {
                client_id: "",
                ..good
            },
            "Entra ID",
            "client id",
        ),
        (
            AcrExchange {
                client_secret: &empty,
                ..good
            },
            "Entra ID",
            "client secret",
        ),
        (
            AcrExchange {
                registry: &slashed,
                ..good
            },
            "ACR",
            "host[:port]",
        ),
        (
            AcrExchange {
                registry: "",
                ..good
            },
            "ACR",
            "host[:port]",
        ),
        (
            AcrExchange {
                registry_scheme: "ftp",
                ..good
            },
            "ACR",
            "scheme",
        ),
    ];
    let http = reqwest::Client::new();
    for (req, expected_provider, fragment) in cases {
        let e = mint_refresh_token(&http, &req, NOW_MS).await.unwrap_err();
        let case = format!("{req:?} → {e}");
        assert_eq!(kind(&e), Kind::Invalid, "{case}");
        assert!(!e.is_transient(), "{case}");
        assert_eq!(provider(&e), expected_provider, "{case}");
        assert!(e.to_string().contains(fragment), "{case}");
        assert_no_secrets(&e);
        assert!(!case.contains(CLIENT_SECRET), "{case}");
    }
    assert!(peers.entra.requests().is_empty());
    assert!(peers.acr.requests().is_empty());
}
