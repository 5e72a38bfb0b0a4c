//! Public registries: no credentials at all, only the server the pull secret stands for.

use super::super::check::{self, Errors, Input, Reported};
use super::super::fields::{AuthMethod, KindInfo, SERVER_OPTIONAL};
use super::super::{Kind, Params};
use super::{as_given, Checked, Definition, Material};

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Public,
        title: "Public (no credentials)",
        default_server: Some("docker.io"),
        server_pattern: "host[:port][/path]",
        auth: AuthMethod::Anonymous,
        fields: &[SERVER_OPTIONAL],
    },
    not_a_field_hint: "; a public pull secret holds no credentials",
    normalize: as_given,
    validate,
};

/// Every other field was already refused as not a field of this kind; any server will do.
fn validate(input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    Ok(Checked {
        server: check::server(input.kind, input.server, errs, |_| None)?,
        username: None,
        params: Params::default(),
        material: Material::None,
    })
}
