//! Delivery to a GitOps directory: one JSON manifest per object, `<namespace>/secret-<name>.json`
//! and `<namespace>/deployment-<name>.json`, for a controller (Flux, Argo CD) to apply.
//!
//! A directory meant for git never receives plaintext credentials: with the cluster's sealing
//! certificate configured, Secrets are written as Bitnami `SealedSecret`s (strict scope) that
//! only that cluster's controller can open; without one, regcred refuses unless the location
//! explicitly allows plaintext. Files carry regcred's labels and annotations like the objects in a
//! cluster, and ownership is read from them: a file regcred did not write is never replaced.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regcred_core::api::ManifestsSpec;
use regcred_core::codes::DeliveryCode;
use regcred_core::delivery::{self, owner_of, Desired, Observed, Refusal};
use regcred_core::k8s_secret::DockerAuth;
use regcred_k8s::sealed::{seal_secret, SealingKey};
use regcred_k8s::ObjectKind;
use regcred_store::LocationRecord;
use serde_json::Value;

use super::driver::{Backend, Done, Executed, Failure, Job, Place, Placed, Step, Wanted};
use super::{
    platform, secret_object, DeliveryError, ObjectTarget, Rendered, SourceRecord, Workload,
};
use crate::AppState;

/// How a manifest file is written.
pub(super) struct File {
    content: String,
    mode: u32,
}

/// A manifest's path under the directory: `<namespace>/secret-<name>.json`,
/// `<namespace>/deployment-<name>.json`.
fn path_of(t: &ObjectTarget) -> String {
    let kind = match t.kind {
        ObjectKind::Deployment => "deployment",
        _ => "secret",
    };
    format!("{}/{kind}-{}.json", t.namespace, t.name)
}

/// The target a manifest file name stands for, if it is one.
fn target_of(namespace: &str, file: &str) -> Option<ObjectTarget> {
    let (kind, rest) = if let Some(rest) = file.strip_prefix("secret-") {
        (ObjectKind::Secret, rest)
    } else if let Some(rest) = file.strip_prefix("deployment-") {
        (ObjectKind::Deployment, rest)
    } else {
        return None;
    };
    Some(ObjectTarget {
        kind,
        namespace: namespace.to_owned(),
        name: rest.strip_suffix(".json")?.to_owned(),
    })
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

const PLAINTEXT_REFUSED: &str = "this manifests location has no sealing certificate; regcred does not write plaintext credentials into a directory meant for git (give sealingCertFile, or allowPlaintext)";

/// A manifests location: a directory.
pub(super) struct Manifests<'a> {
    state: &'a AppState,
    location: &'a str,
    spec: ManifestsSpec,
    dir: PathBuf,
    /// How Secrets are written here: sealed, plain where allowed, or not at all (and why). Set
    /// by `prepare`.
    writing: Result<Option<SealingKey>, Failure>,
}

impl<'a> Manifests<'a> {
    pub fn new(state: &'a AppState, location: &'a LocationRecord) -> Result<Self, DeliveryError> {
        let spec: ManifestsSpec =
            serde_json::from_str(&location.spec).map_err(DeliveryError::internal)?;
        Ok(Manifests {
            state,
            location: &location.name,
            dir: PathBuf::from(&spec.directory),
            spec,
            writing: Ok(None),
        })
    }

    fn namespace(&self, project: &str) -> String {
        delivery::namespace_for(&self.spec.namespace_template, project)
    }

    /// A Secret object as its file: sealed, or plain (0600) where allowed.
    fn secret_file(&self, object: &Value) -> Result<File, Failure> {
        match &self.writing {
            Ok(Some(key)) => seal_secret(key, object)
                .map(|sealed| File {
                    content: sealed,
                    mode: 0o644,
                })
                .map_err(|e| Failure::error(DeliveryCode::SealFailed, e.to_string())),
            Ok(None) => Ok(File {
                content: pretty(object),
                mode: 0o600,
            }),
            Err(why) => Err(why.clone()),
        }
    }

    async fn write(&self, t: &ObjectTarget, file: &File) -> Result<Step, Failure> {
        let path = self.dir.join(path_of(t));
        match super::write_atomically(&path, file.content.as_bytes(), file.mode).await {
            Ok(()) => Ok(Step::Applied),
            Err(e) => Err(Failure::error(
                DeliveryCode::WriteFailed,
                format!("cannot write {}: {e}", path.display()),
            )),
        }
    }

    async fn remove(&self, t: &ObjectTarget) -> Result<Step, Failure> {
        let path = self.dir.join(path_of(t));
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(Step::Removed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Step::Removed),
            Err(e) => Err(Failure::error(
                DeliveryCode::DeleteFailed,
                format!("cannot remove {}: {e}", path.display()),
            )),
        }
    }
}

impl Backend for Manifests<'_> {
    type Target = ObjectTarget;
    type Content = File;
    const KEEPS_ROWS: bool = false;
    const BATCH: Option<usize> = Some(1000);

    fn row(&self, t: &ObjectTarget) -> String {
        format!("file:{}", path_of(t))
    }

    async fn prepare(&mut self) -> Result<(), Failure> {
        self.writing = match &self.spec.sealing_cert_file {
            Some(path) => match tokio::fs::read_to_string(path).await {
                Ok(pem) => SealingKey::from_pem(&pem).map(Some).map_err(|e| {
                    Failure::error(DeliveryCode::SealingCertInvalid, format!("{path}: {e}"))
                }),
                Err(e) => Err(Failure::error(
                    DeliveryCode::SealingCertInvalid,
                    format!("cannot read {path}: {e}"),
                )),
            },
            None if self.spec.allow_plaintext => Ok(None),
            None => Err(Failure::error(
                DeliveryCode::PlaintextRefused,
                PLAINTEXT_REFUSED,
            )),
        };
        Ok(())
    }

    fn home(&self, record: &SourceRecord) -> ObjectTarget {
        ObjectTarget::secret(self.namespace(&record.project), &record.name)
    }

    fn workload_home(&self, w: &Workload) -> Option<ObjectTarget> {
        Some(ObjectTarget::deployment(
            self.namespace(&w.record.project),
            &w.record.name,
        ))
    }

    fn secret_targets(&self, record: &SourceRecord) -> Vec<Place<ObjectTarget>> {
        vec![Place::At(self.home(record))]
    }

    fn workload(&self, w: &Workload) -> Option<Placed<ObjectTarget, File>> {
        let t = ObjectTarget::deployment(self.namespace(&w.record.project), &w.record.name);
        let (object, digest) = w.object(self.state, &t.namespace, self.location);
        let content = File {
            content: pretty(&object),
            mode: 0o644,
        };
        Some(Placed::At(t, Wanted { content, digest }))
    }

    fn platform_target(&self, project: &str) -> Option<ObjectTarget> {
        Some(ObjectTarget::secret(
            self.namespace(project),
            platform::SECRET_NAME,
        ))
    }

    /// The digest says how the file is written, so that adding a sealing certificate rewrites
    /// it; nothing is written while the sealing certificate cannot be read.
    fn secret_digest(
        &self,
        _t: &ObjectTarget,
        _r: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<String, Failure>, DeliveryError> {
        Ok(match &self.writing {
            Ok(Some(_)) => Ok(format!("{}:sealed", rendered.digest)),
            Ok(None) => Ok(rendered.digest.clone()),
            Err(why) => Err(why.clone()),
        })
    }

    fn secret_content(
        &self,
        t: &ObjectTarget,
        r: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<File, Failure>, DeliveryError> {
        let digest = match self.secret_digest(t, r, rendered)? {
            Ok(digest) => digest,
            Err(why) => return Ok(Err(why)),
        };
        let object = secret_object(
            &r.name,
            &t.namespace,
            rendered.auth(),
            self.location,
            &r.project,
            &r.id,
            r.revision,
            &digest,
        )?;
        Ok(self.secret_file(&object))
    }

    fn platform_writable(&self) -> Result<(), Failure> {
        self.writing.as_ref().map(|_| ()).map_err(Failure::clone)
    }

    fn platform_content(
        &self,
        t: &ObjectTarget,
        project: &str,
        auth: DockerAuth<'_>,
        token_id: &str,
    ) -> Result<File, DeliveryError> {
        let object = secret_object(
            platform::SECRET_NAME,
            &t.namespace,
            auth,
            self.location,
            project,
            &platform::owner_id(project),
            0,
            token_id,
        )?;
        self.secret_file(&object)
            .map_err(|why| DeliveryError::internal(std::io::Error::other(why.message)))
    }

    /// The manifests under the directory and who owns each. An unreadable or foreign file
    /// counts as someone else's.
    async fn observe(
        &mut self,
        _wanted: &BTreeSet<ObjectTarget>,
    ) -> Result<Vec<Observed<ObjectTarget>>, Failure> {
        let mut found = Vec::new();
        let Ok(mut namespaces) = tokio::fs::read_dir(&self.dir).await else {
            return Ok(found);
        };
        while let Ok(Some(ns)) = namespaces.next_entry().await {
            let Ok(mut files) = tokio::fs::read_dir(ns.path()).await else {
                continue;
            };
            let namespace = ns.file_name().to_string_lossy().into_owned();
            while let Ok(Some(file)) = files.next_entry().await {
                let name = file.file_name().to_string_lossy().into_owned();
                let Some(target) = target_of(&namespace, &name) else {
                    continue;
                };
                let owner = owner_of_file(&file.path(), self.location, target.kind).await;
                found.push(Observed { target, owner });
            }
        }
        Ok(found)
    }

    fn refused(&self, desired: &Desired<ObjectTarget>, refusal: &Refusal) -> Failure {
        let path = path_of(&desired.target);
        match refusal {
            Refusal::NotOwned => Failure::error(
                DeliveryCode::NotOwned,
                format!(
                    "{} exists and regcred did not write it; regcred leaves it alone",
                    self.dir.join(&path).display()
                ),
            ),
            Refusal::OwnedByOther { owner_id } => Failure::error(
                DeliveryCode::OwnedByOther,
                format!("{path} is written for {owner_id}"),
            ),
        }
    }

    /// One file at a time, in the plan's order.
    async fn execute(
        &mut self,
        jobs: Vec<Job<ObjectTarget, File>>,
    ) -> Result<Executed<ObjectTarget>, DeliveryError> {
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            done.push(match job {
                Job::Apply {
                    desired, content, ..
                } => Done {
                    result: self.write(&desired.target, &content).await,
                    target: desired.target,
                    owner_id: desired.owner_id,
                    digest: desired.digest,
                },
                Job::Delete { target, owner_id } => Done {
                    result: self.remove(&target).await,
                    target,
                    owner_id,
                    digest: String::new(),
                },
            });
        }
        Ok(Executed::Each(done))
    }
}

/// Who owns a manifest file, by the marks in it.
async fn owner_of_file(path: &Path, location: &str, kind: ObjectKind) -> delivery::Owner {
    let annotation = match kind {
        ObjectKind::Deployment => delivery::DEPLOYMENT_ANNOTATION,
        _ => delivery::PULL_SECRET_ANNOTATION,
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .map(|v| owner_of(&v, location, annotation))
            .unwrap_or(delivery::Owner::Other),
        Err(_) => delivery::Owner::Other,
    }
}
