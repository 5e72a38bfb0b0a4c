//! Replays the committed inputs of every fuzz target through its invariant: the seed corpus
//! (`corpus/TARGET/`, what `scripts/fuzz` starts from and merges its finds into) and every crash
//! found so far (`regressions/TARGET/`, each a file named for what it broke). So the suite keeps
//! checking what fuzzing once found, without libFuzzer.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} breaks {target}", path.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no committed input for {target}");
}

#[test]
fn image_ref() {
    replay("image_ref", regcred_fuzz::image_ref);
}

#[test]
fn registry_server() {
    replay("registry_server", regcred_fuzz::registry_server);
}

#[test]
fn www_authenticate() {
    replay("www_authenticate", regcred_fuzz::www_authenticate);
}

#[test]
fn auth_file() {
    replay("auth_file", regcred_fuzz::auth_file);
}

#[test]
fn rpc_body() {
    replay("rpc_body", regcred_fuzz::rpc_body);
}
