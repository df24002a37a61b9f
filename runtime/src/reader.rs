//! One-pass reading of CloudTrail log files: gzip sniffing and a streaming
//! splitter that hands out the elements of the top-level `Records` array
//! one at a time.
//!
//! Memory is bounded by the maximum record size: the reader holds a
//! fixed-size input buffer, the inflater's window and one record's bytes
//! (a larger record is skipped while it streams past, never held). It
//! never holds the file or a DOM of it.
//!
//! One bad record costs one record. The splitter checks the structure it
//! walks (brackets of the right kind, a `,`, `:` or closing bracket after
//! every string and container), so a record with a mismatched bracket, an
//! unterminated string or stray bytes is noticed where it breaks. The
//! reader then resynchronises: it looks, from the broken record's second
//! byte on, for the start of the next record (`,` `{` and the first key
//! of the file's records, `"eventVersion"` until a record has been read),
//! reports the bytes in between as one skipped record ([`Next::Skipped`])
//! and goes on from there. Only a file that ends inside a record or the
//! `Records` array is reported as truncated. A record's own syntax inside
//! balanced structure is checked later by the JSON parser, which costs
//! that record only.
//!
//! Gzip is detected by its magic bytes (`1f 8b`), never by the file name,
//! and inflated on a second thread into a few recycled 1 MB chunks.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc;

use flate2::bufread::MultiGzDecoder;

/// Size of the input buffer.
const BUF_SIZE: usize = 256 * 1024;

/// Why a file could not be read to the end.
#[derive(Debug)]
pub enum ReadError {
    /// The input could not be opened.
    Open(io::Error),
    /// The underlying read (or gzip inflation) failed.
    Io {
        /// Offset in the decompressed stream.
        offset: u64,
        /// The error.
        source: io::Error,
    },
    /// The JSON structure around the records is broken.
    Syntax {
        /// Offset in the decompressed stream.
        offset: u64,
        /// What was expected.
        message: String,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Open(e) => write!(f, "cannot open: {e}"),
            ReadError::Io { offset, source } => write!(f, "read failed at byte {offset}: {source}"),
            ReadError::Syntax { offset, message } => {
                write!(f, "malformed JSON at byte {offset}: {message}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// `fill_buf`, retried on `Interrupted`, with errors located at `offset`.
fn fill<R: BufRead>(input: &mut R, offset: u64) -> Result<&[u8], ReadError> {
    loop {
        match input.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(ReadError::Io { offset, source }),
        }
    }
    // The buffer is filled now; this second call does no IO.
    input
        .fill_buf()
        .map_err(|source| ReadError::Io { offset, source })
}

/// What kind of file this turned out to be, known once it has been read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A CloudTrail log: it had a top-level `Records` array.
    CloudTrail,
    /// A file with no bytes.
    Empty,
    /// A CloudTrail digest file (no records; integrity data only).
    Digest,
    /// Valid JSON that is not a CloudTrail log, and why.
    NotCloudTrail(String),
}

/// Where a record was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordPos {
    /// Position in the `Records` array, from 0 (as in `.Records[N]`; every
    /// message counts records this way).
    pub index: u64,
    /// Byte offset of its first byte in the decompressed stream.
    pub offset: u64,
    /// The record has `\uD…` escapes or numbers with an exponent: values
    /// jq reads that the JSON parser may refuse (lone surrogates, numbers
    /// beyond the double range), rewritten before parsing
    /// ([`crate::repair`]).
    pub check_values: bool,
}

/// What [`RecordReader::next_record`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// A record, in the caller's buffer.
    Record(RecordPos),
    /// Bytes that could not be read as a record (counted as one record),
    /// skipped; reading goes on after them.
    Skipped(Skipped),
}

impl Next {
    /// The record's position, or the skipped stretch (for callers that
    /// only read well-formed files: tests, benchmarks, examples).
    pub fn into_record(self) -> Result<RecordPos, Skipped> {
        match self {
            Next::Record(pos) => Ok(pos),
            Next::Skipped(s) => Err(s),
        }
    }
}

/// A skipped stretch of the `Records` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Index the record would have had, and the offset of its first byte.
    pub pos: RecordPos,
    /// How many bytes were skipped.
    pub bytes: u64,
    /// Why, in words.
    pub reason: String,
}

/// The default maximum size of one record (64 MiB). CloudTrail's own
/// events are far smaller (its limit is 256 KB per event).
pub const DEFAULT_MAX_RECORD: usize = 64 << 20;

/// The environment variable that sets the maximum record size (the CLI's
/// `--max-record-size` takes precedence).
pub const MAX_RECORD_ENV: &str = "TATTLETAIL_MAX_RECORD_BYTES";

/// The maximum record size from [`MAX_RECORD_ENV`], else
/// [`DEFAULT_MAX_RECORD`]. An unusable value is an error naming the
/// variable.
pub fn max_record_size_from_env() -> Result<usize, String> {
    match std::env::var(MAX_RECORD_ENV) {
        Ok(v) => parse_size(&v).map_err(|e| format!("{MAX_RECORD_ENV}: {e}")),
        Err(_) => Ok(DEFAULT_MAX_RECORD),
    }
}

/// A size as users write it: `67108864`, `64MiB`, `64M`, `512KiB`,
/// `1GiB` (K, M, G are binary multiples, as in `--max-record-size`).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write e.g. 64MiB or 1048576)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use B, KiB, MiB or GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size (must be above 0 and fit in memory)"))
}

/// simd-json's nesting limit: a record nested deeper cannot be parsed, so
/// the splitter stops tracking bracket kinds beyond it.
const MAX_DEPTH: usize = 1024;

/// The first key of CloudTrail's records, where a resynchronisation looks
/// for the next record until the file's own first key is known.
const DEFAULT_SIGNATURE: &[u8] = b"\"eventVersion\"";

/// The bytes before the input: a record's tail handed back by a
/// resynchronisation, then the input itself.
struct Replay<R> {
    pending: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R: BufRead> Replay<R> {
    /// Read `bytes` again before the rest of the input.
    fn push_back(&mut self, bytes: &[u8]) {
        let mut pending = bytes.to_vec();
        pending.extend_from_slice(&self.pending[self.pos..]);
        self.pending = pending;
        self.pos = 0;
    }
}

impl<R: BufRead> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl<R: BufRead> BufRead for Replay<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.pending.len() {
            return Ok(&self.pending[self.pos..]);
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.pos = 0;
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.pos < self.pending.len() {
            self.pos = (self.pos + n).min(self.pending.len());
        } else {
            self.inner.consume(n);
        }
    }
}

/// How copying one value ended.
enum Copied {
    /// A balanced value.
    Done {
        /// Its size in bytes.
        len: u64,
        /// About how many JSON values it holds (for its parse cost).
        values: u64,
        /// See [`RecordPos::check_values`].
        check_values: bool,
        /// It was larger than the limit and was not kept.
        too_large: bool,
    },
    /// The structure broke at the current offset (not consumed): why.
    Broken(String),
    /// The input ended inside the value.
    Eof,
}

/// Finds the start of the next record after a broken one: `,` or `}`, then
/// `{` and the signature key, with whitespace allowed between them.
struct Resync<'s> {
    signature: &'s [u8],
    /// 0: looking for `,` or `}`; 1: after one; 2: after `{`.
    state: u8,
    /// A record may start anywhere (after stray bytes between records),
    /// not only after `,` or `}`.
    anywhere: bool,
    /// Signature bytes matched.
    matched: usize,
    /// Bytes from the `{` on (handed back when the match completes).
    tail: Vec<u8>,
    /// The last two bytes that were not whitespace.
    last: [u8; 2],
}

impl Resync<'_> {
    /// Feed one byte; true when it completes a record start.
    fn feed(&mut self, b: u8) -> bool {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        if !ws {
            self.last = [self.last[1], b];
        }
        match self.state {
            0 if self.anywhere && b == b'{' => {
                self.state = 2;
                self.matched = 0;
                self.tail.clear();
                self.tail.push(b);
            }
            0 => {
                if b == b',' || b == b'}' {
                    self.state = 1;
                }
            }
            1 => {
                if b == b'{' {
                    self.state = 2;
                    self.matched = 0;
                    self.tail.clear();
                    self.tail.push(b);
                } else if !ws && b != b',' && b != b'}' {
                    self.state = 0;
                }
            }
            _ => {
                self.tail.push(b);
                if ws && self.matched == 0 {
                    if self.tail.len() > 64 {
                        self.state = 0;
                    }
                } else if b == self.signature[self.matched] {
                    self.matched += 1;
                    if self.matched == self.signature.len() {
                        return true;
                    }
                } else {
                    self.state = if b == b',' || b == b'}' { 1 } else { 0 };
                }
            }
        }
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Inside the top-level object, before a key (or `}`).
    Key {
        first: bool,
    },
    /// Inside `Records`, before an element (or `]`).
    Element {
        first: bool,
    },
    Done,
}

/// Streams the records of one CloudTrail log file.
pub struct RecordReader<R> {
    input: Replay<R>,
    offset: u64,
    max_record: usize,
    /// The first key of the file's records (with its quotes), for
    /// resynchronising.
    signature: Vec<u8>,
    learned: bool,
    /// Bytes skipped in broken records so far.
    skipped_bytes: u64,
    /// An error to return once the last skipped stretch has been reported.
    deferred: Option<ReadError>,
    state: State,
    index: u64,
    saw_records: bool,
    keys: Vec<String>,
    gzip: bool,
    empty: bool,
    json_lines: bool,
}

/// Inflated chunks in flight between the inflating thread and the reader;
/// memory stays bounded (`CHUNKS * CHUNK_SIZE`, chunks are recycled).
const CHUNKS: usize = 4;
/// Size of one inflated chunk.
const CHUNK_SIZE: usize = 1 << 20;

/// Open a byte stream, inflating it if it starts with the gzip magic. Gzip
/// is inflated on a second thread, so that decompression and record
/// processing overlap on machines with more than one core.
pub fn open(read: impl Read + Send + 'static) -> io::Result<RecordReader<Box<dyn BufRead + Send>>> {
    let mut buffered = BufReader::with_capacity(BUF_SIZE, read);
    let head = buffered.fill_buf()?;
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let input: Box<dyn BufRead + Send> = if gzip {
        Box::new(Inflating::spawn(MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    };
    Ok(RecordReader::new(input, gzip))
}

/// A `BufRead` fed by a thread that inflates into fixed-size chunks. Used
/// chunks go back to the thread, so steady state allocates nothing.
struct Inflating {
    full: mpsc::Receiver<io::Result<Vec<u8>>>,
    empty: mpsc::SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Inflating {
    fn spawn(mut inner: impl Read + Send + 'static) -> Inflating {
        let (full_tx, full) = mpsc::sync_channel(CHUNKS);
        let (empty, empty_rx) = mpsc::sync_channel::<Vec<u8>>(CHUNKS + 1);
        std::thread::spawn(move || loop {
            let mut chunk = empty_rx.try_recv().unwrap_or_default();
            chunk.resize(CHUNK_SIZE, 0);
            let mut filled = 0;
            let result = loop {
                match inner.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == chunk.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            chunk.truncate(filled);
            let last = filled < CHUNK_SIZE || result.is_err();
            if filled > 0 && full_tx.send(Ok(chunk)).is_err() {
                return; // the reader was dropped
            }
            if let Err(e) = result {
                let _ = full_tx.send(Err(e));
            }
            if last {
                return;
            }
        });
        Inflating {
            full,
            empty,
            chunk: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for Inflating {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

/// `Read::read` for a `BufRead` that owns its buffer.
fn read_buffered(from: &mut impl BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let avail = from.fill_buf()?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    from.consume(n);
    Ok(n)
}

impl BufRead for Inflating {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.chunk.len() && !self.done {
            match self.full.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.chunk, chunk);
                    let _ = self.empty.try_send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true, // the thread finished
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

impl<R: BufRead> RecordReader<R> {
    /// A reader over an already-decompressed stream.
    pub fn new(input: R, gzip: bool) -> Self {
        RecordReader {
            input: Replay {
                pending: Vec::new(),
                pos: 0,
                inner: input,
            },
            offset: 0,
            max_record: DEFAULT_MAX_RECORD,
            signature: DEFAULT_SIGNATURE.to_vec(),
            learned: false,
            skipped_bytes: 0,
            deferred: None,
            state: State::Start,
            index: 0,
            saw_records: false,
            keys: Vec::new(),
            gzip,
            empty: false,
            json_lines: false,
        }
    }

    /// Read and discard the rest of the input; the number of bytes (for
    /// measuring the input side alone).
    pub fn drain(&mut self) -> u64 {
        let mut n = 0;
        while let Ok(b) = self.input.fill_buf() {
            if b.is_empty() {
                break;
            }
            let len = b.len();
            self.input.consume(len);
            n += len as u64;
        }
        n
    }

    /// Skip (and report) records larger than `bytes` instead of holding
    /// them ([`DEFAULT_MAX_RECORD`] unless set).
    pub fn with_max_record_size(mut self, bytes: usize) -> Self {
        self.max_record = bytes.max(1);
        self
    }

    /// Bytes skipped in broken or oversized records so far.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// Whether the input was gzip.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Decompressed bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn syntax(&self, message: impl Into<String>) -> ReadError {
        ReadError::Syntax {
            offset: self.offset,
            message: message.into(),
        }
    }

    fn bump(&mut self) {
        self.input.consume(1);
        self.offset += 1;
    }

    /// Skip whitespace; return the next byte (not consumed).
    fn skip_ws(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            let buf = fill(&mut self.input, self.offset)?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
            match n {
                Some(n) => {
                    let b = buf[n];
                    self.input.consume(n);
                    self.offset += n as u64;
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.input.consume(n);
                    self.offset += n as u64;
                }
            }
        }
    }

    fn expect_byte(&mut self, want: u8, what: &str) -> Result<(), ReadError> {
        match self.skip_ws()? {
            Some(b) if b == want => {
                self.bump();
                Ok(())
            }
            Some(b) => Err(self.syntax(format!("expected {what}, found `{}`", b as char))),
            None => Err(self.syntax(format!(
                "unexpected end of file, expected {what} (truncated file?)"
            ))),
        }
    }

    /// Copy (or skip, when `out` is `None`) one JSON value, checking the
    /// structure it walks; values beyond `max` bytes stream past without
    /// being kept. Its contents are checked later by the JSON parser.
    fn copy_value(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        max: usize,
    ) -> Result<Copied, ReadError> {
        // Open brackets up to MAX_DEPTH (deeper ones are only counted).
        let mut stack: Vec<u8> = Vec::new();
        let mut deeper: u64 = 0;
        let mut in_string = false;
        let mut escaped = false;
        // Just after a string or a closed container: only `,` `:` `}` `]`
        // or whitespace may follow.
        let mut follow = false;
        let mut prev_digit = false;
        let mut values: u64 = 1;
        let mut check_values = false;
        let mut too_large = false;
        let mut len: u64 = 0;
        loop {
            let buf = fill(&mut self.input, self.offset)?;
            if buf.is_empty() {
                return Ok(Copied::Eof);
            }
            let mut i = 0;
            let mut end = None;
            let mut broken = None;
            while i < buf.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        if buf[i] == b'u'
                            && !matches!(buf.get(i + 1), Some(c) if *c != b'd' && *c != b'D')
                        {
                            check_values = true;
                        }
                        i += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                        None => i = buf.len(),
                        Some(j) => {
                            i += j;
                            if buf[i] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                follow = true;
                                if stack.is_empty() && deeper == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                let b = buf[i];
                let top = stack.is_empty() && deeper == 0;
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' if top => {
                        end = Some(i);
                        break;
                    }
                    b' ' | b'\t' | b'\n' | b'\r' => {}
                    b',' if top => {
                        end = Some(i);
                        break;
                    }
                    b',' | b':' if !top => {
                        follow = false;
                        values += 1;
                    }
                    b'"' | b'{' | b'[' if follow => {
                        broken = Some(format!(
                            "`{}` where `,` or a closing bracket was expected",
                            b as char
                        ));
                        break;
                    }
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        if stack.len() < MAX_DEPTH {
                            stack.push(b);
                        } else {
                            deeper += 1;
                        }
                    }
                    b'}' | b']' => {
                        if deeper > 0 {
                            deeper -= 1;
                        } else if let Some(open) = stack.pop() {
                            if (open == b'{') != (b == b'}') {
                                broken =
                                    Some(format!("`{}` closes a `{}`", b as char, open as char));
                                break;
                            }
                        } else {
                            // A scalar ends at its container's end.
                            end = Some(i);
                            break;
                        }
                        follow = true;
                        if stack.is_empty() && deeper == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ if follow => {
                        broken = Some(format!(
                            "`{}` where `,` or a closing bracket was expected",
                            (b as char).escape_default()
                        ));
                        break;
                    }
                    _ => {
                        if (b == b'e' || b == b'E') && prev_digit {
                            check_values = true;
                        }
                        prev_digit = b.is_ascii_digit();
                    }
                }
                i += 1;
            }
            let n = end
                .or(if broken.is_some() { Some(i) } else { None })
                .unwrap_or(buf.len());
            if let Some(o) = out.as_deref_mut() {
                if !too_large && len + n as u64 <= max as u64 {
                    o.extend_from_slice(&buf[..n]);
                } else if !too_large {
                    too_large = true;
                    *o = Vec::new();
                }
            } else if len + n as u64 > max as u64 {
                too_large = true;
            }
            len += n as u64;
            self.input.consume(n);
            self.offset += n as u64;
            if let Some(why) = broken {
                return Ok(Copied::Broken(why));
            }
            if end.is_some() {
                if len == 0 {
                    let b = fill(&mut self.input, self.offset)?
                        .first()
                        .copied()
                        .unwrap_or(b' ');
                    return Ok(Copied::Broken(format!(
                        "`{}` where a value was expected",
                        (b as char).escape_default()
                    )));
                }
                return Ok(Copied::Done {
                    len,
                    values,
                    check_values,
                    too_large,
                });
            }
        }
    }

    /// One value that must be well formed (outside the `Records` array).
    fn value(&mut self, out: Option<&mut Vec<u8>>) -> Result<(), ReadError> {
        let start = self.offset;
        match self.copy_value(out, usize::MAX)? {
            Copied::Done { .. } => Ok(()),
            Copied::Broken(why) => Err(self.syntax(why)),
            Copied::Eof => Err(self.syntax(format!(
                "unexpected end of file inside the value starting at byte {start} (truncated file?)"
            ))),
        }
    }

    /// A JSON string key (decoded).
    fn key(&mut self) -> Result<String, ReadError> {
        let mut raw = Vec::new();
        self.value(Some(&mut raw))?;
        if raw.first() != Some(&b'"') {
            return Err(self.syntax("expected an object key"));
        }
        serde_json::from_slice::<String>(&raw)
            .map_err(|e| self.syntax(format!("bad object key: {e}")))
    }

    /// Read one record at the current position into `out`.
    fn record(&mut self, out: &mut Vec<u8>) -> Result<Next, ReadError> {
        out.clear();
        let pos = RecordPos {
            index: self.index,
            offset: self.offset,
            check_values: false,
        };
        let copied = self.copy_value(Some(out), self.max_record)?;
        match copied {
            Copied::Done {
                len,
                values,
                check_values,
                too_large,
            } => {
                self.index += 1;
                self.state = State::Element { first: false };
                // What parsing would cost: the bytes, simd-json's copy and
                // string buffer, a 24-byte tape node and a 4-byte index per
                // value.
                let cost = len
                    .saturating_mul(3)
                    .saturating_add(values.saturating_mul(28));
                let limit = (self.max_record as u64).saturating_mul(3);
                let reason = if too_large {
                    Some(format!(
                        "the record is {} bytes, more than the maximum record size of {} bytes (--max-record-size or TATTLETAIL_MAX_RECORD_BYTES)",
                        len, self.max_record
                    ))
                } else if cost > limit {
                    Some(format!(
                        "the record ({len} bytes, about {values} values) would need about {} MB to evaluate, more than 3 × the maximum record size of {} bytes (--max-record-size or TATTLETAIL_MAX_RECORD_BYTES)",
                        cost / 1_000_000,
                        self.max_record
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    *out = Vec::new();
                    self.skipped_bytes += len;
                    return Ok(Next::Skipped(Skipped {
                        pos,
                        bytes: len,
                        reason,
                    }));
                }
                if !self.learned {
                    self.learn_signature(out);
                }
                Ok(Next::Record(RecordPos {
                    check_values,
                    ..pos
                }))
            }
            Copied::Broken(why) => {
                let why = format!("malformed record: {why} at byte {}", self.offset);
                self.recover_record(pos, out, why, false)
            }
            Copied::Eof => {
                let why = "malformed record: it never closes".to_string();
                self.recover_record(pos, out, why, true)
            }
        }
    }

    /// Stray byte `b` where `expected` should be: skip up to the next record.
    fn stray(&mut self, b: u8, expected: &str) -> Result<Next, ReadError> {
        let pos = RecordPos {
            index: self.index,
            offset: self.offset,
            check_values: false,
        };
        let why = format!(
            "stray bytes after record {}: `{}` where {expected} was expected",
            self.index.saturating_sub(1),
            (b as char).escape_default()
        );
        self.recover(pos, &[], why, false)
    }

    /// [`Self::recover`] after the record at `pos`, whose bytes so far are
    /// in `out` (left empty, its allocation kept).
    fn recover_record(
        &mut self,
        pos: RecordPos,
        out: &mut Vec<u8>,
        why: String,
        at_eof: bool,
    ) -> Result<Next, ReadError> {
        let already = std::mem::take(out);
        let r = self.recover(pos, &already, why, at_eof);
        *out = already;
        out.clear();
        r
    }

    /// Remember the first key of the file's first good record.
    fn learn_signature(&mut self, record: &[u8]) {
        self.learned = true;
        let Some(rest) = record.strip_prefix(b"{") else {
            return;
        };
        let rest = rest.trim_ascii_start();
        if rest.first() != Some(&b'"') {
            return;
        }
        if let Some(end) = rest[1..].iter().position(|b| *b == b'"' || *b == b'\\') {
            if rest[1 + end] == b'"' && end > 0 && end < 64 {
                self.signature = rest[..end + 2].to_vec();
            }
        }
    }

    /// After a broken record at `pos` (`already` holds its bytes read so
    /// far, or nothing), find the next record and report what was skipped.
    fn recover(
        &mut self,
        pos: RecordPos,
        already: &[u8],
        why: String,
        at_eof: bool,
    ) -> Result<Next, ReadError> {
        self.index = pos.index + 1;
        let signature = self.signature.clone();
        let mut sync = Resync {
            signature: &signature,
            state: 0,
            anywhere: already.is_empty(),
            matched: 0,
            tail: Vec::new(),
            last: [0; 2],
        };
        let whole = already.len() as u64 == self.offset - pos.offset;
        let mut found = None;
        if whole {
            for (i, &b) in already.iter().enumerate().skip(1) {
                if sync.feed(b) {
                    found = Some(pos.offset + (i + 1 - sync.tail.len()) as u64);
                    break;
                }
            }
            if let Some(at) = found {
                let from = (at - pos.offset) as usize;
                self.input.push_back(&already[from..]);
                self.offset = at;
            }
        }
        if found.is_none() && !at_eof {
            'input: loop {
                let buf = fill(&mut self.input, self.offset)?;
                if buf.is_empty() {
                    break;
                }
                let mut used = buf.len();
                for (i, &b) in buf.iter().enumerate() {
                    if sync.feed(b) {
                        used = i + 1;
                        self.input.consume(used);
                        self.offset += used as u64;
                        let tail = std::mem::take(&mut sync.tail);
                        self.input.push_back(&tail);
                        self.offset -= tail.len() as u64;
                        found = Some(self.offset);
                        break 'input;
                    }
                }
                self.input.consume(used);
                self.offset += used as u64;
            }
        }
        match found {
            Some(at) => {
                let bytes = at - pos.offset;
                self.skipped_bytes += bytes;
                self.state = State::Element { first: true };
                Ok(Next::Skipped(Skipped {
                    pos,
                    bytes,
                    reason: format!("{why}; skipped {bytes} bytes up to the next record"),
                }))
            }
            None => {
                let bytes = self.offset - pos.offset;
                self.state = State::Done;
                if sync.last != *b"]}" {
                    return Err(self.syntax(format!(
                        "unexpected end of file inside record {} starting at byte {} (truncated file?)",
                        pos.index, pos.offset
                    )));
                }
                self.skipped_bytes += bytes;
                self.saw_records = true;
                Ok(Next::Skipped(Skipped {
                    pos,
                    bytes,
                    reason: format!("{why}; skipped {bytes} bytes to the end of the file"),
                }))
            }
        }
    }

    /// Read the next record into `out` (cleared first). `Ok(None)` at the
    /// end of the file; then [`RecordReader::kind`] says what the file was.
    /// A stretch that cannot be read as a record is reported as
    /// [`Next::Skipped`] and reading goes on after it.
    pub fn next_record(&mut self, out: &mut Vec<u8>) -> Result<Option<Next>, ReadError> {
        loop {
            match self.state {
                State::Done => {
                    return match self.deferred.take() {
                        Some(e) => Err(e),
                        None => Ok(None),
                    }
                }
                State::Start => match self.skip_ws()? {
                    None => {
                        self.state = State::Done;
                        self.empty = true;
                        return Ok(None);
                    }
                    Some(0xEF) if self.offset == 0 => {
                        // A UTF-8 byte order mark: skipped.
                        self.bump();
                        for want in [0xBB, 0xBF] {
                            let next = fill(&mut self.input, self.offset)?.first().copied();
                            if next != Some(want) {
                                return Err(self.syntax(
                                    "the file starts with bytes that are neither JSON nor a UTF-8 byte order mark; is it a CloudTrail log?",
                                ));
                            }
                            self.bump();
                        }
                    }
                    Some(b'{') => {
                        self.bump();
                        self.state = State::Key { first: true };
                    }
                    Some(b'[') => {
                        self.state = State::Done;
                        self.keys.push("[".into());
                        return Ok(None);
                    }
                    Some(b) => {
                        return Err(self.syntax(format!(
                            "the file does not start with a JSON object (found `{}`); is it a CloudTrail log?",
                            (b as char).escape_default()
                        )))
                    }
                },
                State::Key { first } => {
                    match self.skip_ws()? {
                        Some(b'}') => {
                            self.bump();
                            self.state = State::Done;
                            if let Some(b) = self.skip_ws()? {
                                if !self.saw_records {
                                    self.json_lines = true;
                                    return Ok(None);
                                }
                                return Err(self.syntax(format!(
                                    "unexpected `{}` after the end of the top-level object",
                                    (b as char).escape_default()
                                )));
                            }
                            return Ok(None);
                        }
                        Some(b',') if !first => self.bump(),
                        Some(_) if first => {}
                        // After the Records array: a `]` too many inside it
                        // (stray bytes), skipped up to the next record.
                        Some(b) if self.saw_records => return self.stray(b, "`,` or `}`").map(Some),
                        Some(b) => {
                            return Err(self.syntax(format!("expected `,` or `}}`, found `{}`", (b as char).escape_default())))
                        }
                        None => return Err(self.syntax("unexpected end of file in the top-level object (truncated file?)")),
                    }
                    self.skip_ws()?;
                    let key = self.key()?;
                    self.expect_byte(b':', "`:`")?;
                    if key.eq_ignore_ascii_case("records") && self.skip_ws()? == Some(b'[') {
                        self.bump();
                        self.saw_records = true;
                        self.state = State::Element { first: true };
                    } else {
                        self.skip_ws()?;
                        self.value(None)?;
                        self.state = State::Key { first: false };
                    }
                    self.keys.push(key);
                }
                State::Element { first } => {
                    match self.skip_ws()? {
                        Some(b']') => {
                            self.bump();
                            self.state = State::Key { first: false };
                            continue;
                        }
                        Some(b',') if !first => {
                            self.bump();
                            self.skip_ws()?;
                        }
                        Some(_) if first => {}
                        // A missing `,` between records: read on (the
                        // record's own parse tells whether it is one).
                        Some(b'{') => {}
                        Some(b) => return self.stray(b, "`,` or `]`").map(Some),
                        None => {
                            return Err(self.syntax(format!(
                                "unexpected end of file in the Records array after record {} (truncated file?)",
                                self.index.saturating_sub(1)
                            )))
                        }
                    }
                    return self.record(out).map(Some);
                }
            }
        }
    }

    /// What the file was (meaningful after `next_record` returned `None`).
    pub fn kind(&self) -> FileKind {
        if self.saw_records {
            FileKind::CloudTrail
        } else if self.empty {
            FileKind::Empty
        } else if self
            .keys
            .iter()
            .any(|k| k == "digestStartTime" || k == "digestS3Object")
        {
            FileKind::Digest
        } else if self.json_lines {
            FileKind::NotCloudTrail(
                "several top-level JSON values (JSON Lines?), not {\"Records\": [...]}".into(),
            )
        } else if self.keys.first().map(String::as_str) == Some("[") {
            FileKind::NotCloudTrail(
                "the top-level JSON value is an array, not {\"Records\": [...]}".into(),
            )
        } else {
            FileKind::NotCloudTrail("the top-level object has no \"Records\" array".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> (Vec<String>, Result<FileKind, String>) {
        let (recs, _, kind) = read_all(input, DEFAULT_MAX_RECORD);
        (recs, kind)
    }

    /// Records (as text), skipped stretches, and the end.
    fn read_all(input: &[u8], max: usize) -> (Vec<String>, Vec<Skipped>, Result<FileKind, String>) {
        let mut r = RecordReader::new(input, false).with_max_record_size(max);
        let mut buf = Vec::new();
        let (mut out, mut skips) = (Vec::new(), Vec::new());
        loop {
            match r.next_record(&mut buf) {
                Ok(Some(Next::Record(pos))) => {
                    assert_eq!(
                        pos.index as usize,
                        out.len() + skips.len(),
                        "indexes count every record"
                    );
                    assert_eq!(
                        &input[pos.offset as usize..][..buf.len()],
                        &buf[..],
                        "offsets point at the record"
                    );
                    out.push(String::from_utf8(buf.clone()).unwrap())
                }
                Ok(Some(Next::Skipped(s))) => {
                    assert_eq!(s.pos.index as usize, out.len() + skips.len());
                    skips.push(s)
                }
                Ok(None) => {
                    assert_eq!(
                        r.skipped_bytes(),
                        skips.iter().map(|s| s.bytes).sum::<u64>()
                    );
                    return (out, skips, Ok(r.kind()));
                }
                Err(e) => return (out, skips, Err(e.to_string())),
            }
        }
    }

    #[test]
    fn splits_records_in_any_layout() {
        let (recs, kind) = records(br#"{"Records":[{"a":1},{"b":"x,}]\"y"} , [1,2],3]}"#);
        assert_eq!(recs, [r#"{"a":1}"#, r#"{"b":"x,}]\"y"}"#, "[1,2]", "3"]);
        assert_eq!(kind, Ok(FileKind::CloudTrail));
        let (recs, _) = records(b"{\n  \"other\": {\"Records\": [9]},\n  \"Records\": [\n    {\"eventName\": \"A\"}\n  ]\n}\n");
        assert_eq!(recs, [r#"{"eventName": "A"}"#]);
        let (recs, _) = records(br#"{"\u0052ecords":[{}]}"#);
        assert_eq!(recs, ["{}"]);
        let (recs, _) = records(br#"{"records":[]}"#);
        assert!(recs.is_empty());
    }

    #[test]
    fn classifies_other_files() {
        assert_eq!(records(b"").1, Ok(FileKind::Empty));
        assert_eq!(records(b"  \n").1, Ok(FileKind::Empty));
        assert_eq!(
            records(br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#).1,
            Ok(FileKind::Digest)
        );
        assert!(matches!(
            records(br#"[{"eventName":"x"}]"#).1,
            Ok(FileKind::NotCloudTrail(_))
        ));
        assert!(matches!(
            records(br#"{"x":1}"#).1,
            Ok(FileKind::NotCloudTrail(_))
        ));
        let (_, kind) = records(b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n");
        assert!(matches!(kind, Ok(FileKind::NotCloudTrail(why)) if why.contains("JSON Lines")));
        let (_, err) = records(br#"{"Records":[]} {"x":1}"#);
        assert!(err.is_err());
    }

    #[test]
    fn reports_truncation_and_garbage_with_offsets() {
        let (recs, err) = records(br#"{"Records":[{"a":1},{"b":"#);
        assert_eq!(recs.len(), 1);
        let err = err.unwrap_err();
        assert!(
            err.contains("truncated") && err.contains("record 1"),
            "{err}"
        );
        let (_, err) = records(b"# README");
        assert!(err.unwrap_err().contains("byte 0"));
        let (recs, err) = records(br#"{"Records":[{"a":1},"#);
        assert_eq!(recs.len(), 1);
        assert!(err.unwrap_err().contains("(truncated file?)"));
    }

    const A: &str = r#"{"eventVersion":"1.08","eventName":"A"}"#;
    const C: &str = r#"{"eventVersion":"1.08","eventName":"C"}"#;

    fn file(middle: &str) -> String {
        format!(r#"{{"Records":[{A},{middle},{C}]}}"#)
    }

    #[test]
    fn one_broken_record_costs_one_record() {
        for (broken, why) in [
            (r#"{"eventVersion":"1.08","x":[1,2}"#, "`}` closes a `[`"),
            (r#"{"eventVersion":"1.08","x":{"y":1]}"#, "`]` closes a `{`"),
            (
                r#"{"eventVersion":"1.08","x":"abc}"#,
                "where `,` or a closing bracket",
            ),
            (
                r#"{"eventVersion":"1.08","x":"a\"b}"#,
                "where `,` or a closing bracket",
            ),
            (r#"{"eventVersion":"1.08","x":[[[[[[["#, "closes a"),
            (
                r#"{"eventVersion":"1.08","x":"\u0000\ud800}"#,
                "where `,` or a closing bracket",
            ),
        ] {
            let input = file(broken);
            let (recs, skips, kind) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
            assert_eq!(recs, [A, C], "{input}");
            assert_eq!(kind, Ok(FileKind::CloudTrail), "{input}");
            assert_eq!(skips.len(), 1, "{input}");
            let s = &skips[0];
            assert_eq!(s.pos.index, 1);
            assert_eq!(s.pos.offset as usize, input.find(broken).unwrap());
            assert_eq!(s.bytes as usize, broken.len() + 1, "{input}: {}", s.reason);
            assert!(s.reason.contains(why), "{input}: {}", s.reason);
            assert!(s.reason.contains("skipped"), "{}", s.reason);
        }
    }

    #[test]
    fn broken_last_record_and_stray_bytes_end_the_file_cleanly() {
        let input = format!(r#"{{"Records":[{A},{{"eventVersion":"1.08","x":[1}}]}}"#);
        let (recs, skips, kind) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
        assert_eq!(
            (recs.len(), skips.len(), kind),
            (1, 1, Ok(FileKind::CloudTrail))
        );
        assert!(skips[0].reason.contains("to the end of the file"));
        // A missing comma: the next record is read all the same.
        let input = format!(r#"{{"Records":[{A} {C}, {C}]}}"#);
        let (recs, skips, kind) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
        assert_eq!(
            (recs, skips, kind),
            (
                vec![A.to_string(), C.into(), C.into()],
                vec![],
                Ok(FileKind::CloudTrail)
            )
        );
        // Stray bytes: skipped up to the next record.
        let input = format!(r#"{{"Records":[{A} xyz {C}]}}"#);
        let (recs, skips, _) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
        assert_eq!(recs, [A, C]);
        assert!(
            skips[0].reason.contains("stray bytes after record 0"),
            "{}",
            skips[0].reason
        );
        // A `]` too many closes the array early: read on at the next record.
        let input = format!(r#"{{"Records":[{A} ]]] x [[[ {C}]}}"#);
        let (recs, skips, kind) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
        assert_eq!(
            (recs, skips.len(), kind),
            (vec![A.to_string(), C.into()], 1, Ok(FileKind::CloudTrail))
        );
        // Garbage inside the array resynchronises on the file's first key.
        let input = r#"{"Records":[{"k":1},]]]garbage,{"k":2},{"k":3}]}"#;
        let (recs, skips, _) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
        assert_eq!(recs, [r#"{"k":1}"#, r#"{"k":2}"#, r#"{"k":3}"#]);
        assert_eq!(skips.len(), 1);
        // A broken record in a file that is cut short: truncated.
        let input = format!(r#"{{"Records":[{A},{{"x":[1}},{{"y":"#);
        let (recs, skips, kind) = read_all(input.as_bytes(), DEFAULT_MAX_RECORD);
        assert_eq!((recs.len(), skips.len()), (1, 0));
        assert!(kind.unwrap_err().contains("truncated"));
    }

    #[test]
    fn records_over_the_size_limit_are_skipped_with_their_size() {
        let big = format!(r#"{{"eventVersion":"1.08","p":"{}"}}"#, "x".repeat(1000));
        let input = file(&big);
        let (recs, skips, kind) = read_all(input.as_bytes(), 200);
        assert_eq!(recs, [A, C]);
        assert_eq!(kind, Ok(FileKind::CloudTrail));
        assert_eq!(skips[0].bytes as usize, big.len());
        assert!(
            skips[0].reason.contains(&format!("{} bytes", big.len())),
            "{}",
            skips[0].reason
        );
        // Dense records: what parsing would cost counts, not only bytes.
        let dense = format!("[{}0]", "0,".repeat(5000));
        let input = file(&dense);
        let (recs, skips, _) = read_all(input.as_bytes(), 40_000);
        assert_eq!(recs, [A, C]);
        assert!(
            skips[0].reason.contains("would need about"),
            "{}",
            skips[0].reason
        );
    }

    #[test]
    fn flags_records_whose_values_need_a_check() {
        let mut r = RecordReader::new(
            &br#"{"Records":[{"a":1e400},{"a":"\ud800"},{"a":"\u0041","b":10,"c":true}]}"#[..],
            false,
        );
        let mut buf = Vec::new();
        let mut flags = Vec::new();
        while let Some(Next::Record(pos)) = r.next_record(&mut buf).unwrap() {
            flags.push(pos.check_values);
        }
        assert_eq!(flags, [true, true, false]);
    }

    #[test]
    fn sizes_parse_as_users_write_them() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let (recs, kind) = records(b"\xEF\xBB\xBF{\"Records\":[{\"a\":1}]}");
        assert_eq!((recs.len(), kind), (1, Ok(FileKind::CloudTrail)));
        let (_, kind) = records(b"\xEF\xBBx{}");
        assert!(kind.unwrap_err().contains("byte order mark"));
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"Records":[{"eventName":"X"}]}"#).unwrap();
        let bytes = gz.finish().unwrap();
        let mut r = open(std::io::Cursor::new(bytes)).unwrap();
        assert!(r.is_gzip());
        let mut buf = Vec::new();
        assert!(r.next_record(&mut buf).unwrap().is_some());
        assert_eq!(buf, br#"{"eventName":"X"}"#);
        // Truncated gzip: an error, not a silent end.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b' '; 10000]).unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.truncate(bytes.len() / 2);
        let mut r = open(std::io::Cursor::new(bytes)).unwrap();
        assert!(r.next_record(&mut buf).is_err());
    }
}
