//! `audit.list`: the audit log, newest first, a page at a time, optionally only the events of
//! an action, an outcome or an actor (filtered as the log is read, `page::scan`). A project's
//! owner reads the project's events; the whole log is for admins.

use regcred_core::api::{AuditEvent, AuditList, Page};
use regcred_core::name::NameKind;
use regcred_store::AuditRecord;

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
    fn filter(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let (action, outcome, actor) = (
        filter(&req.action),
        filter(&req.outcome),
        filter(&req.actor),
    );
    let keep = |e: &AuditRecord| {
        action.is_none_or(|a| e.action.starts_with(a))
            && outcome.is_none_or(|o| e.outcome == o)
            && actor.is_none_or(|a| e.actor == a)
    };
    let filtered = action.is_some() || outcome.is_some() || actor.is_some();
    let store = ctx.state.store();
    let (events, next) = page::scan(
        limit,
        filtered,
        before,
        keep,
        |e: &AuditRecord| e.id,
        |before, n| {
            let project = project.as_deref();
            async move { Ok(store.list_audit(project, before, n).await?) }
        },
    )
    .await?;
    let next_page_token = next.map(page::audit::token_before);
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
