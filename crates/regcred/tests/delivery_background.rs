//! The background delivery loop of the real `regcred serve`, with no `location sync`: a new pull
//! secret reaches the cluster because creating it wakes the loop, and a namespace created later
//! for the project gets it on a following pass — no restart. The cluster is `FakeKubeApi`, a
//! scripted fake (no Kubernetes API server can run here).

mod fixture;

use std::time::{Duration, Instant};

use fixture::Server;
use regcred_testkit::FakeKubeApi;

/// Waits for `check` to hold, polling; the bound only keeps a broken loop from hanging the run.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_background_loop_delivers_and_finds_new_namespaces() {
    let kube = FakeKubeApi::start();
    kube.create_namespace("acme", &[]);
    // A long interval: the first delivery must come from the wake-up, not from a timer.
    let mut server = Server::start_with(&["--delivery-interval", "3600"]);
    server.run(&["project", "create", "acme"]).ok();
    let kubeconfig = kube.kubeconfig_path();
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");
    server
        .run(&[
            "location",
            "create",
            "k8s",
            "--kind",
            "kubernetes",
            "--kubeconfig",
            kubeconfig,
            "--namespace-selector",
            "regcred.dev/project={project}",
        ])
        .ok();
    server
        .cli(&[
            "pullsecret",
            "create",
            "--project",
            "acme",
            "--location",
            "k8s",
            "--name",
            "reg",
            "--server",
            "registry.example.com",
            "--username",
            "u",
            "--password-stdin",
        ])
        .stdin("background-canary")
        .run()
        .ok();
    eventually("delivery after create", || {
        kube.get_object("secrets", Some("acme"), "reg").is_some()
    });

    // A short interval: a namespace that appears later is found by a timed pass.
    server.restart_with(&["--delivery-interval", "1"]);
    kube.create_namespace("acme-dev", &[("regcred.dev/project", "acme")]);
    eventually("delivery to the new namespace", || {
        kube.get_object("secrets", Some("acme-dev"), "reg")
            .is_some()
    });
    // The pass records its statuses after it writes; the status follows shortly. (The first
    // server may have been stopped before it recorded its own, and a view without deliveries
    // has no `deliveries` field.)
    let delivered = || -> Vec<String> {
        let args = [
            "pullsecret",
            "get",
            "reg",
            "--project",
            "acme",
            "--location",
            "k8s",
            "-o",
            "json",
        ];
        let got = server.run(&args).ok().json();
        got["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["state"] == "delivered")
            .filter_map(|d| d["target"].as_str().map(str::to_owned))
            .collect()
    };
    eventually("both deliveries in the status", || delivered().len() == 2);
    assert_eq!(delivered(), ["secret:acme-dev/reg", "secret:acme/reg"]);

    // The server logs at debug level (kube-rs included); the password reached the cluster and
    // nothing else.
    let secret = kube
        .get_object("secrets", Some("acme"), "reg")
        .expect("secret");
    let data = secret["data"][".dockerconfigjson"].as_str().expect("data");
    assert!(
        fixture::find_secret(data.as_bytes(), "background-canary").is_some(),
        "positive control: the search finds the delivered password"
    );
    let log = server.log_text();
    assert!(
        log.len() > 1000,
        "the debug log is suspiciously short:\n{log}"
    );
    assert_eq!(
        fixture::find_secret(log.as_bytes(), "background-canary"),
        None,
        "{log}"
    );
    for out in server.transcript() {
        assert_eq!(
            fixture::find_secret(out.stdout.as_bytes(), "background-canary"),
            None,
            "{}",
            out.label
        );
        assert_eq!(
            fixture::find_secret(out.stderr.as_bytes(), "background-canary"),
            None,
            "{}",
            out.label
        );
    }
}
