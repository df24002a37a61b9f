//! Three-way differential test over the rule files: every rule of the
//! built-in pack, `testdata/rules/{readme,adversarial,constructs,regressions}.toml`
//! and `benches/rules/realistic.toml`, on every record of the corpus record sets
//! (`common::record_sets()`), evaluated by
//!
//! - Tattletail's native evaluator, with the index ([`Matcher::new`]) and
//!   without it ([`Matcher::naive`]);
//! - the `gojq` CLI (0.12.11), the reference dialect;
//! - the `jq` CLI (1.6);
//! - jaq ([`tattletail_oracle`]), a third opinion.
//!
//! The CLIs read all records in one process, for a batch of rules at once
//! (`common::engines::wrapper` prints one line per record with every
//! rule's answer), so each CLI starts a few dozen times, not once per
//! (rule, record).
//!
//! Required:
//!
//! - native = gojq on every (rule, record): no alert (`-`), an error before
//!   the first output (`E`), the record itself (`=`) or the first output,
//!   compared as text (gojq's number printing); except the rules listed in
//!   `testdata/jq/rule-deviations.txt`, whose differences must be exactly
//!   of the listed kinds (and a listed kind must occur: the list stays
//!   true). Kinds are detected, not assumed:
//!   - `key-order`: objects keep insertion order (gojq sorts keys): the
//!     outputs are equal once the keys of their objects are sorted;
//!   - `key-order-iteration`: the rule iterates an object, in insertion
//!     order: the difference disappears when the record's keys are sorted
//!     (as gojq orders them) before Tattletail evaluates it;
//!   - `big-int`: integers beyond 64 bits are doubles: the record or gojq's
//!     output has one, and the outputs are equal with numbers as doubles;
//!   - `gojq-rejects`: gojq cannot compile the rule; then native must equal
//!     jq 1.6 where jq compiles it.
//! - Matcher::new = Matcher::naive on alerts and annotations (errors are
//!   not alerts; the index may skip a rule that would fail).
//! - A rule that fires is admitted by its prefilter, and, when it has
//!   required literals and the record has no backslash, the record's bytes
//!   contain one of them.
//!
//! Reported, not required: where jq 1.6 differs from gojq (compared as JSON
//! values: numbers as doubles, keys unordered), and where jaq differs from
//! native. Failure messages show all four answers.
//!
//! `jq` and `gojq` must be on the PATH (`scripts/test` installs them): without
//! them the test fails with a message saying how to install them.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::engines::{
    find_on_path, has_literal, native, run_batch, sorted_record, Cli, Res, BATCH,
};
use common::json_text;
use tattletail_compiler::plan::{Eval, Plan};
use tattletail_oracle::{FirstOutput, JqProgram};
use tattletail_runtime::matcher::Matcher;
use tattletail_runtime::record::RecordParser;

/// The files whose rules are compared: (label, source).
fn rule_files() -> Vec<(&'static str, String)> {
    let read = |p: &str| std::fs::read_to_string(common::root().join(p)).unwrap();
    vec![
        ("pack", tattletail_compiler::pack::DEFAULT_PACK.to_string()),
        ("readme", read("testdata/rules/readme.toml")),
        ("adversarial", read("testdata/rules/adversarial.toml")),
        ("constructs", read("testdata/rules/constructs.toml")),
        ("realistic", read("benches/rules/realistic.toml")),
        ("regressions", read("testdata/rules/regressions.toml")),
        ("sigmahq jq view", read("testdata/sigma/sigmahq.jq.toml")),
    ]
}

/// jaq's results for one rule file: per record, per rule (`None`: jaq
/// cannot compile the rule).
fn jaq(plan: &Plan, records: &[&[u8]]) -> Vec<Vec<Option<Res>>> {
    let codes: Vec<&str> = plan
        .rules
        .iter()
        .map(|r| r.config.jq_match.as_str())
        .collect();
    let programs: Vec<Option<JqProgram>> = match JqProgram::compile_all(&codes) {
        Ok(ps) => ps.into_iter().map(Some).collect(),
        Err(_) => codes.iter().map(|c| JqProgram::compile(c).ok()).collect(),
    };
    records
        .iter()
        .map(|raw| {
            let input = tattletail_oracle::parse_json(raw).expect("jaq parses the record");
            programs
                .iter()
                .map(|p| {
                    let first = p.as_ref()?.first_output(input.clone());
                    let alert = first.is_alert();
                    Some(match first {
                        FirstOutput::Error(_) => Res::Err,
                        FirstOutput::Value(v) if alert && v == input => Res::Rec,
                        FirstOutput::Value(v) if alert => Res::Val(v.to_string()),
                        _ => Res::No,
                    })
                })
                .collect()
        })
        .collect()
}

// ---- the deviation list -----------------------------------------------------

/// `testdata/jq/rule-deviations.txt`: (file label, rule name) → kinds, each
/// with its reason.
fn listed_deviations() -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let path = common::root().join("testdata/jq/rule-deviations.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert!(
            f.len() == 4 && !f[3].trim().is_empty(),
            "{}:{}: want FILE<TAB>RULE<TAB>KIND<TAB>reason",
            path.display(),
            i + 1
        );
        assert!(
            KINDS.contains(&f[2]),
            "{}:{}: unknown kind {}",
            path.display(),
            i + 1,
            f[2]
        );
        out.entry((f[0].to_string(), f[1].to_string()))
            .or_default()
            .insert(f[2].to_string(), f[3].to_string());
    }
    out
}

const KINDS: &[&str] = &[
    "key-order",
    "key-order-iteration",
    "big-int",
    "gojq-rejects",
];

// ---- the test ---------------------------------------------------------------

/// Problems found, grouped by rule and kind, printed together at the end.
#[derive(Default)]
struct Report {
    groups: BTreeMap<String, (usize, Vec<String>)>,
}

impl Report {
    /// Record a problem of group `group` (at most three examples each).
    fn fail(&mut self, group: String, example: String) {
        let g = self.groups.entry(group).or_default();
        g.0 += 1;
        if g.1.len() < 3 {
            g.1.push(example);
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        for (group, (count, examples)) in &self.groups {
            s.push_str(&format!("\n{group}: {count} records, e.g.\n"));
            for e in examples {
                s.push_str(&format!("  - {e}\n"));
            }
        }
        s
    }
}

/// CLI results: per (file, rule), gojq's and jq's.
type CliResults = HashMap<(usize, usize), (Result<Cli, String>, Result<Cli, String>)>;

/// Run both CLIs on every rule, `BATCH` rules per process, a few processes
/// at a time.
fn run_clis(
    gojq: &Path,
    jq: &Path,
    rules: &[(usize, usize, String)],
    input: &Arc<Vec<u8>>,
    n: usize,
) -> CliResults {
    let batches: Vec<&[(usize, usize, String)]> = rules.chunks(BATCH).collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<CliResults> = Mutex::default();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let srcs: Vec<&str> = batch.iter().map(|(_, _, src)| src.as_str()).collect();
                    let g = run_batch(gojq, &srcs, input, n);
                    let j = run_batch(jq, &srcs, input, n);
                    let mut res = results.lock().unwrap();
                    for (((f, r, _), g), j) in batch.iter().zip(g).zip(j) {
                        res.insert((*f, *r), (g, j));
                    }
                }
            });
        }
    });
    results.into_inner().unwrap()
}

#[test]
fn native_equals_gojq_on_every_rule_file() {
    let started = Instant::now();
    let (Some(gojq), Some(jq)) = (find_on_path("gojq"), find_on_path("jq")) else {
        panic!(
            "this test compares with the jq and gojq CLIs, which are not both on PATH: install them (`apt-get install jq gojq`; `bash scripts/test` does it)"
        );
    };

    let sets = common::record_sets();
    // Every record, with where it came from.
    let mut records: Vec<&[u8]> = Vec::new();
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for (s, (_, recs)) in sets.iter().enumerate() {
        for (i, r) in recs.iter().enumerate() {
            records.push(r);
            origin.push((s, i));
        }
    }
    let mut input = Vec::new();
    for r in &records {
        input.extend_from_slice(r);
        input.push(b'\n');
    }
    let input = Arc::new(input);
    let n = records.len();

    let files = rule_files();
    let compiled: Vec<_> = files.iter().map(|(_, src)| common::compile(src)).collect();
    let rules: Vec<(usize, usize, String)> = compiled
        .iter()
        .enumerate()
        .flat_map(|(f, c)| {
            c.plan
                .rules
                .iter()
                .enumerate()
                .map(move |(r, rule)| (f, r, rule.config.jq_match.clone()))
        })
        .collect();

    // The CLIs in the background; meanwhile the engines in this process.
    let (cli_results, (native_results, jaq_results)) = std::thread::scope(|scope| {
        let clis = scope.spawn(|| {
            let t = Instant::now();
            let r = run_clis(&gojq, &jq, &rules, &input, n);
            eprintln!("gojq and jq CLIs: {:.1?}", t.elapsed());
            r
        });
        let jaq_results = scope.spawn(|| {
            let t = Instant::now();
            let r: Vec<_> = compiled.iter().map(|c| jaq(&c.plan, &records)).collect();
            eprintln!("jaq: {:.1?}", t.elapsed());
            r
        });
        let t = Instant::now();
        let native_results: Vec<_> = compiled
            .iter()
            .map(|c| {
                let naive = native(&mut Matcher::naive(&c.plan), &records);
                let indexed = native(&mut Matcher::new(&c.plan), &records);
                (naive, indexed)
            })
            .collect();
        eprintln!("native (index off and on): {:.1?}", t.elapsed());
        (
            clis.join().unwrap(),
            (native_results, jaq_results.join().unwrap()),
        )
    });

    let listed = listed_deviations();
    let mut report = Report::default();
    let mut observed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut deviating_pairs: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut compared, mut alerts, mut errors) = (0usize, 0usize, 0usize);
    let mut jq_differs: BTreeMap<String, usize> = BTreeMap::new();
    let mut jq_rejects: Vec<String> = Vec::new();
    let mut jq_failed: Vec<String> = Vec::new();
    let mut jaq_differs: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut jaq_rejects: Vec<String> = Vec::new();
    let mut parser = RecordParser::default();
    for (f, (label, _)) in files.iter().enumerate() {
        let plan = &compiled[f].plan;
        let (naive, indexed) = &native_results[f];
        let jaq_res = &jaq_results[f];
        // Native on records with sorted keys, made when needed.
        let mut sorted_cache: HashMap<usize, Vec<Res>> = HashMap::new();
        for (r, rule) in plan.rules.iter().enumerate() {
            let name = rule.config.display_name();
            let key = (label.to_string(), name.clone());
            let group = |what: &str| format!("{label}: rule `{name}`: {what}");
            let (g, j) = &cli_results[&(f, r)];
            let g = match g {
                Ok(g) => g,
                Err(e) => {
                    report.fail(group("gojq failed"), e.clone());
                    continue;
                }
            };
            // jq 1.6 is a second opinion: when it fails (it loops forever
            // or crashes on a few programs gojq runs), it is left out.
            let j = match j {
                Ok(Cli::Rejected) => {
                    jq_rejects.push(format!("{label}: {name}"));
                    None
                }
                Ok(Cli::Ran(v)) => Some(v),
                Err(e) => {
                    jq_failed.push(format!("{label}: {name}: {e}"));
                    None
                }
            };
            if jaq_res.first().is_some_and(|row| row[r].is_none()) {
                jaq_rejects.push(format!("{label}: {name}"));
            }
            let literals = match (&rule.analysis.literals, rule.eval) {
                (Some(l), Eval::Native) => Some(l),
                _ => None,
            };
            for i in 0..n {
                let nat = &naive[i][r];
                compared += 1;
                alerts += usize::from(nat.is_alert());
                errors += usize::from(*nat == Res::Err);
                let (s, si) = origin[i];
                let place = || format!("{} record {si}", sets[s].0.rsplit('/').next().unwrap());
                let excerpt = || {
                    String::from_utf8_lossy(records[i])
                        .chars()
                        .take(300)
                        .collect::<String>()
                };
                // Index on = index off.
                if indexed[i][r].alert() != nat.alert() {
                    report.fail(
                        group("index on ≠ index off"),
                        format!(
                            "{}: index {} vs naive {}: {}",
                            place(),
                            indexed[i][r].show(),
                            nat.show(),
                            excerpt()
                        ),
                    );
                }
                // Fires ⇒ admitted, and the record has a required literal.
                if nat.is_alert() {
                    let mut bytes = records[i].to_vec();
                    let rec = parser.parse(&mut bytes).unwrap();
                    if rec.is_object()
                        && !rule
                            .prefilter()
                            .admits(rec.event_name(), rec.event_source())
                    {
                        report.fail(
                            group("fires but its prefilter rejects the record"),
                            format!(
                                "{}: prefilter {:?}: {}",
                                place(),
                                rule.prefilter(),
                                excerpt()
                            ),
                        );
                    }
                    if let Some(lits) = literals {
                        if !records[i].contains(&b'\\') && !has_literal(records[i], lits) {
                            report.fail(
                                group("fires on a record without its required literals"),
                                format!(
                                    "{}: literals {:?}: {}",
                                    place(),
                                    lits.iter().map(|l| l.text()).collect::<Vec<_>>(),
                                    excerpt()
                                ),
                            );
                        }
                    }
                }
                let jaq_r = jaq_res[i][r].as_ref();
                if let Some(ja) = jaq_r.filter(|ja| !ja.same_value(nat)) {
                    let d = jaq_differs.entry(format!("{label}: {name}")).or_default();
                    d.0 += 1;
                    if d.1.is_empty() {
                        d.1 = format!("{}: native {} vs jaq {}", place(), nat.show(), ja.show());
                    }
                }
                let jq_r = j.map(|v| &v[i]);
                let go = match g {
                    Cli::Ran(v) => &v[i],
                    Cli::Rejected => {
                        observed
                            .entry(key.clone())
                            .or_default()
                            .insert("gojq-rejects".into());
                        // Then native must follow jq 1.6 where it compiles.
                        if jq_r.is_some_and(|jr| !jr.same_value(nat)) {
                            report.fail(
                                group("gojq rejects it and native ≠ jq 1.6"),
                                format!(
                                    "{}: native {} vs jq 1.6 {}",
                                    place(),
                                    nat.show(),
                                    jq_r.unwrap().show()
                                ),
                            );
                        }
                        continue;
                    }
                };
                if jq_r.is_some_and(|jr| !jr.same_value(go)) {
                    *jq_differs.entry(format!("{label}: {name}")).or_default() += 1;
                }
                if nat == go {
                    continue;
                }
                // A difference: of a documented kind, or a failure.
                let kind = if nat.canonical(false) == go.canonical(false) {
                    Some("key-order")
                } else if sorted_cache.entry(i).or_insert_with(|| {
                    let raw = sorted_record(records[i]);
                    native(&mut Matcher::naive(plan), &[&raw]).remove(0)
                })[r]
                    .canonical(false)
                    == go.canonical(false)
                {
                    Some("key-order-iteration")
                } else if (json_text::parse(records[i]).unwrap().has_big_int()
                    || matches!(go, Res::Val(t) if json_text::parse(t.as_bytes()).is_ok_and(|j| j.has_big_int())))
                    && nat.canonical(true) == go.canonical(true)
                {
                    Some("big-int")
                } else {
                    None
                };
                let Some(kind) = kind else {
                    report.fail(
                        group("native ≠ gojq"),
                        format!(
                            "{}: native {} vs gojq {} (jq 1.6: {}, jaq: {})\n    record: {}",
                            place(),
                            nat.show(),
                            go.show(),
                            jq_r.map_or("n/a (rejects or fails on the rule)".into(), Res::show),
                            jaq_r.map_or("rejects the rule".into(), Res::show),
                            excerpt()
                        ),
                    );
                    continue;
                };
                *deviating_pairs.entry(kind).or_default() += 1;
                observed.entry(key.clone()).or_default().insert(kind.into());
                if !listed.get(&key).is_some_and(|l| l.contains_key(kind)) {
                    report.fail(
                        group(&format!(
                            "a {kind} difference not listed in testdata/jq/rule-deviations.txt"
                        )),
                        format!("{}: native {} vs gojq {}", place(), nat.show(), go.show()),
                    );
                }
            }
        }
    }
    for (key, kinds) in &listed {
        for kind in kinds.keys() {
            if !observed.get(key).is_some_and(|o| o.contains(kind)) {
                report.fail(
                    format!(
                        "testdata/jq/rule-deviations.txt: {}: rule `{}`",
                        key.0, key.1
                    ),
                    format!("listed as {kind}, but no such difference occurs: remove it"),
                );
            }
        }
    }

    eprintln!(
        "compared {} rules × {n} records = {compared} pairs ({alerts} alerts, {errors} errors) in {:.1?}",
        rules.len(),
        started.elapsed()
    );
    eprintln!(
        "documented deviations: {} rules; pairs by kind: {deviating_pairs:?}",
        observed.len()
    );
    eprintln!(
        "jq 1.6 ≠ gojq on {} pairs in {} rules; jq 1.6 rejects {jq_rejects:?}; jq 1.6 failed on {jq_failed:?}",
        jq_differs.values().sum::<usize>(),
        jq_differs.len(),
    );
    for (rule, c) in &jq_differs {
        eprintln!("  jq 1.6 ≠ gojq: {rule}: {c} records");
    }
    eprintln!(
        "jaq ≠ native on {} pairs in {} rules; jaq rejects {jaq_rejects:?}",
        jaq_differs.values().map(|d| d.0).sum::<usize>(),
        jaq_differs.len(),
    );
    for (rule, (c, example)) in &jaq_differs {
        eprintln!("  jaq ≠ native: {rule}: {c} records, e.g. {example}");
    }
    assert!(
        report.groups.is_empty(),
        "{} problems:{}",
        report.groups.len(),
        report.text()
    );
    assert!(
        compared > 1_000_000 && alerts > 10_000,
        "compared {compared}, alerts {alerts}"
    );
}
