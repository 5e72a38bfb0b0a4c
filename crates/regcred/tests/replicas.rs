//! Several `regcred serve` replicas on one PostgreSQL database (a database of its own per test,
//! `regcred_testkit::PostgresDb`), as real processes sharing one master key: exactly one leads
//! the background work (`/readyz` role, the `regcred_leader` gauge); every replica answers the
//! whole API and reads what another wrote at once; rotations through two replicas at the same
//! time end in consecutive revisions; a change made through a follower is delivered by the
//! leader; when the leader is killed (SIGKILL) another takes over within 15 s and delivers;
//! and a leader paused (SIGSTOP) past its lease finds, when it wakes, that another leads and
//! steps down. Each wait is bounded polling; the takeover times are printed for the README.

mod fixture;

use std::path::Path;
use std::time::{Duration, Instant};

use fixture::{http_get, project_and_location, Server};
use regcred_testkit::PostgresDb;
use serde_json::Value;

const P: &str = "acme";
const L: &str = "local";
/// What the lease promises: a dead leader is replaced within this.
const TAKEOVER: Duration = Duration::from_secs(15);

/// A replica on `db`; the first makes the master key and the admin token, the others use them.
fn replica(db: &PostgresDb, first: Option<&Server>) -> Server {
    let mut args = vec!["--database-url", db.url(), "--delivery-interval", "3600"];
    let key;
    if let Some(first) = first {
        key = first.data_dir.join("master.key").display().to_string();
        args.extend(["--master-key-file", key.as_str()]);
    }
    let server = Server::start_with(&args);
    if let Some(first) = first {
        std::fs::copy(
            first.data_dir.join("admin.token"),
            server.data_dir.join("admin.token"),
        )
        .expect("share the admin token");
    }
    server
}

/// Two replicas on `db`, once one of them leads: (leader, follower).
fn leader_and_follower(db: &PostgresDb) -> (Server, Server) {
    let a = replica(db, None);
    let b = replica(db, Some(&a));
    match one_leader(&[&a, &b], TAKEOVER).0 {
        0 => (a, b),
        _ => (b, a),
    }
}

fn role(server: &Server) -> Option<String> {
    let (status, body) = http_get(&server.url, "/readyz")?;
    let body: Value = serde_json::from_str(&body).ok()?;
    (status == 200).then(|| body["role"].as_str().unwrap_or_default().to_owned())
}

fn leader_gauge(server: &Server) -> Option<String> {
    let (_, body) = http_get(&server.url, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with("regcred_leader "))
        .map(|l| l.trim_start_matches("regcred_leader ").to_owned())
}

/// Polls until exactly one of `servers` says it leads (bounded by `within`); answers its index
/// and how long that took.
fn one_leader(servers: &[&Server], within: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        let roles: Vec<Option<String>> = servers.iter().map(|s| role(s)).collect();
        let leaders: Vec<usize> = (0..roles.len())
            .filter(|i| roles[*i].as_deref() == Some("leader"))
            .collect();
        if leaders.len() == 1 && roles.iter().all(Option::is_some) {
            return (leaders[0], started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "no single leader within {within:?}: {roles:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create(server: &Server, name: &str, password: &str) -> Value {
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            P,
            "--location",
            L,
            "--name",
            name,
            "--server",
            &format!("{name}.example"),
            "--username",
            "bot",
            "--password-stdin",
        ])
        .stdin(password)
        .run()
        .ok()
        .json()
}

/// The auth file of the docker location `project_and_location` made, once it has `host`
/// (bounded polling).
fn delivered(server: &Server, host: &str, within: Duration) -> Duration {
    let path = server.scratch(&format!("{L}-{P}-config.json"));
    let started = Instant::now();
    loop {
        if read(&path).contains(host) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{host} not delivered to {} within {within:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_another_takes_over_when_it_is_killed() {
    let db = PostgresDb::create().await;
    let (mut leader, follower) = leader_and_follower(&db);
    assert_eq!(leader_gauge(&leader).as_deref(), Some("1"));
    assert_eq!(leader_gauge(&follower).as_deref(), Some("0"));

    // The location's auth file lives next to the follower's data directory: it made the
    // location, and every replica writes the same path.
    project_and_location(&follower, P, L);
    // Written through the follower: read at once through the leader, delivered by the leader.
    let created = create(&follower, "one", "pw-one");
    let got = leader
        .run(&[
            "pullsecret",
            "get",
            "--id",
            created["pullSecret"]["id"].as_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(got["revision"], 1);
    let picked_up = delivered(&follower, "one.example", Duration::from_secs(20));
    println!("a change through the follower was delivered by the leader after {picked_up:?}");
    // A pass asked of the follower is refused with where the passes run.
    let sync = follower.run(&["location", "sync", L]);
    assert_ne!(sync.code, Some(0));
    assert!(sync.stderr.contains("leading server"), "{}", sync.stderr);

    // Rotations through both replicas at once: consecutive revisions, none lost.
    std::thread::scope(|s| {
        for (server, tag) in [(&leader, "l"), (&follower, "f")] {
            s.spawn(move || {
                for i in 0..5 {
                    create(server, "one", &format!("pw-{tag}-{i}"));
                }
            });
        }
    });
    let rotated = follower
        .run(&["pullsecret", "get", "one", "--project", P, "--location", L])
        .ok()
        .json();
    assert_eq!(rotated["revision"], 11);

    // The leader dies: the follower leads within the lease and delivers what is new.
    leader.signal("KILL");
    let (_, took) = one_leader(&[&follower], TAKEOVER);
    println!("takeover after SIGKILL of the leader: {took:?}");
    assert_eq!(leader_gauge(&follower).as_deref(), Some("1"));
    create(&follower, "two", "pw-two");
    delivered(&follower, "two.example", Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_wakes_up_to_find_another_leading_and_steps_down() {
    let db = PostgresDb::create().await;
    let (mut leader, follower) = leader_and_follower(&db);
    leader.signal("STOP");
    let (_, took) = one_leader(&[&follower], TAKEOVER);
    println!("takeover from a paused leader: {took:?}");
    leader.signal("CONT");
    // Awake, it still believes it leads until its own deadline check or renewal says not.
    let started = Instant::now();
    while role(&leader).as_deref() != Some("follower") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the woken leader did not step down: {:?}",
            role(&leader)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(role(&follower).as_deref(), Some("leader"));
    assert_eq!(leader_gauge(&leader).as_deref(), Some("0"));
    // The new leader delivers; the old one, now a follower, refuses passes.
    project_and_location(&follower, P, L);
    create(&leader, "after", "pw-after");
    delivered(&follower, "after.example", Duration::from_secs(20));
}
