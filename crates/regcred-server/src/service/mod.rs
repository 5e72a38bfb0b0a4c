//! The operations on regcred's resources, below both the RPC handlers (`methods`) and the
//! background work (`delivery`, `refresher`, `platform`). Nothing here knows about HTTP requests
//! or principals: a handler decodes and authorizes, then calls a service with an [`Acting`] that
//! says who acts, for the audit trail; background work calls the same services.

pub mod checks;
pub mod deliveries;
pub mod deployments;
pub mod images;
pub mod locations;
pub mod platform_tokens;
pub mod projects;
pub mod pull_secrets;
pub mod releases;
pub mod resolution;

use regcred_store::AuditRecord;

use crate::error::ApiError;

/// Who performs an operation, through which channel and as which action, and when: what every
/// audit event of the operation records.
#[derive(Debug, Clone)]
pub struct Acting {
    pub actor: String,
    pub channel: &'static str,
    pub action: &'static str,
    pub now: i64,
}

impl Acting {
    /// An audit event of this operation.
    pub fn audit(
        &self,
        project: Option<&str>,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            id: 0,
            time: self.now,
            actor: self.actor.clone(),
            channel: self.channel.to_owned(),
            action: self.action.to_owned(),
            project: project.map(str::to_owned),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// A new record id: `prefix` and 64 random bits in hex (`ps_…`, `dp_…`).
pub fn new_id(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    Ok(format!("{prefix}_{}", hex::encode(bytes)))
}
