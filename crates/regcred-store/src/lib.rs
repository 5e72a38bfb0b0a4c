//! regcred's persistence: the [`Store`] trait every backend implements, the records it keeps,
//! the SQLite and PostgreSQL backends with their migrations, the copy from one to the other
//! ([`copy`]), and encryption at rest ([`vault`]).
//!
//! A store holds rows; it never sees plaintext secret material — pull-secret material arrives
//! already sealed by the [`vault::Vault`]. Every mutation takes the audit event that describes it
//! and writes both in one transaction, so a change is never without its audit entry and a failed
//! change leaves neither.
//!
//! **Architecture invariant:** depends on `regcred-core` only among workspace crates; the contract
//! suite in `tests/contract.rs` is backend-generic and every backend must pass it.

mod cache;
pub mod copy;
pub mod fence;
pub mod migrate;
pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod vault;

use async_trait::async_trait;

pub use postgres::PostgresStore;
pub use record::*;
pub use sqlite::SqliteStore;

/// Failures a caller can act on are variants; everything else is `Backend`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {key:?} not found")]
    NotFound { what: &'static str, key: String },
    #[error("{what} {key:?} already exists")]
    AlreadyExists { what: &'static str, key: String },
    /// The record changed since it was read (optimistic concurrency).
    #[error("{what} {key:?} was changed concurrently; retry")]
    Conflict { what: &'static str, key: String },
    /// Other records still depend on this one.
    #[error("{what} {key:?} is in use by {}", by.join(", "))]
    InUse {
        what: &'static str,
        key: String,
        by: Vec<String>,
    },
    /// Another pull secret of the same project and location already has this server.
    #[error("pull secret {existing:?} already holds credentials for this server here")]
    DuplicateServer { existing: String },
    /// The location serves one project only, and another project's records are there.
    #[error("the location already serves another project")]
    LocationTaken,
    #[error("database schema: {0}")]
    Schema(String),
    /// The database server cannot be reached (refused, timed out, or it refused the login);
    /// `target` names it without a password.
    #[error("database {target} is unavailable: {reason}")]
    Unavailable { target: String, reason: String },
    /// A write of background work whose lease (fencing token) is no longer this holder's:
    /// another server took over, so this one must stop.
    #[error("the lease {name:?} of epoch {epoch} is no longer held; another server took over")]
    Fenced { name: String, epoch: i64 },
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    /// An error of the SQLite store's read path (`sqlite/reader.rs`).
    #[error("database error")]
    SqliteRead(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::SqliteRead(e)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // A database server that went away after start-up: the request may be retried.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => StoreError::Unavailable {
                target: "server".to_owned(),
                reason: e.to_string(),
            },
            other => StoreError::Backend(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a pull-secret or deployment write must not collide with; the rules are the caller's
/// (they depend on the location's kind), the check is the store's, inside the write's
/// transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutGuard {
    /// Refuse (`DuplicateServer`) when another pull secret of the same project and location has
    /// the same server (pull secrets only).
    pub unique_server: bool,
    /// Refuse (`LocationTaken`) when pull secrets or deployments of another project are in the
    /// location: it delivers to places that every workload there reads.
    pub one_project: bool,
}

/// The store contract. Mutations take the audit event describing them and commit both together.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- projects ----
    /// `AlreadyExists` when the name is taken.
    async fn create_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()>;
    async fn get_project(&self, name: &str) -> Result<Option<ProjectRecord>>;
    async fn list_projects(&self) -> Result<Vec<ProjectRecord>>;
    /// `InUse` while pull secrets belong to the project; revokes the project's tokens.
    async fn delete_project(&self, name: &str, at: i64, audit: &AuditRecord) -> Result<()>;

    // ---- locations ----
    async fn create_location(&self, location: &LocationRecord, audit: &AuditRecord) -> Result<()>;
    async fn get_location(&self, name: &str) -> Result<Option<LocationRecord>>;
    async fn list_locations(&self) -> Result<Vec<LocationRecord>>;
    /// `InUse` while pull secrets are scoped to the location.
    async fn delete_location(&self, name: &str, audit: &AuditRecord) -> Result<()>;

    // ---- pull secrets ----
    /// Inserts (`expected_revision` `None`; `AlreadyExists` if the name is taken) or replaces the
    /// record whose id and revision match (`Conflict` otherwise). `guard` is checked in the same
    /// transaction (`DuplicateServer`, `LocationTaken`), so concurrent writers cannot both pass it.
    async fn put_pull_secret(
        &self,
        secret: &PullSecretRecord,
        expected_revision: Option<i64>,
        guard: PutGuard,
        audit: &AuditRecord,
    ) -> Result<()>;
    async fn get_pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
    ) -> Result<Option<PullSecretRecord>>;
    async fn get_pull_secret_by_id(&self, id: &str) -> Result<Option<PullSecretRecord>>;
    async fn list_pull_secrets(
        &self,
        project: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<PullSecretRecord>>;
    /// A page of [`Store::list_pull_secrets`]: the same order, after `page.after`.
    async fn list_pull_secrets_page(&self, page: ListPage<'_>) -> Result<Vec<PullSecretRecord>>;
    /// The pull secrets of the given kinds, ordered by id (the kind index answers it).
    async fn list_pull_secrets_of_kinds(&self, kinds: &[&str]) -> Result<Vec<PullSecretRecord>>;
    /// The pull secrets of `ids` that exist, ordered by id: one read for any number of owners.
    async fn pull_secrets_by_ids(&self, ids: &[String]) -> Result<Vec<PullSecretRecord>>;
    /// A page of the pull secrets of `location` in id order, those after the id `after` (from
    /// the first without it), at most `limit`: how a full delivery pass reads a location, since
    /// an id, unlike a name, cannot move between two pages.
    async fn pull_secrets_by_id_page(
        &self,
        location: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PullSecretRecord>>;
    /// A number that changes whenever a pull secret of (`project`, `location`) is created,
    /// deleted, rotated or renamed, on whichever process wrote it; 0 before the first one.
    async fn pull_secret_generation(&self, project: &str, location: &str) -> Result<i64>;
    /// The pull secrets of (`project`, `location`) without their material, in name order, with
    /// the generation they are at — read together, so the two always agree.
    async fn pull_secret_keys(&self, project: &str, location: &str) -> Result<PullSecretKeys>;
    /// Records the result of a credential check of revision `revision`; `Conflict` when the
    /// pull secret has rotated since (the result is about credentials that are gone).
    async fn record_verification(
        &self,
        id: &str,
        revision: i64,
        verification: &str,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// `InUse` (listing the referrers) while anything references it, unless `force`.
    async fn delete_pull_secret(&self, id: &str, force: bool, audit: &AuditRecord) -> Result<()>;

    // ---- references (the `in_use` guard) ----
    async fn add_reference(&self, pull_secret_id: &str, referrer: &ReferrerRecord) -> Result<()>;
    async fn remove_reference(&self, pull_secret_id: &str, referrer: &ReferrerRecord)
        -> Result<()>;
    async fn references(&self, pull_secret_id: &str) -> Result<Vec<ReferrerRecord>>;
    /// The references of each of `pull_secret_ids` (pull-secret id, referrer), ordered by id and
    /// then as [`Store::references`]: one read for a whole page of pull secrets.
    async fn references_of(
        &self,
        pull_secret_ids: &[String],
    ) -> Result<Vec<(String, ReferrerRecord)>>;

    // ---- deployments ----
    /// Inserts (`expected_revision` `None`; `AlreadyExists` if the name is taken) or replaces the
    /// deployment whose id and revision match (`Conflict` otherwise); records the revision
    /// (`revision_spec`) and replaces the deployment's references with `pull_secret_ids`
    /// (`NotFound` when one of them is gone) — all with the audit event, in one transaction.
    async fn put_deployment(
        &self,
        deployment: &DeploymentRecord,
        expected_revision: Option<i64>,
        revision_spec: &str,
        pull_secret_ids: &[String],
        guard: PutGuard,
        audit: &AuditRecord,
    ) -> Result<()>;
    async fn get_deployment(
        &self,
        project: &str,
        location: &str,
        name: &str,
    ) -> Result<Option<DeploymentRecord>>;
    async fn list_deployments(
        &self,
        project: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<DeploymentRecord>>;
    /// A page of [`Store::list_deployments`]: the same order, after `page.after`.
    async fn list_deployments_page(&self, page: ListPage<'_>) -> Result<Vec<DeploymentRecord>>;
    /// The deployments of `ids` that exist, ordered by id.
    async fn deployments_by_ids(&self, ids: &[String]) -> Result<Vec<DeploymentRecord>>;
    /// Oldest first.
    async fn list_deployment_revisions(&self, id: &str) -> Result<Vec<DeploymentRevisionRecord>>;
    /// Deletes the deployment, its revisions and its references.
    async fn delete_deployment(&self, id: &str, audit: &AuditRecord) -> Result<()>;

    // ---- deliveries (internal bookkeeping, not audited) ----
    async fn list_deliveries(
        &self,
        location: Option<&str>,
        owner_id: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>>;
    /// The deliveries of each of `owner_ids`, ordered by owner, location and target: one read for
    /// a whole page of pull secrets or deployments.
    async fn deliveries_of(&self, owner_ids: &[String]) -> Result<Vec<DeliveryRecord>>;
    /// The deliveries of `location` at each of `targets`, ordered by target and owner: who holds
    /// a target, without reading the whole location.
    async fn deliveries_at(
        &self,
        location: &str,
        targets: &[String],
    ) -> Result<Vec<DeliveryRecord>>;
    /// Upserts `put` and removes `remove` (`(target, owner_id)` pairs) of `location`, together.
    async fn update_deliveries(
        &self,
        location: &str,
        put: &[DeliveryRecord],
        remove: &[(String, String)],
    ) -> Result<()>;
    /// Brings the query planner's statistics of the delivery rows up to date, after many of
    /// them changed. PostgreSQL plans a page's delivery read from them: a table last analyzed
    /// while nearly empty, on a server whose autovacuum is off or has not run yet, plans it as a
    /// scan of every row (14 ms instead of 0.9 ms at 100,000 rows). SQLite plans without them.
    async fn analyze_deliveries(&self) -> Result<()> {
        Ok(())
    }

    // ---- leases (one leader among the servers on this database) ----
    /// Takes or renews lease `name` for `holder` for `ttl_ms` from now by the database's clock:
    /// granted when nobody holds it, when `holder` does (renewed, same epoch) or when the
    /// holder's time ran out (epoch + 1). Answers the lease when `holder` holds it afterwards,
    /// `None` when someone else does.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        url: Option<&str>,
        ttl_ms: i64,
    ) -> Result<Option<Lease>>;
    /// Gives lease `name` up if `holder` holds it (at shutdown: another takes over at once).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Lease `name` as stored, expired or not.
    async fn get_lease(&self, name: &str) -> Result<Option<Lease>>;

    // ---- changes (what delivery has yet to act on) ----
    /// The sequence number of the last change recorded for `location` (0 when none is kept).
    async fn last_change(&self, location: &str) -> Result<i64>;
    /// The owners written in `location` after change `after`: every creation, deletion and
    /// change of a pull secret, a deployment or a minted credential is recorded by the store in
    /// the writing transaction, whoever wrote it.
    async fn changes_since(&self, location: &str, after: i64) -> Result<Changes>;
    /// Drops the changes of `location` up to and including `through`, once acted on.
    async fn forget_changes(&self, location: &str, through: i64) -> Result<()>;

    // ---- access tokens ----
    async fn create_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<()>;
    async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>>;
    async fn list_tokens(&self, project: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Revokes the token and every token it created, transitively (`created_by` is the creating
    /// token's id). `NotFound` for unknown or already revoked tokens.
    async fn revoke_token(&self, id: &str, at: i64, audit: &AuditRecord) -> Result<()>;

    // ---- registry keys ----
    /// `AlreadyExists` when the project has a key of that name (revoked keys keep their name).
    async fn create_registry_key(&self, key: &RegistryKeyRecord, audit: &AuditRecord)
        -> Result<()>;
    async fn get_registry_key(&self, id: &str) -> Result<Option<RegistryKeyRecord>>;
    async fn list_registry_keys(&self, project: &str) -> Result<Vec<RegistryKeyRecord>>;
    /// `NotFound` for unknown or already revoked keys.
    async fn revoke_registry_key(&self, id: &str, at: i64, audit: &AuditRecord) -> Result<()>;

    // ---- minted credentials ----
    /// Inserts or replaces the minted state of a pull secret (internal bookkeeping, not audited);
    /// `NotFound` when the pull secret is gone.
    async fn put_minted(&self, minted: &MintedRecord) -> Result<()>;
    async fn get_minted(&self, pull_secret_id: &str) -> Result<Option<MintedRecord>>;
    async fn list_minted(&self) -> Result<Vec<MintedRecord>>;
    /// The minted state of those of `pull_secret_ids` that have one, ordered by id: one read for
    /// a whole page of pull secrets.
    async fn minted_of(&self, pull_secret_ids: &[String]) -> Result<Vec<MintedRecord>>;
    /// The referrers and deliveries of `pull_secret_ids`, and the minted state of `minting` (those
    /// of them whose kind mints; none read when empty): what a page of pull-secret views shows
    /// besides the rows. A backend that can answers it in one snapshot with one round trip to
    /// its database; this default makes the three reads.
    async fn pull_secret_facts(
        &self,
        pull_secret_ids: &[String],
        minting: &[String],
    ) -> Result<PullSecretFacts> {
        Ok(PullSecretFacts {
            references: self.references_of(pull_secret_ids).await?,
            minted: match minting.is_empty() {
                true => Vec::new(),
                false => self.minted_of(minting).await?,
            },
            deliveries: self.deliveries_of(pull_secret_ids).await?,
        })
    }

    /// The pull secret at an address with the facts its view shows ([`Store::pull_secret_facts`];
    /// its minted state when its kind is one of `minting_kinds`): what `pullSecret.get` answers.
    /// A backend that can reads both in one snapshot; this default makes the two reads.
    async fn described_pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
        minting_kinds: &[&str],
    ) -> Result<Option<(PullSecretRecord, PullSecretFacts)>> {
        let Some(record) = self.get_pull_secret(project, location, name).await? else {
            return Ok(None);
        };
        let (ids, minting) = facts_of_one(&record, minting_kinds);
        let facts = self.pull_secret_facts(&ids, &minting).await?;
        Ok(Some((record, facts)))
    }

    /// A page of pull secrets as [`Store::list_pull_secrets_page`] reads it, each with the facts
    /// its view shows (its minted state when its kind is one of `minting_kinds`): what
    /// `pullSecret.list` answers. A backend that keeps views ([`Store::described_pull_secret`])
    /// reads only the page's keys and the views it does not keep; this default makes the two
    /// reads of a page and its facts.
    async fn described_pull_secrets_page(
        &self,
        page: ListPage<'_>,
        minting_kinds: &[&str],
    ) -> Result<Vec<(PullSecretRecord, PullSecretFacts)>> {
        let records = self.list_pull_secrets_page(page).await?;
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let minting: Vec<String> = records
            .iter()
            .filter(|r| minting_kinds.contains(&r.kind.as_str()))
            .map(|r| r.id.clone())
            .collect();
        let mut facts = self.pull_secret_facts(&ids, &minting).await?.by_owner();
        Ok(records
            .into_iter()
            .map(|r| {
                let f = facts.remove(&r.id).unwrap_or_default();
                (r, f)
            })
            .collect())
    }

    // ---- aggregates (for `/metrics`: a bounded number of rows whatever the data size) ----
    /// Pull secrets per kind, ordered by kind; kinds without pull secrets are absent.
    async fn count_pull_secrets_by_kind(&self) -> Result<Vec<PullSecretCount>>;
    /// Deliveries per location and state, ordered by both; pairs without rows are absent.
    async fn count_deliveries_by_state(&self) -> Result<Vec<DeliveryCount>>;
    /// Minted state per pull-secret kind, ordered by kind; kinds without minted state are absent.
    async fn summarize_minted_by_kind(&self) -> Result<Vec<MintedSummary>>;

    // ---- audit ----
    /// For events that are not part of a mutation (releases of material, refusals).
    async fn append_audit(&self, audit: &AuditRecord) -> Result<()>;
    /// Newest first; `before` pages backwards by id.
    async fn list_audit(
        &self,
        project: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>>;
    /// Deletes at most `limit` of the oldest events older than `time` (Unix ms) and answers how
    /// many went: retention deletes in batches, so no one call holds the write lock long.
    async fn delete_audit_before(&self, time: i64, limit: u32) -> Result<u64>;

    // ---- console sessions (not audited: signing in and out is audited by the caller) ----
    /// `AlreadyExists` when a session with this id hash exists.
    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    /// The session with this id hash, expired or not (the caller compares `expires_at`).
    async fn get_session(&self, id_hash: &[u8]) -> Result<Option<SessionRecord>>;
    /// Deletes the session; deleting one that is not there is not an error.
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()>;
    /// Deletes sessions that expired at or before `now` and answers how many went.
    async fn delete_expired_sessions(&self, now: i64) -> Result<u64>;

    // ---- metadata (wrapped keys, bootstrap markers) ----
    async fn get_meta(&self, key: &str) -> Result<Option<String>>;
    /// Inserts unless present; `false` when the key already existed.
    async fn insert_meta(&self, key: &str, value: &str) -> Result<bool>;
    /// Sets `key` to `value` if it still holds `expected`, with its audit event; `false` (and
    /// nothing written) when it holds something else.
    async fn replace_meta(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        audit: &AuditRecord,
    ) -> Result<bool>;
}

/// The ids [`Store::pull_secret_facts`] is asked for one pull secret: its own, and its own again
/// as minting when its kind is one of `minting_kinds`.
pub fn facts_of_one(
    record: &PullSecretRecord,
    minting_kinds: &[&str],
) -> (Vec<String>, Vec<String>) {
    let ids = vec![record.id.clone()];
    let minting = match minting_kinds.contains(&record.kind.as_str()) {
        true => ids.clone(),
        false => Vec::new(),
    };
    (ids, minting)
}
