//! `regcred serve`: builds the resources (data directory, store, master key, vault), creates the
//! bootstrap admin token on first start, and serves until SIGINT or SIGTERM, then drains.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use regcred_core::refresh::RefreshPolicy;
use regcred_registry::provider::ProviderConfig;
use regcred_registry::trust::TrustStore;
use regcred_server::delivery::Deliverer;
use regcred_server::leader::Leadership;
use regcred_server::platform::PlatformConfig;
use regcred_server::refresher::{Clock, Providers, Refresher};
use regcred_server::AppState;
use regcred_store::vault::{write_private_new, MasterKey, Vault};

use crate::cli::{LogFormat, ServeArgs};
use crate::database;
use crate::paths;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGCRED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The master key from the environment, the key file, or — only for a store that has sealed
/// nothing yet — a new key written to the key file. A missing key file in front of a store that
/// already holds sealed data is an error, and nothing is written: a fresh key could never open
/// that data, and a stray key file would hide the missing one at the next start.
async fn master_key(
    args: &ServeArgs,
    dir: &Path,
    store: &dyn regcred_store::Store,
) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("REGCRED_MASTER_KEY") {
        return MasterKey::from_text(&text).context("REGCRED_MASTER_KEY");
    }
    let path = args
        .master_key_file
        .clone()
        .unwrap_or_else(|| dir.join(paths::MASTER_KEY_FILE));
    if let Some(key) = MasterKey::load(&path)? {
        return Ok(key);
    }
    if let Some(id) = Vault::sealed_under(store)
        .await
        .context("reading the store's data key")?
    {
        anyhow::bail!(
            "master key file {} does not exist, but the database holds data sealed under master \
             key {id}; restore that key file (or set REGCRED_MASTER_KEY) — a new key could not \
             open it",
            path.display()
        );
    }
    Ok(MasterKey::create(&path)?)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

/// Writes the bootstrap admin token file, replacing a stale one left by an interrupted start.
fn write_admin_token(dir: &Path, secret: &str) -> anyhow::Result<()> {
    let path = dir.join(paths::ADMIN_TOKEN_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    write_private_new(&path, format!("{secret}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The trust store of every outgoing connection: the system's roots and `--registry-ca-file`.
fn trust_store(args: &ServeArgs) -> anyhow::Result<TrustStore> {
    TrustStore::with_files(&args.registry_ca_files).context("reading --registry-ca-file")
}

fn registry_client(
    args: &ServeArgs,
    trust: &TrustStore,
) -> anyhow::Result<regcred_registry::RegistryClient> {
    let config = regcred_registry::ClientConfig {
        timeout: std::time::Duration::from_secs(args.registry_timeout.max(1)),
        trust: trust.clone(),
        insecure_http_hosts: args.insecure_registries.clone(),
        user_agent: concat!("regcred/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    regcred_registry::RegistryClient::new(config).context("configuring the registry client")
}

/// Descriptors kept free of connections: the database, the listener, outgoing registry and
/// cluster connections, files delivery writes.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The connection bound, made to fit the process's open-file limit: the soft limit is raised to
/// the hard one, and when even that leaves less room than `wanted` connections, the bound is
/// lowered (and said), so the server never runs out of descriptors for its own work — and
/// `/healthz` keeps answering — however many clients connect.
fn connections_within_file_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum || (limit.current.is_some() && limit.maximum.is_none()) {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        // Raising the soft limit up to the hard one needs no privilege.
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit.current = limit.maximum;
        }
    }
    // `None` is unlimited.
    let Some(current) = limit.current else {
        return wanted;
    };
    let room = usize::try_from(current.saturating_sub(RESERVED_DESCRIPTORS))
        .unwrap_or(usize::MAX)
        .max(1);
    if room < wanted {
        tracing::warn!(
            wanted,
            serving = room,
            open_file_limit = current,
            "fewer connections than --max-connections fit in the open-file limit"
        );
        return room;
    }
    wanted
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// How long shutdown waits for a delivery pass in flight to stop.
const PASS_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

/// Delivery on a thread and runtime of its own: the background loop, and every pass asked for
/// by a request, run there, so a full pass over a large location takes its share of the CPU from
/// the operating system's scheduler instead of holding one of the workers that answer requests.
fn delivery_thread(
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // The runtime's blocking threads do the pass's whole-location reads.
        .on_thread_start(yield_to_requests)
        .build()
        .context("starting the delivery runtime")?;
    state.deliverer().run_passes_on(runtime.handle().clone());
    state
        .deliverer()
        .after_full_pass(crate::memory::give_back_freed);
    std::thread::Builder::new()
        .name("delivery".into())
        .spawn(move || {
            yield_to_requests();
            let leadership = state.leadership();
            let work = || Deliverer::run(state.clone(), std::future::pending());
            runtime.block_on(leadership.lead(shutdown, work));
            // A pass stopped at shutdown may be inside a whole-location read on a blocking
            // thread; reads write nothing, so it is left behind rather than waited for (the
            // next start does the pass again).
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
        })
        .context("starting the delivery thread")
}

/// The delivery threads' timer slack (ns): how late the kernel may end their rests.
const REST_SLACK_NS: u64 = 5_000;

/// How much lower than the server's own the delivery threads' scheduling priority is (nice
/// values, -20 to 19).
const DELIVERY_NICENESS: i32 = 10;

/// Makes the calling thread (the delivery thread, or one of its runtime's blocking threads) give
/// way to the threads that answer requests, in two ways:
///
/// - It rests for a moment after every 200 µs of work (`regcred_core::pace`). This is what keeps
///   a pass from delaying answers: the kernel lets a running thread finish its slice before one
///   that wakes gets the core, whatever their priorities, so a pass that never blocked raised
///   the p99 latency of `/healthz` about ninefold on two cores (README "Performance").
/// - Its scheduling priority is lower by [`DELIVERY_NICENESS`]. On Linux the nice value belongs
///   to each thread, so only delivery's threads (and the threads they start) are lowered: while
///   the CPU is contended for long, a pass gets about a tenth of the time the threads that
///   answer requests get, and all of it when they are idle. A failure (a platform without
///   per-thread priorities) leaves the thread as it was, with a warning.
fn yield_to_requests() {
    regcred_core::pace::this_thread();
    // The rests are 50 µs; the default timer slack (50 µs) would double them.
    if let Err(e) =
        rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(REST_SLACK_NS))
    {
        tracing::warn!("cannot shorten the delivery thread's timer slack: {e}");
    }
    let lowered = rustix::process::getpriority_process(None).and_then(|now| {
        rustix::process::setpriority_process(None, (now + DELIVERY_NICENESS).min(19))
    });
    if let Err(e) = lowered {
        tracing::warn!("cannot lower the delivery thread's priority: {e}");
    }
}

pub async fn run(args: ServeArgs, data_dir: Option<&Path>) -> anyhow::Result<()> {
    init_logging(args.log_format);
    if let Err(e) = crate::memory::keep_pages_small() {
        tracing::warn!("cannot turn transparent huge pages off: {e}");
    }
    let dir = paths::data_dir(data_dir);
    create_private_dir(&dir)?;
    let database = database::resolve(args.database_url.as_ref(), &dir);
    let store = database::open(&database).await?;
    let key = master_key(&args, &dir, store.as_ref()).await?;
    let vault = Vault::open(store.as_ref(), &key)
        .await
        .context("opening the vault")?;
    if let Some(secret) = regcred_server::bootstrap::admin_token(store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("creating the bootstrap admin token: {}", e.message))?
    {
        write_admin_token(&dir, &secret)?;
        tracing::info!(
            path = %dir.join(paths::ADMIN_TOKEN_FILE).display(),
            "created the bootstrap admin token"
        );
    }
    // Files named by flags are read before anything is announced: a wrong one stops start-up.
    let trust = trust_store(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            regcred_server::tls::acceptor(&regcred_server::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.client_ca.clone(),
            })
            .context("setting up TLS")?,
        ),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}");
    let url_file = dir.join(paths::SERVER_URL_FILE);
    std::fs::write(&url_file, format!("{url}\n"))
        .with_context(|| format!("writing {}", url_file.display()))?;
    tracing::info!(%url, data_dir = %dir.display(), %database, master_key = %key.id(), "regcred serving");
    let platform = args
        .platform_registry
        .as_ref()
        .map(|registry| PlatformConfig {
            registry: registry.clone(),
            service: args
                .platform_service
                .clone()
                .unwrap_or_else(|| registry.clone()),
            issuer: args.platform_issuer.clone(),
        });
    if let Some(p) = &platform {
        tracing::info!(registry = %p.registry, service = %p.service, issuer = %p.issuer, realm = %format!("{url}{}", regcred_server::platform::TOKEN_PATH), "token service of the platform registry");
    }
    let providers = ProviderConfig {
        http: trust
            .reqwest(
                reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(args.registry_timeout.max(1)))
                    .user_agent(concat!("regcred/", env!("CARGO_PKG_VERSION"))),
            )
            .build()
            .context("building the provider HTTP client")?,
        trust: trust.clone(),
        ecr_endpoint_url: args.ecr_endpoint_url.clone(),
        azure_authority_url: args.azure_authority_url.clone(),
        insecure_http_hosts: args.insecure_registries.clone(),
    };
    let refresher = Refresher::new(
        Box::new(Providers(providers)),
        RefreshPolicy::default(),
        Clock::new(regcred_server::clock::now_millis()),
    );
    let state = AppState::new(
        store,
        vault,
        registry_client(&args, &trust)?,
        platform,
        refresher,
    )
    .with_console(regcred_server::console::Config {
        secure_cookie: tls.is_some(),
        session_ttl: std::time::Duration::from_secs(args.console_session_seconds.max(1)),
    });
    state
        .deliverer()
        .set_interval(std::time::Duration::from_secs(
            args.delivery_interval.max(1),
        ));
    // Background work runs on the one server that holds the store's lease (leader.rs).
    state.leadership().set_url(&url);
    let renewed = Leadership::elect(&state).await;
    let (stop_election, election_stopped) = tokio::sync::oneshot::channel::<()>();
    let election = tokio::spawn(Leadership::run(state.clone(), renewed, async {
        let _ = election_stopped.await;
    }));
    let (stop_refresher, stopped) = tokio::sync::oneshot::channel::<()>();
    let refresh_loop = tokio::spawn({
        let state = state.clone();
        async move {
            let stopped = async {
                let _ = stopped.await;
            };
            let leadership = state.leadership();
            let work = || Refresher::run(state.clone(), std::future::pending());
            leadership.lead(stopped, work).await;
        }
    });
    let (stop_deliverer, delivery_stopped) = tokio::sync::oneshot::channel::<()>();
    let delivery_loop = delivery_thread(state.clone(), async {
        let _ = delivery_stopped.await;
    })?;
    let (stop_retention, retention_stopped) = tokio::sync::oneshot::channel::<()>();
    let retention_days = args.audit_retention_days;
    let retention_loop = tokio::spawn({
        let state = state.clone();
        async move {
            let stopped = async {
                let _ = retention_stopped.await;
            };
            let leadership = state.leadership();
            let work = || {
                regcred_server::retention::run(
                    state.clone(),
                    retention_days,
                    std::future::pending(),
                )
            };
            leadership.lead(stopped, work).await;
        }
    });
    let limits = regcred_server::connection::Limits {
        header_read_timeout: std::time::Duration::from_secs(args.header_read_timeout.max(1)),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout.max(1)),
        body_timeout: std::time::Duration::from_secs(args.body_timeout.max(1)),
        max_connections: connections_within_file_limit(args.max_connections.max(1)),
    };
    let served = regcred_server::run(listener, state, limits, tls, shutdown_signal()).await;
    let _ = stop_refresher.send(());
    let _ = stop_deliverer.send(());
    let _ = stop_retention.send(());
    let _ = refresh_loop.await;
    // A pass stops at its next await; one in the middle of a long stretch of computing (a
    // whole auth file of 100,000 entries) is not waited for past `PASS_GRACE`: the process exits
    // under it as after a crash, which every write survives (the file is replaced whole, the
    // store commits whole), and the next start does the pass again.
    let joined = tokio::time::timeout(
        PASS_GRACE,
        tokio::task::spawn_blocking(move || delivery_loop.join()),
    )
    .await;
    if joined.is_err() {
        tracing::warn!(
            "a delivery pass was still running at shutdown; the next start does it again"
        );
    }
    let _ = retention_loop.await;
    // Last: the lease is given up once no background work can write under it (a pass left
    // running above writes under an epoch the released lease no longer accepts).
    let _ = stop_election.send(());
    let _ = election.await;
    let _ = std::fs::remove_file(&url_file);
    tracing::info!("regcred stopped");
    served.context("serving")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection bound fits in the open-file limit, with room for the server's own files.
    #[test]
    fn the_connection_bound_fits_in_the_open_file_limit() {
        assert_eq!(connections_within_file_limit(10), 10);
        let bound = connections_within_file_limit(usize::MAX);
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(limit.current, limit.maximum, "the soft limit is raised");
        let room = limit.current.map_or(usize::MAX, |current| {
            usize::try_from(current.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
        });
        assert_eq!(bound, room.max(1));
    }

    /// Lowering a delivery thread's priority lowers that thread's alone, and the threads it
    /// starts inherit it.
    #[test]
    fn delivery_threads_yield_to_the_others() {
        use rustix::process::getpriority_process as nice;
        let before = nice(None).unwrap();
        let (lowered, child, paced) = std::thread::spawn(|| {
            yield_to_requests();
            let child = std::thread::spawn(|| nice(None).unwrap()).join().unwrap();
            let paced = (0..10_000).any(|_| {
                std::thread::sleep(std::time::Duration::from_micros(20));
                regcred_core::pace::point();
                regcred_core::pace::rests() > 0
            });
            (nice(None).unwrap(), child, paced)
        })
        .join()
        .unwrap();
        let expected = (before + DELIVERY_NICENESS).min(19);
        assert_eq!((lowered, child), (expected, expected));
        assert!(paced, "the delivery thread rests between bursts");
        assert_eq!(
            nice(None).unwrap(),
            before,
            "the calling thread keeps its priority"
        );
    }
}
