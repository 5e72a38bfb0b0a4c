//! The command line, parsed without IO (clap derive, `REGCRED_…` environment variables). What
//! the flags mean is resolved later, in the command modules, where IO is allowed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// regcred keeps the credentials that pull container images from private registries.
#[derive(Debug, Parser)]
#[command(name = "regcred", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command shares.
#[derive(Debug, Args)]
pub struct Global {
    /// Data directory of the local server (key, admin token, database, server address).
    #[arg(long, global = true, env = "REGCRED_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// URL of the regcred API; default: the address `regcred serve` left in the data directory, else http://127.0.0.1:7700.
    #[arg(long, global = true, env = "REGCRED_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Access token (rc_…); default: the bootstrap admin token in the data directory.
    #[arg(
        long,
        global = true,
        env = "REGCRED_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Read the access token from this file.
    #[arg(long, global = true, env = "REGCRED_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Output format; default: a table on a terminal, JSON otherwise.
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<Output>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded SQLite in the data directory, zero configuration).
    Serve(ServeArgs),
    /// Create, list, inspect, rotate, delete and import pull secrets.
    #[command(name = "pullsecret", alias = "pull-secret", alias = "ps")]
    PullSecret {
        #[command(subcommand)]
        command: PullSecretCommand,
    },
    /// Manage projects.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Deploy images with their pull secrets; list, inspect and delete deployments.
    Deployment {
        #[command(subcommand)]
        command: DeploymentCommand,
    },
    /// Manage locations (where workloads run).
    Location {
        #[command(subcommand)]
        command: LocationCommand,
    },
    /// Manage access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Ask about images.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Render credentials in the formats of kubectl, Docker and podman.
    Render {
        #[command(subcommand)]
        command: RenderCommand,
    },
    /// Read the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Registry kinds and their fields; the platform registry's certificate.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Keys for the platform's own registry.
    #[command(name = "registrykey", alias = "registry-key")]
    RegistryKey {
        #[command(subcommand)]
        command: RegistryKeyCommand,
    },
    /// Kubelet image credential provider (credentialprovider.kubelet.k8s.io/v1): a request on stdin, the response on stdout.
    KubeletCredentialProvider(KubeletArgs),
}

/// Where the kubelet plugin asks for credentials; default: the helper config file.
#[derive(Debug, Args)]
pub struct KubeletArgs {
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: Option<String>,
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: Option<String>,
    /// Longest time the kubelet may reuse an answer (cacheDuration), so how long a rotation may
    /// take to reach it; 0 also keeps no offline copy. Default: cacheSeconds in the helper config, else 30.
    #[arg(long, env = "REGCRED_HELPER_CACHE_SECONDS", value_name = "SECONDS")]
    pub cache_seconds: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum RegistryKeyCommand {
    /// Create a key; its secret is printed once.
    Create {
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
        #[arg(long)]
        name: String,
        /// read (pull) or read-write (pull and push).
        #[arg(long, default_value = "read")]
        access: String,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl_seconds: Option<u64>,
    },
    List {
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
    },
    Revoke {
        name: String,
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "REGCRED_LISTEN", default_value = "127.0.0.1:7700")]
    pub listen: String,
    /// Master key file (base64 of 32 bytes); default: master.key in the data directory, created on first start.
    #[arg(long, env = "REGCRED_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "REGCRED_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// A registry (host[:port]) reached over plain HTTP; repeat for several. No other is.
    #[arg(
        long = "insecure-registry",
        env = "REGCRED_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub insecure_registries: Vec<String>,
    /// PEM bundle of CAs trusted for registries besides the built-in roots; repeatable.
    #[arg(
        long = "registry-ca-file",
        env = "REGCRED_REGISTRY_CA_FILES",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub registry_ca_files: Vec<PathBuf>,
    /// Timeout of each request to a registry, in seconds.
    #[arg(
        long,
        env = "REGCRED_REGISTRY_TIMEOUT",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub registry_timeout: u64,
    /// Be the token service of the platform's own registry at this host (e.g. registry.example.com).
    #[arg(long, env = "REGCRED_PLATFORM_REGISTRY", value_name = "HOST")]
    pub platform_registry: Option<String>,
    /// The registry's `auth.token.service`; default: the registry host.
    #[arg(long, env = "REGCRED_PLATFORM_SERVICE", requires = "platform_registry")]
    pub platform_service: Option<String>,
    /// ECR (and STS) endpoint, e.g. a local AWS emulator; default: AWS.
    #[arg(long, env = "REGCRED_ECR_ENDPOINT_URL", value_name = "URL")]
    pub ecr_endpoint_url: Option<String>,
    /// Entra ID authority for ACR exchange-mode pull secrets.
    #[arg(
        long,
        env = "REGCRED_AZURE_AUTHORITY_URL",
        default_value = "https://login.microsoftonline.com",
        value_name = "URL"
    )]
    pub azure_authority_url: String,
    /// The registry's `auth.token.issuer`.
    #[arg(long, env = "REGCRED_PLATFORM_ISSUER", default_value = "regcred")]
    pub platform_issuer: String,
    /// How often every location is checked for deliveries to make (new namespaces, changed
    /// objects) besides the passes that changes trigger.
    #[arg(
        long,
        env = "REGCRED_DELIVERY_INTERVAL",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub delivery_interval: u64,
    /// Seconds a client may take to send a request's headers (from connecting, or from the end
    /// of the previous response); slower connections are closed.
    #[arg(
        long,
        env = "REGCRED_HEADER_READ_TIMEOUT",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub header_read_timeout: u64,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    #[arg(
        long,
        env = "REGCRED_IDLE_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub idle_timeout: u64,
    /// Seconds a request body may take to arrive; a stalled body is answered 408 request_timeout.
    #[arg(
        long,
        env = "REGCRED_BODY_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub body_timeout: u64,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[arg(
        long,
        env = "REGCRED_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_name = "N"
    )]
    pub max_connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where a pull secret lives.
#[derive(Debug, Args, Clone)]
pub struct Scope {
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: String,
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: String,
}

/// Where a secret value comes from. At most one source.
#[derive(Debug, Args, Clone, Default)]
pub struct PasswordSource {
    /// Read the password or token from standard input.
    #[arg(long, conflicts_with_all = ["password_file", "password"])]
    pub password_stdin: bool,
    /// Read the password or token from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub password_file: Option<PathBuf>,
    /// The password itself (lands in shell history; prefer --password-stdin). Also REGCRED_PASSWORD.
    #[arg(long, alias = "token-value")]
    pub password: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PullSecretCommand {
    /// Create a pull secret, or rotate it if the name exists.
    Create(Box<PullSecretCreateArgs>),
    /// List pull secrets.
    List {
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
    },
    /// Show one pull secret (never its material).
    Get {
        name: Option<String>,
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
        /// Address it by id instead of name.
        #[arg(long, conflicts_with = "name")]
        id: Option<String>,
    },
    /// Delete a pull secret.
    Delete {
        name: Option<String>,
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
        #[arg(long, conflicts_with = "name")]
        id: Option<String>,
        /// Delete even when deployments use it.
        #[arg(long)]
        force: bool,
    },
    /// Import every entry of a Docker config.json or containers auth.json.
    Import(ImportArgs),
    /// Check the credentials against the registry (with --image: can that image be pulled?).
    Verify {
        name: Option<String>,
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
        #[arg(long, conflicts_with = "name")]
        id: Option<String>,
        /// Check a pull of this image instead of the registry login alone.
        #[arg(long)]
        image: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PullSecretCreateArgs {
    #[command(flatten)]
    pub scope: Scope,
    #[arg(long)]
    pub name: String,
    /// docker, ghcr, quay, custom, acr, gcr, gar, ecr or public; inferred from --server when left out.
    #[arg(long)]
    pub kind: Option<String>,
    /// Registry host, e.g. ghcr.io or localhost:5000 (default: Docker Hub).
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[command(flatten)]
    pub password: PasswordSource,
    #[arg(long)]
    pub email: Option<String>,
    /// GCR/GAR: service-account key JSON file.
    #[arg(long, value_name = "FILE")]
    pub service_account_key_file: Option<PathBuf>,
    /// GAR/ECR region.
    #[arg(long)]
    pub region: Option<String>,
    /// ECR: access key id.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// ECR: file holding the secret access key (or REGCRED_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "FILE")]
    pub secret_access_key_file: Option<PathBuf>,
    /// ECR: 12-digit registry (account) id.
    #[arg(long)]
    pub registry_id: Option<String>,
    /// ECR: role to assume.
    #[arg(long)]
    pub role_arn: Option<String>,
    /// GCR/GAR: json_key or access_token.
    #[arg(long)]
    pub mode: Option<String>,
    /// Check the credentials against the registry once stored.
    #[arg(long)]
    pub verify: bool,
    /// Check that this image can be pulled with them (implies --verify).
    #[arg(long)]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub scope: Scope,
    /// The file to import; default: ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Show what would be imported without creating anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    List,
    Get {
        name: String,
    },
    Delete {
        name: String,
    },
}

// Parsed once per run; boxing the create arguments would only obscure the clap derive.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum LocationCommand {
    Create(LocationCreateArgs),
    List,
    Get {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Run a delivery pass over the location now.
    Sync {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Deploy (or redeploy) an image; checks first that it can be pulled.
    Deploy(DeployArgs),
    List {
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
    },
    /// One deployment, its revisions and where it was delivered.
    Get {
        name: String,
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: String,
    },
    Delete {
        name: String,
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
        #[arg(long, env = "REGCRED_LOCATION")]
        location: String,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: String,
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: String,
    /// Deployment name; from the file when --file is given.
    #[arg(long)]
    pub name: Option<String>,
    /// Image reference; from the file when --file is given.
    #[arg(long)]
    pub image: Option<String>,
    /// A pull secret, by name or id (repeat for several, tried in order).
    #[arg(long = "pull-secret", value_name = "NAME|ID")]
    pub pull_secrets: Vec<String>,
    #[arg(long)]
    pub replicas: Option<u32>,
    /// A deploy file: `{name, image, pullSecret}` as the deploy API takes it, or a service file
    /// with `name` and `container.image` / `container.pull_secret` (YAML or JSON).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Skip the pre-flight pull check.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
pub struct LocationCreateArgs {
    pub name: String,
    /// kubernetes, docker or manifests.
    #[arg(long)]
    pub kind: String,
    /// kubernetes: kubeconfig path on the server.
    #[arg(long)]
    pub kubeconfig: Option<String>,
    /// kubernetes: kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// kubernetes: use the server's in-cluster service account.
    #[arg(long)]
    pub in_cluster: bool,
    /// kubernetes, manifests: namespace per project, e.g. apps-{project}.
    #[arg(long)]
    pub namespace_template: Option<String>,
    /// docker: auth file to maintain.
    #[arg(long)]
    pub path: Option<String>,
    /// docker: docker (config.json) or containers (auth.json).
    #[arg(long)]
    pub format: Option<String>,
    /// manifests: directory to write into.
    #[arg(long)]
    pub directory: Option<String>,
    /// kubernetes: also deliver to namespaces matching this label selector ({project} is replaced).
    #[arg(long)]
    pub namespace_selector: Option<String>,
    /// kubernetes: add the pull secrets to this ServiceAccount in each namespace (repeatable).
    #[arg(long = "service-account", value_name = "NAME")]
    pub service_accounts: Vec<String>,
    /// manifests: the cluster's sealed-secrets certificate (kubeseal --fetch-cert), a path on the server.
    #[arg(long, value_name = "FILE")]
    pub sealing_cert_file: Option<String>,
    /// manifests: write plain Secrets when no sealing certificate is given.
    #[arg(long)]
    pub allow_plaintext: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, owner, editor, deployer, viewer or puller.
        #[arg(long)]
        role: String,
        #[arg(long)]
        project: Option<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl_seconds: Option<u64>,
    },
    List {
        #[arg(long)]
        project: Option<String>,
    },
    Revoke {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Can this image be pulled here? Tries the pull secrets that apply against the registry.
    Check {
        image: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Which pull secrets apply to an image, in the order the runtime tries them.
    Resolve {
        image: String,
        #[command(flatten)]
        scope: Scope,
        /// kubelet (default) or containers.
        #[arg(long)]
        rules: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        before: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// The pull-secret kinds and their fields.
    Kinds,
    /// The certificate bundle the platform registry must trust (PEM on stdout).
    Cert,
}

#[derive(Debug, Subcommand)]
pub enum RenderCommand {
    /// A kubernetes.io/dockerconfigjson Secret, byte-identical to
    /// `kubectl create secret docker-registry … --dry-run=client -o json|yaml`.
    K8sSecret(RenderArgs),
    /// A Docker config.json.
    DockerConfig(RenderArgs),
    /// A containers auth.json (podman, skopeo, buildah).
    AuthJson(RenderArgs),
}

/// Offline (kubectl flags) or from stored pull secrets (`--from-pull-secret`).
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Secret name (k8s-secret).
    pub name: Option<String>,
    #[arg(long, default_value = "https://index.docker.io/v1/")]
    pub docker_server: String,
    #[arg(long)]
    pub docker_username: Option<String>,
    /// Lands in shell history; prefer --password-stdin.
    #[arg(long)]
    pub docker_password: Option<String>,
    #[arg(long)]
    pub docker_email: Option<String>,
    #[arg(long, conflicts_with = "docker_password")]
    pub password_stdin: bool,
    #[arg(long, value_name = "FILE", conflicts_with_all = ["docker_password", "password_stdin"])]
    pub password_file: Option<PathBuf>,
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Accepted for kubectl compatibility; rendering is always client-side.
    #[arg(long, value_name = "MODE")]
    pub dry_run: Option<String>,
    /// Render stored pull secrets instead (repeat to merge several registries); needs --project and --location.
    #[arg(long, value_name = "NAME")]
    pub from_pull_secret: Vec<String>,
    /// k8s-secret of an existing .dockerconfigjson, kept byte for byte, like kubectl's
    /// --from-file=.dockerconfigjson=FILE (which spelling is accepted too).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["docker_server", "docker_username", "docker_password", "docker_email", "password_stdin", "password_file", "from_pull_secret"])]
    pub from_file: Option<PathBuf>,
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: Option<String>,
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: Option<String>,
}

/// A combination of flags that clap cannot check by itself; exits 2 like clap's own errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Returns early with a [`UsageError`].
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::cli::UsageError(format!($($arg)*)).into())
    };
}
pub(crate) use usage;
