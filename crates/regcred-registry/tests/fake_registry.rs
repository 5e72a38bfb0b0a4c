//! The check flow against scripted fake registries: axum servers on `127.0.0.1:0` that record
//! every request and answer per scenario. They stand in for what a real distribution registry
//! cannot be made to do on demand (429, 5xx, ECR's expired 403, redirects, broken challenges) and
//! pin the request sequence — methods, paths, Accept, Authorization schemes, round-trip counts —
//! exactly. The real `docker-registry` is exercised in `tests/real_registry.rs`.
//!
//! Time never passes by sleeping: token expiry is driven by a test clock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use axum::Router;
use base64::Engine as _;
use regcred_registry::check::MANIFEST_ACCEPT;
use regcred_registry::{
    CheckReport, ClientConfig, Clock, Credentials, Endpoint, Finding, Outcome, RegistryClient,
    RequestRecord, Step, Target, TransportFailure,
};
use time::OffsetDateTime;

const USER: &str = "alice";
const PASSWORD: &str = "canary-password-7f3a";
const IDENTITY_TOKEN: &str = "canary-identity-token-91c2";
const MANIFEST_DIGEST: &str =
    "sha256:2d7f0e7b1c8a5a8a07f3b7a5c0f2d0f1e9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    authorization: Option<String>,
    accept: Option<String>,
    body: String,
}

impl Seen {
    fn scheme(&self) -> &str {
        self.authorization
            .as_deref()
            .and_then(|a| a.split(' ').next())
            .unwrap_or("-")
    }

    fn bearer(&self) -> Option<&str> {
        self.authorization.as_deref()?.strip_prefix("Bearer ")
    }

    fn has_basic(&self, user: &str, password: &str) -> bool {
        self.authorization.as_deref() == Some(&basic(user, password))
    }

    fn form(&self, key: &str) -> Option<String> {
        self.body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| v.replace('+', " ").replace("%3A", ":").replace("%2F", "/"))
        })
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

type Script = dyn Fn(&Seen, &str) -> Response<Body> + Send + Sync;

struct FakeState {
    log: Mutex<Vec<Seen>>,
    base: String,
    script: Box<Script>,
}

/// A scripted registry. `script(request, base_url)` answers each request.
struct Fake {
    addr: SocketAddr,
    state: Arc<FakeState>,
}

impl Fake {
    async fn start(script: impl Fn(&Seen, &str) -> Response<Body> + Send + Sync + 'static) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            log: Mutex::new(Vec::new()),
            base: format!("http://{addr}"),
            script: Box::new(script),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { addr, state }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.host())
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    /// `METHOD path[?query] scheme` per request, in order.
    fn log(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| {
                let query = if s.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", s.query)
                };
                format!("{} {}{query} {}", s.method, s.path, s.scheme())
            })
            .collect()
    }

    fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// A client that reaches this fake over plain HTTP.
    fn client(&self) -> RegistryClient {
        RegistryClient::new(ClientConfig {
            insecure_http_hosts: vec![self.host()],
            timeout: Duration::from_secs(5),
            ..ClientConfig::default()
        })
        .unwrap()
    }
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        authorization: header("authorization"),
        accept: header("accept"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.log.lock().unwrap().push(seen.clone());
    (state.script)(&seen, &state.base)
}

// --- answers -----------------------------------------------------------------------------------

fn answer(status: u16) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", "registry/2.0")
}

fn empty(status: u16) -> Response<Body> {
    answer(status).body(Body::empty()).unwrap()
}

fn json(status: u16, body: &str) -> Response<Body> {
    answer(status)
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn manifest() -> Response<Body> {
    answer(200)
        .header("Content-Type", OCI_MANIFEST)
        .header("Docker-Content-Digest", MANIFEST_DIGEST)
        .header("Content-Length", "512")
        .body(Body::empty())
        .unwrap()
}

fn basic_challenge() -> Response<Body> {
    answer(401)
        .header("WWW-Authenticate", r#"Basic realm="Registry Realm""#)
        .body(Body::empty())
        .unwrap()
}

fn bearer_challenge(base: &str, seen: &Seen, error: Option<&str>) -> Response<Body> {
    let mut value = format!(r#"Bearer realm="{base}/token",service="fake-registry""#);
    if let Some(repository) = seen
        .path
        .strip_prefix("/v2/")
        .and_then(|p| p.split_once("/manifests/"))
        .map(|(repository, _)| repository)
    {
        value.push_str(&format!(r#",scope="repository:{repository}:pull""#));
    }
    if let Some(error) = error {
        value.push_str(&format!(r#",error="{error}""#));
    }
    answer(401)
        .header("WWW-Authenticate", value)
        .body(Body::empty())
        .unwrap()
}

fn token(value: &str, extra: &str) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(Body::from(format!(r#"{{"token":"{value}"{extra}}}"#)))
        .unwrap()
}

fn is_manifest(seen: &Seen) -> bool {
    seen.path.contains("/manifests/")
}

// --- the client side ---------------------------------------------------------------------------

fn credentials() -> Credentials {
    Credentials::new(USER, PASSWORD)
}

fn image() -> Target {
    Target::Manifest {
        repository: "acme/app".into(),
        reference: "v1".into(),
    }
}

const MANIFEST_PATH: &str = "/v2/acme/app/manifests/v1";

/// A clock that moves only when told.
struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn new() -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_714_564_800).unwrap(),
        )))
    }

    fn advance(&self, seconds: i64) {
        *self.0.lock().unwrap() += time::Duration::seconds(seconds);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// Nothing secret in the report, however it is rendered, and no token either.
fn assert_clean(report: &CheckReport, extra_secrets: &[&str]) {
    let rendered = format!(
        "{report:?}\n{}\n{}",
        serde_json::to_string(report).unwrap(),
        serde_json::to_string_pretty(report).unwrap()
    );
    let basic_value = basic(USER, PASSWORD);
    let basic_b64 = basic_value.trim_start_matches("Basic ");
    for secret in [PASSWORD, IDENTITY_TOKEN, basic_b64, "canary"]
        .iter()
        .chain(extra_secrets)
    {
        assert!(
            !rendered.contains(secret),
            "{secret:?} leaked into the report: {rendered}"
        );
    }
}

/// Every manifest request was a HEAD with exactly the full Accept list.
fn assert_manifest_requests_are_head(fake: &Fake) {
    for seen in fake.seen().iter().filter(|s| is_manifest(s)) {
        assert_eq!(seen.method, Method::HEAD, "{seen:?}");
        assert_eq!(seen.accept.as_deref(), Some(MANIFEST_ACCEPT), "{seen:?}");
    }
}

async fn check(
    client: &RegistryClient,
    fake: &Fake,
    credentials: Option<&Credentials>,
    target: &Target,
) -> CheckReport {
    let report = client.check(&fake.endpoint(), credentials, target).await;
    assert_clean(&report, &[]);
    assert_manifest_requests_are_head(fake);
    report
}

fn assert_report(report: &CheckReport, outcome: Outcome, round_trips: u32, hint_has: &str) {
    assert_eq!(report.outcome, outcome, "{report:#?}");
    assert_eq!(report.round_trips, round_trips, "{report:#?}");
    assert!(
        report.hint.contains(hint_has),
        "hint {:?} lacks {hint_has:?}",
        report.hint
    );
    assert!(!report.hint.contains('\n'), "one line: {:?}", report.hint);
}

// --- Basic -------------------------------------------------------------------------------------

fn basic_registry() -> impl Fn(&Seen, &str) -> Response<Body> + Send + Sync + 'static {
    |seen, _| {
        if !seen.has_basic(USER, PASSWORD) {
            return basic_challenge();
        }
        if is_manifest(seen) {
            manifest()
        } else {
            json(200, "{}")
        }
    }
}

#[tokio::test]
async fn basic_cold_is_two_round_trips_and_warm_is_one() {
    let fake = Fake::start(basic_registry()).await;
    let client = fake.client();
    let cold = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&cold, Outcome::Ok, 2, "the credentials work");
    assert_eq!(cold.http_status, Some(200));
    assert_eq!(cold.digest.as_deref(), Some(MANIFEST_DIGEST));
    assert_eq!(cold.media_type, Some(OCI_MANIFEST));
    assert_eq!(
        fake.log(),
        [
            format!("HEAD {MANIFEST_PATH} -"),
            format!("HEAD {MANIFEST_PATH} Basic")
        ]
    );

    fake.clear_log();
    let warm = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&warm, Outcome::Ok, 1, "the credentials work");
    assert_eq!(fake.log(), [format!("HEAD {MANIFEST_PATH} Basic")]);
}

#[tokio::test]
async fn basic_wrong_password_is_unauthorized() {
    let fake = Fake::start(basic_registry()).await;
    let client = fake.client();
    let wrong = Credentials::new(USER, "canary-wrong-password");
    let cold = check(&client, &fake, Some(&wrong), &image()).await;
    assert_report(
        &cold,
        Outcome::Unauthorized,
        2,
        "rejected the username or password",
    );
    assert_eq!(cold.http_status, Some(401));
    assert_clean(&cold, &["canary-wrong-password"]);
    // Warm: Basic at once, and a second Basic challenge is not worth a retry.
    let warm = check(&client, &fake, Some(&wrong), &image()).await;
    assert_report(&warm, Outcome::Unauthorized, 1, "rejected");
    // The right password after a wrong one still works from the same cache.
    let right = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&right, Outcome::Ok, 1, "the credentials work");
}

#[tokio::test]
async fn basic_registry_without_credentials_needs_them() {
    let fake = Fake::start(basic_registry()).await;
    let report = check(&fake.client(), &fake, None, &image()).await;
    assert_report(&report, Outcome::Unauthorized, 1, "requires credentials");
}

#[tokio::test]
async fn basic_registry_level_check() {
    let fake = Fake::start(basic_registry()).await;
    let client = fake.client();
    let report = check(&client, &fake, Some(&credentials()), &Target::Registry).await;
    assert_report(&report, Outcome::Ok, 2, "accepts the credentials");
    assert_eq!(fake.log(), ["GET /v2/ -", "GET /v2/ Basic"]);
    assert_eq!(report.digest, None);
    let wrong = Credentials::new(USER, "canary-nope");
    let report = check(&client, &fake, Some(&wrong), &Target::Registry).await;
    assert_report(&report, Outcome::Unauthorized, 1, "rejected");
}

// --- Bearer ------------------------------------------------------------------------------------

/// A token-mode registry: tokens `canary-token-N` for the right credentials (or anonymous when
/// `anonymous` is set), valid until the registry "rotates" them (`valid_from`).
struct TokenService {
    issued: AtomicUsize,
    /// Tokens numbered below this are rejected with invalid_token.
    valid_from: AtomicUsize,
    extra: &'static str,
}

impl TokenService {
    fn new(extra: &'static str) -> Arc<TokenService> {
        Arc::new(TokenService {
            issued: AtomicUsize::new(0),
            valid_from: AtomicUsize::new(1),
            extra,
        })
    }

    fn issue(&self) -> Response<Body> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        token(&format!("canary-token-{n}"), self.extra)
    }

    fn accepts(&self, seen: &Seen) -> bool {
        seen.bearer()
            .and_then(|t| t.strip_prefix("canary-token-"))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n >= self.valid_from.load(Ordering::SeqCst))
    }
}

fn bearer_registry(
    tokens: Arc<TokenService>,
    anonymous: bool,
) -> impl Fn(&Seen, &str) -> Response<Body> + Send + Sync + 'static {
    move |seen, base| {
        if seen.path == "/token" {
            let allowed =
                seen.has_basic(USER, PASSWORD) || (anonymous && seen.authorization.is_none());
            return if allowed {
                tokens.issue()
            } else {
                Response::builder()
                    .status(401)
                    .header("Content-Type", "application/json")
                    .body(Body::from(
                        r#"{"details":"incorrect username or password"}"#,
                    ))
                    .unwrap()
            };
        }
        match seen.bearer() {
            None => bearer_challenge(base, seen, None),
            Some(_) if !tokens.accepts(seen) => bearer_challenge(base, seen, Some("invalid_token")),
            Some(_) if is_manifest(seen) => manifest(),
            Some(_) => json(200, "{}"),
        }
    }
}

#[tokio::test]
async fn bearer_cold_is_three_round_trips_and_warm_is_one() {
    let tokens = TokenService::new(r#","expires_in":300"#);
    let fake = Fake::start(bearer_registry(tokens.clone(), false)).await;
    let client = fake.client();
    let cold = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&cold, Outcome::Ok, 3, "the credentials work");
    assert_eq!(
        fake.log(),
        [
            format!("HEAD {MANIFEST_PATH} -"),
            "GET /token?service=fake-registry&scope=repository%3Aacme%2Fapp%3Apull Basic"
                .to_owned(),
            format!("HEAD {MANIFEST_PATH} Bearer"),
        ]
    );
    assert_eq!(fake.seen()[2].bearer(), Some("canary-token-1"));
    assert_eq!(
        fake.seen()[1].authorization.as_deref(),
        Some(basic(USER, PASSWORD).as_str())
    );
    assert_clean(&cold, &["canary-token-1"]);

    fake.clear_log();
    let warm = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&warm, Outcome::Ok, 1, "the credentials work");
    assert_eq!(fake.log(), [format!("HEAD {MANIFEST_PATH} Bearer")]);
    assert_eq!(fake.seen()[0].bearer(), Some("canary-token-1"));

    // Other credentials never get that token: the cache is keyed by a hash of them.
    fake.clear_log();
    let other = Credentials::new(USER, "canary-other-password");
    let report = check(&client, &fake, Some(&other), &image()).await;
    assert_report(
        &report,
        Outcome::Unauthorized,
        1,
        "rejected the username or password",
    );
    assert_eq!(
        fake.log()[0],
        "GET /token?service=fake-registry&scope=repository%3Aacme%2Fapp%3Apull Basic"
    );
    assert_clean(&report, &["canary-other-password", "canary-token"]);

    // Another repository needs another scope, hence another token.
    fake.clear_log();
    let other_repo = Target::Manifest {
        repository: "acme/other".into(),
        reference: "latest".into(),
    };
    let report = check(&client, &fake, Some(&credentials()), &other_repo).await;
    assert_report(&report, Outcome::Ok, 2, "acme/other:latest");
    assert_eq!(
        fake.log(),
        [
            "GET /token?service=fake-registry&scope=repository%3Aacme%2Fother%3Apull Basic",
            "HEAD /v2/acme/other/manifests/latest Bearer"
        ]
    );
}

#[tokio::test]
async fn token_expiry_forces_a_new_token() {
    let tokens = TokenService::new(r#","expires_in":60"#);
    let fake = Fake::start(bearer_registry(tokens.clone(), false)).await;
    let clock = TestClock::new();
    let client = fake.client().with_clock(clock.clone());
    assert_report(
        &check(&client, &fake, Some(&credentials()), &image()).await,
        Outcome::Ok,
        3,
        "",
    );

    clock.advance(50);
    assert_report(
        &check(&client, &fake, Some(&credentials()), &image()).await,
        Outcome::Ok,
        1,
        "",
    );
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 1);

    // 61 s after issue the token is gone: a token request and the manifest, with the cached realm.
    clock.advance(11);
    fake.clear_log();
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Ok, 2, "");
    assert_eq!(
        fake.log(),
        [
            "GET /token?service=fake-registry&scope=repository%3Aacme%2Fapp%3Apull Basic"
                .to_owned(),
            format!("HEAD {MANIFEST_PATH} Bearer"),
        ]
    );
    assert_eq!(fake.seen()[1].bearer(), Some("canary-token-2"));
}

#[tokio::test]
async fn a_revoked_cached_token_is_replaced_once() {
    let tokens = TokenService::new(r#","expires_in":300"#);
    let fake = Fake::start(bearer_registry(tokens.clone(), false)).await;
    let client = fake.client();
    assert_report(
        &check(&client, &fake, Some(&credentials()), &image()).await,
        Outcome::Ok,
        3,
        "",
    );
    // The registry stops accepting token 1 (key rotation): 401 invalid_token, a new token, again.
    tokens.valid_from.store(2, Ordering::SeqCst);
    fake.clear_log();
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Ok, 3, "the credentials work");
    assert_eq!(
        fake.log(),
        [
            format!("HEAD {MANIFEST_PATH} Bearer"),
            "GET /token?service=fake-registry&scope=repository%3Aacme%2Fapp%3Apull Basic"
                .to_owned(),
            format!("HEAD {MANIFEST_PATH} Bearer"),
        ]
    );
    // If the new token is refused too, that is the answer: no second retry.
    tokens.valid_from.store(1000, Ordering::SeqCst);
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Denied, 3, "may not pull acme/app");
}

#[tokio::test]
async fn a_moved_realm_is_learned_again() {
    use std::sync::atomic::AtomicBool;
    let moved = Arc::new(AtomicBool::new(false));
    let fake = Fake::start({
        let moved = moved.clone();
        move |seen: &Seen, base: &str| {
            let realm = if moved.load(Ordering::SeqCst) {
                "/token2"
            } else {
                "/token"
            };
            if seen.path.starts_with("/token") {
                return if seen.path == realm {
                    token("canary-token-realm", r#","expires_in":300"#)
                } else {
                    empty(404)
                };
            }
            match seen.bearer() {
                Some(_) if is_manifest(seen) => manifest(),
                _ => answer(401)
                    .header(
                        "WWW-Authenticate",
                        format!(r#"Bearer realm="{base}{realm}",service="fake-registry""#),
                    )
                    .body(Body::empty())
                    .unwrap(),
            }
        }
    })
    .await;
    let client = fake.client();
    assert_report(
        &check(&client, &fake, Some(&credentials()), &image()).await,
        Outcome::Ok,
        3,
        "",
    );
    moved.store(true, Ordering::SeqCst);
    fake.clear_log();
    // Another repository: no cached token, so the cached realm is asked, fails, and is forgotten.
    let other = Target::Manifest {
        repository: "acme/other".into(),
        reference: "v1".into(),
    };
    let report = check(&client, &fake, Some(&credentials()), &other).await;
    assert_report(&report, Outcome::Ok, 4, "the credentials work");
    assert_eq!(
        fake.log(),
        [
            "GET /token?service=fake-registry&scope=repository%3Aacme%2Fother%3Apull Basic",
            "HEAD /v2/acme/other/manifests/v1 -",
            "GET /token2?service=fake-registry&scope=repository%3Aacme%2Fother%3Apull Basic",
            "HEAD /v2/acme/other/manifests/v1 Bearer",
        ]
    );
}

#[tokio::test]
async fn bearer_wrong_password_is_unauthorized_at_the_token_service() {
    let fake = Fake::start(bearer_registry(TokenService::new(""), false)).await;
    let wrong = Credentials::new(USER, "canary-wrong");
    let report = check(&fake.client(), &fake, Some(&wrong), &image()).await;
    assert_report(
        &report,
        Outcome::Unauthorized,
        2,
        "rejected the username or password for \"alice\"",
    );
    assert_eq!(report.http_status, Some(401));
    assert_eq!(
        (report.detail.step, report.detail.status),
        (Step::Token, Some(401)),
        "{report:#?}"
    );
}

#[tokio::test]
async fn bearer_anonymous_pull_and_registry_check() {
    let fake = Fake::start(bearer_registry(TokenService::new(""), true)).await;
    let client = fake.client();
    let report = check(&client, &fake, None, &image()).await;
    assert_report(&report, Outcome::Ok, 3, "can be pulled without credentials");
    assert_eq!(
        fake.seen()[1].authorization,
        None,
        "no Basic for anonymous tokens"
    );

    fake.clear_log();
    let report = check(&client, &fake, Some(&credentials()), &Target::Registry).await;
    assert_report(&report, Outcome::Ok, 2, "accepts the credentials");
    // The cached challenge leads straight to a token without scope, then `/v2/` with it.
    assert_eq!(
        fake.log(),
        ["GET /token?service=fake-registry Basic", "GET /v2/ Bearer"]
    );
}

#[tokio::test]
async fn bearer_registry_level_check_cold() {
    let fake = Fake::start(bearer_registry(TokenService::new(""), false)).await;
    let report = check(
        &fake.client(),
        &fake,
        Some(&credentials()),
        &Target::Registry,
    )
    .await;
    assert_report(&report, Outcome::Ok, 3, "accepts the credentials");
    assert_eq!(
        fake.log(),
        [
            "GET /v2/ -",
            "GET /token?service=fake-registry Basic",
            "GET /v2/ Bearer"
        ]
    );
}

#[tokio::test]
async fn insufficient_scope_is_denied() {
    let fake = Fake::start(|seen: &Seen, base: &str| {
        if seen.path == "/token" {
            // Token servers grant an empty scope rather than failing.
            return token("canary-token-empty", "");
        }
        match seen.bearer() {
            None => bearer_challenge(base, seen, None),
            Some(_) => bearer_challenge(base, seen, Some("insufficient_scope")),
        }
    })
    .await;
    let client = fake.client();
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Denied, 3, "may not pull acme/app");
    assert!(
        report.detail.has_code("insufficient_scope"),
        "{:?}",
        report.detail
    );
    assert_clean(&report, &["canary-token-empty"]);
    // Warm and still insufficient: no retry.
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Denied, 1, "grant them read access");
    // Anonymous: an anonymous token is not enough, credentials are needed.
    client.clear_cache();
    let report = check(&client, &fake, None, &image()).await;
    assert_report(&report, Outcome::Unauthorized, 3, "requires credentials");
}

#[tokio::test]
async fn oauth_post_falls_back_to_get_on_404() {
    let fake = Fake::start({
        move |seen: &Seen, base: &str| {
            if seen.path == "/token" {
                if seen.method == Method::POST {
                    return empty(404);
                }
                return if seen.has_basic("<token>", IDENTITY_TOKEN) {
                    Response::builder()
                        .status(200)
                        .body(Body::from(r#"{"access_token":"canary-token-access"}"#))
                        .unwrap()
                } else {
                    empty(401)
                };
            }
            match seen.bearer() {
                Some("canary-token-access") => manifest(),
                _ => bearer_challenge(base, seen, None),
            }
        }
    })
    .await;
    let identity = Credentials::new("<token>", IDENTITY_TOKEN);
    let report = check(&fake.client(), &fake, Some(&identity), &image()).await;
    assert_report(&report, Outcome::Ok, 4, "the credentials work");
    assert_eq!(
        fake.log(),
        [
            format!("HEAD {MANIFEST_PATH} -"),
            "POST /token -".to_owned(),
            "GET /token?service=fake-registry&scope=repository%3Aacme%2Fapp%3Apull Basic"
                .to_owned(),
            format!("HEAD {MANIFEST_PATH} Bearer"),
        ]
    );
    let post = &fake.seen()[1];
    assert_eq!(post.form("grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(post.form("refresh_token").as_deref(), Some(IDENTITY_TOKEN));
    assert_eq!(post.form("client_id").as_deref(), Some("regcred"));
    assert_eq!(post.form("service").as_deref(), Some("fake-registry"));
    assert_eq!(
        post.form("scope").as_deref(),
        Some("repository:acme/app:pull")
    );
    assert_clean(&report, &["canary-token-access"]);
}

#[tokio::test]
async fn oauth_password_grant_with_issued_at() {
    let clock = TestClock::new();
    let issued_at = (clock.now() - time::Duration::seconds(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let fake = Fake::start(move |seen: &Seen, base: &str| {
        if seen.path == "/token" && seen.method == Method::POST {
            let ok = seen.form("grant_type").as_deref() == Some("password")
                && seen.form("username").as_deref() == Some(USER)
                && seen.form("password").as_deref() == Some(PASSWORD);
            return if ok {
                json(
                    200,
                    &format!(
                        r#"{{"access_token":"canary-token-oauth","expires_in":60,"issued_at":"{issued_at}"}}"#
                    ),
                )
            } else {
                json(401, r#"{"error":"invalid_grant"}"#)
            };
        }
        match seen.bearer() {
            Some("canary-token-oauth") => manifest(),
            _ => bearer_challenge(base, seen, None),
        }
    })
    .await;
    let client = fake
        .client()
        .with_clock(clock.clone())
        .with_oauth_password_grant(true);
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Ok, 3, "the credentials work");
    assert_eq!(fake.log()[1], "POST /token -");
    assert_clean(&report, &["canary-token-oauth"]);
    // Issued 30 s before it arrived with 60 s to live: reusable for 20 s more, not for 26.
    clock.advance(20);
    assert_report(
        &check(&client, &fake, Some(&credentials()), &image()).await,
        Outcome::Ok,
        1,
        "",
    );
    clock.advance(6);
    assert_report(
        &check(&client, &fake, Some(&credentials()), &image()).await,
        Outcome::Ok,
        2,
        "",
    );

    let wrong = Credentials::new(USER, "canary-bad");
    client.clear_cache();
    let report = check(&client, &fake, Some(&wrong), &image()).await;
    assert_report(&report, Outcome::Unauthorized, 2, "rejected");
    assert!(
        report.detail.has_code("invalid_grant"),
        "{:?}",
        report.detail
    );
}

#[tokio::test]
async fn token_realm_answering_html_is_not_a_registry() {
    let fake = Fake::start(|seen: &Seen, base: &str| {
        if seen.path == "/token" {
            return Response::builder()
                .status(200)
                .header("Content-Type", "text/html")
                .body(Body::from("<html>login</html>"))
                .unwrap();
        }
        bearer_challenge(base, seen, None)
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(
        &report,
        Outcome::NotARegistry,
        2,
        "does not answer like a container registry",
    );
    assert_eq!(
        report.detail.finding,
        Some(Finding::TokenNotJson),
        "{:?}",
        report.detail
    );
}

#[tokio::test]
async fn token_service_expired_credentials() {
    let fake = Fake::start(|seen: &Seen, base: &str| {
        if seen.path == "/token" {
            return json(401, r#"{"details":"the access token has expired"}"#);
        }
        bearer_challenge(base, seen, None)
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Expired, 2, "expired");
}

// --- answers that classify -------------------------------------------------------------------

#[tokio::test]
async fn public_image_is_ok_in_one_round_trip_but_credentials_are_unproven() {
    let fake = Fake::start(|seen: &Seen, _: &str| {
        if is_manifest(seen) {
            manifest()
        } else {
            json(200, "{}")
        }
    })
    .await;
    let client = fake.client();
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Ok, 1, "public");
    assert_eq!(
        report.detail.finding,
        Some(Finding::CredentialsNotProven),
        "{:?}",
        report.detail
    );
    assert_eq!(fake.seen()[0].authorization, None);
    let report = check(&client, &fake, None, &image()).await;
    assert_report(&report, Outcome::Ok, 1, "can be pulled without credentials");
    assert_eq!(report.detail.finding, None);
    let report = check(&client, &fake, Some(&credentials()), &Target::Registry).await;
    assert_report(&report, Outcome::Ok, 1, "not checked");
}

#[tokio::test]
async fn not_found_with_the_api_header() {
    let fake = Fake::start(|seen: &Seen, _: &str| {
        if !seen.has_basic(USER, PASSWORD) {
            return basic_challenge();
        }
        empty(404)
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::NotFound, 2, "has no acme/app:v1");
    assert_eq!(report.http_status, Some(404));
}

#[tokio::test]
async fn a_404_without_the_api_header_is_probed() {
    // A web server: 404 for everything, no API header.
    let web = Fake::start(|_: &Seen, _: &str| {
        Response::builder()
            .status(404)
            .header("Content-Type", "text/html")
            .body(Body::from("<h1>Not Found</h1>"))
            .unwrap()
    })
    .await;
    let report = check(&web.client(), &web, Some(&credentials()), &image()).await;
    assert_report(
        &report,
        Outcome::NotARegistry,
        2,
        "does not answer like a container registry",
    );
    assert_eq!(
        web.log(),
        [format!("HEAD {MANIFEST_PATH} -"), "GET /v2/ -".to_owned()]
    );

    // A registry behind a proxy that drops the header on 404, but challenges on /v2/.
    let registry = Fake::start(|seen: &Seen, _: &str| {
        if is_manifest(seen) {
            Response::builder().status(404).body(Body::empty()).unwrap()
        } else {
            Response::builder()
                .status(401)
                .header("WWW-Authenticate", r#"Basic realm="r""#)
                .body(Body::empty())
                .unwrap()
        }
    })
    .await;
    let report = check(&registry.client(), &registry, None, &image()).await;
    assert_report(&report, Outcome::NotFound, 2, "has no acme/app:v1");

    // The registry-level check needs no probe: /v2/ itself is missing.
    let report = check(&web.client(), &web, None, &Target::Registry).await;
    assert_report(
        &report,
        Outcome::NotARegistry,
        1,
        "does not answer like a container registry",
    );
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let fake = Fake::start(|_: &Seen, _: &str| {
        answer(429)
            .header("Retry-After", "30")
            .body(Body::empty())
            .unwrap()
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::RateLimited, 1, "retry after 30 s");
    assert_eq!(report.http_status, Some(429));

    let no_header = Fake::start(|_: &Seen, _: &str| empty(429)).await;
    let report = check(&no_header.client(), &no_header, None, &image()).await;
    assert_report(&report, Outcome::RateLimited, 1, "retry later");
}

#[tokio::test]
async fn server_errors_are_unreachable() {
    for status in [500, 502, 503] {
        let fake = Fake::start(move |_: &Seen, _: &str| empty(status)).await;
        let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
        assert_report(
            &report,
            Outcome::Unreachable,
            1,
            &format!("the registry is failing (HTTP {status}); retry later"),
        );
        assert_eq!(report.http_status, Some(status));
    }
    // A failing token service counts the same.
    let fake = Fake::start(|seen: &Seen, base: &str| {
        if seen.path == "/token" {
            return empty(503);
        }
        bearer_challenge(base, seen, None)
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Unreachable, 2, "HTTP 503");
}

#[tokio::test]
async fn a_401_without_a_challenge_is_not_a_registry() {
    let fake = Fake::start(|_: &Seen, _: &str| empty(401)).await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(
        &report,
        Outcome::NotARegistry,
        1,
        "does not answer like a container registry",
    );
    assert_eq!(
        report.detail.finding,
        Some(Finding::NoChallenge),
        "{:?}",
        report.detail
    );
}

#[tokio::test]
async fn unknown_or_broken_challenges_are_not_a_registry() {
    for (header, expected) in [
        ("Negotiate", Finding::UnsupportedScheme),
        (r#"Basic realm="unterminated"#, Finding::UnreadableChallenge),
        (r#"Bearer service="x""#, Finding::NoRealm),
    ] {
        let fake = Fake::start(move |_: &Seen, _: &str| {
            answer(401)
                .header("WWW-Authenticate", header)
                .body(Body::empty())
                .unwrap()
        })
        .await;
        let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
        assert_report(&report, Outcome::NotARegistry, 1, "");
        assert_eq!(report.detail.finding, Some(expected), "{:?}", report.detail);
    }
}

#[tokio::test]
async fn html_200_is_not_a_registry() {
    let fake = Fake::start(|_: &Seen, _: &str| {
        Response::builder()
            .status(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(Body::from("<!doctype html><title>App</title>"))
            .unwrap()
    })
    .await;
    let client = fake.client();
    let report = check(&client, &fake, None, &image()).await;
    assert_report(&report, Outcome::NotARegistry, 1, "");
    let report = check(&client, &fake, None, &Target::Registry).await;
    assert_report(&report, Outcome::NotARegistry, 1, "");
}

#[tokio::test]
async fn ecr_expired_token_403() {
    // ECR: Basic; an expired token gets 403 without a challenge, and only a GET body says why.
    let fake = Fake::start(|seen: &Seen, _: &str| {
        if seen.authorization.is_none() {
            return answer(401)
                .header("WWW-Authenticate", r#"Basic realm="https://123.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com""#)
                .body(Body::empty())
                .unwrap();
        }
        json(
            403,
            r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}"#,
        )
    })
    .await;
    let client = fake.client();
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Expired, 3, "expired");
    assert_eq!(report.http_status, Some(403));
    assert_eq!(
        fake.log(),
        [
            format!("HEAD {MANIFEST_PATH} -"),
            format!("HEAD {MANIFEST_PATH} Basic"),
            "GET /v2/ Basic".to_owned()
        ]
    );
    assert!(report.detail.has_code("DENIED"), "{:?}", report.detail);
    assert_eq!(
        report
            .detail
            .requests
            .iter()
            .map(|r| (r.step, r.status))
            .collect::<Vec<_>>(),
        [
            (Step::Manifest, Some(401)),
            (Step::Manifest, Some(403)),
            (Step::Ping, Some(403))
        ]
    );
    let report = check(&client, &fake, Some(&credentials()), &Target::Registry).await;
    assert_report(&report, Outcome::Expired, 1, "expired");
}

#[tokio::test]
async fn forbidden_with_working_credentials_is_denied() {
    let fake = Fake::start(|seen: &Seen, _: &str| {
        if !seen.has_basic(USER, PASSWORD) {
            return basic_challenge();
        }
        if is_manifest(seen) {
            empty(403)
        } else {
            json(200, "{}")
        }
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::Denied, 3, "may not pull acme/app");
    // The manifest's 403 decides; the probe of /v2/ with the same credentials answered 200.
    assert_eq!(
        (report.detail.step, report.detail.status),
        (Step::Manifest, Some(403))
    );
    assert_eq!(
        report.detail.requests.last(),
        Some(&RequestRecord {
            step: Step::Ping,
            status: Some(200),
            transport: None
        }),
        "{:?}",
        report.detail
    );
}

#[tokio::test]
async fn redirects_are_followed_once() {
    let fake = Fake::start(|seen: &Seen, _: &str| match seen.path.as_str() {
        MANIFEST_PATH => Response::builder()
            .status(307)
            .header("Location", "/mirror/manifest")
            .body(Body::empty())
            .unwrap(),
        "/mirror/manifest" => manifest(),
        "/v2/loop/manifests/v1" => Response::builder()
            .status(308)
            .header("Location", "/v2/loop/manifests/v1")
            .body(Body::empty())
            .unwrap(),
        _ => empty(404),
    })
    .await;
    let client = fake.client();
    let report = check(&client, &fake, None, &image()).await;
    assert_report(&report, Outcome::Ok, 2, "");
    assert_eq!(
        fake.log(),
        [
            format!("HEAD {MANIFEST_PATH} -"),
            "HEAD /mirror/manifest -".to_owned()
        ]
    );
    let looping = Target::Manifest {
        repository: "loop".into(),
        reference: "v1".into(),
    };
    let report = check(&client, &fake, None, &looping).await;
    assert_report(&report, Outcome::NotARegistry, 2, "");
    assert_eq!(
        report.detail.finding,
        Some(Finding::RedirectLoop),
        "{:?}",
        report.detail
    );
}

// --- transport -------------------------------------------------------------------------------

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = RegistryClient::new(ClientConfig {
        insecure_http_hosts: vec![addr.to_string()],
        ..ClientConfig::default()
    })
    .unwrap();
    let report = client
        .check(
            &Endpoint::new(addr.to_string()),
            Some(&credentials()),
            &image(),
        )
        .await;
    assert_report(
        &report,
        Outcome::Unreachable,
        1,
        "nothing accepts connections",
    );
    assert_eq!(report.http_status, None);
    assert_eq!(
        report.detail.transport,
        Some(TransportFailure::Refused),
        "{:?}",
        report.detail
    );
    assert_clean(&report, &[]);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = RegistryClient::new(ClientConfig {
        insecure_http_hosts: vec![addr.to_string()],
        timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    })
    .unwrap();
    let report = client
        .check(&Endpoint::new(addr.to_string()), None, &image())
        .await;
    assert_report(
        &report,
        Outcome::Unreachable,
        1,
        "did not answer within 0.3 s",
    );
}

/// Decision: a plain-HTTP server reached over https (its host is not listed as insecure) is a
/// `tls_error` whose hint says the server does not speak TLS — the fix is to list the host or to
/// use the right port, not to wait and retry.
#[tokio::test]
async fn plain_http_host_not_listed_is_a_tls_error() {
    let fake = Fake::start(basic_registry()).await;
    let client = RegistryClient::new(ClientConfig::default()).unwrap();
    let report = client
        .check(&fake.endpoint(), Some(&credentials()), &image())
        .await;
    assert_report(&report, Outcome::TlsError, 1, "does not speak TLS");
    assert_clean(&report, &[]);
    // Nothing reached the fake as an HTTP request: credentials never travelled in the clear.
    assert!(fake.seen().is_empty(), "{:?}", fake.log());
}

#[tokio::test]
async fn plain_http_realm_of_an_unlisted_host_is_refused() {
    let fake = Fake::start(|seen: &Seen, _: &str| {
        answer(401)
            .header(
                "WWW-Authenticate",
                // A realm on another port of the same machine, not listed as insecure.
                r#"Bearer realm="http://127.0.0.1:1/token",service="s""#,
            )
            .body(Body::from(seen.path.clone()))
            .unwrap()
    })
    .await;
    let report = check(&fake.client(), &fake, Some(&credentials()), &image()).await;
    assert_report(&report, Outcome::TlsError, 1, "plain HTTP");
    assert_eq!(
        (report.detail.step, report.detail.finding),
        (Step::Token, Some(Finding::PlainHttpRefused)),
        "{:?}",
        report.detail
    );
    // The realm is the registry's word, so the hint names its role, not its host.
    assert!(
        report.hint.contains("the token service that"),
        "{}",
        report.hint
    );
}

#[tokio::test]
async fn invalid_hosts_are_reported_without_a_request() {
    let client = RegistryClient::new(ClientConfig::default()).unwrap();
    let report = client
        .check(&Endpoint::new("ghcr.io/acme"), None, &Target::Registry)
        .await;
    assert_report(&report, Outcome::NotARegistry, 0, "host[:port]");
}

#[tokio::test]
async fn debug_of_client_and_credentials_shows_no_secret() {
    let fake = Fake::start(bearer_registry(
        TokenService::new(r#","expires_in":300"#),
        false,
    ))
    .await;
    let client = fake.client();
    let report = check(&client, &fake, Some(&credentials()), &image()).await;
    assert_eq!(report.outcome, Outcome::Ok);
    let rendered = format!("{client:?} {:?} {:?}", credentials(), Some(&credentials()));
    assert!(!rendered.contains("canary"), "{rendered}");
    assert!(!rendered.contains(PASSWORD), "{rendered}");
}

#[tokio::test]
async fn digest_references_and_nested_repositories_are_sent_verbatim() {
    let fake = Fake::start(|seen: &Seen, _: &str| {
        if is_manifest(seen) {
            manifest()
        } else {
            empty(404)
        }
    })
    .await;
    let digest = format!("sha256:{}", "b".repeat(64));
    let image = regcred_core::image_ref::ImageRef::parse(&format!(
        "{}/team/sub/app:v2@{digest}",
        fake.host()
    ))
    .unwrap();
    assert_eq!(Endpoint::for_domain(image.domain()), fake.endpoint());
    let report = check(&fake.client(), &fake, None, &Target::for_image(&image)).await;
    assert_report(&report, Outcome::Ok, 1, "team/sub/app@sha256:");
    assert_eq!(
        fake.log(),
        [format!("HEAD /v2/team/sub/app/manifests/{digest} -")]
    );
}
