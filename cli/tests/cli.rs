//! The `tattletail` and `tattletail-compile` binaries, run as a user would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tattletail(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tattletail"));
    cmd.args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn scans_the_samples_with_the_built_in_pack() {
    let out = tattletail(&["scan", "corpus/samples"], None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "CIS 4.5 CloudTrail configuration changes  arn:aws:iam::143434273843:user/christophe  \
             cloudtrail.amazonaws.com StopLogging  from 86.245.153.234"
        ),
        "{stdout}"
    );
    assert!(stderr.contains("scanned 17 files"), "{stderr}");
    assert!(
        stderr.contains("MB/s") && stderr.contains("alerts: "),
        "{stderr}"
    );
}

#[test]
fn jsonl_has_the_documented_keys() {
    let out = tattletail(
        &[
            "scan",
            "--format",
            "jsonl",
            "--config",
            "testdata/rules/readme.toml",
            "corpus/samples",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        for key in [
            "rule",
            "eventID",
            "eventName",
            "eventSource",
            "eventTime",
            "annotation",
            "destinations",
            "actor",
            "sourceIPAddress",
            "account",
            "region",
            "file",
            "index",
            "event",
        ] {
            assert!(l.get(key).is_some(), "missing {key} in {l}");
        }
    }
    let create = lines
        .iter()
        .find(|l| l["rule"] == "Create User")
        .expect("a CreateUser alert");
    assert!(
        create["annotation"]
            .as_str()
            .unwrap()
            .starts_with("username: "),
        "{create}"
    );
    assert_eq!(
        create["destinations"],
        serde_json::json!(["Default SNS", "Slack", "Email"])
    );
    let login = lines
        .iter()
        .find(|l| l["rule"] == "Console Login")
        .expect("a ConsoleLogin alert");
    assert_eq!(
        login["annotation"],
        serde_json::Value::Null,
        "a select() rule has no annotation"
    );
}

#[test]
fn invalid_config_exits_2_with_located_errors_and_scans_nothing() {
    let out = tattletail(
        &[
            "scan",
            "--config",
            "testdata/diagnostics/every-problem.toml",
            "corpus/samples",
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("--> testdata/diagnostics/every-problem.toml:12:22"),
        "{stderr}"
    );
    assert!(stderr.contains("^"), "{stderr}");
    assert!(stderr.contains("nothing was scanned"), "{stderr}");
    assert_eq!(stderr.matches("error: ").count(), 10, "{stderr}");
}

#[test]
fn broken_and_missing_inputs_exit_1_but_the_rest_is_scanned() {
    let out = tattletail(
        &[
            "scan",
            "corpus/broken",
            "corpus/samples/cloudtrail-tattletail-1.json",
            "no/such/file.json.gz",
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The upstream file with no `,` between its records (which jq refuses
    // whole) is read record by record since the reader resynchronises.
    assert!(!stderr.contains("unreadable corpus/broken"), "{stderr}");
    assert!(
        stderr.contains("unreadable no/such/file.json.gz: cannot open"),
        "{stderr}"
    );
    assert!(stderr.contains("scanned 2 files, 6 records"), "{stderr}");
}

#[test]
fn a_bad_record_is_reported_and_skipped() {
    let input = br#"{"Records":[{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"},{"eventName": oops},{"eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"}]}"#;
    let out = tattletail(&["scan", "-"], Some(input));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unreadable records: 1"), "{stderr}");
    assert!(
        stderr.contains(
            "<stdin> record 1 at byte 81: malformed JSON at byte 14 of the record near `o`"
        ),
        "{stderr}"
    );
    assert!(
        stdout.contains("StopLogging") && stdout.contains("DeleteTrail"),
        "{stdout}"
    );
}

#[test]
fn stdin_gzip_digest_empty_and_truncated() {
    let log = gzip(br#"{"Records":[{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventID":"e1"}]}"#);
    let out = tattletail(&["scan", "-"], Some(&log));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("eventID=e1"));

    let digest = gzip(br#"{"awsAccountId":"1","digestStartTime":"2026-01-01T00:00:00Z","digestEndTime":"x","digestS3Bucket":"b","logFiles":[]}"#);
    let out = tattletail(&["scan", "-"], Some(&digest));
    // Skipped, and no input was a CloudTrail log: not a silent success.
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("none of the inputs is a CloudTrail log (1 skipped"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("skipped <stdin>: CloudTrail digest file"),
        "{}",
        text(&out.stderr)
    );

    let out = tattletail(&["scan", "-"], Some(b""));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("skipped <stdin>: empty file"));

    let mut truncated = gzip(br#"{"Records":[{"eventName":"StopLogging"}]}"#);
    truncated.truncate(truncated.len() - 12);
    let out = tattletail(&["scan", "-"], Some(&truncated));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("unreadable <stdin>"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn no_index_gives_the_same_alerts() {
    let args = [
        "scan",
        "--format",
        "jsonl",
        "--config",
        "testdata/rules/adversarial.toml",
        "corpus/samples",
        "corpus/adversarial",
    ];
    let with = tattletail(&args, None);
    let mut naive_args = args.to_vec();
    naive_args.insert(1, "--no-index");
    let without = tattletail(&naive_args, None);
    assert_eq!(with.status.code(), Some(0), "{}", text(&with.stderr));
    assert!(!with.stdout.is_empty());
    assert_eq!(text(&with.stdout), text(&without.stdout));
}

#[test]
fn rule_errors_are_summarised_not_fatal() {
    let cfg = std::env::temp_dir().join(format!("tt-errors-{}.toml", std::process::id()));
    std::fs::write(
        &cfg,
        "[[rule]]\nname = \"boom\"\njq_match = '.requestParameters.userName | startswith(\"a\")'\n",
    )
    .unwrap();
    let out = tattletail(
        &["scan", "--config", cfg.to_str().unwrap(), "corpus/samples"],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rule errors: "), "{stderr}");
    assert!(stderr.contains("e.g. corpus/samples/"), "{stderr}");
    assert!(
        stderr.lines().filter(|l| l.contains("e.g.")).count() <= 1,
        "{stderr}"
    );
    std::fs::remove_file(cfg).ok();
}

#[test]
fn compile_explains_and_checks() {
    let bin = env!("CARGO_BIN_EXE_tattletail-compile");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let out = run(&["--explain", "--config", "testdata/rules/readme.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string(root().join("testdata/explain/readme.txt")).unwrap()
    );
    let out = run(&["--explain", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["rules"].as_array().unwrap().len() >= 20);
    let out = run(&[
        "--check",
        "--config",
        "testdata/diagnostics/every-problem.toml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("ok, 23 rules"));
}

/// A StopLogging event (the built-in pack alerts on it twice).
fn stop_logging(id: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"{id}","eventTime":"2026-01-01T00:00:00Z"}}"#
    )
}

/// `tattletail ARGS` with `input` on stdin: the exit status must be
/// `exit`, and every one of `ids` must have alerted; (stdout, stderr).
fn scan_stdin(args: &[&str], input: &[u8], exit: i32, ids: &[&str]) -> (String, String) {
    let out = tattletail(args, Some(input));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(exit), "{stderr}");
    for id in ids {
        assert!(stdout.contains(&format!("eventID={id}")), "{id}: {stdout}");
    }
    (stdout, stderr)
}

#[test]
fn a_byte_order_mark_and_repairable_values_cost_nothing() {
    let mut log = b"\xEF\xBB\xBF".to_vec();
    log.extend_from_slice(
        format!(
            r#"{{"Records":[{},{{"eventVersion":"1.08","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"odd","n":-1e400,"s":"\ud800","b":"#,
            stop_logging("first")
        )
        .as_bytes(),
    );
    log.extend_from_slice(b"\"\xff\"}]}");
    let (_, stderr) = scan_stdin(&["scan", "-"], &gzip(&log), 0, &["first", "odd"]);
    assert!(
        stderr.contains("read as jq reads them: <stdin>, 1 record (invalid UTF-8 read as U+FFFD, lone surrogate escapes read as U+FFFD, numbers beyond the double range"),
        "{stderr}"
    );
}

#[test]
fn a_record_over_the_size_limit_is_skipped_and_the_file_goes_on() {
    // 48 MiB of one string in a few hundred KB of gzip.
    let mut log = format!(
        r#"{{"Records":[{},{{"eventVersion":"1.08","p":""#,
        stop_logging("before")
    )
    .into_bytes();
    log.resize(log.len() + (48 << 20), b'A');
    log.extend_from_slice(format!(r#""}},{}]}}"#, stop_logging("after")).as_bytes());
    let (_, stderr) = scan_stdin(
        &["scan", "--max-record-size", "1MiB", "-"],
        &gzip(&log),
        1,
        &["before", "after"],
    );
    assert!(
        stderr.contains(&format!(
            "<stdin> record 1 at byte 157: the record is {} bytes, more than the maximum record size of 1048576 bytes (--max-record-size or TATTLETAIL_MAX_RECORD_BYTES)",
            (48 << 20) + 30
        )),
        "{stderr}"
    );
    assert!(stderr.contains("bytes skipped"), "{stderr}");

    // The same limit from the environment; a bad value is a usage error.
    let run = |value: &str| {
        Command::new(env!("CARGO_BIN_EXE_tattletail"))
            .args(["scan", "corpus/samples"])
            .current_dir(root())
            .env("TATTLETAIL_MAX_RECORD_BYTES", value)
            .output()
            .unwrap()
    };
    let out = run("lots");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("TATTLETAIL_MAX_RECORD_BYTES: `lots` is not a size"),
        "{}",
        text(&out.stderr)
    );
    let out = run("300");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("more than the maximum record size of 300 bytes"));
}

#[test]
fn a_broken_record_costs_only_itself_and_a_cut_file_says_truncated() {
    let log = format!(
        r#"{{"Records":[{},{{"eventVersion":"1.08","x":[1,2}},{}]}}"#,
        stop_logging("before"),
        stop_logging("after")
    );
    let (_, stderr) = scan_stdin(&["scan", "-"], log.as_bytes(), 1, &["before", "after"]);
    assert!(
        stderr.contains("<stdin> record 1 at byte 157: malformed record: `}` closes a `[` at byte 188; skipped 33 bytes up to the next record"),
        "{stderr}"
    );
    let cut = &log.as_bytes()[..log.len() - 40];
    let out = tattletail(&["scan", "-"], Some(&gzip(cut)));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "unexpected end of file inside record 2 starting at byte 190 (truncated file?)"
        ),
        "{stderr}"
    );
}

/// One element of a JUnit report, as [`parse_xml`] reads it.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, key: &str) -> &str {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| panic!("<{}> has no {key}", self.name), |(_, v)| v)
    }

    fn count(&self, key: &str) -> usize {
        self.attr(key)
            .parse()
            .unwrap_or_else(|e| panic!("<{}> {key}: {e}", self.name))
    }

    fn keys(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.attrs.iter().map(|(k, _)| k.as_str()).collect();
        k.sort_unstable();
        k
    }
}

/// Character data: the five predefined entities only, no raw markup.
fn unescape_xml(s: &str) -> String {
    assert!(!s.contains('<'), "raw < in {s:?}");
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .unwrap_or_else(|| panic!("unterminated entity in {s:?}"));
        out.push(match &rest[at..at + end + 1] {
            "&amp;" => '&',
            "&lt;" => '<',
            "&gt;" => '>',
            "&quot;" => '"',
            "&apos;" => '\'',
            other => panic!("unknown entity {other}"),
        });
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A minimal XML reader for the JUnit report: the prolog, then nested
/// elements with double-quoted attributes and text; every tag closed by
/// its own name.
fn parse_xml(xml: &str) -> Element {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("the XML declaration");
    let mut stack: Vec<Element> = vec![Element {
        name: "#document".into(),
        attrs: Vec::new(),
        children: Vec::new(),
        text: String::new(),
    }];
    let mut rest = body;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
            break;
        };
        let text = unescape_xml(&rest[..lt]);
        stack.last_mut().unwrap().text.push_str(&text);
        let gt = rest[lt..].find('>').expect("an unterminated tag") + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let done = stack.pop().unwrap();
            assert_eq!(done.name, name, "</{name}> closes <{}>", done.name);
            stack.last_mut().unwrap().children.push(done);
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let name_end = tag.find(' ').unwrap_or(tag.len());
        let mut element = Element {
            name: tag[..name_end].to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
            text: String::new(),
        };
        let mut attrs = tag[name_end..].trim_start();
        while !attrs.is_empty() {
            let eq = attrs.find("=\"").expect("attr=\"value\"");
            let key = attrs[..eq].to_string();
            let end = attrs[eq + 2..].find('"').expect("a closing quote") + eq + 2;
            assert!(!element.attrs.iter().any(|(k, _)| *k == key), "{key} twice");
            element.attrs.push((key, unescape_xml(&attrs[eq + 2..end])));
            attrs = attrs[end + 1..].trim_start();
        }
        if empty {
            stack.last_mut().unwrap().children.push(element);
        } else {
            stack.push(element);
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.pop().unwrap()
}

/// The shape CI tools read (the common JUnit schema): `testsuites` >
/// `testsuite` (name, tests, failures, errors, skipped, time) >
/// `testcase` (name, classname, time) > at most one `failure` (message)
/// or `skipped`; counts add up.
fn check_junit(xml: &str) -> Element {
    for c in xml.chars() {
        assert!(
            c == '\n' || !tattletail_compiler::escape::is_unsafe(c),
            "a raw control character {c:?} in the report"
        );
    }
    let root = parse_xml(xml);
    let counts = ["errors", "failures", "name", "skipped", "tests", "time"];
    assert_eq!(root.name, "testsuites");
    assert_eq!(root.keys(), counts);
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite");
        assert_eq!(suite.keys(), counts);
        assert_eq!(suite.count("tests"), suite.children.len());
        assert_eq!(suite.count("errors"), 0);
        assert!(suite.attr("time").parse::<f64>().unwrap() >= 0.0);
        let (mut f, mut s) = (0, 0);
        for case in &suite.children {
            assert_eq!(case.name, "testcase");
            assert_eq!(case.keys(), ["classname", "name", "time"]);
            assert_eq!(case.attr("classname"), suite.attr("name"));
            assert!(case.attr("time").parse::<f64>().unwrap() >= 0.0);
            assert!(case.children.len() <= 1, "{case:?}");
            for outcome in &case.children {
                assert_eq!(outcome.keys(), ["message"]);
                assert!(!outcome.attr("message").is_empty());
                match outcome.name.as_str() {
                    "failure" => f += 1,
                    "skipped" => s += 1,
                    other => panic!("<{other}> in a testcase"),
                }
            }
        }
        assert_eq!((suite.count("failures"), suite.count("skipped")), (f, s));
        tests += suite.children.len();
        failures += f;
        skipped += s;
    }
    assert_eq!(
        (
            root.count("tests"),
            root.count("failures"),
            root.count("skipped")
        ),
        (tests, failures, skipped)
    );
    root
}

/// `time="0.012"` → `time="<seconds>"`.
fn without_times(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find(" time=\"") {
        let start = at + " time=\"".len();
        out.push_str(&rest[..start]);
        out.push_str("<seconds>");
        let end = rest[start..].find('"').unwrap() + start;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn test_writes_a_junit_report_in_the_shape_ci_tools_read() {
    let dir = std::env::temp_dir().join(format!("tattletail-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.xml");
    let report_arg = report.to_str().unwrap();

    // Failures (escaped markup and control characters in names and
    // messages) and the golden file.
    let out = tattletail(
        &[
            "test",
            "--config",
            "testdata/cli/inputs/tests-fail.toml",
            "--junit",
            report_arg,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let xml = std::fs::read_to_string(&report).unwrap();
    let tree = check_junit(&xml);
    assert_eq!(
        (tree.count("tests"), tree.count("failures")),
        (10, 9),
        "{xml}"
    );
    let suites: Vec<&str> = tree.children.iter().map(|s| s.attr("name")).collect();
    assert_eq!(suites, ["Create User", "Lower-cased user", "Whole event"]);
    let wrong = &tree.children[0].children[1];
    assert_eq!(wrong.attr("name"), "wrong expect");
    assert_eq!(
        wrong.children[0].attr("message"),
        "expected no alert, got an alert with annotation \"username: bob\""
    );
    assert!(wrong.children[0].text.contains("tests-fail.toml:16:1"));
    let golden = root().join("testdata/cli/test-junit.xml");
    let normal = without_times(&xml);
    if std::env::var_os("UPDATE_EXPECT").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&golden, &normal).unwrap();
    } else {
        assert_eq!(
            std::fs::read_to_string(&golden).unwrap_or_default(),
            normal,
            "testdata/cli/test-junit.xml differs (UPDATE_EXPECT=1 rewrites it)"
        );
    }

    // Skipped tests; --filter leaves the others out of the report.
    let out = tattletail(
        &[
            "test",
            "--config",
            "testdata/cli/inputs/tests-pass.toml",
            "--filter",
            "Re",
            "--junit",
            report_arg,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tree = check_junit(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(
        (
            tree.count("tests"),
            tree.count("failures"),
            tree.count("skipped")
        ),
        (1, 0, 1)
    );
    assert_eq!(tree.children[0].children[0].children[0].name, "skipped");
    let _ = std::fs::remove_dir_all(&dir);
}
