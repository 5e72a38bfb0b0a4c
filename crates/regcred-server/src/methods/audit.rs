//! `audit.list`: the audit log, newest first. A project's owner reads the project's events; the
//! whole log is for admins.

use regcred_core::api::{AuditEvent, AuditList, Items};
use regcred_core::codes::ErrorCode;
use regcred_core::name::NameKind;

use super::check_name;
use super::Ctx;
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;

pub async fn list(ctx: Ctx, req: AuditList) -> Result<Items<AuditEvent>, ApiError> {
    let project = req.project.or_else(|| ctx.principal.project.clone());
    match &project {
        Some(p) => {
            check_name(NameKind::Project, "project", p)?;
            ctx.principal.require(Permission::Own, Some(p))?;
        }
        None => ctx.principal.require(Permission::Administer, None)?,
    }
    let limit = match req.limit {
        None => 100,
        Some(n @ 1..=1000) => n,
        Some(_) => {
            return Err(ApiError::field(
                "limit",
                ErrorCode::InvalidValue,
                "limit must be between 1 and 1000",
            ))
        }
    };
    let events = ctx
        .state
        .store()
        .list_audit(project.as_deref(), req.before, limit)
        .await?;
    Ok(Items {
        items: events
            .into_iter()
            .map(|e| AuditEvent {
                id: e.id,
                time: rfc3339(e.time),
                actor: e.actor,
                channel: e.channel,
                action: e.action,
                project: e.project,
                target: e.target,
                outcome: e.outcome,
                detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            })
            .collect(),
    })
}
