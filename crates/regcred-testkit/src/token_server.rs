//! A signing token server for registries in token mode (the distribution token protocol).

use std::collections::BTreeSet;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::ca::TestCa;

/// Lifetime of issued tokens, reported as `expires_in`.
const TOKEN_LIFETIME_SECS: i64 = 300;

/// What one account may do on one repository. An account exists when at least one grant names
/// it; a grant with no actions makes an account that can log in but pull nothing.
/// `repository: "*"` matches every repository, action `"*"` every action.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: String,
    pub password: String,
    pub repository: String,
    pub actions: Vec<String>,
}

impl Grant {
    pub fn new(user: &str, password: &str, repository: &str, actions: &[&str]) -> Grant {
        Grant {
            user: user.to_string(),
            password: password.to_string(),
            repository: repository.to_string(),
            actions: actions.iter().map(ToString::to_string).collect(),
        }
    }
}

/// The token server's `service` (the JWT `aud`), `issuer` (`iss`), accounts with their grants,
/// and TLS with the server certificate of `tls` (plain HTTP when `None`).
#[derive(Debug, Clone, Default)]
pub struct TokenServerOptions<'a> {
    pub service: String,
    pub issuer: String,
    pub grants: Vec<Grant>,
    pub tls: Option<&'a TestCa>,
}

/// A token server in the style of Docker Hub's `auth.docker.io`, for the real registry in token
/// mode: an axum app on `127.0.0.1:PORT` serving `GET /token?service=…&scope=…` with Basic
/// credentials (anonymous callers get a token with an empty grant; wrong credentials get 401 and
/// a JSON error) and the OAuth2 form `POST /token` (`grant_type=password`). Tokens are ES256
/// JWTs signed with ring, with an `x5c` header holding the signing certificate, which chains to a
/// root generated here ([`TokenServer::root_cert_pem`], the registry's `rootcertbundle`). The
/// `access` claim is the intersection of what was asked and what the grants allow, possibly
/// empty, as real token servers do. It runs on its own thread and runtime, so it keeps answering
/// while a test blocks, and stops when dropped.
pub struct TokenServer {
    addr: SocketAddr,
    tls: bool,
    state: Arc<ServerState>,
    root_cert_pem: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm_url", &self.realm_url())
            .field("service", &self.state.service)
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

struct ServerState {
    service: String,
    issuer: String,
    grants: Vec<Grant>,
    signer: Signer,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    get: AtomicU64,
    post: AtomicU64,
    rejected: AtomicU64,
}

impl TokenServer {
    /// Generates the signing root and certificate, binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    ///
    /// When key generation, binding or spawning the server thread fails.
    pub fn start(options: TokenServerOptions<'_>) -> TokenServer {
        let (signer, root_cert_pem) = Signer::generate();
        let state = Arc::new(ServerState {
            service: options.service,
            issuer: options.issuer,
            grants: options.grants,
            signer,
            counters: Counters::default(),
        });
        let app = Router::new()
            .route("/token", get(get_token).post(post_token))
            .with_state(Arc::clone(&state));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind token server port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking token server listener");
        let addr = listener.local_addr().expect("token server address");
        let tls_config = options.tls.map(TestCa::rustls_server_config);
        let tls = tls_config.is_some();

        let (shutdown, stop) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("token-server-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("token server runtime");
                runtime.block_on(serve(listener, tls_config, app, stop));
            })
            .expect("spawn token server thread");

        TokenServer {
            addr,
            tls,
            state,
            root_cert_pem,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http(s)://127.0.0.1:PORT/token`, the `realm` of the registry's challenge.
    pub fn realm_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/token", self.addr)
    }

    /// `127.0.0.1:PORT`, e.g. for a client's list of plain-HTTP hosts.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn service(&self) -> &str {
        &self.state.service
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The root certificate (PEM) the signing certificate chains to: the registry's
    /// `auth.token.rootcertbundle`.
    pub fn root_cert_pem(&self) -> &str {
        &self.root_cert_pem
    }

    /// Token requests received, GET and POST, including rejected ones.
    pub fn requests(&self) -> u64 {
        self.get_requests() + self.post_requests()
    }

    /// `GET /token` requests received.
    pub fn get_requests(&self) -> u64 {
        self.state.counters.get.load(Ordering::SeqCst)
    }

    /// `POST /token` (OAuth2) requests received.
    pub fn post_requests(&self) -> u64 {
        self.state.counters.post.load(Ordering::SeqCst)
    }

    /// Requests answered 401 for wrong credentials.
    pub fn rejected_requests(&self) -> u64 {
        self.state.counters.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // Fails only when the server thread already ended.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves until `stop` fires, then returns; dropping the runtime closes the listener and every
/// open connection.
async fn serve(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    stop: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("register token listener");
    match tls {
        None => {
            tokio::select! {
                _ = axum::serve(listener, app).into_future() => {}
                _ = stop => {}
            }
        }
        Some(config) => {
            let listener = TlsListener {
                tcp: listener,
                acceptor: TlsAcceptor::from(config),
            };
            tokio::select! {
                _ = axum::serve(listener, app).into_future() => {}
                _ = stop => {}
            }
        }
    }
}

/// A TCP listener that completes the TLS handshake before handing the connection to axum.
/// Failed handshakes (a client that does not trust the CA) are dropped and accepting goes on.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The ES256 signing key, its certificate (issued by a root made here) and a random source.
struct Signer {
    key: EcdsaKeyPair,
    /// The signing certificate, DER, standard base64: the JWT header's `x5c`.
    x5c: Vec<String>,
    rng: SystemRandom,
}

impl Signer {
    /// The signer and the PEM of its root.
    fn generate() -> (Signer, String) {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate root key");
        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = common_name("regcred-testkit token root");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let root = root_params.self_signed(&root_key).expect("self-sign root");

        let signing_key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate signing key");
        let mut signing_params = CertificateParams::default();
        signing_params.distinguished_name = common_name("regcred-testkit token signer");
        signing_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let signing_cert = signing_params
            .signed_by(&signing_key, &root, &root_key)
            .expect("issue signing certificate");

        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            signing_key.serialized_der(),
            &rng,
        )
        .expect("rcgen's PKCS#8 P-256 key loads in ring");
        let signer = Signer {
            key,
            x5c: vec![STANDARD.encode(signing_cert.der())],
            rng,
        };
        (signer, root.pem())
    }

    /// `header.claims.signature`, base64url without padding; the signature is the fixed-size
    /// `r || s` JWS wants.
    fn sign(&self, claims: &Value) -> String {
        let header = json!({ "typ": "JWT", "alg": "ES256", "x5c": self.x5c });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ECDSA signing with the system RNG");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// `n` random bytes as lower-case hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random source");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// One `type:name:actions` scope; `name` may itself contain `:` (a registry host with a port),
/// so the actions are what follows the last `:`.
struct Scope {
    kind: String,
    name: String,
    actions: Vec<String>,
}

fn parse_scopes<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Scope> {
    values
        .flat_map(|value| value.split(' '))
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(Scope {
                kind: kind.to_string(),
                name: name.to_string(),
                actions: actions
                    .split(',')
                    .filter(|action| !action.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

impl ServerState {
    /// Whether `user:password` is an account.
    fn authenticate(&self, user: &str, password: &str) -> bool {
        self.grants
            .iter()
            .any(|grant| grant.user == user && grant.password == password)
    }

    /// The `access` claim: per requested repository scope, the requested actions the grants
    /// allow; scopes with nothing allowed are left out. Anonymous callers get nothing.
    fn access(&self, user: Option<&str>, scopes: &[Scope]) -> Vec<Value> {
        let Some(user) = user else {
            return Vec::new();
        };
        scopes
            .iter()
            .filter(|scope| scope.kind == "repository")
            .filter_map(|scope| {
                let allowed: BTreeSet<&str> = self
                    .grants
                    .iter()
                    .filter(|grant| {
                        grant.user == user
                            && (grant.repository == scope.name || grant.repository == "*")
                    })
                    .flat_map(|grant| grant.actions.iter().map(String::as_str))
                    .collect();
                let actions: Vec<&str> = scope
                    .actions
                    .iter()
                    .map(String::as_str)
                    .filter(|action| allowed.contains(action) || allowed.contains("*"))
                    .collect();
                (!actions.is_empty())
                    .then(|| json!({ "type": scope.kind, "name": scope.name, "actions": actions }))
            })
            .collect()
    }

    /// The token response for an authenticated (or anonymous) caller.
    fn issue(&self, user: Option<&str>, scopes: &[Scope]) -> Response {
        let now = OffsetDateTime::now_utc();
        let iat = now.unix_timestamp();
        let claims = json!({
            "iss": self.issuer,
            "sub": user.unwrap_or(""),
            // A plain string: distribution 2.8 rejects an array here.
            "aud": self.service,
            "exp": iat + TOKEN_LIFETIME_SECS,
            "nbf": iat,
            "iat": iat,
            "jti": random_hex(16),
            "access": self.access(user, scopes),
        });
        let token = self.signer.sign(&claims);
        let issued_at = now.format(&Rfc3339).expect("RFC 3339 formats any UTC time");
        Json(json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "issued_at": issued_at,
        }))
        .into_response()
    }

    fn reject(&self, body: Value) -> Response {
        self.counters.rejected.fetch_add(1, Ordering::SeqCst);
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}

/// `GET /token?service=…&scope=…&account=…` with optional Basic credentials.
async fn get_token(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    state.counters.get.fetch_add(1, Ordering::SeqCst);
    let scopes = parse_scopes(
        params
            .iter()
            .filter(|(key, _)| key == "scope")
            .map(|(_, value)| value.as_str()),
    );
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return state.issue(None, &scopes);
    };
    match basic_credentials(authorization.as_bytes()) {
        Some((user, password)) if state.authenticate(&user, &password) => {
            state.issue(Some(&user), &scopes)
        }
        _ => state.reject(json!({ "details": "incorrect username or password" })),
    }
}

/// The OAuth2 form: `grant_type=password&username=…&password=…&service=…&scope=…`.
async fn post_token(
    State(state): State<Arc<ServerState>>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    state.counters.post.fetch_add(1, Ordering::SeqCst);
    let field = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if field("grant_type") != Some("password") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unsupported_grant_type" })),
        )
            .into_response();
    }
    let scopes = parse_scopes(
        params
            .iter()
            .filter(|(key, _)| key == "scope")
            .map(|(_, value)| value.as_str()),
    );
    match (field("username"), field("password")) {
        (Some(user), Some(password)) if state.authenticate(user, password) => {
            state.issue(Some(user), &scopes)
        }
        _ => state.reject(json!({
            "error": "invalid_grant",
            "error_description": "incorrect username or password",
        })),
    }
}

/// `Basic base64(user:password)`, scheme case-insensitive.
fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(grants: Vec<Grant>) -> ServerState {
        ServerState {
            service: "svc".into(),
            issuer: "iss".into(),
            grants,
            signer: Signer::generate().0,
            counters: Counters::default(),
        }
    }

    #[test]
    fn access_is_the_intersection_of_request_and_grants() {
        let state = state(vec![
            Grant::new("ada", "pw", "team/app", &["pull"]),
            Grant::new("ada", "pw", "other", &["pull", "push"]),
        ]);
        let scopes = parse_scopes(
            ["repository:team/app:pull,push repository:missing:pull registry:catalog:*"]
                .into_iter(),
        );
        assert_eq!(
            state.access(Some("ada"), &scopes),
            vec![json!({ "type": "repository", "name": "team/app", "actions": ["pull"] })]
        );
        assert!(state.access(None, &scopes).is_empty());
        assert!(state.access(Some("bob"), &scopes).is_empty());
    }

    #[test]
    fn scope_names_may_contain_colons() {
        let scopes = parse_scopes(["repository:127.0.0.1:5000/app:pull"].into_iter());
        assert_eq!(scopes[0].name, "127.0.0.1:5000/app");
        assert_eq!(scopes[0].actions, ["pull"]);
    }

    #[test]
    fn jwt_signature_verifies_with_the_certificate_key() {
        let state = state(Vec::new());
        let token = state.signer.sign(&json!({ "sub": "x" }));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "JWT");
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64, "fixed-size r||s");
        let public_key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            ring::signature::KeyPair::public_key(&state.signer.key).as_ref(),
        );
        public_key
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("signature verifies");
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let header = format!("basic {}", STANDARD.encode("ada:p:w"));
        assert_eq!(
            basic_credentials(header.as_bytes()),
            Some(("ada".into(), "p:w".into()))
        );
        assert_eq!(basic_credentials(b"Bearer abc"), None);
    }
}
