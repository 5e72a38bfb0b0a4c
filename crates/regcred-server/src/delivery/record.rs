//! What a pass leaves behind: one `delivery.apply` audit event per project for what it wrote and
//! removed, and the delivery rows (one per target and owner) that `pullSecret.get` and
//! `deployment.get` show.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use regcred_core::api::{DeliveryState, SyncReport};
use regcred_core::pace;
use regcred_store::DeliveryRecord;

use super::driver::{Outcome, PassResult};
use super::{platform, DeliveryError};
use crate::AppState;

/// How many targets an audit event lists per owner (with their count).
const LISTED: usize = 20;

type ByOwner<'a> = BTreeMap<&'a str, Vec<&'a str>>;

/// Audits what a pass wrote and removed — delivery releases credentials — one event per project
/// (owners that are gone, such as deleted pull secrets, under no project). Targets are listed up
/// to a bound per owner, with their count, so a fan-out to thousands of namespaces stays one
/// readable event.
pub(super) async fn audit_pass(
    state: &AppState,
    location: &str,
    result: &PassResult,
    projects: &BTreeMap<&str, &str>,
) -> Result<(), DeliveryError> {
    let mut by_project: BTreeMap<Option<&str>, (ByOwner<'_>, ByOwner<'_>)> = BTreeMap::new();
    fn project_of<'a>(projects: &BTreeMap<&str, &'a str>, owner: &'a str) -> Option<&'a str> {
        projects
            .get(owner)
            .copied()
            .or_else(|| owner.strip_prefix(platform::OWNER_PREFIX))
    }
    for (changes, applied) in [(&result.applied, true), (&result.removed, false)] {
        for c in changes {
            let entry = by_project
                .entry(project_of(projects, &c.owner_id))
                .or_default();
            let side = if applied { &mut entry.0 } else { &mut entry.1 };
            side.entry(&c.owner_id).or_default().push(&c.target);
        }
    }
    for (project, (applied, removed)) in &by_project {
        let event = regcred_store::AuditRecord {
            id: 0,
            time: crate::clock::now_millis(),
            actor: "regcred".into(),
            channel: "delivery".into(),
            action: "delivery.apply".into(),
            project: project.map(str::to_owned),
            target: location.to_owned(),
            outcome: "ok".into(),
            detail: serde_json::to_string(&Detail {
                applied: summary(applied),
                removed: summary(removed),
            })
            .map_err(DeliveryError::internal)?,
        };
        state.store().append_audit(&event).await?;
    }
    Ok(())
}

/// An audit event's detail: per owner, what the pass applied and removed. Written straight to
/// its text: a first pass over 100,000 pull secrets lists 100,000 owners, and a `Value` of each
/// would cost more than the text.
#[derive(serde::Serialize)]
struct Detail<'a> {
    applied: Vec<OwnerSummary<'a>>,
    removed: Vec<OwnerSummary<'a>>,
}

/// One owner's targets in an audit event: how many, and the first [`LISTED`].
#[derive(serde::Serialize)]
struct OwnerSummary<'a> {
    count: usize,
    owner: &'a str,
    targets: &'a [&'a str],
}

fn summary<'a>(by_owner: &'a ByOwner<'_>) -> Vec<OwnerSummary<'a>> {
    by_owner
        .iter()
        .map(|(owner, targets)| OwnerSummary {
            count: targets.len(),
            owner,
            targets: &targets[..targets.len().min(LISTED)],
        })
        .collect()
}

/// Writes the rows that changed and drops the rows of removed targets: of the whole location
/// after a full pass, of the scoped owners after a scoped one.
pub(super) async fn record_outcomes(
    state: &AppState,
    location: &str,
    scope: Option<&BTreeSet<String>>,
    result: PassResult,
) -> Result<SyncReport, DeliveryError> {
    let mut rows = match scope {
        None => state.store().list_deliveries(Some(location), None).await?,
        Some(owners) => owner_rows(state, location, owners).await?,
    };
    // The stored rows in (target, owner) order, found by binary search, and whether an outcome
    // of this pass names each: no map of copied keys (a full pass holds 100,000 rows).
    rows.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    let mut named = vec![false; rows.len()];
    let mut report = SyncReport {
        location: location.to_owned(),
        applied: result.applied.len() as u64,
        deleted: result.removed.len() as u64,
        up_to_date: result.up_to_date,
        ..SyncReport::default()
    };
    // The audit has named them.
    pace::drop_all(result.applied);
    pace::drop_all(result.removed);
    let now = crate::clock::now_millis();
    // Rows are written in bounded batches, each its own transaction: a first pass over 100,000
    // owners writes as many rows, and one transaction would hold SQLite's write lock — and with
    // it the leader's lease renewals — for as long as they take; and a batch is written as soon
    // as it is full, so the pass never holds every new row at once. Each row stands on its own,
    // and a pass that stops halfway leaves rows the next one rewrites.
    let mut put = Vec::new();
    let mut changed = 0;
    for o in result.outcomes {
        pace::point();
        match o.state {
            DeliveryState::Pending => report.pending += 1,
            DeliveryState::Error => report.errors += 1,
            DeliveryState::Delivered => {}
        }
        let found = rows.binary_search_by(|r| key(r).cmp(&(&o.target, &o.owner_id)));
        let before = found.ok().map(|i| {
            named[i] = true;
            &rows[i]
        });
        let row = row(location, o, before, now);
        if before.is_none_or(|e| !same(e, &row)) {
            put.push(row);
        }
        if put.len() == WRITE_BATCH {
            changed += put.len();
            state
                .store()
                .update_deliveries(location, &std::mem::take(&mut put), &[])
                .await?;
        }
    }
    // A pass's outcomes are the whole truth about what it covers: rows of targets it no longer
    // wants (removed, or never written) go.
    let remove: Vec<(String, String)> = rows
        .iter()
        .zip(named)
        .filter(|(_, named)| !named)
        .map(|(r, _)| (r.target.clone(), r.owner_id.clone()))
        .collect();
    for (put, remove) in batches(&put, &remove, WRITE_BATCH) {
        state
            .store()
            .update_deliveries(location, put, remove)
            .await?;
    }
    // Planner statistics follow the rows without relying on the database's autovacuum: a first
    // pass, or a bulk load through many passes for changes, can write 100,000 rows at once.
    let changed = (changed + put.len() + remove.len()) as u64;
    let deliverer = state.deliverer();
    let before = deliverer.rows_changed.fetch_add(changed, Ordering::Relaxed);
    if analyze_now(before, changed) {
        state.store().analyze_deliveries().await?;
    }
    Ok(report)
}

/// How many delivery rows change between two analyses of the table.
const ANALYZE_AFTER: u64 = 10_000;
/// The first analysis comes sooner: statistics taken of an empty table (a new database, or one
/// just copied from SQLite) made PostgreSQL read a page's deliveries of 2,000 rows three times
/// slower than of 100 until the next one.
const ANALYZE_FIRST: u64 = 1_000;

/// Whether the rows this process has changed, `before` and then `changed` more, call for an
/// analysis: when they pass [`ANALYZE_FIRST`], and each multiple of [`ANALYZE_AFTER`].
fn analyze_now(before: u64, changed: u64) -> bool {
    let after = before + changed;
    (before < ANALYZE_FIRST && after >= ANALYZE_FIRST)
        || after / ANALYZE_AFTER > before / ANALYZE_AFTER
}

/// A row's place in a location: (target, owner).
fn key(r: &DeliveryRecord) -> (&String, &String) {
    (&r.target, &r.owner_id)
}

/// The most delivery rows written, and the most removed, in one transaction.
const WRITE_BATCH: usize = 1000;

/// `put` and `remove` side by side in slices of at most `n` each, until both are spent.
fn batches<'a, P, R>(
    put: &'a [P],
    remove: &'a [R],
    n: usize,
) -> impl Iterator<Item = (&'a [P], &'a [R])> {
    let (mut put, mut remove) = (put.chunks(n), remove.chunks(n));
    std::iter::from_fn(move || match (put.next(), remove.next()) {
        (None, None) => None,
        (p, r) => Some((p.unwrap_or_default(), r.unwrap_or_default())),
    })
}

/// The rows of `owners` in `location`.
pub(super) async fn owner_rows(
    state: &AppState,
    location: &str,
    owners: &BTreeSet<String>,
) -> Result<Vec<DeliveryRecord>, DeliveryError> {
    let owners: Vec<String> = owners.iter().cloned().collect();
    let mut rows = state.store().deliveries_of(&owners).await?;
    rows.retain(|r| r.location == location);
    Ok(rows)
}

/// The row of an outcome.
fn row(location: &str, o: Outcome, before: Option<&DeliveryRecord>, now: i64) -> DeliveryRecord {
    let mut row = DeliveryRecord {
        location: location.to_owned(),
        target: o.target,
        owner_id: o.owner_id,
        state: o.state.as_str().to_owned(),
        revision: o.revision,
        digest: o.digest,
        code: o.code.map(|c| c.as_str().to_owned()),
        message: o.message,
        updated_at: now,
    };
    if let (None, Some(before)) = (&row.digest, before) {
        // A failed pass leaves what regcred last wrote there, and that is still regcred's:
        // keep its digest and revision so that ownership survives the failure.
        row.digest = before.digest.clone();
        row.revision = row.revision.or(before.revision);
    }
    row
}

/// Whether a row says the same as the stored one (only its time would change).
fn same(e: &DeliveryRecord, row: &DeliveryRecord) -> bool {
    (&e.state, e.revision, &e.digest, &e.code, &e.message)
        == (
            &row.state,
            row.revision,
            &row.digest,
            &row.code,
            &row.message,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_analyzed_at_a_thousand_changed_rows_then_once_per_ten_thousand() {
        assert!(!analyze_now(0, 0));
        assert!(!analyze_now(0, 999));
        assert!(analyze_now(999, 1), "the first thousand");
        assert!(!analyze_now(1_000, 8_999));
        assert!(analyze_now(9_999, 1));
        assert!(analyze_now(0, 100_000), "a first pass at 100,000");
        assert!(!analyze_now(10_000, 9_999));
        // A bulk load in passes of 300 rows: at 1,000, then one analysis per 10,000.
        let analyses = (0..100_000 / 300)
            .filter(|i| analyze_now(i * 300, 300))
            .count();
        assert_eq!(analyses, 10);
    }

    #[test]
    fn batches_cover_every_row_once_and_stay_bounded() {
        let put: Vec<usize> = (0..2500).collect();
        let remove: Vec<usize> = (0..10).collect();
        let got: Vec<(usize, usize)> = batches(&put, &remove, 1000)
            .map(|(p, r)| (p.len(), r.len()))
            .collect();
        assert_eq!(got, [(1000, 10), (1000, 0), (500, 0)]);
        let again: Vec<usize> = batches(&put, &remove, 1000)
            .flat_map(|(p, _)| p.iter().copied())
            .collect();
        assert_eq!(again, put);
        let removed: Vec<(usize, usize)> = batches(&remove, &put, 1000)
            .map(|(p, r)| (p.len(), r.len()))
            .collect();
        assert_eq!(removed, [(10, 1000), (0, 1000), (0, 500)]);
        assert_eq!(batches::<u8, u8>(&[], &[], 1000).count(), 0);
    }
}
