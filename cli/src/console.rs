//! The CLI's console. Standard output knows when its reader went away:
//! `tattletail scan … | head -1` closes the pipe, the next write fails
//! with `BrokenPipe` (Rust ignores SIGPIPE), and the scan should end
//! quietly with status 0, as `grep` or `rg` do, not with an error. With
//! `--send` the scan keeps going instead (alerts are still delivered, only
//! no longer printed), so a closed pipe never costs an alert. Any other
//! write error (a full disk) is an error. Lines on stderr go through
//! [`note`], which never panics (unlike `eprintln!`) when stderr is closed
//! too.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What happened to stdout, shared by every writer onto it.
#[derive(Debug, Default)]
pub struct OutState {
    closed: AtomicBool,
    keep_going: bool,
}

impl OutState {
    /// A new state; with `keep_going`, writes after the reader went away
    /// are discarded instead of failing (for `--send`).
    pub fn new(keep_going: bool) -> Arc<OutState> {
        Arc::new(OutState {
            closed: AtomicBool::new(false),
            keep_going,
        })
    }

    /// The reader of stdout went away (a write failed with `BrokenPipe`).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Did `e` (from writing alerts) come from the reader going away?
    pub fn is_closed_error(&self, e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::BrokenPipe || self.closed()
    }

    fn failed(&self, e: io::Error, len: usize) -> io::Result<usize> {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e);
        }
        if !self.closed.swap(true, Ordering::Relaxed) && self.keep_going {
            note("stdout was closed: alerts are no longer printed, still sent (--send)");
        }
        if self.keep_going {
            Ok(len)
        } else {
            Err(e)
        }
    }
}

/// A writer (stdout) that records in [`OutState`] when its reader went
/// away. Put it under the `BufWriter`.
pub struct Guarded<W> {
    inner: W,
    state: Arc<OutState>,
}

impl<W: Write> Guarded<W> {
    /// Guard `inner`.
    pub fn new(inner: W, state: Arc<OutState>) -> Self {
        Guarded { inner, state }
    }
}

impl<W: Write> Write for Guarded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.state.closed() && self.state.keep_going {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Ok(n) => Ok(n),
            Err(e) => self.state.failed(e, buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.state.closed() && self.state.keep_going {
            return Ok(());
        }
        match self.inner.flush() {
            Ok(()) => Ok(()),
            Err(e) => self.state.failed(e, 0).map(|_| ()),
        }
    }
}

/// A writer shared by the printer and whoever flushes it after each
/// input.
pub struct Shared<W>(pub Arc<Mutex<W>>);

impl<W> Clone for Shared<W> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<W: Write> Write for Shared<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock()?.flush()
    }
}

impl<W> Shared<W> {
    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, W>> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("the output lock was poisoned"))
    }
}

/// Write `tattletail: {msg}` as one line on stderr (out of the progress
/// bar's way); never panics.
pub fn note(msg: impl fmt::Display) {
    crate::progress::suspend(|| {
        let _ = writeln!(io::stderr().lock(), "tattletail: {msg}");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `room` bytes, then fails like a closed pipe (or `kind`).
    struct Pipe {
        got: Vec<u8>,
        room: usize,
        kind: io::ErrorKind,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.got.len() >= self.room {
                return Err(io::Error::from(self.kind));
            }
            let n = buf.len().min(self.room - self.got.len());
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pipe(room: usize, kind: io::ErrorKind) -> Pipe {
        Pipe {
            got: Vec::new(),
            room,
            kind,
        }
    }

    #[test]
    fn a_closed_pipe_is_recorded_and_stops_the_writer() {
        let state = OutState::new(false);
        let mut w = Guarded::new(pipe(4, io::ErrorKind::BrokenPipe), state.clone());
        let err = w.write_all(b"line one\n").unwrap_err();
        assert!(state.closed());
        assert!(state.is_closed_error(&err));
    }

    #[test]
    fn with_keep_going_output_is_discarded_after_the_pipe_closed() {
        let state = OutState::new(true);
        let mut w = Guarded::new(pipe(4, io::ErrorKind::BrokenPipe), state.clone());
        w.write_all(b"line one\nline two\n").unwrap();
        w.flush().unwrap();
        assert!(state.closed());
        assert_eq!(w.inner.got, b"line");
    }

    #[test]
    fn other_errors_stay_errors() {
        let state = OutState::new(true);
        let mut w = Guarded::new(pipe(0, io::ErrorKind::StorageFull), state.clone());
        let err = w.write_all(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(!state.closed() && !state.is_closed_error(&err));
    }
}
