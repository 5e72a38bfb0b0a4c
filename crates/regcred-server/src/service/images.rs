//! Which pull secrets apply to an image: the kubelet keyring rules (every match, most specific key
//! first) or the containers/image rules (the one most specific entry), and the refusal for an
//! image of another project's platform registry that no pull secret applies to.

use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use regcred_core::matching::{containers_match, kubelet_matches};
use regcred_store::PullSecretRecord;

use crate::error::ApiError;
use crate::service::pull_secrets;

/// Whose rules pick the credentials for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// The kubelet's keyring: every matching entry, most specific first.
    Kubelet,
    /// containers/image (podman, skopeo, Docker hosts): the one most specific entry.
    Containers,
}

impl Rules {
    /// The rules a request names (`kubelet`, `containers`).
    pub fn parse(s: &str) -> Option<Rules> {
        [Rules::Kubelet, Rules::Containers]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The name a request and an answer use.
    pub fn as_str(self) -> &'static str {
        match self {
            Rules::Kubelet => "kubelet",
            Rules::Containers => "containers",
        }
    }

    /// What `entries` (keyed by their `.dockerconfigjson` key) apply to `image`, in the order the
    /// runtime tries them.
    pub fn select<'a, T>(self, image: &ImageRef, entries: &'a [(String, T)]) -> Vec<&'a T> {
        let repository = image.repository();
        match self {
            Rules::Containers => containers_match(&repository, entries).into_iter().collect(),
            Rules::Kubelet => kubelet_matches(&repository, entries),
        }
    }

    /// The pull secrets among `records` that apply to `image`, in the runtime's order.
    pub fn applying<'a>(
        self,
        image: &ImageRef,
        records: &'a [PullSecretRecord],
    ) -> Vec<&'a PullSecretRecord> {
        let keyed = pull_secrets::by_auth_key(records);
        self.select(image, &keyed).into_iter().copied().collect()
    }
}

/// A cross-project image of the platform registry without a pull secret: say what to create.
pub fn pull_secret_required(
    image: &ImageRef,
    owner: &str,
    project: &str,
    location: &str,
) -> ApiError {
    let registry = image.domain();
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        ErrorCode::PullSecretRequired,
        format!(
            "{image} belongs to project {owner}, not {project}, and no pull secret of {project} in \
             {location} applies to it. An owner of {owner} creates a read key \
             (`regcred registrykey create --project {owner} --name {project}-pull --access read`, \
             which shows its secret once); store that secret as a pull secret of {project} in \
             {location} (`regcred pullsecret create --project {project} --location {location} \
             --name {owner}-registry --server {registry} --username {owner}+{project}-pull \
             --password-stdin`, the secret on stdin). Then deploy again: a pull secret that \
             applies to another project's registry image is used without naming it."
        ),
    )
}
