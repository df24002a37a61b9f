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
}
