//! `credential.get`: credentials released to runtimes on demand — the Docker credential helper
//! asks by registry server, the kubelet plugin by image — so no long-lived secret has to sit on
//! the node. For roles allowed to release material (owner, deployer, puller); every release is
//! audited. Minted kinds answer their current credential from the refresher. `credential.list`
//! names the registries `credential.get` answers for, with usernames and never a secret, for
//! every role of the project — a puller's helper must be able to answer Docker's `list`.

use regcred_core::api::{
    CredentialEntries, CredentialEntry, CredentialGet, CredentialList, CredentialServer, Items,
};
use regcred_core::codes::ErrorCode;
use regcred_core::credential::Kind;
use regcred_core::image_ref::ImageRef;
use regcred_core::name::NameKind;
use regcred_core::registry_host::RegistryServer;
use serde_json::json;

use super::check_name;
use super::Ctx;
use crate::auth::Permission;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::service::images::Rules;
use crate::service::locations;
use crate::service::projects;
use crate::service::pull_secrets;
use crate::service::releases;
use crate::service::resolution;

/// Longest time a client may cache released credentials.
const CACHE_SECONDS: u64 = 300;

pub async fn get(ctx: Ctx, req: CredentialGet) -> Result<CredentialEntries, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    let wanted = match (&req.image, &req.server) {
        (Some(image), None) => Wanted::Image(
            ImageRef::parse(image)
                .map_err(|e| ApiError::field("image", e.code(), e.to_string()))?,
        ),
        (None, Some(server)) => Wanted::Server(
            RegistryServer::parse(server)
                .map_err(|e| ApiError::field("server", e.code(), e.to_string()))?,
        ),
        _ => {
            return Err(ApiError::validation(
                ErrorCode::InvalidReference,
                "give either image or server",
            ))
        }
    };
    let target = format!("{}/{}", req.project, req.location);
    ctx.require_audited(Permission::ReleaseSecrets, Some(&req.project), &target)
        .await?;
    let scope = ctx
        .state
        .resolution()
        .scope(ctx.state.store(), &req.project, &req.location)
        .await?;
    let entries = match &wanted {
        Wanted::Image(image) => scope.select(Rules::Kubelet, image),
        Wanted::Server(server) => scope.with_key(&server.auth_key()),
    };
    let chosen = resolution::records(&ctx.state, &entries).await?;
    if chosen.is_empty() {
        // A distinct code from a missing project or location, so that a misconfigured helper is
        // not mistaken for "no credentials here".
        projects::must_exist(&ctx.state, &req.project).await?;
        locations::must_exist(&ctx.state, &req.location).await?;
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            ErrorCode::NoCredentials,
            format!("no pull secret in {target} applies"),
        ));
    }
    let mut released = Vec::with_capacity(chosen.len());
    for record in &chosen {
        released.push(releases::current(&ctx.state, record).await?);
    }
    let cache_seconds = released
        .iter()
        .filter_map(|r| r.expires_at_ms)
        .map(|at| u64::try_from((at - ctx.now) / 1000 / 2).unwrap_or(0))
        .fold(CACHE_SECONDS, u64::min);
    let entries = released
        .iter()
        .map(|r| CredentialEntry {
            key: r.key.clone(),
            username: r.username.clone(),
            password: r.password.expose().to_owned(),
            expires_at: r.expires_at_ms.map(rfc3339),
        })
        .collect();
    releases::audit(
        &ctx.state,
        &ctx.acting(),
        &req.project,
        &target,
        &released,
        json!({}),
    )
    .await?;
    Ok(CredentialEntries {
        entries,
        cache_seconds,
    })
}

pub async fn list(ctx: Ctx, req: CredentialList) -> Result<Items<CredentialServer>, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    let target = format!("{}/{}", req.project, req.location);
    ctx.require_audited(Permission::ListCredentials, Some(&req.project), &target)
        .await?;
    // An empty answer must mean "nothing here", not a misspelt project or location.
    projects::must_exist(&ctx.state, &req.project).await?;
    locations::must_exist(&ctx.state, &req.location).await?;
    let records = ctx
        .state
        .store()
        .list_pull_secrets(Some(&req.project), Some(&req.location))
        .await?;
    // One entry per key, the record `credential.get` by server would answer with first.
    let mut items: Vec<CredentialServer> = Vec::new();
    let mut listed = Vec::new();
    for (key, record) in pull_secrets::by_auth_key(&records) {
        if Kind::parse(&record.kind) == Some(Kind::Public) || items.iter().any(|i| i.server == key)
        {
            continue;
        }
        listed.push(json!({"id": record.id, "revision": record.revision}));
        items.push(CredentialServer {
            server: key,
            username: record.username.clone().unwrap_or_default(),
        });
    }
    items.sort_by(|a, b| a.server.cmp(&b.server));
    let event = ctx.audit(
        Some(&req.project),
        &target,
        "ok",
        json!({ "listed": listed }),
    );
    ctx.state.store().append_audit(&event).await?;
    Ok(Items { items })
}

enum Wanted {
    Image(ImageRef),
    Server(RegistryServer),
}
