//! Incremental delivery: a pass woken by changes acts on the owners the store's change log names
//! and on nothing else, the full pass (at start, every interval, `location.sync`) repairs what
//! changed outside regcred, and a burst of changes is delivered in a few passes, not one per
//! change. Against a docker location: a real auth file in a temporary directory.

mod fixture;

use std::path::Path;
use std::time::{Duration, Instant};

use fixture::Fixture;
use regcred_server::delivery::{Coverage, Deliverer};
use serde_json::{json, Value};

const HOST: &str = "host.docker";

async fn docker_location(f: &Fixture, path: &Path) {
    f.create_project("acme").await;
    f.call(
        "location.create",
        &f.admin,
        json!({"name": HOST, "kind": "docker", "spec": {"path": path}}),
    )
    .await
    .ok();
}

async fn put_pull_secret(f: &Fixture, i: usize, password: &str) {
    f.call(
        "pullSecret.create",
        &f.admin,
        json!({"project": "acme", "location": HOST, "name": format!("ps-{i}"),
               "spec": {"server": format!("r{i}.example.test"), "username": "bot",
                        "password": password}}),
    )
    .await
    .ok();
}

/// The `auths` of the auth file: key → base64 `auth`.
fn auths(path: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if text.is_empty() {
        return serde_json::Map::new();
    }
    let file: Value = serde_json::from_str(&text).expect("the auth file is JSON");
    file["auths"].as_object().cloned().unwrap_or_default()
}

fn auth_of(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test]
async fn a_pass_for_changes_acts_on_the_changed_pull_secrets_only() {
    let f = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    docker_location(&f, &path).await;
    for i in 0..5 {
        put_pull_secret(&f, i, &format!("first-{i}")).await;
    }
    let sync = |coverage| f.state.deliverer().sync(&f.state, HOST, coverage);
    let full = sync(Coverage::Full).await.expect("full pass");
    assert_eq!((full.applied, full.up_to_date), (5, 0), "{full:?}");
    assert_eq!(auths(&path).len(), 5);

    let idle = sync(Coverage::Changes).await.expect("pass");
    assert_eq!(
        (idle.applied, idle.deleted, idle.up_to_date, idle.errors),
        (0, 0, 0, 0),
        "nothing changed, so nothing is looked at: {idle:?}"
    );

    // An entry removed by hand is outside what the next changes cover.
    let mut edited: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edited["auths"]
        .as_object_mut()
        .unwrap()
        .remove("r3.example.test");
    std::fs::write(&path, edited.to_string()).unwrap();

    put_pull_secret(&f, 1, "rotated-1").await;
    let rotated = sync(Coverage::Changes).await.expect("pass");
    assert_eq!(
        (rotated.applied, rotated.up_to_date, rotated.deleted),
        (1, 0, 0),
        "only the rotated pull secret: {rotated:?}"
    );
    let now = auths(&path);
    assert_eq!(now["r1.example.test"]["auth"], auth_of("bot", "rotated-1"));
    assert!(!now.contains_key("r3.example.test"), "not in the changes");

    f.call(
        "pullSecret.delete",
        &f.admin,
        json!({"project": "acme", "location": HOST, "name": "ps-2"}),
    )
    .await
    .ok();
    let deleted = sync(Coverage::Changes).await.expect("pass");
    assert_eq!((deleted.applied, deleted.deleted), (0, 1), "{deleted:?}");
    let now = auths(&path);
    assert!(!now.contains_key("r2.example.test"));
    for i in [0, 1, 4] {
        assert!(
            now.contains_key(&format!("r{i}.example.test")),
            "ps-{i} stays"
        );
    }

    // The full pass sees the whole file again and puts back what was removed by hand.
    let full = sync(Coverage::Full).await.expect("full pass");
    assert_eq!((full.applied, full.up_to_date), (1, 3), "{full:?}");
    assert_eq!(
        auths(&path)["r3.example.test"]["auth"],
        auth_of("bot", "first-3")
    );
    let got = f
        .call(
            "pullSecret.get",
            &f.admin,
            json!({"project": "acme", "location": HOST, "name": "ps-3"}),
        )
        .await;
    assert_eq!(
        got.ok()["deliveries"][0]["state"],
        "delivered",
        "{}",
        got.raw
    );
}

/// The background loop with an interval far beyond the test: only wakes drive it, and each wake
/// waits a moment for more changes before it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_creates_is_delivered_in_a_few_passes() {
    const CREATES: usize = 200;
    let f = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    docker_location(&f, &path).await;
    f.state.deliverer().set_interval(Duration::from_secs(3600));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let background = tokio::spawn(Deliverer::run(f.state.clone(), async {
        let _ = stopped.await;
    }));
    for i in 0..CREATES {
        put_pull_secret(&f, i, &format!("burst-{i}")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while auths(&path).len() < CREATES {
        assert!(
            Instant::now() < deadline,
            "{} of {CREATES} delivered after 60 s",
            auths(&path).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let scrape = f.get("/metrics").await;
    let passes: f64 = scrape
        .raw
        .lines()
        .filter(|l| l.starts_with("regcred_delivery_passes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Every create wakes the loop; without coalescing each would be a pass of its own.
    assert!(
        passes >= 1.0 && passes <= (CREATES / 4) as f64,
        "{passes} passes for {CREATES} creates"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), background)
        .await
        .expect("the loop stops at once")
        .unwrap();
}

static FULL_PASSES_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_full_pass() {
    FULL_PASSES_SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// The hook the server gives memory back with runs after each full pass, and not after a pass
/// for changes.
#[tokio::test]
async fn the_after_full_pass_hook_runs_after_full_passes_only() {
    let seen = || FULL_PASSES_SEEN.load(std::sync::atomic::Ordering::SeqCst);
    let f = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    docker_location(&f, &path).await;
    f.state.deliverer().after_full_pass(count_full_pass);
    put_pull_secret(&f, 0, "first").await;
    let sync = |coverage| f.state.deliverer().sync(&f.state, HOST, coverage);
    sync(Coverage::Full).await.expect("full pass");
    assert_eq!(seen(), 1);
    assert_eq!(auths(&path).len(), 1);
    put_pull_secret(&f, 1, "second").await;
    let changes = sync(Coverage::Changes).await.expect("pass");
    assert_eq!(changes.applied, 1, "{changes:?}");
    sync(Coverage::Changes).await.expect("pass");
    assert_eq!(
        seen(),
        1,
        "passes for changes leave memory to the allocator"
    );
    sync(Coverage::Full).await.expect("full pass");
    assert_eq!(seen(), 2);
}

/// Recording writes a full batch of rows (1,000) as soon as it has one: a first pass over more
/// owners than that records every row once, and the next pass finds them all as it left them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_over_more_owners_than_a_batch_records_every_row_once() {
    const OWNERS: usize = 1_250;
    let f = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    docker_location(&f, &path).await;
    for i in 0..OWNERS {
        put_pull_secret(&f, i, &format!("first-{i}")).await;
    }
    let sync = |coverage| f.state.deliverer().sync(&f.state, HOST, coverage);
    let first = sync(Coverage::Full).await.expect("first pass");
    assert_eq!(
        (first.applied, first.errors),
        (OWNERS as u64, 0),
        "{first:?}"
    );
    let rows = || async {
        let rows = f.state.store().list_deliveries(Some(HOST), None).await;
        rows.expect("the location's rows")
    };
    let recorded = rows().await;
    assert_eq!(recorded.len(), OWNERS);
    assert!(recorded
        .iter()
        .all(|r| r.state == "delivered" && r.revision == Some(1)));

    // One rotated, one deleted: the next full pass changes those two rows and no other.
    put_pull_secret(&f, 7, "second-7").await;
    f.call(
        "pullSecret.delete",
        &f.admin,
        json!({"project": "acme", "location": HOST, "name": "ps-1100"}),
    )
    .await
    .ok();
    let again = sync(Coverage::Full).await.expect("full pass");
    assert_eq!(
        (again.applied, again.deleted, again.up_to_date),
        (1, 1, OWNERS as u64 - 2),
        "{again:?}"
    );
    let after = rows().await;
    assert_eq!(after.len(), OWNERS - 1);
    let unchanged = |r: &&regcred_store::DeliveryRecord| {
        recorded.iter().any(|b| {
            (&b.target, &b.owner_id, b.updated_at) == (&r.target, &r.owner_id, r.updated_at)
        })
    };
    assert_eq!(after.iter().filter(unchanged).count(), OWNERS - 2);
    assert_eq!(
        after.iter().filter(|r| r.revision == Some(2)).count(),
        1,
        "the rotated pull secret's row"
    );
    assert_eq!(auths(&path).len(), OWNERS - 1);
    assert_eq!(
        auths(&path)["r7.example.test"]["auth"],
        auth_of("bot", "second-7")
    );
}
