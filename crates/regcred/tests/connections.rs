//! Connection limits of `regcred serve` over real sockets: clients that never finish their
//! headers, idle keep-alive connections and stalled request bodies are cut off, and a server at
//! its connection bound answers `/healthz` again as soon as the stalled clients are gone.
//!
//! Every wait is bounded polling for the state the test expects (a closed socket, an answer),
//! never a sleep that assumes it happened.

mod fixture;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fixture::Server;

/// Generous bound for what the server must do within a second or two.
const WITHIN: Duration = Duration::from_secs(30);

fn connect(server: &Server) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    stream
}

/// Reads until the server closes the connection (true), or `WITHIN` passes (false). Whatever the
/// server sent before closing is appended to `seen`.
fn closed_by_server(stream: &mut TcpStream, seen: &mut Vec<u8>) -> bool {
    let deadline = Instant::now() + WITHIN;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// `GET /healthz` on a new connection, retried until it answers 200 or `WITHIN` passes.
fn healthz_answers(server: &Server) -> bool {
    let deadline = Instant::now() + WITHIN;
    while Instant::now() < deadline {
        if fixture::http_get(&server.url, "/healthz").is_some_and(|(status, _)| status == 200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn limited() -> Server {
    Server::start_with(&[
        "--header-read-timeout",
        "1",
        "--idle-timeout",
        "1",
        "--body-timeout",
        "1",
        "--max-connections",
        "4",
    ])
}

/// A client that never finishes its headers used to hold its connection forever.
#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server = limited();
    let mut stream = connect(&server);
    stream
        .write_all(b"POST /registry.kinds HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut seen = Vec::new();
    assert!(
        closed_by_server(&mut stream, &mut seen),
        "still open after {WITHIN:?}"
    );
}

/// An idle keep-alive connection used to stay open forever.
#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = limited();
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    assert!(
        closed_by_server(&mut stream, &mut seen),
        "still open after {WITHIN:?}"
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the request was answered: {text}"
    );
}

/// A stalled request body used to be counted as `body_too_large`; it is a timeout (408,
/// `request_timeout`), and so it is in the metrics.
#[test]
fn a_stalled_body_is_a_timeout() {
    let server = limited();
    let mut stream = connect(&server);
    stream
        .write_all(
            b"POST /registry.kinds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
        )
        .unwrap();
    let mut seen = Vec::new();
    closed_by_server(&mut stream, &mut seen);
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    let (_, metrics) = fixture::http_get(&server.url, "/metrics").expect("metrics");
    assert!(
        metrics.contains("request_timeout") && !metrics.contains("body_too_large"),
        "{metrics}"
    );
}

/// With every connection slot held by clients that send nothing, `/healthz` used to stop
/// answering for good. The slots come back as the header deadline cuts those clients off.
#[test]
fn a_server_at_its_connection_bound_recovers() {
    let server = limited();
    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(&server);
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n");
            s
        })
        .collect();
    assert!(
        healthz_answers(&server),
        "/healthz did not answer within {WITHIN:?}"
    );
    for stream in &mut held {
        let mut seen = Vec::new();
        assert!(
            closed_by_server(stream, &mut seen),
            "a stalled client kept its slot"
        );
    }
}
