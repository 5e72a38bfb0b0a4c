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

use regcred_core::api::{DeliveryState, KubernetesSpec, Resolution};
use regcred_core::delivery::{
    self, namespace_for, owner_of, plan, Action, Desired, LabelSelector, Observed, Owner, Refusal,
};
use regcred_k8s::{Cluster, KubeError, ObjectKind};
use regcred_store::LocationRecord;
use serde_json::Value;

use super::{platform, secret_object, unrenderable, Outcome, PassResult, Source, Workload};
use crate::error::ApiError;
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
            .unwrap_or_else(|p| p.into_inner())
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
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec_json.to_owned(), cluster.clone());
        Ok(cluster)
    }

    /// Drops a cached connection, so the next pass reads the kubeconfig again (its credentials
    /// may have been rotated).
    fn forget(&self, spec_json: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(spec_json);
    }
}

/// A target in a cluster.
type Target = (ObjectKind, String, String);

fn target_name(t: &Target) -> String {
    let kind = match t.0 {
        ObjectKind::Secret => "secret",
        ObjectKind::ServiceAccount => "serviceaccount",
        ObjectKind::Deployment => "deployment",
    };
    format!("{kind}:{}/{}", t.1, t.2)
}

fn owner_annotation(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Deployment => delivery::DEPLOYMENT_ANNOTATION,
        _ => delivery::PULL_SECRET_ANNOTATION,
    }
}

/// What a desired target is applied with.
struct Wanted {
    object: Value,
    revision: i64,
}

pub(super) async fn pass(
    state: &AppState,
    clusters: &Clusters,
    location: &LocationRecord,
    sources: &[Source],
    workloads: &[Workload],
) -> Result<PassResult, ApiError> {
    let spec: KubernetesSpec =
        serde_json::from_str(&location.spec).map_err(|e| ApiError::internal(&e))?;
    let loc = location.name.as_str();
    let connected = async {
        let cluster = clusters.get(&location.spec, &spec).await?;
        let namespaces = cluster.namespaces().await?;
        Ok::<_, KubeError>((cluster, namespaces))
    };
    // What the pass is known to want without asking the cluster — each pull secret's Secret and
    // each deployment in its project's namespace, plus whatever it has planned so far — built
    // only when the cluster cannot be reached, so that even a first pass says why everywhere.
    let known = |planned: &[Desired<Target>]| -> Vec<(Target, String)> {
        let home = |project: &str| namespace_for(&spec.namespace_template, project);
        sources
            .iter()
            .map(|s| {
                let t = (
                    ObjectKind::Secret,
                    home(&s.record.project),
                    s.record.name.clone(),
                );
                (t, s.record.id.clone())
            })
            .chain(workloads.iter().map(|w| {
                let t = (
                    ObjectKind::Deployment,
                    home(&w.record.project),
                    w.record.name.clone(),
                );
                (t, w.record.id.clone())
            }))
            .chain(
                planned
                    .iter()
                    .map(|d| (d.target.clone(), d.owner_id.clone())),
            )
            .collect()
    };
    let (cluster, namespaces) = match connected.await {
        Ok(c) => c,
        Err(e) => {
            clusters.forget(&location.spec);
            return unreachable(state, loc, &e, &known(&[])).await;
        }
    };
    let namespace_labels: BTreeMap<&str, &BTreeMap<String, String>> = namespaces
        .iter()
        .map(|n| (n.name.as_str(), &n.labels))
        .collect();
    let targets_of = |project: &str| -> (String, Vec<String>) {
        let home = namespace_for(&spec.namespace_template, project);
        let mut all = Vec::new();
        if namespace_labels.contains_key(home.as_str()) {
            all.push(home.clone());
        }
        let selector = spec
            .namespace_selector
            .as_deref()
            .and_then(|s| LabelSelector::parse(&delivery::for_project(s, project)).ok());
        if let Some(selector) = selector {
            all.extend(
                namespace_labels
                    .iter()
                    .filter(|(name, labels)| **name != home && selector.matches(labels))
                    .map(|(name, _)| (*name).to_owned()),
            );
        }
        (home, all)
    };

    let mut outcomes = Vec::new();
    let mut desired: Vec<Desired<Target>> = Vec::new();
    let mut wanted: BTreeMap<Target, Wanted> = BTreeMap::new();
    let mut held: BTreeSet<Target> = BTreeSet::new();
    for s in sources {
        let r = &s.record;
        let (home, namespaces) = targets_of(&r.project);
        if !namespace_labels.contains_key(home.as_str()) {
            outcomes.push(namespace_missing(
                (ObjectKind::Secret, home, r.name.clone()),
                &r.id,
            ));
        }
        for ns in namespaces {
            let t: Target = (ObjectKind::Secret, ns, r.name.clone());
            match &s.result {
                Ok(rendered) => {
                    let object = secret_object(
                        &r.name,
                        &t.1,
                        rendered.auth(),
                        loc,
                        &r.project,
                        &r.id,
                        r.revision,
                        &rendered.digest,
                    )?;
                    desired.push(Desired {
                        target: t.clone(),
                        owner_id: r.id.clone(),
                        digest: rendered.digest.clone(),
                    });
                    wanted.insert(
                        t,
                        Wanted {
                            object,
                            revision: r.revision,
                        },
                    );
                }
                Err(why) => {
                    outcomes.push(unrenderable(target_name(&t), r, why));
                    held.insert(t);
                }
            }
        }
    }
    for w in workloads {
        let d = &w.record;
        let home = namespace_for(&spec.namespace_template, &d.project);
        let t: Target = (ObjectKind::Deployment, home, d.name.clone());
        if !namespace_labels.contains_key(t.1.as_str()) {
            outcomes.push(namespace_missing(t, &d.id));
            continue;
        }
        let (object, digest) = w.object(state, &t.1, loc);
        desired.push(Desired {
            target: t.clone(),
            owner_id: d.id.clone(),
            digest: digest.clone(),
        });
        wanted.insert(
            t,
            Wanted {
                object,
                revision: d.revision,
            },
        );
    }

    // The platform credential of each project that deploys from its own platform registry.
    let platform_projects: BTreeSet<&str> = workloads
        .iter()
        .filter(|w| w.spec.resolution == Resolution::PlatformRegistry)
        .map(|w| w.record.project.as_str())
        .collect();
    let platform_targets: Vec<(Target, &str)> = platform_projects
        .into_iter()
        .map(|project| {
            let ns = namespace_for(&spec.namespace_template, project);
            (
                (ObjectKind::Secret, ns, platform::SECRET_NAME.to_owned()),
                project,
            )
        })
        .filter(|(t, _)| namespace_labels.contains_key(t.1.as_str()))
        .collect();

    // Observe: regcred's own objects by label, then whatever stands where regcred wants to write.
    let selector = format!(
        "{}={},{}={loc}",
        delivery::MANAGED_BY_LABEL,
        delivery::MANAGED_BY,
        delivery::LOCATION_LABEL
    );
    let mut observed: Vec<Observed<Target>> = Vec::new();
    let mut versions: BTreeMap<Target, (String, String)> = BTreeMap::new();
    for kind in [ObjectKind::Secret, ObjectKind::Deployment] {
        let objects = match cluster.list(kind, &selector).await {
            Ok(objects) => objects,
            Err(e) => return unreachable(state, loc, &e, &known(&desired)).await,
        };
        for object in objects {
            let meta = &object["metadata"];
            let t: Target = (
                kind,
                meta["namespace"].as_str().unwrap_or_default().to_owned(),
                meta["name"].as_str().unwrap_or_default().to_owned(),
            );
            versions.insert(
                t.clone(),
                (
                    meta["uid"].as_str().unwrap_or_default().to_owned(),
                    meta["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
            );
            observed.push(Observed {
                owner: owner_of(&object, loc, owner_annotation(kind)),
                target: t,
            });
        }
    }
    let unseen: Vec<Target> = desired
        .iter()
        .map(|d| d.target.clone())
        .chain(platform_targets.iter().map(|(t, _)| t.clone()))
        .filter(|t| !versions.contains_key(t))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = in_parallel(unseen, |t| {
        let cluster = cluster.clone();
        async move {
            let got = cluster.get(t.0, &t.1, &t.2).await;
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
            Err(e) => return unreachable(state, loc, &e, &known(&desired)).await,
        }
    }

    let mut minted: BTreeMap<Target, (&str, String, Option<String>)> = BTreeMap::new();
    if let Some(registry) = state.platform().map(|p| p.config.registry.clone()) {
        for (t, project) in &platform_targets {
            let seen = observed.iter().find(|o| o.target == *t).map(|o| &o.owner);
            let decision = platform::decide(state, seen, project, loc).await?;
            let owner = platform::owner_id(project);
            if let platform::Decision::Mint {
                token_id,
                secret,
                previous,
            } = &decision
            {
                let auth = platform::auth(&registry, secret);
                let object = secret_object(
                    platform::SECRET_NAME,
                    &t.1,
                    auth,
                    loc,
                    project,
                    &owner,
                    0,
                    token_id,
                )?;
                wanted.insert(
                    t.clone(),
                    Wanted {
                        object,
                        revision: 0,
                    },
                );
                minted.insert(t.clone(), (*project, token_id.clone(), previous.clone()));
            }
            desired.push(Desired {
                target: t.clone(),
                owner_id: owner,
                digest: decision.digest().to_owned(),
            });
        }
    }
    // What regcred's own objects hold, for revoking the platform tokens of removed ones.
    let held_tokens: BTreeMap<Target, String> = observed
        .iter()
        .filter_map(|o| match &o.owner {
            Owner::Regcred { owner_id, digest } if owner_id.starts_with("platform:") => {
                Some((o.target.clone(), digest.clone()))
            }
            _ => None,
        })
        .collect();

    let plan = plan(&desired, &observed);
    let mut result = PassResult {
        up_to_date: plan.up_to_date.len() as u64,
        ..PassResult::default()
    };
    let mut settled: Vec<(Target, String)> = Vec::new();
    for d in &plan.up_to_date {
        let revision = wanted.get(&d.target).map_or(0, |w| w.revision);
        outcomes.push(Outcome::delivered(
            target_name(&d.target),
            &d.owner_id,
            revision,
            &d.digest,
        ));
        settled.push((d.target.clone(), d.owner_id.clone()));
    }
    let mut jobs = Vec::new();
    for action in plan.actions {
        match action {
            Action::Refuse { desired, refusal } => outcomes.push(refused(&desired, &refusal)),
            Action::Apply { desired, exists } if !held.contains(&desired.target) => {
                let Some(w) = wanted.get(&desired.target) else {
                    continue;
                };
                let mut object = w.object.clone();
                if exists {
                    if let Some((_, rv)) = versions.get(&desired.target) {
                        object["metadata"]["resourceVersion"] = Value::String(rv.clone());
                    }
                }
                jobs.push(Job::Apply {
                    desired,
                    object,
                    exists,
                    revision: w.revision,
                });
            }
            Action::Delete { target, owner_id } if !held.contains(&target) => {
                let (uid, rv) = versions.get(&target).cloned().unwrap_or_default();
                jobs.push(Job::Delete {
                    target,
                    owner_id,
                    uid,
                    rv,
                });
            }
            _ => {}
        }
    }
    let done = in_parallel(jobs, |job| {
        let cluster = cluster.clone();
        async move { job.run(&cluster).await }
    })
    .await;
    let mut deleted = Vec::new();
    for (job, outcome) in done {
        match job {
            JobDone::Applied { target, owner_id } => {
                result
                    .applied
                    .push((target_name(&target), owner_id.clone()));
                settled.push((target, owner_id));
            }
            JobDone::Deleted { target, owner_id } => {
                result
                    .removed
                    .push((target_name(&target), owner_id.clone()));
                deleted.push((target, owner_id));
            }
            JobDone::Failed { target } => {
                // A token minted for an object that was not written is of no use to anyone.
                if let Some((project, token_id, _)) = minted.get(&target) {
                    platform::revoke(state, project, token_id).await?;
                }
            }
        }
        outcomes.extend(outcome);
    }
    for (target, _) in &settled {
        if let Some((project, _, Some(previous))) = minted.get(target) {
            platform::revoke(state, project, previous).await?;
        }
    }
    for (target, owner_id) in &deleted {
        if let (Some(project), Some(token_id)) =
            (owner_id.strip_prefix("platform:"), held_tokens.get(target))
        {
            platform::revoke(state, project, token_id).await?;
        }
    }

    if !spec.service_accounts.is_empty() {
        let previous = state.store().list_deliveries(Some(loc), None).await?;
        let delivered_before: BTreeSet<(&str, &str)> = previous
            .iter()
            .filter(|r| r.state == DeliveryState::Delivered.as_str())
            .map(|r| (r.target.as_str(), r.owner_id.as_str()))
            .collect();
        let unchanged: BTreeSet<&Target> = plan.up_to_date.iter().map(|d| &d.target).collect();
        // All of a pass's changes to one ServiceAccount go in one patch.
        let mut accounts: BTreeMap<(String, String), AccountChange> = BTreeMap::new();
        for (t, owner) in settled.iter().filter(|(t, _)| t.0 == ObjectKind::Secret) {
            let just_applied = !unchanged.contains(t);
            let revision = wanted.get(t).map_or(0, |w| w.revision);
            for sa in &spec.service_accounts {
                let sa_target = format!("serviceaccount:{}/{sa}", t.1);
                if !just_applied && delivered_before.contains(&(sa_target.as_str(), owner.as_str()))
                {
                    outcomes.push(Outcome::delivered(sa_target, owner, revision, ""));
                    continue;
                }
                let change = accounts.entry((t.1.clone(), sa.clone())).or_default();
                change.add.push((t.2.clone(), owner.clone(), revision));
            }
        }
        for (t, _) in deleted.iter().filter(|(t, _)| t.0 == ObjectKind::Secret) {
            for sa in &spec.service_accounts {
                let change = accounts.entry((t.1.clone(), sa.clone())).or_default();
                change.remove.push(t.2.clone());
            }
        }
        let done = in_parallel(accounts.into_iter().collect(), |((ns, sa), change)| {
            let cluster = cluster.clone();
            async move { service_account(&cluster, &ns, &sa, change).await }
        })
        .await;
        outcomes.extend(done.into_iter().flatten());
    }
    result.outcomes = outcomes;
    Ok(result)
}

enum Job {
    Apply {
        desired: Desired<Target>,
        object: Value,
        exists: bool,
        revision: i64,
    },
    Delete {
        target: Target,
        owner_id: String,
        uid: String,
        rv: String,
    },
}

enum JobDone {
    Applied { target: Target, owner_id: String },
    Deleted { target: Target, owner_id: String },
    Failed { target: Target },
}

impl Job {
    async fn run(self, cluster: &Cluster) -> (JobDone, Option<Outcome>) {
        match self {
            Job::Apply {
                desired,
                object,
                exists,
                revision,
            } => {
                let (kind, ns, name) = &desired.target;
                let t = target_name(&desired.target);
                match cluster.apply(*kind, ns, name, &object, exists).await {
                    Ok(_) => (
                        JobDone::Applied {
                            target: desired.target.clone(),
                            owner_id: desired.owner_id.clone(),
                        },
                        Some(Outcome::delivered(
                            t,
                            &desired.owner_id,
                            revision,
                            &desired.digest,
                        )),
                    ),
                    Err(e) => {
                        let outcome = match e.status() {
                            Some(404) => {
                                namespace_missing(desired.target.clone(), &desired.owner_id)
                            }
                            Some(409) if !exists => refused(&desired, &Refusal::NotOwned),
                            _ => Outcome::failed(
                                t,
                                &desired.owner_id,
                                DeliveryState::Error,
                                "apply_failed",
                                e.to_string(),
                            ),
                        };
                        (
                            JobDone::Failed {
                                target: desired.target.clone(),
                            },
                            Some(outcome),
                        )
                    }
                }
            }
            Job::Delete {
                target,
                owner_id,
                uid,
                rv,
            } => {
                let (kind, ns, name) = &target;
                match cluster.delete(*kind, ns, name, &uid, &rv).await {
                    Ok(()) => (JobDone::Deleted { target, owner_id }, None),
                    Err(e) if e.status() == Some(404) => {
                        (JobDone::Deleted { target, owner_id }, None)
                    }
                    Err(e) => {
                        let outcome = Outcome::failed(
                            target_name(&target),
                            &owner_id,
                            DeliveryState::Error,
                            "delete_failed",
                            e.to_string(),
                        );
                        (JobDone::Failed { target }, Some(outcome))
                    }
                }
            }
        }
    }
}

/// What one pass changes in one ServiceAccount: Secrets to add (with their owner and revision,
/// for the outcome) and Secrets to take out.
#[derive(Default)]
struct AccountChange {
    add: Vec<(String, String, i64)>,
    remove: Vec<String>,
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
    let each = |state: DeliveryState, code: &'static str, message: String| -> Vec<Outcome> {
        change
            .add
            .iter()
            .map(|(_, owner, _)| Outcome::failed(t.clone(), owner, state, code, message.clone()))
            .collect()
    };
    let account = match cluster.get(ObjectKind::ServiceAccount, ns, sa).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            let message = format!("service account {sa} does not exist in namespace {ns} yet");
            return each(DeliveryState::Pending, "service_account_missing", message);
        }
        Err(e) => return each(DeliveryState::Error, "patch_failed", e.to_string()),
    };
    let add: Vec<&str> = change
        .add
        .iter()
        .map(|(name, _, _)| name.as_str())
        .collect();
    let remove: Vec<&str> = change.remove.iter().map(String::as_str).collect();
    if let Some(patch) = delivery::service_account_patch(&account, &add, &remove) {
        if let Err(e) = cluster
            .json_patch(ObjectKind::ServiceAccount, ns, sa, &patch)
            .await
        {
            // A failed `test` (the account changed since it was read) is retried next pass.
            return each(DeliveryState::Error, "patch_failed", e.to_string());
        }
    }
    change
        .add
        .iter()
        .map(|(_, owner, revision)| Outcome::delivered(t.clone(), owner, *revision, ""))
        .collect()
}

fn namespace_missing(t: Target, owner: &str) -> Outcome {
    let message = format!(
        "namespace {} does not exist yet; delivered when it appears",
        t.1
    );
    Outcome::failed(
        target_name(&t),
        owner,
        DeliveryState::Pending,
        "namespace_missing",
        message,
    )
}

fn refused(desired: &Desired<Target>, refusal: &Refusal) -> Outcome {
    let (kind, ns, name) = &desired.target;
    let what = match kind {
        ObjectKind::Deployment => "Deployment",
        _ => "Secret",
    };
    let (code, message) = match refusal {
        Refusal::NotOwned => (
            "not_owned",
            format!(
                "a {what} {name} already exists in namespace {ns} and regcred does not own it (no {}={} label for this location); regcred leaves it alone — rename the pull secret, or delete that {what}",
                delivery::MANAGED_BY_LABEL,
                delivery::MANAGED_BY
            ),
        ),
        // The other owner may belong to another project: it is not named.
        Refusal::OwnedByOther { .. } => (
            "owned_by_other",
            format!("{what} {ns}/{name} is delivered from an older pull secret of the same name; two pull secrets of that name target this namespace"),
        ),
    };
    Outcome::failed(
        target_name(&desired.target),
        &desired.owner_id,
        DeliveryState::Error,
        code,
        message,
    )
}

/// The cluster could not be reached (or its kubeconfig not used): every row of the location
/// keeps what it said, as an error, and every target the pass knew it wanted gets a row saying
/// so — a location that never worked shows why instead of nothing.
async fn unreachable(
    state: &AppState,
    location: &str,
    e: &KubeError,
    known: &[(Target, String)],
) -> Result<PassResult, ApiError> {
    let code = match e {
        KubeError::Config(_) => "kubeconfig_invalid",
        _ => "cluster_unreachable",
    };
    let message = e.to_string();
    let mut outcomes: BTreeMap<(String, String), Outcome> = state
        .store()
        .list_deliveries(Some(location), None)
        .await?
        .into_iter()
        .map(|r| {
            let key = (r.target.clone(), r.owner_id.clone());
            let outcome = Outcome {
                target: r.target,
                owner_id: r.owner_id,
                state: DeliveryState::Error,
                revision: r.revision,
                digest: r.digest,
                code: Some(code),
                message: Some(message.clone()),
            };
            (key, outcome)
        })
        .collect();
    for (target, owner) in known {
        let name = target_name(target);
        outcomes
            .entry((name.clone(), owner.clone()))
            .or_insert_with(|| {
                Outcome::failed(name, owner, DeliveryState::Error, code, message.clone())
            });
    }
    Ok(PassResult {
        outcomes: outcomes.into_values().collect(),
        ..PassResult::default()
    })
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
