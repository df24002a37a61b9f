//! Table tests for prefilter extraction, with tiny constructors in the
//! style of regex-syntax's literal tests.

use super::*;

fn names(n: &[&str]) -> FieldCond {
    FieldCond::In(KeySet::names(n.iter().copied()))
}
fn prefixes(p: &[&str]) -> FieldCond {
    FieldCond::In(KeySet::prefixes(p.iter().copied()))
}
fn any() -> FieldCond {
    FieldCond::any()
}
/// Prefilter on (eventName, eventSource).
fn keys(event_name: FieldCond, event_source: FieldCond) -> Prefilter {
    Prefilter::Keys(KeyConds {
        event_name,
        event_source,
        ..KeyConds::any()
    })
}
fn n(x: &[&str]) -> Prefilter {
    keys(names(x), any())
}

/// Analyse a jq program.
fn analyze_src(jq: &str) -> Analysis {
    let p = crate::plan::compile_program(jq).unwrap_or_else(|e| panic!("{jq}: {e:?}"));
    analyze(&p)
}

#[track_caller]
fn check(jq: &str, want: Prefilter, exact: bool) {
    let a = analyze_src(jq);
    assert_eq!(a.prefilter, want, "{jq}\nnotes: {:?}", a.notes);
    assert_eq!(a.exact, exact, "exactness of {jq}");
}

#[test]
fn equality_and_selects() {
    check(r#"select(.eventName == "A")"#, n(&["A"]), true);
    check(r#"select("A" == .eventName)"#, n(&["A"]), true);
    check(r#".eventName == "A""#, n(&["A"]), true);
    check(r#"select(.["eventName"] == "A")"#, n(&["A"]), true);
    check(r#"select(."eventName" == "A")"#, n(&["A"]), true);
    check(r#"select(.eventName? == "A")"#, n(&["A"]), true);
    check(r#"select(.eventName == "A\u0042\t")"#, n(&["AB\t"]), true);
    check(r#"select(.eventName == ("A", "B"))"#, n(&["A", "B"]), true);
    check(
        r#"select(.eventSource == "s3.amazonaws.com")"#,
        keys(any(), names(&["s3.amazonaws.com"])),
        true,
    );
    check(
        r#"select(.eventSource == "s3.amazonaws.com" and .eventName == "PutBucketPolicy")"#,
        keys(names(&["PutBucketPolicy"]), names(&["s3.amazonaws.com"])),
        true,
    );
    check(
        r#"select(.eventName == "A") | select(.eventName == "B")"#,
        Prefilter::Never,
        true,
    );
    check(
        r#"select(.eventName == "A") | select(.eventSource == "s")"#,
        keys(names(&["A"]), names(&["s"])),
        true,
    );
    check(
        r#"select(.eventName == "A") | .requestParameters"#,
        n(&["A"]),
        false,
    );
    check(
        r#"select(.eventName == "A") | "user: \(.userIdentity.arn)""#,
        n(&["A"]),
        false,
    );
}

#[test]
fn boolean_connectives() {
    check(
        r#"select(.eventName == "A" or .eventName == "B")"#,
        n(&["A", "B"]),
        true,
    );
    check(
        r#"select(.eventName | . == "A" or . == "B")"#,
        n(&["A", "B"]),
        true,
    );
    check(
        r#"select(.eventName == "A" and .userIdentity.type == "Root")"#,
        n(&["A"]),
        false,
    );
    check(
        r#"select(.eventName == "A" or .userIdentity.type == "Root")"#,
        Prefilter::Any,
        false,
    );
    check(
        r#"select(.eventName != "A")"#,
        keys(names(&["A"]).not(), any()),
        true,
    );
    check(
        r#"select(.eventName == "A" | not)"#,
        keys(names(&["A"]).not(), any()),
        true,
    );
    check(
        r#"select((.eventName == "A" or .eventName == "B") | not | not)"#,
        n(&["A", "B"]),
        true,
    );
    check(
        r#"select(.eventName == "A" and .eventSource == "s" | not)"#,
        Prefilter::Any,
        false,
    );
    check(
        r#"select(.eventName == "A" and .eventName != "B")"#,
        n(&["A"]),
        true,
    );
}

#[test]
fn alternatives_commas_conditionals_try() {
    check(
        r#"select(.eventName == "A"), select(.eventName == "B")"#,
        n(&["A", "B"]),
        true,
    );
    check(
        r#"select(.eventName == "A") // select(.eventName == "B")"#,
        n(&["A", "B"]),
        true,
    );
    check(r#"(.eventName == "A") // false"#, n(&["A"]), true);
    check(
        r#"if .eventName == "A" then true else false end"#,
        n(&["A"]),
        true,
    );
    check(
        r#"if .eventName == "A" then .x else empty end"#,
        n(&["A"]),
        false,
    );
    // A missing else is `.`: the record itself, always truthy.
    check(
        r#"if .eventName == "A" then empty end"#,
        keys(names(&["A"]).not(), any()),
        true,
    );
    check(
        r#"if .eventName == "A" then 1 elif .eventName == "B" then 2 else null end"#,
        n(&["A", "B"]),
        true,
    );
    check(r#"try select(.eventName == "A")"#, n(&["A"]), true);
    check(
        r#"try select(.eventName == "A") catch empty"#,
        n(&["A"]),
        true,
    );
    check(
        r#"try select(.eventName == "A") catch true"#,
        Prefilter::Any,
        false,
    );
}

#[test]
fn builtins() {
    check(
        r#"select(.eventName | startswith("Create"))"#,
        keys(prefixes(&["Create"]), any()),
        true,
    );
    check(r#"select(.eventName | IN("A", "B"))"#, n(&["A", "B"]), true);
    check(r#"select(IN(.eventName; "A", "B"))"#, n(&["A", "B"]), true);
    check(
        r#"select(.eventName | test("^(A|B)$"))"#,
        n(&["A", "B"]),
        true,
    );
    check(
        r#"select(.eventName | test("^Delete"))"#,
        keys(prefixes(&["Delete"]), any()),
        true,
    );
    check(
        r#"select(.eventName | test("^Create[A-Z]"))"#,
        keys(prefixes(&["Create"]), any()),
        false,
    );
    check(
        r#"select(.eventName | test("Create"))"#,
        Prefilter::Any,
        false,
    );
    check(
        r#"select(.eventName | test("^Create"; "i"))"#,
        Prefilter::Any,
        false,
    );
    check(
        r#"select(.eventName | test("^(Get|List)") | not)"#,
        keys(prefixes(&["Get", "List"]).not(), any()),
        false,
    );
    check(
        r#"select(.eventName | startswith("Get") | not)"#,
        keys(prefixes(&["Get"]).not(), any()),
        false,
    );
    check("empty", Prefilter::Never, true);
    check("error(\"x\")", Prefilter::Never, true);
    check("true", Prefilter::Any, true);
    check("null", Prefilter::Never, true);
}

#[test]
fn unknown_forms_give_any_with_a_reason() {
    for jq in [
        r#"select(reduce .x[] as $i (false; . or $i))"#,
        r#"select([..] | length > 3)"#,
        r#"select(.eventName | endswith("Trail"))"#,
    ] {
        let a = analyze_src(jq);
        assert_eq!(a.prefilter, Prefilter::Any, "{jq}");
        assert!(
            !a.notes.is_empty() || jq.contains("endswith"),
            "{jq} has no reason"
        );
    }
}

/// Names are resolved in the IR: a rule's own `select` or `IN` is simply
/// what the rule says it is, and the analysis follows it exactly.
#[test]
fn shadowing_is_resolved_by_lowering() {
    for jq in [
        r#"def select(f): .; select(.eventName == "A")"#,
        r#"def not: true; select(.eventName == "A" | not)"#,
        r#"def IN(s): true; select(.eventName | IN("A"))"#,
    ] {
        assert_eq!(analyze_src(jq).prefilter, Prefilter::Any, "{jq}");
    }
    // A parameter `select` is select/0; select/1 is still the builtin.
    check(
        r#"def f(select): select(.eventName == "A"); f(.)"#,
        n(&["A"]),
        true,
    );
    // A def that does not shadow anything is fine, and inlined.
    check(
        r#"def isroot: .userIdentity.type == "Root"; select(.eventName == "A" and isroot)"#,
        n(&["A"]),
        false,
    );
    check(
        r#"def sensitive: IN("CreateUser", "DeleteTrail"); select(.eventName | sensitive)"#,
        n(&["CreateUser", "DeleteTrail"]),
        true,
    );
    // Variables bound to a field carry its condition.
    check(r#".eventName as $n | select($n == "A")"#, n(&["A"]), true);
}

#[test]
fn required_literals() {
    let lits = |jq: &str| -> Option<Vec<String>> {
        analyze_src(jq).literals.map(|ls| {
            ls.iter()
                .map(|l| format!("{}{}", l.text(), if l.ascii_ci { "/i" } else { "" }))
                .collect()
        })
    };
    let one = |s: &str| Some(vec![s.to_string()]);
    assert_eq!(
        lits(r#"select(.errorCode == "AccessDenied")"#),
        one("AccessDenied")
    );
    assert_eq!(
        lits(r#"select(.eventName == "X")"#),
        None,
        "the index covers eventName"
    );
    assert_eq!(
        lits(r#"select(.eventName == "X" and .errorCode == "AccessDenied")"#),
        one("AccessDenied")
    );
    assert_eq!(
        lits(r#"select([.. | strings] | any(test("secrets/")))"#),
        one("secrets/")
    );
    assert_eq!(
        lits(r#"select(any(.. | strings; test("AKIA[0-9A-Z]{16}")))"#),
        one("AKIA")
    );
    assert_eq!(
        lits(r#"select(tostring | test("AKIA[0-9A-Z]{16}"))"#),
        one("AKIA")
    );
    // The `i` flag: the whole literal, any case (not the first letters
    // of its case variants), and none when it has non-ASCII letters.
    assert_eq!(
        lits(r#"select(.errorMessage | test("^consolelogin failed$"; "i"))"#),
        one("consolelogin failed/i")
    );
    assert_eq!(
        lits(r#"select(.errorMessage | test("\u212aey"; "i"))"#),
        None
    );
    // Literals inside the pattern, not only at its start.
    assert_eq!(
        lits(r#"select(.userIdentity.arn // "" | test(".+:assumed-role/aws:.+"))"#),
        one(":assumed-role/aws:")
    );
    assert_eq!(
        lits(r#".userAgent // "" | capture("(?<tool>kali|pacu|prowler)"; "i")"#),
        Some(vec!["kali/i".into(), "pacu/i".into(), "prowler/i".into()])
    );
    assert_eq!(lits(r#"select(.a | test("x(abc)?y"))"#), None);
    assert_eq!(lits(r#"select(.a | test("[0-9]+(abc|de)"))"#), None);
    assert_eq!(
        lits(r#"select(.userAgent | ascii_downcase | contains("python"))"#),
        one("python/i")
    );
    assert_eq!(
        lits(r#"select(.errorCode | IN("AccessDenied", "UnauthorizedOperation"))"#),
        Some(vec!["AccessDenied".into(), "UnauthorizedOperation".into()])
    );
    assert_eq!(
        lits(r#"select(.errorCode == "AccessDenied" or .errorCode == "Throttling")"#),
        Some(vec!["AccessDenied".into(), "Throttling".into()])
    );
    assert_eq!(
        lits(r#"select(.errorCode == "AccessDenied" or .x == 1)"#),
        None
    );
    assert_eq!(lits(r#"select(.errorCode != "AccessDenied")"#), None);
    // `null` prints as null: a missing field's tostring contains "ul".
    assert_eq!(lits(r#"select(.x | tostring | contains("ul"))"#), None);
    assert_eq!(lits(r#"select(.x | tostring | contains("12"))"#), None);
    assert_eq!(lits(r#"select(.a // "xyz" | contains("xyz"))"#), None);
    // Constants bound to variables, defaults, lowercase.
    assert_eq!(
        lits(
            r#"["1.2.3.4", "5.6.7.8"] as $bad | select(.sourceIPAddress as $ip | any($bad[]; . == $ip))"#
        ),
        Some(vec!["1.2.3.4".into(), "5.6.7.8".into()])
    );
    assert_eq!(
        lits(r#"select((.userAgent // "" | ascii_downcase) == "trufflehog")"#),
        one("trufflehog/i")
    );
    assert_eq!(
        lits(r#"select((.userAgent // "TruffleHog" | ascii_downcase) == "trufflehog")"#),
        None
    );
    assert_eq!(
        lits(r#"select(any(del(.userIdentity) | .. | strings; test("(?i)AKIA[0-9A-Z]{16}")))"#),
        one("akia/i")
    );
    assert_eq!(
        lits(r#"select(.errorCode == "AccessDenied") | "\(.userIdentity.arn) denied""#),
        one("AccessDenied")
    );
}

#[test]
fn index_only_modes() {
    let mode = |jq: &str| analyze_src(jq).index_only;
    assert_eq!(
        mode(r#"select(.eventName == "A")"#),
        Some(IndexOnly::Record)
    );
    assert_eq!(
        mode(r#"select(.eventSource == "s" and (.eventName | IN("A","B")))"#),
        Some(IndexOnly::Record)
    );
    assert_eq!(
        mode(r#"select(.eventName | startswith("Get"))"#),
        Some(IndexOnly::Record)
    );
    assert_eq!(mode(r#".eventName == "A""#), Some(IndexOnly::True));
    assert_eq!(mode(r#".eventName != "A""#), Some(IndexOnly::True));
    assert_eq!(mode(r#"select(.eventName == "A") | .x"#), None);
    assert_eq!(mode(r#"select(.eventName == ("A", "B"))"#), None);
    assert_eq!(mode(r#"select(.eventName == "A" and .x == 1)"#), None);
    assert_eq!(mode(r#"select(.eventName | test("^Create[A-Z]"))"#), None);
}

/// The last operand of `//` runs only where the others had no truthy
/// output, so its falsy outputs count only there (found by
/// runtime/tests/property.rs: `((.eventName != "A") // false) | not` was
/// "every event, exact", so the index alerted on every event but "A").
#[test]
fn negated_alternatives() {
    check(
        r#"select(((.eventName != "A") // false) | not)"#,
        n(&["A"]),
        true,
    );
    check(
        r#"select(("A" != .eventName // .eventName == "A") | not)"#,
        Prefilter::Never,
        true,
    );
    check(
        r#"select(((.eventName == "A") // true) | not)"#,
        Prefilter::Never,
        true,
    );
    // The earlier operands constrain two fields: their complement is not
    // one condition, so the falsy side is only an over-approximation.
    check(
        r#"select(((.eventName == "A" and .eventSource == "s") // false) | not)"#,
        Prefilter::Any,
        false,
    );
    check(
        r#"select((.eventName | startswith("Get")) // .eventName == "X" | not)"#,
        keys(
            FieldCond::In(KeySet::names(["X"]).union(&KeySet::prefixes(["Get"]))).not(),
            any(),
        ),
        false,
    );
}

// ---- case-insensitive (ASCII-folded) conditions -------------------------

/// Prefilter on eventName's ASCII lowercase only.
fn folded_name(c: FieldCond) -> Prefilter {
    Prefilter::Keys(KeyConds {
        event_name_folded: c,
        ..KeyConds::any()
    })
}
/// Prefilter on eventSource's ASCII lowercase only.
fn folded_source(c: FieldCond) -> Prefilter {
    Prefilter::Keys(KeyConds {
        event_source_folded: c,
        ..KeyConds::any()
    })
}
/// Strings of a set, plus "missing or not a string".
fn with_other(mut s: KeySet) -> KeySet {
    s.other = true;
    s
}

#[track_caller]
fn check_mode(jq: &str, want: Option<IndexOnly>) {
    assert_eq!(analyze_src(jq).index_only, want, "index-only mode of {jq}");
}

#[test]
fn folded_equality_is_exact_and_index_only() {
    let jq = r#"(.eventName | ascii_downcase) == "deletetrail""#;
    check(jq, folded_name(names(&["deletetrail"])), true);
    check_mode(jq, Some(IndexOnly::True));
    let jq = r#"select(.eventName | ascii_downcase == "deletetrail")"#;
    check(jq, folded_name(names(&["deletetrail"])), true);
    check_mode(jq, Some(IndexOnly::Record));
    let jq = r#"select("cloudtrail.amazonaws.com" == (.eventSource | ascii_downcase))"#;
    check(
        jq,
        folded_source(names(&["cloudtrail.amazonaws.com"])),
        true,
    );
    // The folded value twice is the same value.
    check(
        r#"select(.eventName | ascii_downcase | ascii_downcase == "x")"#,
        folded_name(names(&["x"])),
        true,
    );
    // No folded value has an upper-case letter.
    check(
        r#"select((.eventName | ascii_downcase) == "DeleteTrail")"#,
        Prefilter::Never,
        true,
    );
    // Folded conditions meet case-sensitive ones in one box.
    check(
        r#"select(.eventSource == "s3.amazonaws.com" and (.eventName | ascii_downcase) == "x")"#,
        Prefilter::Keys(KeyConds {
            event_source: names(&["s3.amazonaws.com"]),
            event_name_folded: names(&["x"]),
            ..KeyConds::any()
        }),
        true,
    );
}

#[test]
fn folded_negation_excludes_only_the_folded_value() {
    let jq = r#"select((.eventName | ascii_downcase) == "x" | not)"#;
    // `ascii_downcase` fails on non-strings: no output, no alert there.
    let want = folded_name(FieldCond::NotIn(with_other(KeySet::names(["x"]))));
    check(jq, want.clone(), true);
    check_mode(jq, Some(IndexOnly::Record));
    for (name, admitted) in [
        (Some("x"), false),
        (Some("X"), false),
        (Some("Y"), true),
        (Some("xx"), true),
        (None, false),
    ] {
        assert_eq!(want.admits(name, None), admitted, "{name:?}");
    }
    check(
        r#"select((.eventName | ascii_downcase) != "x")"#,
        want.clone(),
        true,
    );
    // `!=` of an upper-case literal: every string.
    check(
        r#"select((.eventName | ascii_downcase) != "X")"#,
        keys(prefixes(&[""]), any()),
        true,
    );
}

#[test]
fn folded_builtins() {
    let jq = r#"select(.eventName | ascii_downcase | startswith("delete"))"#;
    check(jq, folded_name(prefixes(&["delete"])), true);
    check_mode(jq, Some(IndexOnly::Record));
    // A folded value is always a string: the negation is exact too.
    check(
        r#"select(.eventName | ascii_downcase | startswith("get") | not)"#,
        folded_name(FieldCond::NotIn(with_other(KeySet::prefixes(["get"])))),
        true,
    );
    check(
        r#"select(.eventSource | ascii_downcase | test("^(iam|sts)\\."))"#,
        folded_source(prefixes(&["iam.", "sts."])),
        true,
    );
    check(
        r#"select(.eventName | ascii_downcase | test("^(stoplogging|deletetrail)$") | not)"#,
        folded_name(FieldCond::NotIn(with_other(KeySet::names([
            "deletetrail",
            "stoplogging",
        ])))),
        true,
    );
    check(
        r#"select(.eventName | ascii_downcase | test("^create[a-z]"))"#,
        folded_name(prefixes(&["create"])),
        false,
    );
    check(
        r#"select(.eventName | ascii_downcase | IN("deletetrail", "stoplogging"))"#,
        folded_name(names(&["deletetrail", "stoplogging"])),
        true,
    );
    check_mode(
        r#"select(.eventName | ascii_downcase | IN("deletetrail", "stoplogging"))"#,
        Some(IndexOnly::Record),
    );
    check(
        r#"select(.eventName | ascii_downcase | . == "a" or . == "b")"#,
        folded_name(names(&["a", "b"])),
        true,
    );
    check(
        r#"select(.eventName | ascii_downcase | . == "a" or . == "B")"#,
        folded_name(names(&["a"])),
        true,
    );
}

#[test]
fn folded_through_defs_and_variables() {
    check(
        r#"def is($v): (.eventName | ascii_downcase) == $v; select(is("deletetrail"))"#,
        folded_name(names(&["deletetrail"])),
        true,
    );
    // Sigma's shape: both sides folded, the literal too.
    check(
        r#"def eq(f; $v): (f | ascii_downcase) == ($v | ascii_downcase);
           select(eq(.eventName; "DeleteTrail") or eq(.eventName; "StopLogging"))"#,
        folded_name(names(&["deletetrail", "stoplogging"])),
        true,
    );
    check(
        r#""DeleteTrail" as $v | select((.eventName | ascii_downcase) == ($v | ascii_downcase))"#,
        folded_name(names(&["deletetrail"])),
        true,
    );
    check(
        r#"def any_of($a; $b): ascii_downcase | IN($a, $b); select(.eventName | any_of("x"; "y"))"#,
        folded_name(names(&["x", "y"])),
        true,
    );
}

#[test]
fn type_tests_on_fields() {
    let jq = r#"select(.eventName | type == "string")"#;
    check(jq, keys(prefixes(&[""]), any()), true);
    check_mode(jq, Some(IndexOnly::Record));
    check(
        r#"select(.eventName | type != "string")"#,
        keys(FieldCond::In(KeySet::other()), any()),
        true,
    );
    check(
        r#"select(.eventSource | type == "array")"#,
        keys(any(), FieldCond::In(KeySet::other())),
        false,
    );
    check(
        r#"select(.eventName | type == "text")"#,
        Prefilter::Never,
        true,
    );
    // Branches are analysed where their condition holds.
    check(
        r#"select(.eventName | if type == "string" then ascii_downcase == "x" else false end)"#,
        folded_name(names(&["x"])),
        true,
    );
    // Arrays are inside "not a string": sound, usable, inexact.
    let jq = r#"select(.eventName | if type == "string" then ascii_downcase == "x"
        elif type == "array" then any(.[]; type == "string" and ascii_downcase == "x")
        else false end)"#;
    check(
        jq,
        folded_name(FieldCond::In(with_other(KeySet::names(["x"])))),
        false,
    );
    let p = analyze_src(jq).prefilter;
    assert!(p.admits(Some("X"), None) && p.admits(None, None));
    assert!(!p.admits(Some("Y"), None));
    // Its negation: every record but the folded value "x".
    check(
        &format!("select({} | not)", &jq[7..jq.len() - 1]),
        folded_name(FieldCond::NotIn(KeySet::names(["x"]))),
        false,
    );
    // The type of a folded value is "string".
    check(
        r#"select(.eventName | ascii_downcase | type == "string")"#,
        keys(prefixes(&[""]), any()),
        true,
    );
}

#[test]
fn any_over_one_value() {
    let jq = r#"select(any(.eventName; ascii_downcase == "x"))"#;
    check(jq, folded_name(names(&["x"])), true);
    check_mode(jq, Some(IndexOnly::Record));
    check(
        r#"select(any(.eventName; ascii_downcase == "x") | not)"#,
        folded_name(FieldCond::NotIn(with_other(KeySet::names(["x"])))),
        true,
    );
    check(
        r#"select(any(.eventSource; . == "s" or . == "t"))"#,
        keys(any(), names(&["s", "t"])),
        true,
    );
    // A condition with no output is false: `any` is false everywhere.
    check(
        r#"select(any(.eventName; empty) | not)"#,
        Prefilter::Any,
        true,
    );
    check(
        r#"select(any(.eventName; select(. == "A")) | not)"#,
        keys(names(&["A"]).not(), any()),
        true,
    );
    // Not one value: the old over-approximation.
    check(
        r#"select(any(.eventName[]?; . == "A") | not)"#,
        Prefilter::Any,
        false,
    );
}

#[test]
fn folded_and_case_sensitive_conditions_mix() {
    // One condition in each dimension of eventName: their union is said
    // on the folded value (a superset, inexact).
    check(
        r#"select(.eventName == "DeleteTrail" or (.eventName | ascii_downcase) == "stoplogging")"#,
        folded_name(names(&["deletetrail", "stoplogging"])),
        false,
    );
    check(
        r#"select(.eventName == "DeleteTrail" and (.eventName | ascii_downcase) == "deletetrail")"#,
        Prefilter::Keys(KeyConds {
            event_name: names(&["DeleteTrail"]),
            event_name_folded: names(&["deletetrail"]),
            ..KeyConds::any()
        }),
        true,
    );
    // `== null` is inside "not a string" (a number is not null).
    check(
        r#"select(.eventName == null or (.eventName | ascii_downcase) == "x")"#,
        folded_name(FieldCond::In(with_other(KeySet::names(["x"])))),
        false,
    );
    check(
        r#"select((.eventName | type != "string") or (.eventName | ascii_downcase) == "x")"#,
        folded_name(FieldCond::In(with_other(KeySet::names(["x"])))),
        true,
    );
}
