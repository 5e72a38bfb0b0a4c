//! The field tables `registry.kinds` publishes: which `spec` fields a kind takes, which of
//! them are required or secret, and the aliases accepted for them. Tables are constants built
//! with the named constructors below, so a table reads as what it says and validators refer to
//! a field by its constant, never by its position.

use serde::Serialize;

use super::Kind;

/// One field of a kind's `spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    pub name: &'static str,
    pub required: bool,
    pub secret: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub aliases: &'static [&'static str],
    pub description: &'static str,
}

impl FieldInfo {
    /// A field the kind cannot do without.
    pub const fn required(name: &'static str, description: &'static str) -> FieldInfo {
        FieldInfo {
            name,
            required: true,
            secret: false,
            aliases: &[],
            description,
        }
    }

    /// A field that may be left out.
    pub const fn optional(name: &'static str, description: &'static str) -> FieldInfo {
        FieldInfo {
            required: false,
            ..FieldInfo::required(name, description)
        }
    }

    /// The same field, holding secret material (only ever stored sealed).
    pub const fn secret(self) -> FieldInfo {
        FieldInfo {
            secret: true,
            ..self
        }
    }

    /// The same field, also accepted under `aliases`.
    pub const fn aliases(self, aliases: &'static [&'static str]) -> FieldInfo {
        FieldInfo { aliases, ..self }
    }

    /// Whether `name` is this field, under its name or an alias.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

/// How a kind's credential reaches the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// The stored username and secret are sent as they are.
    Basic,
    /// A short-lived credential is minted from the stored material (ECR, GCR/GAR token mode).
    Minted,
    /// No credentials.
    Anonymous,
}

/// What `registry.kinds` says about a kind.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct KindInfo {
    pub kind: Kind,
    pub title: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_server: Option<&'static str>,
    pub server_pattern: &'static str,
    pub auth: AuthMethod,
    pub fields: &'static [FieldInfo],
}

impl KindInfo {
    /// The field `name` answers to (by name or alias), if the kind takes it.
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        self.fields.iter().find(|f| f.answers_to(name))
    }
}

const SERVER_DESCRIPTION: &str = "registry host, e.g. ghcr.io or localhost:5000";

/// `server` of a kind that has a default server (or, like ECR, can build one).
pub(super) const SERVER_OPTIONAL: FieldInfo = FieldInfo::optional("server", SERVER_DESCRIPTION);

/// `server` of a kind that has no default server.
pub(super) const SERVER_REQUIRED: FieldInfo = FieldInfo::required("server", SERVER_DESCRIPTION);

pub(super) const EMAIL: FieldInfo =
    FieldInfo::optional("email", "optional e-mail, kept in .dockerconfigjson");

/// Both Google kinds take the same key.
pub(super) const SERVICE_ACCOUNT_KEY: FieldInfo =
    FieldInfo::required("serviceAccountKey", "service-account key JSON").secret();

/// Both Google kinds take the same modes.
pub(super) const GOOGLE_MODE: FieldInfo =
    FieldInfo::optional("mode", "json_key (default) or access_token");
