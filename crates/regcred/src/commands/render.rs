//! `regcred render k8s-secret|docker-config|auth-json`: offline from kubectl-compatible flags
//! (byte-identical to `kubectl create secret docker-registry … --dry-run=client -o json|yaml`),
//! from an existing `.dockerconfigjson` (`k8s-secret --from-file`, byte-identical to `kubectl
//! create secret generic … --from-file=.dockerconfigjson=FILE --type=kubernetes.io/dockerconfigjson`),
//! or from stored pull secrets through `pullSecret.render` (`--from-pull-secret`, audited).

use anyhow::Context;
use regcred_core::api::{RenderFormat, Rendered};
use regcred_core::auth_file;
use regcred_core::k8s_secret::{self, DockerAuth, DockerConfigJson, OutputFormat};
use serde_json::json;

use super::read_secret;
use crate::cli::{usage, Global, Output, PasswordSource, RenderArgs, RenderCommand, UsageError};
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
    let text = if let Some(file) = &args.from_file {
        from_file(target, yaml, &args, file)?
    } else if args.from_pull_secret.is_empty() {
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
        password.as_ref().map(regcred_core::secret::Secret::expose),
        args.docker_email.as_deref(),
    )?;
    let entries = [entry];
    let rendered = match target {
        Target::K8sSecret => k8s_secret::secret(
            secret_name(args)?,
            args.namespace.as_deref(),
            &entries,
            output_format(yaml),
        ),
        Target::DockerConfig => auth_file::docker_config_json(&entries),
        Target::AuthJson => auth_file::containers_auth_json(&entries),
    };
    rendered.map_err(render_error)
}

/// NAME of a k8s-secret, refused as kubectl refuses it.
fn secret_name(args: &RenderArgs) -> anyhow::Result<&str> {
    match args.name.as_deref() {
        None => usage!("exactly one NAME is required, got 0"),
        Some("") => usage!("name must be specified"),
        Some(name) => Ok(name),
    }
}

fn output_format(yaml: bool) -> OutputFormat {
    if yaml {
        OutputFormat::Yaml
    } else {
        OutputFormat::Json
    }
}

fn render_error(e: k8s_secret::RenderError) -> anyhow::Error {
    match e {
        // The variant carries the offending value, which is not secret here (name, namespace)
        // but is shortened anyway.
        k8s_secret::RenderError::DuplicateServer { .. } => anyhow::anyhow!("{e}"),
        other => anyhow::anyhow!(
            "{}",
            other.to_string().chars().take(300).collect::<String>()
        ),
    }
}

/// kubectl's key=path spelling of the one key a pull secret has.
const FROM_FILE_KEY: &str = ".dockerconfigjson=";

/// `k8s-secret NAME --from-file FILE`: the file's bytes in the Secret, after checking that the
/// kubelet could pull with it. Errors never show the file's content.
fn from_file(
    target: Target,
    yaml: bool,
    args: &RenderArgs,
    file: &std::path::Path,
) -> anyhow::Result<String> {
    if target != Target::K8sSecret {
        usage!("--from-file renders a k8s-secret; docker-config and auth-json are rendered from --docker-* flags or --from-pull-secret");
    }
    if args.project.is_some() || args.location.is_some() {
        note("note: --project and --location only matter with --from-pull-secret");
    }
    let name = secret_name(args)?;
    let path = match file.to_str().and_then(|f| f.strip_prefix(FROM_FILE_KEY)) {
        Some(rest) => std::path::Path::new(rest),
        None => file,
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the .dockerconfigjson file {}", path.display()))?;
    let document = DockerConfigJson::parse(&text).map_err(|e| {
        UsageError(format!(
            "{} is not a .dockerconfigjson the kubelet can pull with: {e}",
            path.display()
        ))
    })?;
    for unusable in document.unusable() {
        if let Some(server) = &unusable.server {
            note(&format!(
                "note: the kubelet cannot pull with the entry for {server}: {}",
                unusable.reason
            ));
        }
    }
    k8s_secret::secret_from_file(
        name,
        args.namespace.as_deref(),
        &document,
        output_format(yaml),
    )
    .map_err(render_error)
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
