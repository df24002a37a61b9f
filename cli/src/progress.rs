//! The progress bar of a scan, on stderr when it is a terminal: files
//! done, bytes read of the total, records per second and the time left.
//! A ticker thread reads counters the scan bumps (bytes through
//! [`Progress::counting`], records through the scanner's record counter)
//! and redraws a few times a second; the scan itself never waits for it.
//!
//! While the bar is shown, every other line on the terminal (alerts on
//! stdout, notes on stderr) goes through [`suspend`], which clears the bar,
//! writes, and redraws it, so no line is ever drawn over.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar on screen, if any.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Run `f` (which writes to the terminal) with the bar out of the way.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let bar = SHOWN.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(b) => b.suspend(f),
        None => f(),
    }
}

/// A progress display for one run.
pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
    records: Arc<AtomicU64>,
    files: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Start showing progress over `files` inputs of `total_bytes` bytes
    /// (`None` when unknown, e.g. stdin). With `forced`, the bar is drawn
    /// even when stderr is not a terminal (`--progress always`).
    pub fn start(files: usize, total_bytes: Option<u64>, forced: bool) -> Progress {
        let target = || {
            if forced {
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            } else {
                ProgressDrawTarget::stderr()
            }
        };
        let bar = match total_bytes {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), target());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:20}] {bytes}/{total_bytes} {msg} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, target());
                bar.set_style(
                    ProgressStyle::with_template("{elapsed_precise} {spinner} {bytes}  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        if let Ok(mut shown) = SHOWN.lock() {
            *shown = Some(bar.clone());
        }
        let mut p = Progress {
            bar,
            bytes: Arc::new(AtomicU64::new(0)),
            records: Arc::new(AtomicU64::new(0)),
            files: Arc::new(AtomicU64::new(0)),
            done: Arc::new(AtomicBool::new(false)),
            ticker: None,
        };
        let (bar, bytes, records, done_files, done) = (
            p.bar.clone(),
            p.bytes.clone(),
            p.records.clone(),
            p.files.clone(),
            p.done.clone(),
        );
        let started = Instant::now();
        p.ticker = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    let n = records.load(Ordering::Relaxed);
                    bar.set_position(bytes.load(Ordering::Relaxed));
                    bar.set_message(format!(
                        "{}/{files} files {:.0} records/s",
                        done_files.load(Ordering::Relaxed),
                        n as f64 / secs,
                    ));
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        p
    }

    /// The counter the scanner bumps for every record.
    pub fn records(&self) -> Arc<AtomicU64> {
        self.records.clone()
    }

    /// `read`, counting its bytes into the bar.
    pub fn counting<R: Read>(&self, read: R) -> Counting<R> {
        Counting {
            inner: read,
            count: self.bytes.clone(),
        }
    }

    /// One more input finished.
    pub fn input_done(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    /// Remove the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        if let Ok(mut shown) = SHOWN.lock() {
            *shown = None;
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A reader that counts its bytes.
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A writer onto the terminal that moves the bar out of the way of each
/// write (put it under the `BufWriter`, so it sees whole buffers).
pub struct Suspending<W>(pub W);

impl<W: Write> Write for Suspending<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        suspend(|| self.0.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        suspend(|| self.0.flush())
    }
}
