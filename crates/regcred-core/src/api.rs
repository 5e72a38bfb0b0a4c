//! The wire types of the RPC-over-HTTP API, shared by the server and the CLI so both
//! sides agree by construction. Requests refuse unknown fields; responses never carry secret
//! material except the one-time secrets of `token.create` and the rendered documents of
//! `pullSecret.render`, which exist to release material to callers allowed to have it.

use serde::{Deserialize, Serialize};

use crate::credential::{CredentialSpec, FieldError, Kind, Params};

/// The envelope of every answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// `error` of a failed answer. Clients branch on `code`, never on `message`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// One of [`ErrorCode`](crate::codes::ErrorCode)'s strings.
    #[cfg_attr(feature = "schema", schemars(with = "crate::codes::ErrorCode"))]
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ErrorItem>,
    /// The id of the request that failed (also in the `X-Request-Id` header), for matching an
    /// answer to the server's log line.
    #[serde(default, rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A detail of an error: a field that failed validation, or a resource in the way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorItem {
    /// The field that failed; for a failed pre-flight check, the pull secret tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// An error code for a field; for a failed pre-flight check, the attempt's verification
    /// outcome (`unauthorized`, `not_found`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

impl From<FieldError> for ErrorItem {
    fn from(e: FieldError) -> Self {
        ErrorItem {
            field: Some(e.field),
            code: Some(e.code.to_string()),
            message: e.message,
        }
    }
}

/// Project-scoped roles, weakest last. `admin` is global and not a project role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Owner,
    Editor,
    Deployer,
    Viewer,
    Puller,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Deployer => "deployer",
            Role::Viewer => "viewer",
            Role::Puller => "puller",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Admin,
            Role::Owner,
            Role::Editor,
            Role::Deployer,
            Role::Viewer,
            Role::Puller,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

// ---- projects ----

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

/// Answer of `project.delete`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProjectDeleted {
    pub name: String,
}

// ---- locations ----

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocationCreate {
    pub name: String,
    #[cfg_attr(feature = "schema", schemars(with = "LocationKind"))]
    pub kind: String,
    #[serde(default)]
    pub spec: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocationRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub name: String,
    pub kind: LocationKind,
    pub spec: serde_json::Value,
    pub created_at: String,
    pub created_by: String,
}

/// Answer of `location.delete`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocationDeleted {
    pub name: String,
}

/// Where a location's workloads run, which decides how delivery reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LocationKind {
    /// A cluster: Secrets in namespaces, ServiceAccounts, Deployments.
    Kubernetes,
    /// A Docker/Podman host: entries in an auth file.
    Docker,
    /// A GitOps directory: manifests written as files.
    Manifests,
}

impl LocationKind {
    pub const ALL: [LocationKind; 3] = [
        LocationKind::Kubernetes,
        LocationKind::Docker,
        LocationKind::Manifests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Kubernetes => "kubernetes",
            LocationKind::Docker => "docker",
            LocationKind::Manifests => "manifests",
        }
    }

    /// The kind a string names; `None` for anything else.
    pub fn parse(s: &str) -> Option<LocationKind> {
        LocationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `spec` of a `kubernetes` location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesSpec {
    /// Path of a kubeconfig file on the server; absent with `inCluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default)]
    pub in_cluster: bool,
    /// Namespace for a project's Secrets; `{project}` is replaced by the project name.
    #[serde(default = "default_namespace_template")]
    pub namespace_template: String,
    /// More namespaces of a project: those whose labels match this selector, with `{project}`
    /// replaced (e.g. `regcred.dev/project={project}`). New matching namespaces get the project's
    /// pull secrets on the next delivery pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    /// ServiceAccounts in each target namespace whose `imagePullSecrets` get the pull secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
}

fn default_namespace_template() -> String {
    "{project}".to_owned()
}

/// Which auth-file dialect a `docker` location maintains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthFileFormat {
    /// Docker `config.json`.
    #[default]
    Docker,
    /// containers `auth.json` (podman, skopeo, buildah).
    Containers,
}

/// `spec` of a `docker` location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DockerSpec {
    pub path: String,
    #[serde(default)]
    pub format: AuthFileFormat,
}

/// `spec` of a `manifests` location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ManifestsSpec {
    pub directory: String,
    #[serde(default = "default_namespace_template")]
    pub namespace_template: String,
    /// The cluster's sealed-secrets certificate (`kubeseal --fetch-cert`), a path on the server:
    /// Secrets are written as `SealedSecret`s that only that cluster can open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealing_cert_file: Option<String>,
    /// Write plain Secrets when no sealing certificate is configured. Off by default: a
    /// directory meant for git must not receive credentials.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plaintext: bool,
}

// ---- pull secrets ----

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretCreate {
    pub project: String,
    pub location: String,
    pub name: String,
    /// Inferred from the server when absent.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Kind>"))]
    pub kind: Option<String>,
    pub spec: CredentialSpec,
    /// Check the credentials against the registry after storing them.
    #[serde(default)]
    pub verify: bool,
    /// Check that this image can be pulled (implies `verify`).
    #[serde(default)]
    pub image: Option<String>,
    /// Rotate the existing pull secret keeping its secret: the spec leaves every secret field
    /// out and changes neither the kind nor the server (the secret never goes to another
    /// registry); the rest of the spec replaces the current one.
    #[serde(default)]
    pub keep_secret: bool,
}

/// `pullSecret.test`: validates a pull secret's spec as `pullSecret.create` would and, when
/// asked, checks the credentials against the registry — storing nothing ("Test Connection"
/// before saving).
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretTest {
    pub project: String,
    pub location: String,
    /// Inferred from the server when absent.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Kind>"))]
    pub kind: Option<String>,
    pub spec: CredentialSpec,
    /// Check the credentials against the registry (registry-level without `image`).
    #[serde(default)]
    pub check: bool,
    /// Check that this image can be pulled (implies `check`).
    #[serde(default)]
    pub image: Option<String>,
    /// Test a rotation that keeps the secret: the stored secret of the pull secret `name` fills
    /// the spec, which leaves every secret field out and keeps the kind and server (as
    /// `pullSecret.create` with `keepSecret`).
    #[serde(default)]
    pub keep_secret: bool,
    /// The pull secret whose secret `keepSecret` keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Answer of `pullSecret.test`: what would be stored (never the secret) and the check.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullSecretTested {
    pub kind: Kind,
    /// The server as it would be stored (normalized).
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Present when a check was asked for; its `revision` is 0 (nothing is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `pullSecret.verify`: a registry-level check, or a pull check of `image`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretVerify {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl PullSecretVerify {
    pub fn target(&self) -> PullSecretRef {
        PullSecretRef {
            id: self.id.clone(),
            project: self.project.clone(),
            location: self.location.clone(),
            name: self.name.clone(),
        }
    }
}

/// `image.check`: can this image be pulled in this project and location?
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageCheck {
    pub image: String,
    pub project: String,
    pub location: String,
}

/// One credential tried by `image.check`; `pullSecret` absent for the anonymous attempt.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CheckAttempt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
    pub verification: Verification,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImageChecked {
    pub image: String,
    /// The outcome of the attempt that decided: the first `ok`, else the last one tried.
    pub outcome: String,
    pub hint: String,
    /// The pull secret that works, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
    /// Every attempt, in the order the runtime would make them.
    pub attempts: Vec<CheckAttempt>,
    pub round_trips: u32,
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Addresses one pull secret: by `id`, or by project, location and name.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretDelete {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Delete even when deployments reference it.
    #[serde(default)]
    pub force: bool,
}

impl PullSecretDelete {
    pub fn target(&self) -> PullSecretRef {
        PullSecretRef {
            id: self.id.clone(),
            project: self.project.clone(),
            location: self.location.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Only pull secrets of this kind (`ghcr`, `ecr`, …). A page then holds up to `limit` of
    /// them; when few match, a page may hold fewer (even none) and still have a next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Kind>"))]
    pub kind: Option<String>,
    /// At most this many items (1 to 1000; 100 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Where to go on: `nextPageToken` of the previous answer (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// Something that references a pull secret (a deployment, from a later version on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    pub kind: String,
    pub name: String,
}

/// A pull secret as every read shows it: metadata only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullSecret {
    pub id: String,
    pub project: String,
    pub location: String,
    pub name: String,
    pub kind: Kind,
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub params: Params,
    /// Keyed hash of the secret material: equal fingerprints mean equal credentials.
    pub fingerprint: String,
    pub revision: u64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    #[serde(default)]
    pub used_by: Vec<Referrer>,
    /// The last credential check of this revision; absent until checked and after a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// For minted kinds (ECR, GCR/GAR access tokens, ACR exchange): the current credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<MintedStatus>,
    /// Where the pull secret is delivered, and how that went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<DeliveryStatus>,
}

/// One delivery of a pull secret or deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    pub location: String,
    /// `secret:<namespace>/<name>`, `serviceaccount:<namespace>/<account>`, `auth:<key>`,
    /// `file:<path>`, `deployment:<namespace>/<name>`.
    pub target: String,
    pub state: DeliveryState,
    /// The revision delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Why it is pending or failed, as a stable code (`namespace_missing`, `not_owned`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::codes::DeliveryCode>")
    )]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub updated_at: String,
}

/// `location.sync`: one delivery pass of a location, now.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocationSync {
    pub name: String,
}

/// What a delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub location: String,
    pub applied: u64,
    pub deleted: u64,
    pub up_to_date: u64,
    pub pending: u64,
    pub errors: u64,
}

/// The state of a minted credential; never the credential itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MintedStatus {
    /// When the current credential expires (absent: unknown, or none minted yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Last successful mint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at: Option<String>,
    pub next_refresh_at: String,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The registry endpoint the provider named (ECR's proxy endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The result of checking credentials against the registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `ok`, `unauthorized`, `denied`, `not_found`, `rate_limited`, `expired`, `unreachable`,
    /// `tls_error` or `not_a_registry`.
    pub outcome: String,
    /// What to do about it, in one line, in regcred's words.
    pub hint: String,
    /// What happened, as facts: nothing a registry says in free text is kept.
    pub detail: VerificationDetail,
    /// The image checked; absent for a registry-level check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub revision: u64,
    pub checked_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub round_trips: u32,
    pub elapsed_ms: u64,
}

/// The facts behind a verification's outcome. Everything from the registry is a status or an
/// error code that passed its grammar (OCI `^[A-Z_]{1,64}$`, OAuth2 `^[a-z_]{1,64}$`); the rest
/// is regcred's own vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerificationDetail {
    /// The request that decided: `ping` (`GET /v2/`), `manifest` or `token`.
    pub step: String,
    /// Its HTTP status; absent when nothing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error codes it sent, e.g. `UNAUTHORIZED`, `insufficient_scope`, `invalid_grant`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    /// The authorization it carried: `basic` or `bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Why it got no answer, e.g. `refused`, `timeout`, `dns`, `tls_unknown_issuer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// What regcred concluded beyond status and codes, e.g. `no_challenge`,
    /// `credentials_not_proven`, `plain_http_refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// A 429's `Retry-After`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// Every request of the check, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<VerificationRequest>,
}

/// One request of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerificationRequest {
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

impl VerificationRequest {
    fn summary(&self) -> String {
        match (&self.status, &self.transport) {
            (Some(status), _) => format!("{} {status}", self.step),
            (None, Some(transport)) => format!("{} {transport}", self.step),
            (None, None) => self.step.clone(),
        }
    }
}

impl VerificationDetail {
    /// One line for people.
    ///
    /// ```
    /// use regcred_core::api::{VerificationDetail, VerificationRequest};
    /// let d = VerificationDetail {
    ///     step: "manifest".into(),
    ///     status: Some(401),
    ///     codes: vec!["UNAUTHORIZED".into()],
    ///     auth: Some("basic".into()),
    ///     requests: vec![
    ///         VerificationRequest { step: "manifest".into(), status: Some(401), transport: None },
    ///         VerificationRequest { step: "manifest".into(), status: Some(401), transport: None },
    ///     ],
    ///     ..VerificationDetail::default()
    /// };
    /// assert_eq!(d.summary(), "manifest 401 UNAUTHORIZED, with basic; requests: manifest 401, manifest 401");
    /// ```
    pub fn summary(&self) -> String {
        let mut out = VerificationRequest {
            step: self.step.clone(),
            status: self.status,
            transport: self.transport.clone(),
        }
        .summary();
        if !self.codes.is_empty() {
            out.push(' ');
            out.push_str(&self.codes.join(" "));
        }
        if let Some(auth) = &self.auth {
            out.push_str(&format!(", with {auth}"));
        }
        if let Some(finding) = &self.finding {
            out.push_str(&format!(", {finding}"));
        }
        if let Some(after) = self.retry_after_s {
            out.push_str(&format!(", retry after {after} s"));
        }
        if !self.requests.is_empty() {
            let requests: Vec<String> = self
                .requests
                .iter()
                .map(VerificationRequest::summary)
                .collect();
            out.push_str("; requests: ");
            out.push_str(&requests.join(", "));
        }
        out
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullSecretCreated {
    pub pull_secret: PullSecret,
    /// `false` when an existing pull secret was rotated.
    pub created: bool,
    /// Present when the create asked for a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullSecretDeleted {
    pub id: String,
    pub forced: bool,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet possible (a namespace or ServiceAccount that does not exist yet).
    Pending,
    /// In place at a revision.
    Delivered,
    /// Failed, with a stable code saying why.
    Error,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Error => "error",
        }
    }

    /// The state a stored string names; `None` for anything else.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// What `pullSecret.render` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RenderFormat {
    /// The Kubernetes Secret, as JSON.
    K8sSecretJson,
    /// The Kubernetes Secret, as YAML.
    K8sSecretYaml,
    /// The bare `.dockerconfigjson` document.
    Dockerconfigjson,
    /// Docker `config.json`.
    DockerConfig,
    /// containers `auth.json`.
    AuthJson,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullSecretRender {
    pub project: String,
    pub location: String,
    /// One or more pull secrets of the same project and location, merged into one document.
    pub names: Vec<String>,
    pub format: RenderFormat,
    /// Secret name for the Kubernetes formats; defaults to the first pull secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub format: RenderFormat,
    pub content: String,
}

// ---- deployments ----

/// `deployment.deploy`: the deploy API's `{"name","image","pullSecret"}`, or several pull secrets.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentDeploy {
    pub project: String,
    pub location: String,
    pub name: String,
    pub image: String,
    /// One pull secret, by name or `ps_…` id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
    /// Several pull secrets, by name or id, in the order the runtime should try them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Skip the pre-flight pull check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_verify: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentRef {
    pub project: String,
    pub location: String,
    pub name: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// At most this many items (1 to 1000; 100 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Where to go on: `nextPageToken` of the previous answer (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// A pull secret as a deployment revision used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsedPullSecret {
    pub id: String,
    pub name: String,
    pub revision: u64,
}

/// What one revision of a deployment is: stored, and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    pub image: String,
    pub replicas: u32,
    pub pull_secrets: Vec<UsedPullSecret>,
    /// How the image gets its credentials.
    pub resolution: Resolution,
}

/// How a deployment's image gets its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The pull secrets the deployment names (or, for another project's platform image, those
    /// of the location that apply).
    PullSecrets,
    /// The project's own platform registry, with the credential regcred mints.
    PlatformRegistry,
    /// No credentials: a public pull.
    Public,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::PullSecrets => "pull_secrets",
            Resolution::PlatformRegistry => "platform_registry",
            Resolution::Public => "public",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRevision {
    pub revision: u64,
    #[serde(flatten)]
    pub spec: DeploymentSpec,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub project: String,
    pub location: String,
    pub name: String,
    pub revision: u64,
    #[serde(flatten)]
    pub spec: DeploymentSpec,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// Where the workload was applied or written, and how that went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<DeliveryStatus>,
    /// Every revision, oldest first (`deployment.get` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<DeploymentRevision>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDeployed {
    pub deployment: Deployment,
    /// The pre-flight pull check; absent with `noVerify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<ImageChecked>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Answer of `deployment.delete`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDeleted {
    pub id: String,
    /// What the delivery pass after the delete could not do (always present, maybe empty).
    pub warnings: Vec<String>,
}

// ---- images ----

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageResolve {
    pub image: String,
    pub project: String,
    pub location: String,
    /// `kubelet` or `containers`: whose matching rules decide (default: `containers` for
    /// `docker` locations, `kubelet` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResolvedSecret {
    pub id: String,
    pub name: String,
    pub server: String,
    /// The auth key that matched the image.
    pub matched_key: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImageResolved {
    /// The normalized reference, e.g. `docker.io/library/nginx:latest`.
    pub image: String,
    /// Set when the image is in the platform's own registry of the same project: no pull secret
    /// is needed, regcred mints a short-lived credential.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_project_registry: bool,
    pub registry: String,
    pub repository: String,
    pub rules: String,
    /// Pull secrets that apply, in the order the runtime tries them.
    pub pull_secrets: Vec<ResolvedSecret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

// ---- tokens ----

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenCreate {
    pub name: String,
    /// Absent for the global `admin` role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[cfg_attr(feature = "schema", schemars(with = "Role"))]
    pub role: String,
    /// Lifetime in seconds; absent means the token does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRef {
    pub id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub role: Role,
    pub created_at: String,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    pub token: Token,
    /// The bearer secret, shown this once.
    pub secret: String,
}

// ---- audit ----

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Only events older than this id (for paging backwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    /// At most this many events (1 to 1000; 100 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Where to go on: `nextPageToken` of the previous answer (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Only events whose action starts with this (`pullSecret.` for every pull-secret action).
    /// With any filter a page may hold fewer than `limit` events and still have a next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only events with this outcome (`ok`, `denied`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Only events of this actor (a token id, or `regcred` for background work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: i64,
    pub time: String,
    pub actor: String,
    pub channel: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub target: String,
    pub outcome: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Answer of the list methods.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// Answer of the list methods that page (`pullSecret.list`, `deployment.list`, `audit.list`):
/// one page of items, and the token of the next page, absent on the last one.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `pageToken` to get the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

// ---- the platform registry ----

/// What a platform-registry key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum KeyAccess {
    /// Pull.
    Read,
    /// Pull and push.
    ReadWrite,
}

impl KeyAccess {
    pub const ALL: [KeyAccess; 2] = [KeyAccess::Read, KeyAccess::ReadWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAccess::Read => "read",
            KeyAccess::ReadWrite => "read-write",
        }
    }

    /// The access a stored or requested string names; `None` for anything else.
    pub fn parse(s: &str) -> Option<KeyAccess> {
        KeyAccess::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryKeyCreate {
    pub project: String,
    pub name: String,
    /// `read` (pull) or `read-write` (pull and push).
    pub access: String,
    /// Lifetime in seconds; absent means the key does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryKeyList {
    pub project: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryKeyRevoke {
    pub project: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistryKey {
    pub id: String,
    pub project: String,
    pub name: String,
    pub access: String,
    /// The username to log in with (any username works; this one names the key).
    pub username: String,
    pub created_at: String,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistryKeyCreated {
    pub key: RegistryKey,
    /// The password, shown this once.
    pub secret: String,
    /// The platform registry host, for `docker login` / a pull secret.
    pub server: String,
}

/// What a registry must be configured with to trust regcred's tokens.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistryCert {
    /// PEM certificate bundle for `auth.token.rootcertbundle`.
    pub certificate: String,
    pub service: String,
    pub issuer: String,
    pub registry: String,
    /// Path of the token endpoint on the regcred server (`auth.token.realm` is its full URL).
    pub realm_path: String,
}

// ---- credentials for runtimes (Docker credential helper, kubelet plugin) ----

/// `credential.get`: the credentials a runtime needs for one image or one registry server.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialGet {
    pub project: String,
    pub location: String,
    /// An image: every pull secret that applies, in the kubelet's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A registry server as Docker names it (`https://index.docker.io/v1/`, `ghcr.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialEntry {
    /// The auth key the runtime matches (`ghcr.io`, `https://index.docker.io/v1/`).
    pub key: String,
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialEntries {
    pub entries: Vec<CredentialEntry>,
    /// How long a client may cache these (shortened for credentials that expire sooner).
    pub cache_seconds: u64,
}

/// `credential.list`: the registries of a project and location that `credential.get` answers
/// for, as Docker's credential-helper `list` shows them.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialList {
    pub project: String,
    pub location: String,
}

/// One registry a runtime can get credentials for: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialServer {
    /// The auth key, as in [`CredentialEntry::key`].
    pub server: String,
    /// Empty for kinds whose username is decided when the credential is minted (ECR).
    pub username: String,
}
