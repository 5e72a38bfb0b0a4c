//! Short-lived credentials: the refresher mints them from stored material, keeps the
//! last good one sealed in the store, and refreshes it on the schedule of
//! [`regcred_core::refresh`]. Every use of a pull secret — render, verify, delivery —
//! asks [`Refresher::current`], which serves the cached credential while it is usable and mints
//! only when none is; minting is single-flight per pull secret, so a credential is minted once
//! however many places want it at the same moment.
//!
//! A credential that arrives with an expiry already in the past (the AWS emulator's 2015) is kept
//! as one with an unknown lifetime: served, refreshed on the unknown-lifetime schedule, never in a
//! hot loop, never blanked.

use regcred_core::codes::ErrorCode;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::clock::Clock;
use regcred_core::credential::{Credential, Kind, UsableError};
use regcred_core::refresh::{self, RefreshPolicy};
use regcred_core::secret::Secret;
use regcred_registry::provider::{MintError, Minted, ProviderConfig};
use regcred_store::vault::SealedFor;
use regcred_store::{AuditRecord, MintedRecord, PullSecretRecord};

use crate::error::ApiError;
use crate::metrics::RefreshOutcome;
use crate::AppState;

/// Something that mints credentials: the real providers, or a script in tests.
pub trait Minter: Send + Sync + 'static {
    fn mint<'a>(
        &'a self,
        credential: &'a Credential,
        now_ms: i64,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Minted, MintError>> + Send + 'a>>;
}

/// The real providers (ECR, Google, Azure).
pub struct Providers(pub ProviderConfig);

impl Minter for Providers {
    fn mint<'a>(
        &'a self,
        credential: &'a Credential,
        now_ms: i64,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Minted, MintError>> + Send + 'a>> {
        Box::pin(regcred_registry::provider::mint(
            &self.0, credential, now_ms,
        ))
    }
}

/// The credential to use now, and when it stops working (`None`: stored, or unknown).
#[derive(Debug, Clone)]
pub struct Current {
    pub username: String,
    pub password: Secret,
    pub expires_at_ms: Option<i64>,
}

pub struct Refresher {
    minter: Box<dyn Minter>,
    pub policy: RefreshPolicy,
    pub clock: Clock,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    wake: tokio::sync::Notify,
}

/// Whether a pull secret's credential is minted rather than stored.
pub fn is_minted(record: &PullSecretRecord) -> bool {
    let params = serde_json::from_str::<regcred_core::credential::Params>(&record.params)
        .unwrap_or_default();
    Kind::parse(&record.kind).is_some_and(|kind| regcred_core::credential::is_minted(kind, &params))
}

impl Refresher {
    pub fn new(minter: Box<dyn Minter>, policy: RefreshPolicy, clock: Clock) -> Refresher {
        Refresher {
            minter,
            policy,
            clock,
            inflight: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Asks the background loop to look again (a pull secret was created or rotated).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(id.to_owned()).or_default().clone()
    }

    /// Mints for a credential that is not stored (Test Connection before saving): the
    /// provider's answer, kept nowhere. Any server may do it; the stored pull secrets' mints stay
    /// the leader's.
    pub async fn mint_unsaved(&self, credential: &Credential) -> Result<Minted, MintError> {
        self.minter.mint(credential, self.clock.now_ms()).await
    }

    /// The username and password to use for `record` now.
    pub async fn current(
        &self,
        state: &AppState,
        record: &PullSecretRecord,
        credential: &Credential,
    ) -> Result<Current, ApiError> {
        match credential.basic_auth() {
            Ok((username, password)) => {
                return Ok(Current {
                    username,
                    password,
                    expires_at_ms: None,
                })
            }
            Err(UsableError::MintRequired { .. }) => {}
            Err(e) => {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::NotRenderable,
                    format!("{}: {e}", record.name),
                ))
            }
        }
        let now = self.clock.now_ms();
        if let Some(current) = self.cached(state, record, now).await? {
            return Ok(current);
        }
        // Minting is the leader's (one mint however many servers ask); a follower serves what
        // the leader stored.
        let refresh = self.refresh(state, record, credential, false);
        let Some(minted) = state.leadership().fence_of(refresh).await else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                ErrorCode::CredentialUnavailable,
                format!(
                    "the short-lived credential of {} is minted by the leading server and is not \
                     ready yet; retry in a few seconds",
                    record.name
                ),
            ));
        };
        let minted = minted?;
        let now = self.clock.now_ms();
        match self.open(state, &minted, record, now)? {
            Some(current) => Ok(current),
            None => Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                ErrorCode::CredentialUnavailable,
                format!(
                    "no usable credential for {}: {}",
                    record.name,
                    minted.last_error.as_deref().unwrap_or("minting failed")
                ),
            )),
        }
    }

    async fn cached(
        &self,
        state: &AppState,
        record: &PullSecretRecord,
        now: i64,
    ) -> Result<Option<Current>, ApiError> {
        match state.store().get_minted(&record.id).await? {
            Some(m) => self.open(state, &m, record, now),
            None => Ok(None),
        }
    }

    /// The credential in `m` if it belongs to this revision and may still be served.
    fn open(
        &self,
        state: &AppState,
        m: &MintedRecord,
        record: &PullSecretRecord,
        now: i64,
    ) -> Result<Option<Current>, ApiError> {
        let Some(sealed) = &m.sealed else {
            return Ok(None);
        };
        if m.revision != record.revision || !refresh::usable(m.expires_at, now) {
            return Ok(None);
        }
        let plaintext = state.vault().open_sealed(&SealedFor::minted(m), sealed)?;
        let password = String::from_utf8(plaintext).map_err(|e| ApiError::internal(&e))?;
        Ok(Some(Current {
            username: m.username.clone().unwrap_or_default(),
            password: Secret::new(password),
            expires_at_ms: m.expires_at,
        }))
    }

    /// Mints now if due (or `force`), once per pull secret at a time; returns the stored state.
    pub async fn refresh(
        &self,
        state: &AppState,
        record: &PullSecretRecord,
        credential: &Credential,
        force: bool,
    ) -> Result<MintedRecord, ApiError> {
        let lock = self.lock_for(&record.id);
        let _guard = lock.lock().await;
        // Someone else may have minted while this call waited.
        let previous = state
            .store()
            .get_minted(&record.id)
            .await?
            .filter(|m| m.revision == record.revision);
        let now = self.clock.now_ms();
        if let Some(p) = &previous {
            let fresh = p.sealed.is_some() && p.next_refresh_at > now;
            if fresh && !force {
                return Ok(p.clone());
            }
        }
        let sample = jitter_sample(&record.id, now);
        let next = match self.minter.mint(credential, now).await {
            Ok(minted) => {
                state.metrics().credential_refresh(RefreshOutcome::Ok);
                let expires_at = minted.expires_at_ms.filter(|&at| at > now);
                if minted.expires_at_ms.is_some() && expires_at.is_none() {
                    tracing::warn!(pull_secret = %record.id, "the provider answered an expiry in the past; treating the lifetime as unknown");
                }
                let mut m = MintedRecord {
                    pull_secret_id: record.id.clone(),
                    revision: record.revision,
                    username: Some(minted.username),
                    endpoint: minted.endpoint,
                    sealed: None,
                    expires_at,
                    refreshed_at: Some(now),
                    attempted_at: now,
                    failures: 0,
                    last_error: None,
                    next_refresh_at: refresh::next_after_success(
                        now,
                        expires_at,
                        &self.policy,
                        sample,
                    ),
                };
                m.sealed = Some(
                    state
                        .vault()
                        .seal(&SealedFor::minted(&m), minted.password.expose().as_bytes())?,
                );
                m
            }
            Err(e) => {
                state.metrics().credential_refresh(match e.is_transient() {
                    true => RefreshOutcome::TransientError,
                    false => RefreshOutcome::Rejected,
                });
                let failures = previous.as_ref().map_or(0, |p| p.failures) + 1;
                let kept = previous.clone().filter(|p| p.sealed.is_some());
                let m = MintedRecord {
                    pull_secret_id: record.id.clone(),
                    revision: record.revision,
                    attempted_at: now,
                    failures,
                    last_error: Some(e.to_string()),
                    next_refresh_at: refresh::next_after_failure(
                        now,
                        u32::try_from(failures).unwrap_or(u32::MAX),
                        &self.policy,
                        sample,
                    ),
                    ..kept.unwrap_or(MintedRecord {
                        pull_secret_id: record.id.clone(),
                        revision: record.revision,
                        username: None,
                        endpoint: None,
                        sealed: None,
                        expires_at: None,
                        refreshed_at: None,
                        attempted_at: now,
                        failures,
                        last_error: None,
                        next_refresh_at: now,
                    })
                };
                tracing::warn!(pull_secret = %record.id, failures, error = %e, "refreshing a credential failed");
                if refresh::about_to_expire(m.expires_at, true, now, &self.policy) {
                    self.warn_expiring(state, record, &m, now).await?;
                }
                m
            }
        };
        state.store().put_minted(&next).await?;
        if next.refreshed_at == Some(now) {
            // A new credential: everywhere the old one was delivered gets this one.
            state.deliverer().wake();
        }
        Ok(next)
    }

    async fn warn_expiring(
        &self,
        state: &AppState,
        record: &PullSecretRecord,
        m: &MintedRecord,
        now: i64,
    ) -> Result<(), ApiError> {
        let left_s = m.expires_at.map(|at| (at - now) / 1000);
        tracing::warn!(pull_secret = %record.id, seconds_left = ?left_s, "credential about to expire without a successful refresh");
        let event = AuditRecord {
            id: 0,
            time: now,
            actor: "regcred".into(),
            channel: "system".into(),
            action: "credential.expiring".into(),
            project: Some(record.project.clone()),
            target: format!("{}/{}/{}", record.project, record.location, record.name),
            outcome: "warning".into(),
            detail: serde_json::json!({
                "id": record.id,
                "expiresAt": m.expires_at.map(crate::clock::rfc3339),
                "failures": m.failures,
                "lastError": m.last_error,
            })
            .to_string(),
        };
        state.store().append_audit(&event).await?;
        Ok(())
    }

    /// One pass: refreshes every minted pull secret that is due; returns when the next is due.
    pub async fn tick(&self, state: &AppState) -> Result<Option<i64>, ApiError> {
        let kinds = regcred_core::credential::MINTING_KINDS.map(Kind::as_str);
        let records = state.store().list_pull_secrets_of_kinds(&kinds).await?;
        let minted: HashMap<String, MintedRecord> = state
            .store()
            .list_minted()
            .await?
            .into_iter()
            .map(|m| (m.pull_secret_id.clone(), m))
            .collect();
        let mut next_due: Option<i64> = None;
        for record in records.iter().filter(|r| is_minted(r)) {
            let now = self.clock.now_ms();
            let current = minted
                .get(&record.id)
                .filter(|m| m.revision == record.revision);
            let due = current.is_none_or(|m| m.next_refresh_at <= now);
            let due_at = if due {
                let credential = crate::service::pull_secrets::open(state, record)?;
                self.refresh(state, record, &credential, false)
                    .await?
                    .next_refresh_at
            } else {
                current.map_or(now, |m| m.next_refresh_at)
            };
            next_due = Some(next_due.map_or(due_at, |n| n.min(due_at)));
        }
        Ok(next_due)
    }

    /// The background loop: ticks, sleeps until the next refresh is due (at most a minute, so
    /// secrets created on another replica are noticed), wakes early when told to, stops on
    /// `shutdown`.
    pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let refresher = state.refresher();
        loop {
            // Shutdown drops a tick in flight: a mint not yet stored is made again next start.
            let ticked = tokio::select! {
                _ = &mut shutdown => return,
                ticked = refresher.tick(&state) => ticked,
            };
            let next = match ticked {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(code = e.code.as_str(), "refresh pass failed: {}", e.message);
                    None
                }
            };
            let now = refresher.clock.now_ms();
            let wait_ms = next.map_or(60_000, |at| (at - now).clamp(1_000, 60_000));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = refresher.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(60_000))) => {}
            }
        }
    }
}

/// A deterministic jitter sample in `[0, 1)` per pull secret and time, so replicas spread out
/// without a random source.
fn jitter_sample(id: &str, now: i64) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (id, now / 60_000).hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}
