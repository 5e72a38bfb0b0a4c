//! Locations below the API.

use regcred_core::api::LocationKind;
use regcred_store::LocationRecord;

use crate::error::ApiError;

/// The kind of a stored location; one this regcred does not know is an error, never a default.
pub fn kind_of(r: &LocationRecord) -> Result<LocationKind, ApiError> {
    LocationKind::parse(&r.kind).ok_or_else(|| {
        ApiError::unreadable(format!(
            "location {} has the unknown kind {:?}",
            r.name, r.kind
        ))
    })
}
