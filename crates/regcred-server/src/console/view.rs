//! The page shell and the pieces several pages show: the navigation of a project, error pages,
//! check results and delivery states. maud escapes every value it interpolates.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use regcred_core::api::{DeliveryStatus, Verification};

use super::assets::{script_path, style_path};
use super::session::{wants_json, Session};
use crate::error::ApiError;

/// The sections of a project's pages, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Registries,
    Deployments,
    Keys,
    Tokens,
    Audit,
    None,
}

/// A whole page.
pub fn page(
    title: &str,
    session: Option<&Session>,
    project: Option<&str>,
    section: Section,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · regcred" }
                link rel="stylesheet" href=(style_path());
                script src=(script_path()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/" { "regcred" }
                    @if let Some(project) = project {
                        nav aria-label="Project" {
                            span.project { "Project " strong { (project) } }
                            @for (s, label, path) in [
                                (Section::Registries, "Container registries", "registries"),
                                (Section::Deployments, "Deployments", "deployments"),
                                (Section::Keys, "Registry keys", "keys"),
                                (Section::Tokens, "Tokens", "tokens"),
                                (Section::Audit, "Audit log", "audit"),
                            ] {
                                a href=(format!("/console/p/{project}/{path}"))
                                    aria-current=[(s == section).then_some("page")] { (label) }
                            }
                        }
                    }
                    @if let Some(session) = session {
                        form.signout method="post" action="/console/sign-out" {
                            span.who {
                                (session.principal.name) " (" (session.principal.role.as_str()) ")"
                            }
                            input type="hidden" name="csrf" value=(session.csrf_token());
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page as a `200 OK` response.
pub fn ok(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// A page with another status.
pub fn with_status(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// `303 See Other` to `to`: what a successful form post answers.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A refusal: the API's JSON envelope for the console's script, an error page otherwise.
pub fn failure(headers: &HeaderMap, e: ApiError) -> Response {
    if wants_json(headers) {
        return e.into_response();
    }
    let body = html! {
        p.error role="alert" { (e.message) }
        @if !e.items.is_empty() {
            ul.error { @for item in &e.items { li { (item.message) } } }
        }
        p { a href="/console/" { "Back to the console" } }
    };
    with_status(e.status, page("Refused", None, None, Section::None, body))
}

/// A check result: outcome, hint, when, and the round trips it took.
pub fn verification(v: &Verification) -> Markup {
    html! {
        div.check data-outcome=(v.outcome) {
            span class=(format!("outcome outcome-{}", v.outcome)) { (v.outcome) }
            " " span.hint { (v.hint) }
            div.small {
                @if let Some(image) = &v.image { "image " code { (image) } " · " }
                (v.round_trips) " round trips · " (v.elapsed_ms) " ms · " (v.checked_at)
            }
            div.small.detail { (v.detail.summary()) }
        }
    }
}

/// Delivery states, one line per target.
pub fn deliveries(rows: &[DeliveryStatus]) -> Markup {
    html! {
        @if rows.is_empty() {
            span.muted { "not delivered yet" }
        } @else {
            ul.plain {
                @for d in rows {
                    li {
                        code { (d.target) } " "
                        span class=(format!("state state-{}", d.state.as_str())) { (d.state.as_str()) }
                        @if let Some(r) = d.revision { " rev " (r) }
                        @if let Some(c) = &d.code { " " code { (c) } }
                    }
                }
            }
        }
    }
}
