//! Google Artifact Registry (`REGION-docker.pkg.dev`): a service-account key and the region,
//! which the server implies.

use crate::codes::ErrorCode;
use crate::registry_host::RegistryServer;

use super::super::check::{self, Errors, Input, Reported};
use super::super::fields::{
    AuthMethod, FieldInfo, KindInfo, EMAIL, GOOGLE_MODE, SERVER_REQUIRED, SERVICE_ACCOUNT_KEY,
};
use super::super::{gar_region, Kind, Params};
use super::{google, Checked, Definition};

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Gar,
        title: "Google Artifact Registry",
        default_server: None,
        server_pattern: "REGION-docker.pkg.dev",
        auth: AuthMethod::Basic,
        fields: &[
            SERVER_REQUIRED,
            SERVICE_ACCOUNT_KEY,
            FieldInfo::required("region", "e.g. europe-west1; implied by the server"),
            GOOGLE_MODE,
            EMAIL,
        ],
    },
    not_a_field_hint: google::NOT_A_FIELD_HINT,
    normalize: google::normalize,
    validate,
};

fn validate(input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    let Input { kind, server, spec } = input;
    let server = check::server(kind, server, errs, |s| {
        gar_region(s.host())
            .is_none()
            .then(|| format!("kind gar needs a server REGION-docker.pkg.dev, not {s}"))
    });
    let region = implied_region(server.as_ref().ok(), spec.region, errs);
    let key = google::key(kind, spec.service_account_key, errs);
    let region = match region {
        Ok(None) => Err(errs.add(
            "region",
            ErrorCode::MissingField,
            "region is required for kind gar (or give the server REGION-docker.pkg.dev)",
        )),
        other => other,
    };
    let mode = google::mode(spec.mode.as_deref(), errs);
    let email = check::email(spec.email.as_deref(), errs);
    let (server, key, region, (), ()) = (server?, key?, region?, mode?, email?);
    let params = Params {
        region,
        mode: spec.mode,
        ..Params::default()
    };
    Ok(key.into_checked(server, params))
}

/// The region the server implies, which a given region must match; the given one when the
/// server implies none.
fn implied_region(
    server: Option<&RegistryServer>,
    given: Option<String>,
    errs: &mut Errors,
) -> Result<Option<String>, Reported> {
    let Some((server, implied)) = server.and_then(|s| Some((s, gar_region(s.host())?))) else {
        return Ok(given);
    };
    match given {
        Some(given) if given != implied => Err(errs.add(
            "region",
            ErrorCode::ConflictingFields,
            format!("region {given} does not match server {server} (region {implied})"),
        )),
        _ => Ok(Some(implied.to_owned())),
    }
}
