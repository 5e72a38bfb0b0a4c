//! Docker Hub: a user or organization and a password or personal access token.

use super::super::check::{Errors, Input, Reported};
use super::super::fields::{AuthMethod, FieldInfo, KindInfo, EMAIL, SERVER_OPTIONAL};
use super::super::Kind;
use super::{as_given, basic, Checked, Definition, Material};

const SECRET: FieldInfo = FieldInfo::required("password", "password or personal access token")
    .secret()
    .aliases(&["token"]);

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Docker,
        title: "Docker Hub",
        default_server: Some("docker.io"),
        server_pattern: "docker.io",
        auth: AuthMethod::Basic,
        fields: &[
            SERVER_OPTIONAL,
            basic::username("Docker Hub user or organization"),
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
        (!s.is_docker_hub()).then(|| {
            format!("kind docker means Docker Hub, but server is {s}; use kind custom for other registries")
        })
    })?;
    Ok(basic.into_checked(Material::Password))
}
