//! A scripted fake of the Kubernetes API server, for the requests regcred's Kubernetes delivery
//! makes: namespaces, Secrets and ServiceAccounts (core v1) and Deployments (apps/v1), read,
//! listed with label and field selectors, created, server-side applied, JSON- and merge-patched
//! and deleted with preconditions. Answers, errors included, are shaped like the real API
//! server's (`Status` objects with the same reasons, codes and messages), and every request is
//! recorded so tests can assert exactly what a client sent. No real API server can run on these
//! machines; this is the "scripted mock apiserver" rung of kube-rs's test ladder.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// The bearer token every request must carry; [`FakeKubeApi::kubeconfig_path`] holds it.
pub const FAKE_TOKEN: &str = "fake-token";

/// The name of the cluster, user and (current) context of [`FakeKubeApi::kubeconfig_path`].
pub const FAKE_CONTEXT: &str = "fake";

/// A JSON object: how objects are kept and manipulated. Stored objects are always objects, so
/// no code path has to handle a stored scalar.
type Object = Map<String, Value>;

/// One request as the fake received it, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path without the query, e.g. `/api/v1/namespaces/team/secrets/pull`.
    pub path: String,
    /// The decoded query parameters; a repeated key keeps its last value.
    pub query: BTreeMap<String, String>,
    /// The query as sent, without the `?` (empty when there was none).
    pub raw_query: String,
    /// The `Content-Type` header as sent, parameters included.
    pub content_type: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The body parsed as JSON; a body that is not JSON is kept as a JSON string of its text
    /// (lossy UTF-8); `None` when the body was empty.
    pub body: Option<Value>,
    /// The HTTP status the fake answered.
    pub status: u16,
}

impl RecordedRequest {
    /// `"PATCH /api/v1/namespaces/team/secrets/pull"`: compact for asserting sequences.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A fake Kubernetes API server on `127.0.0.1:PORT` (plain HTTP, bearer token [`FAKE_TOKEN`]).
///
/// Objects live in memory as JSON, keyed by resource, namespace and name. Every write stamps
/// `metadata.uid` (on creation), `metadata.creationTimestamp` (on creation) and
/// `metadata.resourceVersion` (one counter for the whole fake, as in etcd); a write that changes
/// nothing does not bump it, as on a real server. Server-side apply records `managedFields`
/// entries (`manager`, `operation`, `apiVersion`, `time`, and a coarse `fieldsV1`: top-level
/// fields and label/annotation keys) and, deliberately simpler than the real field-level
/// ownership, reports a conflict whenever another manager is listed and `force` is not `true`;
/// a forced apply takes the object over (the other managers' entries are dropped).
///
/// It runs on its own thread and runtime, so it works from `#[tokio::test]` and plain `#[test]`
/// alike and keeps answering while a test blocks; it stops when dropped. Starts with the
/// namespace `default`, like every cluster.
pub struct FakeKubeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeKubeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKubeApi")
            .field("url", &self.url())
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl FakeKubeApi {
    /// Binds `127.0.0.1:0`, writes the kubeconfig and starts serving.
    ///
    /// # Panics
    ///
    /// When binding, creating the temporary directory or spawning the server thread fails.
    pub fn start() -> FakeKubeApi {
        let shared = Arc::new(Shared::default());
        shared.lock().cluster.seed_namespace("default", &[]);
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake kube port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking fake kube listener");
        let addr = listener.local_addr().expect("fake kube address");

        let (shutdown, stop) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("fake-kube-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake kube runtime");
                runtime.block_on(serve(listener, app, stop));
            })
            .expect("spawn fake kube thread");

        let dir = tempfile::Builder::new()
            .prefix("regcred-fake-kube-")
            .tempdir()
            .expect("fake kube temporary directory");
        let mut fake = FakeKubeApi {
            addr,
            shared,
            kubeconfig: dir.path().join("kubeconfig"),
            dir,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        fake.kubeconfig = fake.kubeconfig_with_contexts(&[(FAKE_CONTEXT, FAKE_TOKEN)]);
        fake
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (in the fixture's temporary directory) whose current context [`FAKE_CONTEXT`]
    /// points at [`FakeKubeApi::url`] with the bearer token [`FAKE_TOKEN`] and namespace
    /// `default`.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// Writes another kubeconfig with one context (and user of the same name) per
    /// `(context, token)`, all on this server and namespace `default`; the first is current. A
    /// token other than [`FAKE_TOKEN`] gets 401 answers, to test a wrong context or credential.
    ///
    /// # Panics
    ///
    /// When `contexts` is empty or the file cannot be written.
    pub fn kubeconfig_with_contexts(&self, contexts: &[(&str, &str)]) -> PathBuf {
        let current = contexts
            .first()
            .expect("a kubeconfig needs at least one context")
            .0;
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{ "name": FAKE_CONTEXT, "cluster": { "server": self.url() } }],
            "users": contexts
                .iter()
                .map(|(name, token)| json!({ "name": name, "user": { "token": token } }))
                .collect::<Vec<_>>(),
            "contexts": contexts
                .iter()
                .map(|(name, _)| json!({
                    "name": name,
                    "context": { "cluster": FAKE_CONTEXT, "user": name, "namespace": "default" },
                }))
                .collect::<Vec<_>>(),
            "current-context": current,
        });
        let number = {
            let mut inner = self.shared.lock();
            inner.kubeconfigs += 1;
            inner.kubeconfigs
        };
        let path = if number == 1 {
            self.dir.path().join("kubeconfig")
        } else {
            self.dir.path().join(format!("kubeconfig-{number}"))
        };
        // JSON is YAML, and needs no quoting rules for odd context names.
        let text = serde_json::to_string_pretty(&config).expect("a JSON value serializes");
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Creates (or replaces) the namespace `name` with these labels, plus the
    /// `kubernetes.io/metadata.name` label every real namespace carries.
    pub fn create_namespace(&self, name: &str, labels: &[(&str, &str)]) {
        self.shared.lock().cluster.seed_namespace(name, labels);
    }

    /// Stores `object` as it is (say, a Secret another tool owns, with its `managedFields`),
    /// replacing any object of that name; the resource is told by `apiVersion` and `kind`.
    /// Assigns a new `resourceVersion`, and `uid` and `creationTimestamp` where missing. Returns
    /// the stored object.
    ///
    /// # Panics
    ///
    /// For a kind the fake does not serve, an object without a name, or a namespaced object
    /// whose namespace does not exist (create it first: a real cluster has no such state).
    pub fn put_object(&self, object: Value) -> Value {
        let Value::Object(mut object) = object else {
            panic!("put_object needs a JSON object, got {object}");
        };
        let kind = Kind::of_object(&object).unwrap_or_else(|| {
            panic!(
                "put_object: the fake serves no {}/{}",
                str_field(&object, "apiVersion").unwrap_or("?"),
                str_field(&object, "kind").unwrap_or("?")
            )
        });
        let name = meta_str(&object, "name")
            .expect("put_object needs metadata.name")
            .to_string();
        let namespace = if kind.namespaced {
            let namespace = meta_str(&object, "namespace")
                .expect("put_object needs metadata.namespace for a namespaced kind")
                .to_string();
            Some(namespace)
        } else {
            None
        };
        let mut inner = self.shared.lock();
        let cluster = &mut inner.cluster;
        if let Some(namespace) = &namespace {
            assert!(
                cluster.namespace_exists(namespace),
                "put_object: namespace {namespace:?} does not exist; create it first"
            );
        }
        let previous_uid = cluster
            .get(kind, namespace.as_deref(), &name)
            .and_then(|stored| meta_str(stored, "uid"))
            .map(str::to_string);
        let uid = match meta_str(&object, "uid") {
            Some(uid) => uid.to_string(),
            None => previous_uid.unwrap_or_else(|| cluster.next_uid()),
        };
        let metadata = metadata_mut(&mut object);
        metadata.insert("uid".into(), uid.into());
        metadata
            .entry("creationTimestamp")
            .or_insert_with(|| now_rfc3339().into());
        Value::Object(cluster.commit(kind, namespace.as_deref(), &name, object))
    }

    /// The stored object, as a GET would answer it.
    ///
    /// # Panics
    ///
    /// For a resource the fake does not serve.
    pub fn get_object(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let kind = Kind::named(resource);
        self.shared
            .lock()
            .cluster
            .get(kind, namespace, name)
            .cloned()
            .map(Value::Object)
    }

    /// Every stored object of `resource` (all namespaces), ordered by namespace and name.
    ///
    /// # Panics
    ///
    /// For a resource the fake does not serve.
    pub fn list_objects(&self, resource: &str) -> Vec<Value> {
        let kind = Kind::named(resource);
        self.shared
            .lock()
            .cluster
            .objects
            .iter()
            .filter(|(key, _)| key.0 == kind.resource)
            .map(|(_, object)| Value::Object(object.clone()))
            .collect()
    }

    /// Removes an object behind the clients' backs (another actor deleting it); returns it.
    ///
    /// # Panics
    ///
    /// For a resource the fake does not serve.
    pub fn remove_object(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let kind = Kind::named(resource);
        self.shared
            .lock()
            .cluster
            .remove(kind, namespace, name)
            .map(Value::Object)
    }

    /// The current global resource version (bumped by every write).
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().cluster.resource_version
    }

    /// Every request received so far, in order, including refused and unknown ones.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests (for instance after seeding through the API).
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Makes the next `n` authenticated requests with this method (case-insensitive) whose path
    /// starts with `path_prefix` fail with `status` and a `Status` body of the matching reason
    /// (`InternalError` for 500, `ServiceUnavailable`, `TooManyRequests`, `Forbidden`, …),
    /// without touching any object. Failures queued earlier are used first.
    ///
    /// # Panics
    ///
    /// When `status` is not an HTTP error status (400–599).
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, n: usize) {
        assert!(
            (400..=599).contains(&status),
            "fail_next needs an error status, got {status}"
        );
        self.shared.lock().failures.push(InjectedFailure {
            method: method.to_ascii_uppercase(),
            path_prefix: path_prefix.to_string(),
            status,
            remaining: n,
        });
    }
}

impl Drop for FakeKubeApi {
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

/// Serves until `stop` fires; dropping the runtime afterwards closes every connection.
async fn serve(listener: std::net::TcpListener, app: Router, stop: oneshot::Receiver<()>) {
    let listener =
        tokio::net::TcpListener::from_std(listener).expect("register fake kube listener");
    tokio::select! {
        _ = axum::serve(listener, app).into_future() => {}
        _ = stop => {}
    }
}

/// State shared by the fixture handle and the server thread. One lock for everything: each
/// request is handled entirely under it, so requests are atomic and recorded in the order they
/// took effect.
#[derive(Default)]
struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not turn every later request into a second panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Inner {
    cluster: Cluster,
    requests: Vec<RecordedRequest>,
    failures: Vec<InjectedFailure>,
    kubeconfigs: u32,
}

struct InjectedFailure {
    method: String,
    path_prefix: String,
    status: u16,
    remaining: usize,
}

/// The one handler: every request, known or not, goes through here so it is recorded.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let authorization = header_text(header::AUTHORIZATION);
    let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(pairs)| pairs.into_iter().collect::<BTreeMap<_, _>>());
    let recorded_body = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
        )
    };

    let reply = {
        let mut inner = shared.lock();
        let reply = match &query {
            Ok(query) => inner.respond(&Call {
                method: &method,
                path: uri.path(),
                query,
                media_type: content_type.as_deref().map(media_type),
                authorization: authorization.as_deref(),
                body: &body,
            }),
            Err(rejection) => {
                StatusError::bad_request(format!("invalid query string: {rejection}")).reply()
            }
        };
        inner.requests.push(RecordedRequest {
            method: method.as_str().to_string(),
            path: uri.path().to_string(),
            query: query.unwrap_or_default(),
            raw_query: uri.query().unwrap_or_default().to_string(),
            content_type,
            authorization,
            body: recorded_body,
            status: reply.status,
        });
        reply
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(reply.body)).into_response()
}

/// `application/json; charset=utf-8` → `application/json`.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What the request logic needs of one request.
struct Call<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a BTreeMap<String, String>,
    media_type: Option<String>,
    authorization: Option<&'a str>,
    body: &'a [u8],
}

impl Call<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

/// An answer: HTTP status and JSON body.
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn ok(object: Object) -> Reply {
        Reply {
            status: 200,
            body: Value::Object(object),
        }
    }

    fn created(object: Object) -> Reply {
        Reply {
            status: 201,
            body: Value::Object(object),
        }
    }
}

impl Inner {
    fn respond(&mut self, call: &Call<'_>) -> Reply {
        if call.authorization != Some(format!("Bearer {FAKE_TOKEN}").as_str()) {
            return StatusError::new(401, "Unauthorized", "Unauthorized").reply();
        }
        if let Some(status) = self.take_failure(call) {
            return StatusError::injected(status).reply();
        }
        match self.dispatch(call) {
            Ok(reply) => reply,
            Err(error) => error.reply(),
        }
    }

    fn take_failure(&mut self, call: &Call<'_>) -> Option<u16> {
        let failure = self.failures.iter_mut().find(|failure| {
            failure.remaining > 0
                && failure.method == call.method.as_str()
                && call.path.starts_with(&failure.path_prefix)
        })?;
        failure.remaining -= 1;
        Some(failure.status)
    }

    fn dispatch(&mut self, call: &Call<'_>) -> Result<Reply, StatusError> {
        if call.path == "/version" && call.method == Method::GET {
            return Ok(Reply {
                status: 200,
                body: version_info(),
            });
        }
        let target = Target::parse(call.path).ok_or_else(StatusError::unknown_path)?;
        if matches!(call.param("watch"), Some("true" | "1")) {
            return Err(StatusError::bad_request(
                "the fake API server does not implement watch".into(),
            ));
        }
        let dry_run = match call.param("dryRun") {
            None => false,
            Some("All") => true,
            Some(other) => {
                return Err(StatusError::bad_request(format!(
                    "Invalid dry run value: {other:?}, only \"All\" is supported"
                )))
            }
        };
        let cluster = &mut self.cluster;
        match (call.method, target) {
            (&Method::GET, Target::Collection { kind, namespace }) => {
                cluster.list(kind, namespace.as_deref(), call)
            }
            (&Method::POST, Target::Collection { kind, namespace })
                if namespace.is_some() || !kind.namespaced =>
            {
                write(cluster, dry_run, |c| {
                    c.create(kind, namespace.as_deref(), call)
                })
            }
            (
                &Method::GET,
                Target::Object {
                    kind,
                    namespace,
                    name,
                },
            ) => cluster
                .get(kind, namespace.as_deref(), &name)
                .cloned()
                .map(Reply::ok)
                .ok_or_else(|| StatusError::not_found(kind, &name)),
            (
                &Method::PATCH,
                Target::Object {
                    kind,
                    namespace,
                    name,
                },
            ) => write(cluster, dry_run, |c| {
                c.patch(kind, namespace.as_deref(), &name, call)
            }),
            (
                &Method::DELETE,
                Target::Object {
                    kind,
                    namespace,
                    name,
                },
            ) => {
                let options = delete_options(call.body)?;
                let dry_run = dry_run || options.dry_run;
                write(cluster, dry_run, |c| {
                    c.delete(kind, namespace.as_deref(), &name, &options)
                })
            }
            (method, _) => Err(StatusError::new(
                405,
                "MethodNotAllowed",
                &format!(
                    "the fake API server does not implement {method} on {}",
                    call.path
                ),
            )),
        }
    }
}

/// Runs a write on the cluster, or on a throw-away copy for `dryRun=All` (the answer is the
/// same, nothing is kept). Every write checks everything before it mutates, so a refused write
/// leaves the cluster as it was.
fn write(
    cluster: &mut Cluster,
    dry_run: bool,
    op: impl FnOnce(&mut Cluster) -> Result<Reply, StatusError>,
) -> Result<Reply, StatusError> {
    if dry_run {
        op(&mut cluster.clone())
    } else {
        op(cluster)
    }
}

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-regcred-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// A resource the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    /// The plural the URL uses: `secrets`.
    resource: &'static str,
    /// `""` for core, `apps`.
    group: &'static str,
    api_version: &'static str,
    kind: &'static str,
    namespaced: bool,
}

const NAMESPACES: Kind = Kind {
    resource: "namespaces",
    group: "",
    api_version: "v1",
    kind: "Namespace",
    namespaced: false,
};

const KINDS: [Kind; 4] = [
    NAMESPACES,
    Kind {
        resource: "secrets",
        group: "",
        api_version: "v1",
        kind: "Secret",
        namespaced: true,
    },
    Kind {
        resource: "serviceaccounts",
        group: "",
        api_version: "v1",
        kind: "ServiceAccount",
        namespaced: true,
    },
    Kind {
        resource: "deployments",
        group: "apps",
        api_version: "apps/v1",
        kind: "Deployment",
        namespaced: true,
    },
];

impl Kind {
    fn in_group(group: &str, resource: &str) -> Option<Kind> {
        KINDS
            .into_iter()
            .find(|kind| kind.group == group && kind.resource == resource)
    }

    /// For the fixture's own methods, where an unknown resource is a bug in the test.
    fn named(resource: &str) -> Kind {
        KINDS
            .into_iter()
            .find(|kind| kind.resource == resource)
            .unwrap_or_else(|| {
                panic!(
                    "the fake serves no resource {resource:?}; it serves {:?}",
                    KINDS.map(|kind| kind.resource)
                )
            })
    }

    fn of_object(object: &Object) -> Option<Kind> {
        let api_version = str_field(object, "apiVersion")?;
        let kind = str_field(object, "kind")?;
        KINDS
            .into_iter()
            .find(|k| k.api_version == api_version && k.kind == kind)
    }

    /// `secrets` or `deployments.apps`: how the API server names a resource in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// What a path addresses.
enum Target {
    Collection {
        kind: Kind,
        namespace: Option<String>,
    },
    Object {
        kind: Kind,
        namespace: Option<String>,
        name: String,
    },
}

impl Target {
    /// `/api/v1/…` (core) or `/apis/apps/v1/…`, then `R`, `R/NAME` (cluster-scoped `R` only),
    /// `namespaces/NS/R` or `namespaces/NS/R/NAME`. Subresources are not served.
    fn parse(path: &str) -> Option<Target> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        if segments.iter().any(|segment| segment.is_empty()) {
            return None;
        }
        let (group, rest) = match segments.as_slice() {
            ["api", "v1", rest @ ..] => ("", rest),
            ["apis", "apps", "v1", rest @ ..] => ("apps", rest),
            _ => return None,
        };
        let owned = |namespace: &str| Some(namespace.to_string());
        match rest {
            [resource] => Some(Target::Collection {
                kind: Kind::in_group(group, resource)?,
                namespace: None,
            }),
            [resource, name] => {
                let kind = Kind::in_group(group, resource).filter(|kind| !kind.namespaced)?;
                Some(Target::Object {
                    kind,
                    namespace: None,
                    name: name.to_string(),
                })
            }
            ["namespaces", namespace, resource] => Some(Target::Collection {
                kind: Kind::in_group(group, resource).filter(|kind| kind.namespaced)?,
                namespace: owned(namespace),
            }),
            ["namespaces", namespace, resource, name] => Some(Target::Object {
                kind: Kind::in_group(group, resource).filter(|kind| kind.namespaced)?,
                namespace: owned(namespace),
                name: name.to_string(),
            }),
            _ => None,
        }
    }
}

/// Resource, namespace (`""` when cluster-scoped) and name. Ordered like etcd's keys, so lists
/// come out by namespace, then name, as a real server's do.
type Key = (&'static str, String, String);

fn key(kind: Kind, namespace: Option<&str>, name: &str) -> Key {
    (
        kind.resource,
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    )
}

/// The stored objects and the counters; cloned whole for dry runs.
#[derive(Clone, Default)]
struct Cluster {
    objects: BTreeMap<Key, Object>,
    resource_version: u64,
    uids: u64,
}

impl Cluster {
    fn get(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Option<&Object> {
        self.objects.get(&key(kind, namespace, name))
    }

    fn namespace_exists(&self, namespace: &str) -> bool {
        self.get(NAMESPACES, None, namespace).is_some()
    }

    fn remove(&mut self, kind: Kind, namespace: Option<&str>, name: &str) -> Option<Object> {
        let removed = self.objects.remove(&key(kind, namespace, name))?;
        if kind == NAMESPACES {
            // A real namespace deletion is asynchronous; the end state is the same.
            self.objects.retain(|(resource, namespace, _), _| {
                *resource == kind.resource || namespace != name
            });
        }
        Some(removed)
    }

    /// UUID-shaped and counter-based: unique within the fake and stable from run to run.
    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("fa4e0000-0000-4000-8000-{:012x}", self.uids)
    }

    /// Stamps a new `resourceVersion`, stores `object` and returns it.
    fn commit(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        mut object: Object,
    ) -> Object {
        self.resource_version += 1;
        metadata_mut(&mut object).insert(
            "resourceVersion".into(),
            self.resource_version.to_string().into(),
        );
        self.objects
            .insert(key(kind, namespace, name), object.clone());
        object
    }

    /// Stamps `uid` and `creationTimestamp` on a new object, then commits it.
    fn commit_new(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        mut object: Object,
    ) -> Object {
        let uid = self.next_uid();
        let metadata = metadata_mut(&mut object);
        metadata.insert("uid".into(), uid.into());
        metadata.insert("creationTimestamp".into(), now_rfc3339().into());
        self.commit(kind, namespace, name, object)
    }

    fn seed_namespace(&mut self, name: &str, labels: &[(&str, &str)]) {
        let labels: Object = labels
            .iter()
            .map(|(key, value)| (key.to_string(), Value::from(*value)))
            .collect();
        let mut object = new_object(NAMESPACES, name, None);
        metadata_mut(&mut object).insert("labels".into(), Value::Object(labels));
        let uid = self
            .get(NAMESPACES, None, name)
            .and_then(|stored| meta_str(stored, "uid"))
            .map(str::to_string);
        normalize_namespace(name, &mut object);
        match uid {
            Some(uid) => {
                let metadata = metadata_mut(&mut object);
                metadata.insert("uid".into(), uid.into());
                metadata.insert("creationTimestamp".into(), now_rfc3339().into());
                self.commit(NAMESPACES, None, name, object);
            }
            None => {
                self.commit_new(NAMESPACES, None, name, object);
            }
        }
    }

    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        call: &Call<'_>,
    ) -> Result<Reply, StatusError> {
        let labels = match call.param("labelSelector") {
            Some(selector) => Selector::parse(selector, SelectorKind::Label)?,
            None => Selector::default(),
        };
        let fields = match call.param("fieldSelector") {
            Some(selector) => Selector::parse(selector, SelectorKind::Field(kind))?,
            None => Selector::default(),
        };
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((resource, object_namespace, _), _)| {
                *resource == kind.resource
                    && namespace.is_none_or(|namespace| object_namespace == namespace)
            })
            .filter(|(_, object)| {
                labels.matches(|key| label(object, key)) && fields.matches(|key| field(object, key))
            })
            .map(|(_, object)| Value::Object(object.clone()))
            .collect();
        let list = json!({
            "kind": format!("{}List", kind.kind),
            "apiVersion": kind.api_version,
            "metadata": { "resourceVersion": self.resource_version.to_string() },
            "items": items,
        });
        Ok(Reply {
            status: 200,
            body: list,
        })
    }

    /// `POST` to a collection.
    fn create(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        call: &Call<'_>,
    ) -> Result<Reply, StatusError> {
        if call.media_type.as_deref() != Some("application/json") {
            return Err(StatusError::unsupported_media_type(&["application/json"]));
        }
        let mut object = object_body(call.body)?;
        check_type(kind, &object)?;
        let metadata = metadata_mut(&mut object);
        let name = match (
            str_field(metadata, "name"),
            str_field(metadata, "generateName"),
        ) {
            (Some(name), _) if !name.is_empty() => name.to_string(),
            (_, Some(prefix)) if !prefix.is_empty() => {
                self.uids += 1;
                format!("{prefix}{}", generated_suffix(self.uids))
            }
            _ => {
                return Err(StatusError::invalid(
                    kind,
                    "",
                    vec![FieldError::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ))
            }
        };
        metadata.insert("name".into(), name.clone().into());
        check_namespace(metadata, namespace)?;
        if metadata.contains_key("resourceVersion") {
            return Err(StatusError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        for system in ["uid", "creationTimestamp", "managedFields", "generation"] {
            metadata.remove(system);
        }
        if let Some(namespace) = namespace {
            if !self.namespace_exists(namespace) {
                return Err(StatusError::not_found(NAMESPACES, namespace));
            }
        }
        if self.get(kind, namespace, &name).is_some() {
            return Err(StatusError::already_exists(kind, &name));
        }
        prepare(kind, &name, &mut object, None)?;
        if let Some(manager) = call.param("fieldManager") {
            let entry = managed_entry(kind, manager, "Update", None);
            metadata_mut(&mut object).insert("managedFields".into(), json!([entry]));
        }
        let stored = self.commit_new(kind, namespace, &name, object);
        Ok(Reply::created(stored))
    }

    /// `PATCH` of one object, by content type.
    fn patch(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        call: &Call<'_>,
    ) -> Result<Reply, StatusError> {
        let force = match call.param("force") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(StatusError::bad_request(format!(
                    "invalid value for force: {other:?}"
                )))
            }
        };
        match call.media_type.as_deref() {
            Some("application/apply-patch+yaml") => self.apply(kind, namespace, name, call, force),
            Some(media @ ("application/json-patch+json" | "application/merge-patch+json")) => {
                if call.query.contains_key("force") {
                    return Err(StatusError::invalid_options(
                        "force: Forbidden: may not be specified for non-apply patch",
                    ));
                }
                let json_patch = media == "application/json-patch+json";
                self.update_by_patch(kind, namespace, name, call, json_patch)
            }
            _ => Err(StatusError::unsupported_media_type(&[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ])),
        }
    }

    /// Server-side apply (see [`FakeKubeApi`] for the simplified ownership rule).
    fn apply(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        call: &Call<'_>,
        force: bool,
    ) -> Result<Reply, StatusError> {
        let manager = match call.param("fieldManager") {
            Some(manager) if !manager.is_empty() => manager,
            _ => {
                return Err(StatusError::invalid_options(
                    "fieldManager: Required value: is required for apply patch",
                ))
            }
        };
        let body = serde_json::from_slice::<Value>(call.body).map_err(|error| {
            StatusError::bad_request(format!(
                "error decoding YAML: the fake API server parses apply bodies as JSON: {error}"
            ))
        })?;
        let Value::Object(mut body) = body else {
            return Err(StatusError::bad_request(
                "the apply body is not an object".into(),
            ));
        };
        check_type(kind, &body)?;
        let body_metadata = metadata_mut(&mut body);
        let body_name = str_field(body_metadata, "name").unwrap_or_default();
        if body_name != name {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        check_namespace(body_metadata, namespace)?;
        let body_version = str_field(body_metadata, "resourceVersion").map(str::to_string);
        if let Some(namespace) = namespace {
            if !self.namespace_exists(namespace) {
                return Err(StatusError::not_found(NAMESPACES, namespace));
            }
        }
        // The apply configuration: what the manager states it wants, no more.
        let applied_labels = string_map(body_metadata, "labels");
        let applied_annotations = string_map(body_metadata, "annotations");
        let applied_meta_lists: Vec<(&str, Value)> = ["ownerReferences", "finalizers"]
            .into_iter()
            .filter_map(|field| Some((field, body_metadata.get(field)?.clone())))
            .filter(|(_, value)| !value.is_null())
            .collect();
        let applied_fields: Object = body
            .iter()
            .filter(|(field, value)| {
                !matches!(
                    field.as_str(),
                    "apiVersion" | "kind" | "metadata" | "status"
                ) && !value.is_null()
            })
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        let fields_v1 = owned_fields(&applied_fields, &applied_labels, &applied_annotations);

        let Some(stored) = self.get(kind, namespace, name) else {
            if body_version.is_some() {
                return Err(StatusError::not_found(kind, name));
            }
            let mut object = new_object(kind, name, namespace);
            let metadata = metadata_mut(&mut object);
            if !applied_labels.is_empty() {
                metadata.insert("labels".into(), Value::Object(applied_labels));
            }
            if !applied_annotations.is_empty() {
                metadata.insert("annotations".into(), Value::Object(applied_annotations));
            }
            metadata.extend(
                applied_meta_lists
                    .into_iter()
                    .map(|(f, v)| (f.to_string(), v)),
            );
            object.extend(applied_fields);
            prepare(kind, name, &mut object, None)?;
            let entry = managed_entry(kind, manager, "Apply", Some(fields_v1));
            metadata_mut(&mut object).insert("managedFields".into(), json!([entry]));
            let stored = self.commit_new(kind, namespace, name, object);
            return Ok(Reply::created(stored));
        };

        let stored_version = meta_str(stored, "resourceVersion").unwrap_or_default();
        if body_version.is_some_and(|version| version != stored_version) {
            return Err(StatusError::modified(kind, name));
        }
        let managed = managed_fields(stored);
        let others: Vec<&str> = managed
            .iter()
            .filter_map(|entry| str_field(entry, "manager"))
            .filter(|other| *other != manager)
            .collect();
        if !others.is_empty() && !force {
            return Err(StatusError::apply_conflict(kind, name, &others));
        }
        let previously_owned = managed
            .iter()
            .find(|entry| is_entry(entry, manager, "Apply"))
            .and_then(|entry| entry.get("fieldsV1"))
            .cloned()
            .unwrap_or_else(|| json!({}));

        let mut object = stored.clone();
        // Fields this manager applied before and no longer states are removed, as with real
        // field ownership (nobody else owns them: others conflict or were forced out).
        for field in owned_keys(&previously_owned, &[]) {
            if !applied_fields.contains_key(&field) {
                object.remove(&field);
            }
        }
        object.extend(applied_fields);
        let metadata = metadata_mut(&mut object);
        for (map, applied) in [
            ("labels", applied_labels),
            ("annotations", applied_annotations),
        ] {
            let dropped = owned_keys(&previously_owned, &["f:metadata", &format!("f:{map}")]);
            merge_string_map(metadata, map, applied, &dropped);
        }
        metadata.extend(
            applied_meta_lists
                .into_iter()
                .map(|(f, v)| (f.to_string(), v)),
        );
        let mut entries: Vec<Value> = managed
            .iter()
            .filter(|entry| str_field(entry, "manager") == Some(manager))
            .map(|entry| Value::Object(entry.clone()))
            .collect();
        let entry = managed_entry(kind, manager, "Apply", Some(fields_v1));
        match entries.iter().position(|existing| {
            existing
                .as_object()
                .is_some_and(|e| is_entry(e, manager, "Apply"))
        }) {
            Some(index) => entries[index] = entry,
            None => entries.push(entry),
        }
        metadata.insert("managedFields".into(), Value::Array(entries));
        prepare(kind, name, &mut object, Some(stored))?;
        if same_object(&object, stored) {
            return Ok(Reply::ok(stored.clone()));
        }
        let stored = self.commit(kind, namespace, name, object);
        Ok(Reply::ok(stored))
    }

    /// JSON Patch (RFC 6902) or JSON merge patch (RFC 7386) of a stored object.
    fn update_by_patch(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        call: &Call<'_>,
        json_patch: bool,
    ) -> Result<Reply, StatusError> {
        let patch = serde_json::from_slice::<Value>(call.body)
            .map_err(|error| StatusError::bad_request(error.to_string()))?;
        let stored = self
            .get(kind, namespace, name)
            .ok_or_else(|| StatusError::not_found(kind, name))?;
        let mut document = Value::Object(stored.clone());
        if json_patch {
            apply_json_patch(&mut document, &patch).map_err(|error| match error {
                PatchError::Decode(message) => StatusError::bad_request(message),
                PatchError::Apply(message) => StatusError::unprocessable(message),
            })?;
        } else {
            merge_patch(&mut document, &patch);
        }
        let Value::Object(mut object) = document else {
            return Err(StatusError::bad_request(
                "the patched object is not an object".into(),
            ));
        };
        check_type(kind, &object)?;
        let metadata = metadata_mut(&mut object);
        if str_field(metadata, "name") != Some(name) {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                str_field(metadata, "name").unwrap_or_default()
            )));
        }
        check_namespace(metadata, namespace)?;
        let stored_uid = meta_str(stored, "uid").unwrap_or_default();
        match str_field(metadata, "uid") {
            Some(uid) if uid != stored_uid => {
                return Err(StatusError::conflict(
                    kind,
                    name,
                    format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {stored_uid}"
                    ),
                ))
            }
            _ => {}
        }
        let stored_version = meta_str(stored, "resourceVersion").unwrap_or_default();
        if str_field(metadata, "resourceVersion").is_some_and(|version| version != stored_version) {
            return Err(StatusError::modified(kind, name));
        }
        // System fields are the server's, whatever the patch did to them.
        for system in ["uid", "creationTimestamp", "resourceVersion", "generation"] {
            match meta(stored).and_then(|stored| stored.get(system)) {
                Some(value) => metadata.insert(system.into(), value.clone()),
                None => metadata.remove(system),
            };
        }
        prepare(kind, name, &mut object, Some(stored))?;
        if same_content(&object, stored) {
            return Ok(Reply::ok(stored.clone()));
        }
        if let Some(manager) = call.param("fieldManager") {
            let mut entries: Vec<Value> = managed_fields(&object)
                .iter()
                .filter(|entry| !is_entry(entry, manager, "Update"))
                .map(|entry| Value::Object(entry.clone()))
                .collect();
            entries.push(managed_entry(kind, manager, "Update", None));
            metadata_mut(&mut object).insert("managedFields".into(), Value::Array(entries));
        }
        let stored = self.commit(kind, namespace, name, object);
        Ok(Reply::ok(stored))
    }

    fn delete(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Reply, StatusError> {
        let stored = self
            .get(kind, namespace, name)
            .ok_or_else(|| StatusError::not_found(kind, name))?;
        let uid = meta_str(stored, "uid").unwrap_or_default().to_string();
        if let Some(wanted) = &options.uid {
            if *wanted != uid {
                return Err(StatusError::conflict(
                    kind,
                    name,
                    format!(
                        "Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}"
                    ),
                ));
            }
        }
        let version = meta_str(stored, "resourceVersion").unwrap_or_default();
        if let Some(wanted) = &options.resource_version {
            if wanted != version {
                return Err(StatusError::conflict(
                    kind,
                    name,
                    format!(
                        "Precondition failed: ResourceVersion in precondition: {wanted}, ResourceVersion in object meta: {version}"
                    ),
                ));
            }
        }
        self.remove(kind, namespace, name);
        // A delete is a write: watchers and lists see a new resource version.
        self.resource_version += 1;
        let mut details = Object::new();
        details.insert("name".into(), name.into());
        if !kind.group.is_empty() {
            details.insert("group".into(), kind.group.into());
        }
        details.insert("kind".into(), kind.resource.into());
        details.insert("uid".into(), uid.into());
        Ok(Reply {
            status: 200,
            body: json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }),
        })
    }
}

/// The parts of `DeleteOptions` the fake honours.
#[derive(Default)]
struct DeleteOptions {
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
}

fn delete_options(body: &[u8]) -> Result<DeleteOptions, StatusError> {
    if body.is_empty() {
        return Ok(DeleteOptions::default());
    }
    let body = object_body(body)?;
    let preconditions = body.get("preconditions").and_then(Value::as_object);
    let precondition = |field: &str| {
        preconditions
            .and_then(|preconditions| preconditions.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let dry_run = match body.get("dryRun") {
        None | Some(Value::Null) => false,
        Some(Value::Array(values)) if values.iter().all(|value| value == "All") => {
            !values.is_empty()
        }
        Some(other) => {
            return Err(StatusError::bad_request(format!(
                "Invalid dry run value: {other}, only [\"All\"] is supported"
            )))
        }
    };
    Ok(DeleteOptions {
        uid: precondition("uid"),
        resource_version: precondition("resourceVersion"),
        dry_run,
    })
}

// ---------------------------------------------------------------------------------------------
// Object helpers
// ---------------------------------------------------------------------------------------------

fn str_field<'a>(object: &'a Object, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

fn meta(object: &Object) -> Option<&Object> {
    object.get("metadata").and_then(Value::as_object)
}

fn meta_str<'a>(object: &'a Object, field: &str) -> Option<&'a str> {
    meta(object).and_then(|metadata| str_field(metadata, field))
}

/// The object's `metadata`, made an object if missing (callers check shapes first where a
/// non-object would be the client's error).
fn metadata_mut(object: &mut Object) -> &mut Object {
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Object::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Object::new());
    }
    match metadata {
        Value::Object(metadata) => metadata,
        _ => unreachable!("metadata was made an object just above"),
    }
}

/// A map of strings under `metadata.<field>` (labels, annotations); non-strings are left out
/// (`prepare` rejects them where they would be stored).
fn string_map(metadata: &Object, field: &str) -> Object {
    metadata
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn label<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    meta(object)?.get("labels")?.get(key)?.as_str()
}

/// The fields a field selector can name.
fn field<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    match key {
        "metadata.name" => meta_str(object, "name"),
        "metadata.namespace" => Some(meta_str(object, "namespace").unwrap_or_default()),
        "type" => str_field(object, "type"),
        _ => None,
    }
}

fn new_object(kind: Kind, name: &str, namespace: Option<&str>) -> Object {
    let mut metadata = Object::new();
    metadata.insert("name".into(), name.into());
    if let Some(namespace) = namespace {
        metadata.insert("namespace".into(), namespace.into());
    }
    let mut object = Object::new();
    object.insert("apiVersion".into(), kind.api_version.into());
    object.insert("kind".into(), kind.kind.into());
    object.insert("metadata".into(), Value::Object(metadata));
    object
}

fn object_body(body: &[u8]) -> Result<Object, StatusError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(StatusError::bad_request(
            "the request body is not a JSON object".into(),
        )),
        Err(error) => Err(StatusError::bad_request(format!(
            "the request body is not valid JSON: {error}"
        ))),
    }
}

/// `apiVersion` and `kind` must be present and name the URL's resource; `metadata`, when
/// present, must be an object.
fn check_type(kind: Kind, object: &Object) -> Result<(), StatusError> {
    let api_version = str_field(object, "apiVersion").unwrap_or_default();
    let object_kind = str_field(object, "kind").unwrap_or_default();
    if object_kind.is_empty() {
        return Err(StatusError::bad_request("Object 'Kind' is missing".into()));
    }
    if api_version != kind.api_version || object_kind != kind.kind {
        return Err(StatusError::bad_request(format!(
            "the object is {api_version}/{object_kind} but the URL is for {} {}",
            kind.api_version, kind.resource
        )));
    }
    if object
        .get("metadata")
        .is_some_and(|metadata| !metadata.is_object())
    {
        return Err(StatusError::bad_request("metadata is not an object".into()));
    }
    Ok(())
}

/// Fills a missing `metadata.namespace` from the URL; refuses a different one.
fn check_namespace(metadata: &mut Object, namespace: Option<&str>) -> Result<(), StatusError> {
    let Some(namespace) = namespace else {
        metadata.remove("namespace");
        return Ok(());
    };
    match str_field(metadata, "namespace") {
        None | Some("") => {
            metadata.insert("namespace".into(), namespace.into());
            Ok(())
        }
        Some(given) if given == namespace => Ok(()),
        Some(_) => Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        )),
    }
}

fn managed_fields(object: &Object) -> Vec<Object> {
    meta(object)
        .and_then(|metadata| metadata.get("managedFields"))
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(Value::as_object)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn is_entry(entry: &Object, manager: &str, operation: &str) -> bool {
    str_field(entry, "manager") == Some(manager) && str_field(entry, "operation") == Some(operation)
}

fn managed_entry(kind: Kind, manager: &str, operation: &str, fields_v1: Option<Value>) -> Value {
    let mut entry = Object::new();
    entry.insert("manager".into(), manager.into());
    entry.insert("operation".into(), operation.into());
    entry.insert("apiVersion".into(), kind.api_version.into());
    entry.insert("time".into(), now_rfc3339().into());
    if let Some(fields_v1) = fields_v1 {
        entry.insert("fieldsType".into(), "FieldsV1".into());
        entry.insert("fieldsV1".into(), fields_v1);
    }
    Value::Object(entry)
}

/// A coarse `fieldsV1`: the top-level fields and the label and annotation keys an apply stated.
fn owned_fields(fields: &Object, labels: &Object, annotations: &Object) -> Value {
    let set = |keys: &mut dyn Iterator<Item = &String>| -> Object {
        keys.map(|key| (format!("f:{key}"), json!({}))).collect()
    };
    let mut owned = set(&mut fields.keys());
    let mut metadata = Object::new();
    if !labels.is_empty() {
        metadata.insert("f:labels".into(), Value::Object(set(&mut labels.keys())));
    }
    if !annotations.is_empty() {
        metadata.insert(
            "f:annotations".into(),
            Value::Object(set(&mut annotations.keys())),
        );
    }
    if !metadata.is_empty() {
        owned.insert("f:metadata".into(), Value::Object(metadata));
    }
    Value::Object(owned)
}

/// The keys (without `f:`) under `path` of a `fieldsV1`; at the top, `f:metadata` is left out.
fn owned_keys(fields_v1: &Value, path: &[&str]) -> Vec<String> {
    let mut node = fields_v1;
    for step in path {
        match node.get(step) {
            Some(next) => node = next,
            None => return Vec::new(),
        }
    }
    node.as_object()
        .map(|set| {
            set.keys()
                .filter(|key| !path.is_empty() || key.as_str() != "f:metadata")
                .filter_map(|key| key.strip_prefix("f:"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Merges `applied` into `metadata.<field>` key by key, first removing `dropped` keys the
/// manager no longer states; an emptied map is removed.
fn merge_string_map(metadata: &mut Object, field: &str, applied: Object, dropped: &[String]) {
    let mut merged = string_map(metadata, field);
    for key in dropped {
        if !applied.contains_key(key) {
            merged.remove(key);
        }
    }
    merged.extend(applied);
    if merged.is_empty() {
        metadata.remove(field);
    } else {
        metadata.insert(field.into(), Value::Object(merged));
    }
}

/// Equal except for the `time` of managedFields entries: an apply that states what is already
/// there, by the same managers, is no write.
fn same_object(a: &Object, b: &Object) -> bool {
    let strip = |object: &Object| {
        let mut object = object.clone();
        let entries: Vec<Value> = managed_fields(&object)
            .into_iter()
            .map(|mut entry| {
                entry.remove("time");
                Value::Object(entry)
            })
            .collect();
        metadata_mut(&mut object).insert("managedFields".into(), Value::Array(entries));
        object
    };
    strip(a) == strip(b)
}

/// Equal except for managedFields: a patch that changes nothing is no write.
fn same_content(a: &Object, b: &Object) -> bool {
    let strip = |object: &Object| {
        let mut object = object.clone();
        metadata_mut(&mut object).remove("managedFields");
        object
    };
    strip(a) == strip(b)
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("a fixed numeric format formats any UTC time")
}

/// Five characters from the alphabet the API server uses for `generateName` (no vowels).
fn generated_suffix(mut n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let base = ALPHABET.len() as u64;
    (0..5)
        .map(|_| {
            let digit = ALPHABET[(n % base) as usize];
            n /= base;
            char::from(digit)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Defaulting and validation: what the real server does to every object it stores
// ---------------------------------------------------------------------------------------------

/// Defaults, normalizes and validates an object about to be stored; `previous` is the stored
/// version for updates.
fn prepare(
    kind: Kind,
    name: &str,
    object: &mut Object,
    previous: Option<&Object>,
) -> Result<(), StatusError> {
    match kind.resource {
        "namespaces" => normalize_namespace(name, object),
        "deployments" => prepare_deployment(object, previous),
        // Secrets and ServiceAccounts have no status.
        _ => {
            object.remove("status");
        }
    }
    let mut errors = Vec::new();
    if kind == NAMESPACES {
        if !dns_label(name) {
            errors.push(FieldError::invalid(
                "metadata.name",
                name,
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            ));
        }
    } else if !dns_subdomain(name) {
        errors.push(FieldError::invalid(
            "metadata.name",
            name,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ));
    }
    validate_metadata_maps(object, &mut errors)?;
    if kind.resource == "secrets" {
        prepare_secret(object, previous, &mut errors)?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::invalid(kind, name, errors))
    }
}

fn normalize_namespace(name: &str, object: &mut Object) {
    let metadata = metadata_mut(object);
    let mut labels = string_map(metadata, "labels");
    // Set by the API server on every namespace since Kubernetes 1.21.
    labels.insert("kubernetes.io/metadata.name".into(), name.into());
    metadata.insert("labels".into(), Value::Object(labels));
    object
        .entry("spec")
        .or_insert_with(|| json!({ "finalizers": ["kubernetes"] }));
    object.insert("status".into(), json!({ "phase": "Active" }));
}

fn prepare_deployment(object: &mut Object, previous: Option<&Object>) {
    // Status belongs to the controller, not to writers of the main resource.
    let status = previous
        .and_then(|previous| previous.get("status"))
        .cloned();
    match status {
        Some(status) => object.insert("status".into(), status),
        None => object.remove("status"),
    };
    let generation = match previous {
        None => 1,
        Some(previous) => {
            let generation = meta(previous)
                .and_then(|metadata| metadata.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if previous.get("spec") == object.get("spec") {
                generation
            } else {
                generation + 1
            }
        }
    };
    metadata_mut(object).insert("generation".into(), generation.into());
}

/// Labels and annotations: string values, valid keys, label values of at most 63 characters.
fn validate_metadata_maps(
    object: &Object,
    errors: &mut Vec<FieldError>,
) -> Result<(), StatusError> {
    for map in ["labels", "annotations"] {
        let Some(entries) = meta(object).and_then(|metadata| metadata.get(map)) else {
            continue;
        };
        let Some(entries) = entries.as_object() else {
            return Err(StatusError::bad_request(format!(
                "metadata.{map} is not an object"
            )));
        };
        for (key, value) in entries {
            let Some(value) = value.as_str() else {
                return Err(StatusError::bad_request(format!(
                    "metadata.{map}.{key} is not a string"
                )));
            };
            if !qualified_name(key) {
                errors.push(FieldError::invalid(
                    &format!("metadata.{map}"),
                    key,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                ));
            }
            if map == "labels" && !label_value(value) {
                errors.push(FieldError::invalid(
                    "metadata.labels",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)",
                ));
            }
        }
    }
    Ok(())
}

/// `stringData` folded into `data`, `type` defaulted to `Opaque`, `data` base64-checked, the
/// type's required keys, and immutability.
fn prepare_secret(
    object: &mut Object,
    previous: Option<&Object>,
    errors: &mut Vec<FieldError>,
) -> Result<(), StatusError> {
    let mut data = match object.get("data") {
        None | Some(Value::Null) => Object::new(),
        Some(Value::Object(data)) => data.clone(),
        Some(_) => return Err(StatusError::bad_request("data is not an object".into())),
    };
    if let Some(string_data) = object.remove("stringData") {
        let Value::Object(string_data) = string_data else {
            return Err(StatusError::bad_request(
                "stringData is not an object".into(),
            ));
        };
        for (key, value) in string_data {
            let Value::String(value) = value else {
                return Err(StatusError::bad_request(format!(
                    "stringData.{key} is not a string"
                )));
            };
            data.insert(key, STANDARD.encode(value).into());
        }
    }
    let mut decoded = BTreeMap::new();
    for (key, value) in &data {
        let bytes = value
            .as_str()
            .and_then(|value| STANDARD.decode(value).ok())
            .ok_or_else(|| {
                StatusError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{key}]"
                ))
            })?;
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            errors.push(FieldError::invalid(
                &format!("data[{key}]"),
                key,
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            ));
        }
        decoded.insert(key.clone(), bytes);
    }
    if data.is_empty() {
        object.remove("data");
    } else {
        object.insert("data".into(), Value::Object(data.clone()));
    }
    let secret_type = str_field(object, "type").unwrap_or("Opaque").to_string();
    object.insert("type".into(), secret_type.clone().into());

    let required = match secret_type.as_str() {
        "kubernetes.io/dockerconfigjson" => Some(".dockerconfigjson"),
        "kubernetes.io/dockercfg" => Some(".dockercfg"),
        _ => None,
    };
    if let Some(required) = required {
        match decoded.get(required) {
            None => errors.push(FieldError::required(&format!("data[{required}]"), "")),
            Some(bytes) => {
                // The kubelet reads it into a struct: it must be a JSON object.
                let problem = match serde_json::from_slice::<Value>(bytes) {
                    Ok(Value::Object(_)) => None,
                    Ok(_) => Some("json: cannot unmarshal into a docker config".to_string()),
                    Err(error) => Some(error.to_string()),
                };
                if let Some(problem) = problem {
                    errors.push(FieldError::invalid(
                        &format!("data[{required}]"),
                        "<secret contents redacted>",
                        &problem,
                    ));
                }
            }
        }
    }
    if let Some(previous) = previous {
        let previous_type = str_field(previous, "type").unwrap_or("Opaque");
        if previous_type != secret_type {
            errors.push(FieldError::invalid(
                "type",
                &secret_type,
                "field is immutable",
            ));
        }
        if previous.get("immutable") == Some(&Value::Bool(true))
            && previous.get("data") != object.get("data")
        {
            errors.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    Ok(())
}

fn dns_label(name: &str) -> bool {
    name.len() <= 63 && dns_part(name)
}

fn dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(dns_part)
}

fn dns_part(part: &str) -> bool {
    let bytes = part.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || *b == b'-')
        }
        _ => false,
    }
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS subdomain.
fn qualified_name(key: &str) -> bool {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if !dns_subdomain(prefix) {
                return false;
            }
            name
        }
        None => key,
    };
    !name.is_empty() && label_value(name)
}

fn label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.len() <= 63
        && match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
            }
            _ => true,
        }
}

// ---------------------------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum SelectorKind {
    Label,
    Field(Kind),
}

#[derive(Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// An equality-based selector: comma-separated `k=v`, `k==v`, `k!=v`, `k`, `!k`.
#[derive(Debug, Default, PartialEq)]
struct Selector(Vec<Requirement>);

impl Selector {
    fn parse(text: &str, kind: SelectorKind) -> Result<Selector, StatusError> {
        let what = match kind {
            SelectorKind::Label => "label",
            SelectorKind::Field(_) => "field",
        };
        let refuse = |why: &str| {
            StatusError::bad_request(format!(
                "unable to parse requirement: {what} selector {text:?}: {why}"
            ))
        };
        if text.trim().is_empty() {
            return Ok(Selector::default());
        }
        if text.contains('(') || text.contains(" in ") || text.contains("notin") {
            return Err(refuse(
                "set-based requirements are not implemented by the fake API server",
            ));
        }
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim) {
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::Absent(key.trim().to_string())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key.trim().to_string(), value.trim().to_string())
            } else {
                Requirement::Exists(part.to_string())
            };
            let (key, value) = match &requirement {
                Requirement::Equals(key, value) | Requirement::NotEquals(key, value) => {
                    (key, Some(value))
                }
                Requirement::Exists(key) | Requirement::Absent(key) => (key, None),
            };
            match kind {
                SelectorKind::Label => {
                    if !qualified_name(key) {
                        return Err(refuse(&format!("invalid label key {key:?}")));
                    }
                    if value.is_some_and(|value| !label_value(value) || value.contains('=')) {
                        return Err(refuse("invalid label value"));
                    }
                }
                SelectorKind::Field(resource) => {
                    let known = ["metadata.name", "metadata.namespace"]
                        .into_iter()
                        .chain((resource.resource == "secrets").then_some("type"));
                    if value.is_none() {
                        return Err(refuse("field selectors need an operator"));
                    }
                    if !known.clone().any(|known| known == key) {
                        return Err(refuse(&format!(
                            "{key:?} is not a known field selector: only {:?}",
                            known.collect::<Vec<_>>()
                        )));
                    }
                }
            }
            requirements.push(requirement);
        }
        Ok(Selector(requirements))
    }

    fn matches<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => lookup(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => lookup(key) != Some(value.as_str()),
            Requirement::Exists(key) => lookup(key).is_some(),
            Requirement::Absent(key) => lookup(key).is_none(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Patch (RFC 6902) and JSON merge patch (RFC 7386)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum PatchError {
    /// Not a patch at all (the server answers 400).
    Decode(String),
    /// A well-formed patch that does not apply (the server answers 422).
    Apply(String),
}

/// Applies the operations in order to `document`; on error `document` may be half-patched, so
/// callers patch a copy.
fn apply_json_patch(document: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::Decode(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch".into(),
        ));
    };
    for operation in operations {
        apply_operation(document, operation).map_err(PatchError::Apply)?;
    }
    Ok(())
}

fn apply_operation(document: &mut Value, operation: &Value) -> Result<(), String> {
    let op = operation
        .get("op")
        .and_then(Value::as_str)
        .ok_or("operation has no op")?;
    let path = operation
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{op} operation has no path"))?;
    let tokens = parse_pointer(path)?;
    let value = || {
        operation
            .get("value")
            .cloned()
            .ok_or_else(|| format!("{op} operation has no value"))
    };
    let from = || -> Result<Vec<String>, String> {
        let from = operation
            .get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{op} operation has no from"))?;
        parse_pointer(from)
    };
    match op {
        "add" => pointer_add(document, &tokens, value()?, path),
        "remove" => pointer_remove(document, &tokens, path).map(drop),
        "replace" => {
            let target = pointer_get_mut(document, &tokens).ok_or_else(|| {
                format!("replace operation does not apply: doc is missing key: {path}")
            })?;
            *target = value()?;
            Ok(())
        }
        "test" => {
            let expected = value()?;
            match pointer_get_mut(document, &tokens) {
                Some(actual) if *actual == expected => Ok(()),
                _ => Err(format!("testing value {path} failed: test failed")),
            }
        }
        "move" => {
            let from = from()?;
            let moved = pointer_remove(document, &from, path)?;
            pointer_add(document, &tokens, moved, path)
        }
        "copy" => {
            let copied = pointer_get_mut(document, &from()?)
                .map(|value| value.clone())
                .ok_or_else(|| {
                    "copy operation does not apply: doc is missing from path".to_string()
                })?;
            pointer_add(document, &tokens, copied, path)
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

/// `/a/b~1c/d~0e` → `["a", "b/c", "d~e"]`; `""` is the whole document.
fn parse_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("JSON pointer {path:?} does not start with /"))?;
    rest.split('/')
        .map(|token| {
            // `~` must be followed by 0 or 1; `~1` is decoded before `~0` so `~01` stays `~1`.
            let bad_escape = token
                .match_indices('~')
                .any(|(at, _)| !matches!(token.as_bytes().get(at + 1), Some(b'0' | b'1')));
            if bad_escape {
                return Err(format!("invalid escape in JSON pointer {path:?}"));
            }
            Ok(token.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// An array index: digits without a leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

fn pointer_get_mut<'a>(document: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(document, |node, token| match node {
        Value::Object(members) => members.get_mut(token),
        Value::Array(items) => items.get_mut(array_index(token)?),
        _ => None,
    })
}

fn pointer_add(
    document: &mut Value,
    tokens: &[String],
    value: Value,
    path: &str,
) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *document = value;
        return Ok(());
    };
    let missing =
        || format!("add operation does not apply: doc is missing path: {path:?}: missing value");
    match pointer_get_mut(document, parent).ok_or_else(missing)? {
        Value::Object(members) => {
            members.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => match array_index(last) {
            Some(index) if index <= items.len() => {
                items.insert(index, value);
                Ok(())
            }
            _ => Err(format!(
                "add operation does not apply: index out of bounds: {path:?}"
            )),
        },
        _ => Err(missing()),
    }
}

fn pointer_remove(document: &mut Value, tokens: &[String], path: &str) -> Result<Value, String> {
    let missing = || format!("remove operation does not apply: doc is missing path: {path:?}");
    let (last, parent) = tokens.split_last().ok_or_else(missing)?;
    match pointer_get_mut(document, parent).ok_or_else(missing)? {
        Value::Object(members) => members.remove(last).ok_or_else(missing),
        Value::Array(items) => match array_index(last) {
            Some(index) if index < items.len() => Ok(items.remove(index)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// RFC 7386: objects merge member by member, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Object::new());
    }
    if let Value::Object(members) = target {
        for (key, value) in patch {
            if value.is_null() {
                members.remove(key);
            } else {
                merge_patch(members.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Status errors
// ---------------------------------------------------------------------------------------------

/// One cause of an `Invalid` status.
struct FieldError {
    field: String,
    reason: &'static str,
    message: String,
}

impl FieldError {
    fn required(field: &str, detail: &str) -> FieldError {
        let message = if detail.is_empty() {
            format!("{field}: Required value")
        } else {
            format!("{field}: Required value: {detail}")
        };
        FieldError {
            field: field.into(),
            reason: "FieldValueRequired",
            message,
        }
    }

    fn invalid(field: &str, value: &str, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueInvalid",
            message: format!("{field}: Invalid value: {value:?}: {detail}"),
        }
    }

    fn forbidden(field: &str, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueForbidden",
            message: format!("{field}: Forbidden: {detail}"),
        }
    }
}

/// A failure answer: a Kubernetes `Status` with `status: Failure`.
struct StatusError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Object,
}

impl StatusError {
    fn new(code: u16, reason: &'static str, message: &str) -> StatusError {
        StatusError {
            code,
            reason,
            message: message.to_string(),
            details: Object::new(),
        }
    }

    /// `details` as the API server fills them for an object: name, group, resource.
    fn about(mut self, kind: Kind, name: &str) -> StatusError {
        self.details.insert("name".into(), name.into());
        if !kind.group.is_empty() {
            self.details.insert("group".into(), kind.group.into());
        }
        self.details.insert("kind".into(), kind.resource.into());
        self
    }

    fn unknown_path() -> StatusError {
        StatusError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    fn bad_request(message: String) -> StatusError {
        StatusError::new(400, "BadRequest", &message)
    }

    fn internal(message: &str) -> StatusError {
        StatusError::new(
            500,
            "InternalError",
            &format!("Internal error occurred: {message}"),
        )
    }

    fn unsupported_media_type(accepted: &[&str]) -> StatusError {
        StatusError::new(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    fn not_found(kind: Kind, name: &str) -> StatusError {
        StatusError::new(
            404,
            "NotFound",
            &format!("{} {name:?} not found", kind.qualified()),
        )
        .about(kind, name)
    }

    fn already_exists(kind: Kind, name: &str) -> StatusError {
        StatusError::new(
            409,
            "AlreadyExists",
            &format!("{} {name:?} already exists", kind.qualified()),
        )
        .about(kind, name)
    }

    fn conflict(kind: Kind, name: &str, why: String) -> StatusError {
        StatusError::new(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                kind.qualified()
            ),
        )
        .about(kind, name)
    }

    fn modified(kind: Kind, name: &str) -> StatusError {
        StatusError::conflict(
            kind,
            name,
            "the object has been modified; please apply your changes to the latest version and try again".into(),
        )
    }

    fn apply_conflict(kind: Kind, name: &str, managers: &[&str]) -> StatusError {
        let conflicts: Vec<String> = managers
            .iter()
            .map(|manager| format!("conflict with {manager:?}"))
            .collect();
        let count = conflicts.len();
        let plural = if count == 1 { "" } else { "s" };
        let mut error = StatusError::new(
            409,
            "Conflict",
            &format!(
                "Apply failed with {count} conflict{plural}: {}",
                conflicts.join(", ")
            ),
        )
        .about(kind, name);
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|message| json!({ "reason": "FieldManagerConflict", "message": message, "field": "" }))
            .collect();
        error.details.insert("causes".into(), causes.into());
        error
    }

    fn invalid(kind: Kind, name: &str, errors: Vec<FieldError>) -> StatusError {
        let messages: Vec<&str> = errors.iter().map(|error| error.message.as_str()).collect();
        let summary = match messages.as_slice() {
            [one] => one.to_string(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut error = StatusError::new(
            422,
            "Invalid",
            &format!("{} {name:?} is invalid: {summary}", kind.kind),
        );
        error.details.insert("name".into(), name.into());
        if !kind.group.is_empty() {
            error.details.insert("group".into(), kind.group.into());
        }
        error.details.insert("kind".into(), kind.kind.into());
        let causes: Vec<Value> = errors
            .iter()
            .map(|error| {
                json!({ "reason": error.reason, "message": error.message, "field": error.field })
            })
            .collect();
        error.details.insert("causes".into(), causes.into());
        error
    }

    /// Invalid query options (`PatchOptions`), as the server reports them.
    fn invalid_options(message: &str) -> StatusError {
        let mut error = StatusError::new(
            422,
            "Invalid",
            &format!("PatchOptions.meta.k8s.io \"\" is invalid: {message}"),
        );
        error.details.insert("group".into(), "meta.k8s.io".into());
        error.details.insert("kind".into(), "PatchOptions".into());
        error
    }

    /// A patch that does not apply: the server's generic 422 with the reason as the cause.
    fn unprocessable(cause: String) -> StatusError {
        let mut error = StatusError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        );
        error.details.insert(
            "causes".into(),
            json!([{ "reason": "UnexpectedServerResponse", "message": cause }]),
        );
        error
    }

    fn injected(code: u16) -> StatusError {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        let mut error = StatusError::new(code, reason, "injected by FakeKubeApi::fail_next");
        if code == 429 || code == 503 {
            error.details.insert("retryAfterSeconds".into(), 1.into());
        }
        error
    }

    fn reply(self) -> Reply {
        Reply {
            status: self.code,
            body: json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": self.message,
                "reason": self.reason,
                "details": self.details,
                "code": self.code,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `patch` to `document` and compares with `expected` (a document, or the error).
    #[track_caller]
    fn check_patch(document: Value, patch: Value, expected: Result<Value, PatchError>) {
        let mut patched = document;
        let outcome = apply_json_patch(&mut patched, &patch).map(|()| patched);
        assert_eq!(outcome, expected);
    }

    #[test]
    fn json_patch_operations() {
        let doc = json!({ "a": { "b": [1, 2] }, "c~d": 1, "e/f": 2 });
        check_patch(
            doc.clone(),
            json!([{ "op": "add", "path": "/a/b/-", "value": 3 }]),
            Ok(json!({ "a": { "b": [1, 2, 3] }, "c~d": 1, "e/f": 2 })),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "add", "path": "/a/b/0", "value": 0 }]),
            Ok(json!({ "a": { "b": [0, 1, 2] }, "c~d": 1, "e/f": 2 })),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "add", "path": "/a/new", "value": [] }]),
            Ok(json!({ "a": { "b": [1, 2], "new": [] }, "c~d": 1, "e/f": 2 })),
        );
        check_patch(
            doc.clone(),
            json!([
                { "op": "remove", "path": "/c~0d" },
                { "op": "replace", "path": "/e~1f", "value": 3 },
                { "op": "test", "path": "/e~1f", "value": 3 },
            ]),
            Ok(json!({ "a": { "b": [1, 2] }, "e/f": 3 })),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "move", "from": "/a/b", "path": "/b" }]),
            Ok(json!({ "a": {}, "b": [1, 2], "c~d": 1, "e/f": 2 })),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "add", "path": "/missing/-", "value": 1 }]),
            Err(PatchError::Apply(
                "add operation does not apply: doc is missing path: \"/missing/-\": missing value"
                    .into(),
            )),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "test", "path": "/a/b/1", "value": 3 }]),
            Err(PatchError::Apply(
                "testing value /a/b/1 failed: test failed".into(),
            )),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "add", "path": "/a/b/01", "value": 0 }]),
            Err(PatchError::Apply(
                "add operation does not apply: index out of bounds: \"/a/b/01\"".into(),
            )),
        );
        check_patch(
            doc.clone(),
            json!([{ "op": "remove", "path": "/a/b/2" }]),
            Err(PatchError::Apply(
                "remove operation does not apply: doc is missing path: \"/a/b/2\"".into(),
            )),
        );
        check_patch(
            doc.clone(),
            json!({ "op": "add" }),
            Err(PatchError::Decode(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch".into(),
            )),
        );
        check_patch(
            doc,
            json!([{ "op": "remove", "path": "/c~2d" }]),
            Err(PatchError::Apply(
                "invalid escape in JSON pointer \"/c~2d\"".into(),
            )),
        );
    }

    #[test]
    fn merge_patch_merges_objects_and_removes_nulls() {
        let mut document = json!({ "a": { "b": 1, "c": 2 }, "d": [1] });
        merge_patch(
            &mut document,
            &json!({ "a": { "b": null, "e": 3 }, "d": [2] }),
        );
        assert_eq!(document, json!({ "a": { "c": 2, "e": 3 }, "d": [2] }));
    }

    #[track_caller]
    fn check_selector(selector: &str, labels: &[(&str, &str)], expected: bool) {
        let selector = Selector::parse(selector, SelectorKind::Label)
            .unwrap_or_else(|error| panic!("{selector:?} does not parse: {}", error.message));
        let lookup = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, value)| *value)
        };
        assert_eq!(
            selector.matches(lookup),
            expected,
            "{selector:?} on {labels:?}"
        );
    }

    #[test]
    fn label_selectors() {
        let labels = [("app", "web"), ("tier", "front")];
        check_selector("app=web", &labels, true);
        check_selector("app==web", &labels, true);
        check_selector("app=api", &labels, false);
        check_selector("app!=api", &labels, true);
        check_selector("missing!=x", &labels, true);
        check_selector("app", &labels, true);
        check_selector("!app", &labels, false);
        check_selector("!missing", &labels, true);
        check_selector("app=web, tier=front", &labels, true);
        check_selector("app=web,tier=back", &labels, false);
        check_selector("", &labels, true);
        for bad in ["app in (web)", "a b=c", "app=we b", "=x"] {
            assert!(
                Selector::parse(bad, SelectorKind::Label).is_err(),
                "{bad:?} parses"
            );
        }
    }

    #[test]
    fn names_and_label_values() {
        assert!(dns_subdomain("regcred-pull.v1"));
        assert!(!dns_subdomain("Regcred"));
        assert!(!dns_subdomain("-a"));
        assert!(!dns_label("a.b"));
        assert!(qualified_name("regcred.dev/managed-by"));
        assert!(!qualified_name("regcred.dev/"));
        assert!(label_value(""));
        assert!(!label_value(&"a".repeat(64)));
    }

    #[test]
    fn generated_suffixes_differ() {
        assert_ne!(generated_suffix(1), generated_suffix(2));
        assert_eq!(generated_suffix(1).len(), 5);
    }
}
