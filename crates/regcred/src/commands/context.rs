//! `regcred login` and `regcred context`: saving, listing and choosing CLI contexts. `login`
//! asks the server once with the token before it saves anything, so a wrong address or token
//! is found at once, not at the next command.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

use crate::cli::{usage, ContextCommand, Global, LoginArgs};
use crate::client::{ApiUrlSource, Client};
use crate::context::{self, ContextNotFound, Contexts, SavedContext};
use crate::output::{note, Printer, Table};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    name: String,
    current: bool,
    #[serde(flatten)]
    context: SavedContext,
}

fn show(path: Option<&Path>) -> String {
    path.map_or_else(|| "-".to_owned(), |p| p.display().to_string())
}

fn print_rows(printer: &Printer, rows: &[Row]) -> anyhow::Result<()> {
    printer.print(&rows, |rows| {
        let mut t = Table::new(vec!["CURRENT", "NAME", "API URL", "TOKEN FILE", "CA FILE"]);
        for r in *rows {
            t.row(vec![
                if r.current { "*" } else { "" }.to_owned(),
                r.name.clone(),
                r.context.api_url.clone(),
                show(r.context.token_file.as_deref()),
                show(r.context.ca_file.as_deref()),
            ]);
        }
        t
    })
}

/// An absolute path of an existing file, as given on the command line.
fn existing_file(path: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(path)
        .with_context(|| format!("{flag}: resolving {}", path.display()))?;
    let meta =
        std::fs::metadata(&absolute).with_context(|| format!("{flag}: {}", absolute.display()))?;
    if !meta.is_file() {
        usage!("{flag}: {} is not a file", absolute.display());
    }
    Ok(absolute)
}

pub async fn login(global: &Global, printer: &Printer, args: LoginArgs) -> anyhow::Result<()> {
    let Some(url) = &global.api_url else {
        usage!("regcred login needs --api-url URL (or REGCRED_API_URL)");
    };
    if global.token.is_some() {
        usage!(
            "a context keeps the path of a token file, never a token: write the token to a file \
             (mode 0600) and give --token-file FILE"
        );
    }
    // The URL is not repeated in errors: it might carry credentials.
    let Ok(parsed) = reqwest::Url::parse(url) else {
        usage!("--api-url is not a URL (http://HOST:PORT or https://HOST)");
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        usage!("--api-url must be an http:// or https:// URL with a host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        usage!("--api-url must not carry a user or password; give the token with --token-file");
    }
    let name = match args.name {
        Some(name) if context::valid_name(&name) => name,
        Some(_) => usage!(
            "--name: a context name is a letter or digit, then letters, digits, '.', '_', ':' or \
             '-' (63 at most)"
        ),
        None => match context::default_name(&parsed) {
            Some(name) => name,
            None => usage!("no context name can be made from the URL's host; give --name"),
        },
    };
    let token_file = global
        .token_file
        .as_deref()
        .map(|f| existing_file(f, "--token-file"))
        .transpose()?;
    let ca_file = global
        .ca_file
        .as_deref()
        .map(|f| existing_file(f, "--ca-file"))
        .transpose()?;
    let api_url = url.trim_end_matches('/').to_owned();
    match &token_file {
        Some(file) => {
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("reading token file {}", file.display()))?
                .trim()
                .to_owned();
            let from = if global.api_url_from_env {
                ApiUrlSource::Env
            } else {
                ApiUrlSource::Flag
            };
            // Any authenticated call proves the address and the token; this one reads nothing
            // of a project.
            Client::with_timeout(api_url.clone(), from, Some(token), 30, ca_file.as_deref())?
                .call::<_, Value>("registry.kinds", &serde_json::json!({}))
                .await?;
        }
        None => {
            note("note: no --token-file: the context has no token, and the server was not asked");
        }
    }
    let file = context::file();
    let mut contexts = Contexts::load(&file)?;
    let saved = SavedContext {
        api_url,
        token_file,
        ca_file,
    };
    contexts.contexts.insert(name.clone(), saved.clone());
    contexts.current = Some(name.clone());
    contexts.save(&file)?;
    print_rows(
        printer,
        &[Row {
            name,
            current: true,
            context: saved,
        }],
    )
}

pub fn run(printer: &Printer, command: ContextCommand) -> anyhow::Result<()> {
    let file = context::file();
    let mut contexts = Contexts::load(&file)?;
    match command {
        ContextCommand::List => {
            let rows: Vec<Row> = contexts
                .contexts
                .iter()
                .map(|(name, ctx)| Row {
                    name: name.clone(),
                    current: contexts.current.as_ref() == Some(name),
                    context: ctx.clone(),
                })
                .collect();
            print_rows(printer, &rows)
        }
        ContextCommand::Use { name } => {
            let Some(ctx) = contexts.contexts.get(&name).cloned() else {
                return Err(ContextNotFound::Named(name).into());
            };
            contexts.current = Some(name.clone());
            contexts.save(&file)?;
            print_rows(
                printer,
                &[Row {
                    name,
                    current: true,
                    context: ctx,
                }],
            )
        }
        ContextCommand::Current => {
            let Some((name, ctx)) = contexts.current() else {
                return Err(ContextNotFound::NoCurrent.into());
            };
            print_rows(
                printer,
                &[Row {
                    name: name.to_owned(),
                    current: true,
                    context: ctx.clone(),
                }],
            )
        }
    }
}
