//! regcred's domain, without IO and without async: names and their validation, image references,
//! registry servers, credential kinds, credential matching (kubelet keyring and containers/image
//! rules), and rendering of `.dockerconfigjson`, Kubernetes Secrets, Docker `config.json` and
//! containers `auth.json`, byte-identical to the real tools.
//!
//! **Architecture invariant:** this crate depends on no other workspace crate and performs no IO
//! (`pace` pauses a thread that asked to be paced, nothing more).

pub mod api;
pub mod auth_file;
pub mod codes;
pub mod credential;
pub mod delivery;
pub mod go_json;
pub mod go_yaml;
pub mod image_ref;
pub mod k8s_secret;
pub mod matching;
pub mod name;
pub mod pace;
pub mod packed;
pub mod refresh;
pub mod registry_host;
pub mod secret;
