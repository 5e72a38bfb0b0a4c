//! ECR pull secrets against the real AWS emulator (moto from PyPI, in the virtualenv that
//! `scripts/setup` makes), through the real `regcred serve` and CLI: the credential is minted
//! with the official AWS SDK once however many renders ask for it, moto's expiry in 2015 does
//! not make regcred mint in a loop, and stopping the emulator never blanks what is served.
//! The schedule itself (half-life, backoff, expiry) is tested over simulated days in
//! `crates/regcred-server/tests/refresher.rs`.

mod fixture;

use base64::Engine;
use fixture::{http_get, Server};
use regcred_testkit::Moto;
use serde_json::Value;

const SERVER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn refresh_count(server: &Server, outcome: &str) -> u64 {
    let (_, metrics) = http_get(&server.url, "/metrics").expect("metrics answer");
    let needle = format!("regcred_credential_refresh_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {needle} in /metrics:\n{metrics}"))
}

/// Calls `method` with the admin token; the status and the envelope.
async fn api(server: &Server, method: &str, body: &Value) -> (u16, Value) {
    let token = server.admin_token();
    let answer = reqwest::Client::new()
        .post(format!("{}/{method}", server.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("the server answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("an envelope"))
}

/// The ECR entry of a rendered `.dockerconfigjson` inside a Secret: (username, password).
fn rendered(server: &Server) -> (String, String) {
    let out = server
        .run(&[
            "render",
            "k8s-secret",
            "ecr",
            "--from-pull-secret",
            "ecr",
            "--project",
            "acme",
            "--location",
            "k8s",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let data = out["data"][".dockerconfigjson"].as_str().expect("data");
    let doc: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64"),
    )
    .expect("json");
    let entry = &doc["auths"][SERVER];
    (
        entry["username"].as_str().expect("username").to_owned(),
        entry["password"].as_str().expect("password").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_against_the_aws_emulator() {
    let mut moto = Moto::start().await;
    let endpoint = moto.endpoint_url();
    let server = Server::start_with(&["--ecr-endpoint-url", &endpoint]);
    server.run(&["project", "create", "acme"]).ok();
    server
        .run(&[
            "location",
            "create",
            "k8s",
            "--kind",
            "kubernetes",
            "--in-cluster",
        ])
        .ok();
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            "acme",
            "--location",
            "k8s",
            "--name",
            "ecr",
            "--server",
            SERVER,
            "--access-key-id",
            "AKIAEMULATOR0000TEST",
        ])
        .env("REGCRED_SECRET_ACCESS_KEY", "emulator-secret-not-real")
        .run()
        .ok();

    // Ten deliveries, one mint.
    let first = rendered(&server);
    assert_eq!(first.0, "AWS");
    assert!(!first.1.is_empty());
    for _ in 0..9 {
        assert_eq!(rendered(&server), first);
    }
    assert_eq!(refresh_count(&server, "ok"), 1, "one mint for ten renders");

    let status = server
        .run(&[
            "pullsecret",
            "get",
            "ecr",
            "--project",
            "acme",
            "--location",
            "k8s",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let credential = &status["credential"];
    assert_eq!(credential["failures"], 0, "{status:#}");
    assert!(credential["refreshedAt"].as_str().is_some(), "{status:#}");
    assert_eq!(credential["endpoint"].as_str(), Some(SERVER), "{status:#}");
    // moto's expiry (2015) is not taken at its word: no expiry shown, next refresh ahead.
    assert!(credential["expiresAt"].is_null(), "{status:#}");

    // Test Connection of an unsaved ECR spec: the keys are exchanged with the emulator for this
    // check alone (one more call to it, no refresh of a stored pull secret), then the registry
    // is asked — which this machine cannot reach, or which refuses the emulator's token.
    let spec = serde_json::json!({
        "project": "acme", "location": "k8s", "kind": "ecr", "check": true,
        "spec": { "server": SERVER, "accessKeyId": "AKIAEMULATOR0000TEST",
                  "secretAccessKey": "emulator-secret-not-real" },
    });
    let calls = moto.answered_calls();
    let (status, tested) = api(&server, "pullSecret.test", &spec).await;
    assert_eq!(status, 200, "{tested}");
    let outcome = tested["result"]["verification"]["outcome"]
        .as_str()
        .unwrap_or_default();
    assert!(
        ["unreachable", "unauthorized", "denied"].contains(&outcome),
        "the check ran with a minted token: {tested}"
    );
    assert_eq!(
        moto.answered_calls(),
        calls + 1,
        "one exchange for the test"
    );
    assert_eq!(
        refresh_count(&server, "ok"),
        1,
        "the stored pull secret was not refreshed"
    );

    // The emulator goes away: what was minted is still served, nothing is minted again.
    moto.stop();
    let (status, refused) = api(&server, "pullSecret.test", &spec).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "not_verifiable", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not be exchanged")),
        "{refused}"
    );
    for _ in 0..5 {
        assert_eq!(
            rendered(&server),
            first,
            "served while the emulator is down"
        );
    }
    assert_eq!(refresh_count(&server, "ok"), 1);
    moto.restart().await;
    assert_eq!(rendered(&server), first);

    // The secret access key is nowhere in the log or the database files.
    assert!(!server.log_text().contains("emulator-secret-not-real"));
    for entry in std::fs::read_dir(&server.data_dir).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes.windows(24).any(|w| w == b"emulator-secret-not-real"),
                "{} holds the secret access key",
                path.display()
            );
        }
    }
}
