//! regcred's registry client against the real distribution registry 2.8 (Debian
//! `docker-registry`), in htpasswd mode and in token mode (with regcred-testkit's signing token
//! server), over plain HTTP and over TLS with a CA made by the test, and against the real skopeo
//! as the reference client. Every classification a real peer can produce is produced here by a
//! real scenario; 429 and 5xx, which the real registry cannot be made to answer, are covered by
//! the fakes in the crate's unit tests. The one stand-in is the "not a registry" web server, a
//! small axum app, since the point is that it is not a registry.
//!
//! Needs the Debian packages `docker-registry`, `skopeo` and `apache2-utils` (scripts/setup
//! installs them); without them these tests fail, they do not skip. Each test starts its
//! registries once and makes many checks against them.

use std::future::IntoFuture;

use axum::http::{header, StatusCode};
use axum::Router;
use regcred_registry::trust::TrustStore;
use regcred_registry::{
    CheckReport, ClientConfig, Credentials, Endpoint, Outcome, RegistryClient, Target,
};
use regcred_testkit::{
    push_test_image, Auth, Grant, Registry, RegistryOptions, Skopeo, SkopeoAuth, TestCa, TlsMode,
    TokenServer, TokenServerOptions,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A password with the characters that break naive encoders: `:` (the Basic separator), `&`,
/// `<`, `>`, `%`, a space and non-ASCII.
const ODD_PASSWORD: &str = "p:a&s<s> w%rd-é";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Which CA a client trusts beyond the built-in roots, and which hosts it may reach over plain
/// HTTP.
#[derive(Clone, Default)]
struct ClientSetup {
    ca_pem: Option<String>,
    insecure_http_hosts: Vec<String>,
}

impl ClientSetup {
    fn plain(hosts: &[String]) -> ClientSetup {
        ClientSetup {
            ca_pem: None,
            insecure_http_hosts: hosts.to_vec(),
        }
    }

    fn trusting(ca: &TestCa) -> ClientSetup {
        ClientSetup {
            ca_pem: Some(ca.ca_pem().to_string()),
            insecure_http_hosts: Vec::new(),
        }
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::new(ClientConfig {
            trust: self.ca_pem.iter().fold(TrustStore::system(), |mut t, pem| {
                t.add_pem(pem.as_bytes()).expect("the test CA");
                t
            }),
            insecure_http_hosts: self.insecure_http_hosts.clone(),
            ..ClientConfig::default()
        })
        .expect("client builds")
    }
}

fn manifest(repository: &str, reference: &str) -> Target {
    Target::Manifest {
        repository: repository.to_string(),
        reference: reference.to_string(),
    }
}

fn credentials(user_password: Option<(&str, &str)>) -> Option<Credentials> {
    user_password.map(|(user, password)| Credentials::new(user, password))
}

async fn check(
    client: &RegistryClient,
    host: &str,
    user_password: Option<(&str, &str)>,
    target: &Target,
) -> CheckReport {
    client
        .check(
            &Endpoint::new(host),
            credentials(user_password).as_ref(),
            target,
        )
        .await
}

fn describe(report: &CheckReport) -> String {
    format!(
        "{:?} (http {:?}, {} round trips): {} | {:?}",
        report.outcome, report.http_status, report.round_trips, report.hint, report.detail
    )
}

#[track_caller]
fn assert_outcome(report: &CheckReport, expected: Outcome, what: &str) {
    assert_eq!(
        report.outcome,
        expected,
        "{what}: expected {expected:?}, got {}",
        describe(report)
    );
}

/// One scenario: who checks which target, and what the answer must be.
struct Case {
    what: &'static str,
    creds: Option<(&'static str, &'static str)>,
    target: Target,
    expected: Outcome,
}

fn case(
    what: &'static str,
    creds: Option<(&'static str, &'static str)>,
    target: Target,
    expected: Outcome,
) -> Case {
    Case {
        what,
        creds,
        target,
        expected,
    }
}

/// Runs every case twice — each with a fresh client (cold caches), then all in order on one
/// shared client (warm caches: a cached challenge or token must never change an answer) — and
/// fails once, listing every mismatch.
async fn assert_cases(setup: &ClientSetup, host: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    let shared = setup.client();
    for (pass, label) in [(0, "cold client"), (1, "shared client")] {
        for case in cases {
            let report = if pass == 0 {
                check(&setup.client(), host, case.creds, &case.target).await
            } else {
                check(&shared, host, case.creds, &case.target).await
            };
            if report.outcome != case.expected {
                failures.push(format!(
                    "[{label}] {} ({}): expected {:?}, got {}",
                    case.what,
                    case.target_label(),
                    case.expected,
                    describe(&report)
                ));
            }
            let is_manifest = matches!(case.target, Target::Manifest { .. });
            if report.outcome == Outcome::Ok && is_manifest && report.digest.is_none() {
                failures.push(format!("[{label}] {}: ok without a digest", case.what));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks misclassified:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}

impl Case {
    fn target_label(&self) -> String {
        match &self.target {
            Target::Registry => "/v2/".to_string(),
            Target::Manifest {
                repository,
                reference,
            } => format!("{repository}:{reference}"),
        }
    }
}

async fn htpasswd_registry(tls: Option<&TestCa>) -> Registry {
    Registry::start(RegistryOptions {
        auth: Auth::htpasswd(&[("ada", "ada-pw"), ("odd", ODD_PASSWORD)]),
        tls,
    })
    .await
}

/// `pusher` may push and pull everything; `reader` may pull `team/app`; `outsider` is a valid
/// account whose only grant is on another repository; `odd` may pull `team/app` and has an
/// awkward password.
fn token_server(tls: Option<&TestCa>) -> TokenServer {
    TokenServer::start(TokenServerOptions {
        service: "regcred-test-registry".into(),
        issuer: "regcred-test-token-issuer".into(),
        grants: vec![
            Grant::new("pusher", "push-pw", "*", &["pull", "push"]),
            Grant::new("reader", "read-pw", "team/app", &["pull"]),
            Grant::new("outsider", "out-pw", "elsewhere/repo", &["pull"]),
            Grant::new("odd", ODD_PASSWORD, "team/app", &["pull"]),
        ],
        tls,
    })
}

async fn token_registry(tokens: &TokenServer, tls: Option<&TestCa>) -> Registry {
    Registry::start(RegistryOptions {
        auth: Auth::token(tokens),
        tls,
    })
    .await
}

/// A web server that is not a registry: every path answers `status` with an HTML page.
async fn html_server(status: StatusCode) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().fallback(move || async move {
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).into_future().await;
    });
    (host, server)
}

// ---------------------------------------------------------------------------------------------
// Classification against the real registry

#[tokio::test]
async fn htpasswd_registry_over_plain_http() {
    let registry = htpasswd_registry(None).await;
    let host = registry.host();
    let digest = push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("ada", "ada-pw")),
        TlsMode::Insecure,
    )
    .await;
    let setup = ClientSetup::plain(std::slice::from_ref(&host));

    let ok = check(
        &setup.client(),
        &host,
        Some(("ada", "ada-pw")),
        &manifest("team/app", "v1"),
    )
    .await;
    assert_outcome(&ok, Outcome::Ok, "ada pulls team/app:v1");
    assert_eq!(ok.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(ok.media_type, Some(OCI_MANIFEST));
    assert_eq!(ok.http_status, Some(200));

    let app = || manifest("team/app", "v1");
    assert_cases(
        &setup,
        &host,
        &[
            case(
                "right password",
                Some(("ada", "ada-pw")),
                app(),
                Outcome::Ok,
            ),
            case(
                "by digest",
                Some(("ada", "ada-pw")),
                manifest("team/app", &digest),
                Outcome::Ok,
            ),
            case(
                "awkward password",
                Some(("odd", ODD_PASSWORD)),
                app(),
                Outcome::Ok,
            ),
            case(
                "wrong password",
                Some(("ada", "nope")),
                app(),
                Outcome::Unauthorized,
            ),
            case(
                "unknown user",
                Some(("eve", "ada-pw")),
                app(),
                Outcome::Unauthorized,
            ),
            case("anonymous", None, app(), Outcome::Unauthorized),
            case(
                "missing tag",
                Some(("ada", "ada-pw")),
                manifest("team/app", "no-such-tag"),
                Outcome::NotFound,
            ),
            case(
                "missing digest",
                Some(("ada", "ada-pw")),
                manifest(
                    "team/app",
                    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                ),
                Outcome::NotFound,
            ),
            case(
                "missing repository",
                Some(("ada", "ada-pw")),
                manifest("nobody/here", "v1"),
                Outcome::NotFound,
            ),
            case(
                "registry, right password",
                Some(("ada", "ada-pw")),
                Target::Registry,
                Outcome::Ok,
            ),
            case(
                "registry, wrong password",
                Some(("ada", "nope")),
                Target::Registry,
                Outcome::Unauthorized,
            ),
            case(
                "registry, anonymous",
                None,
                Target::Registry,
                Outcome::Unauthorized,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn token_registry_over_plain_http() {
    let tokens = token_server(None);
    let registry = token_registry(&tokens, None).await;
    let host = registry.host();
    let digest = push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    push_test_image(
        &host,
        "other/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    let setup = ClientSetup::plain(&[host.clone(), tokens.host()]);

    let ok = check(
        &setup.client(),
        &host,
        Some(("reader", "read-pw")),
        &manifest("team/app", "v1"),
    )
    .await;
    assert_outcome(&ok, Outcome::Ok, "reader pulls team/app:v1");
    assert_eq!(ok.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(ok.media_type, Some(OCI_MANIFEST));

    let app = || manifest("team/app", "v1");
    assert_cases(
        &setup,
        &host,
        &[
            case("reader", Some(("reader", "read-pw")), app(), Outcome::Ok),
            case("pusher", Some(("pusher", "push-pw")), app(), Outcome::Ok),
            case(
                "reader by digest",
                Some(("reader", "read-pw")),
                manifest("team/app", &digest),
                Outcome::Ok,
            ),
            case(
                "awkward password",
                Some(("odd", ODD_PASSWORD)),
                app(),
                Outcome::Ok,
            ),
            case(
                "wrong password",
                Some(("reader", "nope")),
                app(),
                Outcome::Unauthorized,
            ),
            case(
                "unknown user",
                Some(("eve", "read-pw")),
                app(),
                Outcome::Unauthorized,
            ),
            case("anonymous", None, app(), Outcome::Unauthorized),
            case(
                "valid account, grant on another repository",
                Some(("outsider", "out-pw")),
                app(),
                Outcome::Denied,
            ),
            case(
                "reader on an existing repository outside the grant",
                Some(("reader", "read-pw")),
                manifest("other/app", "v1"),
                Outcome::Denied,
            ),
            case(
                "missing tag",
                Some(("reader", "read-pw")),
                manifest("team/app", "no-such-tag"),
                Outcome::NotFound,
            ),
            case(
                "missing repository",
                Some(("pusher", "push-pw")),
                manifest("nobody/here", "v1"),
                Outcome::NotFound,
            ),
            case(
                "registry, reader",
                Some(("reader", "read-pw")),
                Target::Registry,
                Outcome::Ok,
            ),
            case(
                "registry, account without any useful grant",
                Some(("outsider", "out-pw")),
                Target::Registry,
                Outcome::Ok,
            ),
            case(
                "registry, wrong password",
                Some(("reader", "nope")),
                Target::Registry,
                Outcome::Unauthorized,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn token_registry_with_the_oauth2_password_grant() {
    let tokens = token_server(None);
    let registry = token_registry(&tokens, None).await;
    let host = registry.host();
    push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    let setup = ClientSetup::plain(&[host.clone(), tokens.host()]);
    let app = manifest("team/app", "v1");

    for (what, creds, expected) in [
        ("reader", ("reader", "read-pw"), Outcome::Ok),
        ("awkward password", ("odd", ODD_PASSWORD), Outcome::Ok),
        ("wrong password", ("reader", "nope"), Outcome::Unauthorized),
        ("outsider", ("outsider", "out-pw"), Outcome::Denied),
    ] {
        let client = setup.client().with_oauth_password_grant(true);
        let posts = tokens.post_requests();
        let report = check(&client, &host, Some(creds), &app).await;
        assert_outcome(&report, expected, what);
        assert_eq!(
            tokens.post_requests(),
            posts + 1,
            "{what}: the token came from POST /token"
        );
    }
}

#[tokio::test]
async fn tls_registries_need_the_ca() {
    let ca = TestCa::new();
    let other_ca = TestCa::new();
    let basic = htpasswd_registry(Some(&ca)).await;
    let tokens = token_server(Some(&ca));
    let bearer = token_registry(&tokens, Some(&ca)).await;
    let basic_digest = push_test_image(
        &basic.host(),
        "team/app",
        "v1",
        Some(("ada", "ada-pw")),
        TlsMode::Ca(&ca),
    )
    .await;
    push_test_image(
        &bearer.host(),
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Ca(&ca),
    )
    .await;
    let trusting = ClientSetup::trusting(&ca);
    let untrusting = ClientSetup::default();
    let wrong_ca = ClientSetup::trusting(&other_ca);
    let app = || manifest("team/app", "v1");

    let ok = check(
        &trusting.client(),
        &basic.host(),
        Some(("ada", "ada-pw")),
        &app(),
    )
    .await;
    assert_outcome(&ok, Outcome::Ok, "htpasswd over TLS with the CA");
    assert_eq!(ok.digest.as_deref(), Some(basic_digest.as_str()));
    assert_eq!(ok.round_trips, 2);

    let ok = check(
        &trusting.client(),
        &bearer.host(),
        Some(("reader", "read-pw")),
        &app(),
    )
    .await;
    assert_outcome(&ok, Outcome::Ok, "token mode over TLS with the CA");
    assert_eq!(ok.round_trips, 3);

    assert_cases(
        &trusting,
        &basic.host(),
        &[
            case(
                "right password",
                Some(("ada", "ada-pw")),
                app(),
                Outcome::Ok,
            ),
            case(
                "wrong password",
                Some(("ada", "nope")),
                app(),
                Outcome::Unauthorized,
            ),
            case(
                "missing tag",
                Some(("ada", "ada-pw")),
                manifest("team/app", "nope"),
                Outcome::NotFound,
            ),
        ],
    )
    .await;
    assert_cases(
        &trusting,
        &bearer.host(),
        &[
            case("reader", Some(("reader", "read-pw")), app(), Outcome::Ok),
            case(
                "wrong password",
                Some(("reader", "nope")),
                app(),
                Outcome::Unauthorized,
            ),
            case(
                "outsider",
                Some(("outsider", "out-pw")),
                app(),
                Outcome::Denied,
            ),
        ],
    )
    .await;
    for (what, setup) in [("without the CA", &untrusting), ("another CA", &wrong_ca)] {
        for registry in [&basic, &bearer] {
            assert_cases(
                setup,
                &registry.host(),
                &[
                    case(what, Some(("ada", "ada-pw")), app(), Outcome::TlsError),
                    case(what, None, app(), Outcome::TlsError),
                    case(
                        what,
                        Some(("ada", "ada-pw")),
                        Target::Registry,
                        Outcome::TlsError,
                    ),
                ],
            )
            .await;
        }
    }
}

#[tokio::test]
async fn https_to_a_plain_http_registry_is_a_tls_error() {
    let registry = htpasswd_registry(None).await;
    // The host is not listed for plain HTTP, so the client speaks TLS to a plain HTTP server.
    let report = check(
        &ClientSetup::default().client(),
        &registry.host(),
        Some(("ada", "ada-pw")),
        &manifest("team/app", "v1"),
    )
    .await;
    assert_outcome(&report, Outcome::TlsError, "https:// to a plain HTTP port");
}

#[tokio::test]
async fn stopped_registry_is_unreachable_and_comes_back() {
    let mut registry = htpasswd_registry(None).await;
    let host = registry.host();
    push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("ada", "ada-pw")),
        TlsMode::Insecure,
    )
    .await;
    let setup = ClientSetup::plain(std::slice::from_ref(&host));
    let warm = setup.client();
    let ada = Some(("ada", "ada-pw"));
    let app = manifest("team/app", "v1");
    assert_outcome(
        &check(&warm, &host, ada, &app).await,
        Outcome::Ok,
        "before the stop",
    );

    registry.stop();
    for (what, client) in [("warm client", &warm), ("cold client", &setup.client())] {
        for target in [&app, &Target::Registry] {
            let report = check(client, &host, ada, target).await;
            assert_outcome(&report, Outcome::Unreachable, what);
            assert_eq!(report.http_status, None, "{what}: nothing answered");
        }
    }

    registry.restart().await;
    assert_outcome(
        &check(&warm, &host, ada, &app).await,
        Outcome::Ok,
        "after the restart, same client",
    );
}

#[tokio::test]
async fn token_service_down_is_unreachable() {
    let tokens = token_server(None);
    let registry = token_registry(&tokens, None).await;
    let host = registry.host();
    push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Insecure,
    )
    .await;
    let setup = ClientSetup::plain(&[host.clone(), tokens.host()]);
    drop(tokens);
    let report = check(
        &setup.client(),
        &host,
        Some(("reader", "read-pw")),
        &manifest("team/app", "v1"),
    )
    .await;
    assert_outcome(&report, Outcome::Unreachable, "token service stopped");
}

#[tokio::test]
async fn web_servers_that_are_not_registries() {
    for status in [StatusCode::NOT_FOUND, StatusCode::OK] {
        let (host, server) = html_server(status).await;
        let setup = ClientSetup::plain(std::slice::from_ref(&host));
        for (creds, target) in [
            (Some(("ada", "ada-pw")), manifest("team/app", "v1")),
            (None, manifest("team/app", "v1")),
            (Some(("ada", "ada-pw")), Target::Registry),
            (None, Target::Registry),
        ] {
            let report = check(&setup.client(), &host, creds, &target).await;
            assert_outcome(
                &report,
                Outcome::NotARegistry,
                &format!("HTML {status} for {target:?}, creds {}", creds.is_some()),
            );
        }
        server.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips: 2 for Basic registries, 3 for token registries, 1 once cached

#[tokio::test]
async fn basic_round_trips_cold_2_then_1() {
    let registry = htpasswd_registry(None).await;
    let host = registry.host();
    for tag in ["v1", "v2"] {
        push_test_image(
            &host,
            "team/app",
            tag,
            Some(("ada", "ada-pw")),
            TlsMode::Insecure,
        )
        .await;
    }
    let setup = ClientSetup::plain(std::slice::from_ref(&host));
    let ada = Some(("ada", "ada-pw"));
    let client = setup.client();

    let cold = check(&client, &host, ada, &manifest("team/app", "v1")).await;
    assert_outcome(&cold, Outcome::Ok, "cold");
    assert_eq!(cold.round_trips, 2, "HEAD → 401 Basic → HEAD with Basic");
    let warm = check(&client, &host, ada, &manifest("team/app", "v1")).await;
    assert_outcome(&warm, Outcome::Ok, "warm");
    assert_eq!(warm.round_trips, 1, "the cached challenge says Basic");
    let other_tag = check(&client, &host, ada, &manifest("team/app", "v2")).await;
    assert_outcome(&other_tag, Outcome::Ok, "warm, other tag");
    assert_eq!(other_tag.round_trips, 1);

    let registry_cold = check(&setup.client(), &host, ada, &Target::Registry).await;
    assert_outcome(&registry_cold, Outcome::Ok, "registry check, cold");
    assert_eq!(registry_cold.round_trips, 2);
}

#[tokio::test]
async fn bearer_round_trips_cold_3_then_1() {
    let tokens = token_server(None);
    let registry = token_registry(&tokens, None).await;
    let host = registry.host();
    for repository in ["team/app", "other/app"] {
        push_test_image(
            &host,
            repository,
            "v1",
            Some(("pusher", "push-pw")),
            TlsMode::Insecure,
        )
        .await;
    }
    let setup = ClientSetup::plain(&[host.clone(), tokens.host()]);
    let pusher = Some(("pusher", "push-pw"));
    let client = setup.client();

    let before = tokens.requests();
    let cold = check(&client, &host, pusher, &manifest("team/app", "v1")).await;
    assert_outcome(&cold, Outcome::Ok, "cold");
    assert_eq!(
        cold.round_trips, 3,
        "HEAD → 401 Bearer → token → HEAD with the token"
    );
    assert_eq!(tokens.requests(), before + 1, "one token request");

    let warm = check(&client, &host, pusher, &manifest("team/app", "v1")).await;
    assert_outcome(&warm, Outcome::Ok, "warm");
    assert_eq!(warm.round_trips, 1, "cached challenge and token");
    assert_eq!(tokens.requests(), before + 1, "no new token request");

    // Same credentials, another repository: the challenge is cached, the scope is new.
    let new_scope = check(&client, &host, pusher, &manifest("other/app", "v1")).await;
    assert_outcome(&new_scope, Outcome::Ok, "warm challenge, new scope");
    assert_eq!(new_scope.round_trips, 2, "token → HEAD");

    // Other credentials never reuse the pusher's token.
    let reader = check(
        &client,
        &host,
        Some(("reader", "read-pw")),
        &manifest("other/app", "v1"),
    )
    .await;
    assert_outcome(&reader, Outcome::Denied, "reader on other/app, warm client");

    let registry_cold = check(&setup.client(), &host, pusher, &Target::Registry).await;
    assert_outcome(&registry_cold, Outcome::Ok, "registry check, cold");
    assert_eq!(registry_cold.round_trips, 3);
}

// ---------------------------------------------------------------------------------------------
// Agreement with skopeo

/// For every (credentials, image) pair, regcred says `ok` exactly when `skopeo inspect --raw`
/// succeeds with the same credentials and transport.
async fn assert_agreement(
    registry: &Registry,
    setup: &ClientSetup,
    tls: TlsMode<'_>,
    users: &[Option<(&str, &str)>],
    images: &[(&str, &str)],
) {
    let skopeo = Skopeo::new();
    let mut disagreements = Vec::new();
    for &user in users {
        for &(repository, reference) in images {
            let report = check(
                &setup.client(),
                &registry.host(),
                user,
                &manifest(repository, reference),
            )
            .await;
            let auth = match user {
                Some((name, password)) => SkopeoAuth::Creds(name, password),
                None => SkopeoAuth::Anonymous,
            };
            let separator = if reference.contains(':') { '@' } else { ':' };
            let image = format!("{}/{repository}{separator}{reference}", registry.host());
            let skopeo_says = skopeo.inspect_raw(&image, auth, tls).await;
            if (report.outcome == Outcome::Ok) != skopeo_says.success {
                disagreements.push(format!(
                    "{:?} on {image}: regcred {}, skopeo {}",
                    user.map(|(name, _)| name),
                    describe(&report),
                    if skopeo_says.success {
                        "succeeded".to_string()
                    } else {
                        format!("failed: {}", skopeo_says.stderr.trim())
                    }
                ));
            }
            if report.outcome == Outcome::Ok && skopeo_says.success {
                assert_eq!(
                    report.digest.as_deref(),
                    Some(skopeo_says.stdout_digest().as_str()),
                    "{image}: the digest regcred reports is the manifest skopeo reads"
                );
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "regcred and skopeo disagree:\n{}",
        disagreements.join("\n")
    );
}

#[tokio::test]
async fn agrees_with_skopeo_in_htpasswd_mode() {
    let registry = htpasswd_registry(None).await;
    let host = registry.host();
    let digest = push_test_image(
        &host,
        "team/app",
        "v1",
        Some(("ada", "ada-pw")),
        TlsMode::Insecure,
    )
    .await;
    assert_agreement(
        &registry,
        &ClientSetup::plain(std::slice::from_ref(&host)),
        TlsMode::Insecure,
        &[
            Some(("ada", "ada-pw")),
            Some(("odd", ODD_PASSWORD)),
            Some(("ada", "wrong")),
            Some(("eve", "ada-pw")),
            None,
        ],
        &[
            ("team/app", "v1"),
            ("team/app", &digest),
            ("team/app", "missing"),
            ("nobody/here", "v1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn agrees_with_skopeo_in_token_mode() {
    let tokens = token_server(None);
    let registry = token_registry(&tokens, None).await;
    let host = registry.host();
    for repository in ["team/app", "other/app"] {
        push_test_image(
            &host,
            repository,
            "v1",
            Some(("pusher", "push-pw")),
            TlsMode::Insecure,
        )
        .await;
    }
    assert_agreement(
        &registry,
        &ClientSetup::plain(&[host.clone(), tokens.host()]),
        TlsMode::Insecure,
        &[
            Some(("pusher", "push-pw")),
            Some(("reader", "read-pw")),
            Some(("odd", ODD_PASSWORD)),
            Some(("outsider", "out-pw")),
            Some(("reader", "wrong")),
            None,
        ],
        &[
            ("team/app", "v1"),
            ("other/app", "v1"),
            ("team/app", "missing"),
            ("nobody/here", "v1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn agrees_with_skopeo_over_tls() {
    let ca = TestCa::new();
    let tokens = token_server(Some(&ca));
    let registry = token_registry(&tokens, Some(&ca)).await;
    push_test_image(
        &registry.host(),
        "team/app",
        "v1",
        Some(("pusher", "push-pw")),
        TlsMode::Ca(&ca),
    )
    .await;
    let users = [
        Some(("reader", "read-pw")),
        Some(("outsider", "out-pw")),
        Some(("reader", "wrong")),
    ];
    let images = [("team/app", "v1"), ("team/app", "missing")];
    assert_agreement(
        &registry,
        &ClientSetup::trusting(&ca),
        TlsMode::Ca(&ca),
        &users,
        &images,
    )
    .await;
    // Neither trusts the registry without the CA.
    assert_agreement(
        &registry,
        &ClientSetup::default(),
        TlsMode::SystemRoots,
        &users[..1],
        &images[..1],
    )
    .await;
}
