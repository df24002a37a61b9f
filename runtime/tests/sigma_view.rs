//! The jq view of Sigma rules (`tattletail explain --format jq`) is the
//! program each Sigma rule runs: the view of SigmaHQ's AWS rules is
//! checked in (`testdata/sigma/sigmahq.jq.toml`, rewritten with
//! `UPDATE_EXPECT=1`), the differential test runs that file through gojq,
//! jq 1.6 and jaq like any rule file, and here the view, compiled as a
//! plain tattletail.toml, must give exactly the alerts of the compiled
//! Sigma rules on every record set.

mod common;

use tattletail_runtime::matcher::Matcher;

#[test]
fn the_jq_view_is_checked_in_and_gives_the_same_alerts() {
    let sigma = common::compile_sigma("", common::sigmahq_files());
    assert!(sigma.plan.rules.len() >= 55);
    let view = tattletail_compiler::sigma::view::toml(&sigma.plan);
    let path = common::root().join("testdata/sigma/sigmahq.jq.toml");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &view).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == view,
        "{} is not the current jq view of the SigmaHQ rules; UPDATE_EXPECT=1 rewrites it",
        path.display()
    );
    let jq = common::compile(&view);
    let n = sigma.plan.rules.len();
    assert_eq!(jq.plan.rules.len(), n);
    let mut fired = 0;
    for (set, records) in common::record_sets() {
        let a = common::evaluate(&mut Matcher::new(&sigma.plan), &records, n);
        let b = common::evaluate(&mut Matcher::new(&jq.plan), &records, n);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            for r in 0..n {
                assert_eq!(
                    x[r].is_some(),
                    y[r].is_some(),
                    "rule `{}` on {set} record {i}",
                    sigma.plan.rules[r].config.display_name()
                );
            }
            fired += x.iter().filter(|f| f.is_some()).count();
        }
    }
    assert!(
        fired > 50,
        "only {fired} alerts: the comparison proves little"
    );
}
