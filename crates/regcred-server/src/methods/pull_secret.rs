//! `pullSecret.*`: the write-only credential store. `create` validates the spec for its kind,
//! seals the material under the vault with the record's identity as authenticated data, and
//! rotates in place (same id, revision + 1) when the name exists. Reads return metadata only;
//! `render` is the one way material leaves, for roles allowed to release it, and is audited.

use regcred_core::api::{
    Page, PullSecret, PullSecretCreate, PullSecretCreated, PullSecretDelete, PullSecretDeleted,
    PullSecretList, PullSecretRef, PullSecretRender, PullSecretTest, PullSecretTested, Rendered,
};
use regcred_core::codes::ErrorCode;
use regcred_core::credential::{self, Credential, CredentialSpec, Kind, Material, MINTING_KINDS};
use regcred_core::name::NameKind;
use regcred_core::registry_host::RegistryServer;
use regcred_store::{ListKey, ListPage, PullSecretRecord, StoreError};
use serde_json::json;

use super::check_name;
use super::lookup::{address, find, not_found, Address};
use super::page::{self, Named};
use super::Ctx;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::service::checks;
use crate::service::locations;
use crate::service::projects;
use crate::service::pull_secrets;
use crate::service::releases::{self, Released};

/// The `kind` of a request; absent means "infer it from the server".
fn parse_kind(kind: Option<&str>) -> Result<Option<Kind>, ApiError> {
    let Some(k) = kind else {
        return Ok(None);
    };
    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    Kind::parse(k).map(Some).ok_or_else(|| {
        ApiError::field(
            "kind",
            ErrorCode::InvalidKind,
            format!(
                "unknown kind; use one of {} (or leave it out to infer it from the server)",
                known.join(", ")
            ),
        )
    })
}

pub async fn create(ctx: Ctx, req: PullSecretCreate) -> Result<PullSecretCreated, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    check_name(NameKind::PullSecret, "name", &req.name)?;
    let kind = parse_kind(req.kind.as_deref())?;
    let check = req.verify || req.image.is_some();
    let input_server = req.spec.server.clone();
    let target = format!("{}/{}/{}", req.project, req.location, req.name);
    let (credential, kept_from) = match req.keep_secret {
        false => (
            credential::validate(kind, req.spec).map_err(ApiError::fields)?,
            None,
        ),
        true => {
            ctx.require_audited(Permission::WriteSecrets, Some(&req.project), &target)
                .await?;
            let at = pull_secrets::Address {
                project: &req.project,
                location: &req.location,
                name: &req.name,
            };
            let (credential, revision) = keep_secret(&ctx, at, req.spec.clone(), kind).await?;
            (credential, Some(revision))
        }
    };
    let image = checks::validate_image(req.image.as_deref(), &credential.server, &req.name)?;
    ctx.require_audited(Permission::WriteSecrets, Some(&req.project), &target)
        .await?;
    projects::must_exist(&ctx.state, &req.project).await?;
    let guard = locations::put_guard(&locations::must_exist(&ctx.state, &req.location).await?)?;

    let mut notes = Vec::new();
    if let Some(note) = input_server
        .and_then(|input| RegistryServer::normalize(&input).ok())
        .and_then(|n| n.note())
    {
        notes.push(format!("server {note}"));
    }
    let at = pull_secrets::Address {
        project: &req.project,
        location: &req.location,
        name: &req.name,
    };
    let (mut record, rotated) =
        pull_secrets::put(&ctx.state, &ctx.acting(), at, &credential, guard, kept_from).await?;
    if rotated {
        notes.push(format!("rotated: revision {}", record.revision));
    }
    let verification = match check {
        true => Some(
            checks::check_and_record(&ctx.state, &ctx.acting(), &record, image.as_ref()).await?,
        ),
        false => None,
    };
    record.verification = verification
        .as_ref()
        .and_then(|v| serde_json::to_string(v).ok());
    Ok(PullSecretCreated {
        pull_secret: pull_secrets::describe(&ctx.state, record).await?,
        created: !rotated,
        verification,
        notes,
    })
}

/// The credential of a rotation that keeps the secret (`keepSecret`): the stored material put
/// into the new spec, which must carry no secret of its own and keep the kind and server, and
/// the revision the material is of (the write must replace exactly that one).
async fn keep_secret(
    ctx: &Ctx,
    at: pull_secrets::Address<'_>,
    mut spec: CredentialSpec,
    kind: Option<Kind>,
) -> Result<(Credential, i64), ApiError> {
    let existing = ctx
        .state
        .store()
        .get_pull_secret(at.project, at.location, at.name)
        .await?
        .ok_or_else(|| {
            ApiError::field(
                "keepSecret",
                ErrorCode::NotFound,
                "keepSecret rotates an existing pull secret, and there is none by this name",
            )
        })?;
    let current = pull_secrets::open(&ctx.state, &existing)?;
    if !current.material.keep_in(&mut spec) {
        return Err(ApiError::field(
            "keepSecret",
            ErrorCode::ConflictingFields,
            match current.material {
                Material::None => "a public pull secret has no secret to keep",
                _ => "keepSecret keeps the current secret; leave the secret fields out, or send a new secret without keepSecret",
            },
        ));
    }
    let credential = credential::validate(kind, spec).map_err(ApiError::fields)?;
    if (credential.kind, &credential.server) != (current.kind, &current.server) {
        return Err(ApiError::field(
            "keepSecret",
            ErrorCode::ConflictingFields,
            format!(
                "the secret is kept only for the same kind and server ({} at {}); enter the secret to change them",
                current.kind.as_str(),
                current.server
            ),
        ));
    }
    Ok((credential, existing.revision))
}

/// `pullSecret.test`: the validation of `create` and, when asked, the registry check, with
/// nothing stored. Authorized like `create` (whoever may save it may test it first); nothing
/// changes, so nothing is audited.
pub async fn test(ctx: Ctx, req: PullSecretTest) -> Result<PullSecretTested, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    let kind = parse_kind(req.kind.as_deref())?;
    let check = req.check || req.image.is_some();
    let input_server = req.spec.server.clone();
    let credential = match (req.keep_secret, req.name.as_deref()) {
        (false, _) => credential::validate(kind, req.spec).map_err(ApiError::fields)?,
        (true, None) => {
            return Err(ApiError::field(
                "name",
                ErrorCode::MissingField,
                "keepSecret tests with the secret of a stored pull secret: name it",
            ))
        }
        (true, Some(name)) => {
            check_name(NameKind::PullSecret, "name", name)?;
            // Authorized before the stored secret is looked at.
            ctx.principal
                .require(Permission::WriteSecrets, Some(&req.project))?;
            let at = pull_secrets::Address {
                project: &req.project,
                location: &req.location,
                name,
            };
            keep_secret(&ctx, at, req.spec, kind).await?.0
        }
    };
    let image = checks::validate_image(req.image.as_deref(), &credential.server, "this")?;
    ctx.principal
        .require(Permission::WriteSecrets, Some(&req.project))?;
    projects::must_exist(&ctx.state, &req.project).await?;
    locations::must_exist(&ctx.state, &req.location).await?;
    let notes: Vec<String> = input_server
        .and_then(|input| RegistryServer::normalize(&input).ok())
        .and_then(|n| n.note())
        .map(|note| format!("server {note}"))
        .into_iter()
        .collect();
    let verification = match check {
        true => Some(
            checks::check_unsaved(&ctx.state, &ctx.acting(), &credential, image.as_ref()).await?,
        ),
        false => None,
    };
    Ok(PullSecretTested {
        kind: credential.kind,
        server: credential.server.to_string(),
        username: credential.username.clone(),
        verification,
        notes,
    })
}

pub async fn get(ctx: Ctx, req: PullSecretRef) -> Result<PullSecret, ApiError> {
    // By address, the record and what its view shows come from one read of the store.
    if let Address::Named(p, l, n) = address(&ctx, &req, Permission::ReadSecrets, false).await? {
        let (record, facts) = ctx
            .state
            .store()
            .described_pull_secret(p, l, n, &MINTING_KINDS.map(Kind::as_str))
            .await?
            .ok_or_else(not_found)?;
        return pull_secrets::view_with(record, facts);
    }
    let record = find(&ctx, &req, Permission::ReadSecrets, false).await?;
    pull_secrets::describe(&ctx.state, record).await
}

pub async fn list(ctx: Ctx, req: PullSecretList) -> Result<Page<PullSecret>, ApiError> {
    if let Some(p) = &req.project {
        check_name(NameKind::Project, "project", p)?;
    }
    if let Some(l) = &req.location {
        check_name(NameKind::Location, "location", l)?;
    }
    let limit = page::limit(req.limit)?;
    let project = match (&req.project, &ctx.principal.project) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(own)) => Some(own.clone()),
        (None, None) => None,
    };
    let after = req
        .page_token
        .as_deref()
        .map(|t| Named::PullSecrets.after(t, project.as_deref(), req.location.as_deref()))
        .transpose()?;
    let kind = parse_kind(req.kind.as_deref())?;
    ctx.principal
        .require(Permission::ReadSecrets, project.as_deref())?;
    let store = ctx.state.store();
    let minting_kinds = MINTING_KINDS.map(Kind::as_str);
    let (described, next) = page::scan(
        limit,
        kind.is_some(),
        after,
        |(r, _): &(PullSecretRecord, _)| kind.is_none_or(|k| r.kind == k.as_str()),
        |(r, _)| ListKey {
            project: r.project.clone(),
            location: r.location.clone(),
            name: r.name.clone(),
        },
        |after: Option<ListKey>, n| {
            let (project, location) = (project.as_deref(), req.location.as_deref());
            let minting_kinds = &minting_kinds;
            async move {
                let page = ListPage {
                    project,
                    location,
                    after: after.as_ref(),
                    limit: n,
                };
                Ok(store
                    .described_pull_secrets_page(page, minting_kinds)
                    .await?)
            }
        },
    )
    .await?;
    Ok(Page {
        items: described
            .into_iter()
            .map(|(record, facts)| pull_secrets::view_with(record, facts))
            .collect::<Result<_, _>>()?,
        next_page_token: next.map(|key| Named::PullSecrets.token_after(&key)),
    })
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

    let mut released: Vec<Released> = Vec::new();
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
        // Checked before any credential is minted or released.
        let key = RegistryServer::parse(&record.server)
            .map_err(|e| ApiError::internal(&e))?
            .auth_key();
        if released.iter().any(|e| e.key == key) {
            return Err(ApiError::field(
                "names",
                ErrorCode::DuplicateServer,
                format!("two of the named pull secrets are for {key}; a document holds one entry per registry"),
            ));
        }
        released.push(releases::current(&ctx.state, &record).await?);
    }
    let namespace = req.namespace.as_deref();
    let content = releases::document(req.format, &secret_name, namespace, &released)?;
    let extra = json!({ "format": req.format });
    releases::audit(
        &ctx.state,
        &ctx.acting(),
        &req.project,
        &target,
        &released,
        extra,
    )
    .await?;
    Ok(Rendered {
        format: req.format,
        content,
    })
}
