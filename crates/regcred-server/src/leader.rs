//! One leader among the servers on one database. Every server answers the whole API; the work
//! in the background — minting short-lived credentials, delivery passes, audit retention — runs
//! on the one server that holds the store's lease `leader`, so nothing is minted or delivered
//! twice.
//!
//! Each server renews or tries to take the lease every [`RENEW`]; a lease lasts [`TTL`] by the
//! database's clock, so when the leader dies another server takes over within `TTL + RENEW`
//! (at once when the leader shut down cleanly and gave the lease up). The lease's epoch is the
//! fencing token: background work runs inside `regcred_store::fence::fenced`, so each of its
//! writes commits only while that epoch is current — a leader paused past its lease cannot
//! write when it wakes. A leader that cannot renew in time stops its work without waiting for
//! the store to say so. A state that never holds an election (tests that build one in process)
//! is [`Role::Solo`]: it does its background work itself, unfenced.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use regcred_store::fence::{fenced, Fence};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::AppState;

/// The name of the lease of background work.
pub const LEASE: &str = "leader";
/// How long a lease lasts after each renewal.
pub const TTL: Duration = Duration::from_secs(8);
/// How often the lease is renewed, or its taking tried.
pub const RENEW: Duration = Duration::from_secs(2);
/// A leader that has not renewed for this long stops its work (before its lease ends).
const STEP_DOWN: Duration = Duration::from_secs(6);
/// How long shutdown waits to give the lease up. A pass left running at shutdown may hold the
/// database's write lock (SQLite) for seconds; the lease then expires by itself within [`TTL`],
/// and the process still exits at once.
const RELEASE_GRACE: Duration = Duration::from_millis(500);

/// Where this server stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// No election: the only server, doing the background work itself.
    Solo,
    /// Holds the lease, at the fence's epoch.
    Leader(Fence),
    /// Another server leads (or nobody yet).
    Follower,
}

impl Role {
    /// As `/readyz` and the logs say it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Solo | Role::Leader(_) => "leader",
            Role::Follower => "follower",
        }
    }

    fn epoch(&self) -> Option<i64> {
        match self {
            Role::Leader(f) => Some(f.epoch),
            _ => None,
        }
    }
}

/// This server's part in the election.
pub struct Leadership {
    holder: String,
    url: Mutex<Option<String>>,
    role: watch::Sender<Role>,
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership::new()
    }
}

impl Leadership {
    pub fn new() -> Leadership {
        Leadership {
            holder: crate::service::new_id("srv").unwrap_or_else(|_| "srv_unknown".to_owned()),
            url: Mutex::new(None),
            role: watch::channel(Role::Solo).0,
        }
    }

    /// This server's id in the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The URL this server serves at, kept in the lease so followers can name the leader.
    pub fn set_url(&self, url: &str) {
        *self
            .url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.to_owned());
    }

    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Whether background work runs here (the leader, or the only server).
    pub fn is_leader(&self) -> bool {
        !matches!(*self.role.borrow(), Role::Follower)
    }

    fn set(&self, state: &AppState, role: Role) {
        let before = self.role.borrow().clone();
        if before.epoch() != role.epoch() {
            match role.epoch() {
                Some(epoch) => {
                    tracing::info!(epoch, holder = %self.holder, "leading: background work runs here");
                }
                None => {
                    tracing::info!(holder = %self.holder, "following: background work runs on the leader");
                }
            }
        }
        state.metrics().set_leader(!matches!(role, Role::Follower));
        self.role.send_replace(role);
    }

    /// Holds elections from now on, and runs the first: called before any background work
    /// starts, so that a server that can lead does from its first request. Answers when the
    /// lease was taken, for [`Leadership::run`].
    pub async fn elect(state: &AppState) -> Option<Instant> {
        let this = state.leadership();
        this.set(state, Role::Follower);
        this.campaign(state, None).await
    }

    /// One round: renews or takes the lease; answers when it was last granted.
    async fn campaign(&self, state: &AppState, renewed: Option<Instant>) -> Option<Instant> {
        let asked = Instant::now();
        let url = self
            .url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let ttl = i64::try_from(TTL.as_millis()).unwrap_or(i64::MAX);
        match state
            .store()
            .acquire_lease(LEASE, &self.holder, url.as_deref(), ttl)
            .await
        {
            Ok(Some(lease)) => {
                let fence = Fence {
                    name: lease.name,
                    holder: lease.holder,
                    epoch: lease.epoch,
                };
                self.set(state, Role::Leader(fence));
                Some(asked)
            }
            Ok(None) => {
                self.set(state, Role::Follower);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the lease of background work");
                if renewed.is_none_or(|at| at.elapsed() >= STEP_DOWN) {
                    self.set(state, Role::Follower);
                }
                renewed
            }
        }
    }

    /// The election after [`Leadership::elect`], until `shutdown`: renews or takes the lease
    /// every [`RENEW`], and gives it up on shutdown so that another server takes over at once.
    pub async fn run(
        state: AppState,
        mut renewed: Option<Instant>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let this = state.leadership();
        loop {
            let deadline = renewed.map(|at| at + STEP_DOWN);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(RENEW) => {}
                // Renewals slower than the lease: stop leading before the lease ends.
                _ = sleep_until(deadline) => {
                    this.set(&state, Role::Follower);
                    renewed = None;
                }
            }
            renewed = this.campaign(&state, renewed).await;
        }
        if this.role().epoch().is_some() {
            this.set(&state, Role::Follower);
            let release = state.store().release_lease(LEASE, &this.holder);
            match tokio::time::timeout(RELEASE_GRACE, release).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not give the lease up; it expires by itself");
                }
                Err(_) => tracing::warn!(
                    "the lease could not be given up in time (the database is busy); it expires by itself"
                ),
            }
        }
    }

    /// Runs `work` while this server leads, fenced by the lease, until `shutdown`: started when
    /// the lease is taken, dropped when it is lost (a pass or mint in flight is made again by
    /// whoever leads next), started again when it is taken again.
    pub async fn lead<F, W>(&self, shutdown: impl Future<Output = ()>, work: W)
    where
        W: Fn() -> F,
        F: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        let mut changes = self.role.subscribe();
        loop {
            let role = loop {
                let role = changes.borrow_and_update().clone();
                if role != Role::Follower {
                    break role;
                }
                tokio::select! {
                    _ = &mut shutdown => return,
                    changed = changes.changed() => if changed.is_err() { return },
                }
            };
            let lost = async {
                while changes.changed().await.is_ok() {
                    if *changes.borrow() != role {
                        return;
                    }
                }
                std::future::pending::<()>().await;
            };
            let run = async {
                match role.clone() {
                    Role::Leader(fence) => fenced(fence, work()).await,
                    _ => work().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = run => return,
                _ = lost => {}
            }
        }
    }

    /// Runs `work` as this server's background work must: fenced by the lease while it leads,
    /// as it is when it is the only server; `None` on a follower, which must leave it to the
    /// leader.
    pub async fn fence_of<F: Future>(&self, work: F) -> Option<F::Output> {
        match self.role() {
            Role::Follower => None,
            Role::Solo => Some(work.await),
            Role::Leader(fence) => Some(fenced(fence, work).await),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
