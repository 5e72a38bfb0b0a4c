//! Classification of a check for humans: the [`Outcome`] codes that callers branch on, and the pure
//! pieces that decide them from what the network said — transport failures read from an error's
//! source chain (TLS by rustls type, not by message), "expired" in registry and token-server
//! messages, `Retry-After`, and error codes. Nothing a registry says in free text is kept: text is
//! read to classify and dropped; what a report carries from a peer is its status, error codes that
//! pass their grammar ([`ErrorCode`]), a digest and a known media type — regcred's own words do the
//! rest.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

/// What a check concluded. Stable strings: API answers and the CLI use [`Outcome::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The final manifest (or `/v2/`) request answered 2xx.
    Ok,
    /// The credentials were rejected (or are required and missing).
    Unauthorized,
    /// The credentials are valid but do not grant access to the repository.
    Denied,
    /// The registry has no such manifest or repository.
    NotFound,
    /// The registry answered 429.
    RateLimited,
    /// The registry or token service says the credentials have expired.
    Expired,
    /// No answer (refused, DNS, timeout) or a 5xx: the registry is not working right now.
    Unreachable,
    /// TLS failed: untrusted or wrong certificate, protocol failure, or a peer without TLS.
    TlsError,
    /// Something answered, but not as an OCI distribution registry does.
    NotARegistry,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::Unauthorized,
        Outcome::Denied,
        Outcome::NotFound,
        Outcome::RateLimited,
        Outcome::Expired,
        Outcome::Unreachable,
        Outcome::TlsError,
        Outcome::NotARegistry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
            Outcome::RateLimited => "rate_limited",
            Outcome::Expired => "expired",
            Outcome::Unreachable => "unreachable",
            Outcome::TlsError => "tls_error",
            Outcome::NotARegistry => "not_a_registry",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request got no HTTP answer: a kind regcred names itself, never the text of the error
/// (which, several layers down, is not ours to vouch for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportFailure {
    Timeout,
    Refused,
    /// The host name did not resolve.
    Dns,
    /// The connection was reset or closed before an answer.
    Closed,
    /// Any other failure to get an answer.
    Other,
    /// The server's certificate is signed by an authority regcred does not trust.
    TlsUnknownIssuer,
    /// The server's certificate does not name the host.
    TlsWrongName,
    TlsExpired,
    TlsNotYetValid,
    TlsRevoked,
    /// The certificate could not be read, or failed another check.
    TlsBadCertificate,
    /// The peer answered with something that is not TLS (a plain-HTTP server on an https URL).
    NotTls,
    /// The server sent a TLS alert and gave up.
    TlsAborted,
    /// No TLS version or cipher suite in common.
    TlsIncompatible,
    TlsNoCertificate,
    /// The connection closed during the handshake.
    TlsCutOff,
    /// Any other TLS failure.
    TlsOther,
}

impl TransportFailure {
    /// Stable strings for the `transport` of a report.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportFailure::Timeout => "timeout",
            TransportFailure::Refused => "refused",
            TransportFailure::Dns => "dns",
            TransportFailure::Closed => "closed",
            TransportFailure::Other => "other",
            TransportFailure::TlsUnknownIssuer => "tls_unknown_issuer",
            TransportFailure::TlsWrongName => "tls_wrong_name",
            TransportFailure::TlsExpired => "tls_expired",
            TransportFailure::TlsNotYetValid => "tls_not_yet_valid",
            TransportFailure::TlsRevoked => "tls_revoked",
            TransportFailure::TlsBadCertificate => "tls_bad_certificate",
            TransportFailure::NotTls => "not_tls",
            TransportFailure::TlsAborted => "tls_aborted",
            TransportFailure::TlsIncompatible => "tls_incompatible",
            TransportFailure::TlsNoCertificate => "tls_no_certificate",
            TransportFailure::TlsCutOff => "tls_cut_off",
            TransportFailure::TlsOther => "tls_other",
        }
    }

    pub fn is_tls(self) -> bool {
        self.as_str().starts_with("tls_") || self == TransportFailure::NotTls
    }

    pub fn outcome(self) -> Outcome {
        if self.is_tls() {
            Outcome::TlsError
        } else {
            Outcome::Unreachable
        }
    }

    /// A few words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            TransportFailure::Timeout => "timed out",
            TransportFailure::Refused => "connection refused",
            TransportFailure::Dns => "name resolution failed",
            TransportFailure::Closed => "the connection closed before an answer",
            TransportFailure::Other => "no answer",
            TransportFailure::TlsUnknownIssuer => {
                "TLS failed: certificate signed by an unknown authority"
            }
            TransportFailure::TlsWrongName => {
                "TLS failed: certificate is not valid for this host name"
            }
            TransportFailure::TlsExpired => "TLS failed: certificate has expired",
            TransportFailure::TlsNotYetValid => "TLS failed: certificate is not valid yet",
            TransportFailure::TlsRevoked => "TLS failed: certificate has been revoked",
            TransportFailure::TlsBadCertificate => "TLS failed: the certificate is unusable",
            TransportFailure::NotTls => "TLS failed: the server answered without TLS (plain HTTP?)",
            TransportFailure::TlsAborted => "TLS failed: the server aborted the handshake",
            TransportFailure::TlsIncompatible => {
                "TLS failed: no TLS version or cipher suite in common with the server"
            }
            TransportFailure::TlsNoCertificate => "TLS failed: the server presented no certificate",
            TransportFailure::TlsCutOff => {
                "TLS failed: the server closed the connection during the TLS handshake"
            }
            TransportFailure::TlsOther => "TLS failed",
        }
    }

    /// The hint for a failure talking to `peer` (the registry's `host[:port]`, or words naming
    /// the token service: never a host a server chose).
    pub fn hint(self, peer: &str, timeout: std::time::Duration) -> String {
        match self {
            TransportFailure::NotTls => format!(
                "{peer} does not speak TLS; if it is a plain-HTTP registry, list it as an \
                 insecure (plain HTTP) registry, otherwise check the port"
            ),
            f if f.is_tls() => format!(
                "TLS with {peer} failed ({}); give the registry's CA with --registry-ca-file, or \
                 fix the registry's certificate",
                f.describe().trim_start_matches("TLS failed: ")
            ),
            TransportFailure::Timeout => format!(
                "{peer} did not answer within {} s; check the network path (proxy, firewall) and \
                 retry",
                timeout.as_secs_f64()
            ),
            TransportFailure::Refused => format!(
                "nothing accepts connections at {peer}; check the host and port and that the \
                 registry is running"
            ),
            TransportFailure::Dns => {
                format!("the host name of {peer} does not resolve; check its spelling")
            }
            _ => format!("could not talk to {peer}; check the network and retry"),
        }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies a request error by walking its source chain: rustls errors by type, IO errors by
/// kind, reqwest's timeout flag. tokio-rustls wraps rustls errors in an `io::Error` (and
/// hyper-rustls that in another), whose `source()` skips the wrapped error, so every `io::Error`
/// is opened explicitly. `https` says whether the request used TLS (an early EOF then means the
/// handshake was cut off). Only the name-resolution test reads text, and keeps none of it.
pub fn classify_transport(error: &(dyn StdError + 'static), https: bool) -> TransportFailure {
    let mut timeout = false;
    let mut refused = false;
    let mut eof = false;
    let mut closed = false;
    let mut dns = false;
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return rustls_failure(tls);
        }
        let mut next = e.source();
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => refused = true,
                io::ErrorKind::TimedOut => timeout = true,
                io::ErrorKind::UnexpectedEof => eof = true,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => closed = true,
                _ => {}
            }
            // `io::Error::source` skips the error it wraps; open it instead.
            if let Some(inner) = io.get_ref() {
                next = Some(inner as &(dyn StdError + 'static));
            }
        }
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            timeout |= r.is_timeout();
        }
        let text = e.to_string();
        // hyper-util's connector says "dns error"; the resolver "failed to lookup address".
        dns |= text.contains("dns error") || text.contains("failed to lookup address");
        current = next;
    }
    if timeout {
        TransportFailure::Timeout
    } else if refused {
        TransportFailure::Refused
    } else if dns {
        TransportFailure::Dns
    } else if eof && https {
        TransportFailure::TlsCutOff
    } else if eof || closed {
        TransportFailure::Closed
    } else {
        TransportFailure::Other
    }
}

fn rustls_failure(error: &rustls::Error) -> TransportFailure {
    use rustls::{CertificateError, InvalidMessage};
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => TransportFailure::TlsUnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TransportFailure::TlsWrongName
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TransportFailure::TlsExpired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TransportFailure::TlsNotYetValid
            }
            CertificateError::Revoked => TransportFailure::TlsRevoked,
            _ => TransportFailure::TlsBadCertificate,
        },
        rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType)
        | rustls::Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => {
            TransportFailure::NotTls
        }
        rustls::Error::AlertReceived(_) => TransportFailure::TlsAborted,
        rustls::Error::PeerIncompatible(_) => TransportFailure::TlsIncompatible,
        rustls::Error::NoCertificatesPresented => TransportFailure::TlsNoCertificate,
        _ => TransportFailure::TlsOther,
    }
}

/// Whether a registry or token-service message says the credentials have expired (ECR: "Your
/// authorization token has expired"; token servers: "token expired"). The text is read to decide
/// and then dropped.
pub fn says_expired(text: &str) -> bool {
    text.to_ascii_lowercase().contains("expired")
}

/// `Retry-After` in seconds from `now`: delta-seconds as sent, an HTTP date (IMF-fixdate) as
/// the seconds until it (0 once past); `None` for anything else.
pub fn retry_after_secs(value: &str, now: time::OffsetDateTime) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok();
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    Some(u64::try_from((at - now).whole_seconds()).unwrap_or(0))
}

/// Which grammar an error code is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeGrammar {
    /// OCI distribution `errors[].code`: the spec's list, or `^[A-Z_]{1,64}$`.
    Oci,
    /// OAuth2 (RFC 6749 §5.2, RFC 6750 §3.1) `error`: `^[a-z_]{1,64}$`.
    OAuth,
    /// AWS error codes: `^[A-Za-z]{1,64}$`, e.g. `UnrecognizedClientException`.
    Aws,
}

/// The error codes of the OCI distribution specification.
pub const OCI_ERROR_CODES: [&str; 14] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

/// An error code a registry or provider sent, kept only because it matched its grammar: the one
/// piece of what a peer says that a report may carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(String);

impl ErrorCode {
    /// `code` if it matches `grammar`; `None` (dropped) otherwise.
    pub fn parse(code: &str, grammar: CodeGrammar) -> Option<ErrorCode> {
        let allowed = |b: u8| match grammar {
            CodeGrammar::Oci => b.is_ascii_uppercase() || b == b'_',
            CodeGrammar::OAuth => b.is_ascii_lowercase() || b == b'_',
            CodeGrammar::Aws => b.is_ascii_alphabetic(),
        };
        let fits = (1..=64).contains(&code.len()) && code.bytes().all(allowed);
        let listed = grammar == CodeGrammar::Oci && OCI_ERROR_CODES.contains(&code);
        (fits || listed).then(|| ErrorCode(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The error codes of an error body that pass their grammar: distribution's
/// `{"errors":[{"code"}]}` (first three) and OAuth2's `{"error"}`. Messages, descriptions and
/// details are not read.
pub fn error_codes(body: &[u8]) -> Vec<ErrorCode> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut codes = Vec::new();
    if let Some(errors) = value.get("errors").and_then(serde_json::Value::as_array) {
        codes.extend(
            errors
                .iter()
                .take(3)
                .filter_map(|e| e.get("code").and_then(serde_json::Value::as_str))
                .filter_map(|c| ErrorCode::parse(c, CodeGrammar::Oci)),
        );
    }
    if let Some(code) = value.get("error").and_then(serde_json::Value::as_str) {
        codes.extend(ErrorCode::parse(code, CodeGrammar::OAuth));
    }
    codes
}

/// The free text of an error body — distribution's `errors[].message` and `detail`, token
/// servers' `details`, OAuth2's `error_description`, `message`, or a plain-text body — only for
/// [`says_expired`]: what this returns must not be kept.
pub fn body_text_for_classification(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        // Every string anywhere in the JSON: expiry wording may sit in any field.
        Ok(value) => {
            let mut out = String::new();
            collect_strings(&value, &mut out);
            out
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// `Docker-Content-Digest` kept only when it is a digest: `sha256:` and 64, `sha384:` and 96, or
/// `sha512:` and 128 lowercase hex digits.
pub fn valid_digest(value: &str) -> Option<String> {
    let (algorithm, hex) = value.trim().split_once(':')?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == length && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("{algorithm}:{hex}"))
}

/// A manifest's media type kept only when it is one a pull can use: OCI index or manifest,
/// Docker manifest list or v2 manifest, or Docker's old signed v1 manifest.
pub fn valid_manifest_media_type(value: &str) -> Option<&'static str> {
    const KNOWN: [&str; 6] = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ];
    let value = value.split(';').next().unwrap_or_default().trim();
    KNOWN
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(value))
}

/// Text regcred shows from its own configuration or stored metadata (a host, a username) made
/// fit for one line: control characters become spaces, runs of whitespace collapse, and it is
/// cut at `max` characters.
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if count == max {
            out.push('…');
            return out.trim_end().to_owned();
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_stable() {
        let all: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            all,
            [
                "ok",
                "unauthorized",
                "denied",
                "not_found",
                "rate_limited",
                "expired",
                "unreachable",
                "tls_error",
                "not_a_registry"
            ]
        );
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
            assert_eq!(o.to_string(), o.as_str());
        }
    }

    /// An error shaped like reqwest's: an outer error whose source is `inner`.
    #[derive(Debug)]
    struct Wrapped(&'static str, Box<dyn StdError + Send + Sync>);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    fn tls_chain(e: rustls::Error) -> Wrapped {
        // Roughly the shape reqwest 0.12 produces: client error → io::Error(Other) → tokio-rustls's
        // io::Error(InvalidData) → rustls::Error; each io::Error's `source()` skips a level.
        Wrapped(
            "client error (Connect)",
            Box::new(io::Error::other(io::Error::new(
                io::ErrorKind::InvalidData,
                e,
            ))),
        )
    }

    #[test]
    fn transport_failures() {
        use rustls::{CertificateError, InvalidMessage};
        let check = |e: &(dyn StdError + 'static), https, expected: &str| {
            let f = classify_transport(e, https);
            let actual = format!("{}|{}", f.outcome(), f.describe());
            assert_eq!(actual, expected);
        };
        check(
            &tls_chain(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            true,
            "tls_error|TLS failed: certificate signed by an unknown authority",
        );
        check(
            &tls_chain(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            true,
            "tls_error|TLS failed: certificate is not valid for this host name",
        );
        check(
            &tls_chain(rustls::Error::InvalidCertificate(CertificateError::Expired)),
            true,
            "tls_error|TLS failed: certificate has expired",
        );
        check(
            &tls_chain(rustls::Error::InvalidMessage(
                InvalidMessage::InvalidContentType,
            )),
            true,
            "tls_error|TLS failed: the server answered without TLS (plain HTTP?)",
        );
        // A bare rustls error in the chain (no io wrapper) is found too.
        check(
            &Wrapped(
                "outer",
                Box::new(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                )),
            ),
            true,
            "tls_error|TLS failed: certificate signed by an unknown authority",
        );
        check(
            &Wrapped(
                "tcp connect error",
                Box::new(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "Connection refused (os error 111)",
                )),
            ),
            true,
            "unreachable|connection refused",
        );
        check(
            &Wrapped(
                "client error (Connect)",
                Box::new(Wrapped(
                    "dns error",
                    Box::new(io::Error::other(
                        "failed to lookup address information: Name or service not known",
                    )),
                )),
            ),
            true,
            "unreachable|name resolution failed",
        );
        check(
            &Wrapped(
                "client error (Connect)",
                Box::new(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tls handshake eof",
                )),
            ),
            true,
            "tls_error|TLS failed: the server closed the connection during the TLS handshake",
        );
        check(
            &Wrapped(
                "client error (Connect)",
                Box::new(io::Error::new(io::ErrorKind::UnexpectedEof, "eof")),
            ),
            false,
            "unreachable|the connection closed before an answer",
        );
        // Whatever the innermost error says is not kept.
        check(
            &Wrapped(
                "client error (SendRequest)",
                Box::new(io::Error::other("canary-text from somewhere")),
            ),
            true,
            "unreachable|no answer",
        );
        check(
            &Wrapped(
                "operation timed out",
                Box::new(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
            ),
            false,
            "unreachable|timed out",
        );
    }

    #[test]
    fn transport_hints() {
        let t = std::time::Duration::from_secs(10);
        let tls = TransportFailure::TlsUnknownIssuer;
        assert!(tls.hint("r.example:443", t).contains("--registry-ca-file"));
        assert!(tls.hint("r.example:443", t).contains("unknown authority"));
        assert!(TransportFailure::NotTls
            .hint("r:5000", t)
            .contains("plain-HTTP"));
        assert!(TransportFailure::Timeout.hint("r", t).contains("10 s"));
        assert!(TransportFailure::Refused.hint("r:1", t).contains("r:1"));
    }

    #[test]
    fn expiry_wording() {
        for (text, expected) in [
            (
                "Your authorization token has expired. Reauthenticate and try again.",
                true,
            ),
            ("token expired", true),
            ("The credentials have EXPIRED", true),
            ("access denied", false),
            ("", false),
        ] {
            assert_eq!(says_expired(text), expected, "{text}");
        }
    }

    #[test]
    fn retry_after_values() {
        let now = time::macros::datetime!(2015-10-21 07:27:00 UTC);
        assert_eq!(retry_after_secs("30", now), Some(30));
        assert_eq!(
            retry_after_secs("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(60)
        );
        assert_eq!(
            retry_after_secs("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0)
        );
        for value in [
            " ",
            "a\r\nb",
            "soon",
            "-5",
            "30s",
            "Wed, 21 Oct 2015 07:28:00 canary",
        ] {
            assert_eq!(retry_after_secs(value, now), None, "{value}");
        }
    }

    #[test]
    fn error_codes_pass_their_grammar_or_are_dropped() {
        for (code, grammar, kept) in [
            ("MANIFEST_UNKNOWN", CodeGrammar::Oci, true),
            ("TOOMANYREQUESTS", CodeGrammar::Oci, true),
            ("FORBIDDEN", CodeGrammar::Oci, true),
            ("manifest unknown", CodeGrammar::Oci, false),
            ("DENIED: hunter2", CodeGrammar::Oci, false),
            ("Denied", CodeGrammar::Oci, false),
            ("", CodeGrammar::Oci, false),
            ("invalid_grant", CodeGrammar::OAuth, true),
            ("invalid-grant", CodeGrammar::OAuth, false),
            ("INVALID_GRANT", CodeGrammar::OAuth, false),
            ("UnrecognizedClientException", CodeGrammar::Aws, true),
            ("Access Denied", CodeGrammar::Aws, false),
            ("sts:AssumeRole", CodeGrammar::Aws, false),
        ] {
            assert_eq!(
                ErrorCode::parse(code, grammar).is_some(),
                kept,
                "{code} {grammar:?}"
            );
        }
        assert!(ErrorCode::parse(&"A".repeat(64), CodeGrammar::Oci).is_some());
        assert!(ErrorCode::parse(&"A".repeat(65), CodeGrammar::Oci).is_none());
        for code in OCI_ERROR_CODES {
            assert!(ErrorCode::parse(code, CodeGrammar::Oci).is_some(), "{code}");
        }
    }

    #[test]
    fn error_bodies() {
        let check = |body: &str, expected: &[&str]| {
            let codes: Vec<String> = error_codes(body.as_bytes())
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect();
            assert_eq!(codes, expected, "{body}");
        };
        check(
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}"#,
            &["MANIFEST_UNKNOWN"],
        );
        check(
            r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired."}]}"#,
            &["DENIED"],
        );
        check(
            r#"{"errors":[{"code":"canary pw"},{"code":"UNAUTHORIZED"}]}"#,
            &["UNAUTHORIZED"],
        );
        check(r#"{"details":"incorrect username or password"}"#, &[]);
        check(
            r#"{"error":"invalid_grant","error_description":"refresh token expired"}"#,
            &["invalid_grant"],
        );
        check("<html><body>Sign in</body></html>", &[]);
        check("{}", &[]);
        check("", &[]);
        assert!(says_expired(&body_text_for_classification(
            br#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired."}]}"#
        )));
        assert!(says_expired(&body_text_for_classification(
            b"token expired"
        )));
        assert!(!says_expired(&body_text_for_classification(
            br#"{"errors":[{"code":"DENIED","message":"no"}]}"#
        )));
    }

    #[test]
    fn digests_and_media_types_are_kept_only_when_valid() {
        let hex = "a".repeat(64);
        assert_eq!(
            valid_digest(&format!("sha256:{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert!(valid_digest(&format!("sha512:{}", "0".repeat(128))).is_some());
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("md5:{hex}"),
            "sha256:canary-password".to_owned(),
            String::new(),
        ] {
            assert_eq!(valid_digest(&bad), None, "{bad}");
        }
        assert_eq!(
            valid_manifest_media_type("application/vnd.oci.image.manifest.v1+json; charset=x"),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(
            valid_manifest_media_type("APPLICATION/VND.DOCKER.DISTRIBUTION.MANIFEST.V2+JSON"),
            Some("application/vnd.docker.distribution.manifest.v2+json")
        );
        for bad in ["application/json", "text/html", "application/canary-pw", ""] {
            assert_eq!(valid_manifest_media_type(bad), None, "{bad}");
        }
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("a\n\n b\tc\u{1b}[31m", 100), "a b c [31m");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("  lead", 10), "lead");
    }
}
