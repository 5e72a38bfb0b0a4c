//! Registries and token services that echo the credentials they were sent — in JSON error
//! `message`s and `detail`s, in `WWW-Authenticate` `error_description`, in `Retry-After`,
//! `Location`, `Docker-Content-Digest` and `Content-Type`, in plain-text and HTML bodies; as is,
//! upper-cased, in pieces, percent-encoded, as base64 of `user:password` without padding — must
//! not get any of it into a check report, however it is rendered. The forms come from
//! `regcred_testkit::echo_forms`; the scripted servers listen on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use regcred_registry::{CheckReport, ClientConfig, Credentials, Endpoint, RegistryClient, Target};
use regcred_testkit::{echo_forms, echo_text, leaked_forms};

const USER: &str = "echo-user";
/// `/`, `+`, `:`, `~` and a space, so that the percent-encoded and base64 forms differ from it.
const PASSWORD: &str = "Pa55/w+rd:Canary~91 xyz";

/// What a scripted peer sees of a request.
struct Seen {
    method: Method,
    path: String,
    authorization: Option<String>,
}

type Script = dyn Fn(&Seen, &str) -> Response<Body> + Send + Sync;

struct FakeState {
    base: String,
    script: Box<Script>,
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> Response<Body> {
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    };
    (state.script)(&seen, &state.base)
}

async fn start(
    script: impl Fn(&Seen, &str) -> Response<Body> + Send + Sync + 'static,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(FakeState {
        base: format!("http://{addr}"),
        script: Box::new(script),
    });
    let app = Router::new().fallback(handle).with_state(state);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// The echo as a quoted-string for `WWW-Authenticate`.
fn quoted_echo() -> String {
    format!(
        "\"{}\"",
        echo_text(USER, PASSWORD)
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

/// A JSON error body echoing everything everywhere a distribution, token or OAuth2 server puts
/// text — and a `code` that is the password itself.
fn echo_json() -> String {
    let echo = echo_text(USER, PASSWORD);
    serde_json::json!({
        "errors": [
            {"code": "UNAUTHORIZED", "message": echo, "detail": {"sent": echo}},
            {"code": PASSWORD, "message": echo},
        ],
        "details": echo,
        "message": echo,
        "error": "invalid_grant",
        "error_description": echo,
    })
    .to_string()
}

fn with_api(status: u16) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", "registry/2.0")
}

fn json_echo(status: u16) -> Response<Body> {
    with_api(status)
        .header("Content-Type", "application/json")
        .body(Body::from(echo_json()))
        .unwrap()
}

fn basic_challenge() -> Response<Body> {
    with_api(401)
        .header("WWW-Authenticate", r#"Basic realm="echo""#)
        .body(Body::empty())
        .unwrap()
}

fn has_credentials(seen: &Seen) -> bool {
    seen.authorization.is_some()
}

/// How a Basic registry answers a request that carries credentials, per scenario.
fn basic_registry(
    answer: impl Fn(&Seen) -> Response<Body> + Send + Sync + 'static,
) -> impl Fn(&Seen, &str) -> Response<Body> + Send + Sync + 'static {
    move |seen, _| {
        if has_credentials(seen) {
            answer(seen)
        } else {
            basic_challenge()
        }
    }
}

fn targets() -> [Target; 2] {
    [
        Target::Registry,
        Target::Manifest {
            repository: "acme/app".into(),
            reference: "v1".into(),
        },
    ]
}

/// Checks `target` on the fake at `addr` with a fresh client (nothing cached) and asserts that
/// no form of the credentials is in the report's `Debug` or JSON.
async fn assert_nothing_echoed(scenario: &str, addr: SocketAddr, target: &Target, oauth: bool) {
    let client = RegistryClient::new(ClientConfig {
        insecure_http_hosts: vec![addr.to_string()],
        timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    })
    .unwrap()
    .with_oauth_password_grant(oauth);
    let credentials = Credentials::new(USER, PASSWORD);
    let report: CheckReport = client
        .check(&Endpoint::new(addr.to_string()), Some(&credentials), target)
        .await;
    let rendered = format!("{report:?}\n{}", serde_json::to_string(&report).unwrap());
    let leaked = leaked_forms(&rendered, USER, PASSWORD);
    assert!(
        leaked.is_empty(),
        "{scenario}, {target}: {leaked:?} leaked into {rendered}"
    );
    assert!(
        !rendered.contains("invalid credentials") && !rendered.contains("<html>"),
        "{scenario}, {target}: the peer's text leaked into {rendered}"
    );
}

#[test]
fn the_forms_are_distinct_and_long() {
    let forms = echo_forms(USER, PASSWORD);
    assert!(forms.len() >= 10, "{forms:?}");
    assert!(forms.iter().any(|f| f == &PASSWORD.to_uppercase()));
    assert!(forms.iter().any(|f| f.contains("%2F")));
    assert!(forms.iter().all(|f| f.chars().count() >= 8));
}

#[tokio::test]
async fn registry_error_answers_echoing_the_credentials_leave_no_trace() {
    type Answer = fn(&Seen) -> Response<Body>;
    let scenarios: Vec<(&str, Answer)> = vec![
        ("401 with error_description and body", |_| {
            with_api(401)
                .header(
                    "WWW-Authenticate",
                    format!(
                        r#"Basic realm="echo",error="invalid_token",error_description={}"#,
                        quoted_echo()
                    ),
                )
                .header("Content-Type", "application/json")
                .body(Body::from(echo_json()))
                .unwrap()
        }),
        ("403 JSON", |_| json_echo(403)),
        ("404 JSON", |_| json_echo(404)),
        ("429 with Retry-After", |_| {
            with_api(429)
                .header(
                    "Retry-After",
                    URL_SAFE_NO_PAD.encode(format!("{USER}:{PASSWORD}")),
                )
                .header("Content-Type", "application/json")
                .body(Body::from(echo_json()))
                .unwrap()
        }),
        ("500 plain text", |_| {
            with_api(500)
                .header("Content-Type", "text/plain")
                .body(Body::from(echo_text(USER, PASSWORD)))
                .unwrap()
        }),
        ("418 HTML", |_| {
            with_api(418)
                .header("Content-Type", "text/html")
                .body(Body::from(format!(
                    "<html><body>{}</body></html>",
                    echo_text(USER, PASSWORD)
                )))
                .unwrap()
        }),
        ("200 with echoed digest and media type", |_| {
            with_api(200)
                .header(
                    "Docker-Content-Digest",
                    format!("sha256:{}", URL_SAFE_NO_PAD.encode(PASSWORD)),
                )
                .header(
                    "Content-Type",
                    format!("application/{}", URL_SAFE_NO_PAD.encode(PASSWORD)),
                )
                .body(Body::from("{}"))
                .unwrap()
        }),
        ("redirects to echoed locations", |seen| {
            Response::builder()
                .status(307)
                .header(
                    "Location",
                    format!(
                        "{}/{}",
                        seen.path.trim_end_matches('/'),
                        URL_SAFE_NO_PAD.encode(format!("{USER}:{PASSWORD}"))
                    ),
                )
                .body(Body::empty())
                .unwrap()
        }),
    ];
    for (scenario, answer) in scenarios {
        let addr = start(basic_registry(answer)).await;
        for target in targets() {
            assert_nothing_echoed(scenario, addr, &target, false).await;
        }
    }
}

#[tokio::test]
async fn challenges_echoing_the_credentials_leave_no_trace() {
    // An unsupported scheme named like the credentials, and a broken challenge that quotes them.
    let schemes = start(|_: &Seen, _: &str| {
        with_api(401)
            .header("WWW-Authenticate", URL_SAFE_NO_PAD.encode(PASSWORD))
            .body(Body::empty())
            .unwrap()
    })
    .await;
    let broken = start(|_: &Seen, _: &str| {
        with_api(401)
            .header(
                "WWW-Authenticate",
                format!("Basic realm={}", URL_SAFE_NO_PAD.encode(PASSWORD)) + " \"",
            )
            .body(Body::empty())
            .unwrap()
    })
    .await;
    for (scenario, addr) in [
        ("unsupported scheme", schemes),
        ("broken challenge", broken),
    ] {
        for target in targets() {
            assert_nothing_echoed(scenario, addr, &target, false).await;
        }
    }
}

/// A Bearer registry whose token service answers `token(seen)`, and whose registry answers a
/// token with `registry(seen)`.
fn bearer_registry(
    token: fn(&Seen) -> Response<Body>,
    registry: fn(&Seen) -> Response<Body>,
) -> impl Fn(&Seen, &str) -> Response<Body> + Send + Sync + 'static {
    move |seen, base| {
        if seen.path == "/token" {
            return token(seen);
        }
        match seen.authorization.as_deref() {
            Some(a) if a.starts_with("Bearer ") => registry(seen),
            _ => with_api(401)
                .header(
                    "WWW-Authenticate",
                    format!(r#"Bearer realm="{base}/token",service="echo""#),
                )
                .body(Body::empty())
                .unwrap(),
        }
    }
}

fn a_token(_: &Seen) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(Body::from(
            r#"{"token":"echo-token-value","expires_in":300}"#,
        ))
        .unwrap()
}

#[tokio::test]
async fn token_services_echoing_the_credentials_leave_no_trace() {
    type Answer = fn(&Seen) -> Response<Body>;
    let unreachable: Answer = |_| with_api(500).body(Body::empty()).unwrap();
    let scenarios: Vec<(&str, Answer, Answer)> = vec![
        ("token 401 JSON", |_| json_echo(401), unreachable),
        ("token 403 JSON", |_| json_echo(403), unreachable),
        ("token 400 JSON", |_| json_echo(400), unreachable),
        ("token 429", |_| json_echo(429), unreachable),
        (
            "token 503 text",
            |_| {
                Response::builder()
                    .status(503)
                    .body(Body::from(echo_text(USER, PASSWORD)))
                    .unwrap()
            },
            unreachable,
        ),
        (
            "token 200 HTML",
            |_| {
                Response::builder()
                    .status(200)
                    .header("Content-Type", "text/html")
                    .body(Body::from(echo_text(USER, PASSWORD)))
                    .unwrap()
            },
            unreachable,
        ),
        (
            "token 200 without a token",
            |_| {
                Response::builder()
                    .status(200)
                    .header("Content-Type", "application/json")
                    .body(Body::from(echo_json()))
                    .unwrap()
            },
            unreachable,
        ),
        ("insufficient scope echoing", a_token, |_| {
            with_api(401)
                .header(
                    "WWW-Authenticate",
                    format!(
                        r#"Bearer realm="x",error="insufficient_scope",error_description={}"#,
                        quoted_echo()
                    ),
                )
                .header("Content-Type", "application/json")
                .body(Body::from(echo_json()))
                .unwrap()
        }),
        ("registry 403 after a token", a_token, |_| json_echo(403)),
    ];
    for (scenario, token, registry) in scenarios {
        let addr = start(bearer_registry(token, registry)).await;
        for target in targets() {
            for oauth in [false, true] {
                assert_nothing_echoed(scenario, addr, &target, oauth).await;
            }
        }
    }
}

/// Expiry is still read from the text a registry sends (ECR says it only there), though none of
/// the text is kept.
#[tokio::test]
async fn expiry_is_read_from_an_echoing_answer_without_keeping_it() {
    let addr = start(basic_registry(|seen| {
        let echo = format!("{} — your token has expired", echo_text(USER, PASSWORD));
        let body = serde_json::json!({"errors": [{"code": "DENIED", "message": echo}]});
        with_api(403)
            .header("Content-Type", "application/json")
            .body(if seen.method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(body.to_string())
            })
            .unwrap()
    }))
    .await;
    for target in targets() {
        assert_nothing_echoed("expired", addr, &target, false).await;
        let client = RegistryClient::new(ClientConfig {
            insecure_http_hosts: vec![addr.to_string()],
            ..ClientConfig::default()
        })
        .unwrap();
        let report = client
            .check(
                &Endpoint::new(addr.to_string()),
                Some(&Credentials::new(USER, PASSWORD)),
                &target,
            )
            .await;
        assert_eq!(
            report.outcome,
            regcred_registry::Outcome::Expired,
            "{target}"
        );
    }
}
