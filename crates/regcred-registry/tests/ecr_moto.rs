//! The ECR provider against the real moto AWS emulator (regcred-testkit's `Moto`, installed into
//! a virtualenv by `scripts/setup`): the official SDK's GetAuthorizationToken and STS AssumeRole
//! calls, what comes back, and how failures are classified when moto is down or enforces IAM.

use regcred_core::secret::Secret;
use regcred_registry::provider::ecr::{mint, EcrRequest};
use regcred_registry::provider::MintError;
use regcred_testkit::Moto;

static SYSTEM_ROOTS: regcred_registry::trust::TrustStore =
    regcred_registry::trust::TrustStore::system();

/// Any key pair works on a moto that does not enforce IAM.
const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// 2015-01-01T00:00:00Z, moto's `expiresAt` for every token.
const MOTO_EXPIRES_AT_MS: i64 = 1_420_070_400_000;

fn request<'a>(moto_url: &'a str, secret: &'a Secret) -> EcrRequest<'a> {
    EcrRequest {
        access_key_id: ACCESS_KEY_ID,
        secret_access_key: secret,
        region: "us-east-1",
        registry_id: None,
        role_arn: None,
        endpoint_url: Some(moto_url),
        trust: &SYSTEM_ROOTS,
    }
}

/// Neither the error's `Display` nor its `Debug` shows any of `secrets`.
#[track_caller]
fn assert_no_leak(err: &MintError, secrets: &[&str]) {
    let shown = format!("{err}\n{err:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "secret leaked: {shown}");
    }
}

#[tokio::test]
async fn mint_returns_what_get_authorization_token_answers() {
    let moto = Moto::start().await;
    let url = moto.endpoint_url();
    let secret = Secret::new(SECRET_ACCESS_KEY);

    let minted = mint(&request(&url, &secret)).await.unwrap();

    assert_eq!(minted.username, "AWS");
    assert!(!minted.password.is_empty());
    // Moto's token is `AWS:<account>-auth-token`; the password is the part after `AWS:`.
    assert_eq!(minted.password.expose(), "123456789012-auth-token");
    assert_eq!(
        minted.endpoint.as_deref(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com")
    );
    // Already in the past: reported as given, the refresher decides what that means.
    assert_eq!(minted.expires_at_ms, Some(MOTO_EXPIRES_AT_MS));
    assert!(!format!("{minted:?}").contains("auth-token"));
}

#[tokio::test]
async fn a_registry_id_selects_the_registry_the_endpoint_names() {
    let moto = Moto::start().await;
    let url = moto.endpoint_url();
    let secret = Secret::new(SECRET_ACCESS_KEY);

    let minted = mint(&EcrRequest {
        registry_id: Some("210987654321"),
        ..request(&url, &secret)
    })
    .await
    .unwrap();

    assert_eq!(
        minted.endpoint.as_deref(),
        Some("210987654321.dkr.ecr.us-east-1.amazonaws.com")
    );
    assert_eq!(minted.password.expose(), "210987654321-auth-token");
}

#[tokio::test]
async fn the_region_is_the_one_asked_for_and_a_missing_or_malformed_one_is_refused_before_any_call()
{
    let moto = Moto::start().await;
    let url = moto.endpoint_url();
    let secret = Secret::new(SECRET_ACCESS_KEY);

    let minted = mint(&EcrRequest {
        region: "eu-west-1",
        ..request(&url, &secret)
    })
    .await
    .unwrap();
    assert_eq!(
        minted.endpoint.as_deref(),
        Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    );

    let calls_before = moto.log().matches("POST / ").count();
    for (region, expected) in [
        ("", "ECR: a region is required (like us-east-1)"),
        (
            "eu west 1",
            "ECR: the region is not an AWS region name (like us-east-1)",
        ),
        (
            "ecr.eu-west-1.amazonaws.com",
            "ECR: the region is not an AWS region name (like us-east-1)",
        ),
    ] {
        let err = mint(&EcrRequest {
            region,
            ..request(&url, &secret)
        })
        .await
        .unwrap_err();
        assert!(matches!(err, MintError::Invalid { .. }), "{err:?}");
        assert!(!err.is_transient());
        assert_eq!(err.to_string(), expected);
    }
    assert_eq!(
        moto.log().matches("POST / ").count(),
        calls_before,
        "a malformed region must not reach AWS:\n{}",
        moto.log()
    );
}

#[tokio::test]
async fn moto_stopped_is_transient_and_minting_works_again_after_a_restart() {
    let mut moto = Moto::start().await;
    let url = moto.endpoint_url();
    let secret = Secret::new(SECRET_ACCESS_KEY);
    let role = "arn:aws:iam::111122223333:role/puller";

    mint(&request(&url, &secret)).await.unwrap();

    moto.stop();
    let err = mint(&request(&url, &secret)).await.unwrap_err();
    assert!(matches!(err, MintError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        err.to_string()
            .starts_with("ECR is unavailable: ecr:GetAuthorizationToken: no answer ("),
        "{err}"
    );
    assert_no_leak(&err, &[SECRET_ACCESS_KEY]);

    // With a role, the first call to fail is STS's.
    let err = mint(&EcrRequest {
        role_arn: Some(role),
        ..request(&url, &secret)
    })
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("ECR is unavailable: sts:AssumeRole: no answer ("),
        "{err}"
    );
    assert_no_leak(&err, &[SECRET_ACCESS_KEY]);

    moto.restart().await;
    let minted = mint(&request(&url, &secret)).await.unwrap();
    assert_eq!(minted.password.expose(), "123456789012-auth-token");
    mint(&EcrRequest {
        role_arn: Some(role),
        ..request(&url, &secret)
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_role_is_assumed_through_sts_and_its_credentials_mint_the_token() {
    let moto = Moto::start().await;
    let url = moto.endpoint_url();
    let secret = Secret::new(SECRET_ACCESS_KEY);

    let minted = mint(&EcrRequest {
        role_arn: Some("arn:aws:iam::111122223333:role/ecr-puller"),
        ..request(&url, &secret)
    })
    .await
    .unwrap();

    // Moto maps the temporary keys AssumeRole hands out to the role's account, and answers
    // GetAuthorizationToken for the caller's account: the token is the role's, not the user's.
    assert_eq!(minted.username, "AWS");
    assert_eq!(minted.password.expose(), "111122223333-auth-token");
    assert_eq!(
        minted.endpoint.as_deref(),
        Some("111122223333.dkr.ecr.us-east-1.amazonaws.com")
    );
    assert_eq!(minted.expires_at_ms, Some(MOTO_EXPIRES_AT_MS));
}

#[tokio::test]
async fn keys_moto_does_not_accept_are_rejected_permanently_without_leaking_them() {
    let moto = Moto::start_enforcing_iam().await;
    let url = moto.endpoint_url();
    let allowed = moto.allowed_keys().clone();
    let denied = moto.denied_keys().clone();
    let allowed_secret = Secret::new(allowed.secret_access_key.clone());
    let denied_secret = Secret::new(denied.secret_access_key.clone());
    let wrong_secret = Secret::new(SECRET_ACCESS_KEY);
    let secrets = [
        allowed.secret_access_key.as_str(),
        denied.secret_access_key.as_str(),
        SECRET_ACCESS_KEY,
    ];

    // The allowed user's keys work, so the refusals below are about the keys, not the setup.
    let minted = mint(&EcrRequest {
        access_key_id: &allowed.access_key_id,
        ..request(&url, &allowed_secret)
    })
    .await
    .unwrap();
    assert_eq!(minted.password.expose(), "123456789012-auth-token");

    let cases: [(EcrRequest<'_>, &str); 4] = [
        (
            // A key id moto's IAM never issued.
            request(&url, &wrong_secret),
            "ECR refused the credentials: ecr:GetAuthorizationToken: InvalidClientTokenId \
             (HTTP 403)",
        ),
        (
            // A real key id with the wrong secret.
            EcrRequest {
                access_key_id: &allowed.access_key_id,
                ..request(&url, &wrong_secret)
            },
            "ECR refused the credentials: ecr:GetAuthorizationToken: SignatureDoesNotMatch \
             (HTTP 403)",
        ),
        (
            // Valid keys of a user without ecr:GetAuthorizationToken.
            EcrRequest {
                access_key_id: &denied.access_key_id,
                ..request(&url, &denied_secret)
            },
            "ECR refused the credentials: ecr:GetAuthorizationToken: AccessDenied (HTTP 403)",
        ),
        (
            // Valid keys of a user without sts:AssumeRole.
            EcrRequest {
                access_key_id: &denied.access_key_id,
                role_arn: Some("arn:aws:iam::111122223333:role/ecr-puller"),
                ..request(&url, &denied_secret)
            },
            "ECR refused the credentials: sts:AssumeRole: AccessDenied (HTTP 403)",
        ),
    ];
    for (req, expected) in cases {
        let err = mint(&req).await.unwrap_err();
        assert!(matches!(err, MintError::Rejected { .. }), "{err:?}");
        assert!(!err.is_transient());
        assert_eq!(err.to_string(), expected);
        assert_no_leak(&err, &secrets);
    }
}
