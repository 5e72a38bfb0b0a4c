//! Scale benchmark: a real `regcred serve` holding N pull secrets (one project, one docker
//! location, every pull secret for a registry of its own), measured from outside with `wrk` on
//! loopback against a baseline taken in the same run: the same server's `/healthz`, or the same
//! measurement with few pull secrets. Prints one markdown table, each row a ratio and its target.
//!
//! The store is filled in-process through the real API handlers on a database in tmpfs (so
//! 100,000 creates take seconds, not the minutes a durable write each would), then copied to the
//! data directory with `VACUUM INTO` and served from there by the `regcred` binary.
//!
//! `cargo bench -p regcred --bench scale` (or `scripts/bench`); `SCALE_N` (default 100000),
//! `SCALE_SMALL` (default 100) and `SCALE_SECONDS` (each wrk run, default 10) change it.
//! `SCALE_PROJECTS` (default 1) spreads the pull secrets over that many projects (at most one
//! per 100 pull secrets, so that every list page is full), pull secret `i` in project
//! `i % SCALE_PROJECTS`; the location's auth file is per project, so a pass then handles that
//! many files. `get` and `image.resolve` ask for the middle one in its project, the list and the
//! creates use the first project. `SCALE_GET_NAMES=K` has `get` ask instead for pull secrets
//! `0..K` at random (all of them when fewer are stored): what a server that keeps what it reads
//! in memory does with more than one.
//! `SCALE_BACKENDS=sqlite,postgres` measures both stores (PostgreSQL: a fresh database on the local
//! server, filled from the seeded SQLite store with `regcred admin migrate-store`) and adds a
//! table of one against the other. `-- --smoke` runs it with tiny sizes on both stores and only
//! checks that every figure was measured:
//! `scripts/test` runs that, so the benchmark cannot rot.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt as _;
use regcred_core::refresh::RefreshPolicy;
use regcred_registry::provider::{MintError, Minted};
use regcred_server::refresher::{Clock, Minter, Refresher};
use regcred_server::AppState;
use regcred_store::vault::{MasterKey, Vault};
use regcred_store::SqliteStore;
use serde_json::{json, Value};
use tower::ServiceExt as _;

const LOCATION: &str = "bench.docker";

/// Seeding stores docker-config credentials only; nothing is minted.
struct NoMinter;

impl Minter for NoMinter {
    fn mint<'a>(
        &'a self,
        _credential: &'a regcred_core::credential::Credential,
        _now_ms: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Minted, MintError>> + Send + 'a>>
    {
        Box::pin(async { panic!("the scale benchmark stores no minted kinds") })
    }
}

/// The project of pull secret `i` when the store holds `projects` projects.
fn project_of(i: usize, projects: usize) -> String {
    format!("acme-{}", i % projects)
}

fn server_of(i: usize) -> String {
    format!("r{i}.registry.bench.test")
}

/// A data directory holding `n` pull secrets, its master key, and the admin token's secret.
async fn seed(dir: &Path, n: usize, projects: usize) -> String {
    // Filled on tmpfs where there is one (a commit's fsync costs nothing there), then copied.
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("scratch directory");
    let store = Arc::new(
        SqliteStore::open(&scratch.path().join("seed.db"))
            .await
            .expect("scratch store"),
    );
    let key = MasterKey::create(&dir.join("master.key")).expect("master key");
    let vault = Vault::open(store.as_ref(), &key).await.expect("vault");
    let admin = regcred_server::bootstrap::admin_token(store.as_ref())
        .await
        .expect("bootstrap token")
        .expect("a new store has no admin yet");
    let refresher = Refresher::new(
        Box::new(NoMinter),
        RefreshPolicy::default(),
        Clock::new(regcred_server::clock::now_millis()),
    );
    let registry = regcred_registry::RegistryClient::new(Default::default()).expect("client");
    let state = AppState::new(store.clone(), vault, registry, None, refresher);
    let app = regcred_server::router(state);
    let call = |method: &'static str, body: Value| {
        let app = app.clone();
        let admin = admin.clone();
        async move {
            let request = axum::http::Request::post(format!("/{method}"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {admin}"))
                .body(Body::from(body.to_string()))
                .expect("request");
            let response = app.oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            assert!(
                status.is_success(),
                "{method}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
    };
    for p in 0..projects {
        call("project.create", json!({"name": project_of(p, projects)})).await;
    }
    let auth_file = dir.join("auth").join("{project}.json");
    call(
        "location.create",
        json!({"name": LOCATION, "kind": "docker", "spec": {"path": auth_file}}),
    )
    .await;
    for i in 0..n {
        call(
            "pullSecret.create",
            json!({"project": project_of(i, projects), "location": LOCATION, "name": format!("ps-{i}"),
                   "spec": {"server": server_of(i), "username": format!("bot{i}"),
                            "password": format!("bench-password-{i}")}}),
        )
        .await;
    }
    store
        .backup_to(&dir.join("regcred.db"))
        .await
        .expect("copy the store to the data directory");
    admin
}

/// A `regcred serve` on a data directory; killed when dropped.
struct Server {
    child: Child,
    url: String,
    token: String,
}

impl Server {
    /// Serves the data directory `dir`, its SQLite store or, with `database`, that PostgreSQL
    /// database.
    fn start(dir: &Path, token: String, database: Option<&str>) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_regcred"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--delivery-interval",
                "3600",
            ])
            .args(
                database
                    .map(|url| ["--database-url", url])
                    .into_iter()
                    .flatten(),
            )
            .env("REGCRED_DATA_DIR", dir)
            .env("REGCRED_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start regcred serve");
        let url_file = dir.join("server.url");
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = loop {
            if let Ok(url) = std::fs::read_to_string(&url_file) {
                break url.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "regcred serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, url, token }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_mb(&self) -> f64 {
        self.status_mb("VmRSS:")
    }

    /// The most the server has held resident since it started, or since [`Server::reset_peak`].
    fn peak_rss_mb(&self) -> f64 {
        self.status_mb("VmHWM:")
    }

    /// Has the kernel start the server's high-water mark again from what it holds now
    /// (`/proc/<pid>/clear_refs`, 5), so that a later [`Server::peak_rss_mb`] is the peak of
    /// what came after.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .expect("reset the server's high-water mark");
    }

    fn status_mb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's status");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in the server's status"));
        kb / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blocking JSON-RPC call; answers the result and how long it took.
fn rpc(server: &Server, method: &str, body: &Value) -> (Value, Duration) {
    let started = Instant::now();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "600",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
        ])
        .arg("-H")
        .arg(format!("authorization: Bearer {}", server.token))
        .arg("--data-binary")
        .arg(body.to_string())
        .arg(format!("{}/{method}", server.url))
        .output()
        .expect("curl");
    let took = started.elapsed();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(answer["ok"], json!(true), "{method}: {answer}");
    (answer["result"].clone(), took)
}

/// Median time of `runs` GETs of `path`.
fn get_median(server: &Server, path: &str, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "--fail"])
                .arg(format!("{}{path}", server.url))
                .status()
                .expect("curl");
            assert!(status.success(), "GET {path}");
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// What one wrk run measured.
struct Wrk {
    rps: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// `wrk -t2 -c16` for `seconds` against `method` (`None`: GET `/healthz`) with `body`.
fn wrk(server: &Server, scratch: &Path, method: Option<&str>, body: &str, seconds: u64) -> Wrk {
    let script = scratch.join("wrk.lua");
    let lua = match method {
        None => String::new(),
        Some(_) => format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"Authorization\"] = \"Bearer {}\"\n{body}\n",
            server.token
        ),
    };
    std::fs::write(&script, lua).expect("wrk script");
    let path = method.map_or("/healthz".to_owned(), |m| format!("/{m}"));
    let out = Command::new("wrk")
        .args(["-t2", "-c16", "--latency", "-d"])
        .arg(format!("{seconds}s"))
        .arg("-s")
        .arg(&script)
        .arg(format!("{}{path}", server.url))
        .output()
        .expect("wrk (apt install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk gave no rate:\n{text}"));
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| duration_ms(v.trim()))
        .unwrap_or_else(|| panic!("wrk gave no p99:\n{text}"));
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Wrk {
        rps,
        p99_ms,
        non_2xx,
    }
}

/// wrk's `12.34ms` / `567.00us` / `1.20s` in milliseconds.
fn duration_ms(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => f64::NAN,
    }
}

fn lua_body(body: &Value) -> String {
    format!("wrk.body = [[{body}]]")
}

/// Everything measured at one size.
struct Measured {
    n: usize,
    /// How many pull secrets `get` asked for.
    get_names: usize,
    seed: Duration,
    healthz: Wrk,
    get: Wrk,
    list: Wrk,
    resolve: Wrk,
    first_pass: Duration,
    noop_pass: Duration,
    healthz_during_pass: Wrk,
    healthz_ms: Duration,
    metrics_ms: Duration,
    rss_mb: f64,
    /// RSS after the `image.resolve` run, which built the resolution index: the one thing
    /// in memory that grows with N.
    rss_resolved_mb: f64,
    /// RSS after the cycle and [`idle_time`].
    rss_idle_mb: f64,
    /// The highest RSS up to the end of the first pass, which writes every target and row.
    first_pass_peak_mb: f64,
    /// The highest RSS of the whole cycle after the first pass: the no-op passes, the list,
    /// resolve and create runs and the passes during them (the kernel's high-water mark, or a
    /// figure read before it when that is higher).
    peak_rss_mb: f64,
    create: Wrk,
    sigterm: Duration,
}

/// The store a run serves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    /// A fresh database on the local PostgreSQL, filled from the seeded SQLite store with
    /// `regcred admin migrate-store`.
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    /// Its name in `SCALE_BACKENDS`.
    fn setting(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Copies the seeded SQLite store of `dir` into a new PostgreSQL database, kept while the
/// answer lives.
fn to_postgres(dir: &Path, runtime: &tokio::runtime::Runtime) -> regcred_testkit::PostgresDb {
    let db = runtime.block_on(regcred_testkit::PostgresDb::create());
    let out = Command::new(env!("CARGO_BIN_EXE_regcred"))
        .args(["admin", "migrate-store", "--to", db.url()])
        .env("REGCRED_DATA_DIR", dir)
        .env("REGCRED_LOG", "warn")
        .output()
        .expect("run regcred admin migrate-store");
    assert!(
        out.status.success(),
        "migrate-store: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

fn measure(
    n: usize,
    projects: usize,
    get_names: usize,
    seconds: u64,
    backend: Backend,
    runtime: &tokio::runtime::Runtime,
) -> Measured {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scratch = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    // Every project holds at least a list page (100), so that row 3 lists a full page in both
    // runs: the small run of a spread-out mix is one project.
    let projects = projects.clamp(1, (n / 100).max(1));
    let token = runtime.block_on(seed(dir.path(), n, projects));
    let postgres = (backend == Backend::Postgres).then(|| to_postgres(dir.path(), runtime));
    let seed = started.elapsed();
    let mut server = Server::start(
        dir.path(),
        token,
        postgres.as_ref().map(regcred_testkit::PostgresDb::url),
    );
    let sync = json!({"name": LOCATION});
    let (_, first_pass) = rpc(&server, "location.sync", &sync);
    let first_pass_peak_mb = server.peak_rss_mb();
    server.reset_peak();
    let noop_pass = (0..3)
        .map(|_| rpc(&server, "location.sync", &sync).1)
        .min()
        .expect("three passes");

    let healthz = wrk(&server, scratch.path(), None, "", seconds);
    let middle = n / 2;
    let get_names = get_names.clamp(1, n);
    let get_script = match get_names {
        1 => lua_body(
            &json!({"project": project_of(middle, projects), "location": LOCATION,
                    "name": format!("ps-{middle}")}),
        ),
        k => format!(
            "function request()\n  local i = math.random(0, {k} - 1)\n  \
             local body = string.format('{{\"project\":\"acme-%d\",\"location\":\"{LOCATION}\",\
             \"name\":\"ps-%d\"}}', i % {projects}, i)\n  \
             return wrk.format(nil, nil, nil, body)\nend"
        ),
    };
    let get = wrk(
        &server,
        scratch.path(),
        Some("pullSecret.get"),
        &get_script,
        seconds,
    );
    let list = wrk(
        &server,
        scratch.path(),
        Some("pullSecret.list"),
        &lua_body(&json!({"project": project_of(0, projects), "location": LOCATION, "limit": 100})),
        seconds,
    );
    let resolve = wrk(
        &server,
        scratch.path(),
        Some("image.resolve"),
        &lua_body(
            &json!({"project": project_of(middle, projects), "location": LOCATION,
                          "image": format!("{}/team/app:1.0", server_of(middle))}),
        ),
        seconds,
    );
    let rss_resolved_mb = server.rss_mb();

    // /healthz while full passes run back to back.
    let passing = std::sync::atomic::AtomicBool::new(true);
    let healthz_during_pass = std::thread::scope(|s| {
        s.spawn(|| {
            while passing.load(std::sync::atomic::Ordering::Relaxed) {
                rpc(&server, "location.sync", &sync);
            }
        });
        let measured = wrk(&server, scratch.path(), None, "", seconds);
        passing.store(false, std::sync::atomic::Ordering::Relaxed);
        measured
    });
    let healthz_ms = get_median(&server, "/healthz", 21);
    let metrics_ms = get_median(&server, "/metrics", 21);
    let rss_mb = server.rss_mb();
    // The kernel does not bring its high-water mark up to date at every change of the resident
    // set (and counts that per CPU, in batches): it can read lower than a figure read before.
    let peak_rss_mb = server.peak_rss_mb().max(rss_mb).max(rss_resolved_mb);
    // The same after the server has been idle a while: what the allocator gives back by itself.
    std::thread::sleep(idle_time(seconds));
    let rss_idle_mb = server.rss_mb();

    let first = project_of(0, projects);
    let create = wrk(
        &server,
        scratch.path(),
        Some("pullSecret.create"),
        &format!(
            "local n = 0\nlocal threads = 0\nfunction setup(thread)\n  threads = threads + 1\n  \
             thread:set(\"tid\", threads)\nend\nfunction request()\n  n = n + 1\n  \
             local body = string.format('{{\"project\":\"{first}\",\"location\":\"{LOCATION}\",\
             \"name\":\"new-%d-%d\",\"spec\":{{\"server\":\"n%d-%d.create.bench.test\",\
             \"username\":\"bot\",\"password\":\"bench-password\"}}}}', tid, n, tid, n)\n  \
             return wrk.format(nil, nil, nil, body)\nend"
        ),
        seconds,
    );

    // SIGTERM during a full pass: the time to exit.
    let sigterm = std::thread::scope(|s| {
        s.spawn(|| {
            let _ = Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-X",
                    "POST",
                    "-H",
                    "content-type: application/json",
                ])
                .arg("-H")
                .arg(format!("authorization: Bearer {}", server.token))
                .arg("--data-binary")
                .arg(sync.to_string())
                .arg(format!("{}/location.sync", server.url))
                .status();
        });
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(server.pid().to_string())
            .status();
        let _ = server.child.wait();
        started.elapsed()
    });
    Measured {
        n,
        get_names,
        seed,
        healthz,
        get,
        list,
        resolve,
        first_pass,
        noop_pass,
        healthz_during_pass,
        healthz_ms,
        metrics_ms,
        rss_mb,
        rss_resolved_mb,
        rss_idle_mb,
        first_pass_peak_mb,
        peak_rss_mb,
        create,
        sigterm,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (small, large, seconds) = if smoke {
        (10, 60, 1)
    } else {
        (
            env_or("SCALE_SMALL", 100),
            env_or("SCALE_N", 100_000),
            env_or("SCALE_SECONDS", 10) as u64,
        )
    };
    let projects = env_or("SCALE_PROJECTS", 1);
    // The smoke run asks for several, so that both ways of asking stay working.
    let get_names = match smoke {
        true => 5,
        false => env_or("SCALE_GET_NAMES", 1),
    };
    // The smoke run takes both paths; a full run SQLite unless SCALE_BACKENDS says otherwise.
    let backends: Vec<Backend> = match std::env::var("SCALE_BACKENDS") {
        _ if smoke => vec![Backend::Sqlite, Backend::Postgres],
        Ok(list) => list
            .split(',')
            .map(|b| {
                [Backend::Sqlite, Backend::Postgres]
                    .into_iter()
                    .find(|known| known.setting() == b.trim())
                    .unwrap_or_else(|| {
                        panic!("SCALE_BACKENDS: unknown backend {b:?} (sqlite, postgres)")
                    })
            })
            .collect(),
        Err(_) => vec![Backend::Sqlite],
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut runs = Vec::new();
    for backend in backends {
        let a = measure(small, projects, get_names, seconds, backend, &runtime);
        let b = measure(large, projects, get_names, seconds, backend, &runtime);
        for m in [&a, &b] {
            eprintln!(
                "{} N={}: seeded in {:.1} s; first pass {:.0} ms; healthz {:.0} req/s; create non-2xx {}",
                backend.name(),
                m.n,
                m.seed.as_secs_f64(),
                ms(m.first_pass),
                m.healthz.rps,
                m.create.non_2xx
            );
        }
        let mix = match projects {
            1 => String::new(),
            p => format!(", `SCALE_PROJECTS={p}`"),
        };
        println!(
            "\n{} (`SCALE_BACKENDS={}`{mix})\n",
            backend.name(),
            backend.setting()
        );
        print_table(small, large, seconds, &a, &b);
        if smoke {
            check_smoke(&a, &b);
        }
        runs.push((backend, b));
    }
    if let [(first, x), (second, y)] = runs.as_slice() {
        print_comparison(large, (*first, x), (*second, y));
    }
}

/// The same figures of two backends at `large`, side by side, in one run.
fn print_comparison(large: usize, (p, x): (Backend, &Measured), (q, y): (Backend, &Measured)) {
    println!(
        "\n{} against {}, {large} stored, same run\n",
        q.name(),
        p.name()
    );
    println!("| figure | {} | {} | ratio |", p.name(), q.name());
    println!("|---|---|---|---|");
    for (what, a, b) in [
        ("`pullSecret.get` req/s", x.get.rps, y.get.rps),
        ("`pullSecret.list` of 100 req/s", x.list.rps, y.list.rps),
        ("`image.resolve` req/s", x.resolve.rps, y.resolve.rps),
        ("create req/s", x.create.rps, y.create.rps),
        ("`/healthz` req/s", x.healthz.rps, y.healthz.rps),
    ] {
        println!("| {what} | {a:.0} | {b:.0} | {:.2}× |", b / a);
    }
    for (what, a, b) in [
        ("no-op delivery pass (ms)", ms(x.noop_pass), ms(y.noop_pass)),
        ("`/metrics` scrape (ms)", ms(x.metrics_ms), ms(y.metrics_ms)),
        ("server RSS (MB)", x.rss_mb, y.rss_mb),
        (
            "server RSS after resolve (MB)",
            x.rss_resolved_mb,
            y.rss_resolved_mb,
        ),
        ("server RSS, idle after (MB)", x.rss_idle_mb, y.rss_idle_mb),
        (
            "server RSS, peak of the first pass (MB)",
            x.first_pass_peak_mb,
            y.first_pass_peak_mb,
        ),
        (
            "server RSS, peak after it (MB)",
            x.peak_rss_mb,
            y.peak_rss_mb,
        ),
        ("SIGTERM to exit (ms)", ms(x.sigterm), ms(y.sigterm)),
    ] {
        println!("| {what} | {a:.1} | {b:.1} | {:.2}× |", b / a);
    }
}

/// Tiny sizes say nothing about the targets; the smoke run only proves every figure was
/// measured.
fn check_smoke(a: &Measured, b: &Measured) {
    for m in [a, b] {
        for rate in [
            m.healthz.rps,
            m.get.rps,
            m.list.rps,
            m.resolve.rps,
            m.create.rps,
        ] {
            assert!(rate.is_finite() && rate > 0.0, "a rate was not measured");
        }
        assert!(m.rss_mb > 0.0 && m.rss_resolved_mb > 0.0 && m.rss_idle_mb > 0.0);
        assert!(m.first_pass_peak_mb > 0.0 && m.peak_rss_mb > 0.0);
        assert!(m.healthz_during_pass.p99_ms.is_finite());
        assert_eq!(
            m.create.non_2xx, 0,
            "every create of the smoke run succeeds"
        );
        assert!(m.get.non_2xx + m.list.non_2xx + m.resolve.non_2xx == 0);
    }
}

/// How long the server is left idle before its RSS is read again: 1.5 × the wrk time.
fn idle_time(seconds: u64) -> Duration {
    Duration::from_millis(seconds * 1500)
}

fn print_table(small: usize, large: usize, seconds: u64, a: &Measured, b: &Measured) {
    // A rate against its baseline of the same run: (row, measured, target, met).
    let rate = |what: String, got: f64, base: f64, base_name: String, at_least: f64| {
        (
            what,
            format!("{got:.0} / {base:.0} ({base_name}) = {:.3}×", got / base),
            format!("≥ {at_least}×"),
            got / base >= at_least,
        )
    };
    let healthz = "`/healthz`".to_owned();
    let asked = |m: &Measured| match m.get_names {
        1 => String::new(),
        k => format!(" of {k} at random"),
    };
    let stored_small = format!("{small} stored");
    let creates_ok = a.create.non_2xx == 0 && b.create.non_2xx == 0;
    let (what, measured, target, met) = rate(
        format!("6. create rate, {large} stored"),
        b.create.rps,
        a.create.rps,
        stored_small.clone(),
        0.7,
    );
    let create_row = (what, measured, target, met && creates_ok);
    let rows: Vec<(String, String, String, bool)> = vec![
        rate(
            format!("1. `pullSecret.get` req/s{}, {small} stored", asked(a)),
            a.get.rps,
            a.healthz.rps,
            healthz.clone(),
            0.25,
        ),
        rate(
            format!("2. `pullSecret.get` req/s{}, {large} stored", asked(b)),
            b.get.rps,
            a.get.rps,
            "row 1".to_owned(),
            0.8,
        ),
        rate(
            format!("3. `pullSecret.list` of 100, {small} stored"),
            a.list.rps,
            a.healthz.rps,
            healthz,
            0.02,
        ),
        rate(
            format!("3. `pullSecret.list` of 100, {large} stored"),
            b.list.rps,
            a.list.rps,
            stored_small,
            0.8,
        ),
        rate(
            format!("4. `image.resolve` req/s, {large} in one project"),
            b.resolve.rps,
            a.resolve.rps,
            small.to_string(),
            0.8,
        ),
        create_row,
        (
            format!("7. no-op delivery pass, {large} (per item)"),
            format!(
                "{:.1} µs / {:.1} µs ({small}) = {:.2}× (whole pass {:.0} ms)",
                ms(b.noop_pass) * 1000.0 / large as f64,
                ms(a.noop_pass) * 1000.0 / small as f64,
                (ms(b.noop_pass) / large as f64) / (ms(a.noop_pass) / small as f64),
                ms(b.noop_pass)
            ),
            "≤ 1.5×".into(),
            (ms(b.noop_pass) / large as f64) <= 1.5 * (ms(a.noop_pass) / small as f64),
        ),
        (
            format!("9. server RSS after list, resolve and pass cycles, {large}"),
            format!(
                "{:.0} MB ({small}: {:.0} MB); after the resolve run: {:.0} MB; idle {:.0} s later: {:.0} MB; peak of the cycle: {:.0} MB (of the first pass: {:.0} MB)",
                b.rss_mb,
                a.rss_mb,
                b.rss_resolved_mb,
                idle_time(seconds).as_secs_f64(),
                b.rss_idle_mb,
                b.peak_rss_mb,
                b.first_pass_peak_mb
            ),
            "≤ 150 MB".into(),
            b.rss_mb <= 150.0,
        ),
        (
            format!("10. `/healthz` p99 during full passes, {large}"),
            format!(
                "{:.2} ms / {:.2} ms (idle) = {:.2}×",
                b.healthz_during_pass.p99_ms,
                b.healthz.p99_ms,
                b.healthz_during_pass.p99_ms / b.healthz.p99_ms
            ),
            "≤ 2×".into(),
            b.healthz_during_pass.p99_ms <= 2.0 * b.healthz.p99_ms,
        ),
        (
            format!("11. `/metrics` scrape, {large}"),
            format!(
                "{:.1} ms / {:.1} ms (`/healthz`) = {:.1}×",
                ms(b.metrics_ms),
                ms(b.healthz_ms),
                ms(b.metrics_ms) / ms(b.healthz_ms)
            ),
            "≤ 20×".into(),
            ms(b.metrics_ms) <= 20.0 * ms(b.healthz_ms),
        ),
        (
            format!("SIGTERM during a full pass to exit, {large}"),
            format!(
                "{:.2} s ({small}: {:.2} s)",
                b.sigterm.as_secs_f64(),
                a.sigterm.as_secs_f64()
            ),
            "≤ 2 s".into(),
            b.sigterm <= Duration::from_secs(2),
        ),
    ];
    println!("| row | measured (ratio to the baseline of the same run) | target | |");
    println!("|---|---|---|---|");
    for (what, measured, target, ok) in &rows {
        println!("| {what} | {measured} | {target} | {} |", verdict(*ok));
    }
}
