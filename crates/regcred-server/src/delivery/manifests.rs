//! Delivery to a GitOps directory: one JSON manifest per object, `<namespace>/secret-<name>.json`
//! and `<namespace>/deployment-<name>.json`, for a controller (Flux, Argo CD) to apply.
//!
//! A directory meant for git never receives plaintext credentials: with the cluster's sealing
//! certificate configured, Secrets are written as Bitnami `SealedSecret`s (strict scope) that
//! only that cluster's controller can open; without one, regcred refuses unless the location
//! explicitly allows plaintext. Files carry regcred's labels and annotations like the objects in a
//! cluster, and ownership is read from them: a file regcred did not write is never replaced.

use std::path::{Path, PathBuf};

use regcred_core::api::{DeliveryState, ManifestsSpec, Resolution};
use regcred_core::delivery::{
    self, namespace_for, owner_of, plan, Action, Desired, Observed, Refusal,
};
use regcred_k8s::sealed::{seal_secret, SealingKey};
use regcred_store::LocationRecord;
use serde_json::Value;

use super::{platform, secret_object, unrenderable, Outcome, PassResult, Source, Workload};
use crate::error::ApiError;
use crate::AppState;

/// How a manifest file is written.
struct File {
    content: String,
    mode: u32,
    revision: i64,
}

fn secret_path(namespace: &str, name: &str) -> String {
    format!("{namespace}/secret-{name}.json")
}

fn deployment_path(namespace: &str, name: &str) -> String {
    format!("{namespace}/deployment-{name}.json")
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

pub(super) async fn pass(
    state: &AppState,
    location: &LocationRecord,
    sources: &[Source],
    workloads: &[Workload],
) -> Result<PassResult, ApiError> {
    let spec: ManifestsSpec =
        serde_json::from_str(&location.spec).map_err(|e| ApiError::internal(&e))?;
    let loc = location.name.as_str();
    let dir = PathBuf::from(&spec.directory);
    // How Secrets are written here: sealed, plain where allowed, or not at all (and why).
    let writing: Result<Option<SealingKey>, (&'static str, String)> = match &spec.sealing_cert_file
    {
        Some(path) => match tokio::fs::read_to_string(path).await {
            Ok(pem) => SealingKey::from_pem(&pem)
                .map(Some)
                .map_err(|e| ("sealing_cert_invalid", format!("{path}: {e}"))),
            Err(e) => Err(("sealing_cert_invalid", format!("cannot read {path}: {e}"))),
        },
        None if spec.allow_plaintext => Ok(None),
        None => Err(("plaintext_refused", PLAINTEXT_REFUSED.to_owned())),
    };
    // The digest says how the file was written, so that adding a sealing certificate rewrites it.
    let suffix = if matches!(writing, Ok(Some(_))) {
        ":sealed"
    } else {
        ""
    };
    let secret_file = |object: &Value| -> Result<(String, u32), (&'static str, String)> {
        match &writing {
            Ok(Some(key)) => seal_secret(key, object)
                .map(|sealed| (sealed, 0o644))
                .map_err(|e| ("seal_failed", e.to_string())),
            Ok(None) => Ok((pretty(object), 0o600)),
            Err(why) => Err(why.clone()),
        }
    };
    let mut outcomes = Vec::new();
    let mut desired = Vec::new();
    let mut files = std::collections::BTreeMap::new();
    let mut held = Vec::new();
    for s in sources {
        let r = &s.record;
        let ns = namespace_for(&spec.namespace_template, &r.project);
        let path = secret_path(&ns, &r.name);
        let target = format!("file:{path}");
        let rendered = match &s.result {
            Ok(rendered) => rendered,
            Err(why) => {
                outcomes.push(unrenderable(target, r, why));
                held.push(path);
                continue;
            }
        };
        let digest = format!("{}{suffix}", rendered.digest);
        let object = secret_object(
            &r.name,
            &ns,
            rendered.auth(),
            loc,
            &r.project,
            &r.id,
            r.revision,
            &digest,
        )?;
        match secret_file(&object) {
            Ok((content, mode)) => {
                desired.push(Desired {
                    target: path.clone(),
                    owner_id: r.id.clone(),
                    digest,
                });
                files.insert(
                    path,
                    File {
                        content,
                        mode,
                        revision: r.revision,
                    },
                );
            }
            Err((code, message)) => {
                outcomes.push(Outcome::failed(
                    target,
                    &r.id,
                    DeliveryState::Error,
                    code,
                    message,
                ));
                held.push(path);
            }
        }
    }
    for w in workloads {
        let d = &w.record;
        let ns = namespace_for(&spec.namespace_template, &d.project);
        let (object, digest) = w.object(state, &ns, loc);
        let path = deployment_path(&ns, &d.name);
        desired.push(Desired {
            target: path.clone(),
            owner_id: d.id.clone(),
            digest: digest.clone(),
        });
        let content = pretty(&object);
        files.insert(
            path,
            File {
                content,
                mode: 0o644,
                revision: d.revision,
            },
        );
    }

    let observed = observe(&dir, loc).await;
    // The platform credential of each project that deploys from its own platform registry.
    let mut minted = std::collections::BTreeMap::new();
    let platform_projects: std::collections::BTreeSet<&str> = workloads
        .iter()
        .filter(|w| w.spec.resolution == Resolution::PlatformRegistry)
        .map(|w| w.record.project.as_str())
        .collect();
    if let Some(registry) = state.platform().map(|p| p.config.registry.clone()) {
        for project in platform_projects {
            let ns = namespace_for(&spec.namespace_template, project);
            let path = secret_path(&ns, platform::SECRET_NAME);
            let owner = platform::owner_id(project);
            if let Err((code, message)) = &writing {
                let target = format!("file:{path}");
                outcomes.push(Outcome::failed(
                    target,
                    &owner,
                    DeliveryState::Error,
                    code,
                    message.clone(),
                ));
                held.push(path);
                continue;
            }
            let seen = observed.iter().find(|o| o.target == path).map(|o| &o.owner);
            let decision = platform::decide(state, seen, project, loc).await?;
            if let platform::Decision::Mint {
                token_id,
                secret,
                previous,
            } = &decision
            {
                let auth = platform::auth(&registry, secret);
                let object = secret_object(
                    platform::SECRET_NAME,
                    &ns,
                    auth,
                    loc,
                    project,
                    &owner,
                    0,
                    token_id,
                )?;
                let (content, mode) = secret_file(&object)
                    .map_err(|(_, message)| ApiError::internal(&std::io::Error::other(message)))?;
                files.insert(
                    path.clone(),
                    File {
                        content,
                        mode,
                        revision: 0,
                    },
                );
                minted.insert(path.clone(), (project, token_id.clone(), previous.clone()));
            }
            desired.push(Desired {
                target: path,
                owner_id: owner,
                digest: decision.digest().to_owned(),
            });
        }
    }
    let plan = plan(&desired, &observed);
    let mut result = PassResult {
        up_to_date: plan.up_to_date.len() as u64,
        ..PassResult::default()
    };
    for d in &plan.up_to_date {
        let revision = files.get(&d.target).map_or(0, |f| f.revision);
        outcomes.push(Outcome::delivered(
            format!("file:{}", d.target),
            &d.owner_id,
            revision,
            &d.digest,
        ));
    }
    for action in plan.actions {
        match action {
            Action::Apply { desired, .. } => {
                let Some(file) = files.get(&desired.target) else {
                    continue;
                };
                let target = format!("file:{}", desired.target);
                let path = dir.join(&desired.target);
                match super::write_atomically(&path, file.content.as_bytes(), file.mode).await {
                    Ok(()) => {
                        result
                            .applied
                            .push((target.clone(), desired.owner_id.clone()));
                        if let Some((project, _, Some(previous))) = minted.get(&desired.target) {
                            platform::revoke(state, project, previous).await?;
                        }
                        outcomes.push(Outcome::delivered(
                            target,
                            &desired.owner_id,
                            file.revision,
                            &desired.digest,
                        ));
                    }
                    Err(e) => {
                        if let Some((project, token_id, _)) = minted.get(&desired.target) {
                            platform::revoke(state, project, token_id).await?;
                        }
                        outcomes.push(Outcome::failed(
                            target,
                            &desired.owner_id,
                            DeliveryState::Error,
                            "write_failed",
                            format!("cannot write {}: {e}", path.display()),
                        ))
                    }
                }
            }
            Action::Delete { target, owner_id } if !held.contains(&target) => {
                let path = dir.join(&target);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => {
                        revoke_held(state, &observed, &target, &owner_id).await?;
                        result.removed.push((format!("file:{target}"), owner_id))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        result.removed.push((format!("file:{target}"), owner_id))
                    }
                    Err(e) => outcomes.push(Outcome::failed(
                        format!("file:{target}"),
                        &owner_id,
                        DeliveryState::Error,
                        "delete_failed",
                        format!("cannot remove {}: {e}", path.display()),
                    )),
                }
            }
            Action::Delete { .. } => {}
            Action::Refuse { desired, refusal } => {
                let (code, message) = match refusal {
                    Refusal::NotOwned => (
                        "not_owned",
                        format!(
                            "{} exists and regcred did not write it; regcred leaves it alone",
                            dir.join(&desired.target).display()
                        ),
                    ),
                    Refusal::OwnedByOther { owner_id } => (
                        "owned_by_other",
                        format!("{} is written for {owner_id}", desired.target),
                    ),
                };
                outcomes.push(Outcome::failed(
                    format!("file:{}", desired.target),
                    &desired.owner_id,
                    DeliveryState::Error,
                    code,
                    message,
                ));
            }
        }
    }
    result.outcomes = outcomes;
    Ok(result)
}

const PLAINTEXT_REFUSED: &str = "this manifests location has no sealing certificate; regcred does not write plaintext credentials into a directory meant for git (give sealingCertFile, or allowPlaintext)";

/// Revokes the platform token a removed file held.
async fn revoke_held(
    state: &AppState,
    observed: &[Observed<String>],
    target: &str,
    owner_id: &str,
) -> Result<(), ApiError> {
    let Some(project) = owner_id.strip_prefix("platform:") else {
        return Ok(());
    };
    let held = observed.iter().find_map(|o| match &o.owner {
        delivery::Owner::Regcred { digest, .. } if o.target == target => Some(digest),
        _ => None,
    });
    match held {
        Some(token_id) => platform::revoke(state, project, token_id).await,
        None => Ok(()),
    }
}

/// The manifests under `dir` (`<namespace>/secret-*.json`, `<namespace>/deployment-*.json`) and
/// who owns each. An unreadable or foreign file counts as someone else's.
async fn observe(dir: &Path, location: &str) -> Vec<Observed<String>> {
    let mut found = Vec::new();
    let Ok(mut namespaces) = tokio::fs::read_dir(dir).await else {
        return found;
    };
    while let Ok(Some(ns)) = namespaces.next_entry().await {
        let Ok(mut files) = tokio::fs::read_dir(ns.path()).await else {
            continue;
        };
        while let Ok(Some(file)) = files.next_entry().await {
            let name = file.file_name().to_string_lossy().into_owned();
            let annotation = if name.starts_with("secret-") {
                delivery::PULL_SECRET_ANNOTATION
            } else if name.starts_with("deployment-") {
                delivery::DEPLOYMENT_ANNOTATION
            } else {
                continue;
            };
            if !name.ends_with(".json") {
                continue;
            }
            let owner = match tokio::fs::read(file.path()).await {
                Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                    .map(|v| owner_of(&v, location, annotation))
                    .unwrap_or(delivery::Owner::Other),
                Err(_) => delivery::Owner::Other,
            };
            found.push(Observed {
                target: format!("{}/{name}", ns.file_name().to_string_lossy()),
                owner,
            });
        }
    }
    found
}
