//! `location.*`: where workloads run. The spec of each kind is decoded strictly and validated
//! here, then stored with its defaults filled in, so what `get` shows is what delivery will use.

use regcred_core::api::{
    DockerSpec, Items, KubernetesSpec, Location, LocationCreate, LocationRef, ManifestsSpec,
};
use regcred_core::api::{LocationDeleted, LocationKind, LocationSync, SyncReport};
use regcred_core::codes::ErrorCode;
use regcred_core::delivery::{for_project, LabelSelector, PROJECT_PLACEHOLDER};
use regcred_core::name::NameKind;
use regcred_store::LocationRecord;
use serde_json::json;

use super::Ctx;
use super::{check_name, Empty};
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::delivery::Coverage;
use crate::error::ApiError;
use crate::service::locations;

fn view(r: LocationRecord) -> Result<Location, ApiError> {
    Ok(Location {
        kind: locations::kind_of(&r)?,
        spec: serde_json::from_str(&r.spec).map_err(|e| ApiError::internal(&e))?,
        name: r.name,
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
    })
}

fn decode_spec<T: serde::de::DeserializeOwned>(spec: serde_json::Value) -> Result<T, ApiError> {
    let spec = if spec.is_null() { json!({}) } else { spec };
    serde_path_to_error::deserialize(spec).map_err(|e| crate::decode::decode_error(e, "spec"))
}

/// A path on the server that regcred reads or writes: absolute, without `.` or `..`
/// components (the path said is the path used), and outside the kernel's pseudo-filesystems,
/// where writing a file is never delivery. With `template`, `{project}` may stand for the project.
fn server_path(field: &str, path: &str, template: bool) -> Result<(), ApiError> {
    let invalid = |why: &str| Err(ApiError::field(field, ErrorCode::InvalidValue, why));
    let concrete = if template {
        for_project(path, "acme")
    } else {
        path.to_owned()
    };
    if !concrete.starts_with('/') || concrete.chars().any(char::is_control) || path.len() > 4096 {
        return invalid("must be an absolute path on the server");
    }
    if template && (concrete.contains('{') || concrete.contains('}')) {
        return invalid("the only placeholder a path takes is {project}");
    }
    if !template && path.contains(PROJECT_PLACEHOLDER) {
        return invalid("takes no {project} placeholder (only a docker location's path does)");
    }
    let components: Vec<&str> = concrete.split('/').skip(1).collect();
    if components.iter().any(|c| *c == ".." || *c == ".") {
        return invalid("must not contain '.' or '..' components; give the path itself");
    }
    if matches!(components.first(), Some(&("proc" | "sys" | "dev"))) {
        return invalid("must not lie under /proc, /sys or /dev");
    }
    Ok(())
}

fn namespace_template(field: &str, template: &str) -> Result<(), ApiError> {
    let sample = for_project(template, "acme");
    regcred_core::name::validate(NameKind::Namespace, &sample).map_err(|_| {
        ApiError::field(
            field,
            ErrorCode::InvalidValue,
            "does not give a valid namespace; use lower-case letters, digits, '-' and {project}",
        )
    })
}

/// Validates `spec` for `kind` and returns it with defaults filled in.
fn validate_spec(kind: &str, spec: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let kind = LocationKind::parse(kind).ok_or_else(|| {
        let known: Vec<&str> = LocationKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::field(
            "kind",
            ErrorCode::InvalidKind,
            format!("unknown location kind; use one of {}", known.join(", ")),
        )
    })?;
    let out = match kind {
        LocationKind::Kubernetes => {
            let s: KubernetesSpec = decode_spec(spec)?;
            match (&s.kubeconfig, s.in_cluster) {
                (Some(_), true) => {
                    return Err(ApiError::field(
                        "spec.inCluster",
                        ErrorCode::ConflictingFields,
                        "give kubeconfig or inCluster, not both",
                    ))
                }
                (None, false) => {
                    return Err(ApiError::field(
                        "spec.kubeconfig",
                        ErrorCode::MissingField,
                        "give a kubeconfig path, or inCluster: true",
                    ))
                }
                (Some(path), false) => server_path("spec.kubeconfig", path, false)?,
                (None, true) => {}
            }
            if s.context
                .as_deref()
                .is_some_and(|c| c.is_empty() || c.chars().any(char::is_control))
            {
                return Err(ApiError::field(
                    "spec.context",
                    ErrorCode::InvalidValue,
                    "context must be a kubeconfig context name",
                ));
            }
            namespace_template("spec.namespaceTemplate", &s.namespace_template)?;
            if let Some(selector) = &s.namespace_selector {
                LabelSelector::parse(&for_project(selector, "acme")).map_err(|e| {
                    ApiError::field(
                        "spec.namespaceSelector",
                        ErrorCode::InvalidValue,
                        e.to_string(),
                    )
                })?;
            }
            for account in &s.service_accounts {
                regcred_core::name::validate(NameKind::ObjectName, account).map_err(|_| {
                    ApiError::field(
                        "spec.serviceAccounts",
                        ErrorCode::InvalidValue,
                        "every entry must be a ServiceAccount name",
                    )
                })?;
            }
            serde_json::to_value(s)
        }
        LocationKind::Docker => {
            let s: DockerSpec = decode_spec(spec)?;
            server_path("spec.path", &s.path, true)?;
            serde_json::to_value(s)
        }
        LocationKind::Manifests => {
            let s: ManifestsSpec = decode_spec(spec)?;
            server_path("spec.directory", &s.directory, false)?;
            match (&s.sealing_cert_file, s.allow_plaintext) {
                (Some(path), _) => server_path("spec.sealingCertFile", path, false)?,
                (None, true) => {}
                (None, false) => {
                    return Err(ApiError::field(
                        "spec.sealingCertFile",
                        ErrorCode::PlaintextRefused,
                        "a directory meant for git must not receive credentials: give the cluster's sealed-secrets certificate (kubeseal --fetch-cert), or allowPlaintext: true",
                    ))
                }
            }
            namespace_template("spec.namespaceTemplate", &s.namespace_template)?;
            serde_json::to_value(s)
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
    view(record)
}

pub async fn list(ctx: Ctx, _req: Empty) -> Result<Items<Location>, ApiError> {
    let items = ctx.state.store().list_locations().await?;
    Ok(Items {
        items: items.into_iter().map(view).collect::<Result<_, _>>()?,
    })
}

pub async fn get(ctx: Ctx, req: LocationRef) -> Result<Location, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    view(locations::must_exist(&ctx.state, &req.name).await?)
}

/// One delivery pass over the location, now (admin, or anyone who may write pull secrets of some
/// project: the pass changes nothing that the stored state does not already ask for).
pub async fn sync(ctx: Ctx, req: LocationSync) -> Result<SyncReport, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    ctx.principal
        .require(Permission::WriteSecrets, ctx.principal.project.as_deref())?;
    locations::must_exist(&ctx.state, &req.name).await?;
    Ok(ctx
        .state
        .deliverer()
        .sync(&ctx.state, &req.name, Coverage::Full)
        .await?)
}

pub async fn delete(ctx: Ctx, req: LocationRef) -> Result<LocationDeleted, ApiError> {
    check_name(NameKind::Location, "name", &req.name)?;
    ctx.require_audited(Permission::Administer, None, &req.name)
        .await?;
    let event = ctx.audit(None, &req.name, "ok", json!({}));
    ctx.state.store().delete_location(&req.name, &event).await?;
    Ok(LocationDeleted { name: req.name })
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
            "docker",
            json!({"path": "/home/{project}/.docker/config.json"}),
            r#"{"format":"docker","path":"/home/{project}/.docker/config.json"}"#,
        );
        for bad in [
            "relative/config.json",
            "/srv/../etc/config.json",
            "/srv/./config.json",
            "/proc/self/environ",
            "/sys/kernel/x",
            "/dev/null",
            "/dev",
            "/srv/{tenant}/config.json",
        ] {
            check("docker", json!({ "path": bad }), "invalid_value spec.path");
        }
        check(
            "manifests",
            json!({"directory": "/srv/{project}", "allowPlaintext": true}),
            "invalid_value spec.directory",
        );
        check(
            "kubernetes",
            json!({"kubeconfig": "/proc/self/environ"}),
            "invalid_value spec.kubeconfig",
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
