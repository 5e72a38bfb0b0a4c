//! The RPC dispatcher: one route `POST /{method}` that reads the body under a size limit,
//! authenticates, decodes the request strictly (unknown fields are errors, with the path of the
//! offending field) and calls the method. Every answer, good or bad, is the JSON envelope.

use regcred_core::codes::ErrorCode;
use std::future::Future;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use regcred_core::api::Envelope;
use regcred_store::AuditRecord;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::auth::{authenticate, Permission, Principal};
use crate::clock::now_millis;
use crate::error::ApiError;
use crate::methods::{MethodInfo, METHODS};
use crate::AppState;

/// Largest request body accepted. Pull-secret material is small; a GCP key is ~2.3 KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// What a method handler gets besides its request.
pub struct Ctx {
    pub state: AppState,
    pub principal: Principal,
    pub channel: &'static str,
    pub now: i64,
    pub method: &'static str,
}

impl Ctx {
    /// An audit event for this request.
    pub fn audit(
        &self,
        project: Option<&str>,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            id: 0,
            time: self.now,
            actor: self.principal.actor(),
            channel: self.channel.to_owned(),
            action: self.method.to_owned(),
            project: project.map(str::to_owned),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
            detail: detail.to_string(),
        }
    }

    /// Checks a permission for a mutation or release; a refusal is audited as `denied`.
    pub async fn require_audited(
        &self,
        permission: Permission,
        project: Option<&str>,
        target: &str,
    ) -> Result<(), ApiError> {
        match self.principal.require(permission, project) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.deny(project, target, refusal).await),
        }
    }

    /// Audits `refusal` as `denied` and gives it back to be returned.
    pub async fn deny(&self, project: Option<&str>, target: &str, refusal: ApiError) -> ApiError {
        let event = self.audit(
            project,
            target,
            "denied",
            serde_json::json!({ "reason": refusal.message }),
        );
        match self.state.store().append_audit(&event).await {
            Ok(()) => refusal,
            Err(e) => e.into(),
        }
    }
}

/// Decodes a request body strictly. An empty body is an empty object.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // One walk over the text refuses duplicate keys at every depth (parts decoded later from a
    // JSON value, such as a location's spec, would otherwise keep the last one silently),
    // trailing data, and bodies or specs that are not objects.
    let mut de = serde_json::Deserializer::from_slice(body);
    let shape: Shape =
        serde_path_to_error::deserialize(&mut de).map_err(|e| decode_error(e, ""))?;
    de.end().map_err(|e| {
        ApiError::validation(
            ErrorCode::InvalidJson,
            format!(
                "request body is not valid JSON: {}",
                redact_values(&e.to_string())
            ),
        )
    })?;
    require_objects(&shape)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| decode_error(e, ""))
}

/// What a JSON value is, as far as the checks of [`decode`] ask: an object (with what its
/// `spec` is), null, or anything else. Reading it refuses an object that names a key twice
/// (serde's "duplicate field" error, with the path of the object).
enum Shape {
    Object { spec: Option<Box<Shape>> },
    Null,
    Other,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<Shape>()?.is_some() {}
        Ok(Shape::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut spec = None;
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown: String = key.chars().take(64).collect();
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{shown}`"
                )));
            }
            let value = map.next_value::<Shape>()?;
            if key == "spec" {
                spec = Some(Box::new(value));
            }
        }
        Ok(Shape::Object { spec })
    }
}

/// serde lets a struct be written as a positional JSON array; the API does not. Requests are
/// objects, and so is every nested struct, all of which are called `spec`.
fn require_objects(shape: &Shape) -> Result<(), ApiError> {
    let Shape::Object { spec } = shape else {
        return Err(ApiError::validation(
            ErrorCode::InvalidField,
            "the request body must be a JSON object with the method's fields",
        ));
    };
    match spec.as_deref() {
        None | Some(Shape::Null | Shape::Object { .. }) => Ok(()),
        Some(Shape::Other) => Err(ApiError::field(
            "spec",
            ErrorCode::InvalidField,
            "spec must be a JSON object",
        )),
    }
}

/// Turns a decoding error into a field error; `prefix` names the enclosing field, if any.
pub fn decode_error(e: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> ApiError {
    let path = match (prefix, e.path().to_string()) {
        ("", p) => p,
        (pre, p) if p == "." => pre.to_owned(),
        (pre, p) => format!("{pre}.{p}"),
    };
    let inner = e.into_inner();
    let message = redact_values(&inner.to_string());
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::validation(
                ErrorCode::InvalidJson,
                format!("request body is not valid JSON: {message}"),
            )
        }
        _ if message.starts_with("unknown field") => ApiError::field(
            &parent_path(&path, &message),
            ErrorCode::UnknownField,
            message,
        ),
        _ if message.starts_with("duplicate field") => ApiError::field(
            &parent_path(&path, &message),
            ErrorCode::InvalidField,
            message,
        ),
        _ if message.starts_with("missing field") => ApiError::field(
            &parent_path(&path, &message),
            ErrorCode::MissingField,
            message,
        ),
        _ => ApiError::field(&path, ErrorCode::InvalidField, message),
    }
}

/// serde reports unknown/missing fields at the enclosing object; name the field itself.
fn parent_path(path: &str, message: &str) -> String {
    let name = message.split('`').nth(1).unwrap_or("");
    match path {
        "." | "" => name.to_owned(),
        p if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        p => format!("{p}.{name}"),
    }
}

/// serde_json quotes the offending value in type and value errors (`invalid type: string
/// "hunter2", expected u64`) and unknown enum values (``unknown variant `x`, expected …``); the
/// value may be a secret, so only its kind is kept.
fn redact_values(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let tail = rest.rfind(", expected").map_or("", |i| &rest[i..]);
        return format!("unknown value{tail}");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let kind = rest.split([' ', ',']).next().unwrap_or("");
            let tail = rest.rfind(", expected").map_or("", |i| &rest[i..]);
            return format!("{prefix}{kind}{tail}");
        }
    }
    message.to_owned()
}

/// Runs a method: decode, call, wrap.
pub async fn call<Req, Res, F, Fut>(
    ctx: Ctx,
    body: &[u8],
    f: F,
) -> Result<serde_json::Value, ApiError>
where
    Req: DeserializeOwned,
    Res: Serialize,
    F: FnOnce(Ctx, Req) -> Fut,
    Fut: Future<Output = Result<Res, ApiError>>,
{
    let request: Req = decode(body)?;
    let result = f(ctx, request).await?;
    serde_json::to_value(result).map_err(|e| ApiError::internal(&e))
}

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
            "ok".to_owned(),
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
            (e.code.to_string(), e.into_response())
        }
    };
    state
        .metrics()
        .observe(info.name, &code, started.elapsed().as_secs_f64());
    response
}

async fn answer(
    state: AppState,
    method: &'static MethodInfo,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
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
                .any(|e| e.is::<http_body_util::LengthLimitError>());
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

/// `GET /readyz`: the store answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().get_meta("bootstrap.admin_token").await {
        Ok(_) => Json(serde_json::json!({"ok": true})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"ok": false, "error": {"code": "unavailable", "message": "store unavailable"}})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_do_not_echo_string_values() {
        assert_eq!(
            redact_values("invalid type: string \"hunter2\", expected u64 at line 1 column 9"),
            "invalid type: string, expected u64 at line 1 column 9"
        );
        assert_eq!(
            redact_values("invalid type: integer `987654321`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            redact_values("invalid value: string \"x\", expected one of"),
            "invalid value: string, expected one of"
        );
        assert_eq!(
            redact_values("invalid type: string \"a, expected b\", expected u64"),
            "invalid type: string, expected u64",
            "a value that looks like serde's own words is still cut"
        );
        assert_eq!(
            redact_values(
                "unknown variant `hunter2`, expected `json` or `yaml` at line 1 column 9"
            ),
            "unknown value, expected `json` or `yaml` at line 1 column 9"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        spec: Inner,
    }

    fn check(body: &str, code: ErrorCode, field: Option<&str>) {
        let e = decode::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(e.code, code, "{body}: {}", e.message);
        assert_eq!(
            e.items.first().and_then(|i| i.field.as_deref()),
            field,
            "{body}"
        );
    }

    #[test]
    fn decode_errors_name_the_field() {
        check("{", ErrorCode::InvalidJson, None);
        check("[]", ErrorCode::InvalidField, None);
        check(r#"{"spec":[1]}"#, ErrorCode::InvalidField, Some("spec"));
        check(r#"{"spec":{"a":1}} x"#, ErrorCode::InvalidJson, None);
        check(
            r#"{"spec":{"a":1,"b":2}}"#,
            ErrorCode::UnknownField,
            Some("spec.b"),
        );
        check(r#"{"spec":{}}"#, ErrorCode::MissingField, Some("spec.a"));
        check(r#"{}"#, ErrorCode::MissingField, Some("spec"));
        check(
            r#"{"spec":{"a":"x"}}"#,
            ErrorCode::InvalidField,
            Some("spec.a"),
        );
        check(
            r#"{"spec":{"a":1,"a":2}}"#,
            ErrorCode::InvalidField,
            Some("spec.a"),
        );
    }

    /// Duplicate keys inside an object decoded from a JSON value (a location's `spec`) used
    /// to be accepted, the last one winning; only the top level refused them.
    #[test]
    fn duplicate_keys_are_refused_at_every_depth() {
        for (body, field) in [
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"spec":{"path":"/a","path":"/b"}}"#, "spec.path"),
            (r#"{"spec":{"x":{"y":[{"z":1,"z":1}]}}}"#, "spec.x.y[0].z"),
        ] {
            let e = decode::<serde_json::Value>(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidField, "{body}: {}", e.message);
            assert_eq!(
                e.items.first().and_then(|i| i.field.as_deref()),
                Some(field),
                "{body}"
            );
        }
        decode::<serde_json::Value>(br#"{"a":{"b":1},"c":{"b":1},"d":[{"b":1},{"b":1}]}"#)
            .expect("the same key in different objects is fine");
    }
}
