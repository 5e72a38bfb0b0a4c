//! Any registry: a server, a user and a password or token, sent as they are.

use super::super::check::{Errors, Input, Reported};
use super::super::fields::{AuthMethod, FieldInfo, KindInfo, EMAIL, SERVER_REQUIRED};
use super::super::Kind;
use super::{as_given, basic, Checked, Definition, Material};

const SECRET: FieldInfo = FieldInfo::required("password", "password or token")
    .secret()
    .aliases(&["token"]);

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Custom,
        title: "Any registry",
        default_server: None,
        server_pattern: "host[:port][/path]",
        auth: AuthMethod::Basic,
        fields: &[SERVER_REQUIRED, basic::username("user"), SECRET, EMAIL],
    },
    not_a_field_hint: "",
    normalize: as_given,
    validate,
};

fn validate(input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    // Any server fits; only a missing one is refused.
    let basic = basic::check(input, &SECRET, errs, |_| None)?;
    Ok(basic.into_checked(Material::Password))
}
