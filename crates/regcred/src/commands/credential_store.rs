//! Reading logins out of Docker credential stores for `pullsecret import`: the
//! `docker-credential-<name>` helpers a config file names in `credsStore` (every login it
//! lists) and `credHelpers` (the one server each entry names), spoken to with the
//! docker-credential-helpers protocol — `list` prints `{serverURL: username}`, `get` reads the
//! server on stdin and prints `{"ServerURL","Username","Secret"}`, a failure prints its message
//! on stdout and exits non-zero (`credentials not found in native keychain` when there is none).
//!
//! A helper's output is never shown: it may hold the secret. Failures say which helper, which
//! command and which server, and the exit status.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regcred_core::auth_file::{ImportedCredential, NotImportable, NotImportableReason};
use regcred_core::secret::Secret;
use serde::Deserialize;

/// How long one helper call may take (a keychain may ask its user to unlock it).
const HELPER_TIMEOUT: Duration = Duration::from_secs(120);

/// What docker-credential-helpers print when a store holds nothing for the server.
const NOT_FOUND: &str = "credentials not found in native keychain";

/// The username helpers store with an identity token instead of a password.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// What one helper said about one server.
#[derive(Debug)]
pub enum Lookup {
    Found(ImportedCredential),
    /// Not a login regcred can use (none stored, an identity token).
    NotImportable(String),
    /// The helper failed; the message names helper, command and server, never its output.
    Failed(String),
}

/// One entry's result: the server (as the config file or the helper's `list` names it) and
/// what the helper said.
#[derive(Debug)]
pub struct Entry {
    pub server: String,
    pub lookup: Lookup,
}

#[derive(Deserialize)]
struct GetAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Why a helper call produced no usable answer.
enum CallError {
    Missing,
    /// Exit status (None: killed by a signal or by the timeout) and whether stdout was the
    /// protocol's not-found message.
    Failed {
        code: Option<i32>,
        not_found: bool,
    },
    TimedOut,
    Io(std::io::Error),
}

fn program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// Runs `docker-credential-<helper> <verb>` with `input` on stdin; its stdout on success.
/// Its stderr is discarded, like its stdout on failure: both may hold secrets.
fn call(helper: &str, verb: &str, input: &str) -> Result<Vec<u8>, CallError> {
    let mut child = match Command::new(program(helper))
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CallError::Missing),
        Err(e) => return Err(CallError::Io(e)),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading (list) closes the pipe: not an error.
        let _ = stdin.write_all(input.as_bytes());
    }
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    });
    let deadline = Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CallError::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(CallError::Io(e)),
        }
    };
    let out = reader.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(CallError::Failed {
            code: status.code(),
            not_found: String::from_utf8_lossy(&out).trim() == NOT_FOUND,
        })
    }
}

/// The message for a failed call: helper, command, server, and what happened — never output.
fn failure(helper: &str, verb: &str, server: Option<&str>, error: &CallError) -> String {
    let what = match server {
        Some(server) => format!("`{} {verb}` for {server}", program(helper)),
        None => format!("`{} {verb}`", program(helper)),
    };
    match error {
        CallError::Missing => format!(
            "{} is not installed (not found on PATH), so the logins the config file keeps in it cannot be read",
            program(helper)
        ),
        CallError::Failed { code: Some(code), .. } => {
            format!("{what} failed with exit code {code} (its output is not shown: it may hold a secret)")
        }
        CallError::Failed { code: None, .. } => format!("{what} was killed by a signal"),
        CallError::TimedOut => format!(
            "{what} did not answer within {} s",
            HELPER_TIMEOUT.as_secs()
        ),
        CallError::Io(e) => format!("{what} could not be run: {}", e.kind()),
    }
}

/// `get` of one server.
fn get(helper: &str, server: &str) -> Lookup {
    match call(helper, "get", server) {
        Ok(out) => match serde_json::from_slice::<GetAnswer>(&out) {
            Ok(answer) if answer.username == IDENTITY_TOKEN_USER => Lookup::NotImportable(
                format!(
                    "{} keeps an identity token for it, which only the Docker client can use; log in again with a username and password or access token",
                    program(helper)
                ),
            ),
            Ok(answer) if answer.username.is_empty() || answer.secret.is_empty() => {
                Lookup::NotImportable(format!(
                    "{} answers an empty username or secret for it",
                    program(helper)
                ))
            }
            Ok(answer) => Lookup::Found(ImportedCredential {
                server: server.to_owned(),
                username: answer.username,
                password: Secret::new(answer.secret),
                email: None,
            }),
            // serde's message could quote the secret: only say what was wrong.
            Err(_) => Lookup::Failed(format!(
                "`{} get` for {server} answered something that is not the helper protocol's JSON",
                program(helper)
            )),
        },
        Err(CallError::Failed {
            not_found: true, ..
        }) => Lookup::NotImportable(format!("{} has no login for it", program(helper))),
        Err(e) => Lookup::Failed(failure(helper, "get", Some(server), &e)),
    }
}

/// `list`: the servers a store holds.
fn list(helper: &str) -> Result<Vec<String>, String> {
    let out = call(helper, "list", "").map_err(|e| failure(helper, "list", None, &e))?;
    let listed: BTreeMap<String, String> = serde_json::from_slice(&out).map_err(|_| {
        format!(
            "`{} list` answered something that is not the helper protocol's JSON",
            program(helper)
        )
    })?;
    Ok(listed.into_keys().collect())
}

/// The logins behind the config file's helper records (the `CredentialHelper` entries of
/// `not_importable`, which this takes out; the others stay). Docker's order decides which
/// helper serves a server: its `credHelpers` entry, else the `credsStore`, whose `list` adds
/// the servers the file does not name. A store that cannot be listed is one failed entry
/// (`credsStore`), not one per server.
pub fn read_helpers(not_importable: &mut Vec<NotImportable>) -> Vec<Entry> {
    let mut per_server: BTreeMap<String, String> = BTreeMap::new();
    let mut store: Option<String> = None;
    // Parse order: `auths` entries (under the store's name), then `credHelpers`, then the
    // store record; a `credHelpers` entry replaces the store for its server.
    not_importable.retain(|n| match (&n.reason, &n.server) {
        (NotImportableReason::CredentialHelper { helper }, None) => {
            store = Some(helper.clone());
            false
        }
        (NotImportableReason::CredentialHelper { helper }, Some(server)) => {
            per_server.insert(server.clone(), helper.clone());
            false
        }
        _ => true,
    });
    let mut entries = Vec::new();
    if let Some(store) = &store {
        match list(store) {
            Ok(servers) => {
                for server in servers {
                    per_server.entry(server).or_insert_with(|| store.clone());
                }
            }
            Err(message) => {
                per_server.retain(|_, helper| helper != store);
                entries.push(Entry {
                    server: "credsStore".to_owned(),
                    lookup: Lookup::Failed(message),
                });
            }
        }
    }
    for (server, helper) in per_server {
        let lookup = get(&helper, &server);
        entries.push(Entry { server, lookup });
    }
    entries
}
