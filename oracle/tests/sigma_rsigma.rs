//! Sigma: our front end (Sigma YAML → jq → plan → native matcher) against
//! rsigma-eval 0.23, an independent Rust implementation of Sigma, on every
//! SigmaHQ AWS rule we carry and every record set of the runtime's
//! differential tests. Per (record, rule) the two must agree, except for
//! the deliberate differences pinned in [`DELIBERATE`] (the same table is
//! README.md ("Where Tattletail differs from rsigma")): each entry must explain at least one
//! difference, and every difference must be explained by an entry.
//!
//! Also: the Sigma plan gives the same alerts with the dispatch index and
//! without it (`Matcher::new` vs `Matcher::naive`).

#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use rsigma_eval::event::JsonEvent;
use rsigma_eval::Engine;
use tattletail_compiler::config::SigmaInput;
use tattletail_compiler::sigma::SigmaFile;
use tattletail_runtime::matcher::Matcher;

/// The rule directories, under testdata/sigma: SigmaHQ's AWS rules, the
/// ones we set aside, and probes of every semantic corner (each probe rule
/// looks at its own field, `pNN`, of the records in probes/records.json).
const DIRS: &[&str] = &[
    "sigmahq/rules",
    "sigmahq/extra/unsupported",
    "sigmahq/extra/placeholder",
    "probes",
];

/// Rules not both engines load: (file, who loads it, topic in
/// README.md ("Where Tattletail differs from rsigma")).
const LOADED_BY_ONE: &[(&str, Engine_, &str)] = &[
    (
        "aws_cloudtrail_console_login_success_from_susp_locations.yml",
        Engine_::Rsigma,
        "expand",
    ),
    (
        "aws_lambda_function_created_or_invoked.yml",
        Engine_::Neither,
        "near",
    ),
    (
        "aws_ec2_download_userdata.yml",
        Engine_::Ours,
        "count() aggregation",
    ),
    ("aws_enum_backup.yml", Engine_::Ours, "count() aggregation"),
    ("aws_enum_listing.yml", Engine_::Ours, "count() aggregation"),
    ("aws_enum_network.yml", Engine_::Ours, "count() aggregation"),
    ("aws_enum_storage.yml", Engine_::Ours, "count() aggregation"),
    (
        "aws_macic_evasion.yml",
        Engine_::Ours,
        "count() aggregation",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
enum Engine_ {
    Ours,
    Rsigma,
    Neither,
}

/// A deliberate difference: the rule (its file name, or for the probes
/// the start of its title, `probe pNN`), a selector of the records it
/// covers (a substring of the record's raw text), which engine fires, and
/// the topic (a row of the table in README.md, "Sigma rules").
struct Deliberate {
    rule: &'static str,
    record: &'static str,
    fires: Engine_,
    topic: &'static str,
}

/// Every (record, rule) difference found, explained.
const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        rule: "probe p22",
        record: "p22-nl\"",
        fires: Engine_::Ours,
        topic: "wildcards and newlines",
    },
    Deliberate {
        rule: "aws_disable_bucket_versioning.yml",
        record: "\"Suspended\"",
        fires: Engine_::Ours,
        topic: "objects as JSON text",
    },
    Deliberate {
        rule: "probe p03",
        record: "p03-object\"",
        fires: Engine_::Ours,
        topic: "objects as JSON text",
    },
    Deliberate {
        rule: "probe p03",
        record: "p03-array\"",
        fires: Engine_::Ours,
        topic: "objects as JSON text",
    },
    Deliberate {
        rule: "probe p26",
        record: "p26-obj\"",
        fires: Engine_::Ours,
        topic: "objects as JSON text",
    },
    Deliberate {
        rule: "probe p26",
        record: "p26-arrobj\"",
        fires: Engine_::Ours,
        topic: "objects as JSON text",
    },
    Deliberate {
        rule: "probe p01",
        record: "p01-ascii\"",
        fires: Engine_::Rsigma,
        topic: "case folding",
    },
    Deliberate {
        rule: "probe p02",
        record: "p02-lower\"",
        fires: Engine_::Rsigma,
        topic: "case folding",
    },
    Deliberate {
        rule: "probe p04",
        record: "p04-prefix\"",
        fires: Engine_::Ours,
        topic: "startswith/endswith with wildcards",
    },
    Deliberate {
        rule: "probe p04",
        record: "p04-suffix\"",
        fires: Engine_::Rsigma,
        topic: "startswith/endswith with wildcards",
    },
    Deliberate {
        rule: "probe p05",
        record: "p05-prefix\"",
        fires: Engine_::Rsigma,
        topic: "startswith/endswith with wildcards",
    },
    Deliberate {
        rule: "probe p05",
        record: "p05-suffix\"",
        fires: Engine_::Ours,
        topic: "startswith/endswith with wildcards",
    },
    Deliberate {
        rule: "probe p06",
        record: "p06-b64-0\"",
        fires: Engine_::Ours,
        topic: "base64offset",
    },
    Deliberate {
        rule: "probe p06",
        record: "p06-b64-1\"",
        fires: Engine_::Ours,
        topic: "base64offset",
    },
    Deliberate {
        rule: "probe p07",
        record: "p07-two\"",
        fires: Engine_::Rsigma,
        topic: "nested arrays",
    },
    Deliberate {
        rule: "probe p07",
        record: "p07-three\"",
        fires: Engine_::Rsigma,
        topic: "nested arrays",
    },
    Deliberate {
        rule: "probe p08",
        record: "p08-three\"",
        fires: Engine_::Rsigma,
        topic: "nested arrays",
    },
    Deliberate {
        rule: "probe p09",
        record: "p09-depth63\"",
        fires: Engine_::Ours,
        topic: "keyword depth",
    },
    Deliberate {
        rule: "probe p09",
        record: "p09-depth64\"",
        fires: Engine_::Ours,
        topic: "keyword depth",
    },
    Deliberate {
        rule: "probe p09",
        record: "p09-depth70\"",
        fires: Engine_::Ours,
        topic: "keyword depth",
    },
    Deliberate {
        rule: "probe p09",
        record: "p09-arrays70\"",
        fires: Engine_::Ours,
        topic: "keyword depth",
    },
    Deliberate {
        rule: "probe p10",
        record: "p10-1e-7\"",
        fires: Engine_::Rsigma,
        topic: "numbers as text",
    },
];

/// The topics of README.md ("Where Tattletail differs from rsigma").
const TOPICS: &[&str] = &[
    "wildcards and newlines",
    "objects as JSON text",
    "case folding",
    "startswith/endswith with wildcards",
    "base64offset",
    "nested arrays",
    "keyword depth",
    "numbers as text",
    "count() aggregation",
    "expand",
    "near",
];

struct SigmaRules {
    /// (file name, text), sorted by name.
    files: Vec<(String, String)>,
}

fn sigma_rules() -> SigmaRules {
    let base = common::root().join("testdata/sigma");
    let mut files = Vec::new();
    for d in DIRS {
        for e in std::fs::read_dir(base.join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                files.push((
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    files.sort();
    SigmaRules { files }
}

/// A short, printable excerpt of a record.
fn excerpt(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().take(400).collect()
}

#[test]
fn sigma_rules_agree_with_rsigma() {
    let rules = sigma_rules();
    assert!(rules.files.len() >= 60, "{} rule files", rules.files.len());

    // Ours: every file through the config compiler, as `--sigma` does.
    let mut cannot = tattletail_compiler::config::cannot_read;
    let compiled = tattletail_compiler::compile_with(
        "",
        &mut SigmaInput {
            resolve: &mut cannot,
            extra: rules
                .files
                .iter()
                .map(|(name, text)| SigmaFile {
                    name: name.clone(),
                    text: text.clone(),
                    ..Default::default()
                })
                .collect(),
        },
    )
    .unwrap_or_else(|d| panic!("Sigma rules do not compile: {d:#?}"));
    let plan = &compiled.plan;
    // (file, title) → plan position. A `| count()` rule is named
    // "title (events)" and feeds its correlation; its detection part is
    // compared all the same when rsigma loads it (it does not).
    let mut ours: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, r) in plan.rules.iter().enumerate() {
        let file = r
            .config
            .sigma
            .as_ref()
            .expect("only Sigma rules")
            .file
            .name
            .clone();
        let title = r.config.name.clone().unwrap();
        let title = title
            .strip_suffix(" (events)")
            .map(str::to_string)
            .unwrap_or(title);
        assert!(ours.insert((file, title), i).is_none(), "duplicate title");
    }

    // rsigma: file by file, rule by rule (one rule's error does not abort).
    let mut engine = Engine::new();
    let mut theirs: BTreeMap<String, String> = BTreeMap::new(); // title → file
    let mut load_notes = Vec::new();
    for (name, text) in &rules.files {
        let coll = rsigma_parser::parse_sigma_yaml(text)
            .unwrap_or_else(|e| panic!("rsigma cannot read {name}: {e}"));
        for e in &coll.errors {
            load_notes.push(format!("{name}: rsigma parse error: {e}"));
        }
        assert!(
            coll.correlations.is_empty(),
            "{name}: correlations are not compared"
        );
        for r in &coll.rules {
            match engine.add_rule(r) {
                Ok(()) => {
                    assert!(
                        theirs.insert(r.title.clone(), name.clone()).is_none(),
                        "duplicate title {}",
                        r.title
                    );
                }
                Err(e) => load_notes.push(format!("{name}: rsigma compile error: {e}")),
            }
        }
    }
    for n in &load_notes {
        eprintln!("{n}");
    }

    // Which files each engine loaded, against LOADED_BY_ONE.
    let our_files: BTreeSet<&str> = ours.keys().map(|(f, _)| f.as_str()).collect();
    let their_files: BTreeSet<&str> = theirs.values().map(String::as_str).collect();
    for (f, _) in &rules.files {
        let who = match (
            our_files.contains(f.as_str()),
            their_files.contains(f.as_str()),
        ) {
            (true, true) => None,
            (true, false) => Some(Engine_::Ours),
            (false, true) => Some(Engine_::Rsigma),
            (false, false) => Some(Engine_::Neither),
        };
        let listed = LOADED_BY_ONE.iter().find(|(lf, _, _)| lf == f).map(|x| {
            assert!(TOPICS.contains(&x.2), "unknown topic {}", x.2);
            x.1
        });
        assert_eq!(
            who, listed,
            "{f}: loaded by {who:?}, LOADED_BY_ONE says {listed:?}"
        );
    }

    // The rules both load: plan position ↔ rsigma title.
    let both: Vec<(usize, String, String)> = ours
        .iter()
        .filter(|((f, t), _)| theirs.get(t) == Some(f))
        .map(|((f, t), &i)| (i, t.clone(), f.clone()))
        .collect();
    assert!(both.len() >= 55, "{} rules in common", both.len());

    let mut sets = common::record_sets();
    let probes = common::root().join("testdata/sigma/probes/records.json");
    sets.push(("probes".into(), common::records_of(&probes)));
    let n = plan.rules.len();
    let mut used = vec![0usize; DELIBERATE.len()];
    let mut unexplained = Vec::new();
    let (mut records, mut pairs, mut fired_ours, mut fired_theirs, mut unparsed) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for (set, recs) in &sets {
        let with = common::evaluate(&mut Matcher::new(plan), recs, n);
        let without = common::evaluate(&mut Matcher::naive(plan), recs, n);
        assert_eq!(
            with, without,
            "{set}: index on and off differ on the Sigma rules"
        );
        for (k, raw) in recs.iter().enumerate() {
            // rsigma reads events with serde_json; records it refuses
            // (what our reader repairs) cannot be compared.
            let Ok(ev) = serde_json::from_slice::<serde_json::Value>(raw) else {
                unparsed += 1;
                continue;
            };
            records += 1;
            let hits: BTreeSet<String> = engine
                .evaluate(&JsonEvent::borrow(&ev))
                .into_iter()
                .map(|m| m.header.rule_title)
                .collect();
            fired_theirs += hits.len();
            let text = String::from_utf8_lossy(raw);
            for (i, title, file) in &both {
                pairs += 1;
                let a = with[k][*i].is_some();
                let b = hits.contains(title);
                fired_ours += a as usize;
                if a == b {
                    continue;
                }
                let fires = if a { Engine_::Ours } else { Engine_::Rsigma };
                let is_rule = |d: &Deliberate| {
                    d.rule == file
                        || (d.rule.starts_with("probe ")
                            && title.starts_with(&format!("{}:", d.rule)))
                };
                match DELIBERATE
                    .iter()
                    .position(|d| is_rule(d) && d.fires == fires && text.contains(d.record))
                {
                    Some(p) => used[p] += 1,
                    None => unexplained.push(format!(
                        "{file} `{title}` on {set} record {k}: ours {a}, rsigma {b}: {}",
                        excerpt(serde_json::to_string(&ev).unwrap().as_bytes())
                    )),
                }
            }
        }
    }
    eprintln!(
        "{records} records ({unparsed} not JSON to serde_json), {} rules in common, {pairs} pairs; \
         ours fired {fired_ours}, rsigma {fired_theirs}; {} deliberate differences",
        both.len(),
        used.iter().sum::<usize>()
    );
    assert!(records > 3000, "too few records: {records}");
    assert!(
        fired_ours > 100,
        "too few alerts to prove anything: {fired_ours}"
    );
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    for (d, u) in DELIBERATE.iter().zip(&used) {
        assert!(
            *u > 0,
            "DELIBERATE entry for {} / {:?} explains no difference: remove it",
            d.rule,
            d.record
        );
        assert!(TOPICS.contains(&d.topic), "unknown topic {}", d.topic);
    }
    // The documentation lists every topic.
    let doc = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    for t in TOPICS {
        assert!(
            doc.contains(t),
            "README.md (Sigma rules: differences from rsigma) does not mention {t}"
        );
    }
}
