//! `deployment.*`: a workload's image and the pull secrets it pulls with. `deploy` resolves the
//! image's credentials — the pull secrets given (by name or id), else the platform registry of
//! the same project, else a public pull — warns when the image's registry matches none of the
//! given pull secrets, checks that the image can really be pulled (unless `noVerify`), stores a
//! new revision with the pull-secret revisions it used (their references guard them against
//! deletion), and runs a delivery pass of its location so the answer says where it landed.

use regcred_core::api::{
    Deployment, DeploymentDeleted, DeploymentDeploy, DeploymentDeployed, DeploymentList,
    DeploymentRef, DeploymentSpec, Page, Resolution, UsedPullSecret,
};
use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use regcred_core::name::NameKind;
use regcred_store::{DeploymentRecord, ListKey, ListPage};
use serde_json::json;

use super::check_name;
use super::page::{self, Named};
use super::Ctx;
use crate::auth::Permission;
use crate::delivery::Coverage;
use crate::error::ApiError;
use crate::service::deployments;
use crate::service::locations;
use crate::service::projects;

/// Most replicas a deployment may ask for; more is a typo.
const MAX_REPLICAS: u32 = 1000;

/// The pull secrets a request names, in order, each once.
fn named(req: &DeploymentDeploy) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for n in req.pull_secret.iter().chain(&req.pull_secrets) {
        if !n.starts_with("ps_") {
            check_name(NameKind::PullSecret, "pullSecrets", n)?;
        } else if n.len() > 64 || !n[3..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::field(
                "pullSecrets",
                ErrorCode::InvalidReference,
                "not a pull secret id",
            ));
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    Ok(out)
}

pub async fn deploy(ctx: Ctx, req: DeploymentDeploy) -> Result<DeploymentDeployed, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    check_name(NameKind::PullSecret, "name", &req.name)?;
    let image = ImageRef::parse(&req.image)
        .map_err(|e| ApiError::field("image", e.code(), e.to_string()))?;
    let replicas = req.replicas.unwrap_or(1);
    if replicas > MAX_REPLICAS {
        return Err(ApiError::field(
            "replicas",
            ErrorCode::InvalidValue,
            format!("at most {MAX_REPLICAS} replicas"),
        ));
    }
    let names = named(&req)?;
    let target = format!("{}/{}/{}", req.project, req.location, req.name);
    ctx.require_audited(Permission::Deploy, Some(&req.project), &target)
        .await?;
    projects::must_exist(&ctx.state, &req.project).await?;
    let location = locations::must_exist(&ctx.state, &req.location).await?;

    let mut warnings = Vec::new();
    let resolved = deployments::resolve(
        &ctx.state,
        &location,
        &image,
        deployments::Given {
            project: &req.project,
            names: &names,
        },
        &mut warnings,
    )
    .await?;
    let at = deployments::Address {
        project: &req.project,
        location: &location,
        name: &req.name,
    };
    let (resolution, candidates, given) =
        (resolved.resolution, resolved.candidates, resolved.given);
    let check = match (req.no_verify, resolution) {
        (true, _) => None,
        (false, Resolution::PlatformRegistry) => {
            warnings.push("images of the project's own platform registry are pulled with a credential regcred mints; no pre-flight check".into());
            None
        }
        (false, _) => {
            let checked =
                deployments::preflight(&ctx.state, &ctx.acting(), &image, &candidates, at).await?;
            warnings.extend(checked.warnings.iter().cloned());
            Some(checked)
        }
    };

    let spec = DeploymentSpec {
        image: image.to_string(),
        replicas,
        pull_secrets: given
            .iter()
            .map(|r| UsedPullSecret {
                id: r.id.clone(),
                name: r.name.clone(),
                revision: u64::try_from(r.revision).unwrap_or_default(),
            })
            .collect(),
        resolution,
    };
    let record = deployments::put(&ctx.state, &ctx.acting(), at, &spec, &given).await?;
    sync_now(&ctx, &req.location, &mut warnings).await;
    Ok(DeploymentDeployed {
        deployment: deployments::describe(&ctx.state, record, false).await?,
        check,
        warnings,
    })
}

/// Runs the location's delivery pass now; a failure is a warning (the background pass retries).
async fn sync_now(ctx: &Ctx, location: &str, warnings: &mut Vec<String>) {
    if let Err(e) = ctx
        .state
        .deliverer()
        .sync(&ctx.state, location, Coverage::Changes)
        .await
    {
        let e = ApiError::from(e);
        warnings.push(format!(
            "delivery to {location} did not complete ({}: {}); it is retried in the background",
            e.code, e.message
        ));
    }
}

async fn find(
    ctx: &Ctx,
    req: &DeploymentRef,
    permission: Permission,
) -> Result<DeploymentRecord, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    check_name(NameKind::PullSecret, "name", &req.name)?;
    let target = format!("{}/{}/{}", req.project, req.location, req.name);
    match permission {
        Permission::Deploy => {
            ctx.require_audited(permission, Some(&req.project), &target)
                .await?;
        }
        _ => ctx.principal.require(permission, Some(&req.project))?,
    }
    ctx.state
        .store()
        .get_deployment(&req.project, &req.location, &req.name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("deployment {target} not found")))
}

pub async fn get(ctx: Ctx, req: DeploymentRef) -> Result<Deployment, ApiError> {
    let record = find(&ctx, &req, Permission::ReadSecrets).await?;
    deployments::describe(&ctx.state, record, true).await
}

pub async fn list(ctx: Ctx, req: DeploymentList) -> Result<Page<Deployment>, ApiError> {
    if let Some(p) = &req.project {
        check_name(NameKind::Project, "project", p)?;
    }
    if let Some(l) = &req.location {
        check_name(NameKind::Location, "location", l)?;
    }
    let limit = page::limit(req.limit)?;
    let project = req
        .project
        .clone()
        .or_else(|| ctx.principal.project.clone());
    let after = req
        .page_token
        .as_deref()
        .map(|t| Named::Deployments.after(t, project.as_deref(), req.location.as_deref()))
        .transpose()?;
    ctx.principal
        .require(Permission::ReadSecrets, project.as_deref())?;
    // One row past the page says whether another page follows.
    let mut records = ctx
        .state
        .store()
        .list_deployments_page(ListPage {
            project: project.as_deref(),
            location: req.location.as_deref(),
            after: after.as_ref(),
            limit: limit + 1,
        })
        .await?;
    let next_page_token = Named::Deployments.next(&mut records, limit, |r| ListKey {
        project: r.project.clone(),
        location: r.location.clone(),
        name: r.name.clone(),
    });
    Ok(Page {
        items: deployments::describe_page(&ctx.state, records).await?,
        next_page_token,
    })
}

pub async fn delete(ctx: Ctx, req: DeploymentRef) -> Result<DeploymentDeleted, ApiError> {
    let record = find(&ctx, &req, Permission::Deploy).await?;
    let target = format!("{}/{}/{}", req.project, req.location, req.name);
    let event = ctx.audit(
        Some(&req.project),
        &target,
        "ok",
        json!({ "id": record.id }),
    );
    ctx.state
        .store()
        .delete_deployment(&record.id, &event)
        .await?;
    let mut warnings = Vec::new();
    sync_now(&ctx, &req.location, &mut warnings).await;
    Ok(DeploymentDeleted {
        id: record.id,
        warnings,
    })
}
