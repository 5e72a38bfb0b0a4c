//! Delivery to a Docker/Podman host: the location's auth file (Docker `config.json` or containers
//! `auth.json`) gets one `auths` entry per pull secret — the equivalent of `docker login` on the
//! node. Other entries and settings are left exactly as they are, an entry regcred did not write
//! is never overwritten, and the file is replaced atomically with mode 0600.
//!
//! An auth-file entry carries no marks of its own, so ownership comes from the delivery rows: an
//! entry is regcred's when a row says regcred wrote exactly that content there.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use regcred_core::api::DockerSpec;
use regcred_core::auth_file;
use regcred_core::codes::DeliveryCode;
use regcred_core::delivery::{for_project, Desired, Observed, Owner, Refusal, PROJECT_PLACEHOLDER};
use regcred_core::k8s_secret::DockerAuth;
use regcred_core::pace;
use regcred_store::vault::Vault;
use regcred_store::{DeliveryRecord, LocationRecord};
use serde_json::value::RawValue;

use super::driver::{
    self, Backend, Done, Executed, Failure, Job, Outcome, Pass, PassResult, Place, Step,
};
use super::{DeliveryError, Rendered, Source, SourceRecord, Workload};

/// The project a per-project target belongs to (`auth:<project>:<key>`).
fn target_project(target: &str) -> Option<&str> {
    target
        .strip_prefix("auth:")?
        .split_once(':')
        .map(|(p, _)| p)
}

/// A pass over a docker location: one file for the whole host, or one per project — those with
/// pull secrets here, and those whose entries may still have to be removed — each its own site.
pub(super) async fn pass(
    pass: &Pass<'_>,
    location: &LocationRecord,
) -> Result<PassResult, DeliveryError> {
    let spec: DockerSpec = serde_json::from_str(&location.spec).map_err(DeliveryError::internal)?;
    let per_project = spec.path.contains(PROJECT_PLACEHOLDER);
    let rows = match pass.scope {
        None => {
            pass.state
                .store()
                .list_deliveries(Some(&location.name), None)
                .await?
        }
        Some(scope) => scoped_rows(pass, &location.name, per_project, scope).await?,
    };
    let rows = held(rows);
    // Each file owns its rows, and drops them once it has observed its entries.
    let files = match per_project {
        false => vec![(None, pass.sources.clone(), rows)],
        true => by_project(&pass.sources, rows),
    };
    let mut result = PassResult::default();
    for (project, sources, rows) in files {
        let one = Pass {
            state: pass.state,
            location: pass.location,
            scope: pass.scope,
            sources,
            workloads: Vec::new(),
        };
        let mut file = AuthFile {
            vault: pass.state.vault(),
            path: PathBuf::from(match &project {
                Some(p) => for_project(&spec.path, p),
                None => spec.path.clone(),
            }),
            project: project.as_deref(),
            rows,
            read_as: String::new(),
            present: BTreeMap::new(),
        };
        result.extend(driver::run(&one, &mut file).await?);
        // Left only when the file could not be read.
        pace::drop_all(file.rows);
    }
    Ok(with_workloads(result, &pass.workloads))
}

/// What a pass needs of a delivery row of an auth file: whose entry a target is, and the digest
/// of what regcred wrote there (none when it never wrote it).
struct Held {
    target: String,
    owner_id: String,
    digest: Option<String>,
}

/// `rows` as [`Held`]: a full pass reads every row of the location, and whole rows would hold
/// their location, state, message and times besides, until the file is observed.
fn held(rows: Vec<DeliveryRecord>) -> Vec<Held> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        pace::point();
        out.push(Held {
            target: r.target,
            owner_id: r.owner_id,
            digest: r.digest,
        });
    }
    out
}

/// One auth file's project (none when the location has one file), pull secrets and rows.
type File<'a> = (Option<Cow<'a, str>>, Vec<&'a Source>, Vec<Held>);

/// The files of a per-project location, grouped in one walk over the pull secrets and one over
/// the rows (a location can serve thousands of projects, and filtering everything again for each
/// would cost projects × pull secrets). A project is named by its pull secrets' records; only a
/// project whose rows are all that is left of it gets a name of its own.
fn by_project<'a>(sources: &[&'a Source], rows: Vec<Held>) -> Vec<File<'a>> {
    let mut files: BTreeMap<&'a str, (Vec<&'a Source>, Vec<Held>)> = BTreeMap::new();
    for s in sources {
        pace::point();
        files.entry(&s.record.project).or_default().0.push(*s);
    }
    let mut gone: BTreeMap<String, Vec<Held>> = BTreeMap::new();
    for r in rows {
        pace::point();
        let Some(project) = target_project(&r.target) else {
            continue;
        };
        if let Some(file) = files.get_mut(project) {
            file.1.push(r);
        } else if let Some(rows) = gone.get_mut(project) {
            rows.push(r);
        } else {
            gone.insert(project.to_owned(), vec![r]);
        }
    }
    let named = files
        .into_iter()
        .map(|(project, (sources, rows))| (Some(Cow::Borrowed(project)), sources, rows));
    let left = gone
        .into_iter()
        .map(|(project, rows)| (Some(Cow::Owned(project)), Vec::new(), rows));
    named.chain(left).collect()
}

/// The rows a scoped pass needs: its owners' rows, and the rows of whoever holds the targets its
/// pull secrets want.
async fn scoped_rows(
    pass: &Pass<'_>,
    location: &str,
    per_project: bool,
    scope: &BTreeSet<String>,
) -> Result<Vec<DeliveryRecord>, DeliveryError> {
    let mut rows = super::record::owner_rows(pass.state, location, scope).await?;
    let held: HashSet<(String, String)> = rows
        .iter()
        .map(|r| (r.target.clone(), r.owner_id.clone()))
        .collect();
    let targets: Vec<String> = pass
        .sources
        .iter()
        .map(|s| {
            let key = auth_key(&s.record);
            match per_project {
                true => format!("auth:{}:{key}", s.record.project),
                false => format!("auth:{key}"),
            }
        })
        .collect();
    let at = pass.state.store().deliveries_at(location, &targets).await?;
    rows.extend(
        at.into_iter()
            .filter(|r| !held.contains(&(r.target.clone(), r.owner_id.clone()))),
    );
    Ok(rows)
}

/// One auth file of a location: its path, and the project it belongs to when the location's
/// path is per project (then the project is part of every target, so that two projects' logins
/// for one registry are two targets). Targets are the entries' keys.
struct AuthFile<'a> {
    /// Digests entries and the file (keyed, so a digest says nothing of a secret).
    vault: &'a Vault,
    path: PathBuf,
    project: Option<&'a str>,
    /// The delivery rows of this file's targets, until `observe` has used them.
    rows: Vec<Held>,
    /// The digest of the file as `prepare` read it (the text itself is read again to be
    /// updated, and only when something changes), and each of its entries as JSON text (digested
    /// only when `observe` looks at it: a scoped pass looks at few), until `observe` has used
    /// them.
    read_as: String,
    present: BTreeMap<String, String>,
}

/// The keyed digest of JSON text: of an entry as serde_json writes it (so that what regcred
/// renders and what it reads back from the file compare equal), or of the whole file.
fn digest_of(vault: &Vault, json: &str) -> String {
    vault.fingerprint(json.as_bytes())
}

impl AuthFile<'_> {
    /// Writes the jobs' changes in one replacement of the file, unless someone changed the file
    /// since it was read.
    async fn write(
        &self,
        set: &[(String, Box<RawValue>)],
        remove: &[String],
    ) -> Result<Option<Failure>, DeliveryError> {
        let path = self.path.as_path();
        // Someone (docker login) wrote the file while this pass planned: plan again next pass
        // rather than overwrite what they wrote. The same read refuses a path that became a
        // symlink or something else meanwhile.
        let again = match read(path).await {
            Ok(again) => again,
            Err(why) => return Ok(Some(why)),
        };
        if digest_of(self.vault, &again) != self.read_as {
            return Err(DeliveryError::Changed(format!(
                "{} changed during the delivery pass; retrying",
                path.display()
            )));
        }
        let updated = auth_file::update(&again, set, remove).map_err(DeliveryError::internal)?;
        if let Err(e) = super::write_atomically(path, updated.as_bytes(), 0o600).await {
            let why = format!("cannot write {}: {e}", path.display());
            return Ok(Some(Failure::error(DeliveryCode::AuthFileUnwritable, why)));
        }
        Ok(None)
    }
}

impl Backend for AuthFile<'_> {
    type Target = String;
    /// An entry's JSON text (a `Value` of one costs ten times more, times every pull secret),
    /// handed to the file's update as it is.
    type Content = Box<RawValue>;
    const KEEPS_ROWS: bool = false;
    const BATCH: Option<usize> = None;

    fn row(&self, key: &String) -> String {
        match self.project {
            None => format!("auth:{key}"),
            Some(project) => format!("auth:{project}:{key}"),
        }
    }

    async fn prepare(&mut self) -> Result<(), Failure> {
        let text = read(&self.path).await?;
        self.read_as = digest_of(self.vault, &text);
        self.present = auth_file::entries(&text, |entry| {
            pace::point();
            entry.to_string()
        })
        .map_err(|e| {
            let why = format!(
                "{} is not an auth file regcred can update: {e}",
                self.path.display()
            );
            Failure::error(DeliveryCode::AuthFileInvalid, why)
        })?;
        Ok(())
    }

    fn home(&self, record: &SourceRecord) -> String {
        auth_key(record)
    }

    fn secret_targets(&self, record: &SourceRecord) -> Vec<Place<String>> {
        vec![Place::At(auth_key(record))]
    }

    fn secret_digest(
        &self,
        _key: &String,
        _record: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<String, Failure>, DeliveryError> {
        let entry = entry_json(&rendered.auth())?;
        Ok(Ok(digest_of(self.vault, entry.get())))
    }

    fn secret_content(
        &self,
        _key: &String,
        _record: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<Box<RawValue>, Failure>, DeliveryError> {
        entry_json(&rendered.auth()).map(Ok)
    }

    /// The platform registry's login, as an entry. Docker hosts are given no platform credential
    /// ([`Backend::platform_target`] is `None`): they pull platform images through
    /// `docker-credential-regcred`.
    fn platform_content(
        &self,
        _key: &String,
        _project: &str,
        auth: DockerAuth<'_>,
        _token_id: &str,
    ) -> Result<Box<RawValue>, DeliveryError> {
        entry_json(&auth)
    }

    /// The file's entries that the pass wants or that have rows (others are no concern of
    /// regcred's); one is regcred's when a row says regcred wrote exactly that content there
    /// (every row with a digest, including rows of a pass that failed afterwards).
    async fn observe(
        &mut self,
        wanted: &BTreeSet<String>,
    ) -> Result<Vec<Observed<String>>, Failure> {
        // Neither is needed after this: the file is read again to be updated.
        let rows = std::mem::take(&mut self.rows);
        let present = std::mem::take(&mut self.present);
        let with_rows: HashSet<&str> = rows
            .iter()
            .inspect(|_| pace::point())
            .map(|r| r.target.as_str())
            .collect();
        let written: HashMap<(&str, &str), &str> = rows
            .iter()
            .inspect(|_| pace::point())
            .filter_map(|r| {
                Some((
                    (r.target.as_str(), r.digest.as_deref()?),
                    r.owner_id.as_str(),
                ))
            })
            .collect();
        let observed = present
            .into_iter()
            .inspect(|_| pace::point())
            .filter(|(key, _)| wanted.contains(key) || with_rows.contains(self.row(key).as_str()))
            .map(|(key, entry)| {
                let digest = digest_of(self.vault, &entry);
                let owner = written
                    .get(&(self.row(&key).as_str(), digest.as_str()))
                    .map(|owner| Owner::Regcred {
                        owner_id: (*owner).to_owned(),
                        digest: digest.clone(),
                    })
                    .unwrap_or(Owner::Other);
                Observed { target: key, owner }
            })
            .collect();
        drop((with_rows, written));
        pace::drop_all(rows);
        Ok(observed)
    }

    fn refused(&self, desired: &Desired<String>, refusal: &Refusal) -> Failure {
        let path = self.path.display();
        match refusal {
            Refusal::NotOwned => Failure::error(
                DeliveryCode::NotOwned,
                format!(
                    "{path} already has a login for {} that regcred did not write (docker login?); regcred leaves it alone — remove it to let regcred manage it",
                    desired.target
                ),
            ),
            // Pull-secret creation refuses a second pull secret for one server of a location,
            // so this is left from before that rule: the pull secret holding the entry keeps it.
            Refusal::OwnedByOther { .. } => Failure::error(
                DeliveryCode::OwnedByOther,
                format!(
                    "{path} holds one login per registry and {} is delivered from another pull secret, which keeps it; delete one of the two",
                    desired.target
                ),
            ),
        }
    }

    /// All of the pass's entries in one write of the file; a failed write fails the file.
    async fn execute(
        &mut self,
        jobs: Vec<Job<String, Box<RawValue>>>,
    ) -> Result<Executed<String>, DeliveryError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut done = Vec::new();
        for job in jobs {
            let (target, owner_id, digest, step) = match job {
                Job::Apply {
                    desired, content, ..
                } => {
                    set.push((desired.target.clone(), content));
                    (
                        desired.target,
                        desired.owner_id,
                        desired.digest,
                        Step::Applied,
                    )
                }
                Job::Delete { target, owner_id } => {
                    remove.push(target.clone());
                    (target, owner_id, String::new(), Step::Removed)
                }
            };
            done.push(Done {
                target,
                owner_id,
                digest,
                result: Ok(step),
            });
        }
        if !done.is_empty() {
            if let Some(why) = self.write(&set, &remove).await? {
                return Ok(Executed::Site(why));
            }
        }
        Ok(Executed::Each(done))
    }
}

/// A deployment on a Docker host is its pull secrets' logins in the auth file: each deployment
/// gets the state of each of those entries, so `deployment.get` says whether they are in place.
fn with_workloads(mut result: PassResult, workloads: &[&Workload]) -> PassResult {
    if workloads.is_empty() {
        return result;
    }
    // The outcomes of the pull secrets deployments use, found in one walk over them all.
    let mut by_owner: HashMap<&str, Vec<&Outcome>> = workloads
        .iter()
        .flat_map(|w| &w.spec.pull_secrets)
        .map(|used| (used.id.as_str(), Vec::new()))
        .collect();
    for o in &result.outcomes {
        pace::point();
        if let Some(of_owner) = by_owner.get_mut(o.owner_id.as_str()) {
            of_owner.push(o);
        }
    }
    let mut mirrored = Vec::new();
    for w in workloads {
        for used in &w.spec.pull_secrets {
            for o in by_owner.get(used.id.as_str()).into_iter().flatten() {
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

/// A login as an auth-file entry's compact JSON text, as `Value::to_string` writes it (the form
/// `prepare` keeps the file's entries in, so that the two digest alike).
fn entry_json(auth: &DockerAuth<'_>) -> Result<Box<RawValue>, DeliveryError> {
    serde_json::value::to_raw_value(&auth_file::entry(auth)).map_err(DeliveryError::internal)
}

/// The auth-file key of a pull secret's server (`https://index.docker.io/v1/` for Docker Hub).
fn auth_key(record: &SourceRecord) -> String {
    regcred_core::registry_host::RegistryServer::parse(&record.server)
        .map(|server| server.auth_key())
        .unwrap_or_else(|_| record.server.clone())
}

/// The file's text; a missing file is an empty one. Anything but a regular file — a symlink, a
/// directory, a device, a FIFO — is refused (`auth_file_not_regular`): regcred never writes
/// through a symlink nor replaces what it did not create with a file of credentials.
async fn read(path: &Path) -> Result<String, Failure> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read_regular(&path))
        .await
        .map_err(|e| Failure::error(DeliveryCode::AuthFileUnreadable, e.to_string()))?
}

fn read_regular(path: &Path) -> Result<String, Failure> {
    use std::io::Read as _;
    use std::os::unix::fs::MetadataExt as _;
    let unreadable = |e: std::io::Error| {
        Failure::error(
            DeliveryCode::AuthFileUnreadable,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let not_regular = || {
        Failure::error(
            DeliveryCode::AuthFileNotRegular,
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

#[cfg(test)]
mod tests {
    use super::*;
    use regcred_store::vault::MasterKey;
    use regcred_store::SqliteStore;
    use serde_json::Value;

    /// The check before a write: a file that someone changed after the pass read it is left as
    /// they wrote it and the pass stops with `Changed` (the next pass plans again); a file that
    /// nobody touched is written.
    #[tokio::test]
    async fn a_file_changed_during_the_pass_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("regcred.db"))
            .await
            .unwrap();
        let vault = Vault::open(&store, &MasterKey::generate().unwrap())
            .await
            .unwrap();
        let path = dir.path().join("config.json");
        let before = r#"{"auths":{"a.example":{"auth":"eDp5"}}}"#;
        std::fs::write(&path, before).unwrap();
        let mut file = AuthFile {
            vault: &vault,
            path: path.clone(),
            project: None,
            rows: Vec::new(),
            read_as: String::new(),
            present: BTreeMap::new(),
        };
        let entry = RawValue::from_string(r#"{"auth":"dTpw"}"#.to_owned()).unwrap();
        let set = [("b.example".to_owned(), entry)];

        file.prepare().await.unwrap();
        let login = r#"{"auths":{"a.example":{"auth":"eDp5"},"c.example":{"auth":"bjpt"}}}"#;
        std::fs::write(&path, login).unwrap();
        match file.write(&set, &[]).await {
            Err(DeliveryError::Changed(why)) => assert!(why.contains("changed during")),
            other => panic!("expected Changed, got {other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), login);

        // Read again, nothing in between: the write goes through and keeps what was there.
        file.prepare().await.unwrap();
        assert!(file.write(&set, &[]).await.unwrap().is_none());
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let keys: Vec<&String> = written["auths"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a.example", "b.example", "c.example"]);
    }
}
