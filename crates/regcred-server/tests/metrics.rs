//! `/metrics` read the way Prometheus reads it: the scrape is parsed by the text-format parser
//! of Prometheus's official Python client (`prometheus-client` from PyPI, in the virtualenv that
//! `scripts/setup` makes), and the test checks what the parser understood — each family's type
//! (histogram, counter, gauge), the values that the calls before the scrape must have produced,
//! the process metrics — and that no secret of any pull secret, minted credential or token is in
//! the text.

mod fixture;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use fixture::{basic, Fixture, LOCATION};
use regcred_core::refresh::RefreshPolicy;
use regcred_server::metrics::LATENCY_BUCKETS;
use regcred_server::refresher::{Clock, Refresher};
use regcred_store::{DeliveryRecord, Store};
use serde_json::{json, Value};

const DEFAULT_VENV: &str = "/var/tmp/regcred-prometheus-venv";

/// Parses `text` with `prometheus_client.parser` and answers what it found: one object per
/// family, `{name, type, samples: [{name, labels, value}]}`. A line the parser cannot read fails
/// the test.
fn parse(text: &str) -> Vec<Value> {
    let venv = std::env::var("REGCRED_PROMETHEUS_VENV").unwrap_or_else(|_| DEFAULT_VENV.into());
    let python = format!("{venv}/bin/python");
    let script = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    out.append({
        "name": family.name,
        "type": family.type,
        "samples": [
            {"name": s.name, "labels": s.labels,
             "value": s.value if math.isfinite(s.value) else str(s.value)}
            for s in family.samples
        ],
    })
print(json.dumps(out))
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python}: {e}; scripts/setup makes this virtualenv (REGCRED_PROMETHEUS_VENV moves it)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the scrape");
    let output = child.wait_with_output().expect("parser ran");
    assert!(
        output.status.success(),
        "the Prometheus parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("parser output is JSON")
}

/// The family named `name`, as the parser names it (a counter's family drops `_total`).
fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name} in {families:#?}"))
}

/// The value of the sample `sample` of `family` whose labels include `labels`.
fn value(family: &Value, sample: &str, labels: &[(&str, &str)]) -> f64 {
    family["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .find(|s| {
            s["name"] == sample
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .and_then(|s| s["value"].as_f64())
        .unwrap_or_else(|| panic!("no {sample} {labels:?} in {family:#}"))
}

#[tokio::test]
async fn a_scrape_parses_as_typed_prometheus_metrics_with_the_values_of_what_happened() {
    const BASIC_PASSWORD: &str = "metrics-canary-basic-Pw9";
    const ECR_SECRET_KEY: &str = "metrics-canary-ecr-secret-key";
    const MINTED_PREFIX: &str = "metrics-canary-minted";
    const LIFETIME_MS: i64 = 3_600_000;

    let start = 1_795_000_000_000;
    let clock = Clock::new(start);
    let minter = fixture::CountingMinter {
        calls: Arc::new(AtomicUsize::new(0)),
        clock: clock.clone(),
        prefix: MINTED_PREFIX,
        lifetime_ms: LIFETIME_MS,
    };
    let policy = RefreshPolicy {
        jitter: 0.0,
        ..RefreshPolicy::default()
    };
    let f = Fixture::with_refresher(Refresher::new(Box::new(minter), policy, clock.clone())).await;
    f.create_project("acme").await;
    f.create_location(LOCATION).await;
    // Nothing listens on port 1: the check of this pull secret is `unreachable`.
    f.create_pull_secret(
        &f.admin,
        "acme",
        "local",
        basic("127.0.0.1:1", "acme-ci", BASIC_PASSWORD),
    )
    .await;
    let ecr = f
        .create_pull_secret(
            &f.admin,
            "acme",
            "ecr",
            json!({"server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
               "accessKeyId": "AKIAMETRICS", "secretAccessKey": ECR_SECRET_KEY}),
        )
        .await;
    // One refresh pass mints the ECR credential once.
    f.state.refresher().tick(&f.state).await.expect("tick");
    let minted = f
        .store
        .get_minted(ecr["id"].as_str().expect("id"))
        .await
        .expect("minted")
        .expect("minted once");
    let expires_at = minted.expires_at.expect("an expiry");
    assert!(expires_at >= start + LIFETIME_MS, "{expires_at}");

    f.call("registry.kinds", &f.admin, json!({})).await.ok();
    f.call("registry.kinds", &f.admin, json!({})).await.ok();
    f.call(
        "pullSecret.get",
        &f.admin,
        json!({"id": "ps_0000000000000000"}),
    )
    .await
    .expect_err(404, "not_found");
    let verified = f
        .call(
            "pullSecret.verify",
            &f.admin,
            json!({"project": "acme", "location": LOCATION, "name": "local"}),
        )
        .await;
    assert_eq!(
        verified.ok()["verification"]["outcome"],
        "unreachable",
        "{}",
        verified.raw
    );
    // No cluster answers for the in-cluster location: the pass fails.
    let pass = f
        .state
        .deliverer()
        .sync(&f.state, LOCATION, regcred_server::delivery::Coverage::Full)
        .await;
    assert!(pass.as_ref().map_or(true, |r| r.errors > 0), "{pass:?}");
    // Delivery rows of a location of their own (the table has no foreign key), so the pass
    // above adds none to what is counted here.
    const ROWS_AT: &str = "metrics.rows";
    let rows = [
        ("secret:a/x", "delivered"),
        ("secret:b/x", "delivered"),
        ("secret:c/x", "error"),
    ]
    .map(|(target, state)| DeliveryRecord {
        location: ROWS_AT.to_owned(),
        target: target.to_owned(),
        owner_id: "ps_x".to_owned(),
        state: state.to_owned(),
        revision: Some(1),
        digest: None,
        code: None,
        message: None,
        updated_at: start,
    });
    f.store
        .update_deliveries(ROWS_AT, &rows, &[])
        .await
        .expect("deliveries");

    let scrape = f.get("/metrics").await;
    assert_eq!(scrape.status, 200);
    for needle in [
        BASIC_PASSWORD,
        ECR_SECRET_KEY,
        MINTED_PREFIX,
        f.admin.as_str(),
    ] {
        assert!(
            !scrape.raw.contains(needle),
            "/metrics shows a secret ({needle}):\n{}",
            scrape.raw
        );
    }
    let families = parse(&scrape.raw);
    for f in &families {
        let kind = f["type"].as_str().unwrap_or_default();
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind),
            "{} has type {kind}",
            f["name"]
        );
    }

    let requests = family(&families, "regcred_rpc_requests");
    assert_eq!(requests["type"], "counter");
    let kinds = [("method", "registry.kinds"), ("code", "ok")];
    assert_eq!(value(requests, "regcred_rpc_requests_total", &kinds), 2.0);
    let not_found = [("method", "pullSecret.get"), ("code", "not_found")];
    assert_eq!(
        value(requests, "regcred_rpc_requests_total", &not_found),
        1.0
    );

    let latency = family(&families, "regcred_rpc_request_duration_seconds");
    assert_eq!(latency["type"], "histogram");
    let name = "regcred_rpc_request_duration_seconds";
    assert_eq!(value(latency, &format!("{name}_count"), &kinds), 2.0);
    let all = [kinds[0], kinds[1], ("le", "+Inf")];
    assert_eq!(value(latency, &format!("{name}_bucket"), &all), 2.0);
    let sum = value(latency, &format!("{name}_sum"), &kinds);
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    // One bucket per configured bound, dense over 1–500 ms, and the +Inf one.
    let bounds: Vec<f64> = latency["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == format!("{name}_bucket") && s["labels"]["code"] == "not_found")
        .filter_map(|s| s["labels"]["le"].as_str()?.parse().ok())
        .collect();
    let mut expected = LATENCY_BUCKETS.to_vec();
    expected.push(f64::INFINITY);
    assert_eq!(bounds, expected);
    assert!(expected.contains(&0.001) && expected.contains(&0.5));

    let checks = family(&families, "regcred_registry_checks");
    assert_eq!(checks["type"], "counter");
    let checks_total = "regcred_registry_checks_total";
    assert_eq!(
        value(checks, checks_total, &[("outcome", "unreachable")]),
        1.0
    );
    assert_eq!(value(checks, checks_total, &[("outcome", "ok")]), 0.0);

    let refresh = family(&families, "regcred_credential_refresh");
    assert_eq!(refresh["type"], "counter");
    let refresh_total = "regcred_credential_refresh_total";
    assert_eq!(value(refresh, refresh_total, &[("outcome", "ok")]), 1.0);
    assert_eq!(
        value(refresh, refresh_total, &[("outcome", "rejected")]),
        0.0
    );

    let passes = family(&families, "regcred_delivery_passes");
    assert_eq!(passes["type"], "counter");
    let passes_total = "regcred_delivery_passes_total";
    assert_eq!(value(passes, passes_total, &[("result", "failed")]), 1.0);
    assert_eq!(value(passes, passes_total, &[("result", "ok")]), 0.0);

    let secrets = family(&families, "regcred_pull_secrets");
    assert_eq!(secrets["type"], "gauge");
    assert_eq!(
        value(secrets, "regcred_pull_secrets", &[("kind", "ecr")]),
        1.0
    );
    let total: f64 = secrets["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["value"].as_f64())
        .sum();
    assert_eq!(total, 2.0, "{secrets:#}");

    let deliveries = family(&families, "regcred_deliveries");
    assert_eq!(deliveries["type"], "gauge");
    let at = |state| [("location", ROWS_AT), ("state", state)];
    assert_eq!(
        value(deliveries, "regcred_deliveries", &at("delivered")),
        2.0
    );
    assert_eq!(value(deliveries, "regcred_deliveries", &at("error")), 1.0);

    let expiry = family(&families, "regcred_credential_expiry_timestamp_seconds");
    assert_eq!(expiry["type"], "gauge");
    assert_eq!(
        value(
            expiry,
            "regcred_credential_expiry_timestamp_seconds",
            &[("kind", "ecr")]
        ),
        expires_at as f64 / 1000.0
    );
    let failing = family(&families, "regcred_credential_refresh_failing");
    assert_eq!(
        value(
            failing,
            "regcred_credential_refresh_failing",
            &[("kind", "ecr")]
        ),
        0.0
    );

    let build = family(&families, "regcred_build_info");
    assert_eq!(build["type"], "gauge");
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(build, "regcred_build_info", &version), 1.0);

    if cfg!(target_os = "linux") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value(
            family(&families, "process_start_time_seconds"),
            "process_start_time_seconds",
            &[],
        );
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        let cpu = family(&families, "process_cpu_seconds");
        assert_eq!(cpu["type"], "counter");
        assert!(value(cpu, "process_cpu_seconds_total", &[]) > 0.0);
        for gauge in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ] {
            let family = family(&families, gauge);
            assert_eq!(family["type"], "gauge", "{gauge}");
            assert!(value(family, gauge, &[]) > 0.0, "{gauge}");
        }
    }
}
