//! `pullsecret import` of logins kept in Docker credential stores: the test writes shell
//! scripts named `docker-credential-*` into a directory on `PATH`, standing in for the OS
//! keychain (no real one runs here), and imports a `config.json` that names them in
//! `credsStore` and `credHelpers`. The stand-ins speak the docker-credential-helpers protocol
//! (`list` → `{server: user}`, `get` with the server on stdin → `{"ServerURL","Username",
//! "Secret"}`, `credentials not found in native keychain` and exit 1 when there is none).
//! A failing helper prints a planted secret: nothing the CLI or the server prints may hold it.

mod fixture;

use std::path::{Path, PathBuf};

use fixture::{base64, find_secret, project_and_location, Out, Server};
use serde_json::{json, Value};

const P: &str = "acme";
const L: &str = "local";
const HUB: &str = "https://index.docker.io/v1/";

/// A directory of stand-in helpers, and the PATH that puts it first.
struct Helpers {
    dir: tempfile::TempDir,
}

impl Helpers {
    fn new() -> Helpers {
        Helpers {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn add(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}")).expect("write helper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A keychain holding `logins` (server, user, secret): `list` and `get` as the protocol says.
    fn keychain(&self, name: &str, logins: &[(&str, &str, &str)]) {
        let listed: serde_json::Map<String, Value> = logins
            .iter()
            .map(|(s, u, _)| ((*s).to_owned(), Value::from(*u)))
            .collect();
        let mut cases = String::new();
        for (server, user, secret) in logins {
            let answer = json!({"ServerURL": server, "Username": user, "Secret": secret});
            cases.push_str(&format!("  '{server}') printf '%s\\n' '{answer}' ;;\n"));
        }
        self.add(
            name,
            &format!(
                "case \"$1\" in\n\
                 list) printf '%s\\n' '{}' ;;\n\
                 get) read -r server\n\
                 case \"$server\" in\n{cases}  *) echo 'credentials not found in native keychain'; exit 1 ;;\n  esac ;;\n\
                 *) echo \"unknown command $1\"; exit 1 ;;\n\
                 esac\n",
                Value::Object(listed)
            ),
        );
    }
}

fn import(server: &Server, helpers: &Helpers, file: &Path, extra: &[&str]) -> Out {
    let file = file.display().to_string();
    let mut args = vec![
        "pullsecret",
        "import",
        "--file",
        &file,
        "--project",
        P,
        "--location",
        L,
        "-o",
        "json",
    ];
    args.extend(extra);
    server.cli(&args).env("PATH", helpers.path_var()).run()
}

/// `entry → (pullSecret, result, reason)` of an import's JSON output.
fn rows(out: &Out) -> Vec<(String, String, String, String)> {
    out.json()
        .as_array()
        .expect("a list of outcomes")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("entry"), s("pullSecret"), s("result"), s("reason"))
        })
        .collect()
}

fn row<'a>(
    rows: &'a [(String, String, String, String)],
    entry: &str,
) -> &'a (String, String, String, String) {
    rows.iter()
        .find(|r| r.0 == entry)
        .unwrap_or_else(|| panic!("no {entry} in {rows:?}"))
}

/// The `auth` regcred renders for a stored pull secret (`user:password` in base64).
fn rendered_auth(server: &Server, name: &str) -> (String, String) {
    let out = server
        .run(&[
            "render",
            "docker-config",
            "--from-pull-secret",
            name,
            "--project",
            P,
            "--location",
            L,
        ])
        .ok()
        .json();
    let (key, entry) = out["auths"]
        .as_object()
        .and_then(|a| a.iter().next())
        .expect("one auths entry");
    (
        key.clone(),
        entry["auth"].as_str().unwrap_or_default().to_owned(),
    )
}

fn write_config(server: &Server, config: &Value) -> PathBuf {
    let file = server.scratch("config.json");
    std::fs::write(&file, config.to_string()).expect("write config.json");
    file
}

#[test]
fn logins_in_credential_stores_are_imported_through_their_helpers() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let hub_secret = fixture::canary("hub");
    let reg_secret = fixture::canary("reg");
    let ghcr_secret = fixture::canary("ghcr");
    let planted = fixture::canary("broken");
    let helpers = Helpers::new();
    // The store Docker Desktop would be: two logins and an identity token.
    helpers.keychain(
        "keychain",
        &[
            (HUB, "hubuser", &hub_secret),
            ("registry.example.com", "reguser", &reg_secret),
            ("tokens.example.com", "<token>", "an-identity-token"),
        ],
    );
    helpers.keychain("ghelper", &[("ghcr.io", "ghuser", &ghcr_secret)]);
    // A helper that fails, printing (as a buggy one might) a secret with its error.
    helpers.add("broken", &format!("echo 'error for {planted}'\nexit 3\n"));
    let file = write_config(
        &server,
        &json!({
            "auths": {
                HUB: {},
                "plain.example.com": {"auth": base64(b"plainuser:plainpass")},
            },
            "credsStore": "keychain",
            "credHelpers": {
                "ghcr.io": "ghelper",
                "quay.io": "broken",
                "gcr.io": "absent",
                // Named by the store's list and by credHelpers: asked once.
                "registry.example.com": "keychain",
            },
        }),
    );

    // --dry-run asks the helpers, creates nothing, and fails for the failing ones.
    let out = import(&server, &helpers, &file, &["--dry-run"]);
    out.code(1);
    let dry = rows(&out);
    assert_eq!(row(&dry, HUB).2, "would import");
    assert_eq!(row(&dry, "ghcr.io").2, "would import");
    let list = server.run(&["pullsecret", "list"]).ok().json();
    assert_eq!(list["items"], json!([]), "--dry-run created something");

    let out = import(&server, &helpers, &file, &[]);
    out.code(1);
    let got = rows(&out);
    for (entry, name) in [
        (HUB, "docker-hub"),
        ("registry.example.com", "registry-example-com"),
        ("ghcr.io", "ghcr-io"),
        ("plain.example.com", "plain-example-com"),
    ] {
        let r = row(&got, entry);
        assert_eq!((r.1.as_str(), r.2.as_str()), (name, "created"), "{r:?}");
    }
    let identity = row(&got, "tokens.example.com");
    assert_eq!(identity.2, "not importable");
    assert!(identity.3.contains("identity token"), "{identity:?}");
    let broken = row(&got, "quay.io");
    assert_eq!(broken.2, "failed");
    assert!(
        broken.3.contains("docker-credential-broken get")
            && broken.3.contains("quay.io")
            && broken.3.contains("exit code 3"),
        "{broken:?}"
    );
    let absent = row(&got, "gcr.io");
    assert_eq!(absent.2, "failed");
    assert!(
        absent
            .3
            .contains("docker-credential-absent is not installed"),
        "{absent:?}"
    );
    assert_eq!(got.len(), 7, "{got:?}");
    assert!(
        out.error_message()
            .is_some_and(|m| m.contains("2 of 6 entries could not be imported")),
        "{}",
        out.stderr
    );

    // What the helpers held is what regcred stored.
    for (name, key, user, secret) in [
        ("docker-hub", HUB, "hubuser", hub_secret.as_str()),
        (
            "registry-example-com",
            "registry.example.com",
            "reguser",
            reg_secret.as_str(),
        ),
        ("ghcr-io", "ghcr.io", "ghuser", ghcr_secret.as_str()),
    ] {
        assert_eq!(
            rendered_auth(&server, name),
            (
                key.to_owned(),
                base64(format!("{user}:{secret}").as_bytes())
            )
        );
    }

    // No secret in anything the import printed, nor in the server's log.
    for out in server
        .transcript()
        .iter()
        .filter(|o| o.label.contains("\"import\""))
    {
        for secret in [&hub_secret, &reg_secret, &ghcr_secret, &planted] {
            for text in [&out.stdout, &out.stderr] {
                assert_eq!(find_secret(text.as_bytes(), secret), None, "{}", out.label);
            }
        }
    }
    let log = server.log_text();
    for secret in [&hub_secret, &reg_secret, &ghcr_secret, &planted] {
        assert_eq!(find_secret(log.as_bytes(), secret), None);
    }
}

#[test]
fn a_store_that_cannot_be_listed_is_one_clear_failure() {
    let server = Server::start();
    project_and_location(&server, P, L);
    let helpers = Helpers::new();
    let file = write_config(
        &server,
        &json!({"auths": {HUB: {}, "quay.io": {}}, "credsStore": "desktop"}),
    );
    // Missing: one failure for the store, not one per server.
    let out = import(&server, &helpers, &file, &[]);
    out.code(1);
    let got = rows(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "credsStore");
    assert_eq!(got[0].2, "failed");
    assert!(
        got[0]
            .3
            .contains("docker-credential-desktop is not installed"),
        "{got:?}"
    );

    // Failing its list: named, with the exit code, never its output.
    let planted = fixture::canary("list");
    helpers.add("desktop", &format!("echo '{planted}'\nexit 4\n"));
    let out = import(&server, &helpers, &file, &[]);
    out.code(1);
    let got = rows(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].3.contains("docker-credential-desktop list") && got[0].3.contains("exit code 4"),
        "{got:?}"
    );
    assert_eq!(find_secret(out.stdout.as_bytes(), &planted), None);
    assert_eq!(find_secret(out.stderr.as_bytes(), &planted), None);

    // A store that lists nothing and has nothing for the file's servers: not importable, exit 0.
    helpers.keychain("desktop", &[]);
    let out = import(&server, &helpers, &file, &[]);
    let got = rows(out.ok());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .all(|r| r.2 == "not importable" && r.3.contains("has no login")),
        "{got:?}"
    );

    // --no-credential-helpers: the helpers are not run, their logins are listed as before.
    helpers.add("desktop", "echo ran > \"$0.ran\"\nexit 1\n");
    let out = import(&server, &helpers, &file, &["--no-credential-helpers"]);
    let got = rows(out.ok());
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        !helpers
            .dir
            .path()
            .join("docker-credential-desktop.ran")
            .exists(),
        "the helper ran"
    );
}
