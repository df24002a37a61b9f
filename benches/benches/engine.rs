//! `cargo bench -p tattletail-benches`: the stages of a scan, each alone,
//! then end to end. Throughput is reported in bytes of JSON (MB/s) or
//! elements (records/s, rules compiled/s).

use std::hint::black_box;
use std::io::Cursor;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tattletail_compiler::pack::DEFAULT_PACK;
use tattletail_runtime::matcher::{Matcher, Outcome};
use tattletail_runtime::reader::{self, RecordReader};
use tattletail_runtime::record::RecordParser;
use tattletail_runtime::scan::CollectSink;
use tattletail_runtime::Scanner;

const RECORDS: u64 = 20_000;

fn reader(c: &mut Criterion) {
    let (json, gz) = tattletail_benches::generated(RECORDS);
    let mut g = c.benchmark_group("reader");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("split records (plain JSON)", |b| {
        b.iter(|| {
            let mut r = RecordReader::new(&json[..], false);
            let mut buf = Vec::new();
            let mut n = 0;
            while r.next_record(&mut buf).unwrap().is_some() {
                n += 1;
            }
            black_box(n)
        })
    });
    g.bench_function("inflate + split records (gzip)", |b| {
        b.iter(|| {
            let mut r = reader::open(Cursor::new(gz.clone())).unwrap();
            let mut buf = Vec::new();
            while r.next_record(&mut buf).unwrap().is_some() {}
        })
    });
    g.bench_function("split + simd-json parse", |b| {
        b.iter(|| {
            let mut r = RecordReader::new(&json[..], false);
            let mut buf = Vec::new();
            let mut p = RecordParser::default();
            while let Some(next) = r.next_record(&mut buf).unwrap() {
                next.into_record().unwrap();
                let rec = p.parse(&mut buf).unwrap();
                black_box(rec.event_name().is_some());
            }
        })
    });
    g.finish();
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.throughput(Throughput::Elements(23));
    g.bench_function("built-in pack (23 rules): parse, lower, analyse", |b| {
        b.iter(|| black_box(tattletail_compiler::compile(DEFAULT_PACK).unwrap()))
    });
    let hundred = tattletail_benches::indexed_rules(100);
    g.throughput(Throughput::Elements(100));
    g.bench_function("100 indexed rules (cold start)", |b| {
        b.iter(|| black_box(tattletail_compiler::compile(&hundred).unwrap()))
    });
    g.bench_function("prefilter extraction only, 100 rules", |b| {
        let compiled = tattletail_compiler::compile(&hundred).unwrap();
        b.iter(|| {
            for r in &compiled.plan.rules {
                black_box(tattletail_compiler::analysis::analyze(&r.program));
            }
        })
    });
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    let (json, _) = tattletail_benches::generated(RECORDS);
    let mut keys = Vec::new();
    let mut r = RecordReader::new(&json[..], false);
    let mut buf = Vec::new();
    let mut p = RecordParser::default();
    while let Some(next) = r.next_record(&mut buf).unwrap() {
        next.into_record().unwrap();
        let rec = p.parse(&mut buf).unwrap();
        keys.push((
            rec.event_name().map(String::from),
            rec.event_source().map(String::from),
        ));
    }
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(keys.len() as u64));
    for n in [10, 1000] {
        let compiled = tattletail_compiler::compile(&tattletail_benches::indexed_rules(n)).unwrap();
        g.bench_function(format!("index lookup, {n} rules"), |b| {
            let prefilters = compiled.plan.rules.iter().map(|r| r.prefilter());
            let mut ix = tattletail_runtime::index::DispatchIndex::new(prefilters);
            b.iter(|| {
                for (n, s) in &keys {
                    black_box(ix.candidates(n.as_deref(), s.as_deref()).len());
                }
            })
        });
    }
    g.finish();
}

fn evaluate(c: &mut Criterion) {
    let raws = raw_records();
    let compiled = tattletail_compiler::compile(DEFAULT_PACK).unwrap();
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(raws.len() as u64));
    for (name, indexed) in [
        ("pack: index + literals", true),
        ("pack, every rule on every record (no index)", false),
    ] {
        g.bench_function(name, |b| {
            let mut matcher = if indexed {
                Matcher::new(&compiled.plan)
            } else {
                Matcher::naive(&compiled.plan)
            };
            b.iter(|| evaluate_all(&mut matcher, &raws))
        });
    }
    g.finish();
}

/// The generated records' raw bytes, one `Vec` each.
fn raw_records() -> Vec<Vec<u8>> {
    let (json, _) = tattletail_benches::generated(RECORDS);
    let mut raws = Vec::new();
    let mut r = RecordReader::new(&json[..], false);
    let mut buf = Vec::new();
    while let Some(next) = r.next_record(&mut buf).unwrap() {
        next.into_record().unwrap();
        raws.push(buf.clone());
    }
    raws
}

/// Parse and evaluate every record (copied first: parsing rewrites).
fn evaluate_all(matcher: &mut Matcher<'_>, raws: &[Vec<u8>]) {
    let mut p = RecordParser::default();
    let mut out = Outcome::default();
    let mut scratch = Vec::new();
    for raw in raws {
        scratch.clear();
        scratch.extend_from_slice(raw);
        let rec = matcher
            .parse_and_evaluate(&mut p, &mut scratch, false, &mut out)
            .unwrap();
        black_box(out.matches.len());
        p.recycle(rec);
    }
}

/// One rule per jq construct, evaluated on every record (no index, no
/// literal pre-check): the cost of the native evaluator itself.
const CONSTRUCTS: &[(&str, &str)] = &[
    ("path == literal", r#"select(.eventName == "CreateUser")"#),
    (
        "def + IN",
        r#"def sensitive: IN("CreateUser", "DeleteTrail"); select(.eventName | sensitive)"#,
    ),
    (
        "variable + index",
        r#"select(.eventName as $n | ["CreateUser", "DeleteTrail"] | index($n))"#,
    ),
    (
        "alternative chain",
        r#"select((.errorCode // .errorMessage // "") == "AccessDenied")"#,
    ),
    (
        "regex test",
        r#"select(.eventName | test("^(Delete|Stop)[A-Z]"))"#,
    ),
    (
        "recursive search",
        r#"select(any(.. | strings; test("secrets/")))"#,
    ),
    (
        "reduce over keys",
        r#"select((.requestParameters // {}) | reduce keys[] as $k (0; . + 1) > 3)"#,
    ),
];

fn ir(c: &mut Criterion) {
    let raws = raw_records();
    let mut g = c.benchmark_group("ir");
    g.throughput(Throughput::Elements(raws.len() as u64));
    g.sample_size(20);
    for (name, jq) in CONSTRUCTS {
        let config = format!("[[rule]]\nname = \"{name}\"\njq_match = '''{jq}'''\n");
        let compiled = tattletail_compiler::compile(&config).unwrap();
        g.bench_function(*name, |b| {
            let mut matcher = Matcher::naive(&compiled.plan);
            b.iter(|| evaluate_all(&mut matcher, &raws))
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let (json, gz) = tattletail_benches::generated(RECORDS);
    let compiled = tattletail_compiler::compile(DEFAULT_PACK).unwrap();
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.sample_size(20);
    g.bench_function("gzip file, built-in pack", |b| {
        b.iter(|| {
            let mut scanner = Scanner::new(&compiled.plan);
            let mut sink = CollectSink::default();
            scanner
                .scan("bench", Cursor::new(gz.clone()), &mut sink)
                .unwrap();
            black_box(sink.0.len())
        })
    });
    g.finish();
}

criterion_group!(benches, reader, compile, dispatch, evaluate, ir, end_to_end);
criterion_main!(benches);
