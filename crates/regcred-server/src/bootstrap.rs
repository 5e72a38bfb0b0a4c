//! First start: the bootstrap admin token. It is created once per database, its secret handed to
//! the caller (the binary writes it 0600 into the data directory) and only its hash kept.

use regcred_core::api::Role;
use regcred_store::{AuditRecord, Store, TokenRecord};

use crate::auth::mint_token;
use crate::clock::now_millis;
use crate::error::ApiError;

const MARKER: &str = "bootstrap.admin_token";

/// Creates the bootstrap admin token unless this database already has one; returns its secret
/// when it was created now.
pub async fn admin_token(store: &dyn Store) -> Result<Option<String>, ApiError> {
    if store.get_meta(MARKER).await?.is_some() {
        return Ok(None);
    }
    let token = mint_token()?;
    let now = now_millis();
    let record = TokenRecord {
        id: token.id.clone(),
        name: "bootstrap-admin".into(),
        project: None,
        role: Role::Admin.as_str().into(),
        hash: token.hash,
        created_at: now,
        created_by: "regcred".into(),
        expires_at: None,
        revoked_at: None,
    };
    // The marker goes first: two servers starting together must not both mint an admin token.
    if !store.insert_meta(MARKER, &token.id).await? {
        return Ok(None);
    }
    let audit = AuditRecord {
        id: 0,
        time: now,
        actor: "regcred".into(),
        channel: "system".into(),
        action: "token.create".into(),
        project: None,
        target: token.id.clone(),
        outcome: "ok".into(),
        detail: r#"{"role":"admin","bootstrap":true}"#.into(),
    };
    store.create_token(&record, &audit).await?;
    Ok(Some(token.secret))
}
