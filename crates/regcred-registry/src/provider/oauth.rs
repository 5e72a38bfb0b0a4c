//! The OAuth2-style token-endpoint POST the Google and Azure providers share: a form POST with
//! a timeout and a bounded answer, and the classification of what comes back — 400/401/403 is a
//! refusal, 408/429/5xx (or an OAuth `temporarily_unavailable` / `server_error` code) is
//! transient, anything else malformed. Messages carry the endpoint regcred called, the HTTP
//! status and the answer's error code if it passes its grammar; never the answer's text, so
//! nothing an endpoint echoes (the secret it was sent, in any encoding) reaches a message.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value};

use super::MintError;
use crate::outcome::{classify_transport, CodeGrammar, ErrorCode};

/// How long one token-endpoint request may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Token answers are small; more than this is not a token answer.
const ANSWER_LIMIT: usize = 64 * 1024;

/// One `application/x-www-form-urlencoded` POST to a token endpoint.
pub(super) struct FormPost<'a> {
    pub provider: &'static str,
    /// Names the endpoint in messages, e.g. "the token endpoint".
    pub what: &'static str,
    pub url: Url,
    pub form: &'a [(&'static str, &'a str)],
}

/// Sends `post` and answers the 2xx JSON object, or the classified failure: 400/401/403 is
/// [`MintError::Rejected`] (unless the OAuth `error` is `temporarily_unavailable` or
/// `server_error`), 408/429/5xx and transport failures [`MintError::Unavailable`], anything else
/// [`MintError::Invalid`].
pub(super) async fn post_form(
    http: &reqwest::Client,
    post: &FormPost<'_>,
) -> Result<Map<String, Value>, MintError> {
    let endpoint = display_url(&post.url);
    let https = post.url.scheme() == "https";
    let unavailable = |message: String| MintError::Unavailable {
        provider: post.provider,
        message,
    };
    let response = http
        .post(post.url.clone())
        .header(ACCEPT, "application/json")
        .form(post.form)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            unavailable(format!(
                "{} ({endpoint}) could not be reached ({})",
                post.what,
                classify_transport(&e, https).describe()
            ))
        })?;
    let status = response.status();
    let body = crate::check::read_limited(response, ANSWER_LIMIT)
        .await
        .map_err(|e| {
            unavailable(format!(
                "{} ({endpoint}) answered {status} but the body could not be read ({})",
                post.what,
                classify_transport(&e, https).describe()
            ))
        })?;
    let json = serde_json::from_slice::<Value>(&body).ok();

    if status.is_success() {
        return match json {
            Some(Value::Object(object)) => Ok(object),
            // The body may hold a token: describe it, never quote it.
            _ => Err(MintError::Invalid {
                provider: post.provider,
                message: format!(
                    "{} ({endpoint}) answered {status} with a body that is not a JSON object",
                    post.what
                ),
            }),
        };
    }

    let code = json.as_ref().and_then(error_code);
    let message = match &code {
        Some(code) => format!("{} ({endpoint}) answered {status} ({code})", post.what),
        None => format!("{} ({endpoint}) answered {status}", post.what),
    };
    let transient_code = code
        .as_ref()
        .is_some_and(|c| matches!(c.as_str(), "temporarily_unavailable" | "server_error"));
    Err(match status {
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => unavailable(message),
        s if s.is_server_error() || transient_code => unavailable(message),
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            MintError::Rejected {
                provider: post.provider,
                message,
            }
        }
        _ => MintError::Invalid {
            provider: post.provider,
            message,
        },
    })
}

/// The error code of an error answer, if it passes its grammar: OAuth2's `error` (RFC 6749
/// §5.2, `invalid_grant`) or the first distribution-style `errors[].code` (`UNAUTHORIZED`).
fn error_code(json: &Value) -> Option<ErrorCode> {
    if let Some(code) = json.get("error").and_then(Value::as_str) {
        return ErrorCode::parse(code, CodeGrammar::OAuth);
    }
    json.get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .and_then(|first| first.get("code"))
        .and_then(Value::as_str)
        .and_then(|code| ErrorCode::parse(code, CodeGrammar::Oci))
}

/// `scheme://host[:port]/path`: no user info, query or fragment in messages.
fn display_url(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// A non-empty string field.
pub(super) fn string_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A `token_type`, when present, must be `Bearer` (any case): another type would be used wrongly.
pub(super) fn check_bearer(
    answer: &Map<String, Value>,
    provider: &'static str,
    what: &str,
) -> Result<(), MintError> {
    match answer.get("token_type") {
        None => Ok(()),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => Ok(()),
        Some(_) => Err(MintError::Invalid {
            provider,
            message: format!("{what} answered a token_type other than Bearer"),
        }),
    }
}

/// Whole seconds from a JSON number or numeric string (some endpoints quote `expires_in`).
pub(super) fn seconds(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_codes_that_pass_their_grammar_are_kept() {
        for (json, expected) in [
            (
                json!({"error": "invalid_grant", "error_description": "bad s3cr3t-canary"}),
                Some("invalid_grant"),
            ),
            (json!({"error": "s3cr3t-canary"}), None),
            (json!({"error": "Invalid Grant"}), None),
            (
                json!({"errors": [{"code": "UNAUTHORIZED", "message": "no s3cr3t-canary"}]}),
                Some("UNAUTHORIZED"),
            ),
            (json!({"errors": [{"code": "s3cr3t-canary"}]}), None),
            (json!({"other": 1}), None),
        ] {
            assert_eq!(
                error_code(&json).as_ref().map(ErrorCode::as_str),
                expected,
                "{json}"
            );
        }
    }

    #[test]
    fn seconds_from_numbers_and_strings() {
        for (value, expected) in [
            (json!(3599), Some(3599)),
            (json!(3599.9), Some(3599)),
            (json!("3600"), Some(3600)),
            (json!("soon"), None),
            (json!(null), None),
        ] {
            assert_eq!(seconds(&value), expected, "{value}");
        }
    }

    #[test]
    fn display_url_drops_user_info_and_query() {
        let url = Url::parse("https://user:pw@example.test:8443/token?x=1#f").unwrap();
        assert_eq!(display_url(&url), "https://example.test:8443/token");
    }
}
