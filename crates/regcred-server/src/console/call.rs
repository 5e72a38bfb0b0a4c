//! Calling an API method for the console: the method of [`METHODS`] by name, with a `Ctx` built
//! from the session's principal on channel `console`, the request as the JSON the API decodes
//! strictly, and the answer read back into the API's types. Authorization, validation and audit
//! are the method's own; the console cannot do what the same token could not do over RPC.

use std::time::Instant;

use regcred_core::codes::ErrorCode;
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::clock::now_millis;
use crate::error::ApiError;
use crate::methods::{Ctx, METHODS};
use crate::AppState;

/// Runs method `name` for `principal` on `request`.
pub async fn call<T: DeserializeOwned>(
    state: &AppState,
    principal: &Principal,
    name: &str,
    request: serde_json::Value,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let Some(info) = METHODS.iter().find(|m| m.name == name) else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            ErrorCode::UnknownMethod,
            "no such method",
        ));
    };
    let body = serde_json::to_vec(&request).map_err(|e| ApiError::internal(&e))?;
    let ctx = Ctx {
        state: state.clone(),
        principal: principal.clone(),
        channel: "console",
        now: now_millis(),
        method: info.name,
    };
    let outcome = (info.handler)(ctx, body.into()).await;
    let code = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    state
        .metrics()
        .observe(info.name, code, started.elapsed().as_secs_f64());
    serde_json::from_str(outcome?.get()).map_err(|e| ApiError::internal(&e))
}
