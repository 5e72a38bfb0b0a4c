//! `project.*`: tenants. Admins create them; a project's owner may delete it once it holds no
//! pull secrets, which also revokes the project's tokens.

use regcred_core::api::{Items, Project, ProjectCreate, ProjectDeleted, ProjectRef};
use regcred_core::name::NameKind;
use regcred_store::ProjectRecord;
use serde_json::json;

use super::Ctx;
use super::{check_name, check_text, Empty};
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::projects;

pub(crate) fn view(r: ProjectRecord) -> Project {
    Project {
        name: r.name,
        description: r.description,
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
    }
}

pub async fn create(ctx: Ctx, req: ProjectCreate) -> Result<Project, ApiError> {
    check_name(NameKind::Project, "name", &req.name)?;
    check_text("description", req.description.as_deref(), 256)?;
    ctx.require_audited(Permission::Administer, None, &req.name)
        .await?;
    let record = ProjectRecord {
        name: req.name.clone(),
        description: req.description.filter(|d| !d.is_empty()),
        created_at: ctx.now,
        created_by: ctx.principal.actor(),
    };
    let event = ctx.audit(Some(&req.name), &req.name, "ok", json!({}));
    ctx.state.store().create_project(&record, &event).await?;
    Ok(view(record))
}

pub async fn list(ctx: Ctx, _req: Empty) -> Result<Items<Project>, ApiError> {
    let all = ctx.state.store().list_projects().await?;
    let items = all
        .into_iter()
        .filter(|p| ctx.principal.is_admin() || ctx.principal.project.as_deref() == Some(&p.name))
        .map(view)
        .collect();
    Ok(Items { items })
}

pub async fn get(ctx: Ctx, req: ProjectRef) -> Result<Project, ApiError> {
    ctx.principal
        .require(Permission::Resolve, Some(&req.name))?;
    Ok(view(projects::must_exist(&ctx.state, &req.name).await?))
}

pub async fn delete(ctx: Ctx, req: ProjectRef) -> Result<ProjectDeleted, ApiError> {
    ctx.require_audited(Permission::Own, Some(&req.name), &req.name)
        .await?;
    let event = ctx.audit(Some(&req.name), &req.name, "ok", json!({}));
    ctx.state
        .store()
        .delete_project(&req.name, ctx.now, &event)
        .await?;
    Ok(ProjectDeleted { name: req.name })
}
