//! The credential plugins end to end: the real binary as `docker-credential-regcred` (a symlink,
//! chosen by argv[0]) and as `regcred kubelet-credential-provider`, against a real `regcred serve`
//! with a puller token, including their local caches once the server is stopped.

mod fixture;

use std::path::{Path, PathBuf};

use fixture::{mode, project_and_location, Cmd, Out, Server, BIN};
use serde_json::{json, Value};

const P: &str = "acme";
const L: &str = "edge";
const GHCR_PASSWORD: &str = "pw-ghcr-1";
const LOCAL_PASSWORD: &str = "pw-local-1";

struct Setup {
    server: Server,
    puller: String,
    deployer: String,
    /// Holds the `docker-credential-regcred` symlink, HOME and the cache directory.
    scratch: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let server = Server::start();
        project_and_location(&server, P, L);
        for (name, host, user, password) in [
            ("ghcr", "ghcr.io", "acme-deploy", GHCR_PASSWORD),
            ("local", "localhost:5000", "local-user", LOCAL_PASSWORD),
        ] {
            server
                .cli(&[
                    "pullsecret",
                    "create",
                    "--project",
                    P,
                    "--location",
                    L,
                    "--name",
                    name,
                    "--server",
                    host,
                    "--username",
                    user,
                    "--password-stdin",
                ])
                .stdin(password)
                .run()
                .ok();
        }
        let puller = token(&server, "puller");
        let deployer = token(&server, "deployer");
        let scratch = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink(BIN, scratch.path().join("docker-credential-regcred"))
            .expect("symlink");
        Setup {
            server,
            puller,
            deployer,
            scratch,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        self.scratch.path().join("cache/regcred")
    }

    /// A program with HOME and the XDG directories inside the scratch directory.
    fn isolated(&self, program: &Path, args: &[&str]) -> Cmd {
        let dir = self.scratch.path();
        Cmd::program(&program.display().to_string(), args)
            .env("HOME", dir.join("home"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
    }

    /// `docker-credential-regcred ACTION`, configured by environment with `token`.
    fn helper(&self, token: &str, action: &str) -> Cmd {
        self.isolated(
            &self.scratch.path().join("docker-credential-regcred"),
            &[action],
        )
        .env("REGCRED_API_URL", &self.server.url)
        .env("REGCRED_TOKEN", token)
        .env("REGCRED_PROJECT", P)
        .env("REGCRED_LOCATION", L)
    }

    /// `regcred kubelet-credential-provider`, configured by a helper config file.
    fn kubelet(&self, request: &Value) -> Cmd {
        let dir = self.scratch.path();
        let token_file = dir.join("puller.token");
        std::fs::write(&token_file, format!("{}\n", self.puller)).expect("token file");
        let config = dir.join("helper.json");
        std::fs::write(
            &config,
            json!({
                "apiUrl": self.server.url,
                "tokenFile": token_file,
                "project": P,
                "location": L,
            })
            .to_string(),
        )
        .expect("config");
        self.isolated(Path::new(BIN), &["kubelet-credential-provider"])
            .env("REGCRED_HELPER_CONFIG", config)
            .stdin(request.to_string())
    }
}

fn token(server: &Server, role: &str) -> String {
    let out = server
        .run(&[
            "token",
            "create",
            "--name",
            &format!("plugin-{role}"),
            "--role",
            role,
            "--project",
            P,
        ])
        .ok()
        .json();
    out["secret"].as_str().expect("secret").to_owned()
}

#[track_caller]
fn exactly(out: &Out, code: i32, stdout: &str) {
    out.code(code);
    assert_eq!(out.stdout, stdout, "`{}` stdout", out.label);
}

fn request(image: &str) -> Value {
    json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
    })
}

#[test]
fn docker_credential_helper_speaks_the_protocol_and_caches() {
    let mut s = Setup::new();
    // A maximum age well above the test's run time, so that the offline answers below come from
    // the cache however slow the machine is (the server's limit, 300 s, still applies).
    let get = |server_url: &str| {
        s.helper(&s.puller, "get")
            .env("REGCRED_HELPER_CACHE_SECONDS", "3600")
            .stdin(format!("{server_url}\n"))
    };

    exactly(
        &get("ghcr.io").run(),
        0,
        &format!(
            "{{\"ServerURL\":\"ghcr.io\",\"Username\":\"acme-deploy\",\"Secret\":\"{GHCR_PASSWORD}\"}}\n"
        ),
    );
    exactly(
        &get("https://localhost:5000").run(),
        0,
        &format!(
            "{{\"ServerURL\":\"https://localhost:5000\",\"Username\":\"local-user\",\"Secret\":\"{LOCAL_PASSWORD}\"}}\n"
        ),
    );
    exactly(
        &get("quay.io").run(),
        1,
        "credentials not found in native keychain\n",
    );
    exactly(
        &get("https://index.docker.io/v1/").run(),
        1,
        "credentials not found in native keychain\n",
    );

    // The cache holds what was released, privately.
    let cache = s.cache_dir().join("docker-credentials.json");
    assert_eq!(mode(&cache), 0o600);
    assert_eq!(mode(&s.cache_dir()), 0o700);

    // list: servers and usernames, with the node's puller token as with any other role.
    for token in [&s.puller, &s.deployer] {
        exactly(
            &s.helper(token, "list").run(),
            0,
            "{\"ghcr.io\":\"acme-deploy\",\"localhost:5000\":\"local-user\"}\n",
        );
    }

    let store = s
        .helper(&s.puller, "store")
        .stdin(r#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#)
        .run();
    exactly(
        &store,
        1,
        "regcred-managed credentials cannot be stored by docker login; create a pull secret with regcred pullsecret create\n",
    );
    let erase = s.helper(&s.puller, "erase").stdin("ghcr.io\n").run();
    erase.code(1);
    assert!(erase.stdout.contains("cannot be erased"), "{erase:?}");
    exactly(
        &s.helper(&s.puller, "version").run(),
        0,
        &format!("docker-credential-regcred {}\n", env!("CARGO_PKG_VERSION")),
    );
    exactly(
        &s.helper(&s.puller, "nonsense").run(),
        1,
        "Usage: docker-credential-regcred <store|get|erase|list|version>\n",
    );

    // With the server gone, cached credentials are still served; others fail (not "not found").
    s.server.stop().expect("server was running");
    let get = |server_url: &str| {
        s.helper(&s.puller, "get")
            .env("REGCRED_HELPER_CACHE_SECONDS", "3600")
            .stdin(format!("{server_url}\n"))
    };
    exactly(
        &get("ghcr.io").run(),
        0,
        &format!(
            "{{\"ServerURL\":\"ghcr.io\",\"Username\":\"acme-deploy\",\"Secret\":\"{GHCR_PASSWORD}\"}}\n"
        ),
    );
    let offline = get("quay.io").run();
    offline.code(1);
    assert!(
        offline.stdout.contains("cannot reach the regcred server"),
        "{offline:?}"
    );

    // An expired entry is not served: age every entry and ask again.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    for entry in doc["entries"].as_object_mut().unwrap().values_mut() {
        entry["validUntil"] = json!(1);
    }
    std::fs::write(&cache, doc.to_string()).unwrap();
    let expired = get("ghcr.io").run();
    expired.code(1);
    assert!(!expired.stdout.contains(GHCR_PASSWORD), "{expired:?}");

    // A cache that cannot be read is ignored.
    std::fs::write(&cache, "{garbage").unwrap();
    get("ghcr.io").run().code(1);
}

#[test]
fn kubelet_credential_provider_answers_and_falls_back_to_last_good() {
    let mut s = Setup::new();

    let out = s.kubelet(&request("ghcr.io/acme/api:v1")).run();
    out.ok();
    let answer = out.json();
    assert_eq!(answer["apiVersion"], "credentialprovider.kubelet.k8s.io/v1");
    assert_eq!(answer["kind"], "CredentialProviderResponse");
    assert_eq!(answer["cacheKeyType"], "Registry");
    // Static credentials: the maximum age of a cached answer, 30 s unless configured.
    assert_eq!(answer["cacheDuration"], "30s");
    assert_eq!(
        answer["auth"],
        json!({"ghcr.io": {"username": "acme-deploy", "password": GHCR_PASSWORD}})
    );
    assert_eq!(answer.as_object().unwrap().len(), 5, "{answer}");
    assert!(out.stdout.ends_with("}\n"));

    let local = s.kubelet(&request("localhost:5000/team/app@sha256:0123456789012345678901234567890123456789012345678901234567890123")).run().ok().json();
    assert_eq!(
        local["auth"],
        json!({"localhost:5000": {"username": "local-user", "password": LOCAL_PASSWORD}})
    );

    // No pull secret applies: empty auth, short cache, success (the kubelet pulls anonymously).
    let none = s.kubelet(&request("nginx:1.27")).run().ok().json();
    assert_eq!(none["auth"], json!({}));
    assert_eq!(none["cacheDuration"], "30s");

    // Strict decoding.
    let mut extra = request("ghcr.io/acme/api:v1");
    extra["extra"] = json!(true);
    let bad = s.kubelet(&extra).run();
    bad.code(1);
    assert!(bad.stderr.contains("unknown field `extra`"), "{bad:?}");
    assert!(bad.stdout.is_empty());
    let mut with_sa = request("ghcr.io/acme/api:v1");
    with_sa["serviceAccountToken"] = json!("sa-token");
    with_sa["serviceAccountAnnotations"] = json!({"a": "b"});
    s.kubelet(&with_sa).run().ok();

    // The cache file is private.
    assert_eq!(mode(&s.cache_dir().join("kubelet-credentials.json")), 0o600);

    // Server down: the last good answer for the registry, with a short cache duration.
    s.server.stop().expect("server was running");
    let offline = s.kubelet(&request("ghcr.io/acme/other:v2")).run();
    offline.ok();
    let offline_answer = offline.json();
    assert_eq!(offline_answer["auth"], answer["auth"]);
    assert_eq!(offline_answer["cacheDuration"], "30s");
    assert!(
        offline.stderr.contains("last good credentials"),
        "{offline:?}"
    );
    // Nothing cached for this registry: an error.
    let unknown = s.kubelet(&request("quay.io/x/y:1")).run();
    unknown.code(1);
    assert!(
        unknown.stderr.contains("cannot reach the regcred server"),
        "{unknown:?}"
    );
}

fn pull_secret_create(server: &Server, name: &str, host: &str, user: &str, password: &str) {
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            P,
            "--location",
            L,
            "--name",
            name,
            "--server",
            host,
            "--username",
            user,
            "--password-stdin",
        ])
        .stdin(password)
        .run()
        .ok();
}

/// The password in a `get` answer.
fn secret_of(out: &Out) -> String {
    out.ok();
    out.json()["Secret"].as_str().expect("Secret").to_owned()
}

/// A rotation used to reach `docker-credential-regcred get` only after ~5 minutes: the cache kept
/// the old password for the server's 300 s. Now it is served no longer than the configured
/// maximum age (here 2 s): asking again and again, the new password comes within the bound plus
/// a generous margin, and the old one never comes back after it.
#[test]
fn docker_credential_helper_serves_a_rotation_within_the_configured_cache_seconds() {
    const MAX_AGE: u64 = 2;
    const MARGIN: std::time::Duration = std::time::Duration::from_secs(20);
    let s = Setup::new();
    let get = || {
        s.helper(&s.puller, "get")
            .env("REGCRED_HELPER_CACHE_SECONDS", MAX_AGE.to_string())
            .stdin("ghcr.io\n")
            .run()
    };
    assert_eq!(secret_of(&get()), GHCR_PASSWORD);
    let cache = s.cache_dir().join("docker-credentials.json");
    let cached = std::fs::read_to_string(&cache).expect("the answer is cached");
    assert!(cached.contains(GHCR_PASSWORD), "{cached}");

    let rotated = "pw-ghcr-2";
    pull_secret_create(&s.server, "ghcr", "ghcr.io", "acme-deploy", rotated);
    let rotated_at = std::time::Instant::now();
    let deadline = std::time::Duration::from_secs(MAX_AGE) + MARGIN;
    loop {
        let secret = secret_of(&get());
        if secret == rotated {
            break;
        }
        assert_eq!(
            secret, GHCR_PASSWORD,
            "neither the old nor the new password"
        );
        assert!(
            rotated_at.elapsed() < deadline,
            "the old password was still served {:?} after the rotation (maximum age {MAX_AGE} s)",
            rotated_at.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for _ in 0..3 {
        assert_eq!(secret_of(&get()), rotated, "the old password came back");
    }

    // 0: nothing on disk. What was cached goes at the next call; nothing new is written.
    let uncached = || {
        s.helper(&s.puller, "get")
            .env("REGCRED_HELPER_CACHE_SECONDS", "0")
            .stdin("ghcr.io\n")
            .run()
    };
    assert_eq!(secret_of(&uncached()), rotated);
    assert_eq!(secret_of(&uncached()), rotated);
    let cached = std::fs::read_to_string(&cache).expect("cache file");
    assert!(!cached.contains(rotated), "{cached}");
    // A setting that is not a number is an error, not a silent default.
    let bad = s
        .helper(&s.puller, "get")
        .env("REGCRED_HELPER_CACHE_SECONDS", "soon")
        .stdin("ghcr.io\n")
        .run();
    bad.code(1);
    assert!(
        bad.stdout.contains("REGCRED_HELPER_CACHE_SECONDS"),
        "{bad:?}"
    );
}

/// The kubelet reuses an answer for its `cacheDuration`; it never exceeds the configured maximum
/// age (`cacheSeconds` in the helper config), and with 0 nothing is kept on disk either, so
/// there is no offline answer.
#[test]
fn kubelet_cache_duration_never_exceeds_the_configured_cache_seconds() {
    let mut s = Setup::new();
    let with_config = |extra: Value| {
        let dir = s.scratch.path();
        let token_file = dir.join("puller.token");
        std::fs::write(&token_file, &s.puller).expect("token file");
        let mut config = json!({
            "apiUrl": s.server.url,
            "tokenFile": token_file,
            "project": P,
            "location": L,
        });
        config
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        let path = dir.join("helper-cache.json");
        std::fs::write(&path, config.to_string()).expect("config");
        path
    };
    fn kubelet(s: &Setup, config: &Path, image: &str) -> Out {
        s.isolated(Path::new(BIN), &["kubelet-credential-provider"])
            .env("REGCRED_HELPER_CONFIG", config)
            .stdin(request(image).to_string())
            .run()
    }
    let two = with_config(json!({"cacheSeconds": 2}));
    assert_eq!(
        kubelet(&s, &two, "ghcr.io/acme/api:v1").ok().json()["cacheDuration"],
        "2s"
    );
    assert_eq!(
        kubelet(&s, &two, "nginx:1").ok().json()["cacheDuration"],
        "2s"
    );
    // The flag (and its environment variable) wins over the file.
    let flag = s
        .isolated(
            Path::new(BIN),
            &["kubelet-credential-provider", "--cache-seconds", "1"],
        )
        .env("REGCRED_HELPER_CONFIG", &two)
        .stdin(request("ghcr.io/acme/api:v1").to_string())
        .run();
    assert_eq!(flag.ok().json()["cacheDuration"], "1s");

    let off = with_config(json!({"cacheSeconds": 0}));
    let answer = kubelet(&s, &off, "ghcr.io/acme/api:v1").ok().json();
    assert_eq!(answer["cacheDuration"], "0s");
    assert_eq!(answer["auth"]["ghcr.io"]["password"], GHCR_PASSWORD);
    let cache = s.cache_dir().join("kubelet-credentials.json");
    let kept = std::fs::read_to_string(&cache).unwrap_or_default();
    assert!(!kept.contains(GHCR_PASSWORD), "{kept}");
    s.server.stop().expect("server was running");
    let offline = kubelet(&s, &off, "ghcr.io/acme/api:v1");
    offline.code(1);
    assert!(offline.stdout.is_empty(), "{offline:?}");
}

/// A real client through the helper: skopeo, told by `credHelpers` to ask
/// `docker-credential-regcred`, pulls from a real registry (Debian `docker-registry`, htpasswd)
/// with credentials that exist only in regcred — nowhere on the "node".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pulls_through_the_credential_helper() {
    use regcred_testkit::{
        push_test_image, Auth, Registry, RegistryOptions, Skopeo, SkopeoAuth, TlsMode,
    };

    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("node-user", "node-pw:&<>")]),
        tls: None,
    })
    .await;
    let host = registry.host();
    let digest = push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("node-user", "node-pw:&<>")),
        TlsMode::Insecure,
    )
    .await;

    let server = Server::start();
    server.run(&["project", "create", "acme"]).ok();
    server
        .run(&[
            "location",
            "create",
            "nodes",
            "--kind",
            "kubernetes",
            "--in-cluster",
        ])
        .ok();
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            "acme",
            "--location",
            "nodes",
            "--name",
            "local",
            "--server",
            &host,
            "--username",
            "node-user",
            "--password-stdin",
        ])
        .stdin("node-pw:&<>")
        .run()
        .ok();
    let puller = server
        .run(&[
            "token",
            "create",
            "--name",
            "node",
            "--role",
            "puller",
            "--project",
            "acme",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let puller = puller["secret"].as_str().expect("token").to_owned();

    let bin_dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(BIN, bin_dir.path().join("docker-credential-regcred"))
        .expect("symlink");
    let auth_file = bin_dir.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(r#"{{"credHelpers":{{"{host}":"regcred"}}}}"#),
    )
    .expect("auth file");

    let skopeo = Skopeo::new()
        .with_path(bin_dir.path())
        .with_env("REGCRED_API_URL", &server.url)
        .with_env("REGCRED_TOKEN", &puller)
        .with_env("REGCRED_PROJECT", "acme")
        .with_env("REGCRED_LOCATION", "nodes");
    let image = registry.image("team/app", "v1");
    let pulled = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&auth_file), TlsMode::Insecure)
        .await;
    assert!(
        pulled.success,
        "skopeo through the helper: {}",
        pulled.stderr
    );
    assert_eq!(pulled.stdout_digest(), digest);

    // Without the helper's answer (a token of another project) the same pull is refused.
    server.run(&["project", "create", "other"]).ok();
    let stranger = server
        .run(&[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "puller",
            "--project",
            "other",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let refused = Skopeo::new()
        .with_path(bin_dir.path())
        .with_env("REGCRED_API_URL", &server.url)
        .with_env("REGCRED_TOKEN", stranger["secret"].as_str().expect("token"))
        .with_env("REGCRED_PROJECT", "acme")
        .with_env("REGCRED_LOCATION", "nodes")
        .inspect_raw(&image, SkopeoAuth::AuthFile(&auth_file), TlsMode::Insecure)
        .await;
    assert!(!refused.success, "a token of another project pulled");
}
