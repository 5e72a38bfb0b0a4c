//! Fan-out benchmark: one ECR pull secret delivered to N namespaces of a Kubernetes location, with
//! a scripted minter counting mints. Measures, for N = 1 (the baseline, same run) and N = 2,000:
//! the first pass (a lookup and a server-side apply per namespace), a steady pass (nothing to
//! change: one labelled list), and a pass after a refresh (every Secret re-applied). Prints each
//! time, the per-namespace cost as a ratio to the baseline, and the number of mints, which must be
//! one per refresh however many namespaces there are.
//!
//! The cluster is `FakeKubeApi` (no Kubernetes API server can run here), on loopback. Run with
//! `cargo bench -p regcred-server --bench fanout` or `scripts/bench`; `FANOUT_NAMESPACES` changes N.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixture::Fixture;
use regcred_core::refresh::RefreshPolicy;
use regcred_server::refresher::{Clock, Refresher};
use regcred_testkit::FakeKubeApi;
use serde_json::json;

struct Timings {
    first: Duration,
    steady: Duration,
    refreshed: Duration,
    mints: usize,
    applied: u64,
}

async fn run(namespaces: usize) -> Timings {
    let kube = FakeKubeApi::start();
    for i in 0..namespaces {
        kube.create_namespace(&format!("acme-{i}"), &[("regcred.dev/project", "acme")]);
    }
    let clock = Clock::new(regcred_server::clock::now_millis());
    let calls = Arc::new(AtomicUsize::new(0));
    let script = fixture::CountingMinter {
        calls: calls.clone(),
        clock: clock.clone(),
        prefix: "bench-token",
        lifetime_ms: 12 * 3_600_000,
    };
    let policy = RefreshPolicy {
        jitter: 0.0,
        ..RefreshPolicy::default()
    };
    let f = Fixture::with_refresher(Refresher::new(Box::new(script), policy, clock.clone())).await;
    f.create_project("acme").await;
    f.call(
        "location.create",
        &f.admin,
        json!({"name": "eks.bench", "kind": "kubernetes", "spec": {
            "kubeconfig": kube.kubeconfig_path(),
            "namespaceTemplate": "acme-0",
            "namespaceSelector": "regcred.dev/project={project}",
        }}),
    )
    .await
    .ok();
    f.call(
        "pullSecret.create",
        &f.admin,
        json!({"project": "acme", "location": "eks.bench", "name": "ecr", "spec": {
            "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "accessKeyId": "AKIABENCH", "secretAccessKey": "not-a-real-key"}}),
    )
    .await
    .ok();
    let sync = || async {
        let started = Instant::now();
        let report = f
            .call("location.sync", &f.admin, json!({"name": "eks.bench"}))
            .await
            .ok()
            .clone();
        (started.elapsed(), report)
    };
    let (first, report) = sync().await;
    let applied = report["applied"].as_u64().unwrap_or_default();
    assert_eq!(applied, namespaces as u64, "{report}");
    let (steady, report) = sync().await;
    assert_eq!(
        report["upToDate"].as_u64(),
        Some(namespaces as u64),
        "{report}"
    );
    clock.advance(7 * 3_600_000);
    f.state.refresher().tick(&f.state).await.expect("refresh");
    let (refreshed, report) = sync().await;
    assert_eq!(
        report["applied"].as_u64(),
        Some(namespaces as u64),
        "{report}"
    );
    Timings {
        first,
        steady,
        refreshed,
        mints: calls.load(Ordering::SeqCst),
        applied,
    }
}

fn per_namespace(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / n as f64
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that cheap.
    let n: usize = std::env::var("FANOUT_NAMESPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = runtime.block_on(run(1));
    let fan = runtime.block_on(run(n));
    println!("fan-out of one ECR pull secret, FakeKubeApi on loopback, 2 worker threads");
    println!(
        "{:<28}{:>14}{:>18}{:>24}",
        "pass",
        "1 namespace",
        format!("{n} namespaces"),
        "ms/namespace (ratio)"
    );
    for (what, b, f) in [
        ("first (lookup + apply)", base.first, fan.first),
        ("steady (nothing to do)", base.steady, fan.steady),
        ("after refresh (apply)", base.refreshed, fan.refreshed),
    ] {
        let ratio = per_namespace(f, n) / per_namespace(b, 1);
        println!(
            "{what:<28}{:>11.1} ms{:>15.1} ms{:>14.3} ({ratio:.3}x)",
            b.as_secs_f64() * 1000.0,
            f.as_secs_f64() * 1000.0,
            per_namespace(f, n)
        );
    }
    println!(
        "Secrets applied: {}; mints: {} (1 initial + 1 refresh, whatever N)",
        fan.applied, fan.mints
    );
    assert_eq!(fan.mints, 2, "one mint per refresh, not per namespace");
}
