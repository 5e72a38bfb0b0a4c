//! The shape of the server crate, as ARCHITECTURE.md draws it, checked on the sources: the RPC
//! layer (`rpc`, `methods`, `openapi`) sits on top; the services (`service/`) and the background
//! work (`delivery/`, `refresher`, `retention`) below it never reach up into it; a handler module
//! never calls into another handler module (what they share is a service, or `methods/lookup.rs`,
//! `methods/context.rs` and `methods/page.rs`); services do not reach into delivery; the web
//! console (`console/`) is a front end beside the RPC layer that nothing below uses, and it calls
//! methods only through `console/call.rs`. Every source file of the workspace
//! opens with a `//!` doc saying what it is for, and one module alone may hold unsafe code.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The lines of `file` that mention any of `needles`, outside comments.
fn mentions(file: &Path, needles: &[&str]) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .map(|l| format!("{}: {}", file.display(), l.trim()))
        .collect()
}

#[test]
fn services_and_background_work_never_reach_up_into_the_rpc_layer() {
    let up = ["crate::rpc", "crate::methods", "crate::openapi"];
    let mut found = Vec::new();
    for dir in ["service", "delivery"] {
        for file in rust_files(&src().join(dir)) {
            found.extend(mentions(&file, &up));
        }
    }
    // Nothing below the front ends uses the console either.
    for dir in ["service", "delivery", "methods"] {
        for file in rust_files(&src().join(dir)) {
            found.extend(mentions(&file, &["crate::console"]));
        }
    }
    for file in ["rpc.rs", "openapi.rs"] {
        found.extend(mentions(&src().join(file), &["crate::console"]));
    }
    for file in [
        "refresher.rs",
        "retention.rs",
        "platform.rs",
        "auth.rs",
        "error.rs",
        "decode.rs",
    ] {
        found.extend(mentions(&src().join(file), &up));
        found.extend(mentions(&src().join(file), &["crate::console"]));
    }
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

/// The console is a front end beside the RPC layer: it calls the method table through
/// `console/call.rs` only (with a `Ctx` on channel `console`), so what it may do is decided by
/// the methods' own authorization; it never calls a handler or the dispatcher directly.
#[test]
fn the_console_calls_methods_only_through_its_call_module() {
    let mut found = Vec::new();
    for file in rust_files(&src().join("console")) {
        if file.ends_with("call.rs") {
            continue;
        }
        found.extend(mentions(
            &file,
            &["crate::methods", "crate::rpc::dispatch", "(info.handler)"],
        ));
    }
    assert!(
        found.is_empty(),
        "console → methods outside call.rs:\n{}",
        found.join("\n")
    );
    let call = std::fs::read_to_string(src().join("console/call.rs")).unwrap();
    assert!(call.contains("METHODS") && call.contains("channel: \"console\""));
}

#[test]
fn services_do_not_reach_into_delivery() {
    let mut found = Vec::new();
    for file in rust_files(&src().join("service")) {
        found.extend(mentions(&file, &["crate::delivery"]));
    }
    assert!(
        found.is_empty(),
        "service → delivery:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_handler_module_calls_another() {
    let methods = src().join("methods");
    let handlers: Vec<String> = rust_files(&methods)
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| !matches!(m.as_str(), "mod" | "context" | "lookup" | "page"))
        .collect();
    assert!(handlers.len() > 5, "{handlers:?}");
    let mut found = Vec::new();
    for file in rust_files(&methods) {
        let needles: Vec<String> = handlers
            .iter()
            .flat_map(|h| {
                [
                    format!("super::{h}::"),
                    format!("super::{{{h}"),
                    format!(", {h}}}"),
                ]
            })
            .collect();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        found.extend(mentions(&file, &needles));
    }
    assert!(found.is_empty(), "handler → handler:\n{}", found.join("\n"));
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut undocumented = Vec::new();
    let mut seen = 0;
    for krate in std::fs::read_dir(crates).unwrap() {
        let dir = krate.unwrap().path().join("src");
        if !dir.is_dir() {
            continue;
        }
        for file in rust_files(&dir) {
            seen += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            if !text.starts_with("//!") {
                undocumented.push(file.display().to_string());
            }
        }
    }
    assert!(seen > 50, "only {seen} files found");
    assert!(
        undocumented.is_empty(),
        "no `//!` doc:\n{}",
        undocumented.join("\n")
    );
}

/// The workspace's lints deny unsafe code, and every crate takes them; the one module allowed
/// to call into the allocator is the binary's `memory.rs`.
#[test]
fn unsafe_code_stays_in_the_allocator_module() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // This file names what it looks for.
    let allowed = [
        crates.join("regcred/src/memory.rs"),
        crates.join("regcred-server/tests/layout.rs"),
    ];
    let mut found = Vec::new();
    let mut manifests = 0;
    for krate in std::fs::read_dir(crates).unwrap() {
        let krate = krate.unwrap().path();
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
        manifests += 1;
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{} does not take the workspace's lints",
            krate.display()
        );
        for dir in ["src", "tests", "benches"].map(|d| krate.join(d)) {
            if !dir.is_dir() {
                continue;
            }
            for file in rust_files(&dir)
                .into_iter()
                .filter(|f| !allowed.contains(f))
            {
                let needles = ["(unsafe_code)", "unsafe {", "unsafe fn", "unsafe impl"];
                found.extend(mentions(&file, &needles));
            }
        }
    }
    assert!(manifests >= 7, "only {manifests} crates found");
    assert!(found.is_empty(), "unsafe code:\n{}", found.join("\n"));
}
