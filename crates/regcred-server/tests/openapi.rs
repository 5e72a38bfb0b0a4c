//! `/openapi.json` against the code and against the outside world: every method's request and
//! result come from its handler's types (strict requests, the code enums, the envelopes); the
//! document is valid OpenAPI 3.1 by openapi-spec-validator; and schemathesis, fuzzing a real
//! server on loopback from the document, gets no 5xx and no answer that breaks its schema.
//!
//! The two Python tools live in the virtualenv `scripts/setup` makes
//! (`$REGCRED_SCHEMATHESIS_VENV`, default `/var/tmp/regcred-schemathesis-venv`); without it the
//! tests fail saying so, they never skip.

mod fixture;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixture::{basic, Fixture, LOCATION};
use regcred_core::api::{DeliveryState, LocationKind, Role};
use regcred_core::codes::{DeliveryCode, ErrorCode};
use regcred_server::methods::METHODS;
use serde_json::{json, Value};

/// Where `scripts/setup` creates the virtualenv unless `REGCRED_SCHEMATHESIS_VENV` says otherwise.
const DEFAULT_VENV: &str = "/var/tmp/regcred-schemathesis-venv";

/// The whole schemathesis run must end within this, or it is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// A program of the virtualenv; panics, saying how to install it, when it is not there.
#[track_caller]
fn venv_program(name: &str) -> PathBuf {
    let venv = std::env::var_os("REGCRED_SCHEMATHESIS_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_VENV));
    let program = venv.join("bin").join(name);
    if !program.is_file() {
        panic!(
            "{} does not exist. Run scripts/setup (it creates the virtualenv {} with the pinned \
             schemathesis and openapi-spec-validator), or point REGCRED_SCHEMATHESIS_VENV at a \
             virtualenv that has them; these tests need the real tools and never skip",
            program.display(),
            venv.display()
        );
    }
    program
}

/// What a `$ref` in the document points at (other schemas are answered as they are).
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(pointer) => {
            let target = document
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{pointer} points at nothing"));
            resolve(document, target)
        }
        None => schema,
    }
}

/// The strings an enum schema allows: its `enum`, or the `const`s of its `oneOf` (schemars
/// writes that for enums whose variants have doc comments, to keep them as descriptions).
fn strings(schema: &Value) -> Vec<&str> {
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .map(|v| v.as_str().expect("a string"))
            .collect();
    }
    schema["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("not an enum: {schema}"))
        .iter()
        .map(|v| v["const"].as_str().expect("a string const"))
        .collect()
}

fn component<'a>(document: &'a Value, name: &str) -> &'a Value {
    let schema = &document["components"]["schemas"][name];
    assert!(schema.is_object(), "no component {name}");
    schema
}

#[test]
fn every_method_takes_and_answers_its_handlers_types() {
    let document = regcred_server::openapi::build();
    for m in METHODS {
        let post = &document["paths"][format!("/{}", m.name)]["post"];
        let request = &post["requestBody"]["content"]["application/json"]["schema"];
        assert!(request["$ref"].is_string(), "{}: {request}", m.name);
        let request = resolve(&document, request);
        assert_eq!(request["type"], "object", "{}: {request}", m.name);
        assert_eq!(
            request["additionalProperties"],
            json!(false),
            "{}: requests refuse unknown fields",
            m.name
        );

        let ok = &post["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(ok["required"], json!(["ok", "result"]), "{}", m.name);
        assert_eq!(ok["properties"]["ok"], json!({"const": true}), "{}", m.name);
        let result = resolve(&document, &ok["properties"]["result"]);
        assert_eq!(result["type"], "object", "{}: {result}", m.name);
        assert!(
            result["properties"]
                .as_object()
                .is_some_and(|p| !p.is_empty()),
            "{}: the result has fields: {result}",
            m.name
        );

        let failure = &post["responses"]["default"]["content"]["application/json"]["schema"];
        assert_eq!(
            failure["$ref"], "#/components/schemas/Failure",
            "{}",
            m.name
        );
    }

    let failure = component(&document, "Failure");
    assert_eq!(failure["required"], json!(["ok", "error"]));
    assert_eq!(failure["properties"]["ok"], json!({"const": false}));
    let error = resolve(&document, &failure["properties"]["error"]);
    assert_eq!(error["required"], json!(["code", "message"]));
    let codes = resolve(&document, &error["properties"]["code"]);
    assert_eq!(
        strings(codes),
        ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
    );

    let delivery = component(&document, "DeliveryStatus");
    assert_eq!(
        delivery["required"],
        json!(["location", "target", "state", "updatedAt"])
    );
    let state = resolve(&document, &delivery["properties"]["state"]);
    assert_eq!(
        strings(state),
        DeliveryState::ALL.map(DeliveryState::as_str)
    );
    // `code` is optional: a DeliveryCode or null.
    let code = &delivery["properties"]["code"];
    let listed = code["anyOf"]
        .as_array()
        .expect("a code or null")
        .iter()
        .map(|s| resolve(&document, s))
        .find(|s| s["type"] == "string")
        .expect("the delivery codes");
    assert_eq!(
        strings(listed),
        DeliveryCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
    );

    // Required fields and enums of requests, as serde decodes them.
    let project_create = component(&document, "ProjectCreate");
    assert_eq!(project_create["required"], json!(["name"]));
    let token_create = component(&document, "TokenCreate");
    assert_eq!(token_create["required"], json!(["name", "role"]));
    let roles = resolve(&document, &token_create["properties"]["role"]);
    let role_strings = strings(roles);
    for role in &role_strings {
        assert!(Role::parse(role).is_some(), "{role}");
    }
    assert_eq!(role_strings.len(), 6);
    let location_create = component(&document, "LocationCreate");
    let kinds = resolve(&document, &location_create["properties"]["kind"]);
    assert_eq!(strings(kinds), LocationKind::ALL.map(LocationKind::as_str));
    let render = component(&document, "PullSecretRender");
    let formats = resolve(&document, &render["properties"]["format"]);
    assert!(strings(formats).contains(&"k8s-secret-yaml"));
    let spec = component(&document, "CredentialSpec");
    assert_eq!(spec["additionalProperties"], json!(false));
    assert_eq!(
        spec["properties"]["serviceAccountKey"]["type"],
        json!(["object", "string", "null"])
    );
}

/// Runs openapi-spec-validator on `document`; answers its verdict and what it said.
fn validate(document: &Value) -> (bool, String) {
    let mut child = Command::new(venv_program("python"))
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(sys.stdin))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the virtualenv's python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(document.to_string().as_bytes())
        .expect("write the document");
    let out = child.wait_with_output().expect("python ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_document_is_valid_openapi() {
    let document = regcred_server::openapi::build();
    let (valid, said) = validate(&document);
    assert!(
        valid,
        "openapi-spec-validator refuses /openapi.json:\n{said}"
    );

    // And the validator does look: a document whose result references nothing is refused.
    let mut broken = document.clone();
    broken["paths"]["/project.get"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["properties"]["result"] = json!({"$ref": "#/components/schemas/Nothing"});
    let (valid, _) = validate(&broken);
    assert!(!valid, "a dangling $ref passed the validator");
}

/// Sets the proxy of every HTTP client the server builds (registry checks, credential minting)
/// to a closed loopback port, so nothing the fuzzer makes up (a registry server, an image, a
/// token endpoint in a service-account key) is ever reached: every such request is refused at
/// once, on this machine.
fn keep_outbound_requests_on_loopback() {
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        std::env::set_var(name, "http://127.0.0.1:1");
    }
    for name in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(name);
    }
}

/// The fuzzed server's world: a project with a pull secret in the fixture's (in-cluster, so
/// unreachable) Kubernetes location and in a Docker location whose auth files are written under
/// `dir`, and a project token. The list methods then answer real items.
async fn seed(fx: &Fixture, dir: &Path) {
    fx.create_project("acme").await;
    fx.create_location(LOCATION).await;
    let path = dir.join("{project}").join("config.json");
    fx.call(
        "location.create",
        &fx.admin,
        json!({ "name": "host", "kind": "docker", "spec": { "path": path.to_str().expect("utf-8") } }),
    )
    .await
    .ok();
    fx.create_pull_secret(
        &fx.admin,
        "acme",
        "ghcr",
        basic("ghcr.io", "bot", "s3cret-pass"),
    )
    .await;
    fx.call(
        "pullSecret.create",
        &fx.admin,
        json!({ "project": "acme", "location": "host", "name": "quay", "spec": basic("quay.io", "bot", "s3cret-pass") }),
    )
    .await
    .ok();
    fx.create_token("viewer", Some("acme")).await;
}

/// Schemathesis against a real server on a loopback port, with the admin token, a bounded number
/// of examples per operation, and the checks that matter here: no 5xx, every answer of the
/// documented status, content type and schema. `location.create` is left out: a fuzzed location
/// would have the server write auth files and manifests wherever the fuzzer says.
#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_its_schema() {
    let st = venv_program("st");
    keep_outbound_requests_on_loopback();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let work = tempfile::tempdir().expect("temp dir");
    let (fx, listener) = runtime.block_on(async {
        let fx = Fixture::new().await;
        seed(&fx, work.path()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        (fx, listener)
    });
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(regcred_server::run(
        listener,
        fx.state.clone(),
        regcred_server::connection::Limits::default(),
        None,
        async {
            stopped.await.ok();
        },
    ));

    let mut child = Command::new(&st)
        .current_dir(work.path())
        .args(["run", &format!("http://{addr}/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", fx.admin)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "25", "--seed", "20240601", "--workers", "2"])
        .args(["--exclude-operation-id", "location.create"])
        .args(["--request-timeout", "20", "--output-sanitize", "true"])
        .env("NO_COLOR", "1")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", work.path().join(".hypothesis"))
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schemathesis");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            child.kill().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().expect("schemathesis output");
    stop.send(()).ok();
    runtime
        .block_on(server)
        .expect("server task")
        .expect("server ends cleanly");

    // Schemathesis masks the Authorization header; the token is taken out again regardless.
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(&fx.admin, "<admin token>");
    let status = status.unwrap_or_else(|| {
        panic!(
            "schemathesis did not finish within {} s:\n{said}",
            RUN_LIMIT.as_secs()
        )
    });
    assert!(status.success(), "schemathesis found problems:\n{said}");
    // It really ran: every operation but the one left out was tested.
    let tested = METHODS.len() - 1;
    assert!(
        said.contains(&format!("{tested} passed")) || said.contains(&format!("{tested} selected")),
        "schemathesis did not test the {tested} operations:\n{said}"
    );
}
