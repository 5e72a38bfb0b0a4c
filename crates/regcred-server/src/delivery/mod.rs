//! Delivery: puts every pull secret (and deployment) of a location where its workloads
//! run, and keeps it there. One pass over a location observes what is there (IO), plans with the
//! pure planner of [`regcred_core::delivery`], applies the actions (IO), and records the state of
//! every delivery, shown by `pullSecret.get` and `deployment.get`.
//!
//! Passes run in the background — woken when a pull secret is created, rotated or deleted, when a
//! short-lived credential is refreshed, when a project appears, and every `interval` besides (so
//! new namespaces are found without a restart) — and on demand (`location.sync`, `deployment.*`).
//! One pass per location at a time. Each pull secret is rendered once per pass, however many
//! namespaces receive it, and a minted credential comes from the refresher, so fan-out never mints.

mod auth_file;
mod kubernetes;
mod manifests;
pub mod platform;

use regcred_core::codes::ErrorCode;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regcred_core::api::{
    DeliveryState, DeliveryStatus, DeploymentSpec, LocationKind, Resolution, SyncReport,
};
use regcred_core::credential::Kind;
use regcred_core::k8s_secret::DockerAuth;
use regcred_core::secret::Secret;
use regcred_store::{DeliveryRecord, DeploymentRecord, LocationRecord, PullSecretRecord};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::AppState;

/// Runs delivery passes.
pub struct Deliverer {
    wake: tokio::sync::Notify,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    interval_ms: AtomicU64,
    clusters: kubernetes::Clusters,
}

impl Default for Deliverer {
    fn default() -> Self {
        Deliverer {
            wake: tokio::sync::Notify::new(),
            locks: Mutex::new(HashMap::new()),
            interval_ms: AtomicU64::new(30_000),
            clusters: kubernetes::Clusters::default(),
        }
    }
}

/// One pull secret, rendered for this pass.
pub(crate) struct Source {
    pub record: PullSecretRecord,
    pub result: Result<Rendered, (String, String)>,
}

/// A pull secret's credential in the form every delivery uses.
pub(crate) struct Rendered {
    /// The `.dockerconfigjson` / auth-file key.
    pub key: String,
    pub username: String,
    pub password: Secret,
    pub email: Option<String>,
    /// Keyed hash of the delivered credential: changes on rotation and on refresh.
    pub digest: String,
}

impl Rendered {
    pub fn auth(&self) -> DockerAuth<'_> {
        DockerAuth {
            server: &self.key,
            username: &self.username,
            password: self.password.expose(),
            email: self.email.as_deref(),
        }
    }
}

/// The Secret regcred delivers: kubectl's rendering of `auth` as `name` in `namespace`, plus
/// regcred's labels and ownership annotations.
#[allow(clippy::too_many_arguments)]
pub(crate) fn secret_object(
    name: &str,
    namespace: &str,
    auth: DockerAuth<'_>,
    location: &str,
    project: &str,
    owner_id: &str,
    revision: i64,
    digest: &str,
) -> Result<serde_json::Value, ApiError> {
    let kubectl = regcred_core::k8s_secret::secret(
        name,
        Some(namespace),
        &[auth],
        regcred_core::k8s_secret::OutputFormat::Json,
    )
    // Only the field name is kept: the error variants may carry the value.
    .map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            ErrorCode::NotRenderable,
            format!("{name} cannot be rendered as a Secret"),
        )
    })?;
    let revision = u64::try_from(revision).unwrap_or_default();
    regcred_core::delivery::secret_for_apply(
        &kubectl, location, project, owner_id, revision, digest,
    )
    .map_err(|e| ApiError::internal(&e))
}

/// A deployment with its current spec decoded.
pub(crate) struct Workload {
    pub record: DeploymentRecord,
    pub spec: DeploymentSpec,
}

impl Workload {
    /// The Deployment object for `namespace` and its digest (a keyed hash of the object without
    /// it). It pulls with its pull secrets, or with the platform credential.
    pub fn object(
        &self,
        state: &AppState,
        namespace: &str,
        location: &str,
    ) -> (serde_json::Value, String) {
        let d = &self.record;
        let mut names: Vec<String> = self
            .spec
            .pull_secrets
            .iter()
            .map(|p| p.name.clone())
            .collect();
        if self.spec.resolution == Resolution::PlatformRegistry {
            names.push(platform::SECRET_NAME.to_owned());
        }
        let mut workload = regcred_core::delivery::WorkloadSpec {
            name: &d.name,
            namespace,
            project: &d.project,
            location,
            deployment_id: &d.id,
            image: &self.spec.image,
            replicas: self.spec.replicas,
            pull_secrets: &names,
            revision: u64::try_from(d.revision).unwrap_or_default(),
            digest: "",
        };
        let digest = state.vault().fingerprint(
            regcred_core::delivery::deployment_object(&workload)
                .to_string()
                .as_bytes(),
        );
        workload.digest = &digest;
        (regcred_core::delivery::deployment_object(&workload), digest)
    }
}

/// The state of one target after a pass, before it becomes a row.
pub(crate) struct Outcome {
    pub target: String,
    pub owner_id: String,
    pub state: DeliveryState,
    pub revision: Option<i64>,
    pub digest: Option<String>,
    pub code: Option<&'static str>,
    pub message: Option<String>,
}

impl Outcome {
    pub fn delivered(target: String, owner_id: &str, revision: i64, digest: &str) -> Outcome {
        Outcome {
            target,
            owner_id: owner_id.to_owned(),
            state: DeliveryState::Delivered,
            revision: Some(revision),
            digest: Some(digest.to_owned()),
            code: None,
            message: None,
        }
    }

    pub fn failed(
        target: String,
        owner_id: &str,
        state: DeliveryState,
        code: &'static str,
        message: String,
    ) -> Outcome {
        Outcome {
            target,
            owner_id: owner_id.to_owned(),
            state,
            revision: None,
            digest: None,
            code: Some(code),
            message: Some(message),
        }
    }
}

/// What a location-kind pass hands back: the outcome of each wanted target, and the
/// `(target, owner)` pairs it wrote and removed (audited).
#[derive(Default)]
pub(crate) struct PassResult {
    pub outcomes: Vec<Outcome>,
    pub applied: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
    pub up_to_date: u64,
}

impl Deliverer {
    /// Asks the background loop for a pass over every location.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sets how often every location is checked without being woken.
    pub fn set_interval(&self, interval: Duration) {
        let ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(100);
        self.interval_ms.store(ms, Ordering::Relaxed);
    }

    fn lock_for(&self, location: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(location.to_owned()).or_default().clone()
    }

    /// One pass over `location`, now.
    pub async fn sync(&self, state: &AppState, location: &str) -> Result<SyncReport, ApiError> {
        let report = self.pass(state, location).await;
        state
            .metrics()
            .delivery_pass(matches!(&report, Ok(r) if r.errors == 0));
        report
    }

    async fn pass(&self, state: &AppState, location: &str) -> Result<SyncReport, ApiError> {
        let lock = self.lock_for(location);
        let _guard = lock.lock().await;
        let Some(record) = state.store().get_location(location).await? else {
            return Err(ApiError::not_found(format!(
                "location {location:?} does not exist"
            )));
        };
        let sources = sources(state, &record).await?;
        let workloads = workloads(state, &record).await?;
        let result = match crate::service::locations::kind_of(&record)? {
            LocationKind::Kubernetes => {
                kubernetes::pass(state, &self.clusters, &record, &sources, &workloads).await
            }
            LocationKind::Docker => auth_file::pass(state, &record, &sources)
                .await
                .map(|r| auth_file::with_workloads(r, &workloads)),
            LocationKind::Manifests => manifests::pass(state, &record, &sources, &workloads).await,
        }?;
        let mut projects: BTreeMap<&str, &str> = BTreeMap::new();
        for s in &sources {
            projects.insert(&s.record.id, &s.record.project);
        }
        for w in &workloads {
            projects.insert(&w.record.id, &w.record.project);
        }
        audit_pass(state, &record.name, &result, &projects).await?;
        record_outcomes(state, &record.name, result).await
    }

    /// The background loop: a pass over every location, then a wait for `interval` or a wake.
    pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let deliverer = state.deliverer();
        loop {
            match state.store().list_locations().await {
                Ok(locations) => {
                    for location in locations {
                        if let Err(e) = deliverer.sync(&state, &location.name).await {
                            tracing::warn!(
                                location = %location.name,
                                code = e.code.as_str(),
                                "delivery pass failed: {}",
                                e.message
                            );
                        }
                    }
                }
                Err(e) => tracing::warn!("delivery: cannot list locations: {e}"),
            }
            let wait = Duration::from_millis(deliverer.interval_ms.load(Ordering::Relaxed));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = deliverer.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The pull secrets of a location, oldest first (the first to claim a target keeps it), each
/// rendered once. `public` pull secrets hold no credentials and are delivered nowhere.
async fn sources(state: &AppState, location: &LocationRecord) -> Result<Vec<Source>, ApiError> {
    let mut records = state
        .store()
        .list_pull_secrets(None, Some(&location.name))
        .await?;
    records.retain(|r| r.kind != Kind::Public.as_str());
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let result = render(state, &record).await;
        out.push(Source { record, result });
    }
    Ok(out)
}

async fn render(state: &AppState, record: &PullSecretRecord) -> Result<Rendered, (String, String)> {
    let failed = |e: ApiError| (e.code.to_string(), e.message);
    let credential = crate::service::pull_secrets::open(state, record).map_err(failed)?;
    let current = state
        .refresher()
        .current(state, record, &credential)
        .await
        .map_err(failed)?;
    let key = credential.server.auth_key();
    let digest = state.vault().fingerprint(
        format!(
            "{key}\n{}\n{}\n{}",
            current.username,
            current.password.expose(),
            credential.email.as_deref().unwrap_or("")
        )
        .as_bytes(),
    );
    Ok(Rendered {
        key,
        username: current.username,
        password: current.password,
        email: credential.email,
        digest,
    })
}

async fn workloads(state: &AppState, location: &LocationRecord) -> Result<Vec<Workload>, ApiError> {
    let records = state
        .store()
        .list_deployments(None, Some(&location.name))
        .await?;
    records
        .into_iter()
        .map(|record| {
            let spec = serde_json::from_str(&record.spec).map_err(|e| ApiError::internal(&e))?;
            Ok(Workload { record, spec })
        })
        .collect()
}

/// Audits what a pass wrote and removed — delivery releases credentials — one event per project
/// (owners that are gone, such as deleted pull secrets, under no project). Targets are listed up
/// to a bound per owner, with their count, so a fan-out to thousands of namespaces stays one
/// readable event.
async fn audit_pass(
    state: &AppState,
    location: &str,
    result: &PassResult,
    projects: &BTreeMap<&str, &str>,
) -> Result<(), ApiError> {
    const LISTED: usize = 20;
    type ByOwner<'a> = BTreeMap<&'a str, Vec<&'a str>>;
    let mut by_project: BTreeMap<Option<&str>, (ByOwner, ByOwner)> = BTreeMap::new();
    fn project_of<'a>(projects: &BTreeMap<&str, &'a str>, owner: &'a str) -> Option<&'a str> {
        projects
            .get(owner)
            .copied()
            .or_else(|| owner.strip_prefix("platform:"))
    }
    for (target, owner) in &result.applied {
        let entry = by_project.entry(project_of(projects, owner)).or_default();
        entry.0.entry(owner).or_default().push(target);
    }
    for (target, owner) in &result.removed {
        let entry = by_project.entry(project_of(projects, owner)).or_default();
        entry.1.entry(owner).or_default().push(target);
    }
    let summary = |by_owner: &ByOwner| -> Vec<serde_json::Value> {
        by_owner
            .iter()
            .map(|(owner, targets)| {
                serde_json::json!({
                    "owner": owner,
                    "count": targets.len(),
                    "targets": targets.iter().take(LISTED).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    for (project, (applied, removed)) in &by_project {
        let event = regcred_store::AuditRecord {
            id: 0,
            time: crate::clock::now_millis(),
            actor: "regcred".into(),
            channel: "delivery".into(),
            action: "delivery.apply".into(),
            project: project.map(str::to_owned),
            target: location.to_owned(),
            outcome: "ok".into(),
            detail: serde_json::json!({
                "applied": summary(applied),
                "removed": summary(removed),
            })
            .to_string(),
        };
        state.store().append_audit(&event).await?;
    }
    Ok(())
}

/// Writes the rows that changed and drops the rows of removed targets.
async fn record_outcomes(
    state: &AppState,
    location: &str,
    result: PassResult,
) -> Result<SyncReport, ApiError> {
    let existing: BTreeMap<(String, String), DeliveryRecord> = state
        .store()
        .list_deliveries(Some(location), None)
        .await?
        .into_iter()
        .map(|r| ((r.target.clone(), r.owner_id.clone()), r))
        .collect();
    let now = crate::clock::now_millis();
    let mut report = SyncReport {
        location: location.to_owned(),
        applied: result.applied.len() as u64,
        deleted: result.removed.len() as u64,
        up_to_date: result.up_to_date,
        ..SyncReport::default()
    };
    let mut put = Vec::new();
    let mut wanted = std::collections::BTreeSet::new();
    for o in result.outcomes {
        match o.state {
            DeliveryState::Pending => report.pending += 1,
            DeliveryState::Error => report.errors += 1,
            DeliveryState::Delivered => {}
        }
        let row = DeliveryRecord {
            location: location.to_owned(),
            target: o.target,
            owner_id: o.owner_id,
            state: o.state.as_str().to_owned(),
            revision: o.revision,
            digest: o.digest,
            code: o.code.map(str::to_owned),
            message: o.message,
            updated_at: now,
        };
        let mut row = row;
        if let (None, Some(before)) = (
            &row.digest,
            existing.get(&(row.target.clone(), row.owner_id.clone())),
        ) {
            // A failed pass leaves what regcred last wrote there, and that is still regcred's:
            // keep its digest and revision so that ownership survives the failure.
            row.digest = before.digest.clone();
            row.revision = row.revision.or(before.revision);
        }
        wanted.insert((row.target.clone(), row.owner_id.clone()));
        let unchanged = existing
            .get(&(row.target.clone(), row.owner_id.clone()))
            .is_some_and(|e| {
                (&e.state, e.revision, &e.digest, &e.code, &e.message)
                    == (
                        &row.state,
                        row.revision,
                        &row.digest,
                        &row.code,
                        &row.message,
                    )
            });
        if !unchanged {
            put.push(row);
        }
    }
    // A pass's outcomes are the whole truth about its location: rows of targets it no longer
    // wants (removed, or never written) go.
    let remove: Vec<(String, String)> = existing
        .into_keys()
        .filter(|k| !wanted.contains(k))
        .collect();
    if !put.is_empty() || !remove.is_empty() {
        state
            .store()
            .update_deliveries(location, &put, &remove)
            .await?;
    }
    Ok(report)
}

/// The delivery states of one owner (pull secret or deployment), for reads.
pub async fn statuses(state: &AppState, owner_id: &str) -> Result<Vec<DeliveryStatus>, ApiError> {
    state
        .store()
        .list_deliveries(None, Some(owner_id))
        .await?
        .into_iter()
        .map(|r| {
            // A state this regcred does not know is an error, never a silent default.
            let delivery_state = DeliveryState::parse(&r.state).ok_or_else(|| {
                ApiError::unreadable(format!(
                    "delivery row of {owner_id} has the unknown state {:?}",
                    r.state
                ))
            })?;
            Ok(DeliveryStatus {
                location: r.location,
                target: r.target,
                state: delivery_state,
                revision: r.revision.and_then(|n| u64::try_from(n).ok()),
                code: r.code,
                message: r.message,
                updated_at: rfc3339(r.updated_at),
            })
        })
        .collect()
}

/// The outcome of a pull secret that could not be rendered this pass, for one of its targets.
pub(crate) fn unrenderable(
    target: String,
    record: &PullSecretRecord,
    why: &(String, String),
) -> Outcome {
    let code = match why.0.as_str() {
        "credential_unavailable" => "credential_unavailable",
        _ => "not_renderable",
    };
    Outcome::failed(
        target,
        &record.id,
        DeliveryState::Error,
        code,
        why.1.clone(),
    )
}

/// Replaces `path` with `content` so that readers see the old file or the new one, never a part:
/// a temporary file in the same directory with `mode` from the start, synced, then renamed over.
pub(crate) async fn write_atomically(
    path: &Path,
    content: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let path = path.to_owned();
    let content = content.to_vec();
    tokio::task::spawn_blocking(move || write_blocking(&path, &content, mode))
        .await
        .map_err(std::io::Error::other)?
}

fn write_blocking(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the path has no directory"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    getrandom::getrandom(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(".{name}.regcred-{}.tmp", hex::encode(suffix)));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
