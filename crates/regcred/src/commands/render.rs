//! `regcred render k8s-secret|docker-config|auth-json`: offline from kubectl-compatible flags
//! (byte-identical to `kubectl create secret docker-registry … --dry-run=client -o json|yaml`),
//! or from stored pull secrets through `pullSecret.render` (`--from-pull-secret`, audited).

use regcred_core::api::{RenderFormat, Rendered};
use regcred_core::auth_file;
use regcred_core::k8s_secret::{self, DockerAuth, OutputFormat};
use serde_json::json;

use super::read_secret;
use crate::cli::{usage, Global, Output, PasswordSource, RenderArgs, RenderCommand};
use crate::client::Client;
use crate::output::{note, write_stdout};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    K8sSecret,
    DockerConfig,
    AuthJson,
}

pub async fn run(global: &Global, command: RenderCommand) -> anyhow::Result<()> {
    let (target, args) = match command {
        RenderCommand::K8sSecret(a) => (Target::K8sSecret, a),
        RenderCommand::DockerConfig(a) => (Target::DockerConfig, a),
        RenderCommand::AuthJson(a) => (Target::AuthJson, a),
    };
    let yaml = match (target, global.output) {
        (Target::K8sSecret, None | Some(Output::Yaml)) => true,
        (Target::K8sSecret, Some(Output::Json)) => false,
        (Target::K8sSecret, Some(Output::Table)) => {
            usage!("k8s-secret prints -o json or -o yaml")
        }
        (_, None | Some(Output::Json)) => false,
        (_, Some(_)) => usage!("docker-config and auth-json are JSON files; leave out -o"),
    };
    if let Some(mode) = args.dry_run.as_deref() {
        if mode != "client" {
            usage!(
                "only --dry-run=client is supported: regcred renders, it never talks to a cluster"
            );
        }
    }
    let text = if args.from_pull_secret.is_empty() {
        offline(target, yaml, &args)?
    } else {
        stored(global, target, yaml, &args).await?
    };
    write_stdout(&text)
}

fn offline(target: Target, yaml: bool, args: &RenderArgs) -> anyhow::Result<String> {
    if args.project.is_some() || args.location.is_some() {
        note("note: --project and --location only matter with --from-pull-secret");
    }
    let source = PasswordSource {
        password_stdin: args.password_stdin,
        password_file: args.password_file.clone(),
        password: args.docker_password.clone(),
    };
    let password = read_secret(&source, "REGCRED_PASSWORD")?;
    let entry = DockerAuth::from_kubectl_flags(
        Some(&args.docker_server),
        args.docker_username.as_deref(),
        password.as_ref().map(|p| p.expose()),
        args.docker_email.as_deref(),
    )?;
    let entries = [entry];
    let rendered = match target {
        Target::K8sSecret => {
            let name = match args.name.as_deref() {
                None => usage!("exactly one NAME is required, got 0"),
                Some("") => usage!("name must be specified"),
                Some(name) => name,
            };
            let format = if yaml {
                OutputFormat::Yaml
            } else {
                OutputFormat::Json
            };
            k8s_secret::secret(name, args.namespace.as_deref(), &entries, format)
        }
        Target::DockerConfig => auth_file::docker_config_json(&entries),
        Target::AuthJson => auth_file::containers_auth_json(&entries),
    };
    rendered.map_err(|e| match e {
        // The variant carries the offending value, which is not secret here (name, namespace)
        // but is shortened anyway.
        k8s_secret::RenderError::DuplicateServer { .. } => anyhow::anyhow!("{e}"),
        other => anyhow::anyhow!(
            "{}",
            other.to_string().chars().take(300).collect::<String>()
        ),
    })
}

async fn stored(
    global: &Global,
    target: Target,
    yaml: bool,
    args: &RenderArgs,
) -> anyhow::Result<String> {
    if args.docker_username.is_some()
        || args.docker_password.is_some()
        || args.password_stdin
        || args.password_file.is_some()
    {
        usage!("--from-pull-secret renders stored credentials; leave out --docker-username and the password flags");
    }
    let (Some(project), Some(location)) = (&args.project, &args.location) else {
        usage!("--from-pull-secret needs --project and --location");
    };
    let format = match (target, yaml) {
        (Target::K8sSecret, true) => RenderFormat::K8sSecretYaml,
        (Target::K8sSecret, false) => RenderFormat::K8sSecretJson,
        (Target::DockerConfig, _) => RenderFormat::DockerConfig,
        (Target::AuthJson, _) => RenderFormat::AuthJson,
    };
    let client = Client::from_global(global)?;
    let rendered: Rendered = client
        .call(
            "pullSecret.render",
            &json!({
                "project": project,
                "location": location,
                "names": args.from_pull_secret,
                "format": format,
                "secretName": args.name,
                "namespace": args.namespace,
            }),
        )
        .await?;
    Ok(rendered.content)
}
