//! The embedded SQLite backend: one database file in the data directory, WAL journal, foreign
//! keys on. Writes are serialized by one in-process lock, because SQLite allows one writer and a
//! deferred transaction that upgrades to a writer can fail with `SQLITE_BUSY` instead of waiting.

mod reader;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::Mutex;

use crate::cache::{self, Cache, Key};
use crate::migrate::{mismatch, Migration, ADD_CHECKSUM, BOOKKEEPING, SQLITE};
use crate::*;
use reader::{rows, Columns, Reader};

/// The SQLite store.
pub struct SqliteStore {
    pool: SqlitePool,
    write: Mutex<()>,
    /// The read path of the reads every request makes, and of whole-location reads.
    reader: Arc<Reader>,
    /// Access tokens read through this store (`crate::cache`): every change of one goes through
    /// this store, so the cache is live from the start.
    tokens: Cache<TokenRecord>,
    /// The directory of a [`SqliteStore::temporary`] store, removed with it.
    _temporary: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::open_file(path.to_owned(), None).await
    }

    /// A store in a new private temporary directory, removed when the store is dropped; for
    /// tests. Commits are not synced to disk.
    pub async fn temporary() -> Result<SqliteStore> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Backend(sqlx::Error::Io(e)))?;
        SqliteStore::open_file(dir.path().join("regcred.db"), Some(dir)).await
    }

    async fn open_file(path: PathBuf, temporary: Option<tempfile::TempDir>) -> Result<SqliteStore> {
        let synchronous = match temporary {
            Some(_) => SqliteSynchronous::Off,
            None => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Two processes creating a new file at once can find it locked while the other switches
        // it to WAL, before any busy timeout applies; that settles within milliseconds.
        let mut attempt = 0;
        let pool = loop {
            match SqliteStore::connect(options.clone()).await {
                Err(StoreError::Backend(sqlx::Error::Database(db)))
                    if attempt < 20 && db.code().is_some_and(|c| c == "5" || c == "517") =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
                }
                other => break other?,
            }
        };
        Ok(SqliteStore {
            pool,
            write: Mutex::new(()),
            reader: Reader::new(path),
            tokens: Cache::live(cache::TOKENS),
            _temporary: temporary,
        })
    }

    async fn connect(options: SqliteConnectOptions) -> Result<SqlitePool> {
        let pool = SqlitePoolOptions::new()
            .max_connections(CONNECTIONS)
            // The pool's connections are its own; a ping before each use would cost a round
            // trip to the connection's thread and find nothing.
            .test_before_acquire(false)
            // Every connection runs on a thread of its own, which inherits the scheduling
            // priority of the thread that opened it: all are opened here, by whoever opens the
            // store, and kept, so none is opened later by a delivery pass (whose threads run at
            // a lower priority) and then serves requests at that priority.
            .min_connections(CONNECTIONS)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let mut opened = Vec::new();
        for _ in 0..CONNECTIONS {
            opened.push(pool.acquire().await?);
        }
        drop(opened);
        migrate(&pool, SQLITE).await?;
        Ok(pool)
    }

    /// The connection pool, for the copy to PostgreSQL.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes a consistent snapshot of the database file to `path` while it stays in use
    /// (`VACUUM INTO`: one read transaction, so concurrent writes are either in the copy whole or
    /// not at all). The file is created private (it holds sealed material and token hashes) and
    /// must not exist: `AlreadyExists` otherwise.
    pub async fn backup_to(&self, path: &Path) -> Result<()> {
        match vault::write_private_new(path, b"") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists {
                    what: "backup file",
                    key: path.display().to_string(),
                })
            }
            Err(e) => {
                return Err(StoreError::Backend(sqlx::Error::Io(e)));
            }
        }
        let Some(target) = path.to_str() else {
            let _ = std::fs::remove_file(path);
            return Err(StoreError::Schema(format!(
                "backup path {} is not UTF-8",
                path.display()
            )));
        };
        // VACUUM INTO writes into an empty file; the file just made is ours alone.
        if let Err(e) = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
        {
            let _ = std::fs::remove_file(path);
            return Err(e.into());
        }
        Ok(())
    }

    /// Marks the unrevoked row `id` of `table` (`tokens` or `registry_keys`) revoked at `at`.
    async fn revoke(
        &self,
        table: &'static str,
        what: &'static str,
        id: &str,
        at: i64,
        audit: &AuditRecord,
    ) -> Result<()> {
        let (id, audit) = (id.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE {table} SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
                );
                let updated = sqlx::query(&sql)
                    .bind(at)
                    .bind(&id)
                    .execute(&mut **tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound { what, key: id });
                }
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    /// Runs `f` in a write transaction, committed when it returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: for<'t> FnOnce(
                &'t mut Transaction<'static, Sqlite>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T>> + Send + 't>,
            > + Send,
        T: Send,
    {
        let _guard = self.write.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(fence) = fence::current() {
            let held = sqlx::query(&fence::check_sql(NOW_MS))
                .bind(&fence.name)
                .bind(&fence.holder)
                .bind(fence.epoch)
                .fetch_optional(&mut *tx)
                .await?;
            if held.is_none() {
                return Err(fence.refused());
            }
        }
        let out = f(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// Runs `read` in one read transaction: its statements see one snapshot and take SQLite's read
/// lock once (each lock and unlock of a statement on its own is a system call, under a mutex
/// every connection of the process shares). `BEGIN` and its end are prepared once per
/// connection, like every other statement of the read path; a failed read rolls back, and a
/// connection still inside a transaction is not pooled again (`Reader`).
fn in_snapshot<T>(
    c: &rusqlite::Connection,
    read: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    c.prepare_cached("BEGIN")?.execute([])?;
    let answer = read(c);
    let end = match answer {
        Ok(_) => "COMMIT",
        Err(_) => "ROLLBACK",
    };
    c.prepare_cached(end)?.execute([])?;
    answer
}

/// What a page of pull-secret views shows besides the rows ([`Store::pull_secret_facts`]).
fn facts_on(
    c: &rusqlite::Connection,
    pull_secret_ids: &[String],
    minting: &[String],
) -> Result<PullSecretFacts> {
    Ok(PullSecretFacts {
        references: rows_in(c, SELECT_REFERENCES_IN, pull_secret_ids, |r| {
            referrer_row(r)
        })?,
        minted: rows_in(c, SELECT_MINTED_IN, minting, |r| minted_row(r))?,
        deliveries: rows_in(c, SELECT_DELIVERIES_IN, pull_secret_ids, |r| {
            delivery_row(r)
        })?,
    })
}

/// The pull secret at a project, location and name (`?1`, `?2`, `?3`).
fn pull_secret_at() -> String {
    format!(
        "SELECT {PULL_SECRET_COLUMNS} FROM pull_secrets
         WHERE project = ?1 AND location = ?2 AND name = ?3"
    )
}

/// The sqlx pool's connections: writes take turns on them (`SqliteStore::write`), and the reads
/// that do not go through the reader's own connections use the rest.
const CONNECTIONS: u32 = 4;

/// The database's clock in Unix milliseconds (leases are timed by it, never by a server's).
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// The [`PutGuard`] rules for a write to `project` in `location`, read in the write's
/// transaction; `server` is the pull secret's server and id (none for a deployment).
/// The oldest other pull secret of a (project, location) with a server: one search of the
/// (project, location, server) index, whatever the scope holds.
const DUPLICATE_SERVER: &str = "SELECT name FROM pull_secrets
     WHERE project = ? AND location = ? AND server = ? AND id <> ?
     ORDER BY created_at, id LIMIT 1";

/// Whether another project has pull secrets or deployments in a location: each side of the
/// project is a range of the (location, project) index.
const LOCATION_TAKEN: &str =
    "SELECT 1 FROM (SELECT 1 FROM pull_secrets WHERE location = ?1 AND project < ?2 LIMIT 1)
     UNION ALL
     SELECT 1 FROM (SELECT 1 FROM pull_secrets WHERE location = ?1 AND project > ?2 LIMIT 1)
     UNION ALL
     SELECT 1 FROM (SELECT 1 FROM deployments WHERE location = ?1 AND project < ?2 LIMIT 1)
     UNION ALL
     SELECT 1 FROM (SELECT 1 FROM deployments WHERE location = ?1 AND project > ?2 LIMIT 1)
     LIMIT 1";

async fn check_guard(
    tx: &mut Transaction<'static, Sqlite>,
    project: &str,
    location: &str,
    server: Option<(&str, &str)>,
    guard: PutGuard,
) -> Result<()> {
    if let (true, Some((server, id))) = (guard.unique_server, server) {
        let existing: Option<String> = sqlx::query_scalar(DUPLICATE_SERVER)
            .bind(project)
            .bind(location)
            .bind(server)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(existing) = existing {
            return Err(StoreError::DuplicateServer { existing });
        }
    }
    if guard.one_project {
        let taken: Option<i64> = sqlx::query_scalar(LOCATION_TAKEN)
            .bind(location)
            .bind(project)
            .fetch_optional(&mut **tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::LocationTaken);
        }
    }
    Ok(())
}

async fn migrate(pool: &SqlitePool, migrations: &[Migration]) -> Result<()> {
    sqlx::query(BOOKKEEPING).execute(pool).await?;
    let has_checksum: bool = sqlx::query_scalar(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
    )
    .fetch_one(pool)
    .await?;
    if !has_checksum {
        // Two processes opening an old file at once: the loser's ALTER fails, and the column is
        // there all the same.
        if let Err(e) = sqlx::query(ADD_CHECKSUM).execute(pool).await {
            tracing::debug!(error = %e, "adding the checksum column");
        }
    }
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations")
            .fetch_all(pool)
            .await?;
    let applied: Vec<i64> = rows.iter().map(|(v, _)| *v).collect();
    let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(newer) = applied.iter().find(|v| **v > known) {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {newer}, newer than this regcred knows ({known}); upgrade regcred"
        )));
    }
    for (version, recorded) in &rows {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
            continue;
        };
        if let Some(why) = mismatch(m, recorded.as_deref()) {
            return Err(StoreError::Schema(why));
        }
        if recorded.is_none() {
            // Applied before checksums were kept: this binary's SQL is taken as what ran.
            sqlx::query("UPDATE schema_migrations SET checksum = $1 WHERE version = $2 AND checksum IS NULL")
                .bind(m.checksum())
                .bind(m.version)
                .execute(pool)
                .await?;
        }
    }
    for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at, checksum)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_millis())
        .bind(m.checksum())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Maps a unique-key violation of an insert to `AlreadyExists`.
fn exists_as<'k>(what: &'static str, key: &'k str) -> impl FnOnce(sqlx::Error) -> StoreError + 'k {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists {
            what,
            key: key.to_owned(),
        },
        _ => e.into(),
    }
}

/// Refuses with `InUse` while pull secrets or deployments have `column = value` (`project` or
/// `location`); each is named by the other column and its name.
async fn refuse_while_pull_secrets(
    tx: &mut Transaction<'static, Sqlite>,
    what: &'static str,
    column: &str,
    value: &str,
) -> Result<()> {
    let other = if column == "project" {
        "location"
    } else {
        "project"
    };
    let mut by = Vec::new();
    for (table, noun) in [
        ("pull_secrets", "pull secret"),
        ("deployments", "deployment"),
    ] {
        let sql =
            format!("SELECT {other}, name FROM {table} WHERE {column} = $1 ORDER BY {other}, name");
        let rows: Vec<(String, String)> = sqlx::query_as(&sql)
            .bind(value)
            .fetch_all(&mut **tx)
            .await?;
        by.extend(
            rows.into_iter()
                .map(|(scope, name)| format!("{noun} {scope}/{name}")),
        );
    }
    if by.is_empty() {
        return Ok(());
    }
    Err(StoreError::InUse {
        what,
        key: value.to_owned(),
        by,
    })
}

async fn insert_audit(tx: &mut Transaction<'static, Sqlite>, a: &AuditRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (time, actor, channel, action, project, target, outcome, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.time)
    .bind(&a.actor)
    .bind(&a.channel)
    .bind(&a.action)
    .bind(&a.project)
    .bind(&a.target)
    .bind(&a.outcome)
    .bind(&a.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn project_row(r: &impl Columns) -> Result<ProjectRecord> {
    Ok(ProjectRecord {
        name: r.col("name")?,
        description: r.col("description")?,
        created_at: r.col("created_at")?,
        created_by: r.col("created_by")?,
    })
}

fn location_row(r: &impl Columns) -> Result<LocationRecord> {
    Ok(LocationRecord {
        name: r.col("name")?,
        kind: r.col("kind")?,
        spec: r.col("spec")?,
        created_at: r.col("created_at")?,
        created_by: r.col("created_by")?,
    })
}

fn pull_secret_row(r: &impl Columns) -> Result<PullSecretRecord> {
    Ok(PullSecretRecord {
        id: r.col("id")?,
        project: r.col("project")?,
        location: r.col("location")?,
        name: r.col("name")?,
        kind: r.col("kind")?,
        server: r.col("server")?,
        username: r.col("username")?,
        email: r.col("email")?,
        params: r.col("params")?,
        fingerprint: r.col("fingerprint")?,
        revision: r.col("revision")?,
        sealed: Sealed {
            key_id: r.col("key_id")?,
            nonce: r.col("nonce")?,
            ciphertext: r.col("ciphertext")?,
        },
        created_at: r.col("created_at")?,
        created_by: r.col("created_by")?,
        updated_at: r.col("updated_at")?,
        updated_by: r.col("updated_by")?,
        verification: r.col("verification")?,
    })
}

fn deployment_row(r: &impl Columns) -> Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: r.col("id")?,
        project: r.col("project")?,
        location: r.col("location")?,
        name: r.col("name")?,
        revision: r.col("revision")?,
        spec: r.col("spec")?,
        created_at: r.col("created_at")?,
        created_by: r.col("created_by")?,
        updated_at: r.col("updated_at")?,
        updated_by: r.col("updated_by")?,
    })
}

fn token_row(r: &impl Columns) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.col("id")?,
        name: r.col("name")?,
        project: r.col("project")?,
        role: r.col("role")?,
        hash: r.col("hash")?,
        created_at: r.col("created_at")?,
        created_by: r.col("created_by")?,
        expires_at: r.col("expires_at")?,
        revoked_at: r.col("revoked_at")?,
    })
}

fn registry_key_row(r: &impl Columns) -> Result<RegistryKeyRecord> {
    Ok(RegistryKeyRecord {
        id: r.col("id")?,
        project: r.col("project")?,
        name: r.col("name")?,
        access: r.col("access")?,
        hash: r.col("hash")?,
        created_at: r.col("created_at")?,
        created_by: r.col("created_by")?,
        expires_at: r.col("expires_at")?,
        revoked_at: r.col("revoked_at")?,
    })
}

// The aggregates `/metrics` reads on every scrape. The two counts are answered from covering
// indexes (migration 8), so they read no table rows; the minted summary walks the minted rows
// (one per pull secret with a minted credential) and finds each one's pull secret by its key.
const COUNT_PULL_SECRETS_BY_KIND: &str =
    "SELECT kind, COUNT(*) AS n FROM pull_secrets GROUP BY kind ORDER BY kind";
const COUNT_DELIVERIES_BY_STATE: &str = "SELECT location, state, COUNT(*) AS n FROM deliveries
     GROUP BY location, state ORDER BY location, state";
// Rows minted from an earlier revision describe a credential that is never served again. The
// CROSS JOIN is SQLite's way of fixing the join order: left alone, the planner walks every pull
// secret through the kind index (to group without sorting) and probes for minted rows, which
// reads the whole pull-secret index when few of them are minted.
const SUMMARIZE_MINTED_BY_KIND: &str = "SELECT p.kind AS kind, COUNT(*) AS n,
        MIN(CASE WHEN m.ciphertext IS NOT NULL THEN m.expires_at END) AS earliest,
        SUM(m.failures > 0) AS failing
     FROM minted_credentials m
     CROSS JOIN pull_secrets p ON p.id = m.pull_secret_id AND p.revision = m.revision
     GROUP BY p.kind ORDER BY p.kind";

fn minted_row(r: &impl Columns) -> Result<MintedRecord> {
    let key_id: Option<String> = r.col("key_id")?;
    let nonce: Option<Vec<u8>> = r.col("nonce")?;
    let ciphertext: Option<Vec<u8>> = r.col("ciphertext")?;
    let sealed = match (key_id, nonce, ciphertext) {
        (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
            key_id,
            nonce,
            ciphertext,
        }),
        _ => None,
    };
    Ok(MintedRecord {
        pull_secret_id: r.col("pull_secret_id")?,
        revision: r.col("revision")?,
        username: r.col("username")?,
        endpoint: r.col("endpoint")?,
        sealed,
        expires_at: r.col("expires_at")?,
        refreshed_at: r.col("refreshed_at")?,
        attempted_at: r.col("attempted_at")?,
        failures: r.col("failures")?,
        last_error: r.col("last_error")?,
        next_refresh_at: r.col("next_refresh_at")?,
    })
}

fn audit_row(r: &impl Columns) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.col("id")?,
        time: r.col("time")?,
        actor: r.col("actor")?,
        channel: r.col("channel")?,
        action: r.col("action")?,
        project: r.col("project")?,
        target: r.col("target")?,
        outcome: r.col("outcome")?,
        detail: r.col("detail")?,
    })
}

const PULL_SECRET_COLUMNS: &str = "id, project, location, name, kind, server, username, email, \
    params, fingerprint, revision, key_id, nonce, ciphertext, created_at, created_by, updated_at, \
    updated_by, verification";

const SELECT_PULL_SECRETS: &str = "SELECT id, project, location, name, kind, server, username, \
    email, params, fingerprint, revision, key_id, nonce, ciphertext, created_at, created_by, \
    updated_at, updated_by, verification FROM pull_secrets";
const SELECT_DEPLOYMENTS: &str = "SELECT * FROM deployments";
/// A page of a location's pull secrets in id order: one range of the `(location, id)` index
/// (migration 13).
const BY_ID_PAGE: &str = " WHERE location = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
const SELECT_KEYS: &str = "SELECT id, name, kind, server FROM pull_secrets
     WHERE project = ? AND location = ? ORDER BY name";

const SELECT_GENERATION: &str =
    "SELECT generation FROM pull_secret_generations WHERE project = ? AND location = ?";

/// How many ids one `IN (...)` read binds: far below SQLite's limit on bound parameters, and a
/// page (at most 1000 items) takes two reads.
const IN_CHUNK: usize = 500;

/// A list of pull secrets or deployments (`select` is `SELECT … FROM table`) in
/// `(project, location, name)` order as one statement per combination of filters, so an index
/// answers each: equality on the filters given, a row-value comparison past `after` on the
/// columns left (the filtered ones are constant, and the caller checks that `after` agrees with
/// them), ordered by the columns left. Answers the SQL and the values to bind, in order.
fn list_sql(
    select: &str,
    project: Option<&str>,
    location: Option<&str>,
    after: Option<&ListKey>,
    limit: Option<u32>,
) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    let mut rest = Vec::new();
    for (column, filter, key) in [
        ("project", project, after.map(|a| &a.project)),
        ("location", location, after.map(|a| &a.location)),
        ("name", None, after.map(|a| &a.name)),
    ] {
        match filter {
            Some(value) => {
                conditions.push(format!("{column} = ?"));
                binds.push(value.to_owned());
            }
            None => rest.push((column, key)),
        }
    }
    let columns: Vec<&str> = rest.iter().map(|(c, _)| *c).collect();
    if after.is_some() {
        let marks = vec!["?"; columns.len()].join(", ");
        conditions.push(format!("({}) > ({marks})", columns.join(", ")));
        binds.extend(rest.iter().filter_map(|(_, k)| k.cloned()));
    }
    let mut sql = select.to_owned();
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(&columns.join(", "));
    if let Some(limit) = limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    (sql, binds)
}

/// `SELECT * FROM deliveries` filtered by location and owner, one statement per combination:
/// the primary key answers the location, `deliveries_owner_order` the owner (and both).
fn deliveries_sql(location: bool, owner: bool) -> &'static str {
    match (location, owner) {
        (false, false) => "SELECT * FROM deliveries ORDER BY location, target, owner_id",
        (true, false) => {
            "SELECT * FROM deliveries WHERE location = ? ORDER BY location, target, owner_id"
        }
        (false, true) => {
            "SELECT * FROM deliveries WHERE owner_id = ? ORDER BY location, target, owner_id"
        }
        (true, true) => {
            "SELECT * FROM deliveries WHERE owner_id = ? AND location = ? ORDER BY target"
        }
    }
}

/// The audit log newest first, one statement per combination of filters: the primary key
/// answers the whole log, `audit_events_project` a project's events.
fn audit_sql(project: bool, before: bool) -> &'static str {
    match (project, before) {
        (false, false) => "SELECT * FROM audit_events ORDER BY id DESC LIMIT ?",
        (true, false) => "SELECT * FROM audit_events WHERE project = ? ORDER BY id DESC LIMIT ?",
        (false, true) => "SELECT * FROM audit_events WHERE id < ? ORDER BY id DESC LIMIT ?",
        (true, true) => {
            "SELECT * FROM audit_events WHERE project = ? AND id < ? ORDER BY id DESC LIMIT ?"
        }
    }
}

/// One batch of audit retention: the oldest events before a time, through `audit_events_time`.
const DELETE_AUDIT_BEFORE: &str = "DELETE FROM audit_events WHERE id IN
     (SELECT id FROM audit_events WHERE time < ? ORDER BY time LIMIT ?)";

/// `?, ?, …` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `ids` sorted and without duplicates, so reads in chunks come back in id order overall.
fn sorted_ids(ids: &[String]) -> Vec<&str> {
    let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The batch reads of a page's views (`{}`: the marks of the `IN` list).
const SELECT_REFERENCES_IN: &str = "SELECT pull_secret_id, referrer_kind, referrer_name
    FROM pull_secret_refs WHERE pull_secret_id IN ({})
    ORDER BY pull_secret_id, referrer_kind, referrer_name";
const SELECT_DELIVERIES_IN: &str =
    "SELECT * FROM deliveries WHERE owner_id IN ({}) ORDER BY owner_id, location, target";
const SELECT_MINTED_IN: &str =
    "SELECT * FROM minted_credentials WHERE pull_secret_id IN ({}) ORDER BY pull_secret_id";

/// A reference as [`Store::references_of`] answers it.
fn referrer_row(r: &impl Columns) -> Result<(String, ReferrerRecord)> {
    Ok((
        r.col("pull_secret_id")?,
        ReferrerRecord {
            kind: r.col("referrer_kind")?,
            name: r.col("referrer_name")?,
        },
    ))
}

/// [`SqliteStore::fetch_in`] on the read path: `sql` for `ids` in chunks of [`IN_CHUNK`], in id
/// order, each row decoded by `decode`.
fn rows_in<T>(
    c: &rusqlite::Connection,
    sql: &str,
    ids: &[String],
    decode: impl Fn(&reader::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for chunk in sorted_ids(ids).chunks(IN_CHUNK) {
        let sql = sql.replace("{}", &marks(chunk.len()));
        out.extend(rows(c, &sql, chunk, &decode)?);
    }
    Ok(out)
}

fn lease_row(r: &impl Columns) -> Result<Lease> {
    Ok(Lease {
        name: r.col("name")?,
        holder: r.col("holder")?,
        epoch: r.col("epoch")?,
        expires_at: r.col("expires_at")?,
        url: r.col("url")?,
    })
}

fn delivery_row(r: &impl Columns) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        location: r.col("location")?,
        target: r.col("target")?,
        owner_id: r.col("owner_id")?,
        state: r.col("state")?,
        revision: r.col("revision")?,
        digest: r.col("digest")?,
        code: r.col("code")?,
        message: r.col("message")?,
        updated_at: r.col("updated_at")?,
    })
}

impl SqliteStore {
    /// Runs `read` on the read path (`sqlite/reader.rs`).
    fn read<T>(&self, read: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        self.reader.read(read)
    }

    /// Runs a [`list_sql`] statement.
    async fn fetch_list(&self, sql: &str, binds: &[String]) -> Result<Vec<SqliteRow>> {
        let mut query = sqlx::query(sql);
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Runs `sql` (with one `{}` for the marks of an `IN` list) for `ids` in chunks of
    /// [`IN_CHUNK`], in id order.
    async fn fetch_in(&self, sql: &str, ids: &[String]) -> Result<Vec<SqliteRow>> {
        self.fetch_in_after(sql, &[], ids).await
    }

    /// [`SqliteStore::fetch_in`] with `leading` bound before the `IN` list.
    async fn fetch_in_after(
        &self,
        sql: &str,
        leading: &[&str],
        ids: &[String],
    ) -> Result<Vec<SqliteRow>> {
        let mut rows = Vec::new();
        for chunk in sorted_ids(ids).chunks(IN_CHUNK) {
            let sql = sql.replace("{}", &marks(chunk.len()));
            let mut query = sqlx::query(&sql);
            for value in leading {
                query = query.bind(*value);
            }
            for id in chunk {
                query = query.bind(*id);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(&self, p: &ProjectRecord, audit: &AuditRecord) -> Result<()> {
        let (p, audit) = (p.clone(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO projects (name, description, created_at, created_by)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&p.name)
                .bind(&p.description)
                .bind(p.created_at)
                .bind(&p.created_by)
                .execute(&mut **tx)
                .await
                .map_err(exists_as("project", &p.name))?;
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        let sql = "SELECT * FROM projects WHERE name = ?1";
        self.read(|c| Ok(rows(c, sql, &[name], |r| project_row(r))?.pop()))
    }

    async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        sqlx::query("SELECT * FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(project_row)
            .collect()
    }

    async fn delete_project(&self, name: &str, at: i64, audit: &AuditRecord) -> Result<()> {
        let (name, audit) = (name.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                refuse_while_pull_secrets(tx, "project", "project", &name).await?;
                // Keys of the platform registry die with their project.
                sqlx::query("DELETE FROM registry_keys WHERE project = $1")
                    .bind(&name)
                    .execute(&mut **tx)
                    .await?;
                let deleted = sqlx::query("DELETE FROM projects WHERE name = $1")
                    .bind(&name)
                    .execute(&mut **tx)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound {
                        what: "project",
                        key: name,
                    });
                }
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $1 WHERE project = $2 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(&name)
                .execute(&mut **tx)
                .await?;
                insert_audit(tx, &audit).await
            })
        })
        .await?;
        self.tokens.forget(None);
        Ok(())
    }

    async fn create_location(&self, l: &LocationRecord, audit: &AuditRecord) -> Result<()> {
        let (l, audit) = (l.clone(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO locations (name, kind, spec, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&l.name)
                .bind(&l.kind)
                .bind(&l.spec)
                .bind(l.created_at)
                .bind(&l.created_by)
                .execute(&mut **tx)
                .await
                .map_err(exists_as("location", &l.name))?;
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn get_location(&self, name: &str) -> Result<Option<LocationRecord>> {
        let sql = "SELECT * FROM locations WHERE name = ?1";
        self.read(|c| Ok(rows(c, sql, &[name], |r| location_row(r))?.pop()))
    }

    async fn list_locations(&self) -> Result<Vec<LocationRecord>> {
        sqlx::query("SELECT * FROM locations ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(location_row)
            .collect()
    }

    async fn delete_location(&self, name: &str, audit: &AuditRecord) -> Result<()> {
        let (name, audit) = (name.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                refuse_while_pull_secrets(tx, "location", "location", &name).await?;
                let deleted = sqlx::query("DELETE FROM locations WHERE name = $1")
                    .bind(&name)
                    .execute(&mut **tx)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound {
                        what: "location",
                        key: name,
                    });
                }
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn put_pull_secret(
        &self,
        s: &PullSecretRecord,
        expected_revision: Option<i64>,
        guard: PutGuard,
        audit: &AuditRecord,
    ) -> Result<()> {
        let (s, audit) = (s.clone(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                check_guard(tx, &s.project, &s.location, Some((&s.server, &s.id)), guard).await?;
                let key = format!("{}/{}/{}", s.project, s.location, s.name);
                match expected_revision {
                    None => {
                        let sql = format!(
                            "INSERT INTO pull_secrets ({PULL_SECRET_COLUMNS}) VALUES \
                             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                        );
                        sqlx::query(&sql)
                            .bind(&s.id)
                            .bind(&s.project)
                            .bind(&s.location)
                            .bind(&s.name)
                            .bind(&s.kind)
                            .bind(&s.server)
                            .bind(&s.username)
                            .bind(&s.email)
                            .bind(&s.params)
                            .bind(&s.fingerprint)
                            .bind(s.revision)
                            .bind(&s.sealed.key_id)
                            .bind(&s.sealed.nonce)
                            .bind(&s.sealed.ciphertext)
                            .bind(s.created_at)
                            .bind(&s.created_by)
                            .bind(s.updated_at)
                            .bind(&s.updated_by)
                            .bind(&s.verification)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| match &e {
                                sqlx::Error::Database(db) if db.is_unique_violation() => {
                                    StoreError::AlreadyExists {
                                        what: "pull secret",
                                        key: key.clone(),
                                    }
                                }
                                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                                    StoreError::NotFound {
                                        what: "project or location",
                                        key: format!("{}/{}", s.project, s.location),
                                    }
                                }
                                _ => e.into(),
                            })?;
                    }
                    Some(expected) => {
                        let updated = sqlx::query(
                            "UPDATE pull_secrets SET kind = $1, server = $2, username = $3, email = $4,
                                params = $5, fingerprint = $6, revision = $7, key_id = $8, nonce = $9,
                                ciphertext = $10, updated_at = $11, updated_by = $12,
                                verification = $13
                             WHERE id = $14 AND revision = $15",
                        )
                        .bind(&s.kind)
                        .bind(&s.server)
                        .bind(&s.username)
                        .bind(&s.email)
                        .bind(&s.params)
                        .bind(&s.fingerprint)
                        .bind(s.revision)
                        .bind(&s.sealed.key_id)
                        .bind(&s.sealed.nonce)
                        .bind(&s.sealed.ciphertext)
                        .bind(s.updated_at)
                        .bind(&s.updated_by)
                        .bind(&s.verification)
                        .bind(&s.id)
                        .bind(expected)
                        .execute(&mut **tx)
                        .await?;
                        if updated.rows_affected() == 0 {
                            return Err(StoreError::Conflict {
                                what: "pull secret",
                                key,
                            });
                        }
                    }
                }
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn get_pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
    ) -> Result<Option<PullSecretRecord>> {
        let sql = pull_secret_at();
        let binds = [project, location, name];
        self.read(|c| Ok(rows(c, &sql, &binds, |r| pull_secret_row(r))?.pop()))
    }

    async fn get_pull_secret_by_id(&self, id: &str) -> Result<Option<PullSecretRecord>> {
        let sql = format!("SELECT {PULL_SECRET_COLUMNS} FROM pull_secrets WHERE id = ?1");
        self.read(|c| Ok(rows(c, &sql, &[id], |r| pull_secret_row(r))?.pop()))
    }

    async fn list_pull_secrets(
        &self,
        project: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<PullSecretRecord>> {
        let (sql, binds) = list_sql(SELECT_PULL_SECRETS, project, location, None, None);
        self.reader
            .read_blocking(move |c| rows(c, &sql, &binds, |r| pull_secret_row(r)))
            .await
    }

    async fn list_pull_secrets_page(&self, page: ListPage<'_>) -> Result<Vec<PullSecretRecord>> {
        let (sql, binds) = list_sql(
            SELECT_PULL_SECRETS,
            page.project,
            page.location,
            page.after,
            Some(page.limit),
        );
        self.read(|c| rows(c, &sql, &binds, |r| pull_secret_row(r)))
    }

    async fn list_pull_secrets_of_kinds(&self, kinds: &[&str]) -> Result<Vec<PullSecretRecord>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{SELECT_PULL_SECRETS} WHERE kind IN ({}) ORDER BY id",
            marks(kinds.len())
        );
        let mut query = sqlx::query(&sql);
        for kind in kinds {
            query = query.bind(*kind);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(pull_secret_row)
            .collect()
    }

    async fn pull_secrets_by_ids(&self, ids: &[String]) -> Result<Vec<PullSecretRecord>> {
        let sql = format!("{SELECT_PULL_SECRETS} WHERE id IN ({{}}) ORDER BY id");
        self.fetch_in(&sql, ids)
            .await?
            .iter()
            .map(pull_secret_row)
            .collect()
    }

    async fn pull_secrets_by_id_page(
        &self,
        location: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PullSecretRecord>> {
        // Every id sorts after the empty string.
        let binds = [
            location.to_owned(),
            after.unwrap_or_default().to_owned(),
            limit.to_string(),
        ];
        let sql = format!("{SELECT_PULL_SECRETS}{BY_ID_PAGE}");
        self.reader
            .read_blocking(move |c| rows(c, &sql, &binds, |r| pull_secret_row(r)))
            .await
    }

    async fn pull_secret_generation(&self, project: &str, location: &str) -> Result<i64> {
        let binds = [project, location];
        self.read(|c| {
            let generation = rows(c, SELECT_GENERATION, &binds, |r| r.col("generation"))?;
            Ok(generation.first().copied().unwrap_or(0))
        })
    }

    async fn pull_secret_keys(&self, project: &str, location: &str) -> Result<PullSecretKeys> {
        // A scope can hold every pull secret of a location: a whole-location read, decoded
        // straight from SQLite's rows. (Through sqlx, SQLite's own allocator copied every value
        // into a row first, on the connection's thread, and the server kept about 50 MB of that
        // resident after reading a scope of 100,000: README "Performance".)
        let binds = [project.to_owned(), location.to_owned()];
        self.reader
            .read_blocking(move |c| {
                // One read transaction: the generation and the rows are of the same snapshot.
                in_snapshot(c, |c| {
                    let generation = rows(c, SELECT_GENERATION, &binds, |r| r.col("generation"))?;
                    let keys = rows(c, SELECT_KEYS, &binds, |r| {
                        Ok(PullSecretKey {
                            id: r.col("id")?,
                            name: r.col("name")?,
                            kind: r.col("kind")?,
                            server: r.col("server")?,
                        })
                    })?;
                    Ok(PullSecretKeys {
                        generation: generation.first().copied().unwrap_or(0),
                        keys,
                    })
                })
            })
            .await
    }

    async fn record_verification(
        &self,
        id: &str,
        revision: i64,
        verification: &str,
        audit: &AuditRecord,
    ) -> Result<()> {
        let (id, verification, audit) = (id.to_owned(), verification.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let updated = sqlx::query(
                    "UPDATE pull_secrets SET verification = $1 WHERE id = $2 AND revision = $3",
                )
                .bind(&verification)
                .bind(&id)
                .bind(revision)
                .execute(&mut **tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::Conflict {
                        what: "pull secret",
                        key: id,
                    });
                }
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn delete_pull_secret(&self, id: &str, force: bool, audit: &AuditRecord) -> Result<()> {
        let (id, audit) = (id.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                if !force {
                    let refs: Vec<(String, String)> = sqlx::query_as(
                        "SELECT referrer_kind, referrer_name FROM pull_secret_refs
                         WHERE pull_secret_id = $1 ORDER BY referrer_kind, referrer_name",
                    )
                    .bind(&id)
                    .fetch_all(&mut **tx)
                    .await?;
                    if !refs.is_empty() {
                        return Err(StoreError::InUse {
                            what: "pull secret",
                            key: id,
                            by: refs.into_iter().map(|(k, n)| format!("{k} {n}")).collect(),
                        });
                    }
                }
                let deleted = sqlx::query("DELETE FROM pull_secrets WHERE id = $1")
                    .bind(&id)
                    .execute(&mut **tx)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound {
                        what: "pull secret",
                        key: id,
                    });
                }
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn add_reference(&self, pull_secret_id: &str, r: &ReferrerRecord) -> Result<()> {
        let _guard = self.write.lock().await;
        sqlx::query(
            "INSERT INTO pull_secret_refs (pull_secret_id, referrer_kind, referrer_name)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(pull_secret_id)
        .bind(&r.kind)
        .bind(&r.name)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound {
                what: "pull secret",
                key: pull_secret_id.to_owned(),
            },
            _ => e.into(),
        })?;
        Ok(())
    }

    async fn remove_reference(&self, pull_secret_id: &str, r: &ReferrerRecord) -> Result<()> {
        let _guard = self.write.lock().await;
        sqlx::query(
            "DELETE FROM pull_secret_refs
             WHERE pull_secret_id = $1 AND referrer_kind = $2 AND referrer_name = $3",
        )
        .bind(pull_secret_id)
        .bind(&r.kind)
        .bind(&r.name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn references(&self, pull_secret_id: &str) -> Result<Vec<ReferrerRecord>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT referrer_kind, referrer_name FROM pull_secret_refs
             WHERE pull_secret_id = $1 ORDER BY referrer_kind, referrer_name",
        )
        .bind(pull_secret_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, name)| ReferrerRecord { kind, name })
            .collect())
    }

    async fn references_of(
        &self,
        pull_secret_ids: &[String],
    ) -> Result<Vec<(String, ReferrerRecord)>> {
        self.read(|c| {
            rows_in(c, SELECT_REFERENCES_IN, pull_secret_ids, |r| {
                referrer_row(r)
            })
        })
    }

    async fn put_deployment(
        &self,
        d: &DeploymentRecord,
        expected_revision: Option<i64>,
        revision_spec: &str,
        pull_secret_ids: &[String],
        guard: PutGuard,
        audit: &AuditRecord,
    ) -> Result<()> {
        let (d, audit) = (d.clone(), audit.clone());
        let (revision_spec, ids) = (revision_spec.to_owned(), pull_secret_ids.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                check_guard(tx, &d.project, &d.location, None, guard).await?;
                let key = format!("{}/{}/{}", d.project, d.location, d.name);
                match expected_revision {
                    None => {
                        sqlx::query(
                            "INSERT INTO deployments (id, project, location, name, revision, spec,
                                created_at, created_by, updated_at, updated_by)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(&d.id)
                        .bind(&d.project)
                        .bind(&d.location)
                        .bind(&d.name)
                        .bind(d.revision)
                        .bind(&d.spec)
                        .bind(d.created_at)
                        .bind(&d.created_by)
                        .bind(d.updated_at)
                        .bind(&d.updated_by)
                        .execute(&mut **tx)
                        .await
                        .map_err(exists_as("deployment", &key))?;
                    }
                    Some(expected) => {
                        let updated = sqlx::query(
                            "UPDATE deployments SET revision = $1, spec = $2, updated_at = $3,
                                updated_by = $4
                             WHERE id = $5 AND revision = $6",
                        )
                        .bind(d.revision)
                        .bind(&d.spec)
                        .bind(d.updated_at)
                        .bind(&d.updated_by)
                        .bind(&d.id)
                        .bind(expected)
                        .execute(&mut **tx)
                        .await?;
                        if updated.rows_affected() == 0 {
                            return Err(StoreError::Conflict {
                                what: "deployment",
                                key,
                            });
                        }
                    }
                }
                sqlx::query(
                    "INSERT INTO deployment_revisions (deployment_id, revision, spec, created_at,
                        created_by) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&d.id)
                .bind(d.revision)
                .bind(&revision_spec)
                .bind(d.updated_at)
                .bind(&d.updated_by)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "DELETE FROM pull_secret_refs WHERE referrer_kind = 'deployment'
                     AND referrer_name = $1",
                )
                .bind(&key)
                .execute(&mut **tx)
                .await?;
                for id in &ids {
                    sqlx::query(
                        "INSERT INTO pull_secret_refs (pull_secret_id, referrer_kind, referrer_name)
                         VALUES ($1, 'deployment', $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(&key)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            StoreError::NotFound {
                                what: "pull secret",
                                key: id.clone(),
                            }
                        }
                        _ => e.into(),
                    })?;
                }
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn get_deployment(
        &self,
        project: &str,
        location: &str,
        name: &str,
    ) -> Result<Option<DeploymentRecord>> {
        sqlx::query("SELECT * FROM deployments WHERE project = $1 AND location = $2 AND name = $3")
            .bind(project)
            .bind(location)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| deployment_row(&r))
            .transpose()
    }

    async fn list_deployments(
        &self,
        project: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<DeploymentRecord>> {
        let (sql, binds) = list_sql(SELECT_DEPLOYMENTS, project, location, None, None);
        self.fetch_list(&sql, &binds)
            .await?
            .iter()
            .map(deployment_row)
            .collect()
    }

    async fn list_deployments_page(&self, page: ListPage<'_>) -> Result<Vec<DeploymentRecord>> {
        let (sql, binds) = list_sql(
            SELECT_DEPLOYMENTS,
            page.project,
            page.location,
            page.after,
            Some(page.limit),
        );
        self.fetch_list(&sql, &binds)
            .await?
            .iter()
            .map(deployment_row)
            .collect()
    }

    async fn deployments_by_ids(&self, ids: &[String]) -> Result<Vec<DeploymentRecord>> {
        let sql = format!("{SELECT_DEPLOYMENTS} WHERE id IN ({{}}) ORDER BY id");
        self.fetch_in(&sql, ids)
            .await?
            .iter()
            .map(deployment_row)
            .collect()
    }

    async fn list_deployment_revisions(&self, id: &str) -> Result<Vec<DeploymentRevisionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM deployment_revisions WHERE deployment_id = $1 ORDER BY revision",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeploymentRevisionRecord {
                    deployment_id: r.col("deployment_id")?,
                    revision: r.col("revision")?,
                    spec: r.col("spec")?,
                    created_at: r.col("created_at")?,
                    created_by: r.col("created_by")?,
                })
            })
            .collect()
    }

    async fn delete_deployment(&self, id: &str, audit: &AuditRecord) -> Result<()> {
        let (id, audit) = (id.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let key: Option<String> = sqlx::query_scalar(
                    "SELECT project || '/' || location || '/' || name FROM deployments WHERE id = $1",
                )
                .bind(&id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(key) = key else {
                    return Err(StoreError::NotFound {
                        what: "deployment",
                        key: id,
                    });
                };
                sqlx::query(
                    "DELETE FROM pull_secret_refs WHERE referrer_kind = 'deployment'
                     AND referrer_name = $1",
                )
                .bind(&key)
                .execute(&mut **tx)
                .await?;
                sqlx::query("DELETE FROM deployments WHERE id = $1")
                    .bind(&id)
                    .execute(&mut **tx)
                    .await?;
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn list_deliveries(
        &self,
        location: Option<&str>,
        owner_id: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>> {
        let sql = deliveries_sql(location.is_some(), owner_id.is_some());
        let binds: Vec<String> = [owner_id, location]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        self.reader
            .read_blocking(move |c| rows(c, sql, &binds, |r| delivery_row(r)))
            .await
    }

    async fn deliveries_of(&self, owner_ids: &[String]) -> Result<Vec<DeliveryRecord>> {
        self.read(|c| rows_in(c, SELECT_DELIVERIES_IN, owner_ids, |r| delivery_row(r)))
    }

    async fn deliveries_at(
        &self,
        location: &str,
        targets: &[String],
    ) -> Result<Vec<DeliveryRecord>> {
        self.fetch_in_after(
            "SELECT * FROM deliveries WHERE location = ? AND target IN ({})
             ORDER BY location, target, owner_id",
            &[location],
            targets,
        )
        .await?
        .iter()
        .map(delivery_row)
        .collect()
    }

    async fn update_deliveries(
        &self,
        location: &str,
        put: &[DeliveryRecord],
        remove: &[(String, String)],
    ) -> Result<()> {
        let (location, put, remove) = (location.to_owned(), put.to_vec(), remove.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                for (target, owner_id) in &remove {
                    sqlx::query(
                        "DELETE FROM deliveries WHERE location = $1 AND target = $2
                         AND owner_id = $3",
                    )
                    .bind(&location)
                    .bind(target)
                    .bind(owner_id)
                    .execute(&mut **tx)
                    .await?;
                }
                for d in &put {
                    sqlx::query(
                        "INSERT INTO deliveries (location, target, owner_id, state, revision,
                            digest, code, message, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (location, target, owner_id) DO UPDATE SET
                            state = excluded.state, revision = excluded.revision,
                            digest = excluded.digest, code = excluded.code,
                            message = excluded.message, updated_at = excluded.updated_at",
                    )
                    .bind(&location)
                    .bind(&d.target)
                    .bind(&d.owner_id)
                    .bind(&d.state)
                    .bind(d.revision)
                    .bind(&d.digest)
                    .bind(&d.code)
                    .bind(&d.message)
                    .bind(d.updated_at)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        url: Option<&str>,
        ttl_ms: i64,
    ) -> Result<Option<Lease>> {
        let (name, holder, url) = (name.to_owned(), holder.to_owned(), url.map(str::to_owned));
        self.write(move |tx| {
            Box::pin(async move {
                let now: i64 = sqlx::query_scalar(&format!("SELECT {NOW_MS}"))
                    .fetch_one(&mut **tx)
                    .await?;
                let stored = sqlx::query("SELECT * FROM leases WHERE name = $1")
                    .bind(&name)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| lease_row(&r))
                    .transpose()?;
                let Some(lease) =
                    fence::grant(stored.as_ref(), &name, &holder, url.as_deref(), now, ttl_ms)
                else {
                    return Ok(None);
                };
                sqlx::query(fence::UPSERT_SQL)
                    .bind(&lease.name)
                    .bind(&lease.holder)
                    .bind(lease.epoch)
                    .bind(lease.expires_at)
                    .bind(&lease.url)
                    .execute(&mut **tx)
                    .await?;
                Ok(Some(lease))
            })
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                // Expired now: the next acquirer takes it over at the next epoch.
                sqlx::query(&format!(
                    "UPDATE leases SET expires_at = {NOW_MS} WHERE name = $1 AND holder = $2"
                ))
                .bind(&name)
                .bind(&holder)
                .execute(&mut **tx)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_lease(&self, name: &str) -> Result<Option<Lease>> {
        sqlx::query("SELECT * FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| lease_row(&r))
            .transpose()
    }

    async fn last_change(&self, location: &str) -> Result<i64> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT max(seq) FROM changes WHERE location = ?")
                .bind(location)
                .fetch_one(&self.pool)
                .await?;
        Ok(last.unwrap_or(0))
    }

    async fn changes_since(&self, location: &str, after: i64) -> Result<Changes> {
        let rows = sqlx::query(
            "SELECT seq, owner_id FROM changes WHERE location = ? AND seq > ? ORDER BY seq",
        )
        .bind(location)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        let mut changes = Changes {
            last: after,
            owners: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            changes.last = r.col("seq")?;
            let owner: String = r.col("owner_id")?;
            if seen.insert(owner.clone()) {
                changes.owners.push(owner);
            }
        }
        Ok(changes)
    }

    async fn forget_changes(&self, location: &str, through: i64) -> Result<()> {
        let _guard = self.write.lock().await;
        sqlx::query("DELETE FROM changes WHERE location = ? AND seq <= ?")
            .bind(location)
            .bind(through)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_token(&self, t: &TokenRecord, audit: &AuditRecord) -> Result<()> {
        let (t, audit) = (t.clone(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO tokens (id, name, project, role, hash, created_at, created_by,
                        expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&t.id)
                .bind(&t.name)
                .bind(&t.project)
                .bind(&t.role)
                .bind(&t.hash)
                .bind(t.created_at)
                .bind(&t.created_by)
                .bind(t.expires_at)
                .bind(t.revoked_at)
                .execute(&mut **tx)
                .await
                .map_err(exists_as("token", &t.id))?;
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let read = async {
            let binds = [id];
            self.read(|c| {
                Ok(rows(c, "SELECT * FROM tokens WHERE id = ?1", &binds, |r| {
                    token_row(r)
                })?
                .pop())
            })
        };
        self.tokens.get_or_read(Key::Id(id), read).await
    }

    async fn list_tokens(&self, project: Option<&str>) -> Result<Vec<TokenRecord>> {
        sqlx::query(
            "SELECT * FROM tokens WHERE ($1 IS NULL OR project = $1) ORDER BY created_at, id",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_row)
        .collect()
    }

    async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> Result<()> {
        let (id, audit) = (id.to_owned(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let updated = sqlx::query(
                    "WITH RECURSIVE lineage(id) AS (
                         SELECT $2
                         UNION
                         SELECT t.id FROM tokens t JOIN lineage l ON t.created_by = l.id
                     )
                     UPDATE tokens SET revoked_at = $1
                     WHERE revoked_at IS NULL AND id IN (SELECT id FROM lineage)
                     RETURNING id",
                )
                .bind(at)
                .bind(&id)
                .fetch_all(&mut **tx)
                .await?;
                if !updated.iter().any(|r| r.get::<String, _>(0) == id) {
                    return Err(StoreError::NotFound {
                        what: "token",
                        key: id,
                    });
                }
                insert_audit(tx, &audit).await
            })
        })
        .await?;
        // The token and those it created: revocations are rare, so every kept token goes.
        self.tokens.forget(None);
        Ok(())
    }

    async fn create_registry_key(&self, k: &RegistryKeyRecord, audit: &AuditRecord) -> Result<()> {
        let (k, audit) = (k.clone(), audit.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let key = format!("{}/{}", k.project, k.name);
                sqlx::query(
                    "INSERT INTO registry_keys (id, project, name, access, hash, created_at,
                        created_by, expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&k.id)
                .bind(&k.project)
                .bind(&k.name)
                .bind(&k.access)
                .bind(&k.hash)
                .bind(k.created_at)
                .bind(&k.created_by)
                .bind(k.expires_at)
                .bind(k.revoked_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound {
                            what: "project",
                            key: k.project.clone(),
                        }
                    }
                    _ => exists_as("registry key", &key)(e),
                })?;
                insert_audit(tx, &audit).await
            })
        })
        .await
    }

    async fn get_registry_key(&self, id: &str) -> Result<Option<RegistryKeyRecord>> {
        sqlx::query("SELECT * FROM registry_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| registry_key_row(&r))
            .transpose()
    }

    async fn list_registry_keys(&self, project: &str) -> Result<Vec<RegistryKeyRecord>> {
        sqlx::query("SELECT * FROM registry_keys WHERE project = $1 ORDER BY name")
            .bind(project)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(registry_key_row)
            .collect()
    }

    async fn revoke_registry_key(&self, id: &str, at: i64, audit: &AuditRecord) -> Result<()> {
        self.revoke("registry_keys", "registry key", id, at, audit)
            .await
    }

    async fn put_minted(&self, m: &MintedRecord) -> Result<()> {
        let _guard = self.write.lock().await;
        let sealed = m.sealed.as_ref();
        sqlx::query(
            "INSERT INTO minted_credentials (pull_secret_id, revision, username, endpoint, key_id,
                nonce, ciphertext, expires_at, refreshed_at, attempted_at, failures, last_error,
                next_refresh_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (pull_secret_id) DO UPDATE SET revision = excluded.revision,
                username = excluded.username, endpoint = excluded.endpoint,
                key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                expires_at = excluded.expires_at, refreshed_at = excluded.refreshed_at,
                attempted_at = excluded.attempted_at, failures = excluded.failures,
                last_error = excluded.last_error, next_refresh_at = excluded.next_refresh_at",
        )
        .bind(&m.pull_secret_id)
        .bind(m.revision)
        .bind(&m.username)
        .bind(&m.endpoint)
        .bind(sealed.map(|s| &s.key_id))
        .bind(sealed.map(|s| &s.nonce))
        .bind(sealed.map(|s| &s.ciphertext))
        .bind(m.expires_at)
        .bind(m.refreshed_at)
        .bind(m.attempted_at)
        .bind(m.failures)
        .bind(&m.last_error)
        .bind(m.next_refresh_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound {
                what: "pull secret",
                key: m.pull_secret_id.clone(),
            },
            _ => e.into(),
        })?;
        Ok(())
    }

    async fn get_minted(&self, pull_secret_id: &str) -> Result<Option<MintedRecord>> {
        sqlx::query("SELECT * FROM minted_credentials WHERE pull_secret_id = $1")
            .bind(pull_secret_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| minted_row(&r))
            .transpose()
    }

    async fn list_minted(&self) -> Result<Vec<MintedRecord>> {
        sqlx::query("SELECT * FROM minted_credentials ORDER BY next_refresh_at, pull_secret_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(minted_row)
            .collect()
    }

    async fn minted_of(&self, pull_secret_ids: &[String]) -> Result<Vec<MintedRecord>> {
        self.read(|c| rows_in(c, SELECT_MINTED_IN, pull_secret_ids, |r| minted_row(r)))
    }

    async fn pull_secret_facts(
        &self,
        pull_secret_ids: &[String],
        minting: &[String],
    ) -> Result<PullSecretFacts> {
        self.read(|c| in_snapshot(c, |c| facts_on(c, pull_secret_ids, minting)))
    }

    async fn described_pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
        minting_kinds: &[&str],
    ) -> Result<Option<(PullSecretRecord, PullSecretFacts)>> {
        let sql = pull_secret_at();
        let binds = [project, location, name];
        self.read(|c| {
            in_snapshot(c, |c| {
                let Some(record) = rows(c, &sql, &binds, |r| pull_secret_row(r))?.pop() else {
                    return Ok(None);
                };
                let (ids, minting) = facts_of_one(&record, minting_kinds);
                Ok(Some((record, facts_on(c, &ids, &minting)?)))
            })
        })
    }

    async fn count_pull_secrets_by_kind(&self) -> Result<Vec<PullSecretCount>> {
        sqlx::query(COUNT_PULL_SECRETS_BY_KIND)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PullSecretCount {
                    kind: r.col("kind")?,
                    count: r.col("n")?,
                })
            })
            .collect()
    }

    async fn count_deliveries_by_state(&self) -> Result<Vec<DeliveryCount>> {
        sqlx::query(COUNT_DELIVERIES_BY_STATE)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(DeliveryCount {
                    location: r.col("location")?,
                    state: r.col("state")?,
                    count: r.col("n")?,
                })
            })
            .collect()
    }

    async fn summarize_minted_by_kind(&self) -> Result<Vec<MintedSummary>> {
        sqlx::query(SUMMARIZE_MINTED_BY_KIND)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(MintedSummary {
                    kind: r.col("kind")?,
                    count: r.col("n")?,
                    earliest_expiry: r.col("earliest")?,
                    failing: r.col("failing")?,
                })
            })
            .collect()
    }

    async fn append_audit(&self, audit: &AuditRecord) -> Result<()> {
        let audit = audit.clone();
        self.write(move |tx| Box::pin(async move { insert_audit(tx, &audit).await }))
            .await
    }

    async fn list_audit(
        &self,
        project: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let mut query = sqlx::query(audit_sql(project.is_some(), before.is_some()));
        if let Some(project) = project {
            query = query.bind(project);
        }
        if let Some(before) = before {
            query = query.bind(before);
        }
        query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_row)
            .collect()
    }

    async fn delete_audit_before(&self, time: i64, limit: u32) -> Result<u64> {
        let _guard = self.write.lock().await;
        let deleted = sqlx::query(DELETE_AUDIT_BEFORE)
            .bind(time)
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        let _guard = self.write.lock().await;
        let inserted = sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&session.id_hash)
        .bind(&session.token_id)
        .bind(&session.csrf)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        match inserted.rows_affected() {
            1 => Ok(()),
            _ => Err(StoreError::AlreadyExists {
                what: "session",
                key: session.token_id.clone(),
            }),
        }
    }

    async fn get_session(&self, id_hash: &[u8]) -> Result<Option<SessionRecord>> {
        sqlx::query("SELECT * FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| {
                Ok(SessionRecord {
                    id_hash: r.col("id_hash")?,
                    token_id: r.col("token_id")?,
                    csrf: r.col("csrf")?,
                    created_at: r.col("created_at")?,
                    expires_at: r.col("expires_at")?,
                })
            })
            .transpose()
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        let _guard = self.write.lock().await;
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        let _guard = self.write.lock().await;
        let deleted = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn insert_meta(&self, key: &str, value: &str) -> Result<bool> {
        let _guard = self.write.lock().await;
        let inserted =
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(key)
                .bind(value)
                .execute(&self.pool)
                .await?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn replace_meta(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let (key, expected, value, audit) = (
            key.to_owned(),
            expected.to_owned(),
            value.to_owned(),
            audit.clone(),
        );
        self.write(move |tx| {
            Box::pin(async move {
                let replaced =
                    sqlx::query("UPDATE meta SET value = $1 WHERE key = $2 AND value = $3")
                        .bind(&value)
                        .bind(&key)
                        .bind(&expected)
                        .execute(&mut **tx)
                        .await?;
                if replaced.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(tx, &audit).await?;
                Ok(true)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql`: the `detail` column of `EXPLAIN QUERY PLAN`, one per step,
    /// with every parameter bound to NULL (the plan does not depend on the values). Asked on a
    /// connection of the read path, opened after the migrations: the plan of an `EXPLAIN` is made
    /// from the schema its connection last read, which a pooled sqlx connection opened before
    /// the migrations finished may not have reread yet (a real statement would notice).
    async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        store
            .read(move |c| {
                let mut statement = c.prepare(&sql)?;
                let nulls = vec![rusqlite::types::Null; statement.parameter_count()];
                let details = statement
                    .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(details)
            })
            .unwrap()
    }

    /// Every step reads through an index (a search, or a walk of an index in the wanted order)
    /// and nothing is sorted afterwards: the cost of a page does not grow with the table.
    fn assert_indexed(what: &str, plan: &[String]) {
        assert!(!plan.is_empty(), "{what}: no plan");
        for step in plan {
            assert!(
                step.contains("INDEX") || step.contains("PRIMARY KEY") || step.starts_with("LIST"),
                "{what} reads without an index: {plan:?}"
            );
            assert!(!step.contains("TEMP B-TREE"), "{what} sorts: {plan:?}");
        }
    }

    /// The reads of every write and of the incremental work search an index: what a create, a
    /// scoped delivery pass or a resolution costs does not grow with what is stored.
    #[tokio::test]
    async fn write_guards_and_incremental_reads_use_indexes() {
        let store = SqliteStore::temporary().await.unwrap();
        for (sql, index) in [
            (DUPLICATE_SERVER, "pull_secrets_server"),
            (LOCATION_TAKEN, "_location_order"),
            (
                SELECT_GENERATION,
                "sqlite_autoindex_pull_secret_generations",
            ),
            (
                "SELECT id, name, kind, server FROM pull_secrets
                 WHERE project = ? AND location = ? ORDER BY name",
                // Either (project, location, name) index answers it in order.
                "INDEX",
            ),
            (
                "SELECT max(seq) FROM changes WHERE location = ?",
                "changes_location",
            ),
            (
                "SELECT seq, owner_id FROM changes WHERE location = ? AND seq > ? ORDER BY seq",
                "changes_location",
            ),
            (
                "DELETE FROM changes WHERE location = ? AND seq <= ?",
                "changes_location",
            ),
            (
                "SELECT * FROM deliveries WHERE location = ? AND target IN (?, ?)
                 ORDER BY location, target, owner_id",
                "sqlite_autoindex_deliveries",
            ),
        ] {
            let steps = plan(&store, sql).await;
            assert!(
                steps
                    .iter()
                    // The compound query's own steps walk its subqueries' rows (one each).
                    .filter(|d| {
                        ![
                            "COMPOUND",
                            "LEFT-MOST",
                            "UNION",
                            "CO-ROUTINE",
                            "SCAN (subquery",
                        ]
                        .iter()
                        .any(|p| d.starts_with(p))
                    })
                    .all(|d| d.starts_with("SEARCH") || d.starts_with("USE TEMP B-TREE")),
                "{sql}: {steps:?}"
            );
            assert!(steps.iter().any(|d| d.contains(index)), "{sql}: {steps:?}");
        }
    }

    /// A full delivery pass's pages of a location in id order are ranges of one index, unsorted.
    #[tokio::test]
    async fn pages_by_id_use_the_location_id_index() {
        let store = SqliteStore::temporary().await.unwrap();
        let steps = plan(&store, &format!("{SELECT_PULL_SECRETS}{BY_ID_PAGE}")).await;
        assert_indexed("pull_secrets_by_id_page", &steps);
        assert!(
            steps.iter().any(|d| d.contains("pull_secrets_location_id")),
            "{steps:?}"
        );
    }

    /// Each combination of filters of the pull-secret and deployment lists, with and without a
    /// page's start, is one statement an index answers in order; so are the deliveries, the
    /// batch reads of a page's views, the audit log and audit retention.
    #[tokio::test]
    async fn list_reads_use_indexes() {
        let store = SqliteStore::temporary().await.unwrap();
        let key = ListKey {
            project: "p".into(),
            location: "l".into(),
            name: "n".into(),
        };
        for (table, select) in [
            ("pull_secrets", SELECT_PULL_SECRETS),
            ("deployments", SELECT_DEPLOYMENTS),
        ] {
            for project in [None, Some("p")] {
                for location in [None, Some("l")] {
                    for after in [None, Some(&key)] {
                        let (sql, _) = list_sql(select, project, location, after, Some(100));
                        let steps = plan(&store, &sql).await;
                        let what = format!("{table} {project:?} {location:?} {after:?}");
                        assert_indexed(&what, &steps);
                        if after.is_some() || project.is_some() || location.is_some() {
                            assert!(
                                steps.iter().all(|d| d.starts_with("SEARCH")),
                                "{what} seeks: {steps:?}"
                            );
                        }
                    }
                }
            }
        }
        for location in [false, true] {
            for owner in [false, true] {
                let sql = deliveries_sql(location, owner);
                let steps = plan(&store, sql).await;
                assert_indexed(sql, &steps);
                if owner {
                    assert!(
                        steps.iter().all(|d| d.contains("deliveries_owner_order")),
                        "{sql}: {steps:?}"
                    );
                }
            }
        }
        for (sql, index) in [
            (SELECT_DELIVERIES_IN, "deliveries_owner_order"),
            (SELECT_REFERENCES_IN, "sqlite_autoindex_pull_secret_refs"),
            (SELECT_MINTED_IN, "sqlite_autoindex_minted_credentials"),
        ] {
            let sql = &sql.replace("{}", &marks(2));
            let steps = plan(&store, sql).await;
            assert_indexed(sql, &steps);
            assert!(steps.iter().any(|d| d.contains(index)), "{sql}: {steps:?}");
        }
        for project in [false, true] {
            for before in [false, true] {
                let sql = audit_sql(project, before);
                let steps = plan(&store, sql).await;
                if project || before {
                    assert_indexed(sql, &steps);
                } else {
                    // The whole log walks the table in rowid (id) order and stops at the limit.
                    assert_eq!(steps, ["SCAN audit_events"], "{sql}");
                }
                if project {
                    assert!(
                        steps.iter().all(|d| d.contains("audit_events_project")),
                        "{sql}: {steps:?}"
                    );
                }
            }
        }
        let steps = plan(&store, DELETE_AUDIT_BEFORE).await;
        assert!(
            steps.iter().any(|d| d.contains("audit_events_time")),
            "retention finds old events by time: {steps:?}"
        );
    }

    /// A scrape must not read whole tables: the counts come from covering indexes, and the
    /// minted summary looks pull secrets up by key instead of scanning them.
    #[tokio::test]
    async fn metric_aggregates_read_indexes_not_tables() {
        let store = SqliteStore::temporary().await.unwrap();
        let count = plan(&store, COUNT_PULL_SECRETS_BY_KIND).await;
        assert!(
            count
                .iter()
                .any(|d| d.contains("COVERING INDEX pull_secrets_kind")),
            "{count:?}"
        );
        let deliveries = plan(&store, COUNT_DELIVERIES_BY_STATE).await;
        assert!(
            deliveries
                .iter()
                .any(|d| d.contains("COVERING INDEX deliveries_state")),
            "{deliveries:?}"
        );
        let minted = plan(&store, SUMMARIZE_MINTED_BY_KIND).await;
        assert!(
            minted.iter().any(|d| d.starts_with("SCAN m")),
            "walks the minted rows: {minted:?}"
        );
        assert!(
            minted
                .iter()
                .any(|d| d.starts_with("SEARCH p USING INDEX sqlite_autoindex_pull_secrets")),
            "finds each pull secret by its key: {minted:?}"
        );
    }
}
