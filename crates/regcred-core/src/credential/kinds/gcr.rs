//! Google Container Registry (`gcr.io`, `REGION.gcr.io`): a service-account key.

use super::super::check::{self, Errors, Input, Reported};
use super::super::fields::{
    AuthMethod, KindInfo, EMAIL, GOOGLE_MODE, SERVER_OPTIONAL, SERVICE_ACCOUNT_KEY,
};
use super::super::{Kind, Params};
use super::{google, Checked, Definition};

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Gcr,
        title: "Google Container Registry",
        default_server: Some("gcr.io"),
        server_pattern: "gcr.io or REGION.gcr.io",
        auth: AuthMethod::Basic,
        fields: &[SERVER_OPTIONAL, SERVICE_ACCOUNT_KEY, GOOGLE_MODE, EMAIL],
    },
    not_a_field_hint: google::NOT_A_FIELD_HINT,
    normalize: google::normalize,
    validate,
};

fn validate(input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    let Input { kind, server, spec } = input;
    let server = check::server(kind, server, errs, |s| {
        (s.host() != "gcr.io" && !s.host().ends_with(".gcr.io"))
            .then(|| format!("kind gcr needs server gcr.io or REGION.gcr.io, not {s}"))
    });
    let key = google::key(kind, spec.service_account_key, errs);
    let mode = google::mode(spec.mode.as_deref(), errs);
    let email = check::email(spec.email.as_deref(), errs);
    let (server, key, (), ()) = (server?, key?, mode?, email?);
    let params = Params {
        mode: spec.mode,
        ..Params::default()
    };
    Ok(key.into_checked(server, params))
}
