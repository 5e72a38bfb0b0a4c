//! The refresher's behaviour over simulated days, with a scripted minter and a clock moved by
//! hand (no sleeps, no provider): one mint however many renders ask at once; refresh at half the
//! lifetime; failures back off and never blank the last good credential, which is served until
//! it really expires and is warned about (log and audit) before; a credential that arrives
//! already expired (the AWS emulator's 2015) causes no hot loop; a rotation mints anew.
//! ECR against the real AWS emulator is covered in `crates/regcred/tests/ecr_refresh.rs`.

mod fixture;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use fixture::Fixture;
use regcred_core::credential::Credential;
use regcred_core::refresh::RefreshPolicy;
use regcred_core::secret::Secret;
use regcred_registry::provider::{MintError, Minted};
use regcred_server::refresher::{Clock, Minter, Refresher};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// What the script answers next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A credential valid for this many ms from the mint.
    Valid(i64),
    /// A credential whose stated expiry is in 2015.
    Emulator2015,
    Unavailable,
}

struct Script {
    calls: Arc<AtomicUsize>,
    answer: Arc<AtomicU32>,
    clock: Clock,
}

fn encode(a: Answer) -> u32 {
    match a {
        Answer::Valid(ms) => u32::try_from(ms / 1000).expect("seconds fit"),
        Answer::Emulator2015 => u32::MAX - 1,
        Answer::Unavailable => u32::MAX,
    }
}

impl Minter for Script {
    fn mint<'a>(
        &'a self,
        _credential: &'a Credential,
        _now_ms: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Minted, MintError>> + Send + 'a>>
    {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let now = self.clock.now_ms();
            let expires = match self.answer.load(Ordering::SeqCst) {
                u32::MAX => {
                    return Err(MintError::Unavailable {
                        provider: "script",
                        message: "down".into(),
                    })
                }
                x if x == u32::MAX - 1 => Some(1_420_070_400_000),
                secs => Some(now + i64::from(secs) * 1000),
            };
            Ok(Minted {
                username: "AWS".into(),
                password: Secret::new(format!("minted-{n}")),
                expires_at_ms: expires,
                endpoint: Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com".into()),
            })
        })
    }
}

struct World {
    f: Fixture,
    calls: Arc<AtomicUsize>,
    answer: Arc<AtomicU32>,
    clock: Clock,
}

impl World {
    async fn new(first: Answer) -> World {
        let clock = Clock::new(1_795_000_000_000);
        let calls = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(AtomicU32::new(encode(first)));
        let script = Script {
            calls: calls.clone(),
            answer: answer.clone(),
            clock: clock.clone(),
        };
        let policy = RefreshPolicy {
            jitter: 0.0,
            ..RefreshPolicy::default()
        };
        let f =
            Fixture::with_refresher(Refresher::new(Box::new(script), policy, clock.clone())).await;
        f.create_project("acme").await;
        f.create_location("gke.one").await;
        let created = f
            .call(
                "pullSecret.create",
                &f.admin,
                json!({"project": "acme", "location": "gke.one", "name": "ecr", "spec": {
                    "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                    "accessKeyId": "AKIATEST", "secretAccessKey": "not-a-real-key"}}),
            )
            .await;
        created.ok();
        World {
            f,
            calls,
            answer,
            clock,
        }
    }

    fn set(&self, a: Answer) {
        self.answer.store(encode(a), Ordering::SeqCst);
    }

    fn mints(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The password inside a rendered `.dockerconfigjson`, or the error code.
    async fn render(&self) -> Result<String, String> {
        let r = self
            .f
            .call(
                "pullSecret.render",
                &self.f.admin,
                json!({"project": "acme", "location": "gke.one", "names": ["ecr"], "format": "dockerconfigjson"}),
            )
            .await;
        if r.body["ok"] != true {
            return Err(r.body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned());
        }
        let doc: Value =
            serde_json::from_str(r.body["result"]["content"].as_str().expect("content"))
                .expect("json");
        let entry = &doc["auths"]["123456789012.dkr.ecr.eu-west-1.amazonaws.com"];
        assert_eq!(entry["username"], "AWS");
        Ok(entry["password"].as_str().expect("password").to_owned())
    }

    async fn tick(&self) {
        self.f
            .state
            .refresher()
            .tick(&self.f.state)
            .await
            .expect("tick");
    }

    async fn status(&self) -> Value {
        let r = self
            .f
            .call(
                "pullSecret.get",
                &self.f.admin,
                json!({"project": "acme", "location": "gke.one", "name": "ecr"}),
            )
            .await;
        r.ok()["credential"].clone()
    }
}

#[tokio::test]
async fn one_mint_however_many_deliveries_ask_at_once() {
    let w = World::new(Answer::Valid(12 * HOUR)).await;
    let renders = futures_like_join((0..20).map(|_| w.render()).collect()).await;
    assert!(
        renders.iter().all(|r| r.as_deref() == Ok("minted-1")),
        "{renders:?}"
    );
    assert_eq!(w.mints(), 1);
    w.tick().await;
    assert_eq!(w.mints(), 1, "the background pass finds it fresh");
    let status = w.status().await;
    assert_eq!(status["failures"], 0);
    assert!(status["expiresAt"].as_str().is_some(), "{status}");
}

#[tokio::test]
async fn refresh_at_half_life_back_off_on_failure_and_never_blank() {
    let w = World::new(Answer::Valid(12 * HOUR)).await;
    w.tick().await;
    assert_eq!(w.mints(), 1);
    w.clock.advance(6 * HOUR - MINUTE);
    w.tick().await;
    assert_eq!(w.mints(), 1, "not due before half the lifetime");
    w.clock.advance(2 * MINUTE);
    w.tick().await;
    assert_eq!(w.mints(), 2, "due at half the lifetime");
    assert_eq!(w.render().await.as_deref(), Ok("minted-2"));

    // The provider goes down at the next refresh (6 h later): the last good credential is
    // served, attempts back off, and a warning comes before the real expiry.
    w.set(Answer::Unavailable);
    w.clock.advance(6 * HOUR + MINUTE);
    let before = w.mints();
    for _ in 0..(5 * 60) {
        w.tick().await;
        w.clock.advance(MINUTE);
    }
    let attempts = w.mints() - before;
    assert!(
        (5..=30).contains(&attempts),
        "{attempts} attempts in 5 h of outage: backoff neither hot nor idle"
    );
    assert_eq!(
        w.render().await.as_deref(),
        Ok("minted-2"),
        "last good served"
    );
    let status = w.status().await;
    assert!(
        status["failures"].as_u64().unwrap_or_default() >= 5,
        "{status}"
    );
    assert!(
        status["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("down"),
        "{status}"
    );

    // Past the real expiry nothing is served, and the audit log holds the warning.
    w.clock.advance(2 * HOUR);
    w.tick().await;
    assert_eq!(w.render().await, Err("credential_unavailable".to_owned()));
    let audit =
        w.f.call("audit.list", &w.f.admin, json!({"limit": 1000}))
            .await;
    let audit = audit.ok();
    assert!(
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|e| e["action"] == "credential.expiring"),
        "no expiry warning audited"
    );

    // Recovery: the next attempt mints, and it is served at once.
    w.set(Answer::Valid(12 * HOUR));
    w.clock.advance(16 * MINUTE);
    w.tick().await;
    assert!(w.render().await.unwrap_or_default().starts_with("minted-"));
    assert_eq!(w.status().await["failures"], 0);
}

#[tokio::test]
async fn an_expiry_in_the_past_causes_no_hot_loop_and_is_served() {
    let w = World::new(Answer::Emulator2015).await;
    for _ in 0..100 {
        assert_eq!(w.render().await.as_deref(), Ok("minted-1"));
    }
    assert_eq!(w.mints(), 1);
    // Two simulated hours of passes every 10 s: one mint per unknown-lifetime period (30 min).
    for _ in 0..(2 * 60 * 6) {
        w.tick().await;
        w.clock.advance(10_000);
    }
    assert!((4..=6).contains(&w.mints()), "{} mints in 2 h", w.mints());
    assert!(w.render().await.is_ok(), "never blanked");
}

#[tokio::test]
async fn a_rotation_mints_anew() {
    let w = World::new(Answer::Valid(12 * HOUR)).await;
    assert_eq!(w.render().await.as_deref(), Ok("minted-1"));
    w.f.call(
        "pullSecret.create",
        &w.f.admin,
        json!({"project": "acme", "location": "gke.one", "name": "ecr", "spec": {
            "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "accessKeyId": "AKIATEST2", "secretAccessKey": "another-fake"}}),
    )
    .await
    .ok();
    assert_eq!(
        w.render().await.as_deref(),
        Ok("minted-2"),
        "the old revision's token is not served"
    );
}

/// Runs the futures concurrently on this task.
async fn futures_like_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}
