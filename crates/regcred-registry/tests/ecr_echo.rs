//! An ECR (or STS) endpoint whose error answers echo the keys it was given — as is, upper-cased,
//! in pieces, percent-encoded, base64 without padding, inside HTML, in `message`, `Message` and
//! plain-text bodies — must not get any of it into the [`MintError`] that ends up as a pull
//! secret's `lastError`. The endpoint is a local fake: moto never echoes.

mod oauth_endpoint;

use oauth_endpoint::FakeEndpoint;
use regcred_core::secret::Secret;
use regcred_registry::provider::ecr::{mint, EcrRequest};
use regcred_registry::provider::MintError;
use regcred_testkit::{echo_text, leaked_forms};
use serde_json::json;

static SYSTEM_ROOTS: regcred_registry::trust::TrustStore =
    regcred_registry::trust::TrustStore::system();

const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn assert_nothing_echoed(case: &str, err: &MintError) {
    let shown = format!("{err}\n{err:?}");
    let leaked = leaked_forms(&shown, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    assert!(leaked.is_empty(), "{case}: {leaked:?} leaked into {shown}");
    assert!(
        !shown.contains("invalid credentials") && !shown.contains("<html>"),
        "{case}: the endpoint's text leaked into {shown}"
    );
}

#[tokio::test]
async fn echoing_error_answers_leave_no_trace() {
    let echo = echo_text(ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    let cases: Vec<(&str, u16, String, &str)> = vec![
        (
            "JSON refusal",
            400,
            json!({"__type": "UnrecognizedClientException", "message": echo}).to_string(),
            "ECR refused the credentials: ecr:GetAuthorizationToken: UnrecognizedClientException (HTTP 400)",
        ),
        (
            "JSON refusal, capitalised",
            403,
            json!({"__type": "AccessDeniedException", "Message": echo}).to_string(),
            "ECR refused the credentials: ecr:GetAuthorizationToken: AccessDeniedException (HTTP 403)",
        ),
        (
            "a code that is an echo",
            403,
            json!({"__type": SECRET_ACCESS_KEY, "message": echo}).to_string(),
            "ECR refused the credentials: ecr:GetAuthorizationToken: HTTP 403",
        ),
        (
            "XML refusal",
            403,
            format!(
                "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>{echo}</Message></Error></ErrorResponse>"
            ),
            "ECR refused the credentials: ecr:GetAuthorizationToken: SignatureDoesNotMatch (HTTP 403)",
        ),
        (
            "HTML outage",
            502,
            format!("<html><body>{echo}</body></html>"),
            "ECR is unavailable: ecr:GetAuthorizationToken: HTTP 502",
        ),
    ];
    for (case, status, body, expected) in cases {
        let endpoint = FakeEndpoint::start(move |_| (status, body.clone())).await;
        let url = endpoint.url("");
        let secret = Secret::new(SECRET_ACCESS_KEY);
        let err = mint(&EcrRequest {
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: &secret,
            region: "us-east-1",
            registry_id: None,
            role_arn: None,
            endpoint_url: Some(&url),
            trust: &SYSTEM_ROOTS,
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), expected, "{case}");
        assert_nothing_echoed(case, &err);
    }
}
