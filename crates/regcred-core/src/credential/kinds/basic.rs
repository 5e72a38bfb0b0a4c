//! What the kinds that send a stored username and password or token as they are (Docker Hub,
//! GHCR, Quay, any registry, ACR) check the same way.

use crate::registry_host::RegistryServer;
use crate::secret::Secret;

use super::super::check::{self, Errors, Input, Reported};
use super::super::{FieldInfo, Params};
use super::{Checked, Material};

/// The checked parts of a basic kind's spec.
pub(super) struct Basic {
    pub server: RegistryServer,
    pub username: String,
    pub secret: Secret,
}

impl Basic {
    /// The checked credential, with the secret stored as `material` and no parameters.
    pub fn into_checked(self, material: fn(Secret) -> Material) -> Checked {
        self.with_params(Params::default(), material)
    }

    pub fn with_params(self, params: Params, material: fn(Secret) -> Material) -> Checked {
        Checked {
            server: self.server,
            username: Some(self.username),
            params,
            material: material(self.secret),
        }
    }
}

/// Checks the server (see [`check::server`] for `mismatch`), the username, the secret given as `secret`
/// or its alias, and the e-mail; every problem is recorded, not just the first.
pub(super) fn check(
    input: Input,
    secret: &FieldInfo,
    errs: &mut Errors,
    mismatch: impl Fn(&RegistryServer) -> Option<String>,
) -> Result<Basic, Reported> {
    let Input { kind, server, spec } = input;
    let server = check::server(kind, server, errs, mismatch);
    let username = check::username(kind, spec.username, errs);
    let secret = check::basic_secret(kind, secret, spec.password, spec.token, errs);
    let email = check::email(spec.email.as_deref(), errs);
    let basic = Basic {
        server: server?,
        username: username?,
        secret: secret?,
    };
    email.map(|()| basic)
}

/// The username field of a basic kind.
pub(super) const fn username(description: &'static str) -> FieldInfo {
    FieldInfo::required("username", description)
}
