//! The console's two static files, compiled into the binary and served under a name that
//! carries a hash of their content (`console.<hash>.js`), so they can be cached for good and a
//! new binary's files are never mixed with an old page.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const SCRIPT: &str = include_str!("static/console.js");
const STYLE: &str = include_str!("static/console.css");

struct Asset {
    name: String,
    content_type: &'static str,
    body: &'static str,
}

fn named(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        name: format!("{stem}.{hash}.{ext}"),
        content_type,
        body,
    }
}

fn assets() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            named("console", "js", "text/javascript; charset=utf-8", SCRIPT),
            named("console", "css", "text/css; charset=utf-8", STYLE),
        ]
    })
}

/// The path of the script.
pub fn script_path() -> String {
    format!("/console/static/{}", assets()[0].name)
}

/// The path of the style sheet.
pub fn style_path() -> String {
    format!("/console/static/{}", assets()[1].name)
}

/// `GET /console/static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match assets().iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
