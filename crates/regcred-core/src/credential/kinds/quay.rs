//! Quay.io: a robot account (`org+robot`) and its token.

use super::super::check::{Errors, Input, Reported};
use super::super::fields::{AuthMethod, FieldInfo, KindInfo, EMAIL, SERVER_OPTIONAL};
use super::super::Kind;
use super::{as_given, basic, Checked, Definition, Material};

const SECRET: FieldInfo = FieldInfo::required("token", "robot token")
    .secret()
    .aliases(&["password"]);

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Quay,
        title: "Quay",
        default_server: Some("quay.io"),
        server_pattern: "quay.io[/org]",
        auth: AuthMethod::Basic,
        fields: &[
            SERVER_OPTIONAL,
            basic::username("robot account, org+robot"),
            SECRET,
            EMAIL,
        ],
    },
    not_a_field_hint: "",
    normalize: as_given,
    validate,
};

fn validate(input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    let basic = basic::check(input, &SECRET, errs, |s| {
        (s.host() != "quay.io").then(|| {
            format!(
                "kind quay needs server quay.io, not {s}; use kind custom for a self-hosted Quay"
            )
        })
    })?;
    Ok(basic.into_checked(Material::Token))
}
