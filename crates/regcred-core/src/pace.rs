//! Cooperative pacing of long background work. A thread that asks for it ([`this_thread`]) rests
//! for [`REST`] after every [`BURST`] of work, at the pace points ([`point`]) that the long loops
//! of a delivery pass pass through: the store's row decoding, rendering, planning, the auth
//! file's entries, recording. On every other thread a point costs one thread-local read.
//!
//! Why rest rather than rely on a lower scheduling priority: on a machine with two cores, one
//! extra thread that never blocks — even at nice 19 or `SCHED_IDLE` — raised the p99 latency of
//! `/healthz` under load about ninefold, because the kernel lets a running thread finish its
//! slice (milliseconds) before a thread that wakes gets the core. A thread that gives the core
//! back every 200 µs left the p99 where it was without it (README "Performance"). The cost is
//! the rest: a full pass over 100,000 pull secrets on an idle machine took 1.8 s instead of 1.1 s.
//!
//! This is the one place where this crate affects anything outside its values: it pauses a
//! thread that asked to be paced. It does no IO.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How long a paced thread works before it rests.
pub const BURST: Duration = Duration::from_micros(200);

/// How long it rests (plus the thread's timer slack).
pub const REST: Duration = Duration::from_micros(50);

/// Pace points between two looks at the clock: a point is a row or an item, a few hundred
/// nanoseconds to a few microseconds of work.
const STRIDE: u32 = 16;

#[derive(Clone, Copy)]
struct Pacer {
    since: Instant,
    points: u32,
    rests: u64,
}

thread_local! {
    static PACER: Cell<Option<Pacer>> = const { Cell::new(None) };
}

/// Paces the calling thread from now on.
pub fn this_thread() {
    PACER.set(Some(Pacer {
        since: Instant::now(),
        points: 0,
        rests: 0,
    }));
}

/// A pace point: on a paced thread that has worked [`BURST`] since it last rested, rests.
#[inline]
pub fn point() {
    PACER.with(|cell| {
        let Some(mut pacer) = cell.get() else {
            return;
        };
        pacer.points += 1;
        if pacer.points >= STRIDE {
            pacer.points = 0;
            if pacer.since.elapsed() >= BURST {
                std::thread::sleep(REST);
                pacer.rests += 1;
                pacer.since = Instant::now();
            }
        }
        cell.set(Some(pacer));
    });
}

/// A map of `items` built one insert at a time, with a pace point each. Collecting into a map
/// sorts all the items in one go, which for 100,000 of them is milliseconds without a point;
/// later items replace earlier ones with the same key, as in a collect.
pub fn btree_map<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    for (key, value) in items {
        point();
        map.insert(key, value);
    }
    map
}

/// A set of `items` built one insert at a time, with a pace point each (see [`btree_map`]).
pub fn btree_set<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    for item in items {
        point();
        set.insert(item);
    }
    set
}

/// Drops `items` one at a time, with a pace point each: dropping 100,000 rendered pull secrets
/// at once frees their memory in one stretch of tens of milliseconds.
pub fn drop_all<I: IntoIterator>(items: I) {
    for item in items {
        point();
        drop(item);
    }
}

/// How many times the calling thread has rested (0 on a thread that is not paced).
pub fn rests() -> u64 {
    PACER.with(|cell| cell.get().map_or(0, |p| p.rests))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work that passes pace points for `time`.
    fn work_for(time: Duration) -> u64 {
        let started = Instant::now();
        let mut points = 0;
        while started.elapsed() < time {
            point();
            points += 1;
        }
        points
    }

    #[test]
    fn a_paced_thread_rests_between_bursts_and_others_never_do() {
        std::thread::spawn(|| {
            work_for(Duration::from_millis(5));
            assert_eq!(rests(), 0, "a thread that did not ask is not paced");
        })
        .join()
        .unwrap();
        std::thread::spawn(|| {
            this_thread();
            let points = work_for(Duration::from_millis(5));
            // 5 ms of work and rests hold at most 5 ms / BURST bursts and at least one.
            let rested = rests();
            assert!(rested >= 1, "{rested} rests in {points} points");
            assert!(rested <= 25, "{rested} rests in {points} points");
        })
        .join()
        .unwrap();
    }
}
