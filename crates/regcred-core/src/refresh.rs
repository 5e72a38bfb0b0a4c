//! When to mint a short-lived credential again, as pure functions of time so they
//! can be tested without clocks. A fresh credential is refreshed at half its remaining lifetime
//! (jittered, so a fleet does not mint in lockstep); a failure backs off exponentially; the last
//! good credential is served until it really expires; and a credential that arrives already
//! expired or with a tiny lifetime (the AWS emulator answers with an expiry in 2015) never causes
//! a hot loop, because no refresh is ever scheduled sooner than the policy's minimum interval.

/// The knobs of the schedule, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshPolicy {
    /// No refresh is scheduled sooner than this after an attempt.
    pub min_interval_ms: i64,
    /// First retry delay after a failure; doubled per consecutive failure.
    pub base_backoff_ms: i64,
    /// Largest retry delay.
    pub max_backoff_ms: i64,
    /// How long a credential without a stated expiry is used before minting again.
    pub unknown_lifetime_ms: i64,
    /// Warn when the last good credential expires within this and refreshing keeps failing.
    pub warn_before_ms: i64,
    /// Relative jitter applied to every delay (0.1 = ±10 %).
    pub jitter: f64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            min_interval_ms: 60_000,
            base_backoff_ms: 10_000,
            max_backoff_ms: 15 * 60_000,
            unknown_lifetime_ms: 30 * 60_000,
            warn_before_ms: 30 * 60_000,
            jitter: 0.1,
        }
    }
}

/// `delay` scaled by `1 + jitter * (2 * sample - 1)`, `sample` in `[0, 1)`.
fn jittered(delay: i64, policy: &RefreshPolicy, sample: f64) -> i64 {
    let factor = 1.0 + policy.jitter * (2.0 * sample.clamp(0.0, 1.0) - 1.0);
    (delay as f64 * factor) as i64
}

/// When to refresh a credential minted at `now` that expires at `expires_at_ms`.
pub fn next_after_success(
    now: i64,
    expires_at_ms: Option<i64>,
    policy: &RefreshPolicy,
    sample: f64,
) -> i64 {
    let delay = match expires_at_ms {
        None => policy.unknown_lifetime_ms,
        Some(at) => (at - now) / 2,
    };
    now + jittered(delay, policy, sample).max(policy.min_interval_ms)
}

/// When to try again after the `failures`-th consecutive failure at `now`.
pub fn next_after_failure(now: i64, failures: u32, policy: &RefreshPolicy, sample: f64) -> i64 {
    let exponent = failures.saturating_sub(1).min(30);
    let delay = policy
        .base_backoff_ms
        .saturating_mul(1_i64 << exponent)
        .min(policy.max_backoff_ms);
    now + jittered(delay, policy, sample).max(policy.base_backoff_ms.min(policy.min_interval_ms))
}

/// Whether a minted credential may still be served: until it really expires.
pub fn usable(expires_at_ms: Option<i64>, now: i64) -> bool {
    expires_at_ms.is_none_or(|at| at > now)
}

/// Whether to warn: the last good credential expires soon (or already did) and the latest
/// attempt to refresh it failed.
pub fn about_to_expire(
    expires_at_ms: Option<i64>,
    last_attempt_failed: bool,
    now: i64,
    policy: &RefreshPolicy,
) -> bool {
    last_attempt_failed && expires_at_ms.is_some_and(|at| at - now < policy.warn_before_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;

    fn policy() -> RefreshPolicy {
        RefreshPolicy {
            jitter: 0.0,
            ..RefreshPolicy::default()
        }
    }

    #[test]
    fn fresh_credentials_refresh_at_half_their_remaining_life() {
        let p = policy();
        // ECR: 12 h → refresh after 6 h; GCP: 1 h → after 30 min.
        assert_eq!(next_after_success(0, Some(12 * HOUR), &p, 0.5), 6 * HOUR);
        assert_eq!(
            next_after_success(1_000, Some(1_000 + HOUR), &p, 0.5),
            1_000 + HOUR / 2
        );
        assert_eq!(next_after_success(0, None, &p, 0.5), p.unknown_lifetime_ms);
    }

    #[test]
    fn expired_or_tiny_lifetimes_never_loop_hot() {
        let p = policy();
        let emulator_2015 = 1_420_070_400_000;
        let now = 1_795_000_000_000;
        assert_eq!(
            next_after_success(now, Some(emulator_2015), &p, 0.5),
            now + MIN
        );
        assert_eq!(
            next_after_success(now, Some(now + 5_000), &p, 0.5),
            now + MIN
        );
        // A thousand refreshes of an always-expired credential take a thousand minutes.
        let mut t = now;
        for _ in 0..1000 {
            t = next_after_success(t, Some(emulator_2015), &p, 0.0);
        }
        assert_eq!(t, now + 1000 * MIN);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let p = policy();
        let delays: Vec<i64> = (1..=10)
            .map(|f| next_after_failure(0, f, &p, 0.5))
            .collect();
        assert_eq!(
            delays,
            [
                10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 900_000, 900_000,
                900_000
            ]
        );
        assert_eq!(next_after_failure(0, u32::MAX, &p, 0.5), 900_000);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let p = RefreshPolicy::default();
        for sample in [0.0, 0.25, 0.5, 0.75, 0.999] {
            let t = next_after_success(0, Some(12 * HOUR), &p, sample);
            assert!(
                (54 * HOUR / 10..=66 * HOUR / 10).contains(&t),
                "{sample} → {t}"
            );
        }
        assert!(
            next_after_success(0, Some(12 * HOUR), &p, 0.0)
                < next_after_success(0, Some(12 * HOUR), &p, 0.9)
        );
    }

    #[test]
    fn last_good_is_served_until_it_expires_and_warned_about_before() {
        let p = policy();
        assert!(usable(Some(10), 9));
        assert!(!usable(Some(10), 10));
        assert!(usable(None, i64::MAX));
        assert!(about_to_expire(Some(HOUR), true, HOUR - MIN, &p));
        assert!(
            !about_to_expire(Some(HOUR), false, HOUR - MIN, &p),
            "refreshing fine"
        );
        assert!(
            !about_to_expire(Some(10 * HOUR), true, 0, &p),
            "far from expiry"
        );
        assert!(!about_to_expire(None, true, 0, &p));
    }
}
