//! Every way a request can be wrong is refused with the right HTTP status, a stable error code,
//! the offending field where there is one, and a message that says what to change — and a refused
//! request changes nothing. The one exception is a refusal for lack of permission to change
//! something or to receive credential material: the server audits it, so exactly one `denied`
//! audit event is added and nothing else moves.
//!
//! The test is one table. Each row is a raw HTTP request (verb, path, headers, body bytes) sent
//! through the router against a world with two projects, tokens of several roles and a few pull
//! secrets; the store is snapshotted before and after each row. All rows run; the failures are
//! reported together, each under its row's description.

mod fixture;

use axum::body::Body;
use axum::http::Request;
use fixture::{basic, Fixture, Issued, Snapshot, LOCATION};
use regcred_store::{AuditRecord, ReferrerRecord, Store, TokenRecord};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a refused row may leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// The store is exactly as before.
    Unchanged,
    /// One audit event `denied` for this method and caller was added; nothing else changed.
    Denied,
}

/// One bad request and how it must be refused.
struct Row {
    what: String,
    verb: &'static str,
    path: String,
    /// The `Authorization` header, if any.
    auth: Option<String>,
    /// The caller's token id, for the `denied` audit event.
    actor: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// `items[0].field`.
    field: Option<&'static str>,
    /// `items[0].message`, for errors that list resources rather than fields.
    item: Option<&'static str>,
    effect: Effect,
    /// A value sent in the request that no part of the answer may echo.
    secret: Option<&'static str>,
}

impl Row {
    /// `POST /<method>` as `who`, with a JSON body.
    fn post(what: &str, method: &str, who: &Issued, body: Value) -> Row {
        Row::raw(what, method, who, body.to_string().as_bytes())
    }

    /// `POST /<method>` as `who`, with these exact body bytes.
    fn raw(what: &str, method: &str, who: &Issued, body: &[u8]) -> Row {
        Row {
            what: what.to_owned(),
            verb: "POST",
            path: format!("/{method}"),
            auth: Some(format!("Bearer {}", who.secret)),
            actor: Some(who.id.clone()),
            headers: vec![("content-type", "application/json".to_owned())],
            body: body.to_vec(),
            status: 0,
            code: "",
            field: None,
            item: None,
            effect: Effect::Unchanged,
            secret: None,
        }
    }

    fn verb(mut self, verb: &'static str) -> Row {
        self.verb = verb;
        self
    }

    /// Replaces the `Authorization` header (`None`: send none).
    fn auth(mut self, value: Option<&str>) -> Row {
        self.auth = value.map(str::to_owned);
        self.actor = None;
        self
    }

    /// Sets a header, replacing the default of the same name.
    fn header(mut self, name: &'static str, value: &str) -> Row {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Row {
        self.status = status;
        self.code = code;
        self
    }

    fn field(mut self, field: &'static str) -> Row {
        self.field = Some(field);
        self
    }

    fn item(mut self, message: &'static str) -> Row {
        self.item = Some(message);
        self
    }

    fn denied(mut self) -> Row {
        self.effect = Effect::Denied;
        self
    }

    fn secret(mut self, secret: &'static str) -> Row {
        self.secret = Some(secret);
        self
    }

    fn request(&self) -> Request<Body> {
        let mut request = Request::builder().method(self.verb).uri(&self.path);
        if let Some(auth) = &self.auth {
            request = request.header("authorization", auth);
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
            .body(Body::from(self.body.clone()))
            .expect("valid request")
    }

    /// The method name a `denied` audit event records.
    fn method(&self) -> &str {
        self.path.trim_start_matches('/')
    }
}

/// The world the rows run against.
struct World {
    fx: Fixture,
    admin: Issued,
    /// Owner of `acme`.
    owner: Issued,
    /// Editor of `acme`; created `acme/…/ghcr`.
    editor: Issued,
    /// Another editor of `acme`.
    editor2: Issued,
    viewer: Issued,
    /// Owner of `other`.
    other_owner: Issued,
    revoked: Issued,
    expired: Issued,
    /// `acme/…/ghcr`.
    ghcr_id: String,
    /// `other/…/ghcr`.
    other_id: String,
}

async fn world() -> World {
    let fx = Fixture::new().await;
    for project in ["acme", "other"] {
        fx.create_project(project).await;
    }
    fx.create_location(LOCATION).await;
    let admin = Issued {
        id: fx.admin_id.clone(),
        secret: fx.admin.clone(),
    };
    let owner = fx.create_token("owner", Some("acme")).await;
    let editor = fx.create_token("editor", Some("acme")).await;
    let editor2 = fx.create_token("editor", Some("acme")).await;
    let viewer = fx.create_token("viewer", Some("acme")).await;
    let other_owner = fx.create_token("owner", Some("other")).await;
    let revoked = fx.create_token("viewer", Some("acme")).await;
    fx.call("token.revoke", &fx.admin, json!({ "id": revoked.id }))
        .await
        .ok();
    let expired = insert_expired_token(&fx).await;

    let ghcr = fx
        .create_pull_secret(
            &editor.secret,
            "acme",
            "ghcr",
            json!({ "server": "ghcr.io", "username": "acme-ci", "token": "ghp_acme" }),
        )
        .await;
    let used = fx
        .create_pull_secret(
            &fx.admin,
            "acme",
            "used",
            basic("registry.example.com", "u", "p"),
        )
        .await;
    fx.store
        .add_reference(
            used["id"].as_str().expect("id"),
            &ReferrerRecord {
                kind: "deployment".into(),
                name: "api".into(),
            },
        )
        .await
        .expect("add reference");
    fx.create_pull_secret(
        &fx.admin,
        "acme",
        "ecr",
        json!({
            "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "accessKeyId": "AKIAEXAMPLE",
            "secretAccessKey": "ecr-secret",
        }),
    )
    .await;
    let theirs = fx
        .create_pull_secret(
            &other_owner.secret,
            "other",
            "ghcr",
            json!({ "server": "ghcr.io", "username": "other-ci", "token": "ghp_other" }),
        )
        .await;
    World {
        ghcr_id: ghcr["id"].as_str().expect("id").to_owned(),
        other_id: theirs["id"].as_str().expect("id").to_owned(),
        fx,
        admin,
        owner,
        editor,
        editor2,
        viewer,
        other_owner,
        revoked,
        expired,
    }
}

/// A viewer token of `acme` that expired a minute ago. The API cannot mint one (the shortest
/// lifetime is a minute, and tests do not sleep), so the record goes into the store directly,
/// hashed the way the server hashes presented tokens.
async fn insert_expired_token(fx: &Fixture) -> Issued {
    let secret = format!("rc_e0e0e0e0e0e0_{}", "E".repeat(43));
    let now = regcred_server::clock::now_millis();
    let record = TokenRecord {
        id: "tk_e0e0e0e0e0e0".into(),
        name: "expired".into(),
        project: Some("acme".into()),
        role: "viewer".into(),
        hash: Sha256::digest(secret.as_bytes()).to_vec(),
        created_at: now - 120_000,
        created_by: fx.admin_id.clone(),
        expires_at: Some(now - 60_000),
        revoked_at: None,
    };
    let audit = AuditRecord {
        id: 0,
        time: now - 120_000,
        actor: fx.admin_id.clone(),
        channel: "api".into(),
        action: "token.create".into(),
        project: Some("acme".into()),
        target: record.id.clone(),
        outcome: "ok".into(),
        detail: "{}".into(),
    };
    fx.store
        .create_token(&record, &audit)
        .await
        .expect("insert token");
    Issued {
        id: record.id,
        secret,
    }
}

/// A `pullSecret.create` body for a new pull secret `fresh` in `acme`.
fn create(spec: Value) -> Value {
    json!({ "project": "acme", "location": LOCATION, "name": "fresh", "spec": spec })
}

/// A valid ghcr spec.
fn ghcr() -> Value {
    json!({ "server": "ghcr.io", "username": "acme-ci", "token": "ghp_fresh" })
}

/// A `pullSecret.create` body for a new pull secret `fresh` with `server`.
fn with_server(server: &str) -> Value {
    create(basic(server, "acme-ci", "pw"))
}

fn rows(w: &World) -> Vec<Row> {
    let (admin, owner, editor, viewer) = (&w.admin, &w.owner, &w.editor, &w.viewer);
    let ps = "pullSecret.create";
    let long_name = "a".repeat(64);
    let huge_token = "A".repeat(70 * 1024);
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    vec![
        // ---- the body is not the JSON object the method takes ----
        Row::raw("malformed JSON", ps, admin, br#"{"project": acme}"#)
            .expect(400, "invalid_json"),
        Row::raw("truncated JSON", ps, admin, br#"{"project":"acme","location":"gke.cluster-rcf2","name":"x","spec":{"server":"ghcr.io""#)
            .expect(400, "invalid_json"),
        Row::raw(
            "trailing data after the JSON object",
            ps,
            admin,
            format!("{} trailing", create(ghcr())).as_bytes(),
        )
        .expect(400, "invalid_json"),
        Row::raw("body is not UTF-8", ps, admin, b"{\"project\":\"ac\xff\xfeme\"}")
            .expect(400, "invalid_json"),
        Row::raw(
            "JSON nested deeper than the parser allows",
            ps,
            admin,
            format!(r#"{{"project":"acme","location":"{LOCATION}","name":"fresh","kind":"gcr","spec":{{"serviceAccountKey":{deep}}}}}"#).as_bytes(),
        )
        .expect(400, "invalid_json"),
        Row::raw("empty JSON array instead of an object", ps, admin, b"[]")
            .expect(400, "invalid_field"),
        Row::post(
            "positional JSON array instead of an object",
            ps,
            admin,
            json!(["acme", LOCATION, "fresh", null, ghcr()]),
        )
        .expect(400, "invalid_field"),
        Row::post(
            "spec as a positional JSON array",
            ps,
            admin,
            // Every field of the spec, in declaration order.
            json!({ "project": "acme", "location": LOCATION, "name": "fresh",
                "spec": ["ghcr.io", "acme-ci", null, "ghp_fresh", null, null, null, null, null, null, null, null] }),
        )
        .expect(400, "invalid_field")
        .field("spec"),
        Row::raw("JSON string instead of an object", ps, admin, br#""acme""#)
            .expect(400, "invalid_field"),
        Row::raw("JSON null instead of an object", ps, admin, b"null")
            .expect(400, "invalid_field"),
        Row::raw("empty body", ps, admin, b"").expect(400, "missing_field").field("project"),
        Row::post(
            "unknown top-level field (password outside spec)",
            ps,
            admin,
            json!({ "project": "acme", "location": LOCATION, "name": "fresh", "password": "hunter2-top", "spec": ghcr() }),
        )
        .expect(400, "unknown_field")
        .field("password")
        .secret("hunter2-top"),
        Row::post(
            "unknown field in spec (passwd)",
            ps,
            admin,
            create(json!({ "server": "ghcr.io", "username": "acme-ci", "passwd": "hunter2-passwd" })),
        )
        .expect(400, "unknown_field")
        .field("spec.passwd")
        .secret("hunter2-passwd"),
        Row::raw(
            "duplicate field",
            ps,
            admin,
            format!(r#"{{"project":"acme","project":"other","location":"{LOCATION}","name":"fresh","spec":{}}}"#, ghcr()).as_bytes(),
        )
        .expect(400, "invalid_field")
        .field("project"),
        Row::post("missing name", ps, admin, json!({ "project": "acme", "location": LOCATION, "spec": ghcr() }))
            .expect(400, "missing_field")
            .field("name"),
        Row::post("missing project", ps, admin, json!({ "location": LOCATION, "name": "fresh", "spec": ghcr() }))
            .expect(400, "missing_field")
            .field("project"),
        Row::post("missing spec", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "fresh" }))
            .expect(400, "missing_field")
            .field("spec"),
        Row::post("name is a number", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": 7, "spec": ghcr() }))
            .expect(400, "invalid_field")
            .field("name"),
        Row::post("spec is a string", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "fresh", "spec": "ghcr.io" }))
            .expect(400, "invalid_field")
            .field("spec"),
        Row::post(
            "password is a number, and is not echoed",
            ps,
            admin,
            create(json!({ "server": "registry.example.com", "username": "u", "password": 987_654_321 })),
        )
        .expect(400, "invalid_field")
        .field("spec.password")
        .secret("987654321"),
        Row::post(
            "force is a string",
            "pullSecret.delete",
            admin,
            json!({ "id": w.ghcr_id, "force": "yes" }),
        )
        .expect(400, "invalid_field")
        .field("force"),
        // ---- names ----
        Row::post("name of 64 characters", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": long_name, "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("name"),
        Row::post("name in upper case", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "Ghcr", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("name"),
        Row::post("name with an underscore", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "my_secret", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("name"),
        Row::post("name with a space", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "my secret", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("name"),
        Row::post("name with a leading '-'", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "-ghcr", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("name"),
        Row::post("empty name", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("name"),
        Row::post("project name too short", ps, admin, json!({ "project": "ab", "location": LOCATION, "name": "fresh", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("project"),
        Row::post("location name with '..'", ps, admin, json!({ "project": "acme", "location": "gke..cluster", "name": "fresh", "spec": ghcr() }))
            .expect(400, "invalid_name")
            .field("location"),
        // ---- kinds and their fields ----
        Row::post("unknown kind, not echoed", ps, admin, json!({ "project": "acme", "location": LOCATION, "name": "fresh", "kind": "nexus-echo-k1", "spec": ghcr() }))
            .expect(400, "invalid_kind")
            .field("kind")
            .secret("echo-k1"),
        // ---- values are never echoed in errors (they may be secrets pasted into the wrong field) ----
        Row::post("server with a query string, not echoed", ps, admin, with_server("ghcr.io/?token=echo-q1"))
            .expect(400, "invalid_server")
            .field("spec.server")
            .secret("echo-q1"),
        Row::post("server with an unknown scheme, not echoed", ps, admin, with_server("ftp://echo-s1.example.com"))
            .expect(400, "invalid_server")
            .field("spec.server")
            .secret("echo-s1"),
        Row::post("server host with a bad character, not echoed", ps, admin, with_server("echo_h1.example.com"))
            .expect(400, "invalid_server")
            .field("spec.server")
            .secret("echo_h1"),
        Row::post("unknown acr mode, not echoed", ps, admin,
            create(json!({ "server": "acme.azurecr.io", "username": "u", "password": "p", "mode": "echo-m1" })))
            .expect(400, "invalid_value")
            .field("spec.mode")
            .secret("echo-m1"),
        Row::post("unknown render format, not echoed", "pullSecret.render", admin,
            json!({ "project": "acme", "location": LOCATION, "names": ["ghcr"], "format": "echo-f1" }))
            .expect(400, "invalid_field")
            .field("format")
            .secret("echo-f1"),
        Row::post("unknown location kind, not echoed", "location.create", admin,
            json!({ "name": "fresh.loc", "kind": "echo-lk1", "spec": {} }))
            .expect(400, "invalid_kind")
            .field("kind")
            .secret("echo-lk1"),
        Row::post("relative location path, not echoed", "location.create", admin,
            json!({ "name": "fresh.loc", "kind": "docker", "spec": { "path": "echo-p1/config.json" } }))
            .expect(400, "invalid_value")
            .field("spec.path")
            .secret("echo-p1"),
        Row::post("docker location path under /proc", "location.create", admin,
            json!({ "name": "fresh.loc", "kind": "docker", "spec": { "path": "/proc/self/echo-p2" } }))
            .expect(400, "invalid_value")
            .field("spec.path")
            .secret("echo-p2"),
        Row::post("docker location path with '..'", "location.create", admin,
            json!({ "name": "fresh.loc", "kind": "docker", "spec": { "path": "/srv/../echo-p3" } }))
            .expect(400, "invalid_value")
            .field("spec.path")
            .secret("echo-p3"),
        Row::post("namespace template, not echoed", "location.create", admin,
            json!({ "name": "fresh.loc", "kind": "kubernetes", "spec": { "inCluster": true, "namespaceTemplate": "Echo_T1" } }))
            .expect(400, "invalid_value")
            .field("spec.namespaceTemplate")
            .secret("Echo_T1"),
        Row::post("invalid image reference, not echoed", "image.resolve", admin,
            json!({ "project": "acme", "location": LOCATION, "image": "ghcr.io/echo-i1//api" }))
            .expect(400, "invalid_image")
            .field("image")
            .secret("echo-i1"),
        Row::post("unknown method, not echoed", "pullSecret.echo-u1", admin, json!({}))
            .expect(404, "unknown_method")
            .secret("echo-u1"),
        Row::post("revoke an unknown token, not echoed", "token.revoke", admin, json!({ "id": "tk_echo-t2" }))
            .expect(404, "not_found")
            .secret("echo-t2"),
        Row::raw(
            "duplicate key inside a location's spec",
            "location.create",
            admin,
            br#"{"name":"fresh.loc","kind":"docker","spec":{"path":"/srv/a/config.json","path":"/srv/b/config.json"}}"#,
        )
        .expect(400, "invalid_field")
        .field("spec.path"),
        Row::post(
            "ecr with username and password",
            ps,
            admin,
            create(basic("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "AWS", "hunter2-ecr")),
        )
        .expect(400, "field_not_allowed")
        .field("spec.username")
        .secret("hunter2-ecr"),
        Row::post(
            "public with a username",
            ps,
            admin,
            json!({ "project": "acme", "location": LOCATION, "name": "fresh", "kind": "public", "spec": { "server": "quay.io", "username": "anon" } }),
        )
        .expect(400, "field_not_allowed")
        .field("spec.username"),
        Row::post(
            "both password and token",
            ps,
            admin,
            create(json!({ "server": "docker.io", "username": "u", "password": "hunter2-pw", "token": "hunter2-tok" })),
        )
        .expect(400, "conflicting_fields")
        .field("spec.password")
        .secret("hunter2-tok"),
        Row::post("missing password", ps, admin, create(json!({ "server": "registry.example.com", "username": "u" })))
            .expect(400, "missing_field")
            .field("spec.password"),
        Row::post("username with ':'", ps, admin, create(basic("registry.example.com", "a:b", "pw")))
            .expect(400, "invalid_value")
            .field("spec.username"),
        Row::post(
            "kind docker with server ghcr.io",
            ps,
            admin,
            json!({ "project": "acme", "location": LOCATION, "name": "fresh", "kind": "docker", "spec": basic("ghcr.io", "u", "pw") }),
        )
        .expect(400, "server_mismatch")
        .field("spec.server"),
        Row::post(
            "service-account key of the wrong type",
            ps,
            admin,
            create(json!({ "server": "gcr.io", "serviceAccountKey": { "type": "authorized_user", "private_key": "hunter2-key" } })),
        )
        .expect(400, "invalid_value")
        .field("spec.serviceAccountKey")
        .secret("hunter2-key"),
        Row::post(
            "service-account key that is not JSON",
            ps,
            admin,
            create(json!({ "server": "gcr.io", "serviceAccountKey": "hunter2-not-json" })),
        )
        .expect(400, "invalid_value")
        .field("spec.serviceAccountKey")
        .secret("hunter2-not-json"),
        Row::post(
            "service-account key without private_key",
            ps,
            admin,
            create(json!({ "server": "gcr.io", "serviceAccountKey": { "type": "service_account", "client_email": "x@y.iam.gserviceaccount.com" } })),
        )
        .expect(400, "invalid_value")
        .field("spec.serviceAccountKey"),
        Row::post(
            "service-account key is a number",
            ps,
            admin,
            create(json!({ "server": "gcr.io", "serviceAccountKey": 42 })),
        )
        .expect(400, "invalid_field")
        .field("spec.serviceAccountKey"),
        // ---- the server is a host, not a URL ----
        Row::post("server with credentials", ps, admin, with_server("deploy:hunter2-at@ghcr.io"))
            .expect(400, "invalid_server")
            .field("spec.server")
            .secret("hunter2-at"),
        Row::post("server URL with credentials", ps, admin, with_server("https://deploy:hunter2-url@registry.example.com/"))
            .expect(400, "invalid_server")
            .field("spec.server")
            .secret("hunter2-url"),
        Row::post("server with a query string", ps, admin, with_server("ghcr.io?tab=packages"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("server with a fragment", ps, admin, with_server("https://ghcr.io/#top"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("server with port 0", ps, admin, with_server("registry.example.com:0"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("server with port 70000", ps, admin, with_server("registry.example.com:70000"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("server with a non-numeric port", ps, admin, with_server("registry.example.com:http"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("server with a space", ps, admin, with_server("ghcr .io"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("server with an ftp:// scheme", ps, admin, with_server("ftp://ghcr.io"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("empty server", ps, admin, with_server(""))
            .expect(400, "invalid_server")
            .field("spec.server"),
        Row::post("single-label server (read as a Docker Hub namespace)", ps, admin, with_server("myregistry"))
            .expect(400, "invalid_server")
            .field("spec.server"),
        // ---- transport ----
        Row::post(
            "body larger than 64 KiB",
            ps,
            admin,
            create(json!({ "server": "ghcr.io", "username": "u", "token": huge_token })),
        )
        .expect(413, "body_too_large"),
        Row::post("Content-Type text/plain", ps, admin, create(ghcr()))
            .header("content-type", "text/plain")
            .expect(415, "unsupported_media_type"),
        // `curl -d` labels a JSON body as a form: the type is accepted, the body must be JSON.
        Row::raw("a form body with the form Content-Type", ps, admin, b"project=acme")
            .header("content-type", "application/x-www-form-urlencoded")
            .expect(400, "invalid_json"),
        Row::post("Content-Type multipart/form-data", ps, admin, create(ghcr()))
            .header("content-type", "multipart/form-data; boundary=x")
            .expect(415, "unsupported_media_type"),
        Row::raw("GET on a method", "pullSecret.list", admin, b"")
            .verb("GET")
            .expect(405, "method_not_allowed"),
        Row::post("PUT on a method", ps, admin, create(ghcr()))
            .verb("PUT")
            .expect(405, "method_not_allowed"),
        Row::post("unknown method", "pullSecret.frobnicate", admin, json!({}))
            .expect(404, "unknown_method"),
        Row::raw("unknown path", "v2/_catalog", admin, b"")
            .verb("GET")
            .expect(404, "unknown_method"),
        // ---- authentication ----
        Row::post("no token", ps, admin, create(ghcr()))
            .auth(None)
            .expect(401, "unauthenticated"),
        Row::post("malformed token", ps, admin, create(ghcr()))
            .auth(Some("Bearer hunter2-bearer"))
            .expect(401, "invalid_token")
            .secret("hunter2-bearer"),
        Row::post("Basic instead of Bearer", ps, admin, create(ghcr()))
            .auth(Some("Basic aHVudGVyMjpodW50ZXIy"))
            .expect(401, "invalid_token")
            .secret("aHVudGVyMjpodW50ZXIy"),
        Row::post("unknown but well-formed token", ps, admin, create(ghcr()))
            .auth(Some(&format!("Bearer rc_0123456789ab_{}", "x".repeat(43))))
            .expect(401, "invalid_token"),
        Row::post("revoked token", ps, &w.revoked, create(ghcr())).expect(401, "token_revoked"),
        Row::post("expired token", "pullSecret.list", &w.expired, json!({})).expect(401, "token_expired"),
        Row::post("invalid X-Regcred-Channel", ps, admin, create(ghcr()))
            .header("x-regcred-channel", "tv")
            .expect(400, "invalid_channel"),
        // ---- another project's pull secrets ----
        Row::post(
            "create in another project",
            ps,
            owner,
            json!({ "project": "other", "location": LOCATION, "name": "fresh", "spec": ghcr() }),
        )
        .expect(403, "forbidden")
        .denied(),
        Row::post(
            "rotate another project's pull secret",
            ps,
            owner,
            json!({ "project": "other", "location": LOCATION, "name": "ghcr", "spec": ghcr() }),
        )
        .expect(403, "forbidden")
        .denied(),
        Row::post(
            "get another project's pull secret by name",
            "pullSecret.get",
            owner,
            json!({ "project": "other", "location": LOCATION, "name": "ghcr" }),
        )
        .expect(403, "forbidden"),
        Row::post("get another project's pull secret by id", "pullSecret.get", owner, json!({ "id": w.other_id }))
            .expect(403, "forbidden"),
        Row::post("list another project's pull secrets", "pullSecret.list", owner, json!({ "project": "other" }))
            .expect(403, "forbidden"),
        Row::post(
            "delete another project's pull secret by name",
            "pullSecret.delete",
            owner,
            json!({ "project": "other", "location": LOCATION, "name": "ghcr" }),
        )
        .expect(403, "forbidden")
        .denied(),
        Row::post("delete another project's pull secret by id", "pullSecret.delete", owner, json!({ "id": w.other_id }))
            .expect(403, "forbidden")
            .denied(),
        Row::post(
            "render another project's pull secret",
            "pullSecret.render",
            owner,
            json!({ "project": "other", "location": LOCATION, "names": ["ghcr"], "format": "dockerconfigjson" }),
        )
        .expect(403, "forbidden")
        .denied(),
        Row::post(
            "resolve an image in another project",
            "image.resolve",
            owner,
            json!({ "project": "other", "location": LOCATION, "image": "ghcr.io/other/api:v1" }),
        )
        .expect(403, "forbidden"),
        Row::post("list another project's tokens", "token.list", owner, json!({ "project": "other" }))
            .expect(403, "forbidden"),
        Row::post("read another project's audit log", "audit.list", owner, json!({ "project": "other" }))
            .expect(403, "forbidden"),
        // ---- roles that may not ----
        Row::post("viewer creates a pull secret", ps, viewer, create(ghcr()))
            .expect(403, "forbidden")
            .denied(),
        Row::post("viewer renders a pull secret", "pullSecret.render", viewer,
            json!({ "project": "acme", "location": LOCATION, "names": ["ghcr"], "format": "dockerconfigjson" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("editor deletes a pull secret another editor created", "pullSecret.delete", &w.editor2,
            json!({ "project": "acme", "location": LOCATION, "name": "ghcr" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("editor reads the project's audit log", "audit.list", editor, json!({}))
            .expect(403, "forbidden"),
        Row::post("editor creates a project", "project.create", editor, json!({ "name": "rogue" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("owner creates a location", "location.create", owner,
            json!({ "name": "rogue", "kind": "kubernetes", "spec": { "inCluster": true } }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("owner deletes a location", "location.delete", owner, json!({ "name": LOCATION }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("owner deletes another project", "project.delete", owner, json!({ "name": "other" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("owner creates a token for another project", "token.create", owner,
            json!({ "name": "sneaky", "project": "other", "role": "owner" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("owner creates an admin token", "token.create", owner, json!({ "name": "sneaky", "role": "admin" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("editor creates a token", "token.create", editor,
            json!({ "name": "sneaky", "project": "acme", "role": "viewer" }))
            .expect(403, "forbidden")
            .denied(),
        Row::post("owner revokes another project's token", "token.revoke", owner, json!({ "id": w.other_owner.id }))
            .expect(403, "forbidden")
            .denied(),
        // ---- things that do not exist, or are in the way ----
        Row::post("pull secret in a project that does not exist", ps, admin,
            json!({ "project": "ghost", "location": LOCATION, "name": "fresh", "spec": ghcr() }))
            .expect(404, "not_found"),
        Row::post("pull secret in a location that does not exist", ps, admin,
            json!({ "project": "acme", "location": "nowhere", "name": "fresh", "spec": ghcr() }))
            .expect(404, "not_found"),
        Row::post("get a pull secret that does not exist", "pullSecret.get", admin,
            json!({ "project": "acme", "location": LOCATION, "name": "nope" }))
            .expect(404, "not_found"),
        Row::post("get by an id that does not exist", "pullSecret.get", admin, json!({ "id": "ps_0000000000000000" }))
            .expect(404, "not_found"),
        Row::post("image.resolve in a project that does not exist", "image.resolve", admin,
            json!({ "project": "ghost", "location": LOCATION, "image": "nginx" }))
            .expect(404, "not_found"),
        Row::post("revoke a token that does not exist", "token.revoke", admin, json!({ "id": "tk_000000000000" }))
            .expect(404, "not_found"),
        Row::post("delete a referenced pull secret without force", "pullSecret.delete", admin,
            json!({ "project": "acme", "location": LOCATION, "name": "used" }))
            .expect(409, "in_use")
            .item("deployment api"),
        Row::post("delete a project that still has pull secrets", "project.delete", admin, json!({ "name": "acme" }))
            .expect(409, "in_use"),
        Row::post("create a project that exists", "project.create", admin, json!({ "name": "acme" }))
            .expect(409, "already_exists"),
        // The fixture's ECR endpoint is a closed loopback port: nothing can be minted.
        Row::post("render an ecr pull secret whose provider is unreachable", "pullSecret.render", admin,
            json!({ "project": "acme", "location": LOCATION, "names": ["ecr"], "format": "dockerconfigjson" }))
            .expect(409, "credential_unavailable"),
        // ---- other methods' own inputs ----
        Row::post("pull secret named by id and by name", "pullSecret.get", admin,
            json!({ "id": w.ghcr_id, "project": "acme", "location": LOCATION, "name": "ghcr" }))
            .expect(400, "invalid_reference"),
        Row::post("render naming no pull secret", "pullSecret.render", admin,
            json!({ "project": "acme", "location": LOCATION, "names": [], "format": "dockerconfigjson" }))
            .expect(400, "missing_field")
            .field("names"),
        Row::post("render to an unknown format", "pullSecret.render", admin,
            json!({ "project": "acme", "location": LOCATION, "names": ["ghcr"], "format": "htpasswd" }))
            .expect(400, "invalid_field")
            .field("format"),
        Row::post("invalid image reference (empty path component)", "image.resolve", admin,
            json!({ "project": "acme", "location": LOCATION, "image": "ghcr.io/acme//api" }))
            .expect(400, "invalid_image")
            .field("image"),
        Row::post("invalid image reference (upper case repository)", "image.resolve", admin,
            json!({ "project": "acme", "location": LOCATION, "image": "ghcr.io/Acme/api:v1" }))
            .expect(400, "invalid_image")
            .field("image"),
        Row::post("unknown matching rules", "image.resolve", admin,
            json!({ "project": "acme", "location": LOCATION, "image": "nginx", "rules": "docker" }))
            .expect(400, "invalid_value")
            .field("rules"),
        Row::post("token with an invalid role", "token.create", admin,
            json!({ "name": "ci", "project": "acme", "role": "superuser" }))
            .expect(400, "invalid_role")
            .field("role"),
        Row::post("token TTL below a minute", "token.create", admin,
            json!({ "name": "ci", "project": "acme", "role": "viewer", "ttlSeconds": 59 }))
            .expect(400, "invalid_value")
            .field("ttlSeconds"),
        Row::post("token TTL above ten years", "token.create", admin,
            json!({ "name": "ci", "project": "acme", "role": "viewer", "ttlSeconds": u64::MAX }))
            .expect(400, "invalid_value")
            .field("ttlSeconds"),
        Row::post("negative token TTL", "token.create", admin,
            json!({ "name": "ci", "project": "acme", "role": "viewer", "ttlSeconds": -60 }))
            .expect(400, "invalid_field")
            .field("ttlSeconds"),
        Row::post("admin token bound to a project", "token.create", admin,
            json!({ "name": "ci", "project": "acme", "role": "admin" }))
            .expect(400, "field_not_allowed")
            .field("project"),
        Row::post("project token without a project", "token.create", admin, json!({ "name": "ci", "role": "viewer" }))
            .expect(400, "missing_field")
            .field("project"),
        Row::post("audit.list with limit 0", "audit.list", admin, json!({ "limit": 0 }))
            .expect(400, "invalid_value")
            .field("limit"),
        Row::post("location of an unknown kind", "location.create", admin, json!({ "name": "mars", "kind": "nomad" }))
            .expect(400, "invalid_kind")
            .field("kind"),
        Row::post("location with a relative kubeconfig path", "location.create", admin,
            json!({ "name": "mars", "kind": "kubernetes", "spec": { "kubeconfig": "kube/config" } }))
            .expect(400, "invalid_value")
            .field("spec.kubeconfig"),
        Row::post("project name with upper case", "project.create", admin, json!({ "name": "Acme" }))
            .expect(400, "invalid_name")
            .field("name"),
    ]
}

/// What a row did wrong, and whether it left the store changed for the rows after it.
struct Outcome {
    problems: Vec<String>,
    store_changed: bool,
}

/// Checks one row; returns what was wrong with the answer or the store.
async fn check(fx: &Fixture, row: &Row) -> Outcome {
    let mut problems = Vec::new();
    let before = fx.snapshot().await;
    let reply = fx.send(row.request()).await;
    let after = fx.snapshot().await;

    let error = &reply.body["error"];
    let got = (reply.status.as_u16(), error["code"].as_str().unwrap_or(""));
    if got != (row.status, row.code) || reply.body["ok"] != json!(false) {
        problems.push(format!(
            "expected {} {}, got {} {}: {}",
            row.status,
            row.code,
            got.0,
            got.1,
            truncate(&reply.raw)
        ));
    }
    let message = error["message"].as_str().unwrap_or("");
    if message.trim().len() < 10 || message.contains("internal") {
        problems.push(format!("message is not actionable: {message:?}"));
    }
    let first = &error["items"][0];
    if let Some(field) = row.field {
        if first["field"].as_str() != Some(field) {
            problems.push(format!(
                "expected items[0].field {field:?}, got {}",
                first["field"]
            ));
        }
        if !message.contains(field) {
            problems.push(format!(
                "message does not name the field {field:?}: {message:?}"
            ));
        }
    }
    if let Some(item) = row.item {
        if first["message"].as_str() != Some(item) {
            problems.push(format!(
                "expected items[0].message {item:?}, got {}",
                first["message"]
            ));
        }
    }
    if let Some(secret) = row.secret {
        if reply.raw.contains(secret) {
            problems.push(format!(
                "the answer echoes the secret {secret:?}: {}",
                truncate(&reply.raw)
            ));
        }
    }
    let effect = check_effect(row, &before, &after);
    Outcome {
        store_changed: !effect.is_empty(),
        problems: problems.into_iter().chain(effect).collect(),
    }
}

/// Compares the store before and after a row with what the row may change.
fn check_effect(row: &Row, before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut problems: Vec<String> = after
        .record_changes_since(before)
        .into_iter()
        .map(|c| format!("the store changed: {c}"))
        .collect();
    let added = after.new_audit_since(before);
    let describe = |events: &[AuditRecord]| -> String {
        events
            .iter()
            .map(|e| {
                format!(
                    "{} {} by {} on {}: {} {}",
                    e.action, e.target, e.actor, e.channel, e.outcome, e.detail
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match row.effect {
        Effect::Unchanged if !added.is_empty() => {
            problems.push(format!(
                "expected no audit event, got [{}]",
                describe(added)
            ));
        }
        Effect::Unchanged => {}
        Effect::Denied => {
            let actor = row.actor.as_deref().unwrap_or("");
            let expected = |e: &AuditRecord| {
                let reason = serde_json::from_str::<Value>(&e.detail)
                    .ok()
                    .and_then(|d| d["reason"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                e.outcome == "denied"
                    && e.action == row.method()
                    && e.actor == actor
                    && e.channel == "api"
                    && !reason.is_empty()
            };
            if !matches!(added, [event] if expected(event)) {
                problems.push(format!(
                    "expected exactly one audit event \"{} denied\" by {actor} on channel api with a reason, got {} [{}]",
                    row.method(),
                    added.len(),
                    describe(added)
                ));
            }
        }
    }
    problems
}

fn truncate(s: &str) -> String {
    s.chars().take(600).collect()
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_stable_code_and_change_nothing() {
    let mut w = world().await;
    let mut table = rows(&w);
    let total = table.len();
    assert!(total >= 35, "the table must keep at least 35 rows");
    let mut descriptions: Vec<&str> = table.iter().map(|r| r.what.as_str()).collect();
    descriptions.sort_unstable();
    descriptions.dedup();
    assert_eq!(
        descriptions.len(),
        total,
        "row descriptions must be distinct"
    );

    let mut failures = Vec::new();
    for i in 0..total {
        let row = &table[i];
        let outcome = check(&w.fx, row).await;
        if !outcome.problems.is_empty() {
            failures.push(format!(
                "row {:?} ({} {}):\n  {}",
                row.what,
                row.verb,
                row.path,
                outcome.problems.join("\n  ")
            ));
        }
        // A row that wrongly changed something would skew the rows after it: start afresh.
        if outcome.store_changed {
            w = world().await;
            table = rows(&w);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        total,
        failures.join("\n\n")
    );
}
