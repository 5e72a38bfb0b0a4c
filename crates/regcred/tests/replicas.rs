//! Several `regcred serve` replicas on one PostgreSQL database (a database of its own per test,
//! `regcred_testkit::PostgresDb`), as real processes sharing one master key: exactly one leads
//! the background work (`/readyz` role, the `regcred_leader` gauge); every replica answers the
//! whole API and reads what another wrote at once; rotations through two replicas at the same
//! time end in consecutive revisions; a change made through a follower is delivered by the
//! leader; when the leader is killed (SIGKILL) another takes over within 15 s and delivers;
//! and a leader paused (SIGSTOP) past its lease finds, when it wakes, that another leads and
//! steps down; and a leader killed right after ECR pull secrets were rotated is replaced by one
//! that mints each new revision once (against the real AWS emulator, moto) and delivers it to a
//! docker location and a manifests directory. Each wait is bounded polling; the takeover times
//! are printed for the README.

mod fixture;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fixture::{http_get, project_and_location, Server};
use regcred_testkit::{Moto, PostgresDb};
use serde_json::Value;

const P: &str = "acme";
const L: &str = "local";
/// What the lease promises: a dead leader is replaced within this.
const TAKEOVER: Duration = Duration::from_secs(15);

/// A replica on `db` with extra `regcred serve` flags; the first makes the master key and the
/// admin token, the others use them.
fn replica_with(db: &PostgresDb, first: Option<&Server>, extra: &[&str]) -> Server {
    let mut args = vec!["--database-url", db.url(), "--delivery-interval", "3600"];
    args.extend_from_slice(extra);
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
    leader_and_follower_with(db, &[])
}

/// [`leader_and_follower`] with extra `regcred serve` flags.
fn leader_and_follower_with(db: &PostgresDb, extra: &[&str]) -> (Server, Server) {
    let a = replica_with(db, None, extra);
    let b = replica_with(db, Some(&a), extra);
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

/// `ecr` of kind ECR in `location`, created or rotated through `server` with `key_id`.
fn put_ecr(server: &Server, location: &str, key_id: &str) -> Value {
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            P,
            "--location",
            location,
            "--name",
            "ecr",
            "--server",
            ECR_SERVER,
            "--access-key-id",
            key_id,
            "-o",
            "json",
        ])
        .env("REGCRED_SECRET_ACCESS_KEY", "emulator-secret-not-real")
        .run()
        .ok()
        .json()
}

const ECR_SERVER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/// Polls until `ecr` in `location`, as `server` reads it, is at `revision` and delivered there
/// everywhere (bounded by `within`).
fn converged(server: &Server, location: &str, revision: u64, within: Duration) {
    let started = Instant::now();
    loop {
        let got = server
            .run(&[
                "pullsecret",
                "get",
                "ecr",
                "--project",
                P,
                "--location",
                location,
                "-o",
                "json",
            ])
            .ok()
            .json();
        let deliveries = got["deliveries"].as_array().cloned().unwrap_or_default();
        if got["revision"] == revision
            && !deliveries.is_empty()
            && deliveries
                .iter()
                .all(|d| d["state"] == "delivered" && d["revision"] == revision)
        {
            return;
        }
        assert!(
            started.elapsed() < within,
            "ecr in {location} not delivered at revision {revision} within {within:?}: {got:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ECR entry of a Docker `config.json`, as (username, password).
fn ecr_entry(config: &str) -> Option<(String, String)> {
    let doc: Value = serde_json::from_str(config).ok()?;
    let auth = doc["auths"][ECR_SERVER]["auth"].as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let (user, password) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some((user, password))
}

/// The ECR credential as `server` releases it (`render docker-config`).
fn released(server: &Server, location: &str) -> (String, String) {
    let out = server.run(&[
        "render",
        "docker-config",
        "--from-pull-secret",
        "ecr",
        "--project",
        P,
        "--location",
        location,
    ]);
    ecr_entry(&out.ok().stdout).expect("an ECR entry in the rendered config.json")
}

/// Failover during ECR minting against the real emulator, with a docker location and a
/// manifests directory (SealedSecrets) to deliver to: while both replicas run, each revision of
/// each pull secret is minted once however often both replicas are asked for it (only the leader
/// mints); the leader is killed right after a rotation, so its mint and delivery are cut short
/// or never start; the follower takes over, mints each new revision, and both locations
/// converge on it — at most one extra mint per pull secret, the one the dead leader may have
/// made — and the restarted old leader, now a follower, mints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_during_ecr_minting_is_replaced_without_double_mints() {
    let moto = Moto::start().await;
    let endpoint = moto.endpoint_url();
    let db = PostgresDb::create().await;
    let serve = ["--ecr-endpoint-url", endpoint.as_str()];
    let (mut leader, follower) = leader_and_follower_with(&db, &serve);
    project_and_location(&follower, P, L);
    let cert = follower.scratch("sealing-cert.pem");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../regcred-k8s/tests/data/test-only-sealing-cert.pem"),
        &cert,
    )
    .expect("copy the test sealing certificate");
    let gitops = follower.scratch("gitops");
    follower
        .run(&[
            "location",
            "create",
            "gitops",
            "--kind",
            "manifests",
            "--directory",
            &gitops.display().to_string(),
            "--sealing-cert-file",
            &cert.display().to_string(),
        ])
        .ok();
    let auth_file = follower.scratch(&format!("{L}-{P}-config.json"));

    for location in [L, "gitops"] {
        put_ecr(&follower, location, "AKIAEMULATOR0000ONE1");
    }
    for location in [L, "gitops"] {
        converged(&follower, location, 1, Duration::from_secs(30));
    }
    assert_eq!(ecr_entry(&read(&auth_file)), Some(released(&leader, L)));
    // Both replicas asked again and again: still one mint per pull secret.
    for _ in 0..3 {
        for server in [&leader, &follower] {
            released(server, L);
            released(server, "gitops");
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        moto.answered_calls(),
        2,
        "one mint per pull secret while both replicas run"
    );

    // Rotate both through the follower and kill the leader at once.
    for location in [L, "gitops"] {
        put_ecr(&follower, location, "AKIAEMULATOR0000TWO2");
    }
    leader.signal("KILL");
    let (_, took) = one_leader(&[&follower], TAKEOVER);
    println!("takeover during ECR minting: {took:?}");
    for location in [L, "gitops"] {
        converged(&follower, location, 2, Duration::from_secs(30));
    }
    assert_eq!(ecr_entry(&read(&auth_file)), Some(released(&follower, L)));
    let after_takeover = moto.answered_calls();
    println!(
        "ECR mints: 2 for revision 1, {} for revision 2 across the takeover",
        after_takeover - 2
    );
    assert!(
        (4..=6).contains(&after_takeover),
        "two mints for revision 2, plus at most one each the dead leader made: {after_takeover}"
    );

    // The old leader comes back as a follower: it mints nothing, and nothing is minted again.
    leader.start_again_with(&[
        "--database-url",
        db.url(),
        "--delivery-interval",
        "3600",
        "--ecr-endpoint-url",
        &endpoint,
    ]);
    assert_eq!(role(&leader).as_deref(), Some("follower"));
    for server in [&leader, &follower] {
        released(server, L);
        released(server, "gitops");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        moto.answered_calls(),
        after_takeover,
        "no mint after convergence"
    );
}
