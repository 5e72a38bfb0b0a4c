//! The access log and request ids.
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is a short token of letters,
//! digits, `.`, `_` and `-` (so an id a proxy assigned follows the request through), otherwise a
//! new random one. The id is echoed in the `X-Request-Id` response header and in every error
//! envelope (`error.requestId`), and the request ends with one log line at target
//! `regcred::access`: method, path (never the query), status, latency, the peer, the id and the
//! principal's token id once a token authenticated. Bodies, headers and queries are never logged,
//! so no secret can reach the log through it. `REGCRED_LOG=info,regcred::access=off` silences it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The request header a caller may set, and the response header that echoes the id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest caller-supplied id that is kept.
const MAX_ID_LEN: usize = 64;

/// The peer of a connection, put on each of its requests by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// What the access log learns while a request runs.
struct Current {
    id: String,
    principal: Mutex<Option<String>>,
}

tokio::task_local! {
    static CURRENT: Arc<Current>;
}

/// The id of the request this task serves, if any.
pub fn request_id() -> Option<String> {
    CURRENT.try_with(|c| c.id.clone()).ok()
}

/// Records the token id that authenticated the request this task serves, for its log line.
pub fn note_principal(token_id: &str) {
    let _ = CURRENT.try_with(|c| {
        *c.principal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token_id.to_owned());
    });
}

/// Whether `id`, sent by a caller, is kept as the request's id.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new id: 16 hex digits of randomness.
fn new_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Ids correlate log lines; they guard nothing, so the time serves when randomness fails.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64).to_be_bytes();
    }
    hex::encode(bytes)
}

/// The middleware: assigns the id, runs the request with it, echoes it and logs the line.
pub async fn layer(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(new_id, str::to_owned);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let peer = request.extensions().get::<Peer>().map(|p| p.0);
    let current = Arc::new(Current {
        id,
        principal: Mutex::new(None),
    });
    let mut response = CURRENT.scope(current.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&current.id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let principal = current
        .principal
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    tracing::info!(
        target: "regcred::access",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        peer = peer.map(tracing::field::display),
        principal = principal.as_deref(),
        request_id = %current.id,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_are_kept_only_when_short_and_plain() {
        assert!(acceptable("abc-123_x.y"));
        assert!(acceptable(&"a".repeat(MAX_ID_LEN)));
        for bad in ["", "a b", "a\nb", "ünï", "x;y", "a/b"] {
            assert!(!acceptable(bad), "{bad:?}");
        }
        assert!(!acceptable(&"a".repeat(MAX_ID_LEN + 1)));
    }

    #[test]
    fn new_ids_differ() {
        let a = new_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, new_id());
    }

    #[tokio::test]
    async fn the_id_and_principal_are_seen_only_inside_the_request() {
        assert_eq!(request_id(), None);
        note_principal("ignored");
        let current = Arc::new(Current {
            id: "r1".into(),
            principal: Mutex::new(None),
        });
        CURRENT
            .scope(current.clone(), async {
                assert_eq!(request_id().as_deref(), Some("r1"));
                note_principal("tok1");
            })
            .await;
        assert_eq!(current.principal.lock().unwrap().as_deref(), Some("tok1"));
    }
}
