//! The happy paths of the HTTP API, through the router: projects and locations, pull secrets
//! (create with kind inference and server normalization, read, list, rotate by overwrite, guarded
//! delete), the kinds table, image resolution by the kubelet and containers rules, tokens, the
//! audit log, and the operational endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`).

mod fixture;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fixture::{basic, service_account_key, Fixture, LOCATION};
use regcred_server::methods::METHODS;
use regcred_store::{ReferrerRecord, Store};
use serde_json::{json, Value};

/// A fixture with project `acme` and the location.
async fn acme() -> Fixture {
    let fx = Fixture::new().await;
    fx.create_project("acme").await;
    fx.create_location(LOCATION).await;
    fx
}

fn names(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect()
}

fn at<'a>(project: &'a str, name: &'a str) -> Value {
    json!({ "project": project, "location": LOCATION, "name": name })
}

#[tokio::test]
async fn admin_creates_projects_and_locations() {
    let fx = Fixture::new().await;
    let project = fx
        .call(
            "project.create",
            &fx.admin,
            json!({ "name": "acme", "description": "the acme team" }),
        )
        .await;
    let project = project.ok();
    assert_eq!(project["name"], "acme");
    assert_eq!(project["description"], "the acme team");
    assert_eq!(project["createdBy"], fx.admin_id.as_str());

    let location = fx
        .call(
            "location.create",
            &fx.admin,
            json!({ "name": LOCATION, "kind": "kubernetes", "spec": { "kubeconfig": "/etc/regcred/kubeconfig", "context": "rcf2" } }),
        )
        .await;
    let location = location.ok();
    assert_eq!(location["kind"], "kubernetes");
    assert_eq!(
        location["spec"],
        json!({ "kubeconfig": "/etc/regcred/kubeconfig", "context": "rcf2", "inCluster": false, "namespaceTemplate": "{project}" }),
        "the stored spec has its defaults filled in"
    );

    let projects = fx.call("project.list", &fx.admin, json!({})).await;
    assert_eq!(names(&projects.ok()["items"]), ["acme"]);
    let got = fx
        .call("project.get", &fx.admin, json!({ "name": "acme" }))
        .await;
    assert_eq!(got.ok()["description"], "the acme team");
    let locations = fx.call("location.list", &fx.admin, json!({})).await;
    assert_eq!(names(&locations.ok()["items"]), [LOCATION]);
    let got = fx
        .call("location.get", &fx.admin, json!({ "name": LOCATION }))
        .await;
    assert_eq!(got.ok()["spec"]["context"], "rcf2");
}

#[tokio::test]
async fn create_infers_the_kind_and_says_how_the_server_was_normalized() {
    let fx = acme().await;
    let editor = fx.create_token("editor", Some("acme")).await;
    // (server as typed, inferred kind, server as stored)
    let table = [
        ("ghcr.io", "ghcr", "ghcr.io"),
        ("https://ghcr.io/", "ghcr", "ghcr.io"),
        ("https://index.docker.io/v1/", "docker", "docker.io"),
        ("registry-1.docker.io", "docker", "docker.io"),
        ("quay.io/acme", "quay", "quay.io/acme"),
        ("acme.azurecr.io", "acr", "acme.azurecr.io"),
        ("localhost:5000", "custom", "localhost:5000"),
        (
            "Registry.Example.com:05000",
            "custom",
            "registry.example.com:5000",
        ),
        ("[::1]:5000", "custom", "[::1]:5000"),
    ];
    for (i, (typed, kind, stored)) in table.into_iter().enumerate() {
        let password = format!("pw-{i}-do-not-show");
        let reply = fx
            .call(
                "pullSecret.create",
                &editor.secret,
                json!({ "project": "acme", "location": LOCATION, "name": format!("s{i}"), "spec": basic(typed, "acme-ci", &password) }),
            )
            .await;
        let result = reply.ok();
        let secret = &result["pullSecret"];
        assert_eq!(secret["kind"], kind, "{typed}");
        assert_eq!(secret["server"], stored, "{typed}");
        assert_eq!(secret["username"], "acme-ci", "{typed}");
        assert_eq!(secret["revision"], 1, "{typed}");
        assert_eq!(result["created"], true, "{typed}");
        assert!(
            secret["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("ps_")),
            "{typed}"
        );
        assert!(
            secret["fingerprint"]
                .as_str()
                .is_some_and(|f| f.starts_with("hmac-sha256:") && f.len() > 20),
            "{typed}: {}",
            secret["fingerprint"]
        );
        assert_eq!(secret["createdBy"], editor.id.as_str(), "{typed}");
        let notes: Vec<&str> = result["notes"]
            .as_array()
            .map(|n| n.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if typed == stored {
            assert!(
                notes.is_empty(),
                "{typed}: no normalization, no note: {notes:?}"
            );
        } else {
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains(&format!("stored as {stored}"))),
                "{typed}: a note says what was stored: {notes:?}"
            );
        }
        assert!(
            !reply.raw.contains(&password),
            "{typed}: the answer holds the password"
        );
        // Several rows name one server, and a location holds one pull secret per server.
        fx.call("pullSecret.delete", &fx.admin, at("acme", &format!("s{i}")))
            .await
            .ok();
    }
}

#[tokio::test]
async fn get_by_name_and_by_id_and_list_show_the_same_metadata() {
    let fx = acme().await;
    let created = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "ghcr",
            json!({ "server": "ghcr.io", "username": "acme-ci", "token": "ghp_x" }),
        )
        .await;
    fx.create_pull_secret(&fx.admin, "acme", "hub", basic("docker.io", "acme", "pw"))
        .await;

    let by_name = fx
        .call("pullSecret.get", &fx.admin, at("acme", "ghcr"))
        .await;
    let by_id = fx
        .call("pullSecret.get", &fx.admin, json!({ "id": created["id"] }))
        .await;
    assert_eq!(by_name.ok(), &created);
    assert_eq!(by_id.ok(), &created);

    let list = fx
        .call("pullSecret.list", &fx.admin, json!({ "project": "acme" }))
        .await;
    let items = &list.ok()["items"];
    assert_eq!(names(items), ["ghcr", "hub"]);
    assert_eq!(items[0], created);
    let scoped = fx
        .call(
            "pullSecret.list",
            &fx.admin,
            json!({ "project": "acme", "location": LOCATION }),
        )
        .await;
    assert_eq!(names(&scoped.ok()["items"]), ["ghcr", "hub"]);
}

#[tokio::test]
async fn create_with_an_existing_name_rotates_in_place() {
    let fx = acme().await;
    let first_editor = fx.create_token("editor", Some("acme")).await;
    let second_editor = fx.create_token("editor", Some("acme")).await;
    let spec = |password: &str| basic("registry.example.com", "ci", password);

    let first = fx
        .create_pull_secret(&first_editor.secret, "acme", "app", spec("one"))
        .await;
    let reply = fx
        .call(
            "pullSecret.create",
            &second_editor.secret,
            json!({ "project": "acme", "location": LOCATION, "name": "app", "spec": spec("two") }),
        )
        .await;
    let rotated = reply.ok();
    let second = &rotated["pullSecret"];
    assert_eq!(rotated["created"], false);
    assert_eq!(second["id"], first["id"], "rotation keeps the id");
    assert_eq!(second["revision"], 2);
    assert_ne!(
        second["fingerprint"], first["fingerprint"],
        "new password, new fingerprint"
    );
    assert_eq!(second["createdBy"], first_editor.id.as_str());
    assert_eq!(second["updatedBy"], second_editor.id.as_str());
    assert!(
        rotated["notes"].to_string().contains("revision 2"),
        "the answer says it rotated: {}",
        rotated["notes"]
    );

    let third = fx
        .create_pull_secret(&first_editor.secret, "acme", "app", spec("two"))
        .await;
    assert_eq!(third["revision"], 3);
    assert_eq!(
        third["fingerprint"], second["fingerprint"],
        "same password, same fingerprint"
    );
    let list = fx
        .call("pullSecret.list", &fx.admin, json!({ "project": "acme" }))
        .await;
    assert_eq!(
        list.ok()["items"].as_array().map(Vec::len),
        Some(1),
        "still one pull secret"
    );
}

#[tokio::test]
async fn only_the_creator_or_an_admin_deletes_a_pull_secret() {
    let fx = acme().await;
    let creator = fx.create_token("editor", Some("acme")).await;
    let other_editor = fx.create_token("editor", Some("acme")).await;
    let owner = fx.create_token("owner", Some("acme")).await;
    for (name, server) in [("by-creator", "ghcr.io"), ("by-admin", "quay.io")] {
        fx.create_pull_secret(&creator.secret, "acme", name, basic(server, "u", "t"))
            .await;
    }
    // (who, pull secret, expected code: "" for success)
    let table = [
        (&other_editor.secret, "by-creator", "forbidden"),
        (&owner.secret, "by-creator", "forbidden"),
        (&creator.secret, "by-creator", ""),
        (&other_editor.secret, "by-admin", "forbidden"),
        (&fx.admin, "by-admin", ""),
    ];
    for (who, name, code) in table {
        let reply = fx.call("pullSecret.delete", who, at("acme", name)).await;
        if code.is_empty() {
            assert_eq!(reply.ok()["forced"], false, "{name}");
            let gone = fx.call("pullSecret.get", &fx.admin, at("acme", name)).await;
            gone.expect_err(404, "not_found");
        } else {
            let error = reply.expect_err(403, code);
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("creator")),
                "the refusal says who may delete: {error}"
            );
        }
    }
}

#[tokio::test]
async fn a_referenced_pull_secret_is_deleted_only_with_force() {
    let fx = acme().await;
    let created = fx
        .create_pull_secret(&fx.admin, "acme", "ghcr", basic("ghcr.io", "u", "t"))
        .await;
    let id = created["id"].as_str().expect("id");
    fx.store
        .add_reference(
            id,
            &ReferrerRecord {
                kind: "deployment".into(),
                name: "api".into(),
            },
        )
        .await
        .expect("reference");

    let got = fx
        .call("pullSecret.get", &fx.admin, json!({ "id": id }))
        .await;
    assert_eq!(
        got.ok()["usedBy"],
        json!([{ "kind": "deployment", "name": "api" }])
    );

    let refused = fx
        .call("pullSecret.delete", &fx.admin, json!({ "id": id }))
        .await;
    let error = refused.expect_err(409, "in_use");
    assert_eq!(error["items"][0]["message"], "deployment api");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("force")),
        "{error}"
    );

    let forced = fx
        .call(
            "pullSecret.delete",
            &fx.admin,
            json!({ "id": id, "force": true }),
        )
        .await;
    assert_eq!(forced.ok(), &json!({ "id": id, "forced": true }));
    fx.call("pullSecret.get", &fx.admin, json!({ "id": id }))
        .await
        .expect_err(404, "not_found");
}

#[tokio::test]
async fn registry_kinds_lists_all_nine_kinds_with_their_fields() {
    let fx = Fixture::new().await;
    // (kind, its fields in order, the required ones, the secret ones)
    type Fields = &'static [&'static str];
    let expected: [(&str, Fields, Fields, Fields); 9] = [
        (
            "docker",
            &["server", "username", "password", "email"],
            &["username", "password"],
            &["password"],
        ),
        (
            "ghcr",
            &["server", "username", "token", "email"],
            &["username", "token"],
            &["token"],
        ),
        (
            "quay",
            &["server", "username", "token", "email"],
            &["username", "token"],
            &["token"],
        ),
        (
            "custom",
            &["server", "username", "password", "email"],
            &["server", "username", "password"],
            &["password"],
        ),
        (
            "acr",
            &["server", "username", "password", "email", "mode", "tenant"],
            &["server", "username", "password"],
            &["password"],
        ),
        (
            "gcr",
            &["server", "serviceAccountKey", "mode", "email"],
            &["serviceAccountKey"],
            &["serviceAccountKey"],
        ),
        (
            "gar",
            &["server", "serviceAccountKey", "region", "mode", "email"],
            &["server", "serviceAccountKey", "region"],
            &["serviceAccountKey"],
        ),
        (
            "ecr",
            &[
                "server",
                "accessKeyId",
                "secretAccessKey",
                "region",
                "registryId",
                "roleArn",
            ],
            &["accessKeyId", "secretAccessKey", "region"],
            &["secretAccessKey"],
        ),
        ("public", &["server"], &[], &[]),
    ];
    let viewer = {
        fx.create_project("acme").await;
        fx.create_token("viewer", Some("acme")).await
    };
    let reply = fx.call("registry.kinds", &viewer.secret, json!({})).await;
    let items = reply.ok()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 9);
    for (item, (kind, fields, required, secret)) in items.iter().zip(expected) {
        assert_eq!(item["kind"], kind);
        assert!(
            item["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{kind}"
        );
        let list = item["fields"].as_array().expect("fields");
        let pick = |pred: &dyn Fn(&Value) -> bool| -> Vec<&str> {
            list.iter()
                .filter(|f| pred(f))
                .map(|f| f["name"].as_str().expect("field name"))
                .collect()
        };
        assert_eq!(pick(&|_| true), fields, "{kind} fields");
        assert_eq!(
            pick(&|f| f["required"] == true),
            required,
            "{kind} required"
        );
        assert_eq!(pick(&|f| f["secret"] == true), secret, "{kind} secret");
    }
}

#[tokio::test]
async fn image_resolve_orders_pull_secrets_by_the_runtime_rules() {
    let fx = acme().await;
    // Created least specific first, so the order below is not insertion order.
    let bar = fx
        .create_pull_secret(&fx.admin, "acme", "bar", basic("bar.example.com", "u", "p"))
        .await;
    let pong = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "pong",
            basic("bar.example.com/pong", "u", "p"),
        )
        .await;
    assert_eq!(
        (bar["kind"].as_str(), pong["kind"].as_str()),
        (Some("custom"), Some("custom"))
    );
    // (image, rules, expected pull secrets in order)
    let table: [(&str, Option<&str>, &[&str]); 7] = [
        ("bar.example.com/pong/app:v1", None, &["pong", "bar"]),
        (
            "bar.example.com/pong/app:v1",
            Some("kubelet"),
            &["pong", "bar"],
        ),
        ("bar.example.com/pong/app:v1", Some("containers"), &["pong"]),
        ("bar.example.com/pongz", Some("kubelet"), &["pong", "bar"]),
        ("bar.example.com/ping/app", Some("kubelet"), &["bar"]),
        ("bar.example.com/ping/app", Some("containers"), &["bar"]),
        ("other.example.com/app", Some("kubelet"), &[]),
    ];
    for (image, rules, expected) in table {
        let mut body = json!({ "project": "acme", "location": LOCATION, "image": image });
        if let Some(r) = rules {
            body["rules"] = json!(r);
        }
        let reply = fx.call("image.resolve", &fx.admin, body).await;
        let result = reply.ok();
        assert_eq!(names(&result["pullSecrets"]), expected, "{image} {rules:?}");
        assert_eq!(result["rules"], rules.unwrap_or("kubelet"), "{image}");
        assert_eq!(
            result["registry"],
            image.split('/').next().unwrap_or(""),
            "{image}"
        );
        if expected.is_empty() {
            assert!(
                result["warnings"].to_string().contains("anonymously"),
                "{image}: a warning says it will be pulled anonymously: {result}"
            );
        }
    }
    let reply = fx
        .call(
            "image.resolve",
            &fx.admin,
            json!({ "project": "acme", "location": LOCATION, "image": "bar.example.com/pong/app" }),
        )
        .await;
    let first = &reply.ok()["pullSecrets"][0];
    assert_eq!(first["matchedKey"], "bar.example.com/pong");
    assert_eq!(first["id"], pong["id"]);
}

/// The warning about an unmatched registry names the first ten servers of the scope and counts
/// the rest: a scope of 100,000 pull secrets must not answer with all of them.
#[tokio::test]
async fn image_resolve_warning_names_a_few_servers() {
    let fx = acme().await;
    for i in 0..12 {
        fx.create_pull_secret(
            &fx.admin,
            "acme",
            &format!("r{i:02}"),
            basic(&format!("r{i:02}.example.com"), "u", "p"),
        )
        .await;
    }
    let reply = fx
        .call(
            "image.resolve",
            &fx.admin,
            json!({ "project": "acme", "location": LOCATION, "image": "other.example.com/app" }),
        )
        .await;
    let warning = reply.ok()["warnings"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.contains("r00.example.com, r01.example.com"),
        "{warning}"
    );
    assert!(warning.contains("r09.example.com and 2 more"), "{warning}");
    assert!(!warning.contains("r10.example.com"), "{warning}");
}

#[tokio::test]
async fn image_resolve_sends_short_names_to_docker_hub() {
    let fx = acme().await;
    let hub = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "hub",
            json!({ "username": "acme", "password": "pw" }),
        )
        .await;
    assert_eq!(
        (hub["kind"].as_str(), hub["server"].as_str()),
        (Some("docker"), Some("docker.io"))
    );
    fx.create_pull_secret(&fx.admin, "acme", "ghcr", basic("ghcr.io", "u", "t"))
        .await;
    for rules in ["kubelet", "containers"] {
        let reply = fx
            .call(
                "image.resolve",
                &fx.admin,
                json!({ "project": "acme", "location": LOCATION, "image": "nginx", "rules": rules }),
            )
            .await;
        let result = reply.ok();
        assert_eq!(result["image"], "docker.io/library/nginx:latest", "{rules}");
        assert_eq!(result["registry"], "docker.io", "{rules}");
        assert_eq!(names(&result["pullSecrets"]), ["hub"], "{rules}");
    }
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked() {
    let fx = acme().await;
    let reply = fx
        .call(
            "token.create",
            &fx.admin,
            json!({ "name": "ci viewer", "project": "acme", "role": "viewer", "ttlSeconds": 3600 }),
        )
        .await;
    let created = reply.ok().clone();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let id = created["token"]["id"].as_str().expect("id").to_owned();
    assert!(
        secret.starts_with("rc_") && id.starts_with("tk_"),
        "{created}"
    );
    assert_eq!(created["token"]["role"], "viewer");
    assert!(
        created["token"]["expiresAt"].is_string(),
        "a TTL gives an expiry"
    );

    let works = fx.call("pullSecret.list", &secret, json!({})).await;
    assert_eq!(works.ok()["items"], json!([]));

    let listed = fx
        .call("token.list", &fx.admin, json!({ "project": "acme" }))
        .await;
    assert!(
        !listed.raw.contains(&secret),
        "token.list never shows secrets"
    );
    let entry = listed.ok()["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["id"] == id.as_str()))
        .expect("the new token is listed")
        .clone();
    assert_eq!(entry["name"], "ci viewer");
    assert!(entry.get("revokedAt").is_none());

    let revoked = fx
        .call("token.revoke", &fx.admin, json!({ "id": id }))
        .await;
    assert!(revoked.ok()["revokedAt"].is_string());
    fx.call("pullSecret.list", &secret, json!({}))
        .await
        .expect_err(401, "token_revoked");
    let listed = fx
        .call("token.list", &fx.admin, json!({ "project": "acme" }))
        .await;
    let entry = listed.ok()["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["id"] == id.as_str()))
        .expect("a revoked token is still listed")
        .clone();
    assert!(entry["revokedAt"].is_string(), "{entry}");

    // Anyone may revoke their own token.
    let puller = fx.create_token("puller", Some("acme")).await;
    fx.call("token.revoke", &puller.secret, json!({ "id": puller.id }))
        .await
        .ok();
    fx.call("registry.kinds", &puller.secret, json!({}))
        .await
        .expect_err(401, "token_revoked");
}

/// A token created by a token with a lifetime used to get no expiry at all, and revoking its
/// creator left it working.
#[tokio::test]
async fn a_token_never_outlives_the_token_that_created_it() {
    let fx = acme().await;
    let expiry = |reply: &fixture::Reply| {
        reply.ok()["token"]["expiresAt"]
            .as_str()
            .map(str::to_owned)
            .expect("an expiry")
    };
    let parent = fx
        .call(
            "token.create",
            &fx.admin,
            json!({ "name": "parent", "project": "acme", "role": "owner", "ttlSeconds": 3600 }),
        )
        .await;
    let parent_expiry = expiry(&parent);
    let parent_secret = parent.ok()["secret"].as_str().expect("secret").to_owned();
    let parent_id = parent.ok()["token"]["id"].as_str().expect("id").to_owned();

    // Without a TTL, and with a TTL longer than the creator's, the child expires with its creator.
    for body in [
        json!({ "name": "child", "project": "acme", "role": "viewer" }),
        json!({ "name": "long", "project": "acme", "role": "editor", "ttlSeconds": 864000 }),
    ] {
        let child = fx.call("token.create", &parent_secret, body).await;
        assert_eq!(expiry(&child), parent_expiry, "{}", child.raw);
    }
    let child = fx
        .call(
            "token.create",
            &parent_secret,
            json!({ "name": "short", "project": "acme", "role": "owner", "ttlSeconds": 600 }),
        )
        .await;
    assert!(expiry(&child) < parent_expiry, "a shorter TTL is kept");
    let child_secret = child.ok()["secret"].as_str().expect("secret").to_owned();
    let grandchild = fx
        .call(
            "token.create",
            &child_secret,
            json!({ "name": "grandchild", "project": "acme", "role": "puller" }),
        )
        .await;
    let grandchild_secret = grandchild.ok()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    fx.call("registry.kinds", &grandchild_secret, json!({}))
        .await
        .ok();

    // Revoking the creator revokes what it created, and what those created.
    fx.call("token.revoke", &fx.admin, json!({ "id": parent_id }))
        .await
        .ok();
    for secret in [&parent_secret, &child_secret, &grandchild_secret] {
        fx.call("registry.kinds", secret, json!({}))
            .await
            .expect_err(401, "token_revoked");
    }
    // The admin's own token and tokens the admin created are untouched.
    fx.call("registry.kinds", &fx.admin, json!({})).await.ok();
}

#[tokio::test]
async fn an_owner_creates_tokens_only_for_its_own_project() {
    let fx = acme().await;
    fx.create_project("other").await;
    let owner = fx.create_token("owner", Some("acme")).await;
    // (request, expected code: "" for success)
    let table = [
        (
            json!({ "name": "deployer", "project": "acme", "role": "deployer" }),
            "",
        ),
        (
            json!({ "name": "co-owner", "project": "acme", "role": "owner" }),
            "",
        ),
        (
            json!({ "name": "sneaky", "project": "other", "role": "viewer" }),
            "forbidden",
        ),
        (json!({ "name": "sneaky", "role": "admin" }), "forbidden"),
    ];
    for (request, code) in table {
        let reply = fx
            .call("token.create", &owner.secret, request.clone())
            .await;
        if code.is_empty() {
            let created = reply.ok();
            assert_eq!(created["token"]["project"], "acme", "{request}");
            assert_eq!(
                created["token"]["createdBy"],
                owner.id.as_str(),
                "{request}"
            );
            let secret = created["secret"].as_str().expect("secret");
            fx.call("pullSecret.list", secret, json!({})).await.ok();
        } else {
            reply.expect_err(403, code);
        }
    }
    let listed = fx.call("token.list", &owner.secret, json!({})).await;
    let items = listed.ok()["items"].as_array().expect("items").clone();
    assert!(items.iter().all(|t| t["project"] == "acme"), "{items:?}");
    assert_eq!(items.len(), 3, "the owner token and the two it created");
}

#[tokio::test]
async fn audit_list_shows_one_event_per_mutation_with_actor_and_channel() {
    let fx = Fixture::new().await;
    let cli = [("x-regcred-channel", "cli")];
    let before = fx.snapshot().await.audit.len();
    let admin = fx.admin.as_str();
    let steps = [
        ("project.create", json!({ "name": "acme" })),
        (
            "location.create",
            json!({ "name": LOCATION, "kind": "docker", "spec": { "path": "/etc/docker/config.json" } }),
        ),
        (
            "pullSecret.create",
            json!({ "project": "acme", "location": LOCATION, "name": "ghcr", "spec": basic("ghcr.io", "u", "t1") }),
        ),
        ("pullSecret.get", at("acme", "ghcr")),
        ("pullSecret.list", json!({})),
        (
            "pullSecret.create",
            json!({ "project": "acme", "location": LOCATION, "name": "ghcr", "spec": basic("ghcr.io", "u", "t2") }),
        ),
        (
            "image.resolve",
            json!({ "project": "acme", "location": LOCATION, "image": "ghcr.io/acme/api" }),
        ),
        (
            "token.create",
            json!({ "name": "ci", "project": "acme", "role": "owner" }),
        ),
        ("pullSecret.delete", at("acme", "ghcr")),
    ];
    let mut mutations = Vec::new();
    let mut owner_secret = String::new();
    for (method, body) in &steps {
        let reply = fx.call_with(method, admin, &cli, body).await;
        let result = reply.ok();
        if *method == "token.create" {
            owner_secret = result["secret"].as_str().expect("secret").to_owned();
        }
        let info = METHODS
            .iter()
            .find(|m| m.name == *method)
            .expect("known method");
        if info.mutates {
            mutations.push(*method);
        }
    }
    assert_eq!(
        fx.snapshot().await.audit.len(),
        before + mutations.len(),
        "reads are not audited"
    );

    let reply = fx.call("audit.list", admin, json!({ "limit": 1000 })).await;
    let events = reply.ok()["items"].as_array().expect("items").clone();
    let newest: Vec<&Value> = events.iter().take(mutations.len()).collect();
    let actions: Vec<&str> = newest
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, mutations, "newest first, one per mutation");
    for event in &newest {
        assert_eq!(event["actor"], fx.admin_id.as_str(), "{event}");
        assert_eq!(event["channel"], "cli", "{event}");
        assert_eq!(event["outcome"], "ok", "{event}");
        assert!(
            event["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{event}"
        );
    }
    let rotation = newest
        .iter()
        .find(|e| e["action"] == "pullSecret.create" && e["detail"]["revision"] == 2)
        .expect("the rotation is audited");
    assert_eq!(rotation["detail"]["rotated"], true);
    assert_eq!(rotation["target"], format!("acme/{LOCATION}/ghcr"));

    // A project's owner reads that project's events only.
    let scoped = fx.call("audit.list", &owner_secret, json!({})).await;
    let scoped = scoped.ok()["items"].as_array().expect("items").clone();
    assert!(!scoped.is_empty());
    assert!(scoped.iter().all(|e| e["project"] == "acme"), "{scoped:?}");
    assert!(!scoped.iter().any(|e| e["action"] == "location.create"));
}

#[tokio::test]
async fn a_project_with_pull_secrets_cannot_be_deleted() {
    let fx = acme().await;
    let owner = fx.create_token("owner", Some("acme")).await;
    fx.create_pull_secret(&owner.secret, "acme", "ghcr", basic("ghcr.io", "u", "t"))
        .await;
    let refused = fx
        .call("project.delete", &owner.secret, json!({ "name": "acme" }))
        .await;
    refused.expect_err(409, "in_use");
    fx.call("project.get", &fx.admin, json!({ "name": "acme" }))
        .await
        .ok();

    fx.call("pullSecret.delete", &owner.secret, at("acme", "ghcr"))
        .await
        .ok();
    fx.call("project.delete", &owner.secret, json!({ "name": "acme" }))
        .await
        .ok();
    fx.call("project.get", &fx.admin, json!({ "name": "acme" }))
        .await
        .expect_err(404, "not_found");
    // Deleting the project revoked its tokens.
    fx.call("registry.kinds", &owner.secret, json!({}))
        .await
        .expect_err(401, "token_revoked");
}

#[tokio::test]
async fn json_bodies_labelled_json_unlabelled_or_as_curl_forms_are_accepted() {
    let fx = Fixture::new().await;
    // A media type's type, subtype and parameter names are case-insensitive (RFC 9110 §8.3.1).
    for content_type in [
        None,
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("Application/JSON"),
        // What `curl -d '{…}'` sends without -H: the deploy platform's documented calls.
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = Request::post("/registry.kinds")
            .header("authorization", format!("Bearer {}", fx.admin));
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let reply = fx
            .send(request.body(Body::from("{}")).expect("request"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{content_type:?}: {}",
            reply.raw
        );
    }
}

#[tokio::test]
async fn bearer_auth_scheme_is_case_insensitive() {
    let fx = Fixture::new().await;
    // The authentication scheme is a case-insensitive token (RFC 9110 §11.1).
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let request = Request::post("/registry.kinds")
            .header("authorization", format!("{scheme} {}", fx.admin))
            .body(Body::empty())
            .expect("request");
        let reply = fx.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}: {}", reply.raw);
    }
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let fx = Fixture::new().await;
    let health = fx.get("/healthz").await;
    assert_eq!(
        (health.status, &health.body),
        (StatusCode::OK, &json!({ "ok": true }))
    );
    let ready = fx.get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["ok"], &ready.body["role"]),
        (StatusCode::OK, &json!(true), &json!("leader")),
        "a server without an election leads its own work: {}",
        ready.body
    );
    assert!(ready.body["server"].as_str().unwrap().starts_with("srv_"));

    fx.call("registry.kinds", &fx.admin, json!({})).await.ok();
    fx.call(
        "pullSecret.get",
        &fx.admin,
        json!({ "id": "ps_0000000000000000" }),
    )
    .await
    .expect_err(404, "not_found");
    let metrics = fx.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    for line in [
        "# TYPE regcred_rpc_requests_total counter",
        r#"regcred_rpc_requests_total{method="registry.kinds",code="ok"} 1"#,
        r#"regcred_rpc_requests_total{method="pullSecret.get",code="not_found"} 1"#,
    ] {
        assert!(
            metrics.raw.lines().any(|l| l == line),
            "missing {line:?} in:\n{}",
            metrics.raw
        );
    }

    let openapi = fx.get("/openapi.json").await;
    assert_eq!(openapi.status, StatusCode::OK);
    let document: Value = serde_json::from_str(&openapi.raw).expect("/openapi.json is JSON");
    assert!(document["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = document["paths"].as_object().expect("paths");
    for method in METHODS {
        let post = &paths[&format!("/{}", method.name)]["post"];
        assert_eq!(post["operationId"], method.name, "{}", method.name);
    }
    assert_eq!(paths.len(), METHODS.len(), "no path without a method");
}

#[tokio::test]
async fn gcr_and_ecr_pull_secrets_keep_their_parameters() {
    let fx = acme().await;
    let gcr = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "gcr",
            json!({ "server": "eu.gcr.io", "serviceAccountKey": service_account_key("k") }),
        )
        .await;
    assert_eq!(gcr["kind"], "gcr");
    assert_eq!(
        gcr["username"], "puller@acme-prod.iam.gserviceaccount.com",
        "the key's client_email"
    );
    let ecr = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "ecr",
            json!({ "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s" }),
        )
        .await;
    assert_eq!(ecr["kind"], "ecr");
    assert_eq!(
        ecr["params"],
        json!({ "region": "eu-west-1", "accessKeyId": "AKIAEXAMPLE", "registryId": "123456789012" }),
        "region and registry id are implied by the server"
    );
}

/// A Kubernetes location whose namespaces are not per project (a template or selector without
/// `{project}`) puts every project's Secrets where every project's pods can use them: it serves
/// one project, and another project's pull secret or deployment there is refused with
/// `location_taken`, which names no one.
#[tokio::test]
async fn a_location_whose_namespaces_are_shared_serves_one_project() {
    let fx = acme().await;
    fx.create_project("globex").await;
    for (name, spec) in [
        (
            "shared.template",
            json!({ "inCluster": true, "namespaceTemplate": "apps" }),
        ),
        (
            "shared.selector",
            json!({ "inCluster": true, "namespaceSelector": "team=apps" }),
        ),
    ] {
        fx.call(
            "location.create",
            &fx.admin,
            json!({ "name": name, "kind": "kubernetes", "spec": spec }),
        )
        .await
        .ok();
        let create = |project: &str| json!({ "project": project, "location": name, "name": "reg", "spec": basic("ghcr.io", "u", "p") });
        fx.call("pullSecret.create", &fx.admin, create("acme"))
            .await
            .ok();
        let refused = fx
            .call("pullSecret.create", &fx.admin, create("globex"))
            .await;
        let error = refused.expect_err(409, "location_taken");
        assert!(!error.to_string().contains("acme"), "{error}");
        let deploy = fx
            .call(
                "deployment.deploy",
                &fx.admin,
                json!({ "project": "globex", "location": name, "name": "web", "image": "nginx", "noVerify": true }),
            )
            .await;
        deploy.expect_err(409, "location_taken");
    }
    // The default template is per project: both projects deliver to LOCATION.
    for project in ["acme", "globex"] {
        fx.call(
            "pullSecret.create",
            &fx.admin,
            json!({ "project": project, "location": LOCATION, "name": "reg", "spec": basic("ghcr.io", "u", "p") }),
        )
        .await
        .ok();
    }
}

/// `pullSecret.render` checked a Secret name against 253 characters and then against the
/// 63-character location grammar, refusing valid Secret names, and echoed the name it refused.
/// Each Kubernetes name is now checked by the grammar of what it names: the Secret's as a
/// DNS-1123 subdomain (up to 253), the namespace's as a DNS-1123 label.
#[tokio::test]
async fn render_checks_kubernetes_names_by_their_own_grammar() {
    let fx = acme().await;
    fx.create_pull_secret(&fx.admin, "acme", "ghcr", basic("ghcr.io", "u", "pw"))
        .await;
    let render = |secret_name: &str, namespace: &str| {
        json!({ "project": "acme", "location": LOCATION, "names": ["ghcr"],
                "format": "k8s-secret-json", "secretName": secret_name, "namespace": namespace })
    };
    let long = format!("{}.{}", "a".repeat(63), "b".repeat(100));
    let reply = fx
        .call("pullSecret.render", &fx.admin, render(&long, "team-a"))
        .await;
    let content: Value =
        serde_json::from_str(reply.ok()["content"].as_str().expect("content")).expect("JSON");
    assert_eq!(content["metadata"]["name"], long.as_str());
    for (secret_name, namespace, field) in [
        ("Echo_Name1", "team-a", "secretName"),
        ("ok", "echo.ns1", "namespace"),
    ] {
        let refused = fx
            .call(
                "pullSecret.render",
                &fx.admin,
                render(secret_name, namespace),
            )
            .await;
        let error = refused.expect_err(400, "invalid_name");
        assert_eq!(error["items"][0]["field"], field, "{error}");
        assert!(
            !refused.raw.to_lowercase().contains("echo"),
            "{}",
            refused.raw
        );
    }
}

/// Calls a paged list method page by page (`limit` each) from `body`, running `between` after
/// every page but the last; answers every page's items.
async fn walk_pages(
    fx: &Fixture,
    method: &str,
    body: Value,
    limit: u32,
    mut between: impl FnMut(usize) -> Option<Value>,
) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = body.clone();
        request["limit"] = json!(limit);
        if let Some(token) = token.take() {
            request["pageToken"] = json!(token);
        }
        let reply = fx.call(method, &fx.admin, request).await;
        let answer = reply.ok();
        let items = answer["items"].as_array().expect("items").clone();
        assert!(
            items.len() <= limit as usize,
            "{method}: a page over its limit"
        );
        pages.push(items);
        match answer.get("nextPageToken") {
            None => return pages,
            Some(next) => token = Some(next.as_str().expect("a string token").to_owned()),
        }
        if let Some(create) = between(pages.len()) {
            let spec = create["spec"].clone();
            let name = create["name"].as_str().expect("name").to_owned();
            fx.create_pull_secret(&fx.admin, "acme", &name, spec).await;
        }
        assert!(pages.len() < 100, "{method} never ends");
    }
}

/// `pullSecret.list` in pages: every item exactly once, in (project, location, name) order, the
/// last page without a token; an item created between pages after the current position shows
/// up, one created before it does not (and shifts nothing).
#[tokio::test]
async fn pull_secret_list_pages_every_item_once_in_order() {
    let fx = acme().await;
    for i in [3, 1, 7, 5, 9, 2, 8] {
        fx.create_pull_secret(
            &fx.admin,
            "acme",
            &format!("ps-{i}"),
            basic(&format!("r{i}.example.com"), "bot", "pw"),
        )
        .await;
    }
    let whole = fx
        .call("pullSecret.list", &fx.admin, json!({ "project": "acme" }))
        .await;
    let whole = whole.ok().clone();
    assert!(whole.get("nextPageToken").is_none(), "one page holds all");
    for limit in [1, 2, 3, 7] {
        let pages = walk_pages(
            &fx,
            "pullSecret.list",
            json!({ "project": "acme" }),
            limit,
            |_| None,
        )
        .await;
        let flat: Vec<Value> = pages.into_iter().flatten().collect();
        assert_eq!(Value::Array(flat), whole["items"], "pages of {limit}");
    }

    // After the first page (ps-1, ps-2, ps-3) ps-6 is created: it is yet to come, so it shows.
    // After the second, ps-0: it sorts before where the walk is, so it does not (and shifts
    // nothing, as an offset would).
    let pages = walk_pages(&fx, "pullSecret.list", json!({}), 3, |n| match n {
        1 => Some(json!({ "name": "ps-6", "spec": basic("r6.example.com", "bot", "pw") })),
        2 => Some(json!({ "name": "ps-0", "spec": basic("r0.example.com", "bot", "pw") })),
        _ => None,
    })
    .await;
    let listed: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.iter().map(|i| i["name"].as_str().unwrap()).collect())
        .collect();
    assert_eq!(
        listed,
        [
            vec!["ps-1", "ps-2", "ps-3"],
            vec!["ps-5", "ps-6", "ps-7"],
            vec!["ps-8", "ps-9"],
        ]
    );
    let all = fx.call("pullSecret.list", &fx.admin, json!({})).await;
    assert_eq!(
        names(&all.ok()["items"]),
        ["ps-0", "ps-1", "ps-2", "ps-3", "ps-5", "ps-6", "ps-7", "ps-8", "ps-9"]
    );
}

/// `limit` outside 1..=1000 and a `pageToken` that is not one (or is another list's, or another
/// filter's) are `invalid_value` on their field, on every list that pages.
#[tokio::test]
async fn paged_lists_refuse_bad_limits_and_tokens() {
    let fx = acme().await;
    for i in 0..3 {
        fx.create_pull_secret(
            &fx.admin,
            "acme",
            &format!("ps-{i}"),
            basic(&format!("r{i}.example.com"), "bot", "pw"),
        )
        .await;
    }
    for method in ["pullSecret.list", "deployment.list", "audit.list"] {
        for limit in [json!(0), json!(1001)] {
            let reply = fx.call(method, &fx.admin, json!({ "limit": limit })).await;
            let err = reply.expect_err(400, "invalid_value");
            assert_eq!(err["items"][0]["field"], "limit", "{method} {limit}");
        }
        // The bounds themselves are accepted.
        for limit in [1, 1000] {
            let reply = fx.call(method, &fx.admin, json!({ "limit": limit })).await;
            let items = reply.ok()["items"].as_array().expect("items").len();
            assert!(items <= limit, "{method} limit {limit}: {items} items");
        }
        for token in ["not a token", "e30", "eyJsaXN0Ijoibm9uZSJ9"] {
            let reply = fx
                .call(method, &fx.admin, json!({ "pageToken": token }))
                .await;
            let err = reply.expect_err(400, "invalid_value");
            assert_eq!(err["items"][0]["field"], "pageToken", "{method} {token}");
        }
    }
    // A pull-secret token is refused by the other lists, and with other filters.
    let first = fx
        .call(
            "pullSecret.list",
            &fx.admin,
            json!({ "project": "acme", "limit": 1 }),
        )
        .await;
    let token = first.ok()["nextPageToken"]
        .as_str()
        .expect("a token")
        .to_owned();
    for (method, body) in [
        ("deployment.list", json!({ "pageToken": token })),
        ("audit.list", json!({ "pageToken": token })),
        (
            "pullSecret.list",
            json!({ "project": "other", "pageToken": token }),
        ),
        (
            "pullSecret.list",
            json!({ "location": "elsewhere", "pageToken": token }),
        ),
    ] {
        let reply = fx.call(method, &fx.admin, body.clone()).await;
        let err = reply.expect_err(400, "invalid_value");
        assert_eq!(err["items"][0]["field"], "pageToken", "{method} {body}");
    }
    let second = fx
        .call(
            "pullSecret.list",
            &fx.admin,
            json!({ "project": "acme", "location": LOCATION, "limit": 1, "pageToken": token }),
        )
        .await;
    assert_eq!(names(&second.ok()["items"]), ["ps-1"]);
}

/// `audit.list` in pages walks the log newest first, each event once; `before` still bounds it.
#[tokio::test]
async fn audit_list_pages_newest_first() {
    let fx = acme().await;
    for i in 0..5 {
        fx.create_pull_secret(
            &fx.admin,
            "acme",
            &format!("ps-{i}"),
            basic(&format!("r{i}.example.com"), "bot", "pw"),
        )
        .await;
    }
    let whole = fx
        .call("audit.list", &fx.admin, json!({ "limit": 1000 }))
        .await;
    let whole = whole.ok()["items"].as_array().unwrap().clone();
    assert!(whole.len() >= 7, "{whole:?}");
    let pages = walk_pages(&fx, "audit.list", json!({}), 2, |_| None).await;
    let flat: Vec<Value> = pages.into_iter().flatten().collect();
    assert_eq!(flat, whole);
    let before = whole[2]["id"].clone();
    let pages = walk_pages(&fx, "audit.list", json!({ "before": before }), 2, |_| None).await;
    let flat: Vec<Value> = pages.into_iter().flatten().collect();
    assert_eq!(flat, whole[3..]);
}

/// Retention deletes the events older than its days by the server's clock (more than one batch
/// of them), keeps the recent ones, and with 0 days keeps everything.
#[tokio::test]
async fn audit_retention_deletes_old_events_and_keeps_recent_ones() {
    use regcred_server::retention;
    let fx = acme().await;
    let day = 86_400_000_i64;
    let now = fx.state.refresher().clock.now_ms();
    let event = |time: i64| regcred_store::AuditRecord {
        id: 0,
        time,
        actor: "test".into(),
        channel: "api".into(),
        action: "credential.get".into(),
        project: Some("acme".into()),
        target: "t".into(),
        outcome: "ok".into(),
        detail: "{}".into(),
    };
    let old = i64::from(retention::BATCH) + 5;
    for i in 0..old {
        fx.store
            .append_audit(&event(now - 91 * day - i))
            .await
            .unwrap();
    }
    fx.store.append_audit(&event(now - 89 * day)).await.unwrap();
    let count = || async { fx.store.list_audit(None, None, u32::MAX).await.unwrap() };
    let before = count().await;

    // 0 days: the loop ends at once and nothing is deleted.
    retention::run(fx.state.clone(), 0, std::future::pending()).await;
    assert_eq!(retention::sweep(&fx.state, 0).await.unwrap(), 0);
    assert_eq!(count().await, before);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(retention::run(fx.state.clone(), 90, async {
        let _ = stopped.await;
    }));
    let expected: Vec<_> = before
        .iter()
        .filter(|e| e.time >= now - 90 * day)
        .cloned()
        .collect();
    assert_eq!(expected.len() as i64, before.len() as i64 - old);
    let mut left = count().await;
    for _ in 0..400 {
        if left.len() == expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        left = count().await;
    }
    assert_eq!(left, expected, "old events go, recent ones stay");
    let _ = stop.send(());
    task.await.unwrap();

    // Two days later by the server's clock, the 89-day-old event is past retention too.
    fx.state.refresher().clock.advance(2 * day);
    assert_eq!(retention::sweep(&fx.state, 90).await.unwrap(), 1);
    assert!(count().await.iter().all(|e| e.time > now - 88 * day));
}

/// `pullSecret.test` validates as `create` does — the same field errors, the kind inferred —
/// and stores and audits nothing; it is for those who may create (a viewer is refused), and a
/// minted kind cannot be checked before it is saved.
#[tokio::test]
async fn pull_secret_test_validates_like_create_and_stores_nothing() {
    let fx = acme().await;
    let before = fx.snapshot().await;
    let scope = |spec: Value| json!({ "project": "acme", "location": LOCATION, "spec": spec });

    let reply = fx
        .call(
            "pullSecret.test",
            &fx.admin,
            scope(json!({ "server": "ghcr.io", "token": "x" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = reply.err()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["field"].as_str())
        .collect();
    assert_eq!(fields, ["spec.username"], "{}", reply.raw);
    let create = fx
        .call(
            "pullSecret.create",
            &fx.admin,
            json!({ "project": "acme", "location": LOCATION, "name": "x",
                    "spec": { "server": "ghcr.io", "token": "x" } }),
        )
        .await;
    assert_eq!(
        create.err()["items"],
        reply.err()["items"],
        "the same errors as create"
    );

    let ok = fx
        .call(
            "pullSecret.test",
            &fx.admin,
            scope(json!({ "server": "https://ghcr.io/", "username": "u", "token": "s3cret" })),
        )
        .await;
    let result = ok.ok();
    assert_eq!(result["kind"], "ghcr");
    assert_eq!(result["server"], "ghcr.io");
    assert!(result.get("verification").is_none());
    assert!(!ok.raw.contains("s3cret"));

    // A minted kind is exchanged with its provider for the check; this fixture's ECR endpoint is
    // a closed port, so the exchange fails and the check cannot run (tests/ecr_refresh.rs tests
    // a real exchange against moto).
    let minted = fx
        .call(
            "pullSecret.test",
            &fx.admin,
            json!({ "project": "acme", "location": LOCATION, "check": true, "spec": {
                "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s" } }),
        )
        .await;
    assert_eq!(minted.code(), "not_verifiable", "{}", minted.raw);

    let viewer = fx.create_token("viewer", Some("acme")).await;
    let before_viewer = fx.snapshot().await;
    let refused = fx
        .call(
            "pullSecret.test",
            &viewer.secret,
            scope(json!({ "server": "ghcr.io", "username": "u", "token": "t" })),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let after = fx.snapshot().await;
    assert_eq!(after.pull_secrets.len(), before.pull_secrets.len());
    assert_eq!(
        after.audit.len(),
        before_viewer.audit.len(),
        "nothing audited"
    );
}

/// `keepSecret`: a rotation that leaves the secret out keeps the stored one (same fingerprint,
/// next revision) while the rest of the spec changes; it is refused when the spec brings a
/// secret, when nothing exists to keep, when the pull secret is public, and when the kind or the
/// server would change — the secret never goes to another registry.
#[tokio::test]
async fn a_rotation_keeps_the_secret_for_the_same_kind_and_server_only() {
    let fx = acme().await;
    let first = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "app",
            basic("registry.example.com", "ci", "pw-1"),
        )
        .await;
    let keep = |name: &str, spec: Value| json!({ "project": "acme", "location": LOCATION, "name": name, "spec": spec, "keepSecret": true });
    let kept = fx
        .call(
            "pullSecret.create",
            &fx.admin,
            keep(
                "app",
                json!({"server": "registry.example.com", "username": "ci-2"}),
            ),
        )
        .await;
    let kept = &kept.ok()["pullSecret"];
    assert_eq!(kept["revision"], 2);
    assert_eq!(kept["username"], "ci-2");
    assert_eq!(kept["fingerprint"], first["fingerprint"], "the same secret");

    for (name, spec, status, code) in [
        (
            "app",
            json!({"server": "registry.example.com", "username": "ci", "password": "new"}),
            400,
            "conflicting_fields",
        ),
        (
            "app",
            json!({"server": "evil.example.com", "username": "ci"}),
            400,
            "conflicting_fields",
        ),
        (
            "app",
            json!({"server": "ghcr.io", "username": "ci"}),
            400,
            "conflicting_fields",
        ),
        (
            "missing",
            json!({"server": "registry.example.com", "username": "ci"}),
            400,
            "not_found",
        ),
    ] {
        let refused = fx
            .call("pullSecret.create", &fx.admin, keep(name, spec))
            .await;
        let error = refused.expect_err(status, code);
        assert_eq!(error["items"][0]["field"], "keepSecret", "{error}");
    }
    let unchanged = fx
        .call("pullSecret.get", &fx.admin, at("acme", "app"))
        .await;
    assert_eq!(unchanged.ok()["revision"], 2, "refusals write nothing");
    assert_eq!(unchanged.ok()["server"], "registry.example.com");

    // Test Connection of such a rotation: the kept secret fills the spec, under the same rules,
    // for those who may rotate; nothing is stored.
    let tested = fx
        .call(
            "pullSecret.test",
            &fx.admin,
            keep(
                "app",
                json!({"server": "registry.example.com", "username": "ci-3"}),
            ),
        )
        .await;
    assert_eq!(tested.ok()["username"], "ci-3");
    let moved = fx
        .call(
            "pullSecret.test",
            &fx.admin,
            keep(
                "app",
                json!({"server": "evil.example.com", "username": "ci"}),
            ),
        )
        .await;
    assert_eq!(
        moved.expect_err(400, "conflicting_fields")["items"][0]["field"],
        "keepSecret"
    );
    let mut unnamed = keep("app", json!({"server": "registry.example.com"}));
    unnamed.as_object_mut().expect("object").remove("name");
    let unnamed = fx.call("pullSecret.test", &fx.admin, unnamed).await;
    assert_eq!(
        unnamed.expect_err(400, "missing_field")["items"][0]["field"],
        "name"
    );
    let viewer = fx.create_token("viewer", Some("acme")).await;
    fx.call(
        "pullSecret.test",
        &viewer.secret,
        keep("app", json!({"server": "registry.example.com"})),
    )
    .await
    .expect_err(403, "forbidden");
    let still = fx
        .call("pullSecret.get", &fx.admin, at("acme", "app"))
        .await;
    assert_eq!(still.ok()["revision"], 2, "a test stores nothing");
}

/// Filters that lists apply as they read (`kind` of `pullSecret.list`; `action`, `outcome` and
/// `actor` of `audit.list`): followed page by page they give exactly the matching items, in
/// order, however the matches are spread over the stored rows.
#[tokio::test]
async fn filtered_lists_page_through_exactly_the_matches() {
    let fx = acme().await;
    let mut ghcr = Vec::new();
    for i in 0..12 {
        let name = format!("p{i:02}");
        let spec = match i % 4 {
            0 => {
                ghcr.push(name.clone());
                json!({ "server": format!("ghcr.io/team{i}"), "username": "u", "token": "t" })
            }
            _ => basic(&format!("r{i}.example.com"), "u", "p"),
        };
        fx.create_pull_secret(&fx.admin, "acme", &name, spec).await;
    }
    // Path scopes (`ghcr.io/teamN`) let several `ghcr` pull secrets share the location.
    let follow = |method: &'static str, filter: Value| {
        let fx = &fx;
        async move {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..50 {
                let mut body = filter.clone();
                body["limit"] = json!(2);
                if let Some(t) = token.take() {
                    body["pageToken"] = json!(t);
                }
                let page = fx.call(method, &fx.admin, body).await;
                let page = page.ok().clone();
                seen.extend(page["items"].as_array().expect("items").iter().cloned());
                match page["nextPageToken"].as_str() {
                    Some(t) => token = Some(t.to_owned()),
                    None => return seen,
                }
            }
            panic!("{method} did not end");
        }
    };
    let listed = follow(
        "pullSecret.list",
        json!({ "project": "acme", "kind": "ghcr" }),
    )
    .await;
    let listed: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ghcr);
    fx.call(
        "pullSecret.list",
        &fx.admin,
        json!({ "project": "acme", "kind": "nope" }),
    )
    .await
    .expect_err(400, "invalid_kind");

    let creates = follow(
        "audit.list",
        json!({ "project": "acme", "action": "pullSecret.", "outcome": "ok" }),
    )
    .await;
    assert_eq!(creates.len(), 12, "{creates:?}");
    assert!(creates.iter().all(|e| e["action"] == "pullSecret.create"));
    let ids: Vec<i64> = creates.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let nobody = follow(
        "audit.list",
        json!({ "project": "acme", "actor": "tk_nobody" }),
    )
    .await;
    assert!(nobody.is_empty());
}
