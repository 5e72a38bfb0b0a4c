//! Records answered from memory: access tokens (every API request presents one) and, on
//! PostgreSQL, the views of pull secrets (`pullSecret.get`), whose reads from the database are
//! most of what those small requests cost. A cache answers only what cannot have changed unseen:
//! * it answers only while it is *live*: the SQLite store, one process through which every
//!   change goes, is live from the start; a PostgreSQL replica only while its connection listens
//!   for the database's announcements of changes (`postgres/listener.rs`), and it is emptied when
//!   that connection is lost and again when listening resumes;
//! * a record read from the database is kept only if nothing was forgotten while it was read
//!   (the [`Ticket`]'s generation), so a read that raced a change cannot put the old record back;
//! * the store that changes a record forgets it once the change commits, so its own next
//!   request sees the change;
//! * an entry lives at most [`MAX_AGE`]: the bound on staleness should a change bypass the store
//!   (an edit of the SQLite file by hand, a PostgreSQL trigger turned off) or a lost connection
//!   go unnoticed;
//! * what is not there is not kept, so a new record needs nothing forgotten.
//!
//! Changes are announced by a record's id; a record may also be asked for by another key, its
//! [`Kept::alias`] (a pull secret by its address), which is forgotten with it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::{Result, TokenRecord};

/// How long an entry is answered at most.
const MAX_AGE: Duration = Duration::from_secs(10);
/// How often a full cache looks for entries past their age to make room: a sweep reads every
/// entry, under the lock every request takes, so a working set larger than the cache must not
/// pay one per read.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How many access tokens a store keeps at most (a few hundred bytes each).
pub(crate) const TOKENS: usize = 10_000;

/// What a [`Cache`] keeps.
pub(crate) trait Kept: Clone {
    /// The id changes are announced by.
    fn id(&self) -> &str;
    /// The other key it is asked by, if any.
    fn alias(&self) -> Option<String> {
        None
    }
}

impl Kept for TokenRecord {
    fn id(&self) -> &str {
        &self.id
    }
}

/// How a record is asked for.
#[derive(Clone, Copy)]
pub(crate) enum Key<'a> {
    Id(&'a str),
    Alias(&'a str),
}

/// The records a store has read, kept while the cache is live.
pub(crate) struct Cache<V> {
    /// How many records are kept at most.
    capacity: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    /// Whether the cache is live: nothing is answered nor kept otherwise.
    live: bool,
    /// Bumped whenever something is forgotten.
    generation: u64,
    entries: HashMap<String, (V, Instant)>,
    /// Alias → id, for the kept records that have one.
    aliases: HashMap<String, String>,
    /// When a full cache last swept; `None` before the first time.
    swept_at: Option<Instant>,
}

impl<V: Kept> Inner<V> {
    fn forget_all(&mut self) {
        self.generation += 1;
        self.entries.clear();
        self.aliases.clear();
    }

    /// The entry `id`, unless it is past its age.
    fn fresh(&self, id: &str) -> Option<&V> {
        self.entries
            .get(id)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .map(|(record, _)| record)
    }

    /// Drops the entry `id` and its alias, if the alias still leads to it.
    fn drop_entry(&mut self, id: &str) {
        let Some(alias) = self.entries.remove(id).and_then(|(r, _)| r.alias()) else {
            return;
        };
        if self.aliases.get(&alias).is_some_and(|to| to == id) {
            self.aliases.remove(&alias);
        }
    }
}

/// Taken before a record is read from the database: the record is kept only if nothing was
/// forgotten since.
struct Ticket(u64);

impl<V: Kept> Cache<V> {
    /// A cache of at most `capacity` records that answers nothing until it is made live.
    pub(crate) fn new(capacity: usize) -> Cache<V> {
        Cache {
            capacity,
            inner: Mutex::new(Inner {
                live: false,
                generation: 0,
                entries: HashMap::new(),
                aliases: HashMap::new(),
                swept_at: None,
            }),
        }
    }

    /// A cache that is live from the start: for a store through which every change goes.
    pub(crate) fn live(capacity: usize) -> Cache<V> {
        let cache = Cache::new(capacity);
        cache.set_live(true);
        cache
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record at `key`: as kept, or as `read` from the database — and then kept, unless
    /// something was forgotten while it was read.
    pub(crate) async fn get_or_read(
        &self,
        key: Key<'_>,
        read: impl Future<Output = Result<Option<V>>>,
    ) -> Result<Option<V>> {
        let ticket = match self.get(key) {
            Ok(kept) => return Ok(Some(kept)),
            Err(ticket) => ticket,
        };
        let record = read.await?;
        if let (Some(ticket), Some(record)) = (ticket, &record) {
            self.keep(ticket, record);
        }
        Ok(record)
    }

    /// The records `ids`, in their order: those kept, and the others as `read` from the
    /// database (asked for those ids; a record it does not answer is left out) — and then kept,
    /// unless something was forgotten while they were read. One read for all that are missing.
    pub(crate) async fn get_or_read_each<Fut>(
        &self,
        ids: &[String],
        read: impl FnOnce(Vec<String>) -> Fut,
    ) -> Result<Vec<V>>
    where
        Fut: Future<Output = Result<Vec<V>>>,
    {
        let (mut found, ticket) = {
            let inner = self.lock();
            let found: Vec<Option<V>> = match inner.live {
                true => ids.iter().map(|id| inner.fresh(id).cloned()).collect(),
                false => vec![None; ids.len()],
            };
            (found, inner.live.then_some(Ticket(inner.generation)))
        };
        let missing: Vec<String> = ids
            .iter()
            .zip(&found)
            .filter(|(_, kept)| kept.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !missing.is_empty() {
            let read = read(missing).await?;
            if let Some(ticket) = ticket {
                let mut inner = self.lock();
                if inner.live && inner.generation == ticket.0 {
                    for record in &read {
                        self.keep_in(&mut inner, record);
                    }
                }
            }
            let mut read: HashMap<String, V> =
                read.into_iter().map(|r| (r.id().to_owned(), r)).collect();
            for (id, slot) in ids.iter().zip(&mut found) {
                if slot.is_none() {
                    *slot = read.remove(id);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// The record at `key` as kept; otherwise the ticket to keep what the database answers
    /// (none while the cache is not live).
    fn get(&self, key: Key<'_>) -> Result<V, Option<Ticket>> {
        let inner = self.lock();
        if !inner.live {
            return Err(None);
        }
        let id = match key {
            Key::Id(id) => Some(id),
            Key::Alias(alias) => inner.aliases.get(alias).map(String::as_str),
        };
        match id.and_then(|id| inner.fresh(id)) {
            Some(record) => Ok(record.clone()),
            None => Err(Some(Ticket(inner.generation))),
        }
    }

    /// Keeps `record`, read with `ticket`, unless something was forgotten since.
    fn keep(&self, ticket: Ticket, record: &V) {
        let mut inner = self.lock();
        if inner.live && inner.generation == ticket.0 {
            self.keep_in(&mut inner, record);
        }
    }

    /// Keeps `record` in `inner`, if there is room.
    fn keep_in(&self, inner: &mut Inner<V>, record: &V) {
        // Replacing an entry (one past its age) takes no room.
        let id = record.id();
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(id) {
            if inner.swept_at.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
                return;
            }
            inner.swept_at = Some(Instant::now());
            inner.entries.retain(|_, (_, at)| at.elapsed() < MAX_AGE);
            let Inner {
                entries, aliases, ..
            } = &mut *inner;
            aliases.retain(|_, id| entries.contains_key(id));
            if entries.len() >= self.capacity {
                return;
            }
        }
        // An entry it replaces may have been asked for by another alias.
        inner.drop_entry(id);
        let id = id.to_owned();
        if let Some(alias) = record.alias() {
            inner.aliases.insert(alias, id.clone());
        }
        inner.entries.insert(id, (record.clone(), Instant::now()));
    }

    /// Forgets the record `id`, or every record.
    pub(crate) fn forget(&self, id: Option<&str>) {
        match id {
            Some(id) => self.forget_each([id]),
            None => self.lock().forget_all(),
        }
    }

    /// Forgets the records `ids`, under one lock: a write of many rows forgets their owners.
    pub(crate) fn forget_each<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for id in ids {
            inner.drop_entry(id);
        }
    }

    /// Turns answering on or off; either way everything kept so far is forgotten.
    pub(crate) fn set_live(&self, live: bool) {
        let mut inner = self.lock();
        inner.forget_all();
        inner.live = live;
    }

    /// Whether records are answered from memory now.
    pub(crate) fn is_live(&self) -> bool {
        self.lock().live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Record {
        id: &'static str,
        alias: &'static str,
    }

    impl Kept for Record {
        fn id(&self) -> &str {
            self.id
        }
        fn alias(&self) -> Option<String> {
            Some(self.alias.to_owned())
        }
    }

    fn record(id: &'static str) -> Record {
        Record { id, alias: id }
    }

    fn kept(cache: &Cache<Record>, key: Key<'_>) -> Option<Record> {
        cache.get(key).ok()
    }

    fn ticket(cache: &Cache<Record>, id: &str) -> Ticket {
        match cache.get(Key::Id(id)) {
            Err(Some(ticket)) => ticket,
            _ => panic!("a ticket for {id} while live"),
        }
    }

    #[test]
    fn nothing_is_answered_or_kept_unless_live() {
        let cache = Cache::new(10);
        assert!(matches!(cache.get(Key::Id("t")), Err(None)));
        cache.set_live(true);
        let t = ticket(&cache, "t");
        cache.keep(t, &record("t"));
        assert_eq!(kept(&cache, Key::Id("t")), Some(record("t")));
        cache.set_live(false);
        assert!(matches!(cache.get(Key::Id("t")), Err(None)));
        cache.set_live(true);
        assert_eq!(kept(&cache, Key::Id("t")), None, "live again starts empty");
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = Cache::live(10);
        let t = ticket(&cache, "t");
        // Announced while "t" was being read: the record read may predate the change.
        cache.forget(Some("t"));
        cache.keep(t, &record("t"));
        assert_eq!(kept(&cache, Key::Id("t")), None);

        let t = ticket(&cache, "t");
        cache.keep(t, &record("t"));
        let u = ticket(&cache, "u");
        cache.keep(u, &record("u"));
        cache.forget(Some("t"));
        assert_eq!(kept(&cache, Key::Id("t")), None);
        assert_eq!(
            kept(&cache, Key::Id("u")),
            Some(record("u")),
            "only t is forgotten"
        );
        cache.forget(None);
        assert_eq!(kept(&cache, Key::Id("u")), None);
    }

    #[test]
    fn an_alias_answers_until_its_record_is_forgotten() {
        let cache = Cache::live(10);
        let r = Record {
            id: "id1",
            alias: "p/l/n",
        };
        let t = ticket(&cache, "id1");
        cache.keep(t, &r);
        assert_eq!(kept(&cache, Key::Alias("p/l/n")), Some(r.clone()));
        cache.forget(Some("id1"));
        assert_eq!(kept(&cache, Key::Alias("p/l/n")), None);
        assert!(cache.lock().aliases.is_empty());
    }

    #[test]
    fn a_batch_is_forgotten_whole_and_a_read_during_it_is_not_kept() {
        let cache = Cache::live(10);
        for id in ["a", "b", "c"] {
            let t = ticket(&cache, id);
            cache.keep(t, &record(id));
        }
        let t = ticket(&cache, "d");
        cache.forget_each(["a", "c"]);
        cache.keep(t, &record("d"));
        assert_eq!(kept(&cache, Key::Alias("a")), None);
        assert_eq!(kept(&cache, Key::Id("b")), Some(record("b")));
        assert_eq!(kept(&cache, Key::Id("c")), None);
        assert_eq!(kept(&cache, Key::Id("d")), None);
    }

    #[test]
    fn an_alias_leads_to_the_record_last_kept_under_it() {
        let cache = Cache::live(10);
        let renamed = |alias| Record { id: "id1", alias };
        let t = ticket(&cache, "id1");
        cache.keep(t, &renamed("a"));
        // Read again once aged and kept under another alias (a rename nobody announced): the
        // old alias is gone.
        let t = Ticket(cache.lock().generation);
        cache.keep(t, &renamed("b"));
        assert_eq!(kept(&cache, Key::Alias("a")), None);
        assert_eq!(kept(&cache, Key::Alias("b")), Some(renamed("b")));
        // Another record now at "b": forgetting the first leaves the alias to the second.
        let t = ticket(&cache, "id2");
        cache.keep(
            t,
            &Record {
                id: "id2",
                alias: "b",
            },
        );
        cache.forget(Some("id1"));
        assert_eq!(
            kept(&cache, Key::Alias("b")),
            Some(Record {
                id: "id2",
                alias: "b"
            })
        );
    }

    #[test]
    fn a_full_cache_keeps_nothing_more_until_a_sweep_makes_room() {
        let cache = Cache::live(2);
        for id in ["a", "b", "c"] {
            let t = ticket(&cache, id);
            cache.keep(t, &record(id));
        }
        assert_eq!(kept(&cache, Key::Id("c")), None);
        assert_eq!(kept(&cache, Key::Alias("a")), Some(record("a")));
        assert_eq!(cache.lock().aliases.len(), 2);

        // Aged out, the entries make room, but only at the next sweep.
        let aged = |at: &mut Instant, by: Duration| *at = at.checked_sub(by).expect("uptime");
        for (_, at) in cache.lock().entries.values_mut() {
            aged(at, MAX_AGE);
        }
        let t = ticket(&cache, "d");
        cache.keep(t, &record("d"));
        assert_eq!(
            kept(&cache, Key::Id("d")),
            None,
            "swept less than a second ago"
        );
        let t = Ticket(cache.lock().generation);
        cache.keep(t, &record("a"));
        assert_eq!(
            kept(&cache, Key::Id("a")),
            Some(record("a")),
            "aged, replaced in place"
        );
        if let Some((_, at)) = cache.lock().entries.get_mut("a") {
            aged(at, MAX_AGE);
        }
        aged(cache.lock().swept_at.as_mut().expect("swept"), SWEEP_EVERY);
        let t = ticket(&cache, "d");
        cache.keep(t, &record("d"));
        assert_eq!(kept(&cache, Key::Id("d")), Some(record("d")));
        assert_eq!(cache.lock().entries.len(), 1, "the aged entries went");
        assert_eq!(cache.lock().aliases.len(), 1);
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(ToString::to_string).collect()
    }

    /// A read from the database of the records `ids`, where only "a", "b" and "c" exist;
    /// records what it was asked for.
    async fn read_of(asked: &Mutex<Vec<Vec<String>>>, ids: Vec<String>) -> Result<Vec<Record>> {
        let records = ids
            .iter()
            .filter_map(|id| ["a", "b", "c"].into_iter().find(|n| n == id))
            .map(record)
            .collect();
        asked.lock().unwrap().push(ids);
        Ok(records)
    }

    #[tokio::test]
    async fn a_batch_reads_only_what_is_not_kept_and_answers_in_order() {
        let cache = Cache::live(10);
        let t = ticket(&cache, "b");
        cache.keep(t, &record("b"));
        let asked = Mutex::new(Vec::new());
        let got = cache
            .get_or_read_each(&ids(&["c", "b", "gone", "a"]), |m| read_of(&asked, m))
            .await
            .unwrap();
        assert_eq!(got, [record("c"), record("b"), record("a")]);
        assert_eq!(*asked.lock().unwrap(), [ids(&["c", "gone", "a"])]);

        // What was read is kept: the next batch reads nothing.
        let got = cache
            .get_or_read_each(&ids(&["a", "c"]), |m| read_of(&asked, m))
            .await
            .unwrap();
        assert_eq!(got, [record("a"), record("c")]);
        assert_eq!(asked.lock().unwrap().len(), 1, "no second read");
    }

    #[tokio::test]
    async fn a_batch_read_that_raced_a_change_or_ran_unlive_keeps_nothing() {
        let cache = Cache::live(10);
        let asked = Mutex::new(Vec::new());
        let got = cache
            .get_or_read_each(&ids(&["a", "b"]), |m| {
                // Announced while the batch was being read.
                cache.forget(Some("z"));
                read_of(&asked, m)
            })
            .await
            .unwrap();
        assert_eq!(got, [record("a"), record("b")]);
        assert!(cache.lock().entries.is_empty());

        cache.set_live(false);
        cache
            .get_or_read_each(&ids(&["a"]), |m| read_of(&asked, m))
            .await
            .unwrap();
        cache.set_live(true);
        assert!(
            cache.lock().entries.is_empty(),
            "nothing kept while not live"
        );
        assert_eq!(asked.lock().unwrap().len(), 2);
    }
}
