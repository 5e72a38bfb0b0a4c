//! `image.resolve`: which pull secrets of a project and location apply to an image, in the order
//! the runtime tries them — the kubelet keyring rules for Kubernetes (every match, most specific
//! key first) or the containers/image rules for podman/skopeo (the one most specific entry).
//! Images in the platform's own registry need no pull secret in their own project; in another
//! project they need one, and the error says exactly which.

use regcred_core::api::{ImageResolve, ImageResolved, ResolvedSecret};
use regcred_core::codes::ErrorCode;
use regcred_core::image_ref::ImageRef;
use regcred_core::name::NameKind;

use super::check_name;
use super::Ctx;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::service::images;
use crate::service::images::Rules;
use crate::service::locations;
use crate::service::projects;

/// How many of a scope's servers the warning about an unmatched registry names.
const WARNING_SERVERS: usize = 10;

pub async fn resolve(ctx: Ctx, req: ImageResolve) -> Result<ImageResolved, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    let image = ImageRef::parse(&req.image)
        .map_err(|e| ApiError::field("image", e.code(), e.to_string()))?;
    let requested = match req.rules.as_deref() {
        None => None,
        Some(r) => Some(Rules::parse(r).ok_or_else(|| {
            ApiError::field(
                "rules",
                ErrorCode::InvalidValue,
                "rules must be kubelet or containers",
            )
        })?),
    };
    ctx.principal
        .require(Permission::Resolve, Some(&req.project))?;
    projects::must_exist(&ctx.state, &req.project).await?;
    let location = locations::must_exist(&ctx.state, &req.location).await?;
    // Docker/podman hosts follow containers/image; everything else the kubelet.
    let rules = match requested {
        Some(r) => r,
        None => locations::default_rules(&location)?,
    };

    let scope = ctx
        .state
        .resolution()
        .scope(ctx.state.store(), &req.project, &req.location)
        .await?;
    let matched = scope.select(rules, &image);
    let owner = ctx
        .state
        .platform()
        .and_then(|p| p.project_of(image.domain(), image.path()));
    let same_project_registry = owner == Some(req.project.as_str());
    if let (Some(owner), true) = (owner, matched.is_empty()) {
        if owner != req.project {
            return Err(images::pull_secret_required(
                &image,
                owner,
                &req.project,
                &req.location,
            ));
        }
    }
    let mut warnings = Vec::new();
    if matched.is_empty() && !same_project_registry {
        // A scope can hold 100,000 pull secrets: the warning names the first few servers.
        let mut servers = scope
            .entries()
            .take(WARNING_SERVERS)
            .map(|e| e.server)
            .collect::<Vec<_>>()
            .join(", ");
        if scope.len() > WARNING_SERVERS {
            servers.push_str(&format!(" and {} more", scope.len() - WARNING_SERVERS));
        }
        warnings.push(if servers.is_empty() {
            format!("no pull secrets in {}/{}; {} will be pulled anonymously", req.project, req.location, image.domain())
        } else {
            format!(
                "no pull secret matches registry {} (pull secrets here are for {}); the image will be pulled anonymously",
                image.domain(),
                servers
            )
        });
    }
    Ok(ImageResolved {
        same_project_registry,
        image: image.to_string(),
        registry: image.domain().to_owned(),
        repository: image.repository(),
        rules: rules.as_str().to_owned(),
        pull_secrets: matched
            .into_iter()
            .map(|e| ResolvedSecret {
                id: e.id.to_owned(),
                name: e.name.to_owned(),
                server: e.server.to_owned(),
                matched_key: e.key.to_owned(),
            })
            .collect(),
        warnings,
    })
}
