//! Reading and lowering SigmaHQ's AWS rules (testdata/sigma/sigmahq).

use super::*;
use crate::analysis::{analyze, Prefilter};

fn sigmahq(dir: &str) -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/sigma/sigmahq")
        .join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_sigmahq_rule_loads_and_compiles() {
    let files = sigmahq("rules");
    assert!(files.len() >= 55, "{}", files.len());
    let mut indexed = 0;
    for (name, text) in &files {
        let read = read(text);
        assert!(read.issues.is_empty(), "{name}: {:?}", read.issues);
        assert!(read.skipped.is_empty(), "{name}: {:?}", read.skipped);
        for d in &read.documents {
            let Document::Rule(r) = d else { continue };
            let jq = jq::emit(r).jq;
            let prog =
                crate::plan::compile_program(&jq).unwrap_or_else(|e| panic!("{name}: {e:?}\n{jq}"));
            let a = analyze(&prog);
            if a.prefilter != Prefilter::Any {
                indexed += 1;
            }
            if std::env::var("SHOW_JQ").is_ok() {
                println!(
                    "== {name}\n{jq}{:?} exact={} notes={:?}",
                    a.prefilter, a.exact, a.notes
                );
            }
        }
    }
    println!("indexed: {indexed} of {}", files.len());
}
