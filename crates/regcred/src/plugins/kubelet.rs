//! `regcred kubelet-credential-provider`: the kubelet's `credentialprovider.kubelet.k8s.io/v1`
//! exec plugin. It reads one `CredentialProviderRequest` from stdin (strictly: unknown fields are
//! errors, as the kubelet's own decoder treats them), asks `credential.get` for the image and
//! answers a `CredentialProviderResponse` keyed by registry. `cacheDuration` is half the remaining
//! lifetime of the earliest-expiring credential, capped by the server's `cacheSeconds` and by the
//! configured maximum age (30 s unless configured): the kubelet reuses what it is told to, so that
//! cap is what bounds how long a rotated credential is still used. When the server cannot be
//! reached, the last good answer for the image's registry (kept on disk unless the maximum age is
//! 0) is used as long as none of its credentials has expired. Nothing applies → an empty `auth`
//! (the kubelet pulls anonymously) with a short cache. Errors go to stderr with exit 1 (see
//! `main`).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::Context;
use regcred_core::api::{CredentialEntries, CredentialEntry, CredentialGet};
use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use serde::{Deserialize, Serialize};

use super::{cache_dir, earliest_expiry, now_unix, CacheFile, Layer, Secret, Settings};
use crate::cli::{Global, KubeletArgs};
use crate::client::{ApiFailure, Unreachable};

pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
const REQUEST_KIND: &str = "CredentialProviderRequest";
const RESPONSE_KIND: &str = "CredentialProviderResponse";
/// How long the kubelet may remember "nothing applies" (and an answer from the stale cache):
/// short, so that a pull secret created a moment later is picked up soon.
const SHORT_CACHE_SECONDS: u64 = 60;
const CACHE_FILE: &str = "kubelet-credentials.json";

/// The kubelet's request. `serviceAccountToken` and `serviceAccountAnnotations` are accepted (the
/// kubelet sends them when configured to) but not used: regcred's own token decides access.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Request {
    pub api_version: String,
    pub kind: String,
    pub image: String,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for strict decoding, not used")]
    pub service_account_token: Option<Secret>,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for strict decoding, not used")]
    pub service_account_annotations: Option<BTreeMap<String, String>>,
}

/// The answer, fields in the order of the kubelet's API type.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub api_version: String,
    pub kind: String,
    pub cache_key_type: String,
    pub cache_duration: String,
    pub auth: BTreeMap<String, AuthConfig>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The last good answer for one registry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LastGood {
    entries: Vec<CachedEntry>,
    cache_seconds: u64,
    /// Unix seconds of the earliest expiry; `None` when none of the credentials expires.
    expires: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedEntry {
    key: String,
    username: String,
    password: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

impl LastGood {
    fn usable(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// Decodes the request strictly and checks its version and kind.
pub fn parse_request(bytes: &[u8]) -> anyhow::Result<Request> {
    let request: Request = serde_json::from_slice(bytes)
        .context("decoding the CredentialProviderRequest from stdin")?;
    if request.api_version != API_VERSION {
        anyhow::bail!(
            "unsupported apiVersion {:?}; this provider speaks {API_VERSION}",
            request.api_version
        );
    }
    if request.kind != REQUEST_KIND {
        anyhow::bail!("kind is {:?}, expected {REQUEST_KIND}", request.kind);
    }
    Ok(request)
}

/// How long the kubelet may cache: `cache_seconds` when nothing expires, else half the time left
/// until the earliest expiry, no more than `cache_seconds`, and zero once expired.
pub fn cache_duration(earliest: Option<i64>, cache_seconds: u64, now: i64) -> u64 {
    match earliest {
        None => cache_seconds,
        Some(at) if at <= now => 0,
        Some(at) => u64::try_from((at - now) / 2)
            .unwrap_or(0)
            .min(cache_seconds),
    }
}

/// The response for `entries` (in the runtime's order; the first entry for a key wins).
pub fn response(entries: &[CredentialEntry], duration: u64) -> Response {
    let mut auth = BTreeMap::new();
    for e in entries {
        auth.entry(e.key.clone()).or_insert_with(|| AuthConfig {
            username: e.username.clone(),
            password: e.password.clone(),
        });
    }
    Response {
        api_version: API_VERSION.to_owned(),
        kind: RESPONSE_KIND.to_owned(),
        cache_key_type: "Registry".to_owned(),
        cache_duration: format!("{duration}s"),
        auth,
    }
}

pub async fn run(global: &Global, args: KubeletArgs) -> anyhow::Result<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the CredentialProviderRequest from stdin")?;
    let request = parse_request(&input)?;
    let image =
        ImageRef::parse(&request.image).with_context(|| format!("image {:?}", request.image))?;
    let flags = Layer {
        api_url: global.api_url.clone(),
        token: global.token.clone(),
        token_file: global.token_file.clone(),
        project: args.project,
        location: args.location,
        cache_seconds: args.cache_seconds,
        ca_file: global.ca_file.clone(),
    };
    let settings = Settings::merge(&[flags, Layer::from_file()?])?;
    let answer = answer(&settings, &request.image, image.domain()).await?;
    let mut text = serde_json::to_string(&answer).context("encoding the response")?;
    text.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

async fn answer(settings: &Settings, image: &str, registry: &str) -> anyhow::Result<Response> {
    let cache = CacheFile::new(&cache_dir(), CACHE_FILE);
    let cache_key = settings.cache_key(registry);
    let request = CredentialGet {
        project: settings.project.clone(),
        location: settings.location.clone(),
        image: Some(image.to_owned()),
        server: None,
    };
    let result: anyhow::Result<CredentialEntries> =
        settings.client()?.call("credential.get", &request).await;
    let now = now_unix();
    let max_age = settings.cache_seconds;
    let keep = |c: &LastGood| c.usable(now);
    // Caching turned off: an answer kept earlier goes, whatever the server says now.
    if !settings.caches() && cache.get::<LastGood>(&cache_key).is_some() {
        if let Err(e) = cache.put::<LastGood>(&cache_key, None, keep) {
            eprintln!("warning: {e:#}");
        }
    }
    match result {
        Ok(found) => {
            let expires = earliest_expiry(found.entries.iter().map(|e| e.expires_at.as_deref()))?;
            let duration = cache_duration(expires, found.cache_seconds, now).min(max_age);
            let last_good = LastGood {
                entries: found
                    .entries
                    .iter()
                    .map(|e| CachedEntry {
                        key: e.key.clone(),
                        username: e.username.clone(),
                        password: Secret(e.password.clone()),
                        expires_at: e.expires_at.clone(),
                    })
                    .collect(),
                cache_seconds: found.cache_seconds,
                expires,
            };
            if settings.caches() {
                if let Err(e) = cache.put(&cache_key, Some(last_good), keep) {
                    eprintln!("warning: {e:#}");
                }
            }
            Ok(response(&found.entries, duration))
        }
        Err(e)
            if e.downcast_ref::<ApiFailure>()
                .is_some_and(|f| f.error.code == ErrorCode::NoCredentials.as_str()) =>
        {
            // Nothing applies any more: a stale answer must not outlive the pull secret.
            if settings.caches() {
                if let Err(e) = cache.put::<LastGood>(&cache_key, None, keep) {
                    eprintln!("warning: {e:#}");
                }
            }
            Ok(response(&[], SHORT_CACHE_SECONDS.min(max_age)))
        }
        Err(e) if e.downcast_ref::<Unreachable>().is_some() => {
            let last = settings
                .caches()
                .then(|| cache.get::<LastGood>(&cache_key))
                .flatten()
                .filter(|c| c.usable(now));
            let Some(last) = last else {
                return Err(e);
            };
            eprintln!("warning: {e:#}; answering from the last good credentials for {registry}");
            let entries: Vec<CredentialEntry> = last
                .entries
                .into_iter()
                .map(|c| CredentialEntry {
                    key: c.key,
                    username: c.username,
                    password: c.password.0,
                    expires_at: c.expires_at,
                })
                .collect();
            let duration = cache_duration(last.expires, last.cache_seconds, now)
                .min(SHORT_CACHE_SECONDS)
                .min(max_age);
            Ok(response(&entries, duration))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_decoding_is_strict() {
        let ok = parse_request(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"ghcr.io/a/b:1","serviceAccountToken":"t","serviceAccountAnnotations":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(ok.image, "ghcr.io/a/b:1");
        assert!(!format!("{ok:?}").contains("\"t\""));
        for (bad, why) in [
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"x","extra":1}"#,
                "unknown field",
            ),
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderRequest","image":"x"}"#,
                "unsupported apiVersion",
            ),
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"Other","image":"x"}"#,
                "kind is",
            ),
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest"}"#,
                "missing field `image`",
            ),
        ] {
            let err = format!("{:#}", parse_request(bad.as_bytes()).unwrap_err());
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn cache_duration_follows_expiry() {
        let now = 1_000;
        for (earliest, cache_seconds, expected) in [
            (None, 300, 300),
            (Some(1_100), 300, 50),
            (Some(10_000), 300, 300),
            (Some(1_000), 300, 0),
            (Some(900), 300, 0),
            (Some(1_001), 300, 0),
        ] {
            assert_eq!(
                cache_duration(earliest, cache_seconds, now),
                expected,
                "{earliest:?}"
            );
        }
    }

    #[test]
    fn response_shape_and_first_key_wins() {
        let entry = |key: &str, user: &str| CredentialEntry {
            key: key.into(),
            username: user.into(),
            password: "p".into(),
            expires_at: None,
        };
        let r = response(
            &[
                entry("ghcr.io/acme", "a"),
                entry("ghcr.io", "b"),
                entry("ghcr.io", "c"),
            ],
            42,
        );
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"42s","auth":{"ghcr.io":{"username":"b","password":"p"},"ghcr.io/acme":{"username":"a","password":"p"}}}"#
        );
        assert!(!format!("{r:?}").contains("\"p\""));
    }

    /// The kubelet's `CredentialProviderConfig`, decoded as strictly as the kubelet does.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct ProviderConfig {
        api_version: String,
        kind: String,
        providers: Vec<Provider>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Provider {
        name: String,
        match_images: Vec<String>,
        default_cache_duration: String,
        api_version: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: Vec<EnvVar>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct EnvVar {
        name: String,
        value: String,
    }

    #[test]
    fn sample_credential_provider_config_is_valid() {
        let text = include_str!("../../../../docs/credential-provider-config.yaml");
        let config: ProviderConfig = serde_yaml::from_str(text).unwrap();
        assert_eq!(config.api_version, "kubelet.config.k8s.io/v1");
        assert_eq!(config.kind, "CredentialProviderConfig");
        let [p] = config.providers.as_slice() else {
            panic!("one provider expected: {config:?}");
        };
        assert_eq!(p.name, "regcred");
        assert_eq!(p.args, ["kubelet-credential-provider"]);
        assert_eq!(p.api_version, API_VERSION);
        assert!(!p.match_images.is_empty());
        assert!(p.default_cache_duration.ends_with('s') || p.default_cache_duration.ends_with('m'));
        let names: Vec<&str> = p.env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "REGCRED_API_URL",
                "REGCRED_TOKEN_FILE",
                "REGCRED_PROJECT",
                "REGCRED_LOCATION"
            ]
        );
        assert!(p.env.iter().all(|e| !e.value.is_empty()));
    }
}
