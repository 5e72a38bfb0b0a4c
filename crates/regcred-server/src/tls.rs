//! Serving over TLS: the certificate and key files, reloaded when they change (rotation without a
//! restart), and an optional client CA that makes every client present a certificate it signed
//! (mutual TLS).
//!
//! Reloading is done where rustls asks for the certificate, at each handshake: at most once a
//! second the two files' modification times and sizes are compared with the loaded ones, and
//! when either changed the pair is read again. A pair that does not load (a key written before
//! its certificate, a key that does not match) keeps the previous pair serving and is logged;
//! the next handshake after the files settle picks the new pair up. Only TLS 1.2 and 1.3 with
//! ring, the one crypto provider of the build; ALPN offers HTTP/1.1, all the server speaks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::ring::{default_provider, sign::any_supported_type};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

pub use tokio_rustls::TlsAcceptor;

/// How often the files are looked at for a change.
const RECHECK: Duration = Duration::from_secs(1);

/// What `serve --tls-cert/--tls-key/--client-ca` named.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates, PEM, of which clients must present a certificate.
    pub client_ca: Option<PathBuf>,
}

/// Why TLS could not be set up. Start-up refuses to serve on any of these.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a PEM private key ({reason})")]
    Key { path: PathBuf, reason: String },
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("client CA file {path}: {reason}")]
    ClientCa { path: PathBuf, reason: String },
    #[error("configuring TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The acceptor for `files`: loads the pair now (an error here stops start-up) and reloads it
/// when the files change.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let resolver = Reloading::new(files.cert.clone(), files.key.clone())?;
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| TlsError::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::NoCertificate {
            path: path.to_owned(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Loads the certificate chain and its key, and checks that they belong together.
fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs(cert)?;
    let der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let signing = any_supported_type(&der).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
    })?;
    Ok(certified)
}

/// What identifies a version of a file without reading it.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The serving pair, and what the files looked like when it was loaded.
struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: (Stamp, Stamp),
    checked: Instant,
}

/// The certificate resolver that reloads its files.
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Reloading {
    fn new(cert: PathBuf, key: PathBuf) -> Result<Reloading, TlsError> {
        let stamps = (stamp(&cert), stamp(&key));
        let pair = load_pair(&cert, &key)?;
        Ok(Reloading {
            loaded: Mutex::new(Loaded {
                key: Arc::new(pair),
                stamps,
                checked: Instant::now(),
            }),
            cert,
            key,
        })
    }

    /// The pair to serve, reloaded first when the files changed since the last look.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if loaded.checked.elapsed() >= RECHECK {
            loaded.checked = Instant::now();
            let stamps = (stamp(&self.cert), stamp(&self.key));
            if stamps != loaded.stamps {
                match load_pair(&self.cert, &self.key) {
                    Ok(pair) => {
                        loaded.key = Arc::new(pair);
                        loaded.stamps = stamps;
                        tracing::info!(cert = %self.cert.display(), "reloaded the TLS certificate");
                    }
                    // Kept unchanged stamps make the next look try again.
                    Err(e) => tracing::warn!(
                        error = %e,
                        "the TLS files changed but do not load; still serving the previous certificate"
                    ),
                }
            }
        }
        loaded.key.clone()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
