//! Behaviour specific to the SQLite backend, checked on real database files. Schema migrations:
//! a fresh database records every known migration once, reopening an existing database applies
//! nothing again and keeps its data, and a database that a newer regcred has migrated is refused
//! with `StoreError::Schema` instead of being misread (the bookkeeping table is read with plain
//! SQL, since the store trait deliberately does not expose it). Sharing: two stores opened on
//! one file — as during a restart that overlaps the old process — both migrate it once and keep
//! writing without "database is locked" errors, and temporary stores never share data.

use std::path::Path;
use std::sync::Arc;

use regcred_store::migrate::SQLITE;
use regcred_store::{AuditRecord, ProjectRecord, SqliteStore, Store, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

/// `(version, name, applied_at)` rows of `schema_migrations`, oldest first.
async fn applied(path: &Path) -> Vec<(i64, String, i64)> {
    let mut db = raw(path).await;
    let rows =
        sqlx::query_as("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
            .fetch_all(&mut db)
            .await
            .unwrap();
    db.close().await.unwrap();
    rows
}

/// Runs `sql` on the file directly, behind the store's back.
async fn execute(path: &Path, sql: &str) {
    let mut db = raw(path).await;
    sqlx::query(sql).execute(&mut db).await.unwrap();
    db.close().await.unwrap();
}

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

fn project(name: &str) -> ProjectRecord {
    ProjectRecord {
        name: name.to_owned(),
        description: None,
        created_at: 1,
        created_by: "alice".to_owned(),
    }
}

fn audit() -> AuditRecord {
    AuditRecord {
        id: 0,
        time: 1,
        actor: "alice".to_owned(),
        channel: "cli".to_owned(),
        action: "project.create".to_owned(),
        project: Some("alpha".to_owned()),
        target: "alpha".to_owned(),
        outcome: "ok".to_owned(),
        detail: "{}".to_owned(),
    }
}

#[tokio::test]
async fn fresh_database_records_every_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    drop(SqliteStore::open(&path).await.unwrap());

    let rows = applied(&path).await;
    let recorded: Vec<(i64, &str)> = rows.iter().map(|(v, n, _)| (*v, n.as_str())).collect();
    let known: Vec<(i64, &str)> = SQLITE.iter().map(|m| (m.version, m.name)).collect();
    assert_eq!(recorded, known);
    assert!(SQLITE.windows(2).all(|w| w[0].version < w[1].version));
}

#[tokio::test]
async fn reopening_an_existing_database_does_not_reapply_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .create_project(&project("alpha"), &audit())
        .await
        .unwrap();
    drop(store);
    let first = applied(&path).await;

    // The initial migration creates tables without IF NOT EXISTS, so running it again would
    // fail the open; the recorded rows (with their times) must stay as they were.
    for _ in 0..2 {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.get_project("alpha").await.unwrap(),
            Some(project("alpha"))
        );
        assert_eq!(store.list_audit(None, None, 10).await.unwrap().len(), 1);
        drop(store);
        assert_eq!(applied(&path).await, first);
    }
}

/// Regression: migrations were chosen from a list of applied versions read outside the
/// migration's transaction, which itself began deferred; two processes starting on a new data
/// directory at once both ran `0001_init` and one failed with "table meta already exists" (or
/// "database is locked").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opening_a_new_file_twice_at_once_migrates_it_once() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regcred.db");
        let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
        a.expect("first open");
        b.expect("second open");
        let versions: Vec<i64> = applied(&path).await.iter().map(|r| r.0).collect();
        let known: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        assert_eq!(versions, known);
    }
}

#[tokio::test]
async fn database_at_a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .create_project(&project("alpha"), &audit())
        .await
        .unwrap();
    drop(store);

    execute(
        &path,
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 2)",
    )
    .await;
    let before = applied(&path).await;

    let err = SqliteStore::open(&path).await.unwrap_err();
    match &err {
        StoreError::Schema(message) => {
            assert!(
                message.contains("999"),
                "{message:?} should name the version"
            );
        }
        other => panic!("expected StoreError::Schema, got {other:?}"),
    }
    assert_eq!(
        applied(&path).await,
        before,
        "a refused open changes nothing"
    );
}

/// Regression: write transactions began deferred, so a transaction that reads before it writes
/// (`delete_project`, `delete_location`, `delete_pull_secret`) failed with `SQLITE_BUSY` or
/// `SQLITE_BUSY_SNAPSHOT` ("database is locked") instead of waiting, whenever another connection
/// outside the store's in-process lock wrote to the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_stores_on_one_file_do_not_fail_with_database_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let second: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    // Many rounds from each side, so that the two stores' transactions interleave.
    let handles: Vec<_> = (0..16)
        .map(|task| {
            let store = if task % 2 == 0 { &first } else { &second }.clone();
            tokio::spawn(async move {
                for round in 0..25 {
                    let name = format!("project-{task}-{round}");
                    store.create_project(&project(&name), &audit()).await?;
                    store.delete_project(&name, 2, &audit()).await?;
                }
                Ok::<(), StoreError>(())
            })
        })
        .collect();
    let mut failures = Vec::new();
    for handle in handles {
        if let Err(e) = handle.await.expect("task panicked") {
            failures.push(format!("{e:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(first.list_projects().await.unwrap(), vec![]);
    assert_eq!(first.list_audit(None, None, 1000).await.unwrap().len(), 800);
}

#[tokio::test]
async fn temporary_stores_are_independent() {
    let a = SqliteStore::temporary().await.unwrap();
    let b = SqliteStore::temporary().await.unwrap();
    a.create_project(&project("alpha"), &audit()).await.unwrap();
    assert_eq!(a.list_projects().await.unwrap(), vec![project("alpha")]);
    assert_eq!(b.list_projects().await.unwrap(), vec![]);
}

/// Regression (issue 10): check results and mint errors of earlier versions quoted registries'
/// and providers' free text, which can echo credentials. Migration 7 forgets them: stored
/// verifications, `last_error` of minted credentials and the `lastError` of expiry warnings.
#[tokio::test]
async fn migration_7_forgets_free_text_registries_and_providers_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    drop(SqliteStore::open(&path).await.unwrap());

    // Back to schema 6, with what an older regcred stored.
    let canary = "echoed-canary-password";
    let mut db = raw(&path).await;
    for sql in [
        "DELETE FROM schema_migrations WHERE version >= 7".to_owned(),
        "INSERT INTO projects VALUES ('alpha', NULL, 1, 'alice')".to_owned(),
        "INSERT INTO locations VALUES ('local', 'docker', '{}', 1, 'alice')".to_owned(),
        format!(
            "INSERT INTO pull_secrets (id, project, location, name, kind, server, params, \
             fingerprint, revision, key_id, nonce, ciphertext, created_at, created_by, \
             updated_at, updated_by, verification) VALUES ('ps_1', 'alpha', 'local', 'ghcr', \
             'custom', 'r.example', '{{}}', 'f', 1, 'k', x'00', x'00', 1, 'alice', 1, 'alice', \
             '{{\"outcome\":\"unauthorized\",\"detail\":\"401: bad {canary}\"}}')"
        ),
        format!(
            "INSERT INTO minted_credentials (pull_secret_id, revision, attempted_at, failures, \
             last_error, next_refresh_at) VALUES ('ps_1', 1, 1, 1, 'ECR: {canary}', 2)"
        ),
        format!(
            "INSERT INTO audit_events (time, actor, channel, action, project, target, outcome, \
             detail) VALUES (1, 'regcred', 'system', 'credential.expiring', 'alpha', 'a/b/c', \
             'warning', '{{\"id\":\"ps_1\",\"failures\":1,\"lastError\":\"ECR: {canary}\"}}')"
        ),
    ] {
        sqlx::query(&sql).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();

    drop(SqliteStore::open(&path).await.unwrap());

    let mut db = raw(&path).await;
    let (verification,): (Option<String>,) =
        sqlx::query_as("SELECT verification FROM pull_secrets WHERE id = 'ps_1'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(verification, None);
    let (last_error,): (Option<String>,) =
        sqlx::query_as("SELECT last_error FROM minted_credentials WHERE pull_secret_id = 'ps_1'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(last_error, None);
    let (detail,): (String,) =
        sqlx::query_as("SELECT detail FROM audit_events WHERE action = 'credential.expiring'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(detail, r#"{"id":"ps_1","failures":1}"#);
    db.close().await.unwrap();
}

/// `(version, checksum)` rows of `schema_migrations`, oldest first.
async fn checksums(path: &Path) -> Vec<(i64, Option<String>)> {
    let mut db = raw(path).await;
    let rows = sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    rows
}

/// The migration runner kept no checksums: a migration edited after it was applied went
/// unnoticed, and the database silently lacked the schema the code expects. Now every applied
/// migration records the checksum of its SQL, and a database whose record differs is refused,
/// naming the migration.
#[tokio::test]
async fn a_migration_applied_with_other_sql_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let expected: Vec<(i64, Option<String>)> = SQLITE
        .iter()
        .map(|m| (m.version, Some(m.checksum())))
        .collect();
    assert_eq!(checksums(&path).await, expected);

    execute(
        &path,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 3",
    )
    .await;
    match SqliteStore::open(&path).await.unwrap_err() {
        StoreError::Schema(message) => {
            assert!(message.contains("migration 3"), "{message}");
        }
        other => panic!("expected StoreError::Schema, got {other:?}"),
    }
}

/// A database made before checksums were kept gets the column, filled with this binary's
/// checksums, and opens as before.
#[tokio::test]
async fn a_database_from_before_checksums_gets_them_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .create_project(&project("alpha"), &audit())
        .await
        .unwrap();
    drop(store);
    execute(&path, "ALTER TABLE schema_migrations DROP COLUMN checksum").await;

    let store = SqliteStore::open(&path).await.unwrap();
    assert!(store.get_project("alpha").await.unwrap().is_some());
    drop(store);
    assert!(
        checksums(&path)
            .await
            .iter()
            .zip(SQLITE)
            .all(|((v, c), m)| *v == m.version && c.as_deref() == Some(m.checksum().as_str())),
        "{:?}",
        checksums(&path).await
    );
}

/// `backup_to` copies a store in use into a new file that opens as a store with the same rows,
/// and never overwrites an existing file.
#[tokio::test]
async fn a_backup_is_a_store_with_the_same_rows_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    {
        let source = SqliteStore::open(&dir.path().join("live.db"))
            .await
            .unwrap();
        source
            .create_project(&project("alpha"), &audit())
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        source.backup_to(&copy).await.unwrap();
        let opened = SqliteStore::open(&copy).await.unwrap();
        assert_eq!(
            opened.list_projects().await.unwrap(),
            source.list_projects().await.unwrap()
        );
        let before = std::fs::read(&copy).unwrap();
        assert!(source.backup_to(&copy).await.is_err(), "the file exists");
        assert_eq!(std::fs::read(&copy).unwrap(), before);
    }
}
