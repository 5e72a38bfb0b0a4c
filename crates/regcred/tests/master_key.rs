//! Master-key rotation (`regcred admin rotate-master-key`) on SQLite and on PostgreSQL, while
//! the server runs: the running server goes on rendering the same credentials (the data key is
//! unchanged); afterwards the old key no longer opens the store — `regcred serve` with it stops
//! at once with an error naming both keys — and the new key opens everything, rendering byte for
//! byte what was rendered before; the rotation is audited; rotating to the current key, or
//! without the current key, is refused and changes nothing.

mod fixture;

use fixture::{project_and_location, Cmd, Out, Server};
use regcred_testkit::PostgresDb;

const P: &str = "acme";
const L: &str = "local";

fn rendered(server: &Server) -> String {
    server
        .run(&[
            "render",
            "docker-config",
            "--from-pull-secret",
            "ghcr",
            "--project",
            P,
            "--location",
            L,
        ])
        .ok()
        .stdout
        .clone()
}

fn rotate(server: &Server, store: &[&str], new_key: &str) -> Out {
    let mut args = vec!["admin", "rotate-master-key", "--new-key-file", new_key];
    args.extend_from_slice(store);
    server.run(&args)
}

/// `regcred serve` on `server`'s data directory with `extra`, expected to refuse to start.
fn serve_refused(server: &Server, extra: &[&str]) -> Out {
    let data_dir = server.data_dir.display().to_string();
    let mut args = vec![
        "--data-dir",
        data_dir.as_str(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let out = Cmd::new(&args).run();
    assert_ne!(out.code, Some(0), "{out:?}");
    out
}

fn rotation_keeps_everything_open_under_the_new_key_only(store: &[&str]) {
    let mut server = Server::start_with(store);
    project_and_location(&server, P, L);
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            P,
            "--location",
            L,
            "--name",
            "ghcr",
            "--server",
            "ghcr.io",
            "--username",
            "acme-deploy",
            "--password-stdin",
        ])
        .stdin("rotation-canary-pw")
        .run()
        .ok();
    let before = rendered(&server);
    let old_key = server.data_dir.join("master.key").display().to_string();
    let new_key = server.scratch("master.key.new").display().to_string();

    // Refused: the current key as the new one, or no current key at all.
    let same = rotate(&server, store, &old_key);
    assert_eq!(same.code, Some(6), "{same:?}");
    let missing = server.scratch("missing.key").display().to_string();
    let mut without = store.to_vec();
    without.extend(["--master-key-file", missing.as_str()]);
    let unkeyed = rotate(&server, &without, &new_key);
    assert_ne!(unkeyed.code, Some(0), "{unkeyed:?}");
    assert!(
        unkeyed.stderr.contains("no master key at"),
        "{}",
        unkeyed.stderr
    );

    // Online: the running server keeps its data key and renders on.
    let out = rotate(&server, store, &new_key);
    out.ok();
    assert!(
        out.stderr.contains("no longer opens this store"),
        "{}",
        out.stderr
    );
    assert_eq!(rendered(&server), before);
    let audit = server.run(&["audit", "list"]).ok().stdout.clone();
    assert!(audit.contains("admin.rotate-master-key"), "{audit}");

    // The old key is retired: a start with it stops, naming both keys.
    server.stop();
    let refused = serve_refused(&server, store);
    assert!(
        refused
            .stderr
            .contains("is not the key this database was created with"),
        "{}",
        refused.stderr
    );
    // The new key opens everything.
    let mut with_new = store.to_vec();
    with_new.extend(["--master-key-file", new_key.as_str()]);
    server.start_again_with(&with_new);
    assert_eq!(rendered(&server), before);
}

#[test]
fn rotation_on_sqlite() {
    rotation_keeps_everything_open_under_the_new_key_only(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_postgres() {
    let db = PostgresDb::create().await;
    rotation_keeps_everything_open_under_the_new_key_only(&["--database-url", db.url()]);
}
