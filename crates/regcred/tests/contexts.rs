//! CLI contexts against a real `regcred serve`: `regcred login` saves a named context (the token
//! FILE's path, never the token) in `$XDG_CONFIG_HOME/regcred/` with private modes, the CLI then
//! needs no flags, `context use|list|current` choose and show, and flags beat the environment,
//! which beats the current context. An explicit data directory names the local server, so a
//! context is not consulted then.

mod fixture;

use std::path::{Path, PathBuf};

use fixture::{Cmd, Out, Server};
use serde_json::Value;

/// A CLI with its own config home and an empty home (so no data directory is found there).
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        User {
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn config(&self) -> PathBuf {
        self.home.path().join("config")
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(args)
            .env("HOME", self.home.path().join("home"))
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_DATA_HOME", self.home.path().join("data"))
    }

    fn run(&self, args: &[&str]) -> Out {
        self.cmd(args).run()
    }

    fn contexts_text(&self) -> String {
        std::fs::read_to_string(self.config().join("regcred/contexts.json")).unwrap_or_default()
    }
}

/// A token file (0600) holding the server's bootstrap admin token.
fn admin_token_file(server: &Server, dir: &Path) -> (PathBuf, String) {
    let token = std::fs::read_to_string(server.data_dir.join("admin.token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let path = dir.join("admin.token");
    std::fs::write(&path, format!("{token}\n")).expect("token file");
    (path, token)
}

fn projects(out: &Out) -> Vec<String> {
    out.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn login_saves_a_context_the_cli_then_uses() {
    let server = Server::start();
    server.run(&["project", "create", "acme"]).ok();
    let user = User::new();
    let (token_file, token) = admin_token_file(&server, user.home.path());
    // Any CA: the server speaks plain HTTP here (tls_serving.rs uses a context's CA over TLS).
    let test_ca = regcred_testkit::TestCa::new();
    let ca = user.home.path().join("ca.pem");
    std::fs::write(&ca, test_ca.ca_pem()).expect("ca");

    // The token file is given relative to the working directory and saved absolute.
    let out = user
        .cmd(&[
            "login",
            "--api-url",
            &server.url,
            "--token-file",
            "admin.token",
            "--ca-file",
            "ca.pem",
            "--name",
            "lab",
            "-o",
            "json",
        ])
        .current_dir(user.home.path())
        .run();
    let saved = out.ok().json();
    assert_eq!(saved[0]["name"], "lab");
    assert_eq!(saved[0]["current"], true);
    assert_eq!(saved[0]["apiUrl"], server.url.as_str());
    assert_eq!(saved[0]["tokenFile"], token_file.to_str().expect("utf-8"));
    assert_eq!(saved[0]["caFile"], ca.to_str().expect("utf-8"));
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));

    let dir = user.config().join("regcred");
    assert_eq!(fixture::mode(&dir), 0o700);
    assert_eq!(fixture::mode(&dir.join("contexts.json")), 0o600);
    let text = user.contexts_text();
    assert!(
        !text.contains(&token),
        "the token itself was saved:\n{text}"
    );
    assert!(text.contains(token_file.to_str().expect("utf-8")), "{text}");

    // No flags, no environment: the context's server and token.
    assert_eq!(projects(user.run(&["project", "list"]).ok()), ["acme"]);
    let current = user.run(&["context", "current", "-o", "json"]).ok().json();
    assert_eq!(current[0]["name"], "lab");

    // A second context, on an address where nothing listens (no token: the server is not
    // asked), becomes current; the CLI then fails naming the context.
    user.run(&["login", "--api-url", "http://127.0.0.1:9", "--name", "dead"])
        .ok();
    let out = user.run(&["project", "list"]);
    out.code(7);
    let message = out.error_message().unwrap_or_default();
    assert!(
        message.contains("http://127.0.0.1:9") && message.contains("current context dead"),
        "{message}"
    );
    let listed = user.run(&["context", "list", "-o", "json"]).ok().json();
    let rows: Vec<(String, bool)> = listed
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["current"] == Value::Bool(true),
            )
        })
        .collect();
    assert_eq!(rows, [("dead".to_owned(), true), ("lab".to_owned(), false)]);

    // Flags and the environment win over the current context.
    let flagged = user.run(&[
        "project",
        "list",
        "--api-url",
        &server.url,
        "--token-file",
        token_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(projects(flagged.ok()), ["acme"]);
    let from_env = user
        .cmd(&["project", "list"])
        .env("REGCRED_API_URL", &server.url)
        .env("REGCRED_TOKEN", &token)
        .run();
    assert_eq!(projects(from_env.ok()), ["acme"]);
    // An explicit data directory names the local server: the context is not consulted.
    let local = user.run(&[
        "project",
        "list",
        "--data-dir",
        server.data_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(projects(local.ok()), ["acme"]);

    // Back to lab. A flag beats the environment, which beats the context's token file.
    user.run(&["context", "use", "lab"]).ok();
    let wrong = "rc_0000000000000000000000000000000000000000";
    user.cmd(&["project", "list"])
        .env("REGCRED_TOKEN", wrong)
        .run()
        .code(5);
    let out = user
        .cmd(&[
            "project",
            "list",
            "--token-file",
            token_file.to_str().expect("utf-8"),
        ])
        .env("REGCRED_TOKEN", wrong)
        .run();
    assert_eq!(projects(out.ok()), ["acme"]);
    user.run(&["project", "list", "--token", wrong]).code(5);
    // The flag's address with the context's token never happens: a context's token goes to
    // its own server only.
    let elsewhere = user.run(&["project", "list", "--api-url", &server.url]);
    elsewhere.code(5);

    // The environment's address beats the context's too.
    let out = user
        .cmd(&["project", "list"])
        .env("REGCRED_API_URL", "http://127.0.0.1:9")
        .run();
    out.code(7);
    assert!(
        out.error_message()
            .unwrap_or_default()
            .contains("from REGCRED_API_URL"),
        "{}",
        out.stderr
    );
}

#[test]
fn login_refuses_what_it_cannot_save_safely() {
    let server = Server::start();
    let user = User::new();
    let (token_file, token) = admin_token_file(&server, user.home.path());
    let token_file = token_file.to_str().expect("utf-8");

    // A token on the command line is never saved.
    let out = user.run(&["login", "--api-url", &server.url, "--token", &token]);
    out.code(2);
    assert!(!out.stderr.contains(&token));
    // A wrong token is found before anything is saved.
    let bad = user.home.path().join("bad.token");
    std::fs::write(&bad, "rc_0000000000000000000000000000000000000000\n").expect("bad token");
    user.run(&[
        "login",
        "--api-url",
        &server.url,
        "--token-file",
        bad.to_str().expect("utf-8"),
    ])
    .code(5);
    // Credentials in the URL, a missing token file, a bad name.
    user.run(&[
        "login",
        "--api-url",
        "http://user:pw@127.0.0.1:9",
        "--token-file",
        token_file,
    ])
    .code(2);
    assert_ne!(
        user.run(&[
            "login",
            "--api-url",
            &server.url,
            "--token-file",
            "/nonexistent/token",
        ])
        .code,
        Some(0)
    );
    user.run(&[
        "login",
        "--api-url",
        &server.url,
        "--token-file",
        token_file,
        "--name",
        "no spaces",
    ])
    .code(2);
    assert_eq!(user.contexts_text(), "", "a refused login saved something");

    // Without --name, the context is named after the host and port.
    user.run(&[
        "login",
        "--api-url",
        &server.url,
        "--token-file",
        token_file,
    ])
    .ok();
    let name = server.url.trim_start_matches("http://");
    let current = user.run(&["context", "current", "-o", "json"]).ok().json();
    assert_eq!(current[0]["name"], name);

    // Unknown names are not found (exit 4) and change nothing.
    user.run(&["context", "use", "nope"]).code(4);
    let current = user.run(&["context", "current", "-o", "json"]).ok().json();
    assert_eq!(current[0]["name"], name);
    let fresh = User::new();
    fresh.run(&["context", "current"]).code(4);
    let listed = fresh.run(&["context", "list", "-o", "json"]).ok().json();
    assert_eq!(listed, Value::Array(vec![]));
}
