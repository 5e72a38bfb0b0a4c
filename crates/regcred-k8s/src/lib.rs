//! regcred's Kubernetes side: delivering pull secrets into namespaces with server-side apply
//! (field manager `regcred`), adding them to ServiceAccounts without touching other entries, and
//! applying Deployments with `imagePullSecrets`; and sealing Secrets for GitOps directories in the
//! Bitnami sealed-secrets format.
//!
//! **Architecture invariant:** depends on `regcred-core` only among workspace crates.

pub mod sealed;

pub mod cluster;

pub use cluster::{Cluster, KubeError, Namespace, ObjectKind, FIELD_MANAGER};
