//! Stack safety for recursive passes. Every recursion over a program or a
//! value is bounded by a depth limit, and each recursive step runs through
//! [`guard`], which moves to a fresh heap-allocated stack segment when
//! fewer than [`RED_ZONE`] bytes are left. Together they make "no input
//! can overflow the stack" true on any thread (a Lambda worker thread has
//! a 2 MiB stack; a debug build uses kilobytes per frame).

/// Bytes that must be left on the stack before a recursive step.
pub const RED_ZONE: usize = 128 * 1024;

/// Size of each new stack segment.
pub const SEGMENT: usize = 4 * 1024 * 1024;

/// Run `f`, on a new stack segment if this one is nearly used up.
#[inline]
pub fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}
