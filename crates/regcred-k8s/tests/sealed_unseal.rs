//! regcred's SealedSecrets checked by an implementation that shares no code with it: kubesealpy
//! (PyPI, pinned in `scripts/setup`) unseals them with the private key of the committed test key
//! pair, through `tests/data/unseal.py`. The unsealed data must be byte for byte the Secret regcred
//! rendered, and the same SealedSecret under another namespace, another name or a wider scope must
//! not unseal: that is the strict scope. The virtualenv is `$REGCRED_SEALED_VENV`, else
//! `/var/tmp/regcred-sealed-venv`; without it the test fails, saying how to install it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use regcred_core::k8s_secret::{self, DockerAuth, OutputFormat};
use regcred_k8s::sealed::{seal_secret, SealingKey};
use serde_json::{json, Value};

/// Where `scripts/setup` creates the virtualenv unless `REGCRED_SEALED_VENV` says otherwise.
const DEFAULT_VENV: &str = "/var/tmp/regcred-sealed-venv";

/// A change to a SealedSecret that must stop it from unsealing, and what it stands for.
type Move = (&'static str, fn(&mut Value));

/// unseal.py's exit code for "a value did not unseal", as opposed to a crash.
const UNSEAL_REFUSED: i32 = 3;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `VENV/bin/python`, with kubesealpy importable.
///
/// # Panics
///
/// When it is not there, saying how to install it: this check never skips.
#[track_caller]
fn python() -> PathBuf {
    let venv = std::env::var_os("REGCRED_SEALED_VENV")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_VENV));
    let python = venv.join("bin").join("python");
    let importable = Command::new(&python)
        .args(["-c", "import kubesealpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !importable {
        panic!(
            "kubesealpy is not installed: {} cannot import it. Run scripts/setup (it creates the \
             virtualenv {} and installs the pinned kubesealpy into it), or point \
             REGCRED_SEALED_VENV at a virtualenv that has it; this check needs the independent \
             unsealer and never skips",
            python.display(),
            venv.display()
        );
    }
    python
}

/// Runs unseal.py on `sealed` with the test private key.
fn unseal(python: &Path, sealed: &Value) -> Output {
    let mut child = Command::new(python)
        .arg(data_dir().join("unseal.py"))
        .arg(data_dir().join("test-only-sealing-key.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start unseal.py");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(sealed.to_string().as_bytes())
        .expect("write the SealedSecret to unseal.py");
    child.wait_with_output().expect("unseal.py runs")
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
    let python = python();
    let key = SealingKey::from_pem(
        &std::fs::read_to_string(data_dir().join("test-only-sealing-cert.pem"))
            .expect("read the test certificate"),
    )
    .expect("the test certificate parses");
    let secret = pull_secret();
    let sealed: Value =
        serde_json::from_str(&seal_secret(&key, &secret).expect("seals")).expect("JSON");

    let output = unseal(&python, &sealed);
    assert!(
        output.status.success(),
        "unseal.py failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let unsealed: Value = serde_json::from_slice(&output.stdout).expect("unseal.py prints JSON");
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
            s["metadata"]["namespace"] = json!("team-b")
        }),
        ("another name", |s| {
            s["metadata"]["name"] = json!("regcred-quay")
        }),
        (
            "namespace-wide scope",
            |s| {
                s["metadata"]["annotations"] =
                    json!({"sealedsecrets.bitnami.com/namespace-wide": "true"})
            },
        ),
        ("cluster-wide scope", |s| {
            s["metadata"]["annotations"] = json!({"sealedsecrets.bitnami.com/cluster-wide": "true"})
        }),
    ];
    for (what, edit) in moved {
        let mut elsewhere = sealed.clone();
        edit(&mut elsewhere);
        let output = unseal(&python, &elsewhere);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(UNSEAL_REFUSED),
            "{what}: expected a refused unseal, got {}; stdout {}; stderr {stderr}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
        );
        assert!(stderr.contains("unseal failed"), "{what}: {stderr}");
    }
}
