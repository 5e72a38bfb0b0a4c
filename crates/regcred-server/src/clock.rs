//! Time as the API shows it: Unix milliseconds inside, RFC 3339 UTC outside; and the clock that
//! background work reads, which tests can move by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// `now_ms` plus `seconds`, saturating: the expiry of something given a lifetime.
pub fn after_seconds(now_ms: i64, seconds: u64) -> i64 {
    let ms = i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    now_ms.saturating_add(ms)
}

/// `2026-11-22T09:38:00.123Z`.
pub fn rfc3339(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| millis.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(
            super::rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}

/// Wall-clock milliseconds that advance with tokio's clock (so paused-time tests move both), plus
/// an offset tests can move by hand.
#[derive(Debug, Clone)]
pub struct Clock {
    wall_at_start: i64,
    start: tokio::time::Instant,
    offset: Arc<AtomicI64>,
}

impl Clock {
    pub fn new(wall_ms: i64) -> Clock {
        Clock {
            wall_at_start: wall_ms,
            start: tokio::time::Instant::now(),
            offset: Arc::default(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.wall_at_start
            .saturating_add(elapsed)
            .saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward, for tests.
    pub fn advance(&self, ms: i64) {
        self.offset.fetch_add(ms, Ordering::Relaxed);
    }
}
