//! The one error type of the API. Every failure becomes an [`ApiError`] with an HTTP status and a
//! stable `code`; internal errors are logged with their cause and answered with a generic message,
//! so nothing internal (SQL, paths, key ids) reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use regcred_core::api::{Envelope, ErrorBody, ErrorItem};
use regcred_core::codes::{DeliveryCode, ErrorCode};
use regcred_core::credential::FieldError;
use regcred_store::vault::VaultError;
use regcred_store::StoreError;

use crate::service::platform_tokens::TokenError;

use crate::delivery::DeliveryError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub items: Vec<ErrorItem>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            items: Vec::new(),
        }
    }

    pub fn validation(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A validation failure on one field.
    pub fn field(field: &str, code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::validation(code, format!("{field}: {message}")).with_items(vec![ErrorItem {
            field: Some(field.to_owned()),
            code: Some(code.to_string()),
            message,
        }])
    }

    /// Several field failures; the first one gives the code.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        let code = errors.first().map_or(ErrorCode::InvalidRequest, |e| e.code);
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::validation(code, message).with_items(errors.into_iter().map(Into::into).collect())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn unauthenticated(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// A failure the client cannot fix; the cause is logged, not sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }

    /// A stored value this regcred cannot read back (an unknown kind, role or state): an
    /// internal error, logged with `what`, never a silent default.
    pub fn unreadable(what: String) -> Self {
        ApiError::internal(&std::io::Error::other(what))
    }

    pub fn with_items(mut self, items: Vec<ErrorItem>) -> Self {
        self.items = items;
        self
    }
}

/// Prints an error with all its sources, for the log.
pub(crate) struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::AlreadyExists { .. } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::AlreadyExists,
                e.to_string(),
            ),
            StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            StoreError::InUse { ref by, .. } => {
                let items = by
                    .iter()
                    .map(|b| ErrorItem {
                        field: None,
                        code: None,
                        message: b.clone(),
                    })
                    .collect();
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InUse, e.to_string())
                    .with_items(items)
            }
            StoreError::DuplicateServer { ref existing } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::DuplicateServer,
                format!(
                    "pull secret {existing} already holds credentials for this server in this \
                     location, and runtimes use one credential per server: rotate {existing} \
                     (create it again with the new credentials), or delete it first"
                ),
            ),
            StoreError::LocationTaken => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::LocationTaken,
                "this location delivers where every workload reads (one auth file for the whole \
                 host, or namespaces that are not per project), and it already serves another \
                 project; ask an admin for a location of this project's own ({project} in a \
                 docker location's path, or in a namespace template and selector)",
            ),
            StoreError::Unavailable { .. } => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the database is unavailable; retry later",
                )
            }
            StoreError::Fenced { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "this server no longer leads the background work; another server took over",
            ),
            StoreError::Schema(_) | StoreError::Backend(_) | StoreError::SqliteRead(_) => {
                ApiError::internal(&e)
            }
        }
    }
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::NoLocation(_) => ApiError::not_found(e.to_string()),
            DeliveryError::Undeliverable { code, message } => {
                let code = match code {
                    DeliveryCode::CredentialUnavailable => ErrorCode::CredentialUnavailable,
                    DeliveryCode::PlaintextRefused => ErrorCode::PlaintextRefused,
                    DeliveryCode::NotRenderable => ErrorCode::NotRenderable,
                    _ => ErrorCode::Conflict,
                };
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            DeliveryError::Changed(message) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
            }
            DeliveryError::NotLeader(leader) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                match leader {
                    Some(url) => format!(
                        "delivery passes run on the leading server, {url}; ask it, or wait: it \
                         delivers every change within seconds"
                    ),
                    None => "delivery passes run on the leading server, and none leads yet; \
                             retry in a few seconds"
                        .to_owned(),
                },
            ),
            DeliveryError::Store(e) => e.into(),
            DeliveryError::Unreadable(what) => ApiError::unreadable(what),
            DeliveryError::Internal(cause) => ApiError::internal(&*cause),
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(s) => s.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope::<()> {
            ok: false,
            result: None,
            error: Some(ErrorBody {
                code: self.code.to_string(),
                message: self.message,
                items: self.items,
                request_id: crate::access::request_id(),
            }),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(e) => e.into(),
            TokenError::Randomness => ApiError::internal(&e),
        }
    }
}

#[cfg(test)]
mod delivery_error_tests {
    use super::*;

    #[test]
    fn delivery_errors_keep_the_codes_and_statuses_the_api_answered_with() {
        let cases = [
            (
                DeliveryError::NoLocation("gke".into()),
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
            ),
            (
                DeliveryError::Undeliverable {
                    code: DeliveryCode::NotRenderable,
                    message: "ghcr cannot be rendered as a Secret".into(),
                },
                StatusCode::CONFLICT,
                ErrorCode::NotRenderable,
            ),
            (
                DeliveryError::Changed("changed during the delivery pass".into()),
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
            ),
            (
                DeliveryError::Unreadable("unknown kind".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
            ),
        ];
        for (e, status, code) in cases {
            let shown = e.to_string();
            let api = ApiError::from(e);
            assert_eq!((api.status, api.code), (status, code), "{shown}");
        }
        let gone = ApiError::from(DeliveryError::NoLocation("gke".into()));
        assert_eq!(gone.message, "location \"gke\" does not exist");
    }
}
