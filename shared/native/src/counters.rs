//! Route counters in memory: the native system is one process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use gasline_core::route_stats::merge;
use gasline_ports::{RouteCounters, RouteKey, StoreError, Tally};

/// Every count, in memory.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    totals: Mutex<BTreeMap<RouteKey, Tally>>,
}

impl RouteCounters for MemoryCounters {
    async fn add(&self, key: RouteKey, tally: Tally) {
        if let Ok(mut totals) = self.totals.lock() {
            merge(&mut totals, key, &tally);
        }
    }

    async fn totals(&self) -> Result<BTreeMap<RouteKey, Tally>, StoreError> {
        self.totals
            .lock()
            .map(|t| t.clone())
            .map_err(|_| StoreError::Backend("counters poisoned".into()))
    }
}
