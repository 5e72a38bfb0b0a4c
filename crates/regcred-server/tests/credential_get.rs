//! `credential.get` through the router: runtimes receive exactly the credentials that apply (by
//! image in the kubelet's order, or by registry server as Docker asks), only with a role that may
//! release material, only in their project, and every release is audited without the secret.

mod fixture;

use fixture::{basic, Fixture, LOCATION};
use serde_json::json;

async fn world() -> Fixture {
    let f = Fixture::new().await;
    for p in ["acme", "other"] {
        f.create_project(p).await;
    }
    f.create_location(LOCATION).await;
    let admin = f.admin.clone();
    f.create_pull_secret(
        &admin,
        "acme",
        "ghcr",
        basic("ghcr.io", "acme-bot", "ghcr-canary-1"),
    )
    .await;
    f.create_pull_secret(
        &admin,
        "acme",
        "team",
        basic("ghcr.io/acme", "team-bot", "ghcr-canary-2"),
    )
    .await;
    f.create_pull_secret(
        &admin,
        "acme",
        "hub",
        basic("docker.io", "hubuser", "hub-canary-3"),
    )
    .await;
    f
}

#[tokio::test]
async fn runtimes_get_exactly_what_applies() {
    let f = world().await;
    let puller = f.create_token("puller", Some("acme")).await;

    let by_image = f
        .call(
            "credential.get",
            &puller.secret,
            json!({"project": "acme", "location": LOCATION, "image": "ghcr.io/acme/api:v1"}),
        )
        .await;
    let entries = by_image.ok()["entries"].clone();
    let keys: Vec<&str> = entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["key"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        ["ghcr.io/acme", "ghcr.io"],
        "kubelet order: most specific first"
    );
    assert_eq!(entries[0]["password"], "ghcr-canary-2");
    assert!(by_image.ok()["cacheSeconds"]
        .as_u64()
        .is_some_and(|s| s > 0));

    let by_server = f
        .call("credential.get", &puller.secret, json!({"project": "acme", "location": LOCATION, "server": "https://index.docker.io/v1/"}))
        .await;
    let entries = by_server.ok()["entries"].clone();
    assert_eq!(entries.as_array().map(Vec::len), Some(1));
    assert_eq!(entries[0]["key"], "https://index.docker.io/v1/");
    assert_eq!(entries[0]["username"], "hubuser");

    f.call(
        "credential.get",
        &puller.secret,
        json!({"project": "acme", "location": LOCATION, "server": "quay.io"}),
    )
    .await
    .expect_err(404, "no_credentials");
    // A wrong location is not "no credentials": a helper must not hide a misconfiguration.
    f.call(
        "credential.get",
        &puller.secret,
        json!({"project": "acme", "location": "nowhere", "server": "quay.io"}),
    )
    .await
    .expect_err(404, "not_found");
    f.call(
        "credential.get",
        &puller.secret,
        json!({"project": "acme", "location": LOCATION}),
    )
    .await
    .expect_err(400, "invalid_reference");

    // Every release is audited, without the secret.
    let audit = f
        .call("audit.list", &f.admin, json!({"project": "acme"}))
        .await;
    let audit = audit.ok().to_string();
    assert!(audit.contains("credential.get"));
    assert!(!audit.contains("canary"));
}

#[tokio::test]
async fn only_releasing_roles_of_the_project_get_credentials() {
    let f = world().await;
    let body = json!({"project": "acme", "location": LOCATION, "server": "ghcr.io"});
    for role in ["viewer", "editor"] {
        let t = f.create_token(role, Some("acme")).await;
        f.call("credential.get", &t.secret, body.clone())
            .await
            .expect_err(403, "forbidden");
    }
    for role in ["deployer", "owner"] {
        let t = f.create_token(role, Some("acme")).await;
        f.call("credential.get", &t.secret, body.clone()).await.ok();
    }
    let stranger = f.create_token("puller", Some("other")).await;
    let reply = f.call("credential.get", &stranger.secret, body).await;
    reply.expect_err(403, "forbidden");
    assert!(!reply.raw.contains("canary"));
}

/// Docker's `list` through `docker-credential-regcred` runs with the node's puller token; it was
/// refused because the helper read pull-secret metadata, which a puller may not.
#[tokio::test]
async fn credential_list_names_servers_and_usernames_for_every_role_including_puller() {
    let f = world().await;
    let admin = f.admin.clone();
    f.create_pull_secret(
        &admin,
        "other",
        "elsewhere",
        basic("quay.io", "other-bot", "other-canary-4"),
    )
    .await;
    let body = json!({"project": "acme", "location": LOCATION});
    let expected = json!({"items": [
        {"server": "ghcr.io", "username": "acme-bot"},
        {"server": "ghcr.io/acme", "username": "team-bot"},
        {"server": "https://index.docker.io/v1/", "username": "hubuser"},
    ]});
    for role in ["puller", "viewer", "editor", "deployer", "owner"] {
        let t = f.create_token(role, Some("acme")).await;
        let reply = f.call("credential.list", &t.secret, body.clone()).await;
        assert_eq!(reply.ok(), &expected, "{role}");
        assert!(!reply.raw.contains("canary"), "{role}: {}", reply.raw);
    }
    let puller = f.create_token("puller", Some("acme")).await;
    f.call(
        "credential.list",
        &puller.secret,
        json!({"project": "acme", "location": "nowhere"}),
    )
    .await
    .expect_err(404, "not_found");
    f.call(
        "credential.list",
        &puller.secret,
        json!({"project": "acme", "location": LOCATION, "server": "ghcr.io"}),
    )
    .await
    .expect_err(400, "unknown_field");

    let stranger = f.create_token("puller", Some("other")).await;
    let reply = f.call("credential.list", &stranger.secret, body).await;
    reply.expect_err(403, "forbidden");
    assert!(!reply.raw.contains("acme-bot"), "{}", reply.raw);

    // Listed and refused calls are audited, without any secret.
    let audit = f
        .call("audit.list", &f.admin, json!({"project": "acme"}))
        .await;
    let audit = audit.ok().to_string();
    assert!(audit.contains("credential.list"), "{audit}");
    assert!(audit.contains("denied"), "{audit}");
    assert!(!audit.contains("canary"));
}
