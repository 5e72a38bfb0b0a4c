//! Deployments below the API: which credentials an image is pulled with (the pull secrets
//! given, else the project's own platform registry, else another project's registry through the
//! pull secrets that apply, else a public pull), storing a revision with the pull-secret
//! revisions it uses, and the view of a deployment with its deliveries and revisions.

use regcred_core::api::{
    Deployment, DeploymentRevision, DeploymentSpec, ErrorItem, ImageChecked, Resolution,
};
use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use regcred_registry::Outcome;
use regcred_store::{DeploymentRecord, LocationRecord, PullSecretRecord, StoreError};
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::{checks, images, locations, new_id, resolution, Acting};
use crate::AppState;

/// A deployment as the API shows it, without its deliveries and revisions.
pub fn view(r: DeploymentRecord, spec: DeploymentSpec) -> Deployment {
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

/// The stored spec of a deployment revision.
pub fn decode_spec(text: &str) -> Result<DeploymentSpec, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::internal(&e))
}

/// [`view`] with where it was delivered and, when asked, its revisions.
pub async fn describe(
    state: &AppState,
    r: DeploymentRecord,
    with_revisions: bool,
) -> Result<Deployment, ApiError> {
    let id = r.id.clone();
    let mut one = describe_page(state, vec![r]).await?;
    let mut v = one
        .pop()
        .ok_or_else(|| ApiError::unreadable("a page of one deployment came back empty".into()))?;
    if with_revisions {
        for rev in state.store().list_deployment_revisions(&id).await? {
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

/// Finds a named pull secret in the deployment's project and location.
async fn find_pull_secret(
    state: &AppState,
    project: &str,
    location: &str,
    reference: &str,
) -> Result<PullSecretRecord, ApiError> {
    let store = state.store();
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

/// The pull secrets a deploy request names (names or ids, each once) in its project.
#[derive(Debug, Clone, Copy)]
pub struct Given<'a> {
    pub project: &'a str,
    pub names: &'a [String],
}

/// How a deployment's image is pulled.
pub struct Resolved {
    pub resolution: Resolution,
    /// The pull secrets to check the image with, in the runtime's order.
    pub candidates: Vec<PullSecretRecord>,
    /// The pull secrets the deployment records as used.
    pub given: Vec<PullSecretRecord>,
}

/// Decides how `image` is pulled in `location` for a deployment of `given.project` naming
/// `given.names`, adding a warning for every surprise (given pull secrets that do not apply, an
/// anonymous pull although some would).
pub async fn resolve(
    state: &AppState,
    location: &LocationRecord,
    image: &ImageRef,
    given: Given<'_>,
    warnings: &mut Vec<String>,
) -> Result<Resolved, ApiError> {
    let project = given.project;
    let mut named: Vec<PullSecretRecord> = Vec::new();
    for n in given.names {
        let record = find_pull_secret(state, project, &location.name, n).await?;
        // The same pull secret by name and by id counts once.
        if !named.iter().any(|g| g.id == record.id) {
            named.push(record);
        }
    }
    let rules = locations::default_rules(location)?;
    let matching = |records: &[PullSecretRecord]| -> Vec<PullSecretRecord> {
        rules
            .applying(image, records)
            .into_iter()
            .cloned()
            .collect()
    };
    let owner = state
        .platform()
        .and_then(|p| p.project_of(image.domain(), image.path()));
    if !named.is_empty() {
        let applying = matching(&named);
        if applying.is_empty() {
            let servers: Vec<&str> = named.iter().map(|r| r.server.as_str()).collect();
            warnings.push(format!(
                "the image's registry {} matches none of the given pull secrets (for {}); the runtime will not use them for this image",
                image.domain(),
                servers.join(", ")
            ));
        }
        return Ok(Resolved {
            resolution: Resolution::PullSecrets,
            candidates: applying,
            given: named,
        });
    }
    if owner == Some(project) {
        return Ok(Resolved {
            resolution: Resolution::PlatformRegistry,
            candidates: Vec::new(),
            given: Vec::new(),
        });
    }
    let applying = resolution::applying(state, rules, project, &location.name, image).await?;
    let names: Vec<&str> = applying.iter().map(|r| r.name.as_str()).collect();
    match owner {
        // Another project's platform registry is never pulled anonymously: the location's pull
        // secrets that apply to the image are used, as the runtime would try them — so creating
        // the pull secret that `pull_secret_required` asks for is all it takes.
        Some(other) if applying.is_empty() => Err(images::pull_secret_required(
            image,
            other,
            project,
            &location.name,
        )),
        Some(other) => {
            warnings.push(format!(
                "no pull secret given; {} is project {other}'s registry, so the image is pulled with {}, which applies to it",
                image.domain(),
                names.join(", ")
            ));
            Ok(Resolved {
                resolution: Resolution::PullSecrets,
                candidates: applying.clone(),
                given: applying,
            })
        }
        None => {
            if !names.is_empty() {
                warnings.push(format!(
                    "no pull secret given, so {} is pulled anonymously, but {} would apply; pass --pull-secret to use it",
                    image.domain(),
                    names.join(", ")
                ));
            }
            Ok(Resolved {
                resolution: Resolution::Public,
                candidates: Vec::new(),
                given: Vec::new(),
            })
        }
    }
}

/// Where a deployment is stored.
#[derive(Debug, Clone, Copy)]
pub struct Address<'a> {
    pub project: &'a str,
    pub location: &'a LocationRecord,
    pub name: &'a str,
}

/// Stores `spec` as the next revision of the deployment at `at` (the first when none exists),
/// referencing `used` so those pull secrets cannot be deleted under it; audited.
pub async fn put(
    state: &AppState,
    acting: &Acting,
    at: Address<'_>,
    spec: &DeploymentSpec,
    used: &[PullSecretRecord],
) -> Result<DeploymentRecord, ApiError> {
    let target = format!("{}/{}/{}", at.project, at.location.name, at.name);
    let spec_json = serde_json::to_string(spec).map_err(|e| ApiError::internal(&e))?;
    let ids: Vec<String> = used.iter().map(|r| r.id.clone()).collect();
    // A concurrent deploy of the same name is rare; one retry after a conflict settles it.
    for _attempt in 0..2 {
        let existing = state
            .store()
            .get_deployment(at.project, &at.location.name, at.name)
            .await?;
        let record = DeploymentRecord {
            id: match &existing {
                Some(e) => e.id.clone(),
                None => new_id("dp")?,
            },
            project: at.project.to_owned(),
            location: at.location.name.clone(),
            name: at.name.to_owned(),
            revision: existing.as_ref().map_or(1, |e| e.revision + 1),
            spec: spec_json.clone(),
            created_at: existing.as_ref().map_or(acting.now, |e| e.created_at),
            created_by: existing
                .as_ref()
                .map_or_else(|| acting.actor.clone(), |e| e.created_by.clone()),
            updated_at: acting.now,
            updated_by: acting.actor.clone(),
        };
        let event = acting.audit(
            Some(at.project),
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
        match state
            .store()
            .put_deployment(
                &record,
                expected,
                &spec_json,
                &ids,
                locations::put_guard(at.location)?,
                &event,
            )
            .await
        {
            Ok(()) => return Ok(record),
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
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        ErrorCode::Conflict,
        format!("deployment {target} is being changed by someone else; retry"),
    ))
}

/// Checks that `image` can be pulled with `candidates` in the runtime's order before a deploy to
/// `at`; a failure is audited as `refused` and answered `preflight_failed` with every attempt.
pub async fn preflight(
    state: &AppState,
    acting: &Acting,
    image: &ImageRef,
    candidates: &[PullSecretRecord],
    at: Address<'_>,
) -> Result<ImageChecked, ApiError> {
    let refs: Vec<&PullSecretRecord> = candidates.iter().collect();
    let location = &at.location.name;
    let checked = checks::try_in_order(state, acting, image, &refs, at.project, location).await?;
    if checked.outcome == Outcome::Ok.as_str() {
        return Ok(checked);
    }
    let target = format!("{}/{location}/{}", at.project, at.name);
    let event = acting.audit(
        Some(at.project),
        &target,
        "refused",
        json!({ "image": image.to_string(), "outcome": checked.outcome }),
    );
    state.store().append_audit(&event).await?;
    let attempts = checked.attempts.iter().map(|a| ErrorItem {
        field: a.pull_secret.clone(),
        code: Some(a.verification.outcome.clone()),
        message: a.verification.hint.clone(),
    });
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        ErrorCode::PreflightFailed,
        format!(
            "{image} cannot be pulled here: {} — {} (deploy with noVerify to skip this check)",
            checked.outcome, checked.hint
        ),
    )
    .with_items(attempts.collect()))
}

/// [`describe`] without revisions for a whole page of records, in their order: the deliveries of
/// every record come in one read, whatever the page's length.
pub async fn describe_page(
    state: &AppState,
    records: Vec<DeploymentRecord>,
) -> Result<Vec<Deployment>, ApiError> {
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let mut deliveries = crate::service::deliveries::statuses_of(state, &ids).await?;
    let mut page = Vec::with_capacity(records.len());
    for r in records {
        let spec = decode_spec(&r.spec)?;
        let delivered = deliveries.remove(&r.id).unwrap_or_default();
        let mut v = view(r, spec);
        v.deliveries = delivered;
        page.push(v);
    }
    Ok(page)
}
