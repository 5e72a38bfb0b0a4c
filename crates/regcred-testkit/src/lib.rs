//! Test fixtures that run regcred's real peers: the CNCF distribution registry (Debian package
//! `docker-registry`, distribution 2.8) in htpasswd and token mode over plain HTTP or TLS, a
//! signing token server implementing the distribution token protocol, `skopeo` (Debian package
//! `skopeo`) as a reference registry client, test CAs, and a pusher for minimal OCI images.
//! bcrypt htpasswd entries come from `htpasswd` (Debian package `apache2-utils`). [`Moto`] runs
//! the moto AWS emulator (ECR, STS, IAM) from a Python virtualenv. [`FakeKubeApi`] is a scripted,
//! recording fake of the Kubernetes API server for the requests regcred's delivery makes.
//! [`ChromeDriver`] drives Debian's `chromium` (headless) through `chromium-driver` over the
//! W3C WebDriver protocol, for the web console's tests.
//! [`PostgresDb`] is a database of its own on the test PostgreSQL server (Debian package
//! `postgresql`, started by `scripts/setup`). [`kubectl_secret`] is the real kubectl's rendering of a pull secret, the reference for what
//! regcred delivers. [`Unsealer`] opens SealedSecrets with kubesealpy, an independent implementation, from its own
//! Python virtualenv. [`echo_forms`] lists the ways a careless peer echoes a credential back.
//!
//! This crate is dev-only (`publish = false`, used from `[dev-dependencies]`). `scripts/setup`
//! installs the three Debian packages and the moto and kubesealpy virtualenvs. A missing binary makes the calling
//! test **fail** with a message naming what to install; nothing here ever skips a test.
//!
//! Every fixture listens on an ephemeral `127.0.0.1` port, keeps its files in its own temporary
//! directory, and stops (process killed and reaped, or server thread joined) when dropped. The
//! fixtures panic with a descriptive message when they cannot start: they exist to make tests
//! fail loudly, not to be recovered from.

mod binaries;
mod browser;
mod ca;
mod echo;
mod kube_api;
mod kubectl;
mod moto;
mod oci_image;
mod postgres;
mod probe;
mod registry;
mod skopeo;
mod token_server;
mod unsealer;

pub use browser::{Browser, ChromeDriver, Element};
pub use ca::TestCa;
pub use echo::{echo_forms, echo_text, leaked_forms};
pub use kube_api::{FakeKubeApi, RecordedRequest, FAKE_CONTEXT, FAKE_TOKEN};
pub use kubectl::kubectl_secret;
pub use moto::{AwsKeys, Moto};
pub use oci_image::push_test_image;
pub use postgres::{
    postgres_server_url, with_database, PostgresDb, DEFAULT_POSTGRES_URL, POSTGRES_URL_VAR,
};
pub use registry::{Auth, Registry, RegistryOptions};
pub use skopeo::{Skopeo, SkopeoAuth, SkopeoOutput, TlsMode};
pub use token_server::{Grant, TokenServer, TokenServerOptions};
pub use unsealer::Unsealer;
