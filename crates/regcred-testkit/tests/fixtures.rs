//! The fixtures are real: each test starts the real distribution registry and checks it with the
//! real skopeo (and, for the token protocol, with raw HTTP), so a fixture that silently accepted
//! everything, or refused everything, would fail here. Needs the Debian packages
//! `docker-registry`, `skopeo` and `apache2-utils` (scripts/setup installs them); without them
//! these tests fail.

use std::time::Instant;

use regcred_testkit::{
    push_test_image, Auth, Grant, Registry, RegistryOptions, Skopeo, SkopeoAuth, SkopeoOutput,
    TestCa, TlsMode, TokenServer, TokenServerOptions,
};
use serde_json::Value;

#[track_caller]
fn assert_ok(output: &SkopeoOutput, what: &str) {
    assert!(output.success, "{what}: skopeo failed:\n{}", output.stderr);
}

#[track_caller]
fn assert_refused(output: &SkopeoOutput, what: &str, stderr_contains: &str) {
    assert!(!output.success, "{what}: skopeo succeeded but should not");
    assert!(
        output.stderr.contains(stderr_contains),
        "{what}: expected {stderr_contains:?} in skopeo's stderr:\n{}",
        output.stderr
    );
}

#[tokio::test]
async fn htpasswd_registry_accepts_the_right_password_and_rejects_a_wrong_one() {
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("ada", "s3cret:with&odd<chars>"), ("bob", "bobpw")]),
        tls: None,
    })
    .await;
    let digest = push_test_image(
        &registry.host(),
        "team/app",
        "v1",
        Some(("ada", "s3cret:with&odd<chars>")),
        TlsMode::Insecure,
    )
    .await;
    let skopeo = Skopeo::new();
    let image = registry.image("team/app", "v1");

    let right = skopeo
        .inspect_raw(
            &image,
            SkopeoAuth::Creds("ada", "s3cret:with&odd<chars>"),
            TlsMode::Insecure,
        )
        .await;
    assert_ok(&right, "ada with her password");
    assert_eq!(right.stdout_digest(), digest);
    // Every htpasswd user can pull everything.
    assert_ok(
        &skopeo
            .inspect_raw(&image, SkopeoAuth::Creds("bob", "bobpw"), TlsMode::Insecure)
            .await,
        "bob",
    );

    let unauthorized = "authentication required";
    assert_refused(
        &skopeo
            .inspect_raw(&image, SkopeoAuth::Creds("ada", "wrong"), TlsMode::Insecure)
            .await,
        "wrong password",
        unauthorized,
    );
    assert_refused(
        &skopeo
            .inspect_raw(&image, SkopeoAuth::Creds("eve", "bobpw"), TlsMode::Insecure)
            .await,
        "unknown user",
        unauthorized,
    );
    assert_refused(
        &skopeo
            .inspect_raw(&image, SkopeoAuth::Anonymous, TlsMode::Insecure)
            .await,
        "anonymous",
        unauthorized,
    );
}

#[tokio::test]
async fn auth_files_are_read_only_when_given() {
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("ada", "pw")]),
        tls: None,
    })
    .await;
    push_test_image(
        &registry.host(),
        "app",
        "v1",
        Some(("ada", "pw")),
        TlsMode::Insecure,
    )
    .await;
    let skopeo = Skopeo::new();
    let dir = tempfile::tempdir().unwrap();
    let write_auth = |name: &str, password: &str| {
        let path = dir.path().join(name);
        let auth = base64_encode(&format!("ada:{password}"));
        let body = format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            registry.host()
        );
        std::fs::write(&path, body).unwrap();
        path
    };
    let good = write_auth("good.json", "pw");
    let bad = write_auth("bad.json", "nope");
    let image = registry.image("app", "v1");

    assert_ok(
        &skopeo
            .inspect_raw(&image, SkopeoAuth::AuthFile(&good), TlsMode::Insecure)
            .await,
        "auth file with the right password",
    );
    assert_refused(
        &skopeo
            .inspect_raw(&image, SkopeoAuth::AuthFile(&bad), TlsMode::Insecure)
            .await,
        "auth file with a wrong password",
        "authentication required",
    );
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Token mode: the pusher may push `team/app`, the reader may pull it, the outsider is a valid
/// account whose only grant is on another repository.
fn token_grants() -> Vec<Grant> {
    vec![
        Grant::new("pusher", "push-pw", "*", &["pull", "push"]),
        Grant::new("reader", "read-pw", "team/app", &["pull"]),
        Grant::new("outsider", "out-pw", "elsewhere/repo", &["pull"]),
    ]
}

#[tokio::test]
async fn token_registry_lets_granted_users_pull_and_refuses_others() {
    let tokens = TokenServer::start(TokenServerOptions {
        service: "regcred-test-registry".into(),
        issuer: "regcred-test-issuer".into(),
        grants: token_grants(),
        tls: None,
    });
    let registry = Registry::start(RegistryOptions {
        auth: Auth::token(&tokens),
        tls: None,
    })
    .await;
    let digest = push_test_image(
        &registry.host(),
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    let skopeo = Skopeo::new();
    let image = registry.image("team/app", "v1");

    let before = tokens.requests();
    let reader = skopeo
        .inspect_raw(
            &image,
            SkopeoAuth::Creds("reader", "read-pw"),
            TlsMode::Insecure,
        )
        .await;
    assert_ok(&reader, "reader");
    assert_eq!(reader.stdout_digest(), digest);
    assert!(
        tokens.requests() > before,
        "skopeo got its token from the token server"
    );

    for (what, auth) in [
        ("outsider", SkopeoAuth::Creds("outsider", "out-pw")),
        ("wrong password", SkopeoAuth::Creds("reader", "nope")),
        ("anonymous", SkopeoAuth::Anonymous),
    ] {
        let output = skopeo.inspect_raw(&image, auth, TlsMode::Insecure).await;
        assert!(!output.success, "{what}: skopeo pulled without a grant");
    }
    assert!(
        tokens.rejected_requests() >= 1,
        "the wrong password reached the token server"
    );
}

/// What the registry itself answers to tokens from the token server, by hand: a granted token
/// passes, a valid account without a grant on the repository gets `401` with
/// `error="insufficient_scope"` (not 403), wrong credentials are refused by the token server,
/// and the OAuth2 POST form yields tokens the registry accepts too.
#[tokio::test]
async fn token_protocol_by_hand_against_the_real_registry() {
    let tokens = TokenServer::start(TokenServerOptions {
        service: "svc".into(),
        issuer: "iss".into(),
        grants: token_grants(),
        tls: None,
    });
    let registry = Registry::start(RegistryOptions {
        auth: Auth::token(&tokens),
        tls: None,
    })
    .await;
    let digest = push_test_image(
        &registry.host(),
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    let http = reqwest::Client::new();
    let manifest_url = format!("{}/v2/team/app/manifests/v1", registry.url());
    let accept =
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json, \
                  application/vnd.docker.distribution.manifest.v2+json";

    // The challenge names the realm, service and scope.
    let challenge = http
        .head(&manifest_url)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 401);
    let www_authenticate = challenge.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(
        www_authenticate,
        format!(
            r#"Bearer realm="{}",service="svc",scope="repository:team/app:pull""#,
            tokens.realm_url()
        )
    );

    let get_token = |user: Option<(&str, &str)>| {
        let mut request = http
            .get(tokens.realm_url())
            .query(&[("service", "svc"), ("scope", "repository:team/app:pull")]);
        if let Some((user, password)) = user {
            request = request.basic_auth(user, Some(password));
        }
        async move { request.send().await.unwrap() }
    };
    let head_with = |token: String| {
        let request = http
            .head(&manifest_url)
            .header("Accept", accept)
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let token_of = |body: &Value| body["token"].as_str().unwrap().to_string();

    let granted: Value = get_token(Some(("reader", "read-pw")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(granted["expires_in"], 300);
    assert_eq!(granted["token"], granted["access_token"]);
    assert!(granted["issued_at"].is_string());
    let ok = head_with(token_of(&granted)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["docker-content-digest"], digest.as_str());

    for who in [Some(("outsider", "out-pw")), None] {
        let response = get_token(who).await;
        assert_eq!(response.status(), 200, "{who:?} gets a token (empty grant)");
        let body: Value = response.json().await.unwrap();
        let denied = head_with(token_of(&body)).await;
        assert_eq!(denied.status(), 401, "{who:?}");
        let challenge = denied.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{who:?}: {challenge}"
        );
    }

    let wrong = get_token(Some(("reader", "wrong"))).await;
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.unwrap();
    assert!(error["details"].is_string(), "{error}");

    let posted = http
        .post(tokens.realm_url())
        .form(&[
            ("grant_type", "password"),
            ("username", "reader"),
            ("password", "read-pw"),
            ("service", "svc"),
            ("scope", "repository:team/app:pull"),
            ("client_id", "regcred-testkit"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let posted: Value = posted.json().await.unwrap();
    assert_eq!(
        head_with(posted["access_token"].as_str().unwrap().to_string())
            .await
            .status(),
        200
    );
    let posted_wrong = http
        .post(tokens.realm_url())
        .form(&[
            ("grant_type", "password"),
            ("username", "reader"),
            ("password", "wrong"),
            ("service", "svc"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted_wrong.status(), 401);
    assert_eq!(tokens.post_requests(), 2);
}

#[tokio::test]
async fn tls_registry_works_with_the_ca_and_fails_without_it() {
    let ca = TestCa::new();
    let tokens = TokenServer::start(TokenServerOptions {
        service: "svc".into(),
        issuer: "iss".into(),
        grants: token_grants(),
        tls: Some(&ca),
    });
    assert!(tokens.realm_url().starts_with("https://127.0.0.1:"));
    let registry = Registry::start(RegistryOptions {
        auth: Auth::token(&tokens),
        tls: Some(&ca),
    })
    .await;
    assert!(registry.url().starts_with("https://"));
    let digest = push_test_image(
        &registry.host(),
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Ca(&ca),
    )
    .await;
    let skopeo = Skopeo::new();
    let image = registry.image("team/app", "v1");
    let reader = SkopeoAuth::Creds("reader", "read-pw");

    let with_ca = skopeo.inspect_raw(&image, reader, TlsMode::Ca(&ca)).await;
    assert_ok(&with_ca, "TLS with the CA");
    assert_eq!(with_ca.stdout_digest(), digest);

    assert_refused(
        &skopeo
            .inspect_raw(&image, reader, TlsMode::SystemRoots)
            .await,
        "TLS without the CA",
        "certificate signed by unknown authority",
    );
    let other_ca = TestCa::new();
    assert_refused(
        &skopeo
            .inspect_raw(&image, reader, TlsMode::Ca(&other_ca))
            .await,
        "TLS trusting another CA",
        "certificate signed by unknown authority",
    );
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    for url in [format!("{}/v2/", registry.url()), tokens.realm_url()] {
        let response = http.get(&url).send().await.unwrap();
        assert!(
            [200, 401].contains(&response.status().as_u16()),
            "{url}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn push_then_inspect_returns_the_digest_and_survives_a_restart() {
    let mut registry = Registry::start(RegistryOptions {
        auth: Auth::None,
        tls: None,
    })
    .await;
    let first = push_test_image(&registry.host(), "app", "v1", None, TlsMode::Insecure).await;
    let second = push_test_image(&registry.host(), "app", "v2", None, TlsMode::Insecure).await;
    assert_ne!(first, second, "each image has its own digest");
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");

    let skopeo = Skopeo::new();
    let host = registry.host();
    let inspect = |tag: &str| {
        let image = format!("{host}/app:{tag}");
        let skopeo = &skopeo;
        async move {
            skopeo
                .inspect_raw(&image, SkopeoAuth::Anonymous, TlsMode::Insecure)
                .await
        }
    };
    let v1 = inspect("v1").await;
    assert_ok(&v1, "v1");
    assert_eq!(v1.stdout_digest(), first);
    let manifest: Value = serde_json::from_slice(&v1.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_refused(&inspect("missing").await, "missing tag", "manifest unknown");

    let port = registry.port();
    registry.stop();
    assert_refused(&inspect("v1").await, "stopped", "connection refused");
    let restarted = Instant::now();
    registry.restart().await;
    assert_eq!(registry.port(), port);
    let after = inspect("v1").await;
    assert_ok(&after, "after restart");
    assert_eq!(after.stdout_digest(), first);
    eprintln!("restart took {:?}", restarted.elapsed());
}
