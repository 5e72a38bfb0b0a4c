//! Container registries (pull secrets) of a project: the list with its filters, the add / rotate
//! form generated from `registry.kinds` (one fieldset per kind, built from the kind's field
//! table, so a new kind in core appears here without console code), Test Connection, the detail
//! page with its check and delete, and the type inference the script asks for.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use regcred_core::api::{
    Envelope, ErrorItem, Items, Location, Page, PullSecret, PullSecretCreated, PullSecretTested,
};
use regcred_core::credential::{FieldInfo, Kind, KindInfo};
use regcred_core::registry_host::RegistryServer;
use serde::Deserialize;
use serde_json::json;

use super::call::call;
use super::form::Form;
use super::session::{wants_json, Posted, Session};
use super::view::{self, Section};
use crate::auth::Permission;
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

fn blank_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

async fn locations(state: &AppState, session: &Session) -> Result<Vec<Location>, ApiError> {
    let l: Items<Location> = call(state, &session.principal, "location.list", json!({})).await?;
    Ok(l.items)
}

/// Whether the session may add, rotate and delete pull secrets here: the API's own rule.
fn can_write(session: &Session, project: &str) -> bool {
    session
        .principal
        .require(Permission::WriteSecrets, Some(project))
        .is_ok()
}

fn kind_title(kind: Kind) -> &'static str {
    kind.info().title
}

/// `GET /console/p/{project}/registries`.
pub async fn list(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let location = blank_none(&q.location);
    let kind = blank_none(&q.kind).and_then(Kind::parse);
    let mut request = json!({ "project": project, "limit": 50 });
    if let Some(l) = location {
        request["location"] = json!(l);
    }
    if let Some(k) = kind {
        request["kind"] = json!(k.as_str());
    }
    if let Some(p) = blank_none(&q.page) {
        request["pageToken"] = json!(p);
    }
    let page: Page<PullSecret> =
        match call(&state, &session.principal, "pullSecret.list", request).await {
            Ok(p) => p,
            Err(e) => return view::failure(&headers, e),
        };
    let all_locations = match locations(&state, &session).await {
        Ok(l) => l,
        Err(e) => return view::failure(&headers, e),
    };
    let items = &page.items;
    let writable = can_write(&session, &project);
    let base = format!("/console/p/{project}/registries");
    let body = html! {
        @if let Some(name) = blank_none(&q.deleted) {
            p.notice role="status" { "Deleted " strong { (name) } "." }
        }
        form.filters method="get" action=(base) {
            label for="filter-location" { "Location" }
            select #filter-location name="location" {
                option value="" { "all locations" }
                @for l in &all_locations {
                    option value=(l.name) selected[location == Some(l.name.as_str())] { (l.name) }
                }
            }
            label for="filter-kind" { "Type" }
            select #filter-kind name="kind" {
                option value="" { "all types" }
                @for k in Kind::ALL {
                    option value=(k.as_str()) selected[kind == Some(k)] { (kind_title(k)) }
                }
            }
            button type="submit" { "Filter" }
            @if writable {
                a.button href=(format!("{base}/new{}", location.map(|l| format!("?location={l}")).unwrap_or_default())) {
                    "Add registry"
                }
            }
        }
        @if let (Some(l), true) = (location, writable) {
            form.inline method="post" action=(format!("/console/p/{project}/locations/{l}/sync")) data-async="sync" {
                input type="hidden" name="csrf" value=(session.csrf_token());
                button type="submit" { "Sync " (l) " now" }
                output.progress aria-live="polite" {}
            }
        }
        @if items.is_empty() && page.next_page_token.is_some() {
            p.muted { "None of this type among the registries looked at so far; the next page looks further." }
        } @else if items.is_empty() {
            p.muted { "No container registries here yet." }
        } @else {
            table.registries {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Location" } th scope="col" { "Type" }
                    th scope="col" { "Server" } th scope="col" { "Username" }
                    th scope="col" { "Fingerprint" } th scope="col" { "Rev" }
                    th scope="col" { "Last check" } th scope="col" { "Delivery" }
                    th scope="col" { "Used by" }
                } }
                tbody {
                    @for p in items {
                        tr data-name=(p.name) {
                            td { a href=(format!("{base}/{}/{}", p.location, p.name)) { (p.name) } }
                            td { (p.location) }
                            td { (kind_title(p.kind)) }
                            td { code { (p.server) } }
                            td { (p.username.as_deref().unwrap_or("—")) }
                            td { code.fp title=(p.fingerprint) { (short(&p.fingerprint)) } }
                            td { (p.revision) }
                            td { @match &p.verification {
                                Some(v) => (view::verification(v)),
                                None => span.muted { "not checked" },
                            } }
                            td { (view::deliveries(&p.deliveries)) }
                            td { @if p.used_by.is_empty() { span.muted { "—" } } @else {
                                @for r in &p.used_by { span.chip { (r.kind) " " (r.name) } " " }
                            } }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_page_token {
            a href=(format!("{base}?page={next}{}{}",
                location.map(|l| format!("&location={l}")).unwrap_or_default(),
                kind.map(|k| format!("&kind={}", k.as_str())).unwrap_or_default())) { "Next page →" }
        }
    };
    view::ok(view::page(
        "Container registries",
        Some(&session),
        Some(&project),
        Section::Registries,
        body,
    ))
}

fn short(fingerprint: &str) -> &str {
    let tail = fingerprint.rsplit(':').next().unwrap_or(fingerprint);
    tail.get(..12).unwrap_or(tail)
}

// ---------------------------------------------------------------------------------------------
// The add / rotate form
// ---------------------------------------------------------------------------------------------

/// What the form shows: the values typed (never a secret), the field errors of the last try and
/// the result of Test Connection.
#[derive(Default)]
struct FormState {
    location: Option<String>,
    name: Option<String>,
    /// `None`: infer from the server.
    kind: Option<Kind>,
    values: HashMap<String, String>,
    image: Option<String>,
    errors: Vec<ErrorItem>,
    message: Option<String>,
    tested: Option<PullSecretTested>,
    rotating: Option<PullSecret>,
}

/// Whether a field of any kind under this name holds secret material.
fn is_secret(name: &str) -> bool {
    Kind::ALL
        .iter()
        .any(|k| k.info().field(name).is_some_and(|f| f.secret))
}

/// The fieldset shown for "infer from the server": the fields every kind accepts (the
/// deploys-style `{server, username, password}`), from the custom kind's table, server optional.
fn inferred_fields() -> Vec<FieldInfo> {
    Kind::Custom
        .info()
        .fields
        .iter()
        .map(|f| match f.name {
            "server" => FieldInfo {
                required: false,
                ..*f
            },
            _ => *f,
        })
        .collect()
}

fn field_errors<'a>(errors: &'a [ErrorItem], field: &FieldInfo) -> Vec<&'a ErrorItem> {
    errors
        .iter()
        .filter(|e| {
            e.field
                .as_deref()
                .and_then(|f| f.strip_prefix("spec."))
                .is_some_and(|f| field.answers_to(f))
        })
        .collect()
}

fn field_input(kind_id: &str, info: Option<&KindInfo>, f: &FieldInfo, st: &FormState) -> Markup {
    let id = format!("f-{kind_id}-{}", f.name);
    let help_id = format!("{id}-help");
    let errors = field_errors(&st.errors, f);
    let error_id = format!("{id}-error");
    let described = match errors.is_empty() {
        true => help_id.clone(),
        false => format!("{help_id} {error_id}"),
    };
    let name = format!("spec.{}", f.name);
    let placeholder = match (f.name, info) {
        ("server", Some(info)) => Some(info.server_pattern),
        _ => None,
    };
    let value = (!f.secret)
        .then(|| st.values.get(f.name).cloned())
        .flatten();
    let json_text = f.secret && f.description.contains("JSON");
    // A rotation may leave the secret out: the current one is kept.
    let required = f.required && !(f.secret && st.rotating.is_some());
    html! {
        div.field data-field=(f.name) {
            label for=(id) {
                (f.name)
                @if required { " " span.req aria-hidden="true" { "*" } span.sr { " (required)" } }
            }
            @if json_text {
                textarea id=(id) name=(name) rows="6" autocomplete="off" spellcheck="false"
                    aria-describedby=(described) aria-required=[required.then_some("true")]
                    aria-invalid=[(!errors.is_empty()).then_some("true")] {}
                label.file for=(format!("{id}-file")) { "or choose the key file" }
                input id=(format!("{id}-file")) type="file" accept=".json,application/json"
                    data-fill=(id);
            } @else if f.secret {
                input id=(id) name=(name) type="password" autocomplete="new-password"
                    spellcheck="false" aria-describedby=(described)
                    aria-required=[required.then_some("true")]
                    aria-invalid=[(!errors.is_empty()).then_some("true")];
            } @else {
                input id=(id) name=(name) type="text" value=[value] placeholder=[placeholder]
                    spellcheck="false" aria-describedby=(described)
                    aria-required=[required.then_some("true")]
                    aria-invalid=[(!errors.is_empty()).then_some("true")];
            }
            p.help id=(help_id) {
                (f.description)
                @if f.secret && st.rotating.is_some() {
                    " — never shown; leave empty to keep the current one"
                }
            }
            @if !errors.is_empty() {
                p.field-error id=(error_id) role="alert" data-error-for=(name) {
                    @for e in &errors { (e.message) " " }
                }
            }
        }
    }
}

fn fieldset(kind: Option<Kind>, st: &FormState) -> Markup {
    let selected = kind == st.kind;
    let (kind_id, title, info, fields) = match kind {
        Some(k) => {
            let info = k.info();
            (k.as_str(), info.title, Some(info), info.fields.to_vec())
        }
        None => ("", "Inferred from the server", None, inferred_fields()),
    };
    let id_part = if kind_id.is_empty() { "auto" } else { kind_id };
    html! {
        fieldset.kind data-kind=(kind_id) hidden[!selected] disabled[!selected] {
            legend { (title) " fields" }
            @if let Some(info) = &info {
                p.help {
                    "Server: " code { (info.server_pattern) }
                    @if let Some(d) = info.default_server { " (default " code { (d) } ")" }
                    " · credentials: " (format!("{:?}", info.auth).to_lowercase())
                }
            }
            @for f in &fields { (field_input(id_part, info.as_ref(), f, st)) }
        }
    }
}

fn result_panel(st: &FormState) -> Markup {
    html! {
        div #test-result aria-live="polite" {
            @if let Some(m) = &st.message {
                p.error role="alert" { (m) }
            }
            @let general: Vec<&ErrorItem> = st.errors.iter().filter(|e| {
                !e.field.as_deref().is_some_and(|f| {
                    let kinds: Vec<Option<Kind>> = match st.kind { Some(k) => vec![Some(k)], None => vec![None] };
                    kinds.iter().any(|k| {
                        let fields: Vec<FieldInfo> = match k { Some(k) => k.info().fields.to_vec(), None => inferred_fields() };
                        f.strip_prefix("spec.").is_some_and(|f| fields.iter().any(|fi| fi.answers_to(f)))
                    })
                })
            }).collect();
            @if !general.is_empty() {
                ul.error role="alert" {
                    @for e in general {
                        li { @if let Some(f) = &e.field { code { (f) } ": " } (e.message) }
                    }
                }
            }
            @if let Some(t) = &st.tested {
                div.tested {
                    p { "Valid " strong { (kind_title(t.kind)) } " credentials for " code { (t.server) } "." }
                    @for n in &t.notes { p.small { (n) } }
                    @if let Some(v) = &t.verification { (view::verification(v)) }
                }
            }
        }
    }
}

fn form_page_markup(
    project: &str,
    locations: &[Location],
    st: &FormState,
    session: &Session,
) -> Markup {
    let base = format!("/console/p/{project}/registries");
    let title = match &st.rotating {
        Some(p) => format!("Rotate {}", p.name),
        None => "Add a container registry".to_owned(),
    };
    let body = html! {
        @if st.rotating.is_some() {
            p.notice {
                "Rotating replaces the credential and bumps the revision. Secret fields are never "
                "shown or filled in: leave them empty to keep the current secret (for the same "
                "registry type and server), or enter a new one."
            }
        }
        noscript {
            form.card method="get" action=(format!("{base}/new")) {
                p { "Without JavaScript, choose the registry type first to see its fields:" }
                @if let Some(l) = &st.location { input type="hidden" name="location" value=(l); }
                @if let Some(n) = &st.name { input type="hidden" name="name" value=(n); }
                label for="nojs-kind" { "Registry type" }
                select #nojs-kind name="kind" {
                    option value="" selected[st.kind.is_none()] { "Infer from the server" }
                    @for k in Kind::ALL {
                        option value=(k.as_str()) selected[st.kind == Some(k)] { (kind_title(k)) }
                    }
                }
                button type="submit" { "Show its fields" }
            }
        }
        form #registry-form.card method="post" action=(base) novalidate {
            input type="hidden" name="csrf" value=(session.csrf_token());
            div.field {
                label for="location" { "Location" }
                select #location name="location" {
                    @for l in locations {
                        option value=(l.name) selected[st.location.as_deref() == Some(l.name.as_str())] { (l.name) }
                    }
                }
            }
            div.field {
                label for="name" { "Name" span.req aria-hidden="true" { " *" } }
                input #name type="text" name="name" value=[st.name.as_deref()]
                    readonly[st.rotating.is_some()] spellcheck="false"
                    aria-describedby="name-help" placeholder="e.g. ghcr";
                @if st.rotating.is_some() { input type="hidden" name="rotate" value="1"; }
                p.help #name-help { "a DNS label: lowercase letters, digits and -" }
                @for e in st.errors.iter().filter(|e| e.field.as_deref() == Some("name")) {
                    p.field-error role="alert" data-error-for="name" { (e.message) }
                }
            }
            div.field {
                label for="kind" { "Registry type" }
                select #kind name="kind" aria-describedby="kind-help" {
                    option value="" selected[st.kind.is_none()] { "Infer from the server" }
                    @for k in Kind::ALL {
                        option value=(k.as_str()) selected[st.kind == Some(k)] { (kind_title(k)) }
                    }
                }
                p.help #kind-help { "the fields below follow the type; typing a server picks its type" }
            }
            (fieldset(None, st))
            @for k in Kind::ALL { (fieldset(Some(k), st)) }
            div.field {
                label for="image" { "Image to test with (optional)" }
                input #image type="text" name="image" value=[st.image.as_deref()]
                    spellcheck="false" placeholder="e.g. ghcr.io/acme/api:v1" aria-describedby="image-help";
                p.help #image-help { "Test Connection checks that this image can be pulled; without one it checks the login" }
                @for e in st.errors.iter().filter(|e| e.field.as_deref() == Some("image")) {
                    p.field-error role="alert" data-error-for="image" { (e.message) }
                }
            }
            div.actions {
                button #test-button type="submit" formaction=(format!("{base}/test")) { "Test Connection" }
                button #save-button type="submit" { "Save" }
                output #progress.progress aria-live="polite" {}
            }
            (result_panel(st))
        }
    };
    view::page(
        &title,
        Some(session),
        Some(project),
        Section::Registries,
        body,
    )
}

#[derive(Deserialize, Default)]
pub struct FormQuery {
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// `GET /console/p/{project}/registries/new`: add, or rotate when `name` exists.
pub async fn form_page(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(q): Query<FormQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    if let Err(e) = session
        .principal
        .require(Permission::WriteSecrets, Some(&project))
    {
        return view::failure(&headers, e);
    }
    let all_locations = match locations(&state, &session).await {
        Ok(l) => l,
        Err(e) => return view::failure(&headers, e),
    };
    let mut st = FormState {
        location: blank_none(&q.location).map(str::to_owned),
        name: blank_none(&q.name).map(str::to_owned),
        kind: blank_none(&q.kind).and_then(Kind::parse),
        ..FormState::default()
    };
    if let (Some(location), Some(name)) = (&st.location, &st.name) {
        let request = json!({ "project": project, "location": location, "name": name });
        match call::<PullSecret>(&state, &session.principal, "pullSecret.get", request).await {
            Ok(existing) => {
                st.kind = Some(existing.kind);
                st.values.insert("server".into(), existing.server.clone());
                if let Some(u) = &existing.username {
                    st.values.insert("username".into(), u.clone());
                }
                if let Some(e) = &existing.email {
                    st.values.insert("email".into(), e.clone());
                }
                if let Ok(serde_json::Value::Object(params)) =
                    serde_json::to_value(&existing.params)
                {
                    for (k, v) in params {
                        if let Some(v) = v.as_str() {
                            st.values.insert(k, v.to_owned());
                        }
                    }
                }
                st.rotating = Some(existing);
            }
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return view::failure(&headers, e),
        }
    }
    view::ok(form_page_markup(&project, &all_locations, &st, &session))
}

/// The request `pullSecret.create` and `pullSecret.test` share, from the form. A rotation with
/// every secret field left empty keeps (and tests) the current secret.
fn credential_request(project: &str, form: &Form) -> serde_json::Value {
    let mut request = json!({
        "project": project,
        "location": form.text("location").unwrap_or_default(),
        "name": form.text("name").unwrap_or_default(),
        "spec": form.object("spec.", is_secret),
    });
    let secret_given = request["spec"]
        .as_object()
        .is_some_and(|spec| spec.keys().any(|k| is_secret(k)));
    if form.text("rotate").is_some() && !secret_given {
        request["keepSecret"] = json!(true);
    }
    if let Some(kind) = form.text("kind") {
        request["kind"] = json!(kind);
    }
    if let Some(image) = form.text("image") {
        request["image"] = json!(image);
    }
    request
}

/// The form as typed, secrets left out, for showing it again.
fn state_of(form: &Form) -> FormState {
    let values = match form.object("spec.", is_secret) {
        serde_json::Value::Object(o) => o
            .into_iter()
            .filter(|(k, _)| !is_secret(k))
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
            .collect(),
        _ => HashMap::new(),
    };
    FormState {
        location: form.text("location"),
        name: form.text("name"),
        kind: form.text("kind").as_deref().and_then(Kind::parse),
        image: form.text("image"),
        values,
        ..FormState::default()
    }
}

async fn form_again(
    state: &AppState,
    project: &str,
    headers: &HeaderMap,
    session: &Session,
    st: FormState,
    status: StatusCode,
) -> Response {
    match locations(state, session).await {
        Ok(l) => view::with_status(status, form_page_markup(project, &l, &st, session)),
        Err(e) => view::failure(headers, e),
    }
}

/// `POST /console/p/{project}/registries`: `pullSecret.create` (add or rotate).
pub async fn save(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Posted { session, form }: Posted,
) -> Response {
    let mut request = credential_request(&project, &form);
    // The image is Test Connection's; saving does not check.
    if let Some(o) = request.as_object_mut() {
        o.remove("image");
    }
    match call::<PullSecretCreated>(&state, &session.principal, "pullSecret.create", request).await
    {
        Ok(created) => {
            let p = created.pull_secret;
            view::see_other(&format!(
                "/console/p/{project}/registries/{}/{}?saved={}",
                p.location, p.name, p.revision
            ))
        }
        Err(e) => {
            let mut st = state_of(&form);
            if let Some(rotating) = rotating(&state, &session, &project, &st).await {
                st.rotating = Some(rotating);
            }
            st.message = Some(e.message.clone());
            st.errors = e.items;
            form_again(&state, &project, &headers, &session, st, e.status).await
        }
    }
}

async fn rotating(
    state: &AppState,
    session: &Session,
    project: &str,
    st: &FormState,
) -> Option<PullSecret> {
    let request = json!({ "project": project, "location": st.location.as_deref()?, "name": st.name.as_deref()? });
    call(state, &session.principal, "pullSecret.get", request)
        .await
        .ok()
}

/// `POST /console/p/{project}/registries/test`: `pullSecret.test` with a check; stores nothing.
/// The script gets the API's JSON envelope; a plain form post gets the form again with the
/// result and the field errors (secret fields empty).
pub async fn test(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Posted { session, form }: Posted,
) -> Response {
    let mut request = credential_request(&project, &form);
    request["check"] = json!(true);
    let outcome: Result<PullSecretTested, ApiError> =
        call(&state, &session.principal, "pullSecret.test", request).await;
    if wants_json(&headers) {
        return match outcome {
            Ok(t) => Json(Envelope {
                ok: true,
                result: Some(t),
                error: None,
            })
            .into_response(),
            Err(e) => e.into_response(),
        };
    }
    let mut st = state_of(&form);
    st.rotating = rotating(&state, &session, &project, &st).await;
    let status = match outcome {
        Ok(t) => {
            st.tested = Some(t);
            StatusCode::OK
        }
        Err(e) => {
            st.message = Some(e.message.clone());
            st.errors = e.items;
            e.status
        }
    };
    form_again(&state, &project, &headers, &session, st, status).await
}

// ---------------------------------------------------------------------------------------------
// One registry
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    checked: Option<String>,
}

/// `GET /console/p/{project}/registries/{location}/{name}`.
pub async fn detail(
    State(state): State<AppState>,
    Path((project, location, name)): Path<(String, String, String)>,
    Query(q): Query<DetailQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let request = json!({ "project": project, "location": location, "name": name });
    let p: PullSecret = match call(&state, &session.principal, "pullSecret.get", request).await {
        Ok(p) => p,
        Err(e) => return view::failure(&headers, e),
    };
    let writable = can_write(&session, &project);
    // The delete rule of `pullSecret.delete`, which enforces it again.
    let may_delete =
        writable && (session.principal.is_admin() || p.created_by == session.principal.actor());
    let here = format!("/console/p/{project}/registries/{location}/{name}");
    let body = html! {
        @if let Some(rev) = blank_none(&q.saved) { p.notice role="status" { "Saved: revision " (rev) "." } }
        @if blank_none(&q.checked).is_some() { p.notice role="status" { "Checked." } }
        dl.meta {
            dt { "Type" } dd { (kind_title(p.kind)) }
            dt { "Server" } dd { code { (p.server) } }
            dt { "Username" } dd { (p.username.as_deref().unwrap_or("—")) }
            dt { "Location" } dd { (p.location) }
            dt { "Fingerprint" } dd { code { (p.fingerprint) } }
            dt { "Revision" } dd #revision { (p.revision) }
            dt { "Created" } dd { (p.created_at) " by " (p.created_by) }
            dt { "Updated" } dd { (p.updated_at) " by " (p.updated_by) }
            @if let Some(c) = &p.credential {
                dt { "Minted credential" } dd {
                    "expires " (c.expires_at.as_deref().unwrap_or("unknown"))
                    ", next refresh " (c.next_refresh_at)
                    @if let Some(err) = &c.last_error { ", last error " code { (err) } }
                }
            }
        }
        h2 { "Last check" }
        div #last-check {
            @match &p.verification {
                Some(v) => (view::verification(v)),
                None => p.muted { "not checked since this revision" },
            }
        }
        form.inline method="post" action=(format!("{here}/check")) data-async="check" {
            input type="hidden" name="csrf" value=(session.csrf_token());
            label for="check-image" { "Image (optional)" }
            input #check-image type="text" name="image" spellcheck="false" placeholder="registry/repository:tag";
            button type="submit" { "Check now" }
            output.progress aria-live="polite" {}
        }
        h2 { "Delivery" }
        (view::deliveries(&p.deliveries))
        h2 { "Used by" }
        @if p.used_by.is_empty() {
            p.muted { "No deployment uses it." }
        } @else {
            ul #used-by { @for r in &p.used_by {
                li { (r.kind) " " a href=(format!("/console/p/{project}/deployments/{location}/{}", r.name)) { (r.name) } }
            } }
        }
        div.actions {
            @if writable {
                a.button #rotate href=(format!("/console/p/{project}/registries/new?location={location}&name={name}")) { "Rotate" }
            }
            @if may_delete {
                form.inline method="post" action=(format!("{here}/delete")) {
                    input type="hidden" name="csrf" value=(session.csrf_token());
                    button.danger #delete type="submit" { "Delete" }
                    @if !p.used_by.is_empty() {
                        span.small { " refused while deployments use it" }
                    }
                }
            }
        }
    };
    view::ok(view::page(
        &p.name,
        Some(&session),
        Some(&project),
        Section::Registries,
        body,
    ))
}

/// `POST …/{location}/{name}/check`: `pullSecret.verify` (the result is kept on it).
pub async fn check(
    State(state): State<AppState>,
    Path((project, location, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    Posted { session, form }: Posted,
) -> Response {
    let mut request = json!({ "project": project, "location": location, "name": name });
    if let Some(image) = form.text("image") {
        request["image"] = json!(image);
    }
    let outcome: Result<serde_json::Value, ApiError> =
        call(&state, &session.principal, "pullSecret.verify", request).await;
    match (outcome, wants_json(&headers)) {
        (Ok(v), true) => Json(json!({ "ok": true, "result": v })).into_response(),
        (Ok(_), false) => view::see_other(&format!(
            "/console/p/{project}/registries/{location}/{name}?checked=1"
        )),
        (Err(e), _) => view::failure(&headers, e),
    }
}

/// `POST …/{location}/{name}/delete`: `pullSecret.delete`, never forced (the in-use guard).
pub async fn delete(
    State(state): State<AppState>,
    Path((project, location, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    Posted { session, .. }: Posted,
) -> Response {
    let request = json!({ "project": project, "location": location, "name": name });
    let outcome: Result<serde_json::Value, ApiError> =
        call(&state, &session.principal, "pullSecret.delete", request).await;
    match outcome {
        Ok(_) => view::see_other(&format!(
            "/console/p/{project}/registries?location={location}&deleted={name}"
        )),
        Err(e) => view::failure(&headers, e),
    }
}

#[derive(Deserialize)]
pub struct InferQuery {
    #[serde(default)]
    server: String,
}

/// `GET /console/infer?server=…`: the kind `pullSecret.create` would infer (for the script).
pub async fn infer(Query(q): Query<InferQuery>, _session: Session) -> Response {
    let kind = RegistryServer::parse(q.server.trim())
        .ok()
        .map(|s| Kind::infer(&s));
    Json(json!({ "kind": kind.map(Kind::as_str) })).into_response()
}
