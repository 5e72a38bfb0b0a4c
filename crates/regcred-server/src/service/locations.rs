//! Locations below the API: a stored location's kind, what writes to it must not collide with,
//! and whose matching rules apply there.

use regcred_core::api::{DockerSpec, KubernetesSpec, LocationKind, ManifestsSpec};
use regcred_core::delivery::PROJECT_PLACEHOLDER;
use regcred_store::{LocationRecord, PutGuard};

use crate::error::ApiError;
use crate::service::images::Rules;
use crate::AppState;

/// The kind of a stored location; one this regcred does not know is an error, never a default.
pub fn kind_of(r: &LocationRecord) -> Result<LocationKind, ApiError> {
    LocationKind::parse(&r.kind).ok_or_else(|| {
        ApiError::unreadable(format!(
            "location {} has the unknown kind {:?}",
            r.name, r.kind
        ))
    })
}

/// Loads a location or answers `not_found` with what to do.
pub async fn must_exist(state: &AppState, name: &str) -> Result<LocationRecord, ApiError> {
    state.store().get_location(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "location {name:?} does not exist; an admin creates it with `regcred location create {name} --kind …`"
        ))
    })
}

/// What a pull secret or deployment written to `location` must not collide with.
///
/// A docker location's auth file holds one login per server, so a second pull secret for a
/// server could never be delivered there (Kubernetes and manifests locations give every pull
/// secret its own Secret, and the kubelet tries them in turn).
///
/// A location whose targets are not per project — a docker path without `{project}`, a
/// namespace template without it, a namespace selector without it — delivers to places that
/// every workload there reads: one project's credentials would be used by another project's
/// workloads. Such a location serves one project.
pub fn put_guard(location: &LocationRecord) -> Result<PutGuard, ApiError> {
    let per_project = |text: &str| text.contains(PROJECT_PLACEHOLDER);
    Ok(match kind_of(location)? {
        LocationKind::Docker => PutGuard {
            unique_server: true,
            one_project: serde_json::from_str::<DockerSpec>(&location.spec)
                .is_ok_and(|s| !per_project(&s.path)),
        },
        LocationKind::Kubernetes => PutGuard {
            unique_server: false,
            one_project: serde_json::from_str::<KubernetesSpec>(&location.spec).is_ok_and(|s| {
                !per_project(&s.namespace_template)
                    || s.namespace_selector
                        .as_deref()
                        .is_some_and(|n| !per_project(n))
            }),
        },
        LocationKind::Manifests => PutGuard {
            unique_server: false,
            one_project: serde_json::from_str::<ManifestsSpec>(&location.spec)
                .is_ok_and(|s| !per_project(&s.namespace_template)),
        },
    })
}

/// Whose matching rules decide for a location: containers/image on Docker/podman hosts, the
/// kubelet's everywhere else.
pub fn default_rules(location: &LocationRecord) -> Result<Rules, ApiError> {
    Ok(match kind_of(location)? {
        LocationKind::Docker => Rules::Containers,
        LocationKind::Kubernetes | LocationKind::Manifests => Rules::Kubelet,
    })
}
