//! Crash safety on both backends: a real `regcred serve` (SQLite in its data directory, then
//! PostgreSQL in a database of its own) takes a concurrent stream of creates, rotations and
//! deletes of pull secrets over HTTP and is killed with SIGKILL at a random moment, several times
//! per run, restarting on the same data each time. After every restart:
//!
//! - every acknowledged write is there at its revision, and nothing else is: the project holds
//!   exactly the pull secrets the acknowledged writes leave;
//! - a write in flight at the kill (sent, no answer) is either wholly there or wholly absent;
//! - every stored pull secret opens, and its material is the one of its revision (each revision
//!   has its own password), so no revision row is paired with another revision's ciphertext;
//!
//! and at the end the audit log matches: for every pull secret one successful
//! `pullSecret.create` event per revision it reached, and one `pullSecret.delete` for each
//! deleted one. The random choices come from a seed printed at the start (`CRASH_SEED=N`
//! repeats a run's choices; the kill moments stay the machine's).

mod fixture;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fixture::{project_and_location, Server};
use regcred_testkit::PostgresDb;
use serde_json::{json, Value};

const P: &str = "acme";
const L: &str = "local";
const WORKERS: usize = 4;
const KILLS: usize = 3;

/// A small deterministic generator (xorshift64*), so a failing run can be repeated.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the acknowledged writes say about one pull secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Absent,
    At(u64),
    Deleted,
}

/// A write sent whose answer never came.
#[derive(Debug, Clone)]
struct InFlight {
    name: String,
    /// The state if it was applied.
    applied: State,
}

/// Everything the workers learned: per name the acknowledged state, the highest revision ever
/// acknowledged or possibly applied, and the writes in flight at the kill.
#[derive(Default)]
struct Journal {
    state: BTreeMap<String, State>,
    in_flight: Vec<InFlight>,
    acknowledged: usize,
}

fn password(name: &str, revision: u64) -> String {
    format!("pw-{name}-r{revision}")
}

fn server_of(name: &str) -> String {
    // One registry per pull secret: a location holds one pull secret per server.
    format!("{name}.registry.example")
}

/// Calls `method`; `None` when no answer came (the server died under the request).
async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let response = http
        .post(format!("{url}/{method}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.ok()?;
    Some((status, body))
}

/// One worker: creates, rotates and deletes its own pull secrets until a request gets no
/// answer (the kill), recording what was acknowledged and what was in flight.
async fn worker(
    id: usize,
    round: usize,
    mut rng: Rng,
    url: String,
    token: String,
    journal: Arc<Mutex<Journal>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut mine: Vec<String> = journal
        .lock()
        .expect("journal")
        .state
        .iter()
        .filter(|(n, s)| n.starts_with(&format!("w{id}-")) && matches!(s, State::At(_)))
        .map(|(n, _)| n.clone())
        .collect();
    for i in 0.. {
        let roll = rng.below(10);
        let (name, method, body, applied) = if mine.is_empty() || roll < 4 {
            let name = format!("w{id}-k{round}-{i}");
            let body = json!({
                "project": P, "location": L, "name": name,
                "spec": { "server": server_of(&name), "username": "u", "password": password(&name, 1) },
            });
            (name, "pullSecret.create", body, State::At(1))
        } else {
            let name = mine[rng.below(mine.len() as u64) as usize].clone();
            let current = match journal.lock().expect("journal").state.get(&name) {
                Some(State::At(r)) => *r,
                other => panic!("{name} is mine but {other:?}"),
            };
            if roll < 8 {
                let body = json!({
                    "project": P, "location": L, "name": name,
                    "spec": { "server": server_of(&name), "username": "u", "password": password(&name, current + 1) },
                });
                (name, "pullSecret.create", body, State::At(current + 1))
            } else {
                let body = json!({ "project": P, "location": L, "name": name });
                (name, "pullSecret.delete", body, State::Deleted)
            }
        };
        let answer = call(&http, &url, &token, method, &body).await;
        let mut j = journal.lock().expect("journal");
        match answer {
            None => {
                j.in_flight.push(InFlight { name, applied });
                return;
            }
            Some((200, envelope)) => {
                if let State::At(revision) = applied {
                    assert_eq!(
                        envelope["result"]["pullSecret"]["revision"], revision,
                        "{method} {name}: {envelope}"
                    );
                }
                j.state.insert(name.clone(), applied);
                j.acknowledged += 1;
                match applied {
                    State::Deleted => mine.retain(|n| *n != name),
                    _ if !mine.contains(&name) => mine.push(name),
                    _ => {}
                }
            }
            // A refused write changed nothing; a server on its way down may refuse.
            Some((status, envelope)) => {
                assert!(
                    status >= 500,
                    "{method} {name} refused with {status}: {envelope}"
                );
            }
        }
    }
}

/// The pull secrets of the project as the server has them: name → revision.
async fn stored(http: &reqwest::Client, url: &str, token: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut page: Option<String> = None;
    loop {
        let mut body = json!({ "project": P, "location": L, "limit": 1000 });
        if let Some(token) = page.take() {
            body["pageToken"] = token.into();
        }
        let (status, envelope) = call(http, url, token, "pullSecret.list", &body)
            .await
            .expect("the restarted server answers");
        assert_eq!(status, 200, "{envelope}");
        for item in envelope["result"]["items"].as_array().expect("items") {
            out.insert(
                item["name"].as_str().expect("name").to_owned(),
                item["revision"].as_u64().expect("revision"),
            );
        }
        match envelope["result"]["nextPageToken"].as_str() {
            Some(next) => page = Some(next.to_owned()),
            None => return out,
        }
    }
}

/// The password a stored pull secret releases (rendered as `.dockerconfigjson`).
async fn released_password(http: &reqwest::Client, url: &str, token: &str, name: &str) -> String {
    let body =
        json!({ "project": P, "location": L, "names": [name], "format": "dockerconfigjson" });
    let (status, envelope) = call(http, url, token, "pullSecret.render", &body)
        .await
        .expect("render answers");
    assert_eq!(status, 200, "render {name}: {envelope}");
    let doc: Value = serde_json::from_str(envelope["result"]["content"].as_str().expect("content"))
        .expect("JSON document");
    doc["auths"][server_of(name)]["password"]
        .as_str()
        .unwrap_or_else(|| panic!("no password for {name}: {doc}"))
        .to_owned()
}

/// Settles the writes in flight against what the restarted server holds, then checks that the
/// server holds exactly what the journal says and that each material is its revision's.
async fn reconcile(http: &reqwest::Client, url: &str, token: &str, journal: &mut Journal) {
    let held = stored(http, url, token).await;
    for flight in std::mem::take(&mut journal.in_flight) {
        let before = journal
            .state
            .get(&flight.name)
            .copied()
            .unwrap_or(State::Absent);
        let now = match held.get(&flight.name) {
            Some(r) => State::At(*r),
            None if matches!(before, State::Absent) => State::Absent,
            None => State::Deleted,
        };
        assert!(
            now == before || now == flight.applied,
            "{}: in flight {:?} over {before:?}, but the server holds {now:?}",
            flight.name,
            flight.applied
        );
        journal.state.insert(flight.name, now);
    }
    let expected: BTreeMap<String, u64> = journal
        .state
        .iter()
        .filter_map(|(n, s)| match s {
            State::At(r) => Some((n.clone(), *r)),
            _ => None,
        })
        .collect();
    assert_eq!(
        held, expected,
        "the server holds exactly the acknowledged writes"
    );
    for (name, revision) in &held {
        assert_eq!(
            released_password(http, url, token, name).await,
            password(name, *revision),
            "{name} at revision {revision} releases another revision's material"
        );
    }
}

/// Every audit event, oldest first.
async fn audit(http: &reqwest::Client, url: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut body = json!({ "project": P, "limit": 1000 });
        if let Some(token) = page.take() {
            body["pageToken"] = token.into();
        }
        let (status, envelope) = call(http, url, token, "audit.list", &body)
            .await
            .expect("audit.list answers");
        assert_eq!(status, 200, "{envelope}");
        out.extend(
            envelope["result"]["items"]
                .as_array()
                .expect("items")
                .iter()
                .cloned(),
        );
        match envelope["result"]["nextPageToken"].as_str() {
            Some(next) => page = Some(next.to_owned()),
            None => break,
        }
    }
    out.reverse();
    out
}

/// For each pull secret: one successful create per revision 1..=last, and one delete if deleted.
fn check_audit(events: &[Value], journal: &Journal) {
    let mut revisions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e["outcome"] == "ok") {
        let Some(name) = e["target"]
            .as_str()
            .and_then(|t| t.strip_prefix(&format!("{P}/{L}/")))
        else {
            continue;
        };
        match e["action"].as_str() {
            Some("pullSecret.create") => revisions
                .entry(name.to_owned())
                .or_default()
                .push(e["detail"]["revision"].as_u64().expect("revision")),
            Some("pullSecret.delete") => *deletes.entry(name.to_owned()).or_default() += 1,
            _ => {}
        }
    }
    for (name, state) in &journal.state {
        let created = revisions.remove(name).unwrap_or_default();
        match state {
            State::Absent => assert!(created.is_empty(), "{name}: never stored, yet {created:?}"),
            State::At(r) => {
                assert_eq!(
                    created,
                    (1..=*r).collect::<Vec<_>>(),
                    "{name} at revision {r}"
                );
                assert!(
                    !deletes.contains_key(name),
                    "{name} exists but a delete is audited"
                );
            }
            State::Deleted => {
                let last = created.last().copied().unwrap_or(0);
                assert_eq!(created, (1..=last).collect::<Vec<_>>(), "{name}");
                assert!(last >= 1, "{name} deleted but never created");
                assert_eq!(deletes.get(name), Some(&1), "{name}: one delete audited");
            }
        }
    }
    assert!(
        revisions.is_empty(),
        "audited creates of unknown names: {revisions:?}"
    );
}

fn seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
                | 1
        })
}

async fn kill_during_writes(label: &str, serve_args: &[&str]) {
    let seed = seed();
    eprintln!("crash safety ({label}): CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut server = Server::start_with(serve_args);
    project_and_location(&server, P, L);
    let token = server.admin_token();
    let http = reqwest::Client::new();
    let journal = Arc::new(Mutex::new(Journal::default()));
    for round in 0..KILLS {
        let workers: Vec<_> = (0..WORKERS)
            .map(|id| {
                tokio::spawn(worker(
                    id,
                    round,
                    Rng(rng.next() | 1),
                    server.url.clone(),
                    token.clone(),
                    journal.clone(),
                ))
            })
            .collect();
        // Writes stream for a while before the kill.
        tokio::time::sleep(Duration::from_millis(400 + rng.below(1200))).await;
        server.signal("KILL");
        for w in workers {
            w.await.expect("worker");
        }
        server.start_again_with(serve_args);
        let mut j = std::mem::take(&mut *journal.lock().expect("journal"));
        let in_flight = j.in_flight.len();
        reconcile(&http, &server.url, &token, &mut j).await;
        eprintln!(
            "crash safety ({label}): kill {} after {} acknowledged writes in all, {in_flight} in flight: consistent",
            round + 1,
            j.acknowledged
        );
        *journal.lock().expect("journal") = j;
    }
    let j = std::mem::take(&mut *journal.lock().expect("journal"));
    assert!(
        j.acknowledged >= KILLS * WORKERS,
        "too few writes to prove anything: {}",
        j.acknowledged
    );
    check_audit(&audit(&http, &server.url, &token).await, &j);
    let live = j
        .state
        .values()
        .filter(|s| matches!(s, State::At(_)))
        .count();
    eprintln!(
        "crash safety ({label}): {KILLS} kills, {} acknowledged writes, {live} pull secrets, audit consistent",
        j.acknowledged
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_write_through_kills() {
    kill_during_writes("sqlite", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_write_through_kills() {
    let db = PostgresDb::create().await;
    kill_during_writes("postgres", &["--database-url", db.url()]).await;
}
