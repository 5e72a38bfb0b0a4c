//! Deliveries below the API: the delivery states that `pullSecret.get` and `deployment.get`
//! show.

use regcred_core::api::{DeliveryState, DeliveryStatus};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::AppState;

/// The delivery states of one owner (pull secret or deployment), for reads.
pub async fn statuses(state: &AppState, owner_id: &str) -> Result<Vec<DeliveryStatus>, ApiError> {
    state
        .store()
        .list_deliveries(None, Some(owner_id))
        .await?
        .into_iter()
        .map(|r| {
            // A state this regcred does not know is an error, never a silent default.
            let delivery_state = DeliveryState::parse(&r.state).ok_or_else(|| {
                ApiError::unreadable(format!(
                    "delivery row of {owner_id} has the unknown state {:?}",
                    r.state
                ))
            })?;
            Ok(DeliveryStatus {
                location: r.location,
                target: r.target,
                state: delivery_state,
                revision: r.revision.and_then(|n| u64::try_from(n).ok()),
                code: r.code,
                message: r.message,
                updated_at: rfc3339(r.updated_at),
            })
        })
        .collect()
}
