//! What the two Google kinds (GCR, GAR) share: a service-account key, sent as the password of
//! the user `_json_key` or traded for an access token (mode `access_token`).

use crate::codes::ErrorCode;
use crate::registry_host::RegistryServer;
use crate::secret::Secret;

use super::super::check::{self, Errors, Reported};
use super::super::{CredentialSpec, Kind, Params, GOOGLE_KEY_USER};
use super::{Checked, Material};

pub(super) const NOT_A_FIELD_HINT: &str = "; Google registries take serviceAccountKey";

/// Takes the Docker-style `{server, username: "_json_key", password: KEY}` as the key. A
/// password or token next to a key without a username is dropped, as Docker would ignore it.
pub(super) fn normalize(spec: &mut CredentialSpec) {
    if spec.username.as_deref() == Some(GOOGLE_KEY_USER) && spec.service_account_key.is_none() {
        if let Some(key) = spec.password.clone().or_else(|| spec.token.clone()) {
            spec.service_account_key = Some(key);
            spec.username = None;
        }
    }
    if spec.service_account_key.is_some() && spec.username.is_none() {
        spec.password = None;
        spec.token = None;
    }
}

/// A checked service-account key and the account it is for.
pub(super) struct Key {
    client_email: String,
    key: Secret,
}

impl Key {
    /// The checked credential: the key's account is the username.
    pub fn into_checked(self, server: RegistryServer, params: Params) -> Checked {
        Checked {
            server,
            username: Some(self.client_email),
            params,
            material: Material::GcpServiceAccountKey(self.key),
        }
    }
}

pub(super) fn key(kind: Kind, key: Option<Secret>, errs: &mut Errors) -> Result<Key, Reported> {
    let Some(key) = key else {
        return Err(errs.add(
            "serviceAccountKey",
            ErrorCode::MissingField,
            format!("serviceAccountKey is required for kind {}", kind.as_str()),
        ));
    };
    match client_email(key.expose()) {
        Ok(client_email) => Ok(Key { client_email, key }),
        Err(message) => Err(errs.add("serviceAccountKey", ErrorCode::InvalidValue, message)),
    }
}

pub(super) fn mode(mode: Option<&str>, errs: &mut Errors) -> Result<(), Reported> {
    check::one_of("mode", mode, &["json_key", "access_token"], errs)
}

/// Checks that `text` is a Google service-account key and returns its `client_email`.
fn client_email(text: &str) -> Result<String, &'static str> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| "serviceAccountKey is not valid JSON; paste the whole key file")?;
    if v.get("type").and_then(|t| t.as_str()) != Some("service_account") {
        return Err("serviceAccountKey must be a key with \"type\": \"service_account\"");
    }
    if v.get("private_key").and_then(|t| t.as_str()).is_none() {
        return Err("serviceAccountKey has no private_key");
    }
    v.get("client_email")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or("serviceAccountKey has no client_email")
}
