//! The rows a store keeps. Times are Unix milliseconds; JSON columns are kept as text so that
//! every backend stores them the same way. Secret material only appears here as [`Sealed`].

use std::collections::HashMap;

/// A project (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub created_by: String,
}

/// A location; `spec` is the validated JSON spec of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRecord {
    pub name: String,
    pub kind: String,
    pub spec: String,
    pub created_at: i64,
    pub created_by: String,
}

/// Ciphertext with what is needed to open it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed {{ key_id: {:?}, {} bytes }}",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

/// A pull secret: metadata in the clear, material sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecretRecord {
    pub id: String,
    pub project: String,
    pub location: String,
    pub name: String,
    pub kind: String,
    pub server: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// JSON of the kind's non-secret parameters.
    pub params: String,
    pub fingerprint: String,
    pub revision: i64,
    pub sealed: Sealed,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
    /// JSON of the last credential check of this revision; `None` until checked and after
    /// every rotation.
    pub verification: Option<String>,
}

/// What references a pull secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerRecord {
    pub kind: String,
    pub name: String,
}

/// Where a pull secret or deployment sits in the lists' order, `(project, location, name)`: the
/// last item of a page, after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListKey {
    pub project: String,
    pub location: String,
    pub name: String,
}

/// One page of pull secrets or deployments in `(project, location, name)` order: the filters,
/// the key the previous page ended at, and at most how many items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListPage<'a> {
    pub project: Option<&'a str>,
    pub location: Option<&'a str>,
    pub after: Option<&'a ListKey>,
    pub limit: u32,
}

/// An access token; only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub project: Option<String>,
    pub role: String,
    pub hash: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A web console session. `id_hash` is the SHA-256 of the cookie's session id (the id itself is
/// never stored); `token_id` names the access token it was opened with, never its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: Vec<u8>,
    pub token_id: String,
    /// The session's CSRF synchronizer secret.
    pub csrf: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("token_id", &self.token_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One audit event; `id` is assigned by the store (0 before insertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub time: i64,
    pub actor: String,
    pub channel: String,
    pub action: String,
    pub project: Option<String>,
    pub target: String,
    pub outcome: String,
    /// JSON object; never holds secret material.
    pub detail: String,
}

/// A key for the platform's own registry: `access` is `read` or `read-write`; only the hash of
/// its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryKeyRecord {
    pub id: String,
    pub project: String,
    pub name: String,
    pub access: String,
    pub hash: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The minted credential of a pull secret and its refresh schedule. `sealed` is `None` until a
/// mint succeeds; after a failure the last good credential stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedRecord {
    pub pull_secret_id: String,
    /// The pull-secret revision it was minted from; a rotation makes it stale.
    pub revision: i64,
    pub username: Option<String>,
    pub endpoint: Option<String>,
    pub sealed: Option<Sealed>,
    pub expires_at: Option<i64>,
    /// Last successful mint.
    pub refreshed_at: Option<i64>,
    pub attempted_at: i64,
    /// Consecutive failures since the last success.
    pub failures: i64,
    pub last_error: Option<String>,
    pub next_refresh_at: i64,
}

/// A deployment: `spec` is the JSON of its current revision (image, pull secrets, resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: String,
    pub project: String,
    pub location: String,
    pub name: String,
    pub revision: i64,
    pub spec: String,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// One revision of a deployment, with the pull-secret revisions it used (in `spec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRevisionRecord {
    pub deployment_id: String,
    pub revision: i64,
    pub spec: String,
    pub created_at: i64,
    pub created_by: String,
}

/// The state of one delivery: what `owner_id` (a pull secret or deployment) has at `target` of
/// `location` (`secret:<namespace>/<name>`, `auth:<key>`, `file:<path>`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub location: String,
    pub target: String,
    pub owner_id: String,
    /// `pending`, `delivered` or `error`.
    pub state: String,
    /// The revision delivered (for `delivered`).
    pub revision: Option<i64>,
    /// Keyed hash of what was written, for targets that carry no marks of their own.
    pub digest: Option<String>,
    /// Stable reason code for `pending` and `error`.
    pub code: Option<String>,
    pub message: Option<String>,
    pub updated_at: i64,
}

// ---- aggregates: what `/metrics` shows about the stored state, one query each whatever the
// number of rows ----

/// What resolving an image needs of a pull secret: no material, no parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecretKey {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub server: String,
}

/// The pull secrets of one (project, location) as resolution needs them, in name order, and the
/// generation they are at: the scope's [`Store::pull_secret_generation`] when they were read.
///
/// [`Store::pull_secret_generation`]: crate::Store::pull_secret_generation
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecretKeys {
    pub generation: i64,
    pub keys: Vec<PullSecretKey>,
}

/// What the views of a page of pull secrets show besides their rows, read together
/// ([`Store::pull_secret_facts`]), each part ordered as its own read orders it.
///
/// [`Store::pull_secret_facts`]: crate::Store::pull_secret_facts
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullSecretFacts {
    /// As [`Store::references_of`](crate::Store::references_of).
    pub references: Vec<(String, ReferrerRecord)>,
    /// As [`Store::minted_of`](crate::Store::minted_of), of the minting ones only.
    pub minted: Vec<MintedRecord>,
    /// As [`Store::deliveries_of`](crate::Store::deliveries_of).
    pub deliveries: Vec<DeliveryRecord>,
}

impl PullSecretFacts {
    /// These facts split by the pull secret they are about, each part in its order here.
    pub fn by_owner(self) -> HashMap<String, PullSecretFacts> {
        let mut of: HashMap<String, PullSecretFacts> = HashMap::new();
        for reference in self.references {
            of.entry(reference.0.clone())
                .or_default()
                .references
                .push(reference);
        }
        for minted in self.minted {
            of.entry(minted.pull_secret_id.clone())
                .or_default()
                .minted
                .push(minted);
        }
        for delivery in self.deliveries {
            of.entry(delivery.owner_id.clone())
                .or_default()
                .deliveries
                .push(delivery);
        }
        of
    }
}

/// The owners (pull secrets, deployments) of a location written since a change sequence number,
/// each once, and the last sequence number read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub last: i64,
    pub owners: Vec<String>,
}

/// How many pull secrets of one kind are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecretCount {
    pub kind: String,
    pub count: i64,
}

/// How many deliveries of one location are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    pub location: String,
    pub state: String,
    pub count: i64,
}

/// The minted credentials of one pull-secret kind, summarized. Only minted state of the pull
/// secret's current revision counts: after a rotation the old credential is never served again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedSummary {
    pub kind: String,
    /// Pull secrets of this kind with minted state.
    pub count: i64,
    /// The earliest expiry among the credentials held (sealed); `None` when none is held or no
    /// held one has a known expiry.
    pub earliest_expiry: Option<i64>,
    /// Pull secrets whose last mint failed (`failures > 0`).
    pub failing: i64,
}

/// A lease: who holds the background work of the servers on one database, until when (Unix
/// milliseconds by the database's clock), under which fencing token (`epoch`, one more each time
/// another holder takes it), and the URL the holder serves at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    pub expires_at: i64,
    pub url: Option<String>,
}
