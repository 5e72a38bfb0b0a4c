//! The one delivery pass, for every kind of location. A location kind is a [`Backend`]: it says
//! where each owner's (pull secret's, deployment's) content goes as typed targets, builds that
//! content, observes what stands at targets, and applies and deletes. The pass itself is here and
//! the same for all: it observes the targets its owners go to, builds the desired state owner by
//! owner, holds back the targets of owners that cannot be rendered, decides about the platform
//! credential, plans with the pure planner of
//! [`regcred_core::delivery`] (ownership checks and refusals), hands the jobs to the backend, and
//! turns what happened into [`Outcome`]s — one per (target, owner) — which `record` writes as rows.
//!
//! When the site as a whole fails (a cluster that cannot be reached, an auth file that cannot be
//! read) every target the pass knows of gets that failure instead, so a location that never
//! worked still says why.
//!
//! A pass is full ([`Pass::scope`] `None`: every owner of the location, and what it observes is
//! the whole truth) or scoped to the owners that changed since the last pass: then only those
//! pull secrets are rendered, what is observed is narrowed to the targets the pass wants and to
//! what the scoped owners (and the platform credentials) hold — a vanished owner's objects are
//! still found and removed, and nobody else's are touched — and only the scoped owners' rows
//! are rewritten (`record::record_outcomes`). Deployments are always all in a pass: they are
//! read without secrets, and the platform credential of a project depends on all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use regcred_core::api::{DeliveryState, Resolution};
use regcred_core::codes::DeliveryCode;
use regcred_core::delivery::{plan, Action, Desired, Observed, Owner, Refusal};
use regcred_core::k8s_secret::DockerAuth;
use regcred_core::pace;

use super::{platform, DeliveryError, Rendered, Source, SourceRecord, Workload};
use crate::service::platform_tokens;
use crate::AppState;

/// Why one target is not delivered.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub state: DeliveryState,
    pub code: DeliveryCode,
    pub message: String,
}

impl Failure {
    pub fn error(code: DeliveryCode, message: impl Into<String>) -> Failure {
        Failure {
            state: DeliveryState::Error,
            code,
            message: message.into(),
        }
    }

    pub fn pending(code: DeliveryCode, message: impl Into<String>) -> Failure {
        Failure {
            state: DeliveryState::Pending,
            code,
            message: message.into(),
        }
    }
}

/// The state of one target for one owner after a pass, before it becomes a row. `target` is the
/// row's name of the target (`secret:<ns>/<name>`, `file:<path>`, `auth:<key>`).
pub(crate) struct Outcome {
    pub target: String,
    pub owner_id: String,
    pub state: DeliveryState,
    pub revision: Option<i64>,
    pub digest: Option<String>,
    pub code: Option<DeliveryCode>,
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

    pub fn failed(target: String, owner_id: &str, failure: Failure) -> Outcome {
        Outcome {
            target,
            owner_id: owner_id.to_owned(),
            state: failure.state,
            revision: None,
            digest: None,
            code: Some(failure.code),
            message: Some(failure.message),
        }
    }
}

/// A target written or removed by a pass, for its owner (audited).
pub(crate) struct Change {
    pub target: String,
    pub owner_id: String,
}

/// What a pass hands to recording: the outcome of each wanted target, and what it changed.
#[derive(Default)]
pub(crate) struct PassResult {
    pub outcomes: Vec<Outcome>,
    pub applied: Vec<Change>,
    pub removed: Vec<Change>,
    pub up_to_date: u64,
}

impl PassResult {
    pub fn extend(&mut self, other: PassResult) {
        self.outcomes.extend(other.outcomes);
        self.applied.extend(other.applied);
        self.removed.extend(other.removed);
        self.up_to_date += other.up_to_date;
    }
}

/// What one pass works on: a location's owners, each rendered once.
pub(crate) struct Pass<'a> {
    pub state: &'a AppState,
    pub location: &'a str,
    /// The owners a scoped pass is about (those the change log names, deleted ones included, and
    /// the pull secrets of changed deployments); `None` for a full pass.
    pub scope: Option<&'a BTreeSet<String>>,
    pub sources: Vec<&'a Source>,
    pub workloads: Vec<&'a Workload>,
}

/// Where an owner's content goes: a target, or a target it cannot reach yet (and why).
pub(crate) enum Place<T> {
    At(T),
    Pending(T, Failure),
}

/// Where an owner's content goes, with the content: a target, or a target it cannot reach yet.
pub(crate) enum Placed<T, C> {
    At(T, Wanted<C>),
    Pending(T, Failure),
}

/// Content for a target, and the digest that says whether what is there is already it.
pub(crate) struct Wanted<C> {
    pub content: C,
    pub digest: String,
}

/// One change for a backend to make.
pub(crate) enum Job<T, C> {
    /// Create (`exists` false) or update what regcred owns at the target.
    Apply {
        desired: Desired<T>,
        content: C,
        exists: bool,
    },
    Delete {
        target: T,
        owner_id: String,
    },
}

/// A pass's jobs for backend `B`.
type Jobs<B> = Vec<Job<<B as Backend>::Target, <B as Backend>::Content>>;

/// What came of one [`Job`].
pub(crate) struct Done<T> {
    pub target: T,
    pub owner_id: String,
    /// The applied content's digest (empty for a delete).
    pub digest: String,
    pub result: Result<Step, Failure>,
}

pub(crate) enum Step {
    Applied,
    Removed,
}

/// The jobs' results, or a failure of the whole site that voids them all.
pub(crate) enum Executed<T> {
    Each(Vec<Done<T>>),
    Site(Failure),
}

/// A target that holds its owner's content after the pass (applied or already up to date).
pub(crate) struct Settled<T> {
    pub target: T,
    pub owner_id: String,
    pub revision: i64,
    pub just_applied: bool,
}

/// One kind of location. Methods that build targets and content are pure; `prepare`, `observe`,
/// `execute` and `finish` do the IO.
pub(crate) trait Backend {
    type Target: Ord + Clone + Send + Sync + 'static;
    type Content: Send + 'static;
    /// Whether a failure of the whole site keeps every status row of the location (marked with
    /// the failure) — so that what was delivered before is not forgotten — or reports only the
    /// targets the pass knows of.
    const KEEPS_ROWS: bool;
    /// The most jobs handed to [`Backend::execute`] at once, their contents made just before:
    /// a backend that writes each target on its own (objects in a cluster, files) takes them in
    /// batches, so that a first pass over 100,000 targets never holds every Secret object at
    /// once; `None` for one whose changes are one write (an auth file).
    const BATCH: Option<usize>;

    /// The row name of a target.
    fn row(&self, t: &Self::Target) -> String;
    /// Connects or reads what the targets depend on; a failure is the whole site's.
    fn prepare(&mut self) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Where a pull secret goes when nothing is known about the site (for failure rows).
    fn home(&self, record: &SourceRecord) -> Self::Target;
    /// Where a deployment goes when nothing is known about the site, if anywhere.
    fn workload_home(&self, _w: &Workload) -> Option<Self::Target> {
        None
    }
    /// Where a pull secret goes.
    fn secret_targets(&self, record: &SourceRecord) -> Vec<Place<Self::Target>>;
    /// Where a deployment goes and what is written there; `None` where deployments are not
    /// objects of their own.
    fn workload(&self, _w: &Workload) -> Option<Placed<Self::Target, Self::Content>> {
        None
    }
    /// Where a project's platform credential goes, if anywhere.
    fn platform_target(&self, _project: &str) -> Option<Self::Target> {
        None
    }
    /// The digest of a pull secret's content at `t` (it says whether what stands there is
    /// already that content), or why the content cannot go there this pass (what stands there
    /// stays); the outer error stops the pass. The content itself is made by
    /// [`Backend::secret_content`], and only for the targets the plan writes. By default the
    /// rendered credential's own digest, which the content carries.
    fn secret_digest(
        &self,
        _t: &Self::Target,
        _record: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<String, Failure>, DeliveryError> {
        Ok(Ok(rendered.digest.clone()))
    }
    /// A pull secret's content at `t`, the one [`Backend::secret_digest`] digests; a failure is
    /// this target's, the outer error stops the pass.
    fn secret_content(
        &self,
        t: &Self::Target,
        record: &SourceRecord,
        rendered: &Rendered,
    ) -> Result<Result<Self::Content, Failure>, DeliveryError>;
    /// Whether a Secret can be written here at all (checked before a token is minted for one).
    fn platform_writable(&self) -> Result<(), Failure> {
        Ok(())
    }
    /// The platform credential's content at `t`, its digest being `token_id`.
    fn platform_content(
        &self,
        t: &Self::Target,
        project: &str,
        auth: DockerAuth<'_>,
        token_id: &str,
    ) -> Result<Self::Content, DeliveryError>;
    /// What stands at the site: everything regcred owns there, and whatever stands at `wanted`.
    fn observe(
        &mut self,
        wanted: &BTreeSet<Self::Target>,
    ) -> impl Future<Output = Result<Vec<Observed<Self::Target>>, Failure>> + Send;
    fn refused(&self, desired: &Desired<Self::Target>, refusal: &Refusal) -> Failure;
    fn execute(
        &mut self,
        jobs: Vec<Job<Self::Target, Self::Content>>,
    ) -> impl Future<Output = Result<Executed<Self::Target>, DeliveryError>> + Send;
    /// Whether [`Backend::finish`] has work to follow up: a pass of a backend that has none
    /// keeps no list of what it settled.
    fn follows_up(&self) -> bool {
        false
    }
    /// Work that follows from what was settled and deleted (ServiceAccounts); more outcomes.
    fn finish(
        &mut self,
        _pass: &Pass<'_>,
        _settled: &[Settled<Self::Target>],
        _deleted: &[Done<Self::Target>],
    ) -> impl Future<Output = Result<Vec<Outcome>, DeliveryError>> + Send {
        async { Ok(Vec::new()) }
    }
}

/// A platform token minted this pass for a target (and the one it replaces).
struct Minted<'a> {
    project: &'a str,
    token_id: String,
    previous: Option<String>,
}

/// Where the content wanted at a target comes from, and the revision it is of.
enum Maker<'a, C> {
    /// A pull secret's: made when the plan writes it. A full pass over 100,000 targets that are
    /// all up to date makes none, and a pass never holds every target's content at once.
    Secret(&'a Source),
    /// A deployment's or a platform credential's (a few per project): made as it is wanted,
    /// since its digest is that of the content, until its write takes it.
    Made(Option<C>, i64),
}

impl<C> Maker<'_, C> {
    fn revision(&self) -> i64 {
        match self {
            Maker::Secret(s) => s.record.revision,
            Maker::Made(_, revision) => *revision,
        }
    }
}

/// The desired state of a pass, built owner by owner.
struct Desires<'a, B: Backend> {
    desired: Vec<Desired<B::Target>>,
    /// Per wanted target, its first owner's content (the planner refuses the others).
    makers: BTreeMap<B::Target, Maker<'a, B::Content>>,
    /// Targets of owners that could not be rendered: what is there stays.
    held: BTreeSet<B::Target>,
    minted: BTreeMap<B::Target, Minted<'a>>,
    outcomes: Vec<Outcome>,
}

impl<'a, B: Backend> Desires<'a, B> {
    /// What the pass's pull secrets and deployments want (the platform credentials come once
    /// the site is observed).
    fn of(pass: &Pass<'a>, b: &B) -> Result<Self, DeliveryError> {
        let mut d = Desires {
            desired: Vec::new(),
            makers: BTreeMap::new(),
            held: BTreeSet::new(),
            minted: BTreeMap::new(),
            outcomes: Vec::new(),
        };
        d.pull_secrets(pass, b)?;
        d.workloads(pass, b);
        Ok(d)
    }

    fn fail(&mut self, b: &B, t: B::Target, owner_id: &str, failure: Failure, hold: bool) {
        self.outcomes
            .push(Outcome::failed(b.row(&t), owner_id, failure));
        if hold {
            self.held.insert(t);
        }
    }

    /// Wants content with `digest`, made by `maker`, at `t` for `owner_id`; the first owner to
    /// want a target keeps its maker (the planner refuses the others).
    fn want(&mut self, t: B::Target, owner_id: &str, digest: String, maker: Maker<'a, B::Content>) {
        if !self.makers.contains_key(&t) {
            self.makers.insert(t.clone(), maker);
        }
        self.desired.push(Desired {
            target: t,
            owner_id: owner_id.to_owned(),
            digest,
        });
    }

    /// The revision of what is wanted at `t`.
    fn revision(&self, t: &B::Target) -> i64 {
        self.makers.get(t).map_or(0, Maker::revision)
    }

    fn pull_secrets(&mut self, pass: &Pass<'a>, b: &B) -> Result<(), DeliveryError> {
        for s in pass.sources.iter().copied() {
            pace::point();
            let r = &s.record;
            for place in b.secret_targets(r) {
                let t = match place {
                    Place::At(t) => t,
                    Place::Pending(t, why) => {
                        self.fail(b, t, &r.id, why, false);
                        continue;
                    }
                };
                let digest = match &s.result {
                    Ok(rendered) => b.secret_digest(&t, r, rendered)?,
                    Err(why) => Err(why.clone()),
                };
                match digest {
                    Ok(digest) => self.want(t, &r.id, digest, Maker::Secret(s)),
                    Err(why) => self.fail(b, t, &r.id, why, true),
                }
            }
        }
        Ok(())
    }

    fn workloads(&mut self, pass: &Pass<'_>, b: &B) {
        for w in &pass.workloads {
            let d = &w.record;
            match b.workload(w) {
                None => {}
                Some(Placed::Pending(t, why)) => self.fail(b, t, &d.id, why, false),
                Some(Placed::At(t, wanted)) => {
                    let maker = Maker::Made(Some(wanted.content), d.revision);
                    self.want(t, &d.id, wanted.digest, maker);
                }
            }
        }
    }

    /// The platform credential of each project that deploys from its own platform registry:
    /// kept while its token is fresh, otherwise a new token to write.
    async fn platform(
        &mut self,
        pass: &Pass<'_>,
        b: &B,
        observed: &[Observed<B::Target>],
        targets: &[(B::Target, &'a str)],
        registry: &str,
    ) -> Result<(), DeliveryError> {
        if targets.is_empty() {
            return Ok(());
        }
        // Who holds each platform target, found in one walk over what was observed: a
        // location can serve thousands of projects that deploy from the platform registry.
        let mut holders: BTreeMap<&B::Target, Option<&Owner>> =
            targets.iter().map(|(t, _)| (t, None)).collect();
        for o in observed {
            pace::point();
            if let Some(holder) = holders.get_mut(&o.target) {
                holder.get_or_insert(&o.owner);
            }
        }
        for (t, project) in targets {
            let owner = platform::owner_id(project);
            if let Err(why) = b.platform_writable() {
                self.fail(b, t.clone(), &owner, why, true);
                continue;
            }
            let seen = holders.get(t).copied().flatten();
            let decision = platform::decide(pass.state, seen, project, pass.location).await?;
            if let platform::Decision::Mint {
                token_id,
                secret,
                previous,
            } = &decision
            {
                let auth = platform::auth(registry, secret);
                let content = b.platform_content(t, project, auth, token_id)?;
                self.makers
                    .entry(t.clone())
                    .or_insert(Maker::Made(Some(content), 0));
                let minted = Minted {
                    project,
                    token_id: token_id.clone(),
                    previous: previous.clone(),
                };
                self.minted.insert(t.clone(), minted);
            }
            self.desired.push(Desired {
                target: t.clone(),
                owner_id: owner,
                digest: decision.digest().to_owned(),
            });
        }
        Ok(())
    }

    /// The plan's changes as jobs, each write with its content made now; its refusals, and
    /// contents that cannot be made, as outcomes. The targets of owners that could not be
    /// rendered are neither written nor removed.
    fn jobs(&mut self, b: &B, actions: Vec<Action<B::Target>>) -> Result<Jobs<B>, DeliveryError> {
        let mut jobs = Vec::new();
        for action in actions {
            pace::point();
            match action {
                Action::Refuse { desired, refusal } => {
                    let why = b.refused(&desired, &refusal);
                    self.fail(b, desired.target, &desired.owner_id, why, false);
                }
                Action::Apply { desired, exists } if !self.held.contains(&desired.target) => {
                    let content = match self.content(b, &desired.target)? {
                        Some(Ok(content)) => content,
                        Some(Err(why)) => {
                            self.fail(b, desired.target, &desired.owner_id, why, false);
                            continue;
                        }
                        None => continue,
                    };
                    jobs.push(Job::Apply {
                        desired,
                        content,
                        exists,
                    });
                }
                Action::Delete { target, owner_id } if !self.held.contains(&target) => {
                    jobs.push(Job::Delete { target, owner_id });
                }
                Action::Apply { .. } | Action::Delete { .. } => {}
            }
        }
        Ok(jobs)
    }

    /// The content wanted at `t`, made once for its one write: `None` where nobody wants it.
    fn content(
        &mut self,
        b: &B,
        t: &B::Target,
    ) -> Result<Option<Result<B::Content, Failure>>, DeliveryError> {
        // A made content leaves its maker, which keeps the revision for the outcome.
        let Some(maker) = self.makers.get_mut(t) else {
            return Ok(None);
        };
        Ok(match maker {
            Maker::Secret(s) => Some(match &s.result {
                Ok(rendered) => b.secret_content(t, &s.record, rendered)?,
                Err(why) => Err(why.clone()),
            }),
            Maker::Made(content, _) => content.take().map(Ok),
        })
    }
}

/// The projects whose deployments pull from their own platform registry, with the target of
/// each one's platform credential.
fn platform_targets<'a, B: Backend>(pass: &Pass<'a>, b: &B) -> Vec<(B::Target, &'a str)> {
    let projects: BTreeSet<&'a str> = pass
        .workloads
        .iter()
        .filter(|w| w.spec.resolution == Resolution::PlatformRegistry)
        .map(|w| w.record.project.as_str())
        .collect();
    projects
        .into_iter()
        .filter_map(|project| Some((b.platform_target(project)?, project)))
        .collect()
}

/// Every target the pass may want, before anything is rendered for it: where each pull secret
/// and deployment goes, and the platform credentials' targets.
fn wanted<B: Backend>(
    pass: &Pass<'_>,
    b: &B,
    platform: &[(B::Target, &str)],
) -> BTreeSet<B::Target> {
    let secrets = pass
        .sources
        .iter()
        .flat_map(|s| b.secret_targets(&s.record))
        .filter_map(|place| match place {
            Place::At(t) => Some(t),
            Place::Pending(..) => None,
        });
    let workloads = pass.workloads.iter().filter_map(|w| b.workload_home(w));
    pace::btree_set(
        secrets
            .chain(workloads)
            .chain(platform.iter().map(|(t, _)| t.clone())),
    )
}

/// One pass over one site: observed, desired, planned, applied, and the outcome of each target.
pub(crate) async fn run<B: Backend>(
    pass: &Pass<'_>,
    b: &mut B,
) -> Result<PassResult, DeliveryError> {
    if let Err(why) = b.prepare().await {
        return site_failed(pass, b, why, &[]).await;
    }
    // What a pass holds at once grows with the location (100,000 pull secrets): each part is
    // dropped as soon as nothing after needs it. The site is observed before the desired state
    // is built, so that what observing reads (a file's entries, the location's rows) is gone
    // by then.
    let platform = platform_targets(pass, b);
    let wanted = wanted(pass, b, &platform);
    let observed = match b.observe(&wanted).await {
        Ok(observed) => in_scope(pass, &wanted, observed),
        Err(why) => {
            let d = Desires::<B>::of(pass, b)?;
            return site_failed(pass, b, why, &d.desired).await;
        }
    };
    pace::drop_all(wanted);
    let mut d = Desires::<B>::of(pass, b)?;
    if let Some(registry) = pass.state.platform().map(|p| p.config.registry.clone()) {
        d.platform(pass, b, &observed, &platform, &registry).await?;
    }
    let elsewhere = elsewhere(pass, &observed).await?;
    let plan = plan(std::mem::take(&mut d.desired), &observed, &elsewhere);
    let mut result = PassResult {
        up_to_date: plan.up_to_date.len() as u64,
        ..PassResult::default()
    };
    // What the pass settled, kept only for a backend that follows it up.
    let mut settled = b.follows_up().then(Vec::new);
    for x in plan.up_to_date {
        pace::point();
        let revision = d.revision(&x.target);
        d.outcomes.push(Outcome::delivered(
            b.row(&x.target),
            &x.owner_id,
            revision,
            &x.digest,
        ));
        if let Some(settled) = &mut settled {
            settled.push(Settled {
                target: x.target,
                owner_id: x.owner_id,
                revision,
                just_applied: false,
            });
        }
    }
    let mut actions = plan.actions.into_iter();
    let mut done = Vec::new();
    loop {
        let batch: Vec<_> = match B::BATCH {
            Some(n) => actions.by_ref().take(n).collect(),
            None => actions.by_ref().collect(),
        };
        let last = actions.len() == 0;
        let jobs = d.jobs(b, batch)?;
        match b.execute(jobs).await? {
            Executed::Each(each) => done.extend(each),
            Executed::Site(why) => return site_failed(pass, b, why, &[]).await,
        }
        if last {
            break;
        }
    }
    let deleted = settle(pass, b, &mut d, &observed, done, &mut result, &mut settled).await?;
    pace::drop_all(observed);
    pace::drop_all(std::mem::take(&mut d.makers));
    let settled = settled.unwrap_or_default();
    let more = b.finish(pass, &settled, &deleted).await?;
    pace::drop_all(settled);
    result.outcomes = d.outcomes;
    result.outcomes.extend(more);
    Ok(result)
}

/// What a pass may act on of what it observed: everything in a full pass; in a scoped one, what
/// stands at wanted targets and what the scoped owners and the platform credentials hold.
fn in_scope<T: Ord>(
    pass: &Pass<'_>,
    wanted: &BTreeSet<T>,
    observed: Vec<Observed<T>>,
) -> Vec<Observed<T>> {
    let Some(scope) = pass.scope else {
        return observed;
    };
    observed
        .into_iter()
        .filter(|o| {
            wanted.contains(&o.target)
                || matches!(&o.owner, Owner::Regcred { owner_id, .. }
                    if scope.contains(owner_id) || owner_id.starts_with(platform::OWNER_PREFIX))
        })
        .collect()
}

/// The owners of what a scoped pass observed that it does not cover and that still exist: pull
/// secrets outside its scope (deployments and platform credentials are in every pass). What
/// they hold stays theirs until a pass that covers them says otherwise: another pull secret
/// that wants the target is refused, not given it.
async fn elsewhere<T>(
    pass: &Pass<'_>,
    observed: &[Observed<T>],
) -> Result<BTreeSet<String>, DeliveryError> {
    let Some(scope) = pass.scope else {
        return Ok(BTreeSet::new());
    };
    let deployments: BTreeSet<&str> = pass
        .workloads
        .iter()
        .map(|w| w.record.id.as_str())
        .collect();
    let outside: BTreeSet<&str> = observed
        .iter()
        .filter_map(|o| match &o.owner {
            Owner::Regcred { owner_id, .. } => Some(owner_id.as_str()),
            Owner::Other => None,
        })
        .filter(|id| {
            !scope.contains(*id)
                && !deployments.contains(id)
                && !id.starts_with(platform::OWNER_PREFIX)
        })
        .collect();
    if outside.is_empty() {
        return Ok(BTreeSet::new());
    }
    let outside: Vec<String> = outside.into_iter().map(str::to_owned).collect();
    let existing = pass.state.store().pull_secrets_by_ids(&outside).await?;
    Ok(existing.into_iter().map(|r| r.id).collect())
}

/// Turns the jobs' results into outcomes and changes, and retires platform tokens: a replaced
/// one once its successor is written, a new one that was not written, and a removed one. Answers
/// what was deleted.
async fn settle<B: Backend>(
    pass: &Pass<'_>,
    b: &B,
    d: &mut Desires<'_, B>,
    observed: &[Observed<B::Target>],
    done: Vec<Done<B::Target>>,
    result: &mut PassResult,
    settled: &mut Option<Vec<Settled<B::Target>>>,
) -> Result<Vec<Done<B::Target>>, DeliveryError> {
    let mut deleted = Vec::new();
    for x in done {
        pace::point();
        let row = b.row(&x.target);
        let minted = d.minted.get(&x.target);
        match &x.result {
            Ok(Step::Applied) => {
                let revision = d.revision(&x.target);
                d.outcomes.push(Outcome::delivered(
                    row.clone(),
                    &x.owner_id,
                    revision,
                    &x.digest,
                ));
                if let Some(Minted {
                    project,
                    previous: Some(previous),
                    ..
                }) = minted
                {
                    platform_tokens::revoke(pass.state, project, previous).await?;
                }
                result.applied.push(Change {
                    target: row,
                    owner_id: x.owner_id.clone(),
                });
                if let Some(settled) = settled {
                    settled.push(Settled {
                        target: x.target,
                        owner_id: x.owner_id,
                        revision,
                        just_applied: true,
                    });
                }
            }
            Ok(Step::Removed) => {
                revoke_removed(pass, observed, &x).await?;
                result.removed.push(Change {
                    target: row,
                    owner_id: x.owner_id.clone(),
                });
                deleted.push(x);
            }
            Err(why) => {
                // A token minted for an object that was not written is of no use to anyone.
                if let Some(m) = minted {
                    platform_tokens::revoke(pass.state, m.project, &m.token_id).await?;
                }
                d.outcomes
                    .push(Outcome::failed(row, &x.owner_id, why.clone()));
            }
        }
    }
    Ok(deleted)
}

/// Revokes the platform token a removed target held (its digest is the token's id).
async fn revoke_removed<T: Ord>(
    pass: &Pass<'_>,
    observed: &[Observed<T>],
    removed: &Done<T>,
) -> Result<(), DeliveryError> {
    let Some(project) = removed.owner_id.strip_prefix(platform::OWNER_PREFIX) else {
        return Ok(());
    };
    let held = observed.iter().find_map(|o| match &o.owner {
        Owner::Regcred { owner_id, digest }
            if o.target == removed.target && owner_id.starts_with(platform::OWNER_PREFIX) =>
        {
            Some(digest)
        }
        _ => None,
    });
    match held {
        Some(token_id) => Ok(platform_tokens::revoke(pass.state, project, token_id).await?),
        None => Ok(()),
    }
}

/// The site failed as a whole: every target the pass knows it wants — each owner's home, plus
/// whatever it had planned — gets the failure, and with [`Backend::KEEPS_ROWS`] every row of the
/// location keeps what it said, marked with the failure.
async fn site_failed<B: Backend>(
    pass: &Pass<'_>,
    b: &B,
    why: Failure,
    planned: &[Desired<B::Target>],
) -> Result<PassResult, DeliveryError> {
    let mut outcomes: BTreeMap<(String, String), Outcome> = BTreeMap::new();
    if B::KEEPS_ROWS {
        for r in pass
            .state
            .store()
            .list_deliveries(Some(pass.location), None)
            .await?
        {
            let outcome = Outcome {
                revision: r.revision,
                digest: r.digest,
                ..Outcome::failed(r.target.clone(), &r.owner_id, why.clone())
            };
            outcomes.insert((r.target, r.owner_id), outcome);
        }
    }
    let known = pass
        .sources
        .iter()
        .map(|s| (b.home(&s.record), s.record.id.as_str()))
        .chain(
            pass.workloads
                .iter()
                .filter_map(|w| Some((b.workload_home(w)?, w.record.id.as_str()))),
        )
        .chain(
            planned
                .iter()
                .map(|x| (x.target.clone(), x.owner_id.as_str())),
        );
    for (t, owner) in known {
        let row = b.row(&t);
        outcomes
            .entry((row.clone(), owner.to_owned()))
            .or_insert_with(|| Outcome::failed(row, owner, why.clone()));
    }
    Ok(PassResult {
        outcomes: outcomes.into_values().collect(),
        ..PassResult::default()
    })
}
