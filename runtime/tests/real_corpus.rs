//! Every file of `corpus/real` (real public CloudTrail material, copied
//! into the repository with its licences) scans without a crash; the file
//! that is malformed upstream is read record by record.

mod common;

use std::path::{Path, PathBuf};

use tattletail_runtime::scan::{CollectSink, InputOutcome};
use tattletail_runtime::Scanner;

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(p).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn the_shared_real_corpus_scans() {
    let dir = common::root().join("corpus/real");
    assert!(dir.is_dir(), "{} is part of the repository", dir.display());
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let compiled = common::compile(tattletail_compiler::pack::DEFAULT_PACK);
    let mut scanner = Scanner::new(&compiled.plan);
    let mut sink = CollectSink::default();
    let mut failed = Vec::new();
    for f in &files {
        let label = f.display().to_string();
        match scanner
            .scan(&label, std::fs::File::open(f).unwrap(), &mut sink)
            .unwrap()
        {
            InputOutcome::Failed(why) => failed.push((label, why.to_string())),
            InputOutcome::Scanned | InputOutcome::Skipped(_) => {}
        }
    }
    // README and LICENSE files are not JSON: reported, like any such input.
    let (text, failed): (Vec<_>, Vec<_>) = failed
        .into_iter()
        .partition(|(f, _)| f.ends_with("README.md") || f.contains("LICENSE"));
    assert!(
        text.iter()
            .all(|(_, why)| why.contains("does not start with a JSON object")),
        "{text:#?}"
    );
    // Every JSON file scans or is skipped as not CloudTrail (test fixtures,
    // JSON Lines, arrays). The one broken upstream (cloudtrail2sightings'
    // aws.execution.ec2-user-data.json, with no `,` between its records,
    // which jq refuses whole) is read record by record.
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(scanner.stats.records >= 4600, "{}", scanner.stats.records);
    assert_eq!(scanner.stats.bad_records, 0);
    assert!(scanner.stats.total_alerts() > 500);
}
