//! Write-only, proved from the outside: random canary passwords handed to the real binary (ghcr
//! from stdin, custom from a file, Docker Hub from `REGCRED_PASSWORD`, plus one inside an imported
//! `config.json`) appear nowhere except in `render … --from-pull-secret`, whose job is to release
//! them. Searched: stdout and stderr of every other command (successes and failures), the server's
//! debug log, and the raw bytes of every file in the data directory (database, `-wal`, `-shm`,
//! while running and after shutdown) — as plain text, hex, and base64 at every alignment, which
//! covers the `auth` field (`user:canary`) and base64-encoded documents that contain it.
//! Likewise, access-token secrets and the master key never reach the log or the database.

mod fixture;

use fixture::{canary, files_under, find_secret, project_and_location, Out, Server};

const P: &str = "acme";
const L: &str = "local";

struct Canaries {
    ghcr: String,
    custom: String,
    docker: String,
    imported: String,
}

impl Canaries {
    fn all(&self) -> [(&'static str, &str); 4] {
        [
            ("ghcr", &self.ghcr),
            ("custom", &self.custom),
            ("docker", &self.docker),
            ("imported", &self.imported),
        ]
    }
}

fn with_scope<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--project", P, "--location", L]);
    v
}

/// Stores the canaries, and exercises every command that could be tempted to show them.
fn exercise(server: &Server, c: &Canaries) -> Vec<Out> {
    let create = |name: &'static str, extra: &[&'static str]| {
        let mut v = with_scope(&["pullsecret", "create", "--name", name]);
        v.extend(extra);
        v
    };
    let ghcr = create(
        "ghcr",
        &[
            "--server",
            "ghcr.io",
            "--username",
            "acme-deploy",
            "--password-stdin",
        ],
    );
    server.cli(&ghcr).stdin(c.ghcr.as_str()).run().ok();
    let file = server.scratch("custom-password");
    std::fs::write(&file, format!("{}\n", c.custom)).expect("write");
    let file = file.display().to_string();
    let mut custom = create(
        "custom",
        &[
            "--server",
            "registry.example.com:5443/team",
            "--username",
            "ci",
        ],
    );
    custom.extend(["--password-file", file.as_str()]);
    server.run(&custom).ok();
    let docker = create(
        "hub",
        &[
            "--kind",
            "docker",
            "--username",
            "acme",
            "--email",
            "ops@example.com",
        ],
    );
    server
        .cli(&docker)
        .env("REGCRED_PASSWORD", &c.docker)
        .run()
        .ok();

    // Rotation with the same material, and failures that hold a canary in the request.
    server.cli(&ghcr).stdin(c.ghcr.as_str()).run().ok();
    let bad_server = create(
        "bad",
        &[
            "--server",
            "acme-deploy:x@ghcr.io",
            "--username",
            "u",
            "--password-stdin",
        ],
    );
    server.cli(&bad_server).stdin(c.ghcr.as_str()).run().code(3);
    let mut no_project = vec![
        "pullsecret",
        "create",
        "--name",
        "np",
        "--project",
        "nope",
        "--location",
        L,
    ];
    no_project.extend(["--server", "ghcr.io", "--username", "u", "--password-stdin"]);
    server.cli(&no_project).stdin(c.ghcr.as_str()).run().code(4);
    let no_username = create("nouser", &["--server", "ghcr.io", "--password-stdin"]);
    let out = server.cli(&no_username).stdin(c.ghcr.as_str()).run();
    assert_ne!(
        out.code,
        Some(0),
        "a ghcr pull secret without username was accepted"
    );
    let viewer = server
        .run(&[
            "token",
            "create",
            "--name",
            "v",
            "--role",
            "viewer",
            "--project",
            P,
        ])
        .ok()
        .json();
    let token = viewer["secret"].as_str().expect("secret").to_owned();
    let mut denied = vec!["--token", token.as_str()];
    denied.extend(&ghcr);
    server.cli(&denied).stdin(c.ghcr.as_str()).run().code(5);

    // Import: one importable entry holding a canary.
    let config = server.scratch("config.json");
    let auth = fixture::base64(format!("imp:{}", c.imported).as_bytes());
    std::fs::write(
        &config,
        serde_json::json!({"auths": {"quay.io/acme": {"auth": auth}, "ghcr.io": {"identitytoken": c.imported}}})
            .to_string(),
    )
    .expect("write config.json");
    let config = config.display().to_string();
    let import = with_scope(&["pullsecret", "import", "--file", &config]);
    let mut dry = import.clone();
    dry.push("--dry-run");
    server.run(&dry).ok();
    server.run(&import).ok();

    // Reads, in every format.
    for format in ["json", "yaml", "table"] {
        server.run(&["pullsecret", "list", "-o", format]).ok();
        for name in ["ghcr", "custom", "hub", "quay-io-acme"] {
            server
                .run(&with_scope(&["pullsecret", "get", name, "-o", format]))
                .ok();
        }
        server.run(&["audit", "list", "-o", format]).ok();
        server.run(&["token", "list", "-o", format]).ok();
    }
    server
        .run(&with_scope(&["image", "resolve", "ghcr.io/acme/api:v1"]))
        .ok();

    // The releases: these must contain the canaries.
    let mut released = Vec::new();
    for (target, format) in [
        ("k8s-secret", "json"),
        ("k8s-secret", "yaml"),
        ("docker-config", "json"),
        ("auth-json", "json"),
    ] {
        let mut render = with_scope(&["render", target, "-o", format]);
        for name in ["ghcr", "custom", "hub", "quay-io-acme"] {
            render.extend(["--from-pull-secret", name]);
        }
        released.push(server.run(&render).ok().clone());
    }
    // A delete after all that, to leave a tombstone if there is one.
    server
        .run(&with_scope(&["pullsecret", "delete", "custom"]))
        .ok();
    released
}

#[track_caller]
fn assert_absent(what: &str, bytes: &[u8], c: &Canaries) {
    for (kind, secret) in c.all() {
        if let Some(form) = find_secret(bytes, secret) {
            panic!(
                "the {kind} canary leaked into {what} (as {form:?}):\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[track_caller]
fn assert_data_dir_clean(server: &Server, c: &Canaries, when: &str) {
    let files = files_under(&server.data_dir);
    assert!(
        files.iter().any(|f| f.ends_with("regcred.db")),
        "no database in {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).expect("read data file");
        assert_absent(&format!("{} ({when})", file.display()), &bytes, c);
    }
}

/// The search itself: it finds a secret in every encoding a leak could take.
#[test]
fn the_search_finds_every_encoding() {
    use fixture::base64;
    let secret = canary("self");
    let hits = [
        format!("plain {secret} text"),
        base64(format!("user:{secret}").as_bytes()),
        base64(format!("ab:{secret}").as_bytes()),
        base64(format!(r#"{{"auths":{{"x":{{"password":"{secret}"}}}}}}"#).as_bytes()),
        secret.bytes().map(|b| format!("{b:02x}")).collect(),
        format!("\u{1b}[3mpassword\u{1b}[0m=\"{secret}\""),
    ];
    for hit in &hits {
        assert!(
            find_secret(hit.as_bytes(), &secret).is_some(),
            "missed in {hit:?}"
        );
    }
    let near_misses = [
        secret[..secret.len() - 1].to_owned(),
        base64(b"user:something-else"),
    ];
    for miss in &near_misses {
        assert!(
            find_secret(miss.as_bytes(), &secret).is_none(),
            "false hit in {miss:?}"
        );
    }
}

#[test]
fn canary_passwords_appear_only_where_released() {
    let mut server = Server::start();
    project_and_location(&server, P, L);
    let c = Canaries {
        ghcr: canary("ghcr"),
        custom: canary("custom"),
        docker: canary("docker"),
        imported: canary("imported"),
    };
    let released = exercise(&server, &c);

    // The search works: every canary is found in what render released.
    let all_released: String = released.iter().map(|o| o.stdout.as_str()).collect();
    for (kind, secret) in c.all() {
        assert!(
            find_secret(all_released.as_bytes(), secret).is_some(),
            "the {kind} canary is not in the rendered output, so the search proves nothing"
        );
    }
    for (i, out) in released.iter().enumerate() {
        for (kind, secret) in c.all() {
            assert!(
                find_secret(out.stdout.as_bytes(), secret).is_some(),
                "render #{i} lacks {kind}:\n{}",
                out.stdout
            );
        }
        assert_absent(
            &format!("stderr of `{}`", out.label),
            out.stderr.as_bytes(),
            &c,
        );
    }

    let transcript = server.transcript();
    assert!(
        transcript.len() > 40,
        "only {} commands ran",
        transcript.len()
    );
    for out in &transcript {
        assert_absent(
            &format!("stderr of `{}`", out.label),
            out.stderr.as_bytes(),
            &c,
        );
        if out.label.contains("--from-pull-secret") {
            continue;
        }
        assert_absent(
            &format!("stdout of `{}`", out.label),
            out.stdout.as_bytes(),
            &c,
        );
    }

    assert_data_dir_clean(&server, &c, "while serving");
    let status = server.stop().expect("running");
    assert!(status.success(), "{status}");
    assert_data_dir_clean(&server, &c, "after shutdown");

    let log = std::fs::read(&server.log).expect("server log");
    assert!(
        log.len() > 1000,
        "the debug log is suspiciously short:\n{}",
        String::from_utf8_lossy(&log)
    );
    assert!(
        String::from_utf8_lossy(&log).contains("pullSecret.render"),
        "the log does not show the requests, so it proves nothing"
    );
    assert_absent("the server log", &log, &c);
    assert_absent(
        "the server's stdout",
        &std::fs::read(&server.stdout_log).expect("stdout log"),
        &c,
    );

    // The other secrets the server holds: access tokens (stored hashed) and the master key.
    let read = |name: &str| {
        std::fs::read_to_string(server.data_dir.join(name))
            .expect("data file")
            .trim()
            .to_owned()
    };
    let viewer_token = transcript
        .iter()
        .find(|o| o.label.contains("\"token\" \"create\""))
        .map(|o| o.json()["secret"].as_str().expect("secret").to_owned())
        .expect("a token was created");
    let others = [
        ("admin token", read("admin.token")),
        ("viewer token", viewer_token),
        ("master key", read("master.key")),
    ];
    let mut places = vec![("the server log".to_owned(), log)];
    for file in files_under(&server.data_dir) {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with("regcred.db") {
            places.push((name, std::fs::read(&file).expect("read")));
        }
    }
    for (what, secret) in &others {
        assert!(
            secret.len() >= 32,
            "{what} is too short to search for: {secret:?}"
        );
        for (place, bytes) in &places {
            if let Some(form) = find_secret(bytes, secret) {
                panic!("the {what} is in {place} (as {form:?})");
            }
        }
    }
}
