//! Registry servers as pull secrets name them: a
//! lowercased `host[:port]` with an optional repository path scope (`registry.example.com/team`).
//! URLs and the several spellings of Docker Hub are normalized to one stored form, and
//! [`RegistryServer::normalize`] says what was changed so the API can report what it stored.
//! Everything else that cannot name a registry is refused with an error saying what to write.
//! Hosts must also be usable as the first component of an image reference, so a bare single-label
//! name like `myregistry` (which Docker reads as a Docker Hub namespace) is refused too.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::image_ref::{self, echo_str, PathProblem};

/// Canonical stored form of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
/// The key Docker, kubectl and the kubelet use for Docker Hub in `config.json` and
/// `.dockerconfigjson`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// Where Docker Hub's registry API actually answers.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// Host names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// A validated registry server: `host[:port][/path]`, or Docker Hub.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistryServer {
    /// Lowercased `host[:port]`; [`DOCKER_HUB`] for every Docker Hub spelling.
    host: String,
    /// Repository path scope without leading or trailing `/`.
    path: Option<String>,
}

/// A parsed server together with what normalization changed in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub server: RegistryServer,
    /// What was changed, in input order; empty when the input was already the stored form.
    pub changes: Vec<Change>,
}

/// One way in which the stored server differs from what was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `https://` or `http://` was removed.
    DroppedScheme,
    /// A registry API path (`/v1/`, `/v2/`) was removed.
    DroppedApiPath,
    /// A trailing `/` was removed.
    DroppedTrailingSlash,
    /// The host was lowercased.
    LowercasedHost,
    /// Leading zeros of the port were removed.
    CanonicalPort,
    /// A Docker Hub alias (`index.docker.io`, `registry-1.docker.io`, …) became `docker.io`.
    DockerHubAlias,
}

impl Change {
    pub fn describe(self) -> &'static str {
        match self {
            Change::DroppedScheme => "dropped the URL scheme (a server is a host, not a URL)",
            Change::DroppedApiPath => "dropped the registry API path (/v1/ or /v2/)",
            Change::DroppedTrailingSlash => "dropped the trailing '/'",
            Change::LowercasedHost => "lowercased the host name",
            Change::CanonicalPort => "removed leading zeros from the port",
            Change::DockerHubAlias => "Docker Hub is stored as docker.io",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl Normalized {
    /// Whether the stored form differs from the input.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }

    /// A sentence for API answers and CLI output, e.g.
    /// `stored as docker.io: dropped the URL scheme …; Docker Hub is stored as docker.io`.
    pub fn note(&self) -> Option<String> {
        if self.changes.is_empty() {
            return None;
        }
        let what: Vec<&str> = self.changes.iter().map(|c| c.describe()).collect();
        Some(format!("stored as {}: {}", self.server, what.join("; ")))
    }
}

/// Why a string cannot be a registry server. Messages say what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServerError {
    #[error("server is empty; give a registry host such as ghcr.io or registry.example.com:5000")]
    Empty,

    #[error(
        "server must be a host such as ghcr.io, without credentials (user:password@); give the \
         username and password as their own fields"
    )]
    Credentials,

    #[error("server contains whitespace or control characters; give just the host, e.g. ghcr.io")]
    Whitespace { input: String },

    #[error(
        "server uses a scheme other than https:// or http://; give the host (e.g. ghcr.io), or an \
         https:// or http:// URL"
    )]
    Scheme { input: String, scheme: String },

    #[error("server must be a host such as ghcr.io, not a URL with a query string")]
    Query { input: String },

    #[error("server must be a host such as ghcr.io, not a URL with a fragment")]
    Fragment { input: String },

    #[error("server has no host; give one such as ghcr.io or localhost:5000")]
    MissingHost { input: String },

    #[error("server: the port must be a number from 1 to 65535")]
    Port { input: String, port: String },

    #[error(
        "server: the host name has a character that is not allowed; use letters, digits, '-' \
         and '.' (wildcards and underscores are not supported)"
    )]
    HostCharacter { input: String, character: char },

    #[error("server has an empty label in its host (check for '..' or a leading or trailing '.')")]
    EmptyLabel { input: String },

    #[error("server: a host label must not start or end with '-'")]
    LabelHyphen { input: String, label: String },

    #[error("server: a host label is longer than 63 characters")]
    LabelTooLong { input: String, label: String },

    #[error("server: the host name is {len} characters long; the limit is 253")]
    HostTooLong { input: String, len: usize },

    #[error("server: the host is not a valid IPv4 address")]
    Ipv4 { input: String, host: String },

    #[error(
        "server: the host is not a valid IPv6 address; write it in brackets without a zone, \
         e.g. [::1]:5000"
    )]
    Ipv6 { input: String, host: String },

    #[error(
        "server is a single-label host, which Docker and Kubernetes read as a Docker Hub \
         repository (HOST/app), so these credentials would never be used; give a fully qualified \
         name (HOST.example.com), a port (HOST:5000), or localhost"
    )]
    SingleLabelHost { input: String, host: String },

    #[error(
        "server has an empty path component; remove the doubled '/' (a path scope looks like \
         registry.example.com/team)"
    )]
    EmptyPathComponent { input: String },

    #[error(
        "server: a path component is not a valid repository name; use lowercase letters and \
         digits separated by '.', '_', '__' or dashes"
    )]
    PathComponent { input: String, component: String },

    #[error(
        "server: after its API path (/v1/ or /v2/) the path scope starts with v1 or v2 again; the \
         kubelet drops one such segment, so the scope would not be the one written — remove the \
         API path (a path scope looks like registry.example.com/team)"
    )]
    RepeatedApiPath { input: String },

    #[error("server: the path scope must be lowercase")]
    PathUppercase { input: String, lowercase: String },

    #[error("server is {len} characters long; the limit is 255")]
    TooLong { input: String, len: usize },
}

impl ServerError {
    /// Stable error code for API answers; clients branch on this, never on the message.
    pub fn code(&self) -> crate::codes::ErrorCode {
        crate::codes::ErrorCode::InvalidServer
    }
}

impl RegistryServer {
    /// Parses and normalizes a server; see [`RegistryServer::normalize`] to learn what changed.
    ///
    /// ```
    /// use regcred_core::registry_host::RegistryServer;
    ///
    /// let hub = RegistryServer::parse("https://index.docker.io/v1/").unwrap();
    /// assert_eq!(hub.to_string(), "docker.io");
    /// assert_eq!(hub.auth_key(), "https://index.docker.io/v1/");
    /// assert_eq!(RegistryServer::parse("[::1]:5000").unwrap().host(), "[::1]:5000");
    /// assert!(RegistryServer::parse("user:pw@ghcr.io").is_err());
    /// assert!(RegistryServer::parse("ghcr.io?x=1").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<RegistryServer, ServerError> {
        RegistryServer::normalize(input).map(|n| n.server)
    }

    /// Parses a server and reports how the stored form differs from `input`.
    pub fn normalize(input: &str) -> Result<Normalized, ServerError> {
        if input.is_empty() {
            return Err(ServerError::Empty);
        }
        // Checked first: every later error echoes the input, and this one must not.
        if input.contains('@') {
            return Err(ServerError::Credentials);
        }
        let echo = || echo_str(input);
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ServerError::Whitespace { input: echo() });
        }
        let mut changes = Vec::new();

        let mut rest = input;
        if let Some((scheme, after)) = input.split_once("://") {
            if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
                return Err(ServerError::Scheme {
                    input: echo(),
                    scheme: echo_str(scheme),
                });
            }
            changes.push(Change::DroppedScheme);
            rest = after;
        }
        if rest.contains('?') {
            return Err(ServerError::Query { input: echo() });
        }
        if rest.contains('#') {
            return Err(ServerError::Fragment { input: echo() });
        }

        let (authority, raw_path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (rest, None),
        };
        if authority.is_empty() {
            return Err(ServerError::MissingHost { input: echo() });
        }
        let host = parse_host(input, authority, &mut changes)?;
        let path = parse_path(input, raw_path, &mut changes)?;

        let server = RegistryServer { host, path };
        let len = server.to_string().len();
        if len > image_ref::NAME_MAX_LEN {
            return Err(ServerError::TooLong { input: echo(), len });
        }
        Ok(Normalized { server, changes })
    }

    pub fn is_docker_hub(&self) -> bool {
        self.host == DOCKER_HUB
    }

    /// `host[:port]` without the path scope (`docker.io` for Docker Hub).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository path scope, if any (`team` in `registry.example.com/team`).
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The key for `.dockerconfigjson` and `config.json`: `https://index.docker.io/v1/` for all of
    /// Docker Hub (what `docker login` and `kubectl create secret docker-registry` write), otherwise
    /// the stored form. A Docker Hub path scope keeps its `docker.io/…` form, which the kubelet and
    /// containers/image understand.
    pub fn auth_key(&self) -> String {
        if self.is_docker_hub() && self.path.is_none() {
            DOCKER_HUB_AUTH_KEY.to_owned()
        } else {
            self.to_string()
        }
    }

    /// The host that serves the registry API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.host
        }
    }
}

/// Validates `host[:port]`, lowercases it and folds Docker Hub aliases.
fn parse_host(
    input: &str,
    authority: &str,
    changes: &mut Vec<Change>,
) -> Result<String, ServerError> {
    let echo = || echo_str(input);
    let (host, port) = if let Some(after_bracket) = authority.strip_prefix('[') {
        let Some((inner, rest)) = after_bracket.split_once(']') else {
            return Err(ServerError::Ipv6 {
                input: echo(),
                host: echo_str(authority),
            });
        };
        // Kept as written (only lowercased): the kubelet compares hosts as text, so `[::1]` and
        // `[0::1]` are different keys to it.
        let valid = inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
            && inner.parse::<Ipv6Addr>().is_ok();
        if !valid {
            return Err(ServerError::Ipv6 {
                input: echo(),
                host: echo_str(inner),
            });
        }
        let port = match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(ServerError::Ipv6 {
                        input: echo(),
                        host: echo_str(authority),
                    })
                }
            },
        };
        (&authority[..inner.len() + 2], port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => {
                if port.contains(':') {
                    // Several colons without brackets can only be a bare IPv6 address.
                    return Err(ServerError::Ipv6 {
                        input: echo(),
                        host: echo_str(authority),
                    });
                }
                (host, Some(port))
            }
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(ServerError::MissingHost { input: echo() });
    }
    let lower = host.to_ascii_lowercase();
    if lower != host {
        changes.push(Change::LowercasedHost);
    }
    if !lower.starts_with('[') {
        check_host_name(input, &lower)?;
    }

    let port = match port {
        None => None,
        Some(port) => {
            let number = port
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| port.parse::<u32>().ok())
                .flatten()
                .filter(|n| (1..=65535).contains(n));
            let Some(number) = number else {
                return Err(ServerError::Port {
                    input: echo(),
                    port: echo_str(port),
                });
            };
            if number.to_string() != port {
                changes.push(Change::CanonicalPort);
            }
            Some(number)
        }
    };

    if port.is_none() && DOCKER_HUB_ALIASES.contains(&lower.as_str()) {
        if lower != DOCKER_HUB {
            changes.push(Change::DockerHubAlias);
        }
        return Ok(DOCKER_HUB.to_owned());
    }
    if port.is_none() && !lower.starts_with('[') && lower != "localhost" && !lower.contains('.') {
        return Err(ServerError::SingleLabelHost {
            input: echo(),
            host: lower,
        });
    }
    Ok(match port {
        Some(port) => format!("{lower}:{port}"),
        None => lower,
    })
}

/// DNS host name rules (RFC 1123 labels, which is also distribution's `domainNameComponent`), and
/// dotted-quad IPv4 addresses.
fn check_host_name(input: &str, host: &str) -> Result<(), ServerError> {
    let echo = || echo_str(input);
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(ServerError::HostCharacter {
            input: echo(),
            character: bad,
        });
    }
    if host.len() > 253 {
        return Err(ServerError::HostTooLong {
            input: echo(),
            len: host.len(),
        });
    }
    let labels: Vec<&str> = host.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(ServerError::EmptyLabel { input: echo() });
        }
        if label.len() > 63 {
            return Err(ServerError::LabelTooLong {
                input: echo(),
                label: echo_str(label),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(ServerError::LabelHyphen {
                input: echo(),
                label: (*label).to_owned(),
            });
        }
    }
    // An all-numeric name can only mean an IPv4 address (no top-level domain is numeric).
    let numeric = labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err(ServerError::Ipv4 {
            input: echo(),
            host: host.to_owned(),
        });
    }
    Ok(())
}

/// Validates the path scope after dropping an API version prefix and a trailing `/`.
fn parse_path(
    input: &str,
    raw: Option<&str>,
    changes: &mut Vec<Change>,
) -> Result<Option<String>, ServerError> {
    let Some(mut path) = raw else {
        return Ok(None);
    };
    // The kubelet strips a leading `/v1/` or `/v2/` from keys too, so storing it would make the
    // kubelet apply the credentials to a wider scope than the one shown.
    if path == "v1" || path == "v2" {
        path = "";
        changes.push(Change::DroppedApiPath);
    } else if let Some(after) = path
        .strip_prefix("v1/")
        .or_else(|| path.strip_prefix("v2/"))
    {
        path = after;
        changes.push(Change::DroppedApiPath);
    }
    // Stored, what is left would lose its own leading segment at the kubelet (and at the next
    // normalization): `host/v2/v1` is refused, never stored as `host/v1`.
    if changes.contains(&Change::DroppedApiPath)
        && ["v1", "v2"]
            .iter()
            .any(|v| path.trim_end_matches('/') == *v || path.starts_with(&format!("{v}/")))
    {
        return Err(ServerError::RepeatedApiPath {
            input: echo_str(input),
        });
    }
    if let Some(without) = path.strip_suffix('/') {
        path = without;
        changes.push(Change::DroppedTrailingSlash);
    } else if path.is_empty() && !changes.contains(&Change::DroppedApiPath) {
        // `ghcr.io/`: the separator itself was the trailing slash.
        changes.push(Change::DroppedTrailingSlash);
    }
    if path.is_empty() {
        return Ok(None);
    }
    image_ref::validate_path(path).map_err(|problem| match problem {
        PathProblem::Empty => ServerError::EmptyPathComponent {
            input: echo_str(input),
        },
        PathProblem::Uppercase => ServerError::PathUppercase {
            input: echo_str(input),
            lowercase: echo_str(&path.to_lowercase()),
        },
        PathProblem::Invalid(component) => ServerError::PathComponent {
            input: echo_str(input),
            component: echo_str(component),
        },
    })?;
    Ok(Some(path.to_owned()))
}

impl fmt::Display for RegistryServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(path) = &self.path {
            f.write_str("/")?;
            f.write_str(path)?;
        }
        Ok(())
    }
}

impl FromStr for RegistryServer {
    type Err = ServerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegistryServer::parse(s)
    }
}

impl TryFrom<String> for RegistryServer {
    type Error = ServerError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        RegistryServer::parse(&s)
    }
}

impl From<RegistryServer> for String {
    fn from(s: RegistryServer) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `expected` is `stored|auth_key|api_host|changed`, or `err:<Variant>`.
    fn check(input: &str, expected: &str) {
        let actual = match RegistryServer::normalize(input) {
            Ok(n) => {
                let s = &n.server;
                assert_eq!(
                    RegistryServer::parse(&s.to_string()).as_ref(),
                    Ok(s),
                    "round trip of {input:?}"
                );
                assert_eq!(
                    n.changed(),
                    s.to_string() != input,
                    "changed() for {input:?}: {:?}",
                    n.changes
                );
                format!("{s}|{}|{}|{}", s.auth_key(), s.api_host(), n.changed())
            }
            Err(e) => {
                assert_eq!(e.code().as_str(), "invalid_server");
                let debug = format!("{e:?}");
                format!(
                    "err:{}",
                    debug.split([' ', '{', '(']).next().unwrap_or_default()
                )
            }
        };
        assert_eq!(actual, expected, "input {input:?}");
    }

    #[test]
    fn accepted() {
        for (input, expected) in [
            ("ghcr.io", "ghcr.io|ghcr.io|ghcr.io|false"),
            ("GHCR.io", "ghcr.io|ghcr.io|ghcr.io|true"),
            ("localhost", "localhost|localhost|localhost|false"),
            ("localhost:5000", "localhost:5000|localhost:5000|localhost:5000|false"),
            ("registry:5000", "registry:5000|registry:5000|registry:5000|false"),
            ("[::1]:5000", "[::1]:5000|[::1]:5000|[::1]:5000|false"),
            ("[::1]", "[::1]|[::1]|[::1]|false"),
            ("[FC00::1]:5000", "[fc00::1]:5000|[fc00::1]:5000|[fc00::1]:5000|true"),
            ("127.0.0.1:5000", "127.0.0.1:5000|127.0.0.1:5000|127.0.0.1:5000|false"),
            ("localhost:05000", "localhost:5000|localhost:5000|localhost:5000|true"),
            ("registry.example.com/team", "registry.example.com/team|registry.example.com/team|registry.example.com|false"),
            ("quay.io/org/repo", "quay.io/org/repo|quay.io/org/repo|quay.io|false"),
            ("quay.io/org/", "quay.io/org|quay.io/org|quay.io|true"),
            ("https://ghcr.io", "ghcr.io|ghcr.io|ghcr.io|true"),
            ("https://ghcr.io/", "ghcr.io|ghcr.io|ghcr.io|true"),
            ("ghcr.io/", "ghcr.io|ghcr.io|ghcr.io|true"),
            ("HTTPS://ghcr.io", "ghcr.io|ghcr.io|ghcr.io|true"),
            ("http://host.lan:5000/v2/", "host.lan:5000|host.lan:5000|host.lan:5000|true"),
            ("https://quay.io/v1/", "quay.io|quay.io|quay.io|true"),
            ("https://registry.example.com/v2/team/", "registry.example.com/team|registry.example.com/team|registry.example.com|true"),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com|123456789012.dkr.ecr.eu-west-1.amazonaws.com|123456789012.dkr.ecr.eu-west-1.amazonaws.com|false"),
            ("xn--n3h.com", "xn--n3h.com|xn--n3h.com|xn--n3h.com|false"),
            // Every Docker Hub spelling is one server.
            ("docker.io", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|false"),
            ("index.docker.io", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|true"),
            ("registry-1.docker.io", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|true"),
            ("registry.hub.docker.com", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|true"),
            ("https://index.docker.io/v1/", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|true"),
            ("https://registry-1.docker.io/v2/", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|true"),
            ("Docker.IO", "docker.io|https://index.docker.io/v1/|registry-1.docker.io|true"),
            ("docker.io/acme", "docker.io/acme|docker.io/acme|registry-1.docker.io|false"),
            ("index.docker.io/acme", "docker.io/acme|docker.io/acme|registry-1.docker.io|true"),
            // With a port it is some other registry.
            ("docker.io:5000", "docker.io:5000|docker.io:5000|docker.io:5000|false"),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn refused() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_host = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        let long_name = format!("ghcr.io/{}", ["abcdefghij"; 25].join("/"));
        for (input, expected) in [
            ("", "err:Empty"),
            ("user:pass@ghcr.io", "err:Credentials"),
            ("https://user:p%20ss@ghcr.io/", "err:Credentials"),
            ("ghcr.io ", "err:Whitespace"),
            (" ghcr.io", "err:Whitespace"),
            ("gh cr.io", "err:Whitespace"),
            ("ghcr.io\t", "err:Whitespace"),
            ("ghcr.io\u{7f}", "err:Whitespace"),
            ("ftp://ghcr.io", "err:Scheme"),
            ("docker://ghcr.io", "err:Scheme"),
            ("https://ghcr.io/?x=1", "err:Query"),
            ("ghcr.io?x", "err:Query"),
            ("https://ghcr.io/#top", "err:Fragment"),
            ("https://", "err:MissingHost"),
            ("/team", "err:MissingHost"),
            (":5000", "err:MissingHost"),
            ("localhost:", "err:Port"),
            ("localhost:0", "err:Port"),
            ("localhost:65536", "err:Port"),
            ("localhost:99999999999999999999", "err:Port"),
            ("localhost:http", "err:Port"),
            ("localhost:+80", "err:Port"),
            ("[::1]:", "err:Port"),
            ("::1", "err:Ipv6"),
            ("fc00::1:5000", "err:Ipv6"),
            ("[::1", "err:Ipv6"),
            ("[::g]:5000", "err:Ipv6"),
            ("[fe80::1%eth0]:5000", "err:Ipv6"),
            ("[::ffff:1.2.3.4]", "err:Ipv6"),
            ("[::1]5000", "err:Ipv6"),
            ("my_registry.com", "err:HostCharacter"),
            ("*.azurecr.io", "err:HostCharacter"),
            ("ghcr.io%2f", "err:HostCharacter"),
            ("bücher.de", "err:HostCharacter"),
            ("ghcr..io", "err:EmptyLabel"),
            (".ghcr.io", "err:EmptyLabel"),
            ("ghcr.io.", "err:EmptyLabel"),
            ("-ghcr.io", "err:LabelHyphen"),
            ("ghcr-.io", "err:LabelHyphen"),
            (&long_label, "err:LabelTooLong"),
            (&long_host, "err:HostTooLong"),
            ("256.1.1.1", "err:Ipv4"),
            ("1.2.3", "err:Ipv4"),
            ("myregistry", "err:SingleLabelHost"),
            ("https://myregistry/", "err:SingleLabelHost"),
            ("quay.io//org", "err:EmptyPathComponent"),
            ("quay.io/org//", "err:EmptyPathComponent"),
            // Found by fuzzing: stored as `mst.y12/v1`, it normalized again to `mst.y12`.
            ("mst.y12/v2/v1", "err:RepeatedApiPath"),
            ("https://quay.io/v1/v2/team", "err:RepeatedApiPath"),
            ("quay.io/v2/v1/", "err:RepeatedApiPath"),
            ("quay.io/-org", "err:PathComponent"),
            ("quay.io/org:tag", "err:PathComponent"),
            ("quay.io/Org", "err:PathUppercase"),
            (&long_name, "err:TooLong"),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn credentials_never_appear_in_errors() {
        for input in [
            "u:hunter2@ghcr.io",
            "https://u:hunter2@ghcr.io/?q",
            "hunter2@",
        ] {
            let e = RegistryServer::parse(input).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{input}");
        }
    }

    #[test]
    fn notes_say_what_was_stored() {
        let n = RegistryServer::normalize("https://index.docker.io/v1/").unwrap();
        assert_eq!(
            n.note().unwrap(),
            "stored as docker.io: dropped the URL scheme (a server is a host, not a URL); Docker Hub \
             is stored as docker.io; dropped the registry API path (/v1/ or /v2/)"
        );
        assert_eq!(RegistryServer::normalize("ghcr.io").unwrap().note(), None);
        let message = RegistryServer::parse("https://ghcr.io/?x")
            .unwrap_err()
            .to_string();
        assert!(message
            .starts_with("server must be a host such as ghcr.io, not a URL with a query string"));
        let message = RegistryServer::parse("quay.io/Echo-1/Repo")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("must be lowercase") && !message.to_lowercase().contains("echo-1"),
            "errors say what to do and never echo the value: {message}"
        );
    }

    #[test]
    fn serde_is_the_string() {
        let s: RegistryServer = serde_json::from_str("\"https://index.docker.io/v1/\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"docker.io\"");
        assert!(serde_json::from_str::<RegistryServer>("\"a b\"").is_err());
        assert_eq!(
            "quay.io/org".parse::<RegistryServer>().unwrap().path(),
            Some("org")
        );
        assert_eq!(
            "quay.io:443/org".parse::<RegistryServer>().unwrap().host(),
            "quay.io:443"
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            scheme in prop_oneof![Just(""), Just("https://"), Just("http://"), Just("HTTPS://")],
            host in prop_oneof![
                "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]{1,8}){1,3}",
                Just("localhost".to_owned()),
                Just("[::1]".to_owned()),
                Just("Index.Docker.io".to_owned()),
                "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            ],
            port in proptest::option::of(0u32..70000),
            path in proptest::option::of("(v[12]/)?[a-z0-9]{1,5}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,5}){0,2}/?"),
        ) {
            let mut input = format!("{scheme}{host}");
            if let Some(port) = port {
                input.push_str(&format!(":{port}"));
            }
            if let Some(path) = &path {
                input.push('/');
                input.push_str(path);
            }
            if let Ok(n) = RegistryServer::normalize(&input) {
                let stored = n.server.to_string();
                prop_assert_eq!(RegistryServer::parse(&stored), Ok(n.server.clone()));
                prop_assert_eq!(n.changed(), stored != input);
                // The stored form is also what image references put first.
                let image = image_ref::ImageRef::parse(&format!("{stored}/app")).unwrap();
                prop_assert_eq!(image.domain(), n.server.host());
            }
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,60}") {
            let _ = RegistryServer::parse(&input);
        }
    }
}
