//! The platform's own registry: regcred is its token service. A `distribution`
//! registry in token mode sends clients to `GET|POST /registry/token`; regcred authenticates them
//! with a registry key (`rk_…`) or an access token (`rc_…`) and answers an ES256 JWT whose
//! `access` claim grants only repositories under the caller's project — pull for read keys and
//! read roles, pull and push for read-write keys and write roles, nothing for anonymous callers or
//! other projects (an empty grant, as the protocol requires, not an error). The signing key is
//! generated on first use and kept sealed by the vault; its certificate is public.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use regcred_core::api::{KeyAccess, Role};
use regcred_core::codes::ErrorCode;
use regcred_registry::token_service::{
    basic_credentials, parse_scopes, random_jwt_id, token_response, Access, Claims, Scope,
    SigningKey,
};
use regcred_store::vault::SealedFor;
use regcred_store::{RegistryKeyRecord, Sealed};
use tokio::sync::OnceCell;

use crate::auth::{authenticate_token, secret_id, secret_matches, Principal, SecretKind};
use crate::clock::now_millis;
use crate::error::ApiError;
use crate::AppState;

/// Where the token endpoint is served.
pub const TOKEN_PATH: &str = "/registry/token";
/// Lifetime of the tokens handed to registry clients.
const TOKEN_LIFETIME_SECONDS: u64 = 300;
const SIGNING_KEY_META: &str = "registry.signing_key";

/// How the platform registry is configured.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// The registry's host as images name it, e.g. `registry.example.com` or `127.0.0.1:5000`.
    pub registry: String,
    /// `auth.token.service` of the registry (the JWT audience).
    pub service: String,
    /// `auth.token.issuer` of the registry.
    pub issuer: String,
}

/// The configuration plus the signing key, loaded once.
pub struct Platform {
    pub config: PlatformConfig,
    key: OnceCell<SigningKey>,
}

impl Platform {
    pub fn new(config: PlatformConfig) -> Platform {
        Platform {
            config,
            key: OnceCell::new(),
        }
    }

    /// The project an image in this registry belongs to: its first path component.
    pub fn project_of<'a>(&self, domain: &str, path: &'a str) -> Option<&'a str> {
        (domain == self.config.registry)
            .then(|| path.split('/').next())
            .flatten()
    }
}

/// The platform registry, or the error every platform method gives when there is none.
pub fn required(state: &AppState) -> Result<&Platform, ApiError> {
    state.platform().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NoPlatformRegistry,
            "this regcred is not the token service of a platform registry; start it with --platform-registry",
        )
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    key_id: String,
    nonce: String,
    ciphertext: String,
    certificate: String,
}

/// The signing key: loaded from the store, or generated and stored on first use. Two servers
/// racing to create it agree on whichever was stored first.
pub async fn signing_key<'a>(
    state: &'a AppState,
    platform: &'a Platform,
) -> Result<&'a SigningKey, ApiError> {
    platform
        .key
        .get_or_try_init(|| async {
            loop {
                if let Some(text) = state.store().get_meta(SIGNING_KEY_META).await? {
                    return open_key(state, &text);
                }
                let key = SigningKey::generate(&platform.config.issuer)
                    .map_err(|e| ApiError::internal(&e))?;
                let sealed = state
                    .vault()
                    .seal(&SealedFor::RegistrySigningKey, key.pkcs8())?;
                let stored = StoredKey {
                    key_id: sealed.key_id,
                    nonce: B64.encode(&sealed.nonce),
                    ciphertext: B64.encode(&sealed.ciphertext),
                    certificate: key.certificate_pem().to_owned(),
                };
                let text = serde_json::to_string(&stored).map_err(|e| ApiError::internal(&e))?;
                if state.store().insert_meta(SIGNING_KEY_META, &text).await? {
                    tracing::info!("generated the registry token signing key");
                    return Ok(key);
                }
            }
        })
        .await
}

fn open_key(state: &AppState, text: &str) -> Result<SigningKey, ApiError> {
    let stored: StoredKey = serde_json::from_str(text).map_err(|e| ApiError::internal(&e))?;
    let decode = |s: &str| B64.decode(s).map_err(|e| ApiError::internal(&e));
    let sealed = Sealed {
        key_id: stored.key_id,
        nonce: decode(&stored.nonce)?,
        ciphertext: decode(&stored.ciphertext)?,
    };
    let pkcs8 = state
        .vault()
        .open_sealed(&SealedFor::RegistrySigningKey, &sealed)?;
    SigningKey::from_parts(&pkcs8, &stored.certificate).map_err(|e| ApiError::internal(&e))
}

/// What a caller of the token endpoint may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    /// A registry key or access token bound to `project` (`None`: an admin, every project).
    Authenticated {
        subject: String,
        project: Option<String>,
        push: bool,
    },
}

/// The `access` claim for `scopes`: repositories under the caller's project, with the actions
/// the caller may do among those asked for. Everything else is left out (an empty grant).
pub fn grant(caller: &Caller, scopes: &[Scope]) -> Vec<Access> {
    let Caller::Authenticated { project, push, .. } = caller else {
        return Vec::new();
    };
    scopes
        .iter()
        .filter(|s| s.resource_type == "repository")
        .filter_map(|s| {
            let owner = s.name.split('/').next()?;
            let in_project = s.name.contains('/') && project.as_deref().is_none_or(|p| p == owner);
            if !in_project {
                return None;
            }
            let actions: Vec<String> = s
                .actions
                .iter()
                .filter(|a| a.as_str() == "pull" || (*push && a.as_str() == "push"))
                .cloned()
                .collect();
            (!actions.is_empty()).then(|| Access {
                resource_type: s.resource_type.clone(),
                name: s.name.clone(),
                actions,
            })
        })
        .collect()
}

/// The record a `rk_<id>_<secret>` names when the secret matches and the key is usable;
/// otherwise why not, in words a client may show.
async fn registry_key(
    state: &AppState,
    secret: &str,
    now: i64,
) -> Result<Result<RegistryKeyRecord, &'static str>, ApiError> {
    const UNKNOWN: &str = "unknown registry key, or a wrong secret";
    let Some(id) = secret_id(SecretKind::RegistryKey, secret) else {
        return Ok(Err(UNKNOWN));
    };
    let record = state.store().get_registry_key(&id).await?;
    Ok(match record.filter(|r| secret_matches(secret, &r.hash)) {
        None => Err(UNKNOWN),
        Some(r) if r.revoked_at.is_some() => Err("the registry key was revoked"),
        Some(r) if r.expires_at.is_some_and(|at| at <= now) => Err("the registry key has expired"),
        Some(r) => Ok(r),
    })
}

async fn caller(state: &AppState, headers: &HeaderMap, now: i64) -> Result<Caller, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let unauthorized = |message: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"regcred\"")],
            Json(serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]})),
        )
            .into_response()
    };
    let (_user, password) = value
        .to_str()
        .ok()
        .and_then(|v| basic_credentials(v).ok())
        .ok_or_else(|| {
            unauthorized("send a registry key or regcred token with Basic authentication")
        })?;
    if password.starts_with("rk_") {
        return match registry_key(state, &password, now).await {
            Ok(Ok(key)) => {
                // A stored access this regcred cannot read grants nothing, and says so.
                let Some(access) = KeyAccess::parse(&key.access) else {
                    return Err(ApiError::unreadable(format!(
                        "registry key {} has the unknown access {:?}",
                        key.id, key.access
                    ))
                    .into_response());
                };
                Ok(Caller::Authenticated {
                    subject: key.id,
                    project: Some(key.project),
                    push: access == KeyAccess::ReadWrite,
                })
            }
            Ok(Err(why)) => Err(unauthorized(why)),
            Err(e) => Err(e.into_response()),
        };
    }
    match authenticate_token(state.store(), &password, now).await {
        Ok(principal) => Ok(from_principal(principal)),
        Err(e) => Err(unauthorized(&e.message)),
    }
}

fn from_principal(p: Principal) -> Caller {
    let push = matches!(p.role, Role::Admin | Role::Owner | Role::Editor);
    Caller::Authenticated {
        subject: p.token_id,
        project: p.project,
        push,
    }
}

fn oauth_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"errors": [{"code": "DENIED", "message": message}]})),
    )
        .into_response()
}

/// `GET /registry/token?service=…&scope=…` and the OAuth2 form `POST /registry/token`.
pub async fn token(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    raw_query: RawQuery,
    body: Bytes,
) -> Response {
    let Some(platform) = state.platform() else {
        return oauth_error(
            StatusCode::NOT_FOUND,
            "this regcred serves no platform registry",
        );
    };
    let query = raw_query.0.unwrap_or_default();
    let mut params: Vec<(String, String)> = url_pairs(&query);
    let mut headers = headers;
    if method == axum::http::Method::POST {
        let form = url_pairs(std::str::from_utf8(&body).unwrap_or_default());
        // The OAuth2 form carries the credentials in the body.
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if field("grant_type").as_deref() == Some("password") {
            if let (Some(u), Some(p)) = (field("username"), field("password")) {
                if let Ok(v) = format!("Basic {}", B64.encode(format!("{u}:{p}"))).parse() {
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
        }
        params.extend(form);
    }
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.as_str());
    if service.is_some_and(|s| s != platform.config.service) {
        return oauth_error(StatusCode::BAD_REQUEST, "unknown service");
    }
    let now = now_millis();
    let caller = match caller(&state, &headers, now).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let scopes = parse_scopes(
        params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let access = grant(&caller, &scopes);
    let subject = match &caller {
        Caller::Anonymous => String::new(),
        Caller::Authenticated { subject, .. } => subject.clone(),
    };
    let key = match signing_key(&state, platform).await {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let jwt_id = match random_jwt_id() {
        Ok(id) => id,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let issued_at = now / 1000;
    let claims = Claims {
        issuer: platform.config.issuer.clone(),
        subject,
        audience: platform.config.service.clone(),
        access,
        issued_at,
        lifetime_seconds: TOKEN_LIFETIME_SECONDS,
        jwt_id,
    };
    tracing::debug!(subject = %claims.subject, grants = claims.access.len(), "registry token issued");
    match key.sign(&claims) {
        Ok(jwt) => Json(token_response(&jwt, TOKEN_LIFETIME_SECONDS, issued_at)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// `application/x-www-form-urlencoded` pairs (query strings and OAuth2 forms); repeated keys
/// (`scope`) are kept. A malformed text yields no pairs, so it grants nothing.
fn url_pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(name: &str, actions: &[&str]) -> Scope {
        Scope {
            resource_type: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(ToString::to_string).collect(),
        }
    }

    fn check(caller: &Caller, scopes: &[Scope], expected: &[(&str, &[&str])]) {
        let got: Vec<(String, Vec<String>)> = grant(caller, scopes)
            .into_iter()
            .map(|a| (a.name, a.actions))
            .collect();
        let expected: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(n, a)| (n.to_string(), a.iter().map(ToString::to_string).collect()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn grants_stay_inside_the_callers_project() {
        let reader = Caller::Authenticated {
            subject: "rk_1".into(),
            project: Some("acme".into()),
            push: false,
        };
        let writer = Caller::Authenticated {
            subject: "rk_2".into(),
            project: Some("acme".into()),
            push: true,
        };
        let admin = Caller::Authenticated {
            subject: "tk_1".into(),
            project: None,
            push: true,
        };
        let pull_push = |n: &str| scope(n, &["pull", "push"]);
        check(
            &reader,
            &[pull_push("acme/app")],
            &[("acme/app", &["pull"])],
        );
        check(
            &writer,
            &[pull_push("acme/app")],
            &[("acme/app", &["pull", "push"])],
        );
        check(&writer, &[scope("acme/app", &["delete", "*"])], &[]);
        check(&reader, &[pull_push("other/app")], &[]);
        check(&reader, &[pull_push("acmex/app"), pull_push("acme")], &[]);
        check(
            &writer,
            &[pull_push("acme/a/b"), pull_push("other/c")],
            &[("acme/a/b", &["pull", "push"])],
        );
        check(&Caller::Anonymous, &[pull_push("acme/app")], &[]);
        check(
            &admin,
            &[pull_push("other/app")],
            &[("other/app", &["pull", "push"])],
        );
        let catalog = Scope {
            resource_type: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        };
        check(&admin, &[catalog], &[]);
    }

    #[test]
    fn form_pairs_are_decoded() {
        assert_eq!(
            url_pairs("service=reg&scope=repository%3Aacme%2Fapp%3Apull&x=a+b&flag"),
            vec![
                ("service".to_owned(), "reg".to_owned()),
                ("scope".to_owned(), "repository:acme/app:pull".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
    }
}
