//! Delivery: puts every pull secret (and deployment) of a location where its workloads
//! run, and keeps it there. One pass over a location observes what is there (IO), plans with the
//! pure planner of [`regcred_core::delivery`], applies the actions (IO), and records the state of
//! every delivery, shown by `pullSecret.get` and `deployment.get`. The pass is one for all kinds
//! of location (`driver`); each kind is a backend (`kubernetes`, `manifests`, `auth_file`).
//!
//! Passes run in the background — woken when a pull secret is created, rotated or deleted, when a
//! short-lived credential is refreshed, when a project appears, and every `interval` besides (so
//! new namespaces are found without a restart) — and on demand (`location.sync`, `deployment.*`).
//! One pass per location at a time. Each pull secret is rendered once per pass, however many
//! namespaces receive it, and a minted credential comes from the refresher, so fan-out never mints.

mod auth_file;
mod driver;
mod error;
mod kubernetes;
mod manifests;
pub mod platform;
mod record;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regcred_core::api::{DeploymentSpec, LocationKind, Resolution, SyncReport};
use regcred_core::codes::DeliveryCode;
use regcred_core::credential::Credential;
use regcred_core::credential::Kind;
use regcred_core::k8s_secret::DockerAuth;
use regcred_core::pace;
use regcred_core::secret::Secret;
use regcred_k8s::ObjectKind;
use regcred_store::{DeploymentRecord, LocationRecord, PullSecretRecord};

pub use error::DeliveryError;

use crate::refresher::Current;
use crate::AppState;

/// Runs delivery passes.
pub struct Deliverer {
    wake: tokio::sync::Notify,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per location, the last change (the store's change sequence) a pass has acted on.
    acted: Mutex<HashMap<String, i64>>,
    interval_ms: AtomicU64,
    clusters: kubernetes::Clusters,
    /// Where passes run when set ([`Deliverer::run_passes_on`]): a runtime of their own, so a
    /// long pass never holds the workers that answer requests. Inline when unset.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Called on the pass's thread after each full pass, once the pass has dropped what it held
    /// ([`Deliverer::after_full_pass`]).
    after_full_pass: std::sync::OnceLock<fn()>,
    /// Delivery rows this process has written or removed since it last had the store analyze
    /// them (`record::record_outcomes`).
    rows_changed: AtomicU64,
}

impl Default for Deliverer {
    fn default() -> Self {
        Deliverer {
            wake: tokio::sync::Notify::new(),
            locks: Mutex::new(HashMap::new()),
            acted: Mutex::new(HashMap::new()),
            interval_ms: AtomicU64::new(30_000),
            clusters: kubernetes::Clusters::default(),
            runtime: std::sync::OnceLock::new(),
            after_full_pass: std::sync::OnceLock::new(),
            rows_changed: AtomicU64::new(0),
        }
    }
}

/// How much of a location a pass covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every owner, and everything regcred holds there: finds what changed outside regcred
    /// (new namespaces, edited or deleted files and objects).
    Full,
    /// The owners written since the last pass (the store's change log); nothing when nothing
    /// changed. Falls back to full when no pass has run here yet.
    Changes,
}

/// One pull secret, rendered for this pass.
pub(crate) struct Source {
    pub record: SourceRecord,
    /// The rendered credential, or why this pull secret cannot be delivered this pass.
    pub result: Result<Rendered, driver::Failure>,
}

/// What a pass needs of a pull secret's stored record once its credential is rendered: the
/// sealed material, parameters and check results are left behind, so that a full pass over a
/// large location holds a few small strings per pull secret.
pub(crate) struct SourceRecord {
    pub id: String,
    pub project: String,
    pub name: String,
    pub server: String,
    pub revision: i64,
    pub created_at: i64,
}

impl From<PullSecretRecord> for SourceRecord {
    fn from(r: PullSecretRecord) -> SourceRecord {
        SourceRecord {
            id: r.id,
            project: r.project,
            name: r.name,
            server: r.server,
            revision: r.revision,
            created_at: r.created_at,
        }
    }
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
) -> Result<serde_json::Value, DeliveryError> {
    let kubectl = regcred_core::k8s_secret::secret(
        name,
        Some(namespace),
        &[auth],
        regcred_core::k8s_secret::OutputFormat::Json,
    )
    // Only the field name is kept: the error variants may carry the value.
    .map_err(|_| DeliveryError::Undeliverable {
        code: DeliveryCode::NotRenderable,
        message: format!("{name} cannot be rendered as a Secret"),
    })?;
    let revision = u64::try_from(revision).unwrap_or_default();
    regcred_core::delivery::secret_for_apply(
        &kubectl, location, project, owner_id, revision, digest,
    )
    .map_err(DeliveryError::internal)
}

/// A target that is an object: one in a cluster, or one a manifest file holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjectTarget {
    pub kind: ObjectKind,
    pub namespace: String,
    pub name: String,
}

impl ObjectTarget {
    pub fn secret(namespace: String, name: &str) -> ObjectTarget {
        ObjectTarget {
            kind: ObjectKind::Secret,
            namespace,
            name: name.to_owned(),
        }
    }

    pub fn deployment(namespace: String, name: &str) -> ObjectTarget {
        ObjectTarget {
            kind: ObjectKind::Deployment,
            namespace,
            name: name.to_owned(),
        }
    }
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
        let mut map = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(location.to_owned()).or_default().clone()
    }

    /// Runs every pass from now on on `runtime` (the server gives delivery a thread of its own).
    pub fn run_passes_on(&self, runtime: tokio::runtime::Handle) {
        let _ = self.runtime.set(runtime);
    }

    /// Has `then` called after every full pass, on the thread that ran it, once the pass has
    /// dropped what it held: the server gives the memory a pass over a large location freed back
    /// to the system there, rather than keeping it resident until the allocator looks again.
    pub fn after_full_pass(&self, then: fn()) {
        let _ = self.after_full_pass.set(then);
    }

    /// One pass over `location`, now.
    pub async fn sync(
        &self,
        state: &AppState,
        location: &str,
        coverage: Coverage,
    ) -> Result<SyncReport, DeliveryError> {
        let report = match self.runtime.get() {
            Some(runtime) => {
                let (state, location) = (state.clone(), location.to_owned());
                runtime
                    .spawn(
                        async move { state.deliverer().fenced(&state, &location, coverage).await },
                    )
                    .await
                    .map_err(DeliveryError::internal)?
            }
            None => self.fenced(state, location, coverage).await,
        };
        let Some(report) = report else {
            let lease = state.store().get_lease(crate::leader::LEASE).await?;
            return Err(DeliveryError::NotLeader(lease.and_then(|l| l.url)));
        };
        if !matches!(&report, Ok(None)) {
            state
                .metrics()
                .delivery_pass(matches!(&report, Ok(Some(r)) if r.errors == 0));
        }
        report.map(|r| {
            r.unwrap_or_else(|| SyncReport {
                location: location.to_owned(),
                ..SyncReport::default()
            })
        })
    }

    /// The pass, fenced by the leader's lease (passes are background work: the leader's), then,
    /// on the same thread, the [`Deliverer::after_full_pass`] hook for a full one. `None` when
    /// this server does not lead.
    async fn fenced(
        &self,
        state: &AppState,
        location: &str,
        coverage: Coverage,
    ) -> Option<Result<Option<SyncReport>, DeliveryError>> {
        let report = state
            .leadership()
            .fence_of(self.pass(state, location, coverage))
            .await;
        if let (Coverage::Full, Some(then)) = (coverage, self.after_full_pass.get()) {
            then();
        }
        report
    }

    /// The pass; `None` when it had nothing to do (no change since the last).
    async fn pass(
        &self,
        state: &AppState,
        location: &str,
        coverage: Coverage,
    ) -> Result<Option<SyncReport>, DeliveryError> {
        let lock = self.lock_for(location);
        let _guard = lock.lock().await;
        let Some(record) = state.store().get_location(location).await? else {
            return Err(DeliveryError::NoLocation(location.to_owned()));
        };
        let acted = self.acted_lock().get(location).copied();
        // Nothing changed: nothing else is read (the leader asks every second).
        let changes = match (coverage, acted) {
            (Coverage::Changes, Some(acted)) => {
                let changes = state.store().changes_since(location, acted).await?;
                if changes.owners.is_empty() {
                    return Ok(None);
                }
                Some(changes)
            }
            _ => None,
        };
        let workloads = workloads(state, &record).await?;
        let (scope, upto) = match changes {
            Some(changes) => {
                let mut scope: BTreeSet<String> = changes.owners.into_iter().collect();
                // A changed deployment's state mirrors its pull secrets' (Docker hosts).
                let used: Vec<String> = workloads
                    .iter()
                    .filter(|w| scope.contains(&w.record.id))
                    .flat_map(|w| w.spec.pull_secrets.iter().map(|p| p.id.clone()))
                    .collect();
                scope.extend(used);
                (Some(scope), changes.last)
            }
            // What changes while a full pass runs is acted on by the next one.
            _ => (None, state.store().last_change(location).await?),
        };
        let sources = sources(state, &record, scope.as_ref()).await?;
        let pass = driver::Pass {
            state,
            location: &record.name,
            scope: scope.as_ref(),
            sources: sources.iter().collect(),
            workloads: workloads.iter().collect(),
        };
        let result = match kind_of(&record)? {
            LocationKind::Kubernetes => {
                let mut backend = kubernetes::Kubernetes::new(state, &self.clusters, &record)?;
                driver::run(&pass, &mut backend).await
            }
            LocationKind::Docker => auth_file::pass(&pass, &record).await,
            LocationKind::Manifests => {
                let mut backend = manifests::Manifests::new(state, &record)?;
                driver::run(&pass, &mut backend).await
            }
        }?;
        // The projects of the owners the pass wrote or removed something for, which the audit
        // names: none after a pass that found everything up to date.
        let changed = pace::btree_set(
            result
                .applied
                .iter()
                .chain(&result.removed)
                .map(|c| c.owner_id.as_str()),
        );
        let projects = pace::btree_map(
            sources
                .iter()
                .map(|s| (s.record.id.as_str(), s.record.project.as_str()))
                .chain(
                    workloads
                        .iter()
                        .map(|w| (w.record.id.as_str(), w.record.project.as_str())),
                )
                .filter(|(id, _)| changed.contains(id)),
        );
        record::audit_pass(state, &record.name, &result, &projects).await?;
        // The rendered pull secrets go before recording reads the location's rows again.
        drop((projects, changed, pass));
        pace::drop_all(sources);
        let report = record::record_outcomes(state, &record.name, scope.as_ref(), result).await?;
        self.acted_lock().insert(location.to_owned(), upto);
        state.store().forget_changes(location, upto).await?;
        Ok(Some(report))
    }

    fn acted_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.acted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The background loop (the leader's): a pass over every location, then a wait for a wake,
    /// for `POLL` (changes written through other servers) or for the next full pass. A wake is
    /// followed by a quiet time — `COALESCE`, or as long as the last pass took if longer — so a
    /// burst of changes is a few passes, each covering the changes only; the pass at start and
    /// every `interval` after it is full. Shutdown drops a pass in flight: every write of a pass is whole on its own (a transaction, an
    /// atomic file replacement, an idempotent apply), and the changes it had not recorded as
    /// done are still there for the next start.
    pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let deliverer = state.deliverer();
        let mut full_at = tokio::time::Instant::now();
        loop {
            let started = tokio::time::Instant::now();
            let coverage = match started >= full_at {
                true => {
                    let interval = deliverer.interval_ms.load(Ordering::Relaxed);
                    full_at = started + Duration::from_millis(interval);
                    Coverage::Full
                }
                false => Coverage::Changes,
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = deliverer.sync_all(&state, coverage) => {}
            }
            // During a burst, passes take at most about half of the time: a wake waits as long
            // as the last pass took, and never less than COALESCE.
            let quiet = started.elapsed().max(COALESCE);
            tokio::select! {
                _ = &mut shutdown => return,
                _ = deliverer.wake.notified() => {
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(quiet) => {}
                    }
                }
                // Changes written through other servers on the same database wake nobody here:
                // the change log is asked for them (a pass with no change reads nothing more).
                _ = tokio::time::sleep(POLL.max(quiet)) => {}
                _ = tokio::time::sleep_until(full_at) => {}
            }
        }
    }

    async fn sync_all(&self, state: &AppState, coverage: Coverage) {
        match state.store().list_locations().await {
            Ok(locations) => {
                for location in locations {
                    if let Err(e) = self.sync(state, &location.name, coverage).await {
                        tracing::warn!(
                            location = %location.name,
                            error = %crate::error::ErrorChain(&e),
                            "delivery pass failed"
                        );
                    }
                }
            }
            Err(e) => tracing::warn!("delivery: cannot list locations: {e}"),
        }
    }
}

/// The least time the background loop lets changes gather after a wake before it passes.
const COALESCE: Duration = Duration::from_millis(100);
/// How often the background loop asks the change log for changes made through other servers.
const POLL: Duration = Duration::from_secs(1);

/// The kind of a stored location; one this regcred does not know is an error, never a default.
fn kind_of(r: &LocationRecord) -> Result<LocationKind, DeliveryError> {
    LocationKind::parse(&r.kind).ok_or_else(|| {
        DeliveryError::Unreadable(format!(
            "location {} has the unknown kind {:?}",
            r.name, r.kind
        ))
    })
}

/// The pull secrets of a location (those of `scope` only, when given), oldest first (the first
/// to claim a target keeps it), each rendered once. `public` pull secrets hold no credentials
/// and are delivered nowhere. The records are read a page at a time — a full pass in id order,
/// which no rename can move — so only one page is held as stored records, the rest as
/// [`SourceRecord`]s.
async fn sources(
    state: &AppState,
    location: &LocationRecord,
    scope: Option<&BTreeSet<String>>,
) -> Result<Vec<Source>, DeliveryError> {
    let mut out = Vec::new();
    match scope {
        None => {
            let mut after: Option<String> = None;
            loop {
                let page = state
                    .store()
                    .pull_secrets_by_id_page(&location.name, after.as_deref(), SOURCE_PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                add_sources(state, location, page, &mut out).await?;
            }
        }
        Some(ids) => {
            let ids: Vec<String> = ids.iter().cloned().collect();
            for chunk in ids.chunks(SOURCE_PAGE as usize) {
                let records = state.store().pull_secrets_by_ids(chunk).await?;
                add_sources(state, location, records, &mut out).await?;
            }
        }
    }
    // Oldest first (the first to want a target keeps it), ordered one insert at a time: a sort
    // of 100,000 sources would hold the core for tens of milliseconds without a pace point.
    let ordered = pace::btree_map(
        out.into_iter()
            .map(|s| ((s.record.created_at, s.record.id.clone()), s)),
    );
    Ok(ordered.into_values().collect())
}

/// How many pull secrets a pass reads at a time: on PostgreSQL a page of 500 kept the database
/// server's process busy for milliseconds at a stretch, which a paced pass cannot shorten.
const SOURCE_PAGE: u32 = 100;

/// Renders those of `records` that are delivered at `location`, onto `out`.
async fn add_sources(
    state: &AppState,
    location: &LocationRecord,
    records: Vec<PullSecretRecord>,
    out: &mut Vec<Source>,
) -> Result<(), DeliveryError> {
    for record in records {
        pace::point();
        if record.location != location.name || record.kind == Kind::Public.as_str() {
            continue;
        }
        let result = match render(state, &record).await {
            Ok(rendered) => Ok(rendered),
            Err(DeliveryError::Undeliverable { code, message }) => {
                Err(driver::Failure::error(code, message))
            }
            Err(other) => return Err(other),
        };
        out.push(Source {
            record: record.into(),
            result,
        });
    }
    Ok(())
}

/// A pull secret's credential as every delivery uses it; minted credentials come from the
/// refresher (its cache while usable), so rendering never mints per target.
async fn render(state: &AppState, record: &PullSecretRecord) -> Result<Rendered, DeliveryError> {
    let (credential, current) = credential(state, record).await?;
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

async fn workloads(
    state: &AppState,
    location: &LocationRecord,
) -> Result<Vec<Workload>, DeliveryError> {
    let records = state
        .store()
        .list_deployments(None, Some(&location.name))
        .await?;
    records
        .into_iter()
        .map(|record| {
            let spec = serde_json::from_str(&record.spec).map_err(DeliveryError::internal)?;
            Ok(Workload { record, spec })
        })
        .collect()
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

/// A pull secret's credential for delivery: opened through the vault and, for short-lived kinds,
/// the current one from the refresher. A failure makes the pull secret undeliverable this pass
/// (see [`DeliveryError::undeliverable`]).
async fn credential(
    state: &AppState,
    record: &PullSecretRecord,
) -> Result<(Credential, Current), DeliveryError> {
    let credential =
        crate::service::pull_secrets::open(state, record).map_err(DeliveryError::undeliverable)?;
    let current = state
        .refresher()
        .current(state, record, &credential)
        .await
        .map_err(DeliveryError::undeliverable)?;
    Ok((credential, current))
}
