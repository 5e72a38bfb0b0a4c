//! A one-shot HTTP/1.1 `GET` over plain TCP or TLS, enough to tell whether a server answers and
//! with which headers: the registry fixture's readiness check.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{IpAddr as PkiIpAddr, ServerName};
use tokio_rustls::TlsConnector;

/// The head of an HTTP response: its headers (names lower-cased). Any status counts as an
/// answer.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` on `127.0.0.1:port`; `None` when nothing answers with an HTTP response within
/// the timeout (refused, reset, TLS failure, garbage).
pub(crate) async fn get(
    port: u16,
    path: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Option<ResponseHead> {
    let attempt = async {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let tcp = TcpStream::connect(addr).await.ok()?;
        match tls {
            None => exchange(tcp, port, path).await,
            Some(config) => {
                let name = ServerName::IpAddress(PkiIpAddr::from(addr.ip()));
                let stream = TlsConnector::from(config).connect(name, tcp).await.ok()?;
                exchange(stream, port, path).await
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    port: u16,
    path: &str,
) -> Option<ResponseHead> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            return parse_head(&received[..end]);
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buf[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn parse_head(head: &[u8]) -> Option<ResponseHead> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let _status: u16 = parts.next()?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Some(ResponseHead { headers })
}
