//! The command line, parsed without IO (clap derive, `REGCRED_…` environment variables). What
//! the flags mean is resolved later, in the command modules, where IO is allowed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use regcred_core::api::{AuthFileFormat, Role};
use regcred_core::credential::Kind;

use crate::database::DatabaseUrl;

/// The help heading of the options every command accepts, so that each command's own options
/// stand apart from them.
const GLOBAL: &str = "Global options";

/// regcred keeps the credentials that pull container images from private registries.
#[derive(Debug, Parser)]
#[command(
    name = "regcred",
    version,
    propagate_version = true,
    after_help = "Examples:
  regcred serve                                   # the server, zero configuration
  regcred project create acme
  regcred location create local --kind docker --path ~/.docker/config.json
  printf '%s' \"$TOKEN\" | regcred pullsecret create --project acme --location local \\
      --name ghcr --server ghcr.io --username acme-deploy --password-stdin
  regcred pullsecret verify ghcr --project acme --location local --image ghcr.io/acme/api:v1
  regcred completion bash > /etc/bash_completion.d/regcred"
)]
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
    #[arg(
        long,
        global = true,
        env = "REGCRED_DATA_DIR",
        value_name = "DIR",
        help_heading = GLOBAL
    )]
    pub data_dir: Option<PathBuf>,
    /// URL of the regcred API; default: the current context's (`regcred context`), else the address `regcred serve` left in the data directory, else http://127.0.0.1:7700.
    #[arg(
        long,
        global = true,
        env = "REGCRED_API_URL",
        value_name = "URL",
        help_heading = GLOBAL
    )]
    pub api_url: Option<String>,
    /// Whether `api_url` came from `REGCRED_API_URL` rather than `--api-url`: clap knows, the
    /// derive does not carry it, so `main` fills it in from the matches. An unreachable server
    /// is reported with where its address came from.
    #[arg(skip)]
    pub api_url_from_env: bool,
    /// Whether `token` came from `REGCRED_TOKEN` (filled in by `main`, like `api_url_from_env`):
    /// flags win over the environment.
    #[arg(skip)]
    pub token_from_env: bool,
    /// Whether `token_file` came from `REGCRED_TOKEN_FILE`.
    #[arg(skip)]
    pub token_file_from_env: bool,
    /// Access token (rc_…); default: the current context's token file, else the bootstrap admin token in the data directory.
    #[arg(
        long,
        global = true,
        env = "REGCRED_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = GLOBAL
    )]
    pub token: Option<String>,
    /// Read the access token from this file.
    #[arg(
        long,
        global = true,
        env = "REGCRED_TOKEN_FILE",
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CAs that sign the regcred server's certificate, trusted besides the
    /// system's; default: the current context's.
    #[arg(
        long,
        global = true,
        env = "REGCRED_CA_FILE",
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    pub ca_file: Option<PathBuf>,
    /// Output format; default: a table on a terminal, JSON otherwise.
    #[arg(short = 'o', long, global = true, value_enum, help_heading = GLOBAL)]
    pub output: Option<Output>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns, for people.
    Table,
    /// Pretty-printed JSON, for scripts.
    Json,
    /// YAML.
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded SQLite in the data directory, zero configuration; or PostgreSQL).
    #[command(after_help = "Examples:
  regcred serve
  regcred serve --listen 0.0.0.0:7700 --insecure-registry localhost:5000
  regcred serve --platform-registry registry.example.com --platform-issuer regcred
  regcred serve --database-url postgres://regcred@db.example.com/regcred")]
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
    /// Maintain the server's store directly: back it up, copy it to PostgreSQL.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Save a named context (server URL, token file, CA file) and make it the current one.
    #[command(after_help = "Examples:
  regcred login --api-url https://regcred.example.com --token-file ~/.config/regcred/prod.token --name prod
  regcred login --api-url http://127.0.0.1:7700 --token-file ~/.local/share/regcred/admin.token --name local")]
    Login(LoginArgs),
    /// List the saved contexts, choose the current one, or show it.
    Context {
        #[command(subcommand)]
        command: ContextCommand,
    },
    /// Kubelet image credential provider (credentialprovider.kubelet.k8s.io/v1): a request on stdin, the response on stdout.
    KubeletCredentialProvider(KubeletArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  regcred completion bash > /etc/bash_completion.d/regcred
  regcred completion zsh > \"${fpath[1]}/_regcred\"
  regcred completion fish > ~/.config/fish/completions/regcred.fish")]
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// `regcred login`: the URL and token file are the global `--api-url` and `--token-file`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Name of the context; default: the server's host (and port).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// The saved contexts; the current one is marked.
    #[command(after_help = "Examples:
  regcred context list
  regcred context list -o json")]
    List,
    /// Make a saved context the current one.
    #[command(after_help = "Examples:
  regcred context use prod")]
    Use {
        /// Name of the context.
        name: String,
    },
    /// The current context's name.
    Current,
}

/// The shells `regcred completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Where the kubelet plugin asks for credentials; default: the helper config file.
#[derive(Debug, Args)]
pub struct KubeletArgs {
    /// Project whose pull secrets answer the kubelet; default: "project" in the helper config.
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: Option<String>,
    /// Location whose pull secrets answer the kubelet; default: "location" in the helper config.
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
    #[command(after_help = "Examples:
  regcred registrykey create --project acme --name ci --access read-write
  regcred registrykey create --project acme --name deploy --access read --ttl-seconds 2592000")]
    Create {
        /// Project whose repositories the key grants.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
        /// Name of the key, unique in the project; the registry user is PROJECT+NAME.
        #[arg(long)]
        name: String,
        /// What the key may do in the project's repositories.
        #[arg(long, value_enum, default_value_t = Access::Read)]
        access: Access,
        /// Lifetime in seconds; default: no expiry.
        #[arg(long, value_name = "SECONDS")]
        ttl_seconds: Option<u64>,
    },
    /// List a project's keys (never their secrets).
    List {
        /// Project whose keys to list.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
    },
    /// Revoke a key; the registry refuses it from then on.
    Revoke {
        /// Name of the key.
        name: String,
        /// Project of the key.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
    },
}

/// What a registry key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Access {
    /// Pull.
    Read,
    /// Pull and push.
    ReadWrite,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store: `postgres://…` for PostgreSQL, `sqlite:PATH` (or a path) for SQLite; default:
    /// regcred.db in the data directory.
    #[arg(long, env = "REGCRED_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<DatabaseUrl>,
    /// Address to listen on.
    #[arg(
        long,
        env = "REGCRED_LISTEN",
        default_value = "127.0.0.1:7700",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); reloaded when the file changes.
    #[arg(
        long,
        env = "REGCRED_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM); reloaded with it.
    #[arg(
        long,
        env = "REGCRED_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: every client must present a certificate signed by a CA in this PEM file
    /// (probes included).
    #[arg(
        long,
        env = "REGCRED_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub client_ca: Option<PathBuf>,
    /// Master key file (base64 of 32 bytes); default: master.key in the data directory, created on first start.
    #[arg(long, env = "REGCRED_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "REGCRED_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// A registry (host or host:port) reached over plain HTTP; repeat for several. No other is.
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
    #[arg(
        long,
        env = "REGCRED_PLATFORM_SERVICE",
        requires = "platform_registry",
        value_name = "SERVICE"
    )]
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
    #[arg(
        long,
        env = "REGCRED_PLATFORM_ISSUER",
        default_value = "regcred",
        value_name = "ISSUER"
    )]
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
    /// Days audit events are kept; older ones are deleted in the background (hourly). 0 keeps
    /// them forever.
    #[arg(
        long,
        env = "REGCRED_AUDIT_RETENTION_DAYS",
        default_value_t = 90,
        value_name = "DAYS"
    )]
    pub audit_retention_days: u32,
    /// How long a web console session lasts (never longer than the token it signed in with).
    #[arg(
        long,
        env = "REGCRED_CONSOLE_SESSION_SECONDS",
        default_value_t = 8 * 60 * 60,
        value_name = "SECONDS"
    )]
    pub console_session_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// Where a pull secret lives.
#[derive(Debug, Args, Clone)]
pub struct Scope {
    /// Project the pull secret belongs to.
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: String,
    /// Location (where workloads run) the pull secret is for.
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: String,
}

/// Where a secret value comes from. At most one source; with none, a terminal is asked.
#[derive(Debug, Args, Clone, Default)]
pub struct PasswordSource {
    /// Read the password or token from standard input.
    #[arg(long, conflicts_with_all = ["password_file", "password"])]
    pub password_stdin: bool,
    /// Read the password or token from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub password_file: Option<PathBuf>,
    /// The password itself (lands in shell history; prefer --password-stdin). Also REGCRED_PASSWORD.
    #[arg(long, alias = "token-value", value_name = "PASSWORD")]
    pub password: Option<String>,
}

/// One pull secret: NAME (or --name) with --project and --location, or --id.
#[derive(Debug, Args, Clone)]
pub struct PullSecretTarget {
    /// Name of the pull secret (or give it as --name).
    #[arg(value_name = "NAME", conflicts_with = "id")]
    pub name: Option<String>,
    /// Name of the pull secret, as the positional NAME.
    #[arg(
        long = "name",
        id = "name_flag",
        value_name = "NAME",
        conflicts_with_all = ["name", "id"]
    )]
    pub name_flag: Option<String>,
    /// Project of the pull secret.
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: Option<String>,
    /// Location of the pull secret.
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: Option<String>,
    /// Address the pull secret by its id (ps_…) instead of name, project and location.
    #[arg(long)]
    pub id: Option<String>,
}

impl PullSecretTarget {
    /// The name, whichever way it was given.
    pub fn name(&self) -> Option<&String> {
        self.name.as_ref().or(self.name_flag.as_ref())
    }
}

#[derive(Debug, Subcommand)]
pub enum PullSecretCommand {
    /// Create a pull secret, or rotate it if the name exists.
    #[command(after_help = "Examples:
  printf '%s' \"$GHCR_TOKEN\" | regcred pullsecret create --project acme --location local \\
      --name ghcr --server ghcr.io --username acme-deploy --password-stdin
  regcred pullsecret create --project acme --location local --name hub --username acme \\
      --password-file ~/.hub-token
  regcred pullsecret create --project acme --location local --name registry \\
      --server localhost:5000 --username dev --verify      # asks for the password on a terminal
  regcred pullsecret create --project acme --location prod --name gar \\
      --server europe-west1-docker.pkg.dev --service-account-key-file key.json --mode access_token")]
    Create(Box<PullSecretCreateArgs>),
    /// List pull secrets.
    #[command(after_help = "Examples:
  regcred pullsecret list --project acme
  regcred pullsecret list --project acme --location local -o yaml")]
    List {
        /// Only this project's pull secrets.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        /// Only this location's pull secrets.
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
        /// Only pull secrets of this kind (ghcr, ecr, custom, …; `regcred registry kinds`).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Show one pull secret (never its material).
    #[command(after_help = "Examples:
  regcred pullsecret get ghcr --project acme --location local
  regcred pullsecret get --name ghcr --project acme --location local -o json
  regcred pullsecret get --id ps_0123456789abcdef")]
    Get {
        #[command(flatten)]
        target: PullSecretTarget,
    },
    /// Delete a pull secret (on a terminal, after asking).
    #[command(after_help = "Examples:
  regcred pullsecret delete ghcr --project acme --location local
  regcred pullsecret delete --name ghcr --project acme --location local --yes --force")]
    Delete {
        #[command(flatten)]
        target: PullSecretTarget,
        /// Delete even when deployments use it.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation (only a terminal is asked).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Import every login of a Docker config.json or containers auth.json, including those its credential helpers keep.
    #[command(after_help = "Examples:
  regcred pullsecret import --project acme --location local --file ~/.docker/config.json --dry-run
  regcred pullsecret import --project acme --location local --file ~/.docker/config.json")]
    Import(ImportArgs),
    /// Check the credentials against the registry (with --image: can that image be pulled?).
    #[command(after_help = "Examples:
  regcred pullsecret verify ghcr --project acme --location local
  regcred pullsecret verify --name ghcr --project acme --location local --image ghcr.io/acme/api:v1")]
    Verify {
        #[command(flatten)]
        target: PullSecretTarget,
        /// Check a pull of this image instead of the registry login alone.
        #[arg(long)]
        image: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PullSecretCreateArgs {
    #[command(flatten)]
    pub scope: Scope,
    /// Name of the pull secret, unique in its project and location; an existing one is rotated.
    #[arg(long)]
    pub name: String,
    /// Registry kind; inferred from --server when left out.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Registry host, e.g. ghcr.io or localhost:5000 (default: Docker Hub).
    #[arg(long)]
    pub server: Option<String>,
    /// User name at the registry (ACR: the service principal's application id).
    #[arg(long)]
    pub username: Option<String>,
    #[command(flatten)]
    pub password: PasswordSource,
    /// E-mail address, kept in .dockerconfigjson as kubectl does.
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
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// How the credential reaches the registry (GCR/GAR: json_key or access_token; ACR: basic or exchange).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// ACR exchange mode: the Entra ID tenant id.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Check the credentials against the registry once stored.
    #[arg(long)]
    pub verify: bool,
    /// Check that this image can be pulled with them (implies --verify).
    #[arg(long)]
    pub image: Option<String>,
    /// Rotate the existing pull secret keeping its stored secret: give no secret, and keep the
    /// kind and server; the other options replace the current ones.
    #[arg(long)]
    pub keep_secret: bool,
}

/// The pull-secret kinds, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Docker Hub.
    Docker,
    /// GitHub Container Registry.
    Ghcr,
    /// Quay.
    Quay,
    /// Any other registry with a fixed password or token.
    Custom,
    /// Azure Container Registry.
    Acr,
    /// Google Container Registry.
    Gcr,
    /// Google Artifact Registry.
    Gar,
    /// Amazon ECR.
    Ecr,
    /// A public registry: no credentials.
    Public,
}

impl From<KindArg> for Kind {
    fn from(kind: KindArg) -> Kind {
        match kind {
            KindArg::Docker => Kind::Docker,
            KindArg::Ghcr => Kind::Ghcr,
            KindArg::Quay => Kind::Quay,
            KindArg::Custom => Kind::Custom,
            KindArg::Acr => Kind::Acr,
            KindArg::Gcr => Kind::Gcr,
            KindArg::Gar => Kind::Gar,
            KindArg::Ecr => Kind::Ecr,
            KindArg::Public => Kind::Public,
        }
    }
}

/// How a credential reaches the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// GCR/GAR: the key itself, as `_json_key` (the default).
    #[value(name = "json_key")]
    JsonKey,
    /// GCR/GAR: one-hour access tokens minted from the key.
    #[value(name = "access_token")]
    AccessToken,
    /// ACR: the service principal or admin user as it is (the default).
    Basic,
    /// ACR: the service principal exchanged for an ACR refresh token through Entra ID.
    Exchange,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub scope: Scope,
    /// The file to import; default: ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Show what would be imported without creating anything (credential helpers are still
    /// asked, to know what they hold).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not run the docker-credential-* helpers the file names (credsStore, credHelpers);
    /// list their logins as not importable instead.
    #[arg(long)]
    pub no_credential_helpers: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project.
    #[command(after_help = "Examples:
  regcred project create acme
  regcred project create acme --description \"the ACME storefront\"")]
    Create {
        /// Project name: lower-case letters, digits and '-'.
        name: String,
        /// What the project is, for people.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the projects you can see.
    List,
    /// Show one project.
    Get {
        /// Project name.
        name: String,
    },
    /// Delete an empty project (on a terminal, after asking).
    #[command(after_help = "Examples:
  regcred project delete acme
  regcred project delete acme --yes")]
    Delete {
        /// Project name.
        name: String,
        /// Do not ask for confirmation (only a terminal is asked).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

// Parsed once per run; boxing the create arguments would only obscure the clap derive.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum LocationCommand {
    /// Create a location: a Kubernetes cluster, a Docker/Podman auth file or a GitOps directory.
    #[command(after_help = "Examples:
  regcred location create local --kind docker --path ~/.docker/config.json
  regcred location create node1 --kind docker --path /etc/containers/auth.json --format containers
  regcred location create gke.prod --kind kubernetes --kubeconfig /etc/regcred/kubeconfig \\
      --context prod --namespace-template 'apps-{project}' --service-account default
  regcred location create gitops --kind manifests --directory /srv/gitops \\
      --sealing-cert-file /etc/regcred/cert.pem")]
    Create(LocationCreateArgs),
    /// List locations.
    List,
    /// Show one location.
    Get {
        /// Location name.
        name: String,
    },
    /// Delete a location (on a terminal, after asking).
    Delete {
        /// Location name.
        name: String,
        /// Do not ask for confirmation (only a terminal is asked).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Run a delivery pass over the location now.
    Sync {
        /// Location name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Deploy (or redeploy) an image; checks first that it can be pulled.
    #[command(after_help = "Examples:
  regcred deployment deploy --project acme --location gke.prod --name api \\
      --image ghcr.io/acme/private-api:v1.2.3 --pull-secret ghcr
  regcred deployment deploy --project acme --location gke.prod -f service.yaml")]
    Deploy(DeployArgs),
    /// List deployments.
    List {
        /// Only this project's deployments.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: Option<String>,
        /// Only this location's deployments.
        #[arg(long, env = "REGCRED_LOCATION")]
        location: Option<String>,
    },
    /// One deployment, its revisions and where it was delivered.
    Get {
        /// Deployment name.
        name: String,
        /// Project of the deployment.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
        /// Location of the deployment.
        #[arg(long, env = "REGCRED_LOCATION")]
        location: String,
    },
    /// Delete a deployment and what was delivered for it.
    Delete {
        /// Deployment name.
        name: String,
        /// Project of the deployment.
        #[arg(long, env = "REGCRED_PROJECT")]
        project: String,
        /// Location of the deployment.
        #[arg(long, env = "REGCRED_LOCATION")]
        location: String,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Project to deploy in.
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: String,
    /// Location to deploy to.
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
    /// Number of replicas (Kubernetes); default: 1.
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
    /// Location name: lower-case letters, digits, '-' and '.'.
    pub name: String,
    /// Where pull secrets are delivered.
    #[arg(long, value_enum)]
    pub kind: LocationKind,
    /// kubernetes: kubeconfig path on the server.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// kubernetes: kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// kubernetes: use the server's in-cluster service account.
    #[arg(long)]
    pub in_cluster: bool,
    /// kubernetes, manifests: namespace per project, e.g. apps-{project}.
    #[arg(long, value_name = "TEMPLATE")]
    pub namespace_template: Option<String>,
    /// docker: auth file to maintain, an absolute path on the server.
    #[arg(long, value_name = "FILE")]
    pub path: Option<String>,
    /// docker: the auth file's dialect; default: docker.
    #[arg(long, value_enum)]
    pub format: Option<AuthFileFormatArg>,
    /// manifests: directory to write into.
    #[arg(long, value_name = "DIR")]
    pub directory: Option<String>,
    /// kubernetes: also deliver to namespaces matching this label selector ({project} is replaced).
    #[arg(long, value_name = "SELECTOR")]
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

/// The kinds of location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocationKind {
    /// A cluster: Secrets in namespaces, ServiceAccounts, Deployments.
    Kubernetes,
    /// A Docker/Podman host: one auth file.
    Docker,
    /// A GitOps directory: SealedSecrets and Deployments as files.
    Manifests,
}

/// The auth-file dialects of a docker location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthFileFormatArg {
    /// Docker's config.json.
    Docker,
    /// containers' auth.json (podman, skopeo, buildah).
    Containers,
}

impl From<AuthFileFormatArg> for AuthFileFormat {
    fn from(format: AuthFileFormatArg) -> AuthFileFormat {
        match format {
            AuthFileFormatArg::Docker => AuthFileFormat::Docker,
            AuthFileFormatArg::Containers => AuthFileFormat::Containers,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once.
    #[command(after_help = "Examples:
  regcred token create --name kubelet --role puller --project acme > /etc/regcred/token
  regcred token create --name ci --role editor --project acme --ttl-seconds 86400
  regcred token create --name ops --role admin")]
    Create {
        /// Name of the token, for people (e.g. what uses it).
        #[arg(long)]
        name: String,
        /// What the token may do; every role but admin needs --project.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Project the role applies to.
        #[arg(long)]
        project: Option<String>,
        /// Lifetime in seconds; default: no expiry.
        #[arg(long, value_name = "SECONDS")]
        ttl_seconds: Option<u64>,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this project's tokens.
        #[arg(long)]
        project: Option<String>,
    },
    /// Revoke a token.
    Revoke {
        /// The token's id (from `token list`).
        id: String,
    },
}

/// The roles a token can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, everywhere (not tied to a project).
    Admin,
    /// Manage the project, its tokens and audit log, and everything below.
    Owner,
    /// Create, rotate and delete the project's pull secrets; read.
    Editor,
    /// Read, deploy and release credential material.
    Deployer,
    /// Read.
    Viewer,
    /// Release credential material only (helpers and nodes).
    Puller,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Owner => Role::Owner,
            RoleArg::Editor => Role::Editor,
            RoleArg::Deployer => Role::Deployer,
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Puller => Role::Puller,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Can this image be pulled here? Tries the pull secrets that apply against the registry.
    #[command(after_help = "Examples:
  regcred image check ghcr.io/acme/api:v1 --project acme --location local")]
    Check {
        /// Image reference, as a Pod or `docker pull` names it.
        image: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Which pull secrets apply to an image, in the order the runtime tries them.
    #[command(after_help = "Examples:
  regcred image resolve ghcr.io/acme/api:v1 --project acme --location local
  regcred image resolve ghcr.io/acme/api:v1 --project acme --location local --rules containers")]
    Resolve {
        /// Image reference, as a Pod or `docker pull` names it.
        image: String,
        #[command(flatten)]
        scope: Scope,
        /// Whose matching rules to apply; default: those of the location's runtime.
        #[arg(long, value_enum)]
        rules: Option<Rules>,
    },
}

/// Credential matching rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rules {
    /// The kubelet's keyring (image pull Secrets).
    Kubelet,
    /// containers/image (podman, skopeo, CRI-O).
    Containers,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, newest first.
    List {
        /// Only this project's events.
        #[arg(long)]
        project: Option<String>,
        /// At most this many events (default 100); more than one page of the server is fetched
        /// page by page.
        #[arg(long)]
        limit: Option<u32>,
        /// Only events older than this event id (to page back).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        /// Only events whose action starts with this (pullSecret. for every pull-secret action).
        #[arg(long)]
        action: Option<String>,
        /// Only events with this outcome (ok, denied, …).
        #[arg(long)]
        outcome: Option<String>,
        /// Only events of this actor (a token id, or regcred for background work).
        #[arg(long)]
        actor: Option<String>,
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
    #[command(after_help = "Examples:
  regcred render k8s-secret regcred --docker-server ghcr.io --docker-username u --password-stdin -o yaml
  regcred render k8s-secret --from-pull-secret ghcr --project acme --location local -n acme -o json")]
    K8sSecret(RenderArgs),
    /// A Docker config.json.
    #[command(after_help = "Examples:
  regcred render docker-config --docker-server ghcr.io --docker-username u --password-file token.txt
  regcred render docker-config --from-pull-secret ghcr --project acme --location local")]
    DockerConfig(RenderArgs),
    /// A containers auth.json (podman, skopeo, buildah).
    AuthJson(RenderArgs),
}

/// Offline (kubectl flags) or from stored pull secrets (`--from-pull-secret`).
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Secret name (k8s-secret).
    pub name: Option<String>,
    /// Registry server, as kubectl takes it.
    #[arg(
        long,
        default_value = "https://index.docker.io/v1/",
        value_name = "SERVER"
    )]
    pub docker_server: String,
    /// User name at the registry.
    #[arg(long, value_name = "USER")]
    pub docker_username: Option<String>,
    /// Lands in shell history; prefer --password-stdin.
    #[arg(long, value_name = "PASSWORD")]
    pub docker_password: Option<String>,
    /// E-mail address, kept in .dockerconfigjson.
    #[arg(long, value_name = "EMAIL")]
    pub docker_email: Option<String>,
    /// Read the password from standard input.
    #[arg(long, conflicts_with = "docker_password")]
    pub password_stdin: bool,
    /// Read the password from a file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["docker_password", "password_stdin"])]
    pub password_file: Option<PathBuf>,
    /// Namespace of the Secret (k8s-secret).
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
    /// Project of the stored pull secrets (with --from-pull-secret).
    #[arg(long, env = "REGCRED_PROJECT")]
    pub project: Option<String>,
    /// Location of the stored pull secrets (with --from-pull-secret).
    #[arg(long, env = "REGCRED_LOCATION")]
    pub location: Option<String>,
}

/// The word the API takes for a value enum: its command-line name, which the enums above spell
/// exactly as the API does (a unit test holds them to it).
pub fn wire<T: ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .expect("no value enum here skips a variant, so every variant has a name")
        .get_name()
        .to_owned()
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

#[cfg(test)]
#[path = "../tests/fixture/doc_commands.rs"]
mod doc_commands;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every subcommand, with its path (`regcred pullsecret create`).
    fn all_commands() -> Vec<(String, clap::Command)> {
        let mut out = Vec::new();
        let mut stack = vec![("regcred".to_owned(), Cli::command())];
        while let Some((path, command)) = stack.pop() {
            for sub in command.get_subcommands() {
                stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
            out.push((path, command));
        }
        out
    }

    #[test]
    fn every_command_and_flag_has_a_description() {
        let mut missing = Vec::new();
        for (path, command) in all_commands() {
            if path != "regcred" && command.get_about().is_none() {
                missing.push(format!("{path}: the command"));
            }
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path}: {}", arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "no help text:\n{}", missing.join("\n"));
    }

    #[test]
    fn global_options_stand_under_their_own_heading() {
        for (path, command) in all_commands() {
            for arg in command.get_arguments().filter(|a| a.is_global_set()) {
                assert_eq!(
                    arg.get_help_heading(),
                    Some(GLOBAL),
                    "{path}: {}",
                    arg.get_id()
                );
            }
        }
        let help = Cli::command().render_help().to_string();
        let global = help
            .find("Global options:")
            .expect("a Global options heading");
        assert!(help[global..].contains("--api-url"), "{help}");
        assert!(!help[..global].contains("--api-url"), "{help}");
    }

    /// The names of a value enum's values.
    fn names<T: ValueEnum>() -> Vec<String> {
        T::value_variants().iter().map(wire).collect()
    }

    #[test]
    fn enum_flags_list_their_values_as_the_api_spells_them() {
        for kind in KindArg::value_variants() {
            assert_eq!(wire(kind), Kind::from(*kind).as_str());
        }
        assert_eq!(names::<KindArg>().len(), Kind::ALL.len());
        for role in RoleArg::value_variants() {
            assert_eq!(Role::parse(&wire(role)), Some(Role::from(*role)));
        }
        for format in AuthFileFormatArg::value_variants() {
            assert_eq!(
                serde_json::to_value(AuthFileFormat::from(*format)).ok(),
                Some(serde_json::Value::String(wire(format)))
            );
        }
        // The modes are documented with the kinds that take them.
        let mode_docs: Vec<String> = Kind::ALL
            .iter()
            .flat_map(|k| k.info().fields)
            .filter(|f| f.name == "mode")
            .map(|f| f.description.to_owned())
            .collect();
        for mode in names::<Mode>() {
            assert!(
                mode_docs
                    .iter()
                    .any(|d| d.split([' ', ':', '(', ')']).any(|w| w == mode)),
                "{mode} is no mode of any kind: {mode_docs:?}"
            );
        }
        assert_eq!(names::<Access>(), ["read", "read-write"]);
        assert_eq!(
            names::<LocationKind>(),
            ["kubernetes", "docker", "manifests"]
        );
        assert_eq!(names::<Rules>(), ["kubelet", "containers"]);

        // And clap offers them: in help, in errors and to completions.
        for (path, flag) in [
            ("pullsecret create", "kind"),
            ("pullsecret create", "mode"),
            ("location create", "kind"),
            ("location create", "format"),
            ("token create", "role"),
            ("registrykey create", "access"),
            ("image resolve", "rules"),
        ] {
            let mut command = Cli::command();
            for name in path.split(' ') {
                command = command
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("no {path}"))
                    .clone();
            }
            let arg = command
                .get_arguments()
                .find(|a| a.get_id() == flag)
                .unwrap_or_else(|| panic!("{path} has no --{flag}"));
            assert!(
                !arg.get_possible_values().is_empty(),
                "{path} --{flag} lists no values"
            );
        }
    }

    #[test]
    fn the_main_commands_show_examples() {
        for path in [
            "regcred",
            "regcred pullsecret create",
            "regcred pullsecret get",
            "regcred pullsecret delete",
            "regcred pullsecret verify",
            "regcred pullsecret import",
            "regcred project create",
            "regcred location create",
            "regcred token create",
            "regcred deployment deploy",
            "regcred image check",
            "regcred render k8s-secret",
            "regcred completion",
        ] {
            let (_, command) = all_commands()
                .into_iter()
                .find(|(p, _)| p == path)
                .unwrap_or_else(|| panic!("no {path}"));
            let after = command.get_after_help().map(ToString::to_string);
            assert!(
                after.as_deref().is_some_and(|h| h.starts_with("Examples:")),
                "{path} shows no examples"
            );
        }
    }

    /// Parses `words` as the command line after `regcred`; `--help` counts as parsing.
    fn parse(words: &[String]) -> Result<(), String> {
        match Cli::try_parse_from(
            std::iter::once("regcred".to_owned()).chain(words.iter().cloned()),
        ) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn every_documented_command_parses() {
        // The parse must not lean on the test's environment.
        for (key, _) in std::env::vars_os() {
            assert!(
                !key.to_string_lossy().starts_with("REGCRED_"),
                "unset {key:?} to run this test"
            );
        }
        let mut commands = doc_commands::documented_commands();
        assert!(
            commands.iter().any(|c| c.file == "README.md")
                && commands.iter().any(|c| c.file.starts_with("docs/")),
            "no commands found in README.md and docs/: {commands:?}"
        );
        for (path, command) in all_commands() {
            if let Some(after) = command.get_after_help() {
                let text = after.to_string().replace("Examples:\n", "");
                commands.extend(doc_commands::commands_in(
                    &format!("`{path} --help`"),
                    &text,
                    false,
                ));
            }
        }
        let broken: Vec<String> = commands
            .iter()
            .filter_map(|c| {
                let invocation = doc_commands::invocation(&c.text)?;
                parse(&invocation.words)
                    .err()
                    .map(|e| format!("{}\n    {}", c.place(), e.trim().replace('\n', "\n    ")))
            })
            .collect();
        assert!(
            broken.is_empty(),
            "documented commands that regcred does not accept:\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn pull_secret_verbs_take_the_name_positional_or_as_flag() {
        for verb in ["get", "delete", "verify"] {
            for words in [
                vec![verb, "ghcr", "--project", "acme", "--location", "local"],
                vec![
                    verb,
                    "--name",
                    "ghcr",
                    "--project",
                    "acme",
                    "--location",
                    "local",
                ],
            ] {
                let cli = Cli::try_parse_from(
                    std::iter::once("regcred")
                        .chain(std::iter::once("pullsecret").chain(words.iter().copied())),
                )
                .unwrap_or_else(|e| panic!("{words:?}: {e}"));
                let Command::PullSecret { command } = cli.command else {
                    panic!("not a pull-secret command")
                };
                let target = match command {
                    PullSecretCommand::Get { target }
                    | PullSecretCommand::Delete { target, .. }
                    | PullSecretCommand::Verify { target, .. } => target,
                    other => panic!("{other:?}"),
                };
                assert_eq!(target.name().map(String::as_str), Some("ghcr"), "{words:?}");
            }
            let both = ["regcred", "pullsecret", verb, "a", "--name", "b"];
            assert!(Cli::try_parse_from(both).is_err(), "{verb}: two names");
        }
    }
}

/// `regcred admin …`: work on the store itself, on the machine that holds it.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Copy the SQLite store into an empty PostgreSQL database (stop `regcred serve` first).
    #[command(
        name = "migrate-store",
        after_help = "Every table is copied as it is: sealed material stays sealed (the same \
master key opens it), ids, revisions and the audit log are kept. A target with any data is \
refused; the row count of every table is checked before the copy is committed.

Examples:
  regcred admin migrate-store --to postgres://regcred@db.example.com/regcred"
    )]
    MigrateStore {
        /// The PostgreSQL database to copy into (postgres://…); it must be empty.
        #[arg(long, value_name = "URL")]
        to: DatabaseUrl,
        /// The SQLite store to copy; default: regcred.db in the data directory.
        #[arg(long, env = "REGCRED_DATABASE_URL", value_name = "URL")]
        database_url: Option<DatabaseUrl>,
    },
    /// Wrap the store's data key under a new master key, while servers run.
    #[command(
        name = "rotate-master-key",
        after_help = "The data key stays the same, so nothing sealed is rewritten and running \
servers go on serving. From now on only the new key opens the store: replace the master key of \
every server (its key file, or REGCRED_MASTER_KEY) with the new one before it restarts; a server \
started with the old key stops with a clear error. A FILE that does not exist is created with a \
new key (private, mode 0600).

Examples:
  regcred admin rotate-master-key --new-key-file /etc/regcred/master.key.new"
    )]
    RotateMasterKey {
        /// The new master key (base64 of 32 bytes); created when the file does not exist.
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
        /// The current master key file; default: master.key in the data directory (or
        /// REGCRED_MASTER_KEY).
        #[arg(long, env = "REGCRED_MASTER_KEY_FILE", value_name = "FILE")]
        master_key_file: Option<PathBuf>,
        /// The store; default: regcred.db in the data directory.
        #[arg(long, env = "REGCRED_DATABASE_URL", value_name = "URL")]
        database_url: Option<DatabaseUrl>,
    },
    /// Write a consistent snapshot of the SQLite store to FILE, while the server runs.
    #[command(
        after_help = "The snapshot holds sealed material only; keep the master key \
(master.key) apart from it, or one stolen backup opens every credential.

Examples:
  regcred admin backup regcred-backup.db"
    )]
    Backup {
        /// Where to write the snapshot; must not exist.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The SQLite store to back up; default: regcred.db in the data directory.
        #[arg(long, env = "REGCRED_DATABASE_URL", value_name = "URL")]
        database_url: Option<DatabaseUrl>,
    },
}
