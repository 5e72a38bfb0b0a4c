//! One Kubernetes cluster, as regcred talks to it: kube-rs reads the kubeconfig (or the in-cluster
//! service account) and carries the requests; objects travel as `serde_json::Value` because
//! regcred builds them itself (in `regcred_core::delivery`) and reads back only metadata.
//!
//! The requests are exactly these: list namespaces; list regcred's own objects of a kind across
//! namespaces by label; get one object; server-side apply (`application/apply-patch+yaml`, field
//! manager `regcred`, `force` only where the caller has established that regcred owns the
//! object); JSON Patch (`application/json-patch+json`) for ServiceAccounts; delete with `uid` and
//! `resourceVersion` preconditions, so an object replaced since it was read is never deleted.

use std::collections::BTreeMap;
use std::path::Path;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::Client;
use serde_json::Value;

/// The field manager of every write regcred makes.
pub const FIELD_MANAGER: &str = "regcred";

/// The kinds of object regcred writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Secret,
    ServiceAccount,
    Deployment,
}

impl ObjectKind {
    fn resource(self) -> ApiResource {
        let (group, version, kind, plural) = match self {
            ObjectKind::Secret => ("", "v1", "Secret", "secrets"),
            ObjectKind::ServiceAccount => ("", "v1", "ServiceAccount", "serviceaccounts"),
            ObjectKind::Deployment => ("apps", "v1", "Deployment", "deployments"),
        };
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.into(),
            plural: plural.into(),
        }
    }
}

/// What went wrong talking to the cluster. `Api` carries the API server's own status and reason.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("the API server answered {status} {reason}: {message}")]
    Api {
        status: u16,
        reason: String,
        message: String,
    },
    #[error("cannot reach the API server: {0}")]
    Unreachable(String),
    #[error("unexpected answer from the API server: {0}")]
    Decode(String),
}

impl KubeError {
    pub fn status(&self) -> Option<u16> {
        match self {
            KubeError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later can help (the cluster was unreachable, busy, or the object
    /// changed under us).
    pub fn is_transient(&self) -> bool {
        match self {
            KubeError::Unreachable(_) => true,
            KubeError::Api { status, .. } => matches!(status, 409 | 429 | 500..=599),
            _ => false,
        }
    }
}

impl From<kube::Error> for KubeError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => KubeError::Api {
                status: s.code,
                reason: s.reason,
                message: s.message,
            },
            kube::Error::SerdeError(e) => KubeError::Decode(e.to_string()),
            other => KubeError::Unreachable(other.to_string()),
        }
    }
}

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A connected cluster.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster")
    }
}

fn to_value(object: DynamicObject) -> Result<Value, KubeError> {
    serde_json::to_value(object).map_err(|e| KubeError::Decode(e.to_string()))
}

impl Cluster {
    /// Connects with `kubeconfig` (and `context`, else its current context), or in-cluster.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Cluster, KubeError> {
        let config = match kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path)
                    .map_err(|e| KubeError::Config(format!("{}: {e}", path.display())))?;
                let options = KubeConfigOptions {
                    context: context.map(str::to_owned),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| KubeError::Config(format!("{}: {e}", path.display())))?
            }
            None => kube::Config::incluster().map_err(|e| KubeError::Config(e.to_string()))?,
        };
        let client = Client::try_from(config).map_err(|e| KubeError::Config(e.to_string()))?;
        Ok(Cluster { client })
    }

    fn api(&self, kind: ObjectKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &kind.resource())
    }

    /// Every namespace with its labels.
    pub async fn namespaces(&self) -> Result<Vec<Namespace>, KubeError> {
        let resource = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Namespace".into(),
            plural: "namespaces".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let list = api.list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|ns| {
                Some(Namespace {
                    name: ns.metadata.name?,
                    labels: ns.metadata.labels.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Objects of `kind` in every namespace whose labels match `selector`.
    pub async fn list(&self, kind: ObjectKind, selector: &str) -> Result<Vec<Value>, KubeError> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &kind.resource());
        let list = api.list(&ListParams::default().labels(selector)).await?;
        list.items.into_iter().map(to_value).collect()
    }

    pub async fn get(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, KubeError> {
        self.api(kind, namespace)
            .get_opt(name)
            .await?
            .map(to_value)
            .transpose()
    }

    /// Server-side apply of `object` under field manager `regcred`.
    pub async fn apply(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
        object: &Value,
        force: bool,
    ) -> Result<Value, KubeError> {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        let applied = self
            .api(kind, namespace)
            .patch(name, &params, &Patch::Apply(object))
            .await?;
        to_value(applied)
    }

    /// An RFC 6902 JSON Patch.
    pub async fn json_patch(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, KubeError> {
        let resource = kind.resource();
        let prefix = if resource.group.is_empty() {
            format!("/api/{}", resource.version)
        } else {
            format!("/apis/{}", resource.api_version)
        };
        let uri = format!(
            "{prefix}/namespaces/{namespace}/{}/{name}?fieldManager={FIELD_MANAGER}",
            resource.plural
        );
        let body = serde_json::to_vec(patch).map_err(|e| KubeError::Decode(e.to_string()))?;
        let request = http::Request::patch(uri)
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .body(body)
            .map_err(|e| KubeError::Decode(e.to_string()))?;
        let patched: DynamicObject = self.client.request(request).await?;
        to_value(patched)
    }

    /// Deletes the object if it is still the one with this `uid` and `resource_version`.
    pub async fn delete(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), KubeError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: Some(resource_version.to_owned()),
            }),
            ..DeleteParams::default()
        };
        self.api(kind, namespace).delete(name, &params).await?;
        Ok(())
    }
}
