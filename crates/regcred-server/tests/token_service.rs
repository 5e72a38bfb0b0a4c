//! The platform registry's token endpoint through the router: exactly which `access` each caller
//! gets (decoded from the issued JWT), the OAuth2 POST form, refusals, expired and revoked keys
//! (an expired key is written straight into the store, so no test waits for a clock), and the
//! registry-key methods' permissions. The real registry accepting these tokens is proven in
//! `crates/regcred/tests/platform_registry.rs`.

mod fixture;

use axum::body::Body;
use axum::http::{header, Request};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use fixture::Fixture;
use regcred_server::platform::PlatformConfig;
use regcred_store::Store;
use serde_json::{json, Value};

const SERVICE: &str = "registry.test";

async fn fixture() -> Fixture {
    let f = Fixture::with_platform(Some(PlatformConfig {
        registry: "registry.test:5000".into(),
        service: SERVICE.into(),
        issuer: "regcred".into(),
    }))
    .await;
    for p in ["acme", "other"] {
        f.create_project(p).await;
    }
    f
}

/// `GET /registry/token` with Basic `user:password` (or none); answers status and claims.
async fn token(f: &Fixture, creds: Option<(&str, &str)>, scopes: &[&str]) -> (u16, Value) {
    let mut query = format!("service={SERVICE}");
    for s in scopes {
        query.push_str(&format!(
            "&scope={}",
            s.replace(':', "%3A").replace('/', "%2F")
        ));
    }
    let mut request = Request::get(format!("/registry/token?{query}"));
    if let Some((u, p)) = creds {
        request = request.header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))),
        );
    }
    let reply = f.send(request.body(Body::empty()).expect("request")).await;
    (reply.status.as_u16(), claims(&reply.body))
}

fn claims(body: &Value) -> Value {
    let Some(jwt) = body["token"].as_str() else {
        return body.clone();
    };
    assert_eq!(body["access_token"].as_str(), Some(jwt));
    assert!(body["expires_in"].as_u64().is_some_and(|s| s >= 60));
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

async fn key(f: &Fixture, project: &str, name: &str, access: &str) -> (String, String) {
    let r = f
        .call(
            "registryKey.create",
            &f.admin,
            json!({"project": project, "name": name, "access": access}),
        )
        .await;
    let v = r.ok();
    (
        v["key"]["id"].as_str().expect("id").to_owned(),
        v["secret"].as_str().expect("secret").to_owned(),
    )
}

fn access(claims: &Value) -> Vec<(String, Vec<String>)> {
    claims["access"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap_or_default().to_owned(),
                        e["actions"]
                            .as_array()
                            .map(|x| {
                                x.iter()
                                    .filter_map(|s| s.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn grants(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(n, a)| (n.to_string(), a.iter().map(ToString::to_string).collect()))
        .collect()
}

#[tokio::test]
async fn each_caller_gets_exactly_its_projects_repositories() {
    let f = fixture().await;
    let (_, rw) = key(&f, "acme", "ci", "read-write").await;
    let (_, ro) = key(&f, "acme", "deploy", "read").await;
    let both = [
        "repository:acme/app:pull,push",
        "repository:other/app:pull,push",
    ];

    let (status, c) = token(&f, Some(("acme+ci", &rw)), &both).await;
    assert_eq!(status, 200);
    assert_eq!(access(&c), grants(&[("acme/app", &["pull", "push"])]));
    assert_eq!(c["aud"], SERVICE, "aud is a plain string");
    assert_eq!(c["iss"], "regcred");
    assert!(c["exp"].as_i64() > c["iat"].as_i64());

    let (_, c) = token(&f, Some(("anything", &ro)), &both).await;
    assert_eq!(access(&c), grants(&[("acme/app", &["pull"])]));

    // Anonymous: a token with an empty grant, as the protocol wants, not an error.
    let (status, c) = token(&f, None, &both).await;
    assert_eq!(status, 200);
    assert_eq!(access(&c), grants(&[]));

    // Access tokens: an editor pushes in its project, a viewer pulls, an admin everywhere.
    let editor = f.create_token("editor", Some("acme")).await;
    let (_, c) = token(&f, Some(("x", &editor.secret)), &both).await;
    assert_eq!(access(&c), grants(&[("acme/app", &["pull", "push"])]));
    let viewer = f.create_token("viewer", Some("acme")).await;
    let (_, c) = token(&f, Some(("x", &viewer.secret)), &both).await;
    assert_eq!(access(&c), grants(&[("acme/app", &["pull"])]));
    let (_, c) = token(&f, Some(("x", &f.admin)), &both).await;
    assert_eq!(
        access(&c),
        grants(&[
            ("acme/app", &["pull", "push"]),
            ("other/app", &["pull", "push"])
        ])
    );
}

#[tokio::test]
async fn the_oauth2_form_works_and_bad_credentials_are_refused() {
    let f = fixture().await;
    let (_, ro) = key(&f, "acme", "deploy", "read").await;
    let form = format!(
        "grant_type=password&service={SERVICE}&client_id=test&username=acme%2Bdeploy&password={ro}&scope=repository%3Aacme%2Fapp%3Apull"
    );
    let reply = f
        .send(
            Request::post("/registry/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.raw);
    assert_eq!(
        access(&claims(&reply.body)),
        grants(&[("acme/app", &["pull"])])
    );

    for (what, password) in [
        ("wrong secret", format!("{}x", &ro[..ro.len() - 1])),
        ("made-up key", "rk_000000000000_AAAA".to_owned()),
        ("not a key", "hunter2".to_owned()),
    ] {
        let (status, body) = token(
            &f,
            Some(("acme+deploy", &password)),
            &["repository:acme/app:pull"],
        )
        .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(
            !body.to_string().contains(&password),
            "{what}: the secret is echoed"
        );
    }
    let (status, _) = {
        let reply = f
            .get("/registry/token?service=another&scope=repository%3Aacme%2Fapp%3Apull")
            .await;
        (reply.status.as_u16(), ())
    };
    assert_eq!(status, 400, "a token for another service");
}

#[tokio::test]
async fn revoked_and_expired_keys_get_nothing() {
    let f = fixture().await;
    let (id, secret) = key(&f, "acme", "old", "read").await;
    f.call(
        "registryKey.revoke",
        &f.admin,
        json!({"project": "acme", "name": "old"}),
    )
    .await
    .ok();
    let (status, body) = token(&f, Some(("u", &secret)), &["repository:acme/app:pull"]).await;
    assert_eq!(status, 401);
    assert!(body.to_string().contains("revoked"), "{body}");
    assert!(f
        .store
        .get_registry_key(&id)
        .await
        .expect("store")
        .expect("key")
        .revoked_at
        .is_some());

    // An expired key: the record of a fresh key, its expiry moved into the past.
    let (id, secret) = key(&f, "acme", "short", "read").await;
    let mut record = f
        .store
        .get_registry_key(&id)
        .await
        .expect("store")
        .expect("key");
    let audit = regcred_store::AuditRecord {
        id: 0,
        time: 0,
        actor: "test".into(),
        channel: "api".into(),
        action: "test".into(),
        project: None,
        target: id.clone(),
        outcome: "ok".into(),
        detail: "{}".into(),
    };
    f.store
        .revoke_registry_key(&id, 1, &audit)
        .await
        .expect("revoke");
    record.id = format!("{id}x");
    record.name = "expired".into();
    record.expires_at = Some(1);
    f.store
        .create_registry_key(&record, &audit)
        .await
        .expect("insert");
    let expired = secret.replacen(&id["rk_".len()..], &record.id["rk_".len()..], 1);
    let (status, body) = token(&f, Some(("u", &expired)), &["repository:acme/app:pull"]).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn only_owners_manage_keys_and_the_certificate_is_public_to_callers() {
    let f = fixture().await;
    let editor = f.create_token("editor", Some("acme")).await;
    f.call(
        "registryKey.create",
        &editor.secret,
        json!({"project": "acme", "name": "x", "access": "read"}),
    )
    .await
    .expect_err(403, "forbidden");
    let owner = f.create_token("owner", Some("acme")).await;
    f.call(
        "registryKey.create",
        &owner.secret,
        json!({"project": "other", "name": "x", "access": "read"}),
    )
    .await
    .expect_err(403, "forbidden");
    f.call(
        "registryKey.create",
        &owner.secret,
        json!({"project": "acme", "name": "x", "access": "write"}),
    )
    .await
    .expect_err(400, "invalid_value");
    let created = f
        .call(
            "registryKey.create",
            &owner.secret,
            json!({"project": "acme", "name": "x", "access": "read"}),
        )
        .await;
    let created = created.ok();
    assert_eq!(created["server"], "registry.test:5000");
    assert_eq!(created["key"]["username"], "acme+x");
    let listed = f
        .call(
            "registryKey.list",
            &owner.secret,
            json!({"project": "acme"}),
        )
        .await;
    let listed = listed.ok();
    assert!(!listed
        .to_string()
        .contains(created["secret"].as_str().expect("secret")));

    let cert = f.call("registry.cert", &editor.secret, json!({})).await;
    let cert = cert.ok();
    assert!(cert["certificate"]
        .as_str()
        .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----")));
    assert_eq!(cert["realmPath"], "/registry/token");

    // Without --platform-registry there is no token service.
    let plain = Fixture::new().await;
    plain
        .call("registry.cert", &plain.admin, json!({}))
        .await
        .expect_err(409, "no_platform_registry");
}
