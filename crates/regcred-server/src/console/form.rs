//! Form bodies (`application/x-www-form-urlencoded`, what an HTML form and the console's script
//! send) read under the console's size limit, and the request JSON built from them: a field
//! left empty is a field not sent, as the API's optional fields expect.

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use regcred_core::codes::ErrorCode;

use super::MAX_FORM;
use crate::error::ApiError;
use crate::AppState;

/// The fields of a posted form, in order.
#[derive(Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// The first value of `name`, as sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Every value of `name` (checkboxes), trimmed, blanks dropped.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The fields whose names start with `prefix`, without it: `spec.username` → `username`.
    /// Secret values are taken as sent (not trimmed), others trimmed; blanks are dropped.
    pub fn object(&self, prefix: &str, secret: impl Fn(&str) -> bool) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        for (k, v) in &self.fields {
            let Some(name) = k.strip_prefix(prefix) else {
                continue;
            };
            let value = match secret(name) {
                true => v.as_str(),
                false => v.trim(),
            };
            if !value.trim().is_empty() && !object.contains_key(name) {
                object.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
            }
        }
        serde_json::Value::Object(object)
    }
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim() == "application/x-www-form-urlencoded");
        if !form_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "console forms are sent as application/x-www-form-urlencoded",
            )
            .into_response());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::BodyTooLarge,
                    format!("the form is larger than {MAX_FORM} bytes"),
                )
                .into_response()
            })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            ApiError::validation(ErrorCode::InvalidBody, "the form could not be read")
                .into_response()
        })?;
        Ok(Form { fields })
    }
}
