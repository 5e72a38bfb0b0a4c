//! Console sessions. Signing in with an access token stores a session: a random 256-bit id in
//! an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when configured), of which the store keeps
//! only the SHA-256; the id of the token (never its secret); an expiry no later than the
//! token's; and a CSRF secret. Every request re-reads the token, so a revoked or expired token
//! ends its sessions at once. Every state-changing form carries the CSRF secret (a synchronizer
//! token compared in constant time) and is refused when `Origin` or `Sec-Fetch-Site` say it came
//! from another site. The cookie only ever authorizes console routes: `POST /{method}` reads
//! bearer tokens alone.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use regcred_core::codes::ErrorCode;
use regcred_store::SessionRecord;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::form::Form;
use crate::auth::{principal_of_token, Principal};
use crate::clock::now_millis;
use crate::error::ApiError;
use crate::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "regcred_session";

/// A signed-in request: the session and the principal of its token as it stands now.
pub struct Session {
    pub principal: Principal,
    csrf: Vec<u8>,
}

impl Session {
    /// The CSRF token the session's forms carry.
    pub fn csrf_token(&self) -> String {
        B64URL.encode(&self.csrf)
    }

    /// Refuses a state-changing request without the session's CSRF token or from another site.
    pub fn check_form(&self, headers: &HeaderMap, form: &Form) -> Result<(), ApiError> {
        same_origin(headers)?;
        let sent = form.get("csrf").unwrap_or_default();
        let expected = self.csrf_token();
        if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) && !sent.is_empty() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "the form's CSRF token is missing or stale; reload the page and try again",
            ))
        }
    }
}

/// Refuses a request whose `Origin` is not this server, or that the browser says came from
/// another site. Requests without either header (non-browser clients) pass on to the CSRF
/// token check.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = || ApiError::forbidden("cross-site requests to the console are refused");
    let site = headers.get("sec-fetch-site").map(|s| s.to_str().ok());
    if site.is_some_and(|s| !matches!(s, Some("same-origin" | "none"))) {
        return Err(refused());
    }
    // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` with a form post of the
    // page's own origin; then the browser's own `Sec-Fetch-Site: same-origin` is what tells.
    let origin = headers.get(header::ORIGIN);
    if origin.is_some_and(|o| o == "null") {
        return match site {
            Some(Some("same-origin")) => Ok(()),
            _ => Err(refused()),
        };
    }
    if let Some(origin) = origin {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin = origin.to_str().ok();
        let matches = match (origin, host) {
            (Some(origin), Some(host)) => origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host)),
            _ => false,
        };
        if !matches {
            return Err(refused());
        }
    }
    Ok(())
}

fn hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

fn random_32() -> Result<[u8; 32], ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    Ok(bytes)
}

/// The session id the request's cookie carries, if any.
fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Opens a session for `principal`; answers the `Set-Cookie` value.
pub async fn open(state: &AppState, principal: &Principal) -> Result<String, ApiError> {
    let config = state.console();
    let now = now_millis();
    let ttl = i64::try_from(config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = principal
        .expires_at
        .map_or(now.saturating_add(ttl), |t| t.min(now.saturating_add(ttl)));
    let id = B64URL.encode(random_32()?);
    state.store().delete_expired_sessions(now).await?;
    state
        .store()
        .create_session(&SessionRecord {
            id_hash: hash(&id),
            token_id: principal.token_id.clone(),
            csrf: random_32()?.to_vec(),
            created_at: now,
            expires_at,
        })
        .await?;
    let max_age = (expires_at - now).max(0) / 1000;
    Ok(cookie(state, &id, max_age))
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = match state.console().secure_cookie {
        true => "; Secure",
        false => "",
    };
    format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(state: &AppState) -> String {
    cookie(state, "", 0)
}

/// Deletes the request's session, if it has one.
pub async fn close(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(id) = cookie_id(headers) {
        state.store().delete_session(&hash(&id)).await?;
    }
    Ok(())
}

/// Why a request is not signed in, as the answer to give.
pub struct SignedOut {
    json: bool,
    had_cookie: bool,
    clear: Option<String>,
}

impl IntoResponse for SignedOut {
    fn into_response(self) -> Response {
        if self.json {
            let mut r = ApiError::unauthenticated(
                ErrorCode::Unauthenticated,
                "not signed in to the console; sign in again",
            )
            .into_response();
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return r;
        }
        let to = match self.had_cookie {
            true => "/console/sign-in?ended=1",
            false => "/console/sign-in",
        };
        let mut r = Redirect::to(to).into_response();
        if let Some(clear) = self.clear {
            if let Ok(v) = clear.parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        r
    }
}

/// Whether the request is the console's script asking for JSON.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let json = wants_json(&parts.headers);
        let Some(id) = cookie_id(&parts.headers) else {
            return Err(SignedOut {
                json,
                had_cookie: false,
                clear: None,
            }
            .into_response());
        };
        let id_hash = hash(&id);
        let now = now_millis();
        let ended = || SignedOut {
            json,
            had_cookie: true,
            clear: Some(clear_cookie(state)),
        };
        let record = match state.store().get_session(&id_hash).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(ended().into_response()),
            Err(e) => return Err(ApiError::from(e).into_response()),
        };
        if record.expires_at <= now {
            let _ = state.store().delete_session(&id_hash).await;
            return Err(ended().into_response());
        }
        match principal_of_token(state.store(), &record.token_id, now).await {
            Ok(principal) => Ok(Session {
                principal,
                csrf: record.csrf,
            }),
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let _ = state.store().delete_session(&id_hash).await;
                Err(ended().into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A signed-in, state-changing request: the session and its form, the CSRF token and origin
/// already checked.
pub struct Posted {
    pub session: Session,
    pub form: Form,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = Request::from_parts(parts, body);
        let form = Form::from_request(req, state).await?;
        session
            .check_form(&headers, &form)
            .map_err(|e| super::view::failure(&headers, e))?;
        Ok(Posted { session, form })
    }
}
