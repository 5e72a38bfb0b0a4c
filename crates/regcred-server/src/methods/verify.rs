//! Checking credentials against the real registry: `pullSecret.verify`, the check
//! behind `pullSecret.create` with `verify`, and `image.check`, which tries the pull secrets that
//! apply to an image in the order the runtime would, and records each result on its pull secret.

use regcred_core::api::{
    CheckAttempt, ImageCheck, ImageChecked, LocationKind, PullSecret, PullSecretVerify,
    Verification, VerificationDetail, VerificationRequest,
};
use regcred_core::codes::ErrorCode;
use regcred_core::credential::UsableError;
use regcred_core::image_ref::ImageRef;
use regcred_core::matching::{containers_match, kubelet_matches};
use regcred_core::name::NameKind;
use regcred_core::registry_host::RegistryServer;
use regcred_registry::{CheckDetail, CheckReport, Credentials, Endpoint, Outcome, Target};
use regcred_store::{LocationRecord, PullSecretRecord, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::check_name;
use super::pull_secret::find;
use super::Ctx;
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::locations;
use crate::service::pull_secrets;

/// Answer of `pullSecret.verify`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullSecretVerified {
    pub pull_secret: PullSecret,
    pub verification: Verification,
}

/// Whose matching rules decide for a location kind: containers/image on Docker/podman hosts,
/// the kubelet's everywhere else.
pub(crate) fn default_rules(location: &LocationRecord) -> Result<&'static str, ApiError> {
    Ok(match locations::kind_of(location)? {
        LocationKind::Docker => "containers",
        LocationKind::Kubernetes | LocationKind::Manifests => "kubelet",
    })
}

fn parse_image(field: &str, image: &str) -> Result<ImageRef, ApiError> {
    ImageRef::parse(image).map_err(|e| ApiError::field(field, e.code(), e.to_string()))
}

/// Refuses an image the pull secret `name` for `server` would never be used for.
fn check_applies(server: &RegistryServer, name: &str, image: &ImageRef) -> Result<(), ApiError> {
    if kubelet_matches(&image.repository(), &[(server.auth_key(), ())]).is_empty() {
        return Err(ApiError::field(
            "image",
            ErrorCode::ImageMismatch,
            format!(
                "{image} is not on {server}; the runtime would never use pull secret {name} for it"
            ),
        ));
    }
    Ok(())
}

fn stored_server(record: &PullSecretRecord) -> Result<RegistryServer, ApiError> {
    RegistryServer::parse(&record.server).map_err(|e| ApiError::internal(&e))
}

/// Runs one check of `record`'s credentials: registry-level without an image, a pull check with
/// one. Does not record it.
async fn check(
    ctx: &Ctx,
    record: &PullSecretRecord,
    image: Option<&ImageRef>,
) -> Result<Verification, ApiError> {
    let credential = pull_secrets::open(&ctx.state, record)?;
    let credentials = match credential.basic_auth() {
        Err(UsableError::Anonymous) => None,
        _ => {
            let current = ctx
                .state
                .refresher()
                .current(&ctx.state, record, &credential)
                .await
                .map_err(|e| ApiError {
                    code: ErrorCode::NotVerifiable,
                    ..e
                })?;
            Some(Credentials {
                username: current.username,
                password: current.password,
            })
        }
    };
    let (endpoint, target) = match image {
        Some(image) => (
            Endpoint::for_domain(image.domain()),
            Target::for_image(image),
        ),
        None => (
            Endpoint {
                host: credential.server.api_host().to_owned(),
            },
            Target::Registry,
        ),
    };
    let report = ctx
        .state
        .registry()
        .check(&endpoint, credentials.as_ref(), &target)
        .await;
    Ok(verification(
        &report,
        image,
        u64::try_from(record.revision).unwrap_or_default(),
        ctx,
    ))
}

fn verification(
    report: &CheckReport,
    image: Option<&ImageRef>,
    revision: u64,
    ctx: &Ctx,
) -> Verification {
    // Every check report passes through here once, whichever method asked for it.
    ctx.state.metrics().registry_check(report.outcome);
    Verification {
        outcome: report.outcome.as_str().to_owned(),
        hint: report.hint.clone(),
        detail: detail(&report.detail),
        image: image.map(ToString::to_string),
        revision,
        checked_at: rfc3339(ctx.now),
        http_status: report.http_status,
        round_trips: report.round_trips,
        elapsed_ms: report.elapsed_ms,
    }
}

/// The wire form of a report's facts.
fn detail(d: &CheckDetail) -> VerificationDetail {
    VerificationDetail {
        step: d.step.as_str().to_owned(),
        status: d.status,
        codes: d.codes.iter().map(|c| c.as_str().to_owned()).collect(),
        auth: d.auth.map(|a| a.as_str().to_owned()),
        transport: d.transport.map(|t| t.as_str().to_owned()),
        finding: d.finding.map(|f| f.as_str().to_owned()),
        retry_after_s: d.retry_after_s,
        requests: d
            .requests
            .iter()
            .map(|r| VerificationRequest {
                step: r.step.as_str().to_owned(),
                status: r.status,
                transport: r.transport.map(|t| t.as_str().to_owned()),
            })
            .collect(),
    }
}

/// Stores `v` on the pull secret (audited). A rotation in between wins: the result is dropped.
async fn record(ctx: &Ctx, record: &PullSecretRecord, v: &Verification) -> Result<(), ApiError> {
    let target = format!("{}/{}/{}", record.project, record.location, record.name);
    let event = ctx.audit(
        Some(&record.project),
        &target,
        &v.outcome,
        json!({ "id": record.id, "revision": record.revision, "image": v.image }),
    );
    let text = serde_json::to_string(v).map_err(|e| ApiError::internal(&e))?;
    match ctx
        .state
        .store()
        .record_verification(&record.id, record.revision, &text, &event)
        .await
    {
        Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Checks and records; used by `pullSecret.create` with `verify`, after [`validate_image`].
pub(crate) async fn check_and_record(
    ctx: &Ctx,
    r: &PullSecretRecord,
    image: Option<&str>,
) -> Result<Verification, ApiError> {
    let image = image.map(|i| parse_image("image", i)).transpose()?;
    let v = check(ctx, r, image.as_ref()).await?;
    record(ctx, r, &v).await?;
    Ok(v)
}

/// Validates the image of a create request before anything is stored.
pub(crate) fn validate_image(
    image: Option<&str>,
    server: &RegistryServer,
    name: &str,
) -> Result<(), ApiError> {
    match image {
        Some(i) => check_applies(server, name, &parse_image("image", i)?),
        None => Ok(()),
    }
}

pub async fn verify(ctx: Ctx, req: PullSecretVerify) -> Result<PullSecretVerified, ApiError> {
    let image = req
        .image
        .as_deref()
        .map(|i| parse_image("image", i))
        .transpose()?;
    let r = find(&ctx, &req.target(), Permission::ReadSecrets, false).await?;
    if let Some(image) = &image {
        check_applies(&stored_server(&r)?, &r.name, image)?;
    }
    let v = check(&ctx, &r, image.as_ref()).await?;
    record(&ctx, &r, &v).await?;
    let mut updated = r;
    updated.verification = serde_json::to_string(&v).ok();
    Ok(PullSecretVerified {
        pull_secret: super::pull_secret::full_view(&ctx, updated).await?,
        verification: v,
    })
}

pub async fn image_check(ctx: Ctx, req: ImageCheck) -> Result<ImageChecked, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    let image = parse_image("image", &req.image)?;
    ctx.principal
        .require(Permission::Resolve, Some(&req.project))?;
    super::project::must_exist(&ctx, &req.project).await?;
    let location = super::location::must_exist(&ctx, &req.location).await?;

    let records = ctx
        .state
        .store()
        .list_pull_secrets(Some(&req.project), Some(&req.location))
        .await?;
    let entries = pull_secrets::by_auth_key(&records);
    let repository = image.repository();
    let candidates: Vec<&PullSecretRecord> = if default_rules(&location)? == "containers" {
        containers_match(&repository, &entries)
            .into_iter()
            .copied()
            .collect()
    } else {
        kubelet_matches(&repository, &entries)
            .into_iter()
            .copied()
            .collect()
    };
    try_in_order(&ctx, &image, &candidates, &req.project, &req.location).await
}

/// Checks `image` with each of `candidates` (pull secrets of `project` in `location`) in order
/// until one answers `ok`, recording each result on its pull secret. With no candidates it
/// checks what a deployment would pull with: for an image of the project's own platform
/// registry the credential regcred mints for it (a `puller` token minted for this check and
/// revoked after it), otherwise an anonymous pull.
pub(crate) async fn try_in_order(
    ctx: &Ctx,
    image: &ImageRef,
    candidates: &[&PullSecretRecord],
    project: &str,
    location: &str,
) -> Result<ImageChecked, ApiError> {
    let mut attempts = Vec::new();
    let mut warnings = Vec::new();
    let mut winner = None;
    for r in candidates {
        let v = match check(ctx, r, Some(image)).await {
            Ok(v) => v,
            Err(e) if e.code == ErrorCode::NotVerifiable => {
                warnings.push(e.message);
                continue;
            }
            Err(e) => return Err(e),
        };
        record(ctx, r, &v).await?;
        let ok = v.outcome == Outcome::Ok.as_str();
        attempts.push(CheckAttempt {
            pull_secret: Some(r.name.clone()),
            verification: v,
        });
        if ok {
            winner = Some(r.name.clone());
            break;
        }
    }
    if candidates.is_empty() {
        let own_platform_image = ctx
            .state
            .platform()
            .and_then(|p| p.project_of(image.domain(), image.path()))
            == Some(project);
        let minted = match own_platform_image {
            true => Some(crate::delivery::platform::mint_for_check(&ctx.state, project).await?),
            false => None,
        };
        warnings.push(match own_platform_image {
            true => format!(
                "{} is project {project}'s own platform registry: checked with the credential regcred mints for its deployments",
                image.domain()
            ),
            false => format!(
                "no pull secret in {project}/{location} applies to {}; checking an anonymous pull",
                image.domain()
            ),
        });
        let credentials = minted.as_ref().map(|(_, secret)| Credentials {
            username: crate::delivery::platform::USERNAME.to_owned(),
            password: secret.clone(),
        });
        let report = ctx
            .state
            .registry()
            .check(
                &Endpoint::for_domain(image.domain()),
                credentials.as_ref(),
                &Target::for_image(image),
            )
            .await;
        if let Some((token_id, _)) = &minted {
            crate::delivery::platform::revoke(&ctx.state, project, token_id).await?;
        }
        attempts.push(CheckAttempt {
            pull_secret: None,
            verification: verification(&report, Some(image), 0, ctx),
        });
    }
    let deciding = attempts
        .iter()
        .find(|a| a.verification.outcome == Outcome::Ok.as_str())
        .or(attempts.last());
    let (outcome, hint) = match deciding {
        Some(a) => (a.verification.outcome.clone(), a.verification.hint.clone()),
        None => (
            ErrorCode::NotVerifiable.to_string(),
            "none of the pull secrets that apply can be checked yet".to_owned(),
        ),
    };
    Ok(ImageChecked {
        image: image.to_string(),
        outcome,
        hint,
        pull_secret: winner,
        round_trips: attempts.iter().map(|a| a.verification.round_trips).sum(),
        elapsed_ms: attempts.iter().map(|a| a.verification.elapsed_ms).sum(),
        attempts,
        warnings,
    })
}
