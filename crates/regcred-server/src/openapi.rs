//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the method table and the API's
//! Rust types, so it cannot drift from what the dispatcher decodes and answers. Every method is a
//! `POST` whose JSON body is the handler's request type and whose `200` answer is the envelope
//! `{ok: true, result}` with the handler's result type; every refusal is the failure envelope
//! `{ok: false, error}`, whose `code` lists [`ErrorCode::ALL`](regcred_core::codes::ErrorCode).
//!
//! OpenAPI 3.1 because its schema dialect is JSON Schema 2020-12, which is what schemars writes:
//! `type: [T, "null"]`, `const` and `$ref` with a description next to it go into the document as
//! they are, where 3.0 would need a lossy rewrite (`nullable`, one-value enums, refs without
//! siblings). Schemathesis reads 3.1 for generation and validation alike, and so does
//! openapi-spec-validator, which checks the document in the tests.
//!
//! Requests are described as they are *decoded* (a field with a default is optional) and results
//! as they are *encoded* (a field skipped when empty is optional), with one schema generator per
//! direction; both put their types in `components/schemas`.

use std::sync::LazyLock;

use axum::Json;
use regcred_core::api::ErrorBody;
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use crate::methods::METHODS;

/// Where the generators put the types, and so where their `$ref`s point.
const SCHEMAS: &str = "/components/schemas";

/// The document, built once: it depends on nothing but the code.
static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

/// One generator per direction: requests as serde decodes them, results as it encodes them.
fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| {
            s.definitions_path = SCHEMAS.into();
            // The document's dialect (OpenAPI 3.1's default, JSON Schema 2020-12) applies.
            s.meta_schema = None;
        })
        .into_generator()
}

/// The document.
///
/// # Panics
///
/// When a type's request schema and result schema differ but share a name in
/// `components/schemas` (the tests build the document, so such a type cannot ship).
pub fn build() -> Value {
    let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut results = generator(SchemaSettings::draft2020_12().for_serialize());
    let error = results.subschema_for::<ErrorBody>();

    let mut paths = Map::new();
    for m in METHODS {
        let request = (m.schemas.request)(&mut requests);
        let result = (m.schemas.result)(&mut results);
        paths.insert(
            format!("/{}", m.name),
            json!({
                "post": {
                    "operationId": m.name,
                    "summary": m.summary,
                    "tags": [m.name.split('.').next().unwrap_or(m.name)],
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": request}}
                    },
                    "responses": {
                        "200": {
                            "description": "Done: the envelope with the method's result.",
                            "content": {"application/json": {"schema": {
                                "type": "object",
                                "required": ["ok", "result"],
                                "properties": {"ok": {"const": true}, "result": result},
                                "additionalProperties": false
                            }}}
                        },
                        "default": {
                            "description": "Refused or failed: the envelope with the error; clients branch on error.code.",
                            "content": {"application/json": {"schema": {"$ref": format!("#{SCHEMAS}/Failure")}}}
                        }
                    }
                }
            }),
        );
    }

    let mut schemas = requests.take_definitions(true);
    for (name, schema) in results.take_definitions(true) {
        match schemas.get(&name) {
            None => {
                schemas.insert(name, schema);
            }
            Some(same) if *same == schema => {}
            Some(_) => panic!(
                "{name} is both a request type and part of a result, with different schemas \
                 (a default, a skipped field): give one of them its own schema name"
            ),
        }
    }
    schemas.insert(
        "Failure".to_owned(),
        json!({
            "description": "The envelope of every refusal and failure.",
            "type": "object",
            "required": ["ok", "error"],
            "properties": {"ok": {"const": false}, "error": error},
            "additionalProperties": false
        }),
    );

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
            "schemas": schemas
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(DOCUMENT.clone())
}
