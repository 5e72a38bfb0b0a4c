//! The token endpoint of Docker's token authentication, without IO: the URL of the GET request
//! (`realm?service=…&scope=…`), the OAuth2 POST form, scope strings, and the parsing of answers
//! into a token with an expiry.
//!
//! Expiry follows distribution's token specification: `expires_in` defaults to 60 seconds and is
//! never taken as less; `issued_at` (RFC 3339), when present, is the start of the lifetime —
//! but never later than when the answer arrived, so a token server whose clock runs ahead cannot
//! make a token look valid for longer than it was granted. Time comes from a [`Clock`], so tests
//! move it instead of sleeping.

use std::fmt;

use regcred_core::secret::Secret;
use reqwest::Url;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::check::Credentials;

/// Default and minimum token lifetime (distribution: "expires_in … if omitted, 60 seconds").
pub const MIN_EXPIRES_IN_SECS: i64 = 60;

/// A cached token is reused only while it has at least this much life left, so a request does
/// not set out with a token that expires on the way.
pub const REUSE_MARGIN: Duration = Duration::seconds(5);

/// `client_id` sent with the OAuth2 form (distribution requires one, any value).
pub const OAUTH_CLIENT_ID: &str = "regcred";

/// Username that marks the password as an identity (refresh) token, as in Docker's config.json.
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// Wall-clock time, injectable so that token expiry is tested without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The scope that lets a client pull `repository`: `repository:<name>:pull`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// Why a realm cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealmError {
    #[error("the token realm is not an absolute URL")]
    NotAUrl,
    #[error(
        "the token realm uses the scheme {scheme:?}; only https (and http for listed hosts) work"
    )]
    Scheme { scheme: String },
}

/// The realm as a URL, checked to be http(s) with a host. Whether plain HTTP is allowed for it is
/// the client's decision.
pub fn realm_url(realm: &str) -> Result<Url, RealmError> {
    let url = Url::parse(realm).map_err(|_| RealmError::NotAUrl)?;
    if url.host_str().is_none() {
        return Err(RealmError::NotAUrl);
    }
    match url.scheme() {
        "https" | "http" => Ok(url),
        other => Err(RealmError::Scheme {
            scheme: other.to_owned(),
        }),
    }
}

/// `GET realm?service=…&scope=…`: the realm's own query is kept, `service` and `scope` are added
/// when known.
///
/// ```
/// use regcred_registry::token::token_url;
///
/// let url = token_url("https://auth.docker.io/token", Some("registry.docker.io"), Some("repository:library/nginx:pull")).unwrap();
/// assert_eq!(url.as_str(), "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fnginx%3Apull");
/// ```
pub fn token_url(
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
) -> Result<Url, RealmError> {
    let mut url = realm_url(realm)?;
    if service.is_some() || scope.is_some() {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
    }
    Ok(url)
}

/// The `application/x-www-form-urlencoded` body of the OAuth2 token request. It carries the
/// password or identity token, so its `Debug` shows only the field names.
pub struct OAuthForm(Vec<(&'static str, String)>);

impl OAuthForm {
    /// `grant_type=refresh_token` when the username is `<token>` (the password is an identity
    /// token), else `grant_type=password` with username and password.
    pub fn new(service: Option<&str>, scope: Option<&str>, credentials: &Credentials) -> OAuthForm {
        let mut fields: Vec<(&'static str, String)> = Vec::with_capacity(6);
        if credentials.username == IDENTITY_TOKEN_USERNAME {
            fields.push(("grant_type", "refresh_token".to_owned()));
            fields.push(("refresh_token", credentials.password.expose().to_owned()));
        } else {
            fields.push(("grant_type", "password".to_owned()));
            fields.push(("username", credentials.username.clone()));
            fields.push(("password", credentials.password.expose().to_owned()));
        }
        if let Some(service) = service {
            fields.push(("service", service.to_owned()));
        }
        if let Some(scope) = scope {
            fields.push(("scope", scope.to_owned()));
        }
        fields.push(("client_id", OAUTH_CLIENT_ID.to_owned()));
        OAuthForm(fields)
    }

    pub fn fields(&self) -> &[(&'static str, String)] {
        &self.0
    }

    pub fn field_names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
}

impl fmt::Debug for OAuthForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OAuthForm")
            .field(&self.field_names())
            .finish()
    }
}

/// A token as issued, with the instant after which it must not be used.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: Secret,
    pub expires_at: OffsetDateTime,
    /// When the server sends one (OAuth2 answers may); a check has no use for it.
    pub refresh_token: Option<Secret>,
}

impl IssuedToken {
    /// Whether the token can still be sent at `now` (with [`REUSE_MARGIN`] to spare).
    pub fn usable_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at - now > REUSE_MARGIN
    }
}

/// Why a token answer is unusable. Messages never contain the body (it may hold a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenResponseError {
    #[error("the token endpoint answered something that is not a JSON object")]
    NotJson,
    #[error("the token endpoint answered JSON without a token or access_token")]
    NoToken,
}

/// Parses a token answer received at `received_at`: `token`, else `access_token`; `expires_in`
/// (seconds, default and minimum 60); `issued_at` (RFC 3339, optional).
///
/// ```
/// use regcred_registry::token::parse_response;
/// use time::macros::datetime;
///
/// let at = datetime!(2024-05-01 12:00 UTC);
/// let t = parse_response(br#"{"access_token":"abc","expires_in":300}"#, at).unwrap();
/// assert_eq!(t.token.expose(), "abc");
/// assert_eq!(t.expires_at, datetime!(2024-05-01 12:05 UTC));
/// ```
pub fn parse_response(
    body: &[u8],
    received_at: OffsetDateTime,
) -> Result<IssuedToken, TokenResponseError> {
    // Through `Value` rather than a typed struct: serde's type errors quote the offending value,
    // and that value could be the token.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| TokenResponseError::NotJson)?;
    let object = value.as_object().ok_or(TokenResponseError::NotJson)?;
    let non_empty = |key: &str| {
        object
            .get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let token = non_empty("token")
        .or_else(|| non_empty("access_token"))
        .ok_or(TokenResponseError::NoToken)?;
    let expires_in = object
        .get("expires_in")
        .and_then(|v| {
            v.as_i64()
                // Some servers send a float; a fraction of a second does not matter.
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .unwrap_or(MIN_EXPIRES_IN_SECS)
        .clamp(MIN_EXPIRES_IN_SECS, i64::from(u32::MAX));
    let lifetime = Duration::seconds(expires_in);
    let from_answer = received_at + lifetime;
    let issued_at = non_empty("issued_at").and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
    let expires_at = match issued_at {
        Some(issued) => (issued + lifetime).min(from_answer),
        None => from_answer,
    };
    Ok(IssuedToken {
        token: Secret::new(token),
        expires_at,
        refresh_token: non_empty("refresh_token").map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);

    /// `expected` is `token|seconds until expiry from AT`, or `err:<Variant>`.
    fn check(body: &str, expected: &str) {
        let actual = match parse_response(body.as_bytes(), AT) {
            Ok(t) => format!(
                "{}|{}",
                t.token.expose(),
                (t.expires_at - AT).whole_seconds()
            ),
            Err(e) => format!("err:{e:?}"),
        };
        assert_eq!(actual, expected, "body {body}");
    }

    #[test]
    fn token_answers() {
        for (body, expected) in [
            (r#"{"token":"t","expires_in":300}"#, "t|300"),
            (r#"{"access_token":"a","expires_in":300}"#, "a|300"),
            (r#"{"token":"t","access_token":"a"}"#, "t|60"),
            (r#"{"token":"","access_token":"a"}"#, "a|60"),
            (r#"{"token":"t"}"#, "t|60"),
            (r#"{"token":"t","expires_in":10}"#, "t|60"),
            (r#"{"token":"t","expires_in":0}"#, "t|60"),
            (r#"{"token":"t","expires_in":-5}"#, "t|60"),
            (r#"{"token":"t","expires_in":120.7}"#, "t|120"),
            (r#"{"token":"t","expires_in":"90"}"#, "t|90"),
            (r#"{"token":"t","expires_in":null}"#, "t|60"),
            // issued_at starts the lifetime ...
            (
                r#"{"token":"t","expires_in":300,"issued_at":"2024-05-01T11:58:00Z"}"#,
                "t|180",
            ),
            (
                r#"{"token":"t","expires_in":300,"issued_at":"2024-05-01T13:57:00+02:00"}"#,
                "t|120",
            ),
            (
                r#"{"token":"t","issued_at":"2024-05-01T11:58:30.123456789Z"}"#,
                "t|-29",
            ),
            // ... but never later than the answer arrived.
            (
                r#"{"token":"t","expires_in":300,"issued_at":"2024-05-01T12:10:00Z"}"#,
                "t|300",
            ),
            // An unreadable issued_at is ignored rather than failing the check.
            (
                r#"{"token":"t","expires_in":300,"issued_at":"yesterday"}"#,
                "t|300",
            ),
            (r#"{"token":"t","expires_in":300,"issued_at":""}"#, "t|300"),
            ("{}", "err:NoToken"),
            (r#"{"token":5}"#, "err:NoToken"),
            (
                r#"{"details":"incorrect username or password"}"#,
                "err:NoToken",
            ),
            ("<html>login</html>", "err:NotJson"),
            ("[]", "err:NotJson"),
            ("", "err:NotJson"),
        ] {
            check(body, expected);
        }
    }

    #[test]
    fn refresh_token_is_kept() {
        let t = parse_response(br#"{"access_token":"a","refresh_token":"r"}"#, AT).unwrap();
        assert_eq!(t.refresh_token.as_ref().map(Secret::expose), Some("r"));
    }

    #[test]
    fn usable_until_the_margin() {
        let t = parse_response(br#"{"token":"t","expires_in":60}"#, AT).unwrap();
        assert!(t.usable_at(AT));
        assert!(t.usable_at(AT + Duration::seconds(54)));
        assert!(!t.usable_at(AT + Duration::seconds(55)));
        assert!(!t.usable_at(AT + Duration::seconds(61)));
    }

    #[test]
    fn errors_never_quote_the_body() {
        for body in [
            r#"{"token":["canary-token-value"]}"#,
            r#"{"access_token":{"x":"canary-token-value"}}"#,
            "canary-token-value",
        ] {
            let e = parse_response(body.as_bytes(), AT).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("canary"), "{body}");
        }
    }

    #[test]
    fn urls() {
        let check_url = |realm: &str, service, scope, expected: &str| {
            let actual = match token_url(realm, service, scope) {
                Ok(u) => u.to_string(),
                Err(e) => format!("err:{e:?}"),
            };
            assert_eq!(actual, expected, "realm {realm}");
        };
        check_url("https://auth.docker.io/token", Some("registry.docker.io"), Some("repository:library/nginx:pull"),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fnginx%3Apull");
        check_url("https://ghcr.io/token", None, None, "https://ghcr.io/token");
        check_url(
            "http://127.0.0.1:5001/auth?x=1",
            Some("my registry"),
            None,
            "http://127.0.0.1:5001/auth?x=1&service=my+registry",
        );
        check_url(
            "https://r/t",
            None,
            Some("repository:a/b:pull,push"),
            "https://r/t?scope=repository%3Aa%2Fb%3Apull%2Cpush",
        );
        check_url("/token", None, None, "err:NotAUrl");
        check_url("auth.example/token", None, None, "err:NotAUrl");
        check_url(
            "ftp://auth.example/token",
            None,
            None,
            "err:Scheme { scheme: \"ftp\" }",
        );
        assert_eq!(pull_scope("library/nginx"), "repository:library/nginx:pull");
    }

    #[test]
    fn oauth_forms() {
        let password = Credentials {
            username: "alice".into(),
            password: Secret::new("canary-pw"),
        };
        let form = OAuthForm::new(Some("reg"), Some("repository:a:pull"), &password);
        assert_eq!(
            form.fields(),
            [
                ("grant_type", "password".to_owned()),
                ("username", "alice".to_owned()),
                ("password", "canary-pw".to_owned()),
                ("service", "reg".to_owned()),
                ("scope", "repository:a:pull".to_owned()),
                ("client_id", "regcred".to_owned()),
            ]
        );
        assert!(!format!("{form:?}").contains("canary"));
        let identity = Credentials {
            username: "<token>".into(),
            password: Secret::new("canary-refresh"),
        };
        let form = OAuthForm::new(Some("reg"), None, &identity);
        assert_eq!(
            form.field_names(),
            ["grant_type", "refresh_token", "service", "client_id"]
        );
        assert_eq!(form.fields()[0].1, "refresh_token");
        assert!(!format!("{form:?}").contains("canary"));
    }
}
