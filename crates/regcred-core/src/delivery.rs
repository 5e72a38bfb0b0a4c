//! Delivery planning, without IO: what should exist where (desired), compared with what
//! is there (observed), gives the actions that make it so. The same planner serves every kind of
//! location — Kubernetes Secrets keyed by namespace and name, auth-file entries keyed by registry,
//! manifest files keyed by path — because the rules are the same: create what is missing, update
//! what regcred owns and has changed, never touch what regcred does not own, and remove what
//! regcred owns and nobody wants any more.
//!
//! Also here: the labels and annotations that mark what regcred owns, namespace templates,
//! equality-based label selectors, and the Kubernetes objects regcred applies (a Secret exactly as
//! `kubectl create secret docker-registry` renders it plus regcred's metadata, a Deployment with
//! `imagePullSecrets`, and the JSON Patches that add pull secrets to a ServiceAccount without
//! touching its other entries).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::pace;

/// `app.kubernetes.io/managed-by`: the well-known label saying which tool owns an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value on everything regcred owns.
pub const MANAGED_BY: &str = "regcred";
/// The regcred location an object was delivered for (several regcred locations may share a cluster).
pub const LOCATION_LABEL: &str = "regcred.dev/location";
/// The project an object belongs to.
pub const PROJECT_LABEL: &str = "regcred.dev/project";
/// The pull secret (its immutable `ps_…` id) a Secret was rendered from.
pub const PULL_SECRET_ANNOTATION: &str = "regcred.dev/pull-secret-id";
/// The pull-secret revision a Secret holds.
pub const REVISION_ANNOTATION: &str = "regcred.dev/revision";
/// A keyed hash of the delivered content: a refreshed short-lived credential changes it without a
/// new revision. Keyed, so it says nothing about the credential to someone who reads the object.
pub const DIGEST_ANNOTATION: &str = "regcred.dev/digest";
/// On a ServiceAccount: the `imagePullSecrets` entries regcred added (comma-separated), so that
/// cleanup removes those and never an entry someone else put there.
pub const SERVICE_ACCOUNT_ANNOTATION: &str = "regcred.dev/image-pull-secrets";
/// The Deployment regcred applied (`project/name`).
pub const DEPLOYMENT_LABEL: &str = "regcred.dev/deployment";

/// What stands for the project in a location's templates: namespace templates and selectors,
/// a docker location's path.
pub const PROJECT_PLACEHOLDER: &str = "{project}";

/// `template` for `project` ([`PROJECT_PLACEHOLDER`] replaced): a namespace, a selector, a path.
pub fn for_project(template: &str, project: &str) -> String {
    template.replace(PROJECT_PLACEHOLDER, project)
}

/// The namespace of `project` under `template`.
pub fn namespace_for(template: &str, project: &str) -> String {
    for_project(template, project)
}

// ---- ownership and planning ----

/// Who owns the thing at a target, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// regcred, for this pull secret (or deployment), holding content with this digest.
    Regcred { owner_id: String, digest: String },
    /// Someone else: an object without regcred's marks, or an auth-file entry regcred did not write.
    Other,
}

/// Something that should exist at `target`, with content identified by `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired<T> {
    pub target: T,
    /// The pull secret or deployment the content comes from.
    pub owner_id: String,
    pub digest: String,
}

/// Something that is at `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed<T> {
    pub target: T,
    pub owner: Owner,
}

/// Why a desired delivery is not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Something regcred does not own is there; regcred never overwrites it.
    NotOwned,
    /// Another pull secret (still wanted) already delivers to this target.
    OwnedByOther { owner_id: String },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<T> {
    /// Create (`exists` false) or update what regcred owns there.
    Apply { desired: Desired<T>, exists: bool },
    /// Remove what regcred owns and no longer wants (`owner_id` names what it was for).
    Delete { target: T, owner_id: String },
    /// Leave the target alone and report why.
    Refuse {
        desired: Desired<T>,
        refusal: Refusal,
    },
}

/// What to do, and what is already as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<T> {
    pub actions: Vec<Action<T>>,
    pub up_to_date: Vec<Desired<T>>,
}

/// Compares desired with observed. Each target is wanted at most once: when two desired entries
/// name one target, the one that holds it keeps it, or else the first wins, and the others are
/// refused as owned by it (so the order of `desired` decides a new target, and callers pass a
/// stable order, oldest first; a held target never moves between owners that both want it).
///
/// A target regcred holds for an owner that does not want it any more is taken over rather than
/// refused: it is regcred's own leftover. An owner wants nothing beyond what `desired` says,
/// unless it is one of `elsewhere`: owners that still exist but that this plan does not cover
/// (a pass over some owners only), whose targets are neither taken nor removed.
///
/// `desired` is consumed: each entry moves into its action or into `up_to_date`, so that a pass
/// over 100,000 targets never holds two copies of what it wants.
pub fn plan<T: Ord + Clone>(
    desired: Vec<Desired<T>>,
    observed: &[Observed<T>],
    elsewhere: &BTreeSet<String>,
) -> Plan<T> {
    let (steps, deletes) = decide(&desired, observed, elsewhere);
    let mut actions = Vec::new();
    let mut up_to_date = Vec::new();
    for (d, step) in desired.into_iter().zip(steps) {
        pace::point();
        match step {
            Step::Create => actions.push(Action::Apply {
                desired: d,
                exists: false,
            }),
            Step::Update => actions.push(Action::Apply {
                desired: d,
                exists: true,
            }),
            Step::Keep => up_to_date.push(d),
            Step::Refuse(refusal) => actions.push(Action::Refuse {
                desired: d,
                refusal,
            }),
        }
    }
    actions.extend(deletes);
    Plan {
        actions,
        up_to_date,
    }
}

/// What [`plan`] does with one desired entry.
enum Step {
    Create,
    Update,
    Keep,
    Refuse(Refusal),
}

/// The step for each of `desired`, in order, and the deletes of what regcred holds and nobody
/// claims.
fn decide<T: Ord + Clone>(
    desired: &[Desired<T>],
    observed: &[Observed<T>],
    elsewhere: &BTreeSet<String>,
) -> (Vec<Step>, Vec<Action<T>>) {
    let seen = pace::btree_map(observed.iter().map(|o| (&o.target, &o.owner)));
    // The targets whose holder wants them still: theirs before anyone else's.
    let mut claimed: BTreeMap<&T, &str> = BTreeMap::new();
    for d in desired {
        pace::point();
        if matches!(seen.get(&d.target), Some(Owner::Regcred { owner_id, .. }) if *owner_id == d.owner_id)
        {
            claimed.insert(&d.target, &d.owner_id);
        }
    }
    let mut decided: BTreeSet<&T> = BTreeSet::new();
    let mut steps = Vec::with_capacity(desired.len());
    for d in desired {
        pace::point();
        let first = *claimed.entry(&d.target).or_insert(&d.owner_id);
        if first != d.owner_id || !decided.insert(&d.target) {
            steps.push(Step::Refuse(Refusal::OwnedByOther {
                owner_id: first.to_owned(),
            }));
            continue;
        }
        steps.push(match seen.get(&d.target) {
            None => Step::Create,
            Some(Owner::Other) => Step::Refuse(Refusal::NotOwned),
            Some(Owner::Regcred { owner_id, digest }) => {
                if *owner_id != d.owner_id && elsewhere.contains(owner_id) {
                    Step::Refuse(Refusal::OwnedByOther {
                        owner_id: owner_id.clone(),
                    })
                } else if *owner_id == d.owner_id && *digest == d.digest {
                    Step::Keep
                } else {
                    Step::Update
                }
            }
        });
    }
    let mut deletes = Vec::new();
    for o in observed {
        pace::point();
        if let Owner::Regcred { owner_id, .. } = &o.owner {
            if !claimed.contains_key(&o.target) && !elsewhere.contains(owner_id) {
                deletes.push(Action::Delete {
                    target: o.target.clone(),
                    owner_id: owner_id.clone(),
                });
            }
        }
    }
    (steps, deletes)
}

/// What is observed after `plan`'s actions succeed: the fixed point the planner must reach
/// (the property tests plan again from here and expect nothing but refusals).
#[cfg(test)]
fn apply_plan<T: Ord + Clone>(observed: &[Observed<T>], plan: &Plan<T>) -> Vec<Observed<T>> {
    let mut state: BTreeMap<T, Owner> = observed
        .iter()
        .map(|o| (o.target.clone(), o.owner.clone()))
        .collect();
    for action in &plan.actions {
        match action {
            Action::Apply { desired, .. } => {
                state.insert(
                    desired.target.clone(),
                    Owner::Regcred {
                        owner_id: desired.owner_id.clone(),
                        digest: desired.digest.clone(),
                    },
                );
            }
            Action::Delete { target, .. } => {
                state.remove(target);
            }
            Action::Refuse { .. } => {}
        }
    }
    state
        .into_iter()
        .map(|(target, owner)| Observed { target, owner })
        .collect()
}

// ---- label selectors ----

/// An equality-based label selector (`a=b,c!=d,e,!f`), as the API server understands them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// A selector that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {reason}")]
pub struct SelectorError {
    pub selector: String,
    pub reason: &'static str,
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let fail = |reason| SelectorError {
            selector: selector.chars().take(120).collect(),
            reason,
        };
        let mut requirements = Vec::new();
        for part in selector.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(fail("empty requirement"));
            }
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(label_key(k, &fail)?, label_value(v, &fail)?)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(label_key(k, &fail)?, label_value(v, &fail)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::Absent(label_key(k, &fail)?)
            } else {
                Requirement::Exists(label_key(part, &fail)?)
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
        })
    }
}

fn label_key(
    k: &str,
    fail: &dyn Fn(&'static str) -> SelectorError,
) -> Result<String, SelectorError> {
    let k = k.trim();
    let (prefix, name) = k.rsplit_once('/').unwrap_or(("", k));
    let prefix_ok = prefix.is_empty()
        || (prefix.len() <= 253
            && prefix.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }));
    if !prefix_ok || !label_name_ok(name) || name.is_empty() {
        return Err(fail(
            "label keys are [prefix/]name, name 1-63 of [A-Za-z0-9-_.]",
        ));
    }
    Ok(k.to_owned())
}

fn label_value(
    v: &str,
    fail: &dyn Fn(&'static str) -> SelectorError,
) -> Result<String, SelectorError> {
    let v = v.trim();
    if !label_name_ok(v) {
        return Err(fail(
            "label values are at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends",
        ));
    }
    Ok(v.to_owned())
}

fn label_name_ok(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(s.chars().next())
        && alnum(s.chars().last())
}

// ---- the objects regcred applies ----

/// regcred's labels for an object of `project` delivered for `location`.
pub fn labels(location: &str, project: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    m.insert(LOCATION_LABEL.into(), location.into());
    m.insert(PROJECT_LABEL.into(), project.into());
    m
}

/// The Secret to apply: `kubectl_json` (the Secret exactly as `kubectl create secret
/// docker-registry --dry-run=client -o json` prints it, see [`crate::k8s_secret::secret`]) with
/// regcred's labels and ownership annotations added to its metadata, and nothing else changed.
pub fn secret_for_apply(
    kubectl_json: &str,
    location: &str,
    project: &str,
    pull_secret_id: &str,
    revision: u64,
    digest: &str,
) -> Result<Value, serde_json::Error> {
    let mut secret: Value = serde_json::from_str(kubectl_json)?;
    let annotations = json!({
        PULL_SECRET_ANNOTATION: pull_secret_id,
        REVISION_ANNOTATION: revision.to_string(),
        DIGEST_ANNOTATION: digest,
    });
    if let Some(meta) = secret.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("labels".into(), Value::Object(labels(location, project)));
        meta.insert("annotations".into(), annotations);
    }
    Ok(secret)
}

/// Reads regcred's ownership marks off an observed object: `Owner::Regcred` only when the
/// managed-by label, this location's label and an owner annotation are all there.
pub fn owner_of(object: &Value, location: &str, owner_annotation: &str) -> Owner {
    let meta = &object["metadata"];
    let ours = meta["labels"][MANAGED_BY_LABEL] == MANAGED_BY
        && meta["labels"][LOCATION_LABEL] == location;
    match (ours, meta["annotations"][owner_annotation].as_str()) {
        (true, Some(id)) => Owner::Regcred {
            owner_id: id.to_owned(),
            digest: meta["annotations"][DIGEST_ANNOTATION]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        },
        _ => Owner::Other,
    }
}

/// The owner annotation of Deployments regcred applies (the deployment's `dp_…` id).
pub const DEPLOYMENT_ANNOTATION: &str = "regcred.dev/deployment-id";

/// What a Deployment object needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub project: &'a str,
    pub location: &'a str,
    pub deployment_id: &'a str,
    pub image: &'a str,
    pub replicas: u32,
    /// Secret names for `imagePullSecrets`, in the order the kubelet should try them.
    pub pull_secrets: &'a [String],
    pub revision: u64,
    pub digest: &'a str,
}

/// The `apps/v1` Deployment to apply: one container running `image`, pulling with
/// `imagePullSecrets`.
pub fn deployment_object(w: &WorkloadSpec<'_>) -> Value {
    let mut labels = labels(w.location, w.project);
    labels.insert(
        DEPLOYMENT_LABEL.into(),
        format!("{}.{}", w.project, w.name).into(),
    );
    let selector = json!({ "app.kubernetes.io/name": w.name, PROJECT_LABEL: w.project });
    let pull_secrets: Vec<Value> = w
        .pull_secrets
        .iter()
        .map(|n| json!({ "name": n }))
        .collect();
    let mut pod_spec = json!({ "containers": [{ "name": w.name, "image": w.image }] });
    if !pull_secrets.is_empty() {
        pod_spec["imagePullSecrets"] = Value::Array(pull_secrets);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": w.name,
            "namespace": w.namespace,
            "labels": labels,
            "annotations": {
                DEPLOYMENT_ANNOTATION: w.deployment_id,
                REVISION_ANNOTATION: w.revision.to_string(),
                DIGEST_ANNOTATION: w.digest,
            },
        },
        "spec": {
            "replicas": w.replicas,
            "selector": { "matchLabels": selector },
            "template": {
                "metadata": { "labels": selector },
                "spec": pod_spec,
            },
        },
    })
}

/// Escapes a JSON Pointer segment (RFC 6901).
fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The names regcred added to a ServiceAccount, from its annotation.
fn added_by_regcred(service_account: &Value) -> Vec<String> {
    service_account["metadata"]["annotations"][SERVICE_ACCOUNT_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A JSON Patch that adds the Secrets `add` to the ServiceAccount's `imagePullSecrets` and takes
/// `remove` out of it — only those regcred added, so an entry someone else put there stays — or
/// `None` when there is nothing to change. `imagePullSecrets` is an atomic list for server-side
/// apply (applying it would replace everyone else's entries), so regcred patches instead, all of
/// a pass's changes to one account in one patch: the `test` of the resourceVersion makes it fail
/// (and be retried next pass) if the account changed since it was read.
pub fn service_account_patch(
    service_account: &Value,
    add: &[&str],
    remove: &[&str],
) -> Option<Value> {
    let entries: Vec<&str> = service_account["imagePullSecrets"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default();
    let mut added = added_by_regcred(service_account);
    let before = added.clone();
    let mut ops = vec![json!({
        "op": "test",
        "path": "/metadata/resourceVersion",
        "value": service_account["metadata"]["resourceVersion"],
    })];
    // Removed from the end first, so that the indices of the others stay valid.
    let mut removals: Vec<(usize, &str)> = entries
        .iter()
        .enumerate()
        .filter(|(_, n)| remove.contains(n) && added.iter().any(|a| a == *n))
        .map(|(i, n)| (i, *n))
        .collect();
    removals.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (i, name) in &removals {
        ops.push(
            json!({"op": "test", "path": format!("/imagePullSecrets/{i}/name"), "value": name}),
        );
        ops.push(json!({"op": "remove", "path": format!("/imagePullSecrets/{i}")}));
    }
    added.retain(|a| !remove.contains(&a.as_str()));
    let mut has_list = service_account["imagePullSecrets"].is_array();
    for name in add {
        if entries.contains(name) && !removals.iter().any(|(_, n)| n == name) {
            continue;
        }
        if has_list {
            ops.push(json!({"op": "add", "path": "/imagePullSecrets/-", "value": {"name": name}}));
        } else {
            ops.push(json!({"op": "add", "path": "/imagePullSecrets", "value": [{"name": name}]}));
            has_list = true;
        }
        if !added.iter().any(|a| a == name) {
            added.push((*name).to_owned());
        }
    }
    if ops.len() == 1 && added == before {
        return None;
    }
    if added != before {
        ops.push(annotation_op(
            service_account,
            (!added.is_empty()).then(|| added.join(",")),
        ));
    }
    Some(Value::Array(ops))
}

fn annotation_op(object: &Value, value: Option<String>) -> Value {
    let has_annotations = object["metadata"]["annotations"].is_object();
    let path = format!(
        "/metadata/annotations/{}",
        pointer_segment(SERVICE_ACCOUNT_ANNOTATION)
    );
    match (value, has_annotations) {
        (Some(v), true) => json!({"op": "add", "path": path, "value": v}),
        (Some(v), false) => json!({
            "op": "add",
            "path": "/metadata/annotations",
            "value": { SERVICE_ACCOUNT_ANNOTATION: v },
        }),
        (None, _) => json!({"op": "remove", "path": path}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(target: &str, owner: &str, digest: &str) -> Desired<String> {
        Desired {
            target: target.into(),
            owner_id: owner.into(),
            digest: digest.into(),
        }
    }

    fn ours(target: &str, owner: &str, digest: &str) -> Observed<String> {
        Observed {
            target: target.into(),
            owner: Owner::Regcred {
                owner_id: owner.into(),
                digest: digest.into(),
            },
        }
    }

    fn theirs(target: &str) -> Observed<String> {
        Observed {
            target: target.into(),
            owner: Owner::Other,
        }
    }

    /// Renders a plan as one line per action, so expectations read like the plan.
    fn check(desired: &[Desired<String>], observed: &[Observed<String>], expected: &[&str]) {
        check_beside(desired, observed, &[], expected);
    }

    /// [`check`] for a plan that does not cover the owners `elsewhere`.
    fn check_beside(
        desired: &[Desired<String>],
        observed: &[Observed<String>],
        elsewhere: &[&str],
        expected: &[&str],
    ) {
        let elsewhere = elsewhere.iter().map(|o| (*o).to_owned()).collect();
        let p = plan(desired.to_vec(), observed, &elsewhere);
        let got: Vec<String> = p
            .actions
            .iter()
            .map(|a| match a {
                Action::Apply { desired, exists } => format!(
                    "{} {} {}",
                    if *exists { "update" } else { "create" },
                    desired.target,
                    desired.owner_id
                ),
                Action::Delete { target, owner_id } => format!("delete {target} {owner_id}"),
                Action::Refuse { desired, refusal } => match refusal {
                    Refusal::NotOwned => format!("refuse {} not-owned", desired.target),
                    Refusal::OwnedByOther { owner_id } => {
                        format!("refuse {} owned-by {owner_id}", desired.target)
                    }
                },
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn plans_create_update_delete_and_refusals() {
        check(&[d("a/x", "ps_1", "h1")], &[], &["create a/x ps_1"]);
        check(&[d("a/x", "ps_1", "h1")], &[ours("a/x", "ps_1", "h1")], &[]);
        check(
            &[d("a/x", "ps_1", "h2")],
            &[ours("a/x", "ps_1", "h1")],
            &["update a/x ps_1"],
        );
        check(
            &[d("a/x", "ps_1", "h1")],
            &[theirs("a/x")],
            &["refuse a/x not-owned"],
        );
        check(&[], &[ours("a/x", "ps_1", "h1")], &["delete a/x ps_1"]);
        // Something regcred does not own is never deleted, wanted or not.
        check(&[], &[theirs("a/x")], &[]);
    }

    #[test]
    fn a_target_belongs_to_the_first_pull_secret_that_wants_it() {
        check(
            &[d("a/x", "ps_1", "h1"), d("a/x", "ps_2", "h2")],
            &[],
            &["create a/x ps_1", "refuse a/x owned-by ps_1"],
        );
        // The holder keeps a target it still wants, whoever comes first.
        check(
            &[d("a/x", "ps_1", "h1"), d("a/x", "ps_2", "h2")],
            &[ours("a/x", "ps_2", "h2")],
            &["refuse a/x owned-by ps_2"],
        );
        check(
            &[d("a/x", "ps_1", "h1"), d("a/x", "ps_2", "h3")],
            &[ours("a/x", "ps_2", "h2")],
            &["refuse a/x owned-by ps_2", "update a/x ps_2"],
        );
    }

    #[test]
    fn a_target_held_for_an_owner_the_plan_does_not_cover_is_refused() {
        // A pass over ps_2 alone: ps_1 still exists, and may still want a/x.
        check_beside(
            &[d("a/x", "ps_2", "h2")],
            &[ours("a/x", "ps_1", "h1")],
            &["ps_1"],
            &["refuse a/x owned-by ps_1"],
        );
        // A pass over both, where ps_1 wants another target now: a/x is its leftover.
        check(
            &[d("a/x", "ps_2", "h2"), d("b/x", "ps_1", "h1")],
            &[ours("a/x", "ps_1", "h1")],
            &["update a/x ps_2", "create b/x ps_1"],
        );
    }

    #[test]
    fn leftovers_of_deleted_pull_secrets_are_taken_over() {
        check(
            &[d("a/x", "ps_2", "h2")],
            &[ours("a/x", "ps_gone", "h1")],
            &["update a/x ps_2"],
        );
    }

    proptest! {
        /// Applying a plan and planning again yields nothing to do but the refusals, and
        /// nothing held for an owner the plan does not cover is touched.
        #[test]
        fn planning_after_applying_is_idempotent(
            desired in proptest::collection::vec((0..6u8, 0..3u8, 0..3u8), 0..8),
            observed in proptest::collection::vec((0..6u8, proptest::option::of((0..4u8, 0..3u8))), 0..8),
            elsewhere in proptest::collection::btree_set(3..5u8, 0..3),
        ) {
            let elsewhere: BTreeSet<String> = elsewhere.iter().map(|o| format!("ps_{o}")).collect();
            let desired: Vec<Desired<String>> = desired
                .into_iter()
                .map(|(t, o, h)| d(&format!("t{t}"), &format!("ps_{o}"), &format!("h{h}")))
                .collect();
            let mut seen = BTreeSet::new();
            let observed: Vec<Observed<String>> = observed
                .into_iter()
                .filter(|(t, _)| seen.insert(*t))
                .map(|(t, owner)| match owner {
                    Some((o, h)) => ours(&format!("t{t}"), &format!("ps_{o}"), &format!("h{h}")),
                    None => theirs(&format!("t{t}")),
                })
                .collect();
            let first = plan(desired.clone(), &observed, &elsewhere);
            let after = apply_plan(&observed, &first);
            let second = plan(desired, &after, &elsewhere);
            for o in &observed {
                if let Owner::Regcred { owner_id, .. } = &o.owner {
                    if elsewhere.contains(owner_id) {
                        prop_assert!(after.contains(o), "{o:?} was touched: {:?}", first.actions);
                    }
                }
            }
            prop_assert!(second
                .actions
                .iter()
                .all(|a| matches!(a, Action::Refuse { .. })), "{:?}", second.actions);
        }
    }

    #[test]
    fn label_selectors_parse_and_match() {
        let labels: BTreeMap<String, String> = [("regcred.dev/project", "acme"), ("env", "prod")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let matches = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(&labels));
        assert_eq!(matches("regcred.dev/project=acme"), Ok(true));
        assert_eq!(matches("regcred.dev/project==acme,env"), Ok(true));
        assert_eq!(matches("env!=prod"), Ok(false));
        assert_eq!(matches("!env"), Ok(false));
        assert_eq!(matches("team"), Ok(false));
        assert_eq!(matches("!team,env=prod"), Ok(true));
        assert!(matches("a=b,,c").is_err());
        assert!(matches("Bad Key=x").is_err());
        assert!(matches("k=-x").is_err());
    }

    #[test]
    fn applied_secrets_are_kubectls_plus_regcreds_metadata() {
        let kubectl = "{\n    \"kind\": \"Secret\",\n    \"apiVersion\": \"v1\",\n    \"metadata\": {\n        \"name\": \"ghcr\",\n        \"namespace\": \"acme\",\n        \"creationTimestamp\": null\n    },\n    \"data\": {\n        \".dockerconfigjson\": \"e30=\"\n    },\n    \"type\": \"kubernetes.io/dockerconfigjson\"\n}\n";
        let applied = secret_for_apply(kubectl, "gke", "acme", "ps_1", 3, "d1").unwrap();
        assert_eq!(
            owner_of(&applied, "gke", PULL_SECRET_ANNOTATION),
            Owner::Regcred {
                owner_id: "ps_1".into(),
                digest: "d1".into()
            }
        );
        assert_eq!(
            owner_of(&applied, "other", PULL_SECRET_ANNOTATION),
            Owner::Other
        );
        let mut stripped = applied.clone();
        let meta = stripped["metadata"].as_object_mut().unwrap();
        meta.remove("labels");
        meta.remove("annotations");
        assert_eq!(stripped, serde_json::from_str::<Value>(kubectl).unwrap());
        assert_eq!(applied["metadata"]["annotations"][REVISION_ANNOTATION], "3");
    }

    #[test]
    fn service_account_patches_touch_only_regcreds_entries() {
        let sa = json!({
            "metadata": {"name": "default", "resourceVersion": "7"},
            "imagePullSecrets": [{"name": "theirs"}],
        });
        assert_eq!(
            service_account_patch(&sa, &["ghcr", "quay"], &[]).unwrap(),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/imagePullSecrets/-", "value": {"name": "ghcr"}},
                {"op": "add", "path": "/imagePullSecrets/-", "value": {"name": "quay"}},
                {"op": "add", "path": "/metadata/annotations", "value": {SERVICE_ACCOUNT_ANNOTATION: "ghcr,quay"}},
            ])
        );
        let bare = json!({"metadata": {"name": "default", "resourceVersion": "1"}});
        assert_eq!(
            service_account_patch(&bare, &["ghcr", "quay"], &[])
                .unwrap()
                .as_array()
                .unwrap()[1..3],
            [
                json!({"op": "add", "path": "/imagePullSecrets", "value": [{"name": "ghcr"}]}),
                json!({"op": "add", "path": "/imagePullSecrets/-", "value": {"name": "quay"}}),
            ]
        );
        let after = json!({
            "metadata": {"name": "default", "resourceVersion": "8",
                         "annotations": {SERVICE_ACCOUNT_ANNOTATION: "ghcr,quay"}},
            "imagePullSecrets": [{"name": "theirs"}, {"name": "ghcr"}, {"name": "quay"}],
        });
        assert_eq!(service_account_patch(&after, &["ghcr"], &[]), None);
        assert_eq!(
            service_account_patch(&after, &[], &["theirs"]),
            None,
            "not regcred's to remove"
        );
        assert_eq!(
            service_account_patch(&after, &[], &["ghcr", "quay"]).unwrap(),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "8"},
                {"op": "test", "path": "/imagePullSecrets/2/name", "value": "quay"},
                {"op": "remove", "path": "/imagePullSecrets/2"},
                {"op": "test", "path": "/imagePullSecrets/1/name", "value": "ghcr"},
                {"op": "remove", "path": "/imagePullSecrets/1"},
                {"op": "remove", "path": "/metadata/annotations/regcred.dev~1image-pull-secrets"},
            ])
        );
    }
}
