//! Azure Container Registry through Entra ID: a service principal's client secret
//! buys an Entra ID access token for the registry audience (client-credentials grant), the
//! registry's `/oauth2/exchange` trades that for an ACR refresh token, and the refresh token is
//! the password of the all-zero username. Its expiry is read from the token's own `exp` claim,
//! decoded without verifying: the registry is the party that checks it, we only schedule by it.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use regcred_core::secret::Secret;
use reqwest::Url;
use serde_json::Value;

use super::oauth::{check_bearer, post_form, seconds, string_field, FormPost};
use super::{MintError, Minted};

/// Names the failing party in [`MintError`]s: the token step and the exchange step.
const ENTRA: &str = "Entra ID";
const ACR: &str = "ACR";

/// The username ACR expects with a refresh token from `/oauth2/exchange`.
pub const REFRESH_TOKEN_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// The public-cloud Entra ID authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The audience every ACR registry accepts Entra ID tokens for.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";

/// What one Entra ID exchange for an ACR refresh token needs. `Debug` is safe: the client
/// secret is a [`Secret`].
#[derive(Debug, Clone, Copy)]
pub struct AcrExchange<'a> {
    /// The registry host, e.g. `myregistry.azurecr.io` (or `127.0.0.1:PORT` in tests); also the
    /// `service` of the exchange.
    pub registry: &'a str,
    /// The directory (tenant) id or domain.
    pub tenant: &'a str,
    /// The service principal's application (client) id.
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
    /// [`DEFAULT_AUTHORITY`] in production.
    pub authority_url: &'a str,
    /// `https` in production; `http` only for local test registries.
    pub registry_scheme: &'a str,
}

/// Mints an ACR refresh token: Entra ID client-credentials grant at
/// `{authority}/{tenant}/oauth2/v2.0/token`, then `{scheme}://{registry}/oauth2/exchange`.
/// `now_ms` (Unix milliseconds) only dates the log line; the expiry is the refresh token's `exp`
/// claim, or `None` when the token carries none.
///
/// Errors: bad inputs or a malformed answer are [`MintError::Invalid`] (bad inputs send
/// nothing); 400/401/403 from either endpoint is [`MintError::Rejected`] (a wrong secret, an
/// unknown tenant, a principal the registry does not know); no connection, a timeout, 408, 429
/// or 5xx is [`MintError::Unavailable`].
#[tracing::instrument(
    name = "azure_mint_refresh_token",
    skip_all,
    fields(registry = req.registry, tenant = req.tenant)
)]
pub async fn mint_refresh_token(
    http: &reqwest::Client,
    req: &AcrExchange<'_>,
    now_ms: i64,
) -> Result<Minted, MintError> {
    let token_url = token_url(req.authority_url, req.tenant)?;
    let exchange_url = exchange_url(req.registry_scheme, req.registry)?;
    if req.client_id.trim().is_empty() {
        return Err(invalid(ENTRA, "the client id is empty"));
    }
    if req.client_secret.is_empty() {
        return Err(invalid(ENTRA, "the client secret is empty"));
    }

    let answer = post_form(
        http,
        &FormPost {
            provider: ENTRA,
            what: "the token endpoint",
            url: token_url,
            form: &[
                ("grant_type", "client_credentials"),
                ("client_id", req.client_id),
                ("client_secret", req.client_secret.expose()),
                ("scope", ACR_SCOPE),
            ],
        },
    )
    .await?;
    let access_token = string_field(&answer, "access_token")
        .map(Secret::new)
        .ok_or_else(|| invalid(ENTRA, "the token endpoint's answer has no access_token"))?;
    check_bearer(&answer, ENTRA, "the token endpoint")?;

    let answer = post_form(
        http,
        &FormPost {
            provider: ACR,
            what: "the registry's /oauth2/exchange",
            url: exchange_url,
            form: &[
                ("grant_type", "access_token"),
                ("service", req.registry),
                ("tenant", req.tenant),
                ("access_token", access_token.expose()),
            ],
        },
    )
    .await?;
    let refresh_token = string_field(&answer, "refresh_token")
        .map(Secret::new)
        .ok_or_else(|| {
            invalid(
                ACR,
                "the registry's /oauth2/exchange answer has no refresh_token",
            )
        })?;
    let expires_at_ms = jwt_expiry_ms(refresh_token.expose())?;
    tracing::debug!(
        lifetime_secs = expires_at_ms.map(|at| (at - now_ms) / 1000),
        "minted an ACR refresh token"
    );
    Ok(Minted {
        username: REFRESH_TOKEN_USERNAME.to_owned(),
        password: refresh_token,
        expires_at_ms,
        endpoint: None,
    })
}

fn invalid(provider: &'static str, message: impl Into<String>) -> MintError {
    MintError::Invalid {
        provider,
        message: message.into(),
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`. The tenant is a path segment, so it is held to
/// what tenant ids and domains are made of.
fn token_url(authority: &str, tenant: &str) -> Result<Url, MintError> {
    let tenant_ok = !tenant.is_empty()
        && tenant != "."
        && tenant != ".."
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !tenant_ok {
        return Err(invalid(
            ENTRA,
            "the tenant is not a directory id or domain (letters, digits, '-', '.', '_')",
        ));
    }
    let authority = Url::parse(authority)
        .ok()
        .filter(|url| {
            matches!(url.scheme(), "https" | "http")
                && url.host_str().is_some()
                && url.query().is_none()
                && url.username().is_empty()
        })
        .ok_or_else(|| invalid(ENTRA, "the authority is not an http(s) URL"))?;
    let base = authority.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/token"))
        .map_err(|_| invalid(ENTRA, "the authority and tenant do not form a URL"))
}

/// `{scheme}://{registry}/oauth2/exchange`, the registry being a bare `host[:port]`.
fn exchange_url(scheme: &str, registry: &str) -> Result<Url, MintError> {
    if !matches!(scheme, "https" | "http") {
        return Err(invalid(
            ACR,
            "the registry scheme is neither https nor http",
        ));
    }
    let bare = !registry.is_empty()
        && !registry.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@' | '\\')
        });
    Url::parse(&format!("{scheme}://{registry}/oauth2/exchange"))
        .ok()
        .filter(|url| bare && url.host_str().is_some())
        .ok_or_else(|| invalid(ACR, "the registry is not a bare host[:port]"))
}

/// The `exp` claim of a JWT, in Unix milliseconds, read without verifying the signature.
/// `None` when the token is not a JWT or has no `exp`; an `exp` that is not a number of seconds
/// is [`MintError::Invalid`], since scheduling by a guess would serve an expired token.
fn jwt_expiry_ms(token: &str) -> Result<Option<i64>, MintError> {
    const BASE64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let Some(claims) = BASE64URL_ANY_PADDING
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return Ok(None);
    };
    match claims.get("exp") {
        None | Some(Value::Null) => Ok(None),
        Some(exp) => seconds(exp)
            .and_then(|secs| secs.checked_mul(1000))
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    ACR,
                    "the refresh token's exp claim is not a number of seconds",
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls() {
        for (authority, tenant, expected) in [
            (
                "https://login.microsoftonline.com",
                "contoso.onmicrosoft.com",
                Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"),
            ),
            (
                "http://127.0.0.1:8080/",
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
                Some(
                    "http://127.0.0.1:8080/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token",
                ),
            ),
            ("https://login.microsoftonline.com", "../evil", None),
            ("https://login.microsoftonline.com", "a/b", None),
            ("https://login.microsoftonline.com", "a?b", None),
            ("https://login.microsoftonline.com", "", None),
            ("ftp://login.microsoftonline.com", "t", None),
            ("not a url", "t", None),
        ] {
            assert_eq!(
                token_url(authority, tenant).ok().map(String::from),
                expected.map(str::to_owned),
                "{authority} {tenant}"
            );
        }
    }

    #[test]
    fn exchange_urls() {
        for (scheme, registry, expected) in [
            (
                "https",
                "x.azurecr.io",
                Some("https://x.azurecr.io/oauth2/exchange"),
            ),
            (
                "http",
                "127.0.0.1:5000",
                Some("http://127.0.0.1:5000/oauth2/exchange"),
            ),
            ("https", "x.azurecr.io/path", None),
            ("https", "user@x.azurecr.io", None),
            ("https", "", None),
            ("ftp", "x.azurecr.io", None),
        ] {
            assert_eq!(
                exchange_url(scheme, registry).ok().map(String::from),
                expected.map(str::to_owned),
                "{scheme} {registry}"
            );
        }
    }

    #[test]
    fn jwt_expiry() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwt = |claims: &str| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims));
        assert_eq!(
            jwt_expiry_ms(&jwt(r#"{"exp":1700010800}"#)).unwrap(),
            Some(1_700_010_800_000)
        );
        assert_eq!(jwt_expiry_ms(&jwt(r#"{"nbf":1}"#)).unwrap(), None);
        assert_eq!(jwt_expiry_ms("opaque-token").unwrap(), None);
        assert_eq!(jwt_expiry_ms("a.!!!.c").unwrap(), None);
        assert!(jwt_expiry_ms(&jwt(r#"{"exp":"later"}"#)).is_err());
        assert!(jwt_expiry_ms(&jwt(r#"{"exp":9223372036854775807}"#)).is_err());
    }
}
