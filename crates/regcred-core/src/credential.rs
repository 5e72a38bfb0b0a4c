//! Credential kinds: which fields each kind needs, how the kind is inferred from the
//! server, and the validation that turns the API's `spec` object into a [`Credential`] — the
//! non-secret metadata that may be shown, plus the [`Material`] that is only ever encrypted.
//! Validation collects every problem at once so a form or CLI can show them together.

use std::collections::BTreeMap;

use crate::codes::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::registry_host::RegistryServer;
use crate::secret::Secret;

/// The kinds of pull secret regcred knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Docker,
    Ghcr,
    Quay,
    Custom,
    Acr,
    Gcr,
    Gar,
    Ecr,
    Public,
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

/// One field of a kind's `spec`.
#[derive(Debug, Clone, Serialize)]
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

/// What `registry.kinds` says about a kind.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct KindInfo {
    pub kind: Kind,
    pub title: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_server: Option<&'static str>,
    pub server_pattern: &'static str,
    pub auth: AuthMethod,
    pub fields: Vec<FieldInfo>,
}

const fn field(
    name: &'static str,
    required: bool,
    secret: bool,
    aliases: &'static [&'static str],
    description: &'static str,
) -> FieldInfo {
    FieldInfo {
        name,
        required,
        secret,
        aliases,
        description,
    }
}

const EMAIL: FieldInfo = field(
    "email",
    false,
    false,
    &[],
    "optional e-mail, kept in .dockerconfigjson",
);

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Docker,
        Kind::Ghcr,
        Kind::Quay,
        Kind::Custom,
        Kind::Acr,
        Kind::Gcr,
        Kind::Gar,
        Kind::Ecr,
        Kind::Public,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Ghcr => "ghcr",
            Kind::Quay => "quay",
            Kind::Custom => "custom",
            Kind::Acr => "acr",
            Kind::Gcr => "gcr",
            Kind::Gar => "gar",
            Kind::Ecr => "ecr",
            Kind::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind a server implies when `kind` is not given.
    pub fn infer(server: &RegistryServer) -> Kind {
        let host = host_without_port(server.host());
        if server.is_docker_hub() {
            Kind::Docker
        } else if host == "ghcr.io" {
            Kind::Ghcr
        } else if host == "quay.io" {
            Kind::Quay
        } else if ecr_host(host).is_some() {
            Kind::Ecr
        } else if gar_region(host).is_some() {
            Kind::Gar
        } else if host == "gcr.io" || host.ends_with(".gcr.io") {
            Kind::Gcr
        } else if host.ends_with(".azurecr.io") {
            Kind::Acr
        } else {
            Kind::Custom
        }
    }

    /// The field table of this kind, as `registry.kinds` publishes it.
    pub fn info(self) -> KindInfo {
        let basic = |user_desc: &'static str,
                     secret_name: &'static str,
                     secret_alias: &'static [&'static str],
                     secret_desc: &'static str| {
            vec![
                field("username", true, false, &[], user_desc),
                field(secret_name, true, true, secret_alias, secret_desc),
                EMAIL,
            ]
        };
        let (title, default_server, server_pattern, auth, mut fields) = match self {
            Kind::Docker => (
                "Docker Hub",
                Some("docker.io"),
                "docker.io",
                AuthMethod::Basic,
                basic(
                    "Docker Hub user or organization",
                    "password",
                    &["token"],
                    "password or personal access token",
                ),
            ),
            Kind::Ghcr => (
                "GitHub Container Registry",
                Some("ghcr.io"),
                "ghcr.io[/owner]",
                AuthMethod::Basic,
                basic(
                    "GitHub user",
                    "token",
                    &["password"],
                    "personal access token (classic) with read:packages",
                ),
            ),
            Kind::Quay => (
                "Quay",
                Some("quay.io"),
                "quay.io[/org]",
                AuthMethod::Basic,
                basic(
                    "robot account, org+robot",
                    "token",
                    &["password"],
                    "robot token",
                ),
            ),
            Kind::Custom => (
                "Any registry",
                None,
                "host[:port][/path]",
                AuthMethod::Basic,
                basic("user", "password", &["token"], "password or token"),
            ),
            Kind::Acr => (
                "Azure Container Registry",
                None,
                "NAME.azurecr.io",
                AuthMethod::Basic,
                {
                    let mut fields = basic(
                        "service principal (application) id or admin user",
                        "password",
                        &["token"],
                        "service principal secret or admin password",
                    );
                    fields.push(field(
                        "mode",
                        false,
                        false,
                        &[],
                        "basic (default) or exchange: trade the service principal for an ACR refresh token via Entra ID",
                    ));
                    fields.push(field(
                        "tenant",
                        false,
                        false,
                        &[],
                        "Entra ID tenant id (exchange mode)",
                    ));
                    fields
                },
            ),
            Kind::Gcr => (
                "Google Container Registry",
                Some("gcr.io"),
                "gcr.io or REGION.gcr.io",
                AuthMethod::Basic,
                vec![
                    field(
                        "serviceAccountKey",
                        true,
                        true,
                        &[],
                        "service-account key JSON",
                    ),
                    field(
                        "mode",
                        false,
                        false,
                        &[],
                        "json_key (default) or access_token",
                    ),
                    EMAIL,
                ],
            ),
            Kind::Gar => (
                "Google Artifact Registry",
                None,
                "REGION-docker.pkg.dev",
                AuthMethod::Basic,
                vec![
                    field(
                        "serviceAccountKey",
                        true,
                        true,
                        &[],
                        "service-account key JSON",
                    ),
                    field(
                        "region",
                        true,
                        false,
                        &[],
                        "e.g. europe-west1; implied by the server",
                    ),
                    field(
                        "mode",
                        false,
                        false,
                        &[],
                        "json_key (default) or access_token",
                    ),
                    EMAIL,
                ],
            ),
            Kind::Ecr => (
                "Amazon ECR",
                None,
                "ACCOUNT.dkr.ecr.REGION.amazonaws.com",
                AuthMethod::Minted,
                vec![
                    field("accessKeyId", true, false, &[], "IAM access key id"),
                    field("secretAccessKey", true, true, &[], "IAM secret access key"),
                    field(
                        "region",
                        true,
                        false,
                        &[],
                        "AWS region; implied by the server",
                    ),
                    field(
                        "registryId",
                        false,
                        false,
                        &[],
                        "12-digit account id; implied by the server",
                    ),
                    field(
                        "roleArn",
                        false,
                        false,
                        &[],
                        "role to assume before GetAuthorizationToken",
                    ),
                ],
            ),
            Kind::Public => (
                "Public (no credentials)",
                Some("docker.io"),
                "host[:port][/path]",
                AuthMethod::Anonymous,
                vec![],
            ),
        };
        let server_required = default_server.is_none() && self != Kind::Ecr;
        fields.insert(
            0,
            field(
                "server",
                server_required,
                false,
                &[],
                "registry host, e.g. ghcr.io or localhost:5000",
            ),
        );
        KindInfo {
            kind: self,
            title,
            default_server,
            server_pattern,
            auth,
            fields,
        }
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    host.split(':').next().unwrap_or(host)
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]` → (account, region).
pub fn ecr_host(host: &str) -> Option<(&str, &str)> {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut parts = rest.split('.');
    let (account, dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let fips_ok = matches!(ecr, "ecr" | "ecr-fips");
    if parts.next().is_some() || dkr != "dkr" || !fips_ok || !is_account_id(account) {
        return None;
    }
    (!region.is_empty()).then_some((account, region))
}

/// `REGION-docker.pkg.dev` → region.
pub fn gar_region(host: &str) -> Option<&str> {
    host.strip_suffix("-docker.pkg.dev")
        .filter(|r| !r.is_empty() && !r.contains('.'))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `spec` object of `pullSecret.create`, exactly as sent. Unknown fields are refused.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialSpec {
    pub server: Option<String>,
    pub username: Option<String>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub password: Option<Secret>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub token: Option<Secret>,
    pub email: Option<String>,
    /// A Google service-account key: the JSON object, or a string holding its JSON text.
    #[serde(default, deserialize_with = "json_text")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "json_text_schema"))]
    pub service_account_key: Option<Secret>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub secret_access_key: Option<Secret>,
    pub registry_id: Option<String>,
    pub role_arn: Option<String>,
    pub mode: Option<String>,
    pub tenant: Option<String>,
}

/// A service-account key may be sent as a JSON object or as the JSON text of one.
fn json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(Secret::new(s))),
        Some(v @ serde_json::Value::Object(_)) => Ok(Some(Secret::new(v.to_string()))),
        Some(_) => Err(D::Error::custom(
            "serviceAccountKey must be a JSON object or a string holding one",
        )),
    }
}

/// What [`json_text`] reads: an object, a string, or nothing.
#[cfg(feature = "schema")]
fn json_text_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["object", "string", "null"] })
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: ErrorCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// Non-secret parameters of minted kinds, stored and shown as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Params {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// The secret part of a credential: field name → value. Only ever stored encrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Material(BTreeMap<String, Secret>);

impl Material {
    pub fn get(&self, field: &str) -> Option<&Secret> {
        self.0.get(field)
    }

    pub fn insert(&mut self, field: &str, value: Secret) {
        self.0.insert(field.to_owned(), value);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The plaintext to encrypt. Callers must treat the bytes as secret.
    pub fn to_plaintext(&self) -> Vec<u8> {
        let map: BTreeMap<&str, &str> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        serde_json::to_vec(&map).unwrap_or_default()
    }

    pub fn from_plaintext(bytes: &[u8]) -> Result<Material, serde_json::Error> {
        let map: BTreeMap<String, String> = serde_json::from_slice(bytes)?;
        Ok(Material(
            map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
        ))
    }
}

/// A validated credential: what may be shown, and the material that may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub kind: Kind,
    pub server: RegistryServer,
    pub username: Option<String>,
    pub email: Option<String>,
    pub params: Params,
    pub material: Material,
}

/// Why a credential cannot be used as a fixed username and password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsableError {
    #[error("{kind} pull secrets are minted into a short-lived token by the refresher; their stored material is not a registry password")]
    MintRequired { kind: &'static str },
    #[error("a public pull secret holds no credentials")]
    Anonymous,
    #[error("the stored material lacks {field}; create the pull secret again")]
    Incomplete { field: &'static str },
}

/// Whether a pull secret of `kind` with `params` is used through a minted short-lived credential
/// (ECR always; GCR/GAR in `access_token` mode; ACR in `exchange` mode) rather than as stored.
pub fn is_minted(kind: Kind, params: &Params) -> bool {
    match kind {
        Kind::Ecr => true,
        Kind::Gcr | Kind::Gar => params.mode.as_deref() == Some("access_token"),
        Kind::Acr => params.mode.as_deref() == Some("exchange"),
        _ => false,
    }
}

impl Credential {
    /// The username and password a registry client sends for this credential.
    pub fn basic_auth(&self) -> Result<(String, Secret), UsableError> {
        let secret = |field: &'static str| {
            self.material
                .get(field)
                .cloned()
                .ok_or(UsableError::Incomplete { field })
        };
        if is_minted(self.kind, &self.params) {
            return Err(UsableError::MintRequired {
                kind: self.kind.as_str(),
            });
        }
        match self.kind {
            Kind::Public => Err(UsableError::Anonymous),
            Kind::Gcr | Kind::Gar => Ok(("_json_key".to_owned(), secret("serviceAccountKey")?)),
            // ECR is always minted and never reaches this arm.
            Kind::Docker | Kind::Custom | Kind::Acr | Kind::Ecr => Ok((
                self.username.clone().unwrap_or_default(),
                secret("password")?,
            )),
            Kind::Ghcr | Kind::Quay => {
                Ok((self.username.clone().unwrap_or_default(), secret("token")?))
            }
        }
    }
}

/// Validates a `spec` for `kind` (inferred from the server when `None`) into a credential,
/// or reports every field problem. Field paths are prefixed with `spec.`.
pub fn validate(kind: Option<Kind>, spec: CredentialSpec) -> Result<Credential, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, code: ErrorCode, message: String| {
        errors.push(FieldError::new(format!("spec.{field}"), code, message))
    };

    let CredentialSpec {
        server,
        mut username,
        password,
        token,
        email,
        mut service_account_key,
        mut region,
        access_key_id,
        secret_access_key,
        mut registry_id,
        role_arn,
        mode,
        tenant,
    } = spec;

    let parsed_server = match server.as_deref() {
        Some(s) => match RegistryServer::parse(s) {
            Ok(server) => Some(server),
            Err(e) => {
                err("server", e.code(), e.to_string());
                return Err(errors);
            }
        },
        None => None,
    };
    let kind = kind.unwrap_or_else(|| parsed_server.as_ref().map_or(Kind::Docker, Kind::infer));

    // The deploys-style `{server, username: "_json_key", password: KEY}` for Google registries.
    if matches!(kind, Kind::Gcr | Kind::Gar)
        && username.as_deref() == Some("_json_key")
        && service_account_key.is_none()
    {
        if let Some(p) = password.clone().or_else(|| token.clone()) {
            service_account_key = Some(p);
            username = None;
        }
    }
    let (password, token) = if matches!(kind, Kind::Gcr | Kind::Gar)
        && service_account_key.is_some()
        && username.is_none()
    {
        (None, None)
    } else {
        (password, token)
    };

    let info = kind.info();
    let allowed = |name: &str| {
        info.fields
            .iter()
            .any(|f| f.name == name || f.aliases.contains(&name))
    };
    let given: [(&str, bool); 12] = [
        ("tenant", tenant.is_some()),
        ("username", username.is_some()),
        ("password", password.is_some()),
        ("token", token.is_some()),
        ("email", email.is_some()),
        ("serviceAccountKey", service_account_key.is_some()),
        ("region", region.is_some()),
        ("accessKeyId", access_key_id.is_some()),
        ("secretAccessKey", secret_access_key.is_some()),
        ("registryId", registry_id.is_some()),
        ("roleArn", role_arn.is_some()),
        ("mode", mode.is_some()),
    ];
    for (name, present) in given {
        if present && !allowed(name) {
            let hint = match kind {
                Kind::Ecr => "; ecr needs accessKeyId, secretAccessKey and region (use kind custom to store a fixed username and password)",
                Kind::Gcr | Kind::Gar => "; Google registries take serviceAccountKey",
                Kind::Public => "; a public pull secret holds no credentials",
                _ => "",
            };
            err(
                name,
                ErrorCode::FieldNotAllowed,
                format!("{name} is not a field of kind {}{hint}", kind.as_str()),
            );
        }
    }

    let server = match (parsed_server, info.default_server) {
        (Some(s), _) => Some(s),
        (None, Some(default)) => RegistryServer::parse(default).ok(),
        (None, None) => None,
    };

    // Kind-specific server and parameter rules.
    match (kind, server.as_ref()) {
        (Kind::Docker, Some(s)) if !s.is_docker_hub() => err(
            "server",
            ErrorCode::ServerMismatch,
            format!("kind docker means Docker Hub, but server is {s}; use kind custom for other registries"),
        ),
        (Kind::Ghcr, Some(s)) if s.host() != "ghcr.io" => err(
            "server",
            ErrorCode::ServerMismatch,
            format!("kind ghcr needs server ghcr.io, not {s}"),
        ),
        (Kind::Quay, Some(s)) if s.host() != "quay.io" => err(
            "server",
            ErrorCode::ServerMismatch,
            format!("kind quay needs server quay.io, not {s}; use kind custom for a self-hosted Quay"),
        ),
        (Kind::Acr, Some(s)) if !host_without_port(s.host()).ends_with(".azurecr.io") => err(
            "server",
            ErrorCode::ServerMismatch,
            format!("kind acr needs a server NAME.azurecr.io, not {s}"),
        ),
        (Kind::Gcr, Some(s))
            if !(s.host() == "gcr.io" || s.host().ends_with(".gcr.io")) =>
        {
            err(
                "server",
                ErrorCode::ServerMismatch,
                format!("kind gcr needs server gcr.io or REGION.gcr.io, not {s}"),
            )
        }
        (Kind::Gar, Some(s)) => match (gar_region(s.host()), region.as_deref()) {
            (None, _) => err(
                "server",
                ErrorCode::ServerMismatch,
                format!("kind gar needs a server REGION-docker.pkg.dev, not {s}"),
            ),
            (Some(implied), Some(given)) if implied != given => err(
                "region",
                ErrorCode::ConflictingFields,
                format!("region {given} does not match server {s} (region {implied})"),
            ),
            (Some(implied), _) => region = Some(implied.to_owned()),
        },
        (Kind::Ecr, Some(s)) => match ecr_host(s.host()) {
            None => err(
                "server",
                ErrorCode::ServerMismatch,
                format!("kind ecr needs a server ACCOUNT.dkr.ecr.REGION.amazonaws.com, not {s}"),
            ),
            Some((account, implied)) => {
                if region.as_deref().is_some_and(|r| r != implied) {
                    err(
                        "region",
                        ErrorCode::ConflictingFields,
                        format!("region does not match server {s} (region {implied})"),
                    );
                }
                if registry_id.as_deref().is_some_and(|r| r != account) {
                    err(
                        "registryId",
                        ErrorCode::ConflictingFields,
                        format!("registryId does not match server {s} (account {account})"),
                    );
                }
                region = Some(implied.to_owned());
                registry_id = Some(account.to_owned());
            }
        },
        _ => {}
    }

    let mut material = Material::default();
    let require_text =
        |name: &str, value: Option<&String>, errs: &mut dyn FnMut(&str, ErrorCode, String)| {
            match value {
                None => errs(
                    name,
                    ErrorCode::MissingField,
                    format!("{name} is required for kind {}", kind.as_str()),
                ),
                Some(v) if v.trim().is_empty() => errs(
                    name,
                    ErrorCode::MissingField,
                    format!("{name} must not be empty"),
                ),
                Some(v) if v.chars().any(char::is_control) || v.len() > 256 => errs(
                    name,
                    ErrorCode::InvalidValue,
                    format!("{name} must be at most 256 characters without control characters"),
                ),
                Some(_) => {}
            }
        };

    match info.auth {
        AuthMethod::Anonymous => {}
        _ if server.is_none() && kind != Kind::Ecr => err(
            "server",
            ErrorCode::MissingField,
            format!("server is required for kind {}", kind.as_str()),
        ),
        _ => {}
    }

    match kind {
        Kind::Docker | Kind::Ghcr | Kind::Quay | Kind::Custom | Kind::Acr => {
            require_text("username", username.as_ref(), &mut err);
            if username.as_deref().is_some_and(|u| u.contains(':')) {
                err("username", ErrorCode::InvalidValue, "username must not contain ':' (it separates user and password in registry auth)".into());
            }
            let secret_name = info.fields[2].name;
            match (password, token) {
                (Some(_), Some(_)) => err(
                    secret_name,
                    ErrorCode::ConflictingFields,
                    "give either password or token, not both".into(),
                ),
                (Some(s), None) | (None, Some(s)) => {
                    if s.is_empty() {
                        err(
                            secret_name,
                            ErrorCode::MissingField,
                            format!("{secret_name} must not be empty"),
                        );
                    } else if s.expose().len() > 64 * 1024 {
                        err(
                            secret_name,
                            ErrorCode::InvalidValue,
                            format!("{secret_name} is longer than 64 KiB"),
                        );
                    } else {
                        material.insert(secret_name, s);
                    }
                }
                (None, None) => err(
                    secret_name,
                    ErrorCode::MissingField,
                    format!(
                        "{secret_name} is required for kind {} (the password field is accepted too)",
                        kind.as_str()
                    ),
                ),
            }
            if let Some(e) = email.as_deref() {
                if e.chars().any(char::is_control) || e.len() > 254 {
                    err(
                        "email",
                        ErrorCode::InvalidValue,
                        "email must be at most 254 characters without control characters".into(),
                    );
                }
            }
            if kind == Kind::Acr {
                match (mode.as_deref(), tenant.as_deref()) {
                    (None | Some("basic"), None) => {}
                    (None | Some("basic"), Some(_)) => err(
                        "tenant",
                        ErrorCode::FieldNotAllowed,
                        "tenant is used by mode exchange only".into(),
                    ),
                    (Some("exchange"), Some(t)) if is_tenant(t) => {}
                    (Some("exchange"), Some(_)) => err(
                        "tenant",
                        ErrorCode::InvalidValue,
                        "tenant must be an Entra ID tenant id (a GUID) or domain".into(),
                    ),
                    (Some("exchange"), None) => err(
                        "tenant",
                        ErrorCode::MissingField,
                        "mode exchange needs the Entra ID tenant".into(),
                    ),
                    (Some(_), _) => err(
                        "mode",
                        ErrorCode::InvalidValue,
                        "mode must be basic or exchange".to_owned(),
                    ),
                }
            }
        }
        Kind::Gcr | Kind::Gar => {
            match service_account_key {
                None => err(
                    "serviceAccountKey",
                    ErrorCode::MissingField,
                    format!("serviceAccountKey is required for kind {}", kind.as_str()),
                ),
                Some(key) => match check_service_account_key(key.expose()) {
                    Ok(client_email) => {
                        username = Some(client_email);
                        material.insert("serviceAccountKey", key);
                    }
                    Err(msg) => err("serviceAccountKey", ErrorCode::InvalidValue, msg.into()),
                },
            }
            if kind == Kind::Gar && region.is_none() {
                err(
                    "region",
                    ErrorCode::MissingField,
                    "region is required for kind gar (or give the server REGION-docker.pkg.dev)"
                        .into(),
                );
            }
            if let Some(m) = mode.as_deref() {
                if !matches!(m, "json_key" | "access_token") {
                    err(
                        "mode",
                        ErrorCode::InvalidValue,
                        "mode must be json_key or access_token".to_owned(),
                    );
                }
            }
        }
        Kind::Ecr => {
            require_text("accessKeyId", access_key_id.as_ref(), &mut err);
            match secret_access_key {
                Some(s) if !s.is_empty() => material.insert("secretAccessKey", s),
                _ => err(
                    "secretAccessKey",
                    ErrorCode::MissingField,
                    "secretAccessKey is required for kind ecr".into(),
                ),
            }
            if region.is_none() {
                err("region", ErrorCode::MissingField, "region is required for kind ecr (or give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com)".into());
            }
            if let Some(id) = registry_id.as_deref() {
                if !is_account_id(id) {
                    err(
                        "registryId",
                        ErrorCode::InvalidValue,
                        "registryId must be a 12-digit AWS account id".into(),
                    );
                }
            }
            if server.is_none() && registry_id.is_none() {
                err(
                    "server",
                    ErrorCode::MissingField,
                    "give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com or registryId".into(),
                );
            }
            if let Some(arn) = role_arn.as_deref() {
                if !arn.starts_with("arn:aws") || !arn.contains(":role/") {
                    err(
                        "roleArn",
                        ErrorCode::InvalidValue,
                        "roleArn must look like arn:aws:iam::ACCOUNT:role/NAME".into(),
                    );
                }
            }
        }
        Kind::Public => {}
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let server = match (server, kind) {
        (Some(s), _) => s,
        (None, Kind::Ecr) => {
            let host = format!(
                "{}.dkr.ecr.{}.amazonaws.com",
                registry_id.as_deref().unwrap_or_default(),
                region.as_deref().unwrap_or_default()
            );
            RegistryServer::parse(&host).map_err(|e| {
                vec![FieldError::new(
                    "spec.region",
                    ErrorCode::InvalidValue,
                    e.to_string(),
                )]
            })?
        }
        (None, _) => {
            return Err(vec![FieldError::new(
                "spec.server",
                ErrorCode::MissingField,
                "server is required",
            )])
        }
    };
    let (username, access_key_id) = match kind {
        Kind::Ecr => (access_key_id.clone(), access_key_id),
        _ => (username, None),
    };
    Ok(Credential {
        kind,
        server,
        username: username.filter(|_| kind != Kind::Public),
        email: email.filter(|e| !e.is_empty()),
        params: Params {
            region,
            access_key_id,
            registry_id: registry_id.filter(|_| kind == Kind::Ecr),
            role_arn,
            mode,
            tenant,
        },
        material,
    })
}

/// A tenant id (GUID) or a domain name: letters, digits, '-' and '.'.
fn is_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 253
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Checks that `text` is a Google service-account key and returns its `client_email`.
fn check_service_account_key(text: &str) -> Result<String, &'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> CredentialSpec {
        serde_json::from_value(json).expect("spec parses")
    }

    /// Validates and returns either `kind server username` or the error codes.
    fn check(kind: Option<Kind>, json: serde_json::Value, expected: &str) {
        let got = match validate(kind, spec(json)) {
            Ok(c) => format!(
                "{} {} {}",
                c.kind.as_str(),
                c.server,
                c.username.as_deref().unwrap_or("-")
            ),
            Err(errs) => errs
                .iter()
                .map(|e| format!("{}:{}", e.field, e.code))
                .collect::<Vec<_>>()
                .join(" "),
        };
        assert_eq!(got, expected);
    }

    const KEY: &str = r#"{"type":"service_account","client_email":"ci@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}"#;

    #[test]
    fn kinds_are_inferred_and_validated() {
        use serde_json::json;
        check(
            None,
            json!({"server":"ghcr.io","username":"u","password":"p"}),
            "ghcr ghcr.io u",
        );
        check(
            None,
            json!({"username":"u","password":"p"}),
            "docker docker.io u",
        );
        check(
            None,
            json!({"server":"https://index.docker.io/v1/","username":"u","password":"p"}),
            "docker docker.io u",
        );
        check(
            None,
            json!({"server":"localhost:5000","username":"u","password":"p"}),
            "custom localhost:5000 u",
        );
        check(
            None,
            json!({"server":"x.azurecr.io","username":"u","password":"p"}),
            "acr x.azurecr.io u",
        );
        check(
            None,
            json!({"server":"quay.io/org","username":"org+bot","token":"t"}),
            "quay quay.io/org org+bot",
        );
        check(
            None,
            json!({"server":"gcr.io","username":"_json_key","password":KEY}),
            "gcr gcr.io ci@p.iam.gserviceaccount.com",
        );
        check(
            None,
            json!({"server":"europe-west1-docker.pkg.dev","serviceAccountKey":KEY}),
            "gar europe-west1-docker.pkg.dev ci@p.iam.gserviceaccount.com",
        );
        check(
            None,
            json!({"server":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","accessKeyId":"AKIA1","secretAccessKey":"s"}),
            "ecr 123456789012.dkr.ecr.eu-west-1.amazonaws.com AKIA1",
        );
        check(
            Some(Kind::Ecr),
            json!({"registryId":"123456789012","region":"us-east-1","accessKeyId":"AKIA1","secretAccessKey":"s"}),
            "ecr 123456789012.dkr.ecr.us-east-1.amazonaws.com AKIA1",
        );
        check(
            Some(Kind::Public),
            json!({"server":"quay.io"}),
            "public quay.io -",
        );
    }

    #[test]
    fn bad_specs_name_every_field() {
        use serde_json::json;
        check(
            None,
            json!({"server":"ghcr.io"}),
            "spec.username:missing_field spec.token:missing_field",
        );
        check(
            None,
            json!({"server":"ghcr.io","username":"u","password":"p","token":"t"}),
            "spec.token:conflicting_fields",
        );
        check(
            Some(Kind::Docker),
            json!({"server":"ghcr.io","username":"u","password":"p"}),
            "spec.server:server_mismatch",
        );
        check(
            None,
            json!({"server":"1.dkr.ecr.x.amazonaws.com.example","username":"u","password":"p"}),
            "custom 1.dkr.ecr.x.amazonaws.com.example u",
        );
        check(None, json!({"server":"123456789012.dkr.ecr.eu-west-1.amazonaws.com","username":"AWS","password":"p"}),
            "spec.username:field_not_allowed spec.password:field_not_allowed spec.accessKeyId:missing_field spec.secretAccessKey:missing_field");
        check(
            Some(Kind::Custom),
            json!({"username":"u","password":"p"}),
            "spec.server:missing_field",
        );
        check(
            None,
            json!({"server":"gcr.io","serviceAccountKey":"{}"}),
            "spec.serviceAccountKey:invalid_value",
        );
        check(
            None,
            json!({"server":"ghcr.io","username":"a:b","token":"t"}),
            "spec.username:invalid_value",
        );
        check(
            Some(Kind::Public),
            json!({"username":"u"}),
            "spec.username:field_not_allowed",
        );
        check(
            None,
            json!({"server":"europe-west1-docker.pkg.dev","region":"us-east1","serviceAccountKey":KEY}),
            "spec.region:conflicting_fields",
        );
    }

    #[test]
    fn unknown_spec_fields_are_refused() {
        let r: Result<CredentialSpec, _> = serde_json::from_str(r#"{"server":"x","passwd":"p"}"#);
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("unknown field `passwd`"));
    }

    #[test]
    fn material_round_trips_and_never_prints() {
        let c = validate(
            None,
            spec(serde_json::json!({"server":"ghcr.io","username":"u","token":"canary-77"})),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("canary-77"));
        let back = Material::from_plaintext(&c.material.to_plaintext()).unwrap();
        assert_eq!(back, c.material);
        assert_eq!(c.basic_auth().unwrap().1.expose(), "canary-77");
    }

    #[test]
    fn every_kind_lists_server_first() {
        for k in Kind::ALL {
            assert_eq!(k.info().fields[0].name, "server");
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
