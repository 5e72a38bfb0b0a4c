//! Credential kinds: which fields each kind takes, how the kind is inferred from the
//! server, and the validation that turns the API's `spec` object into a [`Credential`] — the
//! non-secret metadata that may be shown, plus the typed [`Material`] that is only ever
//! encrypted. Validation collects every problem at once so a form or CLI can show them
//! together.
//!
//! Each kind lives in its own module under `kinds/` (its field table and its rules); the checks
//! kinds share are in `check`, the tables' building blocks in `fields`, and the sealed format
//! of the material in `material`. [`validate`] does what is the same for every kind: it parses
//! the server, infers the kind, refuses fields the kind does not take, and hands the rest to
//! the kind.

mod check;
mod fields;
mod kinds;
mod material;

use serde::{Deserialize, Serialize};

use crate::codes::ErrorCode;
use crate::registry_host::RegistryServer;
use crate::secret::Secret;

pub use fields::{AuthMethod, FieldInfo, KindInfo};
pub use material::{Material, MaterialError};

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
        kinds::definition(self).info
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
#[derive(Debug, Clone, Default, Deserialize)]
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

/// The username Google registries take with a service-account key as the password.
const GOOGLE_KEY_USER: &str = "_json_key";

/// A validated credential: what may be shown, and the material that may not. The material is
/// the kind's own (see [`Material::from_plaintext`]): [`validate`] and the decoding of sealed
/// plaintext only ever pair a kind with its variant.
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
}

/// The kinds [`is_minted`] can answer `true` for, in some mode: the pull secrets a refresher has
/// to look at.
pub const MINTING_KINDS: [Kind; 4] = [Kind::Ecr, Kind::Gcr, Kind::Gar, Kind::Acr];

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
        let minted = UsableError::MintRequired {
            kind: self.kind.as_str(),
        };
        if is_minted(self.kind, &self.params) {
            return Err(minted);
        }
        let username = || self.username.clone().unwrap_or_default();
        match &self.material {
            Material::None => Err(UsableError::Anonymous),
            Material::Password(secret)
            | Material::Token(secret)
            | Material::AcrServicePrincipal {
                client_secret: secret,
            } => Ok((username(), secret.clone())),
            Material::GcpServiceAccountKey(key) => Ok((GOOGLE_KEY_USER.to_owned(), key.clone())),
            // An access key is only ever traded for a token (ECR is always minted).
            Material::EcrAccessKey { .. } => Err(minted),
        }
    }
}

/// Validates a `spec` for `kind` (inferred from the server when `None`) into a credential,
/// or reports every field problem. Field paths are prefixed with `spec.`.
pub fn validate(
    kind: Option<Kind>,
    mut spec: CredentialSpec,
) -> Result<Credential, Vec<FieldError>> {
    let mut errs = check::Errors::default();
    let parsed = match spec.server.take().as_deref().map(RegistryServer::parse) {
        None => None,
        Some(Ok(server)) => Some(server),
        Some(Err(e)) => {
            let reported = errs.add("server", e.code(), e.to_string());
            return errs.finish(Err(reported));
        }
    };
    let kind = kind.unwrap_or_else(|| parsed.as_ref().map_or(Kind::Docker, Kind::infer));
    let definition = kinds::definition(kind);
    (definition.normalize)(&mut spec);
    let info = &definition.info;
    check::only_fields_of(info, definition.not_a_field_hint, &spec, &mut errs);
    let server = parsed.or_else(|| {
        info.default_server
            .and_then(|d| RegistryServer::parse(d).ok())
    });
    let email = spec.email.clone().filter(|e| !e.is_empty());
    let checked = (definition.validate)(check::Input { kind, server, spec }, &mut errs);
    let checked = errs.finish(checked)?;
    Ok(Credential {
        kind,
        server: checked.server,
        username: checked.username,
        email,
        params: checked.params,
        material: checked.material,
    })
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
        let back = Material::from_plaintext(c.kind, &c.material.to_plaintext()).unwrap();
        assert_eq!(back, c.material);
        assert_eq!(c.basic_auth().unwrap().1.expose(), "canary-77");
    }

    /// `registry.kinds` answers these tables; forms and the CLI read them.
    #[test]
    fn registry_kinds_is_pinned() {
        let all: Vec<KindInfo> = Kind::ALL.iter().map(|k| k.info()).collect();
        insta::assert_json_snapshot!("registry_kinds", all);
    }

    #[test]
    fn every_kind_lists_server_first() {
        for k in Kind::ALL {
            assert_eq!(k.info().fields[0].name, "server");
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
