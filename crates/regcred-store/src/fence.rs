//! Fencing of background work: the writes a leader makes for its lease are checked, inside
//! their own transaction, against the lease as the database holds it, so a leader that was
//! paused past its lease and woke up cannot write once another server has taken over.
//!
//! The fence travels with the task, not with the call: background work runs inside
//! [`fenced`], and every writing transaction of a backend asks [`current`] and checks the lease
//! first (`StoreError::Fenced` when it is not this holder's at this epoch, or has expired). API
//! requests run outside any fence and are never refused by it.

use std::future::Future;

tokio::task_local! {
    static FENCE: Fence;
}

/// A lease held at one epoch: what every write of background work checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
}

/// Runs `work` with every write it makes on this task fenced by `fence`.
pub async fn fenced<F: Future>(fence: Fence, work: F) -> F::Output {
    FENCE.scope(fence, work).await
}

/// The fence of the running task, if it runs inside [`fenced`].
pub fn current() -> Option<Fence> {
    FENCE.try_with(Fence::clone).ok()
}

impl Fence {
    /// The refusal of a write under this fence once its lease is gone.
    pub(crate) fn refused(self) -> crate::StoreError {
        crate::StoreError::Fenced {
            name: self.name,
            epoch: self.epoch,
        }
    }
}

/// How a granted lease is written (`$1`–`$5`: name, holder, epoch, expiry, URL).
pub(crate) const UPSERT_SQL: &str = "INSERT INTO leases (name, holder, epoch, expires_at, url)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch,
         expires_at = excluded.expires_at, url = excluded.url";

/// The check each backend runs first in a fenced transaction: one row when the lease is still
/// the fence's (`$1` name, `$2` holder, `$3` epoch) and unexpired by the database's clock
/// (`{now}`, the backend's expression for Unix milliseconds).
pub(crate) fn check_sql(now: &str) -> String {
    format!(
        "SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > {now}"
    )
}

/// The rule of [`crate::Store::acquire_lease`], the same on every backend: given the lease as
/// stored and the database's time, the lease `holder` is granted (to be written), or `None`
/// while another holder's runs. Nobody held it: epoch 1. Its holder renews it at the same epoch
/// (even once lapsed: nobody took it meanwhile). Expired under another holder: epoch + 1.
pub(crate) fn grant(
    stored: Option<&crate::Lease>,
    name: &str,
    holder: &str,
    url: Option<&str>,
    now: i64,
    ttl_ms: i64,
) -> Option<crate::Lease> {
    let epoch = match stored {
        None => 1,
        Some(l) if l.holder == holder => l.epoch,
        Some(l) if l.expires_at <= now => l.epoch + 1,
        Some(_) => return None,
    };
    Some(crate::Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        epoch,
        expires_at: now + ttl_ms,
        url: url.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(holder: &str, epoch: i64, expires_at: i64) -> crate::Lease {
        crate::Lease {
            name: "leader".into(),
            holder: holder.into(),
            epoch,
            expires_at,
            url: None,
        }
    }

    fn epoch(stored: Option<&crate::Lease>, holder: &str, now: i64) -> Option<i64> {
        grant(stored, "leader", holder, None, now, 10).map(|l| l.epoch)
    }

    #[test]
    fn a_lease_is_renewed_by_its_holder_and_taken_over_only_when_expired() {
        assert_eq!(epoch(None, "a", 5), Some(1));
        assert_eq!(
            epoch(Some(&stored("a", 3, 1)), "a", 5),
            Some(3),
            "its holder renews even a lapsed lease at the same epoch"
        );
        assert_eq!(epoch(Some(&stored("b", 3, 9)), "a", 5), None);
        assert_eq!(epoch(Some(&stored("b", 3, 5)), "a", 5), Some(4));
        assert_eq!(
            grant(None, "leader", "a", Some("u"), 5, 10)
                .unwrap()
                .expires_at,
            15
        );
    }
}
