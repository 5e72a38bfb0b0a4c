//! The authorization matrix, generated: every method of the server's method table × every role ×
//! the token's own project and another project, plus every method × every unusable token state
//! (expired, revoked, malformed, unknown, not a bearer token, no header at all), checked against
//! a DECLARED policy table ([`POLICY`]) written from the documented rules (docs/design.md
//! "Roles", ARCHITECTURE.md, README.md and the handlers' documented contracts) — never computed
//! by calling server code.
//!
//! What it proves: for each request whose body is valid for its method (so the answer depends on
//! authorization, not on decoding), an allowed caller gets the answer declared for it (a success,
//! or a stated non-authorization refusal such as 404 for a name that does not exist, which every
//! handler looks up only after authorizing), and a refused caller gets 403 `forbidden`; every
//! unusable token gets 401 with its own stable code (`unauthenticated`, `invalid_token`,
//! `token_expired`, `token_revoked`). [`POLICY`] must name exactly the methods the server lists
//! in `/openapi.json`, so a new method without a policy row fails this test.
//!
//! Real components only: the `regcred` binary run as `regcred serve` processes (the test
//! fixture), spoken to over HTTP with reqwest; (a) one server on SQLite, (b) two replicas on one
//! database of the real local PostgreSQL (`regcred_testkit::PostgresDb`) sharing a master key
//! and the admin token, the requests alternating between them, the tokens revoked through
//! replica A and every unusable token checked on both replicas. Both servers are the token
//! service of a platform registry (`--platform-registry`): without one, `registry.cert` (open
//! to every token) and `registryKey.create` (once authorized) answer 409 `no_platform_registry`,
//! and the allowed cases could not show their success.
//! The world is built through the API with the admin token (see [`world`]); the expired token
//! is the shortest-lived one the API allows (`ttlSeconds` 60), made first and waited for with
//! bounded polling, so each setup takes about a minute.
//!
//! Besides the role table it checks the rules that are not a role: deleting a pull secret needs
//! its creator (or an admin), every token may revoke itself, `token.revoke` of an id that does
//! not exist is 404 for everyone (it looks up before authorizing), and `location.sync` on a
//! follower replica is 503 `unavailable` for allowed callers (passes run on the leader).
//!
//! All mismatches are collected and reported once, as a table.

mod fixture;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use fixture::Server;
use regcred_testkit::PostgresDb;
use serde_json::{json, Value};

/// The two projects: the role tokens belong to `own`; `other` is another tenant.
const OWN: &str = "own";
const OTHER: &str = "other";
/// The docker location every pull secret and deployment of the world lives in.
const LOC: &str = "local";
/// How long the shortest-lived token the API allows lives (`ttlSeconds` is at least 60), and
/// how long past that the test waits for the server to call it expired.
const SHORTEST_TTL: u64 = 60;
const EXPIRY_GRACE: Duration = Duration::from_secs(30);
/// How long replicas may take to agree on a leader (the lease's takeover bound).
const LEADER_WITHIN: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Owner,
    Editor,
    Deployer,
    Viewer,
    Puller,
}

use Role::{Admin, Deployer, Editor, Owner, Puller, Viewer};

const ROLES: [Role; 6] = [Admin, Owner, Editor, Deployer, Viewer, Puller];

/// Every project role.
const EVERY_PROJECT_ROLE: &[Role] = &[Owner, Editor, Deployer, Viewer, Puller];

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Admin => "admin",
            Owner => "owner",
            Editor => "editor",
            Deployer => "deployer",
            Viewer => "viewer",
            Puller => "puller",
        }
    }
}

/// Who may call a method. `admin` may call everything; the other roles are bound to project
/// `own` and never act on another project.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// A global method for the admin only (no project axis).
    AdminOnly,
    /// A global method every authenticated token may call (no project axis).
    Anyone,
    /// A global method (the request names no project) for these roles of the token's project.
    OwnProjectRoles(&'static [Role]),
    /// A method on a project named in the request: these roles on their own project; nobody but
    /// the admin on another project.
    Roles(&'static [Role]),
}

/// THE DECLARED POLICY, one row per method of the server's method table.
#[rustfmt::skip]
const POLICY: &[(&str, Policy)] = &[
    // design.md: "write pull secrets (create, rotate, delete)": owner, editor.
    ("pullSecret.create", Policy::Roles(&[Owner, Editor])),
    // README "Test Connection before saving" / handler contract: authorized like create.
    ("pullSecret.test", Policy::Roles(&[Owner, Editor])),
    // design.md: "read pull-secret and deployment metadata": owner, editor, deployer, viewer.
    ("pullSecret.get", Policy::Roles(&[Owner, Editor, Deployer, Viewer])),
    ("pullSecret.list", Policy::Roles(&[Owner, Editor, Deployer, Viewer])),
    // design.md: write pull secrets; "to delete a pull secret, the caller must also be its
    // creator or an admin" (the matrix deletes a name that does not exist: 404 when allowed).
    ("pullSecret.delete", Policy::Roles(&[Owner, Editor])),
    // Not in design.md's table: a check of stored metadata against the registry (no material
    // leaves), for the roles that read pull-secret metadata.
    ("pullSecret.verify", Policy::Roles(&[Owner, Editor, Deployer, Viewer])),
    // design.md: "release material (pullSecret.render, credential.get)": owner, deployer, puller.
    ("pullSecret.render", Policy::Roles(&[Owner, Deployer, Puller])),
    ("credential.get", Policy::Roles(&[Owner, Deployer, Puller])),
    // design.md: "image.resolve, image.check, credential.list": every role.
    ("credential.list", Policy::Roles(EVERY_PROJECT_ROLE)),
    // The kinds table holds nothing of any tenant: every token.
    ("registry.kinds", Policy::Anyone),
    ("image.check", Policy::Roles(EVERY_PROJECT_ROLE)),
    ("image.resolve", Policy::Roles(EVERY_PROJECT_ROLE)),
    // The certificate the platform registry trusts is public: every token.
    ("registry.cert", Policy::Anyone),
    // design.md: "own: … manage its tokens and registry keys": owner.
    ("registryKey.create", Policy::Roles(&[Owner])),
    ("registryKey.list", Policy::Roles(&[Owner])),
    ("registryKey.revoke", Policy::Roles(&[Owner])),
    // design.md: "deploy": owner, editor, deployer; reads are metadata reads.
    ("deployment.deploy", Policy::Roles(&[Owner, Editor, Deployer])),
    ("deployment.get", Policy::Roles(&[Owner, Editor, Deployer, Viewer])),
    ("deployment.list", Policy::Roles(&[Owner, Editor, Deployer, Viewer])),
    ("deployment.delete", Policy::Roles(&[Owner, Editor, Deployer])),
    // design.md: "administer: create projects and locations, delete locations": admin.
    ("project.create", Policy::AdminOnly),
    // "Projects visible to the caller": every token, filtered to its own project.
    ("project.list", Policy::Anyone),
    // Every role of a project sees its project; no other project (isolation.rs).
    ("project.get", Policy::Roles(EVERY_PROJECT_ROLE)),
    // design.md: "own: delete the project": owner.
    ("project.delete", Policy::Roles(&[Owner])),
    ("location.create", Policy::AdminOnly),
    // Locations are shared, not tenant data: every token may read them.
    ("location.list", Policy::Anyone),
    ("location.get", Policy::Anyone),
    ("location.delete", Policy::AdminOnly),
    // design.md: "write pull secrets …; location.sync": owner, editor (the request names a
    // location, not a project).
    ("location.sync", Policy::OwnProjectRoles(&[Owner, Editor])),
    // design.md: "own: … manage its tokens": owner (admin tokens: admin). A token may always
    // revoke itself: covered separately at the end.
    ("token.create", Policy::Roles(&[Owner])),
    ("token.list", Policy::Roles(&[Owner])),
    ("token.revoke", Policy::Roles(&[Owner])),
    // design.md: "own: … read its audit log": owner; the global log is the admin's.
    ("audit.list", Policy::Roles(&[Owner])),
];

/// What an allowed call must answer: success, or a stated refusal that is not about
/// authorization (the handler authorizes first and only then finds the name missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Ok,
    Refused(u16, &'static str),
}

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed(Allowed),
    /// 403 `forbidden`.
    Forbidden,
    /// 401 with this code.
    Unauthenticated(&'static str),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Allowed(Allowed::Ok) => write!(f, "allowed: 200 ok"),
            Expect::Allowed(Allowed::Refused(s, c)) => write!(f, "allowed: {s} {c}"),
            Expect::Forbidden => write!(f, "403 forbidden"),
            Expect::Unauthenticated(c) => write!(f, "401 {c}"),
        }
    }
}

/// What the server answered: status and error code (`ok` on success).
#[derive(Debug, Clone)]
struct Got {
    status: u16,
    code: String,
    message: String,
}

impl Got {
    fn matches(&self, expect: Expect) -> bool {
        match expect {
            Expect::Allowed(Allowed::Ok) => self.status == 200 && self.code == "ok",
            Expect::Allowed(Allowed::Refused(s, c)) => self.status == s && self.code == c,
            Expect::Forbidden => self.status == 403 && self.code == "forbidden",
            Expect::Unauthenticated(c) => self.status == 401 && self.code == c,
        }
    }
}

/// The project a case aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A global method: no project.
    Global,
    Own,
    Other,
}

impl Target {
    fn project(self) -> &'static str {
        match self {
            Target::Own | Target::Global => OWN,
            Target::Other => OTHER,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Target::Global => "-",
            Target::Own => "own",
            Target::Other => "other",
        }
    }
}

/// The declared expectation of `role` calling a method with `policy` on `target`.
fn expected(policy: Policy, role: Role, target: Target, allowed: Allowed) -> Expect {
    let permitted = role == Admin
        || match policy {
            Policy::AdminOnly => false,
            Policy::Anyone => true,
            Policy::OwnProjectRoles(roles) => roles.contains(&role),
            Policy::Roles(roles) => target == Target::Own && roles.contains(&role),
        };
    match permitted {
        true => Expect::Allowed(allowed),
        false => Expect::Forbidden,
    }
}

/// One mismatch, for the final table.
struct Mismatch {
    method: String,
    caller: String,
    project: String,
    expected: Expect,
    got: Got,
}

/// The replicas of one setup, spoken to over HTTP.
struct Api {
    client: reqwest::Client,
    urls: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
}

impl Api {
    fn new(urls: Vec<String>) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            urls,
            next: 0.into(),
        }
    }

    /// The next replica, round robin.
    fn replica(&self) -> usize {
        self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.urls.len()
    }

    /// `POST /{method}` on replica `at` with `authorization` as the header (none: no header).
    async fn raw(&self, at: usize, method: &str, authorization: Option<&str>, body: &Value) -> Got {
        let mut request = self
            .client
            .post(format!("{}/{method}", self.urls[at]))
            .json(body);
        if let Some(a) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, a);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("answer body");
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} answered {status} without JSON ({e}): {text}"));
        let code = match answer["ok"].as_bool() {
            Some(true) => "ok".to_owned(),
            _ => answer["error"]["code"].as_str().unwrap_or("?").to_owned(),
        };
        Got {
            status,
            code,
            message: answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// A call with a bearer token on replica `at`.
    async fn bearer(&self, at: usize, method: &str, token: &str, body: &Value) -> Got {
        self.raw(at, method, Some(&format!("Bearer {token}")), body)
            .await
    }

    /// The replica that leads (`/readyz` role), once exactly one does (bounded polling).
    async fn leader(&self) -> usize {
        let started = Instant::now();
        loop {
            let mut roles = Vec::new();
            for url in &self.urls {
                let role = match self.client.get(format!("{url}/readyz")).send().await {
                    Ok(r) => r.json::<Value>().await.ok().map(|v| v["role"].clone()),
                    Err(_) => None,
                };
                roles.push(role);
            }
            let leading: Vec<usize> = (0..roles.len())
                .filter(|i| roles[*i].as_ref().is_some_and(|r| r == "leader"))
                .collect();
            if let [one] = leading[..] {
                return one;
            }
            assert!(
                started.elapsed() < LEADER_WITHIN,
                "no single leader within {LEADER_WITHIN:?}: {roles:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A call that must succeed; answers its `result`.
    async fn must(&self, at: usize, method: &str, token: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/{method}", self.urls[at]))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let answer: Value = response.json().await.expect("JSON answer");
        assert_eq!(answer["ok"], true, "{method} {body}: {answer}");
        answer["result"].clone()
    }
}

/// The world every case runs in.
struct World {
    admin: String,
    /// (role, secret, token id) of the `own` project's role tokens, and the admin's.
    tokens: Vec<(Role, String, String)>,
    expiring: String,
    expiring_made: Instant,
    revoked: String,
    /// Where location paths may point.
    scratch: std::path::PathBuf,
}

impl World {
    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|t| t.0 == role).expect("role").1
    }

    fn token_id(&self, role: Role) -> &str {
        &self.tokens.iter().find(|t| t.0 == role).expect("role").2
    }
}

/// Builds the world through replica 0 (A) with the admin token: projects `own` and `other`, a
/// docker location, in each project a pull secret, a deployment using it and a registry key;
/// a token of every role on `own`; a token that expires soonest (made first, to expire while
/// the matrix runs), and a revoked one.
async fn world(api: &Api, admin: String, scratch: std::path::PathBuf) -> World {
    let a = 0;
    for project in [OWN, OTHER] {
        api.must(a, "project.create", &admin, json!({ "name": project }))
            .await;
    }
    let expiring = api
        .must(
            a,
            "token.create",
            &admin,
            json!({ "name": "expiring", "project": OWN, "role": "owner", "ttlSeconds": SHORTEST_TTL }),
        )
        .await;
    let expiring_made = Instant::now();
    let path = scratch.join(format!("{LOC}-{{project}}-config.json"));
    api.must(
        a,
        "location.create",
        &admin,
        json!({ "name": LOC, "kind": "docker", "spec": { "path": path.display().to_string() } }),
    )
    .await;
    for project in [OWN, OTHER] {
        api.must(
            a,
            "pullSecret.create",
            &admin,
            json!({ "project": project, "location": LOC, "name": "app",
                    "spec": { "server": "app.example", "username": "bot", "password": "pw" } }),
        )
        .await;
        api.must(
            a,
            "deployment.deploy",
            &admin,
            json!({ "project": project, "location": LOC, "name": "web",
                    "image": "app.example/web:1", "pullSecret": "app", "noVerify": true }),
        )
        .await;
        api.must(
            a,
            "registryKey.create",
            &admin,
            json!({ "project": project, "name": "world-key", "access": "read" }),
        )
        .await;
    }
    let admin_id = api.must(a, "token.list", &admin, json!({})).await["items"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["role"] == "admin")
        .expect("the admin token")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut tokens = vec![(Admin, admin.clone(), admin_id)];
    for role in &ROLES[1..] {
        let made = api
            .must(
                a,
                "token.create",
                &admin,
                json!({ "name": format!("matrix-{}", role.as_str()), "project": OWN, "role": role.as_str() }),
            )
            .await;
        tokens.push((
            *role,
            made["secret"].as_str().expect("secret").to_owned(),
            made["token"]["id"].as_str().expect("id").to_owned(),
        ));
    }
    let revoked = api
        .must(
            a,
            "token.create",
            &admin,
            json!({ "name": "revoked", "project": OWN, "role": "owner" }),
        )
        .await;
    api.must(
        a,
        "token.revoke",
        &admin,
        json!({ "id": revoked["token"]["id"] }),
    )
    .await;
    World {
        admin,
        tokens,
        expiring: expiring["secret"].as_str().expect("secret").to_owned(),
        expiring_made,
        revoked: revoked["secret"].as_str().expect("secret").to_owned(),
        scratch,
    }
}

/// A valid request for `method` by `role` aimed at `target`, and what it answers when allowed.
/// Names a case creates carry the role, so no case collides with another; deletes and revokes
/// aim at names that do not exist (every one of those handlers authorizes before it looks the
/// name up), except `token.revoke`, which looks up first and so gets a fresh victim token.
async fn request(
    api: &Api,
    w: &World,
    method: &str,
    role: Role,
    target: Target,
    leader: bool,
) -> (Value, Allowed) {
    let p = target.project();
    let mine = match target {
        Target::Global => format!("mx-{}", role.as_str()),
        _ => format!("mx-{}-{}", role.as_str(), target.label()),
    };
    let not_found = Allowed::Refused(404, "not_found");
    let spec = json!({ "server": "app.example", "username": "bot", "password": "pw" });
    match method {
        // A server of its own: a location holds one pull secret per registry server.
        "pullSecret.create" => (
            json!({ "project": p, "location": LOC, "name": mine,
                    "spec": { "server": format!("{mine}.example"), "username": "bot", "password": "pw" } }),
            Allowed::Ok,
        ),
        "pullSecret.test" => (
            json!({ "project": p, "location": LOC, "spec": spec }),
            Allowed::Ok,
        ),
        "pullSecret.get" => (
            json!({ "project": p, "location": LOC, "name": "app" }),
            Allowed::Ok,
        ),
        "pullSecret.list" | "deployment.list" | "token.list" | "audit.list"
        | "registryKey.list" => (json!({ "project": p }), Allowed::Ok),
        "pullSecret.delete" | "pullSecret.verify" | "deployment.delete" => (
            json!({ "project": p, "location": LOC, "name": "absent" }),
            not_found,
        ),
        "pullSecret.render" => (
            json!({ "project": p, "location": LOC, "names": ["app"], "format": "dockerconfigjson" }),
            Allowed::Ok,
        ),
        "credential.get" => (
            json!({ "project": p, "location": LOC, "server": "app.example" }),
            Allowed::Ok,
        ),
        "credential.list" => (json!({ "project": p, "location": LOC }), Allowed::Ok),
        // Nothing applies to this image and nothing listens there: the anonymous attempt fails
        // at once, and the answer is a check result, not an error.
        "image.check" => (
            json!({ "project": p, "location": LOC, "image": "127.0.0.1:9/matrix/app:1" }),
            Allowed::Ok,
        ),
        "image.resolve" => (
            json!({ "project": p, "location": LOC, "image": "app.example/web:1" }),
            Allowed::Ok,
        ),
        "registry.kinds" | "registry.cert" | "project.list" | "location.list" => {
            (json!({}), Allowed::Ok)
        }
        "registryKey.create" => (
            json!({ "project": p, "name": mine, "access": "read" }),
            Allowed::Ok,
        ),
        "registryKey.revoke" => (json!({ "project": p, "name": "absent" }), not_found),
        "deployment.deploy" => (
            json!({ "project": p, "location": LOC, "name": mine, "image": "app.example/web:1",
                    "pullSecret": "app", "noVerify": true }),
            Allowed::Ok,
        ),
        "deployment.get" => (
            json!({ "project": p, "location": LOC, "name": "web" }),
            Allowed::Ok,
        ),
        "project.create" => (json!({ "name": mine }), Allowed::Ok),
        "project.get" => (json!({ "name": p }), Allowed::Ok),
        // Both projects hold pull secrets, so an allowed delete is refused for that — the world
        // stays as it is.
        "project.delete" => (json!({ "name": p }), Allowed::Refused(409, "in_use")),
        "location.create" => {
            let path = w.scratch.join(format!("{mine}-{{project}}.json"));
            (
                json!({ "name": mine, "kind": "docker", "spec": { "path": path.display().to_string() } }),
                Allowed::Ok,
            )
        }
        "location.get" => (json!({ "name": LOC }), Allowed::Ok),
        // Delivery passes run on the leading replica: an allowed caller asking a follower is
        // told so (503 `unavailable`, naming the leader) — after authorization, so a refused
        // caller still gets 403 there. The server is right; the expectation says so.
        "location.sync" => (
            json!({ "name": LOC }),
            match leader {
                true => Allowed::Ok,
                false => Allowed::Refused(503, "unavailable"),
            },
        ),
        "location.delete" => (json!({ "name": "absent" }), not_found),
        "token.create" => (
            json!({ "name": mine, "project": p, "role": "viewer" }),
            Allowed::Ok,
        ),
        "token.revoke" => {
            let victim = api
                .must(
                    0,
                    "token.create",
                    &w.admin,
                    json!({ "name": format!("victim-{mine}"), "project": p, "role": "viewer" }),
                )
                .await;
            (json!({ "id": victim["token"]["id"] }), Allowed::Ok)
        }
        other => panic!("no request for {other}: add one (and a policy row)"),
    }
}

/// The methods `/openapi.json` lists, from its paths.
async fn served_methods(url: &str) -> Vec<String> {
    let doc: Value = reqwest::get(format!("{url}/openapi.json"))
        .await
        .expect("openapi.json")
        .json()
        .await
        .expect("openapi.json is JSON");
    let mut methods: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect();
    methods.sort();
    methods
}

/// The unusable bearer states: (label, Authorization header, expected 401 code). The expired
/// and revoked tokens are added by the caller.
const MALFORMED: &[(&str, Option<&str>, &str)] = &[
    ("missing header", None, "unauthenticated"),
    ("not bearer", Some("Basic Ym90OnB3"), "invalid_token"),
    ("garbage", Some("Bearer garbage"), "invalid_token"),
    (
        "malformed rc_",
        Some("Bearer rc_not_a_token"),
        "invalid_token",
    ),
    (
        "unknown token",
        Some("Bearer rc_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "invalid_token",
    ),
];

/// Runs the whole matrix on the replicas at `urls` (the first builds the world); prints the
/// summary line and fails once with every mismatch.
async fn run_matrix(setup: &str, urls: Vec<String>, admin: String, scratch: std::path::PathBuf) {
    let api = Api::new(urls);
    let mut mismatches: Vec<Mismatch> = Vec::new();
    let mut cases = 0usize;

    // The table covers exactly the served methods.
    let mut declared: Vec<String> = POLICY.iter().map(|(m, _)| (*m).to_owned()).collect();
    declared.sort();
    for url in &api.urls {
        assert_eq!(
            served_methods(url).await,
            declared,
            "the policy table must name exactly the methods {url}/openapi.json lists"
        );
    }

    let w = world(&api, admin, scratch).await;
    // Every method × every role × own/other project (global methods once per role). Deletes
    // and revokes go last, though none of them removes anything the other cases use.
    let mut order: Vec<&(&str, Policy)> = POLICY.iter().collect();
    order.sort_by_key(|(m, _)| m.ends_with(".delete") || m.ends_with(".revoke"));
    for (method, policy) in order {
        let targets: &[Target] = match policy {
            Policy::Roles(_) => &[Target::Own, Target::Other],
            _ => &[Target::Global],
        };
        for role in ROLES {
            for &target in targets {
                let at = api.replica();
                // Which replica leads matters to location.sync only; asked right before.
                let leads = *method != "location.sync" || api.leader().await == at;
                let (body, allowed) = request(&api, &w, method, role, target, leads).await;
                let expect = expected(*policy, role, target, allowed);
                let got = api.bearer(at, method, w.token(role), &body).await;
                cases += 1;
                if !got.matches(expect) {
                    mismatches.push(Mismatch {
                        method: (*method).to_owned(),
                        caller: format!("{} @{}", role.as_str(), replica_name(at)),
                        project: target.label().to_owned(),
                        expected: expect,
                        got,
                    });
                }
            }
        }
    }

    // The token states, on every replica: the expired token (bounded wait until its lifetime
    // has passed), the revoked one (revoked through replica A), and the malformed ones.
    let lifetime = Duration::from_secs(SHORTEST_TTL);
    while w.expiring_made.elapsed() < lifetime {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let probe = json!({ "project": OWN });
    let waited = Instant::now();
    loop {
        let got = api
            .raw(
                api.urls.len() - 1,
                "token.list",
                Some(&format!("Bearer {}", w.expiring)),
                &probe,
            )
            .await;
        if got.status == 401 {
            break;
        }
        assert!(
            waited.elapsed() < EXPIRY_GRACE,
            "the {SHORTEST_TTL} s token still answers {} {} {EXPIRY_GRACE:?} after its lifetime",
            got.status,
            got.code
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let expired = format!("Bearer {}", w.expiring);
    let revoked = format!("Bearer {}", w.revoked);
    let mut states: Vec<(&str, Option<&str>, &str)> = MALFORMED.to_vec();
    states.push(("expired", Some(&expired), "token_expired"));
    states.push(("revoked", Some(&revoked), "token_revoked"));
    for (method, _) in POLICY {
        let (body, _) = match *method {
            // No victim is needed: the token is refused before the body is read.
            "token.revoke" => (json!({ "id": "tk_000000000000" }), Allowed::Ok),
            m => request(&api, &w, m, Owner, Target::Own, true).await,
        };
        for (label, header, code) in &states {
            for at in 0..api.urls.len() {
                let expect = Expect::Unauthenticated(code);
                let got = api.raw(at, method, *header, &body).await;
                cases += 1;
                if !got.matches(expect) {
                    mismatches.push(Mismatch {
                        method: (*method).to_owned(),
                        caller: format!("{label} @{}", replica_name(at)),
                        project: "own".to_owned(),
                        expected: expect,
                        got,
                    });
                }
            }
        }
    }

    // Rules beyond the role table, each on the next replica:
    let mut extra: Vec<(&str, Role, &str, Value, Expect)> = Vec::new();
    for role in [Owner, Editor] {
        // design.md: deleting a pull secret also needs its creator or an admin — `app` was
        // created by the admin, so the roles that write pull secrets are refused…
        extra.push((
            "pullSecret.delete",
            role,
            "own, not creator",
            json!({ "project": OWN, "location": LOC, "name": "app" }),
            Expect::Forbidden,
        ));
        // …and delete what they created themselves.
        extra.push((
            "pullSecret.delete",
            role,
            "own, creator",
            json!({ "project": OWN, "location": LOC, "name": format!("mx-{}-own", role.as_str()) }),
            Expect::Allowed(Allowed::Ok),
        ));
    }
    for role in ROLES {
        // token.revoke looks the id up before it authorizes (the id says which project to
        // authorize for), so an id that does not exist is 404 for every caller; ids are 48
        // random bits, so this names nothing guessable. Server behaviour, declared here.
        extra.push((
            "token.revoke",
            role,
            "no such id",
            json!({ "id": "tk_000000000000" }),
            Expect::Allowed(Allowed::Refused(404, "not_found")),
        ));
    }
    // Every token may revoke itself (token.rs: "anyone may revoke their own"); the admin last,
    // since revoking a token revokes every token it created.
    for role in [Owner, Editor, Deployer, Viewer, Puller, Admin] {
        extra.push((
            "token.revoke",
            role,
            "self",
            json!({ "id": w.token_id(role) }),
            Expect::Allowed(Allowed::Ok),
        ));
    }
    for (method, role, project, body, expect) in extra {
        let at = api.replica();
        let got = api.bearer(at, method, w.token(role), &body).await;
        cases += 1;
        if !got.matches(expect) {
            mismatches.push(Mismatch {
                method: method.to_owned(),
                caller: format!("{} @{}", role.as_str(), replica_name(at)),
                project: project.to_owned(),
                expected: expect,
                got,
            });
        }
    }

    if !mismatches.is_empty() {
        let mut table = format!(
            "authorization matrix ({setup}): {} of {cases} cases differ from the declared policy\n{:<20} {:<20} {:<17} {:<28} got\n",
            mismatches.len(),
            "method",
            "caller",
            "project",
            "expected"
        );
        for m in &mismatches {
            let _ = writeln!(
                table,
                "{:<20} {:<20} {:<17} {:<28} {} {} ({})",
                m.method,
                m.caller,
                m.project,
                m.expected.to_string(),
                m.got.status,
                m.got.code,
                m.got.message
            );
        }
        panic!("{table}");
    }
    println!("authorization matrix ({setup}): {cases} cases, all as declared");
}

fn replica_name(at: usize) -> char {
    char::from(b'A' + u8::try_from(at).unwrap_or(25))
}

/// `--platform-registry`: the server is the token service of a platform registry (none needs to
/// run: nothing here pulls from it).
const PLATFORM: [&str; 2] = ["--platform-registry", "registry.invalid"];

fn admin_token(server: &Server) -> String {
    std::fs::read_to_string(server.data_dir.join("admin.token"))
        .expect("admin.token")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_sqlite() {
    let server = Server::start_with(&PLATFORM);
    let admin = admin_token(&server);
    run_matrix(
        "sqlite",
        vec![server.url.clone()],
        admin,
        server.dir.path().to_owned(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_two_postgres_replicas() {
    let db = PostgresDb::create().await;
    let a = Server::start_with(&[&["--database-url", db.url()][..], &PLATFORM].concat());
    let key = a.data_dir.join("master.key").display().to_string();
    let b = Server::start_with(
        &[
            &[
                "--database-url",
                db.url(),
                "--master-key-file",
                key.as_str(),
            ][..],
            &PLATFORM,
        ]
        .concat(),
    );
    let admin = admin_token(&a);
    run_matrix(
        "postgres, 2 replicas",
        vec![a.url.clone(), b.url.clone()],
        admin,
        a.dir.path().to_owned(),
    )
    .await;
}
