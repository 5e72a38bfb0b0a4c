//! Azure Container Registry: a service principal (application id and secret) or the admin
//! user, either sent as they are (mode `basic`) or traded for an ACR refresh token through
//! Entra ID (mode `exchange`, which needs the tenant).

use crate::codes::ErrorCode;

use super::super::check::{Errors, Input, Reported};
use super::super::fields::{AuthMethod, FieldInfo, KindInfo, EMAIL, SERVER_REQUIRED};
use super::super::{host_without_port, Kind, Params};
use super::{as_given, basic, Checked, Definition, Material};

const SECRET: FieldInfo =
    FieldInfo::required("password", "service principal secret or admin password")
        .secret()
        .aliases(&["token"]);

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Acr,
        title: "Azure Container Registry",
        default_server: None,
        server_pattern: "NAME.azurecr.io",
        auth: AuthMethod::Basic,
        fields: &[
            SERVER_REQUIRED,
            basic::username("service principal (application) id or admin user"),
            SECRET,
            EMAIL,
            FieldInfo::optional(
                "mode",
                "basic (default) or exchange: trade the service principal for an ACR refresh token via Entra ID",
            ),
            FieldInfo::optional("tenant", "Entra ID tenant id (exchange mode)"),
        ],
    },
    not_a_field_hint: "",
    normalize: as_given,
    validate,
};

fn validate(mut input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    let mode = input.spec.mode.take();
    let tenant = input.spec.tenant.take();
    let basic = basic::check(input, &SECRET, errs, |s| {
        (!host_without_port(s.host()).ends_with(".azurecr.io"))
            .then(|| format!("kind acr needs a server NAME.azurecr.io, not {s}"))
    });
    let mode_and_tenant = check_mode(mode.as_deref(), tenant.as_deref(), errs);
    let (basic, ()) = (basic?, mode_and_tenant?);
    let params = Params {
        mode,
        tenant,
        ..Params::default()
    };
    Ok(
        basic.with_params(params, |client_secret| Material::AcrServicePrincipal {
            client_secret,
        }),
    )
}

/// The tenant belongs to mode `exchange`, which cannot do without it.
fn check_mode(mode: Option<&str>, tenant: Option<&str>, errs: &mut Errors) -> Result<(), Reported> {
    let (field, code, message) = match (mode, tenant) {
        (None | Some("basic"), None) => return Ok(()),
        (Some("exchange"), Some(t)) if is_tenant(t) => return Ok(()),
        (None | Some("basic"), Some(_)) => (
            "tenant",
            ErrorCode::FieldNotAllowed,
            "tenant is used by mode exchange only",
        ),
        (Some("exchange"), Some(_)) => (
            "tenant",
            ErrorCode::InvalidValue,
            "tenant must be an Entra ID tenant id (a GUID) or domain",
        ),
        (Some("exchange"), None) => (
            "tenant",
            ErrorCode::MissingField,
            "mode exchange needs the Entra ID tenant",
        ),
        (Some(_), _) => (
            "mode",
            ErrorCode::InvalidValue,
            "mode must be basic or exchange",
        ),
    };
    Err(errs.add(field, code, message))
}

/// A tenant id (GUID) or a domain name: letters, digits, '-' and '.'.
fn is_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 253
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
