//! Finding the record a request names, with the caller's permission checked the way every
//! handler needs it (before the lookup when the request names it, so other projects' names stay
//! unknown).

use regcred_core::api::PullSecretRef;
use regcred_core::codes::ErrorCode;
use regcred_core::name::NameKind;
use regcred_store::PullSecretRecord;

use super::{check_name, Ctx};
use crate::auth::Permission;
use crate::error::ApiError;

/// Finds the record a reference names — by id, or by project, location and name — and checks
/// that the caller holds `permission` on its project (auditing a refusal when `audited`).
/// By name, the permission is checked before the lookup, so other projects' names stay unknown.
pub async fn find(
    ctx: &Ctx,
    target: &PullSecretRef,
    permission: Permission,
    audited: bool,
) -> Result<PullSecretRecord, ApiError> {
    let store = ctx.state.store();
    match address(ctx, target, permission, audited).await? {
        Address::Named(p, l, n) => store.get_pull_secret(p, l, n).await?.ok_or_else(not_found),
        Address::Id(id) => {
            let record = store
                .get_pull_secret_by_id(id)
                .await?
                .ok_or_else(not_found)?;
            let what = format!("{}/{}/{}", record.project, record.location, record.name);
            check(ctx, permission, audited, &record.project, &what).await?;
            Ok(record)
        }
    }
}

/// How a reference names a pull secret.
pub enum Address<'a> {
    /// By project, location and name, with the caller's permission on the project checked.
    Named(&'a str, &'a str, &'a str),
    /// By id: the permission is checked once the record says its project.
    Id(&'a str),
}

/// The address a reference gives: by name, its parts are checked and then the caller's
/// permission on the project; by id, nothing is checked yet.
pub async fn address<'a>(
    ctx: &Ctx,
    target: &'a PullSecretRef,
    permission: Permission,
    audited: bool,
) -> Result<Address<'a>, ApiError> {
    match (&target.id, &target.project, &target.location, &target.name) {
        (Some(id), None, None, None) => Ok(Address::Id(id)),
        (None, Some(p), Some(l), Some(n)) => {
            check_name(NameKind::Project, "project", p)?;
            check_name(NameKind::Location, "location", l)?;
            check_name(NameKind::PullSecret, "name", n)?;
            check(ctx, permission, audited, p, &format!("{p}/{l}/{n}")).await?;
            Ok(Address::Named(p, l, n))
        }
        _ => Err(ApiError::validation(
            ErrorCode::InvalidReference,
            "name a pull secret by id, or by project, location and name",
        )),
    }
}

/// Checks that the caller holds `permission` on `project` (auditing a refusal when `audited`).
async fn check(
    ctx: &Ctx,
    permission: Permission,
    audited: bool,
    project: &str,
    what: &str,
) -> Result<(), ApiError> {
    match audited {
        true => ctx.require_audited(permission, Some(project), what).await,
        false => ctx.principal.require(permission, Some(project)),
    }
}

/// A pull secret that does not exist, or that the caller may not know of.
pub fn not_found() -> ApiError {
    ApiError::not_found("pull secret not found; `regcred pullsecret list` shows what exists")
}
