//! The Kubernetes manifests under `deploy/kubernetes`: both variants (the SQLite default and
//! `overlays/postgres`) render with the real `kubectl kustomize`, go through the real
//! `kubectl apply --dry-run=client`, run regcred locked down, and grant exactly what regcred's
//! Kubernetes delivery uses — measured by running a delivery of the real `regcred serve` against
//! `FakeKubeApi` and mapping every recorded request to the RBAC (resource, verb) it needs.
//!
//! `kubectl apply --dry-run=client` is not offline: it asks the API server's discovery which
//! resource each kind is (and whether it is namespaced), then GETs each object to decide
//! between create and patch. No API server can run here, so the test answers those questions
//! from a loopback stand-in (`Discovery` below: discovery documents for the kinds the manifests
//! use, 404 for every object), with `--validate=false` because schema validation downloads the
//! server's OpenAPI document. A kind or apiVersion the stand-in does not list fails the apply,
//! as a real server would; field-level schema errors are not caught by this step, which is why
//! the test also reads the fields it relies on.

mod fixture;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fixture::{Cmd, Server};
use regcred_testkit::{FakeKubeApi, RecordedRequest};
use serde::Deserialize as _;
use serde_json::{json, Value};

const KUBECTL: &str = "/usr/bin/kubectl";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl kustomize DIR`, parsed into its objects.
fn render(dir: &str) -> (String, Vec<Value>) {
    assert!(
        Path::new(KUBECTL).exists(),
        "{KUBECTL} is required (scripts/setup installs it)"
    );
    let path = repo_root().join(dir);
    let out = Cmd::program(KUBECTL, &["kustomize", path.to_str().expect("utf-8 path")])
        .run()
        .ok()
        .clone();
    let objects: Vec<Value> = serde_yaml::Deserializer::from_str(&out.stdout)
        .map(|doc| {
            let yaml = serde_yaml::Value::deserialize(doc).expect("kustomize prints YAML");
            serde_json::to_value(yaml).expect("YAML objects are JSON")
        })
        .filter(|v| !v.is_null())
        .collect();
    assert!(!objects.is_empty(), "{dir} renders nothing");
    (out.stdout, objects)
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {}", summary(objects)))
}

fn summary(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A loopback stand-in for the two things `kubectl apply --dry-run=client` asks a server:
/// discovery (core v1, apps/v1, rbac.authorization.k8s.io/v1, with the kinds the manifests use)
/// and the live object, which never exists (404). Records the paths it was asked.
struct Discovery {
    seen: Arc<Mutex<Vec<String>>>,
    kubeconfig: tempfile::TempDir,
}

impl Discovery {
    fn start() -> Discovery {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let log = Arc::clone(&log);
                std::thread::spawn(move || answer(stream, &log));
            }
        });
        let kubeconfig = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            kubeconfig.path().join("config"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {url}\n\
                 users:\n- name: stand-in\n  user:\n    token: none\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: stand-in\n\
                 current-context: stand-in\n"
            ),
        )
        .expect("kubeconfig");
        Discovery { seen, kubeconfig }
    }

    /// `kubectl apply --dry-run=client --validate=false -f -` of `yaml`.
    fn apply(&self, yaml: &str) -> fixture::Out {
        Cmd::program(
            KUBECTL,
            &[
                "apply",
                "--dry-run=client",
                "--validate=false",
                "--cache-dir",
                self.kubeconfig
                    .path()
                    .join("cache")
                    .to_str()
                    .expect("utf-8"),
                "-f",
                "-",
            ],
        )
        .env("KUBECONFIG", self.kubeconfig.path().join("config"))
        .stdin(yaml)
        .run()
    }
}

/// (group version, plural, kind, namespaced) of every kind the manifests may use.
const RESOURCES: &[(&str, &str, &str, bool)] = &[
    ("v1", "namespaces", "Namespace", false),
    ("v1", "serviceaccounts", "ServiceAccount", true),
    ("v1", "services", "Service", true),
    (
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
    ),
    ("v1", "secrets", "Secret", true),
    ("apps/v1", "deployments", "Deployment", true),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    ),
];

fn resource_list(group_version: &str) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|(gv, ..)| *gv == group_version)
        .map(|(_, plural, kind, namespaced)| {
            json!({
                "name": plural,
                "singularName": kind.to_ascii_lowercase(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            })
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn answer(stream: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = target.split('?').next().unwrap_or_default().to_owned();
    log.lock().expect("log").push(format!("{method} {path}"));
    let group = |name: &str| {
        json!({"name": name, "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
               "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"}})
    };
    let (status, body) = match (method.as_str(), path.as_str()) {
        ("GET", "/api") => (
            200,
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        ("GET", "/apis") => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1",
                   "groups": [group("apps"), group("rbac.authorization.k8s.io")]}),
        ),
        ("GET", "/api/v1") => (200, resource_list("v1")),
        ("GET", "/apis/apps/v1") => (200, resource_list("apps/v1")),
        ("GET", "/apis/rbac.authorization.k8s.io/v1") => {
            (200, resource_list("rbac.authorization.k8s.io/v1"))
        }
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "not found", "reason": "NotFound", "code": 404}),
        ),
    };
    let body = body.to_string();
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Every object goes through `kubectl apply --dry-run=client`, which looked each one up.
fn dry_run_apply(yaml: &str, objects: &[Value]) {
    let discovery = Discovery::start();
    let out = discovery.apply(yaml);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for o in objects {
        let kind = o["kind"].as_str().expect("kind").to_ascii_lowercase();
        let group = o["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .map(|(g, _)| format!(".{g}"))
            .unwrap_or_default();
        let name = o["metadata"]["name"].as_str().expect("name");
        let line = format!("{kind}{group}/{name} created (dry run)");
        assert!(
            out.stdout.lines().any(|l| l == line),
            "kubectl did not print {line:?}:\n{}",
            out.stdout
        );
    }
    let seen = discovery.seen.lock().expect("log").clone();
    assert!(
        seen.iter()
            .any(|l| l == "GET /apis/apps/v1/namespaces/regcred/deployments/regcred"),
        "kubectl never looked the Deployment up: {seen:?}"
    );

    // The control: a kind no server knows fails the same command.
    let mut wrong = yaml.replace("kind: Deployment", "kind: Deploymnet");
    wrong.push('\n');
    let out = discovery.apply(&wrong);
    assert_ne!(out.code, Some(0), "a misspelt kind passed:\n{}", out.stdout);
}

/// The pod runs regcred as a non-root user on a read-only root with nothing extra.
fn assert_locked_down(deployment: &Value) {
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap_or(0) > 0);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], "regcred");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{sc}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{sc}");
    assert_eq!(sc["runAsNonRoot"], true, "{sc}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{sc}");
    assert!(sc["capabilities"].get("add").is_none(), "{sc}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{sc}");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["ports"][0]["containerPort"], 7700);
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&args[..3], ["serve", "--listen", "0.0.0.0:7700"]);
    // The master key comes from its Secret, never from the image or a volume of the data.
    let env = c["env"].as_array().expect("env");
    let key = env
        .iter()
        .find(|e| e["name"] == "REGCRED_MASTER_KEY")
        .expect("REGCRED_MASTER_KEY");
    assert_eq!(
        key["valueFrom"]["secretKeyRef"],
        json!({"name": "regcred-master-key", "key": "master.key"})
    );
    // The root is read-only: every path regcred writes is a volume.
    let mounts: BTreeSet<&str> = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    let data_dir = env
        .iter()
        .find(|e| e["name"] == "REGCRED_DATA_DIR")
        .and_then(|e| e["value"].as_str())
        .expect("REGCRED_DATA_DIR");
    assert!(mounts.contains(data_dir), "{mounts:?}");
    assert!(mounts.contains("/tmp"), "{mounts:?}");
}

fn volume<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

#[test]
fn the_sqlite_default_renders_applies_and_keeps_its_data_on_a_claim() {
    let (yaml, objects) = render("deploy/kubernetes");
    dry_run_apply(&yaml, &objects);
    let deployment = object(&objects, "Deployment", "regcred");
    assert_locked_down(deployment);
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        volume(deployment, "data")["persistentVolumeClaim"]["claimName"],
        "regcred-data"
    );
    assert_eq!(
        object(&objects, "PersistentVolumeClaim", "regcred-data")["spec"]["accessModes"],
        json!(["ReadWriteOnce"])
    );
    let service = object(&objects, "Service", "regcred");
    for (key, value) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(
            &deployment["spec"]["template"]["metadata"]["labels"][key], value,
            "the Service selects the pods"
        );
    }
    let binding = object(&objects, "ClusterRoleBinding", "regcred-delivery");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "regcred", "namespace": "regcred"}])
    );
    assert_eq!(binding["roleRef"]["name"], "regcred-delivery");
    object(&objects, "ServiceAccount", "regcred");
}

#[test]
fn the_postgres_overlay_runs_replicas_without_a_claim() {
    let (yaml, objects) = render("deploy/kubernetes/overlays/postgres");
    dry_run_apply(&yaml, &objects);
    let deployment = object(&objects, "Deployment", "regcred");
    assert_locked_down(deployment);
    assert!(deployment["spec"]["replicas"].as_u64().unwrap_or(0) > 1);
    assert!(
        objects.iter().all(|o| o["kind"] != "PersistentVolumeClaim"),
        "{}",
        summary(&objects)
    );
    assert!(volume(deployment, "data").get("emptyDir").is_some());
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env");
    let url = env
        .iter()
        .find(|e| e["name"] == "REGCRED_DATABASE_URL")
        .expect("REGCRED_DATABASE_URL");
    assert_eq!(
        url["valueFrom"]["secretKeyRef"],
        json!({"name": "regcred-database", "key": "url"})
    );
    // The same ClusterRole as the default.
    let (_, default) = render("deploy/kubernetes");
    assert_eq!(
        object(&objects, "ClusterRole", "regcred-delivery"),
        object(&default, "ClusterRole", "regcred-delivery")
    );
}

/// The RBAC (API group, resource, verb) a request needs, as the API server authorizes it.
fn rbac(request: &RecordedRequest) -> (String, String, String) {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not a resource request: {}", request.line()),
    };
    // `namespaces/NS/RESOURCE[/NAME]`, or a cluster-wide `RESOURCE[/NAME]`.
    let (resource, named) = match rest {
        ["namespaces", _ns, resource, name @ ..] => (*resource, !name.is_empty()),
        [resource, name @ ..] => (*resource, !name.is_empty()),
        [] => panic!("not a resource request: {}", request.line()),
    };
    let watch = request.query.get("watch").is_some_and(|w| w == "true");
    let verb = match (request.method.as_str(), named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => panic!("unexpected request {}", request.line()),
    };
    (group.to_owned(), resource.to_owned(), verb.to_owned())
}

/// What the ClusterRole grants, as (group, resource, verb); wildcards are refused outright.
fn granted(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "{rule}"
        );
        let list = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .unwrap_or_else(|| panic!("{key} in {rule}"))
                .iter()
                .map(|v| v.as_str().expect("string").to_owned())
                .collect()
        };
        for group in list("apiGroups") {
            for resource in list("resources") {
                for verb in list("verbs") {
                    assert!(
                        group != "*" && resource != "*" && verb != "*",
                        "a wildcard in {rule}"
                    );
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

/// Everything Kubernetes delivery does — a pull secret in the template's namespace and in a
/// selected one, added to a ServiceAccount, a Deployment applied, a rotation, then both
/// deleted and cleaned up — against the fake, through the real `regcred serve`.
fn delivery_requests() -> Vec<RecordedRequest> {
    let kube = FakeKubeApi::start();
    kube.create_namespace("acme", &[]);
    kube.create_namespace("acme-dev", &[("regcred.dev/project", "acme")]);
    for ns in ["acme", "acme-dev"] {
        kube.put_object(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns},
        }));
    }
    let server = Server::start_with(&["--delivery-interval", "3600"]);
    server.run(&["project", "create", "acme"]).ok();
    let kubeconfig = kube.kubeconfig_path();
    server
        .run(&[
            "location",
            "create",
            "k8s",
            "--kind",
            "kubernetes",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8 path"),
            "--namespace-selector",
            "regcred.dev/project={project}",
            "--service-account",
            "default",
        ])
        .ok();
    let create = |password: &str| {
        server
            .cli(&[
                "pullsecret",
                "create",
                "--project",
                "acme",
                "--location",
                "k8s",
                "--name",
                "reg",
                "--server",
                "registry.example.com",
                "--username",
                "u",
                "--password-stdin",
            ])
            .stdin(password)
            .run()
            .ok()
            .clone()
    };
    create("first-password");
    server
        .run(&[
            "deployment",
            "deploy",
            "--project",
            "acme",
            "--location",
            "k8s",
            "--name",
            "api",
            "--image",
            "registry.example.com/acme/api:v1",
            "--pull-secret",
            "reg",
            "--no-verify",
        ])
        .ok();
    server.run(&["location", "sync", "k8s"]).ok();
    create("second-password");
    server.run(&["location", "sync", "k8s"]).ok();
    assert!(kube
        .get_object("secrets", Some("acme-dev"), "reg")
        .is_some());
    assert!(kube
        .get_object("deployments", Some("acme"), "api")
        .is_some());
    server
        .run(&[
            "deployment",
            "delete",
            "api",
            "--project",
            "acme",
            "--location",
            "k8s",
        ])
        .ok();
    server
        .run(&[
            "pullsecret",
            "delete",
            "reg",
            "--project",
            "acme",
            "--location",
            "k8s",
            "--yes",
        ])
        .ok();
    server.run(&["location", "sync", "k8s"]).ok();
    assert!(kube.get_object("secrets", Some("acme"), "reg").is_none());
    assert!(kube
        .get_object("deployments", Some("acme"), "api")
        .is_none());
    let account = kube
        .get_object("serviceaccounts", Some("acme"), "default")
        .expect("the account stays");
    assert_eq!(
        account["imagePullSecrets"].as_array().map_or(0, Vec::len),
        0,
        "{account}"
    );
    let requests = kube.requests();
    assert!(
        requests.iter().all(|r| r.status < 500),
        "the fake failed a request: {:#?}",
        requests
            .iter()
            .map(RecordedRequest::line)
            .collect::<Vec<_>>()
    );
    requests
}

#[test]
fn the_cluster_role_grants_exactly_what_delivery_uses() {
    let (_, objects) = render("deploy/kubernetes");
    let granted = granted(object(&objects, "ClusterRole", "regcred-delivery"));
    let used: BTreeSet<(String, String, String)> = delivery_requests().iter().map(rbac).collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "delivery needs (group, resource, verb) the ClusterRole does not grant: {missing:?}"
    );
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the ClusterRole grants what delivery never uses: {unused:?}"
    );
    // The shape of least privilege: no writes to namespaces, no create/update at all (server-side
    // apply is a PATCH), and a stable list a reviewer can read.
    let expected: BTreeSet<(String, String, String)> = [
        ("", "namespaces", "list"),
        ("", "secrets", "delete"),
        ("", "secrets", "get"),
        ("", "secrets", "list"),
        ("", "secrets", "patch"),
        ("", "serviceaccounts", "get"),
        ("", "serviceaccounts", "patch"),
        ("apps", "deployments", "delete"),
        ("apps", "deployments", "get"),
        ("apps", "deployments", "list"),
        ("apps", "deployments", "patch"),
    ]
    .into_iter()
    .map(|(g, r, v)| (g.to_owned(), r.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(used, expected);
}

#[test]
fn requests_map_to_the_verbs_the_api_server_authorizes() {
    let request = |method: &str, path: &str, watch: bool| RecordedRequest {
        method: method.into(),
        path: path.into(),
        query: if watch {
            [("watch".to_owned(), "true".to_owned())].into()
        } else {
            Default::default()
        },
        raw_query: String::new(),
        content_type: None,
        authorization: None,
        body: None,
        status: 200,
    };
    for (method, path, watch, expected) in [
        (
            "GET",
            "/api/v1/namespaces",
            false,
            ("", "namespaces", "list"),
        ),
        ("GET", "/api/v1/secrets", false, ("", "secrets", "list")),
        ("GET", "/api/v1/secrets", true, ("", "secrets", "watch")),
        (
            "GET",
            "/api/v1/namespaces/a/secrets/s",
            false,
            ("", "secrets", "get"),
        ),
        (
            "PATCH",
            "/api/v1/namespaces/a/serviceaccounts/d",
            false,
            ("", "serviceaccounts", "patch"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/a/deployments/x",
            false,
            ("apps", "deployments", "delete"),
        ),
        (
            "POST",
            "/apis/apps/v1/namespaces/a/deployments",
            false,
            ("apps", "deployments", "create"),
        ),
        (
            "PUT",
            "/api/v1/namespaces/a",
            false,
            ("", "namespaces", "update"),
        ),
    ] {
        let (g, r, v) = expected;
        assert_eq!(
            rbac(&request(method, path, watch)),
            (g.to_owned(), r.to_owned(), v.to_owned()),
            "{method} {path}"
        );
    }
}
