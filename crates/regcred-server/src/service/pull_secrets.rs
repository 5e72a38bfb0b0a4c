//! Pull secrets below the API: a stored record's kind, its credential opened through the vault,
//! and records keyed by what the runtimes' matching rules compare.

use regcred_core::api::{MintedStatus, PullSecret, Referrer};
use regcred_core::codes::ErrorCode;
use regcred_core::credential::{Credential, Kind, Material, Params, MINTING_KINDS};
use regcred_core::registry_host::RegistryServer;
use regcred_store::vault::SealedFor;
use regcred_store::{PullSecretFacts, PullSecretRecord, PutGuard, StoreError};
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::{new_id, Acting};
use crate::AppState;

/// The kind of a stored pull secret; one this regcred does not know is an error, never a
/// default.
pub fn kind_of(r: &PullSecretRecord) -> Result<Kind, ApiError> {
    Kind::parse(&r.kind).ok_or_else(|| {
        ApiError::unreadable(format!(
            "pull secret {} has the unknown kind {:?}",
            r.id, r.kind
        ))
    })
}

/// Opens a stored pull secret back into its credential through the vault.
pub fn open(state: &AppState, r: &PullSecretRecord) -> Result<Credential, ApiError> {
    let plaintext = state
        .vault()
        .open_sealed(&SealedFor::pull_secret(r), &r.sealed)?;
    let kind = kind_of(r)?;
    let material =
        Material::from_plaintext(kind, &plaintext).map_err(|e| ApiError::internal(&e))?;
    let server = RegistryServer::parse(&r.server).map_err(|e| ApiError::internal(&e))?;
    let params: Params = serde_json::from_str(&r.params).map_err(|e| ApiError::internal(&e))?;
    Ok(Credential {
        kind,
        server,
        username: r.username.clone(),
        email: r.email.clone(),
        params,
        material,
    })
}

/// Records keyed by the auth key their server has in `.dockerconfigjson` (what the matching
/// rules compare), in the order given.
pub fn by_auth_key(records: &[PullSecretRecord]) -> Vec<(String, &PullSecretRecord)> {
    records
        .iter()
        .filter_map(|r| Some((RegistryServer::parse(&r.server).ok()?.auth_key(), r)))
        .collect()
}

/// The metadata of a stored pull secret, as the API shows it; never its material.
fn view(r: PullSecretRecord, used_by: Vec<Referrer>) -> Result<PullSecret, ApiError> {
    Ok(PullSecret {
        kind: kind_of(&r)?,
        params: serde_json::from_str(&r.params).map_err(|e| ApiError::internal(&e))?,
        id: r.id,
        project: r.project,
        location: r.location,
        name: r.name,
        server: r.server,
        username: r.username,
        email: r.email,
        fingerprint: r.fingerprint,
        revision: u64::try_from(r.revision).unwrap_or_default(),
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
        updated_at: rfc3339(r.updated_at),
        updated_by: r.updated_by,
        used_by,
        verification: r
            .verification
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok()),
        credential: None,
        deliveries: Vec::new(),
    })
}

/// A pull secret's metadata with what only the store knows: referrers, the minted credential's
/// state and the deliveries.
pub async fn describe(state: &AppState, r: PullSecretRecord) -> Result<PullSecret, ApiError> {
    let (ids, minting) = regcred_store::facts_of_one(&r, &MINTING_KINDS.map(Kind::as_str));
    let facts = state.store().pull_secret_facts(&ids, &minting).await?;
    view_with(r, facts)
}

/// The view of one pull secret, with the facts read for it
/// ([`Store::described_pull_secret`], [`Store::described_pull_secrets_page`]).
///
/// [`Store::described_pull_secret`]: regcred_store::Store::described_pull_secret
/// [`Store::described_pull_secrets_page`]: regcred_store::Store::described_pull_secrets_page
pub fn view_with(r: PullSecretRecord, facts: PullSecretFacts) -> Result<PullSecret, ApiError> {
    let minted = facts
        .minted
        .into_iter()
        .find(|m| m.pull_secret_id == r.id && m.revision == r.revision);
    let deliveries = facts
        .deliveries
        .into_iter()
        .filter(|d| d.owner_id == r.id)
        .map(crate::service::deliveries::status)
        .collect::<Result<_, _>>()?;
    let used_by = facts
        .references
        .into_iter()
        .filter(|(id, _)| *id == r.id)
        .map(|(_, r)| Referrer {
            kind: r.kind,
            name: r.name,
        })
        .collect();
    let mut v = view(r, used_by)?;
    v.deliveries = deliveries;
    v.credential = minted.map(|m| MintedStatus {
        expires_at: m.expires_at.map(rfc3339),
        refreshed_at: m.refreshed_at.map(rfc3339),
        next_refresh_at: rfc3339(m.next_refresh_at),
        failures: u32::try_from(m.failures).unwrap_or(u32::MAX),
        last_error: m.last_error,
        endpoint: m.endpoint,
    });
    Ok(v)
}

/// Where a pull secret is stored: its project, location and name.
#[derive(Debug, Clone, Copy)]
pub struct Address<'a> {
    pub project: &'a str,
    pub location: &'a str,
    pub name: &'a str,
}

/// Stores `credential` at `at`: a new pull secret, or a rotation (same id, revision + 1) when
/// the name exists. Seals the material for the record, writes it with its audit event under
/// `guard`, and wakes the refresher and delivery. Answers the stored record and whether it was a
/// rotation. `kept_from`: the revision whose secret the credential keeps; only that revision is
/// replaced (`conflict` when another writer came first).
pub async fn put(
    state: &AppState,
    acting: &Acting,
    at: Address<'_>,
    credential: &Credential,
    guard: PutGuard,
    kept_from: Option<i64>,
) -> Result<(PullSecretRecord, bool), ApiError> {
    let plaintext = credential.material.to_plaintext();
    let fingerprint = state.vault().fingerprint(&plaintext);
    let target = format!("{}/{}/{}", at.project, at.location, at.name);
    // Rotation races with another writer are rare; one retry after a conflict settles them.
    for _attempt in 0..2 {
        let existing = state
            .store()
            .get_pull_secret(at.project, at.location, at.name)
            .await?;
        if kept_from.is_some() && existing.as_ref().map(|e| e.revision) != kept_from {
            break;
        }
        let mut record = new_revision(acting, at, credential, existing.as_ref(), &fingerprint)?;
        record.sealed = state
            .vault()
            .seal(&SealedFor::pull_secret(&record), &plaintext)?;
        let rotated = existing.is_some();
        let event = acting.audit(
            Some(at.project),
            &target,
            "ok",
            json!({
                "id": record.id,
                "kind": record.kind,
                "server": record.server,
                "revision": record.revision,
                "rotated": rotated,
                "fingerprint": record.fingerprint,
            }),
        );
        let expected = existing.as_ref().map(|e| e.revision);
        match state
            .store()
            .put_pull_secret(&record, expected, guard, &event)
            .await
        {
            Ok(()) => {
                state.refresher().wake();
                state.deliverer().wake();
                return Ok((record, rotated));
            }
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        ErrorCode::Conflict,
        format!("pull secret {target} is being changed by someone else; retry"),
    ))
}

/// The record of the next revision at `at` (the first when nothing exists), not yet sealed.
fn new_revision(
    acting: &Acting,
    at: Address<'_>,
    credential: &Credential,
    existing: Option<&PullSecretRecord>,
    fingerprint: &str,
) -> Result<PullSecretRecord, ApiError> {
    Ok(PullSecretRecord {
        id: match existing {
            Some(e) => e.id.clone(),
            None => new_id("ps")?,
        },
        project: at.project.to_owned(),
        location: at.location.to_owned(),
        name: at.name.to_owned(),
        kind: credential.kind.as_str().to_owned(),
        server: credential.server.to_string(),
        username: credential.username.clone(),
        email: credential.email.clone(),
        params: serde_json::to_string(&credential.params).map_err(|e| ApiError::internal(&e))?,
        fingerprint: fingerprint.to_owned(),
        revision: existing.map_or(1, |e| e.revision + 1),
        sealed: regcred_store::Sealed {
            key_id: String::new(),
            nonce: Vec::new(),
            ciphertext: Vec::new(),
        },
        created_at: existing.map_or(acting.now, |e| e.created_at),
        created_by: existing.map_or_else(|| acting.actor.clone(), |e| e.created_by.clone()),
        updated_at: acting.now,
        updated_by: acting.actor.clone(),
        verification: None,
    })
}
