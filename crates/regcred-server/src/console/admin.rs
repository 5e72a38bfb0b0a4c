//! A project's platform-registry keys, access tokens and audit log (owners and admins: the API
//! refuses everyone else, and the page shows its refusal). A new key's or token's secret is
//! shown once, on the page that answers its creation, as the API returns it once.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use regcred_core::api::{
    AuditEvent, Items, Page, RegistryKey, RegistryKeyCreated, Role, Token, TokenCreated,
};
use serde::Deserialize;
use serde_json::json;

use super::call::call;
use super::session::{Posted, Session};
use super::view::{self, Section};
use crate::error::ApiError;
use crate::AppState;

fn shown_once(what: &str, secret: &str) -> Markup {
    html! {
        div.notice role="status" {
            p { "The new " (what) " — shown this once, copy it now:" }
            input.once type="text" readonly value=(secret) aria-label=(format!("new {what}")) autocomplete="off";
        }
    }
}

async fn keys_page(
    state: &AppState,
    session: &Session,
    project: &str,
    created: Option<&RegistryKeyCreated>,
    error: Option<&ApiError>,
) -> Result<Markup, ApiError> {
    let keys: Items<RegistryKey> = call(
        state,
        &session.principal,
        "registryKey.list",
        json!({ "project": project }),
    )
    .await?;
    Ok(html! {
        @if let Some(c) = created {
            (shown_once("registry key", &c.secret))
            p { "Log in to " code { (c.server) } " as " code { (c.key.username) } "." }
        }
        @if let Some(e) = error { p.error role="alert" { (e.message) } }
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Access" } th scope="col" { "Username" }
                th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "Revoked" } } }
            tbody { @for k in &keys.items { tr id=(format!("key-{}", k.name)) {
                td { (k.name) } td { (k.access) } td { code { (k.username) } }
                td { (k.created_at) " by " (k.created_by) }
                td { (k.expires_at.as_deref().unwrap_or("never")) }
                td {
                    @if let Some(r) = &k.revoked_at { "revoked " (r) } @else {
                        form.inline.revoke-key method="post" action=(format!("/console/p/{project}/keys/{}/revoke", k.name)) {
                            input type="hidden" name="csrf" value=(session.csrf_token());
                            button.danger type="submit" aria-label=(format!("Revoke key {}", k.name)) { "Revoke" }
                        }
                    }
                }
            } } }
        }
        h2 { "New key" }
        form.card method="post" action=(format!("/console/p/{project}/keys")) {
            input type="hidden" name="csrf" value=(session.csrf_token());
            div.field { label for="key-name" { "Name" } input #key-name type="text" name="name"; }
            div.field {
                label for="key-access" { "Access" }
                select #key-access name="access" {
                    option value="read" { "read (pull)" }
                    option value="read-write" { "read-write (pull and push)" }
                }
            }
            button type="submit" { "Create key" }
        }
    })
}

/// `GET /console/p/{project}/keys`.
pub async fn keys(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    match keys_page(&state, &session, &project, None, None).await {
        Ok(m) => view::ok(view::page(
            "Registry keys",
            Some(&session),
            Some(&project),
            Section::Keys,
            m,
        )),
        Err(e) => view::failure(&headers, e),
    }
}

/// `POST /console/p/{project}/keys`: `registryKey.create`.
pub async fn create_key(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Posted { session, form }: Posted,
) -> Response {
    let request = json!({
        "project": project,
        "name": form.text("name").unwrap_or_default(),
        "access": form.text("access").unwrap_or_default(),
    });
    let outcome: Result<RegistryKeyCreated, ApiError> =
        call(&state, &session.principal, "registryKey.create", request).await;
    let (created, error) = match outcome {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    };
    match keys_page(&state, &session, &project, created.as_ref(), error.as_ref()).await {
        Ok(m) => view::ok(view::page(
            "Registry keys",
            Some(&session),
            Some(&project),
            Section::Keys,
            m,
        )),
        Err(e) => view::failure(&headers, error.unwrap_or(e)),
    }
}

/// `POST /console/p/{project}/keys/{name}/revoke`: `registryKey.revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    headers: HeaderMap,
    Posted { session, .. }: Posted,
) -> Response {
    let request = json!({ "project": project, "name": name });
    let to = format!("/console/p/{project}/keys");
    revoke(
        &state,
        &session,
        &headers,
        "registryKey.revoke",
        request,
        &to,
    )
    .await
}

/// Runs a revocation (`method` with `request`), then sends the browser back to `to`, its list;
/// an error page when it is refused.
async fn revoke(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    method: &str,
    request: serde_json::Value,
    to: &str,
) -> Response {
    match call::<serde_json::Value>(state, &session.principal, method, request).await {
        Ok(_) => view::see_other(to),
        Err(e) => view::failure(headers, e),
    }
}

async fn tokens_page(
    state: &AppState,
    session: &Session,
    project: &str,
    created: Option<&TokenCreated>,
    error: Option<&ApiError>,
) -> Result<Markup, ApiError> {
    let tokens: Items<Token> = call(
        state,
        &session.principal,
        "token.list",
        json!({ "project": project }),
    )
    .await?;
    Ok(html! {
        @if let Some(c) = created { (shown_once("access token", &c.secret)) }
        @if let Some(e) = error { p.error role="alert" { (e.message) } }
        table {
            thead { tr { th scope="col" { "Id" } th scope="col" { "Name" } th scope="col" { "Role" }
                th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "State" } } }
            tbody { @for t in &tokens.items { tr {
                td { code { (t.id) } } td { (t.name) } td { (t.role.as_str()) }
                td { (t.created_at) " by " (t.created_by) }
                td { (t.expires_at.as_deref().unwrap_or("never")) }
                td {
                    @if let Some(r) = &t.revoked_at { "revoked " (r) } @else {
                        form.inline method="post" action=(format!("/console/p/{project}/tokens/{}/revoke", t.id)) {
                            input type="hidden" name="csrf" value=(session.csrf_token());
                            button.danger type="submit" { "Revoke" }
                        }
                    }
                }
            } } }
        }
        h2 { "New token" }
        form.card method="post" action=(format!("/console/p/{project}/tokens")) {
            input type="hidden" name="csrf" value=(session.csrf_token());
            div.field { label for="token-name" { "Name" } input #token-name type="text" name="name"; }
            div.field {
                label for="token-role" { "Role" }
                select #token-role name="role" {
                    @for r in [Role::Viewer, Role::Puller, Role::Deployer, Role::Editor, Role::Owner] {
                        option value=(r.as_str()) { (r.as_str()) }
                    }
                }
            }
            div.field {
                label for="token-ttl" { "Lifetime in days (empty: no expiry)" }
                input #token-ttl type="number" name="ttlDays" min="1";
            }
            button type="submit" { "Create token" }
        }
    })
}

/// `GET /console/p/{project}/tokens`.
pub async fn tokens(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    match tokens_page(&state, &session, &project, None, None).await {
        Ok(m) => view::ok(view::page(
            "Tokens",
            Some(&session),
            Some(&project),
            Section::Tokens,
            m,
        )),
        Err(e) => view::failure(&headers, e),
    }
}

/// `POST /console/p/{project}/tokens`: `token.create` on this project.
pub async fn create_token(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Posted { session, form }: Posted,
) -> Response {
    let mut request = json!({
        "project": project,
        "name": form.text("name").unwrap_or_default(),
        "role": form.text("role").unwrap_or_default(),
    });
    if let Some(days) = form.text("ttlDays").and_then(|d| d.parse::<u64>().ok()) {
        request["ttlSeconds"] = json!(days.saturating_mul(86_400));
    }
    let outcome: Result<TokenCreated, ApiError> =
        call(&state, &session.principal, "token.create", request).await;
    let (created, error) = match outcome {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    };
    match tokens_page(&state, &session, &project, created.as_ref(), error.as_ref()).await {
        Ok(m) => view::ok(view::page(
            "Tokens",
            Some(&session),
            Some(&project),
            Section::Tokens,
            m,
        )),
        Err(e) => view::failure(&headers, error.unwrap_or(e)),
    }
}

/// `POST /console/p/{project}/tokens/{id}/revoke`: `token.revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    Posted { session, .. }: Posted,
) -> Response {
    let to = format!("/console/p/{project}/tokens");
    revoke(
        &state,
        &session,
        &headers,
        "token.revoke",
        json!({ "id": id }),
        &to,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

/// `GET /console/p/{project}/audit`: one page of `audit.list`, filtered by action (a prefix),
/// outcome and actor on the server.
pub async fn audit(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(q): Query<AuditQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (action, outcome, actor) = (blank(&q.action), blank(&q.outcome), blank(&q.actor));
    let mut request = json!({ "project": project, "limit": 200 });
    if let Some(p) = blank(&q.page) {
        request["pageToken"] = json!(p);
    }
    for (field, value) in [
        ("action", &action),
        ("outcome", &outcome),
        ("actor", &actor),
    ] {
        if let Some(v) = value {
            request[field] = json!(v);
        }
    }
    let page: Page<AuditEvent> = match call(&state, &session.principal, "audit.list", request).await
    {
        Ok(p) => p,
        Err(e) => return view::failure(&headers, e),
    };
    let base = format!("/console/p/{project}/audit");
    // The next page keeps the filters its token was made with.
    let older = page.next_page_token.as_ref().map(|next| {
        let query: Vec<(&str, &str)> = [
            ("action", action.as_deref()),
            ("outcome", outcome.as_deref()),
            ("actor", actor.as_deref()),
            ("page", Some(next.as_str())),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    });
    let body = html! {
        form.filters method="get" action=(base) {
            label for="audit-action" { "Action" }
            input #audit-action type="text" name="action" value=[action.as_deref()] placeholder="pullSecret." title="events whose action starts with this";
            label for="audit-outcome" { "Outcome" }
            input #audit-outcome type="text" name="outcome" value=[outcome.as_deref()] placeholder="ok, denied";
            label for="audit-actor" { "Actor" }
            input #audit-actor type="text" name="actor" value=[actor.as_deref()] placeholder="tk_…";
            button type="submit" { "Filter" }
        }
        table.audit {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Channel" }
                th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Outcome" } } }
            tbody { @for e in &page.items { tr {
                td { (e.time) } td { code { (e.actor) } } td { (e.channel) } td { (e.action) }
                td { (e.target) } td { (e.outcome) }
            } } }
        }
        @if page.items.is_empty() { p.muted { "No events match in this stretch of the log." } }
        @if let Some(older) = &older {
            a href=(older) { "Older →" }
        }
    };
    view::ok(view::page(
        "Audit log",
        Some(&session),
        Some(&project),
        Section::Audit,
        body,
    ))
}
