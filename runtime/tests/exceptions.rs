//! Exceptions in the matcher: they suppress only the alerts of the rules
//! they name, only while not expired, the same with the dispatch index and
//! without it, and an exception that fails suppresses nothing (and is
//! counted).

use tattletail_runtime::scan::CollectSink;
use tattletail_runtime::{Matcher, Scanner};

const CONFIG: &str = r#"
[[rule]]
name = "create"
jq_match = 'select(.eventName == "CreateUser")'

[[rule]]
name = "any"
jq_match = '.eventName'

[[exception]]
name = "ci"
reason = "CI creates users"
rules = ["create"]
jq_match = '.userIdentity.arn == "arn:ci"'

[[exception]]
name = "noisy source"
reason = "s3 is noisy"
jq_match = 'select(.eventSource == "s3.amazonaws.com") | true'

[[exception]]
name = "broken"
reason = "fails on every record"
rules = ["any"]
jq_match = '.eventName + 1'

[[exception]]
name = "expired"
reason = "gone"
jq_match = 'true'
expires = "2000-01-01"
"#;

const LOG: &str = r#"{"Records":[
{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","userIdentity":{"arn":"arn:ci"}},
{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","userIdentity":{"arn":"arn:human"}},
{"eventName":"GetObject","eventSource":"s3.amazonaws.com"}
]}"#;

fn scan(naive: bool) -> (Vec<(usize, u64)>, Vec<u64>, Vec<u64>) {
    let compiled = tattletail_compiler::compile(CONFIG).unwrap();
    let matcher = if naive {
        Matcher::naive(&compiled.plan)
    } else {
        Matcher::new(&compiled.plan)
    };
    let mut scanner = Scanner::with_matcher(matcher);
    let mut sink = CollectSink::default();
    scanner.scan("log.json", LOG.as_bytes(), &mut sink).unwrap();
    let alerts = sink.0.iter().map(|(r, _, i, _)| (*r, *i)).collect();
    let errors = scanner
        .stats
        .exception_errors
        .iter()
        .map(|(n, _)| *n)
        .collect();
    (alerts, scanner.stats.suppressed.clone(), errors)
}

#[test]
fn exceptions_suppress_what_they_name_while_active() {
    for naive in [false, true] {
        let (alerts, suppressed, errors) = scan(naive);
        // Record 0: `create` suppressed by `ci`; `any` not (ci names only
        // `create`; `broken` fails). Record 1: both alert. Record 2:
        // `any` suppressed by `noisy source` (it applies to every rule).
        assert_eq!(alerts, [(1, 0), (0, 1), (1, 1)], "naive: {naive}");
        assert_eq!(suppressed, [1, 1], "naive: {naive}");
        // `broken` ran on records 0 and 1 for `any` (on record 2 `noisy
        // source` suppressed first); `expired` never suppresses.
        assert_eq!(errors, [0, 0, 2], "naive: {naive}");
    }
}
