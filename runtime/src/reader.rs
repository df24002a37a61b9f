//! One-pass reading of CloudTrail log files: gzip sniffing and a streaming
//! splitter that hands out the elements of the top-level `Records` array
//! one at a time.
//!
//! Memory is bounded by the largest record: the reader holds a fixed-size
//! input buffer, the inflater's window and one record's bytes. It never
//! holds the file or a DOM of it. The splitter only tracks JSON structure
//! (strings, escapes, nesting); each record's own syntax is checked later
//! by the JSON parser, so a broken record is reported and skipped while the
//! rest of the file is still read. A break in the structure *between*
//! records cannot be resynchronised and ends the file with an error that
//! names the byte offset.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPos {
    /// Position in the `Records` array, from 0.
    pub index: u64,
    /// Byte offset of its first byte in the decompressed stream.
    pub offset: u64,
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
    input: R,
    offset: u64,
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
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
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
            input,
            offset: 0,
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

    /// Copy (or skip, when `out` is `None`) one JSON value. The value must
    /// be balanced; its contents are checked later by the JSON parser.
    fn value(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<(), ReadError> {
        let mut depth: usize = 0;
        let mut in_string = false;
        let mut escaped = false;
        let start = self.offset;
        loop {
            let buf = fill(&mut self.input, self.offset)?;
            if buf.is_empty() {
                return Err(ReadError::Syntax {
                    offset: self.offset,
                    message: format!("unexpected end of file inside the value starting at byte {start} (truncated file?)"),
                });
            }
            let mut i = 0;
            let mut end = None;
            while i < buf.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        i += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                        None => {
                            i = buf.len();
                        }
                        Some(j) => {
                            i += j;
                            if buf[i] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                if depth == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                match buf[i] {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            // End of a scalar at the container's end.
                            end = Some(i);
                            break;
                        }
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            let n = end.unwrap_or(buf.len());
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&buf[..n]);
            }
            self.input.consume(n);
            self.offset += n as u64;
            if end.is_some() {
                if self.offset == start {
                    return Err(self.syntax("expected a value"));
                }
                return Ok(());
            }
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

    /// Read the next record into `out` (cleared first). `Ok(None)` at the
    /// end of the file; then [`RecordReader::kind`] says what the file was.
    pub fn next_record(&mut self, out: &mut Vec<u8>) -> Result<Option<RecordPos>, ReadError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => match self.skip_ws()? {
                    None => {
                        self.state = State::Done;
                        self.empty = true;
                        return Ok(None);
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
                        Some(b) => {
                            return Err(self.syntax(format!(
                                "expected `,` or `]` after record {}, found `{}`",
                                self.index,
                                (b as char).escape_default()
                            )))
                        }
                        None => return Err(self.syntax("unexpected end of file in the Records array (truncated file?)")),
                    }
                    out.clear();
                    let pos = RecordPos { index: self.index, offset: self.offset };
                    self.value(Some(out))?;
                    self.index += 1;
                    self.state = State::Element { first: false };
                    return Ok(Some(pos));
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
        let mut r = RecordReader::new(input, false);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match r.next_record(&mut buf) {
                Ok(Some(_)) => out.push(String::from_utf8(buf.clone()).unwrap()),
                Ok(None) => return (out, Ok(r.kind())),
                Err(e) => return (out, Err(e.to_string())),
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
        assert!(err.unwrap_err().contains("truncated"));
        let (_, err) = records(b"# README");
        assert!(err.unwrap_err().contains("byte 0"));
        let (recs, err) = records(br#"{"Records":[{"a":1} {"b":2}]}"#);
        assert_eq!(recs.len(), 1);
        assert!(err.unwrap_err().contains("byte 20"));
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
