//! On PostgreSQL each replica keeps the access tokens, pull-secret views, projects, locations
//! and scope generations it reads (`crate::cache`) while it listens for their changes: triggers
//! (migrations 6 to 8) notify a channel with the changed record's id when a change commits, whoever made it — this replica,
//! another one, or an operator in SQL — and the listener forgets it. Listening is what makes the
//! caches live: when the connection is lost they are emptied and off, and emptied again once
//! listening resumes, so nothing missed meanwhile is answered. On the other replicas a change
//! takes effect when its notification arrives: milliseconds after the commit on a healthy
//! database.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::cache::{Cache, Kept};

/// The channel of access tokens (migration 6); the payload is a token's id, empty for every
/// token.
pub(super) const TOKENS: &str = "regcred_tokens";
/// The channel of pull-secret views (migration 7); the payload is the id of a pull secret whose
/// record, references, deliveries or minted state changed, empty for every pull secret.
pub(super) const PULL_SECRETS: &str = "regcred_pull_secrets";
/// The channels of projects and locations (migration 8); the payload is a name, empty for
/// every one.
pub(super) const PROJECTS: &str = "regcred_projects";
pub(super) const LOCATIONS: &str = "regcred_locations";
/// The channel of scope generations (migration 8); the payload is `project/location`, empty for
/// every scope.
pub(super) const GENERATIONS: &str = "regcred_generations";
/// The listening connection's `application_name`, which names it in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "regcred listener";
/// How long the listener waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// A cache kept current by announcements.
pub(super) trait Announced: Send + Sync {
    fn forget(&self, id: Option<&str>);
    fn set_live(&self, live: bool);
}

impl<V: Kept + Send> Announced for Cache<V> {
    fn forget(&self, id: Option<&str>) {
        Cache::forget(self, id);
    }
    fn set_live(&self, live: bool) {
        Cache::set_live(self, live);
    }
}

/// Listens on each channel of `caches` and has its cache forget what it announces, for as long
/// as the task runs (the store aborts it when dropped). Its connection is its own, outside the
/// store's pool: one that listens is never handed to a query.
pub(super) async fn listen(
    options: PgConnectOptions,
    caches: Vec<(&'static str, Arc<dyn Announced>)>,
) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.application_name(LISTENER_NAME));
    let set_live = |live| caches.iter().for_each(|(_, c)| c.set_live(live));
    let channels: Vec<&str> = caches.iter().map(|(channel, _)| *channel).collect();
    let mut lost = false;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.listen_all(channels.iter().copied()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(mut listener) => {
                set_live(true);
                if lost {
                    tracing::info!("listening for changes again; records are kept in memory");
                }
                let why = loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let id = Some(n.payload()).filter(|id| !id.is_empty());
                            caches
                                .iter()
                                .filter(|(channel, _)| *channel == n.channel())
                                .for_each(|(_, cache)| cache.forget(id));
                        }
                        Ok(None) => break "the connection was lost".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                set_live(false);
                lost = true;
                tracing::warn!(
                    reason = %why,
                    "stopped listening for changes; records are read from the database until it resumes"
                );
            }
            Err(e) => {
                set_live(false);
                tracing::debug!(error = %e, "cannot listen for changes yet");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
