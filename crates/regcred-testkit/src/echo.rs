//! The ways a careless registry, token service or provider echoes a credential it was sent back
//! in its error texts, for tests that prove none of them reaches regcred's reports, errors,
//! answers or database: the value as is, upper- and lower-cased, a piece of it, percent-encoded,
//! JSON-escaped, base64 of `user:secret` and of the secret with and without padding, base64url,
//! and inside an HTML page.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// The echoed forms of `secret` sent with `user`. Each is long enough (8 characters or more)
/// that finding it in a report cannot be a coincidence; give a secret of at least 12 characters.
pub fn echo_forms(user: &str, secret: &str) -> Vec<String> {
    let pair = format!("{user}:{secret}");
    let chars: Vec<char> = secret.chars().collect();
    let piece: String = chars[2.min(chars.len())..chars.len().saturating_sub(2)]
        .iter()
        .collect();
    let mut forms = vec![
        secret.to_owned(),
        secret.to_uppercase(),
        secret.to_lowercase(),
        piece,
        percent_encode(secret),
        percent_encode(&pair),
        serde_json::to_string(secret).unwrap_or_default(),
        STANDARD.encode(&pair),
        STANDARD_NO_PAD.encode(&pair),
        URL_SAFE_NO_PAD.encode(&pair),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    forms.retain(|f| f.chars().count() >= 8);
    forms.sort();
    forms.dedup();
    forms
}

/// One text that echoes every form of [`echo_forms`], and the secret inside HTML, as a peer
/// might put it in an error message.
pub fn echo_text(user: &str, secret: &str) -> String {
    format!(
        "invalid credentials {} <html><body><p>password was {secret}</p></body></html>",
        echo_forms(user, secret).join(" / ")
    )
}

/// The forms of [`echo_forms`] found in `text`; empty when none leaked.
pub fn leaked_forms(text: &str, user: &str, secret: &str) -> Vec<String> {
    echo_forms(user, secret)
        .into_iter()
        .filter(|form| text.contains(form.as_str()))
        .collect()
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
