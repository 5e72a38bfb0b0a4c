//! `token.*`: access tokens. Admins create any token; a project's owner creates and revokes the
//! project's tokens; anyone may revoke their own. Secrets are shown once, at creation.

use regcred_core::api::{Items, Role, Token, TokenCreate, TokenCreated, TokenList, TokenRef};
use regcred_core::codes::ErrorCode;
use regcred_core::name::NameKind;
use regcred_store::TokenRecord;
use serde_json::json;

use super::check_name;
use super::Ctx;
use crate::auth::{mint_token, Permission};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::projects;

/// Longest lifetime a token may be given: ten years.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// A stored token as the API shows it; a role this regcred does not know is an error, never a
/// weaker default.
fn view(r: TokenRecord) -> Result<Token, ApiError> {
    let role = Role::parse(&r.role).ok_or_else(|| {
        ApiError::unreadable(format!("token {} has the unknown role {:?}", r.id, r.role))
    })?;
    Ok(Token {
        id: r.id,
        name: r.name,
        project: r.project,
        role,
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
        expires_at: r.expires_at.map(rfc3339),
        revoked_at: r.revoked_at.map(rfc3339),
    })
}

pub async fn create(ctx: Ctx, req: TokenCreate) -> Result<TokenCreated, ApiError> {
    check_name(NameKind::Label, "name", &req.name)?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::field(
            "role",
            ErrorCode::InvalidRole,
            "role must be one of admin, owner, editor, deployer, viewer, puller",
        )
    })?;
    match (role, &req.project) {
        (Role::Admin, Some(_)) => {
            return Err(ApiError::field(
                "project",
                ErrorCode::FieldNotAllowed,
                "admin tokens are global; leave project out",
            ))
        }
        (Role::Admin, None) => {}
        (_, None) => {
            return Err(ApiError::field(
                "project",
                ErrorCode::MissingField,
                format!("a {} token belongs to a project", role.as_str()),
            ))
        }
        (_, Some(p)) => check_name(NameKind::Project, "project", p)?,
    }
    let ttl = match req.ttl_seconds {
        Some(t) if !(60..=MAX_TTL_SECONDS).contains(&t) => {
            return Err(ApiError::field(
                "ttlSeconds",
                ErrorCode::InvalidValue,
                format!("ttlSeconds must be between 60 and {MAX_TTL_SECONDS}"),
            ))
        }
        other => other,
    };
    let permission = if role == Role::Admin {
        Permission::Administer
    } else {
        Permission::Own
    };
    ctx.require_audited(permission, req.project.as_deref(), &req.name)
        .await?;
    if let Some(p) = &req.project {
        projects::must_exist(&ctx.state, p).await?;
    }
    let minted = mint_token()?;
    let record = TokenRecord {
        id: minted.id.clone(),
        name: req.name,
        project: req.project.clone(),
        role: role.as_str().to_owned(),
        hash: minted.hash,
        created_at: ctx.now,
        created_by: ctx.principal.actor(),
        expires_at: capped_expiry(
            ttl.map(|t| crate::clock::after_seconds(ctx.now, t)),
            ctx.principal.expires_at,
        ),
        revoked_at: None,
    };
    let event = ctx.audit(
        req.project.as_deref(),
        &minted.id,
        "ok",
        json!({ "role": role.as_str(), "name": record.name }),
    );
    ctx.state.store().create_token(&record, &event).await?;
    Ok(TokenCreated {
        token: view(record)?,
        secret: minted.secret,
    })
}

/// A token never outlives the token that creates it: without a TTL it expires with its creator,
/// and a TTL reaching past the creator's expiry is cut there.
fn capped_expiry(requested: Option<i64>, creator: Option<i64>) -> Option<i64> {
    match (requested, creator) {
        (Some(r), Some(c)) => Some(r.min(c)),
        (r, c) => r.or(c),
    }
}

pub async fn list(ctx: Ctx, req: TokenList) -> Result<Items<Token>, ApiError> {
    let project = req.project.or_else(|| ctx.principal.project.clone());
    match &project {
        Some(p) => ctx.principal.require(Permission::Own, Some(p))?,
        None => ctx.principal.require(Permission::Administer, None)?,
    }
    let items = ctx.state.store().list_tokens(project.as_deref()).await?;
    Ok(Items {
        items: items.into_iter().map(view).collect::<Result<_, _>>()?,
    })
}

pub async fn revoke(ctx: Ctx, req: TokenRef) -> Result<Token, ApiError> {
    let record = ctx.state.store().get_token(&req.id).await?.ok_or_else(|| {
        ApiError::not_found("token not found; `regcred token list` shows the tokens you may see")
    })?;
    if record.id != ctx.principal.token_id {
        let permission = if record.project.is_none() {
            Permission::Administer
        } else {
            Permission::Own
        };
        ctx.require_audited(permission, record.project.as_deref(), &record.id)
            .await?;
    }
    // The store revokes the tokens this one created along with it.
    let event = ctx.audit(record.project.as_deref(), &record.id, "ok", json!({}));
    ctx.state
        .store()
        .revoke_token(&record.id, ctx.now, &event)
        .await?;
    let mut record = record;
    record.revoked_at = Some(ctx.now);
    view(record)
}
