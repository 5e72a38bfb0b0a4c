//! Tokens regcred mints for a project's own platform registry: the `puller` token a delivery
//! puts in the `regcred-platform` Secret, and the short-lived one a registry check of the
//! project's own image logs in with. Both are ordinary access tokens, stored hashed and audited
//! as regcred's own acts, and revoked when no longer delivered or when the check is done.

use regcred_core::secret::Secret;
use regcred_store::{AuditRecord, StoreError, TokenRecord};
use serde_json::json;

use crate::AppState;

/// The username regcred's token service ignores; it names who logs in.
pub const USERNAME: &str = "regcred-platform";
/// How long a token minted for one registry check lives, should its revocation fail.
const CHECK_TTL_MS: i64 = 5 * 60_000;

/// Why a platform token could not be minted or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system gave no randomness for the token's secret (logged where it happened).
    #[error("no randomness for a new token")]
    Randomness,
}

fn audit(
    action: &str,
    project: &str,
    target: &str,
    detail: serde_json::Value,
    now: i64,
) -> AuditRecord {
    AuditRecord {
        id: 0,
        time: now,
        actor: "regcred".into(),
        channel: "delivery".into(),
        action: action.into(),
        project: Some(project.into()),
        target: target.into(),
        outcome: "ok".into(),
        detail: detail.to_string(),
    }
}

/// A `puller` token of `project` for one registry check of its own platform registry; the
/// caller revokes it when the check is done.
pub async fn mint_for_check(
    state: &AppState,
    project: &str,
) -> Result<(String, Secret), TokenError> {
    mint(
        state,
        project,
        "platform registry check",
        CHECK_TTL_MS,
        json!({"role": "puller", "purpose": "platform registry check"}),
    )
    .await
}

/// Stores a new `puller` token of `project` named `name`, living `ttl_ms`, audited with
/// `detail`; answers its id and secret.
pub async fn mint(
    state: &AppState,
    project: &str,
    name: &str,
    ttl_ms: i64,
    detail: serde_json::Value,
) -> Result<(String, Secret), TokenError> {
    let now = state.refresher().clock.now_ms();
    let minted = crate::auth::mint_token().map_err(|_| TokenError::Randomness)?;
    let record = TokenRecord {
        id: minted.id.clone(),
        name: name.to_owned(),
        project: Some(project.to_owned()),
        role: "puller".into(),
        hash: minted.hash,
        created_at: now,
        created_by: "regcred".into(),
        expires_at: Some(now + ttl_ms),
        revoked_at: None,
    };
    let event = audit("token.create", project, &minted.id, detail, now);
    state.store().create_token(&record, &event).await?;
    Ok((minted.id, Secret::new(minted.secret)))
}

/// Revokes a platform token that is no longer delivered anywhere (a token already gone is fine).
pub async fn revoke(state: &AppState, project: &str, token_id: &str) -> Result<(), TokenError> {
    let now = state.refresher().clock.now_ms();
    let event = audit(
        "token.revoke",
        project,
        token_id,
        json!({"purpose": "platform registry pull secret"}),
        now,
    );
    match state.store().revoke_token(token_id, now, &event).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
