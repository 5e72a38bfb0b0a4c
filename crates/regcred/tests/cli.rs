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
fn without_deliveries(mut v: Value) -> Value {
    if let Some(object) = v.as_object_mut() {
        object.remove("deliveries");
    }
    v
}

/// `pullsecret list --project acme` once each of its `count` pull secrets is delivered: the
/// list no longer changes in the background after that. Polls, bounded.
fn delivered_list(server: &Server, count: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..500 {
        last = server
            .run(&["pullsecret", "list", "--project", P])
            .ok()
            .json();
        let items = last["items"].as_array().cloned().unwrap_or_default();
        let delivered = |item: &Value| {
            item["deliveries"]
                .as_array()
                .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d["state"] == "delivered"))
        };
        if items.len() == count && items.iter().all(delivered) {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the {count} pull secrets were not all delivered after 500 polls: {last:#}");
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
    // The background delivery adds each pull secret's delivery state on its own schedule, so
    // the lists are compared once it has delivered all four (bounded wait).
    let list = delivered_list(&server, 4);
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
    assert_eq!(as_json, list);
    let as_yaml = server
        .run(&["pullsecret", "list", "-o", "yaml"])
        .ok()
        .yaml();
    assert_eq!(as_yaml, list);
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

/// Shutdown does not wait on a busy database to give the leader lease up. Another process holds
/// SQLite's write lock (as a delivery pass left running at shutdown may, for seconds): the server
/// still stops and says the lease expires by itself, instead of waiting out SQLite's 10 s busy
/// timeout first. The lock is taken with Python's `sqlite3` module (Python is installed by
/// `scripts/setup` for the AWS emulator).
#[test]
fn shutdown_does_not_wait_on_a_locked_database_to_give_the_lease_up() {
    let mut server = Server::start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !fixture::http_get(&server.url, "/readyz")
        .is_some_and(|(_, body)| body.contains("\"role\":\"leader\""))
    {
        assert!(std::time::Instant::now() < deadline, "never became leader");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked', flush=True)\n\
             time.sleep(120)\n",
        ])
        .arg(server.data_dir.join("regcred.db"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read from python3");
    assert_eq!(line.trim(), "locked");
    let status = server.stop();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let log = server.log_text();
    assert!(
        log.contains("the lease could not be given up in time"),
        "{log}"
    );
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
    // The helpers the file names are not installed here; tests/import_credential_store.rs
    // runs stand-ins for them.
    let mut import = vec![
        "pullsecret",
        "import",
        "--file",
        &file,
        "--no-credential-helpers",
    ];
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

/// Issue 10, item 18: `pullsecret verify` refused `--name`, which `get` and `delete` (and the
/// seed CLI) take; every pull-secret verb takes the name positional or as `--name`.
#[test]
fn pull_secret_verbs_take_name_as_flag_or_positional() {
    let server = Server::start();
    project_and_location(&server, P, L);
    // Nothing listens on port 9 of loopback: the check answers unreachable at once, without
    // any network. A docker location takes one pull secret per server: each its own scope.
    let create = |name: &str| {
        let server_name = format!("127.0.0.1:9/{name}");
        server
            .cli(&create_args(
                name,
                &[
                    "--server",
                    &server_name,
                    "--username",
                    "u",
                    "--password-stdin",
                ],
            ))
            .stdin("pw")
            .run()
            .ok()
            .json()
    };
    create("by-flag");
    create("by-position");
    for (name, how) in [("by-flag", "--name"), ("by-position", "")] {
        let args = |verb: &'static str| {
            let mut v = vec!["pullsecret", verb];
            if !how.is_empty() {
                v.push(how);
            }
            v.push(name);
            v.extend(scope());
            v
        };
        let verified = server.run(&args("verify"));
        verified.code(8);
        assert_eq!(verified.json()["verification"]["outcome"], "unreachable");
        assert_eq!(server.run(&args("get")).ok().json()["name"], name);
        server.run(&args("delete")).ok();
        server.run(&args("get")).code(4);
    }
    server
        .run(&[
            "pullsecret",
            "verify",
            "a",
            "--name",
            "b",
            "--project",
            P,
            "--location",
            L,
        ])
        .code(2);
}

/// Issue 10, item 20: a stopped server on another port was reported as unreachable at
/// `127.0.0.1:7700`, the default, without saying so. The error names the address tried and
/// where it came from, and a stale `server.url` is called stale.
#[test]
fn unreachable_server_error_names_the_address_and_where_it_came_from() {
    let mut server = Server::start();
    let url = server.url.clone();
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    server.stop().expect("it was running");

    let by_flag = server.run(&["--api-url", &url, "project", "list"]);
    by_flag.code(7);
    let message = by_flag.error_message().expect("an error").to_owned();
    assert!(message.contains(&address), "{message}");
    assert!(message.contains("from --api-url"), "{message}");

    let by_env = server
        .cli(&["project", "list"])
        .env("REGCRED_API_URL", &url)
        .run();
    by_env.code(7);
    let message = by_env.error_message().expect("an error").to_owned();
    assert!(message.contains(&address), "{message}");
    assert!(message.contains("from REGCRED_API_URL"), "{message}");

    // A server killed without its clean shutdown leaves server.url behind.
    let url_file = server.data_dir.join("server.url");
    std::fs::write(&url_file, format!("{url}\n")).expect("write server.url");
    let stale = server.run(&["project", "list"]);
    stale.code(7);
    let message = stale.error_message().expect("an error").to_owned();
    assert!(message.contains(&address), "{message}");
    assert!(
        message.contains(&format!("from {}", url_file.display())),
        "{message}"
    );
    assert!(message.contains("stale"), "{message}");
    assert!(!message.contains("127.0.0.1:7700"), "{message}");
}

/// Issue 10, item 21: importing into a location that does not exist tried every entry and
/// exited 1. The project and location are checked first: exit 4, nothing tried.
#[test]
fn import_into_a_missing_location_exits_4_before_trying_entries() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let file = server.scratch("config.json");
    std::fs::write(&file, docker_config()).expect("write config.json");
    let file = file.display().to_string();
    for (project, location, missing) in [(P, "nowhere", "location"), ("nobody", L, "project")] {
        let out = server.run(&[
            "pullsecret",
            "import",
            "--file",
            &file,
            "--project",
            project,
            "--location",
            location,
        ]);
        out.code(4);
        assert!(out.stdout.is_empty(), "entries were tried: {}", out.stdout);
        let message = out.error_message().expect("an error");
        assert!(message.contains(missing), "{message}");
    }
    let list = server.run(&["pullsecret", "list"]).ok().json();
    assert_eq!(list["items"], Value::Array(vec![]));
}

/// Issue 10, item 22: `render k8s-secret` without the credentials kubectl requires exited 1;
/// it is a usage error (exit 2), as the README's table says.
#[test]
fn render_k8s_secret_without_credentials_exits_2() {
    let cases: [&[&str]; 3] = [
        &["render", "k8s-secret", "x", "--docker-password", "p"],
        &["render", "k8s-secret", "x", "--docker-username", "u"],
        &[
            "render",
            "docker-config",
            "--docker-username",
            "",
            "--docker-password",
            "p",
        ],
    ];
    for args in cases {
        let out = Cmd::new(args).run();
        out.code(2);
        assert!(
            out.stderr.contains("--docker-username, --docker-password"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn help_snapshots() {
    let top = Cmd::new(&["--help"]).run();
    insta::assert_snapshot!("regcred_help", top.ok().stdout);
    let create = Cmd::new(&["pullsecret", "create", "--help"]).run();
    insta::assert_snapshot!("pullsecret_create_help", create.ok().stdout);
}

/// Issue 10, item 22: `regcred completion bash|zsh|fish`, generated from the parser, so it
/// offers every command and the values of the enum flags.
#[test]
fn completion_scripts_offer_commands_and_enum_values() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Cmd::new(&["completion", shell]).run();
        let script = out.ok().stdout.clone();
        for word in [
            "pullsecret",
            "--project",
            "puller",
            "read-write",
            "access_token",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let bash = Cmd::new(&["completion", "bash"]).run().stdout;
    let path = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(path.path(), bash).expect("write script");
    Cmd::program("bash", &["-n", &path.path().display().to_string()])
        .run()
        .ok();
    Cmd::new(&["completion", "powershell"]).run().code(2);
}

/// What a command did on a pseudo-terminal: exit code and everything the terminal showed.
struct Screen {
    code: Option<i32>,
    text: String,
}

/// Runs `regcred --data-dir DATA args…` on a pseudo-terminal (util-linux `script`), and types
/// each of `answers` once the text before it shows on the screen. Bounded: a prompt that never
/// appears, or a command that never ends, fails the test.
fn on_terminal(server: &Server, args: &[&str], answers: &[(&str, &str)]) -> Screen {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = format!(
        "{} --data-dir {}",
        quote(fixture::BIN),
        quote(&server.data_dir.display().to_string())
    );
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut command = Command::new("script");
    command.args(["-qec", &line, "/dev/null"]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGCRED_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs the command on a pseudo-terminal");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().expect("screen").extend_from_slice(&buf[..n]);
            }
        })
    };
    let shown = || String::from_utf8_lossy(&screen.lock().expect("screen")).into_owned();
    let mut stdin = child.stdin.take().expect("stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    for (prompt, answer) in answers {
        while !shown().contains(prompt) {
            assert!(
                Instant::now() < deadline,
                "`{line}` never asked {prompt:?}; the screen:\n{}",
                shown()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        stdin.write_all(answer.as_bytes()).expect("type");
        stdin.flush().expect("type");
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("`{line}` did not finish; the screen:\n{}", shown());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    reader.join().expect("reader");
    Screen {
        code: status.code(),
        text: shown(),
    }
}

/// Issue 10, item 22: with no secret source, a terminal is asked for the secret, which it does
/// not echo; without a terminal, the missing secret is the API's error, as before.
#[test]
fn a_missing_password_is_asked_on_a_terminal_without_echo() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let typed = fixture::canary("typed");
    let args = create_args(
        "asked",
        &[
            "--server",
            "localhost:5000",
            "--username",
            "dev",
            "-o",
            "json",
        ],
    );
    let screen = on_terminal(&server, &args, &[("Password: ", &format!("{typed}\n"))]);
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    assert!(
        fixture::find_secret(screen.text.as_bytes(), &typed).is_none(),
        "the secret was echoed:\n{}",
        screen.text
    );
    let mut render = vec!["render", "docker-config", "--from-pull-secret", "asked"];
    render.extend(scope());
    let rendered = server.run(&render).ok().json();
    assert_eq!(
        rendered["auths"]["localhost:5000"]["auth"],
        base64(format!("dev:{typed}").as_bytes())
    );

    // Kinds without a password are not asked.
    let public = create_args("open", &["--kind", "public", "--server", "mirror.gcr.io"]);
    let screen = on_terminal(&server, &public, &[]);
    assert_eq!(screen.code, Some(0), "{}", screen.text);
    assert!(!screen.text.contains("Password"), "{}", screen.text);

    // No terminal: nothing is asked and the API names the missing field.
    let out = server.run(&create_args(
        "piped",
        &["--server", "localhost:5000", "--username", "dev"],
    ));
    out.code(3);
    assert!(out.stderr.contains("password"), "{}", out.stderr);
}

/// Issue 10, item 22: deleting a pull secret, location or project asks on a terminal unless
/// `--yes`; anything but yes deletes nothing and exits 1. Scripts are never asked.
#[test]
fn delete_asks_on_a_terminal_unless_yes() {
    let server = Server::start();
    project_and_location(&server, P, L);
    // A docker location takes one pull secret per server: each its own path scope.
    let create = |name: &str| {
        let server_name = format!("ghcr.io/{name}");
        server
            .cli(&create_args(
                name,
                &[
                    "--server",
                    &server_name,
                    "--username",
                    "u",
                    "--password-stdin",
                ],
            ))
            .stdin("pw")
            .run()
            .ok();
    };
    create("kept");
    create("gone");
    create("quiet");
    let delete = |name: &'static str, extra: &[&'static str]| {
        let mut v = vec!["pullsecret", "delete", name];
        v.extend(scope());
        v.extend(extra);
        v
    };

    let no = on_terminal(&server, &delete("kept", &[]), &[("[y/N] ", "n\n")]);
    assert_eq!(no.code, Some(1), "{}", no.text);
    assert!(no.text.contains("nothing was deleted"), "{}", no.text);
    get(&server, "kept").ok();

    let yes = on_terminal(&server, &delete("gone", &[]), &[("[y/N] ", "y\n")]);
    assert_eq!(yes.code, Some(0), "{}", yes.text);
    get(&server, "gone").code(4);

    let flag = on_terminal(&server, &delete("quiet", &["--yes"]), &[]);
    assert_eq!(flag.code, Some(0), "{}", flag.text);
    assert!(!flag.text.contains("[y/N]"), "{}", flag.text);
    get(&server, "quiet").code(4);

    // Locations and projects too.
    server.run(&["project", "create", "spare"]).ok();
    let no = on_terminal(&server, &["location", "delete", L], &[("[y/N] ", "\n")]);
    assert_eq!(no.code, Some(1), "{}", no.text);
    server.run(&["location", "get", L]).ok();
    let no = on_terminal(
        &server,
        &["project", "delete", "spare"],
        &[("[y/N] ", "no\n")],
    );
    assert_eq!(no.code, Some(1), "{}", no.text);
    server.run(&["project", "get", "spare"]).ok();
    let yes = on_terminal(
        &server,
        &["project", "delete", "spare"],
        &[("[y/N] ", "yes\n")],
    );
    assert_eq!(yes.code, Some(0), "{}", yes.text);
    server.run(&["project", "get", "spare"]).code(4);

    // Without a terminal nothing is asked (zero_config_lifecycle deletes that way too).
    server.run(&["project", "create", "scripted"]).ok();
    server.run(&["project", "delete", "scripted"]).ok();
    server.run(&["project", "get", "scripted"]).code(4);
}
