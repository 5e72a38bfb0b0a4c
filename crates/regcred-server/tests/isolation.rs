//! Projects are tenants: a token scoped to project `alpha`, even with the strongest project role,
//! can neither see nor change project `bravo`'s pull secrets — every read, resolve, create,
//! rotate, delete and render aimed at `bravo` is refused with 403 `forbidden`, and afterwards
//! `bravo`'s pull secrets are exactly as they were (same revision, fingerprint and ciphertext).

mod fixture;

use fixture::{basic, Fixture, Issued, LOCATION};
use regcred_store::Store;
use serde_json::{json, Value};

struct Tenants {
    fx: Fixture,
    alpha: Issued,
    bravo: Issued,
    /// Ids of bravo's pull secrets, by name.
    bravo_ids: Vec<(String, String)>,
}

async fn tenants() -> Tenants {
    let fx = Fixture::new().await;
    fx.create_location(LOCATION).await;
    let mut tokens = Vec::new();
    let mut bravo_ids = Vec::new();
    for project in ["alpha", "bravo"] {
        fx.create_project(project).await;
        let owner = fx.create_token("owner", Some(project)).await;
        for (name, spec) in [
            ("ghcr", basic("ghcr.io", &format!("{project}-ci"), "t")),
            ("hub", basic("docker.io", project, "p")),
        ] {
            let created = fx
                .create_pull_secret(&owner.secret, project, name, spec)
                .await;
            if project == "bravo" {
                bravo_ids.push((
                    name.to_owned(),
                    created["id"].as_str().expect("id").to_owned(),
                ));
            }
        }
        tokens.push(owner);
    }
    let bravo = tokens.pop().expect("bravo");
    let alpha = tokens.pop().expect("alpha");
    Tenants {
        fx,
        alpha,
        bravo,
        bravo_ids,
    }
}

fn bravo(name: &str) -> Value {
    json!({ "project": "bravo", "location": LOCATION, "name": name })
}

#[tokio::test]
async fn a_project_token_lists_only_its_own_project() {
    let t = tenants().await;
    for (token, project) in [(&t.alpha.secret, "alpha"), (&t.bravo.secret, "bravo")] {
        let reply = t.fx.call("pullSecret.list", token, json!({})).await;
        let items = reply.ok()["items"].as_array().expect("items").clone();
        assert_eq!(items.len(), 2, "{project}");
        assert!(
            items.iter().all(|i| i["project"] == project),
            "{project}: {items:?}"
        );
        let projects = t.fx.call("project.list", token, json!({})).await;
        assert_eq!(
            projects.ok()["items"].as_array().map(Vec::len),
            Some(1),
            "{project}"
        );
        assert_eq!(projects.ok()["items"][0]["name"], project);
    }
    let all = t.fx.call("pullSecret.list", &t.fx.admin, json!({})).await;
    assert_eq!(
        all.ok()["items"].as_array().map(Vec::len),
        Some(4),
        "the admin sees both"
    );
}

#[tokio::test]
async fn a_project_token_can_neither_see_nor_change_another_project() {
    let t = tenants().await;
    let (ghcr_id, hub_id) = (&t.bravo_ids[0].1, &t.bravo_ids[1].1);
    let before = t.fx.snapshot().await;
    let attempts: Vec<(&str, &str, Value)> = vec![
        ("get by name", "pullSecret.get", bravo("ghcr")),
        ("get by id", "pullSecret.get", json!({ "id": ghcr_id })),
        ("list", "pullSecret.list", json!({ "project": "bravo" })),
        (
            "list one location",
            "pullSecret.list",
            json!({ "project": "bravo", "location": LOCATION }),
        ),
        (
            "resolve",
            "image.resolve",
            json!({ "project": "bravo", "location": LOCATION, "image": "ghcr.io/bravo/api:v1" }),
        ),
        ("project.get", "project.get", json!({ "name": "bravo" })),
        ("token.list", "token.list", json!({ "project": "bravo" })),
        ("audit.list", "audit.list", json!({ "project": "bravo" })),
        (
            "create",
            "pullSecret.create",
            json!({ "project": "bravo", "location": LOCATION, "name": "planted", "spec": basic("ghcr.io", "x", "y") }),
        ),
        (
            "rotate",
            "pullSecret.create",
            json!({ "project": "bravo", "location": LOCATION, "name": "ghcr", "spec": basic("ghcr.io", "x", "y") }),
        ),
        ("delete by name", "pullSecret.delete", bravo("ghcr")),
        (
            "force delete by name",
            "pullSecret.delete",
            json!({ "project": "bravo", "location": LOCATION, "name": "hub", "force": true }),
        ),
        (
            "delete by id",
            "pullSecret.delete",
            json!({ "id": ghcr_id }),
        ),
        (
            "force delete by id",
            "pullSecret.delete",
            json!({ "id": hub_id, "force": true }),
        ),
        (
            "render",
            "pullSecret.render",
            json!({ "project": "bravo", "location": LOCATION, "names": ["ghcr"], "format": "dockerconfigjson" }),
        ),
        (
            "render as a Secret",
            "pullSecret.render",
            json!({ "project": "bravo", "location": LOCATION, "names": ["ghcr", "hub"], "format": "k8s-secret-yaml" }),
        ),
        (
            "project.delete",
            "project.delete",
            json!({ "name": "bravo" }),
        ),
        (
            "token.create",
            "token.create",
            json!({ "name": "mole", "project": "bravo", "role": "owner" }),
        ),
        ("token.revoke", "token.revoke", json!({ "id": t.bravo.id })),
    ];
    for (what, method, body) in &attempts {
        let reply = t.fx.call(method, &t.alpha.secret, body.clone()).await;
        let error = reply.expect_err(403, "forbidden");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("bravo")),
            "{what}: the refusal names the project: {error}"
        );
        assert!(
            !reply.raw.contains("bravo-ci"),
            "{what}: nothing of bravo's leaks: {}",
            reply.raw
        );
    }

    let after = t.fx.snapshot().await;
    assert_eq!(
        after.without_audit(),
        before.without_audit(),
        "nothing changed"
    );
    let bravo_now =
        t.fx.store
            .list_pull_secrets(Some("bravo"), None)
            .await
            .expect("list");
    let bravo_before: Vec<_> = before
        .pull_secrets
        .iter()
        .map(|(r, _)| r.clone())
        .filter(|r| r.project == "bravo")
        .collect();
    assert_eq!(
        bravo_now, bravo_before,
        "bravo's pull secrets are unchanged"
    );
    for event in after.new_audit_since(&before) {
        assert_eq!(
            (event.outcome.as_str(), event.actor.as_str()),
            ("denied", t.alpha.id.as_str()),
            "{event:#?}"
        );
    }

    // The barrier is the project, not a broken token: bravo's own owner still gets in.
    let own =
        t.fx.call("pullSecret.get", &t.bravo.secret, bravo("ghcr"))
            .await;
    assert_eq!(own.ok()["revision"], 1);
}
