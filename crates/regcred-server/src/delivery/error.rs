//! Why a delivery pass stopped. A pass that runs to its end records what went wrong with each
//! target as an outcome (a [`DeliveryCode`] in its row); a [`DeliveryError`] is for what ends the
//! pass itself. It knows nothing of HTTP: the API turns it into its own error where it calls
//! delivery (`location.sync`, `deployment.*`), and the background loop logs it.

use regcred_core::codes::{DeliveryCode, ErrorCode};
use regcred_store::StoreError;

use crate::error::ApiError;
use crate::service::platform_tokens::TokenError;

/// What ended a delivery pass (or one of the platform-credential steps it shares with the API).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The location was deleted, or never existed.
    #[error("location {0:?} does not exist")]
    NoLocation(String),
    /// Something cannot be delivered at all, for the reason `code` names: a pull secret whose
    /// credential cannot be had or rendered (the pass records it per target), or an object that
    /// cannot be built (the pass stops).
    #[error("{message}")]
    Undeliverable { code: DeliveryCode, message: String },
    /// What the pass was about to replace changed while it planned; the next pass plans again.
    #[error("{0}")]
    Changed(String),
    /// This server follows: passes run on the leader (its URL, when it gave one).
    #[error("delivery passes run on the leading server")]
    NotLeader(Option<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value this regcred cannot read back (an unknown location kind).
    #[error("{0}")]
    Unreadable(String),
    /// A failure nobody can fix from the outside; the cause is for the server log.
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl DeliveryError {
    /// A service's refusal to give delivery what a pull secret needs, in delivery's terms: the
    /// pull secret is undeliverable this pass — `credential_unavailable` when a short-lived
    /// credential could not be minted, `not_renderable` otherwise — with the service's message,
    /// which never carries a secret.
    pub(crate) fn undeliverable(e: ApiError) -> Self {
        DeliveryError::Undeliverable {
            code: match e.code {
                ErrorCode::CredentialUnavailable => DeliveryCode::CredentialUnavailable,
                _ => DeliveryCode::NotRenderable,
            },
            message: e.message,
        }
    }

    pub(crate) fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        DeliveryError::Internal(Box::new(cause))
    }
}

impl From<TokenError> for DeliveryError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(e) => DeliveryError::Store(e),
            TokenError::Randomness => DeliveryError::internal(e),
        }
    }
}
