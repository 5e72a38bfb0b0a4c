//! Access tokens answered from memory: every API request presents one, and reading it from the
//! database each time is a large share of what a small request costs. The cache answers only
//! what cannot have changed unseen:
//! * it answers only while it is *live*: the SQLite store, one process through which every
//!   change goes, is live from the start; a PostgreSQL replica only while its connection listens
//!   for the database's announcements of changes (`postgres/tokens.rs`), and it is emptied when
//!   that connection is lost and again when listening resumes;
//! * a record read from the database is kept only if nothing was forgotten while it was read
//!   (the [`Ticket`]'s generation), so a read that raced a change cannot put the old record back;
//! * the store that changes a token forgets it once the change commits, so its own next
//!   request sees the change;
//! * an entry lives at most [`MAX_AGE`]: the bound on staleness should a change bypass the store
//!   (an edit of the SQLite file by hand, a PostgreSQL trigger turned off) or a lost connection
//!   go unnoticed;
//! * unknown ids are not kept, so a new token needs nothing forgotten.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::{Result, TokenRecord};

/// How long an entry is answered at most.
const MAX_AGE: Duration = Duration::from_secs(10);
/// How many tokens a store keeps at most (a few hundred bytes each).
const CAPACITY: usize = 10_000;

/// The tokens a store has read, kept while the cache is live.
#[derive(Default)]
pub(crate) struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Whether the cache is live: nothing is answered nor kept otherwise.
    live: bool,
    /// Bumped whenever something is forgotten.
    generation: u64,
    entries: HashMap<String, (TokenRecord, Instant)>,
}

/// Taken before a token is read from the database: the record is kept only if nothing was
/// forgotten since.
struct Ticket(u64);

impl TokenCache {
    /// A cache that is live from the start: for a store through which every change goes.
    pub(crate) fn live() -> TokenCache {
        let cache = TokenCache::default();
        cache.set_live(true);
        cache
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token `id`: as kept, or as `read` from the database — and then kept, unless something
    /// was forgotten while it was read.
    pub(crate) async fn get_or_read(
        &self,
        id: &str,
        read: impl Future<Output = Result<Option<TokenRecord>>>,
    ) -> Result<Option<TokenRecord>> {
        let ticket = match self.get(id) {
            Ok(kept) => return Ok(Some(kept)),
            Err(ticket) => ticket,
        };
        let record = read.await?;
        if let (Some(ticket), Some(record)) = (ticket, &record) {
            self.keep(ticket, record);
        }
        Ok(record)
    }

    /// The token `id` as kept; otherwise the ticket to keep what the database answers (none
    /// while the cache is not live).
    fn get(&self, id: &str) -> Result<TokenRecord, Option<Ticket>> {
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
    fn keep(&self, ticket: Ticket, record: &TokenRecord) {
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
    pub(crate) fn forget(&self, id: Option<&str>) {
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
    pub(crate) fn set_live(&self, live: bool) {
        let mut inner = self.lock();
        inner.live = live;
        inner.generation += 1;
        inner.entries.clear();
    }

    /// Whether tokens are answered from memory now.
    pub(crate) fn is_live(&self) -> bool {
        self.lock().live
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
