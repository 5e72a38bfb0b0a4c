//! `registry.kinds`: the table of pull-secret kinds, so a form or CLI can ask for the right fields.

use regcred_core::api::Items;
use regcred_core::credential::{Kind, KindInfo};

use super::Empty;
use crate::error::ApiError;
use crate::rpc::Ctx;

pub async fn kinds(_ctx: Ctx, _req: Empty) -> Result<Items<KindInfo>, ApiError> {
    Ok(Items {
        items: Kind::ALL.iter().map(|k| k.info()).collect(),
    })
}
