//! Delivery to a Docker/Podman host: the location's auth file (Docker `config.json` or containers
//! `auth.json`) gets one `auths` entry per pull secret — the equivalent of `docker login` on the
//! node. Other entries and settings are left exactly as they are, an entry regcred did not write
//! is never overwritten, and the file is replaced atomically with mode 0600.
//!
//! An auth-file entry carries no marks of its own, so ownership comes from the delivery rows: an
//! entry is regcred's when a row says regcred wrote exactly that content there.

use std::collections::BTreeMap;
use std::path::Path;

use regcred_core::api::DockerSpec;
use regcred_core::auth_file;
use regcred_core::delivery::{plan, Action, Desired, Observed, Owner, Refusal};
use regcred_store::LocationRecord;

use super::{unrenderable, Outcome, PassResult, Source, Workload};
use crate::error::ApiError;
use crate::AppState;

fn target(key: &str) -> String {
    format!("auth:{key}")
}

pub(super) async fn pass(
    state: &AppState,
    location: &LocationRecord,
    sources: &[Source],
) -> Result<PassResult, ApiError> {
    let spec: DockerSpec =
        serde_json::from_str(&location.spec).map_err(|e| ApiError::internal(&e))?;
    let path = Path::new(&spec.path);
    let text = match read(path).await {
        Ok(text) => text,
        Err(e) => return Ok(all_failed(sources, "auth_file_unreadable", &e)),
    };
    let present = match auth_file::entries(&text) {
        Ok(entries) => entries,
        Err(e) => {
            let why = format!(
                "{} is not an auth file regcred can update: {e}",
                path.display()
            );
            return Ok(all_failed(sources, "auth_file_invalid", &why));
        }
    };
    let digest_of =
        |entry: &serde_json::Value| state.vault().fingerprint(entry.to_string().as_bytes());
    let rows = state
        .store()
        .list_deliveries(Some(&location.name), None)
        .await?;
    // Every row with a digest names content regcred wrote, including rows of a pass that failed
    // afterwards.
    let written: BTreeMap<(&str, &str), &str> = rows
        .iter()
        .filter_map(|r| {
            Some((
                (r.target.as_str(), r.owner_id.as_str()),
                r.digest.as_deref()?,
            ))
        })
        .collect();
    let observed: Vec<Observed<String>> = present
        .iter()
        .map(|(key, entry)| {
            let digest = digest_of(entry);
            let t = target(key);
            let owner = written
                .iter()
                .find(|((rt, _), d)| *rt == t && **d == digest)
                .map(|((_, owner), _)| Owner::Regcred {
                    owner_id: (*owner).to_owned(),
                    digest: digest.clone(),
                })
                .unwrap_or(Owner::Other);
            Observed {
                target: key.clone(),
                owner,
            }
        })
        .collect();

    let mut outcomes = Vec::new();
    let mut desired = Vec::new();
    let mut entries = BTreeMap::new();
    let mut held = Vec::new();
    for s in sources {
        match &s.result {
            Ok(rendered) => {
                let entry = auth_file::entry(&rendered.auth());
                desired.push(Desired {
                    target: rendered.key.clone(),
                    owner_id: s.record.id.clone(),
                    digest: digest_of(&entry),
                });
                entries.insert(s.record.id.clone(), (s.record.revision, entry));
            }
            Err(why) => {
                let key = auth_key(&s.record);
                outcomes.push(unrenderable(target(&key), &s.record, why));
                held.push(key);
            }
        }
    }
    let plan = plan(&desired, &observed);
    let mut result = PassResult {
        up_to_date: plan.up_to_date.len() as u64,
        ..PassResult::default()
    };
    for d in &plan.up_to_date {
        let revision = entries.get(&d.owner_id).map_or(0, |(r, _)| *r);
        outcomes.push(Outcome::delivered(
            target(&d.target),
            &d.owner_id,
            revision,
            &d.digest,
        ));
    }
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut written_now = Vec::new();
    for action in plan.actions {
        match action {
            Action::Apply { desired, .. } => {
                if let Some((revision, entry)) = entries.get(&desired.owner_id) {
                    set.push((desired.target.clone(), entry.clone()));
                    written_now.push((desired, *revision));
                }
            }
            Action::Delete {
                target: key,
                owner_id,
            } if !held.contains(&key) => {
                remove.push(key.clone());
                result.removed.push((target(&key), owner_id));
            }
            Action::Delete { .. } => {}
            Action::Refuse { desired, refusal } => outcomes.push(refused(path, &desired, &refusal)),
        }
    }
    if !set.is_empty() || !remove.is_empty() {
        let updated =
            auth_file::update(&text, &set, &remove).map_err(|e| ApiError::internal(&e))?;
        // Someone (docker login) wrote the file while this pass planned: plan again next pass
        // rather than overwrite what they wrote.
        let again = read(path)
            .await
            .map_err(|e| ApiError::internal(&std::io::Error::other(e)))?;
        if again != text {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "conflict",
                format!(
                    "{} changed during the delivery pass; retrying",
                    path.display()
                ),
            ));
        }
        if let Err(e) = super::write_atomically(path, updated.as_bytes(), 0o600).await {
            let why = format!("cannot write {}: {e}", path.display());
            return Ok(all_failed(sources, "auth_file_unwritable", &why));
        }
    }
    for (d, revision) in written_now {
        result.applied.push((target(&d.target), d.owner_id.clone()));
        outcomes.push(Outcome::delivered(
            target(&d.target),
            &d.owner_id,
            revision,
            &d.digest,
        ));
    }
    result.outcomes = outcomes;
    Ok(result)
}

/// A deployment on a Docker host is its pull secrets' logins in the auth file: each deployment
/// gets the state of each of those entries, so `deployment.get` says whether they are in place.
pub(super) fn with_workloads(mut result: PassResult, workloads: &[Workload]) -> PassResult {
    let mut mirrored = Vec::new();
    for w in workloads {
        for used in &w.spec.pull_secrets {
            for o in result.outcomes.iter().filter(|o| o.owner_id == used.id) {
                mirrored.push(Outcome {
                    target: o.target.clone(),
                    owner_id: w.record.id.clone(),
                    state: o.state,
                    revision: o.revision,
                    digest: None,
                    code: o.code,
                    message: o.message.clone(),
                });
            }
        }
    }
    result.outcomes.extend(mirrored);
    result
}

/// The auth-file key of a pull secret's server (`https://index.docker.io/v1/` for Docker Hub).
fn auth_key(record: &regcred_store::PullSecretRecord) -> String {
    regcred_core::registry_host::RegistryServer::parse(&record.server)
        .map(|server| server.auth_key())
        .unwrap_or_else(|_| record.server.clone())
}

fn refused(path: &Path, desired: &Desired<String>, refusal: &Refusal) -> Outcome {
    let (code, message) = match refusal {
        Refusal::NotOwned => (
            "not_owned",
            format!(
                "{} already has a login for {} that regcred did not write (docker login?); regcred leaves it alone — remove it to let regcred manage it",
                path.display(),
                desired.target
            ),
        ),
        Refusal::OwnedByOther { owner_id } => (
            "owned_by_other",
            format!(
                "{} holds one login per registry and {} is delivered from pull secret {owner_id}",
                path.display(),
                desired.target
            ),
        ),
    };
    Outcome::failed(
        target(&desired.target),
        &desired.owner_id,
        "error",
        code,
        message,
    )
}

fn all_failed(sources: &[Source], code: &'static str, why: &str) -> PassResult {
    PassResult {
        outcomes: sources
            .iter()
            .map(|s| {
                Outcome::failed(
                    target(&auth_key(&s.record)),
                    &s.record.id,
                    "error",
                    code,
                    why.to_owned(),
                )
            })
            .collect(),
        ..PassResult::default()
    }
}

/// The file's text; a missing file is an empty one.
async fn read(path: &Path) -> Result<String, String> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
