//! Named CLI contexts: which regcred server to talk to and with which token file, saved by
//! `regcred login` in `$XDG_CONFIG_HOME/regcred/contexts.json` (`~/.config/regcred/`; the
//! directory 0700, the file 0600) and chosen with `regcred context use`. A context stores the
//! path of a token file, never a token. Flags and the environment still win over the current
//! context (see `client::Client::from_global`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// One saved server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SavedContext {
    /// The server's URL.
    pub api_url: String,
    /// An absolute path of a file holding the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// An absolute path of a PEM file of CAs for the server's certificate (recorded; the
    /// client does not use it yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// The contexts file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Contexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, SavedContext>,
}

/// No context of that name, or none current; exits 4 like the server's not found.
#[derive(Debug, thiserror::Error)]
pub enum ContextNotFound {
    #[error("no context named {0}; `regcred context list` shows the saved ones, `regcred login --api-url URL --name {0}` saves one")]
    Named(String),
    #[error("no current context; `regcred login --api-url URL --token-file FILE` saves one, `regcred context use NAME` chooses a saved one")]
    NoCurrent,
}

/// `$XDG_CONFIG_HOME/regcred`, else `~/.config/regcred`.
pub fn dir() -> PathBuf {
    crate::plugins::config_dir().join("regcred")
}

/// The contexts file in [`dir`].
pub fn file() -> PathBuf {
    dir().join("contexts.json")
}

/// Context names: a letter or digit, then letters, digits, `.`, `_`, `:` and `-`; 63 at most.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// The name `login` gives a context when none is asked for: the URL's host and port.
pub fn default_name(url: &reqwest::Url) -> Option<String> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let name = name.replace(
        |c: char| !(c.is_ascii_alphanumeric() || "._:-".contains(c)),
        "-",
    );
    valid_name(&name).then_some(name)
}

impl Contexts {
    /// The saved contexts at `path`; none when the file does not exist.
    pub fn load(path: &Path) -> anyhow::Result<Contexts> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("reading the CLI contexts in {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Contexts::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The current context with its name, if one is set.
    pub fn current(&self) -> Option<(&str, &SavedContext)> {
        let name = self.current.as_deref()?;
        self.contexts.get(name).map(|c| (name, c))
    }

    /// Replaces the file at `path` atomically: its directory created (or narrowed to) 0700, a
    /// temporary file 0600 beside it, synced, renamed over it.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let dir = path.parent().context("the contexts file has a directory")?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", dir.display()))?;
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        let tmp = dir.join(format!(".contexts.json.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write()
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["prod", "regcred.example.com:8443", "a", "lab-1_x"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-a", "a b", "a/b", &"x".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
        let name = |url: &str| default_name(&reqwest::Url::parse(url).unwrap());
        assert_eq!(
            name("https://regcred.example.com/").as_deref(),
            Some("regcred.example.com")
        );
        assert_eq!(
            name("http://127.0.0.1:7700").as_deref(),
            Some("127.0.0.1:7700")
        );
        assert_eq!(
            name("http://[2001:db8::1]:7700").as_deref(),
            Some("2001:db8::1:7700")
        );
        // A name starts with a letter or digit: `login` asks for --name then.
        assert_eq!(name("http://[::1]:7700"), None);
    }

    #[test]
    fn saved_files_are_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cfg/regcred/contexts.json");
        let mut contexts = Contexts::default();
        contexts.contexts.insert(
            "prod".into(),
            SavedContext {
                api_url: "https://regcred.example.com".into(),
                token_file: Some("/etc/regcred/token".into()),
                ca_file: None,
            },
        );
        contexts.current = Some("prod".into());
        contexts.save(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(Contexts::load(&path).unwrap(), contexts);
        assert_eq!(
            Contexts::load(&tmp.path().join("none.json")).unwrap(),
            Contexts::default()
        );
        std::fs::write(&path, r#"{"contexts":{"x":{"apiUrl":"u","token":"t"}}}"#).unwrap();
        let err = format!("{:#}", Contexts::load(&path).unwrap_err());
        assert!(err.contains("unknown field"), "{err}");
    }
}
