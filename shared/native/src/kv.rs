//! [`KvStore`] in memory, the native stand-in for Workers KV and Spin
//! key-value. Expiry follows the [`Clock`] it is given, so a simulation that
//! advances a manual clock sees cached entries (GIS traffic factors, status
//! reads) expire exactly when they would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use gasline_ports::{KvStore, StoreError};

use crate::clock::Clock;

/// An in-memory key-value store with per-entry time-to-live.
#[derive(Debug)]
pub struct MemoryKv {
    clock: Clock,
    entries: Mutex<HashMap<String, Entry>>,
    failing: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    /// Milliseconds since the epoch from which the entry is gone.
    expires_at: Option<i64>,
}

impl Entry {
    fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

impl MemoryKv {
    /// An empty store whose expiry follows `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
            failing: AtomicBool::new(false),
        }
    }

    /// While set, every operation fails with [`StoreError::Unavailable`]
    /// (to test that callers fall back when the cache is down).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The number of entries that have not expired.
    pub fn len(&self) -> usize {
        let now = self.clock.now();
        self.lock().values().filter(|entry| entry.is_live(now)).count()
    }

    /// True when no unexpired entry is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The unexpired keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut keys: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, entry)| entry.is_live(now))
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort_unstable();
        keys
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "key-value store is failing (injected)".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_available()?;
        let now = self.clock.now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(entry) if entry.is_live(now) => Ok(Some(entry.value.clone())),
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StoreError> {
        self.check_available()?;
        let expires_at = ttl_seconds.map(|ttl| self.clock.now() + i64::from(ttl) * 1_000);
        self.lock().insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at,
            },
        );
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check_available()?;
        self.lock().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use futures::executor::block_on;

    #[test]
    fn put_get_delete() {
        let kv = MemoryKv::new(Clock::manual(0));
        assert_eq!(block_on(kv.get("k")).unwrap(), None);
        block_on(kv.put("k", b"v1", None)).unwrap();
        block_on(kv.put("k", b"v2", None)).unwrap();
        assert_eq!(block_on(kv.get("k")).unwrap(), Some(b"v2".to_vec()));
        assert_eq!(kv.keys(), vec!["k"]);
        block_on(kv.delete("k")).unwrap();
        block_on(kv.delete("k")).unwrap();
        assert_eq!(block_on(kv.get("k")).unwrap(), None);
        assert!(kv.is_empty());
    }

    #[test]
    fn entries_expire_with_simulated_time() {
        let clock = ManualClock::new(1_000);
        let kv = MemoryKv::new(clock.clone().into());
        block_on(kv.put("traffic:wtw3s", b"1.4", Some(60))).unwrap();
        block_on(kv.put("forever", b"x", None)).unwrap();
        clock.advance(59_999);
        assert_eq!(block_on(kv.get("traffic:wtw3s")).unwrap(), Some(b"1.4".to_vec()));
        assert_eq!(kv.len(), 2);
        clock.advance(1);
        assert_eq!(block_on(kv.get("traffic:wtw3s")).unwrap(), None);
        assert_eq!(kv.len(), 1);
        clock.advance(1_000_000_000);
        assert_eq!(block_on(kv.get("forever")).unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn a_new_put_replaces_the_ttl() {
        let clock = ManualClock::new(0);
        let kv = MemoryKv::new(clock.clone().into());
        block_on(kv.put("k", b"a", Some(1))).unwrap();
        block_on(kv.put("k", b"b", None)).unwrap();
        clock.advance(5_000);
        assert_eq!(block_on(kv.get("k")).unwrap(), Some(b"b".to_vec()));
    }

    #[test]
    fn injected_failure_is_unavailable() {
        let kv = MemoryKv::new(Clock::manual(0));
        block_on(kv.put("k", b"v", None)).unwrap();
        kv.set_failing(true);
        assert!(matches!(block_on(kv.get("k")), Err(StoreError::Unavailable(_))));
        assert!(matches!(
            block_on(kv.put("k", b"w", None)),
            Err(StoreError::Unavailable(_))
        ));
        kv.set_failing(false);
        assert_eq!(block_on(kv.get("k")).unwrap(), Some(b"v".to_vec()));
    }
}
