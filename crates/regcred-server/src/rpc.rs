//! The RPC dispatcher: one route `POST /{method}` that reads the body under a size limit,
//! authenticates, decodes the request strictly (unknown fields are errors, with the path of the
//! offending field) and calls the method. Every answer, good or bad, is the JSON envelope.

use regcred_core::codes::ErrorCode;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use regcred_core::api::Envelope;
use tracing::Instrument;

use crate::auth::authenticate;
use crate::clock::now_millis;
use crate::error::ApiError;
use crate::methods::{Ctx, MethodInfo, METHODS};
use crate::AppState;

/// Largest request body accepted. Pull-secret material is small; a GCP key is ~2.3 KiB.
pub const MAX_BODY: usize = 64 * 1024;

fn channel(headers: &HeaderMap) -> Result<&'static str, ApiError> {
    match headers.get("x-regcred-channel").map(|v| v.to_str()) {
        None => Ok("api"),
        Some(Ok("api")) => Ok("api"),
        Some(Ok("cli")) => Ok("cli"),
        Some(Ok("console")) => Ok("console"),
        Some(Ok("helper")) => Ok("helper"),
        Some(_) => Err(ApiError::validation(
            ErrorCode::InvalidChannel,
            "X-Regcred-Channel must be one of api, cli, console, helper",
        )),
    }
}

/// The body is read as JSON when it says so, says nothing, or says
/// `application/x-www-form-urlencoded` — what `curl -d '{…}'` sends, and what the deploy
/// platform's documented calls send. Accepting the form type opens no cross-site request
/// forgery: every RPC call is authorized by an `Authorization: Bearer` header, which a page on
/// another site cannot attach without a CORS preflight this server never grants. Should anything
/// other than a bearer header ever authorize RPC calls (a console cookie), those calls must
/// require `application/json`, which no plain HTML form can send.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media_type = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if ["application/json", "application/x-www-form-urlencoded"]
        .iter()
        .any(|t| media_type.eq_ignore_ascii_case(t))
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        "send the request body as Content-Type: application/json",
    ))
}

/// `POST /{method}`.
pub async fn dispatch(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(info) = METHODS.iter().find(|m| m.name == method) else {
        return unknown_method().into_response();
    };
    let span = tracing::info_span!("rpc", method = info.name);
    let outcome = answer(state.clone(), info, &headers, body)
        .instrument(span)
        .await;
    let (code, response) = match outcome {
        Ok(result) => (
            "ok",
            Json(Envelope {
                ok: true,
                result: Some(result),
                error: None,
            })
            .into_response(),
        ),
        Err(e) => {
            tracing::info!(
                method = info.name,
                code = e.code.as_str(),
                status = e.status.as_u16(),
                "refused"
            );
            (e.code.as_str(), e.into_response())
        }
    };
    state
        .metrics()
        .observe(info.name, code, started.elapsed().as_secs_f64());
    response
}

async fn answer(
    state: AppState,
    method: &'static MethodInfo,
    headers: &HeaderMap,
    body: Body,
) -> Result<crate::methods::Answer, ApiError> {
    check_content_type(headers)?;
    let channel = channel(headers)?;
    let body = read_body(body, state.body_timeout()).await?;
    let now = now_millis();
    let principal = authenticate(state.store(), headers, now).await?;
    let ctx = Ctx {
        state,
        principal,
        channel,
        now,
        method: method.name,
    };
    (method.handler)(ctx, body).await
}

/// The request body, up to [`MAX_BODY`] bytes and within `deadline`. A body that stalls is a
/// timeout (408), one that is too large is `body_too_large` (413), one the client broke off is
/// `invalid_body` (400): each its own code in the metrics.
async fn read_body(body: Body, deadline: std::time::Duration) -> Result<Bytes, ApiError> {
    let read = axum::body::to_bytes(body, MAX_BODY);
    match tokio::time::timeout(deadline, read).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(<dyn std::error::Error + 'static>::is::<http_body_util::LengthLimitError>);
            Err(match too_large {
                true => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::BodyTooLarge,
                    format!("request body is larger than {MAX_BODY} bytes"),
                ),
                false => ApiError::validation(
                    ErrorCode::InvalidBody,
                    "the request body could not be read to its end",
                ),
            })
        }
    }
}

fn unknown_method() -> ApiError {
    let known = METHODS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownMethod,
        format!("no such method; methods are {known}"),
    )
}

/// A known path with the wrong HTTP verb.
pub async fn wrong_verb(Path(method): Path<String>) -> Response {
    if !METHODS.iter().any(|m| m.name == method) {
        return unknown_method().into_response();
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("call {method} with POST and a JSON body"),
    )
    .into_response()
}

/// Any other path.
pub async fn no_route() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownMethod,
        "no such endpoint; the API is POST /<resource>.<verb>, see /openapi.json",
    )
    .into_response()
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Response {
    Json(serde_json::json!({"ok": true})).into_response()
}

/// `GET /readyz`: the store answers; says whether this server leads the background work.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().get_meta("bootstrap.admin_token").await {
        Ok(_) => {
            let leadership = state.leadership();
            Json(serde_json::json!({
                "ok": true,
                "role": leadership.role().as_str(),
                "server": leadership.holder(),
            }))
            .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "store unavailable",
            )
            .into_response()
        }
    }
}
