//! Credential providers: they turn stored long-lived material into registry
//! credentials with an expiry — ECR's `GetAuthorizationToken`, Google's service-account JWT
//! exchanged for a one-hour access token, Azure's Entra ID exchange for an ACR refresh token.
//! Each answers a [`Minted`] credential or a [`MintError`] that says whether retrying can help.

pub mod azure;
pub mod ecr;
pub mod gcp;
mod oauth;

use crate::trust::TrustStore;
use regcred_core::credential::{Credential, Kind};
use regcred_core::secret::Secret;

/// A credential minted by a provider.
#[derive(Debug, Clone)]
pub struct Minted {
    pub username: String,
    pub password: Secret,
    /// When the registry stops accepting it, if the provider says.
    pub expires_at_ms: Option<i64>,
    /// The registry host the provider named (ECR's `proxyEndpoint`), if any.
    pub endpoint: Option<String>,
}

/// Why minting failed. Messages are regcred's own words and facts — the call or endpoint regcred
/// made, the HTTP status, an error code that passes its grammar, the kind of transport failure —
/// never a provider's text, which may echo what it was sent.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The provider refused the stored material: retrying will not help until it changes.
    #[error("{provider} refused the credentials: {message}")]
    Rejected {
        provider: &'static str,
        message: String,
    },
    /// The provider could not be reached or failed: retry with backoff.
    #[error("{provider} is unavailable: {message}")]
    Unavailable {
        provider: &'static str,
        message: String,
    },
    /// The stored material or the provider's answer is malformed.
    #[error("{provider}: {message}")]
    Invalid {
        provider: &'static str,
        message: String,
    },
}

impl MintError {
    pub fn is_transient(&self) -> bool {
        matches!(self, MintError::Unavailable { .. })
    }
}

/// Where the providers are, and the HTTP client that reaches them.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Built with [`TrustStore::reqwest`] from `trust`.
    pub http: reqwest::Client,
    /// What the AWS SDK's own client trusts (the same store as `http`'s).
    pub trust: TrustStore,
    /// ECR and STS endpoint override (a local emulator in tests); the AWS default otherwise.
    pub ecr_endpoint_url: Option<String>,
    /// Entra ID authority for the ACR exchange.
    pub azure_authority_url: String,
    /// Registries reached over plain HTTP (`--insecure-registry`), for the ACR exchange.
    pub insecure_http_hosts: Vec<String>,
}

impl ProviderConfig {
    pub const DEFAULT_AZURE_AUTHORITY: &'static str = "https://login.microsoftonline.com";
}

/// Mints the short-lived credential of a pull secret whose kind needs one.
pub async fn mint(
    config: &ProviderConfig,
    credential: &Credential,
    now_ms: i64,
) -> Result<Minted, MintError> {
    let material = &credential.material;
    let params = &credential.params;
    match credential.kind {
        Kind::Ecr => {
            let missing = |what: &str| MintError::Invalid {
                provider: "ECR",
                message: format!("the pull secret has no {what}"),
            };
            let request = ecr::EcrRequest {
                access_key_id: params
                    .access_key_id
                    .as_deref()
                    .ok_or_else(|| missing("accessKeyId"))?,
                secret_access_key: stored(
                    "ECR",
                    "secretAccessKey",
                    material.ecr_secret_access_key(),
                )?,
                region: params.region.as_deref().ok_or_else(|| missing("region"))?,
                registry_id: params.registry_id.as_deref(),
                role_arn: params.role_arn.as_deref(),
                endpoint_url: config.ecr_endpoint_url.as_deref(),
                trust: &config.trust,
            };
            ecr::mint(&request).await
        }
        Kind::Gcr | Kind::Gar => {
            let key = stored(
                "Google",
                "serviceAccountKey",
                material.service_account_key(),
            )?;
            check_token_uri(config, key)?;
            gcp::mint_access_token(&config.http, key, None, now_ms).await
        }
        Kind::Acr => {
            let host = credential.server.host();
            let request = azure::AcrExchange {
                registry: host,
                tenant: params.tenant.as_deref().unwrap_or_default(),
                client_id: credential.username.as_deref().unwrap_or_default(),
                client_secret: stored("Entra ID", "password", material.acr_client_secret())?,
                authority_url: &config.azure_authority_url,
                registry_scheme: if config.insecure_http_hosts.iter().any(|h| h == host) {
                    "http"
                } else {
                    "https"
                },
            };
            azure::mint_refresh_token(&config.http, &request, now_ms).await
        }
        other => Err(MintError::Invalid {
            provider: "regcred",
            message: format!("{} pull secrets are not minted", other.as_str()),
        }),
    }
}

/// The secret of the stored material a provider needs (`field` names it), which material of
/// another kind does not have.
fn stored<'a>(
    provider: &'static str,
    field: &str,
    secret: Option<&'a Secret>,
) -> Result<&'a Secret, MintError> {
    secret.ok_or_else(|| MintError::Invalid {
        provider,
        message: format!("the stored material has no {field}; create the pull secret again"),
    })
}

/// The key names where its assertion is sent; plain HTTP only to hosts named insecure, so a
/// stored key cannot make the server post to arbitrary cleartext endpoints.
fn check_token_uri(config: &ProviderConfig, key: &Secret) -> Result<(), MintError> {
    let uri = serde_json::from_str::<serde_json::Value>(key.expose())
        .ok()
        .and_then(|v| {
            v.get("token_uri")
                .and_then(|u| u.as_str())
                .map(str::to_owned)
        });
    let Some(rest) = uri.as_deref().and_then(|u| u.strip_prefix("http://")) else {
        return Ok(());
    };
    let host = rest.split('/').next().unwrap_or_default();
    if config.insecure_http_hosts.iter().any(|h| h == host) {
        return Ok(());
    }
    Err(MintError::Invalid {
        provider: "Google",
        message: format!("the key's token_uri uses plain HTTP to {host}, which is not an insecure registry host; use https"),
    })
}
