//! Deliveries below the API: the delivery states that `pullSecret.get` and `deployment.get`
//! show, and the boundary where delivery gets what it needs from the other services — a pull
//! secret's credential (through the refresher), a new token — with their failures in delivery's
//! own terms.

use std::collections::HashMap;

use regcred_core::api::{DeliveryState, DeliveryStatus};
use regcred_core::codes::{DeliveryCode, ErrorCode};
use regcred_core::credential::Credential;
use regcred_store::PullSecretRecord;

use crate::auth::NewToken;
use crate::clock::rfc3339;
use crate::delivery::DeliveryError;
use crate::error::ApiError;
use crate::refresher::Current;
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

/// A pull secret's credential for delivery: opened through the vault and, for short-lived kinds,
/// the current one from the refresher. A failure makes the pull secret undeliverable this pass:
/// `credential_unavailable` when a credential could not be minted, `not_renderable` otherwise,
/// with the service's message (which never carries a secret).
pub(crate) async fn credential(
    state: &AppState,
    record: &PullSecretRecord,
) -> Result<(Credential, Current), DeliveryError> {
    let undeliverable = |e: ApiError| DeliveryError::Undeliverable {
        code: match e.code {
            ErrorCode::CredentialUnavailable => DeliveryCode::CredentialUnavailable,
            _ => DeliveryCode::NotRenderable,
        },
        message: e.message,
    };
    let credential = super::pull_secrets::open(state, record).map_err(undeliverable)?;
    let current = state
        .refresher()
        .current(state, record, &credential)
        .await
        .map_err(undeliverable)?;
    Ok((credential, current))
}

/// A new random token for delivery to store (the platform credential).
pub(crate) fn mint_token() -> Result<NewToken, DeliveryError> {
    // The cause (no randomness) is logged where the error is made.
    crate::auth::mint_token().map_err(|e| DeliveryError::internal(std::io::Error::other(e.message)))
}

/// One stored delivery row as the API shows it.
fn status(r: regcred_store::DeliveryRecord) -> Result<DeliveryStatus, ApiError> {
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

/// [`statuses`] of every owner of a page at once, by owner id (owners without deliveries are
/// absent): one read whatever the page's length.
pub async fn statuses_of(
    state: &AppState,
    owner_ids: &[String],
) -> Result<HashMap<String, Vec<DeliveryStatus>>, ApiError> {
    let mut by_owner: HashMap<String, Vec<DeliveryStatus>> = HashMap::new();
    for r in state.store().deliveries_of(owner_ids).await? {
        let owner = r.owner_id.clone();
        by_owner.entry(owner).or_default().push(status(r)?);
    }
    Ok(by_owner)
}
