//! Amazon ECR: an IAM access key (and optionally a role to assume) that the refresher trades
//! for a 12-hour registry token. The server `ACCOUNT.dkr.ecr.REGION.amazonaws.com` implies the
//! account and region; without a server they are given and the server is built from them.

use crate::codes::ErrorCode;
use crate::registry_host::RegistryServer;
use crate::secret::Secret;

use super::super::check::{self, Errors, Input, Reported};
use super::super::fields::{AuthMethod, FieldInfo, KindInfo, SERVER_OPTIONAL};
use super::super::{ecr_host, is_account_id, Kind, Params};
use super::{as_given, Checked, Definition, Material};

pub(super) static DEFINITION: Definition = Definition {
    info: KindInfo {
        kind: Kind::Ecr,
        title: "Amazon ECR",
        default_server: None,
        server_pattern: "ACCOUNT.dkr.ecr.REGION.amazonaws.com",
        auth: AuthMethod::Minted,
        fields: &[
            SERVER_OPTIONAL,
            FieldInfo::required("accessKeyId", "IAM access key id"),
            FieldInfo::required("secretAccessKey", "IAM secret access key").secret(),
            FieldInfo::required("region", "AWS region; implied by the server"),
            FieldInfo::optional("registryId", "12-digit account id; implied by the server"),
            FieldInfo::optional("roleArn", "role to assume before GetAuthorizationToken"),
        ],
    },
    not_a_field_hint: "; ecr needs accessKeyId, secretAccessKey and region (use kind custom to store a fixed username and password)",
    normalize: as_given,
    validate,
};

fn validate(input: Input, errs: &mut Errors) -> Result<Checked, Reported> {
    let Input { kind, server, spec } = input;
    let (mut region, mut registry_id) = (spec.region, spec.registry_id);
    let server = implied_ids(server, &mut region, &mut registry_id, errs);
    let access_key_id = check::text(kind, "accessKeyId", spec.access_key_id.as_ref(), errs);
    let secret = secret_access_key(spec.secret_access_key, errs);
    let region = region.ok_or_else(|| {
        errs.add(
            "region",
            ErrorCode::MissingField,
            "region is required for kind ecr (or give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com)",
        )
    });
    let registry_id_ok = account_id(registry_id.as_deref(), errs);
    let server = match server {
        Ok(None) if registry_id.is_none() => Err(errs.add(
            "server",
            ErrorCode::MissingField,
            "give the server ACCOUNT.dkr.ecr.REGION.amazonaws.com or registryId",
        )),
        other => other,
    };
    let role_arn = role_arn(spec.role_arn.as_deref(), errs);
    let (server, (), secret, region, (), ()) = (
        server?,
        access_key_id?,
        secret?,
        region?,
        registry_id_ok?,
        role_arn?,
    );
    let server = match server {
        Some(server) => server,
        None => built_server(registry_id.as_deref().unwrap_or_default(), &region, errs)?,
    };
    let access_key_id = spec.access_key_id.unwrap_or_default();
    Ok(Checked {
        server,
        username: Some(access_key_id.clone()),
        params: Params {
            region: Some(region),
            access_key_id: Some(access_key_id),
            registry_id,
            role_arn: spec.role_arn,
            ..Params::default()
        },
        material: Material::EcrAccessKey {
            secret_access_key: secret,
        },
    })
}

/// The given server, which must be an ECR host; the account and region it implies replace
/// the given ones, which must match them.
fn implied_ids(
    server: Option<RegistryServer>,
    region: &mut Option<String>,
    registry_id: &mut Option<String>,
    errs: &mut Errors,
) -> Result<Option<RegistryServer>, Reported> {
    let Some(server) = server else {
        return Ok(None);
    };
    let Some((account, implied)) = ecr_host(server.host()) else {
        return Err(errs.add(
            "server",
            ErrorCode::ServerMismatch,
            format!("kind ecr needs a server ACCOUNT.dkr.ecr.REGION.amazonaws.com, not {server}"),
        ));
    };
    let mut result = Ok(());
    if region.as_deref().is_some_and(|r| r != implied) {
        result = Err(errs.add(
            "region",
            ErrorCode::ConflictingFields,
            format!("region does not match server {server} (region {implied})"),
        ));
    }
    if registry_id.as_deref().is_some_and(|r| r != account) {
        result = Err(errs.add(
            "registryId",
            ErrorCode::ConflictingFields,
            format!("registryId does not match server {server} (account {account})"),
        ));
    }
    *region = Some(implied.to_owned());
    *registry_id = Some(account.to_owned());
    result.map(|()| Some(server))
}

fn secret_access_key(value: Option<Secret>, errs: &mut Errors) -> Result<Secret, Reported> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(errs.add(
            "secretAccessKey",
            ErrorCode::MissingField,
            "secretAccessKey is required for kind ecr",
        )),
    }
}

fn account_id(id: Option<&str>, errs: &mut Errors) -> Result<(), Reported> {
    match id {
        Some(id) if !is_account_id(id) => Err(errs.add(
            "registryId",
            ErrorCode::InvalidValue,
            "registryId must be a 12-digit AWS account id",
        )),
        _ => Ok(()),
    }
}

fn role_arn(arn: Option<&str>, errs: &mut Errors) -> Result<(), Reported> {
    match arn {
        Some(arn) if !arn.starts_with("arn:aws") || !arn.contains(":role/") => Err(errs.add(
            "roleArn",
            ErrorCode::InvalidValue,
            "roleArn must look like arn:aws:iam::ACCOUNT:role/NAME",
        )),
        _ => Ok(()),
    }
}

/// The server of an ECR pull secret given by account and region.
fn built_server(
    registry_id: &str,
    region: &str,
    errs: &mut Errors,
) -> Result<RegistryServer, Reported> {
    RegistryServer::parse(&format!("{registry_id}.dkr.ecr.{region}.amazonaws.com"))
        .map_err(|e| errs.add("region", ErrorCode::InvalidValue, e.to_string()))
}
