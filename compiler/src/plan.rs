//! The plan: every rule's compiled program, prefilter and evaluation mode,
//! plus the destinations. This is what the runtime executes.
//!
//! [`compile`] is the compiler's entry point. It never stops at the first
//! problem: TOML, config and jq errors of all rules come back together.

use crate::analysis::{self, Analysis, IndexOnly, Prefilter};
use crate::config::{self, Destination, RuleConfig};
use crate::diag::Diagnostic;
use crate::jq::JqProgram;
use crate::native::{self, NativeRule};

/// How the runtime evaluates a rule on a record its prefilter admits.
#[derive(Clone, Debug)]
pub enum Eval {
    /// The rule can never fire; it is not evaluated.
    Never,
    /// The index decides; jq is not run.
    IndexOnly(IndexOnly),
    /// Evaluated natively on the parsed record (no jq).
    Native(NativeRule),
    /// jq runs on every admitted record.
    Jq,
}

impl Eval {
    /// A short name: `never`, `index_only`, `native` or `jq`.
    pub fn name(&self) -> &'static str {
        match self {
            Eval::Never => "never",
            Eval::IndexOnly(_) => "index_only",
            Eval::Native(_) => "native",
            Eval::Jq => "jq",
        }
    }
}

/// One rule, ready to run.
#[derive(Debug)]
pub struct PlannedRule {
    /// The rule as configured.
    pub config: RuleConfig,
    /// Its compiled jq program.
    pub program: JqProgram,
    /// What analysis found.
    pub analysis: Analysis,
    /// How it is evaluated.
    pub eval: Eval,
}

impl PlannedRule {
    /// The rule's prefilter.
    pub fn prefilter(&self) -> &Prefilter {
        &self.analysis.prefilter
    }
}

/// The compiled config.
#[derive(Debug)]
pub struct Plan {
    /// Rules in config order (alerts come out in this order).
    pub rules: Vec<PlannedRule>,
    /// Destinations in config order.
    pub destinations: Vec<Destination>,
}

/// A successful compilation: the plan and any warnings.
#[derive(Debug)]
pub struct Compiled {
    /// The plan.
    pub plan: Plan,
    /// Warnings (unknown keys, case-folded keys, …).
    pub warnings: Vec<Diagnostic>,
}

/// Compile config source text into a plan, or every error found.
pub fn compile(source: &str) -> Result<Compiled, Vec<Diagnostic>> {
    let (cfg, mut diags) = config::parse(source);
    let codes: Vec<&str> = cfg.rules.iter().map(|r| r.jq_match.as_str()).collect();
    let programs = match JqProgram::compile_all(&codes) {
        Ok(p) => p,
        Err(errors) => {
            for (i, e) in errors {
                let rule = &cfg.rules[i];
                let span = rule.jq_offsets.map_range(e.span.clone());
                diags.push(
                    Diagnostic::error(format!("rule `{}`: {}", rule.display_name(), e.message), span)
                        .with_help("jq_match must be a jq program; test it with `tattletail scan --config` on a sample"),
                );
            }
            return Err(diags);
        }
    };
    let mut rules = Vec::new();
    for (rule, program) in cfg.rules.into_iter().zip(programs) {
        let analysis = analysis::analyze(&rule.jq_match);
        let eval = match (&analysis.prefilter, analysis.index_only) {
            (Prefilter::Never, _) => Eval::Never,
            (_, Some(mode)) => Eval::IndexOnly(mode),
            _ => native::compile(&rule.jq_match).map_or(Eval::Jq, Eval::Native),
        };
        if matches!(eval, Eval::Never) {
            diags.push(
                Diagnostic::warning(format!("rule `{}` can never fire", rule.display_name()), rule.jq_span.clone())
                    .with_help("no event can give it a first output other than null or false (contradicting conditions on eventName/eventSource, or `empty`/`error` on every path)"),
            );
        }
        rules.push(PlannedRule {
            config: rule,
            program,
            analysis,
            eval,
        });
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(Compiled {
        plan: Plan {
            rules,
            destinations: cfg.destinations,
        },
        warnings: diags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jq_errors_point_into_the_toml_file() {
        let src = "[[rule]]\nname = \"bad\"\njq_match = '''\nselect(.eventName == ) '''\n\n[[rule]]\nname = \"worse\"\njq_match = \"select(nosuch(1))\"\n";
        let errs = compile(src).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        let first = errs.iter().find(|e| e.message.contains("`bad`")).unwrap();
        assert_eq!(crate::diag::line_col(src, first.span.start), (4, 22));
        let second = errs.iter().find(|e| e.message.contains("`worse`")).unwrap();
        assert_eq!(&src[second.span.clone()], "nosuch");
    }

    #[test]
    fn config_and_jq_errors_come_together() {
        let src = "[[rule]]\nname = \"a\"\njq_match = 'select(('\ndestinations = [\"zz\"]\n";
        let errs = compile(src).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.message.contains("unknown destination id")),
            "{errs:#?}"
        );
    }

    #[test]
    fn eval_modes() {
        let src = r#"
[[rule]]
name = "index"
jq_match = 'select(.eventName == "ConsoleLogin")'
[[rule]]
name = "bool"
jq_match = '.eventSource == "iam.amazonaws.com"'
[[rule]]
name = "jq"
jq_match = 'select(.eventName == "CreateUser") | .requestParameters.userName'
[[rule]]
name = "never"
jq_match = 'select(.eventName == "A" and .eventName == "B")'
"#;
        let c = compile(src).unwrap();
        let modes: Vec<&str> = c.plan.rules.iter().map(|r| r.eval.name()).collect();
        assert_eq!(modes, ["index_only", "index_only", "jq", "never"]);
        assert_eq!(c.warnings.len(), 1);
    }
}
