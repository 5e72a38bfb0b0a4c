//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the method table, so the document
//! cannot drift from what the dispatcher serves. Every method is a `POST` with a JSON body and
//! answers with the envelope; error codes are listed once, in the envelope schema.

use axum::Json;
use regcred_core::api::DeliveryState;
use serde_json::{json, Map, Value};

use crate::methods::METHODS;

/// Stable error codes clients may branch on.
pub const ERROR_CODES: &[&str] = &[
    "invalid_json",
    "invalid_request",
    "unknown_field",
    "missing_field",
    "invalid_field",
    "invalid_value",
    "invalid_name",
    "invalid_kind",
    "invalid_server",
    "invalid_image",
    "invalid_role",
    "invalid_reference",
    "invalid_channel",
    "field_not_allowed",
    "conflicting_fields",
    "server_mismatch",
    "duplicate_server",
    "body_too_large",
    "request_timeout",
    "invalid_body",
    "unsupported_media_type",
    "unknown_method",
    "method_not_allowed",
    "unauthenticated",
    "invalid_token",
    "token_revoked",
    "token_expired",
    "forbidden",
    "not_found",
    "already_exists",
    "conflict",
    "in_use",
    "location_taken",
    "not_renderable",
    "not_verifiable",
    "image_mismatch",
    "no_platform_registry",
    "pull_secret_required",
    "no_credentials",
    "credential_unavailable",
    "preflight_failed",
    "plaintext_refused",
    "internal",
];

/// Stable reason codes of a delivery's status (`deliveries[].code`), not of API errors.
pub const DELIVERY_CODES: &[&str] = &[
    "namespace_missing",
    "service_account_missing",
    "not_owned",
    "owned_by_other",
    "credential_unavailable",
    "not_renderable",
    "cluster_unreachable",
    "kubeconfig_invalid",
    "apply_failed",
    "delete_failed",
    "patch_failed",
    "auth_file_unreadable",
    "auth_file_invalid",
    "auth_file_unwritable",
    "auth_file_not_regular",
    "plaintext_refused",
    "sealing_cert_invalid",
    "seal_failed",
    "write_failed",
];

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for m in METHODS {
        paths.insert(
            format!("/{}", m.name),
            json!({
                "post": {
                    "operationId": m.name,
                    "summary": m.summary,
                    "tags": [m.name.split('.').next().unwrap_or(m.name)],
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": false,
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
                        "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}
                    }
                }
            }),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "regcred",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Pull secrets for container registries. RPC over HTTP: POST /<resource>.<verb> with a JSON body."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "required": ["ok"],
                    "properties": {
                        "ok": {"type": "boolean"},
                        "result": {},
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string", "enum": ERROR_CODES},
                                "message": {"type": "string"},
                                "items": {"type": "array", "items": {"type": "object"}}
                            }
                        }
                    }
                },
                "DeliveryStatus": {
                    "type": "object",
                    "required": ["location", "target", "state", "updatedAt"],
                    "properties": {
                        "location": {"type": "string"},
                        "target": {"type": "string"},
                        "state": {"type": "string", "enum": DeliveryState::ALL.map(DeliveryState::as_str)},
                        "revision": {"type": "integer"},
                        "code": {"type": "string", "enum": DELIVERY_CODES},
                        "message": {"type": "string"},
                        "updatedAt": {"type": "string"}
                    }
                }
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
