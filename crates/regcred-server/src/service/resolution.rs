//! The resolution index: for each (project, location), the keyrings of its pull secrets —
//! metadata only, never material — so that "which pull secrets apply to this image" costs a
//! lookup, not a read and decode of every pull secret there. Material is read afterwards for the
//! few that apply, by id.
//!
//! The index of a scope is current while the store's pull-secret generation of that scope
//! ([`Store::pull_secret_generation`], moved by the store itself on every create, rotation,
//! rename and delete, by whichever process writes) is the one it was built at: every use reads
//! that one number (an indexed point read; on PostgreSQL answered from memory while the replica
//! listens for changes of generations) and rebuilds the scope when it moved. So a write made
//! through any process is resolved by every process at once (on another PostgreSQL replica,
//! once the database's notification of it arrives, milliseconds later).
//!
//! [`Store::pull_secret_generation`]: regcred_store::Store::pull_secret_generation

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regcred_core::image_ref::ImageRef;
use regcred_core::matching::{ContainersIndex, KubeletKeyring};
use regcred_core::packed::StrList;
use regcred_core::registry_host::RegistryServer;
use regcred_store::{PullSecretKey, PullSecretKeys, PullSecretRecord, Store};

use crate::error::ApiError;
use crate::service::images::Rules;
use crate::AppState;

/// One pull secret of a scope, as resolution knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub server: &'a str,
    /// Its `.dockerconfigjson` / auth-file key.
    pub key: &'a str,
}

/// The strings an [`Entry`] is made of, in [`Scope::texts`].
const ENTRY_TEXTS: usize = 4;

/// The keyrings of one (project, location) at one generation. Entries are in name order, the
/// order the runtime is given them in; the keyrings hold their positions. A scope can hold
/// 100,000 pull secrets for as long as the server runs, so it is a few large blocks: the entries'
/// strings packed in one list, positions as `u32`.
pub struct Scope {
    generation: i64,
    /// Entry `i`'s id, name, server and key are strings `4i` to `4i + 3`.
    texts: StrList,
    kubelet: KubeletKeyring<u32>,
    containers: ContainersIndex<u32>,
    /// Positions of the entries sorted by key (then position): [`Scope::with_key`]'s index.
    by_key: Vec<u32>,
}

impl Scope {
    fn new(keys: PullSecretKeys) -> Scope {
        let mut texts = StrList::default();
        for PullSecretKey {
            id, name, server, ..
        } in keys.keys
        {
            // A server that no longer parses is keyed by nothing, as before the index.
            let Ok(parsed) = RegistryServer::parse(&server) else {
                continue;
            };
            for text in [id.as_str(), &name, &server, &parsed.auth_key()] {
                texts.push(text);
            }
        }
        texts.shrink_to_fit();
        let len = u32::try_from(texts.len() / ENTRY_TEXTS).expect("fewer than 2^32 pull secrets");
        let key = |i: u32| texts.get(i as usize * ENTRY_TEXTS + 3);
        let keyed = || (0..len).map(|i| (key(i), i));
        let mut by_key: Vec<u32> = (0..len).collect();
        by_key.sort_by(|&a, &b| key(a).cmp(key(b)));
        Scope {
            generation: keys.generation,
            kubelet: KubeletKeyring::new(keyed()),
            containers: ContainersIndex::new(keyed()),
            by_key,
            texts,
        }
    }

    /// How many pull secrets of the scope have a key.
    pub fn len(&self) -> usize {
        self.texts.len() / ENTRY_TEXTS
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Entry `i`, in name order.
    fn entry(&self, i: u32) -> Entry<'_> {
        let text = |n: usize| self.texts.get(i as usize * ENTRY_TEXTS + n);
        Entry {
            id: text(0),
            name: text(1),
            server: text(2),
            key: text(3),
        }
    }

    /// Every pull secret of the scope that has a key, in name order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        (0..self.len() as u32).map(|i| self.entry(i))
    }

    /// The pull secrets that apply to `image` under `rules`, in the order the runtime tries them.
    pub fn select(&self, rules: Rules, image: &ImageRef) -> Vec<Entry<'_>> {
        let repository = image.repository();
        let positions = match rules {
            Rules::Kubelet => self.kubelet.lookup(&repository),
            Rules::Containers => self.containers.lookup(&repository).into_iter().collect(),
        };
        positions.into_iter().map(|i| self.entry(i)).collect()
    }

    /// The pull secrets whose key is exactly `key`, in name order.
    pub fn with_key(&self, key: &str) -> Vec<Entry<'_>> {
        let start = self.by_key.partition_point(|&i| self.entry(i).key < key);
        self.by_key[start..]
            .iter()
            .map(|&i| self.entry(i))
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
    entries: &[Entry<'_>],
) -> Result<Vec<PullSecretRecord>, ApiError> {
    let ids: Vec<String> = entries.iter().map(|e| e.id.to_owned()).collect();
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
