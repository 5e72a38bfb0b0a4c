//! regcred's OCI distribution client: it checks pull credentials against the real registry with
//! the fewest round trips and classifies what happened for humans.
//!
//! [`challenge`] parses `WWW-Authenticate`; [`token`] builds token requests and reads their
//! answers (no IO); [`check`] holds the [`RegistryClient`] and the check flow with its caches;
//! [`outcome`] the classification and the pure helpers behind it; [`token_service`] the signing
//! half of regcred's own token service for the platform registry.
//!
//! **Architecture invariant:** depends on `regcred-core` only among workspace crates; one HTTP
//! stack (reqwest, rustls, ring); plain HTTP only for hosts the configuration lists; manifests
//! are checked with `HEAD`, never `GET`; no secret reaches a report, error, log field or `Debug`.

pub mod challenge;
pub mod check;
pub mod outcome;
pub mod provider;
pub mod token;
pub mod token_service;
pub mod trust;

pub use check::{
    AuthSent, CheckDetail, CheckReport, ClientConfig, ClientError, Credentials, Endpoint, Finding,
    RegistryClient, RequestRecord, Step, Target,
};
pub use outcome::{ErrorCode, Outcome, TransportFailure};
pub use token::{Clock, SystemClock};
