//! The client commands. Each resolves its flags (reading secrets from stdin, files or the
//! environment), calls the server and prints the answer.

pub mod admin;
pub mod deployment;
pub mod image;
pub mod import;
pub mod maintenance;
pub mod pull_secret;
pub mod render;

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use regcred_core::secret::Secret;

use clap::CommandFactory;

use crate::cli::{Cli, PasswordSource, Shell};
use crate::output::note;
use crate::prompt;

/// `regcred completion SHELL`: the completion script clap_complete derives from the parser, so
/// it offers every subcommand, flag and value-enum value there is.
pub fn completion(shell: Shell) -> anyhow::Result<()> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "regcred", &mut script);
    crate::output::write_stdout(&String::from_utf8_lossy(&script))
}

/// The registry check answered something other than `ok`; exits 8.
#[derive(Debug, thiserror::Error)]
#[error("{outcome}: {hint}")]
pub struct CheckFailed {
    pub outcome: String,
    pub hint: String,
}

/// A delivery pass left targets in error (`location sync`); exits 9.
#[derive(Debug, thiserror::Error)]
#[error(
    "{errors} deliveries of location {location} are in error; `regcred pullsecret get NAME \
     --project P --location {location}` shows each one's code and message"
)]
pub struct DeliveryFailed {
    pub location: String,
    pub errors: u64,
}

/// Fails with [`CheckFailed`] unless `outcome` is `ok`.
pub fn require_ok(outcome: &str, hint: &str) -> anyhow::Result<()> {
    if outcome == "ok" {
        return Ok(());
    }
    Err(CheckFailed {
        outcome: outcome.to_owned(),
        hint: hint.to_owned(),
    }
    .into())
}

/// Reads a secret from the first source given (see [`given_secret`]); with none, a terminal on
/// stdin is asked for it without echo. `None` when no source was given and nobody can be asked.
pub fn read_secret(source: &PasswordSource, env: &str) -> anyhow::Result<Option<Secret>> {
    match given_secret(source, env)? {
        Some(secret) => Ok(Some(secret)),
        None if prompt::interactive() => prompt::secret("Password").map(Some),
        None => Ok(None),
    }
}

/// Reads a secret from the first source given: stdin, a file, the flag (with a warning), or
/// the environment variable `env`. `None` when no source was given.
pub fn given_secret(source: &PasswordSource, env: &str) -> anyhow::Result<Option<Secret>> {
    if source.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from standard input")?;
        return Ok(Some(Secret::new(strip_newline(text))));
    }
    if let Some(path) = &source.password_file {
        return read_secret_file(path).map(Some);
    }
    if let Some(p) = &source.password {
        note("warning: a password given as a flag lands in your shell history and the process list; prefer --password-stdin or --password-file");
        return Ok(Some(Secret::new(p.clone())));
    }
    Ok(std::env::var(env).ok().map(Secret::new))
}

/// Reads a secret file, dropping one trailing newline.
pub fn read_secret_file(path: &Path) -> anyhow::Result<Secret> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Secret::new(strip_newline(text)))
}

fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Requires a flag that is optional in clap because `--id` can replace it.
pub fn need<'a>(value: Option<&'a String>, flag: &str) -> anyhow::Result<&'a str> {
    value.map(String::as_str).ok_or_else(|| {
        crate::cli::UsageError(format!(
            "{flag} is required (or address the pull secret with --id)"
        ))
        .into()
    })
}
