//! Audit retention: events older than the retention period are deleted in the background. Every
//! `credential.get` (each kubelet plugin call) writes an event, so without it the log grows for
//! as long as the server runs. Deletion goes in bounded batches, each its own short write, so
//! requests waiting for the write lock wait for one batch at most, never for the whole backlog.

use std::future::Future;
use std::time::Duration;

use crate::error::ApiError;
use crate::AppState;

/// How often a pass runs: retention is counted in days, so an hour late is immaterial.
pub const INTERVAL: Duration = Duration::from_secs(3600);
/// Events deleted per write.
pub const BATCH: u32 = 1000;
/// The default retention, in days (`serve --audit-retention-days`).
pub const DEFAULT_DAYS: u32 = 90;

const DAY_MS: i64 = 86_400_000;

/// Deletes the events older than `days` days by the server's clock, batch by batch; answers how
/// many went. `days` 0 keeps everything.
pub async fn sweep(state: &AppState, days: u32) -> Result<u64, ApiError> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = state
        .refresher()
        .clock
        .now_ms()
        .saturating_sub(i64::from(days).saturating_mul(DAY_MS));
    let mut total = 0;
    loop {
        let deleted = state.store().delete_audit_before(cutoff, BATCH).await?;
        total += deleted;
        if deleted < u64::from(BATCH) {
            return Ok(total);
        }
        // Let the writers queued behind this batch go first.
        tokio::task::yield_now().await;
    }
}

/// The background loop: a pass at start and every [`INTERVAL`], until `shutdown`. With `days` 0
/// it returns at once: nothing is ever deleted.
pub async fn run(state: AppState, days: u32, shutdown: impl Future<Output = ()>) {
    if days == 0 {
        return;
    }
    tokio::pin!(shutdown);
    loop {
        let swept = tokio::select! {
            () = &mut shutdown => return,
            swept = sweep(&state, days) => swept,
        };
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, days, "deleted audit events past retention"),
            Err(e) => tracing::warn!(
                code = e.code.as_str(),
                "audit retention failed: {}",
                e.message
            ),
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
