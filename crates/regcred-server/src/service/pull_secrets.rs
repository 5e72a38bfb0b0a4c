//! Pull secrets below the API: a stored record's kind, its credential opened through the vault,
//! and records keyed by what the runtimes' matching rules compare.

use regcred_core::credential::{Credential, Kind, Material, Params};
use regcred_core::registry_host::RegistryServer;
use regcred_store::vault::SealedFor;
use regcred_store::PullSecretRecord;

use crate::error::ApiError;
use crate::AppState;

/// The kind of a stored pull secret; one this regcred does not know is an error, never a
/// default.
pub fn kind_of(r: &PullSecretRecord) -> Result<Kind, ApiError> {
    Kind::parse(&r.kind).ok_or_else(|| {
        ApiError::unreadable(format!(
            "pull secret {} has the unknown kind {:?}",
            r.id, r.kind
        ))
    })
}

/// Opens a stored pull secret back into its credential through the vault.
pub fn open(state: &AppState, r: &PullSecretRecord) -> Result<Credential, ApiError> {
    let plaintext = state
        .vault()
        .open_sealed(&SealedFor::pull_secret(r), &r.sealed)?;
    let kind = kind_of(r)?;
    let material =
        Material::from_plaintext(kind, &plaintext).map_err(|e| ApiError::internal(&e))?;
    let server = RegistryServer::parse(&r.server).map_err(|e| ApiError::internal(&e))?;
    let params: Params = serde_json::from_str(&r.params).map_err(|e| ApiError::internal(&e))?;
    Ok(Credential {
        kind,
        server,
        username: r.username.clone(),
        email: r.email.clone(),
        params,
        material,
    })
}

/// Records keyed by the auth key their server has in `.dockerconfigjson` (what the matching
/// rules compare), in the order given.
pub fn by_auth_key(records: &[PullSecretRecord]) -> Vec<(String, &PullSecretRecord)> {
    records
        .iter()
        .filter_map(|r| Some((RegistryServer::parse(&r.server).ok()?.auth_key(), r)))
        .collect()
}
