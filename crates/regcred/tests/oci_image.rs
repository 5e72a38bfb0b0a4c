//! The OCI image of regcred end to end: `scripts/image` builds it from scratch with the real
//! `umoci` (Debian package `umoci`) around the binary under test; the real `skopeo` pushes it to
//! the real distribution registry (Debian `docker-registry`, htpasswd mode, plain HTTP); the real
//! `regcred serve` and CLI deliver a pull secret for that registry to a docker location's auth
//! file; and skopeo pulls the image back with nothing but that file. Proves that the script makes
//! a well-formed image a registry accepts (user `65532:65532`, the entrypoint, the OCI labels,
//! root-owned files but a data directory of its own user), that the credential regcred delivers
//! is the one that pulls it (an anonymous pull is refused), that the binary runs from the pulled
//! layer with only the libraries the image carries, and that the password shows up in no CLI
//! output. A missing `umoci` fails the test, naming `scripts/setup`.

mod fixture;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fixture::{find_secret, http_get, Cmd, Out, Server, BIN};
use regcred_testkit::{Auth, Registry, RegistryOptions, Skopeo, SkopeoAuth, TlsMode};
use serde_json::Value;

const TAG: &str = "test";
const REPOSITORY: &str = "regcred";
const UID: u32 = 65532;

/// `scripts/image` of this checkout.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/image")
}

/// umoci must be installed: its absence fails the test (never a skip).
fn require_umoci() {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("umoci").is_file()))
        || Path::new("/usr/bin/umoci").is_file();
    assert!(
        found,
        "`umoci` is not installed: run scripts/setup (Debian package `umoci`); \
         tests/oci_image.rs needs it to build the image and never skips"
    );
}

/// Runs `scripts/image --binary BIN LAYOUT:TAG` (no cargo build: the binary under test).
fn build_image(layout: &Path, epoch: &str) -> Out {
    let out = Cmd::program(
        script().to_str().expect("UTF-8 path"),
        &["--binary", BIN, &format!("{}:{TAG}", layout.display())],
    )
    .env("SOURCE_DATE_EPOCH", epoch)
    .run();
    out.ok();
    out
}

/// The blob `sha256:…` of an OCI layout.
fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').expect("algorithm:hex");
    layout.join("blobs").join(algorithm).join(hex)
}

#[track_caller]
fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display()))
}

/// The manifest digest of `TAG` in the layout's index.
fn tagged_manifest(layout: &Path) -> String {
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let tagged: Vec<&Value> = manifests
        .iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"] == TAG)
        .collect();
    assert_eq!(tagged.len(), 1, "one manifest tagged {TAG}: {index:#}");
    tagged[0]["digest"].as_str().expect("digest").to_owned()
}

/// One entry of `tar -tv --numeric-owner`: (mode string, uid, gid, path without `./` or `/`).
#[derive(Debug)]
struct Entry {
    mode: String,
    uid: u32,
    gid: u32,
    path: String,
}

/// The entries of a gzip layer as GNU tar lists them with numeric owners.
fn layer_entries(layer: &Path) -> Vec<Entry> {
    let out = Cmd::program(
        "tar",
        &["--numeric-owner", "-tvzf", layer.to_str().expect("UTF-8")],
    )
    .run();
    out.ok();
    out.stdout
        .lines()
        .map(|line| {
            // drwx------ 65532/65532 0 2026-01-01 00:00 var/lib/regcred/
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 6, "unexpected tar line {line:?}");
            let (uid, gid) = fields[1].split_once('/').expect("uid/gid");
            Entry {
                mode: fields[0].to_owned(),
                uid: uid.parse().expect("numeric uid"),
                gid: gid.parse().expect("numeric gid"),
                path: fields[5..]
                    .join(" ")
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_owned(),
            }
        })
        .collect()
}

/// Polls `check` every 50 ms for at most 30 s; whether it came true.
fn within_30s(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A process killed (SIGTERM, then SIGKILL) and reaped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    let out = Cmd::program("id", &["-u"]).run();
    out.ok();
    out.stdout.trim() == "0"
}

/// Peers: umoci (through `scripts/image`), the real distribution registry (htpasswd user ada),
/// the real skopeo; `tar` and, as root, `chroot` for the pulled layer.
///
/// The image built by the script is pushed with ada's password, then pulled back with only the
/// auth file regcred delivered for a pull secret holding that password; its configuration and
/// layer are the ones the script promises, and the binary in it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_built_by_the_script_is_pulled_back_through_the_delivered_pull_secret() {
    require_umoci();
    let password = fixture::canary("img");
    let work = tempfile::tempdir().expect("temp dir");

    // Build; the same SOURCE_DATE_EPOCH twice gives the same image.
    let layout = work.path().join("layout");
    let built = build_image(&layout, "1767225600");
    let digest = tagged_manifest(&layout);
    assert!(
        built.stdout.contains(&format!("digest {digest}")),
        "the script prints the digest {digest}:\n{}",
        built.stdout
    );
    assert!(built.stdout.contains("size "), "{}", built.stdout);
    let again = work.path().join("again");
    build_image(&again, "1767225600");
    assert_eq!(
        tagged_manifest(&again),
        digest,
        "two builds of one binary at one SOURCE_DATE_EPOCH differ"
    );

    // Push with the registry user's own password.
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("ada", &password)]),
        tls: None,
    })
    .await;
    let host = registry.host();
    let image = registry.image(REPOSITORY, TAG);
    let skopeo = Skopeo::new();
    let pushed = skopeo
        .run(&[
            "copy".into(),
            "--preserve-digests".into(),
            "--dest-creds".into(),
            format!("ada:{password}"),
            "--dest-tls-verify=false".into(),
            format!("oci:{}:{TAG}", layout.display()),
            format!("docker://{image}"),
        ])
        .await;
    assert!(pushed.success, "skopeo push: {}", pushed.stderr);

    // Nobody pulls it anonymously.
    let anonymous = skopeo
        .inspect_raw(&image, SkopeoAuth::Anonymous, TlsMode::Insecure)
        .await;
    assert!(!anonymous.success, "an anonymous pull of {image} worked");
    let refusal = anonymous.stderr.to_lowercase();
    assert!(
        refusal.contains("unauthorized") || refusal.contains("authentication required"),
        "the anonymous pull failed for another reason than authentication: {}",
        anonymous.stderr
    );

    // regcred delivers a pull secret for the registry to a docker location's auth file.
    let server = Server::start_with(&["--insecure-registry", &host]);
    let auth_file = server.scratch("config.json");
    server.run(&["project", "create", "acme"]).ok();
    server
        .run(&[
            "location",
            "create",
            "node1",
            "--kind",
            "docker",
            "--path",
            auth_file.to_str().expect("UTF-8"),
        ])
        .ok();
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            "acme",
            "--location",
            "node1",
            "--name",
            "registry",
            "--server",
            &host,
            "--username",
            "ada",
            "--password-stdin",
            "-o",
            "json",
        ])
        .stdin(password.as_str())
        .run()
        .ok();
    // No `location sync`: the background delivery writes the file.
    let delivered = within_30s(|| {
        std::fs::read_to_string(&auth_file)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|json| json["auths"][&host]["auth"].is_string())
    });
    assert!(
        delivered,
        "the pull secret was not delivered to {} within 30 s; server log:\n{}",
        auth_file.display(),
        server.log_text()
    );

    // Pull with that file and nothing else.
    let authfile = SkopeoAuth::AuthFile(&auth_file);
    let raw = skopeo
        .inspect_raw(&image, authfile, TlsMode::Insecure)
        .await;
    assert!(
        raw.success,
        "skopeo inspect with the auth file: {}",
        raw.stderr
    );
    assert_eq!(
        raw.stdout_digest(),
        digest,
        "the registry serves the built manifest"
    );
    let config = skopeo
        .run(&[
            "inspect".into(),
            "--config".into(),
            "--authfile".into(),
            auth_file.display().to_string(),
            "--tls-verify=false".into(),
            format!("docker://{image}"),
        ])
        .await;
    assert!(config.success, "skopeo inspect --config: {}", config.stderr);
    let config: Value = serde_json::from_slice(&config.stdout).expect("the config is JSON");
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "{config:#}");
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/local/bin/regcred"]),
        "{config:#}"
    );
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["serve", "--listen", "0.0.0.0:7700"]),
        "{config:#}"
    );
    assert!(c["ExposedPorts"]["7700/tcp"].is_object(), "{config:#}");
    assert_eq!(c["WorkingDir"], "/var/lib/regcred", "{config:#}");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        env.contains(&"REGCRED_DATA_DIR=/var/lib/regcred"),
        "{config:#}"
    );
    let labels = &c["Labels"];
    let version = format!(
        "regcred {}",
        labels["org.opencontainers.image.version"]
            .as_str()
            .unwrap_or("?")
    );
    assert_eq!(
        labels["org.opencontainers.image.title"], "regcred",
        "{config:#}"
    );
    let own_version = Cmd::new(&["--version"]).run();
    assert_eq!(own_version.ok().stdout.trim(), version, "{config:#}");
    assert_eq!(
        labels["org.opencontainers.image.created"], "2026-01-01T00:00:00Z",
        "{config:#}"
    );
    for label in ["description", "licenses"] {
        assert!(
            labels[format!("org.opencontainers.image.{label}")].is_string(),
            "no {label} label: {config:#}"
        );
    }

    let pulled = work.path().join("pulled");
    let copied = skopeo
        .run(&[
            "copy".into(),
            "--authfile".into(),
            auth_file.display().to_string(),
            "--src-tls-verify=false".into(),
            format!("docker://{image}"),
            format!("oci:{}:{TAG}", pulled.display()),
        ])
        .await;
    assert!(
        copied.success,
        "skopeo copy with the auth file: {}",
        copied.stderr
    );

    // The layer: root's files, the data directory and nothing else 65532's.
    let manifest = read_json(&blob(&pulled, &tagged_manifest(&pulled)));
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 1, "one layer: {manifest:#}");
    let layer = blob(&pulled, layers[0]["digest"].as_str().expect("layer digest"));
    let entries = layer_entries(&layer);
    let entry = |path: &str| {
        entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} is not in the layer: {entries:#?}"))
    };
    assert_eq!(entry("var/lib/regcred").mode, "drwx------");
    assert_eq!(
        (entry("var/lib/regcred").uid, entry("var/lib/regcred").gid),
        (UID, UID)
    );
    assert_eq!(entry("tmp").mode, "drwxrwxrwt");
    for path in [
        "usr/local/bin/regcred",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "etc/group",
    ] {
        assert!(
            entry(path).mode.starts_with('-'),
            "{path}: {:?}",
            entry(path)
        );
    }
    for e in &entries {
        if e.path != "var/lib/regcred" {
            assert_eq!((e.uid, e.gid), (0, 0), "{e:?} is not root's");
        }
    }
    let loader = entries
        .iter()
        .find(|e| {
            e.path.starts_with("lib")
                && e.path
                    .rsplit('/')
                    .next()
                    .is_some_and(|name| name.starts_with("ld-linux"))
        })
        .unwrap_or_else(|| panic!("no dynamic loader in the layer: {entries:#?}"));

    // The binary runs from the layer, with the image's loader and libraries only.
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir rootfs");
    Cmd::program(
        "tar",
        &[
            "--numeric-owner",
            "-xzf",
            layer.to_str().expect("UTF-8"),
            "-C",
            rootfs.to_str().expect("UTF-8"),
        ],
    )
    .run()
    .ok();
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("etc/passwd");
    assert!(
        passwd
            .lines()
            .any(|l| l == "regcred:x:65532:65532:regcred:/var/lib/regcred:/sbin/nologin"),
        "{passwd}"
    );
    let group = std::fs::read_to_string(rootfs.join("etc/group")).expect("etc/group");
    assert!(group.lines().any(|l| l == "regcred:x:65532:"), "{group}");
    let mut library_dirs: Vec<String> = entries
        .iter()
        .filter(|e| e.path.contains(".so") && e.path != loader.path)
        .filter_map(|e| {
            Path::new(&e.path)
                .parent()
                .map(|d| rootfs.join(d).display().to_string())
        })
        .collect();
    library_dirs.sort();
    library_dirs.dedup();
    let ran = Cmd::program(
        rootfs.join(&loader.path).to_str().expect("UTF-8"),
        &[
            "--library-path",
            &library_dirs.join(":"),
            rootfs
                .join("usr/local/bin/regcred")
                .to_str()
                .expect("UTF-8"),
            "--version",
        ],
    )
    .run();
    assert_eq!(ran.ok().stdout.trim(), version);

    if is_root() {
        // Inside the image's root as its user: `regcred serve` with the image's data directory
        // starts and answers /healthz.
        let serve_log = work.path().join("serve.log");
        let mut command = Command::new("/usr/sbin/chroot");
        command
            .arg(format!("--userspec={UID}:{UID}"))
            .arg(&rootfs)
            .args(["/usr/local/bin/regcred", "serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("REGCRED_DATA_DIR", "/var/lib/regcred")
            .env("HOME", "/var/lib/regcred")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&serve_log).expect("log file"));
        let served = Running(command.spawn().expect("chroot regcred serve"));
        let url_file = rootfs.join("var/lib/regcred/server.url");
        let healthy = within_30s(|| {
            std::fs::read_to_string(&url_file)
                .ok()
                .and_then(|url| http_get(url.trim(), "/healthz"))
                .is_some_and(|(status, _)| status == 200)
        });
        assert!(
            healthy,
            "regcred serve in the image's root did not answer /healthz within 30 s; log:\n{}",
            std::fs::read_to_string(&serve_log).unwrap_or_default()
        );
        use std::os::unix::fs::MetadataExt;
        let key = std::fs::metadata(rootfs.join("var/lib/regcred/master.key"))
            .expect("the server made its master key in the data directory");
        assert_eq!(
            (key.uid(), key.gid()),
            (UID, UID),
            "written as the image's user"
        );
        drop(served);
    }

    // The password reached no output of the CLI.
    for out in server
        .transcript()
        .into_iter()
        .chain([built, own_version, ran])
    {
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if let Some(form) = find_secret(text.as_bytes(), &password) {
                panic!(
                    "the password shows up in the {stream} of `{}` as {form:?}",
                    out.label
                );
            }
        }
    }
}
