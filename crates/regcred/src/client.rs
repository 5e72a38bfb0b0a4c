//! The CLI's connection to a regcred server: which URL and token to use (flags, environment, or
//! what `regcred serve` left in the data directory) and the RPC call itself. Errors from the
//! server keep their stable code, which decides the exit status.

use std::path::Path;

use anyhow::Context;
use regcred_core::api::{Envelope, ErrorBody};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cli::Global;
use crate::paths;

/// An error answer from the server.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub error: ErrorBody,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.error.message, self.error.code)?;
        for item in &self.error.items {
            match &item.field {
                Some(field) => write!(f, "\n  - {field}: {}", item.message)?,
                None => write!(f, "\n  - {}", item.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// The server could not be reached at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the regcred server at {url}; is `regcred serve` running?")]
pub struct Unreachable {
    pub url: String,
    #[source]
    pub source: reqwest::Error,
}

/// A configured client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for `base` with `token`, for callers that resolve their own configuration (the
    /// credential plugins). The timeout stays well under the kubelet's one-minute limit for a
    /// plugin, so that a hanging server still leaves time to answer from the local cache.
    pub fn new(base: String, token: Option<String>) -> anyhow::Result<Client> {
        Client::with_timeout(base, token, 20)
    }

    fn with_timeout(base: String, token: Option<String>, seconds: u64) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("regcred-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(seconds))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Resolves server and token: flags and environment first, then the data directory.
    pub fn from_global(global: &Global) -> anyhow::Result<Client> {
        let dir = paths::data_dir(global.data_dir.as_deref());
        let base = match &global.api_url {
            Some(url) => url.clone(),
            None => read_trimmed(&dir.join(paths::SERVER_URL_FILE))
                .unwrap_or_else(|| paths::DEFAULT_SERVER.to_owned()),
        };
        let token = match (&global.token, &global.token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading token file {}", file.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => read_trimmed(&dir.join(paths::ADMIN_TOKEN_FILE)),
        };
        Client::with_timeout(base, token, 60)
    }

    /// Calls `method` with `request` and decodes the result.
    pub async fn call<Req: Serialize, Res: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
    ) -> anyhow::Result<Res> {
        let url = format!("{}/{method}", self.base);
        let mut builder = self
            .http
            .post(&url)
            .header("x-regcred-channel", "cli")
            .json(request);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        let response = builder.send().await.map_err(|source| Unreachable {
            url: self.base.clone(),
            source,
        })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {method}"))?;
        let envelope: Envelope<Res> = serde_json::from_slice(&bytes).with_context(|| {
            format!("the server at {} answered {method} with something that is not regcred's API (HTTP {status})", self.base)
        })?;
        match (envelope.ok, envelope.result, envelope.error) {
            (true, Some(result), _) => Ok(result),
            (false, _, Some(error)) => Err(ApiFailure { status, error }.into()),
            _ => anyhow::bail!("malformed answer to {method} (HTTP {status})"),
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
