use super::ast::*;
use super::*;

/// A compact S-expression of a tree, for table tests.
fn sexp(e: &Expr) -> String {
    fn list(name: &str, es: &[Expr]) -> String {
        let items: Vec<String> = es.iter().map(sexp).collect();
        format!("({name} {})", items.join(" "))
    }
    fn pat(p: &Pattern) -> String {
        match p {
            Pattern::Var(n, _) => format!("${n}"),
            Pattern::Array(ps) => format!("[{}]", ps.iter().map(pat).collect::<Vec<_>>().join(" ")),
            Pattern::Object(es) => {
                let items: Vec<String> = es
                    .iter()
                    .map(|e| {
                        let k = match &e.key {
                            ObjPatKey::Var(n, _) => format!("${n}"),
                            ObjPatKey::Name(n) => n.clone(),
                            ObjPatKey::Str(x) | ObjPatKey::Expr(x) => sexp(x),
                        };
                        match &e.value {
                            Some(v) => format!("{k}:{}", pat(v)),
                            None => k,
                        }
                    })
                    .collect();
                format!("{{{}}}", items.join(" "))
            }
        }
    }
    match &e.kind {
        ExprKind::Identity => ".".into(),
        ExprKind::RecurseAll => "..".into(),
        ExprKind::Num(NumLit::Int(i)) => i.to_string(),
        ExprKind::Num(NumLit::Float(f)) => format!("{f:?}"),
        ExprKind::Str(fmt, parts) => {
            let mut s = String::new();
            if let Some(f) = fmt {
                s.push_str(&format!("@{f}"));
            }
            s.push('"');
            for p in parts {
                match p {
                    StrPart::Text(t) => s.push_str(t),
                    StrPart::Interp(e) => s.push_str(&format!("\\({})", sexp(e))),
                }
            }
            s.push('"');
            s
        }
        ExprKind::Format(f) => format!("@{f}"),
        ExprKind::Array(None) => "[]".into(),
        ExprKind::Array(Some(e)) => format!("[{}]", sexp(e)),
        ExprKind::Object(es) => {
            let items: Vec<String> = es
                .iter()
                .map(|en| {
                    let k = match &en.key {
                        ObjKey::Name(n) => n.clone(),
                        ObjKey::Var(n) => format!("${n}"),
                        ObjKey::Loc(l) => format!("$__loc__@{l}"),
                        ObjKey::Str(x) | ObjKey::Expr(x) => sexp(x),
                    };
                    match &en.value {
                        Some(v) => format!("{k}:{}", sexp(v)),
                        None => k,
                    }
                })
                .collect();
            format!("{{{}}}", items.join(" "))
        }
        ExprKind::Neg(e) => format!("(neg {})", sexp(e)),
        ExprKind::Pipe(es) => list("|", es),
        ExprKind::Comma(es) => list(",", es),
        ExprKind::Alt(es) => list("//", es),
        ExprKind::Or(es) => list("or", es),
        ExprKind::And(es) => list("and", es),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sexp(a), sexp(b)),
        ExprKind::Assign(op, a, b) => {
            let o = match op {
                AssignOp::Set => "=".to_string(),
                AssignOp::Update => "|=".to_string(),
                AssignOp::Arith(b) => format!("{}=", b.as_str()),
                AssignOp::Alt => "//=".to_string(),
            };
            format!("({o} {} {})", sexp(a), sexp(b))
        }
        ExprKind::Bind(s, ps, b) => format!(
            "(as {} {} {})",
            sexp(s),
            ps.iter().map(pat).collect::<Vec<_>>().join(" ?// "),
            sexp(b)
        ),
        ExprKind::Reduce(s, p, i, u) => {
            format!("(reduce {} {} {} {})", sexp(s), pat(p), sexp(i), sexp(u))
        }
        ExprKind::Foreach(s, p, i, u, x) => format!(
            "(foreach {} {} {} {}{})",
            sexp(s),
            pat(p),
            sexp(i),
            sexp(u),
            x.as_ref()
                .map(|x| format!(" {}", sexp(x)))
                .unwrap_or_default()
        ),
        ExprKind::If(bs, e) => {
            let mut s = "(if".to_string();
            for (c, t) in bs {
                s.push_str(&format!(" {} {}", sexp(c), sexp(t)));
            }
            if let Some(e) = e {
                s.push_str(&format!(" else {}", sexp(e)));
            }
            s.push(')');
            s
        }
        ExprKind::Try(b, c) => match c {
            Some(c) => format!("(try {} {})", sexp(b), sexp(c)),
            None => format!("(try {})", sexp(b)),
        },
        ExprKind::Label(n, b) => format!("(label ${n} {})", sexp(b)),
        ExprKind::Break(n) => format!("(break ${n})"),
        ExprKind::Defs(ds, b) => {
            let defs: Vec<String> = ds
                .iter()
                .map(|d| {
                    let ps: Vec<String> = d
                        .params
                        .iter()
                        .map(|p| match p {
                            Param::Filter(n) => n.clone(),
                            Param::Value(n) => format!("${n}"),
                        })
                        .collect();
                    format!("(def {}({}) {})", d.name, ps.join(";"), sexp(&d.body))
                })
                .collect();
            format!("(defs {} {})", defs.join(" "), sexp(b))
        }
        ExprKind::Call(n, args) if args.is_empty() => n.clone(),
        ExprKind::Call(n, args) => list(n, args),
        ExprKind::Var(n) => format!("${n}"),
        ExprKind::Loc(l) => format!("$__loc__@{l}"),
        ExprKind::Index(t, s, opt) => {
            let q = if *opt { "?" } else { "" };
            match s {
                Suffix::Field(f) => format!("{}.{f}{q}", sexp(t)),
                Suffix::Index(i) => format!("{}[{}]{q}", sexp(t), sexp(i)),
                Suffix::Slice(a, b) => format!(
                    "{}[{}:{}]{q}",
                    sexp(t),
                    a.as_ref().map(|x| sexp(x)).unwrap_or_default(),
                    b.as_ref().map(|x| sexp(x)).unwrap_or_default()
                ),
                Suffix::Iterate => format!("{}[]{q}", sexp(t)),
            }
        }
        ExprKind::Optional(e) => format!("(? {})", sexp(e)),
    }
}

fn p(src: &str) -> String {
    match parse(src) {
        Ok(e) => sexp(&e),
        Err(e) => panic!("{src}: {} at {:?}", e.message, e.span),
    }
}

fn err(src: &str) -> (String, std::ops::Range<usize>) {
    match parse(src) {
        Ok(e) => panic!("{src} parsed as {}", sexp(&e)),
        Err(e) => (e.message, e.span.range()),
    }
}

#[test]
fn precedence_and_chains() {
    let cases = [
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("1 - 2 - 3", "(- (- 1 2) 3)"),
        ("a | b | c", "(| a b c)"),
        ("a, b | c, d", "(| (, a b) (, c d))"),
        ("a // b // c", "(// a b c)"),
        ("a or b and c or d", "(or a (and b c) d)"),
        (".a == 1 and .b != 2", "(and (== ..a 1) (!= ..b 2))"),
        (".a = 1 | .b", "(| (= ..a 1) ..b)"),
        (".a |= . + 1", "(|= ..a (+ . 1))"),
        ("-1 + 2", "(+ (neg 1) 2)"),
        ("1 + 2 as $x | $x * 10", "(+ 1 (as 2 $x (* $x 10)))"),
        ("1, 2 as $x | 3", "(, 1 (as 2 $x 3))"),
        ("try 1 + 1", "(+ (try 1) 1)"),
        (
            "try error(\"a\") catch . + \"b\"",
            "(+ (try (error \"a\") .) \"b\")",
        ),
        ("def f: 1; f + 1", "(defs (def f() 1) (+ f 1))"),
        (
            "label $out | 1, break $out",
            "(label $out (, 1 (break $out)))",
        ),
        (
            "reduce .[] as $x (0; . + $x) | . * 2",
            "(| (reduce .[] $x 0 (+ . $x)) (* . 2))",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(p(src), want, "{src}");
    }
}

#[test]
fn paths_and_optionals() {
    let cases = [
        (".a.b", "..a.b"),
        (".a.b?", "..a.b?"),
        (".a?.b", "..a?.b"),
        (".[0]", ".[0]"),
        (".[]?", ".[]?"),
        (".a[1:2][]", "..a[1:2][]"),
        (".[:-1]", ".[:(neg 1)]"),
        (".[2:]", ".[2:]"),
        ("..", ".."),
        (".\"a b\"", "..a b"),
        (".a.\"b\"", "..a.b"),
        (".a.[\"b\"]", "..a[\"b\"]"),
        (".and.if", "..and.if"),
        ("f(.)?", "(? (f .))"),
        ("$x?", "(? $x)"),
        (".a?//1", "(// ..a? 1)"),
        ("$__loc__", "$__loc__@1"),
        ("\n\n$__loc__", "$__loc__@3"),
    ];
    for (src, want) in cases {
        assert_eq!(p(src), want, "{src}");
    }
}

#[test]
fn literals_and_constructors() {
    let cases = [
        ("123", "123"),
        ("1.5", "1.5"),
        ("1e1000", "1.7976931348623157e308"),
        ("99999999999999999999", "1e20"),
        ("\"a\\(.b)c\"", "\"a\\(..b)c\""),
        ("\"\\(1,2)-\\(3)\"", "\"\\((, 1 2))-\\(3)\""),
        ("@base64 \"x\\(.a)\"", "@base64\"x\\(..a)\""),
        ("@json", "@json"),
        (
            "{a, $b, \"c\", (.d): 1, if: 2, e: 1 | 2, @base64: 3}",
            "{a $b \"c\" ..d:1 if:2 e:(| 1 2) @base64:3}",
        ),
        ("{a: 1, b: 2}", "{a:1 b:2}"),
        ("[]", "[]"),
        ("[1, 2]", "[(, 1 2)]"),
        ("{}", "{}"),
        ("if . then 1 end", "(if . 1)"),
        (
            "if a then b elif c then d else e end",
            "(if a b c d else e)",
        ),
        (
            ". as [$a, {b: $c, $d, \"e\": [$f]}] | $a",
            "(as . [$a {b:$c $d \"e\":[$f]}] $a)",
        ),
        (". as [$a] ?// $a | $a", "(as . [$a] ?// $a $a)"),
        (
            "foreach .[] as $x (0; . + 1; [$x, .])",
            "(foreach .[] $x 0 (+ . 1) [(, $x .)])",
        ),
        (
            "def f(g; $x): g + $x; f(1; 2)",
            "(defs (def f(g;$x) (+ g $x)) (f 1 2))",
        ),
        ("# comment\n.a # more\n", "..a"),
    ];
    for (src, want) in cases {
        assert_eq!(p(src), want, "{src}");
    }
}

#[test]
fn errors_point_at_the_problem() {
    assert_eq!(
        err("select(.eventName == )"),
        ("expected a term, found `)`".into(), 21..22)
    );
    assert_eq!(
        err("if . then 1"),
        (
            "expected `elif`, `else` or `end`, found end of program".into(),
            11..11
        )
    );
    assert_eq!(err("\"abc"), ("unterminated string".into(), 1..4));
    assert_eq!(
        err("\"a\\qb\""),
        ("invalid escape `\\q` in a string".into(), 2..4)
    );
    assert_eq!(
        err(".a ]"),
        ("unexpected `]` after a complete query".into(), 3..4)
    );
    assert!(err("import \"a\" as a; .").0.contains("modules"));
    assert!(err("a::b").0.contains("modules"));
    assert!(err("{1: 2}").0.contains("object keys must be strings"));
    // Comparisons and assignments do not chain (jq 1.6 and gojq agree).
    assert_eq!(
        err(".a == 1 == true"),
        (
            "`==` cannot follow another comparison without parentheses (jq and gojq reject it too)"
                .into(),
            8..10
        )
    );
    assert!(err("1 < 2 != true").0.contains("comparison"));
    assert!(err("1 == 1 + 1 == 2").0.contains("comparison"));
    assert!(err(".a = .b |= 1").0.contains("assignment"));
    assert!(parse("(1 == 1) == true").is_ok());
    assert!(parse("1 == 1 and 2 == 2 or .a = 1 | .b |= 2").is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}1{}", "(".repeat(3000), ")".repeat(3000));
    assert!(err(&deep).0.contains("nests more than"));
    let deep = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
    assert!(err(&deep).0.contains("nests more than"));
    let neg = format!("{}1", "-".repeat(3000));
    assert!(err(&neg).0.contains("nests more than"));
    let sum = vec!["1"; 5000].join(" + ");
    assert!(err(&sum).0.contains("nests more than"));
    // Chains of `or` are flat: 4,500 alternatives parse.
    let ors = (0..4500)
        .map(|i| format!(".eventName == \"E{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let e = parse(&format!("select({ors})")).unwrap();
    assert!(e.depth < 10, "{}", e.depth);
}
