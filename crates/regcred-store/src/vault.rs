//! Encryption at rest. A 256-bit master key (a file written 0600 on first start, or given by
//! file or environment) wraps one data key, which is kept in the store's `meta` table; pull-secret
//! material is sealed with AES-256-GCM under the data key. The additional authenticated data of
//! every ciphertext names the record it belongs to, so a ciphertext copied into another row does
//! not open. Fingerprints are HMAC-SHA256 under a key derived from the data key, so equal
//! material can be recognised without the material being guessable from the database.
//! Rotating the master key only re-wraps the data key; the sealed rows stay as they are.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{Sealed, Store, StoreError};

const DATA_KEY_META: &str = "vault.data_key";

/// Why the vault could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key is invalid: {reason}")]
    BadMasterKey { reason: &'static str },
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "master key file {path} is readable by other users (mode {mode:o}); run chmod 600 on it"
    )]
    KeyFilePermissions { path: String, mode: u32 },
    #[error(
        "the master key (id {given}) is not the key this database was created with (id {expected})"
    )]
    WrongMasterKey { given: String, expected: String },
    #[error("stored data key is corrupt")]
    CorruptDataKey,
    #[error("the store has no data key yet: nothing is sealed, there is nothing to re-wrap")]
    NoDataKey,
    #[error("ciphertext does not open under key {key_id} for this record (tampered, moved or wrong key)")]
    Open { key_id: String },
    #[error("no random numbers available")]
    Random,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The root of the key hierarchy.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.id())
    }
}

impl MasterKey {
    pub fn generate() -> Result<MasterKey, VaultError> {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|_| VaultError::Random)?;
        Ok(MasterKey { key })
    }

    /// Parses the text form: base64 of 32 bytes, surrounding whitespace ignored.
    pub fn from_text(text: &str) -> Result<MasterKey, VaultError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| VaultError::BadMasterKey {
                reason: "not base64",
            })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| VaultError::BadMasterKey {
            reason: "must be 32 bytes (base64 of 32 random bytes)",
        })?;
        Ok(MasterKey { key })
    }

    pub fn to_text(&self) -> String {
        B64.encode(self.key)
    }

    /// A short public identifier: which key, without revealing it.
    pub fn id(&self) -> String {
        let digest = Sha256::new_with_prefix(b"regcred master key id\0")
            .chain_update(self.key)
            .finalize();
        hex::encode(&digest[..8])
    }

    /// Reads the key at `path`; `None` when there is no such file. Refuses a key file other
    /// users can read.
    pub fn load(path: &Path) -> Result<Option<MasterKey>, VaultError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if let Some(mode) = check_private(path).map_err(|source| VaultError::KeyFile {
                    path: shown.clone(),
                    source,
                })? {
                    return Err(VaultError::KeyFilePermissions { path: shown, mode });
                }
                MasterKey::from_text(&text).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(VaultError::KeyFile {
                path: shown,
                source,
            }),
        }
    }

    /// Generates a key and writes it to `path` (0600, never overwriting an existing file).
    pub fn create(path: &Path) -> Result<MasterKey, VaultError> {
        let key = MasterKey::generate()?;
        write_private_new(path, format!("{}\n", key.to_text()).as_bytes()).map_err(|source| {
            VaultError::KeyFile {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }
}

/// Writes `contents` to a new file readable by its owner only; fails if the file exists.
pub fn write_private_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// `Some(mode)` when group or others may read the file.
fn check_private(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrappedKey {
    id: String,
    master_key_id: String,
    nonce: String,
    ciphertext: String,
}

impl WrappedKey {
    /// The data key `id` with bytes `data_key`, encrypted under `master`.
    fn seal(id: String, data_key: &[u8; 32], master: &MasterKey) -> Result<WrappedKey, VaultError> {
        let nonce = random_nonce()?;
        let ciphertext = master
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: data_key,
                    aad: wrap_aad(&id).as_bytes(),
                },
            )
            .map_err(|_| VaultError::CorruptDataKey)?;
        Ok(WrappedKey {
            id,
            master_key_id: master.id(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        })
    }
}

/// What a ciphertext belongs to. Its authenticated data names the record, so a ciphertext
/// copied into another row, revision, server or purpose does not open. The one format for every
/// sealed value lives here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedFor<'a> {
    /// A pull secret's material at one revision, for its kind, server and username.
    PullSecret {
        id: &'a str,
        revision: i64,
        kind: &'a str,
        server: &'a str,
        username: Option<&'a str>,
    },
    /// The short-lived credential minted from a pull secret's revision.
    Minted {
        pull_secret_id: &'a str,
        revision: i64,
    },
    /// The platform registry's token-signing key.
    RegistrySigningKey,
}

impl<'a> SealedFor<'a> {
    /// The material of `record`.
    pub fn pull_secret(record: &'a crate::PullSecretRecord) -> SealedFor<'a> {
        SealedFor::PullSecret {
            id: &record.id,
            revision: record.revision,
            kind: &record.kind,
            server: &record.server,
            username: record.username.as_deref(),
        }
    }

    /// The minted credential of `record`.
    pub fn minted(record: &'a crate::MintedRecord) -> SealedFor<'a> {
        SealedFor::Minted {
            pull_secret_id: &record.pull_secret_id,
            revision: record.revision,
        }
    }

    fn aad(&self) -> String {
        match self {
            SealedFor::PullSecret {
                id,
                revision,
                kind,
                server,
                username,
            } => format!(
                "regcred:pull-secret:v1:{id}:{revision}:{kind}:{server}:{}",
                username.unwrap_or("")
            ),
            SealedFor::Minted {
                pull_secret_id,
                revision,
            } => format!("regcred:minted:v1:{pull_secret_id}:{revision}"),
            SealedFor::RegistrySigningKey => "regcred:registry-signing-key:v1".to_owned(),
        }
    }
}

/// Seals and opens pull-secret material.
pub struct Vault {
    data_key_id: String,
    cipher: Aes256Gcm,
    fingerprint_key: [u8; 32],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault(data key {})", self.data_key_id)
    }
}

impl Vault {
    /// Opens the data key kept in `store`, creating it on first use.
    /// The id of the master key that wraps the store's data key, or `None` for a store that
    /// holds no data key yet (nothing has been sealed in it).
    pub async fn sealed_under(store: &dyn Store) -> Result<Option<String>, VaultError> {
        match store.get_meta(DATA_KEY_META).await? {
            None => Ok(None),
            Some(text) => {
                let wrapped: WrappedKey =
                    serde_json::from_str(&text).map_err(|_| VaultError::CorruptDataKey)?;
                Ok(Some(wrapped.master_key_id))
            }
        }
    }

    pub async fn open(store: &dyn Store, master: &MasterKey) -> Result<Vault, VaultError> {
        loop {
            if let Some(text) = store.get_meta(DATA_KEY_META).await? {
                return Vault::unwrap_data_key(&text, master);
            }
            let mut data_key = [0u8; 32];
            getrandom::getrandom(&mut data_key).map_err(|_| VaultError::Random)?;
            let mut id_bytes = [0u8; 6];
            getrandom::getrandom(&mut id_bytes).map_err(|_| VaultError::Random)?;
            let id = format!("dk_{}", hex::encode(id_bytes));
            let wrapped = WrappedKey::seal(id, &data_key, master)?;
            let text = serde_json::to_string(&wrapped).map_err(|_| VaultError::CorruptDataKey)?;
            // Another server may have created it first; then loop and use theirs.
            if store.insert_meta(DATA_KEY_META, &text).await? {
                return Vault::unwrap_data_key(&text, master);
            }
        }
    }

    /// Master-key rotation: wraps the store's data key under `new` instead of `current`, online.
    /// The data key itself stays, so nothing sealed changes and running servers (which hold the
    /// data key) go on; from now on only `new` opens the store, and `current` is refused like
    /// any wrong key. The wrapped key is replaced only if it is still the one read (two
    /// rotations at once: the second is refused), with `audit` in the same transaction.
    /// Answers the data key's id.
    pub async fn rewrap(
        store: &dyn Store,
        current: &MasterKey,
        new: &MasterKey,
        audit: &crate::AuditRecord,
    ) -> Result<String, VaultError> {
        let text = store
            .get_meta(DATA_KEY_META)
            .await?
            .ok_or(VaultError::NoDataKey)?;
        let (id, data_key) = Vault::data_key(&text, current)?;
        let rewrapped = WrappedKey::seal(id.clone(), &data_key, new)?;
        let value = serde_json::to_string(&rewrapped).map_err(|_| VaultError::CorruptDataKey)?;
        match store
            .replace_meta(DATA_KEY_META, &text, &value, audit)
            .await?
        {
            true => Ok(id),
            false => Err(VaultError::Store(StoreError::Conflict {
                what: "data key",
                key: id,
            })),
        }
    }

    /// The id and bytes of the data key in `text`, unwrapped with `master`.
    fn data_key(text: &str, master: &MasterKey) -> Result<(String, [u8; 32]), VaultError> {
        let wrapped: WrappedKey =
            serde_json::from_str(text).map_err(|_| VaultError::CorruptDataKey)?;
        if wrapped.master_key_id != master.id() {
            return Err(VaultError::WrongMasterKey {
                given: master.id(),
                expected: wrapped.master_key_id,
            });
        }
        let nonce = B64
            .decode(&wrapped.nonce)
            .map_err(|_| VaultError::CorruptDataKey)?;
        let ciphertext = B64
            .decode(&wrapped.ciphertext)
            .map_err(|_| VaultError::CorruptDataKey)?;
        if nonce.len() != 12 {
            return Err(VaultError::CorruptDataKey);
        }
        let key = master
            .cipher()
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: wrap_aad(&wrapped.id).as_bytes(),
                },
            )
            .map_err(|_| VaultError::CorruptDataKey)?;
        let key: [u8; 32] = key.try_into().map_err(|_| VaultError::CorruptDataKey)?;
        Ok((wrapped.id, key))
    }

    fn unwrap_data_key(text: &str, master: &MasterKey) -> Result<Vault, VaultError> {
        let (id, key) = Vault::data_key(text, master)?;
        let fingerprint_key: [u8; 32] = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| VaultError::CorruptDataKey)?
            .chain_update(b"regcred fingerprint key")
            .finalize()
            .into_bytes()
            .into();
        Ok(Vault {
            data_key_id: id,
            cipher: Aes256Gcm::new(&key.into()),
            fingerprint_key,
        })
    }

    /// Encrypts `plaintext`, bound to what it is sealed for.
    pub fn seal(&self, what: &SealedFor<'_>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let aad = what.aad();
        let nonce = random_nonce()?;
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Open {
                key_id: self.data_key_id.clone(),
            })?;
        Ok(Sealed {
            key_id: self.data_key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts `sealed`, which must have been sealed for the same record.
    pub fn open_sealed(
        &self,
        what: &SealedFor<'_>,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError> {
        let aad = what.aad();
        let fail = || VaultError::Open {
            key_id: sealed.key_id.clone(),
        };
        if sealed.key_id != self.data_key_id || sealed.nonce.len() != 12 {
            return Err(fail());
        }
        self.cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| fail())
    }

    /// A keyed hash of `material`, safe to show.
    pub fn fingerprint(&self, material: &[u8]) -> String {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.fingerprint_key)
            .map(|m| m.chain_update(material).finalize().into_bytes());
        match mac {
            Ok(bytes) => format!("hmac-sha256:{}", hex::encode(&bytes[..12])),
            // HMAC accepts keys of any length; this arm cannot be reached.
            Err(_) => String::new(),
        }
    }
}

fn wrap_aad(data_key_id: &str) -> String {
    format!("regcred:data-key:{data_key_id}")
}

fn random_nonce() -> Result<[u8; 12], VaultError> {
    let mut nonce = [0u8; 12];
    getrandom::getrandom(&mut nonce).map_err(|_| VaultError::Random)?;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_text_round_trips_and_rejects_bad_input() {
        let k = MasterKey::generate().unwrap();
        assert_eq!(MasterKey::from_text(&k.to_text()).unwrap().id(), k.id());
        assert!(MasterKey::from_text("not base64!").is_err());
        assert!(MasterKey::from_text(&B64.encode([1u8; 16])).is_err());
        assert!(!format!("{k:?}").contains(&k.to_text()));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        assert!(MasterKey::load(&path).unwrap().is_none());
        let a = MasterKey::create(&path).unwrap();
        let b = MasterKey::load(&path).unwrap().unwrap();
        assert_eq!(a.id(), b.id());
        assert!(
            MasterKey::create(&path).is_err(),
            "an existing key is never overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                MasterKey::load(&path),
                Err(VaultError::KeyFilePermissions { .. })
            ));
        }
    }
}
