//! `registry.kinds`: the table of pull-secret kinds, so a form or CLI can ask for the right
//! fields; `registry.cert`: the certificate a platform registry trusts for regcred's tokens.

use regcred_core::api::{Items, RegistryCert};
use regcred_core::credential::{Kind, KindInfo};

use super::Ctx;
use super::Empty;
use crate::error::ApiError;

pub async fn kinds(_ctx: Ctx, _req: Empty) -> Result<Items<KindInfo>, ApiError> {
    Ok(Items {
        items: Kind::ALL.iter().map(|k| k.info()).collect(),
    })
}

/// `registry.cert`: what the platform registry must trust, and the token service's coordinates.
pub async fn cert(ctx: Ctx, _req: Empty) -> Result<RegistryCert, ApiError> {
    let platform = crate::platform::required(&ctx.state)?;
    let key = crate::platform::signing_key(&ctx.state, platform).await?;
    Ok(RegistryCert {
        certificate: key.certificate_pem().to_owned(),
        service: platform.config.service.clone(),
        issuer: platform.config.issuer.clone(),
        registry: platform.config.registry.clone(),
        realm_path: crate::platform::TOKEN_PATH.to_owned(),
    })
}
