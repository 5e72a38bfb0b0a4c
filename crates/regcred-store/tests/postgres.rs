//! The PostgreSQL backend's own rules, beyond the contract suite: migrations are applied once
//! and recorded with checksums, a changed or newer schema is refused, replicas opening one
//! database at once migrate it once, and an unreachable server is a clear `Unavailable`.

use regcred_store::migrate::POSTGRES;
use regcred_store::{PostgresStore, Store, StoreError};
use regcred_testkit::PostgresDb;
use sqlx::{Connection, PgConnection};

async fn raw(db: &PostgresDb) -> PgConnection {
    PgConnection::connect(db.url()).await.expect("connect")
}

async fn applied(db: &PostgresDb) -> Vec<(i64, String, Option<String>)> {
    sqlx::query_as("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut raw(db).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn fresh_database_records_every_migration_once_with_its_checksum() {
    let db = PostgresDb::create().await;
    PostgresStore::connect(db.url()).await.unwrap();
    PostgresStore::connect(db.url()).await.unwrap();
    let expected: Vec<(i64, String, Option<String>)> = POSTGRES
        .iter()
        .map(|m| (m.version, m.name.to_owned(), Some(m.checksum())))
        .collect();
    assert_eq!(applied(&db).await, expected);
}

#[tokio::test]
async fn replicas_opening_a_new_database_at_once_migrate_it_once() {
    let db = PostgresDb::create().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move { PostgresStore::connect(&url).await.map(|_| ()) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().expect("every replica opens the store");
    }
    assert_eq!(applied(&db).await.len(), POSTGRES.len());
}

#[tokio::test]
async fn a_migration_applied_with_other_sql_is_refused() {
    let db = PostgresDb::create().await;
    PostgresStore::connect(db.url()).await.unwrap();
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&mut raw(&db).await)
        .await
        .unwrap();
    match PostgresStore::connect(db.url()).await {
        Err(StoreError::Schema(why)) => {
            assert!(why.contains("migration 1 (init)"), "{why}");
            assert!(why.contains("never be edited"), "{why}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_at_a_newer_schema_version_is_refused() {
    let db = PostgresDb::create().await;
    PostgresStore::connect(db.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at, checksum)
         VALUES (999, 'future', 0, 'x')",
    )
    .execute(&mut raw(&db).await)
    .await
    .unwrap();
    match PostgresStore::connect(db.url()).await {
        Err(StoreError::Schema(why)) => assert!(why.contains("999"), "{why}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_names_no_password() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://regcred:hunter2-secret@127.0.0.1:{port}/regcred");
    match PostgresStore::connect(&url).await {
        Err(e @ StoreError::Unavailable { .. }) => {
            let text = e.to_string();
            assert!(!text.contains("hunter2-secret"), "{text}");
            assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// List order is byte order on PostgreSQL too, whatever the database's default collation.
#[tokio::test]
async fn keys_sort_by_bytes_under_a_linguistic_default_collation() {
    let server = regcred_testkit::postgres_server_url();
    let mut admin = PgConnection::connect(&server).await.unwrap();
    let locales: Vec<String> = sqlx::query_scalar(
        "SELECT collname FROM pg_collation WHERE collname IN ('en_US.utf8', 'en-US-x-icu')
         ORDER BY collname",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let db = PostgresDb::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let audit = an_audit();
    for name in ["a-b", "ab", "a_c", "B", "a"] {
        let p = regcred_store::ProjectRecord {
            name: name.into(),
            description: None,
            created_at: 1,
            created_by: "t".into(),
        };
        store.create_project(&p, &audit).await.unwrap();
    }
    let names: Vec<String> = store
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["B", "a", "a-b", "a_c", "ab"]);
    // Where the server has a linguistic collation, the same order under it as the default of
    // the session's comparisons (it would put "ab" before "a_c" and "B" after "a").
    if let Some(locale) = locales.first() {
        let linguistic: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT name FROM projects ORDER BY name COLLATE \"{locale}\""
        ))
        .fetch_all(&mut raw(&db).await)
        .await
        .unwrap();
        assert_ne!(
            linguistic, names,
            "the linguistic order differs, so the test means something"
        );
    }
}

/// A pull secret named after its id, of no material worth keeping.
fn pull_secret(
    id: &str,
    project: &str,
    location: &str,
    server: &str,
) -> regcred_store::PullSecretRecord {
    regcred_store::PullSecretRecord {
        id: id.into(),
        project: project.into(),
        location: location.into(),
        name: id.into(),
        kind: "generic".into(),
        server: server.into(),
        username: None,
        email: None,
        params: "{}".into(),
        fingerprint: "f".into(),
        revision: 1,
        sealed: regcred_store::Sealed {
            key_id: "k".into(),
            nonce: vec![0; 12],
            ciphertext: vec![1],
        },
        created_at: 1,
        created_by: "t".into(),
        updated_at: 1,
        updated_by: "t".into(),
        verification: None,
    }
}

/// The `PutGuard` check runs inside each write's transaction after the location's lock: writers
/// of different projects racing into one one-project location never both pass it, and two pull
/// secrets of one server racing into one (project, location) never both land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_never_both_pass_the_put_guard() {
    use regcred_store::{LocationRecord, ProjectRecord, PutGuard};
    let db = PostgresDb::create().await;
    let store = std::sync::Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let audit = an_audit();
    const WRITERS: usize = 12;
    for p in 0..WRITERS {
        let project = ProjectRecord {
            name: format!("p{p:02}"),
            description: None,
            created_at: 1,
            created_by: "t".into(),
        };
        store.create_project(&project, &audit).await.unwrap();
    }
    for round in 0..5 {
        for (name, guard) in [
            (
                format!("shared{round}"),
                PutGuard {
                    unique_server: false,
                    one_project: true,
                },
            ),
            (
                format!("servers{round}"),
                PutGuard {
                    unique_server: true,
                    one_project: false,
                },
            ),
        ] {
            let location = LocationRecord {
                name: name.clone(),
                kind: "docker".into(),
                spec: "{}".into(),
                created_at: 1,
                created_by: "t".into(),
            };
            store.create_location(&location, &audit).await.unwrap();
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (store, barrier, audit) = (store.clone(), barrier.clone(), audit.clone());
                    // One project each (one-project rule), or one project and one server for all
                    // (duplicate-server rule).
                    let project = if guard.one_project {
                        format!("p{w:02}")
                    } else {
                        "p00".into()
                    };
                    let s =
                        pull_secret(&format!("{name}-{w}"), &project, &name, "registry.example");
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.put_pull_secret(&s, None, guard, &audit).await
                    })
                })
                .collect();
            let mut passed = 0;
            for writer in writers {
                match writer.await.unwrap() {
                    Ok(()) => passed += 1,
                    Err(StoreError::LocationTaken | StoreError::DuplicateServer { .. }) => {}
                    Err(other) => panic!("{name}: unexpected {other:?}"),
                }
            }
            assert_eq!(passed, 1, "{name}: exactly one writer passes the guard");
            let stored = store.list_pull_secrets(None, Some(&name)).await.unwrap();
            assert_eq!(stored.len(), 1, "{name}: {stored:?}");
        }
    }
}

/// A delete guarded by `InUse` and a deployment that starts to use the pull secret, racing:
/// never both succeed (the delete would cascade the new reference away and leave a deployment
/// using a pull secret that is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guarded_delete_and_a_new_reference_never_both_succeed() {
    use regcred_store::{DeploymentRecord, LocationRecord, ProjectRecord, PutGuard};
    let db = PostgresDb::create().await;
    let store = std::sync::Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let audit = an_audit();
    let project = ProjectRecord {
        name: "p".into(),
        description: None,
        created_at: 1,
        created_by: "t".into(),
    };
    store.create_project(&project, &audit).await.unwrap();
    let location = LocationRecord {
        name: "l".into(),
        kind: "kubernetes".into(),
        spec: "{}".into(),
        created_at: 1,
        created_by: "t".into(),
    };
    store.create_location(&location, &audit).await.unwrap();
    for round in 0..20 {
        let id = format!("ps{round}");
        let secret = pull_secret(&id, "p", "l", &format!("r{round}.example"));
        store
            .put_pull_secret(&secret, None, PutGuard::default(), &audit)
            .await
            .unwrap();
        let deployment = DeploymentRecord {
            id: format!("dp{round}"),
            project: "p".into(),
            location: "l".into(),
            name: format!("web{round}"),
            revision: 1,
            spec: "{}".into(),
            created_at: 1,
            created_by: "t".into(),
            updated_at: 1,
            updated_by: "t".into(),
        };
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let deploy = {
            let (store, barrier, audit, ids) = (
                store.clone(),
                barrier.clone(),
                audit.clone(),
                vec![id.clone()],
            );
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .put_deployment(&deployment, None, "{}", &ids, PutGuard::default(), &audit)
                    .await
            })
        };
        let delete = {
            let (store, barrier, audit, id) =
                (store.clone(), barrier.clone(), audit.clone(), id.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.delete_pull_secret(&id, false, &audit).await
            })
        };
        let (deployed, deleted) = (deploy.await.unwrap(), delete.await.unwrap());
        match (&deployed, &deleted) {
            (Ok(()), Err(StoreError::InUse { .. })) => {
                assert_eq!(store.references(&id).await.unwrap().len(), 1);
            }
            (Err(StoreError::NotFound { .. }), Ok(())) => {
                assert!(store.get_pull_secret_by_id(&id).await.unwrap().is_none());
            }
            _ => panic!("round {round}: deploy {deployed:?}, delete {deleted:?}"),
        }
    }
}

/// Delivery rows written after the last analysis (a first pass after `migrate-store`, with the
/// server's autovacuum off) have no statistics until the store analyzes them: the planner then
/// guesses that a page's 100 owners hold a large share of the table (at 100,000 rows it chose a
/// scan of every row), and after the analysis it expects the 100 rows there are.
#[tokio::test]
async fn analyzing_deliveries_gives_the_planner_their_statistics() {
    let db = PostgresDb::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let rows: Vec<regcred_store::DeliveryRecord> = (0..5000)
        .map(|i| regcred_store::DeliveryRecord {
            location: "host.docker".into(),
            target: format!("auth:r{i}.example.test"),
            owner_id: format!("ps_{i:016x}"),
            state: "delivered".into(),
            revision: Some(1),
            digest: Some(format!("hmac-sha256:{i:024x}")),
            code: None,
            message: None,
            updated_at: 0,
        })
        .collect();
    store
        .update_deliveries("host.docker", &rows, &[])
        .await
        .unwrap();
    let owners: Vec<String> = rows.iter().take(100).map(|r| r.owner_id.clone()).collect();
    // The planner's estimate of the rows a page's delivery read finds.
    let estimate = || async {
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN SELECT * FROM deliveries WHERE owner_id = ANY($1)
             ORDER BY owner_id, location, target",
        )
        .bind(&owners)
        .fetch_all(&mut raw(&db).await)
        .await
        .unwrap();
        let rows = plan[0].split("rows=").nth(1).expect("an estimate");
        rows.split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let before = estimate().await;
    assert!(before >= 1000, "without statistics: {before} rows expected");
    store.analyze_deliveries().await.unwrap();
    let after = estimate().await;
    assert!(after <= 200, "with statistics: {after} rows expected");
}

/// An audit event for a write of these tests (the store writes it with the change; its content
/// does not matter here).
fn an_audit() -> regcred_store::AuditRecord {
    regcred_store::AuditRecord {
        id: 0,
        time: 1,
        actor: "t".into(),
        channel: "t".into(),
        action: "t".into(),
        project: None,
        target: "t".into(),
        outcome: "ok".into(),
        detail: "{}".into(),
    }
}

/// A token record of no project, created through `store`.
async fn new_token(store: &PostgresStore, id: &str) {
    let token = regcred_store::TokenRecord {
        id: id.into(),
        name: id.into(),
        project: None,
        role: "admin".into(),
        hash: vec![7; 32],
        created_at: 1,
        created_by: "bootstrap".into(),
        expires_at: None,
        revoked_at: None,
    };
    store.create_token(&token, &an_audit()).await.unwrap();
}

async fn revoked_at(store: &PostgresStore, id: &str) -> Option<i64> {
    store.get_token(id).await.unwrap().unwrap().revoked_at
}

/// Polls `check` every 20 ms for at most 5 s: half of the longest time a replica keeps a token,
/// so a wait that ends here ended through a notification or a lost listener, never through age.
async fn within_5s<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within 5 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn listening(store: &PostgresStore) {
    within_5s("the store listens for changes", || async {
        store.keeps_records()
    })
    .await;
}

/// Two stores on `db`, as two replicas, once both listen for changes.
async fn two_listening_replicas(db: &PostgresDb) -> (PostgresStore, PostgresStore) {
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    listening(&a).await;
    listening(&b).await;
    (a, b)
}

/// Runs `sql` on `table` behind its trigger's back (the table's owner may switch it off): a
/// change whose notification never comes, as under `session_replication_role = replica`.
async fn unannounced(db: &PostgresDb, table: &str, trigger: &str, sql: &str) {
    let mut c = raw(db).await;
    let mut tx = c.begin().await.unwrap();
    for sql in [
        format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"),
        sql.to_owned(),
        format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}"),
    ] {
        sqlx::raw_sql(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Revokes `id` behind the trigger's back.
async fn revoke_unannounced(db: &PostgresDb, id: &str, at: i64) {
    let sql = format!("UPDATE tokens SET revoked_at = {at} WHERE id = '{id}'");
    unannounced(db, "tokens", "tokens_changed", &sql).await;
}

/// Project `p` and the docker location `l`, created through `store`.
async fn project_and_location(store: &PostgresStore) {
    let project = regcred_store::ProjectRecord {
        name: "p".into(),
        description: None,
        created_at: 1,
        created_by: "t".into(),
    };
    store.create_project(&project, &an_audit()).await.unwrap();
    let location = regcred_store::LocationRecord {
        name: "l".into(),
        kind: "docker".into(),
        spec: "{}".into(),
        created_at: 1,
        created_by: "t".into(),
    };
    store.create_location(&location, &an_audit()).await.unwrap();
}

/// How a test reads a pull secret's view: as `pullSecret.get` does, or as `pullSecret.list`
/// does, in a page.
#[derive(Clone, Copy, Debug)]
enum Read {
    Get,
    Page,
}

/// The view of pull secret `name` of p/l as `read` reads it, with minted state for
/// `minting_kinds`.
async fn view_as(
    read: Read,
    store: &PostgresStore,
    name: &str,
    minting_kinds: &[&str],
) -> Option<(
    regcred_store::PullSecretRecord,
    regcred_store::PullSecretFacts,
)> {
    let described = match read {
        Read::Get => {
            store
                .described_pull_secret("p", "l", name, minting_kinds)
                .await
        }
        Read::Page => {
            let page = regcred_store::ListPage {
                project: Some("p"),
                location: Some("l"),
                after: None,
                limit: 100,
            };
            let views = store.described_pull_secrets_page(page, minting_kinds).await;
            views.map(|views| views.into_iter().find(|(r, _)| r.name == name))
        }
    };
    described.unwrap()
}

/// The view of pull secret `name` of p/l as `read` reads it, its minted state shown as for a
/// minting kind.
async fn view(
    read: Read,
    store: &PostgresStore,
    name: &str,
) -> Option<(
    regcred_store::PullSecretRecord,
    regcred_store::PullSecretFacts,
)> {
    view_as(read, store, name, &["generic"]).await
}

async fn verification(read: Read, store: &PostgresStore, name: &str) -> Option<String> {
    view(read, store, name).await.unwrap().0.verification
}

/// Sets the verification of pull secret `id` behind the trigger's back.
async fn verify_unannounced(db: &PostgresDb, id: &str, verification: &str) {
    let sql = format!("UPDATE pull_secrets SET verification = '{verification}' WHERE id = '{id}'");
    unannounced(db, "pull_secrets", "pull_secrets_view_changed", &sql).await;
}

/// Two replicas on one database: each keeps the tokens it reads (so a token changed behind the
/// trigger's back still reads as it was), and a token revoked through one replica, or by hand
/// in SQL, reads revoked on the other well before its entry could have aged out. The replica
/// that revokes sees it at once.
#[tokio::test]
async fn a_token_revoked_anywhere_reads_revoked_on_every_replica() {
    let db = PostgresDb::create().await;
    let (a, b) = two_listening_replicas(&db).await;
    for id in ["t1", "t2", "t3"] {
        new_token(&a, id).await;
        assert_eq!(revoked_at(&b, id).await, None);
    }

    // Kept: a change nobody announces is not seen yet.
    revoke_unannounced(&db, "t3", 4).await;
    assert_eq!(revoked_at(&b, "t3").await, None, "b answers t3 from memory");

    a.revoke_token("t1", 5, &an_audit()).await.unwrap();
    assert_eq!(revoked_at(&a, "t1").await, Some(5), "at once where revoked");
    within_5s("b reads t1 revoked", || async {
        revoked_at(&b, "t1").await == Some(5)
    })
    .await;

    sqlx::query("UPDATE tokens SET revoked_at = 6 WHERE id = 't2'")
        .execute(&mut raw(&db).await)
        .await
        .unwrap();
    within_5s("a and b read t2 revoked by hand", || async {
        revoked_at(&a, "t2").await == Some(6) && revoked_at(&b, "t2").await == Some(6)
    })
    .await;
}

/// A replica whose listening connection dies may have missed announcements: it forgets every
/// token and pull-secret view it kept and reads them from the database, then listens again.
#[tokio::test]
async fn a_replica_that_stops_listening_forgets_what_it_kept() {
    let db = PostgresDb::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    listening(&store).await;
    new_token(&store, "t1").await;
    assert_eq!(revoked_at(&store, "t1").await, None);
    revoke_unannounced(&db, "t1", 5).await;
    assert_eq!(revoked_at(&store, "t1").await, None, "answered from memory");
    project_and_location(&store).await;
    let s1 = pull_secret("s1", "p", "l", "r.example");
    store
        .put_pull_secret(&s1, None, Default::default(), &an_audit())
        .await
        .unwrap();
    assert_eq!(verification(Read::Get, &store, "s1").await, None);
    verify_unannounced(&db, "s1", "checked").await;
    assert_eq!(
        verification(Read::Get, &store, "s1").await,
        None,
        "answered from memory"
    );

    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(regcred_store::postgres::LISTENER_NAME)
    .fetch_all(&mut raw(&db).await)
    .await
    .unwrap();
    assert_eq!(ended, [true], "one listening connection");
    within_5s("t1 and s1 read from the database", || async {
        revoked_at(&store, "t1").await == Some(5)
            && verification(Read::Get, &store, "s1").await.as_deref() == Some("checked")
    })
    .await;
    listening(&store).await;
}

/// Two replicas on one database: each keeps the pull-secret views it reads (so a change made
/// behind the trigger's back still reads as it was), and every change of what a view shows —
/// made through one replica, or by hand in SQL — reads changed on the other well before its
/// entry could have aged out, and at once on the replica that made it.
#[tokio::test]
async fn a_pull_secret_changed_anywhere_reads_changed_on_every_replica() {
    changed_anywhere(Read::Get).await;
}

/// The same, read in pages: a page is made of the views a replica keeps.
#[tokio::test]
async fn a_pull_secret_changed_anywhere_lists_changed_on_every_replica() {
    changed_anywhere(Read::Page).await;
}

async fn changed_anywhere(read: Read) {
    use regcred_store::{DeliveryRecord, MintedRecord, ReferrerRecord};
    let db = PostgresDb::create().await;
    let (a, b) = two_listening_replicas(&db).await;
    project_and_location(&a).await;
    let s1 = pull_secret("s1", "p", "l", "r.example");
    a.put_pull_secret(&s1, None, Default::default(), &an_audit())
        .await
        .unwrap();
    assert_eq!(verification(read, &b, "s1").await, None);
    assert_eq!(verification(read, &a, "s1").await, None);

    // Kept: a change nobody announces is not seen yet.
    verify_unannounced(&db, "s1", "unannounced").await;
    assert_eq!(
        verification(read, &b, "s1").await,
        None,
        "b answers s1 from memory"
    );

    // Each change through a, then what b reads of it.
    let mut rotated = s1.clone();
    rotated.revision = 2;
    a.put_pull_secret(&rotated, Some(1), Default::default(), &an_audit())
        .await
        .unwrap();
    let revision = |store| async move { view(read, store, "s1").await.unwrap().0.revision };
    assert_eq!(revision(&a).await, 2, "at once where rotated");
    within_5s("b reads the rotation", || async { revision(&b).await == 2 }).await;

    a.record_verification("s1", 2, "verified", &an_audit())
        .await
        .unwrap();
    assert_eq!(
        verification(read, &a, "s1").await.as_deref(),
        Some("verified")
    );
    within_5s("b reads the check", || async {
        verification(read, &b, "s1").await.as_deref() == Some("verified")
    })
    .await;

    let delivery = DeliveryRecord {
        location: "l".into(),
        target: "auth:r.example".into(),
        owner_id: "s1".into(),
        state: "delivered".into(),
        revision: Some(2),
        digest: None,
        code: None,
        message: None,
        updated_at: 1,
    };
    a.update_deliveries("l", std::slice::from_ref(&delivery), &[])
        .await
        .unwrap();
    let delivered = |store| async move { view(read, store, "s1").await.unwrap().1.deliveries };
    assert_eq!(delivered(&a).await, std::slice::from_ref(&delivery));
    within_5s("b reads the delivery", || async {
        delivered(&b).await == [delivery.clone()]
    })
    .await;

    let referrer = ReferrerRecord {
        kind: "deployment".into(),
        name: "p/l/web".into(),
    };
    a.add_reference("s1", &referrer).await.unwrap();
    let referrers =
        |store| async move { view(read, store, "s1").await.unwrap().1.references.len() };
    assert_eq!(referrers(&a).await, 1);
    within_5s("b reads the reference", || async {
        referrers(&b).await == 1
    })
    .await;

    let minted = MintedRecord {
        pull_secret_id: "s1".into(),
        revision: 2,
        username: Some("AWS".into()),
        endpoint: None,
        sealed: None,
        expires_at: Some(10),
        refreshed_at: Some(1),
        attempted_at: 1,
        failures: 0,
        last_error: None,
        next_refresh_at: 5,
    };
    a.put_minted(&minted).await.unwrap();
    let mints = |store| async move { view(read, store, "s1").await.unwrap().1.minted };
    assert_eq!(mints(&a).await, std::slice::from_ref(&minted));
    within_5s("b reads the minted state", || async {
        mints(&b).await == [minted.clone()]
    })
    .await;
    let not_minting = view_as(read, &b, "s1", &[]).await;
    assert_eq!(
        not_minting.unwrap().1.minted,
        [],
        "shown for minting kinds only"
    );

    sqlx::query("UPDATE deliveries SET state = 'failed' WHERE owner_id = 's1'")
        .execute(&mut raw(&db).await)
        .await
        .unwrap();
    within_5s("a and b read the delivery changed by hand", || async {
        delivered(&a).await[0].state == "failed" && delivered(&b).await[0].state == "failed"
    })
    .await;

    a.delete_pull_secret("s1", true, &an_audit()).await.unwrap();
    assert!(
        view(read, &a, "s1").await.is_none(),
        "at once where deleted"
    );
    within_5s("b reads s1 gone", || async {
        view(read, &b, "s1").await.is_none()
    })
    .await;
}

/// Two replicas on one database: each keeps the projects, locations and scope generations it
/// reads (so a change made behind the triggers' back still reads as it was), and a change made
/// through one replica or by hand in SQL reads changed on the other well before its entry could
/// have aged out. The replica that writes sees it at once: a pull secret created there is
/// resolved there at once.
#[tokio::test]
async fn projects_locations_and_generations_changed_anywhere_read_changed_everywhere() {
    let db = PostgresDb::create().await;
    let (a, b) = two_listening_replicas(&db).await;
    project_and_location(&a).await;
    let generation = |store| async move {
        PostgresStore::pull_secret_generation(store, "p", "l")
            .await
            .unwrap()
    };
    let project = |store| async move {
        let p = PostgresStore::get_project(store, "p").await.unwrap();
        p.map(|p| p.description)
    };
    let location = |store| async move {
        let l = PostgresStore::get_location(store, "l").await.unwrap();
        l.map(|l| l.spec)
    };
    assert_eq!(generation(&b).await, 0, "no pull secret yet");
    // A generation that arrives unannounced (its notification would race the checks below).
    unannounced(
        &db,
        "pull_secret_generations",
        "generations_changed",
        "INSERT INTO pull_secret_generations VALUES ('p', 'l', 1)",
    )
    .await;
    for store in [&a, &b] {
        assert_eq!(generation(store).await, 1);
        assert_eq!(project(store).await, Some(None));
        assert_eq!(location(store).await, Some("{}".to_owned()));
    }

    // Kept: changes nobody announces are not seen yet.
    unannounced(
        &db,
        "pull_secret_generations",
        "generations_changed",
        "UPDATE pull_secret_generations SET generation = 99",
    )
    .await;
    unannounced(
        &db,
        "projects",
        "projects_changed",
        "UPDATE projects SET description = 'unannounced'",
    )
    .await;
    unannounced(
        &db,
        "locations",
        "locations_changed",
        "UPDATE locations SET spec = 'unannounced'",
    )
    .await;
    for store in [&a, &b] {
        assert_eq!(generation(store).await, 1, "the generation from memory");
        assert_eq!(project(store).await, Some(None), "the project from memory");
        assert_eq!(
            location(store).await,
            Some("{}".to_owned()),
            "the location from memory"
        );
    }

    // Each write of a pull secret moves its scope's generation: at once where written, within
    // 5 s elsewhere.
    let stored = || async {
        let g: i64 = sqlx::query_scalar("SELECT generation FROM pull_secret_generations")
            .fetch_one(&mut raw(&db).await)
            .await
            .unwrap();
        g
    };
    let moved = |was: i64, what: &'static str| {
        let (a, b, stored) = (&a, &b, &stored);
        async move {
            let on_a = generation(a).await;
            let now = stored().await;
            assert!(now > was, "{what} moves the generation");
            assert_eq!(on_a, now, "at once where {what}");
            within_5s(what, || async { generation(b).await == now }).await;
            now
        }
    };
    let s1 = pull_secret("s1", "p", "l", "r.example");
    a.put_pull_secret(&s1, None, Default::default(), &an_audit())
        .await
        .unwrap();
    let was = moved(99, "created").await;
    let mut rotated = s1.clone();
    rotated.revision = 2;
    a.put_pull_secret(&rotated, Some(1), Default::default(), &an_audit())
        .await
        .unwrap();
    let was = moved(was, "rotated").await;
    a.delete_pull_secret("s1", true, &an_audit()).await.unwrap();
    moved(was, "deleted").await;
    sqlx::raw_sql(
        "UPDATE pull_secret_generations SET generation = 7;
         UPDATE projects SET description = 'by hand';
         UPDATE locations SET spec = 'by hand'",
    )
    .execute(&mut raw(&db).await)
    .await
    .unwrap();
    within_5s("a and b read the changes made by hand", || async {
        let mut all = true;
        for store in [&a, &b] {
            all &= generation(store).await == 7
                && project(store).await == Some(Some("by hand".to_owned()))
                && location(store).await == Some("by hand".to_owned());
        }
        all
    })
    .await;

    b.delete_location("l", &an_audit()).await.unwrap();
    b.delete_project("p", 2, &an_audit()).await.unwrap();
    assert_eq!(location(&b).await, None, "at once where deleted");
    assert_eq!(project(&b).await, None, "at once where deleted");
    within_5s("a reads the location and project gone", || async {
        location(&a).await.is_none() && project(&a).await.is_none()
    })
    .await;
}

/// Polls `work` once, then again after each wake until it has been polled `polls` times, and
/// drops it unfinished: a caller that goes away mid-flight, at a chosen step.
async fn dropped_after<F: std::future::Future>(work: F, polls: usize) {
    let mut work = std::pin::pin!(work);
    let mut polled = 0;
    std::future::poll_fn(|cx| {
        polled += 1;
        match work.as_mut().poll(cx) {
            std::task::Poll::Pending if polled < polls => std::task::Poll::Pending,
            _ => std::task::Poll::Ready(()),
        }
    })
    .await;
}

/// Writes whose callers go away at every step of their start (a client that hangs up) leave no
/// connection inside a transaction. With sqlx 0.8 alone, one dropped while its `BEGIN` was on
/// the wire did: the pool handed that connection on, and its next users' statements ran inside
/// the stale transaction (see `postgres::begin_on`).
#[tokio::test]
async fn writes_dropped_while_they_begin_leave_no_transaction_open() {
    let db = PostgresDb::create().await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    for polls in (1..=8).cycle().take(24) {
        // A connection idle in the pool, so that the write reaches BEGIN within a few polls.
        store.list_projects().await.unwrap();
        let name = format!("p{polls}");
        let project = regcred_store::ProjectRecord {
            name,
            description: None,
            created_at: 1,
            created_by: "t".into(),
        };
        dropped_after(store.create_project(&project, &an_audit()), polls).await;
        within_5s("no connection idle in a transaction", || async {
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            )
            .fetch_one(&mut raw(&db).await)
            .await
            .unwrap();
            open == 0
        })
        .await;
    }
}
