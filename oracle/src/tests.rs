//! The prelude and natives checked against jq's documented results (jq
//! manual and jq's own test suite, `shared/reference/jq-tests`).

use super::*;

fn val(json: &str) -> Val {
    jaq_json::read::parse_single(json.as_bytes()).expect("valid JSON")
}

/// All outputs of `prog` on `input`, as compact JSON (errors as `error`).
fn outputs(prog: &str, input: &str) -> Vec<String> {
    let p = JqProgram::compile(prog).unwrap_or_else(|e| panic!("{prog}: {e:?}"));
    p.all_outputs(val(input))
        .into_iter()
        .map(|r| match r {
            Ok(v) => v.to_string(),
            Err(_) => "error".to_string(),
        })
        .collect()
}

fn check(prog: &str, input: &str, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|w| val(w).to_string()).collect();
    assert_eq!(outputs(prog, input), want, "{prog} on {input}");
}

#[test]
fn in_with_one_and_two_arguments() {
    // jq.test: range(5;10)|IN(range(10))
    check(
        "[range(5;10)|IN(range(10))]",
        "null",
        &["[true,true,true,true,true]"],
    );
    check("[range(10;12)|IN(range(10))]", "null", &["[false,false]"]);
    check("IN(range(10;20); range(10))", "null", &["false"]);
    check("IN(range(5;20); range(10))", "null", &["true"]);
    check(
        r#".eventName | IN("A", "B")"#,
        r#"{"eventName":"B"}"#,
        &["true"],
    );
}

#[test]
fn index_builds_an_object() {
    // jq.test: INDEX(range(5)|[., "foo\(.)"]; .[0])
    check(
        r#"INDEX(range(5)|[., "foo\(.)"]; .[0])"#,
        "null",
        &[r#"{"0":[0,"foo0"],"1":[1,"foo1"],"2":[2,"foo2"],"3":[3,"foo3"],"4":[4,"foo4"]}"#],
    );
    check(
        "INDEX(.id)",
        r#"[{"id":"a"},{"id":"b"}]"#,
        &[r#"{"a":{"id":"a"},"b":{"id":"b"}}"#],
    );
}

#[test]
fn ascii_leaf_paths_tostream() {
    check("[65, 97] | map(ascii)", "null", &[r#"["A","a"]"#]);
    check("try (200 | ascii) catch \"bad\"", "null", &[r#""bad""#]);
    // jq manual: [leaf_paths]
    check(
        "[leaf_paths]",
        r#"[1,[[],{"a":2}]]"#,
        &["[[0],[1,1,\"a\"]]"],
    );
    // jq manual: [1|truncate_stream([[0],1],[[1,0],2],[[1,0]],[[1]])] and tostream
    check(
        "[tostream]",
        r#"{"a":[1,{"b":2}]}"#,
        &[r#"[[["a",0],1],[["a",1,"b"],2],[["a",1,"b"]],[["a",1]],[["a"]]]"#],
    );
}

#[test]
fn base32() {
    // jq manual: @base32d of "ORSXG5A=" is "test"
    check("@base32d", r#""ORSXG5A=""#, &[r#""test""#]);
    check("@base32", r#""test""#, &[r#""ORSXG5A=""#]);
    check(
        "@base32 | @base32d",
        r#""CloudTrail""#,
        &[r#""CloudTrail""#],
    );
}

#[test]
fn trimstr_on_strings_and_non_strings() {
    // jq.test: [.[]|ltrimstr("foo")] and rtrimstr
    check(
        r#"[.[]|ltrimstr("foo")]"#,
        r#"["fo", "foo", "barfoo", "foobar", "afoo"]"#,
        &[r#"["fo","","barfoo","bar","afoo"]"#],
    );
    check(
        r#"[.[]|rtrimstr("foo")]"#,
        r#"["fo", "foo", "barfoo", "foobar", "foob"]"#,
        &[r#"["fo","","bar","foobar","foob"]"#],
    );
    // jq 1.6/1.7 and gojq: non-strings pass through unchanged.
    check(r#"ltrimstr("a")"#, "1", &["1"]);
    check("ltrimstr(1)", r#""hi""#, &[r#""hi""#]);
    check(r#"rtrimstr("x")"#, r#"{"hey":[]}"#, &[r#"{"hey":[]}"#]);
}

#[test]
fn env_is_empty() {
    std::env::set_var("TATTLETAIL_SECRET_PROBE", "AKIA-not-for-rules");
    check("env", "null", &["{}"]);
    check("$ENV", "null", &["{}"]);
    check("$ENV.PATH", "null", &["null"]);
    check("env | length", "null", &["0"]);
}

#[test]
fn regexes_match_jq() {
    // jq manual examples.
    check(r#"test("foo")"#, r#""foo""#, &["true"]);
    check(
        r#".[] | test("a b c # spaces are ignored"; "ix")"#,
        r#"["xabcd", "ABC"]"#,
        &["true", "true"],
    );
    check(
        r#"match("(abc)+"; "g")"#,
        r#""abc abc""#,
        &[
            r#"{"offset":0,"length":3,"string":"abc","captures":[{"offset":0,"length":3,"string":"abc","name":null}]}"#,
            r#"{"offset":4,"length":3,"string":"abc","captures":[{"offset":4,"length":3,"string":"abc","name":null}]}"#,
        ],
    );
    // A group that does not take part is reported with offset -1 (jq), not dropped.
    check(
        r#"match("foo (?<bar123>bar)? foo"; "ig")"#,
        r#""foo bar foo foo  foo""#,
        &[
            r#"{"offset":0,"length":11,"string":"foo bar foo","captures":[{"offset":4,"length":3,"string":"bar","name":"bar123"}]}"#,
            r#"{"offset":12,"length":8,"string":"foo  foo","captures":[{"offset":-1,"length":0,"string":null,"name":"bar123"}]}"#,
        ],
    );
    check(
        r#"capture("(?<a>[a-z]+)-(?<n>[0-9]+)")"#,
        r#""xyzzy-14""#,
        &[r#"{"a":"xyzzy","n":"14"}"#],
    );
    check(r#"[scan("c")]"#, r#""abcdabcd""#, &[r#"["c","c"]"#]);
    check(
        r#"[splits(", *")]"#,
        r#""ab,cd, ef""#,
        &[r#"["ab","cd","ef"]"#],
    );
    check(
        r#"sub("^(?<head>.)"; "Head=\(.head) Tail=")"#,
        r#""abcdef""#,
        &[r#""Head=a Tail=bcdef""#],
    );
    check(
        r#"gsub("p"; "a")"#,
        r#""Abcdefghijklmnopqrstuvwxyz""#,
        &[r#""Abcdefghijklmnoaqrstuvwxyz""#],
    );
    // Offsets count characters, not bytes.
    check(r#"match("b").offset"#, r#""éb""#, &["1"]);
    // Errors are errors.
    check(
        r#"try test("(") catch "bad regex""#,
        r#""x""#,
        &[r#""bad regex""#],
    );
    check(
        r#"try test("a") catch "not a string""#,
        "1",
        &[r#""not a string""#],
    );
}

#[test]
fn first_output_semantics() {
    let p = |code: &str, input: &str| JqProgram::compile(code).unwrap().first_output(val(input));
    assert_eq!(p("empty", "{}"), FirstOutput::Empty);
    assert!(!p("null", "{}").is_alert());
    assert!(!p("false", "{}").is_alert());
    assert!(p("true", "{}").is_alert());
    assert!(p(r#""""#, "{}").is_alert());
    assert!(p("0", "{}").is_alert());
    assert!(p("[]", "{}").is_alert());
    // Only the first output counts.
    assert!(!p("false, true", "{}").is_alert());
    assert!(p("1, error(\"x\")", "{}").is_alert());
    assert!(matches!(
        p("error(\"boom\"), 1", "{}"),
        FirstOutput::Error(_)
    ));
    assert!(matches!(
        p(".a | startswith(\"x\")", "{}"),
        FirstOutput::Error(_)
    ));
}

#[test]
fn syntax_and_compile_errors_are_located() {
    let e = JqProgram::compile("select(.a == )").unwrap_err();
    assert!(e[0].message.starts_with("jq syntax"), "{e:?}");
    let e = JqProgram::compile("select(nosuchfn(1))").unwrap_err();
    assert_eq!(e[0].message, "undefined filter `nosuchfn`");
    assert_eq!(e[0].span, 7..15);
    let e = JqProgram::compile("$nope").unwrap_err();
    assert_eq!(e[0].span, 0..5);
    let e = JqProgram::compile(r#"import "x" as x; ."#).unwrap_err();
    assert!(e[0].message.contains("import"), "{e:?}");
}

#[test]
fn formats_and_helpers_jaq_lacks() {
    // jq manual: @csv and @tsv
    check(
        "@csv",
        r#"[1,"one\"two",null,true]"#,
        &[r#""1,\"one\"\"two\",,true""#],
    );
    check("@tsv", r#"[1,"a\tb\\c",null]"#, &[r#""1\ta\\tb\\\\c\t""#]);
    check("try @csv catch \"err\"", r#"[[1]]"#, &[r#""err""#]);
    // jq manual: [1|truncate_stream([[0],1],[[1,0],2],[[1,0]],[[1]])]
    check(
        "[1|truncate_stream([[0],1],[[1,0],2],[[1,0]],[[1]])]",
        "null",
        &["[[[0],2],[[0]]]"],
    );
    check("toarray", "1", &["[1]"]);
    check("toarray", "[1]", &["[1]"]);
    check(r#"trimstr("a")"#, r#""abca""#, &[r#""bc""#]);
    check("isvalid(error)", "null", &["false"]);
    check("input_filename", "null", &["null"]);
}
