//! Encryption at rest, end to end through a real store: sealed material opens only under the
//! additional authenticated data it was sealed with (so a ciphertext moved to another record or
//! tampered with does not open), the data key kept in the store is found again by later vaults
//! holding the same master key and refused to any other master key, fingerprints identify
//! material without revealing it, and — the canary test — plaintext material never reaches the
//! bytes of the SQLite database or its WAL, in any common encoding.

mod support;

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use regcred_store::vault::{MasterKey, SealedFor, Vault, VaultError};
use regcred_store::{PullSecretRecord, PutGuard, Sealed, SqliteStore, Store};
use support::*;

/// The authenticated data binding material to its record.
/// What the tests seal: the minted credential of pull secret `id` at revision 1.
fn aad(id: &str) -> SealedFor<'_> {
    SealedFor::Minted {
        pull_secret_id: id,
        revision: 1,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("random bytes");
    hex::encode(&buf)
}

async fn memory_store() -> SqliteStore {
    SqliteStore::temporary().await.unwrap()
}

/// A store with project `alpha` and location `gke.one`, ready for pull secrets.
async fn with_scope(store: &dyn Store) {
    let a = audit("setup", None, "setup");
    store.create_project(&project("alpha"), &a).await.unwrap();
    store
        .create_location(&location("gke.one"), &a)
        .await
        .unwrap();
}

fn sealed_secret(vault: &Vault, id: &str, name: &str, material: &[u8]) -> PullSecretRecord {
    PullSecretRecord {
        sealed: vault.seal(&aad(id), material).unwrap(),
        fingerprint: vault.fingerprint(material),
        ..pull_secret(id, "alpha", "gke.one", name)
    }
}

#[tokio::test]
async fn seal_then_open_round_trips() {
    let store = memory_store().await;
    let vault = Vault::open(&store, &MasterKey::generate().unwrap())
        .await
        .unwrap();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let large = vec![0xa5; 64 * 1024];
    let materials: [&[u8]; 5] = [
        b"",
        b"x",
        br#"{"username":"bot","password":"s3cr\u00eat"}"#,
        &all_bytes,
        &large,
    ];
    for material in materials {
        let sealed = vault.seal(&aad("ps_1"), material).unwrap();
        assert_eq!(sealed.nonce.len(), 12);
        assert_eq!(
            vault.open_sealed(&aad("ps_1"), &sealed).unwrap(),
            material,
            "{} bytes",
            material.len()
        );
    }
}

#[tokio::test]
async fn sealing_the_same_material_twice_uses_fresh_nonces() {
    let store = memory_store().await;
    let vault = Vault::open(&store, &MasterKey::generate().unwrap())
        .await
        .unwrap();
    let a = vault.seal(&aad("ps_1"), b"password").unwrap();
    let b = vault.seal(&aad("ps_1"), b"password").unwrap();
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[tokio::test]
async fn ciphertext_does_not_open_under_another_aad_or_after_tampering() {
    let store = memory_store().await;
    let vault = Vault::open(&store, &MasterKey::generate().unwrap())
        .await
        .unwrap();
    let good = vault.seal(&aad("ps_1"), b"password").unwrap();
    let flip = |bytes: &[u8], at: usize| {
        let mut bytes = bytes.to_vec();
        bytes[at] ^= 0x01;
        bytes
    };
    // (what, what to open it as, sealed value)
    let cases: Vec<(&str, SealedFor<'_>, Sealed)> = vec![
        ("other record", aad("ps_2"), good.clone()),
        (
            "other revision",
            SealedFor::Minted {
                pull_secret_id: "ps_1",
                revision: 2,
            },
            good.clone(),
        ),
        (
            "the pull secret's material",
            SealedFor::PullSecret {
                id: "ps_1",
                revision: 1,
                kind: "ecr",
                server: "1.dkr.ecr.eu-west-1.amazonaws.com",
                username: None,
            },
            good.clone(),
        ),
        (
            "another purpose",
            SealedFor::RegistrySigningKey,
            good.clone(),
        ),
        (
            "flipped ciphertext bit",
            aad("ps_1"),
            Sealed {
                ciphertext: flip(&good.ciphertext, 0),
                ..good.clone()
            },
        ),
        (
            "flipped tag bit",
            aad("ps_1"),
            Sealed {
                ciphertext: flip(&good.ciphertext, good.ciphertext.len() - 1),
                ..good.clone()
            },
        ),
        (
            "flipped nonce bit",
            aad("ps_1"),
            Sealed {
                nonce: flip(&good.nonce, 11),
                ..good.clone()
            },
        ),
        (
            "short nonce",
            aad("ps_1"),
            Sealed {
                nonce: good.nonce[..8].to_vec(),
                ..good.clone()
            },
        ),
        (
            "truncated ciphertext",
            aad("ps_1"),
            Sealed {
                ciphertext: good.ciphertext[..4].to_vec(),
                ..good.clone()
            },
        ),
        (
            "other data key id",
            aad("ps_1"),
            Sealed {
                key_id: "dk_000000000000".to_owned(),
                ..good.clone()
            },
        ),
    ];
    for (what, aad, sealed) in cases {
        let result = vault.open_sealed(&aad, &sealed);
        assert!(
            matches!(result, Err(VaultError::Open { .. })),
            "{what}: {result:?}"
        );
    }
    assert_eq!(vault.open_sealed(&aad("ps_1"), &good).unwrap(), b"password");
}

#[tokio::test]
async fn ciphertext_moved_to_another_record_does_not_open() {
    let store = memory_store().await;
    with_scope(&store).await;
    let vault = Vault::open(&store, &MasterKey::generate().unwrap())
        .await
        .unwrap();
    let a = sealed_secret(&vault, "ps_a", "web", b"material of a");
    let b = sealed_secret(&vault, "ps_b", "api", b"material of b");
    for s in [&a, &b] {
        store
            .put_pull_secret(
                s,
                None,
                PutGuard::default(),
                &audit("create", Some("alpha"), &s.id),
            )
            .await
            .unwrap();
    }
    // Someone with write access to the database copies b's ciphertext into a's row.
    let swapped = PullSecretRecord {
        sealed: b.sealed.clone(),
        revision: 2,
        ..a.clone()
    };
    store
        .put_pull_secret(
            &swapped,
            Some(1),
            PutGuard::default(),
            &audit("tamper", Some("alpha"), "ps_a"),
        )
        .await
        .unwrap();

    let row_a = store.get_pull_secret_by_id("ps_a").await.unwrap().unwrap();
    let result = vault.open_sealed(&aad(&row_a.id), &row_a.sealed);
    assert!(matches!(result, Err(VaultError::Open { .. })), "{result:?}");
    let row_b = store.get_pull_secret_by_id("ps_b").await.unwrap().unwrap();
    assert_eq!(
        vault.open_sealed(&aad(&row_b.id), &row_b.sealed).unwrap(),
        b"material of b"
    );
}

#[tokio::test]
async fn second_vault_with_the_same_master_key_opens_earlier_ciphertexts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    let master = MasterKey::generate().unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let first = Vault::open(&store, &master).await.unwrap();
    let sealed = first.seal(&aad("ps_1"), b"password").unwrap();

    let second = Vault::open(&store, &master).await.unwrap();
    assert_eq!(
        second.open_sealed(&aad("ps_1"), &sealed).unwrap(),
        b"password"
    );
    assert_eq!(
        second.fingerprint(b"password"),
        first.fingerprint(b"password")
    );
    drop(store);

    // Also after a restart, with the master key read back from its text form.
    let store = SqliteStore::open(&path).await.unwrap();
    let restored = MasterKey::from_text(&master.to_text()).unwrap();
    let third = Vault::open(&store, &restored).await.unwrap();
    assert_eq!(
        third.open_sealed(&aad("ps_1"), &sealed).unwrap(),
        b"password"
    );
    assert_eq!(
        third.fingerprint(b"password"),
        first.fingerprint(b"password")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_opens_agree_on_one_data_key() {
    let store: Arc<dyn Store> = Arc::new(memory_store().await);
    let master = MasterKey::generate().unwrap();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (store, master) = (store.clone(), master.clone());
            tokio::spawn(async move { Vault::open(&*store, &master).await })
        })
        .collect();
    let mut vaults = Vec::new();
    for handle in handles {
        vaults.push(handle.await.expect("task panicked").expect("vault opens"));
    }
    let sealed: Vec<Sealed> = vaults
        .iter()
        .map(|v| v.seal(&aad("ps_1"), b"password").unwrap())
        .collect();
    for vault in &vaults {
        for s in &sealed {
            assert_eq!(vault.open_sealed(&aad("ps_1"), s).unwrap(), b"password");
        }
    }
}

#[tokio::test]
async fn different_master_key_is_refused() {
    let store = memory_store().await;
    let master = MasterKey::generate().unwrap();
    let vault = Vault::open(&store, &master).await.unwrap();
    let sealed = vault.seal(&aad("ps_1"), b"password").unwrap();

    let other = MasterKey::generate().unwrap();
    match Vault::open(&store, &other).await {
        Err(VaultError::WrongMasterKey { given, expected }) => {
            assert_eq!(given, other.id());
            assert_eq!(expected, master.id());
        }
        other => panic!("expected WrongMasterKey, got {other:?}"),
    }
    // The refusal did not replace the stored data key.
    let again = Vault::open(&store, &master).await.unwrap();
    assert_eq!(
        again.open_sealed(&aad("ps_1"), &sealed).unwrap(),
        b"password"
    );
}

#[tokio::test]
async fn fingerprints_are_stable_distinct_and_do_not_contain_material() {
    let store = memory_store().await;
    let master = MasterKey::generate().unwrap();
    let vault = Vault::open(&store, &master).await.unwrap();
    let materials: [&[u8]; 6] = [
        b"",
        b"a",
        b"a\0",
        b"hunter2-password",
        b"hunter2-passwore",
        br#"{"username":"bot","password":"hunter2-password"}"#,
    ];
    let fingerprints: Vec<String> = materials.iter().map(|m| vault.fingerprint(m)).collect();
    for (i, m) in materials.iter().enumerate() {
        assert_eq!(vault.fingerprint(m), fingerprints[i], "stable");
        for (j, other) in fingerprints.iter().enumerate().skip(i + 1) {
            assert_ne!(&fingerprints[i], other, "{i} and {j} collide");
        }
        if m.len() >= 4 {
            let fp = &fingerprints[i];
            for encoded in [
                String::from_utf8_lossy(m).into_owned(),
                hex::encode(m),
                STANDARD.encode(m),
                URL_SAFE_NO_PAD.encode(m),
            ] {
                assert!(!fp.contains(&encoded), "{fp} contains {encoded}");
            }
        }
    }

    // Keyed per database: the same material in another store has another fingerprint, so a
    // fingerprint cannot be checked against guesses without the key.
    let elsewhere = Vault::open(&memory_store().await, &master).await.unwrap();
    assert_eq!(
        Vault::open(&store, &master)
            .await
            .unwrap()
            .fingerprint(b"hunter2-password"),
        fingerprints[3],
        "stable across vaults on one store"
    );
    assert_ne!(elsewhere.fingerprint(b"hunter2-password"), fingerprints[3]);
}

#[tokio::test]
async fn debug_and_errors_do_not_reveal_keys_or_material() {
    let store = memory_store().await;
    let master = MasterKey::generate().unwrap();
    let vault = Vault::open(&store, &master).await.unwrap();
    let key_bytes = STANDARD.decode(master.to_text()).unwrap();
    let sealed = vault.seal(&aad("ps_1"), b"hunter2-password").unwrap();
    let record = PullSecretRecord {
        sealed: sealed.clone(),
        ..pull_secret("ps_1", "alpha", "gke.one", "web")
    };
    let wrong = Vault::open(&store, &MasterKey::generate().unwrap())
        .await
        .unwrap_err();
    let open_failure = vault.open_sealed(&aad("ps_2"), &sealed).unwrap_err();

    let rendered = [
        format!("{master:?}"),
        format!("{vault:?}"),
        format!("{sealed:?}"),
        format!("{record:?}"),
        format!("{wrong} {wrong:?}"),
        format!("{open_failure} {open_failure:?}"),
    ];
    let forbidden = [
        master.to_text(),
        hex::encode(&key_bytes),
        format!("{key_bytes:?}"),
        hex::encode(&sealed.ciphertext),
        format!("{:?}", sealed.ciphertext),
        "hunter2".to_owned(),
    ];
    for text in &rendered {
        for secret in &forbidden {
            assert!(
                !text.contains(secret.as_str()),
                "{text:?} reveals {secret:?}"
            );
        }
    }
}

/// Everything SQLite keeps for the database at `path`: the file, its WAL and shared memory.
fn database_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        if let Ok(contents) = std::fs::read(&file) {
            bytes.extend(contents);
        }
    }
    bytes
}

/// The ways `secret` could appear if it were stored encoded: as is, hex, and base64 (standard
/// and URL-safe) at each of the three alignments a surrounding value could give it.
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode(secret).to_uppercase().into_bytes(),
    ];
    for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
        for offset in 0..3 {
            let mut shifted = vec![b'x'; offset];
            shifted.extend_from_slice(secret);
            let encoded = engine.encode(&shifted);
            // Drop the leading group that mixes in the prefix and the trailing one that
            // depends on what follows; the middle is the same wherever the secret sits.
            let start = if offset == 0 { 0 } else { 4 };
            out.push(encoded.as_bytes()[start..encoded.len() - 4].to_vec());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn sealed_material_never_reaches_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regcred.db");
    let store = SqliteStore::open(&path).await.unwrap();
    with_scope(&store).await;
    let vault = Vault::open(&store, &MasterKey::generate().unwrap())
        .await
        .unwrap();

    let canary = format!("canary-{}", random_hex(16));
    // Stored in the clear on purpose: proves the scan below sees what the store wrote.
    let visible = format!("visible-{}", random_hex(16));
    let material = format!(r#"{{"username":"bot","password":"{canary}"}}"#);
    let record = PullSecretRecord {
        username: Some(visible.clone()),
        ..sealed_secret(&vault, "ps_1", "web", material.as_bytes())
    };
    store
        .put_pull_secret(
            &record,
            None,
            PutGuard::default(),
            &audit("create", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    // A rotation leaves the old row version in the WAL as well.
    let rotated_material = format!(r#"{{"username":"bot","password":"{canary}-2"}}"#);
    let rotated = PullSecretRecord {
        revision: 2,
        username: Some(visible.clone()),
        ..sealed_secret(&vault, "ps_1", "web", rotated_material.as_bytes())
    };
    store
        .put_pull_secret(
            &rotated,
            Some(1),
            PutGuard::default(),
            &audit("rotate", Some("alpha"), "ps_1"),
        )
        .await
        .unwrap();
    let stored = store.get_pull_secret_by_id("ps_1").await.unwrap().unwrap();
    assert_eq!(
        vault.open_sealed(&aad("ps_1"), &stored.sealed).unwrap(),
        rotated_material.as_bytes()
    );

    let bytes = database_bytes(&path);
    assert!(
        contains(&bytes, visible.as_bytes()),
        "the scan does not see the database contents"
    );
    for encoded in encodings(canary.as_bytes()) {
        assert!(
            !contains(&bytes, &encoded),
            "the database holds {:?}",
            String::from_utf8_lossy(&encoded)
        );
    }
}
