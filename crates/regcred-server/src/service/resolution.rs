//! The resolution index: for each (project, location), the keyrings of its pull secrets —
//! metadata only, never material — so that "which pull secrets apply to this image" costs a
//! lookup, not a read and decode of every pull secret there. Material is read afterwards for the
//! few that apply, by id.
//!
//! The index of a scope is current while the store's pull-secret generation of that scope
//! ([`Store::pull_secret_generation`], moved by the store itself on every create, rotation,
//! rename and delete, by whichever process writes) is the one it was built at: every use reads
//! that one number (an indexed point read) and rebuilds the scope when it moved. So a write made
//! through any process is resolved by every process at once.
//!
//! [`Store::pull_secret_generation`]: regcred_store::Store::pull_secret_generation

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regcred_core::image_ref::ImageRef;
use regcred_core::matching::{ContainersIndex, KubeletKeyring};
use regcred_core::registry_host::RegistryServer;
use regcred_store::{PullSecretKey, PullSecretKeys, PullSecretRecord, Store};

use crate::error::ApiError;
use crate::service::images::Rules;
use crate::AppState;

/// One pull secret of a scope, as resolution knows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub server: String,
    /// Its `.dockerconfigjson` / auth-file key.
    pub key: String,
}

/// The keyrings of one (project, location) at one generation. Entries are in name order, the
/// order the runtime is given them in; the keyrings hold their positions.
pub struct Scope {
    generation: i64,
    entries: Vec<Entry>,
    kubelet: KubeletKeyring<usize>,
    containers: ContainersIndex<usize>,
    /// Positions of the entries sorted by key (then position): [`Scope::with_key`]'s index.
    by_key: Vec<usize>,
}

impl Scope {
    fn new(keys: PullSecretKeys) -> Scope {
        let entries: Vec<Entry> = keys
            .keys
            .into_iter()
            .filter_map(
                |PullSecretKey {
                     id, name, server, ..
                 }| {
                    // A server that no longer parses is keyed by nothing, as before the index.
                    let key = RegistryServer::parse(&server).ok()?.auth_key();
                    Some(Entry {
                        id,
                        name,
                        server,
                        key,
                    })
                },
            )
            .collect();
        let keyed = || entries.iter().enumerate().map(|(i, e)| (e.key.as_str(), i));
        let mut by_key: Vec<usize> = (0..entries.len()).collect();
        by_key.sort_by(|&a, &b| entries[a].key.cmp(&entries[b].key));
        Scope {
            generation: keys.generation,
            kubelet: KubeletKeyring::new(keyed()),
            containers: ContainersIndex::new(keyed()),
            by_key,
            entries,
        }
    }

    /// Every pull secret of the scope that has a key, in name order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The pull secrets that apply to `image` under `rules`, in the order the runtime tries them.
    pub fn select(&self, rules: Rules, image: &ImageRef) -> Vec<&Entry> {
        let repository = image.repository();
        let positions = match rules {
            Rules::Kubelet => self.kubelet.lookup(&repository),
            Rules::Containers => self.containers.lookup(&repository).into_iter().collect(),
        };
        positions.into_iter().map(|i| &self.entries[i]).collect()
    }

    /// The pull secrets whose key is exactly `key`, in name order.
    pub fn with_key(&self, key: &str) -> Vec<&Entry> {
        let start = self
            .by_key
            .partition_point(|&i| self.entries[i].key.as_str() < key);
        self.by_key[start..]
            .iter()
            .map(|&i| &self.entries[i])
            .take_while(|e| e.key == key)
            .collect()
    }
}

/// The index of every scope resolved so far.
#[derive(Default)]
pub struct Index {
    scopes: Mutex<HashMap<(String, String), Arc<Scope>>>,
    /// Held while a scope is rebuilt, so that a burst of lookups after a change builds it once.
    building: tokio::sync::Mutex<()>,
}

impl Index {
    /// The scope of (`project`, `location`), current as of this call.
    pub async fn scope(
        &self,
        store: &dyn Store,
        project: &str,
        location: &str,
    ) -> Result<Arc<Scope>, ApiError> {
        let generation = store.pull_secret_generation(project, location).await?;
        if let Some(scope) = self.cached(project, location, generation) {
            return Ok(scope);
        }
        let _building = self.building.lock().await;
        let generation = store.pull_secret_generation(project, location).await?;
        if let Some(scope) = self.cached(project, location, generation) {
            return Ok(scope);
        }
        let keys = store.pull_secret_keys(project, location).await?;
        // Parsing every key of a large scope is CPU work: off the async workers.
        let scope = tokio::task::spawn_blocking(move || Arc::new(Scope::new(keys)))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let mut scopes = self.lock();
        scopes.insert((project.to_owned(), location.to_owned()), scope.clone());
        Ok(scope)
    }

    fn cached(&self, project: &str, location: &str, generation: i64) -> Option<Arc<Scope>> {
        let scopes = self.lock();
        let scope = scopes.get(&(project.to_owned(), location.to_owned()))?;
        (scope.generation == generation).then(|| scope.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Scope>>> {
        self.scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The stored pull secrets of `entries`, in their order, read by id (those deleted meanwhile are
/// left out).
pub async fn records(
    state: &AppState,
    entries: &[&Entry],
) -> Result<Vec<PullSecretRecord>, ApiError> {
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    let mut found: HashMap<String, PullSecretRecord> = state
        .store()
        .pull_secrets_by_ids(&ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The stored pull secrets of (`project`, `location`) that apply to `image` under `rules`, in the
/// runtime's order.
pub async fn applying(
    state: &AppState,
    rules: Rules,
    project: &str,
    location: &str,
    image: &ImageRef,
) -> Result<Vec<PullSecretRecord>, ApiError> {
    let scope = state
        .resolution()
        .scope(state.store(), project, location)
        .await?;
    records(state, &scope.select(rules, image)).await
}
