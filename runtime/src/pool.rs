//! The parallel scan driver behind [`Scanner::with_workers`]: the calling
//! thread reads and splits records (gzip is inflated on its own thread,
//! as always) into batches; worker threads parse and evaluate them, each
//! with its own matcher; the calling thread takes results back in the
//! order the batches were made, counts them and emits their alerts
//! (from the fields the workers read, without parsing again). An
//! input's end is a marker in the same ordered stream, so inputs are
//! reported in order too, and many small files keep every worker busy.
//!
//! Bounded memory: at most [`MAX_BATCHES`] batches and [`MAX_BYTES`] of
//! record bytes are in flight (always at least one batch, so a single
//! huge record still goes through).

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use tattletail_compiler::plan::Plan;

use crate::eval::Limits;
use crate::matcher::{Matcher, Outcome};
use crate::quarantine::Quarantine;
use crate::reader::{self, FileKind, Next, ReadError, RecordPos, Skipped};
use crate::record::RecordParser;
use crate::scan::{emit, AlertSink, Counting, RecordRef, Report, Scanner, Source};

/// Records per batch.
const BATCH_RECORDS: usize = 256;
/// Bytes per batch (a batch closes when it has this much).
const BATCH_BYTES: usize = 512 * 1024;
/// Batches in flight, per worker.
const MAX_BATCHES: usize = 4;
/// Record bytes in flight.
const MAX_BYTES: usize = 32 << 20;
/// A record at least this large is evaluated on the reading thread, in
/// place, once the batches before it are done: no copies of it are made,
/// so its memory stays at what parsing it costs (see the reader).
const INLINE_RECORD: usize = 4 << 20;

/// Raw records of one input, in order.
struct Batch {
    data: Vec<u8>,
    records: Vec<Entry>,
}

/// One record of a batch: its bytes in `data`, or the reader's report of
/// a stretch it skipped (kept in order with the records).
enum Entry {
    Record(RecordPos, Range<usize>),
    Skipped(Skipped),
}

/// A batch with, per record, its outcome or why it is not JSON.
struct Done {
    seq: u64,
    input: usize,
    batch: Batch,
    results: Vec<Result<Outcome, String>>,
}

/// The ordered stream of what the calling thread emits.
enum Item {
    Batch(Done),
    End {
        input: usize,
        result: Result<FileKind, ReadError>,
        bytes_read: u64,
        bytes_json: u64,
        skipped_bytes: u64,
    },
}

struct Emitter<'s, 'p, 'k> {
    scanner: &'s mut Scanner<'p>,
    sink: &'k mut dyn AlertSink,
    report: Report<'k>,
    names: Vec<String>,
    pending: BTreeMap<u64, Item>,
    next: u64,
    sent: u64,
    in_flight_bytes: usize,
    /// Emptied batches, reused (allocating fresh ones costs page faults
    /// and, across threads, memory the allocator keeps).
    spare: Vec<Batch>,
}

impl Emitter<'_, '_, '_> {
    /// An empty batch, reused when one is spare.
    fn batch(&mut self) -> Batch {
        self.spare.pop().unwrap_or_else(|| Batch {
            data: Vec::new(),
            records: Vec::new(),
        })
    }

    /// Emit every item that is next in order.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(item) = self.pending.remove(&self.next) {
            self.next += 1;
            match item {
                Item::Batch(done) => {
                    self.in_flight_bytes -= done.batch.data.len();
                    let mut batch = self.emit(done)?;
                    if batch.data.capacity() <= 2 * BATCH_BYTES {
                        batch.data.clear();
                        batch.records.clear();
                        self.spare.push(batch);
                    }
                }
                Item::End {
                    input,
                    result,
                    bytes_read,
                    bytes_json,
                    skipped_bytes,
                } => {
                    let sc = &mut *self.scanner;
                    sc.stats.bytes_read += bytes_read;
                    sc.stats.bytes_json += bytes_json;
                    sc.stats.skipped_bytes += skipped_bytes;
                    let outcome = sc.finish_input(&self.names[input], result);
                    (self.report)(&self.names[input], &outcome);
                }
            }
        }
        Ok(())
    }

    /// Count and emit a batch's results; the batch is given back.
    fn emit(&mut self, done: Done) -> io::Result<Batch> {
        let name = &self.names[done.input];
        let plan = self.scanner.plan();
        for (entry, result) in done.batch.records.iter().zip(done.results) {
            let (pos, range) = match entry {
                Entry::Record(pos, range) => (pos, range),
                Entry::Skipped(skip) => {
                    self.scanner.bad_record(name, skip.pos, skip.reason.clone());
                    continue;
                }
            };
            match result {
                Err(message) => self.scanner.bad_record(name, *pos, message),
                Ok(mut outcome) => {
                    self.scanner.account(name, *pos, &mut outcome);
                    if outcome.matches.is_empty() {
                        continue;
                    }
                    let text = RecordRef::Text(&done.batch.data[range.clone()]);
                    emit(plan, name, *pos, text, &outcome, self.sink)?;
                }
            }
        }
        Ok(done.batch)
    }

    /// Wait for one result.
    fn receive(&mut self, done_rx: &Receiver<Done>) -> io::Result<()> {
        let done = done_rx
            .recv()
            .map_err(|_| io::Error::other("the scan workers stopped"))?;
        self.pending.insert(done.seq, Item::Batch(done));
        self.flush()
    }

    /// Take results that are ready, without waiting.
    fn poll(&mut self, done_rx: &Receiver<Done>) -> io::Result<()> {
        while let Ok(done) = done_rx.try_recv() {
            self.pending.insert(done.seq, Item::Batch(done));
        }
        self.flush()
    }

    fn send(
        &mut self,
        input: usize,
        batch: Batch,
        work: &SyncSender<(u64, usize, Batch)>,
        done_rx: &Receiver<Done>,
        max_batches: u64,
    ) -> io::Result<()> {
        while self.sent - self.next >= max_batches
            || (self.in_flight_bytes > 0 && self.in_flight_bytes + batch.data.len() > MAX_BYTES)
        {
            self.receive(done_rx)?;
        }
        self.in_flight_bytes += batch.data.len();
        let seq = self.sent;
        self.sent += 1;
        work.send((seq, input, batch))
            .map_err(|_| io::Error::other("the scan workers stopped"))
    }

    fn end(&mut self, item: Item) -> io::Result<()> {
        let seq = self.sent;
        self.sent += 1;
        self.pending.insert(seq, item);
        self.flush()
    }
}

fn worker(
    plan: &Plan,
    naive: bool,
    limits: Limits,
    quarantine: Arc<Quarantine>,
    work: Arc<Mutex<Receiver<(u64, usize, Batch)>>>,
    done: Sender<Done>,
) {
    let matcher = if naive {
        Matcher::naive(plan)
    } else {
        Matcher::new(plan)
    };
    let mut matcher = matcher.with_limits(limits).with_quarantine(quarantine);
    let mut parser = RecordParser::default();
    let mut scratch = Vec::new();
    loop {
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((seq, input, batch)) = next else {
            return;
        };
        let mut results = Vec::with_capacity(batch.records.len());
        for entry in &batch.records {
            let Entry::Record(pos, range) = entry else {
                results.push(Err(String::new()));
                continue;
            };
            scratch.clear();
            scratch.extend_from_slice(&batch.data[range.clone()]);
            let mut out = Outcome::default();
            match matcher.parse_and_evaluate(&mut parser, &mut scratch, pos.check_values, &mut out)
            {
                Ok(record) => {
                    parser.recycle(record);
                    results.push(Ok(out));
                }
                Err(message) => results.push(Err(message)),
            }
        }
        matcher.report_evaluations();
        let d = Done {
            seq,
            input,
            batch,
            results,
        };
        if done.send(d).is_err() {
            return;
        }
    }
}

/// Scan `inputs` with the scanner's worker pool.
pub(crate) fn scan_all(
    scanner: &mut Scanner<'_>,
    inputs: impl IntoIterator<Item = Source>,
    sink: &mut dyn AlertSink,
    report: Report<'_>,
) -> io::Result<()> {
    let plan = scanner.plan();
    let naive = scanner.matcher().is_naive();
    let limits = scanner.matcher().limits();
    let max_record = scanner.max_record;
    let quarantine = scanner.matcher().quarantine();
    let workers = scanner.workers();
    let max_batches = (workers * MAX_BATCHES) as u64;
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, usize, Batch)>(workers * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        for _ in 0..workers {
            let (rx, tx) = (work_rx.clone(), done_tx.clone());
            let q = quarantine.clone();
            scope.spawn(move || worker(plan, naive, limits, q, rx, tx));
        }
        drop(done_tx);
        let mut em = Emitter {
            scanner,
            sink,
            report,
            names: Vec::new(),
            pending: BTreeMap::new(),
            next: 0,
            sent: 0,
            in_flight_bytes: 0,
            spare: Vec::new(),
        };
        let result = (|| {
            let mut buf = Vec::new();
            for (input, (name, read)) in inputs.into_iter().enumerate() {
                em.names.push(name);
                let count = Arc::new(AtomicU64::new(0));
                let reader = match read {
                    Err(e) => Err(ReadError::Open(e)),
                    Ok(read) => reader::open(Counting {
                        inner: read,
                        count: count.clone(),
                    })
                    .map(|r| r.with_max_record_size(max_record))
                    .map_err(|e| ReadError::Io {
                        offset: 0,
                        source: e,
                    }),
                };
                let mut reader = match reader {
                    Ok(r) => r,
                    Err(e) => {
                        em.end(Item::End {
                            input,
                            result: Err(e),
                            bytes_read: count.load(Ordering::Relaxed),
                            bytes_json: 0,
                            skipped_bytes: 0,
                        })?;
                        continue;
                    }
                };
                let mut batch = em.batch();
                let result = loop {
                    match reader.next_record(&mut buf) {
                        Ok(Some(Next::Skipped(skip))) => batch.records.push(Entry::Skipped(skip)),
                        Ok(Some(Next::Record(pos))) if buf.len() >= INLINE_RECORD => {
                            if !batch.records.is_empty() {
                                let fresh = em.batch();
                                let full = std::mem::replace(&mut batch, fresh);
                                em.send(input, full, &work_tx, &done_rx, max_batches)?;
                            }
                            while em.next < em.sent {
                                em.receive(&done_rx)?;
                            }
                            let name = em.names[input].clone();
                            em.scanner.evaluate_inline(&name, pos, &mut buf, em.sink)?;
                            em.scanner.matcher.report_evaluations();
                            buf = Vec::new();
                        }
                        Ok(Some(Next::Record(pos))) => {
                            let start = batch.data.len();
                            batch.data.extend_from_slice(&buf);
                            batch
                                .records
                                .push(Entry::Record(pos, start..batch.data.len()));
                            if batch.records.len() >= BATCH_RECORDS
                                || batch.data.len() >= BATCH_BYTES
                            {
                                let fresh = em.batch();
                                let full = std::mem::replace(&mut batch, fresh);
                                em.send(input, full, &work_tx, &done_rx, max_batches)?;
                                em.poll(&done_rx)?;
                            }
                        }
                        Ok(None) => break Ok(reader.kind()),
                        Err(e) => break Err(e),
                    }
                };
                if !batch.records.is_empty() {
                    em.send(input, batch, &work_tx, &done_rx, max_batches)?;
                }
                em.end(Item::End {
                    input,
                    result,
                    bytes_read: count.load(Ordering::Relaxed),
                    bytes_json: reader.offset(),
                    skipped_bytes: reader.skipped_bytes(),
                })?;
                em.poll(&done_rx)?;
            }
            while em.next < em.sent {
                em.receive(&done_rx)?;
            }
            Ok(())
        })();
        drop(work_tx);
        drop(done_rx);
        result
    })
}
