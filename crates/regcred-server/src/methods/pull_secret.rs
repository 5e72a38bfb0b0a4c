//! `pullSecret.*`: the write-only credential store. `create` validates the spec for its kind,
//! seals the material under the vault with the record's identity as authenticated data, and
//! rotates in place (same id, revision + 1) when the name exists. Reads return metadata only;
//! `render` is the one way material leaves, for roles allowed to release it, and is audited.

use regcred_core::api::{
    Items, MintedStatus, PullSecret, PullSecretCreate, PullSecretCreated, PullSecretDelete,
    PullSecretDeleted, PullSecretList, PullSecretRef, PullSecretRender, Referrer, RenderFormat,
    Rendered,
};
use regcred_core::codes::ErrorCode;
use regcred_core::credential::{self, Kind};
use regcred_core::k8s_secret::{self, DockerAuth, OutputFormat, RenderError};
use regcred_core::name::NameKind;
use regcred_core::registry_host::RegistryServer;
use regcred_core::{auth_file, secret::Secret};
use regcred_store::vault::SealedFor;
use regcred_store::{PullSecretRecord, StoreError};
use serde_json::json;

use super::Ctx;
use super::{check_name, location, project};
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::pull_secrets;

pub(crate) fn view(r: PullSecretRecord, used_by: Vec<Referrer>) -> Result<PullSecret, ApiError> {
    Ok(PullSecret {
        kind: pull_secrets::kind_of(&r)?,
        params: serde_json::from_str(&r.params).map_err(|e| ApiError::internal(&e))?,
        id: r.id,
        project: r.project,
        location: r.location,
        name: r.name,
        server: r.server,
        username: r.username,
        email: r.email,
        fingerprint: r.fingerprint,
        revision: u64::try_from(r.revision).unwrap_or_default(),
        created_at: rfc3339(r.created_at),
        created_by: r.created_by,
        updated_at: rfc3339(r.updated_at),
        updated_by: r.updated_by,
        used_by,
        verification: r
            .verification
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok()),
        credential: None,
        deliveries: Vec::new(),
    })
}

/// Finds the record a reference names — by id, or by project, location and name — and checks
/// that the caller holds `permission` on its project (auditing a refusal when `audited`).
/// By name, the permission is checked before the lookup, so other projects' names stay unknown.
pub(crate) async fn find(
    ctx: &Ctx,
    target: &PullSecretRef,
    permission: Permission,
    audited: bool,
) -> Result<PullSecretRecord, ApiError> {
    let check = |project: String, what: String| async move {
        match audited {
            true => ctx.require_audited(permission, Some(&project), &what).await,
            false => ctx.principal.require(permission, Some(&project)),
        }
    };
    let not_found = || {
        ApiError::not_found("pull secret not found; `regcred pullsecret list` shows what exists")
    };
    match (&target.id, &target.project, &target.location, &target.name) {
        (Some(id), None, None, None) => {
            let record = ctx
                .state
                .store()
                .get_pull_secret_by_id(id)
                .await?
                .ok_or_else(not_found)?;
            let what = format!("{}/{}/{}", record.project, record.location, record.name);
            check(record.project.clone(), what).await?;
            Ok(record)
        }
        (None, Some(p), Some(l), Some(n)) => {
            check_name(NameKind::Project, "project", p)?;
            check_name(NameKind::Location, "location", l)?;
            check_name(NameKind::PullSecret, "name", n)?;
            check(p.clone(), format!("{p}/{l}/{n}")).await?;
            ctx.state
                .store()
                .get_pull_secret(p, l, n)
                .await?
                .ok_or_else(not_found)
        }
        _ => Err(ApiError::validation(
            ErrorCode::InvalidReference,
            "name a pull secret by id, or by project, location and name",
        )),
    }
}

/// [`view`] with what only the store knows: referrers and the minted credential's state.
pub(crate) async fn full_view(ctx: &Ctx, r: PullSecretRecord) -> Result<PullSecret, ApiError> {
    let used = used_by(ctx, &r.id).await?;
    let minted = ctx
        .state
        .store()
        .get_minted(&r.id)
        .await?
        .filter(|m| m.revision == r.revision);
    let deliveries = crate::service::deliveries::statuses(&ctx.state, &r.id).await?;
    let mut v = view(r, used)?;
    v.deliveries = deliveries;
    v.credential = minted.map(|m| MintedStatus {
        expires_at: m.expires_at.map(rfc3339),
        refreshed_at: m.refreshed_at.map(rfc3339),
        next_refresh_at: rfc3339(m.next_refresh_at),
        failures: u32::try_from(m.failures).unwrap_or(u32::MAX),
        last_error: m.last_error,
        endpoint: m.endpoint,
    });
    Ok(v)
}

pub(crate) async fn used_by(ctx: &Ctx, id: &str) -> Result<Vec<Referrer>, ApiError> {
    Ok(ctx
        .state
        .store()
        .references(id)
        .await?
        .into_iter()
        .map(|r| Referrer {
            kind: r.kind,
            name: r.name,
        })
        .collect())
}

pub async fn create(ctx: Ctx, req: PullSecretCreate) -> Result<PullSecretCreated, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    check_name(NameKind::PullSecret, "name", &req.name)?;
    let kind = match req.kind.as_deref() {
        None => None,
        Some(k) => Some(Kind::parse(k).ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::field(
                "kind",
                ErrorCode::InvalidKind,
                format!(
                    "unknown kind; use one of {} (or leave it out to infer it from the server)",
                    known.join(", ")
                ),
            )
        })?),
    };
    let check = req.verify || req.image.is_some();
    let input_server = req.spec.server.clone();
    let credential = credential::validate(kind, req.spec).map_err(ApiError::fields)?;
    super::verify::validate_image(req.image.as_deref(), &credential.server, &req.name)?;
    let target = format!("{}/{}/{}", req.project, req.location, req.name);
    ctx.require_audited(Permission::WriteSecrets, Some(&req.project), &target)
        .await?;
    project::must_exist(&ctx, &req.project).await?;
    let guard = location::put_guard(&location::must_exist(&ctx, &req.location).await?)?;

    let plaintext = credential.material.to_plaintext();
    let fingerprint = ctx.state.vault().fingerprint(&plaintext);
    let server = credential.server.to_string();
    let mut notes = Vec::new();
    if let Some(note) = input_server
        .and_then(|input| RegistryServer::normalize(&input).ok())
        .and_then(|n| n.note())
    {
        notes.push(format!("server {note}"));
    }

    // Rotation races with another writer are rare; one retry after a conflict settles them.
    for _attempt in 0..2 {
        let existing = ctx
            .state
            .store()
            .get_pull_secret(&req.project, &req.location, &req.name)
            .await?;
        let mut record = PullSecretRecord {
            id: match &existing {
                Some(e) => e.id.clone(),
                None => super::new_id("ps")?,
            },
            project: req.project.clone(),
            location: req.location.clone(),
            name: req.name.clone(),
            kind: credential.kind.as_str().to_owned(),
            server: server.clone(),
            username: credential.username.clone(),
            email: credential.email.clone(),
            params: serde_json::to_string(&credential.params)
                .map_err(|e| ApiError::internal(&e))?,
            fingerprint: fingerprint.clone(),
            revision: existing.as_ref().map_or(1, |e| e.revision + 1),
            sealed: regcred_store::Sealed {
                key_id: String::new(),
                nonce: Vec::new(),
                ciphertext: Vec::new(),
            },
            created_at: existing.as_ref().map_or(ctx.now, |e| e.created_at),
            created_by: existing
                .as_ref()
                .map_or_else(|| ctx.principal.actor(), |e| e.created_by.clone()),
            updated_at: ctx.now,
            updated_by: ctx.principal.actor(),
            verification: None,
        };
        record.sealed = ctx
            .state
            .vault()
            .seal(&SealedFor::pull_secret(&record), &plaintext)?;
        let rotated = existing.is_some();
        let event = ctx.audit(
            Some(&req.project),
            &target,
            "ok",
            json!({
                "id": record.id,
                "kind": record.kind,
                "server": record.server,
                "revision": record.revision,
                "rotated": rotated,
                "fingerprint": record.fingerprint,
            }),
        );
        let expected = existing.as_ref().map(|e| e.revision);
        match ctx
            .state
            .store()
            .put_pull_secret(&record, expected, guard, &event)
            .await
        {
            Ok(()) => {
                if rotated {
                    notes.push(format!("rotated: revision {}", record.revision));
                }
                ctx.state.refresher().wake();
                ctx.state.deliverer().wake();
                let verification = match check {
                    true => Some(
                        super::verify::check_and_record(&ctx, &record, req.image.as_deref())
                            .await?,
                    ),
                    false => None,
                };
                record.verification = verification
                    .as_ref()
                    .and_then(|v| serde_json::to_string(v).ok());
                return Ok(PullSecretCreated {
                    pull_secret: full_view(&ctx, record).await?,
                    created: !rotated,
                    verification,
                    notes,
                });
            }
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        ErrorCode::Conflict,
        format!("pull secret {target} is being changed by someone else; retry"),
    ))
}

pub async fn get(ctx: Ctx, req: PullSecretRef) -> Result<PullSecret, ApiError> {
    let record = find(&ctx, &req, Permission::ReadSecrets, false).await?;
    full_view(&ctx, record).await
}

pub async fn list(ctx: Ctx, req: PullSecretList) -> Result<Items<PullSecret>, ApiError> {
    if let Some(p) = &req.project {
        check_name(NameKind::Project, "project", p)?;
    }
    if let Some(l) = &req.location {
        check_name(NameKind::Location, "location", l)?;
    }
    let project = match (&req.project, &ctx.principal.project) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(own)) => Some(own.clone()),
        (None, None) => None,
    };
    ctx.principal
        .require(Permission::ReadSecrets, project.as_deref())?;
    let records = ctx
        .state
        .store()
        .list_pull_secrets(project.as_deref(), req.location.as_deref())
        .await?;
    let mut items = Vec::with_capacity(records.len());
    for r in records {
        items.push(full_view(&ctx, r).await?);
    }
    Ok(Items { items })
}

pub async fn delete(ctx: Ctx, req: PullSecretDelete) -> Result<PullSecretDeleted, ApiError> {
    let record = find(&ctx, &req.target(), Permission::WriteSecrets, true).await?;
    let target = format!("{}/{}/{}", record.project, record.location, record.name);
    if !ctx.principal.is_admin() && record.created_by != ctx.principal.actor() {
        let refusal = ApiError::forbidden(format!(
            "only the creator of {target} ({}) or an admin may delete it",
            record.created_by
        ));
        return Err(ctx.deny(Some(&record.project), &target, refusal).await);
    }
    let event = ctx.audit(
        Some(&record.project),
        &target,
        "ok",
        json!({ "id": record.id, "force": req.force }),
    );
    ctx.state
        .store()
        .delete_pull_secret(&record.id, req.force, &event)
        .await
        .map_err(|e| match e {
            StoreError::InUse { by, .. } => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                ErrorCode::InUse,
                format!(
                    "{target} is used by {}; change those first, or delete with force",
                    by.join(", ")
                ),
            )
            .with_items(
                by.into_iter()
                    .map(|b| regcred_core::api::ErrorItem {
                        field: None,
                        code: None,
                        message: b,
                    })
                    .collect(),
            ),
            other => other.into(),
        })?;
    ctx.state.deliverer().wake();
    Ok(PullSecretDeleted {
        id: record.id,
        forced: req.force,
    })
}

/// One registry entry for rendering, owning its values.
struct Entry {
    key: String,
    username: String,
    password: Secret,
    email: Option<String>,
}

pub async fn render(ctx: Ctx, req: PullSecretRender) -> Result<Rendered, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    if req.names.is_empty() {
        return Err(ApiError::field(
            "names",
            ErrorCode::MissingField,
            "name at least one pull secret",
        ));
    }
    for n in &req.names {
        check_name(NameKind::PullSecret, "names", n)?;
    }
    let secret_name = req
        .secret_name
        .clone()
        .unwrap_or_else(|| req.names[0].clone());
    check_name(NameKind::ObjectName, "secretName", &secret_name)?;
    if let Some(ns) = &req.namespace {
        check_name(NameKind::Namespace, "namespace", ns)?;
    }
    let target = format!("{}/{}/{}", req.project, req.location, req.names.join(","));
    ctx.require_audited(Permission::ReleaseSecrets, Some(&req.project), &target)
        .await?;

    let mut entries: Vec<Entry> = Vec::new();
    let mut released = Vec::new();
    for name in &req.names {
        let record = ctx
            .state
            .store()
            .get_pull_secret(&req.project, &req.location, name)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "pull secret {}/{}/{name} not found",
                    req.project, req.location
                ))
            })?;
        let credential = pull_secrets::open(&ctx.state, &record)?;
        // Checked before any credential is minted or released.
        let key = credential.server.auth_key();
        if entries.iter().any(|e| e.key == key) {
            return Err(ApiError::field(
                "names",
                ErrorCode::DuplicateServer,
                format!("two of the named pull secrets are for {key}; a document holds one entry per registry"),
            ));
        }
        let current = ctx
            .state
            .refresher()
            .current(&ctx.state, &record, &credential)
            .await?;
        released.push(json!({"id": record.id, "revision": record.revision}));
        entries.push(Entry {
            key,
            username: current.username,
            password: current.password,
            email: credential.email,
        });
    }
    let auths: Vec<DockerAuth> = entries
        .iter()
        .map(|e| DockerAuth {
            server: &e.key,
            username: &e.username,
            password: e.password.expose(),
            email: e.email.as_deref(),
        })
        .collect();
    let name = secret_name.as_str();
    let namespace = req.namespace.as_deref();
    let content = match req.format {
        RenderFormat::K8sSecretJson => {
            k8s_secret::secret(name, namespace, &auths, OutputFormat::Json)
        }
        RenderFormat::K8sSecretYaml => {
            k8s_secret::secret(name, namespace, &auths, OutputFormat::Yaml)
        }
        RenderFormat::Dockerconfigjson => k8s_secret::dockerconfigjson(&auths),
        RenderFormat::DockerConfig => auth_file::docker_config_json(&auths),
        RenderFormat::AuthJson => auth_file::containers_auth_json(&auths),
    }
    // Only the key and the field name are echoed: the error variants carry the value, which
    // may be the password.
    .map_err(|e| {
        let what = match e {
            RenderError::DuplicateServer { server } => format!("{server} appears twice"),
            RenderError::YamlControlCharacter { field, .. }
            | RenderError::YamlDocumentIndicator { field, .. } => {
                format!("{field} holds characters that YAML cannot carry; use the JSON format")
            }
        };
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            ErrorCode::NotRenderable,
            what,
        )
    })?;
    let event = ctx.audit(
        Some(&req.project),
        &target,
        "ok",
        json!({ "released": released, "format": req.format }),
    );
    ctx.state.store().append_audit(&event).await?;
    Ok(Rendered {
        format: req.format,
        content,
    })
}
