//! Budgets: every evaluation of a rule on a record is bounded in steps,
//! memory, string size, collection size and nesting. Running out is a
//! rule error ("budget exceeded: …") that `try` cannot catch; the scan
//! goes on with the next rule and record. See ARCHITECTURE.md, "no rule
//! and no record can stop, crash or hang a scan".

use std::cell::Cell;
use std::fmt;

/// The limits of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Evaluation steps (a node visited, an output produced, or a unit of
    /// work inside a builtin such as a comparison while sorting).
    pub steps: u64,
    /// Bytes allocated for values built by the rule, cumulatively.
    pub memory: u64,
    /// Longest string the rule may build, in bytes.
    pub string: usize,
    /// Most elements an array (or entries an object) the rule builds may
    /// have.
    pub items: usize,
    /// Deepest nesting of a value the rule builds or walks.
    pub depth: usize,
    /// Deepest nesting of evaluation (recursion through functions and
    /// generators).
    pub recursion: usize,
}

impl Limits {
    /// The defaults: generous for any real rule (a recursive search over a
    /// 1 MB record takes well under 1% of them), small enough that a
    /// runaway rule stops within tens of milliseconds.
    pub const DEFAULT: Limits = Limits {
        steps: 4_000_000,
        memory: 64 << 20,
        string: 16 << 20,
        items: 4 << 20,
        depth: 1_000,
        recursion: 20_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Which limit was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exceeded {
    /// Too many steps.
    Steps,
    /// Too much memory.
    Memory,
    /// A string too long.
    String,
    /// A collection too large.
    Items,
    /// A value nested too deeply.
    Depth,
    /// Evaluation nested too deeply (runaway recursion).
    Recursion,
}

impl Exceeded {
    /// A short name for counters and log fields.
    pub fn name(self) -> &'static str {
        match self {
            Exceeded::Steps => "steps",
            Exceeded::Memory => "memory",
            Exceeded::String => "string",
            Exceeded::Items => "items",
            Exceeded::Depth => "depth",
            Exceeded::Recursion => "recursion",
        }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = Limits::DEFAULT;
        match self {
            Exceeded::Steps => write!(f, "budget exceeded: more than {} evaluation steps", l.steps),
            Exceeded::Memory => {
                write!(
                    f,
                    "budget exceeded: more than {} MiB of values built",
                    l.memory >> 20
                )
            }
            Exceeded::String => {
                write!(
                    f,
                    "budget exceeded: a string longer than {} MiB",
                    l.string >> 20
                )
            }
            Exceeded::Items => {
                write!(
                    f,
                    "budget exceeded: an array or object of more than {} elements",
                    l.items
                )
            }
            Exceeded::Depth => {
                write!(
                    f,
                    "budget exceeded: a value nested more than {} levels deep",
                    l.depth
                )
            }
            Exceeded::Recursion => write!(
                f,
                "budget exceeded: evaluation nested more than {} levels deep (runaway recursion?)",
                l.recursion
            ),
        }
    }
}

thread_local! {
    /// Work done by value operations that have no interpreter at hand
    /// (comparison, equality, containment), in steps, and how much more
    /// the running evaluation can afford. The interpreter moves the work
    /// into its step count at its next step; an operation whose own loop
    /// is long (an array searched inside an array) stops as soon as it
    /// has done more than the evaluation can afford.
    static METER: Cell<(u64, u64)> = const { Cell::new((0, u64::MAX)) };
}

/// Record `steps` of work done outside the interpreter: a deep comparison
/// repeated in a loop must cost what it does, not one step. An error when
/// the evaluation cannot afford the work done since its last step.
#[inline]
pub fn bill(steps: u64) -> Result<(), Exceeded> {
    METER.with(|m| {
        let (work, allowance) = m.get();
        let work = work.saturating_add(steps);
        m.set((work, allowance));
        if work > allowance {
            Err(Exceeded::Steps)
        } else {
            Ok(())
        }
    })
}

/// The work recorded since the last call (and reset it); `remaining` is
/// what the evaluation can afford from now on.
#[inline]
pub(crate) fn take_billed(remaining: u64) -> u64 {
    METER.with(|m| {
        let (work, _) = m.get();
        m.set((0, remaining));
        work
    })
}
