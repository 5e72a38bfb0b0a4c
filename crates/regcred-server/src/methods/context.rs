//! What every method handler gets besides its request: the server's state, the authenticated
//! principal, the channel and time of the request, and the audit and authorization helpers
//! built on them; and [`call`], which decodes a body and runs a handler on it.

use std::future::Future;

use regcred_store::AuditRecord;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{Permission, Principal};
use crate::decode::decode;
use crate::error::ApiError;
use crate::service::Acting;
use crate::AppState;

/// What a method handler gets besides its request.
pub struct Ctx {
    pub state: AppState,
    pub principal: Principal,
    pub channel: &'static str,
    pub now: i64,
    pub method: &'static str,
}

impl Ctx {
    /// Who acts in this request, for the services' audit events.
    pub fn acting(&self) -> Acting {
        Acting {
            actor: self.principal.actor(),
            channel: self.channel,
            action: self.method,
            now: self.now,
        }
    }

    /// An audit event for this request.
    pub fn audit(
        &self,
        project: Option<&str>,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        self.acting().audit(project, target, outcome, detail)
    }

    /// Checks a permission for a mutation or release; a refusal is audited as `denied`.
    pub async fn require_audited(
        &self,
        permission: Permission,
        project: Option<&str>,
        target: &str,
    ) -> Result<(), ApiError> {
        match self.principal.require(permission, project) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.deny(project, target, refusal).await),
        }
    }

    /// Audits `refusal` as `denied` and gives it back to be returned.
    pub async fn deny(&self, project: Option<&str>, target: &str, refusal: ApiError) -> ApiError {
        let event = self.audit(
            project,
            target,
            "denied",
            serde_json::json!({ "reason": refusal.message }),
        );
        match self.state.store().append_audit(&event).await {
            Ok(()) => refusal,
            Err(e) => e.into(),
        }
    }
}

/// Runs a method: decode, call, wrap.
pub async fn call<Req, Res, F, Fut>(ctx: Ctx, body: &[u8], f: F) -> Result<super::Answer, ApiError>
where
    Req: DeserializeOwned,
    Res: Serialize,
    F: FnOnce(Ctx, Req) -> Fut,
    Fut: Future<Output = Result<Res, ApiError>>,
{
    let request: Req = decode(body)?;
    let result = f(ctx, request).await?;
    serde_json::value::to_raw_value(&result).map_err(|e| ApiError::internal(&e))
}
