//! Delivery to a `manifests` location (a GitOps directory) end to end: the real `regcred serve`
//! and CLI write `<namespace>/secret-<name>.json` and `<namespace>/deployment-<name>.json`. Sealed
//! Secrets are opened by kubesealpy (PyPI, through regcred-testkit's `Unsealer` and the
//! committed test key pair), an implementation that shares no code with regcred, and what comes
//! out is compared with what the real `kubectl create secret docker-registry --dry-run=client`
//! renders for the same inputs. Proves the directory never holds a credential in the clear unless
//! allowed, that rotation and deletion reach the files, that a file regcred did not write is never
//! touched, and that deployments are written with their `imagePullSecrets`.

mod fixture;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use fixture::{files_under, find_secret, mode, Out, Server};
use regcred_testkit::{kubectl_secret, Unsealer};
use serde_json::{json, Value};

const P: &str = "acme";
const L: &str = "gitops";
const REGISTRY: &str = "registry.example.com:5000";

/// The committed test key pair of regcred-k8s (test-only, never a real credential).
fn k8s_test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../regcred-k8s/tests/data")
}

fn scope() -> [&'static str; 4] {
    ["--project", P, "--location", L]
}

/// The Secret kubesealpy unseals from `sealed` with the test private key.
#[track_caller]
fn unseal(sealed: &Value) -> Value {
    Unsealer::new().unseal(&k8s_test_data().join("test-only-sealing-key.pem"), sealed)
}

fn decode(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// A server, the project, and a manifests location writing into a fresh directory with the
/// test sealing certificate (copied next to it: the location holds an absolute path).
struct Setup {
    server: Server,
    dir: PathBuf,
}

impl Setup {
    fn sealed() -> Setup {
        let server = Server::start();
        let cert = server.scratch("sealing-cert.pem");
        std::fs::copy(k8s_test_data().join("test-only-sealing-cert.pem"), &cert)
            .expect("copy the test sealing certificate");
        let dir = server.scratch("gitops");
        server.run(&["project", "create", P]).ok();
        server
            .run(&[
                "location",
                "create",
                L,
                "--kind",
                "manifests",
                "--directory",
                &dir.display().to_string(),
                "--sealing-cert-file",
                &cert.display().to_string(),
            ])
            .ok();
        Setup { server, dir }
    }

    /// `pullsecret create` (or rotate) with the password on stdin; `server` `None`: Docker Hub.
    fn create(&self, name: &str, server: Option<&str>, user: &str, password: &str) -> Value {
        let mut args = vec![
            "pullsecret",
            "create",
            "--name",
            name,
            "--username",
            user,
            "--password-stdin",
            "-o",
            "json",
        ];
        if let Some(server) = server {
            args.extend(["--server", server]);
        }
        args.extend(scope());
        self.server.cli(&args).stdin(password).run().ok().json()
    }

    /// `location sync L`: the report, and exit code 9 exactly when errors remain.
    #[track_caller]
    fn sync(&self) -> Value {
        let out = self.server.run(&["location", "sync", L, "-o", "json"]);
        let report = out.json();
        out.code(if report["errors"] == 0 { 0 } else { 9 });
        report
    }

    fn secret_file(&self, name: &str) -> PathBuf {
        self.dir.join(P).join(format!("secret-{name}.json"))
    }

    /// The delivery status of pull secret `name` for its file (exactly one).
    #[track_caller]
    fn delivery(&self, name: &str) -> Value {
        let got = self
            .server
            .run(&[&["pullsecret", "get", name, "-o", "json"][..], &scope()].concat())
            .ok()
            .json();
        let target = format!("file:{P}/secret-{name}.json");
        let matching: Vec<&Value> = got["deliveries"]
            .as_array()
            .map(|a| a.iter().filter(|d| d["target"] == target).collect())
            .unwrap_or_default();
        assert_eq!(matching.len(), 1, "one delivery to {target}: {got:#}");
        matching[0].clone()
    }
}

#[track_caller]
fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display()))
}

/// Checks the SealedSecret at `path` for pull secret `id` at `revision`: its shape and regcred's
/// marks, then unseals it and returns the unsealed Secret.
#[track_caller]
fn check_sealed(path: &Path, name: &str, id: &str, revision: u64) -> Value {
    let sealed = read_json(path);
    assert_eq!(sealed["apiVersion"], "bitnami.com/v1alpha1", "{sealed:#}");
    assert_eq!(sealed["kind"], "SealedSecret", "{sealed:#}");
    let meta = &sealed["metadata"];
    assert_eq!(
        (&meta["name"], &meta["namespace"]),
        (&json!(name), &json!(P))
    );
    assert_eq!(
        meta["labels"],
        json!({
            "app.kubernetes.io/managed-by": "regcred",
            "regcred.dev/location": L,
            "regcred.dev/project": P,
        }),
        "{sealed:#}"
    );
    assert_eq!(meta["annotations"]["regcred.dev/pull-secret-id"], id);
    assert_eq!(
        meta["annotations"]["regcred.dev/revision"],
        revision.to_string()
    );
    assert!(
        !meta["annotations"]["regcred.dev/digest"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{sealed:#}"
    );
    let keys: Vec<&String> = sealed["spec"]["encryptedData"]
        .as_object()
        .expect("encryptedData")
        .keys()
        .collect();
    assert_eq!(keys, [".dockerconfigjson"], "{sealed:#}");
    assert_eq!(
        sealed["spec"]["template"]["type"],
        "kubernetes.io/dockerconfigjson"
    );
    let unsealed = unseal(&sealed);
    assert_eq!(unsealed["metadata"]["name"], name, "{unsealed:#}");
    assert_eq!(unsealed["metadata"]["namespace"], P, "{unsealed:#}");
    assert_eq!(unsealed["type"], "kubernetes.io/dockerconfigjson");
    unsealed
}

/// Asserts that the unsealed Secret's `.dockerconfigjson` is byte for byte kubectl's.
#[track_caller]
fn assert_same_config(unsealed: &Value, reference: &Value) {
    let ours = decode(&unsealed["data"][".dockerconfigjson"]);
    let theirs = decode(&reference["data"][".dockerconfigjson"]);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    assert_eq!(ours, theirs);
    let keys: Vec<&String> = unsealed["data"].as_object().expect("data").keys().collect();
    assert_eq!(keys, [".dockerconfigjson"], "{unsealed:#}");
}

/// No form of any of `secrets` in the CLI transcript, the server's logs, the data directory or
/// anywhere in `dir` (the GitOps directory).
#[track_caller]
fn assert_no_leak(server: &Server, dir: &Path, secrets: &[&str]) {
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for out in server.transcript() {
        places.push((format!("stdout of {}", out.label), out.stdout.into_bytes()));
        places.push((format!("stderr of {}", out.label), out.stderr.into_bytes()));
    }
    places.push(("the server log".into(), server.log_text().into_bytes()));
    places.push((
        "the server's stdout".into(),
        std::fs::read(&server.stdout_log).unwrap_or_default(),
    ));
    let files: Vec<PathBuf> = files_under(&server.data_dir)
        .into_iter()
        .chain(if dir.exists() {
            files_under(dir)
        } else {
            Vec::new()
        })
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("regcred.db")),
        "the database is under the data dir: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        places.push((file.display().to_string(), bytes));
    }
    for secret in secrets {
        for (place, bytes) in &places {
            if let Some(form) = find_secret(bytes, secret) {
                panic!("the password shows up in {place} as {form:?}");
            }
        }
    }
}

/// Peers: kubesealpy (unsealing with the test private key), the real kubectl (reference
/// renderer).
///
/// A custom registry and Docker Hub pull secret are written as SealedSecrets that unseal to
/// exactly kubectl's `.dockerconfigjson`; a rotation rewrites the file (revision 2, the new
/// password inside); deleting the pull secret removes its file at the next pass. No form of
/// either password is anywhere in the directory.
#[test]
fn sealed_secrets_unseal_to_what_kubectl_renders_and_follow_rotation_and_deletion() {
    let s = Setup::sealed();
    // `&<>` are escaped by Go's encoder: the unsealed bytes must escape them exactly like kubectl.
    let reg_pw = format!("{}&<>", fixture::canary("reg"));
    let hub_pw = fixture::canary("hub");
    let reg = s.create("reg", Some(REGISTRY), "deploy", &reg_pw);
    let hub = s.create("hub", Some("docker.io"), "acme", &hub_pw);
    let reg_id = reg["pullSecret"]["id"].as_str().expect("id").to_owned();
    let hub_id = hub["pullSecret"]["id"].as_str().expect("id").to_owned();
    let report = s.sync();
    assert_eq!(report["errors"], 0, "{report:#}");

    let unsealed = check_sealed(&s.secret_file("reg"), "reg", &reg_id, 1);
    assert_same_config(
        &unsealed,
        &kubectl_secret("reg", P, Some(REGISTRY), "deploy", &reg_pw),
    );
    let unsealed = check_sealed(&s.secret_file("hub"), "hub", &hub_id, 1);
    assert_same_config(&unsealed, &kubectl_secret("hub", P, None, "acme", &hub_pw));
    for name in ["reg", "hub"] {
        assert_eq!(mode(&s.secret_file(name)), 0o644, "sealed: fit for git");
        let status = s.delivery(name);
        assert_eq!(status["state"], "delivered", "{status:#}");
        assert_eq!(status["revision"], 1, "{status:#}");
    }
    // A second pass finds both up to date.
    let again = s.sync();
    assert_eq!(
        (again["applied"].as_u64(), again["upToDate"].as_u64()),
        (Some(0), Some(2)),
        "{again:#}"
    );

    // Rotation rewrites the file.
    let new_pw = fixture::canary("rot");
    s.create("reg", Some(REGISTRY), "deploy", &new_pw);
    s.sync();
    let unsealed = check_sealed(&s.secret_file("reg"), "reg", &reg_id, 2);
    assert_same_config(
        &unsealed,
        &kubectl_secret("reg", P, Some(REGISTRY), "deploy", &new_pw),
    );
    let status = s.delivery("reg");
    assert_eq!(status["state"], "delivered", "{status:#}");
    assert_eq!(status["revision"], 2, "{status:#}");

    assert_no_leak(&s.server, &s.dir, &[&reg_pw, &hub_pw, &new_pw]);

    // Deleting the pull secret removes its file, and only its file.
    s.server
        .run(&[&["pullsecret", "delete", "reg"][..], &scope()].concat())
        .ok();
    let report = s.sync();
    assert_eq!(report["errors"], 0, "{report:#}");
    assert!(
        !s.secret_file("reg").exists(),
        "the deleted pull secret's file is still there"
    );
    check_sealed(&s.secret_file("hub"), "hub", &hub_id, 1);
    assert_eq!(
        files_under(&s.dir),
        [s.secret_file("hub")],
        "only hub's file is left"
    );
}

/// Peers: none (only files).
///
/// A file at the path of a pull secret that regcred did not write (a hand-written Secret without
/// regcred's labels) is left byte-identical, over passes and a rotation, and the status says
/// `not_owned`; the other pull secret of the location is delivered.
#[test]
fn a_file_regcred_did_not_write_is_left_alone() {
    let s = Setup::sealed();
    let theirs = s.secret_file("mine");
    std::fs::create_dir_all(theirs.parent().expect("namespace dir")).unwrap();
    let original = serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": "mine", "namespace": P },
        "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": "e30=" },
    }))
    .unwrap();
    std::fs::write(&theirs, &original).unwrap();

    let password = fixture::canary("own");
    s.create("mine", Some(REGISTRY), "deploy", &password);
    s.create("other", Some("ghcr.io"), "bot", &password);
    let report = s.sync();
    assert_eq!(report["errors"], 1, "{report:#}");
    let status = s.delivery("mine");
    assert_eq!(status["state"], "error", "{status:#}");
    assert_eq!(status["code"], "not_owned", "{status:#}");
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), original);
    assert_eq!(s.delivery("other")["state"], "delivered");

    s.create("mine", Some(REGISTRY), "deploy", &format!("{password}2"));
    s.sync();
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), original);
    assert_eq!(s.delivery("mine")["code"], "not_owned");

    assert_no_leak(&s.server, &s.dir, &[&password]);
}

/// Peers: the real kubectl (reference renderer).
///
/// A manifests location without a sealing certificate is refused (exit 3, `plaintext_refused`)
/// and not created; with `--allow-plaintext` the Secret is kubectl's object plus regcred's labels
/// and annotations, in a 0600 file.
#[test]
fn plaintext_only_when_allowed() {
    let server = Server::start();
    server.run(&["project", "create", P]).ok();
    let dir = server.scratch("gitops");
    let dir_arg = dir.display().to_string();
    let refused = server.run(&[
        "location",
        "create",
        L,
        "--kind",
        "manifests",
        "--directory",
        &dir_arg,
    ]);
    refused.code(3);
    assert!(
        refused.stderr.contains("plaintext_refused"),
        "{}",
        refused.stderr
    );
    server.run(&["location", "get", L]).code(4);

    server
        .run(&[
            "location",
            "create",
            L,
            "--kind",
            "manifests",
            "--directory",
            &dir_arg,
            "--allow-plaintext",
        ])
        .ok();
    let password = fixture::canary("plain");
    let created: Out = server
        .cli(
            &[
                &[
                    "pullsecret",
                    "create",
                    "--name",
                    "reg",
                    "--server",
                    REGISTRY,
                    "--username",
                    "deploy",
                    "--password-stdin",
                    "-o",
                    "json",
                ][..],
                &scope(),
            ]
            .concat(),
        )
        .stdin(password.as_str())
        .run();
    let id = created.ok().json()["pullSecret"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    server.run(&["location", "sync", L]).ok();

    let path = dir.join(P).join("secret-reg.json");
    assert_eq!(mode(&path), 0o600);
    let written = read_json(&path);
    let digest = written["metadata"]["annotations"]["regcred.dev/digest"].clone();
    assert!(
        !digest.as_str().unwrap_or_default().is_empty(),
        "{written:#}"
    );
    let mut expected = kubectl_secret("reg", P, Some(REGISTRY), "deploy", &password);
    expected["metadata"]["labels"] = json!({
        "app.kubernetes.io/managed-by": "regcred",
        "regcred.dev/location": L,
        "regcred.dev/project": P,
    });
    expected["metadata"]["annotations"] = json!({
        "regcred.dev/pull-secret-id": id,
        "regcred.dev/revision": "1",
        "regcred.dev/digest": digest,
    });
    assert_eq!(written, expected);
    // The leak search finds a plaintext credential in such a file, so its finding nothing in the
    // sealed directory of the other tests means something.
    assert!(find_secret(&std::fs::read(&path).unwrap(), &password).is_some());
}

/// Peers: none (`--no-verify`; only files).
///
/// A deployment is written as an apps/v1 Deployment whose pod spec pulls with the pull secret's
/// Secret; deleting the deployment removes the file.
#[test]
fn a_deployment_is_written_with_its_image_pull_secrets() {
    let s = Setup::sealed();
    s.create("reg", Some(REGISTRY), "deploy", &fixture::canary("dep"));
    let image = format!("{REGISTRY}/acme/web:v1");
    let deployed = s
        .server
        .run(
            &[
                &[
                    "deployment",
                    "deploy",
                    "--name",
                    "web",
                    "--image",
                    &image,
                    "--pull-secret",
                    "reg",
                    "--replicas",
                    "2",
                    "--no-verify",
                    "-o",
                    "json",
                ][..],
                &scope(),
            ]
            .concat(),
        )
        .ok()
        .json();
    let id = deployed["deployment"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.sync();

    let path = s.dir.join(P).join("deployment-web.json");
    let d = read_json(&path);
    assert_eq!(d["apiVersion"], "apps/v1", "{d:#}");
    assert_eq!(d["kind"], "Deployment", "{d:#}");
    assert_eq!(d["metadata"]["name"], "web", "{d:#}");
    assert_eq!(d["metadata"]["namespace"], P, "{d:#}");
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "regcred"
    );
    assert_eq!(
        d["metadata"]["annotations"]["regcred.dev/deployment-id"],
        id
    );
    assert_eq!(d["spec"]["replicas"], 2, "{d:#}");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{ "name": "reg" }]), "{d:#}");
    assert_eq!(pod["containers"][0]["image"], image, "{d:#}");
    // The selector selects the pod template.
    let selector = d["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&d["spec"]["template"]["metadata"]["labels"][k], v, "{d:#}");
    }
    // The Secret it names is there, in the same namespace.
    assert!(s.secret_file("reg").exists());

    let got = s
        .server
        .run(&[&["deployment", "get", "web", "-o", "json"][..], &scope()].concat())
        .ok()
        .json();
    let deliveries = got["deliveries"].as_array().cloned().unwrap_or_default();
    assert!(
        deliveries
            .iter()
            .any(|x| x["target"] == format!("file:{P}/deployment-web.json")
                && x["state"] == "delivered"),
        "{got:#}"
    );

    s.server
        .run(&[&["deployment", "delete", "web"][..], &scope()].concat())
        .ok();
    s.sync();
    assert!(
        !path.exists(),
        "the deleted deployment's file is still there"
    );
    assert!(s.secret_file("reg").exists());
}
