//! regcred's SealedSecrets checked by an implementation that shares no code with it: kubesealpy
//! (PyPI, pinned in `scripts/setup`) unseals them with the private key of the committed test key
//! pair, through regcred-testkit's `Unsealer`. The unsealed data must be byte for byte the Secret regcred
//! rendered, and the same SealedSecret under another namespace, another name or a wider scope must
//! not unseal: that is the strict scope. The virtualenv is `$REGCRED_SEALED_VENV`, else
//! `/var/tmp/regcred-sealed-venv`; without it the test fails, saying how to install it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use regcred_core::k8s_secret::{self, DockerAuth, OutputFormat};
use regcred_k8s::sealed::{seal_secret, SealingKey};
use regcred_testkit::Unsealer;
use serde_json::{json, Value};

/// A change to a SealedSecret that must stop it from unsealing, and what it stands for.
type Move = (&'static str, fn(&mut Value));

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn decode(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// A pull secret as regcred renders it (`kubectl create secret docker-registry` byte for byte),
/// plus a key holding every byte value, so that nothing is lost to text handling.
fn pull_secret() -> Value {
    let auths = [
        DockerAuth::new("ghcr.io", "ci-bot", "ghp_p4ss:w/ord\"ünï\\code"),
        DockerAuth::new("registry.example.com:5000", "deployer", "s3cret").with_email("a@b.c"),
    ];
    let rendered = k8s_secret::secret("regcred-ghcr", Some("team-a"), &auths, OutputFormat::Json)
        .expect("renders");
    let mut secret: Value = serde_json::from_str(&rendered).expect("regcred renders JSON");
    let every_byte: Vec<u8> = (0..=255).collect();
    secret["data"]["every-byte"] =
        json!(base64::engine::general_purpose::STANDARD.encode(every_byte));
    secret["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "regcred"});
    secret
}

#[test]
fn kubesealpy_unseals_exactly_what_regcred_sealed_under_the_strict_scope_only() {
    let unsealer = Unsealer::new();
    let private_key = data_dir().join("test-only-sealing-key.pem");
    let key = SealingKey::from_pem(
        &std::fs::read_to_string(data_dir().join("test-only-sealing-cert.pem"))
            .expect("read the test certificate"),
    )
    .expect("the test certificate parses");
    let secret = pull_secret();
    let sealed: Value =
        serde_json::from_str(&seal_secret(&key, &secret).expect("seals")).expect("JSON");

    let unsealed = unsealer.unseal(&private_key, &sealed);
    let original: BTreeMap<&String, Vec<u8>> = secret["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| (k, decode(v)))
        .collect();
    let recovered: BTreeMap<&String, Vec<u8>> = unsealed["data"]
        .as_object()
        .expect("unsealed data")
        .iter()
        .map(|(k, v)| (k, decode(v)))
        .collect();
    assert_eq!(recovered, original);
    assert_eq!(original.len(), 2);
    assert_eq!(unsealed["metadata"]["name"], "regcred-ghcr");
    assert_eq!(unsealed["metadata"]["namespace"], "team-a");
    assert_eq!(
        unsealed["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "regcred"})
    );
    assert_eq!(unsealed["type"], "kubernetes.io/dockerconfigjson");

    // The controller takes the OAEP label from where the SealedSecret is applied; moved anywhere
    // else, or widened by annotation, the label differs and nothing unseals.
    let moved: [Move; 4] = [
        ("another namespace", |s| {
            s["metadata"]["namespace"] = json!("team-b");
        }),
        ("another name", |s| {
            s["metadata"]["name"] = json!("regcred-quay");
        }),
        ("namespace-wide scope", |s| {
            s["metadata"]["annotations"] =
                json!({"sealedsecrets.bitnami.com/namespace-wide": "true"});
        }),
        ("cluster-wide scope", |s| {
            s["metadata"]["annotations"] =
                json!({"sealedsecrets.bitnami.com/cluster-wide": "true"});
        }),
    ];
    for (what, edit) in moved {
        let mut elsewhere = sealed.clone();
        edit(&mut elsewhere);
        let output = unsealer.run(&private_key, &elsewhere);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(Unsealer::REFUSED),
            "{what}: expected a refused unseal, got {}; stdout {}; stderr {stderr}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
        );
        assert!(stderr.contains("unseal failed"), "{what}: {stderr}");
    }
}
