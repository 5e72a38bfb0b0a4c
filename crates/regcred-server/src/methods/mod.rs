//! The API's methods, one module per resource. [`METHODS`] is the one table the dispatcher, the
//! OpenAPI document and the unknown-method error read: each method's name, handler, summary, and
//! the JSON Schemas of its request and result, taken from the handler's signature.

mod audit;
mod context;
mod credential;
mod deployment;
mod image;
mod location;
mod lookup;
mod page;
mod project;
mod pull_secret;
mod registry;
mod registry_key;
mod token;
mod verify;

pub use context::Ctx;

use regcred_core::codes::ErrorCode;
use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;
use context::call;

/// Runs one method on a request body: decode, call, wrap. The result is its JSON text, written
/// once and put into the answer as it is.
pub type Handler = fn(Ctx, Bytes) -> Pin<Box<dyn Future<Output = Result<Answer, ApiError>> + Send>>;

/// A method's result as JSON text.
pub type Answer = Box<serde_json::value::RawValue>;

/// Adds a type's JSON Schema to a generator's definitions and answers its reference.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schemas of a method's request body and of the `result` of its successful answer.
#[derive(Clone, Copy)]
pub struct Schemas {
    pub request: SchemaFn,
    pub result: SchemaFn,
}

/// A method's name, handler, what it does, and its schemas.
pub struct MethodInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Whether it changes state (and so is audited).
    pub mutates: bool,
    pub handler: Handler,
    pub schemas: Schemas,
}

/// The schemas of a handler `async fn(Ctx, Req) -> Result<Res, ApiError>`: those of `Req` and
/// `Res`, read off its type with the same bounds `call` decodes and encodes with, so a method
/// cannot be in the table without a schema for what it takes and answers.
pub const fn schemas<Req, Res, F, Fut>(_handler: &F) -> Schemas
where
    Req: DeserializeOwned + JsonSchema,
    Res: Serialize + JsonSchema,
    F: FnOnce(Ctx, Req) -> Fut,
    Fut: Future<Output = Result<Res, ApiError>>,
{
    Schemas {
        request: subschema::<Req>,
        result: subschema::<Res>,
    }
}

fn subschema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One table entry; the handler is `call` of the method's function, boxed, and the schemas are
/// read off the same function.
macro_rules! method {
    ($name:literal, $handler:path, $mutates:literal, $summary:literal) => {
        MethodInfo {
            name: $name,
            summary: $summary,
            mutates: $mutates,
            handler: |ctx, body| Box::pin(async move { call(ctx, &body, $handler).await }),
            schemas: schemas(&$handler),
        }
    };
}

/// The methods, in the order `/openapi.json` lists them: name, handler, whether it mutates, and
/// what it does. Routing, the OpenAPI document and the unknown-method error all read this one
/// table.
#[rustfmt::skip]
pub const METHODS: &[MethodInfo] = &[
    method!("pullSecret.create", pull_secret::create, true, "Create a pull secret, or rotate it when the name exists (revision + 1)."),
    method!("pullSecret.test", pull_secret::test, false, "Validate a pull secret's spec and, optionally, check it against the registry (Test Connection); stores nothing."),
    method!("pullSecret.get", pull_secret::get, false, "Metadata of one pull secret; never its material."),
    method!("pullSecret.list", pull_secret::list, false, "Metadata of the pull secrets of a project (and location)."),
    method!("pullSecret.delete", pull_secret::delete, true, "Delete a pull secret (creator or admin); refused with in_use while referenced unless forced."),
    method!("pullSecret.verify", verify::verify, true, "Check the credentials against the registry, optionally for one image; the result is kept on the pull secret."),
    method!("pullSecret.render", pull_secret::render, false, "Release credentials as a Kubernetes Secret, .dockerconfigjson, config.json or auth.json (audited)."),
    method!("credential.get", credential::get, false, "Credentials for a runtime (Docker credential helper, kubelet plugin): by image or registry server; audited."),
    method!("credential.list", credential::list, false, "The registry servers and usernames credential.get answers for in a project and location (never a secret; every project role, puller included); audited."),
    method!("registry.kinds", registry::kinds, false, "The pull-secret kinds and the fields each needs."),
    method!("image.check", verify::image_check, true, "Can this image be pulled here? Tries the pull secrets that apply, in the runtime's order, against the registry."),
    method!("image.resolve", image::resolve, false, "Which pull secrets apply to an image, in the order the runtime tries them."),
    method!("registry.cert", registry::cert, false, "The certificate bundle and token-service settings the platform registry must be configured with."),
    method!("registryKey.create", registry_key::create, true, "Create a key for the platform registry (read or read-write); its secret is shown once."),
    method!("registryKey.list", registry_key::list, false, "A project's platform-registry keys (never their secrets)."),
    method!("registryKey.revoke", registry_key::revoke, true, "Revoke a platform-registry key."),
    method!("deployment.deploy", deployment::deploy, true, "Deploy an image with its pull secrets (by name or id): resolve, pre-flight pull check unless noVerify, new revision, delivery."),
    method!("deployment.get", deployment::get, false, "One deployment with its revisions and where it was delivered."),
    method!("deployment.list", deployment::list, false, "The deployments of a project (and location)."),
    method!("deployment.delete", deployment::delete, true, "Delete a deployment; its workload is removed and its pull secrets may be deleted again."),
    method!("project.create", project::create, true, "Create a project (admin)."),
    method!("project.list", project::list, false, "Projects visible to the caller."),
    method!("project.get", project::get, false, "One project."),
    method!("project.delete", project::delete, true, "Delete a project without pull secrets; revokes its tokens."),
    method!("location.create", location::create, true, "Create a location: kubernetes, docker or manifests (admin)."),
    method!("location.list", location::list, false, "All locations."),
    method!("location.get", location::get, false, "One location."),
    method!("location.delete", location::delete, true, "Delete a location without pull secrets or deployments (admin)."),
    method!("location.sync", location::sync, false, "Run a delivery pass over a location now; answers what it did."),
    method!("token.create", token::create, true, "Create an access token; its secret is shown once."),
    method!("token.list", token::list, false, "Access tokens (never their secrets)."),
    method!("token.revoke", token::revoke, true, "Revoke an access token."),
    method!("audit.list", audit::list, false, "Audit events, newest first."),
];

/// Validates a resource name, as a field error.
pub(crate) fn check_name(
    kind: regcred_core::name::NameKind,
    field: &str,
    value: &str,
) -> Result<(), ApiError> {
    regcred_core::name::validate(kind, value)
        .map_err(|e| ApiError::field(field, ErrorCode::InvalidName, e.to_string()))
}

/// Validates an optional free-text field.
pub(crate) fn check_text(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(ApiError::field(
                field,
                ErrorCode::InvalidValue,
                format!("must be at most {max} characters without control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// An empty request, for methods that take none. Unknown fields are still refused.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
