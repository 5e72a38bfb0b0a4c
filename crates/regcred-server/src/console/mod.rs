//! The web console: server-rendered HTML pages over the same method handlers the RPC layer
//! routes to. A console handler turns a signed-in session into the same `Principal` a bearer
//! token gives, builds the same `Ctx` and calls the method from [`crate::methods::METHODS`]
//! (`call`), so authorization, validation, audit and every rule are literally the API's; the
//! console adds only sessions, CSRF protection and HTML. Every flow is a plain form (POST →
//! redirect → GET); one small script (`static/console.js`) only enhances: it toggles the fields of
//! the chosen registry type, infers the type from the server as it is typed, and runs Test
//! Connection, checks and syncs without a page reload.

mod admin;
mod assets;
mod call;
mod deployments;
mod form;
mod registries;
mod session;
mod sign_in;
mod view;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub use session::SESSION_COOKIE;

/// The console's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Mark the session cookie `Secure`: set when the console is served over TLS.
    pub secure_cookie: bool,
    /// How long a session lasts (never longer than its token).
    pub session_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookie: false,
            session_ttl: Duration::from_secs(8 * 60 * 60),
        }
    }
}

/// Largest form body the console reads: the API's limit.
const MAX_FORM: usize = crate::rpc::MAX_BODY;

/// What every console response carries: no script or style but the console's own files, no
/// framing, no sniffing, no referrer; pages are never cached (they show live state, and a page
/// after sign-out must not come back from a cache).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The console's routes, under `/console/`.
pub fn routes() -> Router<AppState> {
    let p = "/console/p/{project}";
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(sign_in::home))
        .route(
            "/console/sign-in",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/static/{file}", get(assets::serve))
        .route("/console/infer", get(registries::infer))
        .route(
            &format!("{p}/registries"),
            get(registries::list).post(registries::save),
        )
        .route(&format!("{p}/registries/new"), get(registries::form_page))
        .route(&format!("{p}/registries/test"), post(registries::test))
        .route(
            &format!("{p}/registries/{{location}}/{{name}}"),
            get(registries::detail),
        )
        .route(
            &format!("{p}/registries/{{location}}/{{name}}/check"),
            post(registries::check),
        )
        .route(
            &format!("{p}/registries/{{location}}/{{name}}/delete"),
            post(registries::delete),
        )
        .route(
            &format!("{p}/locations/{{location}}/sync"),
            post(deployments::sync),
        )
        .route(
            &format!("{p}/deployments"),
            get(deployments::list).post(deployments::deploy),
        )
        .route(&format!("{p}/deployments/new"), get(deployments::form_page))
        .route(
            &format!("{p}/deployments/{{location}}/{{name}}"),
            get(deployments::detail),
        )
        .route(
            &format!("{p}/keys"),
            get(admin::keys).post(admin::create_key),
        )
        .route(
            &format!("{p}/keys/{{name}}/revoke"),
            post(admin::revoke_key),
        )
        .route(
            &format!("{p}/tokens"),
            get(admin::tokens).post(admin::create_token),
        )
        .route(
            &format!("{p}/tokens/{{id}}/revoke"),
            post(admin::revoke_token),
        )
        .route(&format!("{p}/audit"), get(admin::audit))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::map_response(security_headers))
}

/// `GET /`: people are sent to the console; API clients asking for JSON get the API's answer
/// for an unknown path.
pub async fn root(headers: HeaderMap) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return crate::rpc::no_route().await;
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/console/")]).into_response()
}
