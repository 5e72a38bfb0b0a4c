//! The client commands. Each resolves its flags (reading secrets from stdin, files or the
//! environment), calls the server and prints the answer.

pub mod admin;
pub mod deployment;
pub mod image;
pub mod import;
pub mod pull_secret;
pub mod render;

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use regcred_core::secret::Secret;

use crate::cli::PasswordSource;
use crate::output::note;

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

/// Reads a secret from the first source given: stdin, a file, the flag (with a warning), or
/// the environment variable `env`. `None` when no source was given.
pub fn read_secret(source: &PasswordSource, env: &str) -> anyhow::Result<Option<Secret>> {
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
pub fn need<'a>(value: &'a Option<String>, flag: &str) -> anyhow::Result<&'a str> {
    value.as_deref().ok_or_else(|| {
        crate::cli::UsageError(format!(
            "{flag} is required (or address the pull secret with --id)"
        ))
        .into()
    })
}
