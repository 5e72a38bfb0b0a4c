//! `regcred serve` over HTTPS with a private CA, checked with real clients: regcred's own CLI and
//! `docker-credential-regcred` (trusting the CA through `--ca-file` / `REGCRED_CA_FILE`), and
//! `curl` as an independent TLS client. Proves that the certificate files are reloaded when they
//! change (rotation without a restart, a broken pair never replacing a working one), that
//! `--client-ca` makes every client present a certificate of that CA, that a key that does not
//! match its certificate stops start-up, and that every request leaves one access-log line and a
//! request id (in the `X-Request-Id` header and the error envelope) — with no secret in the log.

mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fixture::{Cmd, Server, BIN};
use regcred_testkit::TestCa;
use serde_json::Value;

/// Copies the CA's server certificate and key to `dir` (as the operator's files, which the test
/// then rotates) and answers their paths.
fn install_pair(ca: &TestCa, dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    replace(&key, &std::fs::read(ca.server_key_path()).expect("key"));
    replace(&cert, &std::fs::read(ca.server_cert_path()).expect("cert"));
    (cert, key)
}

/// Writes `path` whole at once (a rename), as a secret mount or `mv` does.
fn replace(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The server on `ca`'s pair with `extra` flags; the directory of the pair, and its paths.
fn start_tls(ca: &TestCa, extra: &[&str]) -> (Server, tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = install_pair(ca, dir.path());
    let mut args = vec![
        "--tls-cert".to_owned(),
        cert.display().to_string(),
        "--tls-key".to_owned(),
        key.display().to_string(),
    ];
    args.extend(extra.iter().map(ToString::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Server::start_with(&args), dir, cert, key)
}

/// What `curl` got: its exit code, the status, the response headers and the body.
struct Curl {
    code: i32,
    status: u16,
    headers: String,
    body: String,
}

/// `curl` against the server with extra arguments (`--cacert`, `--cert`, …).
fn curl(server: &Server, path: &str, args: &[&str]) -> Curl {
    let headers = tempfile::NamedTempFile::new().expect("temp file");
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
        .arg("-D")
        .arg(headers.path())
        .args(args)
        .arg(format!("{}{path}", server.url))
        .output()
        .expect("curl runs (scripts/setup installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Curl {
        code: output.status.code().unwrap_or(-1),
        status: status.trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(headers.path()).unwrap_or_default(),
        body: body.to_owned(),
    }
}

fn ca_arg(ca: &TestCa) -> String {
    ca.ca_cert_path().display().to_string()
}

/// Polls `ok` every 100 ms for at most `limit`.
fn eventually(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn https_with_a_private_ca_for_the_cli_the_helper_and_curl() {
    let ca = TestCa::new();
    let (server, _pair, _, _) = start_tls(&ca, &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "server.url says https: {}",
        server.url
    );

    // Without the CA the CLI says what to do; with it (flag or environment) it works.
    let refused = server.run(&["project", "list"]);
    assert_ne!(refused.code, Some(0));
    let message = refused.error_message().unwrap_or_default();
    assert!(
        message.contains("does not trust") && message.contains("--ca-file"),
        "{}",
        refused.stderr
    );
    server
        .run(&["--ca-file", &ca_arg(&ca), "project", "create", "acme"])
        .ok();
    let auth_file = server.scratch("config.json").display().to_string();
    server
        .cli(&[
            "location", "create", "node1", "--kind", "docker", "--path", &auth_file,
        ])
        .env("REGCRED_CA_FILE", ca.ca_cert_path())
        .run()
        .ok();
    let listed = server
        .cli(&["-o", "json", "project", "list"])
        .env("REGCRED_CA_FILE", ca.ca_cert_path())
        .run();
    listed.ok();
    assert!(listed.stdout.contains("acme"), "{}", listed.stdout);

    // A context saved by `login --ca-file` carries the CA for later commands.
    let home = tempfile::tempdir().expect("temp dir");
    let user = |args: &[&str]| {
        Cmd::new(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .run()
    };
    let admin_token = server.data_dir.join("admin.token").display().to_string();
    user(&[
        "login",
        "--api-url",
        &server.url,
        "--token-file",
        &admin_token,
        "--ca-file",
        &ca_arg(&ca),
        "--name",
        "tls",
    ])
    .ok();
    let listed = user(&["-o", "json", "project", "list"]);
    listed.ok();
    assert!(listed.stdout.contains("acme"), "{}", listed.stdout);

    // The Docker credential helper trusts the same way.
    let scratch = tempfile::tempdir().expect("temp dir");
    let helper = scratch.path().join("docker-credential-regcred");
    std::os::unix::fs::symlink(BIN, &helper).expect("symlink");
    let token = server.admin_token();
    let list = |ca_file: Option<&Path>| {
        let mut cmd = Cmd::program(&helper.display().to_string(), &["list"])
            .env("HOME", scratch.path())
            .env("XDG_CACHE_HOME", scratch.path().join("cache"))
            .env("XDG_CONFIG_HOME", scratch.path().join("config"))
            .env("REGCRED_API_URL", &server.url)
            .env("REGCRED_TOKEN", &token)
            .env("REGCRED_PROJECT", "acme")
            .env("REGCRED_LOCATION", "node1");
        if let Some(file) = ca_file {
            cmd = cmd.env("REGCRED_CA_FILE", file);
        }
        cmd.run()
    };
    let untrusted = list(None);
    assert_ne!(untrusted.code, Some(0));
    // Docker's helper protocol puts the error on stdout.
    assert!(
        untrusted.stdout.contains("does not trust") && untrusted.stdout.contains("--ca-file"),
        "{}",
        untrusted.stdout
    );
    let trusted = list(Some(&ca.ca_cert_path()));
    trusted.ok();
    assert_eq!(
        trusted.stdout.trim(),
        "{}",
        "no registry in the location yet"
    );

    // curl: healthz over TLS, the request id echoed, chosen by the caller when it is plain.
    let health = curl(&server, "/healthz", &["--cacert", &ca_arg(&ca)]);
    assert_eq!((health.code, health.status), (0, 200), "{}", health.body);
    assert!(
        health
            .headers
            .to_ascii_lowercase()
            .contains("x-request-id: "),
        "{}",
        health.headers
    );
    let failed = curl(
        &server,
        "/project.list",
        &[
            "--cacert",
            &ca_arg(&ca),
            "-H",
            "X-Request-Id: trace-42",
            "-H",
            "Authorization: Bearer rc_nope_nope",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
    );
    assert_eq!(failed.status, 401, "{}", failed.body);
    let envelope: Value = serde_json::from_str(&failed.body).expect("JSON error");
    assert_eq!(envelope["error"]["requestId"], "trace-42", "{envelope}");
    assert!(
        failed
            .headers
            .to_ascii_lowercase()
            .contains("x-request-id: trace-42"),
        "{}",
        failed.headers
    );

    // The access log: one line per request, with the principal once authenticated, and never
    // the token itself.
    let log = server.log_text();
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("regcred::access"))
        .collect();
    assert!(
        access.iter().any(|l| l.contains("path=/project.create")
            && l.contains("status=200")
            && l.contains("principal=")),
        "{log}"
    );
    assert!(
        access.iter().any(|l| l.contains("path=/project.list")
            && l.contains("status=401")
            && l.contains("request_id=trace-42")),
        "{log}"
    );
    // rc_<id>_<secret>, where the secret's own alphabet (base64url) has '_' too.
    let secret = token.splitn(3, '_').nth(2).expect("token secret");
    assert!(
        secret.len() >= 16,
        "a whole secret: {} characters",
        secret.len()
    );
    assert!(
        !log.contains(secret),
        "the admin token's secret is in the log"
    );
}

#[test]
fn certificates_are_reloaded_when_their_files_change() {
    let first = TestCa::new();
    let second = TestCa::new();
    let (server, pair, _, key) = start_tls(&first, &[]);
    assert_eq!(
        curl(&server, "/healthz", &["--cacert", &ca_arg(&first)]).status,
        200
    );

    // Rotation: the new pair is served without a restart.
    install_pair(&second, pair.path());
    assert!(
        eventually(Duration::from_secs(15), || {
            curl(&server, "/healthz", &["--cacert", &ca_arg(&second)]).status == 200
        }),
        "the rotated certificate was not served; log:\n{}",
        server.log_text()
    );
    assert_ne!(
        curl(&server, "/healthz", &["--cacert", &ca_arg(&first)]).code,
        0,
        "the old certificate is no longer served"
    );
    assert!(server.log_text().contains("reloaded the TLS certificate"));

    // A key that does not match: the working pair keeps serving. (The files are looked at when
    // a client connects.)
    replace(&key, &std::fs::read(first.server_key_path()).expect("key"));
    assert!(
        eventually(Duration::from_secs(15), || {
            curl(&server, "/healthz", &["--cacert", &ca_arg(&second)]);
            server.log_text().contains("do not load")
        }),
        "the broken pair was not noticed; log:\n{}",
        server.log_text()
    );
    assert_eq!(
        curl(&server, "/healthz", &["--cacert", &ca_arg(&second)]).status,
        200
    );
}

#[test]
fn client_ca_requires_a_certificate_of_that_ca() {
    let ca = TestCa::new();
    let clients = TestCa::new();
    let strangers = TestCa::new();
    let client_ca = clients.ca_cert_path().display().to_string();
    let (server, _pair, _, _) = start_tls(&ca, &["--client-ca", &client_ca]);
    let (cert, key) = clients.client_cert("ci");
    let (other_cert, other_key) = strangers.client_cert("ci");
    let with = |cert: &Path, key: &Path| {
        curl(
            &server,
            "/healthz",
            &[
                "--cacert",
                &ca_arg(&ca),
                "--cert",
                &cert.display().to_string(),
                "--key",
                &key.display().to_string(),
            ],
        )
    };
    assert_eq!(with(&cert, &key).status, 200);
    assert_eq!(
        with(&other_cert, &other_key).status,
        0,
        "a stranger's certificate"
    );
    let none = curl(&server, "/healthz", &["--cacert", &ca_arg(&ca)]);
    assert_eq!(none.status, 0, "no client certificate: {}", none.body);
}

#[test]
fn a_key_that_does_not_match_its_certificate_stops_start_up() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let data = tempfile::tempdir().expect("temp dir");
    let out = Cmd::new(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data.path().display().to_string(),
        "--tls-cert",
        &ca.server_cert_path().display().to_string(),
        "--tls-key",
        &other.server_key_path().display().to_string(),
    ])
    .run();
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("does not belong"), "{}", out.stderr);
    assert!(
        !data.path().join("server.url").exists(),
        "nothing serves: no address is announced"
    );
}
