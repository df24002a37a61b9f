use super::*;
use tattletail_compiler::{ir, syntax};

/// Every output of `src` on `input`, as compact JSON (errors as `error: …`).
pub fn outputs(src: &str, input: &str) -> Vec<String> {
    let ast = syntax::parse(src).unwrap_or_else(|e| panic!("{src}: {}", e.message));
    let prog = ir::lower(&ast).unwrap_or_else(|e| panic!("{src}: {e:?}"));
    let prep = Prepared::new(&prog);
    let mut bytes = input.as_bytes().to_vec();
    let tape = simd_json::to_tape(&mut bytes).expect("valid JSON input");
    let v = Value::from_tape(&tape.0);
    all_outputs(&prog, &prep, v, Limits::DEFAULT)
        .into_iter()
        .map(|r| match r {
            Ok(v) => {
                let mut s = String::new();
                json::write_value(&mut s, &v, 1000, usize::MAX).unwrap();
                s
            }
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

fn check(src: &str, input: &str, want: &[&str]) {
    assert_eq!(outputs(src, input), want, "{src} on {input}");
}

#[test]
fn basics() {
    check(".a", r#"{"a":1}"#, &["1"]);
    check(".a.b", r#"{"a":{"b":"x"}}"#, &["\"x\""]);
    check(".[]", "[1,2,3]", &["1", "2", "3"]);
    check("[.[] | . * 2]", "[1,2,3]", &["[2,4,6]"]);
    check("select(.a == 1)", r#"{"a":1}"#, &[r#"{"a":1}"#]);
    check(".a, .b", r#"{"a":1,"b":2}"#, &["1", "2"]);
    check("[(1,2) + (10,20)]", "null", &["[11,12,21,22]"]);
    check(
        "[(true,false) and (true,false)]",
        "null",
        &["[true,false,false]"],
    );
    check(
        r#""\(1,2)-\(3,4)""#,
        "null",
        &[r#""1-3""#, r#""2-3""#, r#""1-4""#, r#""2-4""#],
    );
    check(
        "{a:(1,2),b:(3,4)}",
        "null",
        &[
            r#"{"a":1,"b":3}"#,
            r#"{"a":1,"b":4}"#,
            r#"{"a":2,"b":3}"#,
            r#"{"a":2,"b":4}"#,
        ],
    );
    check("[.[(0,1)][(0,1)]]", "[[1,2],[3,4]]", &["[1,3,2,4]"]);
    check(
        "500.0, 1e1000, 1e17, 0.00001, 1e-7, -0.0",
        "null",
        &[
            "500",
            "1.7976931348623157e+308",
            "100000000000000000",
            "0.00001",
            "1e-7",
            "-0",
        ],
    );
    check(r#""\(500.0)""#, "null", &[r#""500""#]);
    check("[limit(3; repeat(1))]", "null", &["[1,1,1]"]);
    check("[limit(3; 1 | repeat(. * 2))]", "null", &["[2,2,2]"]);
    check("[.. | numbers]", r#"{"a":[1,{"b":2}]}"#, &["[1,2]"]);
    check("reduce .[] as $x (0; . + $x)", "[1,2,3]", &["6"]);
    check(
        "[foreach (1,2) as $x (0; .+$x, .*10)]",
        "null",
        &["[1,0,2,0]"],
    );
    check("[reduce (1,2) as $x (0; empty)]", "null", &["[0]"]);
    check("def f: . + 1; def g(h): h | h; g(f)", "1", &["3"]);
    check(
        "def fact: if . <= 1 then 1 else . * (. - 1 | fact) end; fact",
        "10",
        &["3628800"],
    );
    check(
        ". as [$a, {b: $c}] | [$a, $c]",
        r#"[1, {"b": 2}]"#,
        &["[1,2]"],
    );
    check("[label $f | 1, break $f, 2]", "null", &["[1]"]);
    check("try error(\"x\") catch .", "null", &["\"x\""]);
    check(
        "[.[] | try if . == 2 then error(\"no\") else . end catch \"caught\"]",
        "[1,2,3]",
        &[r#"[1,"caught",3]"#],
    );
    check(".a |= . + 1", r#"{"a":1}"#, &[r#"{"a":2}"#]);
    check("[paths]", r#"{"a":[1]}"#, &[r#"[["a"],["a",0]]"#]);
    check("del(.a)", r#"{"a":1,"b":2}"#, &[r#"{"b":2}"#]);
    check("to_entries", r#"{"a":1}"#, &[r#"[{"key":"a","value":1}]"#]);
    check("with_entries(.value += 1)", r#"{"a":1}"#, &[r#"{"a":2}"#]);
    check("[.[] |= empty]", "[1,2,3]", &["[[]]"]);
    check("test(\"A\"; \"i\")", "\"a\"", &["true"]);
    check("[match(\"a\"; \"g\").offset]", "\"aXa\"", &["[0,2]"]);
    check("sub(\"(?<x>b)\"; \"[\\(.x)]\")", "\"abc\"", &["\"a[b]c\""]);
    check(
        "[gsub(\"-\"; \"1\", \"2\")]",
        "\"a-b-c\"",
        &[r#"["a1b1c","a2b1c","a1b2c","a2b2c"]"#],
    );
    check("gsub(\"\"; \"-\")", "\"abc\"", &["\"-a-b-c-\""]);
    check("[splits(\"\")]", "\"ab\"", &[r#"["a","b"]"#]);
    check(
        "capture(\"(?<x>a)(?<y>z)?\")",
        "\"ab\"",
        &[r#"{"x":"a","y":null}"#],
    );
    check(
        "fromdateiso8601",
        "\"2015-03-05T23:51:47Z\"",
        &["1425599507"],
    );
    check("todate", "1425599507", &["\"2015-03-05T23:51:47Z\""]);
    check(
        "[1,null,\"a\",true] | join(\"-\")",
        "null",
        &["\"1--a-true\""],
    );
    check("@base64d", "\"aGVsbG8\"", &["\"hello\""]);
    check("[limit(-1; 1, 2)]", "null", &["[1,2]"]);
    check("[1,[2]] | try flatten(-1) catch \"E\"", "null", &["\"E\""]);
    check("tostring", r#"{"b":1,"a":2}"#, &[r#""{\"b\":1,\"a\":2}""#]);
    check(
        "[.[] | tostring]",
        "[1, 1.5, \"x\", null]",
        &[r#"["1","1.5","x","null"]"#],
    );
    check("$__loc__", "null", &[r#"{"file":"<top-level>","line":1}"#]);
    check("[range(5;0;-2)]", "null", &["[5,3,1]"]);
    check("[range(0,1;3,4)]", "null", &["[0,1,2,0,1,2,3,1,2,1,2,3]"]);
    check(
        "[{} | setpath([\"a\"],[\"b\"]; 1,2)]",
        "null",
        &[r#"[{"a":1},{"b":1},{"a":2},{"b":2}]"#],
    );
    check("[pow(2,3; 1,2)]", "null", &["[2,3,4,9]"]);
    check("[.[] as [$a] ?// $a | $a]", "[[1], 2]", &["[1,2]"]);
    check("[nth(5; range(3))]", "null", &["[]"]);
    check(
        "\"x\" * 0, \"x\" * 0.5, \"x\" * 2.7",
        "null",
        &["null", "\"x\"", "\"xx\""],
    );
    check("[5 % -2, -5 % 2, 5.5 % 2]", "null", &["[1,-1,1]"]);
}

#[test]
fn errors_and_downstream() {
    // An error downstream of try is not caught by it.
    check(
        "[(try (1,2)) | if . == 2 then error(\"x\") else . end]",
        "null",
        &["error: x"],
    );
    check("[(1, error(\"x\"), 2) // 3]", "null", &["error: x"]);
    check(".a.b", "1", &["error: Cannot index number with \"a\""]);
    check("[.[]?]", "1", &["[]"]);
    check("try error(null) catch \"caught\"", "null", &[] as &[&str]);
}

#[test]
fn budgets() {
    let run = |src: &str| outputs(src, "null");
    assert!(
        run("until(false; .)")[0].contains("budget exceeded"),
        "{:?}",
        run("until(false; .)")
    );
    assert!(run("def f: f; f")[0].contains("budget exceeded"));
    assert!(run("last(range(1e18))")[0].contains("budget exceeded"));
    assert!(run("[range(1e9)]")[0].contains("budget exceeded"));
    assert!(run("reduce range(40) as $i (\"x\"; .+.)")[0].contains("budget exceeded"));
    assert!(run("reduce range(1e6) as $i (0; [.])")[0].contains("budget exceeded"));
    assert!(run("[repeat(.) | select(type==\"number\")]")[0].contains("budget exceeded"));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let src = format!("\"{deep}\" | fromjson");
    assert!(outputs(&src, "null")[0].contains("budget exceeded"));
    // Work inside one builtin call is billed as it goes: quadratic
    // containment and sub-array search stop at the budget.
    let over = |src: &str| {
        let out = run(src);
        assert!(out[0].contains("budget exceeded"), "{src}: {out:?}");
    };
    over("[range(20000)] as $a | $a | contains($a | reverse)");
    over("[range(1e5) | 0] as $a | $a | indices($a[:50000] + [1])");
    over("[range(3000) | tostring] as $a | [range(3000) | $a == ($a | .[-1] = \"x\")] | length");
    over("[range(1001)] | reduce .[] as $i (0; [.]) | contains(.)");
    // A closure argument of a recursive function: deep continuations.
    over("def f(g): [g, f(g)]; f(1)");
    // Many matches: one pass, no recursion per match.
    let s = " ".repeat(50_000);
    assert_eq!(
        outputs(&format!("\"{s}\" | gsub(\" \"; \"\") | length"), "null"),
        ["0"]
    );
}
