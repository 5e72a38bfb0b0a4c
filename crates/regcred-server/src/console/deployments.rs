//! Deployments of a project: the list, one deployment with its revisions (and the pull-secret
//! revision each used) and delivery state, the deploy form with the pre-flight result and its
//! warnings (among them: no pull secret matches the image's registry), and syncing a location.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use regcred_core::api::{
    Deployment, DeploymentDeployed, ErrorItem, Items, Location, Page, PullSecret,
};
use serde::Deserialize;
use serde_json::json;

use super::call::call;
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
    page: Option<String>,
}

fn blank_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn can_deploy(session: &Session, project: &str) -> bool {
    session
        .principal
        .require(Permission::Deploy, Some(project))
        .is_ok()
}

fn used(d: &regcred_core::api::DeploymentSpec) -> Markup {
    html! {
        @if d.pull_secrets.is_empty() {
            span.muted { (d.resolution.as_str()) }
        } @else {
            @for p in &d.pull_secrets { span.chip { (p.name) " rev " (p.revision) } " " }
        }
    }
}

/// `GET /console/p/{project}/deployments`.
pub async fn list(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let mut request = json!({ "project": project, "limit": 50 });
    if let Some(l) = blank_none(&q.location) {
        request["location"] = json!(l);
    }
    if let Some(p) = blank_none(&q.page) {
        request["pageToken"] = json!(p);
    }
    let page: Page<Deployment> =
        match call(&state, &session.principal, "deployment.list", request).await {
            Ok(p) => p,
            Err(e) => return view::failure(&headers, e),
        };
    let base = format!("/console/p/{project}/deployments");
    let body = html! {
        @if can_deploy(&session, &project) {
            p { a.button #deploy-link href=(format!("{base}/new")) { "Deploy" } }
        }
        @if page.items.is_empty() {
            p.muted { "No deployments yet." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Location" } th scope="col" { "Image" }
                    th scope="col" { "Rev" } th scope="col" { "Pull secrets" } th scope="col" { "Delivery" }
                } }
                tbody { @for d in &page.items { tr data-name=(d.name) {
                    td { a href=(format!("{base}/{}/{}", d.location, d.name)) { (d.name) } }
                    td { (d.location) }
                    td { code { (d.spec.image) } }
                    td { (d.revision) }
                    td { (used(&d.spec)) }
                    td { (view::deliveries(&d.deliveries)) }
                } } }
            }
        }
        @if let Some(next) = &page.next_page_token {
            a href=(format!("{base}?page={next}")) { "Next page →" }
        }
    };
    view::ok(view::page(
        "Deployments",
        Some(&session),
        Some(&project),
        Section::Deployments,
        body,
    ))
}

/// `GET /console/p/{project}/deployments/{location}/{name}`.
pub async fn detail(
    State(state): State<AppState>,
    Path((project, location, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let request = json!({ "project": project, "location": location, "name": name });
    let d: Deployment = match call(&state, &session.principal, "deployment.get", request).await {
        Ok(d) => d,
        Err(e) => return view::failure(&headers, e),
    };
    view::ok(view::page(
        &d.name,
        Some(&session),
        Some(&project),
        Section::Deployments,
        detail_body(&project, &d),
    ))
}

fn detail_body(project: &str, d: &Deployment) -> Markup {
    html! {
        dl.meta {
            dt { "Location" } dd { (d.location) }
            dt { "Image" } dd { code { (d.spec.image) } }
            dt { "Revision" } dd { (d.revision) }
            dt { "Replicas" } dd { (d.spec.replicas) }
            dt { "Credentials" } dd { (d.spec.resolution.as_str()) }
            dt { "Pull secrets" } dd {
                @for p in &d.spec.pull_secrets {
                    a.chip href=(format!("/console/p/{project}/registries/{}/{}", d.location, p.name)) {
                        (p.name) " rev " (p.revision)
                    } " "
                }
            }
        }
        h2 { "Delivery" }
        (view::deliveries(&d.deliveries))
        h2 { "Revisions" }
        table {
            thead { tr { th scope="col" { "Rev" } th scope="col" { "Image" } th scope="col" { "Pull-secret revisions" } th scope="col" { "When" } } }
            tbody { @for r in d.revisions.iter().rev() { tr {
                td { (r.revision) } td { code { (r.spec.image) } } td { (used(&r.spec)) }
                td { (r.created_at) " by " (r.created_by) }
            } } }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct FormQuery {
    #[serde(default)]
    location: Option<String>,
}

struct DeployForm {
    location: Option<String>,
    name: Option<String>,
    image: Option<String>,
    chosen: Vec<String>,
    message: Option<String>,
    errors: Vec<ErrorItem>,
}

async fn form_markup(
    state: &AppState,
    session: &Session,
    project: &str,
    f: &DeployForm,
) -> Result<Markup, ApiError> {
    let locations: Items<Location> =
        call(state, &session.principal, "location.list", json!({})).await?;
    let secrets: Vec<PullSecret> = match &f.location {
        Some(l) => {
            let request = json!({ "project": project, "location": l, "limit": 1000 });
            call::<Page<PullSecret>>(state, &session.principal, "pullSecret.list", request)
                .await?
                .items
        }
        None => Vec::new(),
    };
    let base = format!("/console/p/{project}/deployments");
    Ok(html! {
        form.filters method="get" action=(format!("{base}/new")) {
            label for="deploy-location-pick" { "Location" }
            select #deploy-location-pick name="location" {
                @for l in &locations.items {
                    option value=(l.name) selected[f.location.as_deref() == Some(l.name.as_str())] { (l.name) }
                }
            }
            button type="submit" { "Choose" }
        }
        @if let Some(location) = &f.location {
            form #deploy-form.card method="post" action=(base) {
                input type="hidden" name="csrf" value=(session.csrf_token());
                input type="hidden" name="location" value=(location);
                @if let Some(m) = &f.message { p.error role="alert" { (m) } }
                @if !f.errors.is_empty() {
                    ul.error { @for e in &f.errors { li { @if let Some(field) = &e.field { code { (field) } ": " } (e.message) } } }
                }
                div.field {
                    label for="deploy-name" { "Name" }
                    input #deploy-name type="text" name="name" value=[f.name.as_deref()] spellcheck="false";
                }
                div.field {
                    label for="deploy-image" { "Image" }
                    input #deploy-image type="text" name="image" value=[f.image.as_deref()]
                        spellcheck="false" placeholder="ghcr.io/acme/api:v1";
                }
                fieldset {
                    legend { "Pull secrets of " (location) " (in the order the runtime tries them)" }
                    @if secrets.is_empty() { p.muted { "This location has no pull secrets of the project." } }
                    @for s in &secrets {
                        div.check-row {
                            input type="checkbox" name="pullSecrets" value=(s.name)
                                id=(format!("ps-{}", s.name)) checked[f.chosen.contains(&s.name)];
                            label for=(format!("ps-{}", s.name)) { (s.name) " — " code { (s.server) } }
                        }
                    }
                }
                div.field {
                    label for="deploy-replicas" { "Replicas" }
                    input #deploy-replicas type="number" name="replicas" min="0" value="1";
                }
                div.check-row {
                    input #deploy-noverify type="checkbox" name="noVerify" value="true";
                    label for="deploy-noverify" { "Skip the pre-flight pull check" }
                }
                div.actions { button #deploy-button type="submit" { "Deploy" } output.progress aria-live="polite" {} }
            }
        }
    })
}

/// `GET /console/p/{project}/deployments/new`.
pub async fn form_page(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(q): Query<FormQuery>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    if let Err(e) = session
        .principal
        .require(Permission::Deploy, Some(&project))
    {
        return view::failure(&headers, e);
    }
    let f = DeployForm {
        location: blank_none(&q.location).map(str::to_owned),
        name: None,
        image: None,
        chosen: Vec::new(),
        message: None,
        errors: Vec::new(),
    };
    match form_markup(&state, &session, &project, &f).await {
        Ok(m) => view::ok(view::page(
            "Deploy",
            Some(&session),
            Some(&project),
            Section::Deployments,
            m,
        )),
        Err(e) => view::failure(&headers, e),
    }
}

/// `POST /console/p/{project}/deployments`: `deployment.deploy`; answers the pre-flight result.
pub async fn deploy(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Posted { session, form }: Posted,
) -> Response {
    let chosen = form.all("pullSecrets");
    let mut request = json!({
        "project": project,
        "location": form.text("location").unwrap_or_default(),
        "name": form.text("name").unwrap_or_default(),
        "image": form.text("image").unwrap_or_default(),
        "pullSecrets": chosen,
    });
    if let Some(r) = form.text("replicas").and_then(|r| r.parse::<u32>().ok()) {
        request["replicas"] = json!(r);
    }
    if form.text("noVerify").is_some() {
        request["noVerify"] = json!(true);
    }
    let outcome: Result<DeploymentDeployed, ApiError> =
        call(&state, &session.principal, "deployment.deploy", request).await;
    match outcome {
        Ok(done) => {
            let d = &done.deployment;
            let body = html! {
                p.notice role="status" {
                    "Deployed " a href=(format!("/console/p/{project}/deployments/{}/{}", d.location, d.name)) { (d.name) }
                    " at revision " (d.revision) "."
                }
                @for w in &done.warnings { p.warning role="alert" { (w) } }
                @if let Some(check) = &done.check {
                    h2 { "Pre-flight check" }
                    p { span class=(format!("outcome outcome-{}", check.outcome)) { (check.outcome) } " " (check.hint) }
                    @for w in &check.warnings { p.warning role="alert" { (w) } }
                    ul { @for a in &check.attempts { li {
                        (a.pull_secret.as_deref().unwrap_or("anonymous")) ": " (view::verification(&a.verification))
                    } } }
                }
                (detail_body(&project, d))
            };
            view::ok(view::page(
                "Deployed",
                Some(&session),
                Some(&project),
                Section::Deployments,
                body,
            ))
        }
        Err(e) => {
            let f = DeployForm {
                location: form.text("location"),
                name: form.text("name"),
                image: form.text("image"),
                chosen,
                message: Some(e.message.clone()),
                errors: e.items.clone(),
            };
            match form_markup(&state, &session, &project, &f).await {
                Ok(m) => view::with_status(
                    e.status,
                    view::page(
                        "Deploy",
                        Some(&session),
                        Some(&project),
                        Section::Deployments,
                        m,
                    ),
                ),
                Err(e2) => view::failure(&headers, e2),
            }
        }
    }
}

/// `POST /console/p/{project}/locations/{location}/sync`: `location.sync`.
pub async fn sync(
    State(state): State<AppState>,
    Path((project, location)): Path<(String, String)>,
    headers: HeaderMap,
    Posted { session, .. }: Posted,
) -> Response {
    let outcome: Result<serde_json::Value, ApiError> = call(
        &state,
        &session.principal,
        "location.sync",
        json!({ "name": location }),
    )
    .await;
    match (outcome, wants_json(&headers)) {
        (Ok(v), true) => Json(json!({ "ok": true, "result": v })).into_response(),
        (Ok(_), false) => view::see_other(&format!(
            "/console/p/{project}/registries?location={location}"
        )),
        (Err(e), _) => view::failure(&headers, e),
    }
}
