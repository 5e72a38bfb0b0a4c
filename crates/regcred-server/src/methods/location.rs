//! `location.*`: where workloads run. The spec of each kind is decoded strictly and validated
//! here, then stored with its defaults filled in, so what `get` shows is what delivery will use.

use regcred_core::api::{
    DockerSpec, Items, KubernetesSpec, Location, LocationCreate, LocationRef, ManifestsSpec,
};
use regcred_core::api::{LocationSync, SyncReport};
use regcred_core::delivery::LabelSelector;
use regcred_core::name::NameKind;
use regcred_store::LocationRecord;
use serde_json::json;

use super::{check_name, Empty};
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::rpc::Ctx;

pub const KINDS: &[&str] = &["kubernetes", "docker", "manifests"];

fn view(r: LocationRecord) -> Location {
    Location {
        name: r.name,
        kind: r.kind,
        spec: serde_json::from_str(&r.spec).unwrap_or_default(),
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
    }
}

/// Loads a location or answers `not_found` with what to do.
pub(crate) async fn must_exist(ctx: &Ctx, name: &str) -> Result<LocationRecord, ApiError> {
    ctx.state.store().get_location(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "location {name:?} does not exist; an admin creates it with `regcred location create {name} --kind …`"
        ))
    })
}

fn decode_spec<T: serde::de::DeserializeOwned>(spec: serde_json::Value) -> Result<T, ApiError> {
    let spec = if spec.is_null() { json!({}) } else { spec };
    serde_path_to_error::deserialize(spec).map_err(|e| crate::rpc::decode_error(e, "spec"))
}

fn absolute_path(field: &str, path: &str) -> Result<(), ApiError> {
    if !path.starts_with('/') || path.chars().any(char::is_control) || path.len() > 4096 {
        return Err(ApiError::field(
            field,
            "invalid_value",
            format!(
                "must be an absolute path on the server, not {:?}",
                path.chars().take(80).collect::<String>()
            ),
        ));
    }
    Ok(())
}

fn namespace_template(field: &str, template: &str) -> Result<(), ApiError> {
    let sample = template.replace("{project}", "acme");
    regcred_core::name::validate(NameKind::PullSecret, &sample).map_err(|_| {
        ApiError::field(
            field,
            "invalid_value",
            format!("{template:?} does not give a valid namespace; use lower-case letters, digits, '-' and {{project}}"),
        )
    })
}

/// Validates `spec` for `kind` and returns it with defaults filled in.
fn validate_spec(kind: &str, spec: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let out = match kind {
        "kubernetes" => {
            let s: KubernetesSpec = decode_spec(spec)?;
            match (&s.kubeconfig, s.in_cluster) {
                (Some(_), true) => {
                    return Err(ApiError::field(
                        "spec.inCluster",
                        "conflicting_fields",
                        "give kubeconfig or inCluster, not both",
                    ))
                }
                (None, false) => {
                    return Err(ApiError::field(
                        "spec.kubeconfig",
                        "missing_field",
                        "give a kubeconfig path, or inCluster: true",
                    ))
                }
                (Some(path), false) => absolute_path("spec.kubeconfig", path)?,
                (None, true) => {}
            }
            if s.context
                .as_deref()
                .is_some_and(|c| c.is_empty() || c.chars().any(char::is_control))
            {
                return Err(ApiError::field(
                    "spec.context",
                    "invalid_value",
                    "context must be a kubeconfig context name",
                ));
            }
            namespace_template("spec.namespaceTemplate", &s.namespace_template)?;
            if let Some(selector) = &s.namespace_selector {
                LabelSelector::parse(&selector.replace("{project}", "acme")).map_err(|e| {
                    ApiError::field("spec.namespaceSelector", "invalid_value", e.to_string())
                })?;
            }
            for account in &s.service_accounts {
                regcred_core::name::validate(NameKind::Location, account).map_err(|_| {
                    ApiError::field(
                        "spec.serviceAccounts",
                        "invalid_value",
                        format!(
                            "{:?} is not a ServiceAccount name",
                            account.chars().take(80).collect::<String>()
                        ),
                    )
                })?;
            }
            serde_json::to_value(s)
        }
        "docker" => {
            let s: DockerSpec = decode_spec(spec)?;
            absolute_path("spec.path", &s.path)?;
            serde_json::to_value(s)
        }
        "manifests" => {
            let s: ManifestsSpec = decode_spec(spec)?;
            absolute_path("spec.directory", &s.directory)?;
            match (&s.sealing_cert_file, s.allow_plaintext) {
                (Some(path), _) => absolute_path("spec.sealingCertFile", path)?,
                (None, true) => {}
                (None, false) => {
                    return Err(ApiError::field(
                        "spec.sealingCertFile",
                        "plaintext_refused",
                        "a directory meant for git must not receive credentials: give the cluster's sealed-secrets certificate (kubeseal --fetch-cert), or allowPlaintext: true",
                    ))
                }
            }
            namespace_template("spec.namespaceTemplate", &s.namespace_template)?;
            serde_json::to_value(s)
        }
        other => {
            return Err(ApiError::field(
                "kind",
                "invalid_kind",
                format!(
                    "unknown location kind {:?}; use one of {}",
                    other.chars().take(40).collect::<String>(),
                    KINDS.join(", ")
                ),
            ))
        }
    };
    out.map_err(|e| ApiError::internal(&e))
}

pub async fn create(ctx: Ctx, req: LocationCreate) -> Result<Location, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    let spec = validate_spec(&req.kind, req.spec)?;
    ctx.require_audited(Permission::Administer, None, &req.name)
        .await?;
    let record = LocationRecord {
        name: req.name.clone(),
        kind: req.kind.clone(),
        spec: spec.to_string(),
        created_at: ctx.now,
        created_by: ctx.principal.actor(),
    };
    let event = ctx.audit(None, &req.name, "ok", json!({ "kind": req.kind }));
    ctx.state.store().create_location(&record, &event).await?;
    Ok(view(record))
}

pub async fn list(ctx: Ctx, _req: Empty) -> Result<Items<Location>, ApiError> {
    let items = ctx.state.store().list_locations().await?;
    Ok(Items {
        items: items.into_iter().map(view).collect(),
    })
}

pub async fn get(ctx: Ctx, req: LocationRef) -> Result<Location, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    Ok(view(must_exist(&ctx, &req.name).await?))
}

/// One delivery pass over the location, now (admin, or anyone who may write pull secrets of some
/// project: the pass changes nothing that the stored state does not already ask for).
pub async fn sync(ctx: Ctx, req: LocationSync) -> Result<SyncReport, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    ctx.principal
        .require(Permission::WriteSecrets, ctx.principal.project.as_deref())?;
    must_exist(&ctx, &req.name).await?;
    ctx.state.deliverer().sync(&ctx.state, &req.name).await
}

pub async fn delete(ctx: Ctx, req: LocationRef) -> Result<serde_json::Value, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    ctx.require_audited(Permission::Administer, None, &req.name)
        .await?;
    let event = ctx.audit(None, &req.name, "ok", json!({}));
    ctx.state.store().delete_location(&req.name, &event).await?;
    Ok(json!({ "name": req.name }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, spec: serde_json::Value, expected: &str) {
        let got = match validate_spec(kind, spec) {
            Ok(v) => v.to_string(),
            Err(e) => format!(
                "{} {}",
                e.code,
                e.items
                    .first()
                    .and_then(|i| i.field.clone())
                    .unwrap_or_default()
            ),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn specs_are_validated_and_defaulted() {
        check(
            "kubernetes",
            json!({"inCluster": true}),
            r#"{"inCluster":true,"namespaceTemplate":"{project}"}"#,
        );
        check(
            "kubernetes",
            json!({"kubeconfig": "/k", "context": "c", "namespaceTemplate": "apps-{project}"}),
            r#"{"context":"c","inCluster":false,"kubeconfig":"/k","namespaceTemplate":"apps-{project}"}"#,
        );
        check("kubernetes", json!({}), "missing_field spec.kubeconfig");
        check(
            "kubernetes",
            json!({"kubeconfig": "rel/path"}),
            "invalid_value spec.kubeconfig",
        );
        check(
            "kubernetes",
            json!({"inCluster": true, "namespaceTemplate": "Bad_{project}"}),
            "invalid_value spec.namespaceTemplate",
        );
        check(
            "kubernetes",
            json!({"inCluster": true, "extra": 1}),
            "unknown_field spec.extra",
        );
        check(
            "docker",
            json!({"path": "/root/.docker/config.json"}),
            r#"{"format":"docker","path":"/root/.docker/config.json"}"#,
        );
        check(
            "docker",
            json!({"path": "/a", "format": "podman"}),
            "invalid_field spec.format",
        );
        check(
            "manifests",
            json!({"directory": "/srv/gitops", "sealingCertFile": "/etc/regcred/sealing.pem"}),
            r#"{"directory":"/srv/gitops","namespaceTemplate":"{project}","sealingCertFile":"/etc/regcred/sealing.pem"}"#,
        );
        check(
            "manifests",
            json!({"directory": "/srv/gitops"}),
            "plaintext_refused spec.sealingCertFile",
        );
        check(
            "manifests",
            json!({"directory": "/srv/gitops", "allowPlaintext": true}),
            r#"{"allowPlaintext":true,"directory":"/srv/gitops","namespaceTemplate":"{project}"}"#,
        );
        check(
            "kubernetes",
            json!({"inCluster": true, "namespaceSelector": "regcred.dev/project={project}", "serviceAccounts": ["default"]}),
            r#"{"inCluster":true,"namespaceSelector":"regcred.dev/project={project}","namespaceTemplate":"{project}","serviceAccounts":["default"]}"#,
        );
        check(
            "kubernetes",
            json!({"inCluster": true, "namespaceSelector": "a b"}),
            "invalid_value spec.namespaceSelector",
        );
        check("nomad", json!({}), "invalid_kind kind");
    }
}
