//! Joining identical in-flight requests.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, Shared};

use super::KeyVaultError;

type Shared_<T> = Shared<BoxFuture<'static, Result<Arc<T>, KeyVaultError>>>;

/// Joins identical in-flight requests: the first caller runs the future, later callers with the same key
/// await the same result. Nothing is kept after completion, so no value outlives its request.
pub struct Coalescer<K, V> {
    inflight: std::sync::Mutex<HashMap<K, Shared_<V>>>,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Self {
            inflight: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Send + Sync + 'static> Coalescer<K, V> {
    /// Run `make()` unless an identical request is in flight, then share its result.
    pub async fn run(
        &self,
        key: K,
        make: impl FnOnce() -> BoxFuture<'static, Result<Arc<V>, KeyVaultError>>,
    ) -> Result<Arc<V>, KeyVaultError> {
        let shared = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inflight
                .entry(key.clone())
                .or_insert_with(|| make().shared())
                .clone()
        };
        let guard = Forget {
            coalescer: self,
            key,
            shared: shared.clone(),
        };
        let result = shared.await;
        drop(guard);
        result
    }

    /// Requests in flight (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes the in-flight entry when its last waiter finishes or gives up.
struct Forget<'a, K: Hash + Eq, V> {
    coalescer: &'a Coalescer<K, V>,
    key: K,
    shared: Shared_<V>,
}

impl<K: Hash + Eq, V> Drop for Forget<'_, K, V> {
    fn drop(&mut self) {
        let mut inflight = self
            .coalescer
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ours = inflight.get(&self.key).is_some_and(|s| s.ptr_eq(&self.shared));
        // The map holds one clone and this guard another: nobody else is waiting, or it completed.
        let done = self.shared.peek().is_some() || self.shared.strong_count() <= Some(2);
        if ours && done {
            inflight.remove(&self.key);
        }
    }
}
