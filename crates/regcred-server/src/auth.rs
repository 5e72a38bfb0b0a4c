//! Access tokens and authorization. A token is `rc_<id>_<secret>`: the id finds the record, the
//! SHA-256 of the whole token is compared in constant time, and only that hash is stored. A token
//! carries one role: global `admin`, or a role on one project. [`Principal::require`] is the single
//! place where roles are turned into permissions.

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use regcred_core::api::Role;
use regcred_core::codes::ErrorCode;
use regcred_store::{Store, TokenRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Who is calling, established from the bearer token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// `None` for the global admin.
    pub project: Option<String>,
    /// When the token expires (Unix ms); nothing it creates may outlive it.
    pub expires_at: Option<i64>,
}

/// What a caller wants to do; each maps to the roles allowed to do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create projects and locations, delete locations, read the global audit log.
    Administer,
    /// Delete the project, manage its tokens, read its audit log.
    Own,
    /// Create, rotate and delete pull secrets.
    WriteSecrets,
    /// Read pull-secret metadata.
    ReadSecrets,
    /// Receive secret material (render).
    ReleaseSecrets,
    /// Name the registries a runtime can get credentials for, with usernames (no secret): what
    /// every role may read of pull secrets, the puller included.
    ListCredentials,
    /// Ask which pull secrets apply to an image.
    Resolve,
    /// Deploy and delete deployments.
    Deploy,
}

impl Permission {
    fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Permission::Administer => role == Admin,
            Permission::Own => matches!(role, Admin | Owner),
            Permission::WriteSecrets => matches!(role, Admin | Owner | Editor),
            Permission::ReadSecrets => matches!(role, Admin | Owner | Editor | Deployer | Viewer),
            Permission::ReleaseSecrets => matches!(role, Admin | Owner | Deployer | Puller),
            Permission::ListCredentials => {
                matches!(role, Admin | Owner | Editor | Deployer | Viewer | Puller)
            }
            Permission::Resolve => true,
            Permission::Deploy => matches!(role, Admin | Owner | Editor | Deployer),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Permission::Administer => "administer regcred",
            Permission::Own => "manage the project",
            Permission::WriteSecrets => "change pull secrets",
            Permission::ReadSecrets => "read pull secrets",
            Permission::ReleaseSecrets => "receive credential material",
            Permission::ListCredentials => "list the registries that have credentials",
            Permission::Resolve => "resolve images",
            Permission::Deploy => "deploy",
        }
    }
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Succeeds when this principal may do `permission` on `project` (`None`: not project-bound).
    pub fn require(&self, permission: Permission, project: Option<&str>) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        match (project, self.project.as_deref()) {
            (Some(wanted), Some(own)) if wanted != own => {
                return Err(ApiError::forbidden(format!(
                    "token {} has no role on project {wanted:?}; use a token of that project",
                    self.token_id
                )))
            }
            (None, _) if permission == Permission::Administer => {
                return Err(ApiError::forbidden(format!(
                    "token {} is not an admin token; only an admin may {}",
                    self.token_id,
                    permission.describe()
                )))
            }
            _ => {}
        }
        if permission.allows(self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role {} may not {}",
                self.role.as_str(),
                permission.describe()
            )))
        }
    }

    /// The actor recorded in audit events and `createdBy`.
    pub fn actor(&self) -> String {
        self.token_id.clone()
    }
}

/// A freshly minted token: the record to store and the secret to show once.
pub struct NewToken {
    pub id: String,
    pub secret: String,
    pub hash: Vec<u8>,
}

/// Mints a random token.
pub fn mint_token() -> Result<NewToken, ApiError> {
    mint_secret(SecretKind::Token)
}

/// The two kinds of bearer secret regcred hands out: access tokens and registry keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// `rc_<id>_<secret>`, record id `tk_<id>`.
    Token,
    /// `rk_<id>_<secret>`, record id `rk_<id>`.
    RegistryKey,
}

impl SecretKind {
    /// (secret prefix, record id prefix)
    fn prefixes(self) -> (&'static str, &'static str) {
        match self {
            SecretKind::Token => ("rc_", "tk_"),
            SecretKind::RegistryKey => ("rk_", "rk_"),
        }
    }
}

/// Mints a random secret of `kind`: 48 random bits of id, 256 of secret.
pub fn mint_secret(kind: SecretKind) -> Result<NewToken, ApiError> {
    let (secret_prefix, id_prefix) = kind.prefixes();
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut id)
        .and_then(|()| getrandom::getrandom(&mut secret))
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    let id_hex = hex::encode(id);
    let secret = format!("{secret_prefix}{id_hex}_{}", B64URL.encode(secret));
    Ok(NewToken {
        id: format!("{id_prefix}{id_hex}"),
        hash: hash_secret(&secret),
        secret,
    })
}

/// What is stored of a secret: its SHA-256 (the secret has 256 random bits, so no slow hash
/// is needed).
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The record id a well-formed secret of `kind` names.
pub fn secret_id(kind: SecretKind, secret: &str) -> Option<String> {
    let (secret_prefix, id_prefix) = kind.prefixes();
    let rest = secret.strip_prefix(secret_prefix)?;
    let (id, secret) = rest.split_once('_')?;
    let valid = id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| format!("{id_prefix}{id}"))
}

/// Whether `presented` hashes to `stored`, compared in constant time.
pub fn secret_matches(presented: &str, stored: &[u8]) -> bool {
    bool::from(hash_secret(presented).ct_eq(stored))
}

/// Establishes the principal from `Authorization: Bearer rc_…`.
pub async fn authenticate(
    store: &dyn Store,
    headers: &HeaderMap,
    now: i64,
) -> Result<Principal, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::unauthenticated(
            ErrorCode::Unauthenticated,
            "missing Authorization header; send Authorization: Bearer rc_… (regcred token create, or the admin.token file in the data directory)",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthenticated(
                ErrorCode::InvalidToken,
                "Authorization header must be Bearer followed by a regcred token",
            )
        })?;
    authenticate_token(store, token, now).await
}

/// Establishes the principal from a bare access token (`rc_…`), however it arrived.
pub async fn authenticate_token(
    store: &dyn Store,
    token: &str,
    now: i64,
) -> Result<Principal, ApiError> {
    let id = secret_id(SecretKind::Token, token).ok_or_else(|| {
        ApiError::unauthenticated(
            ErrorCode::InvalidToken,
            "malformed token; regcred tokens look like rc_<id>_<secret>",
        )
    })?;
    let record = store.get_token(&id).await?;
    let Some(record) = record.filter(|r| secret_matches(token, &r.hash)) else {
        return Err(ApiError::unauthenticated(
            ErrorCode::InvalidToken,
            "unknown token; check that it was copied whole",
        ));
    };
    principal_of(record, now)
}

/// The principal of the access token `id` as it stands now: the web console's sessions keep the
/// token's id (never its secret) and re-establish the principal this way on every request, so a
/// revoked or expired token signs its sessions out.
pub async fn principal_of_token(
    store: &dyn Store,
    id: &str,
    now: i64,
) -> Result<Principal, ApiError> {
    let record = store.get_token(id).await?.ok_or_else(|| {
        ApiError::unauthenticated(ErrorCode::InvalidToken, "the token of this session is gone")
    })?;
    principal_of(record, now)
}

fn principal_of(record: TokenRecord, now: i64) -> Result<Principal, ApiError> {
    check_usable(&record, now)?;
    crate::access::note_principal(&record.id);
    let role = Role::parse(&record.role).ok_or_else(|| {
        ApiError::unreadable(format!(
            "token {} has unknown role {:?}",
            record.id, record.role
        ))
    })?;
    Ok(Principal {
        token_id: record.id,
        name: record.name,
        role,
        project: record.project,
        expires_at: record.expires_at,
    })
}

fn check_usable(record: &TokenRecord, now: i64) -> Result<(), ApiError> {
    if record.revoked_at.is_some() {
        return Err(ApiError::unauthenticated(
            ErrorCode::TokenRevoked,
            format!("token {} was revoked; ask for a new one", record.id),
        ));
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::unauthenticated(
            ErrorCode::TokenExpired,
            format!("token {} has expired; ask for a new one", record.id),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, project: Option<&str>) -> Principal {
        Principal {
            token_id: "tk_x".into(),
            name: "t".into(),
            role,
            project: project.map(Into::into),
            expires_at: None,
        }
    }

    #[test]
    fn roles_map_to_permissions() {
        use Permission::*;
        use Role::*;
        let table = [
            (Owner, [true, true, true, true, true, true, true]),
            (Editor, [false, true, true, false, true, true, true]),
            (Deployer, [false, false, true, true, true, true, true]),
            (Viewer, [false, false, true, false, true, false, true]),
            (Puller, [false, false, false, true, true, false, true]),
        ];
        for (role, allowed) in table {
            let p = principal(role, Some("acme"));
            for (perm, ok) in [
                Own,
                WriteSecrets,
                ReadSecrets,
                ReleaseSecrets,
                Resolve,
                Deploy,
                ListCredentials,
            ]
            .into_iter()
            .zip(allowed)
            {
                assert_eq!(
                    p.require(perm, Some("acme")).is_ok(),
                    ok,
                    "{role:?} {perm:?}"
                );
                assert!(
                    p.require(perm, Some("other")).is_err(),
                    "{role:?} {perm:?} cross"
                );
            }
            assert!(p.require(Administer, None).is_err());
        }
        assert!(principal(Admin, None).require(Administer, None).is_ok());
    }

    #[test]
    fn minted_tokens_parse_back_to_their_id() {
        let t = mint_token().unwrap();
        assert_eq!(
            secret_id(SecretKind::Token, &t.secret).as_deref(),
            Some(t.id.as_str())
        );
        assert_eq!(secret_id(SecretKind::Token, "rc_zz_x"), None);
        assert_eq!(secret_id(SecretKind::Token, "bearer"), None);
        let k = mint_secret(SecretKind::RegistryKey).unwrap();
        assert!(k.secret.starts_with("rk_") && k.id.starts_with("rk_"));
        assert_eq!(
            secret_id(SecretKind::RegistryKey, &k.secret).as_deref(),
            Some(k.id.as_str())
        );
        assert_eq!(secret_id(SecretKind::Token, &k.secret), None);
        assert!(secret_matches(&k.secret, &k.hash));
    }
}
