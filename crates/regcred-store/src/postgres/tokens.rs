//! On PostgreSQL each replica keeps the tokens it reads (`crate::token_cache`) while it listens
//! for their changes: a trigger (migration 6) notifies the channel [`CHANNEL`] with the token's
//! id when a change commits, whoever made it — this replica, another one, or an operator in SQL —
//! and the listener forgets it. Listening is what makes the cache live: when the connection is
//! lost the cache is emptied and off, and emptied again once listening resumes, so nothing missed
//! meanwhile is answered. On the other replicas a revocation takes effect when its notification
//! arrives: milliseconds after the commit on a healthy database.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::token_cache::TokenCache;

/// The channel the trigger notifies; the payload is a token's id, empty for every token.
pub(super) const CHANNEL: &str = "regcred_tokens";
/// The listening connection's `application_name`, which names it in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "regcred token listener";
/// How long the listener waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Listens on [`CHANNEL`] and forgets what it announces, for as long as the task runs (the
/// store aborts it when dropped). Its connection is its own, outside the store's pool: one that
/// listens is never handed to a query.
pub(super) async fn listen(options: PgConnectOptions, cache: Arc<TokenCache>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.application_name(LISTENER_NAME));
    let mut lost = false;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(mut listener) => {
                cache.set_live(true);
                if lost {
                    tracing::info!("listening for token changes again; tokens are kept in memory");
                }
                let why = loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => cache.forget(Some(n.payload()).filter(|id| !id.is_empty())),
                        Ok(None) => break "the connection was lost".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                cache.set_live(false);
                lost = true;
                tracing::warn!(
                    reason = %why,
                    "stopped listening for token changes; tokens are read from the database until it resumes"
                );
            }
            Err(e) => {
                cache.set_live(false);
                tracing::debug!(error = %e, "cannot listen for token changes yet");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
