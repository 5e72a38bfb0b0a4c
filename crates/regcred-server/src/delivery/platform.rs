//! The credential for a project's own platform registry: a deployment of an image from
//! its project's registry names no pull secret, so regcred mints one — a `puller` access token of
//! the project that lives a day — and delivers it as the Secret `regcred-platform` in the
//! project's namespace. The delivered object's digest annotation is the token's id, so a pass
//! knows which token is out there without keeping its secret: while that token has more than half
//! its life left nothing happens; otherwise a new token is minted, applied, and the old one
//! revoked. Removing the Secret revokes its token.

use regcred_core::delivery::Owner;
use regcred_core::k8s_secret::DockerAuth;
use regcred_core::secret::Secret;
use regcred_store::{AuditRecord, StoreError, TokenRecord};
use serde_json::json;

use super::DeliveryError;
use crate::AppState;

/// The Secret holding the platform credential in each namespace that needs it.
pub const SECRET_NAME: &str = "regcred-platform";
/// How long a minted platform token lives; it is replaced at half of that.
const TTL_MS: i64 = 24 * 3_600_000;
/// The username regcred's token service ignores; it names who logs in.
pub(crate) const USERNAME: &str = "regcred-platform";
/// How long a token minted for one registry check lives, should its revocation fail.
const CHECK_TTL_MS: i64 = 5 * 60_000;

/// What the owner id of a project's platform credential starts with.
pub(crate) const OWNER_PREFIX: &str = "platform:";

/// The owner id of a project's platform credential in the status rows and annotations.
pub fn owner_id(project: &str) -> String {
    format!("{OWNER_PREFIX}{project}")
}

/// What a pass does about one project's platform credential.
pub(crate) enum Decision {
    /// The delivered token is still good: nothing to write.
    Keep { token_id: String },
    /// A new token to deliver (and the one it replaces, to revoke once it is delivered).
    Mint {
        token_id: String,
        secret: Secret,
        previous: Option<String>,
    },
    /// Something regcred does not own is there: leave it (the planner refuses).
    Leave,
}

impl Decision {
    /// The digest the desired object carries.
    pub fn digest(&self) -> &str {
        match self {
            Decision::Keep { token_id } | Decision::Mint { token_id, .. } => token_id,
            Decision::Leave => "",
        }
    }
}

/// The registry login for the minted token.
pub(crate) fn auth<'a>(registry: &'a str, secret: &'a Secret) -> DockerAuth<'a> {
    DockerAuth::new(registry, USERNAME, secret.expose())
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

/// Decides about the credential of `project` at `location`, given what is observed where it goes.
pub(crate) async fn decide(
    state: &AppState,
    observed: Option<&Owner>,
    project: &str,
    location: &str,
) -> Result<Decision, DeliveryError> {
    let now = state.refresher().clock.now_ms();
    let previous = match observed {
        Some(Owner::Other) => return Ok(Decision::Leave),
        Some(Owner::Regcred {
            owner_id: o,
            digest,
        }) if *o == owner_id(project) => Some(digest.clone()),
        _ => None,
    };
    if let Some(id) = &previous {
        let token = state.store().get_token(id).await?;
        let fresh = token.is_some_and(|t| {
            t.revoked_at.is_none() && t.expires_at.is_some_and(|at| at - now > TTL_MS / 2)
        });
        if fresh {
            return Ok(Decision::Keep {
                token_id: id.clone(),
            });
        }
    }
    let (token_id, secret) = mint(
        state,
        project,
        &format!("platform registry pull ({location})"),
        TTL_MS,
        json!({"role": "puller", "purpose": "platform registry pull secret", "location": location}),
    )
    .await?;
    Ok(Decision::Mint {
        token_id,
        secret,
        previous,
    })
}

/// A `puller` token of `project` for one registry check of its own platform registry; the
/// caller revokes it when the check is done.
pub(crate) async fn mint_for_check(
    state: &AppState,
    project: &str,
) -> Result<(String, Secret), DeliveryError> {
    mint(
        state,
        project,
        "platform registry check",
        CHECK_TTL_MS,
        json!({"role": "puller", "purpose": "platform registry check"}),
    )
    .await
}

/// Stores a new `puller` token of `project` living `ttl_ms`; its id and secret.
async fn mint(
    state: &AppState,
    project: &str,
    name: &str,
    ttl_ms: i64,
    detail: serde_json::Value,
) -> Result<(String, Secret), DeliveryError> {
    let now = state.refresher().clock.now_ms();
    let minted = crate::service::deliveries::mint_token()?;
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
pub(crate) async fn revoke(
    state: &AppState,
    project: &str,
    token_id: &str,
) -> Result<(), DeliveryError> {
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
