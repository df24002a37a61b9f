//! Property test: random well-formed jq programs built from the constructs
//! of the IR (paths, `..`, literals, `|`, `,`, `//`, `and`/`or`/`not`,
//! comparisons, arithmetic, `if`/`elif`/`else`, `try`/`catch`, `?`,
//! `select`, `as $x` and destructuring, `reduce`, `foreach`, `[…]`, `{…}`,
//! string interpolation, `def`s with filter and `$` parameters, `first`,
//! `limit`, `any`/`all`, `map`, `to_entries`, `length`, `keys`, `has`,
//! `contains`, `startswith`, `test` with literal regexes, `ascii_downcase`,
//! `tostring`, `tojson`/`fromjson`, `split`, `join`, `add`, `sort_by`,
//! `group_by`, `unique`, `min_by`, `IN`, `index`, `ltrimstr`, `@base64`,
//! and about a hundred more: formats, regex functions, dates, paths and
//! updates, `label`/`break`, `?//`, special numbers) and from the condition
//! shapes the prefilter and literal analyses read, over random
//! CloudTrail-shaped records (names and sources from small sets; nested
//! `userIdentity` and `requestParameters` with strings, numbers including
//! whole floats such as `500.0`, `-0.0` and 2^53 + 1, arrays, nulls,
//! missing keys and booleans).
//!
//! Left out of the generator, because Tattletail differs from gojq there on
//! purpose (README, `testdata/jq/deviations.txt`): `input_filename`,
//! `builtins`, `$__loc__`, `@base32`, `keys_unsorted`, `ascii`, regex flags
//! other than `g` and `i`, `\d` on non-ASCII text, `@base64d` of text that
//! does not decode to UTF-8, last-bit differences of math functions
//! (`exp10`, `gamma`), catch handlers that read the error message, and
//! whatever could make object key order observable (object `+`/`*` and
//! assignments that add keys).
//!
//! For every case (one program, several records):
//!
//! (a) Tattletail's first output = gojq's on every record: no alert, an
//!     error, the record itself, or the output as gojq prints it. The only
//!     differences allowed are the documented ones: object keys printed in
//!     insertion order (compared with sorted keys) and integers beyond 64
//!     bits (doubles). Records have sorted keys and object constructors list
//!     keys in sorted order, so iteration order cannot differ. gojq runs
//!     once per case with all its records. Without gojq the `jq` CLI (1.6) is
//!     used instead, only for programs without the constructs where jq 1.6
//!     and gojq differ, comparing values (numbers as doubles).
//! (b) fires ⇒ admitted: when the rule fires on a record, its prefilter
//!     admits the record, and if it has required literals and the record
//!     has no backslash, the record contains one of them.
//! (c) `Matcher::new` = `Matcher::naive`.
//!
//! The seed is fixed (reproducible runs); `PROPTEST_CASES` raises the number
//! of cases (default 2,000) and `PROPTEST_RNG_SEED` picks another seed. Under
//! CI (`CI` set) a missing `gojq` fails the test; elsewhere it falls back
//! to jq 1.6 (`TATTLETAIL_TEST_NO_GOJQ=1` forces the fallback); with
//! neither CLI the test fails.

mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use common::engines::{element, find_on_path, has_literal, native, run_cli, Res, Run};
use common::json_text::{self, Json};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestError, TestRunner};
use tattletail_compiler::analysis::Prefilter;
use tattletail_compiler::plan::Eval;
use tattletail_runtime::matcher::Matcher;
use tattletail_runtime::record::RecordParser;

// ---- records ----------------------------------------------------------------

const NAMES: &[&str] = &[
    "ConsoleLogin",
    "CreateUser",
    "DeleteBucket",
    "GetObject",
    "PutBucketPolicy",
    "StopLogging",
];
const SOURCES: &[&str] = &[
    "cloudtrail.amazonaws.com",
    "iam.amazonaws.com",
    "s3.amazonaws.com",
    "signin.amazonaws.com",
];
const STRINGS: &[&str] = &[
    "alice",
    "Bob",
    "root",
    "",
    "AKIAEXAMPLE",
    "AccessDenied",
    "arn:aws:iam::123456789012:user/alice",
    "a,b,c",
    "CreateUser",
    "getobject",
    "héllo",
    "日本",
    "x\"y",
    "line\nbreak",
    "42",
    "{\"a\":[1,2]}",
    "Zm9v",
    "s3.amazonaws.com",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-3",
    "42",
    "500.0",
    "1.5",
    "-0.25",
    "1e3",
    "100000",
    "2.0e1",
    "7",
    "-0.0",
    "9007199254740993",
    "1.0e19",
    "0.1",
];

fn string() -> impl Strategy<Value = Json> {
    prop::sample::select(STRINGS).prop_map(|s| Json::Str(s.to_string()))
}

fn number() -> impl Strategy<Value = Json> {
    prop::sample::select(NUMBERS).prop_map(|s| Json::Num(s.to_string()))
}

fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        4 => string(),
        3 => number(),
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
    ]
}

/// An object from optional (key, value) members.
fn obj(members: Vec<(&str, Option<Json>)>) -> Json {
    Json::Obj(
        members
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect(),
    )
}

fn record() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        6 => prop::sample::select(NAMES).prop_map(|s| Json::Str(s.to_string())),
        1 => Just(Json::Null),
        1 => Just(Json::Num("5".into())),
    ];
    let source = prop::sample::select(SOURCES).prop_map(|s| Json::Str(s.to_string()));
    let item = (string(), prop::option::of(number()))
        .prop_map(|(id, n)| obj(vec![("id", Some(id)), ("n", Some(n.unwrap_or(Json::Null)))]));
    let params = (
        prop::option::of(string()),
        prop::option::of(number()),
        prop::option::of(prop::collection::vec(item, 0..4).prop_map(Json::Arr)),
        prop::option::of(prop_oneof![
            Just(Json::Str(
                "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\"}]}".into()
            )),
            Just(Json::Str("not json".into())),
        ]),
        prop::option::of(prop::collection::vec(string(), 0..4).prop_map(Json::Arr)),
        prop::option::of(string()),
    )
        .prop_map(|(b, c, i, p, t, u)| {
            obj(vec![
                ("bucketName", b),
                ("count", c),
                ("items", i),
                ("policy", p),
                ("tags", t),
                ("userName", u),
            ])
        });
    let identity = (
        prop::option::of(prop::sample::select(
            &["Root", "IAMUser", "AssumedRole"][..],
        )),
        prop::option::of(string()),
        prop::option::of(string()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(t, u, a, mfa)| {
            obj(vec![
                ("arn", a),
                (
                    "sessionContext",
                    mfa.map(|m| obj(vec![("mfa", Some(Json::Bool(m)))])),
                ),
                ("type", t.map(|t| Json::Str(t.to_string()))),
                ("userName", u),
            ])
        });
    let resources = prop::collection::vec((string(), string()), 0..3).prop_map(|rs| {
        Json::Arr(
            rs.into_iter()
                .map(|(a, t)| obj(vec![("ARN", Some(a)), ("type", Some(t))]))
                .collect(),
        )
    });
    (
        (
            prop::option::of(name),
            prop::option::of(source),
            prop::option::of(prop_oneof![
                Just(Json::Str("AccessDenied".into())),
                Just(Json::Null)
            ]),
            prop::option::of(any::<bool>()),
        ),
        (
            prop::option::of(prop_oneof![3 => params, 1 => Just(Json::Null)]),
            prop::option::of(identity),
            prop::option::of(resources),
            prop::option::of(scalar()),
        ),
    )
        .prop_map(|((n, s, e, ro), (p, id, res, v))| {
            obj(vec![
                ("errorCode", e),
                ("eventName", n),
                ("eventSource", s),
                ("eventTime", Some(Json::Str("2024-03-05T06:07:08Z".into()))),
                ("readOnly", ro.map(Json::Bool)),
                ("requestParameters", p),
                ("resources", res),
                ("userIdentity", id),
                ("value", v),
            ])
            .sorted()
            .text()
        })
}

// ---- programs ---------------------------------------------------------------

/// Filters on the record (rooted paths, conditions the prefilter analyses).
const RECORD_LEAVES: &[&str] = &[
    ".",
    ".eventName",
    ".eventSource",
    ".errorCode",
    ".readOnly",
    ".value",
    ".userIdentity",
    ".userIdentity.type",
    ".userIdentity.userName",
    ".userIdentity.sessionContext.mfa",
    ".requestParameters",
    ".requestParameters.items",
    ".requestParameters.items[0]",
    ".requestParameters.items[]?.n",
    ".requestParameters.tags",
    ".requestParameters.tags[-1]",
    ".requestParameters.count",
    ".requestParameters.policy",
    ".requestParameters[\"userName\"]",
    ".resources",
    ".resources[]?",
    ".resources[1:]",
    ".[\"eventName\"]",
    "..",
    "(.eventName == \"CreateUser\")",
    "(.eventSource == \"s3.amazonaws.com\")",
    "(.eventName != \"GetObject\")",
    "(.eventName | startswith(\"Get\"))",
    "(.eventName | test(\"^(Create|Delete)\"))",
    "(.eventName | IN(\"ConsoleLogin\", \"StopLogging\"))",
    "(IN(.eventSource; \"iam.amazonaws.com\", \"signin.amazonaws.com\"))",
    "(.errorCode == \"AccessDenied\")",
    "(tostring | contains(\"AKIA\"))",
    "(.eventName | ascii_downcase | startswith(\"get\"))",
    "([.. | strings] | any(test(\"arn:aws\")))",
    "(.userIdentity.type == \"Root\" and .userIdentity.sessionContext.mfa != true)",
    "(.eventTime | fromdateiso8601)",
    "(.eventTime | fromdate | strftime(\"%A %j %H\"))",
    "(.eventTime | strptime(\"%Y-%m-%dT%H:%M:%SZ\"))",
    "(.eventTime | fromdate | gmtime | todate)",
    "(.eventTime | fromdate | todate | .[0:10])",
    "(.eventTime | .[0:4] | tonumber)",
];

/// Filters on any value (functions of their input; many fail on some
/// inputs, which is compared too).
const ANY_LEAVES: &[&str] = &[
    ".",
    ".id?",
    ".n",
    ".[0]?",
    ".[]?",
    ".[-1:]",
    "length",
    "type",
    "tostring",
    "tojson",
    "(tojson | fromjson)",
    "keys",
    "has(\"id\")",
    "has(0)",
    "to_entries",
    "ascii_downcase",
    "ltrimstr(\"arn:\")",
    "startswith(\"A\")",
    "test(\"^[a-z]+$\")",
    "test(\"l+\"; \"i\")",
    "split(\",\")",
    "split(\":\")",
    "join(\",\")",
    "add",
    "unique",
    "sort",
    "min",
    "reverse",
    "first",
    "any",
    "all",
    "index(\"a\")",
    "index(\",\")",
    "contains(\"A\")",
    "contains([\"a\"])",
    "contains({\"type\": \"Root\"})",
    "@base64",
    "(@base64 | @base64d)",
    "tonumber?",
    "fromjson?",
    "strings",
    "numbers",
    "arrays",
    "objects",
    "not",
    "(. // \"default\")",
    "empty",
    "error(\"boom\")",
    "null",
    "true",
    "false",
    "0",
    "2",
    "-1",
    "500.0",
    "2.5",
    "\"AccessDenied\"",
    "\"a,b\"",
    "[]",
    "[1, \"a\", null]",
    "{}",
    "{\"a\": 1, \"b\": [true]}",
    ".[1e19]?",
    "has(1e19)?",
    ".[-1e19:]?",
    "[limit(1e19; .[]?)]",
    "(tostring * 2)",
    "((tostring + \"x\") * 1e19)",
    "(tostring | @html)",
    "@json",
    "@text",
    "@csv",
    "@tsv",
    "@sh",
    "(tostring | sub(\"a\"; \"b\"))",
    "(tostring | gsub(\"[aeiou]\"; \"_\"))",
    "(tostring | [match(\"a+\"; \"g\") | .offset, .length])",
    "(tostring | capture(\"(?<x>[a-z]+)(?<y>[0-9])?\"))",
    "(tostring | [scan(\"[0-9]+\")])",
    "(tostring | ascii_upcase)",
    "(tostring | rtrimstr(\"e\"))",
    "(tostring | utf8bytelength)",
    "(tostring | explode | implode)",
    "(tostring | indices(\",\"))",
    "(tostring | [splits(\", *\")])",
    "(tostring | test(\"\\\\d\"))",
    "flatten",
    "flatten(1)",
    "max_by(.n?)",
    "del(.id)?",
    "del(.[0])?",
    "to_entries | from_entries",
    "map_values(tostring)",
    "walk(if type == \"number\" then . + 1 else . end)",
    "[paths(type == \"string\")]",
    "[leaf_paths]",
    "getpath([\"id\"])?",
    "[range(3)]",
    "[range(0; 10; 3)]",
    "floor",
    "sqrt",
    "round",
    "fabs",
    "(. / 3)",
    "(length / 7)",
    "(1e300 * 1e10)",
    "(tostring | tonumber? // \"nan\")",
    "(tostring | ascii_downcase | split(\"\"))",
    "(tostring | .[2:4])",
    "(tostring | ltrimstr(\"{\") | rtrimstr(\"}\"))",
    "splits(\",\")?",
    "tostream",
    "[.[]?] | transpose?",
    "combinations?",
    "(tostring | @uri)",
    "infinite",
    "[nan] | sort",
    "(. == nan)",
    "(tojson | length)",
    "env | length",
    "$ENV | type",
    "(tostring | ascii_downcase | test(\"^[a-z]\"))",
    "getpath([\"a\", 0, \"b\"])",
    "(.[]? |= tostring)?",
    "(to_entries | map(.key))",
    "(tostring | fromjson? | type)",
    "error?",
    "(try error catch \"c\")",
    "(try error(\"x\") catch .)",
    "(tostring | ltrimstr(1))",
    "getpath([1e19])?",
    "(.[\"id\"] // empty)",
    "(first(.[]?) // null)",
    "nth(1; .[]?)",
    "[.[]?] | nth(1)",
    "until(. > 100 or type != \"number\"; . * 2 + 1)",
    "[recurse(if type == \"array\" then .[] else empty end)] | length",
    "[.. | numbers]",
    "(tostring | tojson | fromjson)",
    "(tostring | @json \"v=\\(.)\")",
    "@text \"x\\(.)y\"",
    "(tostring | [limit(2; splits(\"a\"))])?",
    "indices(1)?",
    "inside([1, \"a\", null])?",
    "(tostring | inside(\"AccessDenied alice\"))",
    "(.. |= .)",
    "(paths | tostring)",
    "(tostring | split(\",\"; null))",
    "(tostring | ascii_downcase | @sh)",
    "significand?",
    "logb?",
    "(tostring | length | log2 | floor)",
    "todate?",
    "(tostring | fromdate?)",
    "(tostring | strptime(\"%Y-%m-%dT%H:%M:%SZ\")? | mktime)",
    "([.[]?] | min_by(type), max)",
    "getpath([\"id\"]) as [$a] | $a",
    "(. as [$a, {n: $b}] | [$a, $b])?",
    "(. as {id: $i} ?// [$i] | $i)?",
    "(label $f | .[]? | ., break $f)",
    "(tostring | ascii_downcase | ltrimstr(\"a\") | length)",
];

/// Arithmetic operands: never objects (object `+` keeps the left operand's
/// key order, which would make gojq's sorted iteration order differ).
const SCALAR_LEAVES: &[&str] = &[
    "1",
    "0",
    "-2",
    "3.5",
    "500.0",
    "\"x\"",
    "null",
    "length",
    "(.n // 0)",
    "(.count? // 1)",
    "(tostring | length)",
    "([.[]?] | length)",
    "\"\\(type)\"",
    "nan",
    "infinite",
    "(-0)",
    "0.1",
    "9007199254740993",
    "1e19",
];

/// What a filter may refer to: `$v` is bound around it or not.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Plain,
    WithVar,
}

fn leaf(list: &'static [&'static str], scope: Scope) -> BoxedStrategy<String> {
    // A leaf with a pipe or a binding of its own is a term only in parentheses.
    let l = prop::sample::select(list).prop_map(|l| {
        if l.contains(" | ") || l.contains(" as ") {
            format!("({l})")
        } else {
            l.to_string()
        }
    });
    if scope == Scope::WithVar {
        prop_oneof![6 => l, 1 => Just("$v".to_string())].boxed()
    } else {
        l.boxed()
    }
}

/// Strategies for one depth: filters on the record and on any value.
#[derive(Clone)]
struct Level {
    rec: BoxedStrategy<String>,
    any: BoxedStrategy<String>,
}

fn level(depth: u32, scope: Scope) -> Level {
    let rec_leaf = leaf(RECORD_LEAVES, scope);
    let any_leaf = leaf(ANY_LEAVES, scope);
    if depth == 0 {
        return Level {
            rec: rec_leaf,
            any: any_leaf,
        };
    }
    let inner = level(depth - 1, scope);
    Level {
        rec: prop_oneof![
            3 => rec_leaf,
            6 => combine(inner.rec.clone(), inner.any.clone(), scope),
        ]
        .boxed(),
        any: prop_oneof![
            3 => any_leaf,
            6 => combine(inner.any.clone(), inner.any.clone(), scope),
        ]
        .boxed(),
    }
}

/// The constructs, over filters `a` (same input as the result) and `f`
/// (filters on any value, applied to `a`'s outputs).
fn combine(
    a: BoxedStrategy<String>,
    f: BoxedStrategy<String>,
    scope: Scope,
) -> BoxedStrategy<String> {
    let scalar = prop_oneof![
        leaf(SCALAR_LEAVES, scope),
        a.clone().prop_map(|x| format!("({x} | length)"))
    ];
    let lit = prop::sample::select(&["0", "null", "\"c\"", "[]", "false", "{\"k\": 1}"][..]);
    let n = prop::sample::select(&["0", "1", "2", "3"][..]);
    let cmp = prop::sample::select(&["==", "!=", "<", ">=", "<="][..]);
    let arith = prop::sample::select(&["+", "-", "*", "/", "%"][..]);
    let upd = prop::sample::select(
        &[
            ". + 1",
            ". + [$x]",
            "[., $x] | max",
            "if $x == null then . else . + 1 end",
            ". + ($x | tostring | length)",
            "$x",
            "select($x != null) | . + 1",
        ][..],
    );
    let key = prop::sample::select(&["a", "b", "c"][..]);
    prop_oneof![
        // Pipes, alternatives, alternation.
        4 => (a.clone(), f.clone()).prop_map(|(x, y)| format!("({x} | {y})")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x}, {y})")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} // {y})")),
        // Booleans and comparisons.
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} and {y})")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} or {y})")),
        1 => a.clone().prop_map(|x| format!("({x} | not)")),
        2 => (a.clone(), cmp.clone(), a.clone()).prop_map(|(x, c, y)| format!("({x} {c} {y})")),
        1 => (a.clone(), lit.clone()).prop_map(|(x, l)| format!("({x} == {l})")),
        // Arithmetic on scalars.
        2 => (scalar.clone(), arith.clone(), scalar.clone()).prop_map(|(x, o, y)| format!("({x} {o} {y})")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("([{x}] + [{y}])")),
        // Conditionals.
        2 => (a.clone(), a.clone(), a.clone()).prop_map(|(c, x, y)| format!("(if {c} then {x} else {y} end)")),
        1 => (a.clone(), a.clone(), a.clone(), a.clone())
            .prop_map(|(c, x, d, y)| format!("(if {c} then {x} elif {d} then {y} else null end)")),
        1 => (a.clone(), a.clone()).prop_map(|(c, x)| format!("(if {c} then {x} end)")),
        // Errors.
        2 => (a.clone(), lit.clone()).prop_map(|(x, l)| format!("(try {x} catch {l})")),
        1 => a.clone().prop_map(|x| format!("(try {x})")),
        1 => a.clone().prop_map(|x| format!("({x})?")),
        // select, variables, reduce, foreach.
        3 => (a.clone(), a.clone()).prop_map(|(c, x)| format!("(select({c}) | {x})")),
        1 => a.clone().prop_map(|c| format!("select({c})")),
        1 => (a.clone(), f.clone()).prop_map(|(x, y)| format!("({x} as $x | {y} | [., $x])")),
        1 => (a.clone(), lit.clone(), upd.clone()).prop_map(|(g, i, u)| format!("(reduce {g} as $x ({i}; {u}))")),
        1 => (a.clone(), lit.clone(), upd.clone()).prop_map(|(g, i, u)| format!("([foreach {g} as $x ({i}; {u})])")),
        1 => (a.clone(), lit.clone(), upd.clone()).prop_map(|(g, i, u)| format!("(foreach {g} as $x ({i}; {u}; [$x, .]))")),
        // Construction.
        2 => a.clone().prop_map(|x| format!("[{x}]")),
        1 => (prop::sample::subsequence(&["a", "b", "c"][..], 1..=3), a.clone(), a.clone(), a.clone())
            .prop_map(|(keys, x, y, z)| {
                let vals = [x, y, z];
                let members: Vec<String> =
                    keys.iter().zip(&vals).map(|(k, v)| format!("{k}: ({v})")).collect();
                format!("{{{}}}", members.join(", "))
            }),
        1 => (a.clone(), key).prop_map(|(x, k)| format!("{{(\"{k}\" + ({x} | tostring? // \"\")): 1}}")),
        1 => Just("{errorCode, eventName}".to_string()),
        2 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("\"<\\({x})|\\({y})>\"")),
        // Definitions.
        1 => a.clone().prop_map(|x| format!("(def f: {x}; f)")),
        1 => (a.clone(), f.clone()).prop_map(|(x, y)| format!("(def f(g): [g, ({y})]; f({x}))")),
        1 => (a.clone(), scalar.clone()).prop_map(|(x, s)| format!("(def f($p): [$p, {s}]; f({x}))")),
        // Generators and their consumers.
        2 => a.clone().prop_map(|x| format!("first({x})")),
        1 => (n, a.clone()).prop_map(|(n, x)| format!("[limit({n}; {x})]")),
        1 => (a.clone(), f.clone()).prop_map(|(x, c)| format!("any({x}; {c})")),
        1 => (a.clone(), f.clone()).prop_map(|(x, c)| format!("all({x}; {c})")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("IN({x}; {y})")),
        1 => a.clone().prop_map(|x| format!("isempty({x})")),
        // Functions with filter arguments.
        2 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | map({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | map(select({g})))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | sort_by({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | group_by({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | unique_by({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | min_by({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | any({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | all({g}))")),
        1 => (a.clone(), f.clone()).prop_map(|(x, g)| format!("({x} | with_entries(.value |= {g}))")),
        1 => a.clone().prop_map(|x| format!("({x} | [paths] | length)")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} | has({y}))")),
        1 => (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} | contains({y}))")),
        1 => (a, f).prop_map(|(x, y)| format!("({x} | tostring | ltrimstr({y} | tostring))")),
    ]
    .boxed()
}

/// A whole program: a filter on the record, sometimes with `$v` bound
/// around it (plainly or by destructuring).
fn program() -> impl Strategy<Value = String> {
    let plain = level(3, Scope::Plain).rec;
    let with_var = level(3, Scope::WithVar).rec;
    let binder = prop::sample::select(
        &[
            ".userIdentity.type as $v",
            "(.requestParameters.count // 0) as $v",
            ". as {eventName: $v}",
            ".requestParameters.tags as [$v]",
            "(.resources // [] | length) as $v",
            "[.[]?] as [$w, $v]",
        ][..],
    );
    let c = cond(level(1, Scope::Plain).rec);
    prop_oneof![
        3 => plain.clone(),
        1 => (binder, with_var).prop_map(|(b, p)| format!("{b} | {p}")),
        1 => c.clone(),
        1 => c.clone().prop_map(|c| format!("select({c})")),
        2 => (c, plain).prop_map(|(c, p)| format!("select({c}) | {p}")),
    ]
}

/// Conditions of the shapes the prefilter and literal analyses read
/// (`.eventName == "X"`, `startswith`, `test`, `IN`, `and`/`or`/`not`,
/// `if`, `//`, `try`), mixed with any filter on the record.
fn cond(any_rec: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let name = prop::sample::select(NAMES);
    let source = prop::sample::select(SOURCES);
    let prefix = prop::sample::select(&["Get", "Create", "Put", "Stop", "", "C"][..]);
    let leaf = prop_oneof![
        3 => name.clone().prop_map(|n| format!(".eventName == \"{n}\"")),
        2 => source.clone().prop_map(|s| format!(".eventSource == \"{s}\"")),
        1 => name.clone().prop_map(|n| format!("\"{n}\" != .eventName")),
        1 => prefix.clone().prop_map(|p| format!("(.eventName | startswith(\"{p}\"))")),
        1 => prefix.clone().prop_map(|p| format!(
            "(.eventName | ascii_downcase | startswith(\"{}\"))",
            p.to_ascii_lowercase()
        )),
        1 => (prefix.clone(), name.clone()).prop_map(|(p, n)| format!("(.eventName | test(\"^({p}|{n})\"))")),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| format!("(.eventName | IN(\"{a}\", \"{b}\"))")),
        1 => (source.clone(), source).prop_map(|(a, b)| format!("IN(.eventSource; \"{a}\", \"{b}\")")),
        1 => Just("(.errorCode == \"AccessDenied\")".to_string()),
        1 => Just("((.errorCode // \"\") | contains(\"Denied\"))".to_string()),
        1 => Just("(tostring | contains(\"AKIA\"))".to_string()),
        1 => Just("(.userIdentity.type == \"Root\")".to_string()),
        1 => Just("((.userIdentity.userName // \"\") | ascii_downcase | . == \"bob\")".to_string()),
        1 => Just("([.. | strings] | any(test(\"^arn:\")))".to_string()),
        1 => Just("(.eventName | test(\"object\"; \"i\"))".to_string()),
        1 => Just("(.eventName as $n | $n == \"CreateUser\")".to_string()),
        1 => Just("(.eventName as $n | select($n | startswith(\"Put\")) | true)".to_string()),
        1 => Just("(.eventName // \"none\" | . == \"none\")".to_string()),
        1 => Just("(.eventName | tostring | . == \"5\")".to_string()),
        1 => Just("(.eventName | IN(\"GetObject\", \"StopLogging\") | not)".to_string()),
        1 => Just("(.eventName | ascii_downcase == \"createuser\")".to_string()),
        1 => Just("(.eventName | ascii_upcase == \"GETOBJECT\")".to_string()),
        1 => Just("(.eventSource | endswith(\".amazonaws.com\"))".to_string()),
        1 => Just("(.eventSource | ltrimstr(\"s3.\") == \"amazonaws.com\")".to_string()),
        1 => Just("(.eventName | test(\"^Get|^Put\"))".to_string()),
        1 => Just("(.eventName | test(\"^(?:Stop)Logging$\"))".to_string()),
        1 => Just("(.eventName | test(\"^create\"; \"i\"))".to_string()),
        1 => Just("(def select(f): .; select(.eventName == \"CreateUser\"))".to_string()),
        1 => Just("(def isx: .eventName == \"DeleteBucket\"; isx)".to_string()),
        1 => Just("(def IN(s): false; .eventName | IN(\"GetObject\"))".to_string()),
        1 => Just("first(.eventName == \"GetObject\", .eventName == \"CreateUser\")".to_string()),
        1 => Just("(.eventName == (\"GetObject\", \"CreateUser\"))".to_string()),
        1 => Just("([.eventName] | index(\"StopLogging\") != null)".to_string()),
        1 => Just("(.eventName | length > 10)".to_string()),
        1 => Just("(.eventName | contains(\"Object\"))".to_string()),
        1 => Just("(label $out | (.eventName == \"ConsoleLogin\", break $out))".to_string()),
        1 => Just("(if .eventName == \"GetObject\" then false end)".to_string()),
        1 => Just("isempty(select(.eventName == \"CreateUser\"))".to_string()),
        1 => Just("(.eventName | . == \"ConsoleLogin\" or . == \"StopLogging\")".to_string()),
        1 => Just("((.eventName | startswith(\"Get\"))? // false)".to_string()),
        1 => Just("(try (.eventName | startswith(\"C\")) catch false)".to_string()),
        1 => Just("has(\"errorCode\")".to_string()),
        1 => Just("(.errorCode != null)".to_string()),
        1 => Just("(.eventName | type == \"string\")".to_string()),
        1 => Just("(.eventName == .eventSource)".to_string()),
        1 => Just("(limit(1; .eventName == \"GetObject\", true))".to_string()),
        2 => any_rec,
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            2 => inner.clone().prop_map(|a| format!("({a} | not)")),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("(if {a} then {b} else {c} end)")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} // {b})")),
            1 => inner.clone().prop_map(|a| format!("(try ({a}))")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(select({a}) | {b})")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}, {b})")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("first({a}, {b})")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("([{a}, {b}] | any)")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("all({a}, {b}; .)")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} as $c | if $c then {b} else $c end)")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(if {a} then {b} end)")),
            // The handler gets the error message, which differs between
            // engines: it must not look at it.
            1 => (inner, prop::sample::select(&["true", "false", "null", "empty"][..]))
                .prop_map(|(a, b)| format!("(try ({a}) catch {b})")),
        ]
    })
    .boxed()
}

/// For the jq 1.6 fallback: does the program avoid everything on which
/// jq 1.6 and gojq (or Tattletail, which follows gojq) are known to
/// differ? Deliberately coarse (substrings): `try` and `?` (jq 1.6 catches
/// errors raised after them and the `break` of `limit`), `if` without
/// `else`, `limit(0)`, `reduce`/`foreach` with an empty update, string
/// indexing and offsets, number printing (`tostring`, `tojson`,
/// interpolation, `length` of numbers, division), big and special numbers,
/// `any`/`all` (jq 1.6 does not short-circuit), `IN`, `reverse`/`keys`/…
/// of null, formats, regexes, dates, math, paths and updates. What is left
/// is still compared on thousands of (program, record) pairs per run.
fn jq16_comparable(p: &str) -> bool {
    const DIFFER: &[&str] = &[
        "try",
        "?",
        "limit(",
        "reduce",
        "foreach",
        "index(",
        "split",
        "tostring",
        "tojson",
        "\\(",
        "ltrimstr",
        "rtrimstr",
        "isempty",
        "$w",
        "min",
        "max",
        "unique",
        "with_entries",
        "paths",
        "first",
        "contains",
        "inside",
        "any",
        "all",
        "combinations",
        "getpath",
        "nan",
        "infinite",
        "1e19",
        "9007199254740993",
        "%",
        "/",
        "exp",
        "log",
        "@",
        "implode",
        "ascii",
        "tostream",
        "transpose",
        "walk",
        "until",
        "nth",
        "indices",
        "env",
        "$ENV",
        "sub(",
        "match",
        "capture",
        "scan",
        "test(",
        "label",
        "sqrt",
        "round",
        "fabs",
        "floor",
        "significand",
        "strptime",
        "strftime",
        "date",
        "mktime",
        "gmtime",
        "|=",
        "del(",
        "flatten",
        "tonumber",
        "fromjson",
        "length",
        "range",
        "utf8",
        "recurse",
        "..",
        "IN(",
        "reverse",
        "sort",
        "group_by",
        "add",
        "join",
        "keys",
        "has(",
        "to_entries",
        "type",
        "not",
        ".[",
        "[0]",
        "[-1]",
        "[1:]",
    ];
    let ifs = p.matches("if ").count() - p.matches("elif ").count();
    ifs == p.matches(" else ").count() && !DIFFER.iter().any(|d| p.contains(d))
}

// ---- the reference ----------------------------------------------------------

/// The CLI the native results are compared with.
#[derive(Clone, Debug)]
enum Reference {
    Gojq(PathBuf),
    /// jq 1.6, only for programs without known differences from gojq.
    Jq(PathBuf),
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let ci = std::env::var_os("CI").is_some();
        let forced = std::env::var_os("TATTLETAIL_TEST_NO_GOJQ").is_some();
        if let Some(g) = find_on_path("gojq").filter(|_| !forced) {
            return Reference::Gojq(g);
        }
        assert!(
            !ci || forced,
            "gojq is required under CI (scripts/test installs it)"
        );
        match find_on_path("jq") {
            Some(j) => {
                eprintln!("note: gojq is not installed; comparing with jq 1.6 where it agrees with gojq");
                Reference::Jq(j)
            }
            None => panic!(
                "property (a) compares with gojq (or jq 1.6), and neither is on PATH: install them (`apt-get install gojq jq`; `bash scripts/test` does it)"
            ),
        }
    })
}

// ---- the property -----------------------------------------------------------

fn config() -> ProptestConfig {
    let mut c = ProptestConfig {
        max_shrink_iters: 4096,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 2000;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x7a77_1e7a);
    }
    c
}

/// What the cases covered (printed at the end, so that a generator that
/// stops producing interesting programs is noticed).
#[derive(Debug, Default)]
struct Stats {
    cases: usize,
    records: usize,
    /// (rule, record) pairs: alerts, annotated alerts, errors.
    alerts: usize,
    annotated: usize,
    errors: usize,
    /// Programs with a prefilter other than "every event", with required
    /// literals, that fired at least once.
    with_prefilter: usize,
    with_literals: usize,
    fired: usize,
    /// Pairs compared with the reference CLI, and those that differed only
    /// in the documented ways.
    compared: usize,
    key_order: usize,
    big_int: usize,
}

fn check(program: &str, records: &[String], stats: &RefCell<Stats>) -> Result<(), TestCaseError> {
    let src = format!("[[rule]]\nname = \"p\"\njq_match = '''\n{program}\n'''\n");
    let compiled = tattletail_compiler::compile(&src)
        .map_err(|d| TestCaseError::fail(format!("native rejects {program}: {d:?}")))?;
    let plan = &compiled.plan;
    let rule = &plan.rules[0];
    let raws: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
    let naive = native(&mut Matcher::naive(plan), &raws);
    let indexed = native(&mut Matcher::new(plan), &raws);
    let mut parser = RecordParser::default();
    {
        let mut st = stats.borrow_mut();
        st.cases += 1;
        st.records += records.len();
        st.with_prefilter += usize::from(*rule.prefilter() != Prefilter::Any);
        st.with_literals += usize::from(rule.analysis.literals.is_some());
        st.fired += usize::from(naive.iter().any(|row| row[0].is_alert()));
        for row in &naive {
            st.alerts += usize::from(row[0].is_alert());
            st.annotated += usize::from(matches!(row[0], Res::Val(_)));
            st.errors += usize::from(row[0] == Res::Err);
        }
    }
    for (i, raw) in raws.iter().enumerate() {
        let nat = &naive[i][0];
        // (c) index on = index off.
        prop_assert_eq!(
            indexed[i][0].alert(),
            nat.alert(),
            "index on vs off on {}",
            records[i]
        );
        // (b) fires ⇒ admitted and has a required literal.
        if nat.is_alert() {
            let mut bytes = raw.to_vec();
            let rec = parser.parse(&mut bytes).unwrap();
            prop_assert!(
                rule.prefilter()
                    .admits(rec.event_name(), rec.event_source()),
                "fires on {} but its prefilter {:?} rejects it",
                records[i],
                rule.prefilter()
            );
            if let (Some(lits), Eval::Native) = (&rule.analysis.literals, rule.eval) {
                prop_assert!(
                    raw.contains(&b'\\') || has_literal(raw, lits),
                    "fires on {} without any of its required literals {:?}",
                    records[i],
                    lits.iter().map(|l| l.text()).collect::<Vec<_>>()
                );
            }
        }
    }
    // (a) native = the reference CLI.
    let (cli, gojq) = match reference() {
        Reference::Gojq(g) => (g, true),
        Reference::Jq(j) if jq16_comparable(program) => (j, false),
        _ => return Ok(()),
    };
    let mut input = Vec::new();
    for r in records {
        input.extend_from_slice(r.as_bytes());
        input.push(b'\n');
    }
    let rows = match run_cli(cli, &[program], Arc::new(input), records.len()) {
        Run::Lines(rows) => rows,
        Run::Rejected => {
            return Err(TestCaseError::fail(format!(
                "{} rejects {program}",
                cli.display()
            )))
        }
        Run::Failed(why) => return Err(TestCaseError::fail(format!("{}: {why}", cli.display()))),
    };
    for (i, row) in rows.iter().enumerate() {
        let theirs = element(&row[0])
            .ok_or_else(|| TestCaseError::fail(format!("bad element {}", row[0])))?;
        let nat = &naive[i][0];
        let mut st = stats.borrow_mut();
        st.compared += 1;
        let same = if *nat == theirs {
            true
        } else if !gojq {
            nat.same_value(&theirs)
        } else if nat.canonical(false) == theirs.canonical(false) {
            // Documented: object keys in insertion order.
            st.key_order += 1;
            true
        } else if matches!(&theirs, Res::Val(t) if json_text::parse(t.as_bytes()).is_ok_and(|j| j.has_big_int()))
            && nat.canonical(true) == theirs.canonical(true)
        {
            // Documented: integers beyond 64 bits are doubles.
            st.big_int += 1;
            true
        } else {
            false
        };
        prop_assert!(
            same,
            "native {} vs {} {} on {}",
            nat.show(),
            if gojq { "gojq" } else { "jq 1.6" },
            theirs.show(),
            records[i]
        );
    }
    Ok(())
}

#[test]
fn native_agrees_with_gojq_and_fires_only_when_admitted() {
    let started = Instant::now();
    let stats = RefCell::new(Stats::default());
    let mut runner = TestRunner::new(config());
    let strategy = (program(), prop::collection::vec(record(), 4..10));
    let result = runner.run(&strategy, |(program, records)| {
        check(&program, &records, &stats)
    });
    eprintln!("{:?} in {:.1?}", stats.borrow(), started.elapsed());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (program, records))) => panic!(
            "{why}\nminimal failing case:\n  program: {program}\n  records:\n    {}",
            records.join("\n    ")
        ),
        Err(e) => panic!("{e}"),
    }
    let st = stats.borrow();
    assert!(
        st.alerts * 10 > st.records && st.errors * 20 > st.records && st.fired * 4 > st.cases,
        "the generator no longer makes programs that fire and fail often enough: {st:?}"
    );
}
