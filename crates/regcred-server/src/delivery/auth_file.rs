//! Delivery to a Docker/Podman host: the location's auth file (Docker `config.json` or containers
//! `auth.json`) gets one `auths` entry per pull secret — the equivalent of `docker login` on the
//! node. Other entries and settings are left exactly as they are, an entry regcred did not write
//! is never overwritten, and the file is replaced atomically with mode 0600.
//!
//! An auth-file entry carries no marks of its own, so ownership comes from the delivery rows: an
//! entry is regcred's when a row says regcred wrote exactly that content there.

use regcred_core::codes::ErrorCode;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use regcred_core::api::{DeliveryState, DockerSpec};
use regcred_core::auth_file;
use regcred_core::delivery::{
    for_project, plan, Action, Desired, Observed, Owner, Refusal, PROJECT_PLACEHOLDER,
};
use regcred_store::{DeliveryRecord, LocationRecord};

use super::{unrenderable, Outcome, PassResult, Source, Workload};
use crate::error::ApiError;
use crate::AppState;

/// One auth file of a location: its path, and the project it belongs to when the location's
/// path is per project (then the project is part of every target, so that two projects' logins
/// for one registry are two targets).
struct AuthFile<'a> {
    path: PathBuf,
    project: Option<&'a str>,
}

impl AuthFile<'_> {
    fn target(&self, key: &str) -> String {
        match self.project {
            None => format!("auth:{key}"),
            Some(project) => format!("auth:{project}:{key}"),
        }
    }
}

/// The project a per-project target belongs to (`auth:<project>:<key>`).
fn target_project(target: &str) -> Option<&str> {
    target
        .strip_prefix("auth:")?
        .split_once(':')
        .map(|(p, _)| p)
}

pub(super) async fn pass(
    state: &AppState,
    location: &LocationRecord,
    sources: &[Source],
) -> Result<PassResult, ApiError> {
    let spec: DockerSpec =
        serde_json::from_str(&location.spec).map_err(|e| ApiError::internal(&e))?;
    let rows = state
        .store()
        .list_deliveries(Some(&location.name), None)
        .await?;
    // One file for the whole host, or one per project: those with pull secrets here, and those
    // whose entries may still have to be removed.
    let files: Vec<Option<&str>> = if spec.path.contains(PROJECT_PLACEHOLDER) {
        let mut projects: BTreeSet<&str> =
            sources.iter().map(|s| s.record.project.as_str()).collect();
        projects.extend(rows.iter().filter_map(|r| target_project(&r.target)));
        projects.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let mut result = PassResult::default();
    for project in files {
        let file = AuthFile {
            path: PathBuf::from(match project {
                Some(p) => for_project(&spec.path, p),
                None => spec.path.clone(),
            }),
            project,
        };
        let mine: Vec<&Source> = sources
            .iter()
            .filter(|s| project.is_none_or(|p| s.record.project == p))
            .collect();
        let rows: Vec<&DeliveryRecord> = rows
            .iter()
            .filter(|r| project.is_none() || target_project(&r.target) == project)
            .collect();
        let one = file_pass(state, &file, &mine, &rows).await?;
        result.outcomes.extend(one.outcomes);
        result.applied.extend(one.applied);
        result.removed.extend(one.removed);
        result.up_to_date += one.up_to_date;
    }
    Ok(result)
}

/// Delivers `sources` to one auth file; `rows` are the delivery rows of that file's targets.
async fn file_pass(
    state: &AppState,
    file: &AuthFile<'_>,
    sources: &[&Source],
    rows: &[&DeliveryRecord],
) -> Result<PassResult, ApiError> {
    let path = file.path.as_path();
    let text = match read(path).await {
        Ok(text) => text,
        Err((code, why)) => return Ok(all_failed(file, sources, code, &why)),
    };
    let present = match auth_file::entries(&text) {
        Ok(entries) => entries,
        Err(e) => {
            let why = format!(
                "{} is not an auth file regcred can update: {e}",
                path.display()
            );
            return Ok(all_failed(file, sources, "auth_file_invalid", &why));
        }
    };
    let digest_of =
        |entry: &serde_json::Value| state.vault().fingerprint(entry.to_string().as_bytes());
    // Every row with a digest names content regcred wrote, including rows of a pass that failed
    // afterwards: (target, digest) → owner.
    let written: HashMap<(&str, &str), &str> = rows
        .iter()
        .filter_map(|r| {
            Some((
                (r.target.as_str(), r.digest.as_deref()?),
                r.owner_id.as_str(),
            ))
        })
        .collect();
    let observed: Vec<Observed<String>> = present
        .iter()
        .map(|(key, entry)| {
            let digest = digest_of(entry);
            let t = file.target(key);
            let owner = written
                .get(&(t.as_str(), digest.as_str()))
                .map(|owner| Owner::Regcred {
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
                outcomes.push(unrenderable(file.target(&key), &s.record, why));
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
            file.target(&d.target),
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
                result.removed.push((file.target(&key), owner_id));
            }
            Action::Delete { .. } => {}
            Action::Refuse { desired, refusal } => outcomes.push(refused(file, &desired, &refusal)),
        }
    }
    if !set.is_empty() || !remove.is_empty() {
        let updated =
            auth_file::update(&text, &set, &remove).map_err(|e| ApiError::internal(&e))?;
        // Someone (docker login) wrote the file while this pass planned: plan again next pass
        // rather than overwrite what they wrote. The same read refuses a path that became a
        // symlink or something else meanwhile.
        let again = match read(path).await {
            Ok(again) => again,
            Err((code, why)) => return Ok(all_failed(file, sources, code, &why)),
        };
        if again != text {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!(
                    "{} changed during the delivery pass; retrying",
                    path.display()
                ),
            ));
        }
        if let Err(e) = super::write_atomically(path, updated.as_bytes(), 0o600).await {
            let why = format!("cannot write {}: {e}", path.display());
            return Ok(all_failed(file, sources, "auth_file_unwritable", &why));
        }
    }
    for (d, revision) in written_now {
        result
            .applied
            .push((file.target(&d.target), d.owner_id.clone()));
        outcomes.push(Outcome::delivered(
            file.target(&d.target),
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

fn refused(file: &AuthFile<'_>, desired: &Desired<String>, refusal: &Refusal) -> Outcome {
    let path = file.path.display();
    let (code, message) = match refusal {
        Refusal::NotOwned => (
            "not_owned",
            format!(
                "{path} already has a login for {} that regcred did not write (docker login?); regcred leaves it alone — remove it to let regcred manage it",
                desired.target
            ),
        ),
        // Pull-secret creation refuses a second pull secret for one server of a location, so
        // this is left from before that rule: the older pull secret keeps the entry.
        Refusal::OwnedByOther { .. } => (
            "owned_by_other",
            format!(
                "{path} holds one login per registry and {} is delivered from an older pull secret; delete one of the two",
                desired.target
            ),
        ),
    };
    Outcome::failed(
        file.target(&desired.target),
        &desired.owner_id,
        DeliveryState::Error,
        code,
        message,
    )
}

fn all_failed(
    file: &AuthFile<'_>,
    sources: &[&Source],
    code: &'static str,
    why: &str,
) -> PassResult {
    PassResult {
        outcomes: sources
            .iter()
            .map(|s| {
                Outcome::failed(
                    file.target(&auth_key(&s.record)),
                    &s.record.id,
                    DeliveryState::Error,
                    code,
                    why.to_owned(),
                )
            })
            .collect(),
        ..PassResult::default()
    }
}

/// The file's text; a missing file is an empty one. Anything but a regular file — a symlink, a
/// directory, a device, a FIFO — is refused (`auth_file_not_regular`): regcred never writes
/// through a symlink nor replaces what it did not create with a file of credentials.
async fn read(path: &Path) -> Result<String, (&'static str, String)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read_regular(&path))
        .await
        .map_err(|e| ("auth_file_unreadable", e.to_string()))?
}

fn read_regular(path: &Path) -> Result<String, (&'static str, String)> {
    use std::io::Read as _;
    use std::os::unix::fs::MetadataExt as _;
    let unreadable = |e: std::io::Error| {
        (
            "auth_file_unreadable",
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let not_regular = || {
        (
            "auth_file_not_regular",
            format!(
                "{} is not a regular file (a symlink, directory, device or FIFO); regcred only \
                 maintains a regular file it may replace — point the location at one",
                path.display()
            ),
        )
    };
    let before = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(unreadable(e)),
    };
    if !before.file_type().is_file() {
        return Err(not_regular());
    }
    let mut opened = std::fs::File::open(path).map_err(unreadable)?;
    // Swapped for a symlink (or anything else) between the look and the open.
    let now = opened.metadata().map_err(unreadable)?;
    if (now.dev(), now.ino()) != (before.dev(), before.ino()) || !now.file_type().is_file() {
        return Err(not_regular());
    }
    let mut text = String::new();
    opened.read_to_string(&mut text).map_err(unreadable)?;
    Ok(text)
}
