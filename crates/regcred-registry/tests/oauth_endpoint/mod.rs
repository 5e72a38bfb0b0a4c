//! A local OAuth-style endpoint for the provider tests: it records every request (method, path,
//! content type, accept header, and the form decoded by the `url` crate, independent of the
//! encoder under test) and answers what the test says. Shared by the Google and Azure tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// The form fields, sorted, so that comparisons check the set and catch duplicates.
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> &str {
        let values: Vec<&str> = self
            .form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values.len(), 1, "{name} in {:?}", self.form);
        values[0]
    }
}

type Responder = dyn Fn(&Recorded) -> (u16, String) + Send + Sync;

#[derive(Clone)]
struct FakeState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    respond: Arc<Responder>,
}

/// A token endpoint answering every request with `respond(request)`; stopped when dropped.
pub struct FakeEndpoint {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeEndpoint {
    pub async fn start(
        respond: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            requests: requests.clone(),
            respond: Arc::new(respond),
        };
        let app = Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeEndpoint {
            addr,
            requests,
            task,
        }
    }

    /// Answers `status` with `body` whatever is asked.
    pub async fn answering(status: u16, body: &str) -> Self {
        let body = body.to_owned();
        Self::start(move |_| (status, body.clone())).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    axum::extract::State(state): axum::extract::State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = String::from_utf8(body.to_vec()).unwrap();
    // Decoded as `application/x-www-form-urlencoded` by the url crate, independent of the
    // encoder under test.
    let mut form: Vec<(String, String)> =
        reqwest::Url::parse(&format!("http://form.invalid/?{body}"))
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    form.sort();
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        content_type: text(header::CONTENT_TYPE),
        accept: text(header::ACCEPT),
        form,
    };
    let (status, body) = (state.respond)(&recorded);
    state.requests.lock().unwrap().push(recorded);
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
