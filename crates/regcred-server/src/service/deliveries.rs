//! Deliveries below the API: the delivery states that `pullSecret.get` and `deployment.get`
//! show, one owner at a time or for a whole page of a list.

use std::collections::HashMap;

use regcred_core::api::{DeliveryState, DeliveryStatus};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::AppState;

/// One stored delivery row as the API shows it.
pub fn status(r: regcred_store::DeliveryRecord) -> Result<DeliveryStatus, ApiError> {
    // A state this regcred does not know is an error, never a silent default.
    let delivery_state = DeliveryState::parse(&r.state).ok_or_else(|| {
        ApiError::unreadable(format!(
            "delivery row of {} has the unknown state {:?}",
            r.owner_id, r.state
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
}

/// The delivery states of every owner of a page (pull secrets or deployments) at once, by owner
/// id (owners without deliveries are absent): one read whatever the page's length.
pub async fn statuses_of(
    state: &AppState,
    owner_ids: &[String],
) -> Result<HashMap<String, Vec<DeliveryStatus>>, ApiError> {
    statuses(state.store().deliveries_of(owner_ids).await?)
}

/// Delivery rows as the API shows them, by owner id.
fn statuses(
    rows: Vec<regcred_store::DeliveryRecord>,
) -> Result<HashMap<String, Vec<DeliveryStatus>>, ApiError> {
    let mut by_owner: HashMap<String, Vec<DeliveryStatus>> = HashMap::new();
    for r in rows {
        let owner = r.owner_id.clone();
        by_owner.entry(owner).or_default().push(status(r)?);
    }
    Ok(by_owner)
}
