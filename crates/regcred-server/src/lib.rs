//! regcred's HTTP API: RPC over HTTP (`POST /<resource>.<verb>`) with the
//! `{ok, result | error}` envelope, bearer-token authentication, role-based authorization, an
//! audit event for every mutation and every release of secret material, Prometheus metrics,
//! health endpoints, the OpenAPI document, and the web console (`console`) over the same methods.
//!
//! **Architecture invariant:** the server depends on `regcred-core` and `regcred-store`; it owns
//! no persistence of its own and never logs request bodies.

pub mod access;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod connection;
pub mod console;
pub mod decode;
pub mod delivery;
pub mod error;
pub mod leader;
pub mod methods;
pub mod metrics;
pub mod openapi;
pub mod platform;
pub mod refresher;
pub mod retention;
pub mod rpc;
pub mod service;
pub mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use regcred_registry::RegistryClient;
use regcred_store::vault::Vault;
use regcred_store::Store;

/// Everything a request handler needs, built once in `main` and shared.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    registry: RegistryClient,
    platform: Option<platform::Platform>,
    refresher: refresher::Refresher,
    deliverer: delivery::Deliverer,
    leadership: leader::Leadership,
    resolution: service::resolution::Index,
    metrics: metrics::Metrics,
    console: console::Config,
    /// How long a request body may take to arrive (ms); set by [`run`] from its limits.
    body_timeout_ms: AtomicU64,
}

impl AppState {
    /// `platform`: when set, this server is the token service of that platform registry.
    pub fn new(
        store: Arc<dyn Store>,
        vault: Vault,
        registry: RegistryClient,
        platform: Option<platform::PlatformConfig>,
        refresher: refresher::Refresher,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                vault,
                registry,
                platform: platform.map(platform::Platform::new),
                refresher,
                deliverer: delivery::Deliverer::default(),
                leadership: leader::Leadership::new(),
                resolution: service::resolution::Index::default(),
                metrics: metrics::Metrics::default(),
                console: console::Config::default(),
                body_timeout_ms: AtomicU64::new(
                    connection::Limits::default().body_timeout.as_millis() as u64,
                ),
            }),
        }
    }

    /// The same state with other console settings. Called while building the state, before it
    /// is shared.
    ///
    /// # Panics
    ///
    /// When the state was already cloned: settings are fixed once requests can see them.
    pub fn with_console(mut self, config: console::Config) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_console is called before the state is cloned")
            .console = config;
        self
    }

    /// The console's settings.
    pub fn console(&self) -> &console::Config {
        &self.inner.console
    }

    /// Mints and refreshes short-lived credentials.
    pub fn refresher(&self) -> &refresher::Refresher {
        &self.inner.refresher
    }

    /// Puts pull secrets and deployments where workloads run.
    pub fn deliverer(&self) -> &delivery::Deliverer {
        &self.inner.deliverer
    }

    /// Whether this server leads the background work.
    pub fn leadership(&self) -> &leader::Leadership {
        &self.inner.leadership
    }

    /// Which pull secrets apply to an image, per (project, location).
    pub fn resolution(&self) -> &service::resolution::Index {
        &self.inner.resolution
    }

    /// The platform registry, when this server is its token service.
    pub fn platform(&self) -> Option<&platform::Platform> {
        self.inner.platform.as_ref()
    }

    /// The client that checks credentials against registries.
    pub fn registry(&self) -> &RegistryClient {
        &self.inner.registry
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// How long a request body may take to arrive.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.body_timeout_ms.load(Ordering::Relaxed))
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(rpc::healthz))
        .route("/readyz", get(rpc::readyz))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .route(
            platform::TOKEN_PATH,
            get(platform::token).post(platform::token),
        )
        .route("/", get(console::root))
        .merge(console::routes())
        .route("/{method}", post(rpc::dispatch).fallback(rpc::wrong_verb))
        .fallback(rpc::no_route)
        .layer(axum::middleware::from_fn(access::layer))
        .with_state(state)
}

/// Serves `router` on `listener` under `limits` (over TLS with `tls`) until `shutdown`
/// completes, then finishes the requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: connection::Limits,
    tls: Option<tls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ms = u64::try_from(limits.body_timeout.as_millis()).unwrap_or(u64::MAX);
    state.inner.body_timeout_ms.store(ms, Ordering::Relaxed);
    connection::serve(listener, router(state), limits, tls, shutdown).await
}
