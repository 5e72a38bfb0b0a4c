//! Record builders and a store snapshot shared by the store's integration tests. Builders fill
//! every field with a plausible, distinctive value so that a backend which drops or swaps a column
//! fails a round-trip comparison; tests override only the fields they are about.

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

use regcred_store::{
    AuditRecord, LocationRecord, ProjectRecord, PullSecretRecord, Sealed, Store, StoreError,
    TokenRecord,
};

pub fn project(name: &str) -> ProjectRecord {
    ProjectRecord {
        name: name.to_owned(),
        description: Some(format!("the {name} team — ünïcode kept")),
        created_at: 1_700_000_000_000,
        created_by: "alice".to_owned(),
    }
}

pub fn location(name: &str) -> LocationRecord {
    LocationRecord {
        name: name.to_owned(),
        kind: "kubernetes".to_owned(),
        spec: format!(r#"{{"context":"{name}","namespace":"{{project}}"}}"#),
        created_at: 1_700_000_000_001,
        created_by: "bob".to_owned(),
    }
}

/// Opaque bytes standing in for a ciphertext: the store must keep them bit for bit, including
/// bytes that are not valid UTF-8.
pub fn sealed(seed: u8) -> Sealed {
    Sealed {
        key_id: "dk_0123456789ab".to_owned(),
        nonce: vec![seed; 12],
        ciphertext: vec![0x00, 0xff, seed, 0x80, 0x7f, seed.wrapping_mul(3)],
    }
}

pub fn pull_secret(id: &str, project: &str, location: &str, name: &str) -> PullSecretRecord {
    PullSecretRecord {
        id: id.to_owned(),
        project: project.to_owned(),
        location: location.to_owned(),
        name: name.to_owned(),
        kind: "ghcr".to_owned(),
        server: "ghcr.io".to_owned(),
        username: Some(format!("{name}-bot")),
        email: None,
        params: "{}".to_owned(),
        fingerprint: format!("hmac-sha256:{id}"),
        revision: 1,
        sealed: sealed(1),
        created_at: 1_700_000_000_002,
        created_by: "carol".to_owned(),
        updated_at: 1_700_000_000_002,
        updated_by: "carol".to_owned(),
        verification: None,
    }
}

/// The record a rotation of `previous` would write: new material, revision bumped.
pub fn rotated(previous: &PullSecretRecord, seed: u8, by: &str) -> PullSecretRecord {
    PullSecretRecord {
        revision: previous.revision + 1,
        sealed: sealed(seed),
        fingerprint: format!("hmac-sha256:rotated-{seed}"),
        updated_at: previous.updated_at + 1_000,
        updated_by: by.to_owned(),
        verification: None,
        ..previous.clone()
    }
}

pub fn token(id: &str, project: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        name: format!("{id} for ci"),
        project: project.map(str::to_owned),
        role: if project.is_some() { "editor" } else { "admin" }.to_owned(),
        hash: vec![0xde, 0xad, 0x00, 0xbe, 0xef],
        created_at: 1_700_000_000_003,
        created_by: "dave".to_owned(),
        expires_at: Some(1_800_000_000_000),
        revoked_at: None,
    }
}

pub fn audit(action: &str, project: Option<&str>, target: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        time: 1_700_000_000_004,
        actor: "erin".to_owned(),
        channel: "api".to_owned(),
        action: action.to_owned(),
        project: project.map(str::to_owned),
        target: target.to_owned(),
        outcome: "ok".to_owned(),
        detail: format!(r#"{{"action":"{action}"}}"#),
    }
}

/// A stable name for the variant, so tables of expectations read as text.
pub fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotFound { .. } => "not_found",
        StoreError::AlreadyExists { .. } => "already_exists",
        StoreError::Conflict { .. } => "conflict",
        StoreError::InUse { .. } => "in_use",
        StoreError::DuplicateServer { .. } => "duplicate_server",
        StoreError::LocationTaken => "location_taken",
        StoreError::Schema(_) => "schema",
        StoreError::Unavailable { .. } => "unavailable",
        StoreError::Backend(_) | StoreError::SqliteRead(_) => "backend",
        StoreError::Fenced { .. } => "fenced",
    }
}

/// Everything a store holds that the trait can read back, for "nothing changed" assertions.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub projects: Vec<ProjectRecord>,
    pub locations: Vec<LocationRecord>,
    pub pull_secrets: Vec<PullSecretRecord>,
    pub references: Vec<(String, Vec<regcred_store::ReferrerRecord>)>,
    pub tokens: Vec<TokenRecord>,
    pub audit: Vec<AuditRecord>,
}

pub async fn snapshot(store: &dyn Store) -> Snapshot {
    let pull_secrets = store.list_pull_secrets(None, None).await.unwrap();
    let mut references = Vec::new();
    for s in &pull_secrets {
        references.push((s.id.clone(), store.references(&s.id).await.unwrap()));
    }
    Snapshot {
        projects: store.list_projects().await.unwrap(),
        locations: store.list_locations().await.unwrap(),
        pull_secrets,
        references,
        tokens: store.list_tokens(None).await.unwrap(),
        audit: all_audit(store, None).await,
    }
}

/// The whole audit log (optionally of one project), newest first, read in small pages so that
/// paging itself is exercised.
pub async fn all_audit(store: &dyn Store, project: Option<&str>) -> Vec<AuditRecord> {
    let mut all: Vec<AuditRecord> = Vec::new();
    loop {
        let before = all.last().map(|a| a.id);
        let page = store.list_audit(project, before, 7).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}
