//! `copy::sqlite_to_postgres`: a SQLite store with every kind of row comes out of PostgreSQL the
//! same through the trait (sealed bytes, ids, revisions, audit ids, change numbers and
//! generations), writes after the copy continue the sequences and record their changes again,
//! and a target with data is refused without a row written.

mod support;

use regcred_store::copy::{sqlite_to_postgres, CopyError};
use regcred_store::{
    DeliveryRecord, DeploymentRecord, MintedRecord, PostgresStore, PutGuard, RegistryKeyRecord,
    SqliteStore, Store,
};
use regcred_testkit::PostgresDb;
use support::*;

fn deployment(id: &str) -> DeploymentRecord {
    DeploymentRecord {
        id: id.to_owned(),
        project: "alpha".to_owned(),
        location: "gke.one".to_owned(),
        name: "web".to_owned(),
        revision: 1,
        spec: r#"{"image":"ghcr.io/acme/web:1"}"#.to_owned(),
        created_at: 10,
        created_by: "alice".to_owned(),
        updated_at: 10,
        updated_by: "alice".to_owned(),
    }
}

/// Rows in every table of the schema.
async fn fill(store: &dyn Store) {
    let a = || audit("fill", Some("alpha"), "fill");
    store.create_project(&project("alpha"), &a()).await.unwrap();
    store
        .create_location(&location("gke.one"), &a())
        .await
        .unwrap();
    let first = pull_secret("ps_1", "alpha", "gke.one", "ghcr");
    store
        .put_pull_secret(&first, None, PutGuard::default(), &a())
        .await
        .unwrap();
    store
        .put_pull_secret(
            &rotated(&first, 9, "bob"),
            Some(1),
            PutGuard::default(),
            &a(),
        )
        .await
        .unwrap();
    store
        .put_deployment(
            &deployment("dp_1"),
            None,
            "{}",
            &["ps_1".to_owned()],
            PutGuard::default(),
            &a(),
        )
        .await
        .unwrap();
    store
        .create_token(&token("tok_1", Some("alpha")), &a())
        .await
        .unwrap();
    store
        .create_registry_key(
            &RegistryKeyRecord {
                id: "rk_1".into(),
                project: "alpha".into(),
                name: "ci".into(),
                access: "pull".into(),
                hash: vec![1, 2, 3, 0xff],
                created_at: 5,
                created_by: "alice".into(),
                expires_at: Some(99),
                revoked_at: None,
            },
            &a(),
        )
        .await
        .unwrap();
    store
        .put_minted(&MintedRecord {
            pull_secret_id: "ps_1".into(),
            revision: 2,
            username: Some("AWS".into()),
            endpoint: None,
            sealed: Some(sealed(7)),
            expires_at: Some(1_000),
            refreshed_at: Some(900),
            attempted_at: 900,
            failures: 0,
            last_error: None,
            next_refresh_at: 950,
        })
        .await
        .unwrap();
    store
        .update_deliveries(
            "gke.one",
            &[DeliveryRecord {
                location: "gke.one".into(),
                target: "alpha/regcred-ghcr".into(),
                owner_id: "ps_1".into(),
                state: "delivered".into(),
                revision: Some(2),
                digest: Some("sha256:ab".into()),
                code: None,
                message: None,
                updated_at: 7,
            }],
            &[],
        )
        .await
        .unwrap();
    store.insert_meta("data_key", "wrapped").await.unwrap();
    // Retention deletes the oldest events; the ids they had are never given out again.
    store.delete_audit_before(i64::MAX, 1).await.unwrap();
}

/// What the trait reads back, beyond [`snapshot`].
async fn everything(store: &dyn Store) -> String {
    let mut out = format!("{:#?}", snapshot(store).await);
    out += &format!("{:#?}", store.list_deployments(None, None).await.unwrap());
    out += &format!(
        "{:#?}",
        store.list_deployment_revisions("dp_1").await.unwrap()
    );
    out += &format!("{:#?}", store.list_registry_keys("alpha").await.unwrap());
    out += &format!("{:#?}", store.list_minted().await.unwrap());
    out += &format!("{:#?}", store.list_deliveries(None, None).await.unwrap());
    out += &format!("{:#?}", store.get_meta("data_key").await.unwrap());
    out += &format!("{:#?}", store.changes_since("gke.one", 0).await.unwrap());
    out += &format!(
        "{:#?}",
        store.pull_secret_keys("alpha", "gke.one").await.unwrap()
    );
    out
}

#[tokio::test]
async fn a_copy_reads_back_the_same_and_continues_where_the_source_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("regcred.db"))
        .await
        .unwrap();
    fill(&source).await;
    let db = PostgresDb::create().await;
    let target = PostgresStore::connect(db.url()).await.unwrap();

    let report = sqlite_to_postgres(&source, &target).await.unwrap();
    let rows = |table: &str| report.tables.iter().find(|(t, _)| *t == table).unwrap().1;
    assert_eq!(rows("pull_secrets"), 1);
    assert_eq!(rows("deployment_revisions"), 1);
    assert!(rows("changes") >= 3, "{report:?}");
    assert_eq!(everything(&target).await, everything(&source).await);
    // The planner has statistics for the copied tables at once (without them it chose an index
    // that walks a whole project for a one-row read).
    let unanalyzed: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_stat_user_tables
         WHERE relname IN ('pull_secrets', 'deliveries', 'audit_events') AND last_analyze IS NULL",
    )
    .fetch_all(&sqlx::PgPool::connect(db.url()).await.unwrap())
    .await
    .unwrap();
    assert_eq!(
        unanalyzed,
        Vec::<String>::new(),
        "tables without statistics"
    );

    // The next audit id and change number continue after the source's, and writes record their
    // changes again (the copy's triggers are back on).
    let last_change = target.last_change("gke.one").await.unwrap();
    let generation = target
        .pull_secret_generation("alpha", "gke.one")
        .await
        .unwrap();
    let a = audit("after", Some("alpha"), "after");
    for store in [&source as &dyn Store, &target] {
        let current = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
        store
            .put_pull_secret(
                &rotated(&current, 11, "carol"),
                Some(2),
                PutGuard::default(),
                &a,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        target.list_audit(None, None, 1).await.unwrap()[0].id,
        source.list_audit(None, None, 1).await.unwrap()[0].id,
        "the same next audit id"
    );
    assert_eq!(
        target.last_change("gke.one").await.unwrap(),
        source.last_change("gke.one").await.unwrap(),
    );
    assert!(target.last_change("gke.one").await.unwrap() > last_change);
    assert!(
        target
            .pull_secret_generation("alpha", "gke.one")
            .await
            .unwrap()
            > generation
    );
}

#[tokio::test]
async fn a_target_with_any_row_is_refused_and_left_as_it_was() {
    let source = SqliteStore::temporary().await.unwrap();
    fill(&source).await;
    let db = PostgresDb::create().await;
    let target = PostgresStore::connect(db.url()).await.unwrap();
    target.insert_meta("someone", "else").await.unwrap();
    let before = everything(&target).await;
    match sqlite_to_postgres(&source, &target).await {
        Err(CopyError::TargetNotEmpty { table, rows }) => {
            assert_eq!((table, rows), ("meta", 1));
        }
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }
    assert_eq!(everything(&target).await, before);
}
