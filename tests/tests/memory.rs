//! The conformance suite on `MemoryStore`.

use sociallens::{MemoryStore, Store};
use sociallens_integration_tests::{conformance_suite, Harness};
use std::sync::Arc;

struct Memory(Arc<MemoryStore>);

impl Harness for Memory {
    fn open(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
    fn persistent(&self) -> bool {
        false
    }
    fn rows_mentioning(&self, user: &str) -> u64 {
        self.0.rows_mentioning(user)
    }
}

conformance_suite!(Memory(Arc::new(MemoryStore::new())));
