//! The plan: every rule's program (IR), prefilter and evaluation mode,
//! plus the destinations. This is what the runtime executes.
//!
//! [`compile`] is the compiler's entry point. It never stops at the first
//! problem: TOML, config and jq errors of all rules come back together.
//! Each `jq_match` is parsed once ([`crate::syntax`]), lowered once
//! ([`crate::ir`]) and analysed ([`crate::analysis`]); nothing else
//! looks at its text.

use std::sync::Arc;

use crate::analysis::{self, Analysis, IndexOnly, Prefilter};
use crate::config::{self, Destination, ExceptionConfig, RuleConfig};
use crate::diag::Diagnostic;
use crate::ir::{self, Program};
use crate::routing::Route;
use crate::syntax;

/// How the runtime evaluates a rule on a record its prefilter admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eval {
    /// The rule can never fire; it is not evaluated.
    Never,
    /// `enabled = false`: compiled and checked, never evaluated.
    Disabled,
    /// The index decides; the rule's program does not run.
    IndexOnly(IndexOnly),
    /// The program runs natively on the parsed record.
    Native,
}

impl Eval {
    /// A short name: `never`, `index_only` or `native`.
    pub fn name(&self) -> &'static str {
        match self {
            Eval::Never => "never",
            Eval::Disabled => "disabled",
            Eval::IndexOnly(_) => "index_only",
            Eval::Native => "native",
        }
    }
}

/// One rule, ready to run.
#[derive(Debug)]
pub struct PlannedRule {
    /// The rule as configured.
    pub config: RuleConfig,
    /// Its program.
    pub program: Arc<Program>,
    /// What analysis found.
    pub analysis: Analysis,
    /// How it is evaluated.
    pub eval: Eval,
    /// What makes its alert ids unique (see [`identities`]).
    pub identity: String,
    /// Its noise-control expressions, compiled.
    pub noise: NoisePrograms,
}

/// A rule's `dedup.key` and `threshold.group_by`, compiled (the settings
/// themselves are in the rule's config, `config.noise`).
#[derive(Debug, Default)]
pub struct NoisePrograms {
    /// `dedup.key`.
    pub dedup_key: Option<Arc<Program>>,
    /// `threshold.group_by`.
    pub group_by: Option<Arc<Program>>,
}

/// Each rule's identity, which its alert ids are made from: its name (a
/// Sigma rule's `sigma:<id>` when it has an `id`), and for the second and
/// later rules of one name `name#2`, `name#3`, … in config order (a suffix
/// no other rule has as its own). jq rules with unique names keep
/// upstream's alert ids; two rules that share a name no longer share ids
/// (config.rs warns about the shared name).
pub fn identities(rules: &[RuleConfig]) -> Vec<String> {
    let bases: Vec<String> = rules
        .iter()
        .map(|r| match r.sigma.as_ref().and_then(|s| s.id.clone()) {
            Some(id) => format!("sigma:{id}"),
            None => r.name.clone().unwrap_or_default(),
        })
        .collect();
    let all: std::collections::HashSet<&String> = bases.iter().collect();
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    bases
        .iter()
        .map(|base| {
            if used.insert(base.clone()) {
                return base.clone();
            }
            let mut n = 2;
            loop {
                let candidate = format!("{base}#{n}");
                if !all.contains(&candidate) && used.insert(candidate.clone()) {
                    return candidate;
                }
                n += 1;
            }
        })
        .collect()
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
    /// `[[route]]`s in config order ([`Plan::targets`]).
    pub routes: Vec<Route>,
    /// Destinations in config order.
    pub destinations: Vec<Destination>,
    /// `[accounts]`: account id → name.
    pub accounts: std::collections::BTreeMap<String, String>,
    /// Exceptions in config order.
    pub exceptions: Vec<PlannedException>,
    /// Sigma correlation rules, over positions in [`Plan::rules`].
    pub correlations: Vec<crate::config::CorrelationConfig>,
}

/// One exception, ready to run.
#[derive(Debug)]
pub struct PlannedException {
    /// As configured.
    pub config: ExceptionConfig,
    /// Its condition's program.
    pub program: Arc<Program>,
    /// What analysis found (its prefilter: the exception is only evaluated
    /// on events it admits).
    pub analysis: Analysis,
    /// The positions of the rules it applies to; `None`: every rule.
    pub rules: Option<Vec<usize>>,
}

impl PlannedException {
    /// Does it apply to rule `r`?
    pub fn applies_to(&self, r: usize) -> bool {
        self.rules.as_ref().is_none_or(|rs| rs.contains(&r))
    }

    /// Has it expired at `now` (seconds since the epoch)?
    pub fn expired(&self, now: i64) -> bool {
        self.config
            .expires
            .as_ref()
            .is_some_and(|(at, _)| now >= *at)
    }

    /// A warning, at the exception, that it has expired.
    pub fn expired_warning(&self) -> Diagnostic {
        let (at, written) = self.config.expires.clone().unwrap_or_default();
        Diagnostic::warning(
            format!(
                "exception `{}` expired at {} ({written}): it no longer suppresses anything",
                self.config.name,
                crate::date::format_utc(at)
            ),
            self.config.span.clone(),
        )
        .with_help("remove it, or set a later `expires` if the alerts are still expected")
    }
}

impl Plan {
    /// The configured name of an account id.
    pub fn account_name(&self, id: Option<&str>) -> Option<&str> {
        self.accounts.get(id?).map(String::as_str)
    }
}

/// A successful compilation: the plan and any warnings.
#[derive(Debug)]
pub struct Compiled {
    /// The plan.
    pub plan: Plan,
    /// Warnings (unknown keys, case-folded keys, …).
    pub warnings: Vec<Diagnostic>,
}

/// Parse and lower one jq program; errors are located in the program.
pub fn compile_program(code: &str) -> Result<Program, Vec<ir::LowerError>> {
    let ast = syntax::parse(code).map_err(|e| {
        vec![ir::LowerError {
            message: format!("jq syntax: {}", e.message),
            span: e.span,
            help: Some(
                "jq_match must be a jq program in jq 1.6 / gojq syntax; see https://jqlang.org/manual/"
                    .into(),
            ),
        }]
    })?;
    ir::lower(&ast)
}

/// A jq program's errors as diagnostics of `label` (`rule `x``), located
/// in the file through `offsets`.
fn jq_diagnostics(
    label: &str,
    errors: Vec<ir::LowerError>,
    offsets: &crate::toml_str::OffsetMap,
) -> Vec<Diagnostic> {
    errors
        .into_iter()
        .map(|e| {
            let d = Diagnostic::error(
                format!("{label}: {}", e.message),
                offsets.map_range(e.span.range()),
            );
            match e.help {
                Some(h) => d.with_help(h),
                None => d,
            }
        })
        .collect()
}

/// Compile config source text into a plan, or every error found.
pub fn compile(source: &str) -> Result<Compiled, Vec<Diagnostic>> {
    let mut resolve = config::cannot_read;
    compile_with(source, &mut config::SigmaInput::none(&mut resolve))
}

/// Compile config source text and the Sigma rules it names (and any
/// others in `sigma`) into one plan, or every error found.
pub fn compile_with(
    source: &str,
    sigma: &mut config::SigmaInput<'_>,
) -> Result<Compiled, Vec<Diagnostic>> {
    let (cfg, mut diags) = config::parse_with(source, sigma);
    // Positions in `cfg.rules` are those in the plan whenever it compiles.
    let routes: Vec<Route> = cfg
        .routes
        .into_iter()
        .map(|r| Route::new(r, &cfg.rules, &cfg.destinations))
        .collect();
    let mut rules = Vec::new();
    let identities = identities(&cfg.rules);
    for (rule, identity) in cfg.rules.into_iter().zip(identities) {
        let label = format!("rule `{}`", rule.display_name());
        let mut noise = NoisePrograms::default();
        let mut noise_ok = true;
        for (what, key) in rule.noise.expressions() {
            match compile_program(&key.jq) {
                Ok(p) => {
                    let p = Some(Arc::new(p));
                    if what == "dedup key" {
                        noise.dedup_key = p;
                    } else {
                        noise.group_by = p;
                    }
                }
                Err(errors) => {
                    noise_ok = false;
                    for d in jq_diagnostics(&format!("{label} ({what})"), errors, &key.offsets) {
                        diags.push(rule.diag(d));
                    }
                }
            }
        }
        let program = match compile_program(&rule.jq_match) {
            Ok(p) => p,
            Err(errors) => {
                for d in jq_diagnostics(&label, errors, &rule.jq_offsets) {
                    diags.push(rule.diag(d));
                }
                continue;
            }
        };
        let analysis = analysis::analyze(&program);
        let eval = match (&analysis.prefilter, analysis.index_only) {
            _ if !rule.meta.enabled => Eval::Disabled,
            (Prefilter::Never, _) => Eval::Never,
            (_, Some(mode)) => Eval::IndexOnly(mode),
            _ => Eval::Native,
        };
        if eval == Eval::Never {
            diags.push(rule.diag(
                Diagnostic::warning(format!("rule `{}` can never fire", rule.display_name()), rule.jq_span.clone())
                    .with_help("no event can give it a first output other than null or false (contradicting conditions on eventName/eventSource, or `empty`/`error` on every path)"),
            ));
        }
        if !noise_ok {
            continue;
        }
        rules.push(PlannedRule {
            config: rule,
            program: Arc::new(program),
            analysis,
            eval,
            identity,
            noise,
        });
    }
    let mut exceptions = Vec::new();
    for e in cfg.exceptions {
        let program = match compile_program(&e.jq_match) {
            Ok(p) => p,
            Err(errors) => {
                let label = format!("exception `{}`", e.name);
                diags.extend(jq_diagnostics(&label, errors, &e.jq_offsets));
                continue;
            }
        };
        let analysis = analysis::analyze(&program);
        let applies = (!e.rules.is_empty()).then(|| {
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    e.rules
                        .iter()
                        .any(|(n, _)| r.config.name.as_deref() == Some(n))
                })
                .map(|(i, _)| i)
                .collect()
        });
        exceptions.push(PlannedException {
            config: e,
            program: Arc::new(program),
            analysis,
            rules: applies,
        });
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(Compiled {
        plan: Plan {
            rules,
            routes,
            destinations: cfg.destinations,
            accounts: cfg.accounts,
            exceptions,
            correlations: cfg.correlations,
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
    fn invalid_regex_literals_are_config_errors() {
        let src = "[[rule]]\nname = \"re\"\njq_match = 'select(.userAgent | test(\"(?=x)\"))'\n";
        let errs = compile(src).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].message.contains("invalid regex"),
            "{}",
            errs[0].message
        );
        assert!(errs[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("look-around"));
        assert_eq!(&src[errs[0].span.clone()], "\"(?=x)\"");
    }

    #[test]
    fn identities_are_unique_even_against_names_that_look_like_suffixes() {
        let c = compile(
            "[[rule]]\nname = \"x\"\njq_match = '.'\n[[rule]]\nname = \"x\"\njq_match = '.'\n\
             [[rule]]\nname = \"x#2\"\njq_match = '.'\n[[rule]]\njq_match = '.'\n[[rule]]\njq_match = '.'\n",
        )
        .unwrap();
        let ids: Vec<&str> = c.plan.rules.iter().map(|r| r.identity.as_str()).collect();
        assert_eq!(ids, ["x", "x#3", "x#2", "", "#2"]);
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
name = "native"
jq_match = 'select(.eventName == "CreateUser") | .requestParameters.userName'
[[rule]]
name = "never"
jq_match = 'select(.eventName == "A" and .eventName == "B")'
"#;
        let c = compile(src).unwrap();
        let modes: Vec<&str> = c.plan.rules.iter().map(|r| r.eval.name()).collect();
        assert_eq!(modes, ["index_only", "index_only", "native", "never"]);
        assert_eq!(c.warnings.len(), 1);
    }
}
