//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the method table, so the document
//! cannot drift from what the dispatcher serves. Every method is a `POST` with a JSON body and
//! answers with the envelope; error codes are listed once, in the envelope schema.

use axum::Json;
use regcred_core::api::DeliveryState;
use serde_json::{json, Map, Value};

use regcred_core::codes::{DeliveryCode, ErrorCode};

use crate::methods::METHODS;

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
                                "code": {"type": "string", "enum": ErrorCode::ALL},
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
                        "code": {"type": "string", "enum": DeliveryCode::ALL},
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
