//! Scanning inputs: each file (or stream) is read once, record by record,
//! every record is evaluated, and alerts are pushed into an [`AlertSink`].
//! Nothing aborts a scan: a broken record is counted and skipped, a file
//! that cannot be read is reported and the next one is scanned, a rule that
//! fails is counted with a few example messages.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tattletail_compiler::plan::{Plan, PlannedRule};

use crate::correlate::CorrelationAlert;
use crate::matcher::{AlertFields, Annotation, Matcher, Outcome};
use crate::reader::{self, FileKind, Next, ReadError, RecordPos};
use crate::record::{Record, RecordParser};
use crate::repair::Repairs;

/// One alert: a rule that fired on a record.
pub struct Alert<'a> {
    /// The rule.
    pub rule: &'a PlannedRule,
    /// Its position in the plan (`plan.rules[rule_index]`).
    pub rule_index: usize,
    /// The record's fields that alerts show.
    pub fields: &'a AlertFields,
    /// The record, parsed or as its JSON text.
    pub record: RecordRef<'a>,
    /// The rule's output, or `None` when it was the record itself.
    pub annotation: Option<&'a Annotation>,
    /// Which input the record came from.
    pub source: &'a str,
    /// Where in it.
    pub position: RecordPos,
}

/// The record an alert is about: parsed (a scan on one thread) or its
/// JSON text (a parallel scan, where the workers' parses are gone); it is
/// only parsed again if a sink wants the whole record.
#[derive(Clone, Copy)]
pub enum RecordRef<'a> {
    /// Parsed.
    Parsed(&'a Record<'a>),
    /// The record's bytes, already parsed once without error.
    Text(&'a [u8]),
}

impl RecordRef<'_> {
    /// The whole record as a serde_json value (for alert payloads).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            RecordRef::Parsed(r) => r.to_json(),
            RecordRef::Text(bytes) => {
                // The raw text: repaired again exactly as when it was
                // evaluated (the value check is cheap next to a send).
                let mut bytes = bytes.to_vec();
                RecordParser::default()
                    .parse_checked(&mut bytes, true)
                    .map(|r| r.to_json())
                    .unwrap_or(serde_json::Value::Null)
            }
        }
    }
}

/// Where alerts go (stdout in the CLI; SNS, SES, Slack in the Lambda).
pub trait AlertSink {
    /// Deliver one alert.
    fn alert(&mut self, alert: &Alert<'_>) -> io::Result<()>;

    /// Deliver one correlation alert (of `plan.correlations`); sinks that
    /// never see correlations keep this default, which drops it.
    fn correlation(&mut self, plan: &Plan, alert: &CorrelationAlert) -> io::Result<()> {
        let _ = (plan, alert);
        Ok(())
    }
}

/// Collects alerts as (rule index, record index, annotation JSON) tuples.
#[derive(Default)]
pub struct CollectSink(pub Vec<(usize, String, u64, Option<String>)>);

impl AlertSink for CollectSink {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        let rule = a.rule_index;
        self.0.push((
            rule,
            a.source.to_string(),
            a.position.index,
            a.annotation.map(|v| v.0.clone()),
        ));
        Ok(())
    }
}

/// Examples kept per problem kind.
const EXAMPLES: usize = 3;

/// A record that could not be parsed.
#[derive(Clone, Debug)]
pub struct BadRecord {
    /// Input name.
    pub source: String,
    /// Where.
    pub position: RecordPos,
    /// Parser message.
    pub message: String,
}

/// Counts for one scan (one or many inputs).
#[derive(Debug, Default)]
pub struct Stats {
    /// Inputs that were CloudTrail logs.
    pub files: u64,
    /// Inputs skipped as not CloudTrail (name, reason).
    pub skipped: Vec<(String, String)>,
    /// Inputs that could not be read to the end (name, error).
    pub failed: Vec<(String, String)>,
    /// Records evaluated.
    pub records: u64,
    /// Records that could not be read (not JSON, broken, or too large).
    pub bad_records: u64,
    /// Bytes skipped in them by the reader (broken or too large records).
    pub skipped_bytes: u64,
    /// Inputs with records that had to be rewritten to read as jq reads
    /// them (name, records, what was rewritten).
    pub repaired: Vec<(String, u64, Repairs)>,
    /// The first few of them.
    pub bad_examples: Vec<BadRecord>,
    /// Bytes read from the inputs (compressed size for gzip).
    pub bytes_read: u64,
    /// Decompressed JSON bytes.
    pub bytes_json: u64,
    /// Alerts per rule (plan order).
    pub alerts: Vec<u64>,
    /// Errors per rule (plan order).
    pub rule_errors: Vec<u64>,
    /// A few error messages per rule.
    pub rule_error_examples: Vec<Vec<String>>,
    /// Of the rule errors, those where a budget ran out (per rule).
    pub budget_errors: Vec<u64>,
    /// Rules quarantined for exceeding their budget, and where.
    pub quarantined: Vec<(usize, String)>,
    /// Alerts suppressed, per exception (plan order; may be shorter than
    /// the plan's exceptions: missing = 0).
    pub suppressed: Vec<u64>,
    /// Records on which an exception failed (so did not suppress), per
    /// exception, with the first message.
    pub exception_errors: Vec<(u64, String)>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Stats {
    /// Zero counts for a plan of `rules` rules.
    pub fn new(rules: usize) -> Stats {
        Stats {
            alerts: vec![0; rules],
            rule_errors: vec![0; rules],
            rule_error_examples: vec![Vec::new(); rules],
            budget_errors: vec![0; rules],
            ..Default::default()
        }
    }

    /// Add another scan's counts (same plan) to these.
    pub fn absorb(&mut self, other: Stats) {
        self.files += other.files;
        self.skipped.extend(other.skipped);
        self.failed.extend(other.failed);
        self.records += other.records;
        self.bad_records += other.bad_records;
        self.skipped_bytes += other.skipped_bytes;
        self.repaired.extend(other.repaired);
        for b in other.bad_examples {
            if self.bad_examples.len() < EXAMPLES * 4 {
                self.bad_examples.push(b);
            }
        }
        self.bytes_read += other.bytes_read;
        self.bytes_json += other.bytes_json;
        if self.alerts.len() < other.alerts.len() {
            self.alerts.resize(other.alerts.len(), 0);
            self.rule_errors.resize(other.rule_errors.len(), 0);
            self.rule_error_examples
                .resize(other.rule_error_examples.len(), Vec::new());
        }
        for (i, n) in other.alerts.iter().enumerate() {
            self.alerts[i] += n;
        }
        for (i, n) in other.rule_errors.iter().enumerate() {
            self.rule_errors[i] += n;
        }
        if self.budget_errors.len() < other.budget_errors.len() {
            self.budget_errors.resize(other.budget_errors.len(), 0);
        }
        for (i, n) in other.budget_errors.iter().enumerate() {
            self.budget_errors[i] += n;
        }
        add_counts(&mut self.suppressed, &other.suppressed);
        for (i, (n, ex)) in other.exception_errors.into_iter().enumerate() {
            if self.exception_errors.len() <= i {
                self.exception_errors.resize(i + 1, (0, String::new()));
            }
            let mine = &mut self.exception_errors[i];
            mine.0 += n;
            if mine.1.is_empty() {
                mine.1 = ex;
            }
        }
        for q in other.quarantined {
            if !self.quarantined.iter().any(|(r, _)| *r == q.0) {
                self.quarantined.push(q);
            }
        }
        for (i, ex) in other.rule_error_examples.into_iter().enumerate() {
            let mine = &mut self.rule_error_examples[i];
            let room = EXAMPLES.saturating_sub(mine.len());
            mine.extend(ex.into_iter().take(room));
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Alerts suppressed by exceptions, in all.
    pub fn total_suppressed(&self) -> u64 {
        self.suppressed.iter().sum()
    }

    /// Total alerts.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.iter().sum()
    }

    /// Some input or record could not be read.
    pub fn had_read_errors(&self) -> bool {
        !self.failed.is_empty() || self.bad_records > 0
    }
}

/// `into[i] += from[i]`, growing `into` as needed.
fn add_counts(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// What happened to one input.
#[derive(Clone, Debug)]
pub enum InputOutcome {
    /// Read to the end.
    Scanned,
    /// Not a CloudTrail log; skipped.
    Skipped(String),
    /// Could not be read to the end (records before the error were scanned).
    Failed(Failure),
}

/// Why an input could not be read to the end: the message, and the I/O
/// error that ended it, with its type (a caller that put its own error
/// type into the reader's `io::Error` gets it back here, e.g. to tell a
/// download that failed from a corrupt file).
#[derive(Clone, Debug)]
pub struct Failure {
    message: String,
    io: Option<Arc<io::Error>>,
}

impl Failure {
    /// A failure ending with `error`.
    pub fn from_io(error: io::Error) -> Failure {
        Failure {
            message: error.to_string(),
            io: Some(Arc::new(error)),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The I/O error that ended the input, if an I/O error did.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_deref()
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        let message = e.to_string();
        let io = match e {
            ReadError::Open(e) | ReadError::Io { source: e, .. } => Some(Arc::new(e)),
            ReadError::Syntax { .. } => None,
        };
        Failure { message, io }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Counts the bytes read from an input.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An input of a scan: its name and how to read it (or why it cannot be
/// opened, which is reported in order like a read failure).
pub type Source = (String, io::Result<Box<dyn Read + Send>>);

/// Scans inputs with one plan.
///
/// With one worker (the default) records are evaluated on the calling
/// thread. With more ([`Scanner::with_workers`]), the calling thread reads
/// and splits records into batches and a pool of worker threads parses
/// and evaluates them; results are put back in order before they reach
/// the sink, so alerts still come out in input, record and rule order,
/// and memory stays bounded (a fixed number of batches in flight).
pub struct Scanner<'p> {
    pub(crate) matcher: Matcher<'p>,
    parser: RecordParser,
    buf: Vec<u8>,
    outcome: Outcome,
    started: Instant,
    workers: usize,
    pub(crate) max_record: usize,
    /// Records read so far, for a progress display on another thread.
    progress: Option<Arc<AtomicU64>>,
    /// Counts so far.
    pub stats: Stats,
}

/// What happened to one input, for a [`Scanner::scan_all`] caller.
pub type Report<'a> = &'a mut dyn FnMut(&str, &InputOutcome);

impl<'p> Scanner<'p> {
    /// A scanner using the dispatch index.
    pub fn new(plan: &'p Plan) -> Self {
        Self::with_matcher(Matcher::new(plan))
    }

    /// A scanner with the given matcher (e.g. [`Matcher::naive`]).
    pub fn with_matcher(matcher: Matcher<'p>) -> Self {
        let n = matcher.plan().rules.len();
        Scanner {
            matcher,
            parser: RecordParser::default(),
            buf: Vec::new(),
            outcome: Outcome::default(),
            started: Instant::now(),
            workers: 1,
            max_record: reader::DEFAULT_MAX_RECORD,
            progress: None,
            stats: Stats::new(n),
        }
    }

    /// Evaluate records on `n` worker threads (1: on the calling thread).
    pub fn with_workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Skip (and report) records larger than `bytes` instead of reading
    /// them ([`reader::DEFAULT_MAX_RECORD`] unless set).
    pub fn with_max_record_size(mut self, bytes: usize) -> Self {
        self.max_record = bytes.max(1);
        self
    }

    /// Add one to `records` for every record read (evaluated or not), as
    /// it is counted: a progress display can watch it from another thread.
    pub fn with_record_counter(mut self, records: Arc<AtomicU64>) -> Self {
        self.progress = Some(records);
        self
    }

    /// The counts so far; the scanner starts counting afresh (the plan,
    /// index and memo are kept).
    pub fn take_stats(&mut self) -> Stats {
        let n = self.matcher.plan().rules.len();
        self.started = Instant::now();
        std::mem::replace(&mut self.stats, Stats::new(n))
    }

    /// Scan one input named `source`.
    pub fn scan(
        &mut self,
        source: &str,
        read: impl Read + Send + 'static,
        sink: &mut dyn AlertSink,
    ) -> io::Result<InputOutcome> {
        let mut outcome = None;
        let input: Source = (source.to_string(), Ok(Box::new(read)));
        self.scan_all(std::iter::once(input), sink, &mut |_, o| {
            outcome = Some(o.clone())
        })?;
        Ok(outcome.expect("one input gives one outcome"))
    }

    /// Scan inputs in order, calling `report` once per input (in order,
    /// after its alerts). The error is a sink failure, which stops the
    /// scan; input failures are outcomes.
    pub fn scan_all(
        &mut self,
        inputs: impl IntoIterator<Item = Source>,
        sink: &mut dyn AlertSink,
        report: Report<'_>,
    ) -> io::Result<()> {
        if self.workers > 1 {
            return crate::pool::scan_all(self, inputs, sink, report);
        }
        for (name, read) in inputs {
            let outcome = match read {
                Ok(read) => {
                    let count = Arc::new(AtomicU64::new(0));
                    let counting = Counting {
                        inner: read,
                        count: count.clone(),
                    };
                    let result = self.scan_inline(&name, counting, sink)?;
                    self.stats.bytes_read += count.load(Ordering::Relaxed);
                    self.finish_input(&name, result)
                }
                Err(e) => self.finish_input(&name, Err(ReadError::Open(e))),
            };
            report(&name, &outcome);
        }
        Ok(())
    }

    /// Count an input's end and say what happened to it.
    pub(crate) fn finish_input(
        &mut self,
        source: &str,
        result: Result<FileKind, ReadError>,
    ) -> InputOutcome {
        self.stats.elapsed = self.started.elapsed();
        match result {
            Ok(FileKind::CloudTrail) => {
                self.stats.files += 1;
                InputOutcome::Scanned
            }
            Ok(kind) => {
                let reason = match kind {
                    FileKind::Empty => "empty file".to_string(),
                    FileKind::Digest => "CloudTrail digest file (no events)".to_string(),
                    FileKind::NotCloudTrail(why) => format!("not a CloudTrail log: {why}"),
                    FileKind::CloudTrail => unreachable!(),
                };
                self.stats
                    .skipped
                    .push((source.to_string(), reason.clone()));
                InputOutcome::Skipped(reason)
            }
            Err(e) => {
                let failure = Failure::from(e);
                self.stats
                    .failed
                    .push((source.to_string(), failure.message().to_string()));
                InputOutcome::Failed(failure)
            }
        }
    }

    /// The outer `io::Result` is a sink failure (stops the scan); the inner
    /// one is this input's read failure.
    fn scan_inline(
        &mut self,
        source: &str,
        read: impl Read + Send + 'static,
        sink: &mut dyn AlertSink,
    ) -> io::Result<Result<FileKind, ReadError>> {
        let reader = match reader::open(read) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(ReadError::Io {
                    offset: 0,
                    source: e,
                }))
            }
        };
        let mut buf = std::mem::take(&mut self.buf);
        let mut reader = reader.with_max_record_size(self.max_record);
        let result = loop {
            match reader.next_record(&mut buf) {
                Ok(Some(Next::Record(pos))) => {
                    if let Err(e) = self.evaluate_inline(source, pos, &mut buf, sink) {
                        self.buf = buf;
                        return Err(e);
                    }
                }
                Ok(Some(Next::Skipped(skip))) => self.bad_record(source, skip.pos, skip.reason),
                Ok(None) => break Ok(reader.kind()),
                Err(e) => break Err(e),
            }
        };
        self.stats.bytes_json += reader.offset();
        self.stats.skipped_bytes += reader.skipped_bytes();
        self.buf = buf;
        Ok(result)
    }

    /// Parse, evaluate, count and emit one record on the calling thread
    /// (in place: no copy of its bytes).
    pub(crate) fn evaluate_inline(
        &mut self,
        source: &str,
        pos: RecordPos,
        buf: &mut Vec<u8>,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        let mut outcome = std::mem::take(&mut self.outcome);
        let record = match self.matcher.parse_and_evaluate(
            &mut self.parser,
            buf,
            pos.check_values,
            &mut outcome,
        ) {
            Ok(r) => r,
            Err(message) => {
                self.bad_record(source, pos, message);
                self.outcome = outcome;
                return Ok(());
            }
        };
        self.account(source, pos, &mut outcome);
        let emitted = emit(
            self.matcher.plan(),
            source,
            pos,
            RecordRef::Parsed(&record),
            &outcome,
            sink,
        );
        self.parser.recycle(record);
        self.outcome = outcome;
        emitted
    }

    /// Count a record that is not JSON.
    pub(crate) fn bad_record(&mut self, source: &str, pos: RecordPos, message: String) {
        self.counted();
        self.stats.bad_records += 1;
        if self.stats.bad_examples.len() < EXAMPLES * 4 {
            self.stats.bad_examples.push(BadRecord {
                source: source.to_string(),
                position: pos,
                message,
            });
        }
    }

    /// Count what evaluating a record gave (alerts, errors, quarantines).
    pub(crate) fn account(&mut self, source: &str, pos: RecordPos, outcome: &mut Outcome) {
        self.counted();
        if outcome.repairs.any() {
            match self.stats.repaired.last_mut() {
                Some((name, n, what)) if name == source => {
                    *n += 1;
                    *what = what.union(outcome.repairs);
                }
                _ => self
                    .stats
                    .repaired
                    .push((source.to_string(), 1, outcome.repairs)),
            }
        }
        for e in outcome.errors.drain(..) {
            self.stats.rule_errors[e.rule] += 1;
            if e.budget.is_some() {
                self.stats.budget_errors[e.rule] += 1;
            }
            let ex = &mut self.stats.rule_error_examples[e.rule];
            if ex.len() < EXAMPLES {
                ex.push(format!("{source} record {}: {}", pos.index, e.message));
            }
        }
        for r in outcome.quarantined.drain(..) {
            if !self.stats.quarantined.iter().any(|(q, _)| *q == r) {
                self.stats
                    .quarantined
                    .push((r, format!("{source} record {}", pos.index)));
            }
        }
        for m in &outcome.matches {
            self.stats.alerts[m.rule] += 1;
        }
        for &(_, e) in &outcome.suppressed {
            if self.stats.suppressed.len() <= e {
                self.stats.suppressed.resize(e + 1, 0);
            }
            self.stats.suppressed[e] += 1;
        }
        for (e, message) in outcome.exception_errors.drain(..) {
            if self.stats.exception_errors.len() <= e {
                self.stats
                    .exception_errors
                    .resize(e + 1, (0, String::new()));
            }
            let slot = &mut self.stats.exception_errors[e];
            slot.0 += 1;
            if slot.1.is_empty() {
                slot.1 = format!("{source} record {}: {message}", pos.index);
            }
        }
    }

    /// One more record read.
    fn counted(&mut self) {
        self.stats.records += 1;
        if let Some(p) = &self.progress {
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The plan.
    pub fn plan(&self) -> &'p Plan {
        self.matcher.plan()
    }

    /// The matcher (to make workers' matchers like it).
    pub(crate) fn matcher(&self) -> &Matcher<'p> {
        &self.matcher
    }

    pub(crate) fn workers(&self) -> usize {
        self.workers
    }
}

/// Push a record's alerts into the sink, in rule order.
pub(crate) fn emit(
    plan: &Plan,
    source: &str,
    pos: RecordPos,
    record: RecordRef<'_>,
    outcome: &Outcome,
    sink: &mut dyn AlertSink,
) -> io::Result<()> {
    for m in &outcome.matches {
        let alert = Alert {
            rule: &plan.rules[m.rule],
            rule_index: m.rule,
            fields: &outcome.fields,
            record,
            annotation: m.annotation.as_ref(),
            source,
            position: pos,
        };
        sink.alert(&alert)?;
    }
    Ok(())
}
