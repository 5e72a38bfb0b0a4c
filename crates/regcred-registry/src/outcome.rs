//! Classification of a check for humans: the [`Outcome`] codes that callers branch on, and the pure
//! pieces that decide them from what the network said — transport failures read from an error's
//! source chain (TLS by rustls type, not by message), "expired" in registry and token-server
//! messages, `Retry-After`, and the error bodies of distribution and token servers, cleaned so
//! that nothing a server sends can smuggle control characters or pages of HTML into a report.

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

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportFailure {
    /// The TLS handshake failed. `not_tls` when the peer answered with something that is not TLS
    /// (a plain-HTTP server on an https URL).
    Tls {
        reason: String,
        not_tls: bool,
    },
    Timeout,
    Refused,
    Dns {
        reason: String,
    },
    Other {
        reason: String,
    },
}

impl TransportFailure {
    pub fn outcome(&self) -> Outcome {
        match self {
            TransportFailure::Tls { .. } => Outcome::TlsError,
            _ => Outcome::Unreachable,
        }
    }

    /// A one-line description for `detail`.
    pub fn describe(&self) -> String {
        match self {
            TransportFailure::Tls { reason, .. } => format!("TLS failed: {reason}"),
            TransportFailure::Timeout => "timed out".to_owned(),
            TransportFailure::Refused => "connection refused".to_owned(),
            TransportFailure::Dns { reason } => format!("name resolution failed: {reason}"),
            TransportFailure::Other { reason } => reason.clone(),
        }
    }

    /// The hint for a failure talking to `authority` (`host[:port]`).
    pub fn hint(&self, authority: &str, timeout: std::time::Duration) -> String {
        match self {
            TransportFailure::Tls { not_tls: true, .. } => format!(
                "{authority} does not speak TLS; if it is a plain-HTTP registry, list it as an \
                 insecure (plain HTTP) registry, otherwise check the port"
            ),
            TransportFailure::Tls { reason, .. } => format!(
                "TLS with {authority} failed ({reason}); give the registry's CA with \
                 --registry-ca-file, or fix the registry's certificate"
            ),
            TransportFailure::Timeout => format!(
                "{authority} did not answer within {} s; check the network path (proxy, \
                 firewall) and retry",
                timeout.as_secs_f64()
            ),
            TransportFailure::Refused => format!(
                "nothing accepts connections at {authority}; check the host and port and that \
                 the registry is running"
            ),
            TransportFailure::Dns { .. } => {
                format!("the host name of {authority} does not resolve; check its spelling")
            }
            TransportFailure::Other { .. } => {
                format!("could not talk to {authority}; check the network and retry")
            }
        }
    }
}

/// Classifies a request error by walking its source chain. rustls errors are recognized by type:
/// tokio-rustls wraps them in an `io::Error` (and hyper-rustls that in another), whose `source()`
/// skips the wrapped error, so every `io::Error` is opened explicitly. `https` says whether the request used TLS (an early EOF then
/// means the handshake was cut off).
pub fn classify_transport(error: &(dyn StdError + 'static), https: bool) -> TransportFailure {
    let mut timeout = false;
    let mut refused = false;
    let mut eof = false;
    let mut dns = false;
    let mut innermost = error.to_string();
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
        innermost = text;
        current = next;
    }
    let reason = clean(&innermost, 200);
    if timeout {
        TransportFailure::Timeout
    } else if refused {
        TransportFailure::Refused
    } else if dns {
        TransportFailure::Dns { reason }
    } else if eof && https {
        TransportFailure::Tls {
            reason: "the server closed the connection during the TLS handshake".to_owned(),
            not_tls: false,
        }
    } else {
        TransportFailure::Other { reason }
    }
}

fn rustls_failure(error: &rustls::Error) -> TransportFailure {
    use rustls::{CertificateError, InvalidMessage};
    let certificate = |reason: &str| TransportFailure::Tls {
        reason: reason.to_owned(),
        not_tls: false,
    };
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => {
                certificate("certificate signed by an unknown authority")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                certificate("certificate is not valid for this host name")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                certificate("certificate has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                certificate("certificate is not valid yet")
            }
            CertificateError::Revoked => certificate("certificate has been revoked"),
            CertificateError::BadEncoding => certificate("certificate is malformed"),
            _ => certificate(&clean(&error.to_string(), 200)),
        },
        rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType)
        | rustls::Error::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => {
            TransportFailure::Tls {
                reason: "the server answered without TLS (plain HTTP?)".to_owned(),
                not_tls: true,
            }
        }
        rustls::Error::AlertReceived(alert) => {
            certificate(&format!("the server aborted the handshake ({alert:?})"))
        }
        rustls::Error::PeerIncompatible(_) => {
            certificate("no TLS version or cipher suite in common with the server")
        }
        rustls::Error::NoCertificatesPresented => {
            certificate("the server presented no certificate")
        }
        other => certificate(&clean(&other.to_string(), 200)),
    }
}

/// Whether a registry or token-service message says the credentials have expired (ECR: "Your
/// authorization token has expired"; token servers: "token expired").
pub fn says_expired(text: &str) -> bool {
    text.to_ascii_lowercase().contains("expired")
}

/// `Retry-After` for a hint: `N s` for delta-seconds, the HTTP date as sent otherwise.
pub fn retry_after(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(format!("{seconds} s"));
    }
    Some(clean(value, 64))
}

/// A short summary of an error body: distribution's `{"errors":[{"code","message"}]}`, token
/// servers' `{"details":…}` or OAuth2's `{"error","error_description"}`; `None` for anything else
/// (HTML pages are not summarized).
pub fn error_summary(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    fn text(v: Option<&serde_json::Value>) -> Option<&str> {
        v.and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
    }
    let mut parts = Vec::new();
    if let Some(errors) = object.get("errors").and_then(serde_json::Value::as_array) {
        for e in errors.iter().take(3) {
            match (text(e.get("code")), text(e.get("message"))) {
                (Some(code), Some(message)) => parts.push(format!("{code}: {message}")),
                (Some(code), None) => parts.push(code.to_owned()),
                (None, Some(message)) => parts.push(message.to_owned()),
                (None, None) => {}
            }
        }
    }
    match (
        text(object.get("error")),
        text(object.get("error_description")),
    ) {
        (Some(code), Some(message)) => parts.push(format!("{code}: {message}")),
        (Some(code), None) => parts.push(code.to_owned()),
        (None, Some(message)) => parts.push(message.to_owned()),
        (None, None) => {}
    }
    for key in ["details", "message"] {
        if let Some(message) = text(object.get(key)) {
            parts.push(message.to_owned());
        }
    }
    (!parts.is_empty()).then(|| clean(&parts.join("; "), 300))
}

/// Server-supplied text made fit for one line of a report: control characters become spaces,
/// runs of whitespace collapse, and it is cut at `max` characters.
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
            "unreachable|name resolution failed: failed to lookup address information: Name or service not known",
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
            "unreachable|eof",
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
        let tls = TransportFailure::Tls {
            reason: "certificate signed by an unknown authority".into(),
            not_tls: false,
        };
        assert!(tls.hint("r.example:443", t).contains("--registry-ca-file"));
        let plain = TransportFailure::Tls {
            reason: String::new(),
            not_tls: true,
        };
        assert!(plain.hint("r:5000", t).contains("plain-HTTP"));
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
        assert_eq!(retry_after("30").as_deref(), Some("30 s"));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT").as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(retry_after(" "), None);
        assert_eq!(retry_after("a\r\nb").as_deref(), Some("a b"));
    }

    #[test]
    fn error_bodies() {
        let check = |body: &str, expected: Option<&str>| {
            assert_eq!(
                error_summary(body.as_bytes()).as_deref(),
                expected,
                "{body}"
            );
        };
        check(
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}"#,
            Some("MANIFEST_UNKNOWN: manifest unknown"),
        );
        check(
            r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}"#,
            Some("DENIED: Your authorization token has expired. Reauthenticate and try again."),
        );
        check(
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            Some("UNAUTHORIZED"),
        );
        check(
            r#"{"details":"incorrect username or password"}"#,
            Some("incorrect username or password"),
        );
        check(
            r#"{"error":"invalid_grant","error_description":"refresh token expired"}"#,
            Some("invalid_grant: refresh token expired"),
        );
        check("<html><body>Sign in</body></html>", None);
        check("{}", None);
        check("", None);
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("a\n\n b\tc\u{1b}[31m", 100), "a b c [31m");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("  lead", 10), "lead");
    }
}
