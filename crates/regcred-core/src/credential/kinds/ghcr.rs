//! GitHub Container Registry: a GitHub user and a personal access token.

use super::super::check::{Errors, Input, Reported};
use super::super::fields::{AuthMethod, FieldInfo, KindInfo, EMAIL, SERVER_OPTIONAL};
use super::super::Kind;
use super::{as_given, basic, Checked, Definition, Material};

const SECRET: FieldInfo = FieldInfo::required(
    "token",
    "personal access token (classic) with read:packages",
)
.secret()
.aliases(&["password"]);

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Ghcr,
        title: "GitHub Container Registry",
        default_server: Some("ghcr.io"),
        server_pattern: "ghcr.io[/owner]",
        auth: AuthMethod::Basic,
        fields: &[
            SERVER_OPTIONAL,
            basic::username("GitHub user"),
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
        (s.host() != "ghcr.io").then(|| format!("kind ghcr needs server ghcr.io, not {s}"))
    })?;
    Ok(basic.into_checked(Material::Token))
}
