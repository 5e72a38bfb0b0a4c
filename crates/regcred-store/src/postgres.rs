//! The PostgreSQL backend: the same tables, rules and orderings as [`crate::SqliteStore`], for
//! teams that run regcred on the database they already operate, back up and fail over.
//!
//! SQLite serializes every write behind one lock; here writers run concurrently, each mutation in
//! one READ COMMITTED transaction together with its audit event, and the rules that read before
//! they write are made race-free with locks taken first in the transaction:
//!
//! * every write of a pull secret, deployment or minted credential takes a transaction-scoped
//!   advisory lock on its **location** first, before any row lock (the change-log trigger takes
//!   the same lock, so lock order is the same for every writer and they never deadlock), and
//!   puts check the [`PutGuard`] after it. The one-project rule spans every project of a
//!   location, so a lock per (project, location) would let two projects pass it at once; the
//!   duplicate-server rule is per (project, location) and is covered by the same lock. Each
//!   statement of a READ COMMITTED transaction reads what was committed before it started, so
//!   the check after the lock sees everything the previous holder wrote. SERIALIZABLE would give
//!   the same guarantee but answers contention with serialization failures, which callers would
//!   then have to retry; the lock makes the second writer wait instead.
//! * deletes guarded by `InUse` lock the row first (`FOR UPDATE`): an insert referencing that row
//!   holds a `KEY SHARE` lock on it until it commits, so the delete waits for it and then sees
//!   the new reference instead of cascading it away.
//! * optimistic concurrency is the `WHERE id = … AND revision = …` of the update itself: a
//!   concurrent update waits for the row and then re-checks the revision.

mod listener;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres, Row, Transaction};

use crate::cache::{self, Cache, Kept, Key};
use crate::migrate::{mismatch, Migration, BOOKKEEPING, POSTGRES};
use crate::*;

/// Classes of the two-key advisory locks this store takes (the second key is a hash).
const LOCK_MIGRATE: i32 = 0x7265_6700; // "reg\0"
/// The per-location lock; the change-log trigger (migration 2) takes the same one, by its value
/// 1919248132.
const LOCK_LOCATION: i32 = 0x7265_6704;
const LOCK_TOKENS: i32 = 0x7265_6702;
const LOCK_DELIVERIES: i32 = 0x7265_6703;
const LOCK_LEASE: i32 = 0x7265_6705;

/// The database's clock in Unix milliseconds (leases are timed by it, never by a server's).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

pub use listener::LISTENER_NAME;

/// How many pull-secret views a replica keeps at most (a kilobyte or two each).
const VIEWS: usize = 10_000;
/// How many projects, locations and scope generations a replica keeps at most, each.
const NAMED: usize = 10_000;

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: PgPool,
    /// Access tokens, pull-secret views, projects, locations and scope generations read
    /// through this store, kept while the listener task listens for their changes
    /// (`listener`); the task ends with the store.
    tokens: Arc<Cache<TokenRecord>>,
    views: Arc<Cache<View>>,
    projects: Arc<Cache<ProjectRecord>>,
    locations: Arc<Cache<LocationRecord>>,
    generations: Arc<Cache<Generation>>,
    listener: tokio::task::AbortHandle,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

/// `url` with its password, if any, replaced: connection URLs go into errors and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => url.to_owned(),
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://…`) and applies migrations. A server that
    /// cannot be reached is [`StoreError::Unavailable`].
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Unavailable {
            target: redact_url(url),
            reason: format!("invalid database URL: {}", describe(&e)),
        })?;
        // One connection first: the pool retries a refused connection until its timeout, a
        // start-up should say at once that the server is not there.
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| StoreError::Unavailable {
            target: redact_url(url),
            reason: "timed out connecting".to_owned(),
        })?
        .map_err(|e| unavailable(url, e))?;
        probe.close().await.map_err(|e| unavailable(url, e))?;
        // A transaction left open (a paused server holding the lease row for a fenced write)
        // ends within bounds, so another server can take the lease over.
        let options = options.options([("idle_in_transaction_session_timeout", "10s")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| unavailable(url, e))?;
        migrate(&pool, POSTGRES).await?;
        let tokens = Arc::new(Cache::new(cache::TOKENS));
        let views = Arc::new(Cache::new(VIEWS));
        let projects = Arc::new(Cache::new(NAMED));
        let locations = Arc::new(Cache::new(NAMED));
        let generations = Arc::new(Cache::new(NAMED));
        let caches: Vec<(&'static str, Arc<dyn listener::Announced>)> = vec![
            (listener::TOKENS, tokens.clone()),
            (listener::PULL_SECRETS, views.clone()),
            (listener::PROJECTS, projects.clone()),
            (listener::LOCATIONS, locations.clone()),
            (listener::GENERATIONS, generations.clone()),
        ];
        let listener = tokio::spawn(listener::listen(options, caches)).abort_handle();
        Ok(PostgresStore {
            pool,
            tokens,
            views,
            projects,
            locations,
            generations,
            listener,
        })
    }

    /// Whether this store answers what it keeps (access tokens, pull-secret views, projects,
    /// locations, scope generations) from memory now: while its connection listens for their
    /// changes (see `postgres/listener.rs`), so not before that connection is made, nor while it
    /// is lost.
    pub fn keeps_records(&self) -> bool {
        self.tokens.is_live()
            && self.views.is_live()
            && self.projects.is_live()
            && self.locations.is_live()
            && self.generations.is_live()
    }

    /// The connection pool, for the copy from SQLite.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A writing transaction; inside [`fence::fenced`] work it first checks that the fence's
    /// lease is still held (`Fenced` otherwise), so its writes commit only under that lease.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        let mut tx = begin_on(&self.pool).await?;
        if let Some(fence) = fence::current() {
            // The row lock keeps the lease from changing hands before this transaction ends.
            let held = sqlx::query(&format!("{} FOR SHARE", fence::check_sql(NOW_MS)))
                .bind(&fence.name)
                .bind(&fence.holder)
                .bind(fence.epoch)
                .fetch_optional(&mut *tx)
                .await?;
            if held.is_none() {
                return Err(fence.refused());
            }
        }
        Ok(tx)
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
        let mut tx = self.begin().await?;
        let sql =
            format!("UPDATE {table} SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL");
        let updated = sqlx::query(&sql)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what,
                key: id.to_owned(),
            });
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A connection failure as [`StoreError::Unavailable`], other failures as they are.
fn unavailable(url: &str, e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Configuration(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Database(_) => StoreError::Unavailable {
            target: redact_url(url),
            reason: describe(&e),
        },
        other => StoreError::Backend(other),
    }
}

/// What went wrong, as a message that names no secret (sqlx's messages carry no password).
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => "timed out connecting".to_owned(),
        other => other.to_string(),
    }
}

/// `pool.begin()`, carried to its end whatever happens to the caller. sqlx 0.8's PostgreSQL
/// `begin` counts the transaction only once the server has answered `BEGIN`, so a caller dropped
/// while it waited (a client that hung up, a timeout, a pass stopped at shutdown) left the
/// connection inside a transaction that nothing ends, and the pool handed it to the next caller,
/// whose statements then ran inside it (sqlx issue #4393, fixed in sqlx 0.9.1). Spawned, the
/// begin completes, and a transaction nobody takes is rolled back when it is dropped.
pub(crate) async fn begin_on(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    let pool = pool.clone();
    let begun = tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|_| StoreError::Backend(sqlx::Error::WorkerCrashed))?;
    Ok(begun?)
}

/// Waits, in the transaction, for the advisory lock `(class, hash of key)`; released at commit
/// or rollback.
async fn lock(tx: &mut Transaction<'static, Postgres>, class: i32, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(class)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Locks the location of row `id` of `table` (`pull_secrets` or `deployments`, whose location
/// never changes); `false` when there is no such row.
async fn lock_location_of(
    tx: &mut Transaction<'static, Postgres>,
    table: &str,
    id: &str,
) -> Result<bool> {
    let location: Option<String> =
        sqlx::query_scalar(&format!("SELECT location FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    match location {
        Some(location) => {
            lock(tx, LOCK_LOCATION, &location).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

async fn migrate(pool: &PgPool, migrations: &[Migration]) -> Result<()> {
    // One transaction, behind a lock: replicas starting together apply each migration once, and
    // DDL is transactional here, so a failed migration leaves nothing behind.
    let mut tx = begin_on(pool).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(LOCK_MIGRATE)
        .execute(&mut *tx)
        .await?;
    sqlx::query(BOOKKEEPING).execute(&mut *tx).await?;
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some((newer, _)) = rows.iter().find(|(v, _)| *v > known) {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {newer}, newer than this regcred knows ({known}); upgrade regcred"
        )));
    }
    for (version, recorded) in &rows {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
            continue;
        };
        // Checksums were kept from this backend's first migration: one missing is a damaged
        // bookkeeping table, not an old one.
        let recorded = recorded.as_deref().unwrap_or("none");
        if let Some(why) = mismatch(m, Some(recorded)) {
            return Err(StoreError::Schema(why));
        }
    }
    let applied: Vec<i64> = rows.iter().map(|(v, _)| *v).collect();
    let pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    for m in pending {
        // A `&str` without arguments goes as a simple query: several statements at once.
        (&mut *tx).execute(m.sql).await?;
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
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().await?;
    Ok(())
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The [`PutGuard`] rules for a write to `project` in `location`, read in the write's
/// transaction after its location lock; `server` is the pull secret's server and id (none for a
/// deployment).
async fn check_guard(
    tx: &mut Transaction<'static, Postgres>,
    project: &str,
    location: &str,
    server: Option<(&str, &str)>,
    guard: PutGuard,
) -> Result<()> {
    if let (true, Some((server, id))) = (guard.unique_server, server) {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT name FROM pull_secrets
             WHERE project = $1 AND location = $2 AND server = $3 AND id <> $4
             ORDER BY created_at, id LIMIT 1",
        )
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
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pull_secrets WHERE location = $1 AND project <> $2)
                 OR EXISTS (SELECT 1 FROM deployments WHERE location = $1 AND project <> $2)",
        )
        .bind(location)
        .bind(project)
        .fetch_one(&mut **tx)
        .await?;
        if taken {
            return Err(StoreError::LocationTaken);
        }
    }
    Ok(())
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

/// Maps a foreign-key violation to `NotFound` of `what` `key`.
fn missing_as(what: &'static str, key: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound { what, key }
        }
        _ => e.into(),
    }
}

/// Refuses with `InUse` while pull secrets or deployments have `column = value` (`project` or
/// `location`); each is named by the other column and its name.
async fn refuse_while_pull_secrets(
    tx: &mut Transaction<'static, Postgres>,
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

async fn insert_audit(tx: &mut Transaction<'static, Postgres>, a: &AuditRecord) -> Result<()> {
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

fn project_row(r: &PgRow) -> Result<ProjectRecord> {
    Ok(ProjectRecord {
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

fn location_row(r: &PgRow) -> Result<LocationRecord> {
    Ok(LocationRecord {
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        spec: r.try_get("spec")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

fn pull_secret_row(r: &PgRow) -> Result<PullSecretRecord> {
    // A delivery pass decodes whole locations of these, on a paced thread.
    regcred_core::pace::point();
    Ok(PullSecretRecord {
        id: r.try_get("id")?,
        project: r.try_get("project")?,
        location: r.try_get("location")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        server: r.try_get("server")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        params: r.try_get("params")?,
        fingerprint: r.try_get("fingerprint")?,
        revision: r.try_get("revision")?,
        sealed: Sealed {
            key_id: r.try_get("key_id")?,
            nonce: r.try_get("nonce")?,
            ciphertext: r.try_get("ciphertext")?,
        },
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
        verification: r.try_get("verification")?,
    })
}

fn deployment_row(r: &PgRow) -> Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: r.try_get("id")?,
        project: r.try_get("project")?,
        location: r.try_get("location")?,
        name: r.try_get("name")?,
        revision: r.try_get("revision")?,
        spec: r.try_get("spec")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

fn token_row(r: &PgRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        project: r.try_get("project")?,
        role: r.try_get("role")?,
        hash: r.try_get("hash")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn registry_key_row(r: &PgRow) -> Result<RegistryKeyRecord> {
    Ok(RegistryKeyRecord {
        id: r.try_get("id")?,
        project: r.try_get("project")?,
        name: r.try_get("name")?,
        access: r.try_get("access")?,
        hash: r.try_get("hash")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn minted_row(r: &PgRow) -> Result<MintedRecord> {
    let key_id: Option<String> = r.try_get("key_id")?;
    let nonce: Option<Vec<u8>> = r.try_get("nonce")?;
    let ciphertext: Option<Vec<u8>> = r.try_get("ciphertext")?;
    let sealed = match (key_id, nonce, ciphertext) {
        (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
            key_id,
            nonce,
            ciphertext,
        }),
        _ => None,
    };
    Ok(MintedRecord {
        pull_secret_id: r.try_get("pull_secret_id")?,
        revision: r.try_get("revision")?,
        username: r.try_get("username")?,
        endpoint: r.try_get("endpoint")?,
        sealed,
        expires_at: r.try_get("expires_at")?,
        refreshed_at: r.try_get("refreshed_at")?,
        attempted_at: r.try_get("attempted_at")?,
        failures: r.try_get("failures")?,
        last_error: r.try_get("last_error")?,
        next_refresh_at: r.try_get("next_refresh_at")?,
    })
}

fn audit_row(r: &PgRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        time: r.try_get("time")?,
        actor: r.try_get("actor")?,
        channel: r.try_get("channel")?,
        action: r.try_get("action")?,
        project: r.try_get("project")?,
        target: r.try_get("target")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
    })
}

fn lease_row(r: &PgRow) -> Result<Lease> {
    Ok(Lease {
        name: r.try_get("name")?,
        holder: r.try_get("holder")?,
        epoch: r.try_get("epoch")?,
        expires_at: r.try_get("expires_at")?,
        url: r.try_get("url")?,
    })
}

fn delivery_row(r: &PgRow) -> Result<DeliveryRecord> {
    // A delivery pass decodes whole locations of these, on a paced thread.
    regcred_core::pace::point();
    Ok(DeliveryRecord {
        location: r.try_get("location")?,
        target: r.try_get("target")?,
        owner_id: r.try_get("owner_id")?,
        state: r.try_get("state")?,
        revision: r.try_get("revision")?,
        digest: r.try_get("digest")?,
        code: r.try_get("code")?,
        message: r.try_get("message")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The columns `facts_references` and `facts_deliveries` of a statement: the references and the
/// deliveries of the pull secrets whose id is `{which}` (`= p.id`, `= ANY($1)`), as JSON arrays
/// of `[id, kind, name]` and `[owner id, [delivery]]` in the order of `references_of` and
/// `deliveries_of`, which [`facts_of`] decodes.
fn facts_columns(which: &str) -> String {
    format!(
        "(SELECT coalesce(json_agg(json_build_array(pull_secret_id, referrer_kind, referrer_name)
                                  ORDER BY pull_secret_id, referrer_kind, referrer_name), '[]')::text
            FROM pull_secret_refs WHERE pull_secret_id {which}) AS facts_references,
         (SELECT coalesce(json_agg(json_build_array(owner_id, json_build_array(location, target,
                                       state, revision, digest, code, message, updated_at))
                                  ORDER BY owner_id, location, target), '[]')::text
            FROM deliveries WHERE owner_id {which}) AS facts_deliveries"
    )
}

/// The facts of a row with [`facts_columns`], with `minted`.
fn facts_of(row: &PgRow, minted: Vec<MintedRecord>) -> Result<PullSecretFacts> {
    let references: Vec<(String, String, String)> = from_json(row, "facts_references")?;
    let deliveries: Vec<(String, DescribedDelivery)> = from_json(row, "facts_deliveries")?;
    Ok(PullSecretFacts {
        references: references
            .into_iter()
            .map(|(id, kind, name)| (id, ReferrerRecord { kind, name }))
            .collect(),
        minted,
        deliveries: deliveries.into_iter().map(|(id, d)| d.of(id)).collect(),
    })
}

/// The pull secrets `which` selects, each with its facts ([`facts_columns`]) and whether it has
/// minted state: how views are read ([`View`]).
fn described_sql(which: &str) -> String {
    format!(
        "SELECT {PULL_SECRET_COLUMNS}, {},
           EXISTS (SELECT 1 FROM minted_credentials WHERE pull_secret_id = p.id) AS described_minted
         FROM pull_secrets p WHERE {which}",
        facts_columns("= p.id")
    )
}

/// [`Store::described_pull_secret`]'s statement: the pull secret at an address.
static DESCRIBED_PULL_SECRET: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| described_sql("project = $1 AND location = $2 AND name = $3"));

/// [`Store::described_pull_secrets_page`]'s statement: the pull secrets `$1` it does not keep.
static DESCRIBED_PULL_SECRETS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| described_sql("id = ANY($1)"));

/// [`Store::pull_secret_facts`]' statement: the facts of the pull secrets `$1`.
static PULL_SECRET_FACTS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {}", facts_columns("= ANY($1)")));

/// A pull secret with the facts its view shows, its minted state whenever it has one, as
/// [`Store::described_pull_secret`] reads it: kept by address (`crate::cache`) while the
/// replica listens for changes of pull secrets.
#[derive(Clone)]
struct View {
    record: PullSecretRecord,
    facts: PullSecretFacts,
}

impl View {
    /// The record and its facts, minted state only when its kind is one of `minting_kinds`.
    fn shown(self, minting_kinds: &[&str]) -> (PullSecretRecord, PullSecretFacts) {
        let View { record, mut facts } = self;
        if !minting_kinds.contains(&record.kind.as_str()) {
            facts.minted.clear();
        }
        (record, facts)
    }
}

impl Kept for View {
    fn id(&self) -> &str {
        &self.record.id
    }
    fn alias(&self) -> Option<String> {
        let r = &self.record;
        Some(address(&r.project, &r.location, &r.name))
    }
}

/// The pull-secret generation of a scope ([`Store::pull_secret_generation`]), kept by
/// [`scope_of`] while the replica listens for changes of generations (migration 8).
#[derive(Clone)]
struct Generation {
    scope: String,
    value: i64,
}

impl Kept for Generation {
    fn id(&self) -> &str {
        &self.scope
    }
}

/// A scope as migration 8 announces it: `project/location` (names hold no `/`).
fn scope_of(project: &str, location: &str) -> String {
    format!("{project}/{location}")
}

impl Kept for ProjectRecord {
    fn id(&self) -> &str {
        &self.name
    }
}

impl Kept for LocationRecord {
    fn id(&self) -> &str {
        &self.name
    }
}

/// A pull secret's address as one key (names cannot hold a NUL).
fn address(project: &str, location: &str, name: &str) -> String {
    format!("{project}\0{location}\0{name}")
}

/// One delivery of [`facts_columns`], in its column order.
#[derive(serde::Deserialize)]
struct DescribedDelivery(
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

impl DescribedDelivery {
    fn of(self, owner_id: String) -> DeliveryRecord {
        let DescribedDelivery(location, target, state, revision, digest, code, message, at) = self;
        DeliveryRecord {
            location,
            target,
            owner_id,
            state,
            revision,
            digest,
            code,
            message,
            updated_at: at,
        }
    }
}

/// A JSON column of `row`, decoded.
fn from_json<T: serde::de::DeserializeOwned>(row: &PgRow, column: &str) -> Result<T> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Schema(format!("column {column} does not decode: {e}")))
}

/// Rows per statement of a location's delivery rows.
const LOCATION_PAGE: i64 = 250;

const PULL_SECRET_COLUMNS: &str = "id, project, location, name, kind, server, username, email, \
    params, fingerprint, revision, key_id, nonce, ciphertext, created_at, created_by, updated_at, \
    updated_by, verification";

const SELECT_PULL_SECRETS: &str = "SELECT id, project, location, name, kind, server, username, \
    email, params, fingerprint, revision, key_id, nonce, ciphertext, created_at, created_by, \
    updated_at, updated_by, verification FROM pull_secrets";
const SELECT_DEPLOYMENTS: &str = "SELECT * FROM deployments";
const SELECT_GENERATION: &str =
    "SELECT generation FROM pull_secret_generations WHERE project = $1 AND location = $2";

const COUNT_PULL_SECRETS_BY_KIND: &str =
    "SELECT kind, COUNT(*) AS n FROM pull_secrets GROUP BY kind ORDER BY kind";
const COUNT_DELIVERIES_BY_STATE: &str = "SELECT location, state, COUNT(*) AS n FROM deliveries
     GROUP BY location, state ORDER BY location, state";
// Rows minted from an earlier revision describe a credential that is never served again.
const SUMMARIZE_MINTED_BY_KIND: &str = "SELECT p.kind AS kind, COUNT(*) AS n,
        MIN(CASE WHEN m.ciphertext IS NOT NULL THEN m.expires_at END) AS earliest,
        COUNT(*) FILTER (WHERE m.failures > 0) AS failing
     FROM minted_credentials m
     JOIN pull_secrets p ON p.id = m.pull_secret_id AND p.revision = m.revision
     GROUP BY p.kind ORDER BY p.kind";

/// One batch of audit retention: the oldest events before a time, through `audit_events_time`.
const DELETE_AUDIT_BEFORE: &str = "DELETE FROM audit_events WHERE id IN
     (SELECT id FROM audit_events WHERE time < $1 ORDER BY time LIMIT $2)";

/// A list of pull secrets or deployments in `(project, location, name)` order, as the SQLite
/// backend builds it (one statement per combination of filters, a row-value comparison past
/// `after` on the columns left), with numbered parameters. Answers the SQL and the values to
/// bind, in order.
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
                binds.push(value.to_owned());
                conditions.push(format!("{column} = ${}", binds.len()));
            }
            None => rest.push((column, key)),
        }
    }
    let columns: Vec<&str> = rest.iter().map(|(c, _)| *c).collect();
    if after.is_some() {
        let first = binds.len() + 1;
        binds.extend(rest.iter().filter_map(|(_, k)| k.cloned()));
        let marks: Vec<String> = (first..=binds.len()).map(|i| format!("${i}")).collect();
        conditions.push(format!("({}) > ({})", columns.join(", "), marks.join(", ")));
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

/// `SELECT * FROM deliveries` filtered by location and owner, one statement per combination.
fn deliveries_sql(location: bool, owner: bool) -> &'static str {
    match (location, owner) {
        (false, false) => "SELECT * FROM deliveries ORDER BY location, target, owner_id",
        (true, false) => {
            "SELECT * FROM deliveries WHERE location = $1 ORDER BY location, target, owner_id"
        }
        (false, true) => {
            "SELECT * FROM deliveries WHERE owner_id = $1 ORDER BY location, target, owner_id"
        }
        (true, true) => {
            "SELECT * FROM deliveries WHERE owner_id = $1 AND location = $2 ORDER BY target"
        }
    }
}

/// The audit log newest first, one statement per combination of filters.
fn audit_sql(project: bool, before: bool) -> &'static str {
    match (project, before) {
        (false, false) => "SELECT * FROM audit_events ORDER BY id DESC LIMIT $1",
        (true, false) => "SELECT * FROM audit_events WHERE project = $1 ORDER BY id DESC LIMIT $2",
        (false, true) => "SELECT * FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2",
        (true, true) => {
            "SELECT * FROM audit_events WHERE project = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        }
    }
}

impl PostgresStore {
    /// Forgets, once a write of pull secret `id` of (`project`, `location`) has committed, what
    /// it changed: its view and its scope's generation.
    fn forget_pull_secret(&self, id: &str, project: &str, location: &str) {
        self.views.forget(Some(id));
        self.generations.forget(Some(&scope_of(project, location)));
    }

    /// The views in `rows` of a described statement ([`described_sql`]), in their order; the
    /// minted state of those that have one is one more read for all of them.
    async fn views_of(&self, rows: Vec<PgRow>) -> Result<Vec<View>> {
        let mut minting = Vec::new();
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = pull_secret_row(row)?;
            if row.try_get("described_minted")? {
                minting.push(record.id.clone());
            }
            let facts = facts_of(row, Vec::new())?;
            views.push(View { record, facts });
        }
        if !minting.is_empty() {
            let mut minted: HashMap<String, MintedRecord> = (self.minted_of(&minting).await?)
                .into_iter()
                .map(|m| (m.pull_secret_id.clone(), m))
                .collect();
            for view in &mut views {
                view.facts.minted.extend(minted.remove(&view.record.id));
            }
        }
        Ok(views)
    }

    /// Runs a [`list_sql`] statement.
    async fn fetch_list(&self, sql: &str, binds: &[String]) -> Result<Vec<PgRow>> {
        let mut query = sqlx::query(sql);
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Runs `sql`, whose `$1` is a text array of `ids`.
    async fn fetch_in(&self, sql: &str, ids: &[String]) -> Result<Vec<PgRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query(sql).bind(ids).fetch_all(&self.pool).await?)
    }

    /// A location's delivery rows (what a full pass reads, twice), in keyset pages of
    /// [`LOCATION_PAGE`] rows read in one read-only snapshot. One statement for 100,000 rows kept
    /// the database server's process busy for tens of milliseconds at a stretch, on the cores
    /// that answer requests; a page is about a millisecond, and the pass rests between pages.
    async fn location_deliveries(&self, location: &str) -> Result<Vec<DeliveryRecord>> {
        let mut tx = begin_on(&self.pool).await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut out: Vec<DeliveryRecord> = Vec::new();
        loop {
            // Every (target, owner) sorts after ("", ""): no row has an empty target.
            let (target, owner_id) = out
                .last()
                .map_or(("", ""), |r| (r.target.as_str(), r.owner_id.as_str()));
            let rows = sqlx::query(
                "SELECT * FROM deliveries WHERE location = $1 AND (target, owner_id) > ($2, $3)
                 ORDER BY target, owner_id LIMIT $4",
            )
            .bind(location)
            .bind(target)
            .bind(owner_id)
            .bind(LOCATION_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let full = rows.len() as i64 == LOCATION_PAGE;
            for row in &rows {
                out.push(delivery_row(row)?);
            }
            if !full {
                break;
            }
        }
        tx.commit().await?;
        Ok(out)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_project(&self, p: &ProjectRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO projects (name, description, created_at, created_by)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.created_at)
        .bind(&p.created_by)
        .execute(&mut *tx)
        .await
        .map_err(exists_as("project", &p.name))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        let read = async {
            sqlx::query("SELECT * FROM projects WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| project_row(&r))
                .transpose()
        };
        self.projects.get_or_read(Key::Id(name), read).await
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
        let mut tx = self.begin().await?;
        // Writers adding rows to the project hold KEY SHARE on it until they commit: wait for
        // them, then see their rows.
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM projects WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                what: "project",
                key: name.to_owned(),
            });
        }
        refuse_while_pull_secrets(&mut tx, "project", "project", name).await?;
        // Keys of the platform registry die with their project.
        sqlx::query("DELETE FROM registry_keys WHERE project = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM projects WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE project = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.tokens.forget(None);
        self.projects.forget(Some(name));
        Ok(())
    }

    async fn create_location(&self, l: &LocationRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO locations (name, kind, spec, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&l.name)
        .bind(&l.kind)
        .bind(&l.spec)
        .bind(l.created_at)
        .bind(&l.created_by)
        .execute(&mut *tx)
        .await
        .map_err(exists_as("location", &l.name))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_location(&self, name: &str) -> Result<Option<LocationRecord>> {
        let read = async {
            sqlx::query("SELECT * FROM locations WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| location_row(&r))
                .transpose()
        };
        self.locations.get_or_read(Key::Id(name), read).await
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
        let mut tx = self.begin().await?;
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM locations WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                what: "location",
                key: name.to_owned(),
            });
        }
        refuse_while_pull_secrets(&mut tx, "location", "location", name).await?;
        sqlx::query("DELETE FROM locations WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.locations.forget(Some(name));
        Ok(())
    }

    async fn put_pull_secret(
        &self,
        s: &PullSecretRecord,
        expected_revision: Option<i64>,
        guard: PutGuard,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        lock(&mut tx, LOCK_LOCATION, &s.location).await?;
        check_guard(
            &mut tx,
            &s.project,
            &s.location,
            Some((&s.server, &s.id)),
            guard,
        )
        .await?;
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
                    .execute(&mut *tx)
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
                        ciphertext = $10, updated_at = $11, updated_by = $12, verification = $13
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
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::Conflict {
                        what: "pull secret",
                        key,
                    });
                }
            }
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.forget_pull_secret(&s.id, &s.project, &s.location);
        Ok(())
    }

    async fn get_pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
    ) -> Result<Option<PullSecretRecord>> {
        let sql = format!(
            "SELECT {PULL_SECRET_COLUMNS} FROM pull_secrets
             WHERE project = $1 AND location = $2 AND name = $3"
        );
        sqlx::query(&sql)
            .bind(project)
            .bind(location)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| pull_secret_row(&r))
            .transpose()
    }

    async fn get_pull_secret_by_id(&self, id: &str) -> Result<Option<PullSecretRecord>> {
        let sql = format!("SELECT {PULL_SECRET_COLUMNS} FROM pull_secrets WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| pull_secret_row(&r))
            .transpose()
    }

    async fn list_pull_secrets(
        &self,
        project: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<PullSecretRecord>> {
        let (sql, binds) = list_sql(SELECT_PULL_SECRETS, project, location, None, None);
        self.fetch_list(&sql, &binds)
            .await?
            .iter()
            .map(pull_secret_row)
            .collect()
    }

    async fn list_pull_secrets_page(&self, page: ListPage<'_>) -> Result<Vec<PullSecretRecord>> {
        let (sql, binds) = list_sql(
            SELECT_PULL_SECRETS,
            page.project,
            page.location,
            page.after,
            Some(page.limit),
        );
        self.fetch_list(&sql, &binds)
            .await?
            .iter()
            .map(pull_secret_row)
            .collect()
    }

    async fn list_pull_secrets_of_kinds(&self, kinds: &[&str]) -> Result<Vec<PullSecretRecord>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{SELECT_PULL_SECRETS} WHERE kind = ANY($1) ORDER BY id");
        sqlx::query(&sql)
            .bind(kinds)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(pull_secret_row)
            .collect()
    }

    async fn pull_secrets_by_ids(&self, ids: &[String]) -> Result<Vec<PullSecretRecord>> {
        let sql = format!("{SELECT_PULL_SECRETS} WHERE id = ANY($1) ORDER BY id");
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
        // One range of the `(location, id)` index (migration 5); every id sorts after "".
        let sql =
            format!("{SELECT_PULL_SECRETS} WHERE location = $1 AND id > $2 ORDER BY id LIMIT $3");
        sqlx::query(&sql)
            .bind(location)
            .bind(after.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(pull_secret_row)
            .collect()
    }

    async fn pull_secret_facts(
        &self,
        pull_secret_ids: &[String],
        minting: &[String],
    ) -> Result<PullSecretFacts> {
        // References and deliveries in one statement, so one round trip and one snapshot;
        // minted state, which only minting kinds have, is a read of its own.
        let row = sqlx::query(&PULL_SECRET_FACTS)
            .bind(pull_secret_ids)
            .fetch_one(&self.pool)
            .await?;
        facts_of(&row, self.minted_of(minting).await?)
    }

    async fn described_pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
        minting_kinds: &[&str],
    ) -> Result<Option<(PullSecretRecord, PullSecretFacts)>> {
        // From memory while this replica listens for changes (`postgres/listener.rs`);
        // otherwise one statement, so one round trip and one snapshot: the record, with its
        // references and deliveries aggregated as JSON arrays. (Three statements made a `get`
        // on PostgreSQL mostly round trips: README "Performance".) Minted state, which only
        // minting kinds have, is a read of its own, made when the row says there is one; what
        // is kept is the same whatever kinds the caller shows minted state for.
        let read = async {
            let row = sqlx::query(&DESCRIBED_PULL_SECRET)
                .bind(project)
                .bind(location)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            Ok(self.views_of(Vec::from_iter(row)).await?.pop())
        };
        let key = address(project, location, name);
        let view = self.views.get_or_read(Key::Alias(&key), read).await?;
        Ok(view.map(|v| v.shown(minting_kinds)))
    }

    async fn described_pull_secrets_page(
        &self,
        page: ListPage<'_>,
        minting_kinds: &[&str],
    ) -> Result<Vec<(PullSecretRecord, PullSecretFacts)>> {
        // The page's ids (one range of the `(project, location, name)` index), then the views
        // of those this replica does not keep, in one statement: a page of kept views costs the
        // database one small read.
        let (sql, binds) = list_sql(
            "SELECT id FROM pull_secrets",
            page.project,
            page.location,
            page.after,
            Some(page.limit),
        );
        let ids: Vec<String> = self
            .fetch_list(&sql, &binds)
            .await?
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
        let read = |missing: Vec<String>| async move {
            let rows = self.fetch_in(&DESCRIBED_PULL_SECRETS, &missing).await?;
            self.views_of(rows).await
        };
        let views = self.views.get_or_read_each(&ids, read).await?;
        Ok(views.into_iter().map(|v| v.shown(minting_kinds)).collect())
    }

    async fn pull_secret_generation(&self, project: &str, location: &str) -> Result<i64> {
        let scope = scope_of(project, location);
        let read = async {
            let value: Option<i64> = sqlx::query_scalar(SELECT_GENERATION)
                .bind(project)
                .bind(location)
                .fetch_optional(&self.pool)
                .await?;
            Ok(value.map(|value| Generation {
                scope: scope.clone(),
                value,
            }))
        };
        let generation = self.generations.get_or_read(Key::Id(&scope), read).await?;
        Ok(generation.map_or(0, |g| g.value))
    }

    async fn pull_secret_keys(&self, project: &str, location: &str) -> Result<PullSecretKeys> {
        // One snapshot for both reads (READ COMMITTED would take one per statement). A read,
        // so unfenced: the fence's check would be a query before SET TRANSACTION, which must
        // come first.
        let mut tx = begin_on(&self.pool).await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let generation: Option<i64> = sqlx::query_scalar(SELECT_GENERATION)
            .bind(project)
            .bind(location)
            .fetch_optional(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT id, name, kind, server FROM pull_secrets
             WHERE project = $1 AND location = $2 ORDER BY name",
        )
        .bind(project)
        .bind(location)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let keys = rows
            .iter()
            .map(|r| {
                Ok(PullSecretKey {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    server: r.try_get("server")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PullSecretKeys {
            generation: generation.unwrap_or(0),
            keys,
        })
    }

    async fn record_verification(
        &self,
        id: &str,
        revision: i64,
        verification: &str,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE pull_secrets SET verification = $1 WHERE id = $2 AND revision = $3",
        )
        .bind(verification)
        .bind(id)
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                what: "pull secret",
                key: id.to_owned(),
            });
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        // A check moves no generation (migration 2's trigger ignores the column).
        self.views.forget(Some(id));
        Ok(())
    }

    async fn delete_pull_secret(&self, id: &str, force: bool, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_location_of(&mut tx, "pull_secrets", id).await?;
        // A reference being added holds KEY SHARE on the pull secret until it commits: wait for
        // it, so the check below sees it rather than the delete cascading it away.
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM pull_secrets WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                what: "pull secret",
                key: id.to_owned(),
            });
        }
        if !force {
            let refs: Vec<(String, String)> = sqlx::query_as(
                "SELECT referrer_kind, referrer_name FROM pull_secret_refs
                 WHERE pull_secret_id = $1 ORDER BY referrer_kind, referrer_name",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            if !refs.is_empty() {
                return Err(StoreError::InUse {
                    what: "pull secret",
                    key: id.to_owned(),
                    by: refs.into_iter().map(|(k, n)| format!("{k} {n}")).collect(),
                });
            }
        }
        let (project, location): (String, String) =
            sqlx::query_as("DELETE FROM pull_secrets WHERE id = $1 RETURNING project, location")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.forget_pull_secret(id, &project, &location);
        Ok(())
    }

    async fn add_reference(&self, pull_secret_id: &str, r: &ReferrerRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO pull_secret_refs (pull_secret_id, referrer_kind, referrer_name)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(pull_secret_id)
        .bind(&r.kind)
        .bind(&r.name)
        .execute(&self.pool)
        .await
        .map_err(missing_as("pull secret", pull_secret_id.to_owned()))?;
        self.views.forget(Some(pull_secret_id));
        Ok(())
    }

    async fn remove_reference(&self, pull_secret_id: &str, r: &ReferrerRecord) -> Result<()> {
        sqlx::query(
            "DELETE FROM pull_secret_refs
             WHERE pull_secret_id = $1 AND referrer_kind = $2 AND referrer_name = $3",
        )
        .bind(pull_secret_id)
        .bind(&r.kind)
        .bind(&r.name)
        .execute(&self.pool)
        .await?;
        self.views.forget(Some(pull_secret_id));
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
        self.fetch_in(
            "SELECT pull_secret_id, referrer_kind, referrer_name FROM pull_secret_refs
             WHERE pull_secret_id = ANY($1) ORDER BY pull_secret_id, referrer_kind, referrer_name",
            pull_secret_ids,
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("pull_secret_id")?,
                ReferrerRecord {
                    kind: r.try_get("referrer_kind")?,
                    name: r.try_get("referrer_name")?,
                },
            ))
        })
        .collect()
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
        let mut tx = self.begin().await?;
        lock(&mut tx, LOCK_LOCATION, &d.location).await?;
        check_guard(&mut tx, &d.project, &d.location, None, guard).await?;
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
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        StoreError::NotFound {
                            what: "project or location",
                            key: format!("{}/{}", d.project, d.location),
                        }
                    }
                    _ => exists_as("deployment", &key)(e),
                })?;
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
                .execute(&mut *tx)
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
        .bind(revision_spec)
        .bind(d.updated_at)
        .bind(&d.updated_by)
        .execute(&mut *tx)
        .await?;
        let unreferenced: Vec<String> = sqlx::query_scalar(
            "DELETE FROM pull_secret_refs WHERE referrer_kind = 'deployment'
             AND referrer_name = $1 RETURNING pull_secret_id",
        )
        .bind(&key)
        .fetch_all(&mut *tx)
        .await?;
        for id in pull_secret_ids {
            sqlx::query(
                "INSERT INTO pull_secret_refs (pull_secret_id, referrer_kind, referrer_name)
                 VALUES ($1, 'deployment', $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(missing_as("pull secret", id.clone()))?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        let touched = unreferenced.iter().chain(pull_secret_ids);
        self.views.forget_each(touched.map(String::as_str));
        Ok(())
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
        let sql = format!("{SELECT_DEPLOYMENTS} WHERE id = ANY($1) ORDER BY id");
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
                    deployment_id: r.try_get("deployment_id")?,
                    revision: r.try_get("revision")?,
                    spec: r.try_get("spec")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn delete_deployment(&self, id: &str, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_location_of(&mut tx, "deployments", id).await?;
        // The row before its references, as a concurrent update does.
        let key: Option<String> = sqlx::query_scalar(
            "SELECT project || '/' || location || '/' || name FROM deployments WHERE id = $1
             FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(key) = key else {
            return Err(StoreError::NotFound {
                what: "deployment",
                key: id.to_owned(),
            });
        };
        let unreferenced: Vec<String> = sqlx::query_scalar(
            "DELETE FROM pull_secret_refs WHERE referrer_kind = 'deployment'
             AND referrer_name = $1 RETURNING pull_secret_id",
        )
        .bind(&key)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM deployments WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.views
            .forget_each(unreferenced.iter().map(String::as_str));
        Ok(())
    }

    async fn list_deliveries(
        &self,
        location: Option<&str>,
        owner_id: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>> {
        if let (Some(location), None) = (location, owner_id) {
            return self.location_deliveries(location).await;
        }
        let mut query = sqlx::query(deliveries_sql(location.is_some(), owner_id.is_some()));
        if let Some(owner_id) = owner_id {
            query = query.bind(owner_id);
        }
        if let Some(location) = location {
            query = query.bind(location);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(delivery_row)
            .collect()
    }

    async fn deliveries_of(&self, owner_ids: &[String]) -> Result<Vec<DeliveryRecord>> {
        self.fetch_in(
            "SELECT * FROM deliveries WHERE owner_id = ANY($1) ORDER BY owner_id, location, target",
            owner_ids,
        )
        .await?
        .iter()
        .map(delivery_row)
        .collect()
    }

    async fn deliveries_at(
        &self,
        location: &str,
        targets: &[String],
    ) -> Result<Vec<DeliveryRecord>> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(
            "SELECT * FROM deliveries WHERE location = $1 AND target = ANY($2)
             ORDER BY location, target, owner_id",
        )
        .bind(location)
        .bind(targets)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delivery_row)
        .collect()
    }

    async fn analyze_deliveries(&self) -> Result<()> {
        sqlx::query("ANALYZE deliveries")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn update_deliveries(
        &self,
        location: &str,
        put: &[DeliveryRecord],
        remove: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // Two passes over one location write overlapping rows in any order: one at a time.
        lock(&mut tx, LOCK_DELIVERIES, location).await?;
        for (target, owner_id) in remove {
            sqlx::query(
                "DELETE FROM deliveries WHERE location = $1 AND target = $2 AND owner_id = $3",
            )
            .bind(location)
            .bind(target)
            .bind(owner_id)
            .execute(&mut *tx)
            .await?;
        }
        for d in put {
            sqlx::query(
                "INSERT INTO deliveries (location, target, owner_id, state, revision, digest,
                    code, message, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (location, target, owner_id) DO UPDATE SET
                    state = excluded.state, revision = excluded.revision,
                    digest = excluded.digest, code = excluded.code,
                    message = excluded.message, updated_at = excluded.updated_at",
            )
            .bind(location)
            .bind(&d.target)
            .bind(&d.owner_id)
            .bind(&d.state)
            .bind(d.revision)
            .bind(&d.digest)
            .bind(&d.code)
            .bind(&d.message)
            .bind(d.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let owners = remove.iter().map(|(_, owner)| owner);
        let owners = owners.chain(put.iter().map(|d| &d.owner_id));
        self.views.forget_each(owners.map(String::as_str));
        Ok(())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        url: Option<&str>,
        ttl_ms: i64,
    ) -> Result<Option<Lease>> {
        // Not `begin`: taking a lease is never fenced. Acquirers take turns on the lock.
        let mut tx = begin_on(&self.pool).await?;
        lock(&mut tx, LOCK_LEASE, name).await?;
        let now: i64 = sqlx::query_scalar(&format!("SELECT {NOW_MS}"))
            .fetch_one(&mut *tx)
            .await?;
        let stored = sqlx::query("SELECT * FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| lease_row(&r))
            .transpose()?;
        let Some(lease) = fence::grant(stored.as_ref(), name, holder, url, now, ttl_ms) else {
            return Ok(None);
        };
        sqlx::query(fence::UPSERT_SQL)
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.epoch)
            .bind(lease.expires_at)
            .bind(&lease.url)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(lease))
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE leases SET expires_at = {NOW_MS} WHERE name = $1 AND holder = $2"
        ))
        .bind(name)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
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
            sqlx::query_scalar("SELECT max(seq) FROM changes WHERE location = $1")
                .bind(location)
                .fetch_one(&self.pool)
                .await?;
        Ok(last.unwrap_or(0))
    }

    async fn changes_since(&self, location: &str, after: i64) -> Result<Changes> {
        let rows = sqlx::query(
            "SELECT seq, owner_id FROM changes WHERE location = $1 AND seq > $2 ORDER BY seq",
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
            changes.last = r.try_get("seq")?;
            let owner: String = r.try_get("owner_id")?;
            if seen.insert(owner.clone()) {
                changes.owners.push(owner);
            }
        }
        Ok(changes)
    }

    async fn forget_changes(&self, location: &str, through: i64) -> Result<()> {
        sqlx::query("DELETE FROM changes WHERE location = $1 AND seq <= $2")
            .bind(location)
            .bind(through)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_token(&self, t: &TokenRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
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
        .execute(&mut *tx)
        .await
        .map_err(exists_as("token", &t.id))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let read = async {
            sqlx::query("SELECT * FROM tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| token_row(&r))
                .transpose()
        };
        self.tokens.get_or_read(Key::Id(id), read).await
    }

    async fn list_tokens(&self, project: Option<&str>) -> Result<Vec<TokenRecord>> {
        let query = match project {
            Some(project) => {
                sqlx::query("SELECT * FROM tokens WHERE project = $1 ORDER BY created_at, id")
                    .bind(project)
            }
            None => sqlx::query("SELECT * FROM tokens ORDER BY created_at, id"),
        };
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(token_row)
            .collect()
    }

    async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        // Two revocations of overlapping lineages would update the same rows in different
        // orders: one at a time (revocations are rare).
        lock(&mut tx, LOCK_TOKENS, "").await?;
        let updated: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE lineage(id) AS (
                 SELECT $2::text COLLATE \"C\"
                 UNION
                 SELECT t.id FROM tokens t JOIN lineage l ON t.created_by = l.id
             )
             UPDATE tokens SET revoked_at = $1
             WHERE revoked_at IS NULL AND id IN (SELECT id FROM lineage)
             RETURNING id",
        )
        .bind(at)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if !updated.iter().any(|u| u == id) {
            return Err(StoreError::NotFound {
                what: "token",
                key: id.to_owned(),
            });
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        // This replica's next request sees the revocation without waiting for the notification.
        for id in &updated {
            self.tokens.forget(Some(id));
        }
        Ok(())
    }

    async fn create_registry_key(&self, k: &RegistryKeyRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        let key = format!("{}/{}", k.project, k.name);
        sqlx::query(
            "INSERT INTO registry_keys (id, project, name, access, hash, created_at, created_by,
                expires_at, revoked_at)
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
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound {
                what: "project",
                key: k.project.clone(),
            },
            _ => exists_as("registry key", &key)(e),
        })?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
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
        let mut tx = self.begin().await?;
        if !lock_location_of(&mut tx, "pull_secrets", &m.pull_secret_id).await? {
            return Err(StoreError::NotFound {
                what: "pull secret",
                key: m.pull_secret_id.clone(),
            });
        }
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
        .execute(&mut *tx)
        .await
        .map_err(missing_as("pull secret", m.pull_secret_id.clone()))?;
        tx.commit().await?;
        self.views.forget(Some(&m.pull_secret_id));
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
        self.fetch_in(
            "SELECT * FROM minted_credentials WHERE pull_secret_id = ANY($1)
             ORDER BY pull_secret_id",
            pull_secret_ids,
        )
        .await?
        .iter()
        .map(minted_row)
        .collect()
    }

    async fn count_pull_secrets_by_kind(&self) -> Result<Vec<PullSecretCount>> {
        sqlx::query(COUNT_PULL_SECRETS_BY_KIND)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(PullSecretCount {
                    kind: r.try_get("kind")?,
                    count: r.try_get("n")?,
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
                    location: r.try_get("location")?,
                    state: r.try_get("state")?,
                    count: r.try_get("n")?,
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
                    kind: r.try_get("kind")?,
                    count: r.try_get("n")?,
                    earliest_expiry: r.try_get("earliest")?,
                    failing: r.try_get("failing")?,
                })
            })
            .collect()
    }

    async fn append_audit(&self, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
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
        let deleted = sqlx::query(DELETE_AUDIT_BEFORE)
            .bind(time)
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
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
                    id_hash: r.try_get("id_hash")?,
                    token_id: r.try_get("token_id")?,
                    csrf: r.try_get("csrf")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .transpose()
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
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
        let mut tx = self.begin().await?;
        let replaced = sqlx::query("UPDATE meta SET value = $1 WHERE key = $2 AND value = $3")
            .bind(value)
            .bind(key)
            .bind(expected)
            .execute(&mut *tx)
            .await?;
        if replaced.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only while opening a store is a `Send` future, which spawned tasks need (sqlx's
    /// executors lose `Send` in some statement shapes, e.g. `raw_sql` on a transaction).
    fn _opening_is_send(pool: PgPool, url: String) {
        fn is_send<T: Send>(_: T) {}
        is_send(async move { migrate(&pool, POSTGRES).await });
        is_send(async move { PostgresStore::connect(&url).await });
    }

    /// The change-log trigger takes the writers' location lock, not another one: two locks
    /// taken in different orders by different writers would deadlock.
    #[test]
    fn the_trigger_takes_the_location_lock() {
        let migration = POSTGRES.iter().find(|m| m.name == "changes").unwrap();
        assert!(
            migration
                .sql
                .contains(&format!("pg_advisory_xact_lock({LOCK_LOCATION}, hashtext(")),
            "{LOCK_LOCATION}"
        );
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        for (url, shown) in [
            (
                "postgres://app:s3cret@db.example:5432/regcred",
                "postgres://app:***@db.example:5432/regcred",
            ),
            (
                "postgres://app:p@ss@db/regcred?sslmode=disable",
                "postgres://app:***@db/regcred?sslmode=disable",
            ),
            (
                "postgres://postgres@127.0.0.1/postgres",
                "postgres://postgres@127.0.0.1/postgres",
            ),
            ("postgres://127.0.0.1/x", "postgres://127.0.0.1/x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn list_sql_numbers_parameters_in_bind_order() {
        let after = ListKey {
            project: "p".into(),
            location: "l".into(),
            name: "n".into(),
        };
        let (sql, binds) = list_sql("SELECT * FROM t", None, Some("l"), Some(&after), Some(5));
        assert_eq!(
            sql,
            "SELECT * FROM t WHERE location = $1 AND (project, name) > ($2, $3) \
             ORDER BY project, name LIMIT 5"
        );
        assert_eq!(binds, ["l", "p", "n"]);
    }
}
