//! The secret prompt on a real terminal: `script` (util-linux) runs regcred on a pseudo-terminal,
//! so standard input is a terminal and regcred asks for the password. The terminal's echo must
//! be off while it is typed: the transcript of the terminal holds the prompt and the rendered
//! Secret, never the typed password.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;

#[test]
fn a_password_typed_at_the_prompt_is_not_echoed() {
    let typed = "typed-at-the-terminal-7f3a";
    let command = format!(
        "{} render k8s-secret pullx --docker-username u --docker-server example.com -o json",
        env!("CARGO_BIN_EXE_regcred")
    );
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // Type only once the prompt is shown, as a person would: echo is off by then.
    let mut transcript = Vec::new();
    while !String::from_utf8_lossy(&transcript).contains("Password: ") {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(chunk) => transcript.extend(chunk),
            Err(e) => panic!(
                "no prompt ({e}); so far: {}",
                String::from_utf8_lossy(&transcript)
            ),
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{typed}\n").as_bytes()).unwrap();
    let status = child.wait().expect("script ends");
    drop(stdin);
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(5)) {
        transcript.extend(chunk);
    }
    let transcript = String::from_utf8_lossy(&transcript).into_owned();
    assert!(status.success(), "{transcript}");
    assert!(
        !transcript.contains(typed),
        "the typed password was echoed: {transcript}"
    );
    let json = &transcript[transcript.find('{').expect("a Secret")..];
    let secret: serde_json::Value =
        serde_json::from_str(json.trim().trim_end_matches('\u{0}')).expect("the Secret is JSON");
    let config = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(
        config["auths"]["example.com"]["password"], typed,
        "what was typed is the password"
    );
}
