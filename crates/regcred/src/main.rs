//! The `regcred` binary: server, CLI client and offline renderer in one. Thin over the libraries:
//! it parses arguments, builds resources, runs one command and maps the outcome to an exit code.

mod cli;
mod client;
mod commands;
mod context;
mod database;
mod memory;
mod output;
mod paths;
mod plugins;
mod prompt;
mod serve;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, UsageError};
use crate::client::{ApiFailure, Client, Unreachable};
use crate::output::Printer;

/// Exit codes, documented in the README.
mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INVALID: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const DENIED: u8 = 5;
    pub const CONFLICT: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
    pub const CHECK_FAILED: u8 = 8;
    pub const DELIVERY_FAILED: u8 = 9;
}

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if plugins::invoked_as_docker_helper(args.next().as_deref()) {
        return plugins::docker_helper::main(args.collect());
    }
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.global.api_url_from_env = matches.value_source("api_url") == Some(ValueSource::EnvVariable);
    cli.global.token_from_env = matches.value_source("token") == Some(ValueSource::EnvVariable);
    cli.global.token_file_from_env =
        matches.value_source("token_file") == Some(ValueSource::EnvVariable);
    // The kubelet knows only success and failure.
    let plugin = matches!(cli.command, Command::KubeletCredentialProvider(_));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let outcome = runtime.block_on(run(cli));
    // What is still running on a blocking thread (a read a stopped request left) writes nothing:
    // it is not waited for, so `serve` exits promptly after SIGTERM.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if plugin => {
            report(&e);
            ExitCode::from(exit::FAILURE)
        }
        Err(e) => report(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let printer = Printer::new(cli.global.output);
    let client = || Client::from_global(&cli.global);
    match cli.command {
        Command::Serve(args) => serve::run(args, cli.global.data_dir.as_deref()).await,
        Command::Render { command } => commands::render::run(&cli.global, command).await,
        Command::PullSecret { command } => {
            commands::pull_secret::run(&client()?, &printer, command).await
        }
        Command::Project { command } => {
            commands::admin::project(&client()?, &printer, command).await
        }
        Command::Deployment { command } => {
            commands::deployment::run(&client()?, &printer, command).await
        }
        Command::Location { command } => {
            commands::admin::location(&client()?, &printer, command).await
        }
        Command::Token { command } => commands::admin::token(&client()?, &printer, command).await,
        Command::Audit { command } => commands::admin::audit(&client()?, &printer, command).await,
        Command::Registry { command } => {
            commands::admin::registry(&client()?, &printer, command).await
        }
        Command::Image { command } => commands::image::run(&client()?, &printer, command).await,
        Command::RegistryKey { command } => {
            commands::admin::registry_key(&client()?, &printer, command).await
        }
        Command::Admin { command } => {
            commands::maintenance::run(&printer, cli.global.data_dir.as_deref(), command).await
        }
        Command::KubeletCredentialProvider(args) => plugins::kubelet::run(&cli.global, args).await,
        Command::Completion { shell } => commands::completion(shell),
        Command::Login(args) => commands::context::login(&cli.global, &printer, args).await,
        Command::Context { command } => commands::context::run(&printer, command),
    }
}

/// Prints the error with its causes and chooses the exit code. A broken pipe is success.
fn report(e: &anyhow::Error) -> ExitCode {
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprint!("error: {e}");
    for cause in e.chain().skip(1) {
        eprint!(": {cause}");
    }
    eprintln!();
    let code = if let Some(api) = e.downcast_ref::<ApiFailure>() {
        match api.status {
            401 | 403 => exit::DENIED,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            400..=499 => exit::INVALID,
            _ => exit::FAILURE,
        }
    } else if e.downcast_ref::<commands::maintenance::Refused>().is_some() {
        exit::CONFLICT
    } else if e.downcast_ref::<commands::CheckFailed>().is_some() {
        exit::CHECK_FAILED
    } else if e.downcast_ref::<commands::DeliveryFailed>().is_some() {
        exit::DELIVERY_FAILED
    } else if e.downcast_ref::<UsageError>().is_some()
        || e.downcast_ref::<regcred_core::k8s_secret::KubectlInputError>()
            .is_some()
    {
        exit::USAGE
    } else if e.downcast_ref::<context::ContextNotFound>().is_some() {
        exit::NOT_FOUND
    } else if e.downcast_ref::<Unreachable>().is_some()
        || e.downcast_ref::<database::DatabaseUnavailable>().is_some()
    {
        exit::UNREACHABLE
    } else {
        exit::FAILURE
    };
    ExitCode::from(code)
}
