//! The fake Kubernetes API server, driven with plain HTTP (reqwest) the way kube-rs talks to a
//! real one, and once with kube-rs itself. Each test checks both what the fake answers and what
//! it then holds, so a fake that accepted everything, or refused everything, fails here.

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use regcred_testkit::{FakeKubeApi, RecordedRequest, FAKE_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const APPLY: &str = "application/apply-patch+yaml";
const JSON_PATCH: &str = "application/json-patch+json";
const MERGE_PATCH: &str = "application/merge-patch+json";
const TEAM_SECRETS: &str = "/api/v1/namespaces/team/secrets";

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

/// One authenticated request; `body` is `(content type, JSON)`.
async fn send(
    fake: &FakeKubeApi,
    method: Method,
    path_and_query: &str,
    body: Option<(&str, &Value)>,
) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path_and_query}", fake.url()))
        .bearer_auth(FAKE_TOKEN);
    if let Some((content_type, body)) = body {
        request = request
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let response = request.send().await.expect("request reaches the fake");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_string());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body = response.json().await.expect("JSON answer");
    Answer { status, body }
}

async fn get(fake: &FakeKubeApi, path_and_query: &str) -> Answer {
    send(fake, Method::GET, path_and_query, None).await
}

async fn patch(
    fake: &FakeKubeApi,
    content_type: &str,
    path_and_query: &str,
    body: Value,
) -> Answer {
    send(
        fake,
        Method::PATCH,
        path_and_query,
        Some((content_type, &body)),
    )
    .await
}

/// Asserts a failure `Status` with this code and reason.
#[track_caller]
fn assert_failure(answer: &Answer, code: u16, reason: &str) {
    assert_eq!(answer.status, code, "{answer:#?}");
    assert_eq!(answer.body["kind"], "Status", "{answer:#?}");
    assert_eq!(answer.body["apiVersion"], "v1");
    assert_eq!(answer.body["status"], "Failure");
    assert_eq!(answer.body["reason"], reason, "{answer:#?}");
    assert_eq!(answer.body["code"], code);
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn secret(name: &str, labels: Value, data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "labels": labels },
        "type": "Opaque",
        "data": data,
    })
}

fn pull_secret(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": "team", "labels": { "regcred.dev/managed": "true" } },
        "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": b64(r#"{"auths":{"ghcr.io":{"auth":"YTpi"}}}"#) },
    })
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let namespace = item["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = item["metadata"]["name"].as_str().unwrap();
            if namespace.is_empty() {
                name.to_string()
            } else {
                format!("{namespace}/{name}")
            }
        })
        .collect()
}

fn managers(object: &Value) -> Vec<(String, String)> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    (
                        entry["manager"].as_str().unwrap().to_string(),
                        entry["operation"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_string()
}

fn lines(requests: &[RecordedRequest]) -> Vec<String> {
    requests.iter().map(RecordedRequest::line).collect()
}

#[tokio::test]
async fn apply_creates_then_merges_and_a_repeated_apply_writes_nothing() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let url = format!("{TEAM_SECRETS}/pull?fieldManager=regcred&force=true");

    let created = patch(&fake, APPLY, &url, pull_secret("pull")).await;
    assert_eq!(created.status, 201, "{created:#?}");
    let object = &created.body;
    assert_eq!(object["kind"], "Secret");
    assert_eq!(object["metadata"]["namespace"], "team");
    assert_eq!(object["type"], "kubernetes.io/dockerconfigjson");
    assert!(object["metadata"]["uid"]
        .as_str()
        .is_some_and(|uid| !uid.is_empty()));
    assert!(object["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|time| time.ends_with('Z')));
    assert_eq!(managers(object), [("regcred".into(), "Apply".into())]);
    assert_eq!(object["metadata"]["managedFields"][0]["apiVersion"], "v1");
    assert_eq!(
        fake.get_object("secrets", Some("team"), "pull").as_ref(),
        Some(object)
    );

    // The same apply again is no write: same resource version, same answer.
    let version = fake.resource_version();
    let again = patch(&fake, APPLY, &url, pull_secret("pull")).await;
    assert_eq!(again.status, 200);
    assert_eq!(rv(&again.body), rv(object));
    assert_eq!(fake.resource_version(), version);

    // A label someone set by hand survives; the label regcred stopped applying goes.
    let labelled = patch(
        &fake,
        MERGE_PATCH,
        &format!("{TEAM_SECRETS}/pull"),
        json!({ "metadata": { "labels": { "owner": "ops" } } }),
    )
    .await;
    assert_eq!(labelled.status, 200, "{labelled:#?}");
    let mut next = pull_secret("pull");
    next["metadata"]["labels"] = json!({ "regcred.dev/revision": "2" });
    let updated = patch(&fake, APPLY, &url, next).await;
    assert_eq!(updated.status, 200, "{updated:#?}");
    assert_eq!(
        updated.body["metadata"]["labels"],
        json!({ "owner": "ops", "regcred.dev/revision": "2" })
    );
    assert_eq!(updated.body["metadata"]["uid"], object["metadata"]["uid"]);
    assert!(rv(&updated.body).parse::<u64>().unwrap() > rv(object).parse::<u64>().unwrap());
}

#[tokio::test]
async fn apply_over_another_managers_object_conflicts_unless_forced() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let seeded = fake.put_object(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "pull",
            "namespace": "team",
            "managedFields": [{ "manager": "helm", "operation": "Update", "apiVersion": "v1" }],
        },
        "type": "Opaque",
        "data": { "token": b64("helm's") },
    }));

    let body = secret("pull", json!({}), json!({ "token": b64("regcred's") }));
    let refused = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred&force=false"),
        body.clone(),
    )
    .await;
    assert_failure(&refused, 409, "Conflict");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("\"helm\""),
        "{refused:#?}"
    );
    assert_eq!(
        fake.get_object("secrets", Some("team"), "pull"),
        Some(seeded)
    );

    let forced = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred&force=true"),
        body.clone(),
    )
    .await;
    assert_eq!(forced.status, 200, "{forced:#?}");
    assert_eq!(forced.body["data"]["token"], b64("regcred's"));
    assert_eq!(managers(&forced.body), [("regcred".into(), "Apply".into())]);

    // regcred owns it now: an unforced apply goes through.
    let unforced = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred"),
        body,
    )
    .await;
    assert_eq!(unforced.status, 200, "{unforced:#?}");
}

#[tokio::test]
async fn apply_with_a_stale_resource_version_conflicts() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let url = format!("{TEAM_SECRETS}/pull?fieldManager=regcred");
    let first = patch(
        &fake,
        APPLY,
        &url,
        secret("pull", json!({}), json!({ "a": b64("1") })),
    )
    .await;
    assert_eq!(first.status, 201);
    let second = patch(
        &fake,
        APPLY,
        &url,
        secret("pull", json!({}), json!({ "a": b64("2") })),
    )
    .await;
    assert_eq!(second.status, 200);
    assert_ne!(rv(&first.body), rv(&second.body));

    let mut stale = secret("pull", json!({}), json!({ "a": b64("3") }));
    stale["metadata"]["resourceVersion"] = rv(&first.body).into();
    let refused = patch(&fake, APPLY, &url, stale.clone()).await;
    assert_failure(&refused, 409, "Conflict");
    assert_eq!(
        refused.body["message"],
        "Operation cannot be fulfilled on secrets \"pull\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        fake.get_object("secrets", Some("team"), "pull").unwrap()["data"]["a"],
        b64("2")
    );

    stale["metadata"]["resourceVersion"] = rv(&second.body).into();
    let current = patch(&fake, APPLY, &url, stale).await;
    assert_eq!(current.status, 200, "{current:#?}");
    assert_eq!(current.body["data"]["a"], b64("3"));
}

#[tokio::test]
async fn bad_applies_are_refused_and_store_nothing() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let body = secret("pull", json!({}), json!({}));

    let no_manager = patch(&fake, APPLY, &format!("{TEAM_SECRETS}/pull"), body.clone()).await;
    assert_failure(&no_manager, 422, "Invalid");
    assert!(no_manager.body["message"]
        .as_str()
        .unwrap()
        .contains("fieldManager: Required value"));

    let wrong_name = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/other?fieldManager=regcred"),
        body.clone(),
    )
    .await;
    assert_failure(&wrong_name, 400, "BadRequest");
    assert_eq!(
        wrong_name.body["message"],
        "the name of the object (pull) does not match the name on the URL (other)"
    );

    let missing_namespace = patch(
        &fake,
        APPLY,
        "/api/v1/namespaces/nope/secrets/pull?fieldManager=regcred",
        body.clone(),
    )
    .await;
    assert_failure(&missing_namespace, 404, "NotFound");
    assert_eq!(
        missing_namespace.body["message"],
        "namespaces \"nope\" not found"
    );
    assert_eq!(
        missing_namespace.body["details"],
        json!({ "name": "nope", "kind": "namespaces" })
    );

    let strategic = patch(
        &fake,
        "application/strategic-merge-patch+json",
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred"),
        body.clone(),
    )
    .await;
    assert_failure(&strategic, 415, "UnsupportedMediaType");

    let wrong_kind = patch(
        &fake,
        APPLY,
        "/api/v1/namespaces/team/serviceaccounts/pull?fieldManager=regcred",
        body.clone(),
    )
    .await;
    assert_failure(&wrong_kind, 400, "BadRequest");

    let mut invalid = pull_secret("pull");
    invalid["data"] = json!({});
    let invalid = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred"),
        invalid,
    )
    .await;
    assert_failure(&invalid, 422, "Invalid");
    assert_eq!(
        invalid.body["message"],
        "Secret \"pull\" is invalid: data[.dockerconfigjson]: Required value"
    );

    let mut long_label = body;
    long_label["metadata"]["labels"] = json!({ "regcred.dev/hash": "x".repeat(64) });
    let long_label = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred"),
        long_label,
    )
    .await;
    assert_failure(&long_label, 422, "Invalid");

    assert!(fake.list_objects("secrets").is_empty());
}

#[tokio::test]
async fn dry_run_answers_without_storing() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let version = fake.resource_version();
    let answer = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?dryRun=All&fieldManager=regcred"),
        pull_secret("pull"),
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:#?}");
    assert_eq!(answer.body["metadata"]["name"], "pull");
    assert!(fake.list_objects("secrets").is_empty());
    assert_eq!(fake.resource_version(), version);
}

fn service_account(image_pull_secrets: Option<Value>) -> Value {
    let mut account = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": "default", "namespace": "team" },
    });
    if let Some(list) = image_pull_secrets {
        account["imagePullSecrets"] = list;
    }
    account
}

const DEFAULT_SA: &str = "/api/v1/namespaces/team/serviceaccounts/default";

#[tokio::test]
async fn json_patch_with_a_failing_test_changes_nothing() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let seeded = fake.put_object(service_account(Some(json!([{ "name": "theirs" }]))));

    let refused = patch(
        &fake,
        JSON_PATCH,
        &format!("{DEFAULT_SA}?fieldManager=regcred"),
        json!([
            { "op": "test", "path": "/imagePullSecrets/0/name", "value": "other" },
            { "op": "add", "path": "/imagePullSecrets/-", "value": { "name": "pull" } },
        ]),
    )
    .await;
    assert_failure(&refused, 422, "Invalid");
    assert!(refused.body["details"]["causes"][0]["message"]
        .as_str()
        .unwrap()
        .contains("testing value /imagePullSecrets/0/name failed"));
    assert_eq!(
        fake.get_object("serviceaccounts", Some("team"), "default"),
        Some(seeded)
    );

    let accepted = patch(
        &fake,
        JSON_PATCH,
        &format!("{DEFAULT_SA}?fieldManager=regcred"),
        json!([
            { "op": "test", "path": "/imagePullSecrets/0/name", "value": "theirs" },
            { "op": "add", "path": "/imagePullSecrets/-", "value": { "name": "pull" } },
        ]),
    )
    .await;
    assert_eq!(accepted.status, 200, "{accepted:#?}");
    assert_eq!(
        accepted.body["imagePullSecrets"],
        json!([{ "name": "theirs" }, { "name": "pull" }])
    );
    assert_eq!(
        managers(&accepted.body),
        [("regcred".into(), "Update".into())]
    );
}

#[tokio::test]
async fn json_patch_append_to_a_missing_array_fails_as_on_a_real_server() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    fake.put_object(service_account(None));
    let append = json!({ "op": "add", "path": "/imagePullSecrets/-", "value": { "name": "pull" } });

    let refused = patch(&fake, JSON_PATCH, DEFAULT_SA, json!([append])).await;
    assert_failure(&refused, 422, "Invalid");
    let stored = fake
        .get_object("serviceaccounts", Some("team"), "default")
        .unwrap();
    assert!(stored.get("imagePullSecrets").is_none());

    // Creating the member first (an `add` of a missing member is fine), then appending, works;
    // `~1` in a path is a `/` in the key.
    let accepted = patch(
        &fake,
        JSON_PATCH,
        DEFAULT_SA,
        json!([
            { "op": "add", "path": "/imagePullSecrets", "value": [] },
            append,
            { "op": "add", "path": "/metadata/annotations", "value": {} },
            { "op": "add", "path": "/metadata/annotations/regcred.dev~1delivered", "value": "pull" },
        ]),
    )
    .await;
    assert_eq!(accepted.status, 200, "{accepted:#?}");
    assert_eq!(
        accepted.body["imagePullSecrets"],
        json!([{ "name": "pull" }])
    );
    assert_eq!(
        accepted.body["metadata"]["annotations"],
        json!({ "regcred.dev/delivered": "pull" })
    );
    assert!(
        managers(&accepted.body).is_empty(),
        "no fieldManager, no entry"
    );

    let removed = patch(
        &fake,
        JSON_PATCH,
        DEFAULT_SA,
        json!([{ "op": "remove", "path": "/imagePullSecrets/0" }]),
    )
    .await;
    assert_eq!(removed.body["imagePullSecrets"], json!([]));

    let missing = patch(
        &fake,
        JSON_PATCH,
        "/api/v1/namespaces/team/serviceaccounts/builder",
        json!([]),
    )
    .await;
    assert_failure(&missing, 404, "NotFound");
    assert_eq!(
        missing.body["message"],
        "serviceaccounts \"builder\" not found"
    );
}

#[tokio::test]
async fn merge_patch_merges_and_null_removes() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    fake.put_object(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": "pull", "namespace": "team", "labels": { "a": "1", "b": "2" } },
        "type": "Opaque",
        "data": { "x": b64("x") },
    }));
    let answer = patch(
        &fake,
        MERGE_PATCH,
        &format!("{TEAM_SECRETS}/pull?fieldManager=kubectl-edit"),
        json!({ "metadata": { "labels": { "a": null, "c": "3" } }, "stringData": { "y": "why" } }),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert_eq!(
        answer.body["metadata"]["labels"],
        json!({ "b": "2", "c": "3" })
    );
    // stringData is folded into data, as the API server does.
    assert_eq!(
        answer.body["data"],
        json!({ "x": b64("x"), "y": b64("why") })
    );
    assert!(answer.body.get("stringData").is_none());
    assert_eq!(
        managers(&answer.body),
        [("kubectl-edit".into(), "Update".into())]
    );
}

#[tokio::test]
async fn delete_honours_preconditions() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let mut object = secret("pull", json!({}), json!({}));
    object["metadata"]["namespace"] = "team".into();
    let stored = fake.put_object(object);
    let uid = stored["metadata"]["uid"].as_str().unwrap().to_string();
    let delete = |body: Value| {
        let fake = &fake;
        async move {
            send(
                fake,
                Method::DELETE,
                &format!("{TEAM_SECRETS}/pull?"),
                Some(("application/json", &body)),
            )
            .await
        }
    };

    let wrong_uid = delete(json!({ "preconditions": { "uid": "someone-else" } })).await;
    assert_failure(&wrong_uid, 409, "Conflict");
    assert_eq!(
        wrong_uid.body["message"],
        format!("Operation cannot be fulfilled on secrets \"pull\": Precondition failed: UID in precondition: someone-else, UID in object meta: {uid}")
    );
    let wrong_version = delete(json!({ "preconditions": { "resourceVersion": "1" } })).await;
    assert_failure(&wrong_version, 409, "Conflict");
    assert!(fake.get_object("secrets", Some("team"), "pull").is_some());

    let deleted = delete(json!({
        "preconditions": { "uid": uid, "resourceVersion": rv(&stored) },
    }))
    .await;
    assert_eq!(deleted.status, 200, "{deleted:#?}");
    assert_eq!(
        deleted.body,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": { "name": "pull", "kind": "secrets", "uid": uid },
        })
    );
    assert!(fake.get_object("secrets", Some("team"), "pull").is_none());

    let again = delete(json!({})).await;
    assert_failure(&again, 404, "NotFound");
}

#[tokio::test]
async fn label_selectors_filter_lists() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("a", &[("team", "x")]);
    fake.create_namespace("b", &[("team", "y")]);
    fake.create_namespace("c", &[]);
    for (namespace, name, managed) in [("a", "one", true), ("a", "two", false), ("b", "one", true)]
    {
        let labels = if managed {
            json!({ "regcred.dev/managed": "true" })
        } else {
            json!({})
        };
        let mut object = secret(name, labels, json!({}));
        object["metadata"]["namespace"] = namespace.into();
        fake.put_object(object);
    }

    let cases = [
        ("/api/v1/namespaces", vec!["a", "b", "c", "default"]),
        ("/api/v1/namespaces?labelSelector=team", vec!["a", "b"]),
        (
            "/api/v1/namespaces?labelSelector=%21team",
            vec!["c", "default"],
        ),
        ("/api/v1/namespaces?labelSelector=team%3Dx", vec!["a"]),
        ("/api/v1/namespaces?labelSelector=team%3D%3Dy", vec!["b"]),
        (
            "/api/v1/namespaces?labelSelector=team%21%3Dx",
            vec!["b", "c", "default"],
        ),
        (
            "/api/v1/namespaces?labelSelector=team%2Ckubernetes.io%2Fmetadata.name%3Db",
            vec!["b"],
        ),
        ("/api/v1/secrets", vec!["a/one", "a/two", "b/one"]),
        (
            "/api/v1/secrets?labelSelector=regcred.dev%2Fmanaged%3Dtrue",
            vec!["a/one", "b/one"],
        ),
        ("/api/v1/namespaces/a/secrets", vec!["a/one", "a/two"]),
        (
            "/api/v1/namespaces/a/secrets?labelSelector=regcred.dev%2Fmanaged%3Dtrue",
            vec!["a/one"],
        ),
        (
            "/api/v1/secrets?fieldSelector=metadata.name%3Done",
            vec!["a/one", "b/one"],
        ),
        ("/api/v1/namespaces/nowhere/secrets", vec![]),
    ];
    for (path, expected) in cases {
        let answer = get(&fake, path).await;
        assert_eq!(answer.status, 200, "{path}: {answer:#?}");
        assert_eq!(names(&answer.body), expected, "{path}");
    }

    let list = get(&fake, "/api/v1/namespaces/a/secrets").await.body;
    assert_eq!(list["kind"], "SecretList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(
        list["metadata"]["resourceVersion"],
        fake.resource_version().to_string()
    );
    assert_eq!(list["items"][0]["kind"], "Secret");
    assert_eq!(list["items"][0]["apiVersion"], "v1");
    let namespaces = get(&fake, "/api/v1/namespaces").await.body;
    assert_eq!(namespaces["kind"], "NamespaceList");
    assert_eq!(namespaces["items"][0]["status"]["phase"], "Active");
    let accounts = get(&fake, "/api/v1/serviceaccounts").await.body;
    assert_eq!(accounts["kind"], "ServiceAccountList");
    let deployments = get(&fake, "/apis/apps/v1/namespaces/a/deployments")
        .await
        .body;
    assert_eq!(deployments["kind"], "DeploymentList");
    assert_eq!(deployments["apiVersion"], "apps/v1");

    let set_based = get(&fake, "/api/v1/namespaces?labelSelector=team%20in%20(x)").await;
    assert_failure(&set_based, 400, "BadRequest");
}

#[tokio::test]
async fn posts_create_and_refuse_duplicates() {
    let fake = FakeKubeApi::start();
    let post = |path: &'static str, body: Value| {
        let fake = &fake;
        async move { send(fake, Method::POST, path, Some(("application/json", &body))).await }
    };
    let namespace =
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "team" } });
    let created = post("/api/v1/namespaces", namespace.clone()).await;
    assert_eq!(created.status, 201, "{created:#?}");
    assert_eq!(
        created.body["metadata"]["labels"],
        json!({ "kubernetes.io/metadata.name": "team" })
    );
    assert_failure(
        &post("/api/v1/namespaces", namespace).await,
        409,
        "AlreadyExists",
    );

    let mut body = secret("pull", json!({}), json!({}));
    body["stringData"] = json!({ "token": "t" });
    let created = post(TEAM_SECRETS, body.clone()).await;
    assert_eq!(created.status, 201, "{created:#?}");
    assert_eq!(created.body["data"], json!({ "token": b64("t") }));
    let duplicate = post(TEAM_SECRETS, body.clone()).await;
    assert_failure(&duplicate, 409, "AlreadyExists");
    assert_eq!(duplicate.body["message"], "secrets \"pull\" already exists");
    assert_failure(
        &post("/api/v1/namespaces/nope/secrets", body).await,
        404,
        "NotFound",
    );

    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web" },
        "spec": { "template": { "spec": { "containers": [{ "name": "web", "image": "ghcr.io/a/b" }] } } },
    });
    let created = post("/apis/apps/v1/namespaces/team/deployments", deployment).await;
    assert_eq!(created.status, 201, "{created:#?}");
    assert_eq!(created.body["metadata"]["generation"], 1);
    let fetched = get(&fake, "/apis/apps/v1/namespaces/team/deployments/web").await;
    assert_eq!(fetched.body, created.body);
    let missing = get(&fake, "/apis/apps/v1/namespaces/team/deployments/api").await;
    assert_failure(&missing, 404, "NotFound");
    assert_eq!(
        missing.body["message"],
        "deployments.apps \"api\" not found"
    );
    assert_eq!(missing.body["details"]["group"], "apps");
}

#[tokio::test]
async fn deployment_applies_bump_the_generation_only_when_the_spec_changes() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let url = "/apis/apps/v1/namespaces/team/deployments/web?fieldManager=regcred";
    let deployment = |secret: &str| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web", "namespace": "team" },
            "spec": { "template": { "spec": { "imagePullSecrets": [{ "name": secret }] } } },
        })
    };
    assert_eq!(patch(&fake, APPLY, url, deployment("a")).await.status, 201);
    let same = patch(&fake, APPLY, url, deployment("a")).await;
    assert_eq!(same.body["metadata"]["generation"], 1);
    let changed = patch(&fake, APPLY, url, deployment("b")).await;
    assert_eq!(changed.status, 200, "{changed:#?}");
    assert_eq!(changed.body["metadata"]["generation"], 2);
}

#[tokio::test]
async fn requests_without_the_token_are_unauthorized_and_recorded() {
    let fake = FakeKubeApi::start();
    let url = format!("{}/api/v1/namespaces", fake.url());
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["reason"], "Unauthorized");
    let wrong = reqwest::Client::new()
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(get(&fake, "/api/v1/namespaces").await.status, 200);

    let seen: Vec<(Option<String>, u16)> = fake
        .requests()
        .into_iter()
        .map(|request| (request.authorization, request.status))
        .collect();
    assert_eq!(
        seen,
        [
            (None, 401),
            (Some("Bearer not-the-token".into()), 401),
            (Some(format!("Bearer {FAKE_TOKEN}")), 200),
        ]
    );
}

#[tokio::test]
async fn unknown_requests_are_not_found_and_recorded() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let jobs = get(&fake, "/apis/batch/v1/namespaces/team/jobs?limit=5").await;
    assert_failure(&jobs, 404, "NotFound");
    assert_eq!(
        jobs.body["message"],
        "the server could not find the requested resource"
    );
    let status = get(&fake, "/api/v1/namespaces/team/secrets/pull/status").await;
    assert_failure(&status, 404, "NotFound");
    let put = send(
        &fake,
        Method::PUT,
        &format!("{TEAM_SECRETS}/pull"),
        Some(("application/json", &secret("pull", json!({}), json!({})))),
    )
    .await;
    assert_failure(&put, 405, "MethodNotAllowed");

    let requests = fake.requests();
    assert_eq!(
        lines(&requests),
        [
            "GET /apis/batch/v1/namespaces/team/jobs",
            "GET /api/v1/namespaces/team/secrets/pull/status",
            "PUT /api/v1/namespaces/team/secrets/pull",
        ]
    );
    assert_eq!(requests[0].raw_query, "limit=5");
    assert_eq!(
        requests[0].query.get("limit").map(String::as_str),
        Some("5")
    );
    assert_eq!(requests[0].status, 404);
    assert_eq!(
        requests[2].content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(requests[2].body.as_ref().unwrap()["kind"], "Secret");
    fake.clear_requests();
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn injected_failures_hit_only_the_next_matching_requests() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    fake.fail_next("get", TEAM_SECRETS, 503, 2);
    assert_failure(&get(&fake, TEAM_SECRETS).await, 503, "ServiceUnavailable");
    // Another method or path is not affected and does not use up the failures.
    assert_eq!(get(&fake, "/api/v1/namespaces/team").await.status, 200);
    let applied = patch(
        &fake,
        APPLY,
        &format!("{TEAM_SECRETS}/pull?fieldManager=regcred"),
        secret("pull", json!({}), json!({})),
    )
    .await;
    assert_eq!(applied.status, 201);
    assert_failure(
        &get(&fake, &format!("{TEAM_SECRETS}/pull")).await,
        503,
        "ServiceUnavailable",
    );
    assert_eq!(
        get(&fake, &format!("{TEAM_SECRETS}/pull")).await.status,
        200
    );
}

#[tokio::test]
async fn kube_rs_applies_reads_and_deletes_through_the_kubeconfig() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
    use kube::config::{KubeConfigOptions, Kubeconfig};

    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[]);
    let client = |path: std::path::PathBuf| async move {
        let kubeconfig = Kubeconfig::read_from(path).expect("kubeconfig parses");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kubeconfig loads");
        kube::Client::try_from(config).expect("client builds")
    };
    let secrets: Api<Secret> = Api::namespaced(client(fake.kubeconfig_path()).await, "team");

    let applied = secrets
        .patch(
            "pull",
            &PatchParams::apply("regcred").force(),
            &Patch::Apply(&pull_secret("pull")),
        )
        .await
        .expect("apply");
    assert_eq!(
        applied.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let fetched = secrets.get("pull").await.expect("get");
    assert_eq!(fetched, applied);
    let listed = secrets
        .list(&ListParams::default().labels("regcred.dev/managed=true"))
        .await
        .expect("list");
    assert_eq!(listed.items, std::slice::from_ref(&applied));

    let requests = fake.requests();
    assert_eq!(
        lines(&requests),
        [
            "PATCH /api/v1/namespaces/team/secrets/pull",
            "GET /api/v1/namespaces/team/secrets/pull",
            "GET /api/v1/namespaces/team/secrets",
        ]
    );
    let apply = &requests[0];
    assert_eq!(apply.content_type.as_deref(), Some(APPLY));
    assert_eq!(
        apply.query.get("fieldManager").map(String::as_str),
        Some("regcred")
    );
    assert_eq!(apply.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(apply.authorization.as_deref(), Some("Bearer fake-token"));
    assert_eq!(apply.body.as_ref(), Some(&pull_secret("pull")));
    assert_eq!(
        requests[2].query.get("labelSelector").map(String::as_str),
        Some("regcred.dev/managed=true")
    );

    // An API error arrives as kube's `Error::Api` with the Status's code and reason.
    let conflict = secrets
        .patch(
            "pull",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&pull_secret("pull")),
        )
        .await
        .expect_err("another manager conflicts");
    match conflict {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }

    let stale = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    assert!(secrets.delete("pull", &stale).await.is_err());
    let exact = DeleteParams {
        preconditions: Some(Preconditions {
            uid: applied.metadata.uid.clone(),
            resource_version: applied.metadata.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    let deleted = secrets.delete("pull", &exact).await.expect("delete");
    assert!(deleted.is_right(), "a Status answers the delete");
    assert_eq!(secrets.get_opt("pull").await.expect("get_opt"), None);

    // A context with another token is refused: the kubeconfig's credentials are what is used.
    let wrong = fake.kubeconfig_with_contexts(&[("stale", "expired-token"), ("fake", FAKE_TOKEN)]);
    let refused: Api<Secret> = Api::namespaced(client(wrong).await, "team");
    match refused.get_opt("pull").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

/// The fixture needs no async runtime of the caller: a plain test drives it over a raw socket.
#[test]
fn works_from_a_plain_test_over_a_raw_socket() {
    let fake = FakeKubeApi::start();
    fake.create_namespace("team", &[("env", "prod")]);
    let address = fake.url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /api/v1/namespaces/team HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {FAKE_TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        body["metadata"]["labels"],
        json!({ "env": "prod", "kubernetes.io/metadata.name": "team" })
    );
    assert_eq!(
        fake.get_object("namespaces", None, "team"),
        Some(body),
        "the API and the fixture see the same object"
    );
    assert_eq!(lines(&fake.requests()), ["GET /api/v1/namespaces/team"]);
}
