//! Prometheus metrics in the text exposition format. A handful of counters kept in memory; no
//! label ever carries a secret or a caller-chosen string other than the method name, which is
//! checked against the method table first so the label set stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

/// (method, code) → (count, seconds).
type RequestCounters = BTreeMap<(&'static str, String), (u64, f64)>;

/// Request counters and latency sums per (method, code).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestCounters>,
}

impl Metrics {
    /// Records one answered request. `method` must come from the method table.
    pub fn observe(&self, method: &'static str, code: &str, seconds: f64) {
        if let Ok(mut map) = self.requests.lock() {
            let entry = map.entry((method, code.to_owned())).or_insert((0, 0.0));
            entry.0 += 1;
            entry.1 += seconds;
        }
    }

    fn write(&self, out: &mut String) {
        let Ok(map) = self.requests.lock() else {
            return;
        };
        out.push_str(
            "# HELP regcred_rpc_requests_total RPC requests answered, by method and result code.\n",
        );
        out.push_str("# TYPE regcred_rpc_requests_total counter\n");
        for ((method, code), (count, _)) in map.iter() {
            let _ = writeln!(
                out,
                "regcred_rpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP regcred_rpc_request_seconds_total Time spent answering RPC requests.\n",
        );
        out.push_str("# TYPE regcred_rpc_request_seconds_total counter\n");
        for ((method, code), (_, seconds)) in map.iter() {
            let _ = writeln!(out, "regcred_rpc_request_seconds_total{{method=\"{method}\",code=\"{code}\"}} {seconds}");
        }
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP regcred_build_info Build information.\n# TYPE regcred_build_info gauge\nregcred_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    state.metrics().write(&mut out);
    let counters = &state.refresher().counters;
    out.push_str("# HELP regcred_credential_refresh_total Mint attempts of short-lived credentials, by outcome.\n# TYPE regcred_credential_refresh_total counter\n");
    for (outcome, counter) in [
        ("ok", &counters.ok),
        ("transient_error", &counters.transient),
        ("rejected", &counters.rejected),
    ] {
        let n = counter.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "regcred_credential_refresh_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    if let Ok(minted) = state.store().list_minted().await {
        let now = state.refresher().clock.now_ms();
        out.push_str("# HELP regcred_credential_expiry_seconds Seconds until the current minted credential of a pull secret expires (negative: expired).\n# TYPE regcred_credential_expiry_seconds gauge\n");
        for m in minted.iter().filter(|m| m.sealed.is_some()) {
            if let Some(at) = m.expires_at {
                let _ = writeln!(
                    out,
                    "regcred_credential_expiry_seconds{{pull_secret=\"{}\"}} {}",
                    m.pull_secret_id,
                    (at - now) / 1000
                );
            }
        }
        out.push_str("# HELP regcred_credential_refresh_failures Consecutive failed refreshes of a pull secret's minted credential.\n# TYPE regcred_credential_refresh_failures gauge\n");
        for m in &minted {
            let _ = writeln!(
                out,
                "regcred_credential_refresh_failures{{pull_secret=\"{}\"}} {}",
                m.pull_secret_id, m.failures
            );
        }
    }
    if let Ok(secrets) = state.store().list_pull_secrets(None, None).await {
        let mut per_kind: BTreeMap<String, u64> = BTreeMap::new();
        for s in secrets {
            *per_kind.entry(s.kind).or_default() += 1;
        }
        out.push_str("# HELP regcred_pull_secrets Stored pull secrets, by kind.\n# TYPE regcred_pull_secrets gauge\n");
        for (kind, n) in per_kind {
            let _ = writeln!(out, "regcred_pull_secrets{{kind=\"{kind}\"}} {n}");
        }
    }
    if let Ok(rows) = state.store().list_deliveries(None, None).await {
        let mut per_state: BTreeMap<(String, String), u64> = BTreeMap::new();
        for r in rows {
            *per_state.entry((r.location, r.state)).or_default() += 1;
        }
        out.push_str("# HELP regcred_deliveries Deliveries by location and state (pending, delivered, error).
# TYPE regcred_deliveries gauge
");
        for ((location, state), n) in per_state {
            let _ = writeln!(
                out,
                "regcred_deliveries{{location=\"{location}\",state=\"{state}\"}} {n}"
            );
        }
    }
    let passes = &state.deliverer().counters;
    out.push_str(
        "# HELP regcred_delivery_passes_total Delivery passes over a location, by result.
# TYPE regcred_delivery_passes_total counter
",
    );
    for (result, counter) in [("ok", &passes.ok), ("failed", &passes.failed)] {
        let n = counter.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "regcred_delivery_passes_total{{result=\"{result}\"}} {n}"
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
