//! Every builtin of jq 1.6 and gojq 0.12.11 (`testdata/jq/builtins.txt`)
//! is either available in rules or refused at load time with a reason:
//! none is silently missing.

use tattletail_compiler::ir::builtins::REFUSED;
use tattletail_compiler::plan::compile_program;

#[test]
fn every_jq_and_gojq_builtin_is_known() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let list = std::fs::read_to_string(root.join("testdata/jq/builtins.txt")).unwrap();
    let mut missing = Vec::new();
    let mut n = 0;
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        n += 1;
        let (name, arity) = line.split_once('/').unwrap();
        let arity: usize = arity.parse().unwrap();
        let call = if arity == 0 {
            name.to_string()
        } else {
            format!("{name}({})", vec!["."; arity].join("; "))
        };
        match compile_program(&call) {
            Ok(_) => {}
            Err(e)
                if REFUSED.iter().any(|(r, _)| *r == name)
                    && e[0].message.contains("cannot be used in a rule") => {}
            Err(e) => missing.push(format!("{line}: {}", e[0].message)),
        }
    }
    assert!(n > 200, "the list is too short: {n}");
    assert!(
        missing.is_empty(),
        "{} builtins unknown:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
