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
    let check = |project: String, what: String| async move {
        match audited {
            true => ctx.require_audited(permission, Some(&project), &what).await,
            false => ctx.principal.require(permission, Some(&project)),
        }
    };
    let not_found = || {
        ApiError::not_found("pull secret not found; `regcred pullsecret list` shows what exists")
    };
    match (&target.id, &target.project, &target.location, &target.name) {
        (Some(id), None, None, None) => {
            let record = ctx
                .state
                .store()
                .get_pull_secret_by_id(id)
                .await?
                .ok_or_else(not_found)?;
            let what = format!("{}/{}/{}", record.project, record.location, record.name);
            check(record.project.clone(), what).await?;
            Ok(record)
        }
        (None, Some(p), Some(l), Some(n)) => {
            check_name(NameKind::Project, "project", p)?;
            check_name(NameKind::Location, "location", l)?;
            check_name(NameKind::PullSecret, "name", n)?;
            check(p.clone(), format!("{p}/{l}/{n}")).await?;
            ctx.state
                .store()
                .get_pull_secret(p, l, n)
                .await?
                .ok_or_else(not_found)
        }
        _ => Err(ApiError::validation(
            ErrorCode::InvalidReference,
            "name a pull secret by id, or by project, location and name",
        )),
    }
}
