//! Kubernetes delivery end to end: a private image in a real `docker-registry` (htpasswd), pulled
//! by the real `skopeo` with exactly the `.dockerconfigjson` regcred delivered; create, deploy,
//! rotate, refresh, new namespaces, owner refusal, delete guarded, cleanup.
//!
//! No Kubernetes API server can run on this machine, so the cluster is `FakeKubeApi`, a scripted
//! fake (regcred-testkit) that implements server-side apply, JSON Patch and delete preconditions
//! and records every request; the assertions are on those recorded requests (content type, field
//! manager, force flag, bodies). Rendered Secrets are compared with the real `kubectl`. Minting is
//! scripted (no cloud registry can run here) so refreshes are driven by a hand-moved clock.

mod fixture;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use fixture::Fixture;
use regcred_core::refresh::RefreshPolicy;
use regcred_server::delivery::Coverage;
use regcred_server::refresher::{Clock, Refresher};
use regcred_testkit::{
    kubectl_secret, push_test_image, Auth, FakeKubeApi, RecordedRequest, Registry, RegistryOptions,
    Skopeo, SkopeoAuth, TlsMode,
};
use serde_json::{json, Value};

const LOCATION: &str = "gke.one";
const ECR: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/// The requests that wrote (PATCH, POST, DELETE), as `METHOD path`.
fn writes(requests: &[RecordedRequest]) -> Vec<String> {
    let mut lines: Vec<String> = requests
        .iter()
        .filter(|r| r.method != "GET")
        .map(RecordedRequest::line)
        .collect();
    lines.sort();
    lines
}

fn find<'a>(requests: &'a [RecordedRequest], method: &str, path: &str) -> &'a RecordedRequest {
    requests
        .iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| {
            panic!(
                "no {method} {path} in {:#?}",
                requests
                    .iter()
                    .map(RecordedRequest::line)
                    .collect::<Vec<_>>()
            )
        })
}

/// The `.dockerconfigjson` of a Secret in the fake cluster, decoded.
fn dockerconfigjson(kube: &FakeKubeApi, ns: &str, name: &str) -> Vec<u8> {
    let secret = kube
        .get_object("secrets", Some(ns), name)
        .unwrap_or_else(|| panic!("secret {ns}/{name} exists"));
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().expect("data"))
        .expect("base64")
}

async fn sync(f: &Fixture) -> Value {
    f.call("location.sync", &f.admin, json!({"name": LOCATION}))
        .await
        .ok()
        .clone()
}

async fn deliveries(f: &Fixture, name: &str) -> Vec<Value> {
    let got = f
        .call(
            "pullSecret.get",
            &f.admin,
            json!({"project": "acme", "location": LOCATION, "name": name}),
        )
        .await;
    got.ok()["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A Kubernetes location on `kube`: the namespace `template` and the `selector`.
async fn kubernetes_location(f: &Fixture, kube: &FakeKubeApi, template: &str, selector: &str) {
    f.call(
        "location.create",
        &f.admin,
        json!({"name": LOCATION, "kind": "kubernetes", "spec": {
            "kubeconfig": kube.kubeconfig_path(),
            "namespaceTemplate": template,
            "namespaceSelector": selector,
        }}),
    )
    .await
    .ok();
}

/// A `pullSecret.create` of `reg` in `project`, a basic login to `registry.example.com`.
fn reg(project: &str, username: &str, password: &str) -> Value {
    json!({"project": project, "location": LOCATION, "name": "reg",
           "spec": {"server": "registry.example.com", "username": username, "password": password}})
}

/// The login for `registry.example.com` in the Secret `reg` of `ns`.
fn login_at(kube: &FakeKubeApi, ns: &str) -> Value {
    let config: Value = serde_json::from_slice(&dockerconfigjson(kube, ns, "reg")).unwrap();
    config["auths"]["registry.example.com"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_delivery_end_to_end() {
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("deploy-1", "first-pw&<x>"), ("deploy-2", "second-pw")]),
        tls: None,
    })
    .await;
    let host = registry.host();
    let digest = push_test_image(
        &host,
        "acme/api",
        "v1",
        Some(("deploy-1", "first-pw&<x>")),
        TlsMode::Insecure,
    )
    .await;
    let image = registry.image("acme/api", "v1");

    let kube = FakeKubeApi::start();
    kube.create_namespace("acme", &[]);
    kube.create_namespace("acme-dev", &[("regcred.dev/project", "acme")]);
    kube.create_namespace("other", &[("regcred.dev/project", "other")]);
    for ns in ["acme", "acme-dev"] {
        kube.put_object(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns},
            "imagePullSecrets": [{"name": "theirs"}],
        }));
    }
    // Someone else's Secret where regcred would put the `quay` pull secret.
    kube.put_object(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "quay", "namespace": "acme"},
        "data": {"token": "bm90LW91cnM="},
    }));

    let clock = Clock::new(regcred_server::clock::now_millis());
    let calls = Arc::new(AtomicUsize::new(0));
    let script = fixture::CountingMinter {
        calls: calls.clone(),
        clock: clock.clone(),
        prefix: "minted",
        lifetime_ms: 3_600_000,
    };
    let policy = RefreshPolicy {
        jitter: 0.0,
        ..RefreshPolicy::default()
    };
    let f = Fixture::with_insecure_registries(
        Refresher::new(Box::new(script), policy, clock.clone()),
        vec![host.clone()],
    )
    .await;
    f.create_project("acme").await;
    f.call(
        "location.create",
        &f.admin,
        json!({"name": LOCATION, "kind": "kubernetes", "spec": {
            "kubeconfig": kube.kubeconfig_path(),
            "namespaceSelector": "regcred.dev/project={project}",
            "serviceAccounts": ["default"],
        }}),
    )
    .await
    .ok();

    // ---- create: one Secret per namespace of the project, by server-side apply ----
    let create = |name: &str, user: &str, password: &str| {
        json!({"project": "acme", "location": LOCATION, "name": name,
               "spec": {"server": host, "username": user, "password": password}})
    };
    f.call(
        "pullSecret.create",
        &f.admin,
        create("reg", "deploy-1", "first-pw&<x>"),
    )
    .await
    .ok();
    kube.clear_requests();
    let report = sync(&f).await;
    assert_eq!(report["applied"], 2, "{report}");
    let requests = kube.requests();
    assert_eq!(
        writes(&requests),
        [
            "PATCH /api/v1/namespaces/acme-dev/secrets/reg",
            "PATCH /api/v1/namespaces/acme-dev/serviceaccounts/default",
            "PATCH /api/v1/namespaces/acme/secrets/reg",
            "PATCH /api/v1/namespaces/acme/serviceaccounts/default",
        ]
    );
    let apply = find(&requests, "PATCH", "/api/v1/namespaces/acme/secrets/reg");
    assert_eq!(
        apply.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(
        apply.query.get("fieldManager").map(String::as_str),
        Some("regcred")
    );
    assert_eq!(apply.query.get("force"), None, "creating never forces");
    // The applied Secret is kubectl's, byte for byte in its data, plus regcred's metadata.
    let mut body = apply.body.clone().expect("apply body");
    let labels = body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels")
        .unwrap();
    let annotations = body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations")
        .unwrap();
    assert_eq!(
        body,
        kubectl_secret("reg", "acme", Some(&host), "deploy-1", "first-pw&<x>")
    );
    assert_eq!(labels["app.kubernetes.io/managed-by"], "regcred");
    assert_eq!(labels["regcred.dev/location"], LOCATION);
    assert_eq!(annotations["regcred.dev/revision"], "1");
    // The ServiceAccount keeps its other entry; regcred's is added by JSON Patch.
    let sa_patch = find(
        &requests,
        "PATCH",
        "/api/v1/namespaces/acme/serviceaccounts/default",
    );
    assert_eq!(
        sa_patch.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    let sa = kube
        .get_object("serviceaccounts", Some("acme"), "default")
        .unwrap();
    assert_eq!(
        sa["imagePullSecrets"],
        json!([{"name": "theirs"}, {"name": "reg"}])
    );
    assert!(
        kube.get_object("secrets", Some("other"), "reg").is_none(),
        "only the project's namespaces"
    );

    // The real client pulls the private image with exactly what was delivered.
    let skopeo = Skopeo::new();
    let runtime_dir = tempfile::tempdir().expect("temp dir");
    let authfile = runtime_dir.path().join("delivered.json");
    std::fs::write(&authfile, dockerconfigjson(&kube, "acme", "reg")).unwrap();
    let pulled = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&authfile), TlsMode::Insecure)
        .await;
    assert!(pulled.success, "{}", pulled.stderr);
    assert_eq!(pulled.stdout_digest(), digest);
    let statuses = deliveries(&f, "reg").await;
    assert!(
        statuses.iter().any(|s| s["target"] == "secret:acme/reg"
            && s["state"] == "delivered"
            && s["revision"] == 1),
        "{statuses:?}"
    );

    // Delivery releases credentials, so it is audited: who (regcred), where, which targets.
    let events = f
        .call("audit.list", &f.admin, json!({"project": "acme"}))
        .await;
    let events = events.ok()["items"].as_array().cloned().unwrap_or_default();
    let delivery = events
        .iter()
        .find(|e| e["action"] == "delivery.apply")
        .expect("a delivery.apply event");
    assert_eq!(
        (delivery["actor"].as_str(), delivery["channel"].as_str()),
        (Some("regcred"), Some("delivery"))
    );
    assert_eq!(delivery["target"], LOCATION);
    assert_eq!(
        delivery["detail"]["applied"][0]["count"], 2,
        "two namespaces: {delivery}"
    );

    let metrics = f.get("/metrics").await.raw;
    assert!(
        metrics.contains(&format!(
            "regcred_deliveries{{location=\"{LOCATION}\",state=\"delivered\"}} 4"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("regcred_delivery_passes_total{result=\"ok\"} 1"),
        "{metrics}"
    );

    // A second pass changes nothing: no writes, regcred's own objects found by one labelled list.
    kube.clear_requests();
    let report = sync(&f).await;
    assert_eq!(
        (report["applied"].as_u64(), report["upToDate"].as_u64()),
        (Some(0), Some(2)),
        "{report}"
    );
    assert!(
        writes(&kube.requests()).is_empty(),
        "{:?}",
        writes(&kube.requests())
    );

    // ---- owner refusal: a Secret regcred does not own is never written ----
    f.call(
        "pullSecret.create",
        &f.admin,
        create("quay", "deploy-1", "first-pw&<x>"),
    )
    .await
    .ok();
    kube.clear_requests();
    sync(&f).await;
    assert!(
        !writes(&kube.requests())
            .iter()
            .any(|w| w.ends_with("/secrets/quay") && w.contains("/acme/")),
        "{:?}",
        writes(&kube.requests())
    );
    assert_eq!(
        kube.get_object("secrets", Some("acme"), "quay").unwrap()["type"],
        "Opaque"
    );
    let statuses = deliveries(&f, "quay").await;
    let refused = statuses
        .iter()
        .find(|s| s["target"] == "secret:acme/quay")
        .expect("status");
    assert_eq!(
        (refused["state"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("not_owned"))
    );

    // ---- deploy: the Deployment gets imagePullSecrets; a pre-flight check pulls first ----
    let deployed = f
        .call(
            "deployment.deploy",
            &f.admin,
            json!({"project": "acme", "location": LOCATION, "name": "api", "image": image, "pullSecret": "reg"}),
        )
        .await;
    let deployed = deployed.ok().clone();
    assert_eq!(deployed["check"]["outcome"], "ok", "{deployed}");
    assert_eq!(
        deployed["deployment"]["pullSecrets"],
        json!([{"id": deployed["deployment"]["pullSecrets"][0]["id"], "name": "reg", "revision": 1}])
    );
    let requests = kube.requests();
    let applied = find(
        &requests,
        "PATCH",
        "/apis/apps/v1/namespaces/acme/deployments/api",
    );
    assert_eq!(
        applied.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    let pod = &applied.body.as_ref().unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "reg"}]));
    assert_eq!(pod["containers"][0]["image"], image);

    // A wrong password fails the pre-flight check and deploys nothing.
    f.call(
        "pullSecret.create",
        &f.admin,
        create("bad", "deploy-1", "wrong"),
    )
    .await
    .ok();
    let refused = f
        .call("deployment.deploy", &f.admin, json!({"project": "acme", "location": LOCATION, "name": "bad", "image": image, "pullSecret": "bad"}))
        .await;
    refused.expect_err(409, "preflight_failed");
    assert!(kube
        .get_object("deployments", Some("acme"), "bad")
        .is_none());

    // ---- rotate: every namespace gets the new credentials, forced only on regcred's own ----
    f.call(
        "pullSecret.create",
        &f.admin,
        create("reg", "deploy-2", "second-pw"),
    )
    .await
    .ok();
    kube.clear_requests();
    sync(&f).await;
    let requests = kube.requests();
    let update = find(&requests, "PATCH", "/api/v1/namespaces/acme/secrets/reg");
    assert_eq!(update.query.get("force").map(String::as_str), Some("true"));
    assert!(
        update.body.as_ref().unwrap()["metadata"]["resourceVersion"].is_string(),
        "updates carry the observed resourceVersion"
    );
    std::fs::write(&authfile, dockerconfigjson(&kube, "acme-dev", "reg")).unwrap();
    let pulled = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&authfile), TlsMode::Insecure)
        .await;
    assert!(pulled.success, "after rotation: {}", pulled.stderr);
    assert!(
        String::from_utf8_lossy(&dockerconfigjson(&kube, "acme", "reg"))
            .contains(&base64::engine::general_purpose::STANDARD.encode("deploy-2:second-pw"))
    );
    let statuses = deliveries(&f, "reg").await;
    assert!(
        statuses
            .iter()
            .filter(|s| s["target"].as_str().unwrap().starts_with("secret:"))
            .all(|s| s["revision"] == 2),
        "{statuses:?}"
    );
    // The deployment's revision still records what it was deployed with.
    let got = f
        .call(
            "deployment.get",
            &f.admin,
            json!({"project": "acme", "location": LOCATION, "name": "api"}),
        )
        .await;
    assert_eq!(got.ok()["revisions"][0]["pullSecrets"][0]["revision"], 1);

    // ---- a new namespace of the project gets the pull secrets without a restart ----
    kube.create_namespace("acme-prod", &[("regcred.dev/project", "acme")]);
    sync(&f).await;
    assert!(kube
        .get_object("secrets", Some("acme-prod"), "reg")
        .is_some());
    // The fake has no service-account controller: until `default` exists, that part is pending.
    let statuses = deliveries(&f, "reg").await;
    let sa = statuses
        .iter()
        .find(|s| s["target"] == "serviceaccount:acme-prod/default")
        .expect("status");
    assert_eq!(
        (sa["state"].as_str(), sa["code"].as_str()),
        (Some("pending"), Some("service_account_missing"))
    );
    kube.put_object(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "acme-prod"},
    }));
    sync(&f).await;
    let sa = kube
        .get_object("serviceaccounts", Some("acme-prod"), "default")
        .unwrap();
    let mut names: Vec<&str> = sa["imagePullSecrets"]
        .as_array()
        .expect("the missing list is created")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["bad", "quay", "reg"],
        "every pull secret delivered there, in one patch"
    );

    // ---- refresh: a minted credential is minted once for all namespaces and re-applied ----
    f.call(
        "pullSecret.create",
        &f.admin,
        json!({"project": "acme", "location": LOCATION, "name": "ecr", "spec": {
            "server": ECR, "accessKeyId": "AKIATEST", "secretAccessKey": "not-a-real-key"}}),
    )
    .await
    .ok();
    sync(&f).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one mint for three namespaces"
    );
    let first = dockerconfigjson(&kube, "acme", "ecr");
    assert!(String::from_utf8_lossy(&first)
        .contains(&base64::engine::general_purpose::STANDARD.encode("AWS:minted-1")));
    clock.advance(40 * 60_000);
    f.state
        .refresher()
        .tick(&f.state)
        .await
        .expect("refresh pass");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "refreshed at half the lifetime"
    );
    kube.clear_requests();
    sync(&f).await;
    for ns in ["acme", "acme-dev", "acme-prod"] {
        let now = dockerconfigjson(&kube, ns, "ecr");
        assert!(
            String::from_utf8_lossy(&now)
                .contains(&base64::engine::general_purpose::STANDARD.encode("AWS:minted-2")),
            "{ns}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "delivery never mints by itself"
    );

    // ---- delete is guarded while a deployment uses the pull secret ----
    let guarded = f
        .call(
            "pullSecret.delete",
            &f.admin,
            json!({"project": "acme", "location": LOCATION, "name": "reg"}),
        )
        .await;
    let err = guarded.expect_err(409, "in_use");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("deployment acme/gke.one/api"),
        "{err}"
    );
    assert!(kube.get_object("secrets", Some("acme"), "reg").is_some());

    // Deleting the deployment removes its workload, with preconditions.
    kube.clear_requests();
    f.call(
        "deployment.delete",
        &f.admin,
        json!({"project": "acme", "location": LOCATION, "name": "api"}),
    )
    .await
    .ok();
    let requests = kube.requests();
    let deleted = find(
        &requests,
        "DELETE",
        "/apis/apps/v1/namespaces/acme/deployments/api",
    );
    assert!(deleted.body.as_ref().unwrap()["preconditions"]["uid"].is_string());
    assert!(kube
        .get_object("deployments", Some("acme"), "api")
        .is_none());

    // Now the pull secret goes, and so do its Secrets and its ServiceAccount entries (only its).
    f.call(
        "pullSecret.delete",
        &f.admin,
        json!({"project": "acme", "location": LOCATION, "name": "reg"}),
    )
    .await
    .ok();
    kube.clear_requests();
    sync(&f).await;
    for ns in ["acme", "acme-dev", "acme-prod"] {
        assert!(
            kube.get_object("secrets", Some(ns), "reg").is_none(),
            "{ns}"
        );
        let delete = find(
            &kube.requests(),
            "DELETE",
            &format!("/api/v1/namespaces/{ns}/secrets/reg"),
        )
        .clone();
        assert!(delete.body.unwrap()["preconditions"]["resourceVersion"].is_string());
    }
    let sa = kube
        .get_object("serviceaccounts", Some("acme"), "default")
        .unwrap();
    let names: Vec<&str> = sa["imagePullSecrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&"theirs") && !names.contains(&"reg"),
        "{names:?}"
    );
    assert_eq!(
        kube.get_object("secrets", Some("acme"), "quay").unwrap()["type"],
        "Opaque",
        "never deleted"
    );
    let statuses = deliveries(&f, "ecr").await;
    assert!(
        statuses.iter().all(|s| s["state"] == "delivered"),
        "{statuses:#?}"
    );

    // No credential ever reached the database file in plaintext.
    for (name, bytes) in f.data_files() {
        for secret in ["first-pw&<x>", "second-pw", "minted-1", "minted-2"] {
            assert!(
                !fixture::contains(&bytes, secret.as_bytes()),
                "{secret} in {name}"
            );
        }
    }
}

/// A namespace that does not exist yet is reported as pending, then delivered once it appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_namespace_is_pending_until_it_appears() {
    let kube = FakeKubeApi::start();
    let clock = Clock::new(regcred_server::clock::now_millis());
    let script = fixture::CountingMinter {
        calls: Arc::new(AtomicUsize::new(0)),
        clock: clock.clone(),
        prefix: "minted",
        lifetime_ms: 3_600_000,
    };
    let f = Fixture::with_insecure_registries(
        Refresher::new(Box::new(script), RefreshPolicy::default(), clock),
        Vec::new(),
    )
    .await;
    f.create_project("acme").await;
    f.call(
        "location.create",
        &f.admin,
        json!({"name": LOCATION, "kind": "kubernetes", "spec": {"kubeconfig": kube.kubeconfig_path(), "namespaceTemplate": "team-{project}"}}),
    )
    .await
    .ok();
    f.call(
        "pullSecret.create",
        &f.admin,
        json!({"project": "acme", "location": LOCATION, "name": "reg",
               "spec": {"server": "registry.example.com", "username": "u", "password": "p"}}),
    )
    .await
    .ok();
    let report = sync(&f).await;
    assert_eq!(report["pending"], 1, "{report}");
    let statuses = deliveries(&f, "reg").await;
    assert_eq!(statuses[0]["code"], "namespace_missing", "{statuses:?}");
    kube.create_namespace("team-acme", &[]);
    sync(&f).await;
    let statuses = deliveries(&f, "reg").await;
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0]["state"], "delivered");
    assert_eq!(statuses[0]["target"], "secret:team-acme/reg");

    // The cluster goes away: the pass fails, and the status says so without forgetting what was
    // delivered where.
    drop(kube);
    sync(&f).await;
    let statuses = deliveries(&f, "reg").await;
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(
        (statuses[0]["state"].as_str(), statuses[0]["code"].as_str()),
        (Some("error"), Some("cluster_unreachable"))
    );
    assert_eq!(statuses[0]["revision"], 1);
}

/// Peers: none but the scripted `FakeKubeApi` (no Kubernetes API server can run here).
///
/// Two projects' pull secrets of one name can want one Secret: namespace `acme` is project
/// acme's by the location's template and project beta's by its selector. The older pull secret
/// holds it. A pass woken by the other's rotation used to take it over — it covered the changed
/// pull secret only and took the holder, outside what it covered, for gone — so acme's
/// workloads pulled with beta's credentials until nothing ever gave it back. Now the holder
/// keeps it in every pass, and the other says why it is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_two_pull_secrets_want_stays_with_the_one_that_holds_it() {
    let kube = FakeKubeApi::start();
    kube.create_namespace("acme", &[("team", "beta")]);
    kube.create_namespace("beta", &[]);
    let f = Fixture::new().await;
    f.create_project("acme").await;
    f.create_project("beta").await;
    kubernetes_location(&f, &kube, "{project}", "team={project}").await;
    let put = |project: &str, password: &str| reg(project, project, password);
    let user_at = |ns: &str| login_at(&kube, ns)["username"].clone();
    let beta_at_acme = || async {
        let got = f
            .call(
                "pullSecret.get",
                &f.admin,
                json!({"project": "beta", "location": LOCATION, "name": "reg"}),
            )
            .await;
        let deliveries = got.ok()["deliveries"].as_array().cloned().unwrap();
        deliveries
            .into_iter()
            .find(|d| d["target"] == "secret:acme/reg")
            .expect("beta's delivery to acme/reg")
    };
    let pass = |coverage| f.state.deliverer().sync(&f.state, LOCATION, coverage);
    f.call("pullSecret.create", &f.admin, put("acme", "acme-1"))
        .await
        .ok();
    f.call("pullSecret.create", &f.admin, put("beta", "beta-1"))
        .await
        .ok();
    pass(Coverage::Full).await.expect("full pass");
    assert_eq!(
        (user_at("acme"), user_at("beta")),
        (json!("acme"), json!("beta"))
    );
    assert_eq!(beta_at_acme().await["code"], "owned_by_other");

    // beta rotates: the pass woken by it covers beta's pull secret only.
    f.call("pullSecret.create", &f.admin, put("beta", "beta-2"))
        .await
        .ok();
    let report = pass(Coverage::Changes).await.expect("pass for changes");
    assert_eq!(report.applied, 1, "beta/reg only: {report:?}");
    assert_eq!(user_at("acme"), "acme", "acme/reg stays acme's");
    assert_eq!(beta_at_acme().await["code"], "owned_by_other");

    // Every later pass agrees, full or not.
    let report = pass(Coverage::Full).await.expect("full pass");
    assert_eq!(report.applied, 0, "{report:?}");
    assert_eq!(user_at("acme"), "acme");
    let statuses = deliveries(&f, "reg").await;
    assert_eq!(
        (statuses.len(), &statuses[0]["state"]),
        (1, &json!("delivered")),
        "{statuses:?}"
    );
    assert_eq!(beta_at_acme().await["code"], "owned_by_other");
}

/// Peers: none but the scripted `FakeKubeApi` (no Kubernetes API server can run here).
///
/// A pass makes each Secret object just before it is applied, a batch of 1,000 at a time: one
/// pull secret into more namespaces than a batch is applied everywhere, found up to date by the
/// next pass, and re-applied everywhere after a rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_targets_than_a_batch_are_all_applied_and_kept() {
    const NAMESPACES: usize = 1_100;
    let kube = FakeKubeApi::start();
    for i in 0..NAMESPACES {
        kube.create_namespace(&format!("acme-{i}"), &[("regcred.dev/project", "acme")]);
    }
    let f = Fixture::new().await;
    f.create_project("acme").await;
    kubernetes_location(&f, &kube, "acme-0", "regcred.dev/project={project}").await;
    let put = |password: &str| reg("acme", "bot", password);
    let passwords = || -> Vec<Value> {
        (0..NAMESPACES)
            .map(|i| login_at(&kube, &format!("acme-{i}"))["password"].clone())
            .collect()
    };
    f.call("pullSecret.create", &f.admin, put("first"))
        .await
        .ok();
    let first = sync(&f).await;
    assert_eq!(
        (&first["applied"], &first["errors"]),
        (&json!(NAMESPACES), &json!(0)),
        "{first}"
    );
    assert!(passwords().iter().all(|p| p == "first"));

    let steady = sync(&f).await;
    assert_eq!(
        (&steady["applied"], &steady["upToDate"]),
        (&json!(0), &json!(NAMESPACES)),
        "{steady}"
    );

    f.call("pullSecret.create", &f.admin, put("second"))
        .await
        .ok();
    let rotated = sync(&f).await;
    assert_eq!(rotated["applied"], json!(NAMESPACES), "{rotated}");
    assert!(passwords().iter().all(|p| p == "second"));
    let statuses = deliveries(&f, "reg").await;
    assert_eq!(statuses.len(), NAMESPACES);
    assert!(statuses
        .iter()
        .all(|d| d["state"] == "delivered" && d["revision"] == 2));
}

/// Peers: none (a kubeconfig that does not exist, and one naming a closed loopback port).
///
/// A location that cannot be configured or reached used to fail silently: `location.sync` said
/// 0 errors and `pullSecret.get` showed no delivery at all, only a log line. Now, from the very
/// first pass, every pull secret and deployment of the location has a delivery row in `error`
/// with `kubeconfig_invalid` or `cluster_unreachable`, and the sync report counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_that_never_worked_says_why_for_every_target() {
    let f = Fixture::new().await;
    f.create_project("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = dir.path().join("unreachable.kubeconfig");
    std::fs::write(
        &unreachable,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let missing = dir.path().join("missing.kubeconfig");
    for (location, kubeconfig, code) in [
        ("gke.missing", &missing, "kubeconfig_invalid"),
        ("gke.unreachable", &unreachable, "cluster_unreachable"),
    ] {
        f.call(
            "location.create",
            &f.admin,
            json!({"name": location, "kind": "kubernetes", "spec": {"kubeconfig": kubeconfig}}),
        )
        .await
        .ok();
        f.call(
            "pullSecret.create",
            &f.admin,
            json!({"project": "acme", "location": location, "name": "reg",
                   "spec": {"server": "registry.example.com", "username": "u", "password": "p"}}),
        )
        .await
        .ok();
        let report = f
            .call("location.sync", &f.admin, json!({"name": location}))
            .await
            .ok()
            .clone();
        assert_eq!(report["errors"], 1, "{location}: {report}");
        let got = f
            .call(
                "pullSecret.get",
                &f.admin,
                json!({"project": "acme", "location": location, "name": "reg"}),
            )
            .await;
        let statuses = got.ok()["deliveries"].clone();
        assert_eq!(
            statuses,
            json!([{
                "location": location,
                "target": "secret:acme/reg",
                "state": "error",
                "code": code,
                "message": statuses[0]["message"],
                "updatedAt": statuses[0]["updatedAt"],
            }]),
            "{location}"
        );
    }
}
