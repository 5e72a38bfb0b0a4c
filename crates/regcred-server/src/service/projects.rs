//! Projects below the API.

use regcred_store::ProjectRecord;

use crate::error::ApiError;
use crate::AppState;

/// Loads a project or answers `not_found` with what to do.
pub async fn must_exist(state: &AppState, name: &str) -> Result<ProjectRecord, ApiError> {
    state.store().get_project(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "project {name:?} does not exist; create it with `regcred project create {name}`"
        ))
    })
}
