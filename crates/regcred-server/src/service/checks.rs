//! Checking credentials against the real registry: one pull secret (registry-level, or a pull
//! check of one image), recording each result on its pull secret (audited), and the runtime's
//! way of trying the pull secrets that apply to an image in order.

use regcred_core::api::{
    CheckAttempt, ImageChecked, Verification, VerificationDetail, VerificationRequest,
};
use regcred_core::codes::ErrorCode;
use regcred_core::credential::{Credential, UsableError};
use regcred_core::image_ref::ImageRef;
use regcred_core::matching::kubelet_matches;
use regcred_core::registry_host::RegistryServer;
use regcred_registry::{CheckDetail, CheckReport, Credentials, Endpoint, Outcome, Target};
use regcred_store::{PullSecretRecord, StoreError};
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::{platform_tokens, pull_secrets, Acting};
use crate::AppState;

pub fn parse_image(field: &str, image: &str) -> Result<ImageRef, ApiError> {
    ImageRef::parse(image).map_err(|e| ApiError::field(field, e.code(), e.to_string()))
}

/// Refuses an image the pull secret `name` for `server` would never be used for.
pub fn check_applies(
    server: &RegistryServer,
    name: &str,
    image: &ImageRef,
) -> Result<(), ApiError> {
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

pub fn stored_server(record: &PullSecretRecord) -> Result<RegistryServer, ApiError> {
    RegistryServer::parse(&record.server).map_err(|e| ApiError::internal(&e))
}

/// Runs one check of `record`'s credentials: registry-level without an image, a pull check with
/// one. Does not record it.
async fn check(
    state: &AppState,
    acting: &Acting,
    record: &PullSecretRecord,
    image: Option<&ImageRef>,
) -> Result<Verification, ApiError> {
    let credential = pull_secrets::open(state, record)?;
    let credentials = match credential.basic_auth() {
        Err(UsableError::Anonymous) => None,
        _ => {
            let current = state
                .refresher()
                .current(state, record, &credential)
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
    let report = registry_check(state, &endpoint, credentials.as_ref(), &target).await;
    Ok(verification(
        &report,
        image,
        u64::try_from(record.revision).unwrap_or_default(),
        acting.now,
    ))
}

/// Checks a credential that is not stored (Test Connection before saving), registry-level
/// without an image, a pull check with one. For minted kinds (ECR, Google access tokens, ACR
/// through Entra ID) the provider mints a short-lived credential for this check alone, kept
/// nowhere; a provider that refuses is the answer `not_verifiable` with its reason.
pub async fn check_unsaved(
    state: &AppState,
    acting: &Acting,
    credential: &Credential,
    image: Option<&ImageRef>,
) -> Result<Verification, ApiError> {
    let credentials = match credential.basic_auth() {
        Ok((username, password)) => Some(Credentials { username, password }),
        Err(UsableError::Anonymous) => None,
        Err(UsableError::MintRequired { .. }) => {
            let minted = state
                .refresher()
                .mint_unsaved(credential)
                .await
                .map_err(|e| {
                    ApiError::validation(
                        ErrorCode::NotVerifiable,
                        format!("the credentials could not be exchanged: {e}"),
                    )
                })?;
            Some(Credentials {
                username: minted.username,
                password: minted.password,
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
    let report = registry_check(state, &endpoint, credentials.as_ref(), &target).await;
    Ok(verification(&report, image, 0, acting.now))
}

fn verification(
    report: &CheckReport,
    image: Option<&ImageRef>,
    revision: u64,
    now: i64,
) -> Verification {
    Verification {
        outcome: report.outcome.as_str().to_owned(),
        hint: report.hint.clone(),
        detail: detail(&report.detail),
        image: image.map(ToString::to_string),
        revision,
        checked_at: rfc3339(now),
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
async fn record(
    state: &AppState,
    acting: &Acting,
    record: &PullSecretRecord,
    v: &Verification,
) -> Result<(), ApiError> {
    let target = format!("{}/{}/{}", record.project, record.location, record.name);
    let event = acting.audit(
        Some(&record.project),
        &target,
        &v.outcome,
        json!({ "id": record.id, "revision": record.revision, "image": v.image }),
    );
    let text = serde_json::to_string(v).map_err(|e| ApiError::internal(&e))?;
    match state
        .store()
        .record_verification(&record.id, record.revision, &text, &event)
        .await
    {
        Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Checks `r` (for `image`, when given) and records the result on it.
pub async fn check_and_record(
    state: &AppState,
    acting: &Acting,
    r: &PullSecretRecord,
    image: Option<&ImageRef>,
) -> Result<Verification, ApiError> {
    let v = check(state, acting, r, image).await?;
    record(state, acting, r, &v).await?;
    Ok(v)
}

/// Parses and validates the image of a create request before anything is stored: it must be on
/// the pull secret's registry.
pub fn validate_image(
    image: Option<&str>,
    server: &RegistryServer,
    name: &str,
) -> Result<Option<ImageRef>, ApiError> {
    let Some(image) = image else {
        return Ok(None);
    };
    let image = parse_image("image", image)?;
    check_applies(server, name, &image)?;
    Ok(Some(image))
}

/// Checks `image` with each of `candidates` (pull secrets of `project` in `location`) in order
/// until one answers `ok`, recording each result on its pull secret. With no candidates it
/// checks what a deployment would pull with: for an image of the project's own platform
/// registry the credential regcred mints for it (a `puller` token minted for this check and
/// revoked after it), otherwise an anonymous pull.
pub async fn try_in_order(
    state: &AppState,
    acting: &Acting,
    image: &ImageRef,
    candidates: &[&PullSecretRecord],
    project: &str,
    location: &str,
) -> Result<ImageChecked, ApiError> {
    let mut attempts = Vec::new();
    let mut warnings = Vec::new();
    let mut winner = None;
    for r in candidates {
        let v = match check(state, acting, r, Some(image)).await {
            Ok(v) => v,
            Err(e) if e.code == ErrorCode::NotVerifiable => {
                warnings.push(e.message);
                continue;
            }
            Err(e) => return Err(e),
        };
        record(state, acting, r, &v).await?;
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
        let own_platform_image = state
            .platform()
            .and_then(|p| p.project_of(image.domain(), image.path()))
            == Some(project);
        let minted = match own_platform_image {
            true => Some(platform_tokens::mint_for_check(state, project).await?),
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
            username: platform_tokens::USERNAME.to_owned(),
            password: secret.clone(),
        });
        let report = registry_check(
            state,
            &Endpoint::for_domain(image.domain()),
            credentials.as_ref(),
            &Target::for_image(image),
        )
        .await;
        if let Some((token_id, _)) = &minted {
            platform_tokens::revoke(state, project, token_id).await?;
        }
        attempts.push(CheckAttempt {
            pull_secret: None,
            verification: verification(&report, Some(image), 0, acting.now),
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

/// Runs one registry check and counts its outcome for `/metrics`.
async fn registry_check(
    state: &AppState,
    endpoint: &Endpoint,
    credentials: Option<&Credentials>,
    target: &Target,
) -> CheckReport {
    let report = state.registry().check(endpoint, credentials, target).await;
    state.metrics().registry_check(report.outcome);
    report
}
