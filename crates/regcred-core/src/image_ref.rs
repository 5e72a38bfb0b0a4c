//! Image references (`nginx`, `ghcr.io/acme/api:v1`, `[::1]:5000/app@sha256:…`), parsed and
//! normalized the way Docker's `distribution/reference.ParseNormalizedNamed` does it, because the
//! kubelet, containerd and the Docker CLI all normalize with that code: `nginx` is
//! `docker.io/library/nginx:latest`, the first path component is a registry only when it contains a
//! `.` or `:`, is `localhost`, or has upper case, and `index.docker.io` is spelled `docker.io`.
//! Where regcred is stricter than distribution (an invalid registry host is an error rather than
//! silently becoming part of the path), the error says so.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Docker Hub's canonical domain in image references.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy domain, rewritten to [`DOCKER_HUB_DOMAIN`] when parsing.
const LEGACY_DOCKER_HUB_DOMAIN: &str = "index.docker.io";
/// Namespace of Docker Hub's official images (`nginx` is `library/nginx`).
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag used when a reference names neither a tag nor a digest.
const DEFAULT_TAG: &str = "latest";
/// distribution's `NameTotalLengthMax`: the limit for `domain/path`.
pub const NAME_MAX_LEN: usize = 255;
/// Inputs are echoed in errors; a pasted megabyte must not become a megabyte error body.
const ECHO_MAX_CHARS: usize = 300;

/// A parsed, normalized image reference: `domain/path[:tag][@digest]`.
///
/// Parsing always yields a tag or a digest (or both): `latest` is added only when neither was given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not an image reference. Every message says what to change without echoing
/// the input (the rule for every error regcred shows: name the field, never repeat the value).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageRefError {
    #[error("image reference is empty; give an image such as nginx:1.27 or ghcr.io/acme/api:v1")]
    Empty,

    #[error(
        "image reference contains whitespace or control characters; remove them \
         (an image looks like ghcr.io/acme/api:v1)"
    )]
    Whitespace { input: String },

    #[error("image reference is a URL; drop the scheme (an image looks like ghcr.io/acme/api:v1)")]
    UrlScheme { input: String, suggestion: String },

    #[error(
        "image reference is a bare 64-character hexadecimal ID, not a repository name; \
         name the repository, e.g. NAME@sha256:ID"
    )]
    BareIdentifier { input: String },

    #[error(
        "image reference: the registry host is not valid; use a host name, an IPv4 \
         address or a bracketed IPv6 address, optionally with a numeric port (ghcr.io, \
         localhost:5000, [::1]:5000)"
    )]
    InvalidDomain { input: String, domain: String },

    #[error("image reference: the repository name must be lowercase")]
    Uppercase { input: String, lowercase: String },

    #[error(
        "image reference has an empty path component; remove the doubled or trailing '/' \
         (or add the repository name)"
    )]
    EmptyComponent { input: String },

    #[error(
        "image reference: a path component is invalid; use lowercase letters and \
         digits, separated by '.', '_', '__' or dashes, starting and ending with a letter or digit"
    )]
    InvalidComponent { input: String, component: String },

    #[error(
        "image reference: the tag is invalid; a tag is 1 to 128 letters, digits, '_', \
         '.' or '-', and does not start with '.' or '-'"
    )]
    InvalidTag { input: String, tag: String },

    #[error("image reference: the digest is invalid: {reason}")]
    InvalidDigest {
        input: String,
        digest: String,
        reason: &'static str,
    },

    #[error(
        "image reference: the repository name is {len} characters long; the limit is \
         {NAME_MAX_LEN} (including the registry host)"
    )]
    NameTooLong { input: String, len: usize },
}

impl ImageRefError {
    /// Stable error code for API answers; clients branch on this, never on the message.
    pub fn code(&self) -> crate::codes::ErrorCode {
        crate::codes::ErrorCode::InvalidImage
    }
}

impl ImageRef {
    /// Parses and normalizes an image reference like `ParseNormalizedNamed`, then adds the default
    /// tag `latest` when neither a tag nor a digest was given.
    ///
    /// ```
    /// use regcred_core::image_ref::ImageRef;
    ///
    /// let nginx = ImageRef::parse("nginx").unwrap();
    /// assert_eq!(nginx.to_string(), "docker.io/library/nginx:latest");
    /// assert_eq!(nginx.familiar(), "nginx:latest");
    /// let local = ImageRef::parse(&format!("localhost:5000/team/app@sha256:{}", "a".repeat(64))).unwrap();
    /// assert_eq!(local.domain(), "localhost:5000");
    /// assert!(local.tag().is_none());
    /// assert!(ImageRef::parse("Nginx").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<ImageRef, ImageRefError> {
        if input.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let echo = || echo_str(input);
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ImageRefError::Whitespace { input: echo() });
        }
        if let Some((_scheme, rest)) = input.split_once("://") {
            return Err(ImageRefError::UrlScheme {
                input: echo(),
                suggestion: echo_str(rest.trim_end_matches('/')),
            });
        }
        // distribution refuses these so that an image ID is never mistaken for a repository.
        if input.len() == 64 && input.bytes().all(is_lower_hex) {
            return Err(ImageRefError::BareIdentifier { input: echo() });
        }

        let (domain, remainder, typed_domain_len) = split_docker_domain(input);

        // The path contains neither '@' nor ':', so the first '@' starts the digest and the first
        // ':' before it starts the tag.
        let (name_tag, digest) = match remainder.split_once('@') {
            Some((name_tag, digest)) => (name_tag, Some(digest)),
            None => (remainder.as_str(), None),
        };
        let (path, tag) = match name_tag.split_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (name_tag, None),
        };

        if domain != DOCKER_HUB_DOMAIN && !is_domain(&domain) {
            return Err(ImageRefError::InvalidDomain {
                input: echo(),
                domain: echo_str(&domain),
            });
        }
        validate_path(path).map_err(|problem| match problem {
            PathProblem::Empty => ImageRefError::EmptyComponent { input: echo() },
            PathProblem::Uppercase => ImageRefError::Uppercase {
                input: echo(),
                lowercase: echo_str(&lowercase_path_as_typed(input, typed_domain_len)),
            },
            PathProblem::Invalid(component) => ImageRefError::InvalidComponent {
                input: echo(),
                component: echo_str(component),
            },
        })?;
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(ImageRefError::InvalidTag {
                    input: echo(),
                    tag: echo_str(tag),
                });
            }
        }
        if let Some(digest) = digest {
            check_digest(digest).map_err(|reason| ImageRefError::InvalidDigest {
                input: echo(),
                digest: echo_str(digest),
                reason,
            })?;
        }
        let len = domain.len() + 1 + path.len();
        if len > NAME_MAX_LEN {
            return Err(ImageRefError::NameTooLong { input: echo(), len });
        }

        let tag = match (tag, digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(ImageRef {
            domain,
            path: path.to_owned(),
            tag,
            digest: digest.map(str::to_owned),
        })
    }

    /// Registry host with optional port, as written in the reference (`docker.io`,
    /// `localhost:5000`, `[::1]:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path on the registry (`library/nginx`, `acme/api`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `domain/path`: what the kubelet looks credentials up with and what containers/image derives
    /// its auth-file keys from.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The `<reference>` of `/v2/<name>/manifests/<reference>`: the digest when there is one (a
    /// digest pins the content, the tag is then only informative), else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    pub fn is_docker_hub(&self) -> bool {
        self.domain == DOCKER_HUB_DOMAIN
    }

    /// Docker's short ("familiar") form: `nginx:latest`, `user/app:tag`, `ghcr.io/acme/api:v1`.
    /// Like Docker's, it is for display: `docker.io/a.b/c` becomes `a.b/c`, which reads back as
    /// repository `c` on host `a.b`. Store and compare the full form ([`Display`](fmt::Display)).
    pub fn familiar(&self) -> String {
        let mut out = String::new();
        if self.is_docker_hub() {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                // `library/a/b` stays as is: shortening it would change its meaning.
                Some(official) if !official.contains('/') => out.push_str(official),
                _ => out.push_str(&self.path),
            }
        } else {
            out.push_str(&self.domain);
            out.push('/');
            out.push_str(&self.path);
        }
        self.push_suffix(&mut out);
        out
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.repository();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl TryFrom<String> for ImageRef {
    type Error = ImageRefError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ImageRef::parse(&s)
    }
}

impl From<ImageRef> for String {
    fn from(r: ImageRef) -> String {
        r.to_string()
    }
}

/// distribution's `splitDockerDomain`: decides whether the first component is a registry.
/// Returns the domain, the remainder (path, tag, digest) and how many bytes of `name` the typed
/// domain and its `/` took (0 when the domain is implied).
fn split_docker_domain(name: &str) -> (String, String, usize) {
    let (domain, remainder, typed) = match name.split_once('/') {
        // A single component ("ubuntu", "ubuntu:22.04") is always an official Docker Hub image, even
        // "localhost" or "example.com" (an upstream FIXME, kept for compatibility).
        None => {
            return (
                DOCKER_HUB_DOMAIN.to_owned(),
                format!("{OFFICIAL_REPO_PREFIX}{name}"),
                0,
            )
        }
        Some((first, rest)) if first == "localhost" => (first, rest, first.len() + 1),
        Some((first, rest)) if first == LEGACY_DOCKER_HUB_DOMAIN => {
            (DOCKER_HUB_DOMAIN, rest, first.len() + 1)
        }
        Some((first, rest)) if first.contains(['.', ':']) => (first, rest, first.len() + 1),
        // Upper case is never valid in a path, so such a first component can only be a host.
        Some((first, rest)) if first.to_lowercase() != first => (first, rest, first.len() + 1),
        Some(_) => (DOCKER_HUB_DOMAIN, name, 0),
    };
    let remainder = if domain == DOCKER_HUB_DOMAIN && !remainder.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{remainder}")
    } else {
        remainder.to_owned()
    };
    (domain.to_owned(), remainder, typed)
}

/// The input with only its repository path lowercased: the fix to suggest for upper case, which
/// must leave the host (case-insensitive anyway) and the tag (case-sensitive) as typed.
fn lowercase_path_as_typed(input: &str, typed_domain_len: usize) -> String {
    let (domain, rest) = input.split_at(typed_domain_len);
    let path_end = rest.find([':', '@']).unwrap_or(rest.len());
    let (path, suffix) = rest.split_at(path_end);
    format!("{domain}{}{suffix}", path.to_lowercase())
}

/// distribution's `domainAndPort`: a DNS-ish name or IPv4 address, or `[IPv6]`, then `:digits`.
/// Ports are not range-checked here, as upstream does not; registry servers are stricter.
fn is_domain(s: &str) -> bool {
    let (host_ok, port) = if let Some(after_bracket) = s.strip_prefix('[') {
        let Some((inner, rest)) = after_bracket.split_once(']') else {
            return false;
        };
        let port = match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        // distribution's `ipv6address`: hex digits and colons only, so no zones and no
        // IPv4-mapped forms.
        let inner_ok =
            !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (inner_ok, port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        (host.split('.').all(is_domain_component), port)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) enum PathProblem<'a> {
    Empty,
    Uppercase,
    Invalid(&'a str),
}

/// Checks a repository path: one or more [`is_path_component`]s separated by `/`.
pub(crate) fn validate_path(path: &str) -> Result<(), PathProblem<'_>> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(PathProblem::Empty);
        }
        if !is_path_component(component) {
            // distribution reports upper case separately because it is the common mistake.
            if is_path_component(&component.to_lowercase()) {
                return Err(PathProblem::Uppercase);
            }
            return Err(PathProblem::Invalid(component));
        }
    }
    Ok(())
}

/// distribution's path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
pub(crate) fn is_path_component(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &s[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// distribution's digest grammar plus go-digest's rules for the algorithms it knows.
fn check_digest(s: &str) -> Result<(), &'static str> {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return Err("expected ALGORITHM:HEX, e.g. sha256 followed by ':' and 64 hex digits");
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    };
    if !algorithm.split(['-', '_', '+', '.']).all(component_ok) {
        return Err("the algorithm must be letters and digits, e.g. sha256");
    }
    // go-digest rejects algorithms it does not know; upper-case spellings of known ones are the
    // likely mistake, and distribution reports them as "must be lowercase".
    if algorithm.to_lowercase() != algorithm {
        return Err("the algorithm must be lowercase, e.g. sha256");
    }
    let exact = match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    };
    match exact {
        Some(len) => {
            if hex.len() != len || !hex.bytes().all(is_lower_hex) {
                return Err(match algorithm {
                    "sha256" => "a sha256 digest is 64 lowercase hex digits",
                    "sha384" => "a sha384 digest is 96 lowercase hex digits",
                    _ => "a sha512 digest is 128 lowercase hex digits",
                });
            }
        }
        None => {
            if hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("the encoded part must be at least 32 hex digits");
            }
        }
    }
    Ok(())
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Truncates what an error echoes back, at a character boundary.
pub(crate) fn echo_str(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA: &str = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

    /// `expected` is `domain|path|tag|digest|familiar` (empty fields for absent tag or digest), or
    /// `err:<Variant>` for a refusal.
    fn check(input: &str, expected: &str) {
        let actual = match ImageRef::parse(input) {
            Ok(r) => {
                assert_eq!(
                    ImageRef::parse(&r.to_string()),
                    Ok(r.clone()),
                    "round trip of {input:?}"
                );
                format!(
                    "{}|{}|{}|{}|{}",
                    r.domain(),
                    r.path(),
                    r.tag().unwrap_or_default(),
                    r.digest().unwrap_or_default(),
                    r.familiar()
                )
            }
            Err(e) => {
                assert_eq!(e.code().as_str(), "invalid_image");
                let debug = format!("{e:?}");
                let variant = debug
                    .split([' ', '{', '('])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                format!("err:{variant}")
            }
        };
        assert_eq!(actual, expected, "input {input:?}");
    }

    #[test]
    fn normalization() {
        for (input, expected) in [
            ("nginx", "docker.io|library/nginx|latest||nginx:latest"),
            ("nginx:1.27", "docker.io|library/nginx|1.27||nginx:1.27"),
            ("user/app", "docker.io|user/app|latest||user/app:latest"),
            ("docker.io/nginx", "docker.io|library/nginx|latest||nginx:latest"),
            ("index.docker.io/x", "docker.io|library/x|latest||x:latest"),
            ("index.docker.io/user/app:v1", "docker.io|user/app|v1||user/app:v1"),
            ("docker.io/library/foo/bar", "docker.io|library/foo/bar|latest||library/foo/bar:latest"),
            ("library/ubuntu", "docker.io|library/ubuntu|latest||ubuntu:latest"),
            ("docker.io/library", "docker.io|library/library|latest||library:latest"),
            ("ghcr.io/acme/api:v1.2.3", "ghcr.io|acme/api|v1.2.3||ghcr.io/acme/api:v1.2.3"),
            ("localhost/foo", "localhost|foo|latest||localhost/foo:latest"),
            ("localhost:5000/foo/bar", "localhost:5000|foo/bar|latest||localhost:5000/foo/bar:latest"),
            ("registry:5000/app", "registry:5000|app|latest||registry:5000/app:latest"),
            ("[::1]:5000/foo", "[::1]:5000|foo|latest||[::1]:5000/foo:latest"),
            ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000|library/debian|latest||[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"),
            ("127.0.0.1:5000/debian", "127.0.0.1:5000|debian|latest||127.0.0.1:5000/debian:latest"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080|foo|latest||xn--n3h.com:18080/foo:latest"),
            ("test_com/foo", "docker.io|test_com/foo|latest||test_com/foo:latest"),
            ("test-com:8080/foo", "test-com:8080|foo|latest||test-com:8080/foo:latest"),
            // Upper case in the first component makes it a host, as in distribution.
            ("Foo/bar", "Foo|bar|latest||Foo/bar:latest"),
            // A single component is always a Docker Hub name, even when it looks like a host.
            ("localhost", "docker.io|library/localhost|latest||localhost:latest"),
            ("192.168.0.1", "docker.io|library/192.168.0.1|latest||192.168.0.1:latest"),
            ("localhost:5000", "docker.io|library/localhost|5000||localhost:5000"),
            ("docker---rules/docker", "docker.io|docker---rules/docker|latest||docker---rules/docker:latest"),
            ("dock__er/docker", "docker.io|dock__er/docker|latest||dock__er/docker:latest"),
            ("d/t", "docker.io|d/t|latest||d/t:latest"),
            ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io|library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev|latest||thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest"),
            ("docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker.io|library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a|latest||1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:latest"),
            ("ubuntu:_x-Y.1", "docker.io|library/ubuntu|_x-Y.1||ubuntu:_x-Y.1"),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn tags_and_digests() {
        let with = |s: &str| s.replace("SHA", SHA);
        for (input, expected) in [
            // A digest alone gets no default tag; a tag and a digest are both kept.
            ("busybox@SHA", "docker.io|library/busybox||SHA|busybox@SHA"),
            ("busybox:latest@SHA", "docker.io|library/busybox|latest|SHA|busybox:latest@SHA"),
            ("ghcr.io/a/b:v1@SHA", "ghcr.io|a/b|v1|SHA|ghcr.io/a/b:v1@SHA"),
            ("localhost:5000/a@SHA", "localhost:5000|a||SHA|localhost:5000/a@SHA"),
            (
                "a@sha512:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                "docker.io|library/a||sha512:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff|a@sha512:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            ),
            // Unknown algorithms follow the grammar: at least 32 hex digits.
            ("a@blake3+x:0123456789ABCDEF0123456789abcdef", "docker.io|library/a||blake3+x:0123456789ABCDEF0123456789abcdef|a@blake3+x:0123456789ABCDEF0123456789abcdef"),
            ("a@sha256:abc", "err:InvalidDigest"),
            ("a@SHA256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa", "err:InvalidDigest"),
            ("a@sha256:86E0E091D0DA6BDE2456DBB48306F3956BBEB2EAE1B5B9A43045843F69FE4AAA", "err:InvalidDigest"),
            ("a@md5:0123456789abcdef0123456789abcde", "err:InvalidDigest"),
            ("a@1sha:0123456789abcdef0123456789abcdef", "err:InvalidDigest"),
            ("a@", "err:InvalidDigest"),
            ("a@SHA@SHA", "err:InvalidDigest"),
            ("a:", "err:InvalidTag"),
            ("a:-x", "err:InvalidTag"),
            ("a:.x", "err:InvalidTag"),
            ("a:x/y", "err:InvalidDomain"),
            ("a:x", "docker.io|library/a|x||a:x"),
            ("a:b:c", "err:InvalidTag"),
            (&format!("a:{}", "t".repeat(128)), &format!("docker.io|library/a|{t}||a:{t}", t = "t".repeat(128))),
            (&format!("a:{}", "t".repeat(129)), "err:InvalidTag"),
        ] {
            check(&with(input), &with(expected));
        }
    }

    #[test]
    fn refusals() {
        for (input, expected) in [
            ("", "err:Empty"),
            (" nginx", "err:Whitespace"),
            ("nginx ", "err:Whitespace"),
            ("ghcr.io/a b", "err:Whitespace"),
            ("nginx\n", "err:Whitespace"),
            ("https://github.com/docker/docker", "err:UrlScheme"),
            ("docker://nginx", "err:UrlScheme"),
            ("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "err:BareIdentifier"),
            ("docker/Docker", "err:Uppercase"),
            ("docker.io/docker/Docker", "err:Uppercase"),
            ("ghcr.io/Acme/api", "err:Uppercase"),
            ("NGINX", "err:Uppercase"),
            ("-docker", "err:InvalidComponent"),
            ("-docker/docker", "err:InvalidComponent"),
            ("docker-/docker", "err:InvalidComponent"),
            ("____/____", "err:InvalidComponent"),
            ("_docker/_docker", "err:InvalidComponent"),
            ("dock..er/docker", "err:InvalidDomain"),
            ("dock_.er/docker", "err:InvalidDomain"),
            ("dock-.er/docker", "err:InvalidDomain"),
            ("dock..er", "err:InvalidComponent"),
            ("docker/dock..er", "err:InvalidComponent"),
            ("dock___er/docker", "err:InvalidComponent"),
            ("docker///docker", "err:EmptyComponent"),
            ("docker.io/docker///docker", "err:EmptyComponent"),
            ("docker/", "err:EmptyComponent"),
            ("ghcr.io/", "err:EmptyComponent"),
            ("-docker.io/docker/docker", "err:InvalidDomain"),
            ("[fc00::1]", "err:InvalidComponent"),
            ("[fc00::1]:5000", "err:InvalidComponent"),
            ("fc00::1:5000/debian", "err:InvalidDomain"),
            ("[fe80::1%eth0]:5000/debian", "err:InvalidDomain"),
            ("[2001:db8:3:4::192.0.2.33]:5000/debian", "err:InvalidDomain"),
            ("[::1]5000/foo", "err:InvalidDomain"),
            ("host:/foo", "err:InvalidDomain"),
            ("host:abc/foo", "err:InvalidDomain"),
            // distribution would quietly read this as a path on an empty domain; a host with '_'
            // is a typo we report instead.
            ("foo_bar.com/x", "err:InvalidDomain"),
            (
                "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
                "err:NameTooLong",
            ),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn name_length_counts_the_normalized_name() {
        // "docker.io/library/" is 18 characters: 237 + 18 = 255 fits, 238 does not.
        check(
            &"a".repeat(237),
            &format!(
                "docker.io|library/{a}|latest||{a}:latest",
                a = "a".repeat(237)
            ),
        );
        check(&"a".repeat(238), "err:NameTooLong");
    }

    #[test]
    fn errors_say_what_to_do() {
        let message = |input: &str| ImageRef::parse(input).map(|_| ()).unwrap_err().to_string();
        // What to do, never the input back (errors name the field, never echo a value).
        let url = message("https://ghcr.io/acme/echo-1:v1");
        assert!(
            url.contains("drop the scheme") && !url.contains("echo-1"),
            "{url}"
        );
        let upper = message("ghcr.io/Echo-2/api");
        assert!(
            upper.contains("must be lowercase") && !upper.to_lowercase().contains("echo-2"),
            "{upper}"
        );
        let long = format!("{}!", "x".repeat(10_000));
        assert!(
            message(&long).len() < 2_000,
            "huge inputs are truncated in errors"
        );
    }

    #[test]
    fn serde_is_the_string() {
        let r: ImageRef = serde_json::from_str("\"nginx\"").unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"docker.io/library/nginx:latest\""
        );
        assert!(serde_json::from_str::<ImageRef>("\"Nginx\"").is_err());
        assert_eq!(
            "user/app:v2".parse::<ImageRef>().unwrap().repository(),
            "docker.io/user/app"
        );
        assert_eq!(
            ImageRef::parse(&format!("a:v1@{SHA}"))
                .unwrap()
                .manifest_reference(),
            SHA
        );
        assert_eq!(ImageRef::parse("a:v1").unwrap().manifest_reference(), "v1");
    }

    fn domain() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("docker.io/".to_owned()),
            Just("index.docker.io/".to_owned()),
            Just("localhost/".to_owned()),
            Just("localhost:5000/".to_owned()),
            Just("[::1]:5000/".to_owned()),
            Just("Registry.Example.com/".to_owned()),
            "[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z0-9]{1,6}){1,2}(:[0-9]{1,5})?/",
            "[a-z0-9]{1,8}:[0-9]{1,5}/",
        ]
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            domain in domain(),
            path in "[a-z0-9]{1,4}(([._]|__|-{1,2})[a-z0-9]{1,4}){0,2}(/[a-z0-9]{1,4}([._-][a-z0-9]{1,3})?){0,3}",
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let mut input = format!("{domain}{path}");
            if let Some(tag) = &tag {
                input.push(':');
                input.push_str(tag);
            }
            if let Some(hex) = &digest {
                input.push_str("@sha256:");
                input.push_str(hex);
            }
            // Some generated inputs are legitimately refused (an invalid host); the rest must
            // round-trip through the full form, and through the familiar form unless that is
            // ambiguous, as it is in Docker (`docker.io/a.b/c` is familiar `a.b/c`, a host).
            if let Ok(r) = ImageRef::parse(&input) {
                prop_assert_eq!(ImageRef::parse(&r.to_string()), Ok(r.clone()));
                let first = r.path().split('/').next().unwrap_or_default();
                let ambiguous = r.is_docker_hub()
                    && r.path().contains('/')
                    && (first.contains(['.', ':']) || first == "localhost");
                if !ambiguous {
                    prop_assert_eq!(ImageRef::parse(&r.familiar()), Ok(r.clone()));
                }
                prop_assert!(r.tag().is_some() || r.digest().is_some());
                let json = serde_json::to_string(&r).unwrap();
                prop_assert_eq!(serde_json::from_str::<ImageRef>(&json).unwrap(), r);
            }
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,80}") {
            let _ = ImageRef::parse(&input);
        }
    }
}
