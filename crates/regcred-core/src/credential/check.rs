//! The checks several kinds share (server, username, password or token, e-mail, plain text
//! values) and the collector that gathers every problem of a `spec` at once.
//!
//! A check that finds a problem records it and returns [`Reported`], which only
//! [`Errors::add`] can make: a validator that fails has therefore always said why, and the
//! caller never has to invent an error for a failure nobody described.

use crate::codes::ErrorCode;
use crate::registry_host::RegistryServer;
use crate::secret::Secret;

use super::{CredentialSpec, FieldError, FieldInfo, Kind, KindInfo};

/// Proof that a problem was recorded in [`Errors`].
#[derive(Debug)]
pub(super) struct Reported(());

/// The problems found so far, with field paths under `spec.`.
#[derive(Debug, Default)]
pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub fn add(&mut self, field: &str, code: ErrorCode, message: impl Into<String>) -> Reported {
        self.0
            .push(FieldError::new(format!("spec.{field}"), code, message));
        Reported(())
    }

    /// The validated value, or every problem when there is any.
    pub fn finish<T>(self, checked: Result<T, Reported>) -> Result<T, Vec<FieldError>> {
        match checked {
            Ok(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.0),
        }
    }
}

/// What a kind validator works on: the `spec` with its server already parsed (or defaulted)
/// and taken out of `spec`.
pub(super) struct Input {
    pub kind: Kind,
    pub server: Option<RegistryServer>,
    pub spec: CredentialSpec,
}

/// The server, unless `mismatch` says why it does not fit the kind; a missing one (a kind
/// without default server) is reported as missing.
pub(super) fn server(
    kind: Kind,
    server: Option<RegistryServer>,
    errs: &mut Errors,
    mismatch: impl Fn(&RegistryServer) -> Option<String>,
) -> Result<RegistryServer, Reported> {
    let Some(server) = server else {
        return Err(missing_server(kind, errs));
    };
    match mismatch(&server) {
        None => Ok(server),
        Some(message) => Err(errs.add("server", ErrorCode::ServerMismatch, message)),
    }
}

pub(super) fn missing_server(kind: Kind, errs: &mut Errors) -> Reported {
    errs.add(
        "server",
        ErrorCode::MissingField,
        format!("server is required for kind {}", kind.as_str()),
    )
}

/// A required plain-text field: present, not blank, short and without control characters.
pub(super) fn text(
    kind: Kind,
    name: &str,
    value: Option<&String>,
    errs: &mut Errors,
) -> Result<(), Reported> {
    match value {
        None => Err(errs.add(
            name,
            ErrorCode::MissingField,
            format!("{name} is required for kind {}", kind.as_str()),
        )),
        Some(v) if v.trim().is_empty() => Err(errs.add(
            name,
            ErrorCode::MissingField,
            format!("{name} must not be empty"),
        )),
        Some(v) if v.chars().any(char::is_control) || v.len() > 256 => Err(errs.add(
            name,
            ErrorCode::InvalidValue,
            format!("{name} must be at most 256 characters without control characters"),
        )),
        Some(_) => Ok(()),
    }
}

/// The username sent with a password or token.
pub(super) fn username(
    kind: Kind,
    value: Option<String>,
    errs: &mut Errors,
) -> Result<String, Reported> {
    let checked = text(kind, "username", value.as_ref(), errs);
    let value = value.unwrap_or_default();
    if value.contains(':') {
        return Err(errs.add(
            "username",
            ErrorCode::InvalidValue,
            "username must not contain ':' (it separates user and password in registry auth)",
        ));
    }
    checked.map(|()| value)
}

/// The password or token of a basic kind, given under `field`'s name or its alias (problems
/// are reported under the field's own name).
pub(super) fn basic_secret(
    kind: Kind,
    field: &FieldInfo,
    password: Option<Secret>,
    token: Option<Secret>,
    errs: &mut Errors,
) -> Result<Secret, Reported> {
    let name = field.name;
    match (password, token) {
        (Some(_), Some(_)) => Err(errs.add(
            name,
            ErrorCode::ConflictingFields,
            "give either password or token, not both",
        )),
        (Some(s), None) | (None, Some(s)) if s.is_empty() => Err(errs.add(
            name,
            ErrorCode::MissingField,
            format!("{name} must not be empty"),
        )),
        (Some(s), None) | (None, Some(s)) if s.expose().len() > 64 * 1024 => Err(errs.add(
            name,
            ErrorCode::InvalidValue,
            format!("{name} is longer than 64 KiB"),
        )),
        (Some(s), None) | (None, Some(s)) => Ok(s),
        (None, None) => Err(errs.add(
            name,
            ErrorCode::MissingField,
            format!(
                "{name} is required for kind {} (the {} field is accepted too)",
                kind.as_str(),
                field.aliases.join(" and ")
            ),
        )),
    }
}

/// The optional e-mail kept in `.dockerconfigjson`.
pub(super) fn email(value: Option<&str>, errs: &mut Errors) -> Result<(), Reported> {
    match value {
        Some(e) if e.chars().any(char::is_control) || e.len() > 254 => Err(errs.add(
            "email",
            ErrorCode::InvalidValue,
            "email must be at most 254 characters without control characters",
        )),
        _ => Ok(()),
    }
}

/// The fields of `spec` given but not taken by the kind, each reported with `hint`.
pub(super) fn only_fields_of(
    info: &KindInfo,
    hint: &str,
    spec: &CredentialSpec,
    errs: &mut Errors,
) {
    let given: [(&str, bool); 12] = [
        ("tenant", spec.tenant.is_some()),
        ("username", spec.username.is_some()),
        ("password", spec.password.is_some()),
        ("token", spec.token.is_some()),
        ("email", spec.email.is_some()),
        ("serviceAccountKey", spec.service_account_key.is_some()),
        ("region", spec.region.is_some()),
        ("accessKeyId", spec.access_key_id.is_some()),
        ("secretAccessKey", spec.secret_access_key.is_some()),
        ("registryId", spec.registry_id.is_some()),
        ("roleArn", spec.role_arn.is_some()),
        ("mode", spec.mode.is_some()),
    ];
    for (name, present) in given {
        if present && info.field(name).is_none() {
            errs.add(
                name,
                ErrorCode::FieldNotAllowed,
                format!("{name} is not a field of kind {}{hint}", info.kind.as_str()),
            );
        }
    }
}

/// A value `allowed` lists, when given.
pub(super) fn one_of(
    name: &str,
    value: Option<&str>,
    allowed: &[&str],
    errs: &mut Errors,
) -> Result<(), Reported> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(errs.add(
            name,
            ErrorCode::InvalidValue,
            format!("{name} must be {}", allowed.join(" or ")),
        )),
        _ => Ok(()),
    }
}
