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
use serde_json::json;

use super::DeliveryError;
use crate::service::platform_tokens;
use crate::AppState;

/// The Secret holding the platform credential in each namespace that needs it.
pub const SECRET_NAME: &str = "regcred-platform";
/// How long a minted platform token lives; it is replaced at half of that.
const TTL_MS: i64 = 24 * 3_600_000;

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
    DockerAuth::new(registry, platform_tokens::USERNAME, secret.expose())
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
    let (token_id, secret) = platform_tokens::mint(
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
