//! Bitnami sealed-secrets output: a Secret becomes a `SealedSecret` that only the cluster's
//! sealed-secrets controller can open, so it may be committed to a GitOps directory. Each data value
//! is sealed on its own with the controller's hybrid scheme (`HybridEncrypt` in the controller's
//! `pkg/crypto`): a fresh 32-byte AES-256 session key, encrypted with RSA-OAEP (SHA-256, MGF1
//! SHA-256) under the controller's public key with the scope label as OAEP label, framed as
//! `u16 big-endian length of the RSA ciphertext ‖ RSA ciphertext ‖ AES-256-GCM(plaintext)` with an
//! all-zero nonce and no additional data. The scope is always *strict*: the label is
//! `namespace/name`, so the controller refuses to unseal the object under any other name or in any
//! other namespace. The sealing key is the certificate `kubeseal --fetch-cert` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, RsaPublicKey};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use x509_cert::der::{Decode, DecodePem};
use x509_cert::Certificate;

/// The `apiVersion` of the SealedSecret custom resource.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";

/// The `kind` of the SealedSecret custom resource.
pub const KIND: &str = "SealedSecret";

/// Annotations that ask the controller for a wider scope than strict. regcred seals strictly
/// only, so a Secret carrying one set to `"true"` is refused rather than sealed under a label the
/// controller would not use.
const SCOPE_ANNOTATIONS: [&str; 2] = [
    "sealedsecrets.bitnami.com/namespace-wide",
    "sealedsecrets.bitnami.com/cluster-wide",
];

/// Annotations that hold a full copy of the object as last applied, plaintext data included;
/// kubeseal drops them for that reason (sealed-secrets issue 227) and so does this.
const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// The session key: AES-256.
const SESSION_KEY_LEN: usize = 32;

/// Below this an RSA key does not protect credentials kept in git for years; the controller
/// generates 4096-bit keys.
const MIN_KEY_BITS: usize = 2048;

/// The rsa crate refuses keys above 4096 bits unless told otherwise; the controller's key size is
/// configurable (`--key-size`), so 8192-bit keys have to work too.
const MAX_KEY_BITS: usize = 16384;

/// Why a sealing key could not be read or a Secret could not be sealed. No message contains
/// secret data: values are named by their data key, never shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("sealing certificate: no PEM CERTIFICATE block (expected what `kubeseal --fetch-cert` prints)")]
    NoCertificate,
    #[error("sealing certificate: not a valid PEM X.509 certificate: {reason}")]
    InvalidCertificate { reason: String },
    #[error("sealing certificate: {algorithm} key, not RSA; the sealed-secrets controller seals with RSA")]
    NotRsa { algorithm: String },
    #[error("sealing certificate: malformed RSA public key: {reason}")]
    InvalidRsaKey { reason: String },
    #[error("sealing certificate: RSA key of {bits} bits is too small (at least {MIN_KEY_BITS})")]
    KeyTooSmall { bits: usize },
    #[error("Secret: {field} {problem}")]
    InvalidSecret {
        field: String,
        problem: &'static str,
    },
    #[error("Secret {name}: metadata.namespace is required, because the strict scope binds the sealed data to namespace/name")]
    MissingNamespace { name: String },
    #[error("Secret {name}: annotation {annotation} asks for a wider scope; regcred seals with strict scope only")]
    ScopeAnnotation {
        name: String,
        annotation: &'static str,
    },
    #[error("Secret {name}: stringData is not supported; put the values base64-encoded into data")]
    StringData { name: String },
    #[error("Secret {name}: data[{key}] is not valid base64")]
    InvalidBase64 { name: String, key: String },
    #[error("Secret {name}: sealing data[{key}] failed: {reason}")]
    Encrypt {
        name: String,
        key: String,
        reason: String,
    },
}

/// The controller's public sealing key, taken from its certificate. `Debug` shows the key size
/// and the certificate's expiry, not the modulus.
#[derive(Clone)]
pub struct SealingKey {
    public_key: RsaPublicKey,
    not_after: x509_cert::der::DateTime,
}

impl SealingKey {
    /// Reads the first `CERTIFICATE` block of `pem`, as kubeseal does (other blocks, such as a
    /// chain's further certificates, are ignored), and takes its RSA public key. Non-RSA keys,
    /// keys under 2048 bits and anything that is not a certificate are refused. An expired
    /// certificate is accepted: the controller keeps old keys for unsealing, and whether to warn
    /// is the caller's decision ([`SealingKey::not_after`]).
    pub fn from_pem(pem: &str) -> Result<Self, SealError> {
        let block = first_certificate_block(pem).ok_or(SealError::NoCertificate)?;
        let cert = Certificate::from_pem(block).map_err(|e| SealError::InvalidCertificate {
            reason: e.to_string(),
        })?;
        let tbs = cert.tbs_certificate;
        let spki = tbs.subject_public_key_info;
        if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(SealError::NotRsa {
                algorithm: algorithm_name(&spki.algorithm.oid.to_string()),
            });
        }
        let der = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| SealError::InvalidRsaKey {
                reason: "the key's bit string is not whole bytes".to_owned(),
            })?;
        let parsed =
            rsa::pkcs1::RsaPublicKey::from_der(der).map_err(|e| SealError::InvalidRsaKey {
                reason: e.to_string(),
            })?;
        let public_key = RsaPublicKey::new_with_max_size(
            BigUint::from_bytes_be(parsed.modulus.as_bytes()),
            BigUint::from_bytes_be(parsed.public_exponent.as_bytes()),
            MAX_KEY_BITS,
        )
        .map_err(|e| SealError::InvalidRsaKey {
            reason: e.to_string(),
        })?;
        let bits = public_key.n().bits();
        if bits < MIN_KEY_BITS {
            return Err(SealError::KeyTooSmall { bits });
        }
        Ok(SealingKey {
            public_key,
            not_after: tbs.validity.not_after.to_date_time(),
        })
    }

    /// The size of the RSA modulus in bits.
    pub fn bits(&self) -> usize {
        self.public_key.n().bits()
    }

    /// When the certificate expires. kubeseal refuses to seal with an expired certificate because
    /// it usually means a stale copy: the controller renews its key every 30 days.
    pub fn not_after(&self) -> SystemTime {
        self.not_after.to_system_time()
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("bits", &self.bits())
            .field("not_after", &format_args!("{}", self.not_after))
            .finish()
    }
}

/// The text from the first `-----BEGIN CERTIFICATE-----` to the `-----END CERTIFICATE-----`
/// after it, so leading comments and later blocks do not matter.
fn first_certificate_block(pem: &str) -> Option<&str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN)?;
    let end = start + pem[start..].find(END)? + END.len();
    Some(&pem[start..end])
}

/// A readable name for the key algorithms a sealing certificate is likely to hold by mistake.
fn algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.2.1" => "EC".to_owned(),
        "1.3.101.112" => "Ed25519".to_owned(),
        "1.3.101.110" => "X25519".to_owned(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS".to_owned(),
        "1.2.840.10040.4.1" => "DSA".to_owned(),
        other => format!("OID {other}"),
    }
}

/// Seals a v1 Secret as regcred renders it (`metadata.name`, `metadata.namespace`, optional
/// `metadata.labels` and `metadata.annotations`, `type`, optional `immutable`, `data` with
/// base64 values) into a strict-scope `SealedSecret`, returned as pretty-printed JSON with a
/// trailing newline. JSON because it is kubeseal's default output format, any YAML reader takes
/// it, and its layout is fixed here: fields in a constant order and every map sorted by key, so a
/// re-seal changes only the ciphertexts in a git diff (each seal draws fresh session keys, so
/// those always change).
///
/// The Secret's labels and annotations go onto both the SealedSecret and its template; other
/// metadata (uid, resourceVersion, ownerReferences, creationTimestamp, …) is not carried.
/// Last-applied-configuration annotations are dropped because they hold the plaintext.
pub fn seal_secret(key: &SealingKey, secret: &Value) -> Result<String, SealError> {
    let input = SecretInput::parse(secret)?;
    let label = format!("{}/{}", input.namespace, input.name);
    let mut encrypted_data = BTreeMap::new();
    for (data_key, value) in &input.data {
        let sealed = hybrid_encrypt(&key.public_key, value, &label).map_err(|reason| {
            SealError::Encrypt {
                name: input.name.to_owned(),
                key: (*data_key).to_owned(),
                reason,
            }
        })?;
        encrypted_data.insert(
            *data_key,
            base64::engine::general_purpose::STANDARD.encode(sealed),
        );
    }
    let metadata = Metadata {
        name: input.name,
        namespace: input.namespace,
        labels: input.labels.clone(),
        annotations: input.annotations.clone(),
    };
    let document = SealedSecret {
        api_version: API_VERSION,
        kind: KIND,
        metadata: metadata.clone(),
        spec: Spec {
            encrypted_data,
            template: Template {
                metadata,
                type_: input.type_,
                immutable: input.immutable,
            },
        },
    };
    let mut out = serde_json::to_string_pretty(&document)
        .expect("a SealedSecret of strings, booleans and string-keyed maps always serializes");
    out.push('\n');
    Ok(out)
}

/// The controller's `HybridEncrypt`. The error is a reason without data.
fn hybrid_encrypt(
    public_key: &RsaPublicKey,
    plaintext: &[u8],
    label: &str,
) -> Result<Vec<u8>, String> {
    let mut session_key = [0u8; SESSION_KEY_LEN];
    OsRng
        .try_fill_bytes(&mut session_key)
        .map_err(|e| format!("no randomness for the session key: {e}"))?;
    let rsa_ciphertext = public_key
        .encrypt(
            &mut OsRng,
            Oaep::new_with_label::<Sha256, _>(label),
            &session_key,
        )
        .map_err(|e| format!("RSA-OAEP: {e}"))?;
    let rsa_len = u16::try_from(rsa_ciphertext.len())
        .map_err(|_| "RSA ciphertext longer than a u16 length prefix allows".to_owned())?;
    let cipher = Aes256Gcm::new_from_slice(&session_key)
        .expect("the session key is SESSION_KEY_LEN = 32 bytes, AES-256's key size");
    // Each session key seals exactly one value, so the fixed all-zero nonce never repeats under a
    // key; the controller opens with that same zero nonce.
    let aes_ciphertext = cipher
        .encrypt(&Nonce::default(), plaintext)
        .map_err(|_| "AES-256-GCM refused the plaintext".to_owned())?;
    let mut out = Vec::with_capacity(2 + rsa_ciphertext.len() + aes_ciphertext.len());
    out.extend_from_slice(&rsa_len.to_be_bytes());
    out.extend_from_slice(&rsa_ciphertext);
    out.extend_from_slice(&aes_ciphertext);
    Ok(out)
}

/// The parts of a Secret that sealing uses, checked.
struct SecretInput<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
    type_: Option<&'a str>,
    immutable: Option<bool>,
    /// Decoded values: plaintext.
    data: BTreeMap<&'a str, Vec<u8>>,
}

impl<'a> SecretInput<'a> {
    fn parse(secret: &'a Value) -> Result<Self, SealError> {
        let invalid = |field: &str, problem| SealError::InvalidSecret {
            field: field.to_owned(),
            problem,
        };
        let secret = secret
            .as_object()
            .ok_or_else(|| invalid("the document", "is not a JSON object"))?;
        if let Some(kind) = secret.get("kind") {
            if kind.as_str() != Some("Secret") {
                return Err(invalid("kind", "is not \"Secret\""));
            }
        }
        if let Some(api_version) = secret.get("apiVersion") {
            if api_version.as_str() != Some("v1") {
                return Err(invalid("apiVersion", "is not \"v1\""));
            }
        }
        let metadata = secret
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("metadata", "is missing or not an object"))?;
        let name = match metadata.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name,
            _ => return Err(invalid("metadata.name", "is missing or empty")),
        };
        // A '/' would make the label `namespace/name` ambiguous; Kubernetes allows none in either.
        if name.contains('/') {
            return Err(invalid("metadata.name", "contains '/'"));
        }
        let namespace = match metadata.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(ns)) if ns.is_empty() => None,
            Some(Value::String(ns)) => Some(ns.as_str()),
            Some(_) => return Err(invalid("metadata.namespace", "is not a string")),
        }
        .ok_or_else(|| SealError::MissingNamespace {
            name: name.to_owned(),
        })?;
        if namespace.contains('/') {
            return Err(invalid("metadata.namespace", "contains '/'"));
        }
        let labels = string_map(metadata.get("labels"), "metadata.labels")?;
        let mut annotations = string_map(metadata.get("annotations"), "metadata.annotations")?;
        for annotation in LAST_APPLIED_ANNOTATIONS {
            annotations.remove(annotation);
        }
        for annotation in SCOPE_ANNOTATIONS {
            if annotations.get(annotation) == Some(&"true") {
                return Err(SealError::ScopeAnnotation {
                    name: name.to_owned(),
                    annotation,
                });
            }
        }
        let type_ = match secret.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => return Err(invalid("type", "is not a string")),
        };
        let immutable = match secret.get("immutable") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(invalid("immutable", "is not a boolean")),
        };
        match secret.get("stringData") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) if o.is_empty() => {}
            Some(_) => {
                return Err(SealError::StringData {
                    name: name.to_owned(),
                })
            }
        }
        let mut data = BTreeMap::new();
        for (key, encoded) in string_map(secret.get("data"), "data")? {
            // The decode error is not kept: it quotes a byte of the (encoded) secret.
            let value = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| SealError::InvalidBase64 {
                    name: name.to_owned(),
                    key: key.to_owned(),
                })?;
            data.insert(key, value);
        }
        Ok(SecretInput {
            name,
            namespace,
            labels,
            annotations,
            type_,
            immutable,
            data,
        })
    }
}

/// A `map[string]string` field; absent or null is empty. The error names the entry, never its
/// value.
fn string_map<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<BTreeMap<&'a str, &'a str>, SealError> {
    let object = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(object)) => object,
        Some(_) => {
            return Err(SealError::InvalidSecret {
                field: field.to_owned(),
                problem: "is not an object",
            })
        }
    };
    object
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.as_str(), s)),
            None => Err(SealError::InvalidSecret {
                field: format!("{field}[{k}]"),
                problem: "is not a string",
            }),
        })
        .collect()
}

// Field order here is the order in the output.
#[derive(Serialize)]
struct SealedSecret<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    spec: Spec<'a>,
}

#[derive(Serialize, Clone)]
struct Metadata<'a> {
    name: &'a str,
    namespace: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct Spec<'a> {
    #[serde(rename = "encryptedData")]
    encrypted_data: BTreeMap<&'a str, String>,
    template: Template<'a>,
}

#[derive(Serialize)]
struct Template<'a> {
    metadata: Metadata<'a>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    immutable: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::RsaPrivateKey;
    use serde_json::json;

    // A throwaway 2048-bit key pair made with openssl for these tests; it seals nothing real.
    const TEST_CERT: &str = include_str!("../tests/data/test-only-sealing-cert.pem");
    const TEST_KEY: &str = include_str!("../tests/data/test-only-sealing-key.pem");
    const EC_CERT: &str = include_str!("../tests/data/test-only-ec-cert.pem");
    const SMALL_CERT: &str = include_str!("../tests/data/test-only-rsa1024-cert.pem");

    const PASSWORD: &str = "hunter2-s3cr3t";

    fn key() -> SealingKey {
        SealingKey::from_pem(TEST_CERT).expect("the test certificate parses")
    }

    fn private_key() -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs8_pem(TEST_KEY).expect("the test key parses")
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn pull_secret() -> Value {
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {
                "name": "regcred-ghcr",
                "namespace": "team-a",
                "creationTimestamp": null,
                "labels": {"z.example/last": "1", "app.kubernetes.io/managed-by": "regcred"},
                "annotations": {"regcred.io/pull-secret": "ghcr"},
            },
            "data": {".dockerconfigjson": b64(format!(r#"{{"auths":{{"ghcr.io":{{"password":"{PASSWORD}"}}}}}}"#).as_bytes())},
            "type": "kubernetes.io/dockerconfigjson",
        })
    }

    /// The controller's `HybridDecrypt`, for checking what [`hybrid_encrypt`] produced.
    fn hybrid_decrypt(sealed: &[u8], label: &str) -> Option<Vec<u8>> {
        let rsa_len = usize::from(u16::from_be_bytes([*sealed.first()?, *sealed.get(1)?]));
        let rsa_ciphertext = sealed.get(2..2 + rsa_len)?;
        let session_key = private_key()
            .decrypt(Oaep::new_with_label::<Sha256, _>(label), rsa_ciphertext)
            .ok()?;
        Aes256Gcm::new_from_slice(&session_key)
            .ok()?
            .decrypt(&Nonce::default(), &sealed[2 + rsa_len..])
            .ok()
    }

    fn seal(secret: &Value) -> Value {
        serde_json::from_str(&seal_secret(&key(), secret).expect("seals")).expect("JSON")
    }

    fn sealed_value(sealed: &Value, data_key: &str) -> Vec<u8> {
        let encoded = sealed["spec"]["encryptedData"][data_key]
            .as_str()
            .expect("encrypted value present");
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("standard base64")
    }

    fn seal_err(secret: &Value) -> SealError {
        seal_secret(&key(), secret).expect_err("sealing must fail")
    }

    #[test]
    fn each_value_unseals_with_the_strict_label_only() {
        let mut secret = pull_secret();
        let binary: Vec<u8> = (0..=255).collect();
        secret["data"]["binary"] = json!(b64(&binary));
        secret["data"]["empty"] = json!("");
        let sealed = seal(&secret);
        let original = base64::engine::general_purpose::STANDARD
            .decode(secret["data"][".dockerconfigjson"].as_str().expect("str"))
            .expect("b64");
        for (data_key, plaintext) in [
            (".dockerconfigjson", original.as_slice()),
            ("binary", &binary),
            ("empty", &[]),
        ] {
            let value = sealed_value(&sealed, data_key);
            assert_eq!(
                hybrid_decrypt(&value, "team-a/regcred-ghcr").as_deref(),
                Some(plaintext),
                "{data_key}"
            );
            for wrong in ["team-b/regcred-ghcr", "team-a/other", "team-a", ""] {
                assert_eq!(
                    hybrid_decrypt(&value, wrong),
                    None,
                    "{data_key} with {wrong:?}"
                );
            }
        }
    }

    #[test]
    fn ciphertext_is_length_prefixed_rsa_then_gcm() {
        let sealed = seal(&pull_secret());
        let value = sealed_value(&sealed, ".dockerconfigjson");
        // 2048-bit key: 256 bytes of RSA ciphertext; GCM adds its 16-byte tag.
        assert_eq!(&value[..2], &[0x01, 0x00]);
        let plaintext_len = base64::engine::general_purpose::STANDARD
            .decode(
                pull_secret()["data"][".dockerconfigjson"]
                    .as_str()
                    .expect("str"),
            )
            .expect("b64")
            .len();
        assert_eq!(value.len(), 2 + 256 + plaintext_len + 16);
    }

    #[test]
    fn sealed_secret_shape() {
        let mut sealed = seal(&pull_secret());
        sealed["spec"]["encryptedData"][".dockerconfigjson"] = json!("<ciphertext>");
        let meta = json!({
            "name": "regcred-ghcr",
            "namespace": "team-a",
            "labels": {"app.kubernetes.io/managed-by": "regcred", "z.example/last": "1"},
            "annotations": {"regcred.io/pull-secret": "ghcr"},
        });
        assert_eq!(
            sealed,
            json!({
                "apiVersion": "bitnami.com/v1alpha1",
                "kind": "SealedSecret",
                "metadata": meta,
                "spec": {
                    "encryptedData": {".dockerconfigjson": "<ciphertext>"},
                    "template": {"metadata": meta, "type": "kubernetes.io/dockerconfigjson"},
                },
            })
        );
    }

    #[test]
    fn output_differs_between_seals_only_in_ciphertexts() {
        let mut secret = pull_secret();
        secret["data"]["a-second-key"] = json!(b64(b"x"));
        let first = seal_secret(&key(), &secret).expect("seals");
        let second = seal_secret(&key(), &secret).expect("seals");
        let first_value: Value = serde_json::from_str(&first).expect("JSON");
        let second_value: Value = serde_json::from_str(&second).expect("JSON");
        let mut expected = first.clone();
        for data_key in [".dockerconfigjson", "a-second-key"] {
            let a = first_value["spec"]["encryptedData"][data_key]
                .as_str()
                .expect("str");
            let b = second_value["spec"]["encryptedData"][data_key]
                .as_str()
                .expect("str");
            // Fresh session keys: the same plaintext never seals the same way twice.
            assert_ne!(a, b);
            expected = expected.replace(a, b);
        }
        assert_eq!(second, expected);
        // Sorted keys and a fixed field order, whatever order the input had.
        let positions: Vec<usize> = [
            "\"apiVersion\"",
            "\"kind\"",
            "\"metadata\"",
            "\"app.kubernetes.io/managed-by\"",
            "\"z.example/last\"",
            "\"spec\"",
            "\"encryptedData\"",
            "\".dockerconfigjson\"",
            "\"a-second-key\"",
            "\"template\"",
        ]
        .iter()
        .map(|needle| first.find(needle).expect(needle))
        .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
        assert!(first.ends_with("}\n"));
    }

    #[test]
    fn immutable_is_carried_and_unknown_metadata_is_not() {
        let mut secret = pull_secret();
        secret["immutable"] = json!(true);
        secret["metadata"]["uid"] = json!("0b6c1a55-0000-4000-8000-000000000000");
        secret["metadata"]["ownerReferences"] = json!([{"kind": "Deployment", "name": "x"}]);
        secret["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!(format!("{{\"password\":\"{PASSWORD}\"}}"));
        let text = seal_secret(&key(), &secret).expect("seals");
        let sealed: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(sealed["spec"]["template"]["immutable"], json!(true));
        // Keys, not the text: the ciphertext is random base64, in which "uid" turns up by
        // chance about once in 200 runs.
        fn keys(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => map.iter().for_each(|(k, v)| {
                    out.push(k.clone());
                    keys(v, out);
                }),
                Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        keys(&sealed, &mut all);
        for dropped in [
            "uid",
            "ownerReferences",
            "kubectl.kubernetes.io/last-applied-configuration",
        ] {
            assert!(!all.iter().any(|k| k == dropped), "{dropped}: {text}");
        }
        assert!(!text.contains(PASSWORD), "{text}");
    }

    #[test]
    fn namespace_is_required() {
        for namespace in [None, Some(json!(null)), Some(json!(""))] {
            let mut secret = pull_secret();
            let metadata = secret["metadata"].as_object_mut().expect("object");
            metadata.remove("namespace");
            if let Some(ns) = namespace {
                metadata.insert("namespace".to_owned(), ns);
            }
            let err = seal_err(&secret);
            assert!(matches!(err, SealError::MissingNamespace { .. }), "{err:?}");
            assert_eq!(
                err.to_string(),
                "Secret regcred-ghcr: metadata.namespace is required, because the strict scope \
                 binds the sealed data to namespace/name"
            );
        }
    }

    #[test]
    fn wider_scope_annotations_are_refused() {
        for annotation in SCOPE_ANNOTATIONS {
            let mut secret = pull_secret();
            secret["metadata"]["annotations"][annotation] = json!("true");
            assert!(matches!(
                seal_err(&secret),
                SealError::ScopeAnnotation { annotation: a, .. } if a == annotation
            ));
        }
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_values() {
        let check = |edit: &dyn Fn(&mut Value), expected: &str| {
            let mut secret = pull_secret();
            edit(&mut secret);
            let message = seal_err(&secret).to_string();
            assert_eq!(message, expected);
        };
        check(
            &|s| s["data"][".dockerconfigjson"] = json!(format!("{PASSWORD}!")),
            "Secret regcred-ghcr: data[.dockerconfigjson] is not valid base64",
        );
        check(
            &|s| s["data"]["n"] = json!(7),
            "Secret: data[n] is not a string",
        );
        check(
            &|s| s["stringData"] = json!({"password": PASSWORD}),
            "Secret regcred-ghcr: stringData is not supported; put the values base64-encoded into data",
        );
        check(
            &|s| s["metadata"]["name"] = json!(""),
            "Secret: metadata.name is missing or empty",
        );
        check(
            &|s| s["metadata"]["name"] = json!("a/b"),
            "Secret: metadata.name contains '/'",
        );
        check(
            &|s| s["kind"] = json!("ConfigMap"),
            "Secret: kind is not \"Secret\"",
        );
        check(
            &|s| s["metadata"]["labels"]["x"] = json!(true),
            "Secret: metadata.labels[x] is not a string",
        );
        check(
            &|s| *s = json!([]),
            "Secret: the document is not a JSON object",
        );
    }

    #[test]
    fn sealing_key_reads_the_certificate() {
        let key = key();
        assert_eq!(key.bits(), 2048);
        // openssl made the test certificate valid for 100 years.
        assert!(key.not_after() > SystemTime::now());
        // Surrounding text and a later block (here the private key) are ignored, as by kubeseal.
        let noisy = format!("# sealing certificate\n{TEST_CERT}{TEST_KEY}");
        assert_eq!(
            SealingKey::from_pem(&noisy).expect("parses").public_key,
            key.public_key
        );
    }

    #[test]
    fn sealing_key_debug_is_short() {
        let debug = format!("{:?}", key());
        assert!(
            debug.starts_with("SealingKey { bits: 2048, not_after: 21"),
            "{debug}"
        );
        assert!(debug.len() < 80, "{debug}");
    }

    #[test]
    fn sealing_key_refuses_what_is_not_an_rsa_certificate() {
        assert!(matches!(
            SealingKey::from_pem("garbage"),
            Err(SealError::NoCertificate)
        ));
        assert!(matches!(
            SealingKey::from_pem(TEST_KEY),
            Err(SealError::NoCertificate)
        ));
        let err = SealingKey::from_pem(EC_CERT).expect_err("EC is not RSA");
        assert_eq!(
            err.to_string(),
            "sealing certificate: EC key, not RSA; the sealed-secrets controller seals with RSA"
        );
        assert!(matches!(
            SealingKey::from_pem(SMALL_CERT),
            Err(SealError::KeyTooSmall { bits: 1024 })
        ));
        // A certificate block whose body is cut short.
        let truncated: String = TEST_CERT
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        assert!(matches!(
            SealingKey::from_pem(&truncated),
            Err(SealError::InvalidCertificate { .. })
        ));
    }
}
