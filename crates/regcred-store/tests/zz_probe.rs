use regcred_store::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn probe() {
    let mut bad = 0;
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
        for r in [a.map(drop), b.map(drop)] { if let Err(e) = r { bad += 1; println!("{e:?}"); } }
    }
    println!("bad = {bad}");
}
