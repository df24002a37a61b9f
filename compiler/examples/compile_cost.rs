//! Where rule compilation time goes (run with --release).
use std::time::Instant;
fn main() {
    let t = Instant::now();
    for _ in 0..100 {
        let _ = jaq_std::defs().count();
    }
    println!("parse jaq-std defs: {:?} per call", t.elapsed() / 100);
    let t = Instant::now();
    for _ in 0..100 {
        tattletail_compiler::jq::JqProgram::compile(".").unwrap();
    }
    println!("compile '.': {:?} per rule", t.elapsed() / 100);
    let t = Instant::now();
    for _ in 0..20 {
        tattletail_compiler::compile(tattletail_compiler::pack::DEFAULT_PACK).unwrap();
    }
    println!("pack: {:?}", t.elapsed() / 20);
    let rec = jaq_json::read::parse_single(br#"{"eventName":"ConsoleLogin","userIdentity":{"type":"Root"},"errorCode":"AccessDenied"}"#).unwrap();
    let code = r#"select(.userIdentity.type == "Root" and .errorCode != "x")"#;
    let alone = tattletail_compiler::jq::JqProgram::compile(code).unwrap();
    let codes: Vec<&str> = std::iter::repeat_n(code, 64).collect();
    let all = tattletail_compiler::jq::JqProgram::compile_all(&codes).unwrap();
    for (name, p) in [("alone", &alone), ("in a set of 64", &all[40])] {
        let t = Instant::now();
        for _ in 0..100_000 {
            std::hint::black_box(p.first_output(rec.clone()));
        }
        println!("eval {name}: {:?}", t.elapsed() / 100_000);
    }
}

#[allow(dead_code)]
fn unused() {}
