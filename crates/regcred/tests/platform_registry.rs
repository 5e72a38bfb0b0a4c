//! regcred as the token service of the platform's own registry, end to end: the real
//! `regcred serve` issues ES256 tokens for the real distribution registry (Debian
//! `docker-registry`, token mode, trusting `regcred registry cert`), and the real `skopeo` pushes
//! and pulls with registry keys and access tokens. Proves who may push and pull what: read-write
//! keys push, read keys pull, read keys cannot push, other projects, anonymous callers, expired
//! and revoked keys get nothing; regcred's own registry checks work against its own token
//! service; and `image resolve` knows same-project images need no pull secret.

mod fixture;

use std::net::TcpListener;

use fixture::Server;
use regcred_testkit::{
    push_test_image, Auth, Registry, RegistryOptions, Skopeo, SkopeoAuth, TlsMode,
};
use serde_json::Value;

const SERVICE: &str = "platform-registry";
const ISSUER: &str = "regcred-test";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A registry key of `project` with `access`; returns (username, secret).
fn key(
    server: &Server,
    project: &str,
    name: &str,
    access: &str,
    extra: &[&str],
) -> (String, String) {
    let mut args = vec![
        "registrykey",
        "create",
        "--project",
        project,
        "--name",
        name,
        "--access",
        access,
        "-o",
        "json",
    ];
    args.extend(extra);
    let created = server.run(&args).ok().json();
    (
        created["key"]["username"]
            .as_str()
            .expect("username")
            .to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

/// `skopeo copy` between two repositories of the registry: pull with `from`, push with `to`.
async fn copy(skopeo: &Skopeo, src: &str, dst: &str, from: (&str, &str), to: (&str, &str)) -> bool {
    let args: Vec<String> = vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        "--dest-tls-verify=false".into(),
        "--src-creds".into(),
        format!("{}:{}", from.0, from.1),
        "--dest-creds".into(),
        format!("{}:{}", to.0, to.1),
        format!("docker://{src}"),
        format!("docker://{dst}"),
    ];
    skopeo.run(&args).await.success
}

/// regcred first (its port fixed so the registry can name the realm), then the registry trusting
/// regcred's certificate, then regcred again, now knowing the registry's host. `extra` goes to
/// the second start.
async fn platform(extra: &[&str]) -> (Server, Registry, String) {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let platform_args = |registry: &str| {
        vec![
            "--listen".to_owned(),
            listen.clone(),
            "--platform-registry".to_owned(),
            registry.to_owned(),
            "--platform-service".to_owned(),
            SERVICE.to_owned(),
            "--platform-issuer".to_owned(),
            ISSUER.to_owned(),
            // Plain HTTP on loopback, for the registry and for regcred's own token realm.
            "--insecure-registry".to_owned(),
            format!("{registry},{listen}"),
        ]
    };
    let first = platform_args("registry.invalid");
    let mut server = Server::start_with(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let cert = server.run(&["registry", "cert"]).ok().stdout.clone();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    let registry = Registry::start(RegistryOptions {
        auth: Auth::Token {
            realm_url: format!("http://{listen}/registry/token"),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            root_cert_pem: cert.clone(),
        },
        tls: None,
    })
    .await;
    let host = registry.host();
    let mut second = platform_args(&host);
    second.extend(extra.iter().map(|s| (*s).to_owned()));
    server.restart_with(&second.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        server.run(&["registry", "cert"]).ok().stdout,
        cert,
        "the signing key persists"
    );
    (server, registry, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regcred_is_the_registry_token_service() {
    let (server, registry, host) = platform(&[]).await;
    for p in ["acme", "other"] {
        server.run(&["project", "create", p]).ok();
    }
    server
        .run(&[
            "location",
            "create",
            "k8s",
            "--kind",
            "kubernetes",
            "--in-cluster",
        ])
        .ok();
    let rw = key(&server, "acme", "ci", "read-write", &[]);
    let ro = key(&server, "acme", "deploy", "read", &[]);
    let other = key(&server, "other", "ci", "read-write", &[]);
    let short = key(&server, "acme", "short", "read", &["--ttl-seconds", "1"]);
    let revoked = key(&server, "acme", "gone", "read", &[]);
    server
        .run(&["registrykey", "revoke", "gone", "--project", "acme"])
        .ok();

    // Push with the read-write key; pull with the read key.
    let digest = push_test_image(
        &host,
        "acme/app",
        "v1",
        Some((&rw.0, &rw.1)),
        TlsMode::Insecure,
    )
    .await;
    let skopeo = Skopeo::new();
    let image = registry.image("acme/app", "v1");
    let pull = |creds: (&str, &str)| {
        let (skopeo, image) = (&skopeo, image.clone());
        let (u, p) = (creds.0.to_owned(), creds.1.to_owned());
        async move {
            skopeo
                .inspect_raw(&image, SkopeoAuth::Creds(&u, &p), TlsMode::Insecure)
                .await
        }
    };
    let read = pull((&ro.0, &ro.1)).await;
    assert!(read.success, "read key pulls: {}", read.stderr);
    assert_eq!(read.stdout_digest(), digest);

    // The read key may not push; the read-write key may copy within its project only.
    let v2 = registry.image("acme/app", "v2");
    assert!(
        !copy(&skopeo, &image, &v2, (&rw.0, &rw.1), (&ro.0, &ro.1)).await,
        "read key pushed"
    );
    assert!(
        copy(&skopeo, &image, &v2, (&rw.0, &rw.1), (&rw.0, &rw.1)).await,
        "read-write key could not push"
    );
    let foreign = registry.image("other/app", "v1");
    assert!(
        !copy(&skopeo, &image, &foreign, (&rw.0, &rw.1), (&rw.0, &rw.1)).await,
        "acme key pushed into other/"
    );

    // Another project's key, anonymous, a revoked key and an expired key pull nothing.
    assert!(
        !pull((&other.0, &other.1)).await.success,
        "other project's key pulled acme/app"
    );
    let anonymous = skopeo
        .inspect_raw(&image, SkopeoAuth::Anonymous, TlsMode::Insecure)
        .await;
    assert!(!anonymous.success, "anonymous pulled");
    assert!(
        !pull((&revoked.0, &revoked.1)).await.success,
        "revoked key pulled"
    );
    // The only wall-clock wait here: the key was created with a one-second lifetime.
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    assert!(
        !pull((&short.0, &short.1)).await.success,
        "expired key pulled"
    );
    assert!(
        !pull((&ro.0, "rk_000000000000_wrong")).await.success,
        "a made-up key pulled"
    );

    // An access token authenticates too: an editor of acme may push and pull acme's images.
    let editor = server
        .run(&[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "editor",
            "--project",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let editor = editor["secret"].as_str().expect("token secret").to_owned();
    assert!(
        pull(("ci", &editor)).await.success,
        "editor token could not pull"
    );
    let v3 = registry.image("acme/app", "v3");
    assert!(
        copy(&skopeo, &image, &v3, ("ci", &editor), ("ci", &editor)).await,
        "editor token could not push"
    );

    // regcred's own registry checks agree, against its own token service.
    let scope = ["--project", "other", "--location", "k8s"];
    let verify = |name: &str, user: &str, secret: &str| {
        let mut args = vec![
            "pullsecret",
            "create",
            "--name",
            name,
            "--server",
            &host,
            "--username",
            user,
            "--password-stdin",
            "--image",
            &image,
            "-o",
            "json",
        ];
        args.extend(scope);
        server.cli(&args).stdin(secret.to_owned()).run()
    };
    let ok = verify("acme-read", &ro.0, &ro.1);
    let ok: Value = ok.ok().json();
    assert_eq!(ok["verification"]["outcome"], "ok", "{ok:#}");
    assert_eq!(ok["verification"]["roundTrips"], 3, "{ok:#}");
    let denied = verify("own-key", &other.0, &other.1);
    denied.code(8);
    assert_eq!(
        denied.json()["verification"]["outcome"],
        "denied",
        "{}",
        denied.stdout
    );
    let wrong = verify("wrong", &ro.0, "rk_000000000000_nope");
    wrong.code(8);
    assert_eq!(
        wrong.json()["verification"]["outcome"],
        "unauthorized",
        "{}",
        wrong.stdout
    );

    // image resolve: the same project needs no pull secret; another project needs one, and the
    // error says which; with one it resolves.
    let same = server
        .run(&[
            "image",
            "resolve",
            &image,
            "--project",
            "acme",
            "--location",
            "k8s",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(same["sameProjectRegistry"], true, "{same:#}");
    // `image check` agrees with deploy: the project's own image is checked with the credential
    // regcred would mint for it (it used to try an anonymous pull and say `unauthorized`), and
    // that credential does not outlive the check.
    let checked = server.run(&[
        "image",
        "check",
        &image,
        "--project",
        "acme",
        "--location",
        "k8s",
        "-o",
        "json",
    ]);
    let checked = checked.ok().json();
    assert_eq!(checked["outcome"], "ok", "{checked:#}");
    assert_eq!(
        checked["attempts"][0]["pullSecret"],
        Value::Null,
        "{checked:#}"
    );
    let tokens = server
        .run(&["token", "list", "--project", "acme", "-o", "json"])
        .ok()
        .json();
    let for_checks: Vec<&Value> = tokens["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["name"] == "platform registry check")
        .collect();
    assert!(
        !for_checks.is_empty() && for_checks.iter().all(|t| t["revokedAt"].is_string()),
        "{tokens:#}"
    );
    let missing = server.run(&[
        "image",
        "resolve",
        &image,
        "--project",
        "other",
        "--location",
        "gone",
        "-o",
        "json",
    ]);
    missing.code(4);
    server
        .run(&[
            "location",
            "create",
            "bare",
            "--kind",
            "kubernetes",
            "--in-cluster",
        ])
        .ok();
    let cross = server.run(&[
        "image",
        "resolve",
        &image,
        "--project",
        "other",
        "--location",
        "bare",
    ]);
    cross.code(6);
    assert!(
        cross.stderr.contains("pull_secret_required"),
        "{}",
        cross.stderr
    );
    assert!(
        cross
            .stderr
            .contains("regcred registrykey create --project acme"),
        "{}",
        cross.stderr
    );
    let resolved = server
        .run(&[&["image", "resolve", &image, "-o", "json"][..], &scope].concat())
        .ok()
        .json();
    assert_eq!(
        resolved["pullSecrets"][0]["name"], "acme-read",
        "{resolved:#}"
    );

    // The hint of `pull_secret_required`, followed literally, leads to a deployment: its two
    // commands run as written (the key's secret on stdin), then the same deploy works.
    let deploy = [
        "deployment",
        "deploy",
        "--project",
        "other",
        "--location",
        "bare",
        "--name",
        "app",
        "--image",
        &image,
    ];
    let refused = server.run(&deploy);
    refused.code(6);
    assert!(
        refused.stderr.contains("pull_secret_required"),
        "{}",
        refused.stderr
    );
    let commands: Vec<&str> = refused
        .stderr
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("regcred "))
        .collect();
    assert_eq!(commands.len(), 2, "{}", refused.stderr);
    let words =
        |c: &str| -> Vec<String> { c.split_whitespace().skip(1).map(str::to_owned).collect() };
    let key = server.run(&words(commands[0])).ok().json();
    let key_secret = key["secret"].as_str().expect("the key's secret").to_owned();
    server
        .cli(&words(commands[1]))
        .stdin(key_secret.clone())
        .run()
        .ok();
    let deployed = server.run(&deploy);
    deployed.ok();
    assert!(
        deployed.stderr.contains("is pulled with acme-registry"),
        "{}",
        deployed.stderr
    );

    // No key secret reached the server's log.
    let log = server.log_text();
    for secret in [&rw.1, &ro.1, &other.1, &editor, &key_secret] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the server log"
        );
    }
}

/// Writes a Secret's `.dockerconfigjson` as an auth file at `path`, for the runtime to pull with.
fn auth_file_of(secret: &Value, path: &std::path::Path) {
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret["data"][".dockerconfigjson"].as_str().expect("data"),
    )
    .expect("base64");
    std::fs::write(path, bytes).expect("write auth file");
}

/// The access token `id` of project acme, as `token list` shows it.
fn listed_token(server: &Server, id: &str) -> Value {
    let tokens = server
        .run(&["token", "list", "--project", "acme", "-o", "json"])
        .ok()
        .json();
    tokens["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("token {id} is not listed: {tokens}"))
}

/// A deployment of an image from its own project's platform registry names no pull secret:
/// regcred mints a day-long `puller` token of the project and delivers it as the Secret
/// `regcred-platform`, which the Deployment pulls with. The real registry (token mode, trusting
/// regcred) and the real skopeo pull with exactly that Secret; the cluster is `FakeKubeApi`, a
/// scripted fake, because no Kubernetes API server can run here. Deleting the deployment removes
/// the Secret and revokes its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_images_deploy_with_a_minted_credential() {
    let kube = regcred_testkit::FakeKubeApi::start();
    kube.create_namespace("acme", &[]);
    let (server, registry, host) = platform(&[]).await;
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
        ])
        .ok();
    let rw = key(&server, "acme", "ci", "read-write", &[]);
    let digest = push_test_image(
        &host,
        "acme/app",
        "v1",
        Some((&rw.0, &rw.1)),
        TlsMode::Insecure,
    )
    .await;
    let image = registry.image("acme/app", "v1");

    let deployed = server
        .run(&[
            "deployment",
            "deploy",
            "--project",
            "acme",
            "--location",
            "k8s",
            "--name",
            "app",
            "--image",
            &image,
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        deployed["deployment"]["resolution"], "platform_registry",
        "{deployed}"
    );
    let pod = &kube
        .get_object("deployments", Some("acme"), "app")
        .expect("deployment applied")["spec"]["template"]["spec"];
    assert_eq!(
        pod["imagePullSecrets"],
        serde_json::json!([{"name": "regcred-platform"}])
    );

    // The runtime pulls with what was delivered, and nothing else.
    let secret = kube
        .get_object("secrets", Some("acme"), "regcred-platform")
        .expect("platform secret");
    let dir = tempfile::tempdir().expect("temp dir");
    let authfile = dir.path().join("auth.json");
    auth_file_of(&secret, &authfile);
    let skopeo = Skopeo::new();
    let pulled = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&authfile), TlsMode::Insecure)
        .await;
    assert!(pulled.success, "{}", pulled.stderr);
    assert_eq!(pulled.stdout_digest(), digest);
    let token_id = secret["metadata"]["annotations"]["regcred.dev/digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let token = listed_token(&server, &token_id);
    assert_eq!(token["role"], "puller");
    assert!(token["expiresAt"].is_string(), "short-lived: {token}");

    // A GitOps directory gets the same kind of credential, as a manifest next to the Deployment.
    let gitops = tempfile::tempdir().expect("temp dir");
    let gitops_dir = gitops.path().to_str().expect("utf-8 path");
    server
        .run(&[
            "location",
            "create",
            "gitops",
            "--kind",
            "manifests",
            "--directory",
            gitops_dir,
            "--allow-plaintext",
        ])
        .ok();
    server
        .run(&[
            "deployment",
            "deploy",
            "--project",
            "acme",
            "--location",
            "gitops",
            "--name",
            "app",
            "--image",
            &image,
        ])
        .ok();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(gitops.path().join("acme/secret-regcred-platform.json"))
            .expect("platform manifest"),
    )
    .expect("JSON manifest");
    let from_git = dir.path().join("from-git.json");
    auth_file_of(&manifest, &from_git);
    let pulled = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&from_git), TlsMode::Insecure)
        .await;
    assert!(pulled.success, "{}", pulled.stderr);
    let deployment: Value = serde_json::from_slice(
        &std::fs::read(gitops.path().join("acme/deployment-app.json"))
            .expect("deployment manifest"),
    )
    .expect("JSON manifest");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["imagePullSecrets"],
        serde_json::json!([{"name": "regcred-platform"}])
    );

    // A second pass keeps the token; deleting the deployment removes the Secret and revokes it.
    server.run(&["location", "sync", "k8s"]).ok();
    assert_eq!(
        kube.get_object("secrets", Some("acme"), "regcred-platform")
            .unwrap()["metadata"]["annotations"]["regcred.dev/digest"],
        token_id.as_str()
    );
    server
        .run(&[
            "deployment",
            "delete",
            "app",
            "--project",
            "acme",
            "--location",
            "k8s",
        ])
        .ok();
    assert!(kube
        .get_object("secrets", Some("acme"), "regcred-platform")
        .is_none());
    let token = listed_token(&server, &token_id);
    assert!(token["revokedAt"].is_string(), "revoked: {token}");
    let pulled = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&authfile), TlsMode::Insecure)
        .await;
    assert!(!pulled.success, "a revoked platform credential still pulls");
}
