//! Parsed templates shared by the SecretSyncs that write the same key with the same text (a fleet generated from
//! one manifest, a registry pull secret in every namespace): each distinct template is parsed once while it is in
//! use instead of at every full sync. Bounded by the template text it holds; past the bound the least recently
//! used half is dropped, so a fleet of all-different templates costs one lookup more per parse and nothing else.
//! Parse errors are not kept: a broken template is parsed, and reported, every time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::template::{Template, TemplateError};

/// The default bound: 256 KiB of template text (eight of the largest templates the CRD allows; thousands of
/// typical ones).
pub const DEFAULT_MAX_TEXT: usize = 256 * 1024;

/// Parsed templates by (key, text), least recently used dropped past a bound on their text.
pub struct TemplateCache {
    max_text: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(String, String), Entry>,
    text: usize,
    clock: u64,
}

struct Entry {
    template: Arc<Template>,
    used: u64,
}

impl Default for TemplateCache {
    fn default() -> Self {
        TemplateCache::new(DEFAULT_MAX_TEXT)
    }
}

impl TemplateCache {
    /// A cache holding at most `max_text` bytes of template text (and key names).
    pub fn new(max_text: usize) -> Self {
        TemplateCache {
            max_text,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The template `text` for the key `name`, parsed now or earlier.
    pub fn parse(&self, name: &str, text: &str) -> Result<Arc<Template>, TemplateError> {
        let key = (name.to_owned(), text.to_owned());
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            if let Some(entry) = inner.entries.get_mut(&key) {
                entry.used = now;
                return Ok(entry.template.clone());
            }
        }
        // Parsed outside the lock: another SecretSync's parse is never held up by this one.
        let template = Arc::new(Template::parse(name, text)?);
        let size = key.0.len() + key.1.len();
        if size > self.max_text {
            return Ok(template);
        }
        let mut inner = self.lock();
        let used = inner.clock;
        if inner
            .entries
            .insert(
                key,
                Entry {
                    template: template.clone(),
                    used,
                },
            )
            .is_none()
        {
            inner.text += size;
        }
        if inner.text > self.max_text {
            inner.evict(self.max_text / 2);
        }
        Ok(template)
    }

    /// How many templates and bytes of text it holds.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.text)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len().0 == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the map consistent (every change is one insert or remove).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Drops the least recently used entries until at most `target` bytes of text remain.
    fn evict(&mut self, target: usize) {
        let mut by_age: Vec<(u64, (String, String))> =
            self.entries.iter().map(|(k, e)| (e.used, k.clone())).collect();
        by_age.sort_unstable_by_key(|(used, _)| *used);
        for (_, key) in by_age {
            if self.text <= target {
                break;
            }
            if self.entries.remove(&key).is_some() {
                self.text -= key.0.len() + key.1.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_and_text_is_parsed_once() {
        let cache = TemplateCache::default();
        let a = cache.parse("k", "{{ .x }}").unwrap_or_else(|e| panic!("{e}"));
        let b = cache.parse("k", "{{ .x }}").unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&a, &b));
        let other = cache.parse("other", "{{ .x }}").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !Arc::ptr_eq(&a, &other),
            "the key is part of the template (its errors name it)"
        );
        assert_eq!(cache.len(), (2, 2 * "{{ .x }}".len() + 1 + 5));
    }

    #[test]
    fn errors_are_not_kept() {
        let cache = TemplateCache::default();
        assert!(cache.parse("k", "{{ now }}").is_err());
        assert!(cache.is_empty());
    }

    #[test]
    fn past_the_bound_the_least_recently_used_go_first() {
        let cache = TemplateCache::new(100);
        let text = |i: usize| format!("{{{{ .v{i:02} }}}}"); // 10 bytes, with the key "k": 11
        for i in 0..9 {
            cache.parse("k", &text(i)).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(cache.len(), (9, 99));
        // Use the first again, then overflow: the oldest others go, down to half the bound.
        let first = cache.parse("k", &text(0)).unwrap_or_else(|e| panic!("{e}"));
        cache.parse("k", &text(9)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.len(), (4, 44), "text 7, 8, 0 and 9 stay");
        let again = cache.parse("k", &text(0)).unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&first, &again), "the most recently used stayed");
    }
}
