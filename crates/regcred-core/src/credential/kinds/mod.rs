//! One module per kind of pull secret: its field table and its validator, which checks the
//! kind's own rules and builds the kind's [`Material`]. What every kind does the same way
//! (parsing the server, refusing fields the kind does not take, collecting errors) is in the
//! caller, [`super::validate`].

use crate::registry_host::RegistryServer;

use super::check::{Errors, Input, Reported};
use super::{CredentialSpec, Kind, KindInfo, Material, Params};

mod acr;
mod basic;
mod custom;
mod docker;
mod ecr;
mod gar;
mod gcr;
mod ghcr;
mod google;
mod public;
mod quay;

/// What a kind is made of.
pub(super) struct Definition {
    pub info: KindInfo,
    /// Appended to "X is not a field of kind K", to point at what the kind takes instead.
    pub not_a_field_hint: &'static str,
    /// Rewrites alternative spellings of a spec into the kind's own, before fields are checked.
    pub normalize: fn(&mut CredentialSpec),
    pub validate: fn(Input, &mut Errors) -> Result<Checked, Reported>,
}

/// What a kind validator makes of a spec; the caller adds the kind and the e-mail.
pub(super) struct Checked {
    pub server: RegistryServer,
    pub username: Option<String>,
    pub params: Params,
    pub material: Material,
}

pub(super) fn definition(kind: Kind) -> &'static Definition {
    match kind {
        Kind::Docker => &docker::DEFINITION,
        Kind::Ghcr => &ghcr::DEFINITION,
        Kind::Quay => &quay::DEFINITION,
        Kind::Custom => &custom::DEFINITION,
        Kind::Acr => &acr::DEFINITION,
        Kind::Gcr => &gcr::DEFINITION,
        Kind::Gar => &gar::DEFINITION,
        Kind::Ecr => &ecr::DEFINITION,
        Kind::Public => &public::DEFINITION,
    }
}

/// For kinds whose spec has only one spelling.
fn as_given(_: &mut CredentialSpec) {}

#[cfg(test)]
mod tests;
