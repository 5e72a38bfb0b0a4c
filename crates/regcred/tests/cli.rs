//! The `regcred` binary end to end, with zero configuration: a real `regcred serve` on an
//! ephemeral port and the CLI given nothing but `--data-dir`. Proves the pull-secret lifecycle
//! (every password source, list/get in JSON, YAML and table form, rotation, deletion), the
//! documented exit codes, `pullsecret import` of a Docker `config.json`, the private modes of the
//! data directory, and graceful shutdown on SIGTERM.

mod fixture;

use fixture::{base64, mode, project_and_location, Cmd, Out, Server};
use serde_json::Value;

const P: &str = "acme";
const L: &str = "local";

fn scope() -> [&'static str; 4] {
    ["--project", P, "--location", L]
}

/// `pullsecret create` with the scope and `args`.
fn create_args<'a>(name: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["pullsecret", "create", "--name", name];
    v.extend(scope());
    v.extend(args);
    v
}

fn get(server: &Server, name: &str) -> Out {
    let mut args = vec!["pullsecret", "get", name];
    args.extend(scope());
    server.run(&args)
}

/// A pull secret's metadata without its delivery states, which the background delivery loop
/// updates on its own schedule.
fn without_deliveries(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(object) = v.as_object_mut() {
        object.remove("deliveries");
    }
    v
}

/// A list answer with [`without_deliveries`] applied to every item: two lists taken while the
/// background loop delivers differ only there.
fn items_without_deliveries(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(items) = v["items"].as_array_mut() {
        for item in items.iter_mut() {
            *item = without_deliveries(item.take());
        }
    }
    v
}

/// Checks a table: the header is `headers`, every row has a value starting at each column's
/// offset and blanks before it.
#[track_caller]
fn assert_table(text: &str, headers: &[&str], rows: usize) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        headers,
        "{text}"
    );
    let offsets: Vec<usize> = headers
        .iter()
        .map(|h| header.find(h).expect("header present"))
        .collect();
    let mut out = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        let mut cells = Vec::new();
        for (i, &start) in offsets.iter().enumerate() {
            assert!(
                start == 0 || chars[start - 1] == ' ',
                "column {i} misaligned in {line:?}\n{text}"
            );
            let end = offsets
                .get(i + 1)
                .map_or(chars.len(), |&e| e.min(chars.len()));
            cells.push(
                chars[start..end]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_owned(),
            );
        }
        out.push(cells);
    }
    assert_eq!(out.len(), rows, "{text}");
    out
}

#[test]
fn zero_config_lifecycle() {
    let server = Server::start();
    let project = server.run(&["project", "create", P]).ok().json();
    assert_eq!(project["name"], P);
    let config = server.scratch("docker-config.json").display().to_string();
    let location = server
        .run(&[
            "location", "create", L, "--kind", "docker", "--path", &config,
        ])
        .ok()
        .json();
    assert_eq!(location["name"], L);
    assert_eq!(location["kind"], "docker");

    // The four password sources. Only --password warns.
    let ghcr = server
        .cli(&create_args(
            "ghcr",
            &[
                "--server",
                "ghcr.io",
                "--username",
                "acme-deploy",
                "--password-stdin",
            ],
        ))
        .stdin("pw-one")
        .run();
    ghcr.ok();
    assert!(!ghcr.stderr.contains("warning"), "{}", ghcr.stderr);
    let ghcr = ghcr.json();
    assert_eq!(ghcr["created"], true);
    let ghcr = &ghcr["pullSecret"];
    assert_eq!(ghcr["kind"], "ghcr");
    assert_eq!(ghcr["server"], "ghcr.io");
    assert_eq!(ghcr["username"], "acme-deploy");
    assert_eq!(ghcr["revision"], 1);
    let id = ghcr["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("ps_"), "{id}");
    let fp1 = ghcr["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert!(!fp1.is_empty());

    let file = server.scratch("quay-password");
    std::fs::write(&file, "quay-pw\n").expect("write password file");
    let file = file.display().to_string();
    let quay = server.run(&create_args(
        "quay",
        &[
            "--server",
            "quay.io",
            "--username",
            "acme+robot",
            "--password-file",
            &file,
        ],
    ));
    assert!(!quay.ok().stderr.contains("warning"), "{}", quay.stderr);
    assert_eq!(quay.json()["pullSecret"]["kind"], "quay");

    let hub = server
        .cli(&create_args("hub", &["--username", "acme"]))
        .env("REGCRED_PASSWORD", "hub-pw")
        .run();
    assert!(!hub.ok().stderr.contains("warning"), "{}", hub.stderr);
    let hub = hub.json();
    assert_eq!(hub["pullSecret"]["kind"], "docker");
    assert_eq!(hub["pullSecret"]["server"], "docker.io");

    let flag = server.run(&create_args(
        "local",
        &[
            "--server",
            "localhost:5000",
            "--username",
            "dev",
            "--password",
            "flag-pw",
        ],
    ));
    flag.ok();
    assert!(
        flag.stderr.contains("warning") && flag.stderr.contains("--password"),
        "--password must warn on stderr: {:?}",
        flag.stderr
    );
    assert!(!flag.stdout.contains("warning"));
    assert_eq!(flag.json()["pullSecret"]["kind"], "custom");
    assert_eq!(flag.json()["pullSecret"]["server"], "localhost:5000");

    // list: JSON by default (stdout is not a terminal), the same data as YAML, and a table.
    let list = server
        .run(&["pullsecret", "list", "--project", P])
        .ok()
        .json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["ghcr", "hub", "local", "quay"]);
    let as_json = server
        .run(&["pullsecret", "list", "-o", "json"])
        .ok()
        .json();
    // Taken while the background delivery records its statuses: equal but for those.
    let list = items_without_deliveries(list);
    assert_eq!(items_without_deliveries(as_json), list);
    let as_yaml = server
        .run(&["pullsecret", "list", "-o", "yaml"])
        .ok()
        .yaml();
    assert_eq!(items_without_deliveries(as_yaml), list);
    let table = server
        .run(&["pullsecret", "list", "-o", "table"])
        .ok()
        .stdout
        .clone();
    let rows = assert_table(
        &table,
        &[
            "PROJECT", "LOCATION", "NAME", "KIND", "SERVER", "USERNAME", "REVISION", "UPDATED",
        ],
        4,
    );
    assert_eq!(
        rows[0][..7],
        [
            "acme",
            "local",
            "ghcr",
            "ghcr",
            "ghcr.io",
            "acme-deploy",
            "1"
        ]
    );
    assert_eq!(
        rows[2][..7],
        [
            "acme",
            "local",
            "local",
            "custom",
            "localhost:5000",
            "dev",
            "1"
        ]
    );

    // get: by name and by id give the same object, in every format.
    let by_name = without_deliveries(get(&server, "ghcr").ok().json());
    assert_eq!(&by_name, ghcr);
    let by_id = server.run(&["pullsecret", "get", "--id", &id]).ok().json();
    assert_eq!(without_deliveries(by_id), by_name);
    let mut yaml_args = vec!["pullsecret", "get", "ghcr", "-o", "yaml"];
    yaml_args.extend(scope());
    assert_eq!(
        without_deliveries(server.run(&yaml_args).ok().yaml()),
        by_name
    );
    let table = server
        .run(&["pullsecret", "get", "--id", &id, "-o", "table"])
        .ok()
        .stdout
        .clone();
    let rows = assert_table(&table, &["FIELD", "VALUE"], 14);
    let field = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .map(|r| r[1].clone())
            .unwrap_or_else(|| panic!("no {name} row:\n{table}"))
    };
    assert_eq!(field("id"), id);
    assert_eq!(field("fingerprint"), fp1);
    assert_eq!(field("revision"), "1");
    assert_eq!(field("used by"), "-");
    assert!(
        ["-", "1/1 targets"].contains(&field("delivered").as_str()),
        "{table}"
    );

    // Rotation: same command, same name. The id stays, the revision counts, the fingerprint
    // follows the material (and stdin's trailing newline is not part of it).
    let rotated = server
        .cli(&create_args(
            "ghcr",
            &[
                "--server",
                "ghcr.io",
                "--username",
                "acme-deploy",
                "--password-stdin",
            ],
        ))
        .stdin("pw-two\n")
        .run()
        .ok()
        .json();
    assert_eq!(rotated["created"], false);
    assert_eq!(rotated["pullSecret"]["id"], id.as_str());
    assert_eq!(rotated["pullSecret"]["revision"], 2);
    let fp2 = rotated["pullSecret"]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert_ne!(fp2, fp1, "new material, new fingerprint");
    let same_file = server.scratch("same-password");
    std::fs::write(&same_file, "pw-two\n").expect("write");
    let again = server
        .run(&create_args(
            "ghcr",
            &[
                "--server",
                "ghcr.io",
                "--username",
                "acme-deploy",
                "--password-file",
                &same_file.display().to_string(),
            ],
        ))
        .ok()
        .json();
    assert_eq!(again["created"], false);
    assert_eq!(again["pullSecret"]["revision"], 3);
    assert_eq!(
        again["pullSecret"]["fingerprint"],
        fp2.as_str(),
        "same material, same fingerprint"
    );
    let mut render = vec!["render", "docker-config", "--from-pull-secret", "ghcr"];
    render.extend(scope());
    let rendered: Value = server.run(&render).ok().json();
    assert_eq!(
        rendered["auths"]["ghcr.io"]["auth"],
        base64(b"acme-deploy:pw-two")
    );

    // Delete, then it is gone by name and by id.
    let mut delete = vec!["pullsecret", "delete", "ghcr"];
    delete.extend(scope());
    let deleted = server.run(&delete).ok().json();
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(deleted["forced"], false);
    get(&server, "ghcr").code(4);
    server.run(&["pullsecret", "get", "--id", &id]).code(4);
    server.run(&delete).code(4);
    let list = server.run(&["pullsecret", "list"]).ok().json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));

    // The data directory is private.
    assert_eq!(mode(&server.data_dir), 0o700, "data directory");
    for file in ["master.key", "admin.token"] {
        assert_eq!(mode(&server.data_dir.join(file)), 0o600, "{file}");
    }
}

#[test]
fn restart_keeps_the_key_and_the_secrets() {
    let mut server = Server::start();
    project_and_location(&server, P, L);
    let token = std::fs::read_to_string(server.data_dir.join("admin.token")).expect("admin.token");
    let created = server
        .cli(&create_args(
            "ghcr",
            &["--server", "ghcr.io", "--username", "u", "--password-stdin"],
        ))
        .stdin("survives")
        .run()
        .ok()
        .json();
    server.restart();
    assert_eq!(
        std::fs::read_to_string(server.data_dir.join("admin.token")).expect("admin.token"),
        token,
        "the bootstrap token is created once"
    );
    let after = without_deliveries(get(&server, "ghcr").ok().json());
    assert_eq!(after, created["pullSecret"]);
    let mut render = vec!["render", "docker-config", "--from-pull-secret", "ghcr"];
    render.extend(scope());
    let rendered = server.run(&render).ok().json();
    assert_eq!(rendered["auths"]["ghcr.io"]["auth"], base64(b"u:survives"));
}

/// A missing master-key file in front of a database that already holds sealed data used to be
/// replaced by a fresh random key, after which the server refused to start (wrong key) and the
/// stray key hid the missing one. Now the start fails, names the key the data needs, and writes
/// nothing.
#[test]
fn missing_master_key_with_existing_database_writes_no_stray_key() {
    let mut server = Server::start();
    project_and_location(&server, P, L);
    let key_file = server.data_dir.join("master.key");
    server.stop().expect("it was running");
    std::fs::remove_file(&key_file).expect("remove master.key");
    let data_dir = server.data_dir.to_str().expect("UTF-8 path");
    let out = Cmd::new(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]).run();
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("master key file") && out.stderr.contains("restore"),
        "{}",
        out.stderr
    );
    assert!(!key_file.exists(), "no stray master key may be written");
}

#[test]
fn sigterm_stops_gracefully_and_removes_server_url() {
    let mut server = Server::start();
    let url_file = server.data_dir.join("server.url");
    assert!(url_file.exists());
    assert_eq!(
        fixture::http_get(&server.url, "/healthz").map(|(s, _)| s),
        Some(200)
    );
    let status = server.stop().expect("it was running");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(!url_file.exists(), "server.url must be removed at shutdown");
    assert!(
        server.log_text().contains("regcred stopped"),
        "{}",
        server.log_text()
    );
    // Nothing answers at the old address any more, and the CLI says so with exit code 7. (Without
    // server.url the CLI would fall back to 127.0.0.1:7700, where another server may run.)
    let out = server.run(&["--api-url", &server.url, "project", "list"]);
    out.code(7);
}

#[test]
fn exit_codes_follow_the_readme() {
    let server = Server::start();
    project_and_location(&server, P, L);
    server
        .cli(&create_args(
            "ghcr",
            &["--server", "ghcr.io", "--username", "u", "--password-stdin"],
        ))
        .stdin("pw")
        .run()
        .ok();

    // 2: usage.
    server.run(&["frobnicate"]).code(2);
    server
        .run(&["pullsecret", "create", "--project", P])
        .code(2);
    server.run(&["pullsecret", "list", "-o", "xml"]).code(2);
    server
        .run(&create_args(
            "x",
            &[
                "--username",
                "u",
                "--password-stdin",
                "--password-file",
                "/dev/null",
            ],
        ))
        .code(2);

    // 3: refused as invalid; the credentials in the host are not echoed.
    let bad = server.run(&create_args(
        "bad",
        &[
            "--server",
            "user:S3cretHostPw@ghcr.io",
            "--username",
            "u",
            "--password",
            "pw",
        ],
    ));
    bad.code(3);
    for out in [&bad.stdout, &bad.stderr] {
        assert!(
            !out.contains("S3cretHostPw"),
            "the password in the server was echoed: {out}"
        );
    }
    assert!(bad.error_message().is_some(), "{}", bad.stderr);
    server.run(&["project", "create", "Not_A_Name"]).code(3);

    // 4: not found.
    get(&server, "nope").code(4);
    server
        .run(&["pullsecret", "get", "--id", "ps_0000000000000000"])
        .code(4);
    server.run(&["project", "get", "nope"]).code(4);
    let mut render = vec!["render", "k8s-secret", "--from-pull-secret", "nope"];
    render.extend(scope());
    server.run(&render).code(4);

    // 5: not authenticated, or not allowed.
    let viewer = server
        .run(&[
            "token",
            "create",
            "--name",
            "look",
            "--role",
            "viewer",
            "--project",
            P,
        ])
        .ok()
        .json();
    let secret = viewer["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("rc_"), "{secret}");
    let mut list = vec![
        "--token",
        secret.as_str(),
        "pullsecret",
        "list",
        "--project",
        P,
    ];
    server.run(&list).ok();
    let mut create = vec!["--token", secret.as_str()];
    create.extend(create_args(
        "viewer-made",
        &["--server", "ghcr.io", "--username", "u", "--password-stdin"],
    ));
    server.cli(&create).stdin("pw").run().code(5);
    get(&server, "viewer-made").code(4);
    list[1] = "rc_bogus_notatoken";
    server.run(&list).code(5);

    // 6: conflict.
    server.run(&["project", "create", P]).code(6);

    // 7: unreachable, promptly.
    let out = server.run(&["--api-url", "http://127.0.0.1:1", "project", "list"]);
    out.code(7);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
}

/// Usage errors that clap cannot see (flags that are required only without `--id`, flag
/// combinations of `render`) are usage errors all the same: README, exit code 2.
#[test]
fn usage_errors_found_after_parsing_exit_2() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let cases: [&[&str]; 7] = [
        &["pullsecret", "get", "ghcr"],
        &["pullsecret", "delete", "ghcr", "--project", P],
        &["render", "k8s-secret", "x", "--from-pull-secret", "ghcr"],
        &[
            "render",
            "k8s-secret",
            "x",
            "--docker-username=u",
            "--docker-password=p",
            "-o",
            "table",
        ],
        &[
            "render",
            "k8s-secret",
            "x",
            "--docker-username=u",
            "--docker-password=p",
            "--dry-run=server",
        ],
        &[
            "render",
            "docker-config",
            "--docker-username=u",
            "--docker-password=p",
            "-o",
            "yaml",
        ],
        &[
            "render",
            "k8s-secret",
            "--from-pull-secret",
            "ghcr",
            "--project",
            P,
            "--location",
            L,
            "--docker-username",
            "u",
        ],
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|args| server.run(args))
        .filter(|out| out.code != Some(2))
        .map(|out| {
            format!(
                "exit {:?} from `{}`: {}",
                out.code,
                out.label,
                out.stderr.trim()
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "usage errors must exit 2:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn closed_stdout_is_success() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let code = Cmd::new(&[
        "--data-dir",
        &server.data_dir.display().to_string(),
        "project",
        "list",
    ])
    .run_with_closed_stdout();
    assert_eq!(code, Some(0));
}

const HUB_AUTH_USER: &str = "hubuser";
const HUB_AUTH_PASSWORD: &str = "hub:pass&<>word";

fn docker_config() -> String {
    let auth = base64(format!("{HUB_AUTH_USER}:{HUB_AUTH_PASSWORD}").as_bytes());
    serde_json::json!({
        "auths": {
            "https://index.docker.io/v1/": {"auth": auth},
            "localhost:5000": {"username": "dev", "password": "dev-pw", "email": "dev@example.com"},
            "ghcr.io": {"auth": "", "identitytoken": "eyJidentity"},
            "quay.io": {},
        },
        "credsStore": "desktop",
        "credHelpers": {"gcr.io": "gcloud"},
    })
    .to_string()
}

/// (entry, pull secret, result) of an import's JSON output, and the reason of each skipped one.
type Imported = Vec<(String, String, String)>;
type Skipped = Vec<(String, String)>;

fn outcomes(out: &Out) -> (Imported, Skipped) {
    let rows = out.json();
    let mut done = Vec::new();
    let mut skipped = Vec::new();
    for r in rows.as_array().expect("a list of outcomes") {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        if s("result") == "not importable" {
            assert!(r.get("pullSecret").is_none(), "{r}");
            skipped.push((s("entry"), s("reason")));
        } else {
            done.push((s("entry"), s("pullSecret"), s("result")));
        }
    }
    (done, skipped)
}

fn row(entry: &str, name: &str, result: &str) -> (String, String, String) {
    (entry.to_owned(), name.to_owned(), result.to_owned())
}

#[test]
fn import_docker_config() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let file = server.scratch("config.json");
    std::fs::write(&file, docker_config()).expect("write config.json");
    let file = file.display().to_string();
    let mut import = vec!["pullsecret", "import", "--file", &file];
    import.extend(scope());

    // --dry-run says what would happen and creates nothing.
    let mut dry = import.clone();
    dry.push("--dry-run");
    let out = server.run(&dry);
    let (done, skipped) = outcomes(out.ok());
    let hub_key = "https://index.docker.io/v1/".to_owned();
    assert_eq!(
        done,
        [
            row(&hub_key, "docker-hub", "would import"),
            row("localhost:5000", "localhost-5000", "would import"),
        ]
    );
    let list = server.run(&["pullsecret", "list"]).ok().json();
    assert_eq!(
        list["items"],
        Value::Array(vec![]),
        "--dry-run created something"
    );

    let out = server.run(&import);
    let (done, skipped_for_real) = outcomes(out.ok());
    assert_eq!(
        done,
        [
            row(&hub_key, "docker-hub", "created"),
            row("localhost:5000", "localhost-5000", "created"),
        ]
    );
    assert_eq!(skipped_for_real, skipped);
    let entries: Vec<&str> = skipped.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(entries.len(), 4, "{skipped:?}");
    for entry in ["ghcr.io", "quay.io", "gcr.io"] {
        assert!(entries.contains(&entry), "{entry} missing from {skipped:?}");
    }
    let reason = |entry: &str| {
        skipped
            .iter()
            .find(|(e, _)| e == entry)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert!(reason("ghcr.io").contains("identity token"), "{skipped:?}");
    assert!(
        reason("quay.io").contains("docker-credential-desktop"),
        "{skipped:?}"
    );
    assert!(
        reason("gcr.io").contains("docker-credential-gcloud"),
        "{skipped:?}"
    );
    assert!(skipped.iter().all(|(_, r)| !r.is_empty()), "{skipped:?}");

    let list = server.run(&["pullsecret", "list"]).ok().json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["docker-hub", "localhost-5000"]);
    let local = get(&server, "localhost-5000").ok().json();
    assert_eq!(local["server"], "localhost:5000");
    assert_eq!(local["username"], "dev");
    assert_eq!(local["email"], "dev@example.com");

    // The Docker Hub login renders back to the same `auth`, under Docker Hub's key.
    let mut render = vec![
        "render",
        "docker-config",
        "--from-pull-secret",
        "docker-hub",
    ];
    render.extend(scope());
    let rendered = server.run(&render).ok().json();
    let auths = rendered["auths"].as_object().expect("auths");
    assert_eq!(auths.keys().collect::<Vec<_>>(), [&hub_key]);
    assert_eq!(
        auths[&hub_key]["auth"],
        base64(format!("{HUB_AUTH_USER}:{HUB_AUTH_PASSWORD}").as_bytes())
    );

    // Importing again rotates.
    let (done, _) = outcomes(server.run(&import).ok());
    assert!(done.iter().all(|(_, _, r)| r == "rotated"), "{done:?}");
    assert_eq!(get(&server, "docker-hub").ok().json()["revision"], 2);
}
