//! A throwaway certificate authority and the loopback server certificate it issues.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority generated for one test (rcgen, ECDSA P-256), and a server certificate
/// it issued for `127.0.0.1`, `::1` (IP SANs) and `localhost` (DNS SAN), all written as PEM files
/// in a temporary directory. Nothing trusts this CA unless a test hands it over: the registry
/// fixture serves the server certificate, clients get [`TestCa::ca_pem`] or
/// [`TestCa::cert_dir`].
pub struct TestCa {
    dir: TempDir,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_cert_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
    /// SHA-256 of the server key's SubjectPublicKeyInfo, standard base64.
    server_spki_sha256: String,
    /// Kept to issue client certificates ([`TestCa::client_cert`]).
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// Generates the CA and the server certificate.
    ///
    /// # Panics
    ///
    /// When key generation or writing the files fails.
    pub fn new() -> TestCa {
        let now = OffsetDateTime::now_utc();

        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate CA key");
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = name("regcred-testkit CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = now - Duration::hours(1);
        ca_params.not_after = now + Duration::days(30);
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");

        let server_key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate server key");
        let mut server_params = CertificateParams::default();
        server_params.distinguished_name = name("regcred-testkit loopback server");
        server_params.subject_alt_names = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into().expect("valid DNS name")),
        ];
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server_params.not_before = now - Duration::hours(1);
        server_params.not_after = now + Duration::days(30);
        let server_cert = server_params
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("issue server certificate");

        let dir = tempfile::Builder::new()
            .prefix("regcred-testkit-ca-")
            .tempdir()
            .expect("create CA temp dir");
        let ca_pem = ca_cert.pem();
        // skopeo's --cert-dir reads every `*.crt` as a CA and wants a `.cert` for every `.key`,
        // so the CA gets a directory of its own.
        std::fs::create_dir(dir.path().join("cert-dir")).expect("create cert dir");
        write(&dir.path().join("cert-dir/ca.crt"), &ca_pem);
        write(&dir.path().join("ca.pem"), &ca_pem);
        write(&dir.path().join("server.crt"), &server_cert.pem());
        write(&dir.path().join("server.key"), &server_key.serialize_pem());

        TestCa {
            ca_der: ca_cert.der().clone(),
            server_cert_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
            server_spki_sha256: {
                use base64::Engine as _;
                use sha2::Digest as _;
                base64::engine::general_purpose::STANDARD
                    .encode(sha2::Sha256::digest(server_key.public_key_der()))
            },
            ca_pem,
            dir,
            ca_cert,
            ca_key,
        }
    }

    /// The CA certificate, PEM: what a client must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate as a PEM file.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A directory holding only `ca.crt`, the layout of skopeo's `--cert-dir` (and of
    /// `/etc/containers/certs.d/HOST/`).
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("cert-dir")
    }

    /// The server certificate (PEM), valid for `127.0.0.1`, `::1` and `localhost`.
    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// The server certificate's private key (PKCS#8 PEM).
    pub fn server_key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// The SHA-256 of the server certificate's public key (SubjectPublicKeyInfo), base64: what
    /// Chromium's `--ignore-certificate-errors-spki-list` takes to trust exactly this server
    /// certificate ([`ChromeDriver::session_with_args`](crate::ChromeDriver::session_with_args)).
    pub fn server_spki_sha256(&self) -> &str {
        &self.server_spki_sha256
    }

    /// Issues a client certificate (`ClientAuth`) for `common_name` and writes it and its key as
    /// PEM files `client-NAME.crt` and `client-NAME.key`; answers their paths.
    ///
    /// # Panics
    ///
    /// When key generation or writing the files fails.
    pub fn client_cert(&self, common_name: &str) -> (PathBuf, PathBuf) {
        let now = OffsetDateTime::now_utc();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate client key");
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(30);
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("issue client certificate");
        let cert_path = self.dir.path().join(format!("client-{common_name}.crt"));
        let key_path = self.dir.path().join(format!("client-{common_name}.key"));
        write(&cert_path, &cert.pem());
        write(&key_path, &key.serialize_pem());
        (cert_path, key_path)
    }

    /// A rustls server configuration presenting the server certificate (HTTP/1.1 only).
    pub(crate) fn rustls_server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![self.server_cert_der.clone()], key)
        .expect("server certificate and key match");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A rustls client configuration trusting only this CA.
    pub(crate) fn rustls_client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .expect("the generated CA certificate parses");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

#[track_caller]
fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
}
