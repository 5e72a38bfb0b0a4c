//! Project isolation through the CLI: an editor token of project `team-a` can work in `team-a`
//! but cannot list, get (by name or id), create (rotate), delete or render the pull secrets of
//! `team-b`, nor can a deployer token of `team-a` render them (exit code 5 each time), and `team-b`'s pull secret is unchanged afterwards (same
//! revision, fingerprint and update time, same rendered material).

mod fixture;

use fixture::{project_and_location, Server};

const L: &str = "local";

fn token(server: &Server, role: &str, project: &str) -> String {
    let out = server
        .run(&[
            "token",
            "create",
            "--name",
            &format!("{project}-{role}"),
            "--role",
            role,
            "--project",
            project,
        ])
        .ok()
        .json();
    assert_eq!(out["token"]["project"], project);
    assert_eq!(out["token"]["role"], role);
    out["secret"].as_str().expect("secret").to_owned()
}

fn create(
    server: &Server,
    token: Option<&str>,
    project: &str,
    name: &str,
    password: &str,
) -> fixture::Out {
    let mut args = Vec::new();
    if let Some(t) = token {
        args.extend(["--token", t]);
    }
    args.extend([
        "pullsecret",
        "create",
        "--project",
        project,
        "--location",
        L,
        "--name",
        name,
    ]);
    args.extend([
        "--server",
        "ghcr.io",
        "--username",
        project,
        "--password-stdin",
    ]);
    server.cli(&args).stdin(password).run()
}

#[test]
fn a_project_token_cannot_touch_another_projects_secrets() {
    let server = Server::start();
    project_and_location(&server, "team-a", L);
    project_and_location(&server, "team-b", L);
    let token_a = token(&server, "editor", "team-a");
    let token_b = token(&server, "editor", "team-b");
    // Editors manage pull secrets but may not release them (README: owner, deployer and puller
    // render); team-a's deployer shows that rendering, too, stops at the project boundary.
    let deployer_a = token(&server, "deployer", "team-a");

    let b_secret = create(
        &server,
        Some(&token_b),
        "team-b",
        "shared-name",
        "b-password",
    )
    .ok()
    .json();
    let b_id = b_secret["pullSecret"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let render_b = [
        "render",
        "docker-config",
        "--from-pull-secret",
        "shared-name",
        "--project",
        "team-b",
        "--location",
        L,
    ];
    let b_material = server.run(&render_b).ok().stdout.clone();
    let b_before = server
        .run(&["pullsecret", "get", "--id", &b_id])
        .ok()
        .json();

    // team-a's token works in team-a, including a pull secret with the same name as b's.
    let a_secret = create(
        &server,
        Some(&token_a),
        "team-a",
        "shared-name",
        "a-password",
    )
    .ok()
    .json();
    assert_ne!(a_secret["pullSecret"]["id"], b_id.as_str());
    let as_a = |args: &[&str]| {
        let mut all = vec!["--token", token_a.as_str()];
        all.extend(args);
        server.run(&all)
    };
    as_a(&[
        "pullsecret",
        "get",
        "shared-name",
        "--project",
        "team-a",
        "--location",
        L,
    ])
    .ok();
    let render_a = [
        "render",
        "docker-config",
        "--from-pull-secret",
        "shared-name",
        "--project",
        "team-a",
        "--location",
        L,
    ];
    let mut as_deployer = vec!["--token", deployer_a.as_str()];
    as_deployer.extend(render_a);
    server.run(&as_deployer).ok();

    // …and nowhere else.
    as_a(&["pullsecret", "list", "--project", "team-b"]).code(5);
    as_a(&["pullsecret", "list", "--project", "team-b", "--location", L]).code(5);
    as_a(&[
        "pullsecret",
        "get",
        "shared-name",
        "--project",
        "team-b",
        "--location",
        L,
    ])
    .code(5);
    as_a(&["pullsecret", "get", "--id", &b_id]).code(5);
    create(
        &server,
        Some(&token_a),
        "team-b",
        "shared-name",
        "a-overwrites",
    )
    .code(5);
    create(&server, Some(&token_a), "team-b", "new-in-b", "a-creates").code(5);
    as_a(&[
        "pullsecret",
        "delete",
        "shared-name",
        "--project",
        "team-b",
        "--location",
        L,
    ])
    .code(5);
    as_a(&["pullsecret", "delete", "--id", &b_id]).code(5);
    let mut as_deployer = vec!["--token", deployer_a.as_str()];
    as_deployer.extend(render_b);
    server.run(&as_deployer).code(5);
    as_deployer[1] = token_a.as_str();
    server.run(&as_deployer).code(5);
    for format in ["k8s-secret", "auth-json"] {
        as_a(&[
            "render",
            format,
            "--from-pull-secret",
            "shared-name",
            "--project",
            "team-b",
            "--location",
            L,
        ])
        .code(5);
    }
    as_a(&[
        "token",
        "create",
        "--name",
        "escalate",
        "--role",
        "owner",
        "--project",
        "team-b",
    ])
    .code(5);

    // An unscoped list shows team-a's secrets only (or is refused).
    let unscoped = as_a(&["pullsecret", "list"]);
    if unscoped.code == Some(0) {
        let items = unscoped.json()["items"].clone();
        let projects: Vec<&str> = items
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["project"].as_str().expect("project"))
            .collect();
        assert_eq!(projects, ["team-a"], "{items}");
    } else {
        unscoped.code(5);
    }

    // team-b's pull secret is exactly as it was.
    let b_after = server
        .run(&["pullsecret", "get", "--id", &b_id])
        .ok()
        .json();
    // The delivery states are the background loop's, written on its own schedule: the record
    // is compared without them.
    let record = |mut v: serde_json::Value| {
        v.as_object_mut().map(|o| o.remove("deliveries"));
        v
    };
    assert_eq!(record(b_after.clone()), record(b_before));
    assert_eq!(b_after["revision"], 1);
    server
        .run(&[
            "pullsecret",
            "get",
            "new-in-b",
            "--project",
            "team-b",
            "--location",
            L,
        ])
        .code(4);
    assert_eq!(server.run(&render_b).ok().stdout, b_material);
}
