//! `regcred serve` on PostgreSQL end to end, and the two store maintenance commands: the
//! pull-secret lifecycle through the CLI with `--database-url postgres://…` (each test on a
//! database of its own), a clear error and exit code 7 when the database cannot be reached,
//! `regcred admin migrate-store` copying a SQLite store that the server then serves from
//! PostgreSQL with no plaintext secret in the database dump, and `regcred admin backup` taking a
//! snapshot that another server opens.

mod fixture;

use std::process::Command;

use fixture::{base64, canary, find_secret, mode, project_and_location, Server};
use regcred_testkit::PostgresDb;
use serde_json::Value;

const P: &str = "acme";
const L: &str = "local";

fn scoped<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--project", P, "--location", L]);
    v
}

fn create(server: &Server, name: &str, password: &str) -> Value {
    create_at(server, name, "ghcr.io", password)
}

fn create_at(server: &Server, name: &str, host: &str, password: &str) -> Value {
    server
        .cli(&scoped(&[
            "pullsecret",
            "create",
            "--name",
            name,
            "--server",
            host,
            "--username",
            "acme-deploy",
            "--password-stdin",
        ]))
        .stdin(password)
        .run()
        .ok()
        .json()
}

fn rendered_auth(server: &Server, name: &str) -> Value {
    let rendered: Value = server
        .run(&scoped(&[
            "render",
            "docker-config",
            "--from-pull-secret",
            name,
        ]))
        .ok()
        .json();
    rendered["auths"]["ghcr.io"]["auth"].clone()
}

/// `pg_dump` of the whole database, as text.
fn dump(db: &PostgresDb) -> Vec<u8> {
    let out = Command::new("pg_dump")
        .arg("--dbname")
        .arg(db.url())
        .output()
        .expect("pg_dump (Debian package postgresql-client, installed by scripts/setup)");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_creates_gets_lists_rotates_and_deletes() {
    let db = PostgresDb::create().await;
    let server = Server::start_with(&["--database-url", db.url()]);
    assert!(
        !server.data_dir.join("regcred.db").exists(),
        "no SQLite file beside a PostgreSQL store"
    );
    project_and_location(&server, P, L);
    let first = canary("pg-first");
    let created = create(&server, "ghcr", &first);
    assert_eq!(created["created"], true);
    assert_eq!(created["pullSecret"]["revision"], 1);
    let id = created["pullSecret"]["id"].as_str().unwrap().to_owned();

    let got = server
        .run(&scoped(&["pullsecret", "get", "ghcr"]))
        .ok()
        .json();
    assert_eq!(got["id"], id.as_str());
    let list = server.run(&["pullsecret", "list"]).ok().json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    let second = canary("pg-second");
    let rotated = create(&server, "ghcr", &second);
    assert_eq!(rotated["created"], false);
    assert_eq!(rotated["pullSecret"]["revision"], 2);
    assert_eq!(
        rendered_auth(&server, "ghcr"),
        base64(format!("acme-deploy:{second}").as_bytes())
    );

    // What the server wrote is in PostgreSQL, sealed.
    let text = dump(&db);
    for secret in [&first, &second] {
        assert_eq!(find_secret(&text, secret), None, "plaintext in the dump");
    }
    assert!(
        String::from_utf8_lossy(&text).contains(&id),
        "the pull secret is in the PostgreSQL database"
    );

    let deleted = server
        .run(&scoped(&["pullsecret", "delete", "ghcr", "--yes"]))
        .ok()
        .json();
    assert_eq!(deleted["id"], id.as_str());
    server.run(&scoped(&["pullsecret", "get", "ghcr"])).code(4);
    let audit = server.run(&["audit", "list"]).ok().json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    let count = |action: &str| actions.iter().filter(|a| **a == action).count();
    assert_eq!(
        count("pullSecret.create"),
        2,
        "create and rotation: {actions:?}"
    );
    assert_eq!(count("pullSecret.delete"), 1, "{actions:?}");
}

#[test]
fn serve_with_an_unreachable_database_fails_clearly_with_exit_7() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://regcred:hunter2-pw@127.0.0.1:{port}/regcred");
    let out = fixture::Cmd::new(&[
        "--data-dir",
        &dir.path().display().to_string(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &url,
    ])
    .run();
    out.code(7);
    let err = out.error_message().unwrap_or_default().to_owned();
    assert!(err.contains("unavailable"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        !err.contains("hunter2-pw"),
        "the password is never shown: {err}"
    );
    assert!(
        !dir.path().join("master.key").exists(),
        "nothing is created before the store is there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_sqlite_into_postgres_which_serve_then_reads() {
    let mut server = Server::start();
    project_and_location(&server, P, L);
    let first = canary("migrate-first");
    let second = canary("migrate-second");
    let id = create(&server, "ghcr", &first)["pullSecret"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    create(&server, "ghcr", &second);
    create_at(&server, "quay", "quay.io", &canary("migrate-other"));
    let audit_before = server.run(&["audit", "list"]).ok().json();
    server.stop();

    let db = PostgresDb::create().await;
    let copied = server
        .run(&["admin", "migrate-store", "--to", db.url(), "-o", "json"])
        .ok()
        .json();
    let rows = |table: &str| {
        copied
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} in {copied}"))["rows"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(rows("pull_secrets"), 2);
    assert_eq!(rows("projects"), 1);
    assert!(rows("audit_events") >= 5, "{copied}");

    // A second copy into the same database is refused: it is not empty any more.
    let again = server.run(&["admin", "migrate-store", "--to", db.url()]);
    again.code(6);
    assert!(
        again
            .error_message()
            .unwrap_or_default()
            .contains("not empty"),
        "{:?}",
        again.error_message()
    );

    server.start_again_with(&["--database-url", db.url()]);
    let got = server
        .run(&scoped(&["pullsecret", "get", "ghcr"]))
        .ok()
        .json();
    assert_eq!(got["id"], id.as_str(), "ids are kept");
    assert_eq!(got["revision"], 2, "revisions are kept");
    assert_eq!(
        rendered_auth(&server, "ghcr"),
        base64(format!("acme-deploy:{second}").as_bytes()),
        "sealed material opens with the same master key"
    );
    let audit_after = server.run(&["audit", "list"]).ok().json();
    let ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["id"].as_i64())
            .collect()
    };
    let (before, after) = (ids(&audit_before), ids(&audit_after));
    assert!(
        before.iter().all(|id| after.contains(id)),
        "audit events keep their ids: {before:?} in {after:?}"
    );
    // New events continue after the copied ones.
    create(&server, "ghcr", &canary("migrate-third"));
    let newest = ids(&server.run(&["audit", "list"]).ok().json());
    assert!(newest[0] > before[0], "{newest:?} after {before:?}");

    let text = dump(&db);
    for secret in [&first, &second] {
        assert_eq!(find_secret(&text, secret), None, "plaintext in the dump");
    }
}

#[test]
fn backup_writes_a_private_snapshot_another_server_opens_and_never_overwrites() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let secret = canary("backup");
    create(&server, "ghcr", &secret);
    let file = server.scratch("backup.db");
    let out = server
        .run(&["admin", "backup", &file.display().to_string(), "-o", "json"])
        .ok()
        .json();
    assert_eq!(out["file"], file.display().to_string());
    assert_eq!(mode(&file), 0o600, "the snapshot is private");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        find_secret(&bytes, &secret),
        None,
        "plaintext in the backup"
    );

    let again = server.run(&["admin", "backup", &file.display().to_string()]);
    again.code(6);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "the file is untouched"
    );

    // The snapshot is a whole store: a server on it, with the master key kept apart, reads the
    // pull secret back.
    let key = server.data_dir.join("master.key");
    let token = server.data_dir.join("admin.token");
    let restored = Server::start_with(&[
        "--database-url",
        &format!("sqlite:{}", file.display()),
        "--master-key-file",
        &key.display().to_string(),
    ]);
    let mut render = scoped(&["render", "docker-config", "--from-pull-secret", "ghcr"]);
    let token_arg = token.display().to_string();
    render.extend(["--token-file", &token_arg]);
    let rendered: Value = restored.run(&render).ok().json();
    assert_eq!(
        rendered["auths"]["ghcr.io"]["auth"],
        base64(format!("acme-deploy:{secret}").as_bytes())
    );
}
