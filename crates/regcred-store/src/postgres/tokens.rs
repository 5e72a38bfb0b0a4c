//! Access tokens answered from memory. Every API request presents a token, and on PostgreSQL
//! reading it is a round trip to the database: half of the round trips of a `pullSecret.get`.
//! So each replica keeps the tokens it has read, and drops each one when the database announces
//! that it changed: a trigger (migration 6) notifies the channel [`CHANNEL`] with the token's id
//! when the change commits, whoever made it — this replica, another one, or an operator in SQL.
//!
//! What may have been missed is never answered:
//! * the cache answers only while its connection listens on the channel; when that connection
//!   is lost the cache is emptied and off, and it is emptied again once listening resumes;
//! * a record read from the database is kept only if nothing was forgotten while it was read
//!   (the [`Ticket`]'s generation), so a read that raced a change cannot put the old record back;
//! * the replica that changes a token forgets it itself once the change commits, so its own
//!   next request sees the change without waiting for the notification;
//! * an entry lives at most [`MAX_AGE`]: the bound on staleness should a change bypass the
//!   trigger (triggers are off under `session_replication_role = replica`) or the connection die
//!   without the replica noticing;
//! * unknown ids are not kept, so a new token needs no announcement.
//!
//! On the other replicas a revocation takes effect when its notification arrives: milliseconds
//! after the commit on a healthy database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::TokenRecord;

/// The channel the trigger notifies; the payload is a token's id, empty for every token.
pub(super) const CHANNEL: &str = "regcred_tokens";
/// The listening connection's `application_name`, which names it in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "regcred token listener";
/// How long an entry is answered at most.
const MAX_AGE: Duration = Duration::from_secs(10);
/// How many tokens a replica keeps at most (a few hundred bytes each).
const CAPACITY: usize = 10_000;
/// How long the listener waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// The tokens this replica has read, while its listener listens.
#[derive(Default)]
pub(super) struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Whether the listener is listening: nothing is answered nor kept otherwise.
    live: bool,
    /// Bumped whenever something is forgotten.
    generation: u64,
    entries: HashMap<String, (TokenRecord, Instant)>,
}

/// Taken before a token is read from the database: the record is kept only if nothing was
/// forgotten since.
pub(super) struct Ticket(u64);

impl TokenCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token `id` as kept; otherwise the ticket to keep what the database answers (none
    /// while the listener is not listening).
    pub(super) fn get(&self, id: &str) -> Result<TokenRecord, Option<Ticket>> {
        let inner = self.lock();
        if !inner.live {
            return Err(None);
        }
        match inner.entries.get(id) {
            Some((record, at)) if at.elapsed() < MAX_AGE => Ok(record.clone()),
            _ => Err(Some(Ticket(inner.generation))),
        }
    }

    /// Keeps `record`, read with `ticket`, unless something was forgotten since.
    pub(super) fn keep(&self, ticket: Ticket, record: &TokenRecord) {
        let mut inner = self.lock();
        if !inner.live || inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.retain(|_, (_, at)| at.elapsed() < MAX_AGE);
            if inner.entries.len() >= CAPACITY {
                return;
            }
        }
        inner
            .entries
            .insert(record.id.clone(), (record.clone(), Instant::now()));
    }

    /// Forgets the token `id`, or every token.
    pub(super) fn forget(&self, id: Option<&str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        match id {
            Some(id) => {
                inner.entries.remove(id);
            }
            None => inner.entries.clear(),
        }
    }

    /// Turns answering on or off; either way everything kept so far is forgotten.
    fn set_live(&self, live: bool) {
        let mut inner = self.lock();
        inner.live = live;
        inner.generation += 1;
        inner.entries.clear();
    }

    /// Whether tokens are answered from memory now.
    pub(super) fn is_live(&self) -> bool {
        self.lock().live
    }
}

/// Listens on [`CHANNEL`] and forgets what it announces, for as long as the task runs (the
/// store aborts it when dropped). Its connection is its own, outside the store's pool: one that
/// listens is never handed to a query.
pub(super) async fn listen(options: PgConnectOptions, cache: Arc<TokenCache>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.application_name(LISTENER_NAME));
    let mut lost = false;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(mut listener) => {
                cache.set_live(true);
                if lost {
                    tracing::info!("listening for token changes again; tokens are kept in memory");
                }
                let why = loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => cache.forget(Some(n.payload()).filter(|id| !id.is_empty())),
                        Ok(None) => break "the connection was lost".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                cache.set_live(false);
                lost = true;
                tracing::warn!(
                    reason = %why,
                    "stopped listening for token changes; tokens are read from the database until it resumes"
                );
            }
            Err(e) => {
                cache.set_live(false);
                tracing::debug!(error = %e, "cannot listen for token changes yet");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            name: id.into(),
            project: None,
            role: "admin".into(),
            hash: vec![1; 32],
            created_at: 1,
            created_by: "bootstrap".into(),
            expires_at: None,
            revoked_at: None,
        }
    }

    fn kept(cache: &TokenCache, id: &str) -> Option<TokenRecord> {
        cache.get(id).ok()
    }

    #[test]
    fn nothing_is_answered_or_kept_unless_listening() {
        let cache = TokenCache::default();
        assert!(matches!(cache.get("t"), Err(None)));
        cache.set_live(true);
        let Err(Some(ticket)) = cache.get("t") else {
            panic!("a ticket while listening")
        };
        cache.keep(ticket, &token("t"));
        assert_eq!(kept(&cache, "t"), Some(token("t")));
        cache.set_live(false);
        assert!(matches!(cache.get("t"), Err(None)));
        cache.set_live(true);
        assert_eq!(kept(&cache, "t"), None, "listening again starts empty");
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = TokenCache::default();
        cache.set_live(true);
        let Err(Some(ticket)) = cache.get("t") else {
            panic!("a ticket while listening")
        };
        // Announced while "t" was being read: the record read may predate the change.
        cache.forget(Some("t"));
        cache.keep(ticket, &token("t"));
        assert_eq!(kept(&cache, "t"), None);

        let Err(Some(ticket)) = cache.get("t") else {
            panic!("a ticket while listening")
        };
        cache.keep(ticket, &token("t"));
        let Err(Some(ticket)) = cache.get("u") else {
            panic!("a ticket while listening")
        };
        cache.keep(ticket, &token("u"));
        cache.forget(Some("t"));
        assert_eq!(kept(&cache, "t"), None);
        assert_eq!(kept(&cache, "u"), Some(token("u")), "only t is forgotten");
        cache.forget(None);
        assert_eq!(kept(&cache, "u"), None);
    }
}
