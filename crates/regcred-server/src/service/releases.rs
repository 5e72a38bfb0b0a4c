//! Releasing credentials: a pull secret's credential as it is usable now (a minted one from the
//! refresher, never minted twice for one release), the documents it is released in, and the
//! audit event every release writes.

use regcred_core::api::RenderFormat;
use regcred_core::codes::ErrorCode;
use regcred_core::k8s_secret::{self, DockerAuth, OutputFormat, RenderError};
use regcred_core::{auth_file, secret::Secret};
use regcred_store::PullSecretRecord;
use serde_json::json;

use crate::error::ApiError;
use crate::service::{pull_secrets, Acting};
use crate::AppState;

/// One pull secret's credential, released.
pub struct Released {
    pub id: String,
    pub revision: i64,
    /// The `.dockerconfigjson` / auth-file key of its server.
    pub key: String,
    pub username: String,
    pub password: Secret,
    pub email: Option<String>,
    /// When a minted credential expires (Unix ms); `None` for long-lived ones.
    pub expires_at_ms: Option<i64>,
}

/// Opens `record` and gets its credential as usable now.
pub async fn current(state: &AppState, record: &PullSecretRecord) -> Result<Released, ApiError> {
    let credential = pull_secrets::open(state, record)?;
    let now = state
        .refresher()
        .current(state, record, &credential)
        .await?;
    Ok(Released {
        id: record.id.clone(),
        revision: record.revision,
        key: credential.server.auth_key(),
        username: now.username,
        password: now.password,
        email: credential.email,
        expires_at_ms: now.expires_at_ms,
    })
}

/// Writes the audit event of releasing `released` to `target` of `project`, with `extra` fields.
pub async fn audit(
    state: &AppState,
    acting: &Acting,
    project: &str,
    target: &str,
    released: &[Released],
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    let ids: Vec<serde_json::Value> = released
        .iter()
        .map(|r| json!({"id": r.id, "revision": r.revision}))
        .collect();
    let mut detail = json!({ "released": ids });
    if let (Some(d), serde_json::Value::Object(extra)) = (detail.as_object_mut(), extra) {
        d.extend(extra);
    }
    let event = acting.audit(Some(project), target, "ok", detail);
    Ok(state.store().append_audit(&event).await?)
}

/// `released` as a document of `format`; a Kubernetes Secret is named `name` in `namespace`.
pub fn document(
    format: RenderFormat,
    name: &str,
    namespace: Option<&str>,
    released: &[Released],
) -> Result<String, ApiError> {
    let auths: Vec<DockerAuth<'_>> = released
        .iter()
        .map(|e| DockerAuth {
            server: &e.key,
            username: &e.username,
            password: e.password.expose(),
            email: e.email.as_deref(),
        })
        .collect();
    match format {
        RenderFormat::K8sSecretJson => {
            k8s_secret::secret(name, namespace, &auths, OutputFormat::Json)
        }
        RenderFormat::K8sSecretYaml => {
            k8s_secret::secret(name, namespace, &auths, OutputFormat::Yaml)
        }
        RenderFormat::Dockerconfigjson => k8s_secret::dockerconfigjson(&auths),
        RenderFormat::DockerConfig => auth_file::docker_config_json(&auths),
        RenderFormat::AuthJson => auth_file::containers_auth_json(&auths),
    }
    // Only the key and the field name are echoed: the error variants carry the value, which
    // may be the password.
    .map_err(|e| {
        let what = match e {
            RenderError::DuplicateServer { server } => format!("{server} appears twice"),
            RenderError::YamlControlCharacter { field, .. }
            | RenderError::YamlDocumentIndicator { field, .. } => {
                format!("{field} holds characters that YAML cannot carry; use the JSON format")
            }
        };
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            ErrorCode::NotRenderable,
            what,
        )
    })
}
