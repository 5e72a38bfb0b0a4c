//! `pullSecret.verify` and `image.check`: decode, authorize, and run the checks of
//! [`crate::service::checks`].

use regcred_core::api::{ImageCheck, ImageChecked, PullSecret, PullSecretVerify, Verification};
use regcred_core::name::NameKind;
use serde::{Deserialize, Serialize};

use super::lookup::find;
use super::{check_name, Ctx};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::service::checks::{check_and_record, check_applies, parse_image, stored_server};
use crate::service::{checks, locations, projects, pull_secrets, resolution};
use regcred_store::PullSecretRecord;

/// Answer of `pullSecret.verify`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullSecretVerified {
    pub pull_secret: PullSecret,
    pub verification: Verification,
}

pub async fn verify(ctx: Ctx, req: PullSecretVerify) -> Result<PullSecretVerified, ApiError> {
    let image = req
        .image
        .as_deref()
        .map(|i| parse_image("image", i))
        .transpose()?;
    let r = find(&ctx, &req.target(), Permission::ReadSecrets, false).await?;
    if let Some(image) = &image {
        check_applies(&stored_server(&r)?, &r.name, image)?;
    }
    let v = check_and_record(&ctx.state, &ctx.acting(), &r, image.as_ref()).await?;
    let mut updated = r;
    updated.verification = serde_json::to_string(&v).ok();
    Ok(PullSecretVerified {
        pull_secret: pull_secrets::describe(&ctx.state, updated).await?,
        verification: v,
    })
}

pub async fn image_check(ctx: Ctx, req: ImageCheck) -> Result<ImageChecked, ApiError> {
    check_name(NameKind::Project, "project", &req.project)?;
    check_name(NameKind::Location, "location", &req.location)?;
    let image = parse_image("image", &req.image)?;
    ctx.principal
        .require(Permission::Resolve, Some(&req.project))?;
    projects::must_exist(&ctx.state, &req.project).await?;
    let location = locations::must_exist(&ctx.state, &req.location).await?;
    let rules = locations::default_rules(&location)?;
    let candidates =
        resolution::applying(&ctx.state, rules, &req.project, &req.location, &image).await?;
    let candidates: Vec<&PullSecretRecord> = candidates.iter().collect();
    checks::try_in_order(
        &ctx.state,
        &ctx.acting(),
        &image,
        &candidates,
        &req.project,
        &req.location,
    )
    .await
}
