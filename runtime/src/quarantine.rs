//! Quarantine of rules that keep exceeding their evaluation budget, shared
//! by every matcher of one scan: the workers of a parallel scan count
//! together and see one decision, reported once.
//!
//! A rule that exceeded its budget on at least [`QUARANTINE_AFTER`]
//! records, and on more than half of the records it was evaluated on, is
//! not evaluated again in this scan. A few crafted events cannot
//! quarantine a rule that works on the rest of the traffic. Evaluations
//! are counted by each matcher and added here in bulk (at a budget error
//! and after each batch), so the hot path touches no shared counter.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Budget errors after which a rule that mostly exceeds its budget is
/// quarantined.
pub const QUARANTINE_AFTER: u64 = 10;

/// The counters of every rule of a plan.
#[derive(Debug)]
pub struct Quarantine {
    rules: Vec<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    evaluated: AtomicU64,
    over_budget: AtomicU64,
    quarantined: AtomicBool,
}

impl Quarantine {
    /// Counters for `rules` rules, none quarantined.
    pub fn new(rules: usize) -> Self {
        Quarantine {
            rules: (0..rules).map(|_| Counters::default()).collect(),
        }
    }

    /// Is rule `r` quarantined?
    #[inline]
    pub fn is_quarantined(&self, r: usize) -> bool {
        self.rules[r].quarantined.load(Relaxed)
    }

    /// Add evaluations of rule `r` made since the last report.
    pub fn evaluated(&self, r: usize, n: u64) {
        if n > 0 {
            self.rules[r].evaluated.fetch_add(n, Relaxed);
        }
    }

    /// Rule `r` exceeded its budget (after `evaluated` more evaluations).
    /// True when this call quarantined it.
    pub fn over_budget(&self, r: usize, evaluated: u64) -> bool {
        let c = &self.rules[r];
        let total = c.evaluated.fetch_add(evaluated, Relaxed) + evaluated;
        let over = c.over_budget.fetch_add(1, Relaxed) + 1;
        over >= QUARANTINE_AFTER && over * 2 > total && !c.quarantined.swap(true, Relaxed)
    }
}
