//! Amazon ECR: an access key pair (optionally assuming a role first) turned into the 12-hour
//! registry credential that `GetAuthorizationToken` hands out — username `AWS`, the token's
//! password half, its `expiresAt` and the registry host of its `proxyEndpoint`.
//!
//! The calls go through the official AWS SDK for Rust with static credentials and a client
//! configuration built here (no `aws-config`, no environment or profile lookups): what is stored
//! is exactly what is used. The SDK's HTTP client is its hyper client over rustls with the ring
//! provider, so the crate keeps one TLS stack and one crypto provider. The endpoint can be
//! overridden for both ECR and STS, which is how the tests talk to the moto emulator.
//!
//! SDK failures are reduced to a `Failure` — the call, the HTTP status, the AWS error code and the
//! kind of transport failure; no SDK types, no text from AWS, so nothing AWS echoes (secrets
//! included) can reach a message — and classified by the pure `classify`: the provider refusing
//! the keys is [`MintError::Rejected`], anything a retry can fix is [`MintError::Unavailable`],
//! malformed input or answers are [`MintError::Invalid`].

use std::time::Duration;

use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::timeout::TimeoutConfig;
use aws_sdk_ecr::config::{BehaviorVersion, Credentials, IdentityCache, Region, SharedHttpClient};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext};

use crate::trust::TrustStore;
use base64::Engine as _;
use regcred_core::secret::Secret;

use super::{MintError, Minted};
use crate::outcome::{classify_transport, CodeGrammar, ErrorCode, TransportFailure};

const PROVIDER: &str = "ECR";

/// Name of the STS session when a role is assumed; it shows in the role's CloudTrail entries.
const ROLE_SESSION_NAME: &str = "regcred";

/// A TCP connect that takes longer than this is a network problem, not a slow answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One HTTP attempt; GetAuthorizationToken and AssumeRole answer in well under a second.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The whole call including the SDK's own retries.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(40);
/// The SDK retries throttling, 5xx and connection failures a few times with short backoff;
/// longer outages are the refresher's business (its backoff keeps the last good token).
const MAX_ATTEMPTS: u32 = 3;

/// The long-lived material of an ECR pull secret.
#[derive(Debug, Clone, Copy)]
pub struct EcrRequest<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a Secret,
    /// The registry's region, e.g. `eu-west-1`; the token only works for registries there.
    pub region: &'a str,
    /// The 12-digit account id of the registry, when it is not the caller's own account.
    pub registry_id: Option<&'a str>,
    /// A role to assume (STS `AssumeRole`) before asking for the token.
    pub role_arn: Option<&'a str>,
    /// ECR and STS endpoint override, e.g. `http://127.0.0.1:PORT` for moto.
    pub endpoint_url: Option<&'a str>,
    /// The CAs the AWS endpoints are checked against.
    pub trust: &'a TrustStore,
}

/// Mints an ECR registry credential: `AssumeRole` first when `role_arn` is set, then
/// `GetAuthorizationToken` (for `registry_id` when given).
///
/// `expires_at_ms` is ECR's `expiresAt` as given, even when it is already in the past (moto
/// answers with 2015-01-01): deciding what to do with it is the refresher's job.
#[tracing::instrument(
    name = "ecr.mint",
    skip_all,
    fields(region = req.region, registry_id = req.registry_id, role_arn = req.role_arn)
)]
pub async fn mint(req: &EcrRequest<'_>) -> Result<Minted, MintError> {
    validate(req)?;
    let http = http_client(req.trust)?;
    let https = !req
        .endpoint_url
        .is_some_and(|url| url.starts_with("http://"));

    let credentials = match req.role_arn {
        None => Credentials::new(
            req.access_key_id,
            req.secret_access_key.expose(),
            None,
            None,
            "regcred-static",
        ),
        Some(role_arn) => assume_role(req, role_arn, &http, https).await?,
    };

    let mut config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(req.region.to_string()))
        .credentials_provider(credentials)
        .identity_cache(IdentityCache::no_cache())
        .http_client(http)
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(url) = req.endpoint_url {
        config = config.endpoint_url(url);
    }
    let client = aws_sdk_ecr::Client::from_conf(config.build());

    let call = Call::GetAuthorizationToken;
    // `registryIds` is deprecated because it no longer narrows what the token may access, but it
    // still decides which registry `proxyEndpoint` names, and that host is what the pull secret
    // is for.
    #[allow(deprecated)]
    let output = client
        .get_authorization_token()
        .set_registry_ids(req.registry_id.map(|id| vec![id.to_string()]))
        .send()
        .await
        .map_err(|err| classify(call, failure_of(&err, https)))?;

    let data = output
        .authorization_data()
        .first()
        .ok_or_else(|| invalid(call, "the answer holds no authorizationData"))?;
    let token = data
        .authorization_token()
        .ok_or_else(|| invalid(call, "the answer has no authorizationToken"))?;
    let (username, password) = decode_token(token).map_err(|message| invalid(call, message))?;
    let expires_at_ms = match data.expires_at() {
        None => None,
        Some(at) => Some(
            at.to_millis()
                .map_err(|_| invalid(call, "expiresAt is out of range"))?,
        ),
    };
    let endpoint = data.proxy_endpoint().and_then(endpoint_host);
    tracing::debug!(
        expires_at_ms,
        endpoint = endpoint.as_deref(),
        "minted an ECR authorization token"
    );
    Ok(Minted {
        username,
        password,
        expires_at_ms,
        endpoint,
    })
}

/// STS `AssumeRole` with the stored keys; the temporary credentials it answers.
async fn assume_role(
    req: &EcrRequest<'_>,
    role_arn: &str,
    http: &SharedHttpClient,
    https: bool,
) -> Result<Credentials, MintError> {
    let mut config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(req.region.to_string()))
        .credentials_provider(Credentials::new(
            req.access_key_id,
            req.secret_access_key.expose(),
            None,
            None,
            "regcred-static",
        ))
        .identity_cache(IdentityCache::no_cache())
        .http_client(http.clone())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(url) = req.endpoint_url {
        config = config.endpoint_url(url);
    }
    let client = aws_sdk_sts::Client::from_conf(config.build());

    let call = Call::AssumeRole;
    let output = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(ROLE_SESSION_NAME)
        .send()
        .await
        .map_err(|err| classify(call, failure_of(&err, https)))?;
    let assumed = output
        .credentials()
        .ok_or_else(|| invalid(call, "the answer holds no credentials"))?;
    // The session lasts STS's default hour, far longer than the one call it is used for.
    Ok(Credentials::new(
        assumed.access_key_id(),
        assumed.secret_access_key(),
        Some(assumed.session_token().to_string()),
        None,
        "regcred-assumed-role",
    ))
}

/// The SDK's hyper client over rustls with the ring provider, trusting `trust`. A new one per
/// mint: mints are hours apart, and a pool shared across calls would outlive the tokio runtime
/// that opened its connections (each test has its own).
fn http_client(trust: &TrustStore) -> Result<SharedHttpClient, MintError> {
    let context = TlsContext::builder()
        .with_trust_store(trust.aws())
        .build()
        .map_err(|e| MintError::Invalid {
            provider: PROVIDER,
            message: format!("the CA files cannot be used for AWS ({e})"),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https())
}

fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2))
}

fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Checks the stored material before any call, so a typo is reported as such instead of as a
/// DNS failure (which would look transient) or an SDK validation error.
fn validate(req: &EcrRequest<'_>) -> Result<(), MintError> {
    let invalid = |message: String| MintError::Invalid {
        provider: PROVIDER,
        message,
    };
    if req.access_key_id.trim().is_empty() {
        return Err(invalid("the access key id is empty".into()));
    }
    if req.secret_access_key.expose().trim().is_empty() {
        return Err(invalid("the secret access key is empty".into()));
    }
    if req.region.is_empty() {
        return Err(invalid("a region is required (like us-east-1)".into()));
    }
    if !is_region_name(req.region) {
        return Err(invalid(
            "the region is not an AWS region name (like us-east-1)".into(),
        ));
    }
    if let Some(id) = req.registry_id {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "the registry id is not a 12-digit AWS account id".into(),
            ));
        }
    }
    if let Some(arn) = req.role_arn {
        if !is_role_arn(arn) {
            return Err(invalid(
                "the role is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)".into(),
            ));
        }
    }
    if let Some(url) = req.endpoint_url {
        let parsed = reqwest::Url::parse(url).ok();
        let usable = parsed.is_some_and(|parsed| {
            matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some()
        });
        if !usable {
            return Err(invalid(
                "the endpoint is not an http:// or https:// URL".into(),
            ));
        }
    }
    Ok(())
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-7`: lowercase words joined by `-`, ending in a
/// number. The SDK would accept far more and fail later with a DNS error.
fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
fn is_role_arn(arn: &str) -> bool {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        fields.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.len() > "role/".len()
                && resource.starts_with("role/")
    )
}

/// `authorizationToken` is base64 of `USER:PASSWORD` (the user is always `AWS`). The errors
/// never quote the token.
fn decode_token(token: &str) -> Result<(String, Secret), &'static str> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| "the authorizationToken is not base64")?;
    let text = String::from_utf8(bytes).map_err(|_| "the authorizationToken is not UTF-8")?;
    let (username, password) = text
        .split_once(':')
        .ok_or("the authorizationToken is not of the form USER:PASSWORD")?;
    if username.is_empty() {
        return Err("the authorizationToken has an empty user name");
    }
    if password.is_empty() {
        return Err("the authorizationToken has an empty password");
    }
    Ok((username.to_string(), Secret::new(password)))
}

/// The registry host of a `proxyEndpoint` (`https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`).
fn endpoint_host(proxy_endpoint: &str) -> Option<String> {
    let rest = proxy_endpoint
        .strip_prefix("https://")
        .or_else(|| proxy_endpoint.strip_prefix("http://"))
        .unwrap_or(proxy_endpoint);
    let host = rest.split('/').next().unwrap_or_default().trim();
    (!host.is_empty()).then(|| host.to_string())
}

/// The AWS call that failed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    AssumeRole,
    GetAuthorizationToken,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::AssumeRole => "sts:AssumeRole",
            Call::GetAuthorizationToken => "ecr:GetAuthorizationToken",
        }
    }
}

/// What the SDK reported, reduced to facts: no text from AWS or the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// The request could not be built (e.g. endpoint resolution).
    Construction,
    /// No answer within the configured timeouts.
    Timeout,
    /// No HTTP answer: DNS, refused, reset, TLS. `user` when the connector blames the request.
    Dispatch {
        user: bool,
        transport: TransportFailure,
    },
    /// An HTTP answer that could not be read as the operation's output or error.
    Unreadable { status: u16 },
    /// The service answered with an error; `code` as sent, checked by [`classify`].
    Service { status: u16, code: Option<String> },
}

/// Error codes meaning "these keys (or this principal) may not do this".
const REJECTED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "NotAuthorized",
    "OptInRequired",
    "RegionDisabledException",
    "SignatureDoesNotMatch",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
];

/// Error codes meaning "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "IDPCommunicationError",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "PriorRequestNotComplete",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
];

/// Error codes meaning "the request itself is malformed" (a bad registry id or role ARN).
const INVALID_CODES: &[&str] = &[
    "InvalidInput",
    "InvalidParameter",
    "InvalidParameterException",
    "InvalidParameterValue",
    "MalformedPolicyDocument",
    "MissingParameter",
    "ValidationError",
    "ValidationException",
];

/// The classification: codes first, then the HTTP status for codes it does not know
/// (401/403 refused; 408, 429 and 5xx transient; any other 4xx permanent). A code is kept in the
/// message only if it is an AWS error code (`^[A-Za-z]{1,64}$`).
fn classify(call: Call, failure: Failure) -> MintError {
    let name = call.name();
    let unavailable = |message: String| MintError::Unavailable {
        provider: PROVIDER,
        message,
    };
    let invalid = |message: String| MintError::Invalid {
        provider: PROVIDER,
        message,
    };
    match failure {
        Failure::Construction => invalid(format!("{name}: the request could not be built")),
        Failure::Timeout => unavailable(format!("{name}: timed out")),
        Failure::Dispatch {
            user: true,
            transport,
        } => invalid(format!(
            "{name}: the request could not be sent ({})",
            transport.describe()
        )),
        Failure::Dispatch {
            user: false,
            transport,
        } => unavailable(format!("{name}: no answer ({})", transport.describe())),
        Failure::Unreadable { status } => {
            let message = format!("{name}: unreadable answer (HTTP {status})");
            if status >= 500 || status == 429 {
                unavailable(message)
            } else {
                invalid(message)
            }
        }
        Failure::Service { status, code } => {
            let code = code
                .as_deref()
                .and_then(|code| ErrorCode::parse(bare_code(code), CodeGrammar::Aws));
            let message = match &code {
                Some(code) => format!("{name}: {code} (HTTP {status})"),
                None => format!("{name}: HTTP {status}"),
            };
            let in_list = |list: &[&str]| code.as_ref().is_some_and(|c| list.contains(&c.as_str()));
            if in_list(REJECTED_CODES) {
                MintError::Rejected {
                    provider: PROVIDER,
                    message,
                }
            } else if in_list(TRANSIENT_CODES) {
                unavailable(message)
            } else if in_list(INVALID_CODES) {
                invalid(message)
            } else if status == 408 || status == 429 || status >= 500 {
                unavailable(message)
            } else {
                MintError::Rejected {
                    provider: PROVIDER,
                    message,
                }
            }
        }
    }
}

/// `com.amazon.coral.service#UnrecognizedClientException:http://…` → the bare code.
fn bare_code(code: &str) -> &str {
    let code = code.rsplit('#').next().unwrap_or(code);
    code.split(':').next().unwrap_or(code).trim()
}

/// regcred's own words about an answer that cannot be used.
fn invalid(call: Call, message: &str) -> MintError {
    MintError::Invalid {
        provider: PROVIDER,
        message: format!("{}: {message}", call.name()),
    }
}

/// The SDK's error as a [`Failure`]. Services the SDK cannot parse an error from (moto answers
/// JSON-protocol calls with an XML `ErrorResponse`) get their code read from the body here.
/// `https` says whether the endpoint is reached over TLS.
fn failure_of<E>(err: &SdkError<E>, https: bool) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => Failure::Construction,
        SdkError::TimeoutError(_) => Failure::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Failure::Timeout,
        SdkError::DispatchFailure(failure) => Failure::Dispatch {
            user: failure.is_user(),
            transport: classify_transport(err, https),
        },
        SdkError::ResponseError(response) => Failure::Unreadable {
            status: response.raw().status().as_u16(),
        },
        SdkError::ServiceError(service) => {
            let raw = service.raw();
            Failure::Service {
                status: raw.status().as_u16(),
                code: service
                    .err()
                    .code()
                    .map(str::to_string)
                    .or_else(|| raw.body().bytes().and_then(xml_error_code)),
            }
        }
        // `SdkError` is non-exhaustive; whatever is added is reported, and retried.
        _ => Failure::Dispatch {
            user: false,
            transport: classify_transport(err, https),
        },
    }
}

/// `<Code>` of an AWS XML `ErrorResponse`.
fn xml_error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let value = text[start..start + len].trim();
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    static NO_EXTRA_CA: TrustStore = TrustStore::system();

    fn request<'a>(secret: &'a Secret) -> EcrRequest<'a> {
        EcrRequest {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: secret,
            region: "eu-west-1",
            registry_id: None,
            role_arn: None,
            endpoint_url: None,
            trust: &NO_EXTRA_CA,
        }
    }

    /// `(kind, transient, message)` of a classified failure.
    fn check(call: Call, failure: Failure, expected: (&str, bool, &str)) {
        let err = classify(call, failure);
        let kind = match &err {
            MintError::Rejected { .. } => "rejected",
            MintError::Unavailable { .. } => "unavailable",
            MintError::Invalid { .. } => "invalid",
        };
        assert_eq!(
            (kind, err.is_transient(), err.to_string().as_str()),
            expected
        );
    }

    fn service(status: u16, code: Option<&str>) -> Failure {
        Failure::Service {
            status,
            code: code.map(str::to_string),
        }
    }

    #[test]
    fn token_decoding() {
        let (user, password) = decode_token("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu").unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(password.expose(), "123456789012-auth-token");
        // Passwords may contain colons; only the first one separates.
        let (user, password) = decode_token("QVdTOmE6Yg==").unwrap();
        assert_eq!((user.as_str(), password.expose()), ("AWS", "a:b"));

        for (token, expected) in [
            ("not base64!", "the authorizationToken is not base64"),
            (
                "QVdT",
                "the authorizationToken is not of the form USER:PASSWORD",
            ),
            ("QVdTOg==", "the authorizationToken has an empty password"),
            ("OnB3", "the authorizationToken has an empty user name"),
            ("//79", "the authorizationToken is not UTF-8"),
        ] {
            assert_eq!(decode_token(token).unwrap_err(), expected, "{token}");
        }
    }

    #[test]
    fn a_malformed_token_is_invalid_and_not_quoted() {
        let err = decode_token("c2VjcmV0LXdpdGhvdXQtY29sb24=")
            .map_err(|m| invalid(Call::GetAuthorizationToken, m))
            .unwrap_err();
        assert!(matches!(err, MintError::Invalid { .. }));
        assert!(!err.is_transient());
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(!shown.contains("secret-without-colon"), "{shown}");
    }

    #[test]
    fn endpoint_hosts() {
        for (proxy, host) in [
            (
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
                Some("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            ),
            (
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
                Some("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            ),
            ("http://127.0.0.1:5000/v2", Some("127.0.0.1:5000")),
            ("registry.example.com", Some("registry.example.com")),
            ("https://", None),
            ("", None),
        ] {
            assert_eq!(endpoint_host(proxy).as_deref(), host, "{proxy}");
        }
    }

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "eu-west-1",
            "us-gov-west-1",
            "ap-southeast-7",
            "cn-north-1",
        ] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us east-1",
            "us--1",
            "-us-east-1",
            "us-east-1a",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::111122223333:role/puller"));
        assert!(is_role_arn(
            "arn:aws-us-gov:iam::111122223333:role/team/puller"
        ));
        for bad in [
            "puller",
            "arn:aws:iam::111122223333:user/puller",
            "arn:aws:iam::1111:role/puller",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:sts::111122223333:role/puller",
        ] {
            assert!(!is_role_arn(bad), "{bad}");
        }
    }

    #[test]
    fn stored_material_is_validated_before_any_call() {
        let secret = Secret::new(SECRET);
        let empty = Secret::new("");
        let cases: Vec<(EcrRequest<'_>, &str)> = vec![
            (
                EcrRequest {
                    access_key_id: "",
                    ..request(&secret)
                },
                "ECR: the access key id is empty",
            ),
            (
                EcrRequest {
                    secret_access_key: &empty,
                    ..request(&secret)
                },
                "ECR: the secret access key is empty",
            ),
            (
                EcrRequest {
                    region: "",
                    ..request(&secret)
                },
                "ECR: a region is required (like us-east-1)",
            ),
            (
                EcrRequest {
                    region: "Frankfurt",
                    ..request(&secret)
                },
                "ECR: the region is not an AWS region name (like us-east-1)",
            ),
            (
                EcrRequest {
                    registry_id: Some("1234"),
                    ..request(&secret)
                },
                "ECR: the registry id is not a 12-digit AWS account id",
            ),
            (
                EcrRequest {
                    role_arn: Some("puller"),
                    ..request(&secret)
                },
                "ECR: the role is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            ),
            (
                EcrRequest {
                    endpoint_url: Some("127.0.0.1:5000"),
                    ..request(&secret)
                },
                "ECR: the endpoint is not an http:// or https:// URL",
            ),
            (
                EcrRequest {
                    endpoint_url: Some("http://[::1"),
                    ..request(&secret)
                },
                "ECR: the endpoint is not an http:// or https:// URL",
            ),
            (
                EcrRequest {
                    endpoint_url: Some("ftp://127.0.0.1"),
                    ..request(&secret)
                },
                "ECR: the endpoint is not an http:// or https:// URL",
            ),
        ];
        for (req, expected) in cases {
            let err = validate(&req).unwrap_err();
            assert!(matches!(err, MintError::Invalid { .. }), "{err:?}");
            assert_eq!(err.to_string(), expected);
        }
        validate(&request(&secret)).unwrap();
    }

    #[test]
    fn refusals_are_permanent() {
        let call = Call::GetAuthorizationToken;
        check(
            call,
            service(400, Some("UnrecognizedClientException")),
            ("rejected", false, "ECR refused the credentials: ecr:GetAuthorizationToken: UnrecognizedClientException (HTTP 400)"),
        );
        check(
            call,
            service(403, Some("InvalidSignatureException")),
            ("rejected", false, "ECR refused the credentials: ecr:GetAuthorizationToken: InvalidSignatureException (HTTP 403)"),
        );
        check(
            Call::AssumeRole,
            service(403, Some("AccessDenied")),
            (
                "rejected",
                false,
                "ECR refused the credentials: sts:AssumeRole: AccessDenied (HTTP 403)",
            ),
        );
        check(
            Call::AssumeRole,
            service(403, Some("InvalidClientTokenId")),
            (
                "rejected",
                false,
                "ECR refused the credentials: sts:AssumeRole: InvalidClientTokenId (HTTP 403)",
            ),
        );
        check(
            call,
            service(400, Some("SignatureDoesNotMatch")),
            ("rejected", false, "ECR refused the credentials: ecr:GetAuthorizationToken: SignatureDoesNotMatch (HTTP 400)"),
        );
        // Qualified codes are reduced to the bare name.
        check(
            call,
            service(400, Some("com.amazon.coral.service#AccessDeniedException:http://internal")),
            ("rejected", false, "ECR refused the credentials: ecr:GetAuthorizationToken: AccessDeniedException (HTTP 400)"),
        );
        // Unknown codes and code-less answers fall back on the status.
        check(
            call,
            service(403, None),
            (
                "rejected",
                false,
                "ECR refused the credentials: ecr:GetAuthorizationToken: HTTP 403",
            ),
        );
        check(
            call,
            service(404, Some("SomethingNew")),
            (
                "rejected",
                false,
                "ECR refused the credentials: ecr:GetAuthorizationToken: SomethingNew (HTTP 404)",
            ),
        );
    }

    #[test]
    fn outages_and_throttling_are_transient() {
        let call = Call::GetAuthorizationToken;
        check(
            call,
            service(400, Some("ThrottlingException")),
            (
                "unavailable",
                true,
                "ECR is unavailable: ecr:GetAuthorizationToken: ThrottlingException (HTTP 400)",
            ),
        );
        check(
            call,
            service(500, Some("ServerException")),
            (
                "unavailable",
                true,
                "ECR is unavailable: ecr:GetAuthorizationToken: ServerException (HTTP 500)",
            ),
        );
        check(
            call,
            service(503, None),
            (
                "unavailable",
                true,
                "ECR is unavailable: ecr:GetAuthorizationToken: HTTP 503",
            ),
        );
        check(
            call,
            service(429, Some("Unknown")),
            (
                "unavailable",
                true,
                "ECR is unavailable: ecr:GetAuthorizationToken: Unknown (HTTP 429)",
            ),
        );
        check(
            call,
            Failure::Dispatch {
                user: false,
                transport: TransportFailure::Refused,
            },
            (
                "unavailable",
                true,
                "ECR is unavailable: ecr:GetAuthorizationToken: no answer (connection refused)",
            ),
        );
        check(
            Call::AssumeRole,
            Failure::Timeout,
            (
                "unavailable",
                true,
                "ECR is unavailable: sts:AssumeRole: timed out",
            ),
        );
        check(
            call,
            Failure::Unreadable { status: 502 },
            (
                "unavailable",
                true,
                "ECR is unavailable: ecr:GetAuthorizationToken: unreadable answer (HTTP 502)",
            ),
        );
    }

    #[test]
    fn malformed_requests_and_answers_are_invalid() {
        let call = Call::GetAuthorizationToken;
        check(
            call,
            service(400, Some("InvalidParameterException")),
            (
                "invalid",
                false,
                "ECR: ecr:GetAuthorizationToken: InvalidParameterException (HTTP 400)",
            ),
        );
        check(
            Call::AssumeRole,
            service(400, Some("ValidationError")),
            (
                "invalid",
                false,
                "ECR: sts:AssumeRole: ValidationError (HTTP 400)",
            ),
        );
        check(
            call,
            Failure::Unreadable { status: 200 },
            (
                "invalid",
                false,
                "ECR: ecr:GetAuthorizationToken: unreadable answer (HTTP 200)",
            ),
        );
        check(
            call,
            Failure::Construction,
            (
                "invalid",
                false,
                "ECR: ecr:GetAuthorizationToken: the request could not be built",
            ),
        );
        check(
            call,
            Failure::Dispatch {
                user: true,
                transport: TransportFailure::Other,
            },
            (
                "invalid",
                false,
                "ECR: ecr:GetAuthorizationToken: the request could not be sent (no answer)",
            ),
        );
    }

    /// An error code that is not an AWS code (an echo of the request, say) is dropped, and the
    /// status decides.
    #[test]
    fn codes_that_are_not_aws_codes_are_dropped() {
        for code in [SECRET, "Access Denied", "canary-code", &"A".repeat(65)] {
            let err = classify(Call::GetAuthorizationToken, service(403, Some(code)));
            assert_eq!(
                err.to_string(),
                "ECR refused the credentials: ecr:GetAuthorizationToken: HTTP 403",
                "{code}"
            );
        }
    }

    #[test]
    fn xml_error_bodies() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#;
        assert_eq!(
            xml_error_code(body).as_deref(),
            Some("InvalidClientTokenId")
        );
        assert_eq!(xml_error_code(b"{\"__type\":\"X\"}"), None);
        assert_eq!(xml_error_code(&[0xff, 0xfe]), None);
    }

    #[test]
    fn request_debug_hides_the_secret_access_key() {
        let secret = Secret::new(SECRET);
        let shown = format!("{:?}", request(&secret));
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"), "{shown}");
    }
}
