//! Credential plugins that runtimes start on demand, so that no secret has to be stored on the
//! node: the Docker credential helper (`docker-credential-regcred`) and the kubelet credential provider
//! (`regcred kubelet-credential-provider`). Both ask the server's `credential.get` with a narrowly
//! scoped token and keep a local cache that honours expiry and a maximum age
//! ([`Settings::cache_seconds`], 30 s unless configured), so that a rotation reaches the runtime
//! within that time. This module holds what they share: configuration (environment or flags,
//! then a JSON file), the cache file, and time arithmetic.

pub mod docker_helper;
pub mod kubelet;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::paths;

/// The name under which `main` hands over to the Docker credential helper.
pub const DOCKER_HELPER_NAME: &str = "docker-credential-regcred";

/// True when the binary was started under the Docker helper's name (the file name of `argv[0]`).
pub fn invoked_as_docker_helper(argv0: Option<&std::ffi::OsStr>) -> bool {
    argv0
        .map(Path::new)
        .and_then(Path::file_name)
        .is_some_and(|name| name == DOCKER_HELPER_NAME)
}

/// One source of plugin configuration. The helper config file uses exactly these keys; unknown
/// keys are errors so that a misspelt `tokenFile` does not silently fall back to no token.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Layer {
    pub api_url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub project: Option<String>,
    pub location: Option<String>,
    /// See [`Settings::cache_seconds`].
    pub cache_seconds: Option<u64>,
    /// See [`Settings::ca_file`].
    pub ca_file: Option<PathBuf>,
}

/// The environment variable of [`Settings::cache_seconds`].
pub const CACHE_SECONDS_ENV: &str = "REGCRED_HELPER_CACHE_SECONDS";

/// How long a released credential may be reused without asking the server, unless configured:
/// also how long a rotation may take to reach the runtime.
pub const DEFAULT_CACHE_SECONDS: u64 = 30;

impl Layer {
    /// The `REGCRED_…` environment variables, empty values counting as unset.
    pub fn from_env() -> anyhow::Result<Layer> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let cache_seconds = var(CACHE_SECONDS_ENV)
            .map(|v| v.trim().parse::<u64>())
            .transpose()
            .with_context(|| format!("{CACHE_SECONDS_ENV} must be a number of seconds"))?;
        Ok(Layer {
            api_url: var("REGCRED_API_URL"),
            token: var("REGCRED_TOKEN"),
            token_file: var("REGCRED_TOKEN_FILE").map(PathBuf::from),
            project: var("REGCRED_PROJECT"),
            location: var("REGCRED_LOCATION"),
            cache_seconds,
            ca_file: var("REGCRED_CA_FILE").map(PathBuf::from),
        })
    }

    /// The helper config file: `$REGCRED_HELPER_CONFIG` (which must exist when named), else
    /// `$XDG_CONFIG_HOME/regcred/helper.json` or `~/.config/regcred/helper.json` (optional).
    pub fn from_file() -> anyhow::Result<Layer> {
        let (path, required) = match std::env::var_os("REGCRED_HELPER_CONFIG") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (config_dir().join("regcred/helper.json"), false),
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the helper config {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Layer::default()),
            Err(e) => {
                Err(e).with_context(|| format!("reading the helper config {}", path.display()))
            }
        }
    }
}

/// How a token is given: inline or in a file read at use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Inline(Secret),
    File(PathBuf),
}

/// Resolved plugin configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub api_url: String,
    pub token: Option<TokenSource>,
    pub project: String,
    pub location: String,
    /// The longest a released credential is reused without asking the server: in the local
    /// cache file and, for the kubelet, in its `cacheDuration`. A rotation reaches the runtime
    /// within this time. 0 caches nothing on disk (and the kubelet plugin has no offline answer).
    pub cache_seconds: u64,
    /// The CAs of the regcred server's certificate, trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl Settings {
    /// Merges layers, the first that sets a field winning. A token and a token file are one
    /// setting: the first layer with either decides, so an environment `REGCRED_TOKEN_FILE`
    /// overrides a `token` in the file. No IO: the API URL defaults to the local server's.
    pub fn merge(layers: &[Layer]) -> anyhow::Result<Settings> {
        let first = |f: &dyn Fn(&Layer) -> Option<String>| layers.iter().find_map(f);
        let token = layers.iter().find_map(|l| match (&l.token, &l.token_file) {
            (Some(t), _) => Some(TokenSource::Inline(Secret(t.trim().to_owned()))),
            (None, Some(f)) => Some(TokenSource::File(f.clone())),
            (None, None) => None,
        });
        let project = first(&|l| l.project.clone()).context(
            "no project configured: set REGCRED_PROJECT or \"project\" in the helper config",
        )?;
        let location = first(&|l| l.location.clone()).context(
            "no location configured: set REGCRED_LOCATION or \"location\" in the helper config",
        )?;
        Ok(Settings {
            api_url: first(&|l| l.api_url.clone())
                .unwrap_or_else(|| paths::DEFAULT_SERVER.to_owned()),
            token,
            project,
            location,
            cache_seconds: layers
                .iter()
                .find_map(|l| l.cache_seconds)
                .unwrap_or(DEFAULT_CACHE_SECONDS),
            ca_file: layers.iter().find_map(|l| l.ca_file.clone()),
        })
    }

    /// Whether anything may be kept in the cache file.
    pub fn caches(&self) -> bool {
        self.cache_seconds > 0
    }

    /// The API client (reads the token file).
    pub fn client(&self) -> anyhow::Result<Client> {
        let token = match &self.token {
            None => None,
            Some(TokenSource::Inline(t)) => Some(t.0.clone()),
            Some(TokenSource::File(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading token file {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
        };
        Client::new(self.api_url.clone(), token, self.ca_file.as_deref())
    }

    /// Cache keys are scoped by server and project/location, so that two configurations on one
    /// machine never serve each other's credentials.
    pub fn cache_key(&self, what: &str) -> String {
        format!(
            "{} {}/{} {what}",
            self.api_url.trim_end_matches('/'),
            self.project,
            self.location
        )
    }
}

/// Secret material: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

pub fn config_dir() -> PathBuf {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_CACHE_HOME/regcred`, else `~/.cache/regcred`.
pub fn cache_dir() -> PathBuf {
    xdg_dir("XDG_CACHE_HOME", ".cache").join("regcred")
}

fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(fallback)
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An RFC 3339 timestamp (`expiresAt`) as Unix seconds.
pub fn parse_rfc3339(text: &str) -> anyhow::Result<i64> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("expiresAt {text:?} is not an RFC 3339 time"))?;
    Ok(at.unix_timestamp())
}

/// The earliest of the given expiry times (`None`: nothing expires).
pub fn earliest_expiry<'a>(
    expires_at: impl IntoIterator<Item = Option<&'a str>>,
) -> anyhow::Result<Option<i64>> {
    let mut earliest: Option<i64> = None;
    for at in expires_at.into_iter().flatten() {
        let t = parse_rfc3339(at)?;
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    Ok(earliest)
}

/// A JSON cache file of `T` by key, in the cache directory, mode 0600. A file that cannot be read
/// or decoded counts as empty: the cache only saves round trips, it never decides an answer.
pub struct CacheFile {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct CacheDocument<T> {
    entries: BTreeMap<String, T>,
}

impl CacheFile {
    pub fn new(dir: &Path, name: &str) -> CacheFile {
        CacheFile {
            path: dir.join(name),
        }
    }

    pub fn load<T: DeserializeOwned>(&self) -> BTreeMap<String, T> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheDocument<T>>(&bytes).ok())
            .map(|d| d.entries)
            .unwrap_or_default()
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.load::<T>().remove(key)
    }

    /// Sets (or with `None` removes) one entry and drops the entries `keep` rejects (expired
    /// ones), then replaces the file atomically: a temporary file created 0600 beside it, synced,
    /// renamed over it. Concurrent writers may lose each other's entries, never corrupt the file.
    pub fn put<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        value: Option<T>,
        keep: impl Fn(&T) -> bool,
    ) -> anyhow::Result<()> {
        let mut entries = self.load::<T>();
        entries.retain(|_, v| keep(v));
        match value {
            Some(v) => entries.insert(key.to_owned(), v),
            None => entries.remove(key),
        };
        let dir = self
            .path
            .parent()
            .context("the cache file has a parent directory")?;
        create_private_dir(dir)?;
        let bytes = serde_json::to_vec(&CacheDocument { entries })?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::remove_file(&tmp);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write()
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
            .with_context(|| format!("writing the credential cache {}", self.path.display()))
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the cache directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(f: impl FnOnce(&mut Layer)) -> Layer {
        let mut l = Layer::default();
        f(&mut l);
        l
    }

    #[test]
    fn environment_wins_over_the_file_field_by_field() {
        let env = layer(|l| {
            l.project = Some("env-project".into());
            l.token_file = Some("/run/token".into());
        });
        let file = layer(|l| {
            l.api_url = Some("http://file:7700".into());
            l.token = Some("rc_file".into());
            l.project = Some("file-project".into());
            l.location = Some("file-location".into());
        });
        let s = Settings::merge(&[env, file]).unwrap();
        assert_eq!(s.api_url, "http://file:7700");
        assert_eq!(s.project, "env-project");
        assert_eq!(s.location, "file-location");
        assert_eq!(s.token, Some(TokenSource::File("/run/token".into())));
    }

    #[test]
    fn cache_seconds_default_to_30_and_the_first_layer_that_sets_them_wins() {
        let place = |l: &mut Layer| {
            l.project = Some("p".into());
            l.location = Some("l".into());
        };
        let s = Settings::merge(&[layer(place)]).unwrap();
        assert_eq!(s.cache_seconds, 30);
        assert!(s.caches());
        let file = layer(|l| l.cache_seconds = Some(5));
        assert_eq!(
            Settings::merge(&[layer(place), file.clone()])
                .unwrap()
                .cache_seconds,
            5
        );
        let env = layer(|l| l.cache_seconds = Some(0));
        let s = Settings::merge(&[env, file, layer(place)]).unwrap();
        assert_eq!(s.cache_seconds, 0);
        assert!(!s.caches());
    }

    #[test]
    fn project_and_location_are_required() {
        let err = Settings::merge(&[layer(|l| l.location = Some("x".into()))]).unwrap_err();
        assert!(err.to_string().contains("REGCRED_PROJECT"), "{err}");
        let err = Settings::merge(&[layer(|l| l.project = Some("x".into()))]).unwrap_err();
        assert!(err.to_string().contains("REGCRED_LOCATION"), "{err}");
    }

    #[test]
    fn config_file_rejects_unknown_keys() {
        let err = serde_json::from_str::<Layer>(r#"{"apiUrl":"x","token_file":"/t"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("token_file"), "{err}");
        let ok: Layer = serde_json::from_str(
            r#"{"apiUrl":"u","token":"t","tokenFile":"/f","project":"p","location":"l","cacheSeconds":2}"#,
        )
        .unwrap();
        assert_eq!(ok.token_file, Some(PathBuf::from("/f")));
        assert_eq!(ok.cache_seconds, Some(2));
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let s = Settings {
            api_url: "u".into(),
            token: Some(TokenSource::Inline(Secret("rc_hush".into()))),
            project: "p".into(),
            location: "l".into(),
            cache_seconds: DEFAULT_CACHE_SECONDS,
            ca_file: None,
        };
        assert!(!format!("{s:?}").contains("hush"));
    }

    #[test]
    fn earliest_expiry_of_several() {
        let e = earliest_expiry([
            None,
            Some("2030-01-01T00:00:10Z"),
            Some("2030-01-01T00:00:05Z"),
        ])
        .unwrap();
        assert_eq!(e, Some(1_893_456_005));
        assert_eq!(earliest_expiry([None, None]).unwrap(), None);
        assert!(earliest_expiry([Some("soon")]).is_err());
    }

    #[test]
    fn cache_file_round_trip_is_private_and_tolerates_garbage() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheFile::new(&dir.path().join("sub"), "c.json");
        assert_eq!(cache.get::<u32>("a"), None);
        cache.put("a", Some(1u32), |_| true).unwrap();
        cache.put("b", Some(2u32), |_| true).unwrap();
        assert_eq!(cache.get::<u32>("a"), Some(1));
        let mode = std::fs::metadata(dir.path().join("sub/c.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Entries the filter rejects are dropped on the next write.
        cache.put("c", Some(3u32), |v| *v != 1).unwrap();
        assert_eq!(cache.get::<u32>("a"), None);
        assert_eq!(cache.get::<u32>("b"), Some(2));
        std::fs::write(dir.path().join("sub/c.json"), b"{not json").unwrap();
        assert_eq!(cache.get::<u32>("b"), None);
        cache.put("d", Some(4u32), |_| true).unwrap();
        assert_eq!(cache.get::<u32>("d"), Some(4));
    }
}
