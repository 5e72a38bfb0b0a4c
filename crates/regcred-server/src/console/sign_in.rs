//! Signing in with an access token, signing out, and the first page: the projects and
//! locations the token can see.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use regcred_core::api::{Items, Location, Project};
use serde::Deserialize;

use super::call::call;
use super::form::Form;
use super::session::{self, Posted, Session};
use super::view::{self, Section};
use crate::auth::{authenticate_token, Principal};
use crate::clock::now_millis;
use crate::error::ApiError;
use crate::service::Acting;
use crate::AppState;

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    ended: Option<String>,
}

fn sign_in_form(message: Option<&str>) -> maud::Markup {
    view::page(
        "Sign in",
        None,
        None,
        Section::None,
        html! {
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form.card method="post" action="/console/sign-in" {
                label for="token" { "Access token" }
                input #token type="password" name="token" required autocomplete="off"
                    spellcheck="false" placeholder="rc_…" aria-describedby="token-help";
                p.help #token-help {
                    "Sign in with a regcred access token. On a fresh install the admin token is "
                    "in the file " code { "admin.token" } " in the server's data directory "
                    "(by default " code { "~/.local/share/regcred/admin.token" } ")."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(Query(q): Query<SignInQuery>) -> Response {
    let message = q
        .ended
        .map(|_| "Your session ended (signed out, expired or its token revoked); sign in again.");
    view::ok(sign_in_form(message))
}

async fn audit(state: &AppState, principal: &Principal, action: &'static str) {
    let acting = Acting {
        actor: principal.actor(),
        channel: "console",
        action,
        now: now_millis(),
    };
    let event = acting.audit(
        principal.project.as_deref(),
        &principal.token_id,
        "ok",
        serde_json::json!({}),
    );
    if let Err(e) = state.store().append_audit(&event).await {
        tracing::warn!(error = %e, "console sign-in audit event not written");
    }
}

/// `POST /console/sign-in`: the token is checked like a bearer token; a session is opened.
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    if let Err(e) = session::same_origin(&headers) {
        return view::failure(&headers, e);
    }
    let token = form.get("token").unwrap_or_default().trim().to_owned();
    let principal = match authenticate_token(state.store(), &token, now_millis()).await {
        Ok(p) => p,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            return view::with_status(StatusCode::UNAUTHORIZED, sign_in_form(Some(&e.message)))
        }
        Err(e) => return view::failure(&headers, e),
    };
    let cookie = match session::open(&state, &principal).await {
        Ok(c) => c,
        Err(e) => return view::failure(&headers, e),
    };
    audit(&state, &principal, "console.signIn").await;
    let mut r = view::see_other("/console/");
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /console/sign-out`: the session is deleted and the cookie cleared.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted,
) -> Response {
    if let Err(e) = session::close(&state, &headers).await {
        return view::failure(&headers, e);
    }
    audit(&state, &posted.session.principal, "console.signOut").await;
    let mut r = view::see_other("/console/sign-in");
    if let Ok(v) = session::clear_cookie(&state).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /console/`: a project token goes to its project; others pick a project and location.
pub async fn home(State(state): State<AppState>, headers: HeaderMap, session: Session) -> Response {
    if let Some(project) = &session.principal.project {
        return view::see_other(&format!("/console/p/{project}/registries"));
    }
    let projects: Result<Items<Project>, ApiError> = call(
        &state,
        &session.principal,
        "project.list",
        serde_json::json!({}),
    )
    .await;
    let locations: Result<Items<Location>, ApiError> = call(
        &state,
        &session.principal,
        "location.list",
        serde_json::json!({}),
    )
    .await;
    let (projects, locations) = match (projects, locations) {
        (Ok(p), Ok(l)) => (p.items, l.items),
        (Err(e), _) | (_, Err(e)) => return view::failure(&headers, e),
    };
    let body = html! {
        @if projects.is_empty() {
            p { "No projects yet. Create one with " code { "regcred project create NAME" } "." }
        } @else {
            table {
                caption { "Pick a project, and a location to narrow to" }
                thead { tr { th scope="col" { "Project" } th scope="col" { "Locations" } } }
                tbody {
                    @for p in &projects {
                        tr {
                            td { a href=(format!("/console/p/{}/registries", p.name)) { (p.name) } }
                            td {
                                @for l in &locations {
                                    a.chip href=(format!("/console/p/{}/registries?location={}", p.name, l.name)) {
                                        (l.name) " (" (l.kind.as_str()) ")"
                                    } " "
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    view::ok(view::page(
        "Projects",
        Some(&session),
        None,
        Section::None,
        body,
    ))
    .into_response()
}
