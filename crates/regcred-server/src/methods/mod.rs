//! The API's methods, one module per resource. [`METHODS`] is the table the dispatcher, the
//! OpenAPI document and the unknown-method error all read; [`route`] maps a name to its handler.

mod audit;
mod credential;
mod deployment;
mod image;
mod location;
mod project;
mod pull_secret;
mod registry;
mod registry_key;
mod token;
mod verify;

pub use pull_secret::open_record;

use crate::error::ApiError;
use crate::rpc::{call, Ctx};

/// A method's name and what it does.
pub struct MethodInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Whether it changes state (and so is audited).
    pub mutates: bool,
}

const fn m(name: &'static str, summary: &'static str, mutates: bool) -> MethodInfo {
    MethodInfo {
        name,
        summary,
        mutates,
    }
}

pub const METHODS: &[MethodInfo] = &[
    m("pullSecret.create", "Create a pull secret, or rotate it when the name exists (revision + 1).", true),
    m("pullSecret.get", "Metadata of one pull secret; never its material.", false),
    m("pullSecret.list", "Metadata of the pull secrets of a project (and location).", false),
    m("pullSecret.delete", "Delete a pull secret (creator or admin); refused with in_use while referenced unless forced.", true),
    m("pullSecret.verify", "Check the credentials against the registry, optionally for one image; the result is kept on the pull secret.", true),
    m("pullSecret.render", "Release credentials as a Kubernetes Secret, .dockerconfigjson, config.json or auth.json (audited).", false),
    m("credential.get", "Credentials for a runtime (Docker credential helper, kubelet plugin): by image or registry server; audited.", false),
    m("credential.list", "The registry servers and usernames credential.get answers for in a project and location (never a secret; every project role, puller included); audited.", false),
    m("registry.kinds", "The pull-secret kinds and the fields each needs.", false),
    m("image.check", "Can this image be pulled here? Tries the pull secrets that apply, in the runtime's order, against the registry.", true),
    m("image.resolve", "Which pull secrets apply to an image, in the order the runtime tries them.", false),
    m("registry.cert", "The certificate bundle and token-service settings the platform registry must be configured with.", false),
    m("registryKey.create", "Create a key for the platform registry (read or read-write); its secret is shown once.", true),
    m("registryKey.list", "A project's platform-registry keys (never their secrets).", false),
    m("registryKey.revoke", "Revoke a platform-registry key.", true),
    m("deployment.deploy", "Deploy an image with its pull secrets (by name or id): resolve, pre-flight pull check unless noVerify, new revision, delivery.", true),
    m("deployment.get", "One deployment with its revisions and where it was delivered.", false),
    m("deployment.list", "The deployments of a project (and location).", false),
    m("deployment.delete", "Delete a deployment; its workload is removed and its pull secrets may be deleted again.", true),
    m("project.create", "Create a project (admin).", true),
    m("project.list", "Projects visible to the caller.", false),
    m("project.get", "One project.", false),
    m("project.delete", "Delete a project without pull secrets; revokes its tokens.", true),
    m("location.create", "Create a location: kubernetes, docker or manifests (admin).", true),
    m("location.list", "All locations.", false),
    m("location.get", "One location.", false),
    m("location.delete", "Delete a location without pull secrets or deployments (admin).", true),
    m("location.sync", "Run a delivery pass over a location now; answers what it did.", false),
    m("token.create", "Create an access token; its secret is shown once.", true),
    m("token.list", "Access tokens (never their secrets).", false),
    m("token.revoke", "Revoke an access token.", true),
    m("audit.list", "Audit events, newest first.", false),
];

/// Calls the handler of `ctx.method`.
pub async fn route(ctx: Ctx, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    match ctx.method {
        "pullSecret.create" => call(ctx, body, pull_secret::create).await,
        "pullSecret.get" => call(ctx, body, pull_secret::get).await,
        "pullSecret.list" => call(ctx, body, pull_secret::list).await,
        "pullSecret.delete" => call(ctx, body, pull_secret::delete).await,
        "pullSecret.render" => call(ctx, body, pull_secret::render).await,
        "pullSecret.verify" => call(ctx, body, verify::verify).await,
        "image.check" => call(ctx, body, verify::image_check).await,
        "credential.get" => call(ctx, body, credential::get).await,
        "credential.list" => call(ctx, body, credential::list).await,
        "registry.kinds" => call(ctx, body, registry::kinds).await,
        "image.resolve" => call(ctx, body, image::resolve).await,
        "registry.cert" => call(ctx, body, registry::cert).await,
        "registryKey.create" => call(ctx, body, registry_key::create).await,
        "registryKey.list" => call(ctx, body, registry_key::list).await,
        "registryKey.revoke" => call(ctx, body, registry_key::revoke).await,
        "deployment.deploy" => call(ctx, body, deployment::deploy).await,
        "deployment.get" => call(ctx, body, deployment::get).await,
        "deployment.list" => call(ctx, body, deployment::list).await,
        "deployment.delete" => call(ctx, body, deployment::delete).await,
        "project.create" => call(ctx, body, project::create).await,
        "project.list" => call(ctx, body, project::list).await,
        "project.get" => call(ctx, body, project::get).await,
        "project.delete" => call(ctx, body, project::delete).await,
        "location.create" => call(ctx, body, location::create).await,
        "location.list" => call(ctx, body, location::list).await,
        "location.get" => call(ctx, body, location::get).await,
        "location.delete" => call(ctx, body, location::delete).await,
        "location.sync" => call(ctx, body, location::sync).await,
        "token.create" => call(ctx, body, token::create).await,
        "token.list" => call(ctx, body, token::list).await,
        "token.revoke" => call(ctx, body, token::revoke).await,
        "audit.list" => call(ctx, body, audit::list).await,
        other => Err(ApiError::internal(&std::io::Error::other(format!(
            "method {other} is in the table but has no handler"
        )))),
    }
}

/// A new record id: `prefix` and 64 random bits in hex (`ps_…`, `dp_…`).
pub(crate) fn new_id(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    Ok(format!("{prefix}_{}", hex::encode(bytes)))
}

/// Validates a resource name, as a field error.
pub(crate) fn check_name(
    kind: regcred_core::name::NameKind,
    field: &str,
    value: &str,
) -> Result<(), ApiError> {
    regcred_core::name::validate(kind, value)
        .map_err(|e| ApiError::field(field, "invalid_name", e.to_string()))
}

/// Validates an optional free-text field.
pub(crate) fn check_text(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(ApiError::field(
                field,
                "invalid_value",
                format!("must be at most {max} characters without control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// An empty request, for methods that take none. Unknown fields are still refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
