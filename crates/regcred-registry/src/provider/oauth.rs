//! The OAuth2-style token-endpoint POST the Google and Azure providers share: a form POST with
//! a timeout and a bounded answer, and the classification of what comes back — 400/401/403 is a
//! refusal, 408/429/5xx (or an OAuth `temporarily_unavailable` / `server_error` code) is
//! transient, anything else malformed. Secrets sent are redacted from every quoted answer.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value};

use super::MintError;

/// How long one token-endpoint request may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Token answers are small; more than this is not a token answer.
const ANSWER_LIMIT: usize = 64 * 1024;

/// How much of a provider's own error text a [`MintError`] quotes.
const QUOTE_LIMIT: usize = 300;

/// One `application/x-www-form-urlencoded` POST to a token endpoint.
pub(super) struct FormPost<'a> {
    pub provider: &'static str,
    /// Names the endpoint in messages, e.g. "the token endpoint".
    pub what: &'static str,
    pub url: Url,
    pub form: &'a [(&'static str, &'a str)],
    /// Values that must not reach an error message even when the peer echoes them.
    pub secrets: &'a [&'a str],
}

/// Sends `post` and answers the 2xx JSON object, or the classified failure: 400/401/403 is
/// [`MintError::Rejected`] (unless the OAuth `error` is `temporarily_unavailable` or
/// `server_error`), 408/429/5xx and transport failures [`MintError::Unavailable`], anything else
/// [`MintError::Invalid`]. Messages quote the peer's `error` and `error_description` (or
/// distribution-style `errors[].message`) with `post.secrets` redacted, never a 2xx body.
pub(super) async fn post_form(
    http: &reqwest::Client,
    post: &FormPost<'_>,
) -> Result<Map<String, Value>, MintError> {
    let endpoint = display_url(&post.url);
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
                "{} ({endpoint}) could not be reached: {}",
                post.what,
                transport_error(e)
            ))
        })?;
    let status = response.status();
    let body = crate::check::read_limited(response, ANSWER_LIMIT)
        .await
        .map_err(|e| {
            unavailable(format!(
                "{} ({endpoint}) answered {status} but the body could not be read: {}",
                post.what,
                transport_error(e)
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

    let code = json.as_ref().and_then(oauth_error_code);
    let detail = json
        .as_ref()
        .map(|json| quote_error(json, post.secrets))
        .unwrap_or_default();
    let message = format!("{} ({endpoint}) answered {status}{detail}", post.what);
    let transient_code = matches!(
        code.as_deref(),
        Some("temporarily_unavailable" | "server_error")
    );
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

/// The OAuth2 `error` code of an error answer.
fn oauth_error_code(json: &Value) -> Option<String> {
    json.get("error").and_then(Value::as_str).map(str::to_owned)
}

/// `": code: description"` from an OAuth2 error (RFC 6749 §5.2) or `": CODE: message"` from a
/// distribution-style `{"errors":[…]}` answer, secrets redacted, control characters dropped and
/// cut to [`QUOTE_LIMIT`]; empty when the answer has neither.
fn quote_error(json: &Value, secrets: &[&str]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(code) = json.get("error").and_then(Value::as_str) {
        parts.push(code);
        if let Some(description) = json.get("error_description").and_then(Value::as_str) {
            parts.push(description);
        }
    } else if let Some(first) = json
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
    {
        if let Some(code) = first.get("code").and_then(Value::as_str) {
            parts.push(code);
        }
        if let Some(message) = first.get("message").and_then(Value::as_str) {
            parts.push(message);
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    let mut text = parts.join(": ");
    // Redact before cutting, so a cut cannot leave a secret's prefix behind.
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!(": {}…", &text[..cut]),
        None => format!(": {text}"),
    }
}

/// `scheme://host[:port]/path`: no user info, query or fragment in messages.
fn display_url(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// A transport failure and its causes, without the URL (the caller names the endpoint).
fn transport_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
    fn quoted_errors_are_redacted_then_cut() {
        let secret = "s3cr3t-canary";
        let json =
            json!({"error": "invalid_grant", "error_description": format!("bad {secret}\nline")});
        assert_eq!(
            quote_error(&json, &[secret]),
            ": invalid_grant: bad <redacted> line"
        );
        let long = json!({"error": "x", "error_description": format!("{}{secret}", "a".repeat(QUOTE_LIMIT - 5))});
        let quoted = quote_error(&long, &[secret]);
        assert!(!quoted.contains("s3cr"), "{quoted}");
        assert!(quoted.ends_with('…'), "{quoted}");
        let distribution = json!({"errors": [{"code": "UNAUTHORIZED", "message": "no"}]});
        assert_eq!(quote_error(&distribution, &[]), ": UNAUTHORIZED: no");
        assert_eq!(quote_error(&json!({"other": 1}), &[]), "");
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
