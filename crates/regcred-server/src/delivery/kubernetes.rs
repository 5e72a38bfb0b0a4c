//! Delivery to a Kubernetes cluster: a Secret of type `kubernetes.io/dockerconfigjson` per pull
//! secret in each of its project's namespaces (the location's namespace template, plus the
//! namespaces its selector matches), written with server-side apply under field manager
//! `regcred`; the pull secret added to the chosen ServiceAccounts; Deployments applied with
//! `imagePullSecrets`.
//!
//! Ownership is read off the cluster: regcred's objects carry `app.kubernetes.io/managed-by:
//! regcred`, the location's label and the owner's id. One labelled list per kind finds them all;
//! a wanted object that is not in that list is looked up by name, and if something is there
//! regcred does not own it and leaves it alone. Creating applies without `force` (a conflict
//! means someone else got there first); updating regcred's own object applies with `force` and the
//! observed `resourceVersion`, so an object replaced since it was read is not overwritten.
//! Deleting carries `uid` and `resourceVersion` preconditions for the same reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use regcred_core::api::{DeliveryState, KubernetesSpec};
use regcred_core::codes::DeliveryCode;
use regcred_core::delivery::{
    self, namespace_for, owner_of, Desired, LabelSelector, Observed, Owner, Refusal,
};
use regcred_core::k8s_secret::DockerAuth;
use regcred_k8s::{Cluster, KubeError, ObjectKind};
use regcred_store::LocationRecord;
use serde_json::Value;

use super::driver::{
    Backend, Done, Executed, Failure, Job, Outcome, Pass, Place, Placed, Settled, Step, Wanted,
};
use super::{
    platform, secret_object, DeliveryError, ObjectTarget, Rendered, SourceRecord, Workload,
};
use crate::AppState;

/// How many requests a pass keeps in flight.
const CONCURRENCY: usize = 16;

/// Connected clusters, by location spec, so a pass does not read the kubeconfig again.
#[derive(Default)]
pub(crate) struct Clusters(Mutex<HashMap<String, Cluster>>);

impl Clusters {
    async fn get(&self, spec_json: &str, spec: &KubernetesSpec) -> Result<Cluster, KubeError> {
        if let Some(c) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(spec_json)
        {
            return Ok(c.clone());
        }
        let cluster = Cluster::connect(
            spec.kubeconfig.as_deref().map(Path::new),
            spec.context.as_deref(),
        )
        .await?;
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(spec_json.to_owned(), cluster.clone());
        Ok(cluster)
    }

    /// Drops a cached connection, so the next pass reads the kubeconfig again (its credentials
    /// may have been rotated).
    fn forget(&self, spec_json: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(spec_json);
    }
}

/// The row name of a target in a cluster (`secret:<ns>/<name>`, …).
fn target_name(t: &ObjectTarget) -> String {
    let kind = match t.kind {
        ObjectKind::Secret => "secret",
        ObjectKind::ServiceAccount => "serviceaccount",
        ObjectKind::Deployment => "deployment",
    };
    format!("{kind}:{}/{}", t.namespace, t.name)
}

fn owner_annotation(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Deployment => delivery::DEPLOYMENT_ANNOTATION,
        _ => delivery::PULL_SECRET_ANNOTATION,
    }
}

/// What an observed object of regcred's was, for the preconditions of its update or delete.
#[derive(Clone, Default)]
struct Version {
    uid: String,
    resource_version: String,
}

/// A Kubernetes location: one cluster, reached with the location's kubeconfig.
pub(super) struct Kubernetes<'a> {
    state: &'a AppState,
    clusters: &'a Clusters,
    location: &'a LocationRecord,
    spec: KubernetesSpec,
    /// Set by `prepare`.
    cluster: Option<Cluster>,
    /// The cluster's namespaces and their labels.
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    versions: BTreeMap<ObjectTarget, Version>,
}

impl<'a> Kubernetes<'a> {
    pub fn new(
        state: &'a AppState,
        clusters: &'a Clusters,
        location: &'a LocationRecord,
    ) -> Result<Self, DeliveryError> {
        Ok(Kubernetes {
            state,
            clusters,
            location,
            spec: serde_json::from_str(&location.spec).map_err(DeliveryError::internal)?,
            cluster: None,
            namespaces: BTreeMap::new(),
            versions: BTreeMap::new(),
        })
    }

    fn home(&self, project: &str) -> String {
        namespace_for(&self.spec.namespace_template, project)
    }

    fn cluster(&self) -> Result<Cluster, Failure> {
        self.cluster.clone().ok_or_else(|| {
            Failure::error(
                DeliveryCode::ClusterUnreachable,
                "not connected to the cluster",
            )
        })
    }

    /// Whatever regcred owns in the cluster for this location, by label; records versions.
    async fn list_own(
        &mut self,
        cluster: &Cluster,
    ) -> Result<Vec<Observed<ObjectTarget>>, KubeError> {
        let selector = format!(
            "{}={},{}={}",
            delivery::MANAGED_BY_LABEL,
            delivery::MANAGED_BY,
            delivery::LOCATION_LABEL,
            self.location.name
        );
        let mut observed = Vec::new();
        for kind in [ObjectKind::Secret, ObjectKind::Deployment] {
            for object in cluster.list(kind, &selector).await? {
                let meta = &object["metadata"];
                let field = |name: &str| meta[name].as_str().unwrap_or_default().to_owned();
                let t = ObjectTarget {
                    kind,
                    namespace: field("namespace"),
                    name: field("name"),
                };
                let version = Version {
                    uid: field("uid"),
                    resource_version: field("resourceVersion"),
                };
                self.versions.insert(t.clone(), version);
                observed.push(Observed {
                    owner: owner_of(&object, &self.location.name, owner_annotation(kind)),
                    target: t,
                });
            }
        }
        Ok(observed)
    }
}

impl Backend for Kubernetes<'_> {
    type Target = ObjectTarget;
    type Content = Value;
    // An unreachable cluster still holds what was delivered: the rows stay, marked.
    const KEEPS_ROWS: bool = true;
    const BATCH: Option<usize> = Some(1000);

    fn row(&self, t: &ObjectTarget) -> String {
        target_name(t)
    }

    async fn prepare(&mut self) -> Result<(), Failure> {
        let connected = async {
            let cluster = self.clusters.get(&self.location.spec, &self.spec).await?;
            let namespaces = cluster.namespaces().await?;
            Ok::<_, KubeError>((cluster, namespaces))
        };
        match connected.await {
            Ok((cluster, namespaces)) => {
                self.cluster = Some(cluster);
                self.namespaces = namespaces.into_iter().map(|n| (n.name, n.labels)).collect();
                Ok(())
            }
            Err(e) => {
                self.clusters.forget(&self.location.spec);
                Err(unreachable(&e))
            }
        }
    }

    fn home(&self, record: &SourceRecord) -> ObjectTarget {
        ObjectTarget::secret(self.home(&record.project), &record.name)
    }

    fn workload_home(&self, w: &Workload) -> Option<ObjectTarget> {
        Some(ObjectTarget::deployment(
            self.home(&w.record.project),
            &w.record.name,
        ))
    }

    /// The project's namespace under the template, and every other namespace its selector
    /// matches.
    fn secret_targets(&self, record: &SourceRecord) -> Vec<Place<ObjectTarget>> {
        let home = self.home(&record.project);
        let mut places = Vec::new();
        if self.namespaces.contains_key(&home) {
            places.push(Place::At(ObjectTarget::secret(home.clone(), &record.name)));
        } else {
            let t = ObjectTarget::secret(home.clone(), &record.name);
            places.push(Place::Pending(t, namespace_missing(&home)));
        }
        let selector =
            self.spec.namespace_selector.as_deref().and_then(|s| {
                LabelSelector::parse(&delivery::for_project(s, &record.project)).ok()
            });
        if let Some(selector) = selector {
            places.extend(
                self.namespaces
                    .iter()
                    .filter(|(name, labels)| **name != home && selector.matches(labels))
                    .map(|(name, _)| Place::At(ObjectTarget::secret(name.clone(), &record.name))),
            );
        }
        places
    }

    fn workload(&self, w: &Workload) -> Option<Placed<ObjectTarget, Value>> {
        let home = self.home(&w.record.project);
        let t = ObjectTarget::deployment(home.clone(), &w.record.name);
        if !self.namespaces.contains_key(&home) {
            return Some(Placed::Pending(t, namespace_missing(&home)));
        }
        let (content, digest) = w.object(self.state, &home, &self.location.name);
        Some(Placed::At(t, Wanted { content, digest }))
    }

    fn platform_target(&self, project: &str) -> Option<ObjectTarget> {
        let home = self.home(project);
        self.namespaces
            .contains_key(&home)
            .then(|| ObjectTarget::secret(home, platform::SECRET_NAME))
    }

    fn secret_content(
        &self,
        t: &ObjectTarget,
        r: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<Value, Failure>, DeliveryError> {
        secret_object(
            &r.name,
            &t.namespace,
            rendered.auth(),
            &self.location.name,
            &r.project,
            &r.id,
            r.revision,
            &rendered.digest,
        )
        .map(Ok)
    }

    fn platform_content(
        &self,
        t: &ObjectTarget,
        project: &str,
        auth: DockerAuth<'_>,
        token_id: &str,
    ) -> Result<Value, DeliveryError> {
        secret_object(
            platform::SECRET_NAME,
            &t.namespace,
            auth,
            &self.location.name,
            project,
            &platform::owner_id(project),
            0,
            token_id,
        )
    }

    /// regcred's own objects by label, then whatever stands where regcred wants to write.
    async fn observe(
        &mut self,
        wanted: &BTreeSet<ObjectTarget>,
    ) -> Result<Vec<Observed<ObjectTarget>>, Failure> {
        let cluster = self.cluster()?;
        let mut observed = self.list_own(&cluster).await.map_err(|e| unreachable(&e))?;
        let unseen: Vec<ObjectTarget> = wanted
            .iter()
            .filter(|t| !self.versions.contains_key(t))
            .cloned()
            .collect();
        let found = in_parallel(unseen, |t| {
            let cluster = cluster.clone();
            async move {
                let got = cluster.get(t.kind, &t.namespace, &t.name).await;
                (t, got)
            }
        })
        .await;
        for (t, got) in found {
            match got {
                Ok(Some(_)) => observed.push(Observed {
                    target: t,
                    owner: Owner::Other,
                }),
                Ok(None) => {}
                Err(e) => return Err(unreachable(&e)),
            }
        }
        Ok(observed)
    }

    fn refused(&self, desired: &Desired<ObjectTarget>, refusal: &Refusal) -> Failure {
        refused(&desired.target, refusal)
    }

    async fn execute(
        &mut self,
        jobs: Vec<Job<ObjectTarget, Value>>,
    ) -> Result<Executed<ObjectTarget>, DeliveryError> {
        let cluster = match self.cluster() {
            Ok(cluster) => cluster,
            Err(why) => return Ok(Executed::Site(why)),
        };
        let jobs: Vec<(Job<ObjectTarget, Value>, Option<Version>)> = jobs
            .into_iter()
            .map(|job| {
                let target = match &job {
                    Job::Apply { desired, .. } => &desired.target,
                    Job::Delete { target, .. } => target,
                };
                let version = self.versions.get(target).cloned();
                (job, version)
            })
            .collect();
        let done = in_parallel(jobs, |(job, version)| {
            let cluster = cluster.clone();
            async move { run_job(&cluster, job, version).await }
        })
        .await;
        Ok(Executed::Each(done))
    }

    fn follows_up(&self) -> bool {
        !self.spec.service_accounts.is_empty()
    }

    async fn finish(
        &mut self,
        pass: &Pass<'_>,
        settled: &[Settled<ObjectTarget>],
        deleted: &[Done<ObjectTarget>],
    ) -> Result<Vec<Outcome>, DeliveryError> {
        if self.spec.service_accounts.is_empty() {
            return Ok(Vec::new());
        }
        let Ok(cluster) = self.cluster() else {
            return Ok(Vec::new());
        };
        // The rows of the owners whose Secrets stood unchanged: of the whole location after a
        // full pass, of those few owners after a pass for changes.
        let previous = match pass.scope {
            None => {
                pass.state
                    .store()
                    .list_deliveries(Some(pass.location), None)
                    .await?
            }
            Some(_) => {
                let owners: BTreeSet<String> = settled
                    .iter()
                    .filter(|s| !s.just_applied && s.target.kind == ObjectKind::Secret)
                    .map(|s| s.owner_id.clone())
                    .collect();
                super::record::owner_rows(pass.state, pass.location, &owners).await?
            }
        };
        let delivered_before: BTreeSet<(&str, &str)> = previous
            .iter()
            .filter(|r| r.state == DeliveryState::Delivered.as_str())
            .map(|r| (r.target.as_str(), r.owner_id.as_str()))
            .collect();
        let (accounts, mut outcomes) = account_changes(
            &self.spec.service_accounts,
            settled,
            deleted,
            &delivered_before,
        );
        let done = in_parallel(accounts.into_iter().collect(), |((ns, sa), change)| {
            let cluster = cluster.clone();
            async move { service_account(&cluster, &ns, &sa, change).await }
        })
        .await;
        outcomes.extend(done.into_iter().flatten());
        Ok(outcomes)
    }
}

/// Runs one job against the cluster: an update carries the observed `resourceVersion`, a delete
/// the observed `uid` and `resourceVersion` as preconditions.
async fn run_job(
    cluster: &Cluster,
    job: Job<ObjectTarget, Value>,
    version: Option<Version>,
) -> Done<ObjectTarget> {
    match job {
        Job::Apply {
            desired,
            mut content,
            exists,
        } => {
            if let (true, Some(version)) = (exists, version) {
                content["metadata"]["resourceVersion"] = Value::String(version.resource_version);
            }
            let t = &desired.target;
            let result = match cluster
                .apply(t.kind, &t.namespace, &t.name, &content, exists)
                .await
            {
                Ok(_) => Ok(Step::Applied),
                Err(e) => Err(match e.status() {
                    Some(404) => namespace_missing(&t.namespace),
                    Some(409) if !exists => refused(t, &Refusal::NotOwned),
                    _ => Failure::error(DeliveryCode::ApplyFailed, e.to_string()),
                }),
            };
            Done {
                target: desired.target,
                owner_id: desired.owner_id,
                digest: desired.digest,
                result,
            }
        }
        Job::Delete { target, owner_id } => {
            let t = &target;
            let version = version.unwrap_or_default();
            let deleted = cluster
                .delete(
                    t.kind,
                    &t.namespace,
                    &t.name,
                    &version.uid,
                    &version.resource_version,
                )
                .await;
            let result = match deleted {
                Ok(()) => Ok(Step::Removed),
                Err(e) if e.status() == Some(404) => Ok(Step::Removed),
                Err(e) => Err(Failure::error(DeliveryCode::DeleteFailed, e.to_string())),
            };
            Done {
                target,
                owner_id,
                digest: String::new(),
                result,
            }
        }
    }
}

/// One Secret to add to a ServiceAccount, with its owner and revision (for the outcome).
struct Addition {
    name: String,
    owner_id: String,
    revision: i64,
}

/// What one pass changes in one ServiceAccount: Secrets to add and Secrets to take out.
#[derive(Default)]
struct AccountChange {
    add: Vec<Addition>,
    remove: Vec<String>,
}

/// All of a pass's changes to each ServiceAccount (one patch per account), keyed by (namespace,
/// account); and the outcomes of additions that were delivered before and stand unchanged.
fn account_changes(
    accounts: &[String],
    settled: &[Settled<ObjectTarget>],
    deleted: &[Done<ObjectTarget>],
    delivered_before: &BTreeSet<(&str, &str)>,
) -> (BTreeMap<(String, String), AccountChange>, Vec<Outcome>) {
    let mut changes: BTreeMap<(String, String), AccountChange> = BTreeMap::new();
    let mut outcomes = Vec::new();
    for s in settled
        .iter()
        .filter(|s| s.target.kind == ObjectKind::Secret)
    {
        let t = &s.target;
        for sa in accounts {
            let sa_target = format!("serviceaccount:{}/{sa}", t.namespace);
            if !s.just_applied
                && delivered_before.contains(&(sa_target.as_str(), s.owner_id.as_str()))
            {
                outcomes.push(Outcome::delivered(sa_target, &s.owner_id, s.revision, ""));
                continue;
            }
            let change = changes
                .entry((t.namespace.clone(), sa.clone()))
                .or_default();
            change.add.push(Addition {
                name: t.name.clone(),
                owner_id: s.owner_id.clone(),
                revision: s.revision,
            });
        }
    }
    for d in deleted
        .iter()
        .filter(|d| d.target.kind == ObjectKind::Secret)
    {
        for sa in accounts {
            let change = changes
                .entry((d.target.namespace.clone(), sa.clone()))
                .or_default();
            change.remove.push(d.target.name.clone());
        }
    }
    (changes, outcomes)
}

/// Applies `change` to the ServiceAccount `sa` in `ns` with one JSON Patch; answers the outcome
/// of every addition.
async fn service_account(
    cluster: &Cluster,
    ns: &str,
    sa: &str,
    change: AccountChange,
) -> Vec<Outcome> {
    let t = format!("serviceaccount:{ns}/{sa}");
    let each = |why: Failure| -> Vec<Outcome> {
        change
            .add
            .iter()
            .map(|a| Outcome::failed(t.clone(), &a.owner_id, why.clone()))
            .collect()
    };
    let account = match cluster.get(ObjectKind::ServiceAccount, ns, sa).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            let message = format!("service account {sa} does not exist in namespace {ns} yet");
            return each(Failure::pending(
                DeliveryCode::ServiceAccountMissing,
                message,
            ));
        }
        Err(e) => return each(Failure::error(DeliveryCode::PatchFailed, e.to_string())),
    };
    let add: Vec<&str> = change.add.iter().map(|a| a.name.as_str()).collect();
    let remove: Vec<&str> = change.remove.iter().map(String::as_str).collect();
    if let Some(patch) = delivery::service_account_patch(&account, &add, &remove) {
        if let Err(e) = cluster
            .json_patch(ObjectKind::ServiceAccount, ns, sa, &patch)
            .await
        {
            // A failed `test` (the account changed since it was read) is retried next pass.
            return each(Failure::error(DeliveryCode::PatchFailed, e.to_string()));
        }
    }
    change
        .add
        .iter()
        .map(|a| Outcome::delivered(t.clone(), &a.owner_id, a.revision, ""))
        .collect()
}

fn namespace_missing(namespace: &str) -> Failure {
    Failure::pending(
        DeliveryCode::NamespaceMissing,
        format!("namespace {namespace} does not exist yet; delivered when it appears"),
    )
}

fn refused(t: &ObjectTarget, refusal: &Refusal) -> Failure {
    let (ns, name) = (&t.namespace, &t.name);
    let what = match t.kind {
        ObjectKind::Deployment => "Deployment",
        _ => "Secret",
    };
    match refusal {
        Refusal::NotOwned => Failure::error(
            DeliveryCode::NotOwned,
            format!(
                "a {what} {name} already exists in namespace {ns} and regcred does not own it (no {}={} label for this location); regcred leaves it alone — rename the pull secret, or delete that {what}",
                delivery::MANAGED_BY_LABEL,
                delivery::MANAGED_BY
            ),
        ),
        // The other owner may belong to another project: it is not named.
        Refusal::OwnedByOther { .. } => Failure::error(
            DeliveryCode::OwnedByOther,
            format!("{what} {ns}/{name} is delivered from another pull secret of the same name, which keeps it; two pull secrets of that name target this namespace"),
        ),
    }
}

/// The cluster could not be reached, or its kubeconfig not used.
fn unreachable(e: &KubeError) -> Failure {
    let code = match e {
        KubeError::Config(_) => DeliveryCode::KubeconfigInvalid,
        _ => DeliveryCode::ClusterUnreachable,
    };
    Failure::error(code, e.to_string())
}

/// Runs `f` on every item with at most [`CONCURRENCY`] in flight; results in completion order.
async fn in_parallel<I, F, Fut, O>(items: Vec<I>, f: F) -> Vec<O>
where
    I: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for item in items {
        let fut = f(item);
        let limit = limit.clone();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            fut.await
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(o) => out.push(o),
            Err(e) => tracing::error!("delivery task failed: {e}"),
        }
    }
    out
}
