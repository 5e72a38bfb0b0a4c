//! `GET /metrics`: Prometheus metrics, kept and encoded by the official Rust client
//! (`prometheus-client`) in the Prometheus text format 0.0.4.
//!
//! Three sources, each bounded whatever the data size:
//! - events counted in memory as they happen: RPC requests (a counter and a latency histogram
//!   per method and result code), registry checks by outcome, credential refreshes by outcome,
//!   delivery passes by result;
//! - the stored state, read on every scrape by three aggregate queries of the store (pull
//!   secrets by kind, deliveries by location and state, minted credentials by kind) — never by
//!   listing a table;
//! - the process itself (resident memory, CPU seconds, file descriptors, start time), read from
//!   `/proc/self` on Linux.
//!
//! Labels carry only values from closed sets (methods of the method table, result codes, kinds,
//! outcomes, delivery states) and location names, which every caller of `location.list` sees
//! already; never a secret, a pull-secret name or anything else a caller typed. That is why the
//! credential expiry is the earliest per pull-secret kind and not one series per pull secret:
//! per pull secret it would be one series per stored row (100,000 at the scale regcred serves)
//! and read the whole minted table on every scrape.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use regcred_registry::Outcome;
use regcred_store::{DeliveryCount, MintedSummary, PullSecretCount, Store};

use crate::AppState;

/// Upper bounds (seconds) of the request latency buckets: the API answers in about 1–500 ms
/// (a store read is ~1 ms, a registry check or a mint is a network round trip or several), so
/// the buckets are dense there, with a few above for the slow tail and timeouts.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// How a mint of a short-lived credential ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    Ok,
    /// The provider could not be reached or failed; retried with backoff.
    TransientError,
    /// The provider refused the stored material.
    Rejected,
}

impl RefreshOutcome {
    const ALL: [RefreshOutcome; 3] = [
        RefreshOutcome::Ok,
        RefreshOutcome::TransientError,
        RefreshOutcome::Rejected,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Ok => "ok",
            RefreshOutcome::TransientError => "transient_error",
            RefreshOutcome::Rejected => "rejected",
        }
    }
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The metrics counted in memory, and the registry that encodes them with the process metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily,
    registry_checks: Family<OutcomeLabels, Counter>,
    refreshes: Family<OutcomeLabels, Counter>,
    delivery_passes: Family<ResultLabels, Counter>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let registry_checks = Family::<OutcomeLabels, Counter>::default();
        let refreshes = Family::<OutcomeLabels, Counter>::default();
        let delivery_passes = Family::<ResultLabels, Counter>::default();
        // Every outcome is shown from the start, at 0, so a rate over the first event works and
        // a dashboard has no gaps.
        for outcome in Outcome::ALL {
            registry_checks.get_or_create_owned(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
        }
        for outcome in RefreshOutcome::ALL {
            refreshes.get_or_create_owned(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
        }
        for result in ["ok", "failed"] {
            delivery_passes.get_or_create_owned(&ResultLabels { result });
        }

        let mut registry = Registry::default();
        registry.register(
            "regcred_build",
            "Build information",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "regcred_rpc_requests",
            "RPC requests answered, by method and result code",
            requests.clone(),
        );
        registry.register(
            "regcred_rpc_request_duration_seconds",
            "Time spent answering RPC requests, by method and result code",
            request_duration.clone(),
        );
        registry.register(
            "regcred_registry_checks",
            "Credential checks against registries (pullSecret.verify, image.check), by outcome",
            registry_checks.clone(),
        );
        registry.register(
            "regcred_credential_refresh",
            "Mint attempts of short-lived credentials, by outcome",
            refreshes.clone(),
        );
        registry.register(
            "regcred_delivery_passes",
            "Delivery passes over a location, by result",
            delivery_passes.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "regcred_leader",
            "1 while this server holds the lease of background work (refresh, delivery, retention), 0 otherwise",
            leader.clone(),
        );
        registry.register_collector(Box::new(Process));
        Metrics {
            registry,
            requests,
            request_duration,
            registry_checks,
            refreshes,
            delivery_passes,
            leader,
        }
    }

    /// Records one answered request. `method` must come from the method table and `code` from
    /// the closed set of result codes, so the label sets stay bounded.
    pub fn observe(&self, method: &'static str, code: &'static str, seconds: f64) {
        let labels = RequestLabels { method, code };
        self.requests.get_or_create(&labels).inc();
        self.request_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Records the outcome of one credential check against a registry.
    pub fn registry_check(&self, outcome: Outcome) {
        self.registry_checks
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Whether this server leads (holds the lease of background work).
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Records one mint attempt of a short-lived credential.
    pub fn credential_refresh(&self, outcome: RefreshOutcome) {
        self.refreshes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Records one delivery pass over a location; `ok` when it ended without errors.
    pub fn delivery_pass(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.delivery_passes
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// The exposition: everything counted in memory, the process, and `stored`.
    pub fn encode(&self, stored: Stored) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry)?;
        // The stored state is read per scrape and belongs to that scrape only: a registry of its
        // own, so concurrent scrapes never see each other's half-updated values. The 0.0.4
        // format has no end marker, so two encodings concatenate into one exposition.
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(stored));
        prometheus_text::encode(&mut out, &scrape)?;
        Ok(out)
    }
}

/// The stored state as `/metrics` shows it, read by [`Stored::read`]. A part the store failed to
/// give is left out of the exposition (and logged) rather than failing the whole scrape.
#[derive(Debug, Default)]
pub struct Stored {
    pub pull_secrets: Option<Vec<PullSecretCount>>,
    pub deliveries: Option<Vec<DeliveryCount>>,
    pub minted: Option<Vec<MintedSummary>>,
}

impl Stored {
    /// Three aggregate queries, run together; none lists a table.
    pub async fn read(store: &dyn Store) -> Stored {
        let (pull_secrets, deliveries, minted) = tokio::join!(
            store.count_pull_secrets_by_kind(),
            store.count_deliveries_by_state(),
            store.summarize_minted_by_kind(),
        );
        fn keep<T>(what: &str, r: regcred_store::Result<T>) -> Option<T> {
            r.map_err(|e| tracing::warn!(error = %e, "metrics: reading {what} failed"))
                .ok()
        }
        Stored {
            pull_secrets: keep("pull secrets by kind", pull_secrets),
            deliveries: keep("deliveries by state", deliveries),
            minted: keep("minted credentials by kind", minted),
        }
    }
}

/// Writes one gauge family: `rows` as (labels, value).
fn gauges<S: EncodeLabelSet, V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (S, V)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Stored {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(rows) = &self.pull_secrets {
            gauges(
                &mut encoder,
                "regcred_pull_secrets",
                "Stored pull secrets, by kind.",
                rows.iter().map(|r| ([("kind", r.kind.as_str())], r.count)),
            )?;
        }
        if let Some(rows) = &self.deliveries {
            gauges(
                &mut encoder,
                "regcred_deliveries",
                "Deliveries by location and state (pending, delivered, error).",
                rows.iter().map(|r| {
                    (
                        [
                            ("location", r.location.as_str()),
                            ("state", r.state.as_str()),
                        ],
                        r.count,
                    )
                }),
            )?;
        }
        if let Some(rows) = &self.minted {
            gauges(
                &mut encoder,
                "regcred_minted_credentials",
                "Pull secrets with minted state (a short-lived credential, or a failed attempt at one) for their current revision, by kind.",
                rows.iter()
                    .map(|r| ([("kind", r.kind.as_str())], r.count)),
            )?;
            gauges(
                &mut encoder,
                "regcred_credential_refresh_failing",
                "Pull secrets whose last mint of a short-lived credential failed, by kind.",
                rows.iter()
                    .map(|r| ([("kind", r.kind.as_str())], r.failing)),
            )?;
            gauges(
                &mut encoder,
                "regcred_credential_expiry_timestamp_seconds",
                "Unix time at which the earliest-expiring minted credential of a kind expires (kinds whose credentials have no known expiry are absent).",
                rows.iter().filter_map(|r| {
                    let at = r.earliest_expiry?;
                    Some(([("kind", r.kind.as_str())], at as f64 / 1000.0))
                }),
            )?;
        }
        Ok(())
    }
}

/// The standard process metrics (`process_*`, the names every Prometheus client uses), read
/// from `/proc/self` at each scrape; on other systems there are none.
#[derive(Debug)]
struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(p) = proc_self::read() else {
            return Ok(());
        };
        let mut gauge = |name: &str, help: &str, value: f64| {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        )?;
        gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds as f64,
        )?;
        if let Some(max) = p.max_fds {
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max as f64,
            )?;
        }
        gauge(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds.",
            p.start_time_seconds,
        )?;
        let metric = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            MetricType::Counter,
        )?;
        prometheus_client::metrics::counter::ConstCounter::new(p.cpu_seconds).encode(metric)
    }
}

#[cfg(target_os = "linux")]
mod proc_self {
    /// What `/proc` says about this process.
    pub struct ProcSelf {
        pub resident_bytes: u64,
        pub cpu_seconds: f64,
        pub open_fds: u64,
        pub max_fds: Option<u64>,
        pub start_time_seconds: f64,
    }

    pub fn read() -> Option<ProcSelf> {
        let ticks = rustix::param::clock_ticks_per_second();
        let ticks = (ticks > 0).then_some(ticks as f64)?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) is in parentheses and may hold spaces and parentheses
        // itself; the fields after its last `)` start with field 3 (state).
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let cpu_ticks = field(14)? + field(15)?;
        let start_ticks = field(22)?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
        // VmRSS is in kB whatever the page size.
        let resident_kb = std::fs::read_to_string("/proc/self/status")
            .ok()?
            .lines()
            .find_map(|l| {
                l.strip_prefix("VmRSS:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find_map(|l| {
                l.strip_prefix("Max open files")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            });
        Some(ProcSelf {
            resident_bytes: resident_kb * 1024,
            cpu_seconds: cpu_ticks as f64 / ticks,
            open_fds,
            max_fds,
            start_time_seconds: boot_time as f64 + start_ticks as f64 / ticks,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod proc_self {
    pub struct ProcSelf {
        pub resident_bytes: u64,
        pub cpu_seconds: f64,
        pub open_fds: u64,
        pub max_fds: Option<u64>,
        pub start_time_seconds: f64,
    }

    pub fn read() -> Option<ProcSelf> {
        None
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let stored = Stored::read(state.store()).await;
    match state.metrics().encode(stored) {
        Ok(body) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        )
            .into_response(),
    }
}
