//! Deployments through the router: `deployment.deploy` refuses bad input, unknown pull secrets and
//! pull secrets of another location or project without storing anything; only deploying roles of
//! the project may deploy or delete (refusals audited as `denied`); `deployment.get` shows every
//! revision oldest first with the pull-secret revisions it used; `deployment.list` filters; the
//! mismatch and "would apply" warnings; a deployment guards its pull secrets and its location
//! against deletion; every deploy and delete is one audit event; a failed pre-flight check stores
//! nothing; `location.sync` and the `deliveries` of pull secrets; the OpenAPI document.
//!
//! Every location here is a `docker` location whose per-project auth files lie in the test's temporary
//! directory, because deploys run a delivery pass inline: the fixture's `create_location` makes a
//! `kubernetes` location with `inCluster: true`, whose pass would talk to whatever cluster the
//! test host happens to run in. Images are deployed with `noVerify`, so no registry is contacted
//! (the one pre-flight check aims at a closed loopback port).

mod fixture;

use std::path::PathBuf;

use base64::Engine as _;
use fixture::{basic, Fixture, Issued, Reply, Snapshot};
use regcred_store::{AuditRecord, DeploymentRecord, Store};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The docker location deployments go to.
const HERE: &str = "ci-runner";
/// Another docker location.
const THERE: &str = "build-host";

/// A fixture with projects `acme` and `globex` and two docker locations whose auth files live in
/// a temporary directory.
struct World {
    f: Fixture,
    dir: TempDir,
}

impl World {
    async fn new() -> World {
        let f = Fixture::new().await;
        let dir = tempfile::tempdir().expect("temp dir");
        f.create_project("acme").await;
        f.create_project("globex").await;
        let world = World { f, dir };
        for location in [HERE, THERE] {
            // One auth file per project: a docker location shared by two projects' pull secrets
            // must be per project.
            let path = world
                .dir
                .path()
                .join(location)
                .join("{project}/config.json");
            world
                .f
                .call(
                    "location.create",
                    &world.f.admin,
                    json!({ "name": location, "kind": "docker", "spec": { "path": path.to_str().expect("utf-8 path") } }),
                )
                .await
                .ok();
        }
        world
    }

    /// The auth file of project `acme` in `location`.
    fn auth_file(&self, location: &str) -> PathBuf {
        self.dir.path().join(location).join("acme/config.json")
    }

    /// Creates (or rotates) a pull secret with the admin token; answers its `pullSecret`.
    async fn pull_secret(
        &self,
        project: &str,
        location: &str,
        name: &str,
        server: &str,
        password: &str,
    ) -> Value {
        self.f
            .call(
                "pullSecret.create",
                &self.f.admin,
                json!({
                    "project": project, "location": location, "name": name,
                    "spec": basic(server, "bot", password),
                }),
            )
            .await
            .ok()["pullSecret"]
            .clone()
    }

    async fn deploy(&self, token: &str, body: Value) -> Reply {
        self.f.call("deployment.deploy", token, body).await
    }

    async fn deployments(&self) -> Vec<DeploymentRecord> {
        self.f
            .store
            .list_deployments(None, None)
            .await
            .expect("list deployments")
    }

    /// A token of `role` on `project`.
    async fn token(&self, role: &str, project: &str) -> Issued {
        self.f.create_token(role, Some(project)).await
    }
}

/// A deploy request of `image` as `acme/HERE/name`, without the pre-flight check.
fn deploy_body(name: &str, image: &str) -> Value {
    json!({ "project": "acme", "location": HERE, "name": name, "image": image, "noVerify": true })
}

fn reference(project: &str, location: &str, name: &str) -> Value {
    json!({ "project": project, "location": location, "name": name })
}

fn warnings(reply: &Reply) -> Vec<String> {
    reply.ok()["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|s| s.as_str().expect("a warning is a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The one audit event written since `before`; panics unless there is exactly one.
fn one_new_event(after: &Snapshot, before: &Snapshot) -> AuditRecord {
    let new = after.new_audit_since(before);
    assert_eq!(new.len(), 1, "exactly one audit event: {new:#?}");
    new[0].clone()
}

/// Asserts that a refused call changed nothing at all: no record, no deployment, no audit event.
async fn assert_unchanged(
    w: &World,
    before: &Snapshot,
    deployments: &[DeploymentRecord],
    what: &str,
) {
    let after = w.f.snapshot().await;
    assert_eq!(
        after.record_changes_since(before),
        Vec::<String>::new(),
        "{what}"
    );
    assert_eq!(
        after.new_audit_since(before),
        &[] as &[AuditRecord],
        "{what}"
    );
    assert_eq!(w.deployments().await, deployments, "{what}");
}

#[tokio::test]
async fn deploy_refuses_bad_input_and_stores_nothing() {
    let w = World::new().await;
    let ghcr = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    let elsewhere = w
        .pull_secret("acme", THERE, "ghcr", "ghcr.io", "pw-2")
        .await;
    let foreign = w
        .pull_secret("globex", HERE, "ghcr", "ghcr.io", "pw-3")
        .await;
    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    let with = |change: Value| {
        let mut body = deploy_body("web", "ghcr.io/acme/web:1");
        for (k, v) in change.as_object().expect("an object") {
            body[k] = v.clone();
        }
        body
    };
    let without_image = {
        let mut body = deploy_body("web", "");
        body.as_object_mut().expect("an object").remove("image");
        body
    };
    // (request, status, code, the field named — for validation errors)
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (
            with(json!({ "replica": 2 })),
            400,
            "unknown_field",
            Some("replica"),
        ),
        (without_image, 400, "missing_field", Some("image")),
        (
            with(json!({ "project": "Acme" })),
            400,
            "invalid_name",
            Some("project"),
        ),
        (
            with(json!({ "location": "ci runner" })),
            400,
            "invalid_name",
            Some("location"),
        ),
        (
            with(json!({ "name": "Web_App" })),
            400,
            "invalid_name",
            Some("name"),
        ),
        (
            with(json!({ "name": "" })),
            400,
            "invalid_name",
            Some("name"),
        ),
        (
            with(json!({ "image": "ghcr.io/Acme/Web:1" })),
            400,
            "invalid_image",
            Some("image"),
        ),
        (
            with(json!({ "image": "ghcr.io/acme/web:" })),
            400,
            "invalid_image",
            Some("image"),
        ),
        (
            with(json!({ "image": "" })),
            400,
            "invalid_image",
            Some("image"),
        ),
        (
            with(json!({ "replicas": 1001 })),
            400,
            "invalid_value",
            Some("replicas"),
        ),
        (
            with(json!({ "replicas": -1 })),
            400,
            "invalid_field",
            Some("replicas"),
        ),
        (
            with(json!({ "pullSecrets": ["Bad_Name"] })),
            400,
            "invalid_name",
            Some("pullSecrets"),
        ),
        (
            with(json!({ "pullSecret": "ps_zz" })),
            400,
            "invalid_reference",
            Some("pullSecrets"),
        ),
        (
            with(json!({ "pullSecret": "missing" })),
            404,
            "not_found",
            None,
        ),
        (
            with(json!({ "pullSecrets": ["ghcr", "missing"] })),
            404,
            "not_found",
            None,
        ),
        (
            with(json!({ "pullSecret": "ps_0123456789abcdef" })),
            404,
            "not_found",
            None,
        ),
        // Pull secrets are used where they are stored: not from another location or project.
        (
            with(json!({ "pullSecret": id(&elsewhere) })),
            404,
            "not_found",
            None,
        ),
        (
            with(json!({ "pullSecret": id(&foreign) })),
            404,
            "not_found",
            None,
        ),
        (
            with(json!({ "project": "initech" })),
            404,
            "not_found",
            None,
        ),
        (
            with(json!({ "location": "nowhere" })),
            404,
            "not_found",
            None,
        ),
    ];
    let before = w.f.snapshot().await;
    for (body, status, code, field) in &cases {
        let reply = w.deploy(&w.f.admin, body.clone()).await;
        let error = reply.expect_err(*status, code);
        if let Some(field) = field {
            assert_eq!(error["items"][0]["field"], *field, "{body}: {}", reply.raw);
        }
        assert_unchanged(&w, &before, &[], &format!("{body} was refused")).await;
    }
    assert!(
        !w.auth_file(HERE).exists(),
        "a refused deploy runs no delivery pass"
    );

    // The limits are where they say: 1000 replicas and a pull secret given by id are fine.
    let reply = w
        .deploy(
            &w.f.admin,
            with(json!({ "replicas": 1000, "pullSecret": id(&ghcr) })),
        )
        .await;
    let deployment = &reply.ok()["deployment"];
    assert_eq!(deployment["replicas"], 1000);
    assert_eq!(deployment["pullSecrets"][0]["id"], ghcr["id"]);
    assert_eq!(w.deployments().await.len(), 1);
}

#[tokio::test]
async fn only_deploying_roles_of_the_project_may_deploy_and_delete() {
    let w = World::new().await;
    w.deploy(&w.f.admin, deploy_body("web", "ghcr.io/acme/web:1"))
        .await
        .ok();
    let refused = [
        ("viewer", w.token("viewer", "acme").await),
        ("puller", w.token("puller", "acme").await),
        ("owner of globex", w.token("owner", "globex").await),
    ];
    for (who, token) in &refused {
        let stored = w.deployments().await;
        for (method, body) in [
            (
                "deployment.deploy",
                deploy_body("web", "ghcr.io/acme/web:2"),
            ),
            (
                "deployment.deploy",
                deploy_body("api", "ghcr.io/acme/api:1"),
            ),
            ("deployment.delete", reference("acme", HERE, "web")),
        ] {
            let before = w.f.snapshot().await;
            w.f.call(method, &token.secret, body.clone())
                .await
                .expect_err(403, "forbidden");
            let after = w.f.snapshot().await;
            assert_eq!(after.record_changes_since(&before), Vec::<String>::new());
            assert_eq!(w.deployments().await, stored, "{who}: {method} {body}");
            let event = one_new_event(&after, &before);
            assert_eq!(
                (
                    event.action.as_str(),
                    event.outcome.as_str(),
                    event.actor.as_str()
                ),
                (method, "denied", token.id.as_str()),
                "{who}: {method} is audited as denied"
            );
        }
    }

    for role in ["deployer", "editor", "owner"] {
        let token = w.token(role, "acme").await;
        let name = format!("by-{role}");
        let reply = w
            .deploy(&token.secret, deploy_body(&name, "ghcr.io/acme/web:1"))
            .await;
        let deployment = &reply.ok()["deployment"];
        assert_eq!(deployment["createdBy"], token.id.as_str(), "{role}");
        assert_eq!(deployment["revision"], 1, "{role}");
        w.f.call(
            "deployment.delete",
            &token.secret,
            reference("acme", HERE, &name),
        )
        .await
        .ok();
    }
    let names: Vec<String> = w.deployments().await.into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["web"]);

    // Reading is for the project's readers; a puller only receives material.
    let viewer = &refused[0].1;
    w.f.call(
        "deployment.get",
        &viewer.secret,
        reference("acme", HERE, "web"),
    )
    .await
    .ok();
    let puller = &refused[1].1;
    w.f.call(
        "deployment.get",
        &puller.secret,
        reference("acme", HERE, "web"),
    )
    .await
    .expect_err(403, "forbidden");
}

#[tokio::test]
async fn get_shows_every_revision_oldest_first_with_the_pull_secret_revisions_used() {
    let w = World::new().await;
    let first_secret = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    let mut body = deploy_body("web", "ghcr.io/acme/web:1");
    body["pullSecret"] = json!("ghcr");
    let first = w.deploy(&w.f.admin, body.clone()).await;
    assert_eq!(first.ok()["deployment"]["revision"], 1);

    // Rotate the pull secret, then deploy a new image with another token.
    let rotated = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-2").await;
    assert_eq!(rotated["revision"], 2);
    let deployer = w.token("deployer", "acme").await;
    body["image"] = json!("ghcr.io/acme/web:2");
    body["replicas"] = json!(3);
    let second = w.deploy(&deployer.secret, body).await;
    let deployment = &second.ok()["deployment"];
    assert_eq!(
        deployment["revision"], 2,
        "deploying again bumps the revision"
    );
    assert_eq!(
        deployment["id"],
        first.ok()["deployment"]["id"],
        "same deployment"
    );

    let got =
        w.f.call("deployment.get", &w.f.admin, reference("acme", HERE, "web"))
            .await;
    let got = got.ok();
    let ps_id = first_secret["id"].as_str().expect("id");
    assert_eq!(got["revision"], 2);
    assert_eq!(got["image"], "ghcr.io/acme/web:2");
    assert_eq!(got["replicas"], 3);
    assert_eq!(got["resolution"], "pull_secrets");
    assert_eq!(got["createdBy"], w.f.admin_id.as_str());
    assert_eq!(got["updatedBy"], deployer.id.as_str());
    let revisions = got["revisions"].as_array().expect("revisions");
    let summary: Vec<Value> = revisions
        .iter()
        .map(|r| {
            json!({
                "revision": r["revision"], "image": r["image"], "replicas": r["replicas"],
                "pullSecrets": r["pullSecrets"], "createdBy": r["createdBy"],
            })
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!({
                "revision": 1, "image": "ghcr.io/acme/web:1", "replicas": 1,
                "pullSecrets": [{ "id": ps_id, "name": "ghcr", "revision": 1 }],
                "createdBy": w.f.admin_id,
            }),
            json!({
                "revision": 2, "image": "ghcr.io/acme/web:2", "replicas": 3,
                "pullSecrets": [{ "id": ps_id, "name": "ghcr", "revision": 2 }],
                "createdBy": deployer.id,
            }),
        ]
    );

    // Unknown names are not found, for get as for delete.
    w.f.call("deployment.get", &w.f.admin, reference("acme", HERE, "api"))
        .await
        .expect_err(404, "not_found");
}

#[tokio::test]
async fn list_filters_by_project_and_location() {
    let w = World::new().await;
    for (project, location, name) in [
        ("acme", HERE, "web"),
        ("acme", THERE, "web"),
        ("globex", HERE, "api"),
        ("acme", HERE, "api"),
    ] {
        let mut body = deploy_body(name, "ghcr.io/acme/web:1");
        body["project"] = json!(project);
        body["location"] = json!(location);
        w.deploy(&w.f.admin, body).await.ok();
    }
    let listed = |reply: Reply| -> Vec<String> {
        reply.ok()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|d| {
                format!(
                    "{}/{}/{}",
                    d["project"].as_str().unwrap(),
                    d["location"].as_str().unwrap(),
                    d["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let cases: [(Value, &[&str]); 5] = [
        (
            json!({}),
            &[
                "acme/build-host/web",
                "acme/ci-runner/api",
                "acme/ci-runner/web",
                "globex/ci-runner/api",
            ],
        ),
        (
            json!({ "project": "acme" }),
            &[
                "acme/build-host/web",
                "acme/ci-runner/api",
                "acme/ci-runner/web",
            ],
        ),
        (
            json!({ "location": HERE }),
            &[
                "acme/ci-runner/api",
                "acme/ci-runner/web",
                "globex/ci-runner/api",
            ],
        ),
        (
            json!({ "project": "acme", "location": THERE }),
            &["acme/build-host/web"],
        ),
        (json!({ "project": "globex", "location": THERE }), &[]),
    ];
    for (filter, expected) in cases {
        let reply =
            w.f.call("deployment.list", &w.f.admin, filter.clone())
                .await;
        assert_eq!(listed(reply), expected, "deployment.list {filter}");
    }

    // A project token sees its own project, and no other.
    let viewer = w.token("viewer", "globex").await;
    let reply = w.f.call("deployment.list", &viewer.secret, json!({})).await;
    assert_eq!(listed(reply), ["globex/ci-runner/api"]);
    w.f.call(
        "deployment.list",
        &viewer.secret,
        json!({ "project": "acme" }),
    )
    .await
    .expect_err(403, "forbidden");
}

#[tokio::test]
async fn deploy_warns_when_the_image_matches_none_of_the_given_pull_secrets() {
    let w = World::new().await;
    w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    let mut body = deploy_body("web", "quay.io/acme/web:1");
    body["pullSecret"] = json!("ghcr");
    let reply = w.deploy(&w.f.admin, body.clone()).await;
    let found = warnings(&reply);
    assert!(
        found
            .iter()
            .any(|w| w.contains("matches none of the given pull secrets") && w.contains("quay.io")),
        "{found:?}"
    );
    assert_eq!(reply.ok()["deployment"]["resolution"], "pull_secrets");
    assert_eq!(w.deployments().await.len(), 1, "a warning, not a refusal");

    // An image of the pull secret's registry gets no such warning.
    body["image"] = json!("ghcr.io/acme/web:1");
    let reply = w.deploy(&w.f.admin, body).await;
    let found = warnings(&reply);
    assert!(
        !found.iter().any(|w| w.contains("matches none")),
        "{found:?}"
    );
}

#[tokio::test]
async fn deploy_without_pull_secret_warns_when_one_would_apply() {
    let w = World::new().await;
    w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    let reply = w
        .deploy(&w.f.admin, deploy_body("web", "ghcr.io/acme/web:1"))
        .await;
    let found = warnings(&reply);
    assert!(
        found
            .iter()
            .any(|w| w.contains("would apply") && w.contains("ghcr")),
        "{found:?}"
    );
    let deployment = &reply.ok()["deployment"];
    assert_eq!(deployment["resolution"], "public");
    assert_eq!(deployment["pullSecrets"], json!([]));

    // Nothing would apply to another registry: no warning.
    let reply = w
        .deploy(&w.f.admin, deploy_body("api", "quay.io/acme/api:1"))
        .await;
    let found = warnings(&reply);
    assert!(
        !found.iter().any(|w| w.contains("would apply")),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_referenced_pull_secret_is_deleted_only_with_force() {
    let w = World::new().await;
    let ghcr = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    let quay = w.pull_secret("acme", HERE, "quay", "quay.io", "pw-2").await;
    for name in ["web", "api"] {
        let mut body = deploy_body(name, &format!("ghcr.io/acme/{name}:1"));
        body["pullSecrets"] = json!(["ghcr", quay["id"]]);
        w.deploy(&w.f.admin, body).await.ok();
    }
    let got =
        w.f.call(
            "pullSecret.get",
            &w.f.admin,
            reference("acme", HERE, "ghcr"),
        )
        .await;
    assert_eq!(
        got.ok()["usedBy"],
        json!([
            { "kind": "deployment", "name": "acme/ci-runner/api" },
            { "kind": "deployment", "name": "acme/ci-runner/web" },
        ])
    );

    let before = w.f.snapshot().await;
    let reply =
        w.f.call(
            "pullSecret.delete",
            &w.f.admin,
            reference("acme", HERE, "ghcr"),
        )
        .await;
    let error = reply.expect_err(409, "in_use");
    let items: Vec<&str> = error["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["message"].as_str().expect("message"))
        .collect();
    assert_eq!(
        items,
        [
            "deployment acme/ci-runner/api",
            "deployment acme/ci-runner/web"
        ]
    );
    assert_unchanged(&w, &before, &w.deployments().await, "a refused delete").await;

    // Once a deployment no longer uses it, it is one referrer less; force deletes it anyway.
    w.f.call(
        "deployment.delete",
        &w.f.admin,
        reference("acme", HERE, "api"),
    )
    .await
    .ok();
    let mut body = deploy_body("web", "quay.io/acme/web:2");
    body["pullSecret"] = json!("quay");
    w.deploy(&w.f.admin, body).await.ok();
    w.f.call(
        "pullSecret.delete",
        &w.f.admin,
        reference("acme", HERE, "ghcr"),
    )
    .await
    .ok();
    assert!(w
        .f
        .store
        .get_pull_secret_by_id(ghcr["id"].as_str().expect("id"))
        .await
        .expect("get")
        .is_none());

    let mut delete = reference("acme", HERE, "quay");
    w.f.call("pullSecret.delete", &w.f.admin, delete.clone())
        .await
        .expect_err(409, "in_use");
    delete["force"] = json!(true);
    let deleted = w.f.call("pullSecret.delete", &w.f.admin, delete).await;
    assert_eq!(deleted.ok()["forced"], true);
    assert_eq!(deleted.ok()["id"], quay["id"]);
    assert!(w
        .f
        .store
        .get_pull_secret("acme", HERE, "quay")
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn location_delete_is_refused_while_a_deployment_is_there() {
    let w = World::new().await;
    w.deploy(&w.f.admin, deploy_body("web", "ghcr.io/acme/web:1"))
        .await
        .ok();
    let before = w.f.snapshot().await;
    let reply =
        w.f.call("location.delete", &w.f.admin, json!({ "name": HERE }))
            .await;
    let error = reply.expect_err(409, "in_use");
    assert_eq!(
        error["items"][0]["message"], "deployment acme/web",
        "{}",
        reply.raw
    );
    assert_unchanged(
        &w,
        &before,
        &w.deployments().await,
        "a refused location delete",
    )
    .await;

    w.f.call(
        "deployment.delete",
        &w.f.admin,
        reference("acme", HERE, "web"),
    )
    .await
    .ok();
    w.f.call("location.delete", &w.f.admin, json!({ "name": HERE }))
        .await
        .ok();
    assert!(w.f.store.get_location(HERE).await.expect("get").is_none());
}

#[tokio::test]
async fn deleting_an_unknown_deployment_is_not_found() {
    let w = World::new().await;
    w.deploy(&w.f.admin, deploy_body("web", "ghcr.io/acme/web:1"))
        .await
        .ok();
    let stored = w.deployments().await;
    let before = w.f.snapshot().await;
    for (project, location, name) in [
        ("acme", HERE, "api"),
        ("acme", THERE, "web"),
        ("globex", HERE, "web"),
    ] {
        w.f.call(
            "deployment.delete",
            &w.f.admin,
            reference(project, location, name),
        )
        .await
        .expect_err(404, "not_found");
        assert_unchanged(
            &w,
            &before,
            &stored,
            &format!("{project}/{location}/{name}"),
        )
        .await;
    }
    w.f.call(
        "deployment.delete",
        &w.f.admin,
        reference("acme", HERE, "Web"),
    )
    .await
    .expect_err(400, "invalid_name");
}

#[tokio::test]
async fn every_deploy_and_delete_is_one_audit_event() {
    let w = World::new().await;
    let ghcr = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    let deployer = w.token("deployer", "acme").await;
    let mut body = deploy_body("web", "ghcr.io/acme/web:1");
    body["pullSecret"] = json!("ghcr");
    // (method, token secret, its id, request)
    let steps = [
        ("deployment.deploy", &w.f.admin, &w.f.admin_id, body.clone()),
        ("deployment.deploy", &deployer.secret, &deployer.id, body),
        (
            "deployment.delete",
            &deployer.secret,
            &deployer.id,
            reference("acme", HERE, "web"),
        ),
    ];
    for (step, (method, token, actor, request)) in steps.iter().enumerate() {
        let before = w.f.snapshot().await;
        let reply = w.f.call(method, token, request.clone()).await;
        let result = reply.ok().clone();
        // The inline delivery pass audits what it wrote under its own actor and channel.
        let after = w.f.snapshot().await;
        let new = after.new_audit_since(&before);
        let (delivery, caller): (Vec<&AuditRecord>, Vec<&AuditRecord>) =
            new.iter().partition(|e| e.channel == "delivery");
        assert_eq!(
            caller.len(),
            1,
            "exactly one audit event of the call: {new:#?}"
        );
        assert!(
            delivery
                .iter()
                .all(|e| e.action == "delivery.apply" && e.actor == "regcred"),
            "{delivery:#?}"
        );
        if step == 0 {
            assert_eq!(
                delivery.len(),
                1,
                "the first pass writes the login: {new:#?}"
            );
        }
        let event = caller[0].clone();
        assert_eq!(
            (
                event.action.as_str(),
                event.outcome.as_str(),
                event.project.as_deref(),
                event.target.as_str(),
                event.actor.as_str(),
            ),
            (
                *method,
                "ok",
                Some("acme"),
                "acme/ci-runner/web",
                actor.as_str()
            ),
            "step {step}"
        );
        let detail: Value = serde_json::from_str(&event.detail).expect("detail is JSON");
        if *method == "deployment.deploy" {
            assert_eq!(detail["id"], result["deployment"]["id"], "step {step}");
            assert_eq!(detail["revision"], step + 1, "step {step}");
            assert_eq!(detail["pullSecrets"][0]["id"], ghcr["id"], "step {step}");
        } else {
            assert_eq!(detail["id"], result["id"], "step {step}");
        }
    }
    assert_eq!(w.deployments().await, vec![]);
}

#[tokio::test]
async fn a_failed_preflight_check_is_refused_audited_and_stores_nothing() {
    let w = World::new().await;
    let before = w.f.snapshot().await;
    // Port 1 on loopback is closed: the anonymous pull check cannot reach a registry.
    let mut body = deploy_body("web", "localhost:1/acme/web:1");
    body.as_object_mut().expect("an object").remove("noVerify");
    let reply = w.deploy(&w.f.admin, body).await;
    let error = reply.expect_err(409, "preflight_failed");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains("noVerify"),
        "{}",
        reply.raw
    );
    let after = w.f.snapshot().await;
    assert_eq!(after.record_changes_since(&before), Vec::<String>::new());
    assert_eq!(w.deployments().await, vec![]);
    let event = one_new_event(&after, &before);
    assert_eq!(
        (event.action.as_str(), event.outcome.as_str()),
        ("deployment.deploy", "refused")
    );
}

#[tokio::test]
async fn deploys_and_sync_deliver_pull_secrets_to_the_auth_file() {
    let w = World::new().await;
    let ghcr = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-1").await;
    assert_eq!(
        ghcr.get("deliveries"),
        None,
        "not delivered before any pass"
    );
    let mut body = deploy_body("web", "ghcr.io/acme/web:1");
    body["pullSecret"] = json!("ghcr");
    w.deploy(&w.f.admin, body).await.ok();

    let auth = |file: &PathBuf| -> Value {
        let text = std::fs::read_to_string(file).expect("the auth file was written");
        serde_json::from_str::<Value>(&text).expect("JSON")["auths"]["ghcr.io"]["auth"].clone()
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(auth(&w.auth_file(HERE)), json!(b64("bot:pw-1")));
    assert!(
        !w.auth_file(THERE).exists(),
        "only the deployment's location"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.auth_file(HERE))
            .expect("metadata")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let delivered = |revision: u64| {
        move |reply: Reply| {
            let d = reply.ok()["deliveries"].clone();
            assert_eq!(d.as_array().map(Vec::len), Some(1), "{d}");
            assert_eq!(
                (
                    &d[0]["location"],
                    &d[0]["target"],
                    &d[0]["state"],
                    &d[0]["revision"]
                ),
                (
                    &json!(HERE),
                    &json!("auth:acme:ghcr.io"),
                    &json!("delivered"),
                    &json!(revision)
                ),
                "{d}"
            );
        }
    };
    let get_ghcr = || {
        w.f.call(
            "pullSecret.get",
            &w.f.admin,
            reference("acme", HERE, "ghcr"),
        )
    };
    delivered(1)(get_ghcr().await);

    // A pass with nothing to do changes nothing; after a rotation it writes the new credential.
    let sync = || {
        w.f.call("location.sync", &w.f.admin, json!({ "name": HERE }))
    };
    let report = sync().await;
    assert_eq!(
        (
            &report.ok()["applied"],
            &report.ok()["upToDate"],
            &report.ok()["errors"]
        ),
        (&json!(0), &json!(1), &json!(0)),
        "{}",
        report.raw
    );
    w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw-2").await;
    let report = sync().await;
    assert_eq!(
        (&report.ok()["applied"], &report.ok()["location"]),
        (&json!(1), &json!(HERE)),
        "{}",
        report.raw
    );
    assert_eq!(auth(&w.auth_file(HERE)), json!(b64("bot:pw-2")));
    delivered(2)(get_ghcr().await);

    // Who may run a pass, and where.
    let editor = w.token("editor", "acme").await;
    w.f.call("location.sync", &editor.secret, json!({ "name": HERE }))
        .await
        .ok();
    let viewer = w.token("viewer", "acme").await;
    w.f.call("location.sync", &viewer.secret, json!({ "name": HERE }))
        .await
        .expect_err(403, "forbidden");
    w.f.call("location.sync", &w.f.admin, json!({ "name": "nowhere" }))
        .await
        .expect_err(404, "not_found");
    w.f.call(
        "location.sync",
        &w.f.admin,
        json!({ "name": HERE, "force": true }),
    )
    .await
    .expect_err(400, "unknown_field");
}

#[tokio::test]
async fn openapi_lists_the_deployment_methods_and_their_error_codes() {
    let w = World::new().await;
    let reply = w.f.get("/openapi.json").await;
    let document: Value = serde_json::from_str(&reply.raw).expect("/openapi.json is JSON");
    for method in [
        "deployment.deploy",
        "deployment.get",
        "deployment.list",
        "deployment.delete",
        "location.sync",
    ] {
        let operation = &document["paths"][format!("/{method}")]["post"];
        assert_eq!(operation["operationId"], method, "{method} is listed");
        assert!(
            operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} has a summary"
        );
    }
    // The failure envelope's `error.code`, following the `$ref`s to the code enum.
    let resolve = |schema: &Value| -> Value {
        let mut schema = schema.clone();
        while let Some(pointer) = schema["$ref"].as_str() {
            schema = document
                .pointer(pointer.trim_start_matches('#'))
                .expect("the $ref points at a schema")
                .clone();
        }
        schema
    };
    let failure = &document["components"]["schemas"]["Failure"];
    let error = resolve(&failure["properties"]["error"]);
    let code = resolve(&error["properties"]["code"]);
    let codes = code["enum"].as_array().expect("error codes");
    for code in [
        "preflight_failed",
        "plaintext_refused",
        "in_use",
        "invalid_image",
    ] {
        assert!(
            codes.contains(&json!(code)),
            "{code} is not listed: {codes:?}"
        );
    }

    // And it is really answered (`preflight_failed` is, in
    // `a_failed_preflight_check_is_refused_audited_and_stores_nothing`).
    w.f.call(
        "location.create",
        &w.f.admin,
        json!({ "name": "gitops", "kind": "manifests", "spec": { "directory": w.dir.path().join("gitops").to_str().expect("utf-8") } }),
    )
    .await
    .expect_err(400, "plaintext_refused");
}

/// Regression: the same pull secret named once by name and once by id was recorded twice.
#[tokio::test]
async fn the_same_pull_secret_by_name_and_by_id_counts_once() {
    let w = World::new().await;
    let created = w.pull_secret("acme", HERE, "ghcr", "ghcr.io", "pw").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let mut body = deploy_body("web", "ghcr.io/acme/web:v1");
    body["pullSecret"] = json!("ghcr");
    body["pullSecrets"] = json!([id]);
    let reply = w.deploy(&w.f.admin, body).await;
    assert_eq!(
        reply.ok()["deployment"]["pullSecrets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Regression: `location.delete` and `location.get` answered `not_found` for malformed names.
#[tokio::test]
async fn location_names_are_validated_on_get_and_delete() {
    let f = Fixture::new().await;
    for method in ["location.get", "location.delete"] {
        f.call(method, &f.admin, json!({"name": "Bad Name"}))
            .await
            .expect_err(400, "invalid_name");
    }
}
