//! Pull secrets are write-only: a random canary planted in the secret material of
//! pull secrets of several kinds never comes back from any read, list, resolve, audit or token
//! answer, and never reaches the database files (`regcred.db`, `-wal`, `-shm`) in the clear or in
//! any base64 form. The one way out is `pullSecret.render` for a role allowed to release
//! material, and that release is audited without the material.

mod fixture;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use fixture::{basic, contains, service_account_key, Fixture, LOCATION};
use serde_json::{json, Value};

/// A canary nobody could have typed: 128 random bits.
fn canary() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("random");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("canary{hex}")
}

/// Every string a base64 encoder could produce for a text containing `secret`, whatever the
/// bytes before it: for each of the three alignments, the characters that depend on `secret`
/// alone (the partial groups at either end are dropped). Standard and URL-safe alphabets.
fn base64_needles(secret: &str) -> Vec<String> {
    let mut needles = Vec::new();
    for engine in [&STANDARD, &URL_SAFE] {
        for shift in 0..3 {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let start = if shift == 0 { 0 } else { 4 };
            let end = encoded.trim_end_matches('=').len().saturating_sub(4);
            needles.push(encoded[start..end].to_owned());
        }
    }
    needles
}

/// What in `haystack` gives the canary away, if anything.
fn leaks(haystack: &[u8], canary: &str, needles: &[String]) -> Option<String> {
    if contains(haystack, canary.as_bytes()) {
        return Some("the canary in the clear".to_owned());
    }
    needles
        .iter()
        .find(|n| contains(haystack, n.as_bytes()))
        .map(|n| format!("the canary in base64 ({n})"))
}

#[tokio::test]
async fn secret_material_never_leaves_except_through_an_audited_render() {
    let canary = canary();
    let needles = base64_needles(&canary);
    assert!(
        needles.iter().all(|n| n.len() >= 36),
        "needles are long enough to be meaningful"
    );
    let fx = Fixture::new().await;
    fx.create_project("acme").await;
    fx.create_location(LOCATION).await;
    let owner = fx.create_token("owner", Some("acme")).await;

    // (name, spec, image it serves)
    let secrets = [
        (
            "hub",
            basic("docker.io", "acme-hub", &format!("{canary}-docker")),
            "acme/api:v1",
        ),
        (
            "ghcr",
            json!({ "server": "ghcr.io", "username": "acme-ci", "token": format!("{canary}-ghcr") }),
            "ghcr.io/acme/api:v1",
        ),
        (
            "private",
            basic(
                "registry.example.com:5000",
                "acme-ci",
                &format!("{canary}-custom"),
            ),
            "registry.example.com:5000/acme/api",
        ),
        (
            "gcr",
            json!({ "server": "gcr.io", "serviceAccountKey": service_account_key(&canary) }),
            "gcr.io/acme-prod/api",
        ),
        (
            "ecr",
            json!({ "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": format!("{canary}-ecr") }),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api",
        ),
    ];
    let mut answers: Vec<(String, String)> = Vec::new();
    let mut ids = Vec::new();
    for (name, spec, _) in &secrets {
        let reply = fx
            .call(
                "pullSecret.create",
                &owner.secret,
                json!({ "project": "acme", "location": LOCATION, "name": name, "spec": spec }),
            )
            .await;
        ids.push(
            reply.ok()["pullSecret"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
        answers.push((format!("pullSecret.create {name}"), reply.raw));
    }
    // Rotate one, so an update path is covered as well as inserts.
    let rotated = fx
        .call(
            "pullSecret.create",
            &owner.secret,
            json!({ "project": "acme", "location": LOCATION, "name": "ghcr", "spec": { "server": "ghcr.io", "username": "acme-ci", "token": format!("{canary}-ghcr2") } }),
        )
        .await;
    assert_eq!(rotated.ok()["pullSecret"]["revision"], 2);
    answers.push(("pullSecret.create (rotation)".to_owned(), rotated.raw));

    let mut reads: Vec<(String, &str, Value)> = Vec::new();
    for ((name, _, image), id) in secrets.iter().zip(&ids) {
        reads.push((
            format!("get {name} by name"),
            "pullSecret.get",
            json!({ "project": "acme", "location": LOCATION, "name": name }),
        ));
        reads.push((
            format!("get {name} by id"),
            "pullSecret.get",
            json!({ "id": id }),
        ));
        for rules in ["kubelet", "containers"] {
            reads.push((
                format!("resolve {image} ({rules})"),
                "image.resolve",
                json!({ "project": "acme", "location": LOCATION, "image": image, "rules": rules }),
            ));
        }
    }
    reads.push((
        "list".into(),
        "pullSecret.list",
        json!({ "project": "acme" }),
    ));
    reads.push(("audit".into(), "audit.list", json!({ "limit": 1000 })));
    reads.push(("tokens".into(), "token.list", json!({})));
    for (what, method, body) in reads {
        for (who, token) in [("owner", &owner.secret), ("admin", &fx.admin)] {
            let reply = fx.call(method, token, body.clone()).await;
            reply.ok();
            answers.push((format!("{what} as {who}"), reply.raw));
        }
    }
    answers.push(("/metrics".into(), fx.get("/metrics").await.raw));
    for (what, raw) in &answers {
        assert_eq!(
            leaks(raw.as_bytes(), &canary, &needles),
            None,
            "{what}: {raw}"
        );
    }

    assert_database_holds_no_canary(&fx, &canary, &needles);

    // The release: an owner renders the four basic-auth pull secrets into one document.
    let before = fx.snapshot().await;
    let reply = fx
        .call(
            "pullSecret.render",
            &owner.secret,
            json!({ "project": "acme", "location": LOCATION, "names": ["hub", "ghcr", "private", "gcr"], "format": "dockerconfigjson" }),
        )
        .await;
    let content = reply.ok()["content"].as_str().expect("content").to_owned();
    for planted in [
        format!("{canary}-docker"),
        format!("{canary}-ghcr2"),
        format!("{canary}-custom"),
        canary.clone(),
    ] {
        assert!(
            content.contains(&planted),
            "render releases {planted}: {content}"
        );
    }
    assert!(
        !content.contains(&format!("{canary}-ghcr\"")),
        "render releases the rotated token, not the old one"
    );
    let document: Value = serde_json::from_str(&content).expect("a .dockerconfigjson is JSON");
    let mut keys: Vec<&str> = document["auths"]
        .as_object()
        .expect("auths")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "gcr.io",
            "ghcr.io",
            "https://index.docker.io/v1/",
            "registry.example.com:5000"
        ]
    );

    // …and it is audited, without the material.
    let after = fx.snapshot().await;
    assert_eq!(
        after.without_audit(),
        before.without_audit(),
        "a render changes nothing"
    );
    let added = after.new_audit_since(&before);
    assert_eq!(
        added.len(),
        1,
        "one audit event for the release: {added:#?}"
    );
    let event = &added[0];
    assert_eq!(
        (
            event.action.as_str(),
            event.outcome.as_str(),
            event.actor.as_str(),
            event.project.as_deref()
        ),
        ("pullSecret.render", "ok", owner.id.as_str(), Some("acme"))
    );
    let detail: Value = serde_json::from_str(&event.detail).expect("detail is JSON");
    assert_eq!(
        detail["released"].as_array().map(Vec::len),
        Some(4),
        "{detail}"
    );
    let audit = fx
        .call("audit.list", &owner.secret, json!({ "limit": 1 }))
        .await;
    assert_eq!(audit.ok()["items"][0]["action"], "pullSecret.render");
    assert_eq!(
        leaks(audit.raw.as_bytes(), &canary, &needles),
        None,
        "{}",
        audit.raw
    );

    assert_database_holds_no_canary(&fx, &canary, &needles);
}

/// Scans every file of the data directory. The scan must see real data, or it proves nothing:
/// the database must exist and hold a username that is stored in the clear.
fn assert_database_holds_no_canary(fx: &Fixture, canary: &str, needles: &[String]) {
    let files = fx.data_files();
    let file_names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["regcred.db", "regcred.db-wal", "regcred.db-shm"] {
        assert!(
            file_names.contains(&expected),
            "{expected} is scanned: {file_names:?}"
        );
    }
    assert!(
        files.iter().any(|(_, bytes)| contains(bytes, b"acme-hub")),
        "the scan sees the stored metadata ({file_names:?})"
    );
    for (name, bytes) in &files {
        assert_eq!(
            leaks(bytes, canary, needles),
            None,
            "{name} ({} bytes)",
            bytes.len()
        );
    }
}

/// A registry that echoes the credentials it was sent — in `WWW-Authenticate`
/// `error_description`, in JSON error `message`s and `detail`s, upper-cased, in pieces,
/// percent-encoded, as base64 of `user:password` without padding, inside HTML.
async fn echoing_registry(user: &'static str, password: String) -> String {
    use axum::body::Body;
    use axum::http::{HeaderMap, Method, Response};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let echo = regcred_testkit::echo_text(user, &password);
    let app = axum::Router::new().fallback(move |method: Method, headers: HeaderMap| {
        let echo = echo.clone();
        async move {
            let answer =
                Response::builder().header("Docker-Distribution-API-Version", "registry/2.0");
            if !headers.contains_key("authorization") {
                return answer
                    .status(401)
                    .header("WWW-Authenticate", r#"Basic realm="echo""#)
                    .body(Body::empty())
                    .unwrap();
            }
            let quoted = echo.replace('\\', "\\\\").replace('"', "\\\"");
            let body = json!({
                "errors": [{"code": "UNAUTHORIZED", "message": echo, "detail": {"sent": echo}}],
                "details": echo,
            });
            answer
                .status(if method == Method::HEAD { 403 } else { 401 })
                .header(
                    "WWW-Authenticate",
                    format!(
                        r#"Basic realm="echo",error="invalid_token",error_description="{quoted}""#
                    ),
                )
                .header("Content-Type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    host
}

/// Regression (issue 10): what a registry echoes of the credentials was stored with the check
/// result (readable by viewers) and in the database in plaintext. Now neither the verify answer,
/// nor `pullSecret.get`, nor any database file holds any form of it.
#[tokio::test]
async fn a_registry_echoing_the_password_gets_none_of_it_stored_or_shown() {
    const USER: &str = "acme-hub";
    let canary = canary();
    let password = format!("{canary}/Pw+ x");
    let forms = regcred_testkit::echo_forms(USER, &password);
    let mut needles = base64_needles(&canary);
    needles.extend(forms.iter().cloned());
    let host = echoing_registry(USER, password.clone()).await;

    let fx = Fixture::with_registries(vec![host.clone()]).await;
    fx.create_project("acme").await;
    fx.create_location(LOCATION).await;
    let viewer = fx.create_token("viewer", Some("acme")).await;
    fx.create_pull_secret(&fx.admin, "acme", "echo", basic(&host, USER, &password))
        .await;

    let target = json!({"project": "acme", "location": LOCATION, "name": "echo"});
    let mut answers = Vec::new();
    for image in [None, Some(format!("{host}/acme/api:v1"))] {
        let mut request = target.clone();
        if let Some(image) = &image {
            request["image"] = json!(image);
        }
        let verified = fx.call("pullSecret.verify", &fx.admin, request).await;
        let verification = &verified.ok()["verification"];
        let expected = if image.is_some() {
            "denied"
        } else {
            "unauthorized"
        };
        assert_eq!(verification["outcome"], expected, "{verification}");
        answers.push(verified.ok().to_string());
        let got = fx
            .call("pullSecret.get", &viewer.secret, target.clone())
            .await;
        assert_eq!(got.ok()["verification"]["outcome"], expected);
        answers.push(got.ok().to_string());
    }
    for answer in &answers {
        let leaked = regcred_testkit::leaked_forms(answer, USER, &password);
        assert!(leaked.is_empty(), "{leaked:?} leaked into {answer}");
        assert!(!answer.contains("invalid credentials"), "{answer}");
    }
    assert_database_holds_no_canary(&fx, &canary, &needles);
}
