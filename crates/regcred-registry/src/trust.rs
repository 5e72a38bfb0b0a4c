//! The one trust store of every HTTP client regcred opens — registry checks, the providers that
//! mint (ECR and STS, Entra ID, Google), the CLI and the credential plugins talking to a regcred
//! server: the system's roots plus the CA files the operator names.
//!
//! The system's roots are what `rustls-native-certs` finds: the operating system's store, or the
//! files named by `SSL_CERT_FILE` / `SSL_CERT_DIR` (so Debian's `ca-certificates`, and a
//! container image that ships `/etc/ssl/certs/ca-certificates.crt`). Extra CA files are PEM
//! bundles, checked when they are read so that a wrong file is an error at start-up and not a
//! failed handshake later. The Kubernetes client is the one exception: it trusts the CA its
//! kubeconfig names, as every Kubernetes client does.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

/// The system's roots and the extra CAs.
#[derive(Debug, Clone)]
pub struct TrustStore {
    /// Each extra CA file as read (PEM), checked to hold only usable certificates.
    pem: Vec<Vec<u8>>,
}

/// A CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading CA file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl TrustStore {
    /// The system's roots only.
    pub const fn system() -> TrustStore {
        TrustStore { pem: Vec::new() }
    }

    /// The system's roots and the CAs of each file in `paths`.
    pub fn with_files<P: AsRef<Path>>(paths: &[P]) -> Result<TrustStore, TrustError> {
        let mut store = TrustStore::system();
        for path in paths {
            let path = path.as_ref();
            let pem = std::fs::read(path).map_err(|source| TrustError::Read {
                path: path.to_owned(),
                source,
            })?;
            store.add_pem(&pem).map_err(|reason| TrustError::Invalid {
                path: path.to_owned(),
                reason,
            })?;
        }
        Ok(store)
    }

    /// Adds the CAs of a PEM bundle; the reason when it holds none or a malformed one.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
            rustls::RootCertStore::empty()
                .add(cert)
                .map_err(|e| format!("certificate #{found} is malformed ({e})"))?;
            found += 1;
        }
        if found == 0 {
            return Err("no PEM certificate in it".to_owned());
        }
        self.pem.push(pem.to_vec());
        Ok(())
    }

    /// `builder` trusting this store: rustls, the system's roots (reqwest's native roots) and
    /// each extra CA.
    pub fn reqwest(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let mut builder = builder.use_rustls_tls().tls_built_in_root_certs(true);
        for pem in &self.pem {
            // Each bundle was parsed when it was added.
            for cert in reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default() {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
    }

    /// The same store for the AWS SDK's HTTP client.
    pub fn aws(&self) -> aws_smithy_http_client::tls::TrustStore {
        let mut store = aws_smithy_http_client::tls::TrustStore::empty().with_native_roots(true);
        for pem in &self.pem {
            store.add_pem_certificate(pem.clone());
        }
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_hold_no_certificate_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let err = TrustStore::with_files(&[&empty]).unwrap_err();
        assert!(
            err.to_string().contains("empty.pem") && err.to_string().contains("no PEM"),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = TrustStore::with_files(&[&missing]).unwrap_err();
        assert!(matches!(err, TrustError::Read { .. }), "{err}");
        assert!(
            TrustStore::system().pem.is_empty(),
            "no extra CA by default"
        );
    }

    #[test]
    fn bad_ca_bundles_are_errors() {
        for (pem, expected) in [
            (&b"not pem"[..], "no PEM certificate"),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "malformed",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                "not a PEM",
            ),
        ] {
            let err = TrustStore::system().add_pem(pem).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
