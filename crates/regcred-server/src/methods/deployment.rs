//! `deployment.*`: a workload's image and the pull secrets it pulls with. `deploy` resolves the
//! image's credentials — the pull secrets given (by name or id), else the platform registry of
//! the same project, else a public pull — warns when the image's registry matches none of the
//! given pull secrets, checks that the image can really be pulled (unless `noVerify`), stores a
//! new revision with the pull-secret revisions it used (their references guard them against
//! deletion), and runs a delivery pass of its location so the answer says where it landed.

use regcred_core::api::{
    Deployment, DeploymentDeploy, DeploymentDeployed, DeploymentList, DeploymentRef,
    DeploymentRevision, DeploymentSpec, Items, Resolution, UsedPullSecret,
};
use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use regcred_core::matching::{containers_match, kubelet_matches};
use regcred_core::name::NameKind;
use regcred_registry::Outcome;
use regcred_store::{DeploymentRecord, PullSecretRecord, StoreError};
use serde_json::json;

use super::check_name;
use super::verify::{default_rules, try_in_order};
use super::Ctx;
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::pull_secrets;

/// Most replicas a deployment may ask for; more is a typo.
const MAX_REPLICAS: u32 = 1000;

fn view(r: DeploymentRecord, spec: DeploymentSpec) -> Deployment {
    Deployment {
        id: r.id,
        project: r.project,
        location: r.location,
        name: r.name,
        revision: u64::try_from(r.revision).unwrap_or_default(),
        spec,
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
        updated_at: rfc3339(r.updated_at),
        updated_by: r.updated_by,
        deliveries: Vec::new(),
        revisions: Vec::new(),
    }
}

fn decode_spec(text: &str) -> Result<DeploymentSpec, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::internal(&e))
}

async fn full_view(
    ctx: &Ctx,
    r: DeploymentRecord,
    with_revisions: bool,
) -> Result<Deployment, ApiError> {
    let spec = decode_spec(&r.spec)?;
    let id = r.id.clone();
    let mut v = view(r, spec);
    v.deliveries = crate::service::deliveries::statuses(&ctx.state, &id).await?;
    if with_revisions {
        for rev in ctx.state.store().list_deployment_revisions(&id).await? {
            v.revisions.push(DeploymentRevision {
                revision: u64::try_from(rev.revision).unwrap_or_default(),
                spec: decode_spec(&rev.spec)?,
                created_at: rfc3339(rev.created_at),
                created_by: rev.created_by,
            });
        }
    }
    Ok(v)
}

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

/// Finds a named pull secret in the deployment's project and location.
async fn find_pull_secret(
    ctx: &Ctx,
    project: &str,
    location: &str,
    reference: &str,
) -> Result<PullSecretRecord, ApiError> {
    let store = ctx.state.store();
    let found = match reference.strip_prefix("ps_") {
        Some(_) => store
            .get_pull_secret_by_id(reference)
            .await?
            .filter(|r| r.project == project && r.location == location),
        None => store.get_pull_secret(project, location, reference).await?,
    };
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "pull secret {reference} not found in {project}/{location}; pull secrets are used where they are stored — `regcred pullsecret list --project {project} --location {location}`"
        ))
    })
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
    super::project::must_exist(&ctx, &req.project).await?;
    let location = super::location::must_exist(&ctx, &req.location).await?;

    let mut given: Vec<PullSecretRecord> = Vec::new();
    for n in &names {
        let record = find_pull_secret(&ctx, &req.project, &req.location, n).await?;
        // The same pull secret by name and by id counts once.
        if !given.iter().any(|g| g.id == record.id) {
            given.push(record);
        }
    }
    let repository = image.repository();
    let rules = default_rules(&location)?;
    let matching = |records: &[PullSecretRecord]| -> Vec<PullSecretRecord> {
        let keyed = pull_secrets::by_auth_key(records);
        let found: Vec<&&PullSecretRecord> = match rules {
            "containers" => containers_match(&repository, &keyed).into_iter().collect(),
            _ => kubelet_matches(&repository, &keyed),
        };
        found.into_iter().map(|r| (*r).clone()).collect()
    };
    let mut warnings = Vec::new();
    let owner = ctx
        .state
        .platform()
        .and_then(|p| p.project_of(image.domain(), image.path()));
    let (resolution, candidates) = if !given.is_empty() {
        let applying = matching(&given);
        if applying.is_empty() {
            let servers: Vec<&str> = given.iter().map(|r| r.server.as_str()).collect();
            warnings.push(format!(
                "the image's registry {} matches none of the given pull secrets (for {}); the runtime will not use them for this image",
                image.domain(),
                servers.join(", ")
            ));
        }
        (Resolution::PullSecrets, applying)
    } else if owner == Some(req.project.as_str()) {
        (Resolution::PlatformRegistry, Vec::new())
    } else if let Some(other) = owner {
        // Another project's platform registry is never pulled anonymously: the location's pull
        // secrets that apply to the image are used, as the runtime would try them — so creating
        // the pull secret that `pull_secret_required` asks for is all it takes.
        let all = ctx
            .state
            .store()
            .list_pull_secrets(Some(&req.project), Some(&req.location))
            .await?;
        let applying = matching(&all);
        if applying.is_empty() {
            return Err(super::image::pull_secret_required(
                &image,
                other,
                &req.project,
                &req.location,
            ));
        }
        let names: Vec<&str> = applying.iter().map(|r| r.name.as_str()).collect();
        warnings.push(format!(
            "no pull secret given; {} is project {other}'s registry, so the image is pulled with {}, which applies to it",
            image.domain(),
            names.join(", ")
        ));
        given = applying.clone();
        (Resolution::PullSecrets, applying)
    } else {
        let all = ctx
            .state
            .store()
            .list_pull_secrets(Some(&req.project), Some(&req.location))
            .await?;
        let unused: Vec<String> = matching(&all).into_iter().map(|r| r.name).collect();
        if !unused.is_empty() {
            warnings.push(format!(
                "no pull secret given, so {} is pulled anonymously, but {} would apply; pass --pull-secret to use it",
                image.domain(),
                unused.join(", ")
            ));
        }
        (Resolution::Public, Vec::new())
    };

    let check = match (req.no_verify, resolution) {
        (true, _) => None,
        (false, Resolution::PlatformRegistry) => {
            warnings.push("images of the project's own platform registry are pulled with a credential regcred mints; no pre-flight check".into());
            None
        }
        (false, _) => {
            let refs: Vec<&PullSecretRecord> = candidates.iter().collect();
            let checked = try_in_order(&ctx, &image, &refs, &req.project, &req.location).await?;
            if checked.outcome != Outcome::Ok.as_str() {
                let event = ctx.audit(
                    Some(&req.project),
                    &target,
                    "refused",
                    json!({ "image": image.to_string(), "outcome": checked.outcome }),
                );
                ctx.state.store().append_audit(&event).await?;
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::PreflightFailed,
                    format!(
                        "{image} cannot be pulled here: {} — {} (deploy with noVerify to skip this check)",
                        checked.outcome, checked.hint
                    ),
                )
                .with_items(
                    checked
                        .attempts
                        .iter()
                        .map(|a| regcred_core::api::ErrorItem {
                            field: a.pull_secret.clone(),
                            code: Some(a.verification.outcome.clone()),
                            message: a.verification.hint.clone(),
                        })
                        .collect(),
                ));
            }
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
    let spec_json = serde_json::to_string(&spec).map_err(|e| ApiError::internal(&e))?;
    let ids: Vec<String> = given.iter().map(|r| r.id.clone()).collect();
    let mut stored = None;
    // A concurrent deploy of the same name is rare; one retry after a conflict settles it.
    for _attempt in 0..2 {
        let existing = ctx
            .state
            .store()
            .get_deployment(&req.project, &req.location, &req.name)
            .await?;
        let record = DeploymentRecord {
            id: match &existing {
                Some(e) => e.id.clone(),
                None => super::new_id("dp")?,
            },
            project: req.project.clone(),
            location: req.location.clone(),
            name: req.name.clone(),
            revision: existing.as_ref().map_or(1, |e| e.revision + 1),
            spec: spec_json.clone(),
            created_at: existing.as_ref().map_or(ctx.now, |e| e.created_at),
            created_by: existing
                .as_ref()
                .map_or_else(|| ctx.principal.actor(), |e| e.created_by.clone()),
            updated_at: ctx.now,
            updated_by: ctx.principal.actor(),
        };
        let event = ctx.audit(
            Some(&req.project),
            &target,
            "ok",
            json!({
                "id": record.id,
                "revision": record.revision,
                "image": spec.image,
                "pullSecrets": spec.pull_secrets,
                "resolution": spec.resolution,
            }),
        );
        let expected = existing.as_ref().map(|e| e.revision);
        match ctx
            .state
            .store()
            .put_deployment(
                &record,
                expected,
                &spec_json,
                &ids,
                super::location::put_guard(&location)?,
                &event,
            )
            .await
        {
            Ok(()) => {
                stored = Some(record);
                break;
            }
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. }) => continue,
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "a pull secret of this deployment was deleted meanwhile; deploy again",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let Some(record) = stored else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!("deployment {target} is being changed by someone else; retry"),
        ));
    };
    sync_now(&ctx, &req.location, &mut warnings).await;
    Ok(DeploymentDeployed {
        deployment: full_view(&ctx, record, false).await?,
        check,
        warnings,
    })
}

/// Runs the location's delivery pass now; a failure is a warning (the background pass retries).
async fn sync_now(ctx: &Ctx, location: &str, warnings: &mut Vec<String>) {
    if let Err(e) = ctx.state.deliverer().sync(&ctx.state, location).await {
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
                .await?
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
    full_view(&ctx, record, true).await
}

pub async fn list(ctx: Ctx, req: DeploymentList) -> Result<Items<Deployment>, ApiError> {
    if let Some(p) = &req.project {
        check_name(NameKind::Project, "project", p)?;
    }
    if let Some(l) = &req.location {
        check_name(NameKind::Location, "location", l)?;
    }
    let project = req
        .project
        .clone()
        .or_else(|| ctx.principal.project.clone());
    ctx.principal
        .require(Permission::ReadSecrets, project.as_deref())?;
    let records = ctx
        .state
        .store()
        .list_deployments(project.as_deref(), req.location.as_deref())
        .await?;
    let mut items = Vec::with_capacity(records.len());
    for r in records {
        items.push(full_view(&ctx, r, false).await?);
    }
    Ok(Items { items })
}

pub async fn delete(ctx: Ctx, req: DeploymentRef) -> Result<serde_json::Value, ApiError> {
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
    Ok(json!({ "id": record.id, "warnings": warnings }))
}
