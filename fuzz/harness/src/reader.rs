//! `reader_plain` and `reader_gzip`: a file through
//! `tattletail_runtime::reader::open` and `next_record` to the end, every
//! record parsed.
//!
//! Invariants: no panic; the reader ends (each record consumes input);
//! records and skipped stretches come with consecutive indexes and
//! increasing, non-overlapping offsets, and records (plain input) are
//! exactly the file's bytes at their offset; the
//! outcome does not depend on how the input is buffered (1 and 3 byte
//! buffers against the real one); gzip gives the same records and errors
//! as the plain text it inflates to (one member or several), a truncated
//! gzip file gives a prefix of them, and a corrupt one just ends.

use std::io::{BufReader, Cursor, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use tattletail_runtime::reader::{self, Next, RecordReader};
use tattletail_runtime::record::RecordParser;

/// What reading a file gave: per record its index, offset, bytes and parse
/// result; then how it ended (the file kind, or the error message).
#[derive(Debug, PartialEq)]
struct Outcome {
    records: Vec<Read1>,
    end: Result<String, String>,
}

#[derive(Debug, PartialEq)]
struct Read1 {
    index: u64,
    offset: u64,
    /// The record's bytes (empty for a skipped stretch).
    bytes: Vec<u8>,
    /// Bytes the item covers in the file.
    len: u64,
    /// The parse result, or the reason the stretch was skipped.
    parsed: Result<(), String>,
}

/// Read `reader` to the end, checking the per-record invariants.
fn read_all<R: std::io::BufRead>(mut reader: RecordReader<R>, input_len: usize) -> Outcome {
    let mut parser = RecordParser::default();
    let mut buf = Vec::new();
    let mut records: Vec<Read1> = Vec::new();
    let end = loop {
        // Every record takes at least one byte, and a gzip stream of n
        // bytes inflates to at most ~1032 n; more calls than that loop.
        assert!(
            records.len() <= input_len.saturating_mul(1100) + 2,
            "the reader does not advance"
        );
        match reader.next_record(&mut buf) {
            Ok(Some(next)) => {
                let (pos, len) = match &next {
                    Next::Record(pos) => (*pos, buf.len() as u64),
                    Next::Skipped(s) => (s.pos, s.bytes),
                };
                assert_eq!(pos.index, records.len() as u64, "record indexes skip");
                if let Some(last) = records.last() {
                    assert!(
                        pos.offset >= last.offset + last.len,
                        "record {} at byte {} overlaps the previous one",
                        pos.index,
                        pos.offset
                    );
                }
                assert!(
                    pos.offset + len <= reader.offset(),
                    "record {} ends after the reader's offset",
                    pos.index
                );
                if let Next::Skipped(s) = next {
                    assert!(!s.reason.is_empty());
                    records.push(Read1 {
                        index: pos.index,
                        offset: pos.offset,
                        bytes: Vec::new(),
                        len,
                        parsed: Err(s.reason),
                    });
                    continue;
                }
                assert!(!buf.is_empty(), "empty record {}", pos.index);
                let mut bytes = buf.clone();
                let parsed = match parser.parse_checked(&mut bytes, pos.check_values) {
                    Ok(record) => {
                        let _ = record.event_name();
                        let _ = record.event_source();
                        let _ = record.to_json();
                        parser.recycle(record);
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                records.push(Read1 {
                    index: pos.index,
                    offset: pos.offset,
                    bytes: buf.clone(),
                    len,
                    parsed,
                });
            }
            Ok(None) => {
                // Finished readers stay finished.
                assert!(matches!(reader.next_record(&mut buf), Ok(None)));
                break Ok(format!("{:?}", reader.kind()));
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    Outcome { records, end }
}

/// Read plain (never gunzipped) text with an input buffer of `capacity`.
fn read_text(data: &[u8], capacity: usize) -> Outcome {
    read_all(
        RecordReader::new(BufReader::with_capacity(capacity, data), false),
        data.len(),
    )
}

/// Read through `reader::open`, as the scanner does.
fn read_opened(data: Vec<u8>) -> Outcome {
    let len = data.len();
    let reader = reader::open(Cursor::new(data)).expect("reading from memory cannot fail");
    read_all(reader, len)
}

/// The `reader_plain` target.
pub fn reader_plain(data: &[u8]) {
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let opened = read_opened(data.to_vec());
    if gzip {
        return;
    }
    for r in opened.records.iter().filter(|r| !r.bytes.is_empty()) {
        let at = r.offset as usize;
        assert_eq!(
            data.get(at..at + r.bytes.len()),
            Some(&r.bytes[..]),
            "record {} is not the input's bytes at its offset",
            r.index
        );
    }
    for capacity in [1, 3] {
        assert_eq!(
            read_text(data, capacity),
            opened,
            "a {capacity}-byte input buffer reads differently"
        );
    }
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The `reader_gzip` target. The first byte chooses the case, the second
/// a compression level or position; the rest is the (inflated) file.
pub fn reader_gzip(data: &[u8]) {
    let [mode, arg, text @ ..] = data else {
        return;
    };
    let arg = *arg as usize;
    match mode % 5 {
        // One gzip member.
        0 => {
            let z = gzip(text, (arg % 10) as u32);
            assert_eq!(
                read_opened(z),
                read_text(text, 64 * 1024),
                "gzip reads differently"
            );
        }
        // Two members (concatenated gzip files), split anywhere.
        1 => {
            let at = if text.is_empty() {
                0
            } else {
                arg % (text.len() + 1)
            };
            let mut z = gzip(&text[..at], 6);
            z.extend(gzip(&text[at..], 1));
            assert_eq!(
                read_opened(z),
                read_text(text, 64 * 1024),
                "two gzip members read differently"
            );
        }
        // Truncated: the records before the cut, then the cut reported.
        2 => {
            let mut z = gzip(text, 6);
            z.truncate(arg * z.len() / 256);
            if z.len() < 2 {
                return;
            }
            // How much of the text the truncated stream still holds.
            let mut inflated = Vec::new();
            let _ = std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&z[..]),
                &mut inflated,
            );
            let got = read_opened(z);
            let want = read_text(text, 64 * 1024);
            // A record is decided by its bytes and the byte after it. A
            // skipped stretch is decided where its break was found, which
            // can lie far beyond it: only the records before the first
            // skipped stretch are compared.
            let decided = |r: &Read1| r.offset + r.len + 1 < inflated.len() as u64;
            let before_skips = want.records.iter().take_while(|r| !r.bytes.is_empty());
            for w in before_skips.filter(|r| decided(r)) {
                assert_eq!(
                    got.records.get(w.index as usize),
                    Some(w),
                    "a truncated gzip file reads the records before the cut differently"
                );
            }
            // A CloudTrail file is read to its end, so the cut shows, as an
            // error or as a skipped stretch (other files may be classified
            // before it).
            if want.end.as_deref() == Ok("CloudTrail") && inflated.len() < text.len() {
                assert!(
                    got.end.is_err() || got.records.iter().any(|r| r.bytes.is_empty()),
                    "a truncated gzip file reads without error"
                );
            }
        }
        // One byte of a valid stream changed: it must end, nothing more.
        3 => {
            let mut z = gzip(text, 6);
            let at = arg * z.len() / 256;
            if let (Some(b), Some(x)) = (z.get_mut(at), text.first()) {
                *b ^= x | 1;
            }
            read_opened(z);
        }
        // Arbitrary bytes after the gzip magic.
        _ => {
            let mut z = vec![0x1f, 0x8b];
            z.extend_from_slice(text);
            read_opened(z);
        }
    }
}
