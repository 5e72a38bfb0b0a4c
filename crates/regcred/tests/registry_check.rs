//! "Test connection" end to end: the real `regcred serve`, the CLI, the real distribution
//! registry (Debian `docker-registry`) in htpasswd mode over plain HTTP and in token mode over
//! TLS with a test CA, and the real `skopeo` as the reference client. Proves that
//! `pullsecret create --verify`, `pullsecret verify` and `image check` classify what really
//! happens, keep the result on the pull secret, exit 8 when a check fails, count round trips (2 for Basic
//! registries, 3 for token registries, 1 once cached), and that rendered `auth.json` / `config.json` files work with skopeo.

mod fixture;

use fixture::Server;
use regcred_testkit::{
    push_test_image, Auth, Grant, Registry, RegistryOptions, Skopeo, SkopeoAuth, TestCa, TlsMode,
    TokenServer, TokenServerOptions,
};
use serde_json::Value;

const CHECK_FAILED: i32 = 8;

fn setup(server: &Server, location_kind: &[&str]) {
    server.run(&["project", "create", "acme"]).ok();
    let mut args = vec!["location", "create", "here"];
    args.extend(location_kind);
    server.run(&args).ok();
}

fn scope() -> [&'static str; 4] {
    ["--project", "acme", "--location", "here"]
}

/// `pullsecret create` with the password on stdin and extra flags; returns the output.
fn create(
    server: &Server,
    name: &str,
    registry: &str,
    user: &str,
    password: &str,
    extra: &[&str],
) -> fixture::Out {
    let mut args = vec![
        "pullsecret",
        "create",
        "--name",
        name,
        "--server",
        registry,
        "--username",
        user,
        "--password-stdin",
        "-o",
        "json",
    ];
    args.extend(scope());
    args.extend(extra);
    server.cli(&args).stdin(password).run()
}

fn outcome(v: &Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_registry_over_plain_http() {
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("ada", "ada-pw:&<x>"), ("bob", "bob-pw")]),
        tls: None,
    })
    .await;
    let host = registry.host();
    let digest = push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("ada", "ada-pw:&<x>")),
        TlsMode::Insecure,
    )
    .await;
    let image = registry.image("team/app", "v1");

    let server = Server::start_with(&["--insecure-registry", &host]);
    // The auth file regcred delivers to stays inside the test's own directory.
    let authfile = server.scratch("delivered-auth.json").display().to_string();
    setup(&server, &["--kind", "docker", "--path", &authfile]);

    // Create with a pull check: ok in 2 round trips (Basic, cold), kept on the pull secret.
    let created = create(
        &server,
        "reg",
        &host,
        "ada",
        "ada-pw:&<x>",
        &["--image", &image],
    )
    .ok()
    .json();
    let v = &created["verification"];
    assert_eq!(outcome(v), "ok", "{created:#}");
    assert_eq!(v["roundTrips"], 2, "{created:#}");
    assert_eq!(
        v["image"].as_str(),
        Some(format!("{host}/team/app:v1").as_str())
    );
    let got = server
        .run(&[&["pullsecret", "get", "reg"][..], &scope()].concat())
        .ok()
        .json();
    assert_eq!(outcome(&got["verification"]), "ok");
    assert_eq!(got["verification"]["revision"], 1);

    // A registry-level check (no image) and a missing tag / repository.
    let login = server
        .run(&[&["pullsecret", "verify", "reg", "-o", "json"][..], &scope()].concat())
        .ok()
        .json();
    assert_eq!(outcome(&login["verification"]), "ok", "{login:#}");
    for missing in [
        registry.image("team/app", "nope"),
        registry.image("team/absent", "v1"),
    ] {
        let out = server.run(
            &[
                &[
                    "pullsecret",
                    "verify",
                    "reg",
                    "--image",
                    &missing,
                    "-o",
                    "json",
                ][..],
                &scope(),
            ]
            .concat(),
        );
        out.code(CHECK_FAILED);
        assert_eq!(
            outcome(&out.json()["verification"]),
            "not_found",
            "{missing}: {}",
            out.stdout
        );
    }
    // An image on another registry is refused before any request.
    let other = server.run(
        &[
            &["pullsecret", "verify", "reg", "--image", "ghcr.io/x/y:1"][..],
            &scope(),
        ]
        .concat(),
    );
    other.code(3);
    assert!(other.stderr.contains("image_mismatch"), "{}", other.stderr);

    // Rendered auth.json and config.json work with skopeo against the real registry.
    let skopeo = Skopeo::new();
    for format in ["auth-json", "docker-config"] {
        let rendered = server
            .run(
                &[
                    &["render", format, "--from-pull-secret", "reg"][..],
                    &scope(),
                ]
                .concat(),
            )
            .ok()
            .stdout
            .clone();
        let file = server.scratch(&format!("{format}.json"));
        std::fs::write(&file, rendered).expect("write rendered auth file");
        let pulled = skopeo
            .inspect_raw(&image, SkopeoAuth::AuthFile(&file), TlsMode::Insecure)
            .await;
        assert!(pulled.success, "{format}: {}", pulled.stderr);
        assert_eq!(pulled.stdout_digest(), digest);
    }

    // Rotating to a wrong password: the stored check is reset, the new one is unauthorized,
    // the command exits 8 but the rotation is stored (revision 2).
    let rotated = create(&server, "reg", &host, "ada", "wrong", &["--verify"]);
    rotated.code(CHECK_FAILED);
    let rotated = rotated.json();
    assert_eq!(rotated["pullSecret"]["revision"], 2);
    assert_eq!(
        outcome(&rotated["verification"]),
        "unauthorized",
        "{rotated:#}"
    );
    assert!(!rotated["verification"]["hint"]
        .as_str()
        .unwrap_or_default()
        .is_empty());

    // regcred says ok exactly when skopeo can pull, for the same credentials and image.
    for (user, password) in [
        ("ada", "ada-pw:&<x>"),
        ("bob", "bob-pw"),
        ("ada", "wrong"),
        ("eve", "x"),
    ] {
        for img in [image.clone(), registry.image("team/app", "nope")] {
            // Scoped to the image's repository: the location already has `reg` for the host.
            create(
                &server,
                "agree",
                &format!("{host}/team"),
                user,
                password,
                &[],
            )
            .ok();
            let ours = server.run(
                &[
                    &[
                        "pullsecret",
                        "verify",
                        "agree",
                        "--image",
                        &img,
                        "-o",
                        "json",
                    ][..],
                    &scope(),
                ]
                .concat(),
            );
            let theirs = skopeo
                .inspect_raw(&img, SkopeoAuth::Creds(user, password), TlsMode::Insecure)
                .await;
            assert_eq!(
                ours.code == Some(0),
                theirs.success,
                "{user} {img}: regcred {} / skopeo {}",
                ours.stdout,
                theirs.stderr
            );
        }
    }

    // The registry stops: unreachable.
    let mut registry = registry;
    registry.stop();
    let down = server.run(
        &[
            &["pullsecret", "verify", "agree", "-o", "json"][..],
            &scope(),
        ]
        .concat(),
    );
    down.code(CHECK_FAILED);
    assert_eq!(
        outcome(&down.json()["verification"]),
        "unreachable",
        "{}",
        down.stdout
    );

    // Nothing of the passwords in the server's log.
    let log = server.log_text();
    for secret in ["ada-pw", "bob-pw"] {
        assert!(!log.contains(secret), "{secret} in the server log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_registry_over_tls() {
    let ca = TestCa::new();
    let tokens = TokenServer::start(TokenServerOptions {
        service: "registry.test".into(),
        issuer: "regcred-test-issuer".into(),
        grants: vec![
            Grant::new("alice", "alice-pw", "team/app", &["pull", "push"]),
            Grant::new("bob", "bob-pw", "other/thing", &["pull"]),
        ],
        // A token realm over plain HTTP would carry the password in the clear; regcred refuses it.
        tls: Some(&ca),
    });
    let registry = Registry::start(RegistryOptions {
        auth: Auth::token(&tokens),
        tls: Some(&ca),
    })
    .await;
    let host = registry.host();
    push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("alice", "alice-pw")),
        TlsMode::Ca(&ca),
    )
    .await;
    let image = registry.image("team/app", "v1");

    let ca_file = ca.ca_cert_path();
    let ca_file = ca_file.to_str().expect("utf-8 path");
    let server = Server::start_with(&["--registry-ca-file", ca_file]);
    setup(&server, &["--kind", "kubernetes", "--in-cluster"]);

    // Bearer, cold: 3 round trips; the same check again: 1 (challenge and token cached).
    let first = create(
        &server,
        "alice",
        &host,
        "alice",
        "alice-pw",
        &["--image", &image],
    )
    .ok()
    .json();
    assert_eq!(outcome(&first["verification"]), "ok", "{first:#}");
    assert_eq!(first["verification"]["roundTrips"], 3, "{first:#}");
    let again = server
        .run(
            &[
                &[
                    "pullsecret",
                    "verify",
                    "alice",
                    "--image",
                    &image,
                    "-o",
                    "json",
                ][..],
                &scope(),
            ]
            .concat(),
        )
        .ok()
        .json();
    assert_eq!(again["verification"]["roundTrips"], 1, "{again:#}");

    // Valid account without access to the repository: denied. Wrong password: unauthorized.
    let bob = create(&server, "bob", &host, "bob", "bob-pw", &["--image", &image]);
    bob.code(CHECK_FAILED);
    assert_eq!(
        outcome(&bob.json()["verification"]),
        "denied",
        "{}",
        bob.stdout
    );
    let wrong = create(
        &server,
        "wrong",
        &host,
        "alice",
        "nope",
        &["--image", &image],
    );
    wrong.code(CHECK_FAILED);
    assert_eq!(
        outcome(&wrong.json()["verification"]),
        "unauthorized",
        "{}",
        wrong.stdout
    );

    // image check follows the kubelet's order: the path-scoped key first (bob: denied), then
    // the host-wide one (alice: ok), which decides.
    for name in ["alice", "bob", "wrong"] {
        server
            .run(&[&["pullsecret", "delete", name][..], &scope()].concat())
            .ok();
    }
    create(
        &server,
        "scoped",
        &format!("{host}/team"),
        "bob",
        "bob-pw",
        &[],
    )
    .ok();
    create(&server, "wide", &host, "alice", "alice-pw", &[]).ok();
    let checked = server
        .run(&[&["image", "check", &image, "-o", "json"][..], &scope()].concat())
        .ok()
        .json();
    assert_eq!(checked["outcome"], "ok", "{checked:#}");
    assert_eq!(checked["pullSecret"], "wide", "{checked:#}");
    let tried: Vec<(&str, &str)> = checked["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["pullSecret"].as_str().unwrap_or("-"),
                outcome(&a["verification"]),
            )
        })
        .collect();
    assert_eq!(tried, [("scoped", "denied"), ("wide", "ok")], "{checked:#}");

    // Without the CA, the same registry is a TLS error.
    let untrusting = Server::start();
    setup(&untrusting, &["--kind", "kubernetes", "--in-cluster"]);
    let tls = create(
        &untrusting,
        "alice",
        &host,
        "alice",
        "alice-pw",
        &["--image", &image],
    );
    tls.code(CHECK_FAILED);
    assert_eq!(
        outcome(&tls.json()["verification"]),
        "tls_error",
        "{}",
        tls.stdout
    );
}
