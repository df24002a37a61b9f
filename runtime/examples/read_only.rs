//! Time reading (inflate + split) a file, without evaluating rules.
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).expect("path");
    let t = Instant::now();
    let mut r = tattletail_runtime::reader::open(std::fs::File::open(&path).unwrap()).unwrap();
    println!("drained {} bytes in {:?}", r.drain(), t.elapsed());
    let t = Instant::now();
    let mut r = tattletail_runtime::reader::open(std::fs::File::open(&path).unwrap()).unwrap();
    let mut buf = Vec::new();
    let mut n = 0u64;
    while r.next_record(&mut buf).unwrap().is_some() {
        n += 1;
    }
    println!("split {n} records in {:?}", t.elapsed());
    let t = Instant::now();
    let mut r = tattletail_runtime::reader::open(std::fs::File::open(&path).unwrap()).unwrap();
    let mut p = tattletail_runtime::record::RecordParser::default();
    while let Some(next) = r.next_record(&mut buf).unwrap() {
        next.into_record().unwrap();
        let rec = p.parse(&mut buf).unwrap();
        std::hint::black_box(rec.event_name());
    }
    println!("split + parse in {:?}", t.elapsed());
    let t = Instant::now();
    let mut r = tattletail_runtime::reader::open(std::fs::File::open(&path).unwrap()).unwrap();
    let mut bufs = simd_json::Buffers::default();
    let mut names = 0usize;
    while let Some(next) = r.next_record(&mut buf).unwrap() {
        next.into_record().unwrap();
        let tape = simd_json::to_tape_with_buffers(&mut buf, &mut bufs).unwrap();
        let v = tape.as_value();
        use simd_json::prelude::*;
        if v.get("eventName").is_some_and(|n| n.is_str()) {
            names += 1;
        }
    }
    println!("split + tape + get in {:?} ({names})", t.elapsed());
}
