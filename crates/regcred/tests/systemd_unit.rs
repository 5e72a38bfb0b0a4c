//! `deploy/systemd/regcred.service`: checked by the real `systemd-analyze verify` (no warning
//! allowed), its hardening read off the file and scored by `systemd-analyze security`, and its
//! `ExecStart` run as systemd would run it — `%d` (the credentials directory) and `%S` (the state
//! root) filled in — to show that the server starts on the master key systemd hands over and
//! writes no key of its own into the state directory.

mod fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ANALYZE: &str = "systemd-analyze";

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/regcred.service")
}

fn unit_text() -> String {
    std::fs::read_to_string(unit_path()).expect("deploy/systemd/regcred.service")
}

/// `systemd-analyze`, or `None` (with the reason printed) where systemd is not installed.
fn analyze() -> Option<&'static str> {
    let found = Command::new(ANALYZE)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!(
            "skipped: {ANALYZE} is not installed (Debian package systemd; scripts/setup installs it)"
        );
    }
    found.then_some(ANALYZE)
}

/// Every `Key=value` of the unit, in order per key (a key may repeat).
fn directives(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') || line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').expect("Key=value");
        out.entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    out
}

/// The unit with its `ExecStart` binary replaced by the one under test (verify checks that
/// the binary exists and is executable), written into `dir`.
fn unit_for_test(dir: &Path, text: &str) -> PathBuf {
    let text = text.replace("/usr/local/bin/regcred", fixture::BIN);
    assert!(
        text.contains(fixture::BIN),
        "ExecStart names /usr/local/bin/regcred"
    );
    let path = dir.join("regcred.service");
    std::fs::write(&path, text).expect("write unit");
    path
}

/// `systemd-analyze verify UNIT`: (exit code, everything it printed).
fn verify(analyze: &str, unit: &Path) -> (Option<i32>, String) {
    let out = Command::new(analyze)
        .arg("verify")
        .arg(unit)
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    let Some(analyze) = analyze() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, text) = verify(analyze, &unit_for_test(dir.path(), &unit_text()));
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.trim(), "", "systemd-analyze verify warned");

    // Controls: verify does catch a value systemd cannot parse (it only warns, so the warning
    // is what the check above relies on) and a missing binary.
    let typo = unit_text().replace("ProtectSystem=strict", "ProtectSystem=stricter");
    let (_, text) = verify(analyze, &unit_for_test(dir.path(), &typo));
    assert!(
        text.contains("ProtectSystem") || text.contains("protect system"),
        "{text}"
    );
    let missing = dir.path().join("missing.service");
    std::fs::write(
        &missing,
        unit_text().replace("/usr/local/bin/regcred", "/nonexistent/regcred"),
    )
    .expect("write unit");
    let (code, text) = verify(analyze, &missing);
    assert_ne!(code, Some(0), "{text}");
}

#[test]
fn the_unit_is_hardened() {
    let text = unit_text();
    let d = directives(&text);
    let one = |key: &str| -> &str {
        match d.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("{key}: {other:?}"),
        }
    };
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "regcred"),
        ("StateDirectoryMode", "0700"),
        ("UMask", "0077"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LoadCredential", "master.key:/etc/regcred/master.key"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    assert_eq!(
        d["SystemCallFilter"],
        ["@system-service", "~@privileged"],
        "SystemCallFilter"
    );
    let exec = one("ExecStart");
    assert!(exec.contains("--master-key-file %d/master.key"), "{exec}");
    assert!(exec.contains("--data-dir %S/regcred"), "{exec}");

    // systemd's own score of the sandbox (0 = fully locked down, 10 = none); `--offline` reads
    // the file alone (systemd 250+).
    let Some(analyze) = analyze() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = unit_for_test(dir.path(), &text);
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze security");
    let shown = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = shown
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for regcred.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{shown}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    println!("systemd-analyze security: exposure {exposure}");
    assert!(exposure <= 2.0, "exposure {exposure}:\n{shown}");
}

/// `ExecStart` as systemd runs it: the key comes from the credentials directory (a 0400 file,
/// as systemd writes it), the state directory gets the database and no key.
#[test]
fn exec_start_serves_with_the_key_from_the_credentials_directory() {
    let d = directives(&unit_text());
    let exec = d["ExecStart"][0].clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let credentials = dir.path().join("credentials");
    let state = dir.path().join("state");
    std::fs::create_dir(&credentials).expect("credentials dir");
    std::fs::create_dir(&state).expect("state root");
    let key_text = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    let key_file = credentials.join("master.key");
    std::fs::write(&key_file, key_text).expect("key");
    set_mode(&key_file, 0o400);

    let words: Vec<String> = exec
        .split_whitespace()
        .map(|w| {
            w.replace("%d", credentials.to_str().expect("utf-8"))
                .replace("%S", state.to_str().expect("utf-8"))
        })
        .map(|w| {
            if w == "127.0.0.1:7700" {
                "127.0.0.1:0".into()
            } else {
                w
            }
        })
        .collect();
    assert_eq!(words[0], "/usr/local/bin/regcred");
    let log = dir.path().join("serve.log");
    let mut command = Command::new(fixture::BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGCRED_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(&words[1..])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start regcred serve");
    let data = state.join("regcred");
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "regcred serve exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(url) = std::fs::read_to_string(data.join("server.url")) {
            let url = url.trim().to_owned();
            if fixture::http_get(&url, "/healthz").is_some_and(|(s, _)| s == 200) {
                break url;
            }
        }
        assert!(Instant::now() < deadline, "regcred serve not ready in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        fixture::http_get(&url, "/readyz").map(|(s, _)| s),
        Some(200)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(data.join("regcred.db").exists(), "{log}");
    assert!(
        !data.join("master.key").exists(),
        "a key was generated in the state directory: {log}"
    );
    assert_eq!(std::fs::read_to_string(&key_file).expect("key"), key_text);
    assert!(!log.contains(key_text.trim()), "the log shows the key");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
