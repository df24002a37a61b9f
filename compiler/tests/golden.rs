//! Golden tests: `--explain` output (text and JSON) for the test configs,
//! and rendered diagnostics for broken configs, compared with files in
//! `testdata/`. Run with `UPDATE_EXPECT=1` to rewrite the expected files
//! after an intended change, then review the diff.

use std::path::{Path, PathBuf};

use tattletail_compiler::diag::render_all;
use tattletail_compiler::{compile, explain, pack};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn check(expected: &Path, actual: &str) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(expected, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with UPDATE_EXPECT=1",
            expected.display()
        )
    });
    assert!(
        want == actual,
        "{} differs (UPDATE_EXPECT=1 rewrites it)\n--- expected\n{want}\n--- actual\n{actual}",
        expected.display()
    );
}

#[test]
fn explain_goldens() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let configs = [
        (
            "pack",
            "<built-in rule pack>".to_string(),
            pack::DEFAULT_PACK.to_string(),
        ),
        (
            "adversarial",
            "testdata/rules/adversarial.toml".to_string(),
            read("testdata/rules/adversarial.toml"),
        ),
        (
            "readme",
            "testdata/rules/readme.toml".to_string(),
            read("testdata/rules/readme.toml"),
        ),
    ];
    for (stem, file, src) in configs {
        let compiled = compile(&src).unwrap_or_else(|d| panic!("{file}: {d:?}"));
        let dir = root().join("testdata/explain");
        check(
            &dir.join(format!("{stem}.txt")),
            &explain::text(&compiled.plan, &file, &src),
        );
        check(
            &dir.join(format!("{stem}.json")),
            &explain::json(&compiled.plan, &src),
        );
    }
}

#[test]
fn diagnostics_goldens() {
    let dir = root().join("testdata/diagnostics");
    let mut n = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let src = std::fs::read_to_string(&p).unwrap();
        let name = format!(
            "testdata/diagnostics/{}",
            p.file_name().unwrap().to_string_lossy()
        );
        let rendered = match compile(&src) {
            Ok(c) => render_all(&c.warnings, &name, &src),
            Err(d) => render_all(&d, &name, &src),
        };
        check(&p.with_extension("stderr"), &rendered);
        n += 1;
    }
    assert!(n >= 3);
}

#[test]
fn every_problem_is_reported_at_once() {
    let src =
        std::fs::read_to_string(root().join("testdata/diagnostics/every-problem.toml")).unwrap();
    let errs = compile(&src).unwrap_err();
    let errors = errs.iter().filter(|d| d.is_error()).count();
    // empty jq, jq syntax, unknown destination, undefined function, missing
    // jq_match, sns_arn, duplicate id, empty to_emails, missing from_email,
    // unknown type.
    assert_eq!(errors, 10, "{errs:#?}");
}
