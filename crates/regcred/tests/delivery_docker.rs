//! Delivery to a `docker` location end to end: the real `regcred serve` and CLI maintain a Docker
//! `config.json` that already holds someone else's login, and the real `skopeo` pulls from the
//! real distribution registry (Debian `docker-registry`, htpasswd mode, plain HTTP) with nothing
//! but that file. Proves the entry regcred writes is the one a runtime uses, that rotation and
//! deletion reach the file, that logins regcred did not write are never touched, that a pull
//! secret in use by a deployment is guarded against deletion, and that the password leaks
//! nowhere but into the file it was delivered to.

mod fixture;

use std::path::Path;

use fixture::{base64, files_under, find_secret, mode, Out, Server};
use regcred_testkit::{
    push_test_image, Auth, Registry, RegistryOptions, Skopeo, SkopeoAuth, TlsMode,
};
use serde_json::{json, Value};

const P: &str = "acme";
const L: &str = "node1";

/// The auth file as the host's user left it: another registry's login and a credential helper.
fn foreign_content() -> Value {
    json!({
        "auths": { "other.example.com": { "auth": base64(b"someone:their-pw") } },
        "credHelpers": { "x.example.com": "foo" },
    })
}

fn scope() -> [&'static str; 4] {
    ["--project", P, "--location", L]
}

/// `project create` and a docker location maintaining `path`.
fn setup(server: &Server, path: &Path) {
    server.run(&["project", "create", P]).ok();
    server
        .run(&[
            "location",
            "create",
            L,
            "--kind",
            "docker",
            "--path",
            &path.display().to_string(),
        ])
        .ok();
}

/// `pullsecret create` (or rotate) with the password on stdin.
fn create(server: &Server, name: &str, registry: &str, user: &str, password: &str) -> Out {
    server
        .cli(
            &[
                &[
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
                ][..],
                &scope(),
            ]
            .concat(),
        )
        .stdin(password)
        .run()
}

/// `location sync L`: its report, and an exit code that says whether errors remain (9) or not.
#[track_caller]
fn sync(server: &Server) -> Value {
    let out = server.run(&["location", "sync", L, "-o", "json"]);
    let report = out.json();
    out.code(if report["errors"] == 0 { 0 } else { 9 });
    report
}

/// The delivery status of pull secret `name` for `target` (exactly one).
#[track_caller]
fn delivery(server: &Server, name: &str, target: &str) -> Value {
    let got = server
        .run(&[&["pullsecret", "get", name, "-o", "json"][..], &scope()].concat())
        .ok()
        .json();
    let matching: Vec<&Value> = got["deliveries"]
        .as_array()
        .map(|a| a.iter().filter(|d| d["target"] == target).collect())
        .unwrap_or_default();
    assert_eq!(matching.len(), 1, "one delivery to {target}: {got:#}");
    assert_eq!(matching[0]["location"], L, "{got:#}");
    matching[0].clone()
}

#[track_caller]
fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display()))
}

/// Asserts that the file at `path` holds exactly the foreign content plus `ours` (key → entry).
#[track_caller]
fn assert_file(path: &Path, ours: &[(&str, Value)]) {
    let mut expected = foreign_content();
    for (key, entry) in ours {
        expected["auths"][*key] = entry.clone();
    }
    assert_eq!(read_json(path), expected, "{}", path.display());
}

/// `{"auth": base64(user:password)}`, the entry `docker login` writes.
fn entry(user: &str, password: &str) -> Value {
    json!({ "auth": base64(format!("{user}:{password}").as_bytes()) })
}

/// No form of any of `secrets` in the CLI transcript, the server's logs or any file of the data
/// directory (the auth files the credentials were delivered to live outside it).
#[track_caller]
fn assert_no_leak(server: &Server, secrets: &[&str]) {
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for out in server.transcript() {
        places.push((format!("stdout of {}", out.label), out.stdout.into_bytes()));
        places.push((format!("stderr of {}", out.label), out.stderr.into_bytes()));
    }
    places.push(("the server log".into(), server.log_text().into_bytes()));
    places.push((
        "the server's stdout".into(),
        std::fs::read(&server.stdout_log).unwrap_or_default(),
    ));
    let files = files_under(&server.data_dir);
    assert!(
        files.iter().any(|f| f.ends_with("regcred.db")),
        "the database is under the data dir: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        places.push((file.display().to_string(), bytes));
    }
    for secret in secrets {
        for (place, bytes) in &places {
            if let Some(form) = find_secret(bytes, secret) {
                panic!("the password shows up in {place} as {form:?}");
            }
        }
    }
}

/// Starts a registry with users `(user, password)` and pushes `team/app:v1` (as the first user);
/// returns the registry, its host, the image and its manifest digest.
async fn registry_with_image(users: &[(&str, &str)]) -> (Registry, String, String, String) {
    let registry = Registry::start(RegistryOptions {
        auth: Auth::htpasswd(users),
        tls: None,
    })
    .await;
    let host = registry.host();
    let digest = push_test_image(&host, "team/app", "v1", Some(users[0]), TlsMode::Insecure).await;
    let image = registry.image("team/app", "v1");
    (registry, host, image, digest)
}

/// skopeo with `--authfile FILE` and nothing else: `inspect --raw` must give the manifest of
/// `digest`, and `copy` of the image into a directory must succeed with that same manifest.
async fn assert_skopeo_pulls(skopeo: &Skopeo, image: &str, file: &Path, digest: &str) {
    let inspected = skopeo
        .inspect_raw(image, SkopeoAuth::AuthFile(file), TlsMode::Insecure)
        .await;
    assert!(
        inspected.success,
        "skopeo inspect with {}: {}",
        file.display(),
        inspected.stderr
    );
    assert_eq!(inspected.stdout_digest(), digest);

    let into = tempfile::tempdir().expect("temp dir");
    let copied = skopeo
        .run(&[
            "copy".into(),
            "--src-authfile".into(),
            file.display().to_string(),
            "--src-tls-verify=false".into(),
            format!("docker://{image}"),
            format!("dir:{}", into.path().display()),
        ])
        .await;
    assert!(
        copied.success,
        "skopeo copy with {}: {}",
        file.display(),
        copied.stderr
    );
    let manifest =
        std::fs::read(into.path().join("manifest.json")).expect("skopeo wrote manifest.json");
    assert_eq!(
        manifest, inspected.stdout,
        "the copied manifest is the pulled one"
    );
}

/// Peers: the real distribution registry (htpasswd users ada and bob), the real skopeo.
///
/// The delivered entry is the only credential skopeo gets, so a pull that succeeds proves the
/// entry is right; the file keeps the host's other login and credHelpers, is 0600, and after a
/// rotation (to bob: the fixture cannot change a password in place) holds bob's login and no
/// trace of ada's password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pulls_through_the_delivered_auth_file_before_and_after_rotation() {
    let ada_pw = format!("{}:&<x>", fixture::canary("ada"));
    let bob_pw = fixture::canary("bob");
    let (_registry, host, image, digest) =
        registry_with_image(&[("ada", &ada_pw), ("bob", &bob_pw)]).await;
    let skopeo = Skopeo::new();

    let server = Server::start_with(&["--insecure-registry", &host]);
    let file = server.scratch("config.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&foreign_content()).unwrap(),
    )
    .unwrap();
    // Before delivery, the file holds no login for the registry: skopeo cannot pull.
    let before = skopeo
        .inspect_raw(&image, SkopeoAuth::AuthFile(&file), TlsMode::Insecure)
        .await;
    assert!(!before.success, "pulled without credentials?");
    setup(&server, &file);

    let created = create(&server, "reg", &host, "ada", &ada_pw).ok().json();
    assert_eq!(created["pullSecret"]["revision"], 1, "{created:#}");
    let report = sync(&server);
    assert_eq!(report["location"], L, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["pending"], 0, "{report:#}");

    assert_eq!(mode(&file), 0o600);
    assert_file(&file, &[(&host, entry("ada", &ada_pw))]);
    assert_skopeo_pulls(&skopeo, &image, &file, &digest).await;
    let status = delivery(&server, "reg", &format!("auth:{host}"));
    assert_eq!(status["state"], "delivered", "{status:#}");
    assert_eq!(status["revision"], 1, "{status:#}");
    assert!(status["code"].is_null(), "{status:#}");

    // A second pass finds everything as it should be and writes nothing.
    let again = sync(&server);
    assert_eq!(
        (again["applied"].as_u64(), again["upToDate"].as_u64()),
        (Some(0), Some(1)),
        "{again:#}"
    );

    // Rotation: the same create command with new credentials.
    let rotated = create(&server, "reg", &host, "bob", &bob_pw).ok().json();
    assert_eq!(rotated["pullSecret"]["revision"], 2, "{rotated:#}");
    sync(&server);
    assert_eq!(mode(&file), 0o600);
    assert_file(&file, &[(&host, entry("bob", &bob_pw))]);
    let text = std::fs::read(&file).unwrap();
    assert_eq!(
        find_secret(&text, &ada_pw),
        None,
        "the old password is still in the file"
    );
    // The same search does find the delivered password: the absence above means something.
    assert!(find_secret(&text, &bob_pw).is_some());
    assert_skopeo_pulls(&skopeo, &image, &file, &digest).await;
    let status = delivery(&server, "reg", &format!("auth:{host}"));
    assert_eq!(status["state"], "delivered", "{status:#}");
    assert_eq!(status["revision"], 2, "{status:#}");

    assert_no_leak(&server, &[&ada_pw, &bob_pw]);
}

/// Peers: none (no registry is contacted; only the auth file).
///
/// A login for the registry that someone else wrote (docker login) before regcred's first
/// delivery is never overwritten: the status says `not_owned`, the file stays byte-identical over
/// passes and a rotation. Once that login is removed by hand, regcred delivers.
#[test]
fn a_login_regcred_did_not_write_is_never_overwritten() {
    const HOST: &str = "registry.example.com:5000";
    let password = fixture::canary("own");
    let server = Server::start();
    let file = server.scratch("config.json");
    let mut theirs = foreign_content();
    theirs["auths"][HOST] = entry("them", "their-registry-pw");
    let original = serde_json::to_string_pretty(&theirs).unwrap();
    std::fs::write(&file, &original).unwrap();
    setup(&server, &file);

    create(&server, "reg", HOST, "ada", &password).ok();
    let report = sync(&server);
    assert_eq!(report["errors"], 1, "{report:#}");
    assert_eq!(report["applied"], 0, "{report:#}");
    let status = delivery(&server, "reg", &format!("auth:{HOST}"));
    assert_eq!(status["state"], "error", "{status:#}");
    assert_eq!(status["code"], "not_owned", "{status:#}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);

    // Neither a rotation nor another pass changes that.
    create(&server, "reg", HOST, "ada", &format!("{password}2")).ok();
    sync(&server);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    assert_eq!(
        delivery(&server, "reg", &format!("auth:{HOST}"))["code"],
        "not_owned"
    );

    // The owner removes their login: regcred's goes in, theirs elsewhere stays.
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&foreign_content()).unwrap(),
    )
    .unwrap();
    sync(&server);
    assert_file(&file, &[(HOST, entry("ada", &format!("{password}2")))]);
    let status = delivery(&server, "reg", &format!("auth:{HOST}"));
    assert_eq!(status["state"], "delivered", "{status:#}");
    assert_eq!(status["revision"], 2, "{status:#}");

    assert_no_leak(&server, &[&password]);
}

/// Peers: the real distribution registry (pre-flight pull checks), the real skopeo.
///
/// A deployment of the image with the pull secret passes the real pre-flight check (and one of a
/// missing tag fails it, exit 8); while the deployment exists the pull secret cannot be deleted
/// (`in_use`, naming it); once the deployment is gone the delete works and the next pass removes
/// the entry, and only that entry, from the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_secret_in_use_cannot_be_deleted_and_its_entry_goes_with_it() {
    let password = fixture::canary("dep");
    let (registry, host, image, digest) = registry_with_image(&[("ada", &password)]).await;
    let server = Server::start_with(&["--insecure-registry", &host]);
    let file = server.scratch("config.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&foreign_content()).unwrap(),
    )
    .unwrap();
    setup(&server, &file);
    create(&server, "reg", &host, "ada", &password).ok();
    sync(&server);
    assert_file(&file, &[(&host, entry("ada", &password))]);
    assert_skopeo_pulls(&Skopeo::new(), &image, &file, &digest).await;

    let deploy = |name: &str, image: &str| {
        server.run(
            &[
                &[
                    "deployment",
                    "deploy",
                    "--name",
                    name,
                    "--image",
                    image,
                    "--pull-secret",
                    "reg",
                    "-o",
                    "json",
                ][..],
                &scope(),
            ]
            .concat(),
        )
    };
    let missing = deploy("web", &registry.image("team/app", "nope"));
    missing.code(8);
    assert!(
        missing.stderr.contains("preflight_failed"),
        "{}",
        missing.stderr
    );
    let deployed = deploy("web", &image).ok().json();
    assert_eq!(deployed["check"]["outcome"], "ok", "{deployed:#}");
    assert_eq!(deployed["deployment"]["revision"], 1, "{deployed:#}");
    // On a Docker host a deployment is its pull secrets' logins: its status says they are there.
    let statuses = deployed["deployment"]["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        statuses
            .iter()
            .any(|d| d["target"] == format!("auth:{host}") && d["state"] == "delivered"),
        "{deployed:#}"
    );

    let delete = || server.run(&[&["pullsecret", "delete", "reg"][..], &scope()].concat());
    let refused = delete();
    refused.code(6);
    assert!(refused.stderr.contains("in_use"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("deployment {P}/{L}/web")),
        "{}",
        refused.stderr
    );
    sync(&server);
    assert_file(&file, &[(&host, entry("ada", &password))]);

    server
        .run(&[&["deployment", "delete", "web"][..], &scope()].concat())
        .ok();
    delete().ok();
    let report = sync(&server);
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_file(&file, &[]);
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read(&file).unwrap();
    assert_eq!(
        find_secret(&text, &password),
        None,
        "the deleted pull secret's password stays in the file"
    );
    // Nothing is left to do.
    let again = sync(&server);
    assert_eq!(
        (
            again["applied"].as_u64(),
            again["deleted"].as_u64(),
            again["errors"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{again:#}"
    );

    assert_no_leak(&server, &[&password]);
}

/// Peers: none (`--no-verify`: no registry is contacted).
///
/// Deploying an image from a registry none of the given pull secrets applies to warns on stderr,
/// and with `--no-verify` the deployment is stored.
#[test]
fn a_deploy_whose_registry_matches_no_pull_secret_warns() {
    let password = fixture::canary("warn");
    let server = Server::start();
    let file = server.scratch("config.json");
    setup(&server, &file);
    create(
        &server,
        "reg",
        "registry.example.com:5000",
        "ada",
        &password,
    )
    .ok();
    let out = server.run(
        &[
            &[
                "deployment",
                "deploy",
                "--name",
                "web",
                "--image",
                "ghcr.io/acme/web:v1",
                "--pull-secret",
                "reg",
                "--no-verify",
                "-o",
                "json",
            ][..],
            &scope(),
        ]
        .concat(),
    );
    out.ok();
    assert!(out.stderr.contains("matches none"), "{}", out.stderr);
    assert!(out.json()["check"].is_null(), "{}", out.stdout);
    let got = server
        .run(&[&["deployment", "get", "web", "-o", "json"][..], &scope()].concat())
        .ok()
        .json();
    assert_eq!(got["image"], "ghcr.io/acme/web:v1", "{got:#}");
    assert_eq!(got["pullSecrets"][0]["name"], "reg", "{got:#}");

    assert_no_leak(&server, &[&password]);
}

/// Peers: none (only the auth file).
///
/// A pass that cannot parse the auth file (someone left it half-edited) reports
/// `auth_file_invalid` and writes nothing; once the file is repaired — with regcred's entry in it,
/// exactly as regcred wrote it — regcred still knows that entry is its own: it is up to date, a
/// rotation updates it and a deletion removes it.
#[test]
fn a_briefly_broken_auth_file_does_not_make_regcred_disown_its_entry() {
    const HOST: &str = "registry.example.com:5000";
    let password = fixture::canary("brk");
    let server = Server::start();
    let file = server.scratch("config.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&foreign_content()).unwrap(),
    )
    .unwrap();
    setup(&server, &file);
    create(&server, "reg", HOST, "ada", &password).ok();
    sync(&server);
    assert_file(&file, &[(HOST, entry("ada", &password))]);
    let good = std::fs::read(&file).unwrap();

    std::fs::write(&file, b"{\"auths\": {").unwrap();
    let report = sync(&server);
    assert_eq!(report["errors"], 1, "{report:#}");
    let status = delivery(&server, "reg", &format!("auth:{HOST}"));
    assert_eq!(status["code"], "auth_file_invalid", "{status:#}");
    assert_eq!(std::fs::read(&file).unwrap(), b"{\"auths\": {");

    std::fs::write(&file, &good).unwrap();
    let report = sync(&server);
    let status = delivery(&server, "reg", &format!("auth:{HOST}"));
    assert_eq!(
        (status["state"].as_str(), status["code"].as_str()),
        (Some("delivered"), None),
        "regcred's own entry is no longer recognised as its own: {status:#}\n{report:#}"
    );
    create(&server, "reg", HOST, "ada", &format!("{password}2")).ok();
    sync(&server);
    assert_file(&file, &[(HOST, entry("ada", &format!("{password}2")))]);
    server
        .run(&[&["pullsecret", "delete", "reg"][..], &scope()].concat())
        .ok();
    sync(&server);
    assert_file(&file, &[]);
}

/// Peers: none (only the auth file).
///
/// A Docker Hub pull secret's entry is keyed `https://index.docker.io/v1/` (as in
/// `.dockerconfigjson`), and its delivery status names that key whether the pass worked or could
/// not parse the file.
#[test]
fn a_docker_hub_login_is_keyed_and_reported_like_docker_login() {
    const HUB: &str = "https://index.docker.io/v1/";
    let password = fixture::canary("hub");
    let server = Server::start();
    let file = server.scratch("config.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&foreign_content()).unwrap(),
    )
    .unwrap();
    setup(&server, &file);
    create(&server, "hub", "docker.io", "acme", &password).ok();
    sync(&server);
    assert_file(&file, &[(HUB, entry("acme", &password))]);
    assert_eq!(
        delivery(&server, "hub", &format!("auth:{HUB}"))["state"],
        "delivered"
    );

    std::fs::write(&file, b"not json").unwrap();
    sync(&server);
    let status = delivery(&server, "hub", &format!("auth:{HUB}"));
    assert_eq!(status["code"], "auth_file_invalid", "{status:#}");
}

/// Peers: none (only the files of the location's path).
///
/// A location whose path is a symlink (to a file elsewhere, or to a device), a FIFO or a
/// directory used to get that path replaced by a regular file of credentials. Now the pass
/// refuses with `auth_file_not_regular`, exits 9, and leaves the path and whatever it points at
/// exactly as they were.
#[test]
fn a_path_that_is_not_a_regular_file_is_never_followed_or_replaced() {
    const HOST: &str = "registry.example.com:5000";
    let password = fixture::canary("nreg");
    // Passes run on `location sync` only (besides the wake of the create, while the path is
    // already not a regular file), so no background pass races the replacement of the path.
    let server = Server::start_with(&["--delivery-interval", "3600"]);
    let path = server.scratch("config.json");
    setup(&server, &path);

    let elsewhere = server.scratch("elsewhere.json");
    std::fs::write(&elsewhere, b"{\"auths\":{}}").unwrap();
    let fifo = |p: &Path| {
        let made = std::process::Command::new("mkfifo").arg(p).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", p.display());
    };
    type Make<'a> = (&'a str, Box<dyn Fn(&Path) + 'a>);
    let cases: Vec<Make<'_>> = vec![
        (
            "a symlink to a file",
            Box::new(|p| std::os::unix::fs::symlink(&elsewhere, p).unwrap()),
        ),
        (
            "a symlink to a device",
            Box::new(|p| std::os::unix::fs::symlink("/dev/null", p).unwrap()),
        ),
        (
            "a dangling symlink",
            Box::new(|p| std::os::unix::fs::symlink(server.scratch("nowhere.json"), p).unwrap()),
        ),
        ("a FIFO", Box::new(fifo)),
        ("a directory", Box::new(|p| std::fs::create_dir(p).unwrap())),
    ];
    let mut created = false;
    for (what, make) in cases {
        make(&path);
        if !created {
            create(&server, "reg", HOST, "ada", &password).ok();
            created = true;
        }
        let before = std::fs::symlink_metadata(&path).unwrap();
        let report = sync(&server);
        assert_eq!(report["errors"], 1, "{what}: {report:#}");
        let status = delivery(&server, "reg", &format!("auth:{HOST}"));
        assert_eq!(
            status["code"], "auth_file_not_regular",
            "{what}: {status:#}"
        );
        let after = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(
            (
                before.file_type(),
                std::os::unix::fs::MetadataExt::ino(&before)
            ),
            (
                after.file_type(),
                std::os::unix::fs::MetadataExt::ino(&after)
            ),
            "{what} was replaced"
        );
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            b"{\"auths\":{}}",
            "{what}"
        );
        assert!(!server.scratch("nowhere.json").exists(), "{what}: followed");
        if after.is_dir() {
            std::fs::remove_dir(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    // A regular file again: delivered.
    sync(&server);
    assert_eq!(read_json(&path)["auths"][HOST], entry("ada", &password));
}

/// Peers: none (only the auth files).
///
/// One project could take over another project's login on a shared host: two projects' pull
/// secrets for one server in one docker location, the older won, and the other project's
/// workloads pulled with the first project's credentials. Now a docker location whose path has
/// no `{project}` serves one project — another project's create is refused with
/// `location_taken` (exit 6) saying nothing about the other project — and a path with
/// `{project}` gives every project its own file.
#[test]
fn a_shared_host_serves_one_project_and_a_project_path_gives_each_its_own_file() {
    const HOST: &str = "registry.example.com:5000";
    let (ours, theirs) = (fixture::canary("acme"), fixture::canary("beta"));
    let server = Server::start();
    let shared = server.scratch("config.json");
    setup(&server, &shared);
    server.run(&["project", "create", "beta"]).ok();
    create(&server, "reg", HOST, "ada", &ours).ok();
    let beta = |location: &str, name: &str, registry: &str| {
        server
            .cli(&[
                "pullsecret",
                "create",
                "--project",
                "beta",
                "--location",
                location,
                "--name",
                name,
                "--server",
                registry,
                "--username",
                "bob",
                "--password-stdin",
                "-o",
                "json",
            ])
            .stdin(theirs.as_str())
            .run()
    };
    for registry in [HOST, "quay.io"] {
        let out = beta(L, "reg", registry);
        out.code(6);
        let error = out.error_message().unwrap_or_default().to_owned();
        assert!(error.contains("another project"), "{}", out.stderr);
        for secret in [P, "ps_", "ada"] {
            assert!(
                !out.stderr.contains(secret),
                "the refusal reveals {secret:?}: {}",
                out.stderr
            );
        }
    }
    sync(&server);
    assert_eq!(
        read_json(&shared)["auths"]
            .as_object()
            .map(serde_json::Map::len),
        Some(1),
        "only acme's login is on the shared host"
    );

    // Per project: /…/{project}/config.json.
    let template = server
        .scratch("hosts")
        .join("{project}")
        .join("config.json");
    server
        .run(&[
            "location",
            "create",
            "pernode",
            "--kind",
            "docker",
            "--path",
            template.to_str().unwrap(),
        ])
        .ok();
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            P,
            "--location",
            "pernode",
            "--name",
            "reg",
            "--server",
            HOST,
            "--username",
            "ada",
            "--password-stdin",
        ])
        .stdin(ours.as_str())
        .run()
        .ok();
    beta("pernode", "reg", HOST).ok();
    server.run(&["location", "sync", "pernode"]).ok();
    let file_of = |project: &str| server.scratch("hosts").join(project).join("config.json");
    assert_eq!(read_json(&file_of(P))["auths"][HOST], entry("ada", &ours));
    assert_eq!(
        read_json(&file_of("beta"))["auths"][HOST],
        entry("bob", &theirs)
    );
    assert_eq!(mode(&file_of("beta")), 0o600);

    server
        .run(&[
            "pullsecret",
            "delete",
            "reg",
            "--project",
            "beta",
            "--location",
            "pernode",
        ])
        .ok();
    server.run(&["location", "sync", "pernode"]).ok();
    assert_eq!(read_json(&file_of("beta"))["auths"], json!({}));
    assert_eq!(read_json(&file_of(P))["auths"][HOST], entry("ada", &ours));
}

/// Peers: none.
///
/// A second pull secret for a server the location already has one for used to be accepted and
/// then sat in `owned_by_other`. Now it is refused (`duplicate_server`, exit 6) naming the
/// existing pull secret; path-scoped servers (`host/org-a`, `host/org-b`) are different servers.
#[test]
fn a_second_pull_secret_for_one_server_is_refused_naming_the_first() {
    const HOST: &str = "registry.example.com:5000";
    let server = Server::start();
    let path = server.scratch("config.json");
    setup(&server, &path);
    create(&server, "first", HOST, "ada", "pw-1").ok();
    let out = create(&server, "second", HOST, "bob", "pw-2");
    out.code(6);
    assert!(
        out.stderr.contains("duplicate_server") || out.stderr.contains("first"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("first"),
        "names the existing pull secret: {}",
        out.stderr
    );
    create(&server, "org-a", &format!("{HOST}/org-a"), "ada", "pw-3").ok();
    create(&server, "org-b", &format!("{HOST}/org-b"), "bob", "pw-4").ok();
    // Rotating the first is still the way to change its credentials.
    create(&server, "first", HOST, "ada", "pw-5").ok();
    let report = sync(&server);
    assert_eq!(report["errors"], 0, "{report:#}");
}
