//! `docker-credential-regcred`: the Docker credential-helper protocol (one argument, `get`,
//! `list`, `store`, `erase` or `version`; answers and errors on stdout, exit 1 on error; the exact
//! not-found message). regcred is the source of truth, so `store` and `erase` are refused. `get`
//! answers from a local cache while the cached credential is younger than the configured
//! `cacheSeconds` (30 s by default, 0: no cache) and still within its expiry and the server's
//! `cacheSeconds`, else from `credential.get`. A helper is a new process per call and cannot learn
//! the current revision without the round trip the cache saves, so the age bound is what limits
//! how long a rotated credential is still served.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use regcred_core::api::{
    CredentialEntries, CredentialGet, CredentialList, CredentialServer, Items,
};
use regcred_core::codes::ErrorCode;
use regcred_core::registry_host::RegistryServer;
use serde::{Deserialize, Serialize};

use super::{cache_dir, earliest_expiry, now_unix, CacheFile, Layer, Secret, Settings};
use crate::client::ApiFailure;

/// What Docker expects, byte for byte, when a helper has nothing for a server.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
const STORE_REFUSED: &str = "regcred-managed credentials cannot be stored by docker login; create a pull secret with regcred pullsecret create";
const ERASE_REFUSED: &str = "regcred-managed credentials cannot be erased by docker logout; delete the pull secret with regcred pullsecret delete";
const USAGE: &str = "Usage: docker-credential-regcred <store|get|erase|list|version>";
const CACHE_FILE: &str = "docker-credentials.json";

/// The `get` answer, fields in Docker's order.
#[derive(Debug, Serialize)]
struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// One cached credential.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cached {
    username: String,
    secret: Secret,
    /// Unix seconds when it was released: served while younger than the configured maximum age
    /// at the time of reading, so that lowering the setting takes effect at once.
    cached_at: i64,
    /// Unix seconds; served while now is before this (expiry, server's limit, maximum age).
    valid_until: i64,
}

impl Cached {
    fn fresh(&self, now: i64, max_age: u64) -> bool {
        let age = now.saturating_sub(self.cached_at);
        // A clock that went back makes the age unknown: ask again.
        now < self.valid_until && (0..seconds(max_age)).contains(&age)
    }
}

fn seconds(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// Runs the helper with the arguments after `argv[0]` and returns the exit code.
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = match args.as_slice() {
        [action] => match action.to_str() {
            Some("get") => with_runtime(get()),
            Some("list") => with_runtime(list()),
            Some("store") => refuse(STORE_REFUSED),
            Some("erase") => refuse(ERASE_REFUSED),
            Some("version") => Ok(format!(
                "{} {}",
                super::DOCKER_HELPER_NAME,
                env!("CARGO_PKG_VERSION")
            )),
            _ => Err(Outcome::Failed(anyhow::anyhow!(USAGE))),
        },
        _ => Err(Outcome::Failed(anyhow::anyhow!(USAGE))),
    };
    let (text, code) = match result {
        Ok(text) => (text, ExitCode::SUCCESS),
        Err(Outcome::NotFound) => (NOT_FOUND.to_owned(), ExitCode::FAILURE),
        Err(Outcome::Failed(e)) => (
            e.chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": "),
            ExitCode::FAILURE,
        ),
    };
    // Docker reads the answer from stdout; a reader that went away is no concern of ours.
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    code
}

/// Why a command printed no answer.
enum Outcome {
    NotFound,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Outcome {
    fn from(e: anyhow::Error) -> Outcome {
        Outcome::Failed(e)
    }
}

fn with_runtime(
    work: impl std::future::Future<Output = Result<String, Outcome>>,
) -> Result<String, Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(work)
}

/// `store` and `erase` read their input (so Docker never writes into a closed pipe) and refuse.
fn refuse(message: &str) -> Result<String, Outcome> {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    Err(Outcome::Failed(anyhow::anyhow!("{message}")))
}

fn settings() -> anyhow::Result<Settings> {
    Settings::merge(&[Layer::from_env()?, Layer::from_file()?])
}

async fn get() -> Result<String, Outcome> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the server URL from stdin")?;
    let server_url = input.trim_end_matches(['\n', '\r']).trim();
    if server_url.is_empty() {
        return Err(anyhow::anyhow!("no credentials server URL").into());
    }
    let settings = settings()?;
    // `https://ghcr.io` and `ghcr.io` are one registry: cache under the normalized key.
    let server_key = RegistryServer::parse(server_url)
        .map(|s| s.auth_key())
        .unwrap_or_else(|_| server_url.to_owned());
    let cache_key = settings.cache_key(&server_key);
    let cache = CacheFile::new(&cache_dir(), CACHE_FILE);
    let now = now_unix();
    let max_age = settings.cache_seconds;
    // Other configurations' entries are dropped by their own expiry, not by this maximum age.
    let keep = |c: &Cached| now < c.valid_until;
    match cache.get::<Cached>(&cache_key) {
        Some(hit) if hit.fresh(now, max_age) => {
            return Ok(render(server_url, &hit.username, &hit.secret.0)?);
        }
        // Caching was turned off after this was written: it should not stay on disk.
        Some(_) if !settings.caches() => {
            if let Err(e) = cache.put::<Cached>(&cache_key, None, keep) {
                eprintln!("warning: {e:#}");
            }
        }
        _ => {}
    }

    let request = CredentialGet {
        project: settings.project.clone(),
        location: settings.location.clone(),
        image: None,
        server: Some(server_url.to_owned()),
    };
    let answer: CredentialEntries = match settings.client()?.call("credential.get", &request).await
    {
        Ok(answer) => answer,
        Err(e) if is_not_found(&e) => return Err(Outcome::NotFound),
        Err(e) => return Err(e.into()),
    };
    let Some(entry) = answer.entries.first() else {
        return Err(Outcome::NotFound);
    };
    let text = render(server_url, &entry.username, &entry.password)?;

    let expiry = earliest_expiry([entry.expires_at.as_deref()])?;
    let by_policy = now.saturating_add(seconds(answer.cache_seconds.min(max_age)));
    let valid_until = expiry.map_or(by_policy, |e| e.min(by_policy));
    if settings.caches() && valid_until > now {
        let cached = Cached {
            username: entry.username.clone(),
            secret: Secret(entry.password.clone()),
            cached_at: now,
            valid_until,
        };
        // A cache that cannot be written costs a round trip next time, nothing more.
        if let Err(e) = cache.put(&cache_key, Some(cached), keep) {
            eprintln!("warning: {e:#}");
        }
    }
    Ok(text)
}

fn render(server_url: &str, username: &str, secret: &str) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&Credentials {
        server_url,
        username,
        secret,
    })?)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>()
        .is_some_and(|f| f.error.code == ErrorCode::NoCredentials.as_str())
}

/// `list`: `{server: username}` from `credential.list`, which releases no secret and which every
/// role of the project may call, the puller a node is configured with included.
async fn list() -> Result<String, Outcome> {
    let settings = settings()?;
    let request = CredentialList {
        project: settings.project.clone(),
        location: settings.location.clone(),
    };
    let servers: Items<CredentialServer> = settings
        .client()?
        .call("credential.list", &request)
        .await
        .context("listing registries")?;
    Ok(serde_json::to_string(&list_map(servers.items)).context("encoding the list")?)
}

fn list_map(servers: Vec<CredentialServer>) -> BTreeMap<String, String> {
    servers
        .into_iter()
        .map(|s| (s.server, s.username))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_answer_is_docker_json() {
        assert_eq!(
            render("ghcr.io", "u\"", "p").unwrap(),
            r#"{"ServerURL":"ghcr.io","Username":"u\"","Secret":"p"}"#
        );
    }

    #[test]
    fn cached_credential_debug_is_redacted() {
        let c = Cached {
            username: "u".into(),
            secret: Secret("hush".into()),
            cached_at: 0,
            valid_until: 1,
        };
        assert!(!format!("{c:?}").contains("hush"));
    }

    #[test]
    fn a_cached_credential_is_fresh_while_younger_than_the_maximum_age() {
        let c = Cached {
            username: "u".into(),
            secret: Secret("s".into()),
            cached_at: 1_000,
            valid_until: 1_300,
        };
        for (now, max_age, fresh) in [
            (1_000, 30, true),
            (1_029, 30, true),
            (1_030, 30, false),
            (1_029, 10, false),
            (1_000, 0, false),
            (1_299, 600, true),
            (1_300, 600, false),
            (999, 30, false),
        ] {
            assert_eq!(c.fresh(now, max_age), fresh, "now {now}, max age {max_age}");
        }
    }
}
