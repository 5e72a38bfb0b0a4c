//! `audit.list`: the audit log, newest first, a page at a time. A project's owner reads the
//! project's events; the whole log is for admins.

use regcred_core::api::{AuditEvent, AuditList, Page};
use regcred_core::name::NameKind;

use super::check_name;
use super::page;
use super::Ctx;
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;

pub async fn list(ctx: Ctx, req: AuditList) -> Result<Page<AuditEvent>, ApiError> {
    let project = req.project.or_else(|| ctx.principal.project.clone());
    match &project {
        Some(p) => {
            check_name(NameKind::Project, "project", p)?;
            ctx.principal.require(Permission::Own, Some(p))?;
        }
        None => ctx.principal.require(Permission::Administer, None)?,
    }
    let limit = page::limit(req.limit)?;
    // A page token continues below its event; with `before` as well, the lower of the two.
    let token = req
        .page_token
        .as_deref()
        .map(page::audit::before)
        .transpose()?;
    let before = match (req.before, token) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // One row past the page says whether another page follows.
    let mut events = ctx
        .state
        .store()
        .list_audit(project.as_deref(), before, limit + 1)
        .await?;
    let next_page_token = page::audit::next_token(&mut events, limit, |e| e.id);
    Ok(Page {
        next_page_token,
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
