//! `registryKey.*`: robot credentials for the platform's own registry, per project, `read` or
//! `read-write`, optionally expiring. The secret is shown once and kept as a hash; a project's
//! owner (or an admin) manages them.

use regcred_core::api::{
    Items, KeyAccess, RegistryKey, RegistryKeyCreate, RegistryKeyCreated, RegistryKeyList,
    RegistryKeyRevoke,
};
use regcred_core::codes::ErrorCode;
use regcred_core::name::NameKind;
use regcred_store::RegistryKeyRecord;
use serde_json::json;

use super::check_name;
use super::Ctx;
use crate::auth::Permission;
use crate::auth::{mint_secret, SecretKind};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::projects;

/// Longest lifetime a key may be given: ten years.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

fn view(r: RegistryKeyRecord) -> RegistryKey {
    RegistryKey {
        username: format!("{}+{}", r.project, r.name),
        id: r.id,
        project: r.project,
        name: r.name,
        access: r.access,
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
        expires_at: r.expires_at.map(rfc3339),
        revoked_at: r.revoked_at.map(rfc3339),
    }
}

pub async fn create(ctx: Ctx, req: RegistryKeyCreate) -> Result<RegistryKeyCreated, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::PullSecret, "name", &req.name)?;
    let access = KeyAccess::parse(&req.access).ok_or_else(|| {
        ApiError::field(
            "access",
            ErrorCode::InvalidValue,
            "access must be read or read-write",
        )
    })?;
    if req
        .ttl_seconds
        .is_some_and(|t| !(1..=MAX_TTL_SECONDS).contains(&t))
    {
        return Err(ApiError::field(
            "ttlSeconds",
            ErrorCode::InvalidValue,
            format!("ttlSeconds must be between 1 and {MAX_TTL_SECONDS}"),
        ));
    }
    let target = format!("{}/{}", req.project, req.name);
    ctx.require_audited(Permission::Own, Some(&req.project), &target)
        .await?;
    // After authorizing: whether the platform registry is configured is no answer for callers
    // who may not create keys.
    let server = crate::platform::required(&ctx.state)?
        .config
        .registry
        .clone();
    projects::must_exist(&ctx.state, &req.project).await?;
    let minted = mint_secret(SecretKind::RegistryKey)?;
    let (id, secret, hash) = (minted.id, minted.secret, minted.hash);
    let record = RegistryKeyRecord {
        id: id.clone(),
        project: req.project.clone(),
        name: req.name,
        access: access.as_str().to_owned(),
        hash,
        created_at: ctx.now,
        created_by: ctx.principal.actor(),
        expires_at: req
            .ttl_seconds
            .map(|t| crate::clock::after_seconds(ctx.now, t)),
        revoked_at: None,
    };
    let event = ctx.audit(
        Some(&req.project),
        &target,
        "ok",
        json!({ "id": id, "access": record.access }),
    );
    ctx.state
        .store()
        .create_registry_key(&record, &event)
        .await?;
    Ok(RegistryKeyCreated {
        key: view(record),
        secret,
        server,
    })
}

pub async fn list(ctx: Ctx, req: RegistryKeyList) -> Result<Items<RegistryKey>, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    ctx.principal.require(Permission::Own, Some(&req.project))?;
    let items = ctx.state.store().list_registry_keys(&req.project).await?;
    Ok(Items {
        items: items.into_iter().map(view).collect(),
    })
}

pub async fn revoke(ctx: Ctx, req: RegistryKeyRevoke) -> Result<RegistryKey, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::PullSecret, "name", &req.name)?;
    let target = format!("{}/{}", req.project, req.name);
    ctx.require_audited(Permission::Own, Some(&req.project), &target)
        .await?;
    let mut record = ctx
        .state
        .store()
        .list_registry_keys(&req.project)
        .await?
        .into_iter()
        .find(|k| k.name == req.name && k.revoked_at.is_none())
        .ok_or_else(|| ApiError::not_found(format!("no active registry key {target}")))?;
    let event = ctx.audit(
        Some(&req.project),
        &target,
        "ok",
        json!({ "id": record.id }),
    );
    ctx.state
        .store()
        .revoke_registry_key(&record.id, ctx.now, &event)
        .await?;
    record.revoked_at = Some(ctx.now);
    Ok(view(record))
}
