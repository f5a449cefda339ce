//! A value rebuilt from files when their contents change.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::Error;

type Build<T> = dyn Fn(&[Vec<u8>]) -> Result<T, Error> + Send + Sync;

/// Holds `Arc<T>` built from a set of files, rebuilt when any file's bytes change.
///
/// A failed rebuild (say, a half-written key during rotation) keeps the last good value and logs; the next
/// poll tries again. Subscribers are told of every successful reload through a generation counter, which
/// is what tests and the readiness logic wait on.
pub struct Reloader<T> {
    paths: Vec<PathBuf>,
    build: Box<Build<T>>,
    state: RwLock<(Vec<Vec<u8>>, Arc<T>)>,
    generation: watch::Sender<u64>,
}

impl<T: Send + Sync + 'static> Reloader<T> {
    /// Read the files and build the first value; fails when the files are unusable.
    pub fn new(
        paths: Vec<PathBuf>,
        build: impl Fn(&[Vec<u8>]) -> Result<T, Error> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, Error> {
        let contents = read_all(&paths)?;
        let value = build(&contents)?;
        Ok(Arc::new(Self {
            paths,
            build: Box::new(build),
            state: RwLock::new((contents, Arc::new(value))),
            generation: watch::channel(0).0,
        }))
    }

    /// The current value.
    pub fn current(&self) -> Arc<T> {
        match self.state.read() {
            Ok(guard) => guard.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Re-read the files; rebuild and publish when their bytes differ from the last good build.
    /// Returns whether a new value was published.
    pub fn reload(&self) -> Result<bool, Error> {
        let contents = read_all(&self.paths)?;
        {
            let guard = self
                .state
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.0 == contents {
                return Ok(false);
            }
        }
        let value = (self.build)(&contents)?;
        {
            let mut guard = self
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *guard = (contents, Arc::new(value));
        }
        self.generation.send_modify(|g| *g += 1);
        Ok(true)
    }

    /// A receiver that changes on every successful reload.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Poll the files every `interval` until `shutdown` resolves.
    pub fn spawn_polling(
        self: &Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            // A zero period would panic this task (flags refuse it; this keeps the library total).
            let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    _ = tick.tick() => match this.reload() {
                        Ok(true) => tracing::info!(files = ?this.paths, "reloaded TLS material"),
                        Ok(false) => {}
                        Err(error) => tracing::warn!(%error, "TLS files changed but could not be loaded; keeping the previous ones"),
                    },
                }
            }
        })
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, Error> {
    paths
        .iter()
        .map(|p| {
            std::fs::read(p).map_err(|source| Error::Read {
                path: p.display().to_string(),
                source,
            })
        })
        .collect()
}
