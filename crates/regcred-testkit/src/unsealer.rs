//! An independent unsealer for Bitnami SealedSecrets: kubesealpy (PyPI, pinned and installed into
//! its own virtualenv by `scripts/setup`), which shares no code with regcred, run through
//! `unseal.py`. Like the controller it takes the scope label from the SealedSecret's own
//! metadata, so a SealedSecret moved to another name or namespace does not unseal.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Where `scripts/setup` creates the virtualenv unless `REGCRED_SEALED_VENV` says otherwise.
const DEFAULT_VENV: &str = "/var/tmp/regcred-sealed-venv";

/// `unseal.py`: prints the unsealed Secret as JSON and exits 0, or exits [`Unsealer::REFUSED`].
const SCRIPT: &str = include_str!("unseal.py");

/// kubesealpy in its virtualenv.
#[derive(Debug)]
pub struct Unsealer {
    python: PathBuf,
}

impl Default for Unsealer {
    fn default() -> Self {
        Unsealer::new()
    }
}

impl Unsealer {
    /// The exit code for "a value did not unseal", as opposed to a crash.
    pub const REFUSED: i32 = 3;

    /// Finds the virtualenv (`$REGCRED_SEALED_VENV`, else `/var/tmp/regcred-sealed-venv`).
    ///
    /// # Panics
    ///
    /// When kubesealpy cannot be imported there, saying how to install it: never a skip.
    #[track_caller]
    pub fn new() -> Unsealer {
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
        assert!(
            importable,
            "kubesealpy is not installed: {} cannot import it. Run scripts/setup (it creates the \
             virtualenv {} with the pinned kubesealpy), or point REGCRED_SEALED_VENV at a \
             virtualenv that has it; this check needs the independent unsealer and never skips",
            python.display(),
            venv.display()
        );
        Unsealer { python }
    }

    /// Unseals `sealed` with the private key in `private_key_pem`; the process's output as is.
    pub fn run(&self, private_key_pem: &Path, sealed: &Value) -> Output {
        let mut child = Command::new(&self.python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(private_key_pem)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the unsealer");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(sealed.to_string().as_bytes())
            .expect("write the SealedSecret to the unsealer");
        child.wait_with_output().expect("the unsealer runs")
    }

    /// The Secret `sealed` unseals to.
    ///
    /// # Panics
    ///
    /// When it does not unseal.
    #[track_caller]
    pub fn unseal(&self, private_key_pem: &Path, sealed: &Value) -> Value {
        let output = self.run(private_key_pem, sealed);
        assert!(
            output.status.success(),
            "unsealing failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the unsealer prints JSON")
    }
}
