//! The CLI's connection to a regcred server: which URL and token to use (flags, environment, or
//! what `regcred serve` left in the data directory) and the RPC call itself. Errors from the
//! server keep their stable code, which decides the exit status; a server that cannot be reached
//! is reported with the address tried and where that address came from.

use std::path::{Path, PathBuf};

use anyhow::Context;
use regcred_core::api::{Envelope, ErrorBody, Items, Page};
use regcred_registry::trust::TrustStore;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cli::Global;
use crate::{context, paths};

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

/// Where the server's address came from, named when the server cannot be reached: a wrong
/// address is fixed where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiUrlSource {
    /// `--api-url`.
    Flag,
    /// `REGCRED_API_URL`.
    Env,
    /// The `server.url` file a running `regcred serve` writes into its data directory.
    ServerUrlFile(PathBuf),
    /// Neither of those, nor a `server.url` in this data directory.
    Default { data_dir: PathBuf },
    /// The credential plugins' own configuration (environment or helper config file).
    PluginConfig,
    /// The current CLI context (`regcred context use`), saved in `file`.
    Context { name: String, file: PathBuf },
}

impl ApiUrlSource {
    /// "(from …)" for the error, and what to do about it. `refused`: nothing listens at the
    /// address (rather than a server that does not answer in time).
    fn explain(&self, refused: bool) -> (String, &'static str) {
        match self {
            ApiUrlSource::ServerUrlFile(path) if !refused => (
                format!("from {}", paths::display(path)),
                "the `regcred serve` that wrote that file does not answer",
            ),
            ApiUrlSource::Flag => ("from --api-url".into(), "is the address right, and is `regcred serve` running there?"),
            ApiUrlSource::Env => ("from REGCRED_API_URL".into(), "is the address right, and is `regcred serve` running there?"),
            ApiUrlSource::ServerUrlFile(path) => (
                format!("from {}", paths::display(path)),
                "that file is stale: the `regcred serve` that wrote it is no longer running (a server that stops cleanly removes it); start it again, or give --api-url",
            ),
            ApiUrlSource::Default { data_dir } => (
                format!(
                    "the default: no --api-url, no REGCRED_API_URL, and no server.url in {}",
                    paths::display(data_dir)
                ),
                "is `regcred serve` running? A server on another port or data directory is found with --api-url or --data-dir",
            ),
            ApiUrlSource::Context { name, file } => (
                format!("from the current context {name} in {}", paths::display(file)),
                "is the address right, and is regcred running there? `regcred context list` shows the contexts, `regcred context use NAME` changes it",
            ),
            ApiUrlSource::PluginConfig => (
                "from REGCRED_API_URL or the helper config".into(),
                "is the address right, and is `regcred serve` running there?",
            ),
        }
    }
}

/// The server could not be reached at all.
#[derive(Debug)]
pub struct Unreachable {
    pub url: String,
    pub from: ApiUrlSource,
    pub source: reqwest::Error,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if untrusted_certificate(&self.source) {
            return write!(
                f,
                "the regcred server at {} presented a certificate this client does not trust \
                 ({}); give the CA that signed it with --ca-file or REGCRED_CA_FILE (or the \
                 context's --ca-file at regcred login)",
                redacted(&self.url),
                innermost(&self.source)
            );
        }
        let (from, advice) = self.from.explain(self.source.is_connect());
        write!(
            f,
            "cannot reach the regcred server at {} ({from}); {advice}",
            redacted(&self.url)
        )
    }
}

impl std::error::Error for Unreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The last cause of `error`: what actually failed.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Whether `error` is a TLS handshake that failed on the server's certificate.
fn untrusted_certificate(error: &reqwest::Error) -> bool {
    error.is_connect() && innermost(error).contains("certificate")
}

/// A URL as errors show it: without user name, password, query or fragment, which may hold
/// credentials.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            // Infallible for the http(s) URLs a client can use; for others the URL is shown
            // as far as it parsed.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => "(an address that is not a URL)".to_owned(),
    }
}

/// A configured client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    from: ApiUrlSource,
    token: Option<String>,
}

impl Client {
    /// A client for `base` with `token`, for callers that resolve their own configuration (the
    /// credential plugins). The timeout stays well under the kubelet's one-minute limit for a
    /// plugin, so that a hanging server still leaves time to answer from the local cache.
    pub fn new(
        base: String,
        token: Option<String>,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Client> {
        Client::with_timeout(base, ApiUrlSource::PluginConfig, token, 20, ca_file)
    }

    /// A client whose requests end after `seconds`, trusting the system's roots and the CAs in
    /// `ca_file`.
    pub fn with_timeout(
        base: String,
        from: ApiUrlSource,
        token: Option<String>,
        seconds: u64,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Client> {
        let trust = TrustStore::with_files(ca_file.as_slice())?;
        let http = trust
            .reqwest(
                reqwest::Client::builder()
                    .user_agent(concat!("regcred-cli/", env!("CARGO_PKG_VERSION")))
                    .timeout(std::time::Duration::from_secs(seconds)),
            )
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            from,
            token,
        })
    }

    /// Resolves server and token: flags, then the environment, then the current context (unless
    /// a data directory is named), then the local server's data directory. A context's token
    /// goes only to that context's server: with an address from a flag or the environment, the
    /// token comes from flags, the environment or the data directory, as without contexts.
    pub fn from_global(global: &Global) -> anyhow::Result<Client> {
        let dir = paths::data_dir(global.data_dir.as_deref());
        let url_file = dir.join(paths::SERVER_URL_FILE);
        // `--data-dir` / `REGCRED_DATA_DIR` name a local server; a context is not consulted.
        let contexts = if global.api_url.is_none() && global.data_dir.is_none() {
            let file = context::file();
            Some((context::Contexts::load(&file)?, file))
        } else {
            None
        };
        let current = contexts
            .as_ref()
            .and_then(|(c, file)| c.current().map(|(name, ctx)| (name, ctx, file)));
        let (base, from) = match (&global.api_url, current) {
            (Some(url), _) if global.api_url_from_env => (url.clone(), ApiUrlSource::Env),
            (Some(url), _) => (url.clone(), ApiUrlSource::Flag),
            (None, Some((name, ctx, file))) => (
                ctx.api_url.clone(),
                ApiUrlSource::Context {
                    name: name.to_owned(),
                    file: file.clone(),
                },
            ),
            (None, None) => match read_trimmed(&url_file) {
                Some(url) => (url, ApiUrlSource::ServerUrlFile(url_file)),
                None => (
                    paths::DEFAULT_SERVER.to_owned(),
                    ApiUrlSource::Default {
                        data_dir: dir.clone(),
                    },
                ),
            },
        };
        let read_file = |file: &Path| -> anyhow::Result<String> {
            Ok(std::fs::read_to_string(file)
                .with_context(|| format!("reading token file {}", file.display()))?
                .trim()
                .to_owned())
        };
        let flag_token = global.token.as_ref().filter(|_| !global.token_from_env);
        let flag_file = global
            .token_file
            .as_ref()
            .filter(|_| !global.token_file_from_env);
        let token = if let Some(t) = flag_token {
            Some(t.trim().to_owned())
        } else if let Some(file) = flag_file {
            Some(read_file(file)?)
        } else if let Some(t) = &global.token {
            Some(t.trim().to_owned())
        } else if let Some(file) = &global.token_file {
            Some(read_file(file)?)
        } else if let (ApiUrlSource::Context { .. }, Some((_, ctx, _))) = (&from, current) {
            ctx.token_file.as_deref().map(read_file).transpose()?
        } else {
            read_trimmed(&dir.join(paths::ADMIN_TOKEN_FILE))
        };
        // A context's CA, like its token, goes only with the context's address.
        let ca_file = match (&global.ca_file, &from, current) {
            (Some(file), _, _) => Some(file.as_path()),
            (None, ApiUrlSource::Context { .. }, Some((_, ctx, _))) => ctx.ca_file.as_deref(),
            _ => None,
        };
        Client::with_timeout(base, from, token, 60, ca_file)
    }

    /// Every item of a list method that pages (`pullSecret.list`, `deployment.list`,
    /// `audit.list`), or the first `at_most`: calls `method` with `request` and then with each
    /// `nextPageToken` until the last page, so callers see one list as before paging.
    pub async fn call_pages<T: DeserializeOwned>(
        &self,
        method: &str,
        request: serde_json::Value,
        at_most: Option<usize>,
    ) -> anyhow::Result<Items<T>> {
        // The server's largest page: the fewest round trips.
        const MAX_PAGE: usize = 1000;
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = request.clone();
            // `--limit 0` goes to the server as it is, which refuses it.
            body["limit"] = at_most
                .map_or(MAX_PAGE, |n| n.saturating_sub(items.len()).min(MAX_PAGE))
                .into();
            if let Some(token) = token.take() {
                body["pageToken"] = token.into();
            }
            let page: Page<T> = self.call(method, &body).await?;
            items.extend(page.items);
            match page.next_page_token {
                Some(next) if at_most.is_none_or(|n| items.len() < n) => token = Some(next),
                _ => return Ok(Items { items }),
            }
        }
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
            from: self.from.clone(),
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A server of one paged list of `total` numbers, newest (highest) first, for
    /// [`Client::call_pages`]: it honours `limit` and `pageToken` (the last number shown) and
    /// records every request body it gets.
    async fn paged_server(total: u64) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0_u8; 4096];
                    // Headers, then a body of Content-Length bytes.
                    let body = loop {
                        let n = socket.read(&mut chunk).await.unwrap();
                        assert!(n > 0, "the client closed mid-request");
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break buf[end + 4..end + 4 + length].to_vec();
                        }
                    };
                    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    log.lock().unwrap().push(request.clone());
                    let limit = request["limit"].as_u64().unwrap();
                    let below = request
                        .get("pageToken")
                        .map_or(total + 1, |t| t.as_str().unwrap().parse().unwrap());
                    let items: Vec<u64> = (1..below).rev().take(limit as usize).collect();
                    let mut result = serde_json::json!({ "items": items });
                    if items.last().is_some_and(|last| *last > 1) {
                        result["nextPageToken"] = items.last().unwrap().to_string().into();
                    }
                    let answer = serde_json::json!({ "ok": true, "result": result }).to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    socket.write_all(response.as_bytes()).await.unwrap();
                });
            }
        });
        (base, seen)
    }

    /// The CLI's lists follow `nextPageToken` to the end, in the largest pages, or stop at the
    /// number asked for, asking each page for no more than it still needs.
    #[tokio::test]
    async fn call_pages_follows_tokens_to_the_end_or_the_count_asked_for() {
        let (base, seen) = paged_server(2500).await;
        let client = Client::new(base, None, None).unwrap();
        let all: Items<u64> = client
            .call_pages("x.list", serde_json::json!({ "project": "p" }), None)
            .await
            .unwrap();
        assert_eq!(all.items, (1..=2500).rev().collect::<Vec<u64>>());
        let requests = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(requests.len(), 3);
        assert!(requests
            .iter()
            .all(|r| r["project"] == "p" && r["limit"] == 1000));
        assert!(requests[0].get("pageToken").is_none());
        assert_eq!(requests[1]["pageToken"], "1501");
        assert_eq!(requests[2]["pageToken"], "501");

        let some: Items<u64> = client
            .call_pages("x.list", serde_json::json!({}), Some(1200))
            .await
            .unwrap();
        assert_eq!(some.items, (1301..=2500).rev().collect::<Vec<u64>>());
        let limits: Vec<serde_json::Value> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r["limit"].clone())
            .collect();
        assert_eq!(limits, [1000, 200]);
    }

    /// A real connection error: nothing listens on port 1.
    async fn refused() -> reqwest::Error {
        match reqwest::Client::new()
            .get("http://127.0.0.1:1/")
            .send()
            .await
        {
            Err(e) => e,
            Ok(_) => panic!("something answers on 127.0.0.1:1"),
        }
    }

    #[tokio::test]
    async fn unreachable_names_the_address_and_its_source() {
        let data_dir = PathBuf::from("/srv/regcred-data");
        for (from, expected) in [
            (ApiUrlSource::Flag, "(from --api-url)"),
            (ApiUrlSource::Env, "(from REGCRED_API_URL)"),
            (
                ApiUrlSource::ServerUrlFile(data_dir.join("server.url")),
                "(from /srv/regcred-data/server.url); that file is stale",
            ),
            (
                ApiUrlSource::Default {
                    data_dir: data_dir.clone(),
                },
                "(the default: no --api-url, no REGCRED_API_URL, and no server.url in /srv/regcred-data)",
            ),
        ] {
            let e = Unreachable {
                url: "http://127.0.0.1:7700".into(),
                from: from.clone(),
                source: refused().await,
            };
            let text = e.to_string();
            assert!(
                text.starts_with("cannot reach the regcred server at http://127.0.0.1:7700 "),
                "{text}"
            );
            assert!(text.contains(expected), "{from:?}: {text}");
        }
    }

    #[test]
    fn addresses_in_errors_carry_no_credentials() {
        assert_eq!(
            redacted("https://user:s3cret@regcred.example.com:8443/api/?token=t#x"),
            "https://regcred.example.com:8443/api"
        );
        assert_eq!(redacted("not a url"), "(an address that is not a URL)");
    }
}
