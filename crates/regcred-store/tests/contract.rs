//! The store contract suite: what every [`Store`] backend must do, written once against the trait
//! and run against each backend on a fresh, empty store per check. It proves the rules callers
//! rely on — keys are unique, optimistic concurrency on pull secrets, deletes guarded by `InUse`,
//! every mutation committed together with exactly one audit event and a refused mutation leaving
//! no trace, stable orderings, first-writer-wins metadata, and concurrent writers that never fail
//! spuriously.
//!
//! ## Layout
//!
//! * Each check is an `async fn` taking `&dyn Store` (or `Arc<dyn Store>` when it spawns tasks).
//!   It uses nothing but the trait, so it cannot depend on a backend's internals.
//! * A factory is an `async fn() -> Option<Fixture>`: a fresh, empty, migrated store plus whatever
//!   must live as long as it (a temporary directory, a scratch schema). `None` means "this
//!   backend is not available here"; the check then prints why it was skipped and passes.
//! * `contract_suite!(module => factory);` expands to one `#[tokio::test]` per check, named
//!   `module::check`, so a failure names both the backend and the broken rule.
//!
//! ## Backends
//!
//! SQLite (a file) and PostgreSQL: each PostgreSQL check gets a database of its
//! own (`regcred_testkit::PostgresDb`, on `REGCRED_TEST_POSTGRES_URL`, default the loopback
//! server `scripts/setup` provides), dropped when the check ends, so checks run in parallel. An
//! unreachable server fails the PostgreSQL checks; they never skip silently. List ordering is
//! byte order of the key (the SQLite behaviour); the PostgreSQL schema has `COLLATE "C"` on
//! ordered keys, which `projects_round_trip` checks with names that differ only around a `-`.
//!
//! A new backend writes a factory (`async fn() -> Option<Fixture>`; `None` only where the
//! backend cannot exist on the platform) and adds `contract_suite!(name => factory);` below.
//!
//! ## Adding a check
//!
//! Write the `async fn` below and add its name to the list in `contract_suite!`; an unlisted
//! check is dead code, which the lint run rejects.

mod support;

use std::any::Any;
use std::sync::Arc;

use regcred_store::{
    AuditRecord, DeliveryRecord, DeploymentRecord, DeploymentRevisionRecord, ListKey, ListPage,
    LocationRecord, PostgresStore, ProjectRecord, PullSecretRecord, PutGuard, ReferrerRecord,
    SessionRecord, SqliteStore, Store, StoreError, TokenRecord,
};
use support::*;

// ---------------------------------------------------------------------------------------------
// Fixtures and the suite macro
// ---------------------------------------------------------------------------------------------

/// A fresh store and whatever must outlive it.
pub struct Fixture {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send>,
}

impl Fixture {
    fn new(store: impl Store, guard: impl Any + Send) -> Fixture {
        Fixture {
            store: Arc::new(store),
            _guard: Box::new(guard),
        }
    }
}

async fn sqlite_file() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("regcred.db"))
        .await
        .expect("open SQLite file store");
    Some(Fixture::new(store, dir))
}

async fn postgres() -> Option<Fixture> {
    let db = regcred_testkit::PostgresDb::create().await;
    let store = PostgresStore::connect(db.url())
        .await
        .expect("open PostgreSQL store");
    Some(Fixture::new(store, db))
}

macro_rules! contract_suite {
    ($backend:ident => $factory:ident) => {
        contract_suite!(@expand $backend => $factory;
            borrowed:
                projects_round_trip,
                duplicate_project_is_already_exists,
                delete_project_refused_while_pull_secrets_exist_and_revokes_tokens,
                delete_missing_project_is_not_found,
                locations_round_trip,
                duplicate_location_is_already_exists,
                delete_location_refused_while_pull_secrets_are_scoped_to_it,
                pull_secret_insert_get_list_by_filters,
                put_with_stale_revision_is_conflict,
                verification_is_kept_per_revision_and_reset_by_rotation,
                put_with_unknown_id_is_conflict,
                duplicate_name_in_same_project_location_is_already_exists,
                same_name_in_other_location_or_project_is_allowed,
                pull_secret_needs_its_project_and_location,
                delete_refused_in_use_lists_referrers_unless_forced,
                delete_missing_pull_secret_is_not_found,
                references_add_remove_idempotent,
                deployments_insert_get_list_by_filters,
                deployment_revisions_are_kept_oldest_first_and_need_the_current_revision,
                duplicate_deployment_is_already_exists,
                deployment_needs_its_project_and_location,
                deployment_replaces_its_own_references,
                deployment_with_a_missing_pull_secret_is_not_found_and_writes_nothing,
                delete_deployment_takes_its_revisions_and_references,
                delete_pull_secret_refused_while_a_deployment_uses_it,
                delete_project_and_location_refused_while_deployments_exist,
                deliveries_upsert_remove_and_filter,
                a_location_of_many_deliveries_lists_whole_and_in_order,
                every_deployment_mutation_writes_exactly_one_audit_event,
                refused_deployment_mutation_writes_nothing,
                tokens_create_get_list_revoke,
                revoking_a_token_revokes_the_tokens_it_created,
                put_guards_refuse_a_second_server_and_a_second_project,
                registry_keys_create_list_revoke,
                minted_state_round_trips_and_dies_with_its_pull_secret,
                aggregates_count_and_summarize_without_listing,
                every_mutation_writes_exactly_one_audit_event,
                failed_mutation_writes_no_audit_event,
                audit_list_newest_first_with_paging_and_project_filter,
                pages_walk_every_list_in_order_with_items_added_between_pages,
                batch_reads_answer_what_the_single_reads_do,
                changes_name_every_written_owner_of_a_location,
                pull_secret_generation_moves_with_what_resolution_reads,
                audit_retention_deletes_the_oldest_in_batches,
                a_lease_has_one_holder_until_it_expires_or_is_released,
                fenced_writes_commit_only_under_the_current_lease,
                meta_insert_is_first_writer_wins,
                sessions_round_trip_and_expire;
            shared:
                concurrent_writers_do_not_fail,
                concurrent_rotations_with_the_same_expected_revision_have_one_winner,
                concurrent_meta_inserts_have_one_winner,
                concurrent_deploys_of_one_name_have_one_winner;
        );
    };
    (@expand $backend:ident => $factory:ident;
        borrowed: $($check:ident),* ;
        shared: $($shared:ident),* ;
    ) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let Some(fixture) = super::$factory().await else {
                        return eprintln!("skipped: backend {} is not available", stringify!($backend));
                    };
                    super::$check(&*fixture.store).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $shared() {
                    let Some(fixture) = super::$factory().await else {
                        return eprintln!("skipped: backend {} is not available", stringify!($backend));
                    };
                    super::$shared(fixture.store.clone()).await;
                }
            )*
        }
    };
}

contract_suite!(sqlite_file => sqlite_file);
contract_suite!(postgres => postgres);

// ---------------------------------------------------------------------------------------------
// Mutations as data, for the audit and atomicity tables
// ---------------------------------------------------------------------------------------------

/// One audited mutation of the trait.
// Rows of small test tables: boxing the big variant would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Op {
    CreateProject(ProjectRecord),
    DeleteProject(&'static str),
    CreateLocation(LocationRecord),
    DeleteLocation(&'static str),
    PutPullSecret(PullSecretRecord, Option<i64>),
    DeletePullSecret(&'static str, bool),
    CreateToken(TokenRecord),
    RevokeToken(&'static str),
    AppendAudit,
}

impl Op {
    async fn apply(&self, store: &dyn Store, audit: &AuditRecord) -> Result<(), StoreError> {
        match self {
            Op::CreateProject(p) => store.create_project(p, audit).await,
            Op::DeleteProject(name) => store.delete_project(name, 9_000, audit).await,
            Op::CreateLocation(l) => store.create_location(l, audit).await,
            Op::DeleteLocation(name) => store.delete_location(name, audit).await,
            Op::PutPullSecret(s, expected) => {
                store
                    .put_pull_secret(s, *expected, PutGuard::default(), audit)
                    .await
            }
            Op::DeletePullSecret(id, force) => store.delete_pull_secret(id, *force, audit).await,
            Op::CreateToken(t) => store.create_token(t, audit).await,
            Op::RevokeToken(id) => store.revoke_token(id, 9_000, audit).await,
            Op::AppendAudit => store.append_audit(audit).await,
        }
    }
}

/// A distinctive audit event for step `step` of a table.
fn audit_for_step(step: usize) -> AuditRecord {
    AuditRecord {
        time: 1_000 + step as i64,
        detail: format!(r#"{{"step":{step}}}"#),
        ..audit(&format!("step-{step}"), Some("alpha"), "table")
    }
}

/// A store with two projects, three locations, two pull secrets (one referenced by a
/// deployment), and tokens in every state.
async fn seed(store: &dyn Store) {
    let a = || audit("seed", None, "seed");
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    for l in ["gke.one", "gke.two", "gke.empty"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    let ps_1 = pull_secret("ps_1", "alpha", "gke.one", "ghcr");
    let ps_2 = pull_secret("ps_2", "beta", "gke.two", "quay");
    store
        .put_pull_secret(&ps_1, None, PutGuard::default(), &a())
        .await
        .unwrap();
    store
        .put_pull_secret(&ps_2, None, PutGuard::default(), &a())
        .await
        .unwrap();
    store
        .add_reference("ps_1", &referrer("deployment", "web"))
        .await
        .unwrap();
    store
        .create_token(&token("tok_1", Some("alpha")), &a())
        .await
        .unwrap();
    store
        .create_token(&token("tok_2", None), &a())
        .await
        .unwrap();
    store
        .create_token(&token("tok_3", Some("beta")), &a())
        .await
        .unwrap();
    store.revoke_token("tok_3", 5, &a()).await.unwrap();
}

fn referrer(kind: &str, name: &str) -> ReferrerRecord {
    ReferrerRecord {
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

async fn audit_count(store: &dyn Store) -> usize {
    all_audit(store, None).await.len()
}

// ---------------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------------

async fn projects_round_trip(store: &dyn Store) {
    assert_eq!(store.list_projects().await.unwrap(), vec![]);
    let records = [
        project("zeta"),
        ProjectRecord {
            description: None,
            ..project("alpha")
        },
        ProjectRecord {
            created_at: i64::MAX,
            ..project("team-b")
        },
        ProjectRecord {
            created_at: i64::MIN,
            ..project("teama")
        },
    ];
    for p in &records {
        store
            .create_project(p, &audit("project.create", Some(&p.name), &p.name))
            .await
            .unwrap();
    }
    for p in &records {
        assert_eq!(store.get_project(&p.name).await.unwrap().as_ref(), Some(p));
    }
    assert_eq!(store.get_project("missing").await.unwrap(), None);
    // Byte order: "team-b" before "teama" because '-' < 'a' (a locale collation says otherwise).
    let names: Vec<String> = store
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["alpha", "team-b", "teama", "zeta"]);
}

async fn duplicate_project_is_already_exists(store: &dyn Store) {
    let original = project("alpha");
    store
        .create_project(&original, &audit("project.create", Some("alpha"), "alpha"))
        .await
        .unwrap();
    let impostor = ProjectRecord {
        description: Some("someone else's".to_owned()),
        created_by: "mallory".to_owned(),
        ..original.clone()
    };
    let err = store
        .create_project(&impostor, &audit("project.create", Some("alpha"), "alpha"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what: "project", key } if key == "alpha"),
        "{err:?}"
    );
    assert_eq!(store.get_project("alpha").await.unwrap(), Some(original));
}

async fn delete_project_refused_while_pull_secrets_exist_and_revokes_tokens(store: &dyn Store) {
    let a = || audit("setup", None, "setup");
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    store
        .create_location(&location("gke.one"), &a())
        .await
        .unwrap();
    store
        .put_pull_secret(
            &pull_secret("ps_1", "alpha", "gke.one", "web"),
            None,
            PutGuard::default(),
            &a(),
        )
        .await
        .unwrap();
    for t in [
        token("tok_alpha", Some("alpha")),
        token("tok_alpha_old", Some("alpha")),
        token("tok_beta", Some("beta")),
        token("tok_global", None),
    ] {
        store.create_token(&t, &a()).await.unwrap();
    }
    store.revoke_token("tok_alpha_old", 5, &a()).await.unwrap();
    let tokens_before = store.list_tokens(None).await.unwrap();

    let err = store
        .delete_project(
            "alpha",
            9_000,
            &audit("project.delete", Some("alpha"), "alpha"),
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { what, key, by } => {
            assert_eq!((*what, key.as_str()), ("project", "alpha"));
            assert_eq!(by.len(), 1, "{by:?}");
            assert!(by[0].contains("web"), "{by:?} should name the pull secret");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(store.get_project("alpha").await.unwrap().is_some());
    assert_eq!(store.list_tokens(None).await.unwrap(), tokens_before);

    store.delete_pull_secret("ps_1", false, &a()).await.unwrap();
    // Read before the delete: a store that keeps tokens it has read must forget them.
    let active = store.get_token("tok_alpha").await.unwrap().unwrap();
    assert_eq!(active.revoked_at, None);
    store
        .delete_project(
            "alpha",
            9_000,
            &audit("project.delete", Some("alpha"), "alpha"),
        )
        .await
        .unwrap();
    assert_eq!(store.get_project("alpha").await.unwrap(), None);
    let revoked_at =
        |id: &'static str| async move { store.get_token(id).await.unwrap().unwrap().revoked_at };
    assert_eq!(revoked_at("tok_alpha").await, Some(9_000));
    assert_eq!(
        revoked_at("tok_alpha_old").await,
        Some(5),
        "an earlier revocation keeps its time"
    );
    assert_eq!(revoked_at("tok_beta").await, None);
    assert_eq!(revoked_at("tok_global").await, None);
}

async fn delete_missing_project_is_not_found(store: &dyn Store) {
    let err = store
        .delete_project("ghost", 1, &audit("project.delete", Some("ghost"), "ghost"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what: "project", key } if key == "ghost"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------------------------

async fn locations_round_trip(store: &dyn Store) {
    assert_eq!(store.list_locations().await.unwrap(), vec![]);
    let records = [
        location("gke.cluster-rcf2"),
        LocationRecord {
            kind: "docker".to_owned(),
            spec: r#"{"path":"/home/ci/.docker/config.json"}"#.to_owned(),
            ..location("ci-runner")
        },
        LocationRecord {
            kind: "manifests".to_owned(),
            spec: r#"{"directory":"/srv/manifests"}"#.to_owned(),
            ..location("argo")
        },
    ];
    for l in &records {
        store
            .create_location(l, &audit("location.create", None, &l.name))
            .await
            .unwrap();
    }
    for l in &records {
        assert_eq!(store.get_location(&l.name).await.unwrap().as_ref(), Some(l));
    }
    assert_eq!(store.get_location("missing").await.unwrap(), None);
    let names: Vec<String> = store
        .list_locations()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["argo", "ci-runner", "gke.cluster-rcf2"]);
}

async fn duplicate_location_is_already_exists(store: &dyn Store) {
    let original = location("gke.one");
    store
        .create_location(&original, &audit("location.create", None, "gke.one"))
        .await
        .unwrap();
    let other = LocationRecord {
        kind: "docker".to_owned(),
        ..original.clone()
    };
    let err = store
        .create_location(&other, &audit("location.create", None, "gke.one"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what: "location", key } if key == "gke.one"),
        "{err:?}"
    );
    assert_eq!(store.get_location("gke.one").await.unwrap(), Some(original));
}

async fn delete_location_refused_while_pull_secrets_are_scoped_to_it(store: &dyn Store) {
    let a = || audit("setup", None, "setup");
    store.create_project(&project("alpha"), &a()).await.unwrap();
    for l in ["gke.one", "gke.two"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    store
        .put_pull_secret(
            &pull_secret("ps_1", "alpha", "gke.one", "web"),
            None,
            PutGuard::default(),
            &a(),
        )
        .await
        .unwrap();

    let err = store
        .delete_location("gke.one", &audit("location.delete", None, "gke.one"))
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { what, key, by } => {
            assert_eq!((*what, key.as_str()), ("location", "gke.one"));
            assert_eq!(by.len(), 1, "{by:?}");
            assert!(by[0].contains("web"), "{by:?} should name the pull secret");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(store.get_location("gke.one").await.unwrap().is_some());

    // A location without pull secrets goes at once; the other once its secret is gone.
    store.delete_location("gke.two", &a()).await.unwrap();
    store.delete_pull_secret("ps_1", false, &a()).await.unwrap();
    store.delete_location("gke.one", &a()).await.unwrap();
    assert_eq!(store.list_locations().await.unwrap(), vec![]);

    let err = store.delete_location("gke.one", &a()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what: "location", key } if key == "gke.one"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Pull secrets
// ---------------------------------------------------------------------------------------------

async fn pull_secret_insert_get_list_by_filters(store: &dyn Store) {
    let a = || audit("setup", None, "setup");
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    for l in ["gke.one", "gke.two"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    // Inserted out of order, with the optional fields varied.
    let records = [
        pull_secret("ps_0", "beta", "gke.two", "b"),
        PullSecretRecord {
            username: None,
            email: Some("bot@example.com".to_owned()),
            kind: "custom".to_owned(),
            server: "[::1]:5000".to_owned(),
            ..pull_secret("ps_1", "alpha", "gke.two", "a")
        },
        PullSecretRecord {
            kind: "ecr".to_owned(),
            server: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".to_owned(),
            params: r#"{"region":"eu-west-1"}"#.to_owned(),
            sealed: sealed(7),
            ..pull_secret("ps_2", "alpha", "gke.one", "z")
        },
        pull_secret("ps_3", "alpha", "gke.one", "a"),
        pull_secret("ps_4", "beta", "gke.one", "a"),
    ];
    for s in &records {
        store
            .put_pull_secret(
                s,
                None,
                PutGuard::default(),
                &audit("pull_secret.create", Some(&s.project), &s.id),
            )
            .await
            .unwrap();
    }
    for s in &records {
        let by_key = store
            .get_pull_secret(&s.project, &s.location, &s.name)
            .await
            .unwrap();
        assert_eq!(by_key.as_ref(), Some(s));
        assert_eq!(
            store.get_pull_secret_by_id(&s.id).await.unwrap().as_ref(),
            Some(s)
        );
    }
    for (project, location, name) in [
        ("alpha", "gke.two", "z"),
        ("gamma", "gke.one", "a"),
        ("alpha", "gke.three", "a"),
    ] {
        assert_eq!(
            store
                .get_pull_secret(project, location, name)
                .await
                .unwrap(),
            None,
            "{project}/{location}/{name}"
        );
    }
    assert_eq!(
        store.get_pull_secret_by_id("ps_missing").await.unwrap(),
        None
    );

    // (project filter, location filter, expected ids in (project, location, name) order)
    let cases: [(Option<&str>, Option<&str>, &[&str]); 6] = [
        (None, None, &["ps_3", "ps_2", "ps_1", "ps_4", "ps_0"]),
        (Some("alpha"), None, &["ps_3", "ps_2", "ps_1"]),
        (None, Some("gke.one"), &["ps_3", "ps_2", "ps_4"]),
        (Some("beta"), Some("gke.one"), &["ps_4"]),
        (Some("beta"), Some("gke.three"), &[]),
        (Some("gamma"), None, &[]),
    ];
    for (project, location, expected) in cases {
        let listed = store.list_pull_secrets(project, location).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids, expected,
            "list_pull_secrets({project:?}, {location:?})"
        );
        for s in &listed {
            assert!(records.contains(s), "{s:?} listed differently than stored");
        }
    }
}

async fn verification_is_kept_per_revision_and_reset_by_rotation(store: &dyn Store) {
    seed(store).await;
    let original = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    assert_eq!(original.verification, None);
    let result = r#"{"outcome":"ok"}"#;
    store
        .record_verification(
            "ps_1",
            original.revision,
            result,
            &audit("pull_secret.verify", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    let checked = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    assert_eq!(checked.verification.as_deref(), Some(result));
    assert_eq!(
        checked.revision, original.revision,
        "a check is not a rotation"
    );

    // A rotation forgets the check; a late result for the old revision is refused.
    store
        .put_pull_secret(
            &rotated(&checked, 31, "dave"),
            Some(checked.revision),
            PutGuard::default(),
            &audit("pull_secret.rotate", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    let before = snapshot(store).await;
    let err = store
        .record_verification(
            "ps_1",
            original.revision,
            result,
            &audit("pull_secret.verify", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(
        snapshot(store).await,
        before,
        "a refused record writes nothing"
    );
    let rotated = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    assert_eq!(rotated.verification, None);
}

async fn registry_keys_create_list_revoke(store: &dyn Store) {
    seed(store).await;
    let key = |id: &str, project: &str, name: &str| regcred_store::RegistryKeyRecord {
        id: id.to_owned(),
        project: project.to_owned(),
        name: name.to_owned(),
        access: "read".to_owned(),
        hash: vec![1, 2, 3],
        created_at: 1_700_000_000_000,
        created_by: "carol".to_owned(),
        expires_at: Some(1_800_000_000_000),
        revoked_at: None,
    };
    let a = key("rk_1", "alpha", "ci");
    store
        .create_registry_key(&a, &audit("registryKey.create", Some("alpha"), "rk_1"))
        .await
        .unwrap();
    assert_eq!(
        store.get_registry_key("rk_1").await.unwrap(),
        Some(a.clone())
    );
    let before = snapshot(store).await;
    let dup = store
        .create_registry_key(
            &key("rk_2", "alpha", "ci"),
            &audit("registryKey.create", Some("alpha"), "rk_2"),
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::AlreadyExists { .. }), "{dup:?}");
    let orphan = store
        .create_registry_key(
            &key("rk_3", "nowhere", "ci"),
            &audit("registryKey.create", None, "rk_3"),
        )
        .await
        .unwrap_err();
    assert!(matches!(orphan, StoreError::NotFound { .. }), "{orphan:?}");
    assert_eq!(
        snapshot(store).await,
        before,
        "refused creates write nothing"
    );
    assert_eq!(
        store.list_registry_keys("alpha").await.unwrap(),
        vec![a.clone()]
    );
    assert!(store.list_registry_keys("beta").await.unwrap().is_empty());

    store
        .revoke_registry_key(
            "rk_1",
            1_700_000_001_000,
            &audit("registryKey.revoke", Some("alpha"), "rk_1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_registry_key("rk_1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(1_700_000_001_000)
    );
    let again = store
        .revoke_registry_key(
            "rk_1",
            1_700_000_002_000,
            &audit("registryKey.revoke", Some("alpha"), "rk_1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::NotFound { .. }), "{again:?}");
}

async fn minted_state_round_trips_and_dies_with_its_pull_secret(store: &dyn Store) {
    seed(store).await;
    let failed_first = regcred_store::MintedRecord {
        pull_secret_id: "ps_1".into(),
        revision: 1,
        username: None,
        endpoint: None,
        sealed: None,
        expires_at: None,
        refreshed_at: None,
        attempted_at: 1_000,
        failures: 1,
        last_error: Some("provider unavailable".into()),
        next_refresh_at: 11_000,
    };
    store.put_minted(&failed_first).await.unwrap();
    assert_eq!(
        store.get_minted("ps_1").await.unwrap(),
        Some(failed_first.clone())
    );
    let good = regcred_store::MintedRecord {
        username: Some("AWS".into()),
        endpoint: Some("1.dkr.ecr.x.amazonaws.com".into()),
        sealed: Some(sealed(7)),
        expires_at: Some(43_200_000),
        refreshed_at: Some(20_000),
        attempted_at: 20_000,
        failures: 0,
        last_error: None,
        next_refresh_at: 21_610_000,
        ..failed_first
    };
    store.put_minted(&good).await.unwrap();
    assert_eq!(store.list_minted().await.unwrap(), vec![good.clone()]);
    let orphan = regcred_store::MintedRecord {
        pull_secret_id: "ps_nope".into(),
        ..good.clone()
    };
    assert!(matches!(
        store.put_minted(&orphan).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .delete_pull_secret(
            "ps_1",
            true,
            &audit("pull_secret.delete", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_minted("ps_1").await.unwrap(),
        None,
        "deleted with its pull secret"
    );
}

/// The aggregates `/metrics` reads: per kind, per location and state, and the minted summary
/// that only counts state of the pull secret's current revision.
async fn aggregates_count_and_summarize_without_listing(store: &dyn Store) {
    // The seed's two pull secrets are ghcr.
    assert_eq!(store.count_pull_secrets_by_kind().await.unwrap(), vec![]);
    assert_eq!(store.count_deliveries_by_state().await.unwrap(), vec![]);
    assert_eq!(store.summarize_minted_by_kind().await.unwrap(), vec![]);
    seed(store).await;
    let a = || audit("seed", None, "seed");
    for (id, kind) in [
        ("ps_3", "ecr"),
        ("ps_4", "ecr"),
        ("ps_5", "ecr"),
        ("ps_6", "gcr"),
    ] {
        let record = PullSecretRecord {
            kind: kind.to_owned(),
            ..pull_secret(id, "alpha", "gke.one", id)
        };
        store
            .put_pull_secret(&record, None, PutGuard::default(), &a())
            .await
            .unwrap();
    }
    let count = |kind: &str, count: i64| regcred_store::PullSecretCount {
        kind: kind.to_owned(),
        count,
    };
    assert_eq!(
        store.count_pull_secrets_by_kind().await.unwrap(),
        vec![count("ecr", 3), count("gcr", 1), count("ghcr", 2)]
    );

    let minted = |id: &str, expires_at: Option<i64>, held: bool, failures: i64| {
        regcred_store::MintedRecord {
            pull_secret_id: id.to_owned(),
            revision: 1,
            username: Some("AWS".into()),
            endpoint: None,
            sealed: held.then(|| sealed(9)),
            expires_at,
            refreshed_at: held.then_some(1_000),
            attempted_at: 2_000,
            failures,
            last_error: None,
            next_refresh_at: 3_000,
        }
    };
    // ps_3 holds the earliest credential, ps_4 a later one and failed since, ps_5 never minted
    // (its expiry is not a credential's), ps_6 holds one of unknown lifetime.
    store
        .put_minted(&minted("ps_3", Some(50_000), true, 0))
        .await
        .unwrap();
    store
        .put_minted(&minted("ps_4", Some(90_000), true, 2))
        .await
        .unwrap();
    store
        .put_minted(&minted("ps_5", Some(10_000), false, 1))
        .await
        .unwrap();
    store
        .put_minted(&minted("ps_6", None, true, 0))
        .await
        .unwrap();
    let summary = |kind: &str, count: i64, earliest_expiry: Option<i64>, failing: i64| {
        regcred_store::MintedSummary {
            kind: kind.to_owned(),
            count,
            earliest_expiry,
            failing,
        }
    };
    assert_eq!(
        store.summarize_minted_by_kind().await.unwrap(),
        vec![
            summary("ecr", 3, Some(50_000), 2),
            summary("gcr", 1, None, 0)
        ]
    );
    // A rotation of ps_3 leaves its minted row on the old revision: no longer counted.
    let ps_3 = store.get_pull_secret_by_id("ps_3").await.unwrap().unwrap();
    store
        .put_pull_secret(
            &rotated(&ps_3, 4, "carol"),
            Some(1),
            PutGuard::default(),
            &a(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.summarize_minted_by_kind().await.unwrap(),
        vec![
            summary("ecr", 2, Some(90_000), 2),
            summary("gcr", 1, None, 0)
        ]
    );

    store
        .update_deliveries(
            "gke.one",
            &[
                delivery_row("gke.one", "secret:a/x", "ps_1", "delivered"),
                delivery_row("gke.one", "secret:b/x", "ps_1", "delivered"),
                delivery_row("gke.one", "secret:c/x", "ps_1", "error"),
            ],
            &[],
        )
        .await
        .unwrap();
    store
        .update_deliveries(
            "gke.two",
            &[delivery_row("gke.two", "secret:a/y", "ps_2", "pending")],
            &[],
        )
        .await
        .unwrap();
    let deliveries = |location: &str, state: &str, count: i64| regcred_store::DeliveryCount {
        location: location.to_owned(),
        state: state.to_owned(),
        count,
    };
    assert_eq!(
        store.count_deliveries_by_state().await.unwrap(),
        vec![
            deliveries("gke.one", "delivered", 2),
            deliveries("gke.one", "error", 1),
            deliveries("gke.two", "pending", 1),
        ]
    );
}

async fn put_with_stale_revision_is_conflict(store: &dyn Store) {
    seed(store).await;
    let original = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    assert_eq!(original.revision, 1);

    // Two writers read revision 1; the first rotation wins and bumps the revision.
    let first = rotated(&original, 21, "first");
    let second = rotated(&original, 22, "second");
    store
        .put_pull_secret(
            &first,
            Some(1),
            PutGuard::default(),
            &audit("pull_secret.rotate", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    let after_first = snapshot(store).await;
    assert_eq!(
        store.get_pull_secret_by_id("ps_1").await.unwrap(),
        Some(first.clone())
    );

    let err = store
        .put_pull_secret(
            &second,
            Some(1),
            PutGuard::default(),
            &audit("pull_secret.rotate", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                what: "pull secret",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        snapshot(store).await,
        after_first,
        "a conflict changes nothing"
    );

    // Re-reading and retrying with the current revision succeeds.
    let retried = rotated(&first, 23, "second");
    store
        .put_pull_secret(
            &retried,
            Some(2),
            PutGuard::default(),
            &audit("pull_secret.rotate", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    let stored = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    assert_eq!(stored, retried);
    assert_eq!(stored.revision, 3);
}

async fn put_with_unknown_id_is_conflict(store: &dyn Store) {
    seed(store).await;
    let ghost = pull_secret("ps_ghost", "alpha", "gke.one", "ghost");
    let err = store
        .put_pull_secret(
            &ghost,
            Some(1),
            PutGuard::default(),
            &audit("pull_secret.rotate", Some("alpha"), "ghost"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                what: "pull secret",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.get_pull_secret_by_id("ps_ghost").await.unwrap(), None);
}

async fn duplicate_name_in_same_project_location_is_already_exists(store: &dyn Store) {
    seed(store).await;
    let before = snapshot(store).await;
    let duplicate = PullSecretRecord {
        sealed: sealed(99),
        ..pull_secret("ps_9", "alpha", "gke.one", "ghcr")
    };
    let err = store
        .put_pull_secret(
            &duplicate,
            None,
            PutGuard::default(),
            &audit("pull_secret.create", Some("alpha"), "ps_9"),
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::AlreadyExists { what, key } => {
            assert_eq!(*what, "pull secret");
            assert!(key.contains("ghcr"), "{key:?} should name the secret");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(snapshot(store).await, before);

    // Ids are unique too: an insert reusing one is refused, whatever the name.
    let same_id = pull_secret("ps_1", "alpha", "gke.two", "other");
    assert!(store
        .put_pull_secret(
            &same_id,
            None,
            PutGuard::default(),
            &audit("pull_secret.create", Some("alpha"), "ps_1")
        )
        .await
        .is_err());
    assert_eq!(snapshot(store).await, before);
}

async fn same_name_in_other_location_or_project_is_allowed(store: &dyn Store) {
    let a = || audit("setup", None, "setup");
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    for l in ["gke.one", "gke.two"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    let records = [
        pull_secret("ps_1", "alpha", "gke.one", "web"),
        PullSecretRecord {
            sealed: sealed(2),
            ..pull_secret("ps_2", "alpha", "gke.two", "web")
        },
        PullSecretRecord {
            sealed: sealed(3),
            ..pull_secret("ps_3", "beta", "gke.one", "web")
        },
    ];
    for s in &records {
        store
            .put_pull_secret(s, None, PutGuard::default(), &a())
            .await
            .unwrap();
    }
    for s in &records {
        assert_eq!(
            store
                .get_pull_secret(&s.project, &s.location, "web")
                .await
                .unwrap()
                .as_ref(),
            Some(s)
        );
    }
}

async fn pull_secret_needs_its_project_and_location(store: &dyn Store) {
    seed(store).await;
    let before = snapshot(store).await;
    for orphan in [
        pull_secret("ps_8", "gamma", "gke.one", "web"),
        pull_secret("ps_9", "alpha", "gke.three", "web"),
    ] {
        let result = store
            .put_pull_secret(
                &orphan,
                None,
                PutGuard::default(),
                &audit("pull_secret.create", None, &orphan.id),
            )
            .await;
        assert!(result.is_err(), "{orphan:?} was accepted");
    }
    assert_eq!(snapshot(store).await, before);
}

async fn delete_refused_in_use_lists_referrers_unless_forced(store: &dyn Store) {
    seed(store).await;
    store
        .add_reference("ps_1", &referrer("deployment", "api"))
        .await
        .unwrap();
    let before = snapshot(store).await;

    let err = store
        .delete_pull_secret(
            "ps_1",
            false,
            &audit("pull_secret.delete", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { what, key, by } => {
            assert_eq!(*what, "pull secret");
            assert!(key.contains("ps_1") || key.contains("ghcr"), "{key:?}");
            assert_eq!(by.len(), 2, "{by:?}");
            assert!(by.iter().any(|b| b.contains("web")), "{by:?}");
            assert!(by.iter().any(|b| b.contains("api")), "{by:?}");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(snapshot(store).await, before);

    // An unreferenced secret needs no force.
    store
        .delete_pull_secret(
            "ps_2",
            false,
            &audit("pull_secret.delete", Some("beta"), "ps_2"),
        )
        .await
        .unwrap();
    assert_eq!(store.get_pull_secret_by_id("ps_2").await.unwrap(), None);

    store
        .delete_pull_secret(
            "ps_1",
            true,
            &audit("pull_secret.delete", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    assert_eq!(store.get_pull_secret_by_id("ps_1").await.unwrap(), None);
    assert_eq!(
        store.references("ps_1").await.unwrap(),
        vec![],
        "references go with the secret"
    );
    assert_eq!(audit_count(store).await, before.audit.len() + 2);
}

async fn delete_missing_pull_secret_is_not_found(store: &dyn Store) {
    for force in [false, true] {
        let err = store
            .delete_pull_secret(
                "ps_ghost",
                force,
                &audit("pull_secret.delete", None, "ps_ghost"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::NotFound {
                    what: "pull secret",
                    ..
                }
            ),
            "force {force}: {err:?}"
        );
    }
}

async fn references_add_remove_idempotent(store: &dyn Store) {
    seed(store).await;
    let web = referrer("deployment", "web");
    let api = referrer("deployment", "api");
    let node = referrer("kubelet", "node-a");

    store.add_reference("ps_1", &web).await.unwrap();
    store.add_reference("ps_1", &node).await.unwrap();
    store.add_reference("ps_1", &api).await.unwrap();
    store.add_reference("ps_1", &api).await.unwrap();
    // Ordered by kind, then name.
    assert_eq!(
        store.references("ps_1").await.unwrap(),
        vec![api.clone(), web.clone(), node.clone()]
    );
    assert_eq!(
        store.references("ps_2").await.unwrap(),
        vec![],
        "per secret"
    );

    store.remove_reference("ps_1", &web).await.unwrap();
    store.remove_reference("ps_1", &web).await.unwrap();
    store
        .remove_reference("ps_1", &referrer("deployment", "never-added"))
        .await
        .unwrap();
    store.remove_reference("ps_ghost", &web).await.unwrap();
    assert_eq!(store.references("ps_1").await.unwrap(), vec![api, node]);

    let err = store.add_reference("ps_ghost", &web).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what: "pull secret", key } if key == "ps_ghost"),
        "{err:?}"
    );
    assert_eq!(store.references("ps_ghost").await.unwrap(), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Deployments and deliveries
// ---------------------------------------------------------------------------------------------

fn deployment(id: &str, project: &str, location: &str, name: &str) -> DeploymentRecord {
    DeploymentRecord {
        id: id.to_owned(),
        project: project.to_owned(),
        location: location.to_owned(),
        name: name.to_owned(),
        revision: 1,
        spec: format!(
            r#"{{"image":"ghcr.io/acme/{name}:1","replicas":2,"pullSecrets":[],"resolution":"public"}}"#
        ),
        created_at: 1_700_000_000_010,
        created_by: "frank".to_owned(),
        updated_at: 1_700_000_000_010,
        updated_by: "frank".to_owned(),
    }
}

/// The record a new deploy of `previous` would write: new spec, revision bumped.
fn redeployed(previous: &DeploymentRecord, tag: u32, by: &str) -> DeploymentRecord {
    DeploymentRecord {
        revision: previous.revision + 1,
        spec: format!(
            r#"{{"image":"ghcr.io/acme/{}:{tag}","replicas":3,"pullSecrets":[],"resolution":"public"}}"#,
            previous.name
        ),
        updated_at: previous.updated_at + 1_000,
        updated_by: by.to_owned(),
        ..previous.clone()
    }
}

/// What a revision row keeps; deliberately different from `spec`, so that a backend storing the
/// wrong one is caught.
fn revision_spec(d: &DeploymentRecord) -> String {
    format!(r#"{{"revision":{},"of":"{}"}}"#, d.revision, d.id)
}

/// The revision row `put_deployment(d, …)` must record.
fn revision_of(d: &DeploymentRecord) -> DeploymentRevisionRecord {
    DeploymentRevisionRecord {
        deployment_id: d.id.clone(),
        revision: d.revision,
        spec: revision_spec(d),
        created_at: d.updated_at,
        created_by: d.updated_by.clone(),
    }
}

async fn put_deployment(
    store: &dyn Store,
    d: &DeploymentRecord,
    expected: Option<i64>,
    pull_secret_ids: &[&str],
) -> Result<(), StoreError> {
    let ids: Vec<String> = pull_secret_ids.iter().map(|s| (*s).to_owned()).collect();
    let a = audit("deployment.deploy", Some(&d.project), &d.id);
    store
        .put_deployment(
            d,
            expected,
            &revision_spec(d),
            &ids,
            PutGuard::default(),
            &a,
        )
        .await
}

/// How a deployment names itself in the references of its pull secrets.
fn deployment_referrer(d: &DeploymentRecord) -> ReferrerRecord {
    referrer(
        "deployment",
        &format!("{}/{}/{}", d.project, d.location, d.name),
    )
}

fn delivery_row(location: &str, target: &str, owner_id: &str, state: &str) -> DeliveryRecord {
    DeliveryRecord {
        location: location.to_owned(),
        target: target.to_owned(),
        owner_id: owner_id.to_owned(),
        state: state.to_owned(),
        revision: Some(3),
        digest: Some(format!("hmac-sha256:{owner_id}@{target}")),
        code: None,
        message: None,
        updated_at: 1_700_000_000_020,
    }
}

/// [`snapshot`] plus what it does not cover: deployments with every revision, and deliveries.
#[derive(Debug, PartialEq, Eq)]
struct FullSnapshot {
    base: Snapshot,
    deployments: Vec<(DeploymentRecord, Vec<DeploymentRevisionRecord>)>,
    deliveries: Vec<DeliveryRecord>,
}

async fn full_snapshot(store: &dyn Store) -> FullSnapshot {
    let mut deployments = Vec::new();
    for d in store.list_deployments(None, None).await.unwrap() {
        let revisions = store.list_deployment_revisions(&d.id).await.unwrap();
        deployments.push((d, revisions));
    }
    FullSnapshot {
        base: snapshot(store).await,
        deployments,
        deliveries: store.list_deliveries(None, None).await.unwrap(),
    }
}

/// [`seed`] plus `ps_3` (alpha/gke.one/quay), which nothing references yet.
async fn seed_for_deployments(store: &dyn Store) {
    seed(store).await;
    let ps_3 = PullSecretRecord {
        sealed: sealed(3),
        ..pull_secret("ps_3", "alpha", "gke.one", "quay")
    };
    store
        .put_pull_secret(
            &ps_3,
            None,
            PutGuard::default(),
            &audit("seed", None, "seed"),
        )
        .await
        .unwrap();
}

async fn deployments_insert_get_list_by_filters(store: &dyn Store) {
    seed(store).await;
    assert_eq!(store.list_deployments(None, None).await.unwrap(), vec![]);
    // Inserted out of order; the same name in other projects and locations is another deployment.
    let records = [
        deployment("dp_0", "beta", "gke.two", "web"),
        DeploymentRecord {
            created_at: i64::MAX,
            updated_at: i64::MAX,
            spec: "{\"image\":\"ünïcode kept\"}".to_owned(),
            ..deployment("dp_1", "alpha", "gke.two", "api")
        },
        deployment("dp_2", "alpha", "gke.one", "web"),
        deployment("dp_3", "alpha", "gke.one", "api"),
        deployment("dp_4", "beta", "gke.one", "web"),
        deployment("dp_5", "alpha", "gke.two", "web"),
    ];
    for d in &records {
        put_deployment(store, d, None, &[]).await.unwrap();
    }
    for d in &records {
        assert_eq!(
            store
                .get_deployment(&d.project, &d.location, &d.name)
                .await
                .unwrap()
                .as_ref(),
            Some(d)
        );
        assert_eq!(
            store.list_deployment_revisions(&d.id).await.unwrap(),
            vec![revision_of(d)],
            "an insert records revision 1"
        );
    }
    for (project, location, name) in [
        ("alpha", "gke.one", "db"),
        ("gamma", "gke.one", "web"),
        ("beta", "gke.two", "api"),
    ] {
        assert_eq!(
            store.get_deployment(project, location, name).await.unwrap(),
            None,
            "{project}/{location}/{name}"
        );
    }
    assert_eq!(
        store.list_deployment_revisions("dp_missing").await.unwrap(),
        vec![]
    );

    // (project filter, location filter, expected ids in (project, location, name) order)
    let cases: [(Option<&str>, Option<&str>, &[&str]); 7] = [
        (
            None,
            None,
            &["dp_3", "dp_2", "dp_1", "dp_5", "dp_4", "dp_0"],
        ),
        (Some("alpha"), None, &["dp_3", "dp_2", "dp_1", "dp_5"]),
        (None, Some("gke.one"), &["dp_3", "dp_2", "dp_4"]),
        (Some("alpha"), Some("gke.two"), &["dp_1", "dp_5"]),
        (Some("beta"), Some("gke.empty"), &[]),
        (None, Some("gke.three"), &[]),
        (Some("gamma"), None, &[]),
    ];
    for (project, location, expected) in cases {
        let listed = store.list_deployments(project, location).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, expected, "list_deployments({project:?}, {location:?})");
        for d in &listed {
            assert!(records.contains(d), "{d:?} listed differently than stored");
        }
    }
}

async fn deployment_revisions_are_kept_oldest_first_and_need_the_current_revision(
    store: &dyn Store,
) {
    seed(store).await;
    let first = deployment("dp_1", "alpha", "gke.one", "web");
    let other = deployment("dp_2", "alpha", "gke.one", "api");
    put_deployment(store, &first, None, &[]).await.unwrap();
    put_deployment(store, &other, None, &[]).await.unwrap();
    let second = redeployed(&first, 2, "grace");
    put_deployment(store, &second, Some(1), &[]).await.unwrap();
    let third = redeployed(&second, 3, "heidi");
    put_deployment(store, &third, Some(2), &[]).await.unwrap();

    assert_eq!(
        store
            .get_deployment("alpha", "gke.one", "web")
            .await
            .unwrap(),
        Some(third.clone()),
        "the current revision, created_* kept from the insert"
    );
    assert_eq!(
        store.list_deployment_revisions("dp_1").await.unwrap(),
        vec![
            revision_of(&first),
            revision_of(&second),
            revision_of(&third)
        ]
    );
    assert_eq!(
        store.list_deployment_revisions("dp_2").await.unwrap(),
        vec![revision_of(&other)],
        "revisions are per deployment"
    );

    // A writer that read revision 2 lost the race; one that never read anything neither wins.
    let before = full_snapshot(store).await;
    let stale = redeployed(&second, 9, "mallory");
    let err = put_deployment(store, &stale, Some(2), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                what: "deployment",
                ..
            }
        ),
        "{err:?}"
    );
    let ghost = deployment("dp_ghost", "alpha", "gke.one", "ghost");
    let err = put_deployment(store, &ghost, Some(1), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                what: "deployment",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        full_snapshot(store).await,
        before,
        "a conflict changes nothing"
    );

    let fourth = redeployed(&third, 4, "mallory");
    put_deployment(store, &fourth, Some(3), &[]).await.unwrap();
    let revisions: Vec<i64> = store
        .list_deployment_revisions("dp_1")
        .await
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(revisions, [1, 2, 3, 4]);
}

async fn duplicate_deployment_is_already_exists(store: &dyn Store) {
    seed(store).await;
    let original = deployment("dp_1", "alpha", "gke.one", "web");
    put_deployment(store, &original, None, &["ps_1"])
        .await
        .unwrap();
    let before = full_snapshot(store).await;

    let impostor = DeploymentRecord {
        created_by: "mallory".to_owned(),
        ..deployment("dp_9", "alpha", "gke.one", "web")
    };
    let err = put_deployment(store, &impostor, None, &[])
        .await
        .unwrap_err();
    match &err {
        StoreError::AlreadyExists { what, key } => {
            assert_eq!(*what, "deployment");
            assert!(key.contains("web"), "{key:?} should name the deployment");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // Ids are unique too: an insert reusing one is refused, whatever the name.
    let same_id = deployment("dp_1", "beta", "gke.two", "other");
    assert!(put_deployment(store, &same_id, None, &[]).await.is_err());
    assert_eq!(
        full_snapshot(store).await,
        before,
        "refused inserts write nothing, not even a revision or a reference"
    );
}

async fn deployment_needs_its_project_and_location(store: &dyn Store) {
    seed(store).await;
    let before = full_snapshot(store).await;
    for orphan in [
        deployment("dp_8", "gamma", "gke.one", "web"),
        deployment("dp_9", "alpha", "gke.three", "web"),
    ] {
        let result = put_deployment(store, &orphan, None, &[]).await;
        assert!(result.is_err(), "{orphan:?} was accepted");
    }
    assert_eq!(full_snapshot(store).await, before);
}

async fn deployment_replaces_its_own_references(store: &dyn Store) {
    seed_for_deployments(store).await;
    let web = deployment("dp_1", "alpha", "gke.one", "web");
    let api = deployment("dp_2", "alpha", "gke.one", "api");
    // The seed's referrer of ps_1 is someone else's: no deploy may touch it.
    let seeded = referrer("deployment", "web");

    put_deployment(store, &web, None, &["ps_1"]).await.unwrap();
    put_deployment(store, &api, None, &["ps_1", "ps_3"])
        .await
        .unwrap();
    assert_eq!(
        store.references("ps_1").await.unwrap(),
        vec![
            deployment_referrer(&api),
            deployment_referrer(&web),
            seeded.clone()
        ]
    );
    assert_eq!(
        store.references("ps_3").await.unwrap(),
        vec![deployment_referrer(&api)]
    );

    // A new revision's pull secrets replace the old ones; naming one twice (by name and by id
    // in a request) is one reference.
    let web_2 = redeployed(&web, 2, "grace");
    put_deployment(store, &web_2, Some(1), &["ps_3", "ps_3"])
        .await
        .unwrap();
    assert_eq!(
        store.references("ps_1").await.unwrap(),
        vec![deployment_referrer(&api), seeded.clone()]
    );
    assert_eq!(
        store.references("ps_3").await.unwrap(),
        vec![deployment_referrer(&api), deployment_referrer(&web)]
    );

    // None at all: a public image.
    put_deployment(store, &redeployed(&web_2, 3, "grace"), Some(2), &[])
        .await
        .unwrap();
    put_deployment(store, &redeployed(&api, 2, "grace"), Some(1), &[])
        .await
        .unwrap();
    assert_eq!(store.references("ps_1").await.unwrap(), vec![seeded]);
    assert_eq!(store.references("ps_3").await.unwrap(), vec![]);
}

async fn deployment_with_a_missing_pull_secret_is_not_found_and_writes_nothing(store: &dyn Store) {
    seed_for_deployments(store).await;
    let before = full_snapshot(store).await;
    let web = deployment("dp_1", "alpha", "gke.one", "web");
    let err = put_deployment(store, &web, None, &["ps_3", "ps_ghost"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what: "pull secret", key } if key == "ps_ghost"),
        "{err:?}"
    );
    assert_eq!(
        full_snapshot(store).await,
        before,
        "no deployment, revision, reference or audit event"
    );
    assert_eq!(
        store.list_deployment_revisions("dp_1").await.unwrap(),
        vec![]
    );

    // The same on an update: the old revision and its references stay.
    put_deployment(store, &web, None, &["ps_3"]).await.unwrap();
    let before = full_snapshot(store).await;
    let err = put_deployment(store, &redeployed(&web, 2, "grace"), Some(1), &["ps_ghost"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what: "pull secret", key } if key == "ps_ghost"),
        "{err:?}"
    );
    assert_eq!(full_snapshot(store).await, before);
    assert_eq!(
        store.references("ps_3").await.unwrap(),
        vec![deployment_referrer(&web)]
    );
}

async fn delete_deployment_takes_its_revisions_and_references(store: &dyn Store) {
    seed_for_deployments(store).await;
    let web = deployment("dp_1", "alpha", "gke.one", "web");
    let api = deployment("dp_2", "alpha", "gke.one", "api");
    put_deployment(store, &web, None, &["ps_3"]).await.unwrap();
    let web_2 = redeployed(&web, 2, "grace");
    put_deployment(store, &web_2, Some(1), &["ps_3"])
        .await
        .unwrap();
    put_deployment(store, &api, None, &["ps_3"]).await.unwrap();
    let audit_before = audit_count(store).await;

    store
        .delete_deployment("dp_1", &audit("deployment.delete", Some("alpha"), "dp_1"))
        .await
        .unwrap();
    assert_eq!(audit_count(store).await, audit_before + 1);
    assert_eq!(
        store
            .get_deployment("alpha", "gke.one", "web")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_deployment_revisions("dp_1").await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.list_deployments(None, None).await.unwrap(),
        vec![api.clone()],
        "the other deployment stays"
    );
    assert_eq!(
        store.references("ps_3").await.unwrap(),
        vec![deployment_referrer(&api)],
        "only the deleted deployment's reference goes"
    );

    // Unknown, or already deleted: NotFound, and nothing written.
    let before = full_snapshot(store).await;
    for id in ["dp_1", "dp_ghost"] {
        let err = store
            .delete_deployment(id, &audit("deployment.delete", Some("alpha"), id))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::NotFound {
                    what: "deployment",
                    ..
                }
            ),
            "delete {id}: {err:?}"
        );
    }
    assert_eq!(full_snapshot(store).await, before);

    // Nothing of the old deployment is left over: the name and even the id start afresh.
    put_deployment(store, &web, None, &[]).await.unwrap();
    assert_eq!(
        store.list_deployment_revisions("dp_1").await.unwrap(),
        vec![revision_of(&web)]
    );

    store
        .delete_deployment("dp_2", &audit("deployment.delete", Some("alpha"), "dp_2"))
        .await
        .unwrap();
    store
        .delete_pull_secret(
            "ps_3",
            false,
            &audit("pull_secret.delete", Some("alpha"), "ps_3"),
        )
        .await
        .expect("no deployment references ps_3 any more");
}

async fn delete_pull_secret_refused_while_a_deployment_uses_it(store: &dyn Store) {
    seed_for_deployments(store).await;
    let web = deployment("dp_1", "alpha", "gke.one", "web");
    put_deployment(store, &web, None, &["ps_3"]).await.unwrap();
    let before = full_snapshot(store).await;

    let err = store
        .delete_pull_secret(
            "ps_3",
            false,
            &audit("pull_secret.delete", Some("alpha"), "ps_3"),
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { what, by, .. } => {
            assert_eq!(*what, "pull secret");
            assert_eq!(by, &["deployment alpha/gke.one/web"]);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(full_snapshot(store).await, before);

    // Forced, the pull secret and its references go; the deployment stays as it was, and a new
    // revision cannot name the pull secret any more.
    store
        .delete_pull_secret(
            "ps_3",
            true,
            &audit("pull_secret.delete", Some("alpha"), "ps_3"),
        )
        .await
        .unwrap();
    assert_eq!(store.references("ps_3").await.unwrap(), vec![]);
    assert_eq!(
        store
            .get_deployment("alpha", "gke.one", "web")
            .await
            .unwrap(),
        Some(web.clone())
    );
    let err = put_deployment(store, &redeployed(&web, 2, "grace"), Some(1), &["ps_3"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what: "pull secret", key } if key == "ps_3"),
        "{err:?}"
    );
}

async fn delete_project_and_location_refused_while_deployments_exist(store: &dyn Store) {
    let a = || audit("setup", None, "setup");
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    for l in ["gke.one", "gke.two"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    store
        .create_token(&token("tok_alpha", Some("alpha")), &a())
        .await
        .unwrap();
    // Deployments only: no pull secret holds anything here.
    put_deployment(
        store,
        &deployment("dp_1", "alpha", "gke.one", "web"),
        None,
        &[],
    )
    .await
    .unwrap();
    put_deployment(
        store,
        &deployment("dp_2", "beta", "gke.two", "api"),
        None,
        &[],
    )
    .await
    .unwrap();
    let before = full_snapshot(store).await;

    let err = store
        .delete_project(
            "alpha",
            9_000,
            &audit("project.delete", Some("alpha"), "alpha"),
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { what, key, by } => {
            assert_eq!((*what, key.as_str()), ("project", "alpha"));
            assert_eq!(by, &["deployment gke.one/web"]);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    let err = store
        .delete_location("gke.two", &audit("location.delete", None, "gke.two"))
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { what, key, by } => {
            assert_eq!((*what, key.as_str()), ("location", "gke.two"));
            assert_eq!(by, &["deployment beta/api"]);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(
        full_snapshot(store).await,
        before,
        "refused deletes write nothing and revoke no token"
    );

    // Pull secrets and deployments are listed together.
    store
        .put_pull_secret(
            &pull_secret("ps_1", "beta", "gke.one", "ghcr"),
            None,
            PutGuard::default(),
            &a(),
        )
        .await
        .unwrap();
    let err = store
        .delete_location("gke.one", &audit("location.delete", None, "gke.one"))
        .await
        .unwrap_err();
    match &err {
        StoreError::InUse { by, .. } => {
            assert_eq!(by.len(), 2, "{by:?}");
            assert!(by.contains(&"deployment alpha/web".to_owned()), "{by:?}");
            assert!(by.iter().any(|b| b.contains("beta/ghcr")), "{by:?}");
        }
        other => panic!("expected InUse, got {other:?}"),
    }

    store.delete_deployment("dp_1", &a()).await.unwrap();
    store.delete_deployment("dp_2", &a()).await.unwrap();
    store
        .delete_project(
            "alpha",
            9_000,
            &audit("project.delete", Some("alpha"), "alpha"),
        )
        .await
        .unwrap();
    store.delete_location("gke.two", &a()).await.unwrap();
    assert_eq!(store.get_project("alpha").await.unwrap(), None);
    assert_eq!(store.get_location("gke.two").await.unwrap(), None);
}

async fn deliveries_upsert_remove_and_filter(store: &dyn Store) {
    seed(store).await;
    let audit_before = audit_count(store).await;
    let one_ps_1 = delivery_row("gke.one", "secret:alpha/ghcr", "ps_1", "delivered");
    let one_ps_1_beta = delivery_row("gke.one", "secret:beta/ghcr", "ps_1", "delivered");
    let one_dp_1 = DeliveryRecord {
        revision: None,
        digest: None,
        code: Some("namespace_missing".to_owned()),
        message: Some("namespace alpha does not exist — ünïcode kept".to_owned()),
        ..delivery_row("gke.one", "deployment:alpha/web", "dp_1", "pending")
    };
    // The same target and owner in another location is another row.
    let two_ps_1 = delivery_row("gke.two", "secret:alpha/ghcr", "ps_1", "delivered");

    store
        .update_deliveries(
            "gke.one",
            &[one_ps_1_beta.clone(), one_dp_1.clone(), one_ps_1.clone()],
            &[],
        )
        .await
        .unwrap();
    store
        .update_deliveries("gke.two", std::slice::from_ref(&two_ps_1), &[])
        .await
        .unwrap();

    // (location, owner, expected rows in (location, target, owner) order)
    let cases: [(Option<&str>, Option<&str>, Vec<&DeliveryRecord>); 6] = [
        (
            None,
            None,
            vec![&one_dp_1, &one_ps_1, &one_ps_1_beta, &two_ps_1],
        ),
        (
            Some("gke.one"),
            None,
            vec![&one_dp_1, &one_ps_1, &one_ps_1_beta],
        ),
        (
            None,
            Some("ps_1"),
            vec![&one_ps_1, &one_ps_1_beta, &two_ps_1],
        ),
        (Some("gke.two"), Some("ps_1"), vec![&two_ps_1]),
        (Some("gke.two"), Some("dp_1"), vec![]),
        (Some("gke.empty"), None, vec![]),
    ];
    for (location, owner, expected) in &cases {
        let listed = store.list_deliveries(*location, *owner).await.unwrap();
        let expected: Vec<DeliveryRecord> = expected.iter().map(|r| (*r).clone()).collect();
        assert_eq!(listed, expected, "list_deliveries({location:?}, {owner:?})");
    }

    // An upsert replaces the row of its key, every field of it.
    let failed = DeliveryRecord {
        revision: None,
        digest: None,
        code: Some("not_owned".to_owned()),
        message: Some("someone else's Secret".to_owned()),
        updated_at: 1_700_000_000_030,
        ..delivery_row("gke.one", "secret:alpha/ghcr", "ps_1", "error")
    };
    store
        .update_deliveries("gke.one", std::slice::from_ref(&failed), &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .list_deliveries(Some("gke.one"), Some("ps_1"))
            .await
            .unwrap(),
        vec![failed.clone(), one_ps_1_beta.clone()]
    );

    // Removals and upserts together; removal is by (location, target, owner) exactly, and a pair
    // that is not there is no error.
    let new_row = delivery_row("gke.one", "auth:ghcr.io", "ps_2", "delivered");
    store
        .update_deliveries(
            "gke.one",
            std::slice::from_ref(&new_row),
            &[
                ("secret:alpha/ghcr".to_owned(), "ps_1".to_owned()),
                ("secret:beta/ghcr".to_owned(), "dp_1".to_owned()),
                ("secret:never".to_owned(), "ps_9".to_owned()),
            ],
        )
        .await
        .unwrap();
    store.update_deliveries("gke.one", &[], &[]).await.unwrap();
    assert_eq!(
        store.list_deliveries(None, None).await.unwrap(),
        vec![new_row, one_dp_1, one_ps_1_beta.clone(), two_ps_1.clone()]
    );

    // Rows outlive their owners (a later pass needs them to clean up), and are not audited.
    store
        .delete_pull_secret(
            "ps_1",
            true,
            &audit("pull_secret.delete", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_deliveries(None, Some("ps_1")).await.unwrap(),
        vec![one_ps_1_beta, two_ps_1]
    );
    assert_eq!(
        audit_count(store).await,
        audit_before + 1,
        "only the pull-secret delete was audited"
    );
}

/// A location's rows come whole and in (target, owner) order however many there are (the
/// PostgreSQL backend reads them in keyset pages of 250: this crosses several page ends, with
/// targets that several owners share at a page end).
async fn a_location_of_many_deliveries_lists_whole_and_in_order(store: &dyn Store) {
    seed(store).await;
    let mut rows: Vec<DeliveryRecord> = (0..1234)
        .map(|i| {
            let target = format!("auth:r{:03}.example", i / 3);
            delivery_row("gke.one", &target, &format!("ps_{}", i % 3), "delivered")
        })
        .collect();
    let other = delivery_row("gke.two", "auth:r000.example", "ps_0", "delivered");
    for chunk in rows.chunks(400) {
        store
            .update_deliveries("gke.one", chunk, &[])
            .await
            .unwrap();
    }
    store
        .update_deliveries("gke.two", std::slice::from_ref(&other), &[])
        .await
        .unwrap();
    rows.sort_by(|a, b| (&a.target, &a.owner_id).cmp(&(&b.target, &b.owner_id)));
    let listed = store.list_deliveries(Some("gke.one"), None).await.unwrap();
    assert_eq!(listed.len(), rows.len());
    assert!(listed == rows, "the rows of gke.one, each once, in order");
    assert_eq!(
        store.list_deliveries(Some("gke.two"), None).await.unwrap(),
        vec![other]
    );
}

/// One audited deployment-related mutation, for the audit tables below.
// Rows of small test tables: boxing the big variant would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum DeploymentOp {
    Put(DeploymentRecord, Option<i64>, &'static [&'static str]),
    Delete(&'static str),
    DeletePullSecret(&'static str),
    DeleteProject(&'static str),
    DeleteLocation(&'static str),
}

impl DeploymentOp {
    async fn apply(&self, store: &dyn Store, audit: &AuditRecord) -> Result<(), StoreError> {
        match self {
            DeploymentOp::Put(d, expected, ids) => {
                let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
                store
                    .put_deployment(
                        d,
                        *expected,
                        &revision_spec(d),
                        &ids,
                        PutGuard::default(),
                        audit,
                    )
                    .await
            }
            DeploymentOp::Delete(id) => store.delete_deployment(id, audit).await,
            DeploymentOp::DeletePullSecret(id) => store.delete_pull_secret(id, false, audit).await,
            DeploymentOp::DeleteProject(name) => store.delete_project(name, 9_000, audit).await,
            DeploymentOp::DeleteLocation(name) => store.delete_location(name, audit).await,
        }
    }
}

async fn every_deployment_mutation_writes_exactly_one_audit_event(store: &dyn Store) {
    seed_for_deployments(store).await;
    let web = deployment("dp_1", "alpha", "gke.one", "web");
    let steps = [
        DeploymentOp::Put(web.clone(), None, &["ps_3"]),
        DeploymentOp::Put(redeployed(&web, 2, "grace"), Some(1), &["ps_1", "ps_3"]),
        DeploymentOp::Put(deployment("dp_2", "beta", "gke.two", "web"), None, &[]),
        DeploymentOp::Delete("dp_1"),
        DeploymentOp::Delete("dp_2"),
    ];
    let mut previous = all_audit(store, None).await;
    for (step, op) in steps.iter().enumerate() {
        let event = audit_for_step(step);
        op.apply(store, &event)
            .await
            .unwrap_or_else(|e| panic!("step {step} {op:?}: {e:?}"));
        let log = all_audit(store, None).await;
        assert_eq!(log.len(), previous.len() + 1, "step {step} {op:?}");
        assert_eq!(
            &log[1..],
            &previous[..],
            "step {step}: the log was appended to"
        );
        assert_eq!(
            log[0],
            AuditRecord {
                id: log[0].id,
                ..event
            },
            "step {step} {op:?} stored its event as given"
        );
        previous = log;
    }
}

async fn refused_deployment_mutation_writes_nothing(store: &dyn Store) {
    seed_for_deployments(store).await;
    let web = deployment("dp_1", "alpha", "gke.one", "web");
    put_deployment(store, &web, None, &["ps_3"]).await.unwrap();
    let web_2 = redeployed(&web, 2, "grace");
    put_deployment(store, &web_2, Some(1), &["ps_3"])
        .await
        .unwrap();
    // (mutation, expected error; "error" where the contract only requires a refusal)
    let cases: Vec<(DeploymentOp, &str)> = vec![
        (
            DeploymentOp::Put(deployment("dp_9", "alpha", "gke.one", "web"), None, &[]),
            "already_exists",
        ),
        (
            DeploymentOp::Put(redeployed(&web_2, 9, "x"), Some(1), &["ps_3"]),
            "conflict",
        ),
        (
            DeploymentOp::Put(
                deployment("dp_ghost", "alpha", "gke.one", "ghost"),
                Some(1),
                &[],
            ),
            "conflict",
        ),
        (
            DeploymentOp::Put(
                deployment("dp_9", "alpha", "gke.one", "api"),
                None,
                &["ps_3", "ps_ghost"],
            ),
            "not_found",
        ),
        (
            DeploymentOp::Put(redeployed(&web_2, 9, "x"), Some(2), &["ps_ghost"]),
            "not_found",
        ),
        (
            DeploymentOp::Put(deployment("dp_9", "gamma", "gke.one", "api"), None, &[]),
            "error",
        ),
        (
            DeploymentOp::Put(deployment("dp_9", "alpha", "gke.three", "api"), None, &[]),
            "error",
        ),
        (
            DeploymentOp::Put(deployment("dp_1", "beta", "gke.two", "other"), None, &[]),
            "error",
        ),
        (DeploymentOp::Delete("dp_ghost"), "not_found"),
        (DeploymentOp::DeletePullSecret("ps_3"), "in_use"),
        (DeploymentOp::DeleteProject("alpha"), "in_use"),
        (DeploymentOp::DeleteLocation("gke.one"), "in_use"),
    ];
    let before = full_snapshot(store).await;
    for (step, (op, expected)) in cases.iter().enumerate() {
        let err = op
            .apply(store, &audit_for_step(step))
            .await
            .expect_err(&format!("{op:?} should be refused"));
        if *expected != "error" {
            assert_eq!(error_kind(&err), *expected, "{op:?}: {err:?}");
        }
        assert_eq!(
            full_snapshot(store).await,
            before,
            "{op:?} was refused but changed the store"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

async fn tokens_create_get_list_revoke(store: &dyn Store) {
    let a = || audit("token", None, "token");
    // Created out of order; listing is by creation time, then id.
    let records = [
        TokenRecord {
            created_at: 3,
            ..token("tok_b", Some("beta"))
        },
        TokenRecord {
            created_at: 1,
            expires_at: None,
            ..token("tok_a2", Some("alpha"))
        },
        TokenRecord {
            created_at: 2,
            ..token("tok_g", None)
        },
        TokenRecord {
            created_at: 1,
            ..token("tok_a1", Some("alpha"))
        },
    ];
    for t in &records {
        store.create_token(t, &a()).await.unwrap();
    }
    for t in &records {
        assert_eq!(store.get_token(&t.id).await.unwrap().as_ref(), Some(t));
    }
    assert_eq!(store.get_token("tok_missing").await.unwrap(), None);

    let cases: [(Option<&str>, &[&str]); 4] = [
        (None, &["tok_a1", "tok_a2", "tok_g", "tok_b"]),
        (Some("alpha"), &["tok_a1", "tok_a2"]),
        (Some("beta"), &["tok_b"]),
        (Some("gamma"), &[]),
    ];
    for (project, expected) in cases {
        let ids: Vec<String> = store
            .list_tokens(project)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, expected, "list_tokens({project:?})");
    }

    let err = store
        .create_token(&token("tok_g", Some("alpha")), &a())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what: "token", key } if key == "tok_g"),
        "{err:?}"
    );
    assert_eq!(
        store.get_token("tok_g").await.unwrap().as_ref(),
        Some(&records[2])
    );

    store.revoke_token("tok_a1", 42, &a()).await.unwrap();
    assert_eq!(
        store.get_token("tok_a1").await.unwrap(),
        Some(TokenRecord {
            revoked_at: Some(42),
            ..records[3].clone()
        })
    );
    for id in ["tok_a1", "tok_missing"] {
        let err = store.revoke_token(id, 43, &a()).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::NotFound { what: "token", key } if key == id),
            "revoke {id}: {err:?}"
        );
    }
    assert_eq!(
        store.get_token("tok_a1").await.unwrap().unwrap().revoked_at,
        Some(42),
        "a second revocation does not move the time"
    );
}

async fn revoking_a_token_revokes_the_tokens_it_created(store: &dyn Store) {
    let a = || audit("token", None, "token");
    let made_by = |id: &str, creator: &str| TokenRecord {
        created_by: creator.to_owned(),
        ..token(id, Some("alpha"))
    };
    for t in [
        made_by("tok_root", "admin"),
        made_by("tok_child", "tok_root"),
        made_by("tok_grandchild", "tok_child"),
        made_by("tok_sibling", "admin"),
        made_by("tok_nephew", "tok_sibling"),
    ] {
        store.create_token(&t, &a()).await.unwrap();
    }
    store.revoke_token("tok_child", 7, &a()).await.unwrap();
    for (id, revoked) in [
        ("tok_root", None),
        ("tok_child", Some(7)),
        ("tok_grandchild", Some(7)),
        ("tok_sibling", None),
        ("tok_nephew", None),
    ] {
        assert_eq!(
            store.get_token(id).await.unwrap().unwrap().revoked_at,
            revoked,
            "{id} after revoking tok_child"
        );
    }
    store.revoke_token("tok_root", 9, &a()).await.unwrap();
    assert_eq!(
        store
            .get_token("tok_grandchild")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(7),
        "an earlier revocation keeps its time"
    );
    let err = store
        .revoke_token("tok_grandchild", 10, &a())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

async fn put_guards_refuse_a_second_server_and_a_second_project(store: &dyn Store) {
    let a = || audit("pullSecret.create", Some("alpha"), "ps");
    let both = PutGuard {
        unique_server: true,
        one_project: true,
    };
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    for l in ["gke.one", "gke.two"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    let first = pull_secret("ps_1", "alpha", "gke.one", "web");
    store
        .put_pull_secret(&first, None, both, &a())
        .await
        .unwrap();
    // Rotating the pull secret itself passes both guards.
    store
        .put_pull_secret(&rotated(&first, 2, "dave"), Some(1), both, &a())
        .await
        .unwrap();

    let same_server = pull_secret("ps_2", "alpha", "gke.one", "api");
    let err = store
        .put_pull_secret(&same_server, None, both, &a())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateServer { existing } if existing == "web"),
        "{err:?}"
    );
    let path_scoped = PullSecretRecord {
        server: "ghcr.io/team".to_owned(),
        ..same_server.clone()
    };
    store
        .put_pull_secret(&path_scoped, None, both, &a())
        .await
        .expect("a path-scoped server is another server");
    store
        .put_pull_secret(
            &pull_secret("ps_3", "alpha", "gke.two", "web"),
            None,
            both,
            &a(),
        )
        .await
        .expect("the same server in another location");

    let other_project = PullSecretRecord {
        server: "quay.io".to_owned(),
        ..pull_secret("ps_4", "beta", "gke.one", "web")
    };
    let err = store
        .put_pull_secret(&other_project, None, both, &a())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LocationTaken), "{err:?}");
    assert_eq!(store.get_pull_secret_by_id("ps_4").await.unwrap(), None);
    let foreign_deployment = deployment("dp_1", "beta", "gke.one", "web");
    let err = store
        .put_deployment(
            &foreign_deployment,
            None,
            &revision_spec(&foreign_deployment),
            &[],
            both,
            &a(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LocationTaken), "{err:?}");
    assert_eq!(
        store
            .get_deployment("beta", "gke.one", "web")
            .await
            .unwrap(),
        None
    );
    store
        .put_pull_secret(&other_project, None, PutGuard::default(), &a())
        .await
        .expect("without the guard, projects share a location");
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

async fn every_mutation_writes_exactly_one_audit_event(store: &dyn Store) {
    let ps = pull_secret("ps_1", "alpha", "gke.one", "web");
    let steps = [
        Op::CreateProject(project("alpha")),
        Op::CreateLocation(location("gke.one")),
        Op::PutPullSecret(ps.clone(), None),
        Op::PutPullSecret(rotated(&ps, 2, "alice"), Some(1)),
        Op::CreateToken(token("tok_1", Some("alpha"))),
        Op::RevokeToken("tok_1"),
        Op::AppendAudit,
        Op::DeletePullSecret("ps_1", false),
        Op::PutPullSecret(pull_secret("ps_2", "alpha", "gke.one", "api"), None),
        Op::DeletePullSecret("ps_2", true),
        Op::DeleteLocation("gke.one"),
        Op::DeleteProject("alpha"),
    ];
    let mut previous_id = 0;
    for (step, op) in steps.iter().enumerate() {
        let event = audit_for_step(step);
        op.apply(store, &event)
            .await
            .unwrap_or_else(|e| panic!("step {step} {op:?}: {e:?}"));
        let log = all_audit(store, None).await;
        assert_eq!(log.len(), step + 1, "step {step} {op:?}");
        let newest = &log[0];
        assert!(newest.id > previous_id, "audit ids increase");
        assert_eq!(
            newest,
            &AuditRecord {
                id: newest.id,
                ..event
            },
            "step {step} {op:?} stored its event as given"
        );
        previous_id = newest.id;
    }
}

async fn failed_mutation_writes_no_audit_event(store: &dyn Store) {
    seed(store).await;
    // (mutation, expected error; "error" where the contract only requires a refusal)
    let cases: Vec<(Op, &str)> = vec![
        (Op::CreateProject(project("alpha")), "already_exists"),
        (Op::DeleteProject("alpha"), "in_use"),
        (Op::DeleteProject("ghost"), "not_found"),
        (Op::CreateLocation(location("gke.one")), "already_exists"),
        (Op::DeleteLocation("gke.one"), "in_use"),
        (Op::DeleteLocation("ghost"), "not_found"),
        (
            Op::PutPullSecret(pull_secret("ps_9", "alpha", "gke.one", "ghcr"), None),
            "already_exists",
        ),
        (
            Op::PutPullSecret(
                rotated(&pull_secret("ps_1", "alpha", "gke.one", "ghcr"), 9, "x"),
                Some(7),
            ),
            "conflict",
        ),
        (
            Op::PutPullSecret(pull_secret("ps_ghost", "alpha", "gke.one", "new"), Some(1)),
            "conflict",
        ),
        (
            Op::PutPullSecret(pull_secret("ps_9", "gamma", "gke.one", "new"), None),
            "error",
        ),
        (
            Op::PutPullSecret(pull_secret("ps_9", "alpha", "gke.three", "new"), None),
            "error",
        ),
        (Op::DeletePullSecret("ps_1", false), "in_use"),
        (Op::DeletePullSecret("ps_ghost", false), "not_found"),
        (Op::DeletePullSecret("ps_ghost", true), "not_found"),
        (
            Op::CreateToken(token("tok_1", Some("beta"))),
            "already_exists",
        ),
        (Op::RevokeToken("tok_3"), "not_found"),
        (Op::RevokeToken("tok_ghost"), "not_found"),
    ];
    let before = snapshot(store).await;
    for (step, (op, expected)) in cases.iter().enumerate() {
        let err = op
            .apply(store, &audit_for_step(step))
            .await
            .expect_err(&format!("{op:?} should be refused"));
        if *expected != "error" {
            assert_eq!(error_kind(&err), *expected, "{op:?}: {err:?}");
        }
        assert_eq!(
            snapshot(store).await,
            before,
            "{op:?} was refused but changed the store"
        );
    }
}

async fn audit_list_newest_first_with_paging_and_project_filter(store: &dyn Store) {
    let projects = [Some("alpha"), Some("beta"), None];
    let events: Vec<AuditRecord> = (0..25)
        .map(|i| AuditRecord {
            time: i,
            ..audit(&format!("event-{i}"), projects[i as usize % 3], "t")
        })
        .collect();
    for e in &events {
        store.append_audit(e).await.unwrap();
    }

    let all = store.list_audit(None, None, 100).await.unwrap();
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    for (got, sent) in all.iter().zip(events.iter().rev()) {
        assert_eq!(
            got,
            &AuditRecord {
                id: got.id,
                ..sent.clone()
            }
        );
    }

    // Pages of 10 walk the whole log with `before`, then come up empty.
    let mut before = None;
    for expected in [&all[0..10], &all[10..20], &all[20..25], &[]] {
        let page = store.list_audit(None, before, 10).await.unwrap();
        assert_eq!(page, expected, "page before {before:?}");
        before = page.last().map(|e| e.id).or(before);
    }

    for project in ["alpha", "beta"] {
        let expected: Vec<AuditRecord> = all
            .iter()
            .filter(|e| e.project.as_deref() == Some(project))
            .cloned()
            .collect();
        assert_eq!(expected.len(), if project == "alpha" { 9 } else { 8 });
        assert_eq!(
            store.list_audit(Some(project), None, 100).await.unwrap(),
            expected
        );
        // Paging within a project, in pages smaller than the gaps between its events.
        assert_eq!(all_audit(store, Some(project)).await, expected);
        let second_page = store
            .list_audit(Some(project), Some(expected[2].id), 3)
            .await
            .unwrap();
        assert_eq!(second_page, &expected[3..6]);
    }
    assert_eq!(
        store.list_audit(Some("gamma"), None, 100).await.unwrap(),
        vec![]
    );
    assert_eq!(store.list_audit(None, None, 0).await.unwrap(), vec![]);
    let oldest = all.last().map(|e| e.id);
    assert_eq!(store.list_audit(None, oldest, 100).await.unwrap(), vec![]);
}

async fn audit_retention_deletes_the_oldest_in_batches(store: &dyn Store) {
    for time in [10, 30, 20, 40, 50] {
        store
            .append_audit(&AuditRecord {
                time,
                ..audit(&format!("at-{time}"), None, "t")
            })
            .await
            .unwrap();
    }
    let times = |events: Vec<AuditRecord>| -> Vec<i64> { events.iter().map(|e| e.time).collect() };
    // Three events are older than 35; batches of two take the two oldest, then the third.
    assert_eq!(store.delete_audit_before(35, 2).await.unwrap(), 2);
    assert_eq!(times(all_audit(store, None).await), [50, 40, 30]);
    assert_eq!(store.delete_audit_before(35, 2).await.unwrap(), 1);
    assert_eq!(store.delete_audit_before(35, 2).await.unwrap(), 0);
    assert_eq!(times(all_audit(store, None).await), [50, 40]);
    // An event exactly at the cut stays.
    assert_eq!(store.delete_audit_before(40, 100).await.unwrap(), 0);
    assert_eq!(times(all_audit(store, None).await), [50, 40]);
}

/// Every page of every list, for `page_size`, concatenated.
async fn pull_secret_pages(
    store: &dyn Store,
    project: Option<&str>,
    location: Option<&str>,
    page_size: u32,
) -> Vec<PullSecretRecord> {
    let mut all = Vec::new();
    let mut after: Option<ListKey> = None;
    loop {
        let page = store
            .list_pull_secrets_page(ListPage {
                project,
                location,
                after: after.as_ref(),
                limit: page_size,
            })
            .await
            .unwrap();
        assert!(page.len() <= page_size as usize);
        let Some(last) = page.last() else {
            return all;
        };
        after = Some(ListKey {
            project: last.project.clone(),
            location: last.location.clone(),
            name: last.name.clone(),
        });
        all.extend(page);
    }
}

async fn pages_walk_every_list_in_order_with_items_added_between_pages(store: &dyn Store) {
    let a = || audit("setup", None, "setup");
    for p in ["alpha", "beta"] {
        store.create_project(&project(p), &a()).await.unwrap();
    }
    for l in ["gke.one", "gke.two"] {
        store.create_location(&location(l), &a()).await.unwrap();
    }
    let mut n = 0;
    for (p, l, name) in [
        ("beta", "gke.two", "b"),
        ("alpha", "gke.two", "a"),
        ("alpha", "gke.one", "z"),
        ("alpha", "gke.one", "a"),
        ("beta", "gke.one", "a"),
        ("alpha", "gke.one", "m"),
        ("beta", "gke.one", "c"),
    ] {
        n += 1;
        let id = format!("ps_{n}");
        store
            .put_pull_secret(
                &pull_secret(&id, p, l, name),
                None,
                PutGuard::default(),
                &a(),
            )
            .await
            .unwrap();
        put_deployment(
            store,
            &deployment(&format!("dep_{n}"), p, l, name),
            None,
            &[],
        )
        .await
        .unwrap();
    }
    for project in [None, Some("alpha"), Some("beta")] {
        for location in [None, Some("gke.one"), Some("gke.two")] {
            let whole = store.list_pull_secrets(project, location).await.unwrap();
            for size in [1, 2, 3, 100] {
                assert_eq!(
                    pull_secret_pages(store, project, location, size).await,
                    whole,
                    "pages of {size} of {project:?} {location:?}"
                );
            }
            let deployments = store.list_deployments(project, location).await.unwrap();
            let mut paged = Vec::new();
            let mut after: Option<ListKey> = None;
            loop {
                let page = store
                    .list_deployments_page(ListPage {
                        project,
                        location,
                        after: after.as_ref(),
                        limit: 2,
                    })
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = Some(ListKey {
                    project: last.project.clone(),
                    location: last.location.clone(),
                    name: last.name.clone(),
                });
                paged.extend(page);
            }
            assert_eq!(
                paged, deployments,
                "deployment pages of {project:?} {location:?}"
            );
        }
    }

    // Between pages: an item after the page's end shows up on a later page, one before it does
    // not (it was not there when its place was read), and nothing is listed twice.
    let first = store
        .list_pull_secrets_page(ListPage {
            limit: 3,
            ..ListPage::default()
        })
        .await
        .unwrap();
    let names: Vec<&str> = first.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "m", "z"], "alpha/gke.one first");
    for (id, p, l, name) in [
        ("ps_early", "alpha", "gke.one", "b"),
        ("ps_late", "alpha", "gke.two", "b"),
    ] {
        store
            .put_pull_secret(
                &pull_secret(id, p, l, name),
                None,
                PutGuard::default(),
                &a(),
            )
            .await
            .unwrap();
    }
    let last = first.last().unwrap();
    let key = ListKey {
        project: last.project.clone(),
        location: last.location.clone(),
        name: last.name.clone(),
    };
    let rest = store
        .list_pull_secrets_page(ListPage {
            after: Some(&key),
            limit: 100,
            ..ListPage::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = rest.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["ps_2", "ps_late", "ps_5", "ps_7", "ps_1"]);
    assert_eq!(
        store
            .list_pull_secrets_page(ListPage {
                limit: 0,
                ..ListPage::default()
            })
            .await
            .unwrap(),
        vec![]
    );
}

/// The batch reads of a page's views (`references_of`, `deliveries_of`, `minted_of`, and the three
/// at once, `pull_secret_facts`) answer what the single reads do, in id order, for any count.
async fn batch_reads_answer_what_the_single_reads_do(store: &dyn Store) {
    seed_for_deployments(store).await;
    store
        .add_reference("ps_1", &referrer("kubelet", "node-a"))
        .await
        .unwrap();
    store
        .add_reference("ps_2", &referrer("deployment", "api"))
        .await
        .unwrap();
    let minted = regcred_store::MintedRecord {
        pull_secret_id: "ps_2".into(),
        revision: 1,
        username: None,
        endpoint: None,
        sealed: None,
        expires_at: None,
        refreshed_at: None,
        attempted_at: 1_000,
        failures: 1,
        last_error: Some("provider unavailable".into()),
        next_refresh_at: 11_000,
    };
    store.put_minted(&minted).await.unwrap();
    store
        .update_deliveries(
            "gke.one",
            &[
                delivery_row("gke.one", "ns-b", "ps_1", "delivered"),
                delivery_row("gke.one", "ns-a", "ps_1", "failed"),
                delivery_row("gke.one", "ns-a", "dep_1", "delivered"),
            ],
            &[],
        )
        .await
        .unwrap();
    store
        .update_deliveries(
            "gke.two",
            &[delivery_row("gke.two", "ns", "ps_2", "pending")],
            &[],
        )
        .await
        .unwrap();

    // Out of order, with a duplicate and an id that has nothing.
    let ids: Vec<String> = ["ps_3", "ps_2", "ps_missing", "ps_1", "ps_2"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut references = Vec::new();
    let mut deliveries = Vec::new();
    let mut minted_rows = Vec::new();
    for id in ["ps_1", "ps_2", "ps_3", "ps_missing"] {
        for r in store.references(id).await.unwrap() {
            references.push((id.to_owned(), r));
        }
        deliveries.extend(store.list_deliveries(None, Some(id)).await.unwrap());
        minted_rows.extend(store.get_minted(id).await.unwrap());
    }
    assert_eq!(references.len(), 3);
    assert_eq!(deliveries.len(), 3);
    assert_eq!(store.references_of(&ids).await.unwrap(), references);
    assert_eq!(store.deliveries_of(&ids).await.unwrap(), deliveries);
    assert_eq!(store.minted_of(&ids).await.unwrap(), vec![minted.clone()]);
    // The three together, minted state only of the ids named as minting.
    assert_eq!(
        store.pull_secret_facts(&ids, &ids).await.unwrap(),
        regcred_store::PullSecretFacts {
            references: references.clone(),
            minted: vec![minted],
            deliveries: deliveries.clone(),
        }
    );
    assert_eq!(
        store
            .pull_secret_facts(&ids, &["ps_1".to_owned()])
            .await
            .unwrap()
            .minted,
        vec![]
    );
    let at_a: Vec<DeliveryRecord> = store
        .list_deliveries(Some("gke.one"), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.target == "ns-a")
        .collect();
    assert_eq!(at_a.len(), 2);
    let targets: Vec<String> = ["ns-z", "ns-a", "ns-a"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(
        store.deliveries_at("gke.one", &targets).await.unwrap(),
        at_a
    );
    assert_eq!(
        store.deliveries_at("gke.two", &targets).await.unwrap(),
        vec![]
    );
    assert_eq!(store.references_of(&[]).await.unwrap(), vec![]);
    assert_eq!(store.deliveries_of(&[]).await.unwrap(), vec![]);
    assert_eq!(store.minted_of(&[]).await.unwrap(), vec![]);
    assert_eq!(
        store.pull_secret_facts(&[], &[]).await.unwrap(),
        regcred_store::PullSecretFacts::default()
    );

    // More ids than one statement binds: every answer still comes, in id order.
    let many: Vec<String> = (0..1200).map(|i| format!("ps_{i:04}")).chain(ids).collect();
    assert_eq!(store.references_of(&many).await.unwrap(), references);
    assert_eq!(store.deliveries_of(&many).await.unwrap(), deliveries);
    let facts = store.pull_secret_facts(&many, &[]).await.unwrap();
    assert_eq!(
        (facts.references, facts.deliveries),
        (references, deliveries)
    );

    // One pull secret at its address with its facts, its minted state only when its kind is
    // named as minting; nothing at an address that holds none.
    let ps_2 = store.get_pull_secret_by_id("ps_2").await.unwrap().unwrap();
    let (p, l, n) = (&ps_2.project, &ps_2.location, &ps_2.name);
    let own = vec![ps_2.id.clone()];
    let described = store
        .described_pull_secret(p, l, n, &["quay", ps_2.kind.as_str()])
        .await
        .unwrap();
    let expected = store.pull_secret_facts(&own, &own).await.unwrap();
    assert_eq!(expected.minted.len(), 1);
    assert_eq!(expected.deliveries.len(), 1);
    assert_eq!(described, Some((ps_2.clone(), expected)));
    let not_minting = store
        .described_pull_secret(p, l, n, &["quay"])
        .await
        .unwrap();
    assert_eq!(
        not_minting,
        Some((
            ps_2.clone(),
            store.pull_secret_facts(&own, &[]).await.unwrap()
        ))
    );
    assert_eq!(
        store
            .described_pull_secret(p, l, "missing", &["quay"])
            .await
            .unwrap(),
        None
    );

    // Several references and deliveries, with nulls and text that must come back as it was
    // stored (PostgreSQL carries them as JSON): described as the batch reads answer.
    let mut odd = delivery_row("gke.two", "ns-\"quoted\"", "ps_1", "error");
    odd.revision = None;
    odd.digest = None;
    odd.code = Some("unreachable".into());
    odd.message = Some("línea 1\nline \\ 2 \u{1F512}".into());
    store
        .update_deliveries("gke.two", &[odd], &[])
        .await
        .unwrap();
    store
        .add_reference("ps_1", &referrer("deployment", "web"))
        .await
        .unwrap();
    let ps_1 = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    let own = vec![ps_1.id.clone()];
    let expected = store.pull_secret_facts(&own, &[]).await.unwrap();
    assert!(expected.references.len() >= 2, "{expected:?}");
    assert_eq!(expected.deliveries.len(), 3);
    let described = store
        .described_pull_secret(&ps_1.project, &ps_1.location, &ps_1.name, &["quay"])
        .await
        .unwrap();
    assert_eq!(described, Some((ps_1, expected)));
}

// ---------------------------------------------------------------------------------------------
// Changes and generations
// ---------------------------------------------------------------------------------------------

async fn owners_since(store: &dyn Store, location: &str, after: i64) -> Vec<String> {
    store.changes_since(location, after).await.unwrap().owners
}

async fn changes_name_every_written_owner_of_a_location(store: &dyn Store) {
    seed_for_deployments(store).await;
    let start = store.last_change("gke.one").await.unwrap();
    assert!(start > 0, "the seed's writes are changes");
    let seeded = store.changes_since("gke.one", 0).await.unwrap();
    assert_eq!(seeded.last, start);
    assert!(seeded.owners.contains(&"ps_1".to_owned()), "{seeded:?}");
    assert!(
        !seeded.owners.contains(&"ps_2".to_owned()),
        "ps_2 is in gke.two"
    );
    assert_eq!(
        store.changes_since("gke.one", start).await.unwrap().owners,
        Vec::<String>::new()
    );

    // A credential check delivers nothing new; a rotation does, once per owner however often.
    let ps_1 = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    store
        .record_verification(
            "ps_1",
            ps_1.revision,
            "{}",
            &audit("pull_secret.verify", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    assert_eq!(
        owners_since(store, "gke.one", start).await,
        Vec::<String>::new()
    );
    let twice = rotated(&rotated(&ps_1, 7, "dave"), 8, "dave");
    for (record, expected) in [
        (rotated(&ps_1, 7, "dave"), ps_1.revision),
        (twice, ps_1.revision + 1),
    ] {
        store
            .put_pull_secret(
                &record,
                Some(expected),
                PutGuard::default(),
                &audit("pull_secret.rotate", Some("alpha"), "ps_1"),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        owners_since(store, "gke.one", start).await,
        vec!["ps_1".to_owned()]
    );

    // A minted credential counts when the credential changes, not when an attempt is booked.
    let after_rotation = store.last_change("gke.one").await.unwrap();
    let minted = regcred_store::MintedRecord {
        pull_secret_id: "ps_1".into(),
        revision: ps_1.revision + 2,
        username: Some("AWS".into()),
        endpoint: None,
        sealed: Some(sealed(3)),
        expires_at: Some(50_000),
        refreshed_at: Some(1_000),
        attempted_at: 1_000,
        failures: 0,
        last_error: None,
        next_refresh_at: 40_000,
    };
    store.put_minted(&minted).await.unwrap();
    assert_eq!(
        owners_since(store, "gke.one", after_rotation).await,
        vec!["ps_1".to_owned()]
    );
    let booked = store.last_change("gke.one").await.unwrap();
    let attempt = regcred_store::MintedRecord {
        attempted_at: 2_000,
        failures: 1,
        ..minted.clone()
    };
    store.put_minted(&attempt).await.unwrap();
    assert_eq!(
        owners_since(store, "gke.one", booked).await,
        Vec::<String>::new()
    );
    let refreshed = regcred_store::MintedRecord {
        sealed: Some(sealed(4)),
        ..attempt
    };
    store.put_minted(&refreshed).await.unwrap();
    assert_eq!(
        owners_since(store, "gke.one", booked).await,
        vec!["ps_1".to_owned()]
    );

    // Deployments and deletions are changes too; forgetting drops what was acted on only.
    let mark = store.last_change("gke.one").await.unwrap();
    let d = deployment("dep_9", "alpha", "gke.one", "worker");
    put_deployment(store, &d, None, &[]).await.unwrap();
    store
        .delete_deployment("dep_9", &audit("deployment.delete", Some("alpha"), "dep_9"))
        .await
        .unwrap();
    assert_eq!(
        owners_since(store, "gke.one", mark).await,
        vec!["dep_9".to_owned()]
    );
    store.forget_changes("gke.one", mark).await.unwrap();
    assert_eq!(
        owners_since(store, "gke.one", 0).await,
        vec!["dep_9".to_owned()]
    );
    assert_eq!(
        store.last_change("gke.one").await.unwrap(),
        store.changes_since("gke.one", 0).await.unwrap().last
    );
    assert!(
        !owners_since(store, "gke.two", 0).await.is_empty(),
        "other locations keep theirs"
    );
}

async fn pull_secret_generation_moves_with_what_resolution_reads(store: &dyn Store) {
    seed_for_deployments(store).await;
    assert_eq!(
        store
            .pull_secret_generation("alpha", "gke.two")
            .await
            .unwrap(),
        0
    );
    let first = store
        .pull_secret_generation("alpha", "gke.one")
        .await
        .unwrap();
    assert!(first > 0);
    let keys = store.pull_secret_keys("alpha", "gke.one").await.unwrap();
    assert_eq!(keys.generation, first);
    let listed = store
        .list_pull_secrets(Some("alpha"), Some("gke.one"))
        .await
        .unwrap();
    let expected: Vec<regcred_store::PullSecretKey> = listed
        .iter()
        .map(|r| regcred_store::PullSecretKey {
            id: r.id.clone(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            server: r.server.clone(),
        })
        .collect();
    assert_eq!(
        keys.keys, expected,
        "the same pull secrets in the same order as the list"
    );

    let ps_1 = listed.iter().find(|r| r.id == "ps_1").unwrap();
    store
        .record_verification(
            "ps_1",
            ps_1.revision,
            "{}",
            &audit("pull_secret.verify", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .pull_secret_generation("alpha", "gke.one")
            .await
            .unwrap(),
        first,
        "a check resolves nothing new"
    );
    let beta = store
        .pull_secret_generation("beta", "gke.two")
        .await
        .unwrap();
    let extra = pull_secret("ps_9", "alpha", "gke.one", "zeta");
    store
        .put_pull_secret(
            &extra,
            None,
            PutGuard::default(),
            &audit("pull_secret.create", Some("alpha"), "ps_9"),
        )
        .await
        .unwrap();
    let second = store
        .pull_secret_generation("alpha", "gke.one")
        .await
        .unwrap();
    assert_ne!(second, first);
    store
        .put_pull_secret(
            &rotated(&extra, 5, "dave"),
            Some(1),
            PutGuard::default(),
            &audit("pull_secret.rotate", Some("alpha"), "ps_9"),
        )
        .await
        .unwrap();
    let third = store
        .pull_secret_generation("alpha", "gke.one")
        .await
        .unwrap();
    assert!(third != second && third != first);
    store
        .delete_pull_secret(
            "ps_9",
            false,
            &audit("pull_secret.delete", Some("alpha"), "ps_9"),
        )
        .await
        .unwrap();
    let fourth = store
        .pull_secret_generation("alpha", "gke.one")
        .await
        .unwrap();
    assert!(![first, second, third].contains(&fourth));
    assert_eq!(
        store
            .pull_secret_generation("beta", "gke.two")
            .await
            .unwrap(),
        beta,
        "other scopes keep theirs"
    );

    // Batch reads by id answer what the single reads do, in id order, skipping the missing.
    let ids: Vec<String> = ["ps_2", "ps_missing", "ps_1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut singles = Vec::new();
    for id in ["ps_1", "ps_2"] {
        singles.push(store.get_pull_secret_by_id(id).await.unwrap().unwrap());
    }
    assert_eq!(store.pull_secrets_by_ids(&ids).await.unwrap(), singles);
    // A location in id order, page by page, is its list in id order.
    let mut here = store
        .list_pull_secrets(None, Some("gke.one"))
        .await
        .unwrap();
    here.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(here.len() >= 2);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .pull_secrets_by_id_page("gke.one", after.as_deref(), 1)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        paged.extend(page);
    }
    assert_eq!(paged, here);
    assert_eq!(
        store
            .pull_secrets_by_id_page("gke.one", None, 100)
            .await
            .unwrap(),
        here
    );
    assert_eq!(
        store
            .pull_secrets_by_id_page("nowhere", None, 100)
            .await
            .unwrap(),
        vec![]
    );
    let every = store.list_pull_secrets(None, None).await.unwrap();
    let mut ghcr: Vec<PullSecretRecord> = every.into_iter().filter(|r| r.kind == "ghcr").collect();
    ghcr.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(!ghcr.is_empty());
    assert_eq!(
        store
            .list_pull_secrets_of_kinds(&["ecr", "ghcr"])
            .await
            .unwrap(),
        ghcr
    );
    assert_eq!(
        store.list_pull_secrets_of_kinds(&["ecr"]).await.unwrap(),
        vec![]
    );
    assert_eq!(store.list_pull_secrets_of_kinds(&[]).await.unwrap(), vec![]);
    for (id, name) in [("dep_2", "web"), ("dep_1", "api")] {
        put_deployment(
            store,
            &deployment(id, "alpha", "gke.one", name),
            None,
            &["ps_1"],
        )
        .await
        .unwrap();
    }
    let dep = store.list_deployments(None, None).await.unwrap();
    assert_eq!(dep.len(), 2);
    let dep_ids: Vec<String> = dep.iter().map(|d| d.id.clone()).rev().collect();
    let mut by_id = dep.clone();
    by_id.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.deployments_by_ids(&dep_ids).await.unwrap(), by_id);
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

async fn meta_insert_is_first_writer_wins(store: &dyn Store) {
    assert_eq!(store.get_meta("vault.data_key").await.unwrap(), None);
    assert!(store.insert_meta("vault.data_key", "first").await.unwrap());
    assert!(!store.insert_meta("vault.data_key", "second").await.unwrap());
    assert_eq!(
        store.get_meta("vault.data_key").await.unwrap().as_deref(),
        Some("first")
    );
    assert!(store.insert_meta("bootstrap.done", "").await.unwrap());
    assert_eq!(
        store.get_meta("bootstrap.done").await.unwrap().as_deref(),
        Some("")
    );
    assert_eq!(
        store.get_meta("vault.data_key").await.unwrap().as_deref(),
        Some("first")
    );
}

fn session(seed: u8, expires_at: i64) -> SessionRecord {
    SessionRecord {
        // Bytes that are not UTF-8: the hash is kept bit for bit.
        id_hash: vec![0xff, seed, 0x00, 0x80, seed],
        token_id: format!("tk_00000000000{seed}"),
        csrf: vec![seed, 0xfe, 0x01],
        created_at: 1_700_000_000_000 + i64::from(seed),
        expires_at,
    }
}

/// Sessions: created once per id hash, read back whole, deleted one by one (a missing one is
/// fine) and in bulk once expired (at the expiry instant included); nothing is audited.
async fn sessions_round_trip_and_expire(store: &dyn Store) {
    let (a, b, c) = (session(1, 5_000), session(2, 6_000), session(3, 9_000));
    for s in [&a, &b, &c] {
        store.create_session(s).await.unwrap();
    }
    assert!(matches!(
        store.create_session(&a).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(
        store.get_session(&a.id_hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_session(&[1, 2, 3]).await.unwrap(), None);

    store.delete_session(&c.id_hash).await.unwrap();
    store.delete_session(&c.id_hash).await.unwrap();
    assert_eq!(store.get_session(&c.id_hash).await.unwrap(), None);

    assert_eq!(store.delete_expired_sessions(4_999).await.unwrap(), 0);
    assert_eq!(store.delete_expired_sessions(5_000).await.unwrap(), 1);
    assert_eq!(store.get_session(&a.id_hash).await.unwrap(), None);
    assert_eq!(
        store.get_session(&b.id_hash).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(audit_count(store).await, 0);
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

async fn concurrent_writers_do_not_fail(store: Arc<dyn Store>) {
    store
        .create_location(&location("gke.one"), &audit("setup", None, "setup"))
        .await
        .unwrap();
    let writers = (0..50).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let name = format!("project-{i:02}");
            let a = audit("concurrent", Some(&name), &name);
            store.create_project(&project(&name), &a).await?;
            let s = pull_secret(&format!("ps_{i}"), &name, "gke.one", "web");
            store
                .put_pull_secret(&s, None, PutGuard::default(), &a)
                .await?;
            store
                .put_pull_secret(&rotated(&s, 2, "rotator"), Some(1), PutGuard::default(), &a)
                .await
        })
    });
    let readers = (0..50).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store.list_projects().await?;
            store.list_pull_secrets(None, Some("gke.one")).await?;
            store.list_audit(None, None, 10).await.map(drop)
        })
    });
    let handles: Vec<_> = writers.chain(readers).collect();
    for handle in handles {
        handle
            .await
            .expect("task panicked")
            .expect("store call failed");
    }
    assert_eq!(store.list_projects().await.unwrap().len(), 50);
    let secrets = store.list_pull_secrets(None, None).await.unwrap();
    assert_eq!(secrets.len(), 50);
    assert!(secrets.iter().all(|s| s.revision == 2));
    assert_eq!(audit_count(&*store).await, 1 + 150);
}

async fn concurrent_rotations_with_the_same_expected_revision_have_one_winner(
    store: Arc<dyn Store>,
) {
    seed(&*store).await;
    let original = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    let audit_before = audit_count(&*store).await;
    let handles: Vec<_> = (0..20u8)
        .map(|i| {
            let store = store.clone();
            let candidate = rotated(&original, 100 + i, &format!("writer-{i}"));
            tokio::spawn(async move {
                let a = audit("pull_secret.rotate", Some("alpha"), "ps_1");
                let result = store
                    .put_pull_secret(&candidate, Some(1), PutGuard::default(), &a)
                    .await;
                (candidate, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for handle in handles {
        let (candidate, result) = handle.await.expect("task panicked");
        match result {
            Ok(()) => winners.push(candidate),
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("expected Ok or Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(
        store.get_pull_secret_by_id("ps_1").await.unwrap().as_ref(),
        Some(&winners[0])
    );
    assert_eq!(audit_count(&*store).await, audit_before + 1);
}

async fn concurrent_meta_inserts_have_one_winner(store: Arc<dyn Store>) {
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let value = format!("value-{i}");
                let inserted = store.insert_meta("vault.data_key", &value).await;
                (value, inserted)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for handle in handles {
        let (value, inserted) = handle.await.expect("task panicked");
        if inserted.expect("insert_meta failed") {
            winners.push(value);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert wins: {winners:?}");
    assert_eq!(
        store.get_meta("vault.data_key").await.unwrap().as_ref(),
        Some(&winners[0])
    );
}

async fn concurrent_deploys_of_one_name_have_one_winner(store: Arc<dyn Store>) {
    seed(&*store).await;
    let audit_before = audit_count(&*store).await;
    // Twenty first deploys of one name, each with its own id: one insert wins.
    let inserts: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let candidate = deployment(&format!("dp_{i}"), "alpha", "gke.one", "web");
            tokio::spawn(async move {
                let result = put_deployment(&*store, &candidate, None, &["ps_1"]).await;
                (candidate, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for handle in inserts {
        let (candidate, result) = handle.await.expect("task panicked");
        match result {
            Ok(()) => winners.push(candidate),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(other) => panic!("expected Ok or AlreadyExists, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert wins");
    let first = winners.remove(0);
    assert_eq!(
        store.list_deployments(None, None).await.unwrap(),
        vec![first.clone()]
    );

    // Twenty redeploys that all read revision 1: one update wins.
    let updates: Vec<_> = (0..20u32)
        .map(|i| {
            let store = store.clone();
            let candidate = redeployed(&first, 100 + i, &format!("writer-{i}"));
            tokio::spawn(async move {
                let result = put_deployment(&*store, &candidate, Some(1), &["ps_1"]).await;
                (candidate, result)
            })
        })
        .collect();
    for handle in updates {
        let (candidate, result) = handle.await.expect("task panicked");
        match result {
            Ok(()) => winners.push(candidate),
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("expected Ok or Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins");
    assert_eq!(
        store
            .get_deployment("alpha", "gke.one", "web")
            .await
            .unwrap()
            .as_ref(),
        Some(&winners[0])
    );
    assert_eq!(
        store.list_deployment_revisions(&first.id).await.unwrap(),
        vec![revision_of(&first), revision_of(&winners[0])]
    );
    assert_eq!(
        store.references("ps_1").await.unwrap(),
        vec![deployment_referrer(&first), referrer("deployment", "web")]
    );
    assert_eq!(audit_count(&*store).await, audit_before + 2);
}

// ---------------------------------------------------------------------------------------------
// Leases and fencing
// ---------------------------------------------------------------------------------------------

/// Polls `acquire_lease` for `holder` until it is granted (bounded), answering the lease.
async fn acquire_within(store: &dyn Store, holder: &str, ttl_ms: i64) -> regcred_store::Lease {
    for _ in 0..100 {
        if let Some(lease) = store
            .acquire_lease("leader", holder, None, ttl_ms)
            .await
            .unwrap()
        {
            return lease;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{holder} never got the lease");
}

/// One holder at a time: the holder renews at the same epoch, another holder is refused while
/// the lease runs and takes it over at the next epoch once it expired or was released.
async fn a_lease_has_one_holder_until_it_expires_or_is_released(store: &dyn Store) {
    assert_eq!(store.get_lease("leader").await.unwrap(), None);
    let a = store
        .acquire_lease("leader", "a", Some("http://a"), 60_000)
        .await
        .unwrap()
        .expect("nobody holds it");
    assert_eq!((a.epoch, a.url.as_deref()), (1, Some("http://a")));
    let renewed = store
        .acquire_lease("leader", "a", Some("http://a"), 60_000)
        .await
        .unwrap()
        .expect("its holder renews it");
    assert_eq!(renewed.epoch, 1);
    assert!(renewed.expires_at >= a.expires_at);
    assert_eq!(
        store
            .acquire_lease("leader", "b", None, 60_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_lease("leader").await.unwrap().unwrap().holder,
        "a"
    );

    store.release_lease("leader", "b").await.unwrap();
    assert_eq!(
        store
            .acquire_lease("leader", "b", None, 60_000)
            .await
            .unwrap(),
        None,
        "only the holder releases"
    );
    store.release_lease("leader", "a").await.unwrap();
    let b = acquire_within(store, "b", 300).await;
    assert_eq!((b.holder.as_str(), b.epoch), ("b", 2));
    // b does not renew: its lease runs out and a takes it over.
    let a = acquire_within(store, "a", 60_000).await;
    assert_eq!((a.holder.as_str(), a.epoch), ("a", 3));
}

/// Writes inside `fenced` commit while the fence's lease is the current one, and are refused
/// with `Fenced` — writing nothing — once it expired or another holder took it.
async fn fenced_writes_commit_only_under_the_current_lease(store: &dyn Store) {
    use regcred_store::fence::{fenced, Fence};
    let lease = store
        .acquire_lease("leader", "a", None, 400)
        .await
        .unwrap()
        .expect("free");
    let fence = Fence {
        name: "leader".into(),
        holder: "a".into(),
        epoch: lease.epoch,
    };
    fenced(
        fence.clone(),
        store.create_project(&project("alpha"), &audit("project.create", None, "alpha")),
    )
    .await
    .expect("the lease runs");
    // Reads in fenced work are not fenced, those in one snapshot included.
    let keys = fenced(fence.clone(), store.pull_secret_keys("alpha", "nowhere"))
        .await
        .expect("a read under the lease");
    assert!(keys.keys.is_empty());
    // Expired, then taken by b: the same fence is refused and nothing is written.
    let b = acquire_within(store, "b", 60_000).await;
    assert_eq!(b.epoch, 2);
    let refused = fenced(
        fence,
        store.create_project(&project("beta"), &audit("project.create", None, "beta")),
    )
    .await
    .expect_err("a stale lease");
    assert!(
        matches!(refused, StoreError::Fenced { epoch: 1, .. }),
        "{refused:?}"
    );
    let names: Vec<String> = store
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["alpha".to_owned()]);
    // Outside any fence (an API request), writes go on.
    store
        .create_project(&project("gamma"), &audit("project.create", None, "gamma"))
        .await
        .unwrap();
}
