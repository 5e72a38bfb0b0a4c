//! Core resolution benchmark: which of N stored pull secrets the kubelet would use for an image,
//! answered by the [`KubeletKeyring`] built once, against the linear walk upstream does (every key
//! tried for every image), measured in the same run on one core. The entries are spread over many
//! registries as a platform's are: per-project registries (`reg-<i>.example.com`, some with a
//! team path), Docker Hub and GHCR organizations sharing their registry's host, and a few of
//! Azure's wildcard key.
//!
//! Run with `cargo bench -p regcred-core --bench resolution` or `scripts/bench`;
//! `RESOLUTION_ENTRIES` changes N (default 100,000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use regcred_core::matching::{
    kubelet_is_default_registry_match, kubelet_normalize_key, kubelet_urls_match, ContainersIndex,
    KubeletKeyring,
};

fn entries(n: usize) -> Vec<(String, usize)> {
    (0..n)
        .map(|i| {
            let key = match i % 10 {
                0 => format!("docker.io/org{i}"),
                1 => format!("ghcr.io/org{i}"),
                // A wildcard key is rare: Azure's, a handful of them.
                2 if i % 10_000 == 2 => "*.azurecr.io".to_owned(),
                3 => format!("reg-{i}.example.com/team"),
                _ => format!("reg-{i}.example.com"),
            };
            (key, i)
        })
        .collect()
}

fn images(n: usize) -> Vec<String> {
    (0..1000)
        .map(|j| {
            let i = (j * 7919) % n;
            match j % 4 {
                0 => format!("reg-{i}.example.com/team/app"),
                1 => format!("ghcr.io/org{i}/app"),
                2 => "acme.azurecr.io/app".to_owned(),
                _ => "docker.io/library/nginx".to_owned(),
            }
        })
        .collect()
}

/// Runs `f` over `images` until at least `min` has passed; lookups per second.
fn rate(images: &[String], min: Duration, mut f: impl FnMut(&str) -> usize) -> f64 {
    let started = Instant::now();
    let mut lookups = 0u64;
    let mut found = 0usize;
    while started.elapsed() < min {
        for image in images {
            found += f(image);
            lookups += 1;
        }
    }
    black_box(found);
    lookups as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("RESOLUTION_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let entries = entries(n);
    let images = images(n);
    let built = Instant::now();
    let keyring = KubeletKeyring::new(entries.iter().map(|(k, v)| (k.as_str(), *v)));
    let build = built.elapsed();
    let walk = Linear::new(&entries);
    for image in images.iter().take(20) {
        assert_eq!(keyring.lookup(image), walk.lookup(image), "{image}");
    }
    let indexed = rate(&images, Duration::from_secs(2), |i| keyring.lookup(i).len());
    // The linear walk is slow at this size: a few images are enough for its rate.
    let linear = rate(&images[..8], Duration::from_secs(2), |i| {
        walk.lookup(i).len()
    });
    println!("| what | N | lookups/s | ratio |");
    println!("|---|---|---|---|");
    println!("| linear walk (baseline) | {n} | {linear:.0} | 1.0× |");
    println!(
        "| KubeletKeyring (built in {} ms) | {n} | {indexed:.0} | {:.0}× |",
        build.as_millis(),
        indexed / linear
    );
    // What the server holds per pull secret for as long as it serves, besides the entries'
    // own strings: both indexes, their buffers' capacity (the allocator's overhead aside).
    let containers = ContainersIndex::new(entries.iter().map(|(k, v)| (k.as_str(), *v as u32)));
    let keyring = KubeletKeyring::new(entries.iter().map(|(k, v)| (k.as_str(), *v as u32)));
    println!();
    println!("| index of {n} entries (`u32` values) | bytes per entry |");
    println!("|---|---|");
    for (what, bytes) in [
        ("KubeletKeyring", keyring.heap_bytes()),
        ("ContainersIndex", containers.heap_bytes()),
    ] {
        println!("| {what} | {:.0} |", bytes as f64 / n as f64);
    }
}

/// Upstream's keyring: the index sorted once when built, every key tried for every lookup.
struct Linear(Vec<(String, usize)>);

impl Linear {
    fn new(entries: &[(String, usize)]) -> Linear {
        let mut sorted: Vec<(String, usize)> = entries
            .iter()
            .filter_map(|(k, v)| Some((kubelet_normalize_key(k)?, *v)))
            .collect();
        // Stable: values of one key keep their order, as in the keyring's index.
        sorted.sort_by(|a, b| b.0.cmp(&a.0));
        Linear(sorted)
    }

    fn lookup(&self, image: &str) -> Vec<usize> {
        let matched: Vec<usize> = self
            .0
            .iter()
            .filter(|(k, _)| kubelet_urls_match(k, image))
            .map(|(_, v)| *v)
            .collect();
        if matched.is_empty() && kubelet_is_default_registry_match(image) {
            return self
                .0
                .iter()
                .filter(|(k, _)| k == "index.docker.io")
                .map(|(_, v)| *v)
                .collect();
        }
        matched
    }
}
