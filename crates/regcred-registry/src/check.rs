//! The registry client and the check flow with the fewest round trips: does the registry accept these
//! credentials, and can they pull this image?
//!
//! The flow spends as few HTTP requests as the protocol allows. An unauthenticated
//! `HEAD /v2/<name>/manifests/<ref>` (or `GET /v2/` for a registry-level check) either succeeds
//! (a public image) or answers 401 with a challenge; Basic registries then get the same request
//! with Basic credentials (2 requests), Bearer registries one token request and the request again
//! with the token (3). The challenge is cached per scheme and host, tokens per host, scope and a
//! SHA-256 of the credentials until they expire, so a warm check is a single request. A token
//! alone proves nothing (token servers hand out empty grants), so the manifest request is always
//! made. Everything is classified into an [`Outcome`] with regcred's own hint and a
//! [`CheckDetail`] of facts (steps, statuses, error codes that pass their grammar): nothing a
//! registry or token service says in free text reaches a report or a log, so neither can anything
//! it echoes — secrets included, in whatever encoding.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use regcred_core::image_ref::ImageRef;
use regcred_core::registry_host::RegistryServer;
use regcred_core::secret::Secret;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};

use crate::trust::TrustStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::challenge::{self, Challenge, Scheme};
use crate::outcome::{self, CodeGrammar, ErrorCode, Outcome, TransportFailure};
use crate::token::{self, Clock, IssuedToken, OAuthForm, SystemClock, IDENTITY_TOKEN_USERNAME};

/// The manifest media types a pull accepts, in the order sent: OCI index, OCI manifest, Docker
/// manifest list, Docker manifest v2. distribution answers 404 for an OCI image whose type is
/// not accepted, so the list must be complete.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The `Accept` header of a manifest request: [`MANIFEST_MEDIA_TYPES`] joined by `", "`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Set by distribution on every `/v2/` answer; its presence tells a registry from a web server.
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";

const CONTENT_DIGEST_HEADER: &str = "docker-content-digest";
const RETRY_AFTER_HEADER: &str = "retry-after";
const WWW_AUTHENTICATE: &str = "www-authenticate";

/// Error bodies are read only to classify; a page of HTML need not be read to the end.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Token answers can carry certificate chains; still, a token is not a megabyte.
const TOKEN_BODY_LIMIT: usize = 1024 * 1024;
/// Expired tokens are swept from the cache when it grows past this.
const TOKEN_CACHE_SWEEP_AT: usize = 256;

/// How the client talks to registries. Parsed configuration, no IO.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Per HTTP request, connecting and answering; default 10 s.
    pub timeout: Duration,
    /// The system's roots and the extra CAs (`--registry-ca-file`).
    pub trust: TrustStore,
    /// `host[:port]` reached over plain `http://`; nothing else ever is. This covers token realms
    /// and redirect targets too: an `http://` realm is used only when its `host[:port]` is listed.
    pub insecure_http_hosts: Vec<String>,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(10),
            trust: TrustStore::system(),
            insecure_http_hosts: Vec::new(),
            user_agent: format!("regcred/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A username and password (or access token). Username `<token>` marks the password as an
/// identity token, which goes to the token service as an OAuth2 refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    fn is_identity_token(&self) -> bool {
        self.username == IDENTITY_TOKEN_USERNAME
    }

    /// Cache key for tokens issued to these credentials: a hash, so the cache never holds the
    /// password itself and a changed password never reuses the old one's token.
    fn identity(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.username.as_bytes());
        hash.update([0]);
        hash.update(self.password.expose().as_bytes());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The base64 of `username:password`, i.e. what a Basic header carries.
    fn basic_value(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.username,
            self.password.expose()
        ))
    }

    fn basic_header(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Basic {}", self.basic_value()))
            .expect("base64 is always a valid header value");
        value.set_sensitive(true);
        value
    }
}

/// The registry API host, e.g. `registry-1.docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
}

impl Endpoint {
    pub fn new(host: impl Into<String>) -> Endpoint {
        Endpoint { host: host.into() }
    }

    /// The API host for an image's domain: `docker.io` (any Docker Hub spelling) is served by
    /// `registry-1.docker.io`; other hosts are their own API host.
    ///
    /// ```
    /// use regcred_registry::Endpoint;
    /// assert_eq!(Endpoint::for_domain("docker.io").host, "registry-1.docker.io");
    /// assert_eq!(Endpoint::for_domain("ghcr.io").host, "ghcr.io");
    /// assert_eq!(Endpoint::for_domain("[::1]:5000").host, "[::1]:5000");
    /// ```
    pub fn for_domain(domain: &str) -> Endpoint {
        match RegistryServer::parse(domain) {
            Ok(server) => Endpoint::new(server.api_host()),
            Err(_) => Endpoint::new(domain),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)
    }
}

/// What to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Registry-level check, no image: `GET /v2/` (credentials accepted?).
    Registry,
    /// Pull check: `HEAD /v2/<repository>/manifests/<reference>`.
    Manifest {
        repository: String,
        reference: String,
    },
}

impl Target {
    /// The pull check for an image: its repository path and its digest, else its tag.
    pub fn for_image(image: &ImageRef) -> Target {
        Target::Manifest {
            repository: image.path().to_owned(),
            reference: image.manifest_reference().to_owned(),
        }
    }

    /// The token scope this target needs without a challenge saying otherwise.
    fn scope(&self) -> Option<String> {
        match self {
            Target::Registry => None,
            Target::Manifest { repository, .. } => Some(token::pull_scope(repository)),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Registry => f.write_str("/v2/"),
            Target::Manifest {
                repository,
                reference,
            } if reference.contains(':') => write!(f, "{repository}@{reference}"),
            Target::Manifest {
                repository,
                reference,
            } => write!(f, "{repository}:{reference}"),
        }
    }
}

/// The result of one check, for API answers and the CLI. Everything in it is regcred's own words
/// or a fact it checked: nothing a registry says in free text is kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub outcome: Outcome,
    /// One line a user can act on, in regcred's words.
    pub hint: String,
    /// What happened, as facts: the step that decided, its status, error codes, the requests.
    pub detail: CheckDetail,
    /// The status of the answer that decided the outcome; none when nothing answered.
    pub http_status: Option<u16>,
    /// HTTP requests sent for this check, including failed attempts.
    pub round_trips: u32,
    pub elapsed_ms: u64,
    /// `Docker-Content-Digest` when ok, and only if it is a well-formed digest.
    pub digest: Option<String>,
    /// The manifest's media type when ok, and only if it is a known manifest type.
    pub media_type: Option<&'static str>,
}

/// Which request of a check something is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `GET /v2/`: the registry-level check, or the probe that follows a manifest's 403 or 404.
    Ping,
    /// `HEAD /v2/<name>/manifests/<reference>`.
    Manifest,
    /// The token request to the realm the registry named (GET with Basic, or the OAuth2 POST).
    Token,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Ping => "ping",
            Step::Manifest => "manifest",
            Step::Token => "token",
        }
    }

    /// Words for hints and the CLI.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Ping => "GET /v2/",
            Step::Manifest => "the manifest request",
            Step::Token => "the token request",
        }
    }
}

/// The authorization a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthSent {
    Basic,
    Bearer,
}

impl AuthSent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSent::Basic => "basic",
            AuthSent::Bearer => "bearer",
        }
    }
}

/// What regcred itself concluded beyond status and codes; its hint says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Credentials were given, but the registry never asked for them: they are not proven.
    CredentialsNotProven,
    /// The registry wants credentials and none were given.
    CredentialsRequired,
    /// A 401 without a `WWW-Authenticate` challenge.
    NoChallenge,
    /// A `WWW-Authenticate` header that does not parse.
    UnreadableChallenge,
    /// Only authentication schemes other than Basic and Bearer.
    UnsupportedScheme,
    /// A Bearer challenge without a realm.
    NoRealm,
    /// A realm that is not an http(s) URL.
    UnusableRealm,
    /// The token service's 2xx answer is not a JSON object.
    TokenNotJson,
    /// The token service's 2xx answer has no token.
    NoToken,
    /// The token cannot be sent in a header.
    UnusableToken,
    /// A redirect without a usable `Location`.
    RedirectWithoutLocation,
    /// A second redirect: a loop or a chain.
    RedirectLoop,
    /// regcred refused to send the request over plain HTTP (the host is not listed as insecure).
    PlainHttpRefused,
    /// The registry host cannot form a URL.
    InvalidHost,
    /// No registry API at `/v2/` (404, or no API version header where one was needed).
    NoRegistryApi,
    /// A 2xx that does not look like a registry's (HTML, no digest or API version header).
    NotARegistryAnswer,
    /// A status a registry does not answer to this request.
    UnexpectedStatus,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::CredentialsNotProven => "credentials_not_proven",
            Finding::CredentialsRequired => "credentials_required",
            Finding::NoChallenge => "no_challenge",
            Finding::UnreadableChallenge => "unreadable_challenge",
            Finding::UnsupportedScheme => "unsupported_scheme",
            Finding::NoRealm => "no_realm",
            Finding::UnusableRealm => "unusable_realm",
            Finding::TokenNotJson => "token_not_json",
            Finding::NoToken => "no_token",
            Finding::UnusableToken => "unusable_token",
            Finding::RedirectWithoutLocation => "redirect_without_location",
            Finding::RedirectLoop => "redirect_loop",
            Finding::PlainHttpRefused => "plain_http_refused",
            Finding::InvalidHost => "invalid_host",
            Finding::NoRegistryApi => "no_registry_api",
            Finding::NotARegistryAnswer => "not_a_registry_answer",
            Finding::UnexpectedStatus => "unexpected_status",
        }
    }
}

/// One request of a check: its step and its status, or why it got none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportFailure>,
}

/// The facts behind an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckDetail {
    /// The request that decided.
    pub step: Step,
    /// Its HTTP status; none when nothing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Error codes it sent that pass their grammar (OCI `errors[].code`, OAuth `error`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<ErrorCode>,
    /// The authorization it carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSent>,
    /// Why it got no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    /// A 429's `Retry-After`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// Every request of the check, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestRecord>,
}

impl CheckDetail {
    fn new(step: Step) -> CheckDetail {
        CheckDetail {
            step,
            status: None,
            codes: Vec::new(),
            auth: None,
            transport: None,
            finding: None,
            retry_after_s: None,
            requests: Vec::new(),
        }
    }

    /// Whether `code` is among the codes.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c.as_str() == code)
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client")]
    Build {
        #[source]
        source: reqwest::Error,
    },
}

/// Checks credentials against registries. Cheap to share (`Arc`); caches challenges and tokens.
pub struct RegistryClient {
    http: reqwest::Client,
    insecure_http_hosts: HashSet<String>,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    oauth_password_grant: bool,
    cache: Mutex<AuthCache>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.cache();
        f.debug_struct("RegistryClient")
            .field("insecure_http_hosts", &self.insecure_http_hosts)
            .field("timeout", &self.timeout)
            .field("oauth_password_grant", &self.oauth_password_grant)
            .field("cached_challenges", &cache.challenges.len())
            .field("cached_tokens", &cache.tokens.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct AuthCache {
    /// Keyed by origin (`https://host:port`).
    challenges: HashMap<String, CachedChallenge>,
    tokens: HashMap<TokenKey, IssuedToken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CachedChallenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    origin: String,
    scope: Option<String>,
    /// [`Credentials::identity`], or `anonymous`.
    identity: String,
}

impl RegistryClient {
    /// Builds the client: one reqwest client (rustls, ring), no automatic redirects, the
    /// configured timeout for connecting and for each whole request, and the trust store.
    pub fn new(config: ClientConfig) -> Result<RegistryClient, ClientError> {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(config.user_agent.clone());
        let http = config
            .trust
            .reqwest(builder)
            .build()
            .map_err(|source| ClientError::Build { source })?;
        Ok(RegistryClient {
            http,
            insecure_http_hosts: config
                .insecure_http_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            timeout: config.timeout,
            clock: Arc::new(SystemClock),
            oauth_password_grant: false,
            cache: Mutex::new(AuthCache::default()),
        })
    }

    /// Replaces the wall clock used for token expiry (tests move time instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> RegistryClient {
        self.clock = clock;
        self
    }

    /// Sends ordinary credentials to Bearer token services as the OAuth2 password grant (POST)
    /// instead of GET with Basic, falling back to GET when the POST answers 404 or 405. Identity
    /// tokens (username `<token>`) always use the OAuth2 form.
    pub fn with_oauth_password_grant(mut self, enabled: bool) -> RegistryClient {
        self.oauth_password_grant = enabled;
        self
    }

    /// Forgets every cached challenge and token.
    pub fn clear_cache(&self) {
        *self.cache() = AuthCache::default();
    }

    /// Checks `credentials` (or anonymous access) against `target` on `endpoint`. Never fails:
    /// every failure is an outcome of the report.
    pub async fn check(
        &self,
        endpoint: &Endpoint,
        credentials: Option<&Credentials>,
        target: &Target,
    ) -> CheckReport {
        let span = tracing::info_span!("registry_check", host = %endpoint.host, target = %target);
        async {
            let started = Instant::now();
            let mut run = Run::new(self, endpoint, credentials, target);
            let verdict = match run.flow().await {
                Ok(v) | Err(v) => v,
            };
            let report = run.report(verdict, started.elapsed());
            tracing::debug!(
                outcome = %report.outcome,
                round_trips = report.round_trips,
                elapsed_ms = report.elapsed_ms,
                "check finished"
            );
            report
        }
        .instrument(span)
        .await
    }

    fn cache(&self) -> MutexGuard<'_, AuthCache> {
        // The cache is only ever replaced entry by entry, so a panic elsewhere cannot leave it
        // half-updated: a poisoned lock is still consistent.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached_challenge(&self, origin: &str) -> Option<CachedChallenge> {
        self.cache().challenges.get(origin).cloned()
    }

    fn remember_challenge(&self, origin: &str, challenge: CachedChallenge) {
        self.cache().challenges.insert(origin.to_owned(), challenge);
    }

    fn forget_challenge(&self, origin: &str) {
        self.cache().challenges.remove(origin);
    }

    /// A cached token still usable now; an expired one is evicted.
    fn cached_token(&self, key: &TokenKey) -> Option<Secret> {
        let now = self.clock.now();
        let mut cache = self.cache();
        match cache.tokens.get(key) {
            Some(t) if t.usable_at(now) => Some(t.token.clone()),
            Some(_) => {
                cache.tokens.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember_token(&self, key: TokenKey, token: IssuedToken) {
        let now = self.clock.now();
        if !token.usable_at(now) {
            return;
        }
        let mut cache = self.cache();
        if cache.tokens.len() >= TOKEN_CACHE_SWEEP_AT {
            cache.tokens.retain(|_, t| t.usable_at(now));
        }
        cache.tokens.insert(key, token);
    }

    fn forget_token(&self, key: &TokenKey) {
        self.cache().tokens.remove(key);
    }

    /// Whether `url` may be fetched over plain HTTP: its `host[:port]` is listed.
    fn plain_http_allowed(&self, url: &Url) -> bool {
        let host = authority(url).to_ascii_lowercase();
        self.insecure_http_hosts.contains(&host)
            || (url.port().is_none() && self.insecure_http_hosts.contains(&format!("{host}:80")))
    }
}

/// `host[:port]` of a URL as typed in configuration (`[::1]:5000`, `ghcr.io`).
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// What a check concluded, before bookkeeping.
struct Verdict {
    outcome: Outcome,
    hint: String,
    /// Without `requests`, which the report adds. Boxed: verdicts travel as `Err` values.
    detail: Box<CheckDetail>,
    digest: Option<String>,
    media_type: Option<&'static str>,
}

impl Verdict {
    fn new(outcome: Outcome, hint: impl Into<String>, detail: CheckDetail) -> Verdict {
        Verdict {
            outcome,
            hint: hint.into(),
            detail: Box::new(detail),
            digest: None,
            media_type: None,
        }
    }
}

/// The `Authorization` a request carried, and whether it came from the cache.
struct SentAuth {
    header: HeaderValue,
    scheme: Scheme,
    /// The challenge was cached rather than learned in this check, so it may be stale.
    cached_challenge: bool,
    token_key: Option<TokenKey>,
}

impl SentAuth {
    fn kind(&self) -> AuthSent {
        match self.scheme {
            Scheme::Basic => AuthSent::Basic,
            _ => AuthSent::Bearer,
        }
    }
}

/// One HTTP answer, with the body read when asked for (HEAD answers have none).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    /// A header as text, for the checks below; never kept as it is.
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    fn has_api_header(&self) -> bool {
        self.headers.contains_key(API_VERSION_HEADER)
    }

    /// The media type without parameters, lowercased.
    fn content_type(&self) -> Option<String> {
        let value = self.header(CONTENT_TYPE.as_str())?;
        let media_type = value.split(';').next().unwrap_or_default().trim();
        (!media_type.is_empty()).then(|| media_type.to_ascii_lowercase())
    }

    fn is_json(&self) -> bool {
        self.content_type().is_some_and(|t| t.contains("json"))
    }

    /// All challenges of all `WWW-Authenticate` headers; `None` when there is none.
    fn challenges(&self) -> Option<Result<Vec<Challenge>, challenge::ChallengeError>> {
        let values: Vec<String> = self
            .headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| challenge::parse_all(values.iter().map(String::as_str)))
    }

    fn parsed_challenges(&self) -> Vec<Challenge> {
        self.challenges().and_then(Result::ok).unwrap_or_default()
    }

    /// The error codes of the answer that pass their grammar: each challenge's `error` (RFC 6750)
    /// and the body's distribution or OAuth2 codes. Descriptions and messages are not read.
    fn codes(&self) -> Vec<ErrorCode> {
        let mut codes: Vec<ErrorCode> = self
            .parsed_challenges()
            .iter()
            .filter_map(|c| c.error())
            .filter_map(|e| ErrorCode::parse(e, CodeGrammar::OAuth))
            .collect();
        for code in outcome::error_codes(&self.body) {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }

    fn is_html(&self) -> bool {
        self.content_type().is_some_and(|t| t.contains("html"))
            || self.body.trim_ascii_start().starts_with(b"<")
    }

    /// Whether the registry, token server or challenge says the credentials expired. Their text
    /// is read here and nowhere kept.
    fn says_expired(&self) -> bool {
        let in_challenge = self.parsed_challenges().iter().any(|c| {
            [c.error(), c.error_description()]
                .into_iter()
                .flatten()
                .any(outcome::says_expired)
        });
        in_challenge
            || (!self.body.is_empty()
                && !self.is_html()
                && outcome::says_expired(&outcome::body_text_for_classification(&self.body)))
    }

    /// The facts of this answer to a request of `step` that carried `auth`.
    fn facts(&self, step: Step, auth: Option<&SentAuth>) -> CheckDetail {
        CheckDetail {
            status: Some(self.status.as_u16()),
            codes: self.codes(),
            auth: auth.map(SentAuth::kind),
            ..CheckDetail::new(step)
        }
    }
}

/// How to send one request.
struct Outgoing<'r> {
    step: Step,
    method: Method,
    url: Url,
    accept: Option<&'static str>,
    authorization: Option<&'r HeaderValue>,
    form: Option<&'r OAuthForm>,
    /// 0: do not read the body.
    body_limit: usize,
}

/// The state of one check.
struct Run<'a> {
    client: &'a RegistryClient,
    host: &'a str,
    /// `scheme://host[:port]/`, or why the host cannot form one.
    origin: Result<Url, ()>,
    credentials: Option<&'a Credentials>,
    target: &'a Target,
    round_trips: u32,
    /// Each request's step and status, for `detail`.
    trail: Vec<RequestRecord>,
    /// A challenge or the API version header was seen (now or cached): this is a registry.
    seen_registry: bool,
}

impl<'a> Run<'a> {
    fn new(
        client: &'a RegistryClient,
        endpoint: &'a Endpoint,
        credentials: Option<&'a Credentials>,
        target: &'a Target,
    ) -> Run<'a> {
        let host = endpoint.host.trim();
        let plain = client
            .insecure_http_hosts
            .contains(&host.to_ascii_lowercase());
        let origin = origin_url(host, if plain { "http" } else { "https" }).ok_or(());
        Run {
            client,
            host,
            origin,
            credentials,
            target,
            round_trips: 0,
            trail: Vec::new(),
            seen_registry: false,
        }
    }

    fn report(self, verdict: Verdict, elapsed: Duration) -> CheckReport {
        let mut detail = *verdict.detail;
        detail.requests = self.trail;
        CheckReport {
            outcome: verdict.outcome,
            hint: verdict.hint,
            http_status: detail.status,
            detail,
            round_trips: self.round_trips,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            digest: verdict.digest,
            media_type: verdict.media_type,
        }
    }

    /// The step of the request the check is about.
    fn target_step(&self) -> Step {
        match self.target {
            Target::Registry => Step::Ping,
            Target::Manifest { .. } => Step::Manifest,
        }
    }

    fn origin(&self) -> Result<&Url, Verdict> {
        self.origin.as_ref().map_err(|()| {
            Verdict::new(
                Outcome::NotARegistry,
                format!(
                    "{:?} is not a registry host; give host[:port], e.g. ghcr.io or \
                     127.0.0.1:5000",
                    outcome::clean(self.host, 100)
                ),
                CheckDetail {
                    finding: Some(Finding::InvalidHost),
                    ..CheckDetail::new(self.target_step())
                },
            )
        })
    }

    fn origin_key(&self) -> String {
        match &self.origin {
            Ok(url) => url.origin().ascii_serialization(),
            Err(()) => String::new(),
        }
    }

    fn identity(&self) -> String {
        self.credentials
            .map_or_else(|| "anonymous".to_owned(), Credentials::identity)
    }

    fn token_key(&self, scope: Option<String>) -> TokenKey {
        TokenKey {
            origin: self.origin_key(),
            scope,
            identity: self.identity(),
        }
    }

    fn v2_url(&self) -> Result<Url, Verdict> {
        let mut url = self.origin()?.clone();
        url.set_path("/v2/");
        Ok(url)
    }

    fn target_url(&self) -> Result<Url, Verdict> {
        let mut url = self.origin()?.clone();
        match self.target {
            Target::Registry => url.set_path("/v2/"),
            Target::Manifest {
                repository,
                reference,
            } => {
                if let Ok(mut segments) = url.path_segments_mut() {
                    segments
                        .clear()
                        .push("v2")
                        .extend(repository.split('/'))
                        .push("manifests")
                        .push(reference);
                }
            }
        }
        Ok(url)
    }

    /// The request the check is about, with `auth` when given.
    async fn send_target(&mut self, auth: Option<&SentAuth>) -> Result<Answer, Verdict> {
        let url = self.target_url()?;
        let (method, accept, body_limit) = match self.target {
            // HEAD: Docker Hub counts manifest GETs against the pull limit, HEADs not.
            Target::Manifest { .. } => (Method::HEAD, Some(MANIFEST_ACCEPT), 0),
            Target::Registry => (Method::GET, None, ERROR_BODY_LIMIT),
        };
        self.send(Outgoing {
            step: self.target_step(),
            method,
            url,
            accept,
            authorization: auth.map(|a| &a.header),
            form: None,
            body_limit,
        })
        .await
    }

    /// Sends one request, following one redirect (counted). `Authorization` follows a redirect
    /// only to the same origin, as Go's and reqwest's clients do.
    async fn send(&mut self, out: Outgoing<'_>) -> Result<Answer, Verdict> {
        let step = out.step;
        let mut url = out.url.clone();
        let mut authorization = out.authorization;
        let mut hops = 0;
        loop {
            if url.scheme() == "http" && !self.client.plain_http_allowed(&url) {
                return Err(self.plain_http_refused(&url, step));
            }
            let mut request = self.client.http.request(out.method.clone(), url.clone());
            if let Some(accept) = out.accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value.clone());
            }
            if let Some(form) = out.form {
                request = request.form(form.fields());
            }
            self.round_trips += 1;
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    let failure = outcome::classify_transport(&error, url.scheme() == "https");
                    tracing::debug!(
                        step = step.as_str(),
                        method = %out.method,
                        failure = failure.as_str(),
                        "request failed"
                    );
                    self.trail.push(RequestRecord {
                        step,
                        status: None,
                        transport: Some(failure),
                    });
                    return Err(self.transport_verdict(failure, &url, step));
                }
            };
            let status = response.status();
            tracing::debug!(
                step = step.as_str(),
                method = %out.method,
                status = status.as_u16(),
                "registry answered"
            );
            self.trail.push(RequestRecord {
                step,
                status: Some(status.as_u16()),
                transport: None,
            });
            if status.is_redirection()
                && status != StatusCode::NOT_MODIFIED
                && out.method != Method::POST
            {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                let redirect = |finding| CheckDetail {
                    status: Some(status.as_u16()),
                    finding: Some(finding),
                    ..CheckDetail::new(step)
                };
                let Some(next) = location else {
                    return Err(self.not_a_registry(redirect(Finding::RedirectWithoutLocation)));
                };
                if hops == 1 {
                    return Err(self.not_a_registry(redirect(Finding::RedirectLoop)));
                }
                hops += 1;
                if next.origin() != url.origin() {
                    authorization = None;
                }
                url = next;
                continue;
            }
            let headers = response.headers().clone();
            let body = if out.body_limit > 0 {
                read_limited(response, out.body_limit)
                    .await
                    .map_err(|error| {
                        let failure = outcome::classify_transport(&error, url.scheme() == "https");
                        self.transport_verdict(failure, &url, step)
                    })?
            } else {
                Vec::new()
            };
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
    }

    /// How hints name the peer of a request to `url`: the registry's host as configured, or the
    /// role of a host the registry chose (a realm, a redirect target) — never that host itself,
    /// since only the registry vouches for it.
    fn peer(&self, url: &Url, step: Step) -> String {
        match &self.origin {
            Ok(origin) if origin.origin() == url.origin() => authority(url),
            _ if step == Step::Token => format!("the token service that {} names", self.host),
            _ => format!("the host {} redirected to", self.host),
        }
    }

    fn transport_verdict(&self, failure: TransportFailure, url: &Url, step: Step) -> Verdict {
        Verdict::new(
            failure.outcome(),
            failure.hint(&self.peer(url, step), self.client.timeout),
            CheckDetail {
                transport: Some(failure),
                ..CheckDetail::new(step)
            },
        )
    }

    fn plain_http_refused(&self, url: &Url, step: Step) -> Verdict {
        let peer = self.peer(url, step);
        let hint = if peer == authority(url) {
            format!(
                "{peer} is reached over plain HTTP, which is used only for hosts listed as \
                 insecure; list {peer} if that is intended, or serve it over HTTPS"
            )
        } else {
            format!(
                "{peer} is on plain HTTP, which is used only for hosts listed as insecure; list \
                 that host if it is intended (the registry's WWW-Authenticate header names it), \
                 or serve it over HTTPS"
            )
        };
        Verdict::new(
            Outcome::TlsError,
            hint,
            CheckDetail {
                finding: Some(Finding::PlainHttpRefused),
                ..CheckDetail::new(step)
            },
        )
    }

    fn not_a_registry(&self, detail: CheckDetail) -> Verdict {
        Verdict::new(
            Outcome::NotARegistry,
            format!(
                "{} does not answer like a container registry; check the registry host (and port)",
                self.host
            ),
            detail,
        )
    }

    fn unauthorized_needs_credentials(&self, mut detail: CheckDetail) -> Verdict {
        detail.finding = Some(Finding::CredentialsRequired);
        Verdict::new(
            Outcome::Unauthorized,
            format!(
                "{} requires credentials for {}; add a username and password (or token)",
                self.host, self.target
            ),
            detail,
        )
    }

    fn expired(&self, detail: CheckDetail) -> Verdict {
        Verdict::new(
            Outcome::Expired,
            "the registry says the credentials have expired; mint new ones (ECR tokens last 12 h, \
             cloud access tokens 1 h) and update the pull secret",
            detail,
        )
    }

    fn rate_limited(&self, answer: &Answer, step: Step, auth: Option<&SentAuth>) -> Verdict {
        let retry = answer
            .header(RETRY_AFTER_HEADER)
            .and_then(|v| outcome::retry_after_secs(&v, self.client.clock.now()));
        let hint = match retry {
            Some(after) => format!(
                "{} is rate-limiting requests; retry after {after} s",
                self.host
            ),
            None => format!("{} is rate-limiting requests; retry later", self.host),
        };
        let detail = CheckDetail {
            retry_after_s: retry,
            ..answer.facts(step, auth)
        };
        Verdict::new(Outcome::RateLimited, hint, detail)
    }

    fn failing(&self, answer: &Answer, step: Step, auth: Option<&SentAuth>) -> Verdict {
        let status = answer.status.as_u16();
        Verdict::new(
            Outcome::Unreachable,
            format!("the registry is failing (HTTP {status}); retry later"),
            answer.facts(step, auth),
        )
    }

    /// The flow. `Err` is an early verdict; both arms are final.
    async fn flow(&mut self) -> Result<Verdict, Verdict> {
        self.origin()?;
        let mut auth = self.warm_auth().await?;
        let mut redone = false;
        let mut first = true;
        loop {
            let answer = self.send_target(auth.as_ref()).await?;
            let was_first = std::mem::replace(&mut first, false);
            if answer.has_api_header() {
                self.seen_registry = true;
            }
            let step = self.target_step();
            match answer.status.as_u16() {
                200..=299 => return Ok(self.success(&answer, auth.as_ref())),
                401 => match auth.take() {
                    None => {
                        let challenge = self.usable_challenge(&answer)?;
                        auth = Some(self.authorize(&challenge, &answer).await?);
                    }
                    Some(sent) => {
                        let insufficient = answer
                            .parsed_challenges()
                            .iter()
                            .any(Challenge::is_insufficient_scope);
                        if !sent.cached_challenge || redone || insufficient {
                            return Ok(self.rejected(&answer, &sent));
                        }
                        // The cached challenge or token is stale (token revoked, signing key
                        // rotated, auth reconfigured): forget them and follow the new challenge.
                        redone = true;
                        self.client.forget_challenge(&self.origin_key());
                        if let Some(key) = &sent.token_key {
                            self.client.forget_token(key);
                        }
                        let challenge = self.usable_challenge(&answer)?;
                        if sent.scheme == Scheme::Basic && challenge.scheme() == Scheme::Basic {
                            // The same credentials again would get the same answer.
                            return Ok(self.rejected(&answer, &sent));
                        }
                        auth = Some(self.authorize(&challenge, &answer).await?);
                    }
                },
                403 => return self.forbidden(&answer, auth.as_ref()).await,
                404 => return self.missing(&answer, auth.as_ref(), was_first).await,
                429 => return Ok(self.rate_limited(&answer, step, auth.as_ref())),
                500..=599 => return Ok(self.failing(&answer, step, auth.as_ref())),
                _ => {
                    return Ok(self.not_a_registry(CheckDetail {
                        finding: Some(Finding::UnexpectedStatus),
                        ..answer.facts(step, auth.as_ref())
                    }))
                }
            }
        }
    }

    /// Authorization from the cache: Basic straight away, Bearer with a cached token or a token
    /// fetched from the cached realm. `None` when nothing is cached for this host, or when the
    /// cached realm failed for a reason other than the credentials (then the check starts cold).
    async fn warm_auth(&mut self) -> Result<Option<SentAuth>, Verdict> {
        let Some(cached) = self.client.cached_challenge(&self.origin_key()) else {
            return Ok(None);
        };
        self.seen_registry = true;
        match cached {
            CachedChallenge::Basic => Ok(self.credentials.map(|c| SentAuth {
                header: c.basic_header(),
                scheme: Scheme::Basic,
                cached_challenge: true,
                token_key: None,
            })),
            CachedChallenge::Bearer { realm, service } => {
                let key = self.token_key(self.target.scope());
                let token = match self.client.cached_token(&key) {
                    Some(token) => token,
                    None => match self
                        .fetch_token(&realm, service.as_deref(), key.clone())
                        .await
                    {
                        Ok(token) => token,
                        // What the token service says about the credentials stands.
                        Err(verdict)
                            if matches!(
                                verdict.outcome,
                                Outcome::Unauthorized | Outcome::Expired | Outcome::RateLimited
                            ) =>
                        {
                            return Err(verdict)
                        }
                        // The cached realm may be stale (moved, reconfigured): start cold, so
                        // the registry names its realm afresh.
                        Err(_) => {
                            self.client.forget_challenge(&self.origin_key());
                            return Ok(None);
                        }
                    },
                };
                Ok(Some(SentAuth {
                    header: self.bearer_header(&token)?,
                    scheme: Scheme::Bearer,
                    cached_challenge: true,
                    token_key: Some(key),
                }))
            }
        }
    }

    /// The challenge to answer from a 401 (Bearer preferred over Basic), remembered for the host.
    fn usable_challenge(&mut self, answer: &Answer) -> Result<Challenge, Verdict> {
        let step = self.target_step();
        let broken = |finding| CheckDetail {
            finding: Some(finding),
            ..answer.facts(step, None)
        };
        let challenges = match answer.challenges() {
            None => return Err(self.not_a_registry(broken(Finding::NoChallenge))),
            Some(Err(_)) => return Err(self.not_a_registry(broken(Finding::UnreadableChallenge))),
            Some(Ok(challenges)) => challenges,
        };
        let pick = |scheme| challenges.iter().find(|c| c.scheme() == scheme);
        let Some(challenge) = pick(Scheme::Bearer)
            .or_else(|| pick(Scheme::Basic))
            .cloned()
        else {
            return Err(self.not_a_registry(broken(Finding::UnsupportedScheme)));
        };
        self.seen_registry = true;
        let cached = match challenge.scheme() {
            Scheme::Bearer => {
                let Some(realm) = challenge.realm().filter(|r| !r.is_empty()) else {
                    return Err(self.not_a_registry(broken(Finding::NoRealm)));
                };
                CachedChallenge::Bearer {
                    realm: realm.to_owned(),
                    service: challenge.service().map(str::to_owned),
                }
            }
            _ => CachedChallenge::Basic,
        };
        self.client.remember_challenge(&self.origin_key(), cached);
        Ok(challenge)
    }

    /// Credentials for a challenge just received in `answer`: Basic, or a fresh token.
    async fn authorize(
        &mut self,
        challenge: &Challenge,
        answer: &Answer,
    ) -> Result<SentAuth, Verdict> {
        match challenge.scheme() {
            Scheme::Bearer => {
                let realm = challenge.realm().unwrap_or_default().to_owned();
                // The scope the registry names is the one it will check; without one, ours.
                let scope = challenge
                    .scope()
                    .map(str::to_owned)
                    .or_else(|| self.target.scope());
                let key = self.token_key(scope);
                let token = self
                    .fetch_token(&realm, challenge.service(), key.clone())
                    .await?;
                Ok(SentAuth {
                    header: self.bearer_header(&token)?,
                    scheme: Scheme::Bearer,
                    cached_challenge: false,
                    token_key: Some(key),
                })
            }
            _ => match self.credentials {
                Some(c) => Ok(SentAuth {
                    header: c.basic_header(),
                    scheme: Scheme::Basic,
                    cached_challenge: false,
                    token_key: None,
                }),
                None => {
                    Err(self.unauthorized_needs_credentials(answer.facts(self.target_step(), None)))
                }
            },
        }
    }

    fn bearer_header(&self, token: &Secret) -> Result<HeaderValue, Verdict> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                self.not_a_registry(CheckDetail {
                    finding: Some(Finding::UnusableToken),
                    ..CheckDetail::new(Step::Token)
                })
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// One token from the realm (two requests when an OAuth2 POST falls back to GET), cached
    /// under `key`.
    async fn fetch_token(
        &mut self,
        realm: &str,
        service: Option<&str>,
        key: TokenKey,
    ) -> Result<Secret, Verdict> {
        let scope = key.scope.clone();
        let unusable_realm = |run: &Self| {
            run.not_a_registry(CheckDetail {
                finding: Some(Finding::UnusableRealm),
                ..CheckDetail::new(Step::Token)
            })
        };
        let url =
            token::token_url(realm, service, scope.as_deref()).map_err(|_| unusable_realm(self))?;
        let oauth = self
            .credentials
            .filter(|c| c.is_identity_token() || self.client.oauth_password_grant);
        let mut answer = None;
        if let Some(credentials) = oauth {
            let form = OAuthForm::new(service, scope.as_deref(), credentials);
            let post = self
                .send(Outgoing {
                    step: Step::Token,
                    method: Method::POST,
                    url: token::realm_url(realm).map_err(|_| unusable_realm(self))?,
                    accept: Some("application/json"),
                    authorization: None,
                    form: Some(&form),
                    body_limit: TOKEN_BODY_LIMIT,
                })
                .await?;
            // Token services without the OAuth2 form answer 404 or 405: fall back to GET.
            if !matches!(post.status.as_u16(), 404 | 405) {
                answer = Some(post);
            }
        }
        let answer = match answer {
            Some(answer) => answer,
            None => {
                let basic = self.credentials.map(Credentials::basic_header);
                self.send(Outgoing {
                    step: Step::Token,
                    method: Method::GET,
                    url,
                    accept: Some("application/json"),
                    authorization: basic.as_ref(),
                    form: None,
                    body_limit: TOKEN_BODY_LIMIT,
                })
                .await?
            }
        };
        let status = answer.status.as_u16();
        let facts = answer.facts(Step::Token, None);
        match status {
            200..=299 => {
                let issued =
                    token::parse_response(&answer.body, self.client.clock.now()).map_err(|e| {
                        self.not_a_registry(CheckDetail {
                            finding: Some(match e {
                                token::TokenResponseError::NotJson => Finding::TokenNotJson,
                                token::TokenResponseError::NoToken => Finding::NoToken,
                            }),
                            ..facts.clone()
                        })
                    })?;
                let token = issued.token.clone();
                self.client.remember_token(key, issued);
                Ok(token)
            }
            401 | 403 => {
                if answer.says_expired() {
                    return Err(self.expired(facts));
                }
                match self.credentials {
                    None => Err(self.unauthorized_needs_credentials(facts)),
                    Some(c) => Err(Verdict::new(
                        Outcome::Unauthorized,
                        format!(
                            "{} rejected the username or password for {:?}; check them (a token \
                             may have been revoked or lack the read scope)",
                            self.host,
                            outcome::clean(&c.username, 100)
                        ),
                        facts,
                    )),
                }
            }
            429 => Err(self.rate_limited(&answer, Step::Token, None)),
            500..=599 => Err(self.failing(&answer, Step::Token, None)),
            _ => Err(self.not_a_registry(CheckDetail {
                finding: Some(Finding::UnexpectedStatus),
                ..facts
            })),
        }
    }

    fn success(&self, answer: &Answer, auth: Option<&SentAuth>) -> Verdict {
        let step = self.target_step();
        let digest = answer.header(CONTENT_DIGEST_HEADER);
        let looks_right = match self.target {
            Target::Manifest { .. } => {
                !answer.is_html()
                    && (digest.is_some() || answer.has_api_header() || answer.is_json())
            }
            Target::Registry => answer.has_api_header() || (answer.is_json() && !answer.is_html()),
        };
        if !looks_right {
            return self.not_a_registry(CheckDetail {
                finding: Some(Finding::NotARegistryAnswer),
                ..answer.facts(step, auth)
            });
        }
        let unproven = auth.is_none() && self.credentials.is_some();
        let hint = match (self.target, self.credentials.is_some(), unproven) {
            (Target::Manifest { .. }, true, false) => {
                format!(
                    "the credentials work: {} can pull {}",
                    self.host, self.target
                )
            }
            (Target::Manifest { .. }, true, true) => format!(
                "{} on {} is public: it pulls without credentials, so the given ones were not \
                 checked",
                self.target, self.host
            ),
            (Target::Manifest { .. }, false, _) => {
                format!(
                    "{} on {} can be pulled without credentials",
                    self.target, self.host
                )
            }
            (Target::Registry, true, false) => format!("{} accepts the credentials", self.host),
            (Target::Registry, true, true) => format!(
                "{} did not ask for credentials, so the given ones were not checked; check with \
                 an image to prove them",
                self.host
            ),
            (Target::Registry, false, _) => {
                format!("{} answers without credentials", self.host)
            }
        };
        let detail = CheckDetail {
            finding: unproven.then_some(Finding::CredentialsNotProven),
            ..answer.facts(step, auth)
        };
        let mut verdict = Verdict::new(Outcome::Ok, hint, detail);
        if matches!(self.target, Target::Manifest { .. }) {
            verdict.digest = digest.as_deref().and_then(outcome::valid_digest);
            verdict.media_type = answer
                .content_type()
                .as_deref()
                .and_then(outcome::valid_manifest_media_type);
        }
        verdict
    }

    /// A 401 to a request that carried credentials.
    fn rejected(&self, answer: &Answer, sent: &SentAuth) -> Verdict {
        let insufficient = answer
            .parsed_challenges()
            .iter()
            .any(Challenge::is_insufficient_scope);
        let detail = answer.facts(self.target_step(), Some(sent));
        if answer.says_expired() && !insufficient {
            return self.expired(detail);
        }
        match (sent.scheme, self.credentials) {
            // An anonymous token is not enough.
            (Scheme::Bearer, None) => self.unauthorized_needs_credentials(detail),
            (Scheme::Basic, Some(c)) if !insufficient => Verdict::new(
                Outcome::Unauthorized,
                format!(
                    "{} rejected the username or password for {:?}; check them (a token may \
                     have been revoked)",
                    self.host,
                    outcome::clean(&c.username, 100)
                ),
                detail,
            ),
            _ => self.denied(detail),
        }
    }

    fn denied(&self, detail: CheckDetail) -> Verdict {
        let hint = match self.target {
            Target::Manifest { repository, .. } => format!(
                "the credentials are valid but may not pull {repository} on {}; grant them read \
                 access (or check that the repository exists)",
                self.host
            ),
            Target::Registry => format!(
                "the credentials are valid but {} refuses them access; check their permissions",
                self.host
            ),
        };
        Verdict::new(Outcome::Denied, hint, detail)
    }

    /// A 403: denied, or ECR's expired token (which only the body says).
    async fn forbidden(
        &mut self,
        answer: &Answer,
        auth: Option<&SentAuth>,
    ) -> Result<Verdict, Verdict> {
        let detail = answer.facts(self.target_step(), auth);
        if answer.says_expired() {
            return Ok(self.expired(detail));
        }
        let Some(sent) = auth else {
            return Ok(Verdict::new(
                Outcome::Denied,
                format!(
                    "{} refuses access to {} without asking for credentials; check the \
                     repository's permissions",
                    self.host, self.target
                ),
                detail,
            ));
        };
        if matches!(self.target, Target::Manifest { .. }) {
            // HEAD answers carry no body, and ECR says "token has expired" only there: ask
            // `/v2/` with the same credentials, which costs one request and no pull. The
            // manifest's 403 still decides; the probe shows in `requests`.
            let probe = self
                .send(Outgoing {
                    step: Step::Ping,
                    method: Method::GET,
                    url: self.v2_url()?,
                    accept: None,
                    authorization: Some(&sent.header),
                    form: None,
                    body_limit: ERROR_BODY_LIMIT,
                })
                .await?;
            if probe.says_expired() {
                let mut detail = detail;
                for code in probe.codes() {
                    if !detail.codes.contains(&code) {
                        detail.codes.push(code);
                    }
                }
                return Ok(self.expired(detail));
            }
        }
        Ok(self.denied(detail))
    }

    /// A 404: not found from a registry; from something unknown, `/v2/` decides.
    async fn missing(
        &mut self,
        answer: &Answer,
        auth: Option<&SentAuth>,
        was_first: bool,
    ) -> Result<Verdict, Verdict> {
        let detail = answer.facts(self.target_step(), auth);
        if matches!(self.target, Target::Registry) {
            return Ok(self.not_a_registry(CheckDetail {
                finding: Some(Finding::NoRegistryApi),
                ..detail
            }));
        }
        if !(answer.has_api_header() || self.seen_registry || !was_first) {
            let probe = self
                .send(Outgoing {
                    step: Step::Ping,
                    method: Method::GET,
                    url: self.v2_url()?,
                    accept: None,
                    authorization: None,
                    form: None,
                    body_limit: ERROR_BODY_LIMIT,
                })
                .await?;
            let registry = probe.has_api_header()
                || (probe.status == StatusCode::UNAUTHORIZED
                    && probe.challenges().is_some_and(|c| c.is_ok()))
                || (probe.status.is_success() && probe.is_json() && !probe.is_html());
            if !registry {
                return Ok(self.not_a_registry(CheckDetail {
                    finding: Some(Finding::NoRegistryApi),
                    ..detail
                }));
            }
        }
        Ok(Verdict::new(
            Outcome::NotFound,
            format!(
                "{} has no {}; check the repository name and the tag or digest",
                self.host, self.target
            ),
            detail,
        ))
    }
}

/// `scheme://host[:port]/` for a bare `host[:port]`; `None` for anything else.
fn origin_url(host: &str, scheme: &str) -> Option<Url> {
    if host.is_empty()
        || host.contains(['/', '?', '#', '@', '\\'])
        || host.chars().any(char::is_whitespace)
    {
        return None;
    }
    let url = Url::parse(&format!("{scheme}://{host}/")).ok()?;
    (url.host_str().is_some() && url.path() == "/").then_some(url)
}

/// Reads at most `limit` bytes of a response body (registries and token services are not trusted
/// to send small answers).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_is_the_media_types_joined() {
        assert_eq!(MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
    }

    #[test]
    fn endpoints() {
        for (domain, host) in [
            ("docker.io", "registry-1.docker.io"),
            ("index.docker.io", "registry-1.docker.io"),
            ("ghcr.io", "ghcr.io"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("[::1]:5000", "[::1]:5000"),
            ("localhost:5000", "localhost:5000"),
            ("docker.io:5000", "docker.io:5000"),
        ] {
            assert_eq!(Endpoint::for_domain(domain).host, host, "{domain}");
        }
    }

    #[test]
    fn targets() {
        let image = ImageRef::parse("nginx").unwrap();
        let t = Target::for_image(&image);
        assert_eq!(
            t,
            Target::Manifest {
                repository: "library/nginx".into(),
                reference: "latest".into()
            }
        );
        assert_eq!(t.to_string(), "library/nginx:latest");
        assert_eq!(t.scope().as_deref(), Some("repository:library/nginx:pull"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = ImageRef::parse(&format!("ghcr.io/a/b:v1@{digest}")).unwrap();
        assert_eq!(
            Target::for_image(&pinned).to_string(),
            format!("a/b@{digest}")
        );
        assert_eq!(Target::Registry.scope(), None);
    }

    #[test]
    fn origins() {
        for (host, expected) in [
            ("ghcr.io", "https://ghcr.io/"),
            ("127.0.0.1:5000", "https://127.0.0.1:5000/"),
            ("[::1]:5000", "https://[::1]:5000/"),
            ("GHCR.io", "https://ghcr.io/"),
        ] {
            assert_eq!(origin_url(host, "https").unwrap().as_str(), expected);
        }
        for host in [
            "",
            "ghcr.io/x",
            "user@ghcr.io",
            "a b",
            "ghcr.io?x",
            "[::1",
            "h:99999",
        ] {
            assert!(origin_url(host, "https").is_none(), "{host}");
        }
    }

    #[test]
    fn credentials_identity_is_a_hash() {
        let a = Credentials::new("alice", "canary-pw");
        let b = Credentials::new("alice", "other");
        assert_eq!(a.identity().len(), 64);
        assert_ne!(a.identity(), b.identity());
        assert!(!a.identity().contains("canary"));
        // "ab" + "c" and "a" + "bc" differ.
        assert_ne!(
            Credentials::new("ab", "c").identity(),
            Credentials::new("a", "bc").identity()
        );
        assert!(!format!("{a:?}").contains("canary"));
        assert!(format!("{:?}", a.basic_header()).contains("Sensitive"));
    }
}
