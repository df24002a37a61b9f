//! Shared helpers of the runtime's integration tests: configs, record sets
//! and a way to evaluate every record with a matcher.
#![allow(dead_code)]

pub mod engines;
pub mod json_text;

use std::path::{Path, PathBuf};

use tattletail_compiler::config::SigmaInput;
use tattletail_compiler::plan::Compiled;
use tattletail_compiler::sigma::SigmaFile;
use tattletail_corpus::{write_file, Generator, Layout};
use tattletail_runtime::matcher::{Matcher, Outcome};
use tattletail_runtime::reader;
use tattletail_runtime::record::RecordParser;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Compile a config or fail the test with its diagnostics.
pub fn compile(src: &str) -> Compiled {
    tattletail_compiler::compile(src).unwrap_or_else(|d| panic!("config does not compile: {d:#?}"))
}

/// The configs every differential test runs: (name, source).
pub fn configs() -> Vec<(&'static str, String)> {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    vec![
        (
            "built-in pack",
            tattletail_compiler::pack::DEFAULT_PACK.to_string(),
        ),
        ("README example", read("testdata/rules/readme.toml")),
        ("adversarial rules", read("testdata/rules/adversarial.toml")),
        ("case-folded rules", read("testdata/rules/case_folded.toml")),
    ]
}

/// Records whose eventName and eventSource come in many cases and types:
/// every name in every case variant against every source, and the other
/// way round (strings, `null`, numbers, arrays, objects, missing).
pub fn case_mangled_records() -> Vec<Vec<u8>> {
    const NAMES: &[&str] = &[
        "DeleteTrail",
        "StopLogging",
        "ConsoleLogin",
        "GetObject",
        "CreateUser",
        "PutBucketPolicy",
        "ListBuckets",
        "X",
        "",
    ];
    const SOURCES: &[&str] = &[
        "cloudtrail.amazonaws.com",
        "signin.amazonaws.com",
        "s3.amazonaws.com",
        "iam.amazonaws.com",
    ];
    let cases = |s: &str| -> Vec<String> {
        let alternating: String = s
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        vec![
            s.to_string(),
            s.to_ascii_lowercase(),
            s.to_ascii_uppercase(),
            alternating,
        ]
    };
    let quoted = |s: &str| format!("{s:?}");
    let values = |xs: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = xs
            .iter()
            .flat_map(|x| cases(x))
            .map(|x| quoted(&x))
            .collect();
        out.push(format!("[{}, 5]", quoted(&xs[0].to_ascii_lowercase())));
        out.push(format!("[{}]", quoted(xs[1])));
        out.extend(["null", "5", "[]", "{}"].map(String::from));
        out.push(String::new()); // missing
        out
    };
    let record = |name: &str, source: &str| {
        let mut parts = vec![r#""eventVersion":"1.08""#.to_string()];
        if !name.is_empty() {
            parts.push(format!(r#""eventName":{name}"#));
        }
        if !source.is_empty() {
            parts.push(format!(r#""eventSource":{source}"#));
        }
        format!("{{{}}}", parts.join(",")).into_bytes()
    };
    let (names, sources) = (values(NAMES), values(SOURCES));
    let mut out = Vec::new();
    for n in &names {
        for s in &sources {
            out.push(record(n, s));
        }
    }
    out
}

/// The SigmaHQ AWS CloudTrail rules we carry
/// (testdata/sigma/sigmahq/rules), as `--sigma` reads them.
pub fn sigmahq_files() -> Vec<SigmaFile> {
    let dir = root().join("testdata/sigma/sigmahq/rules");
    let mut files: Vec<SigmaFile> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .map(|p| SigmaFile {
            name: format!(
                "testdata/sigma/sigmahq/rules/{}",
                p.file_name().unwrap().to_string_lossy()
            ),
            text: std::fs::read_to_string(&p).unwrap(),
            ..Default::default()
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// Compile a config and Sigma files (given as `--sigma` gives them) or
/// fail the test with the diagnostics.
pub fn compile_sigma(src: &str, files: Vec<SigmaFile>) -> Compiled {
    let mut cannot = tattletail_compiler::config::cannot_read;
    tattletail_compiler::compile_with(
        src,
        &mut SigmaInput {
            resolve: &mut cannot,
            extra: files,
        },
    )
    .unwrap_or_else(|d| panic!("config does not compile: {d:#?}"))
}

/// [`configs`] compiled, and the SigmaHQ rules (lowered to jq by the
/// Sigma front end): the configs of the index-on/index-off tests.
pub fn compiled_configs() -> Vec<(&'static str, Compiled)> {
    let mut out: Vec<(&'static str, Compiled)> = configs()
        .into_iter()
        .map(|(name, src)| (name, compile(&src)))
        .collect();
    out.push(("SigmaHQ rules", compile_sigma("", sigmahq_files())));
    out
}

/// Raw records of one file.
pub fn records_of(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap();
    let mut r = reader::open(f).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(next) = r.next_record(&mut buf).unwrap() {
        next.into_record().unwrap();
        out.push(buf.clone());
    }
    out
}

/// Raw records of every record set: the committed samples, the adversarial
/// file, the labelled test events of TrailAlerts and Panther
/// (`corpus/labelled`), and generated files (realistic with adversarial
/// records mixed in, compact and pretty).
pub fn record_sets() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut sets = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("corpus/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.push(root().join("corpus/adversarial/adversarial.json"));
    files.push(root().join("corpus/labelled/trailalerts-sigma-tests.json.gz"));
    files.push(root().join("corpus/labelled/panther-analysis-tests.json.gz"));
    for f in files {
        sets.push((f.display().to_string(), records_of(&f)));
    }
    for (seed, n, pretty) in [(1u64, 3000u64, false), (2, 500, true)] {
        let mut bytes = Vec::new();
        write_file(
            &mut Generator::new(seed),
            n,
            Layout {
                pretty,
                adversarial: true,
            },
            &mut bytes,
        )
        .unwrap();
        let mut r = reader::RecordReader::new(&bytes[..], false);
        let mut recs = Vec::new();
        let mut buf = Vec::new();
        while let Some(next) = r.next_record(&mut buf).unwrap() {
            next.into_record().unwrap();
            recs.push(buf.clone());
        }
        sets.push((format!("generated seed {seed}"), recs));
    }
    sets
}

/// One rule's result on one record: `None` no alert; `Some(None)` alert
/// with the record; `Some(Some(json))` alert with an annotation.
pub type Fired = Option<Option<String>>;

/// Evaluate every record; per record, per rule (plan order) the result.
pub fn evaluate(matcher: &mut Matcher<'_>, records: &[Vec<u8>], rules: usize) -> Vec<Vec<Fired>> {
    let mut parser = RecordParser::default();
    let mut out = Outcome::default();
    records
        .iter()
        .map(|raw| {
            let mut bytes = raw.clone();
            let _rec = matcher
                .parse_and_evaluate(&mut parser, &mut bytes, true, &mut out)
                .expect("test records parse");
            let mut row = vec![None; rules];
            for m in &out.matches {
                row[m.rule] = Some(m.annotation.as_ref().map(|v| v.to_string()));
            }
            row
        })
        .collect()
}
