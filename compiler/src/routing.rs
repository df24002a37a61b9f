//! Where an alert goes: the one definition, [`Plan::targets`], used by
//! the Lambda's delivery (and the CLI's `--send`) and by the CLI's JSON
//! Lines `destinations`.
//!
//! An alert goes to its rule's `destinations` (in their order), then to
//! those of every `[[route]]` it matches (in config order), each
//! destination once, and only to destinations whose `min_severity` the
//! rule's severity reaches ([`Destination::admits`]: a rule without
//! severity counts as `info`). A config without routes and without
//! `min_severity` sends every alert to its rule's destinations, as
//! upstream does (a destination a rule lists twice gets the alert once).

use crate::config::{Destination, RouteConfig, RuleConfig, Severity};
use crate::plan::Plan;

/// A `[[route]]` with its rule names and destination ids resolved to
/// positions in the plan.
#[derive(Clone, Debug)]
pub struct Route {
    /// As configured (accounts as ids).
    pub config: RouteConfig,
    /// Positions of the rules its `rules` names; `None`: any rule.
    rules: Option<Vec<usize>>,
    /// Positions of its destinations in [`Plan::destinations`].
    destinations: Vec<usize>,
}

impl Route {
    /// Resolve `config` against the plan's rules and destinations (the
    /// config parser has already reported unknown names).
    pub fn new(config: RouteConfig, rules: &[RuleConfig], destinations: &[Destination]) -> Route {
        let rule_positions = config.rules.as_ref().map(|names| {
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.name.as_ref().is_some_and(|n| names.contains(n)))
                .map(|(i, _)| i)
                .collect()
        });
        let dest_positions = config
            .destinations
            .iter()
            .filter_map(|id| destinations.iter().position(|d| &d.id == id))
            .collect();
        Route {
            config,
            rules: rule_positions,
            destinations: dest_positions,
        }
    }

    /// Does an alert of rule `rule` (of `severity`), on a record of
    /// `account` (recipientAccountId) and `region` (awsRegion), match
    /// every condition of this route? A condition on a field the record
    /// lacks does not match.
    pub fn matches(
        &self,
        rule: usize,
        severity: Option<Severity>,
        account: Option<&str>,
        region: Option<&str>,
    ) -> bool {
        let any_of = |list: &Option<Vec<String>>, value: Option<&str>| {
            list.as_ref()
                .is_none_or(|l| value.is_some_and(|v| l.iter().any(|x| x == v)))
        };
        self.rules.as_ref().is_none_or(|rs| rs.contains(&rule))
            && self
                .config
                .severities
                .as_ref()
                .is_none_or(|ss| severity.is_some_and(|s| ss.contains(&s)))
            && any_of(&self.config.accounts, account)
            && any_of(&self.config.regions, region)
    }
}

impl Plan {
    /// The destinations of an alert of rule `rule` (its position in
    /// [`Plan::rules`]) on a record of `account` (recipientAccountId) and
    /// `region` (awsRegion): the rule's own, then those of the matching
    /// routes, each once, those whose `min_severity` the rule does not
    /// reach left out. Says nothing of the rule's mode: a dry-run rule's
    /// alerts are not sent, wherever they would go.
    pub fn targets(
        &self,
        rule: usize,
        account: Option<&str>,
        region: Option<&str>,
    ) -> Vec<&Destination> {
        let config = &self.rules[rule].config;
        let severity = config.meta.severity;
        let routed = self
            .routes
            .iter()
            .filter(|r| r.matches(rule, severity, account, region));
        self.own_then_routed(&config.destinations, routed, severity)
    }

    /// Destinations named by `own` ids, then those of `routes`, each once,
    /// those whose `min_severity` `severity` does not reach left out.
    fn own_then_routed<'a>(
        &'a self,
        own: &[String],
        routes: impl Iterator<Item = &'a Route>,
        severity: Option<crate::config::Severity>,
    ) -> Vec<&'a Destination> {
        let own = own
            .iter()
            .filter_map(|id| self.destinations.iter().find(|d| &d.id == id));
        let routed = routes.flat_map(|r| r.destinations.iter().map(|&i| &self.destinations[i]));
        let mut out: Vec<&Destination> = Vec::new();
        for d in own.chain(routed) {
            if d.admits(severity) && !out.iter().any(|o| o.id == d.id) {
                out.push(d);
            }
        }
        out
    }

    /// The destinations of an alert of correlation `c` (its position in
    /// [`Plan::correlations`]): its own (its `[[sigma]]` table's), then
    /// those of the matching routes that name no rules, each once,
    /// `min_severity` applied as for rules.
    pub fn correlation_targets(
        &self,
        c: usize,
        account: Option<&str>,
        region: Option<&str>,
    ) -> Vec<&Destination> {
        let config = &self.correlations[c];
        let severity = config.meta.severity;
        let routed = self
            .routes
            .iter()
            .filter(|r| r.rules.is_none() && r.matches(usize::MAX, severity, account, region));
        self.own_then_routed(&config.destinations, routed, severity)
    }

    /// Can any alert reach `dest`: a rule whose severity it admits names
    /// it, or a route does?
    pub fn sends_to(&self, dest: &Destination) -> bool {
        self.rules.iter().any(|r| {
            r.config.destinations.contains(&dest.id) && dest.admits(r.config.meta.severity)
        }) || self
            .correlations
            .iter()
            .any(|c| c.destinations.contains(&dest.id) && dest.admits(c.meta.severity))
            || self
                .routes
                .iter()
                .any(|r| r.config.destinations.contains(&dest.id))
    }
}

#[cfg(test)]
mod tests {
    use crate::compile;
    use crate::config::Severity;
    use crate::plan::Plan;

    const DESTINATIONS: &str = r#"
[accounts]
"111111111111" = "prod"
"222222222222" = "dev"
"333333333333" = "prod"

[[destination]]
id = "all"
type = "slack_webhook"
webhook_url = "https://hooks.slack.com/services/all"

[[destination]]
id = "prod"
type = "slack_webhook"
webhook_url = "https://hooks.slack.com/services/prod"

[[destination]]
id = "dev"
type = "slack_webhook"
webhook_url = "https://hooks.slack.com/services/dev"

[[destination]]
id = "pager"
type = "sns"
sns_arn = "arn:aws:sns:us-east-1:111111111111:pager"
min_severity = "high"

[[destination]]
id = "lowplus"
type = "sns"
sns_arn = "arn:aws:sns:us-east-1:111111111111:low"
min_severity = "low"
"#;

    fn plan(extra: &str) -> Plan {
        let src = format!("{DESTINATIONS}\n{extra}");
        match compile(&src) {
            Ok(c) => c.plan,
            Err(d) => panic!("{d:#?}"),
        }
    }

    fn ids(plan: &Plan, rule: usize, account: Option<&str>, region: Option<&str>) -> Vec<String> {
        plan.targets(rule, account, region)
            .into_iter()
            .map(|d| d.id.clone())
            .collect()
    }

    #[test]
    fn without_routes_an_alert_goes_to_its_rules_destinations_in_order() {
        let p = plan(
            r#"
[[rule]]
name = "r"
jq_match = '.'
destinations = ["dev", "all", "dev"]

[[rule]]
name = "none"
jq_match = '.'
"#,
        );
        assert_eq!(
            ids(&p, 0, Some("111111111111"), Some("us-east-1")),
            ["dev", "all"]
        );
        assert_eq!(ids(&p, 0, None, None), ["dev", "all"]);
        assert!(ids(&p, 1, Some("111111111111"), None).is_empty());
    }

    #[test]
    fn a_route_adds_its_destinations_after_the_rules_each_once() {
        let p = plan(
            r#"
[[rule]]
name = "r"
jq_match = '.'
destinations = ["all", "prod"]

[[route]]
accounts = ["111111111111"]
destinations = ["prod", "dev"]

[[route]]
name = "everything to all"
destinations = ["all", "dev"]
"#,
        );
        assert_eq!(
            ids(&p, 0, Some("111111111111"), None),
            ["all", "prod", "dev"]
        );
        assert_eq!(
            ids(&p, 0, Some("222222222222"), None),
            ["all", "prod", "dev"]
        );
        assert_eq!(ids(&p, 0, None, None), ["all", "prod", "dev"]);
    }

    #[test]
    fn one_channel_per_account_by_name() {
        let p = plan(
            r#"
[[rule]]
name = "r"
jq_match = '.'

[[route]]
accounts = ["prod"]
destinations = ["prod"]

[[route]]
accounts = ["dev"]
destinations = ["dev"]
"#,
        );
        // Both accounts named "prod" go to the prod channel.
        assert_eq!(ids(&p, 0, Some("111111111111"), None), ["prod"]);
        assert_eq!(ids(&p, 0, Some("333333333333"), None), ["prod"]);
        assert_eq!(ids(&p, 0, Some("222222222222"), None), ["dev"]);
        assert!(ids(&p, 0, Some("444444444444"), None).is_empty());
        assert!(ids(&p, 0, None, None).is_empty(), "no account: no match");
        assert_eq!(
            p.routes[0].config.accounts.as_deref(),
            Some(&["111111111111".to_string(), "333333333333".to_string()][..])
        );
    }

    #[test]
    fn min_severity_filters_rules_and_routes_and_no_severity_counts_as_info() {
        let p = plan(
            r#"
[[rule]]
name = "critical"
jq_match = '.'
severity = "critical"
destinations = ["pager", "lowplus"]

[[rule]]
name = "medium"
jq_match = '.'
severity = "medium"
destinations = ["all"]

[[rule]]
name = "info"
jq_match = '.'
severity = "info"

[[rule]]
name = "unrated"
jq_match = '.'

[[route]]
destinations = ["pager", "lowplus", "dev"]
"#,
        );
        assert_eq!(ids(&p, 0, None, None), ["pager", "lowplus", "dev"]);
        assert_eq!(ids(&p, 1, None, None), ["all", "lowplus", "dev"]);
        assert_eq!(ids(&p, 2, None, None), ["dev"]);
        assert_eq!(ids(&p, 3, None, None), ["dev"]);
        let dest = |id: &str| p.destinations.iter().find(|d| d.id == id).unwrap();
        assert!(p.sends_to(dest("pager")) && p.sends_to(dest("dev")));
        assert!(!p.sends_to(dest("prod")));
    }

    #[test]
    fn every_condition_given_must_hold_each_any_of_its_list() {
        let p = plan(
            r#"
[[rule]]
name = "a"
jq_match = '.'
severity = "high"

[[rule]]
name = "b"
jq_match = '.'
severity = "low"

[[rule]]
name = "a"
jq_match = '.eventName'
severity = "medium"

[[route]]
name = "prod, us, high or medium, rule a"
accounts = ["prod", "222222222222"]
regions = ["us-east-1", "us-west-2"]
severities = ["high", "MEDIUM"]
rules = ["a"]
destinations = ["all"]
"#,
        );
        let hit = |rule, account, region| !ids(&p, rule, account, region).is_empty();
        assert!(hit(0, Some("111111111111"), Some("us-east-1")));
        assert!(hit(0, Some("222222222222"), Some("us-west-2")));
        assert!(
            hit(2, Some("333333333333"), Some("us-east-1")),
            "both rules named a"
        );
        assert!(!hit(0, Some("111111111111"), Some("eu-west-1")), "region");
        assert!(!hit(0, Some("444444444444"), Some("us-east-1")), "account");
        assert!(!hit(0, Some("111111111111"), None), "no region");
        assert!(
            !hit(1, Some("111111111111"), Some("us-east-1")),
            "rule and severity"
        );
    }

    #[test]
    fn routes_and_min_severity_are_read_with_names_resolved() {
        let (cfg, diags) = crate::config::parse(&format!(
            r#"{DESTINATIONS}
[[rule]]
name = "r"
jq_match = '.'
severity = "high"

[[Route]]
Name = "prod in us"
accounts = "prod"
regions = ["us-east-1"]
severities = ["High", "critical"]
rules = ["r"]
destinations = "prod"
"#
        ));
        let routes = &cfg.routes;
        assert_eq!(diags.len(), 2, "two case warnings: {diags:#?}");
        assert_eq!(routes.len(), 1);
        let r = &routes[0];
        assert_eq!(r.display_name(), "prod in us");
        assert_eq!(
            r.accounts.as_deref(),
            Some(&["111111111111".to_string(), "333333333333".to_string()][..])
        );
        assert_eq!(r.regions.as_deref(), Some(&["us-east-1".to_string()][..]));
        assert_eq!(
            r.severities.as_deref(),
            Some(&[Severity::High, Severity::Critical][..])
        );
        assert_eq!(r.rules.as_deref(), Some(&["r".to_string()][..]));
        assert_eq!(r.destinations, ["prod"]);
        let pager = cfg.destinations.iter().find(|d| d.id == "pager").unwrap();
        assert_eq!(pager.min_severity, Some(Severity::High));
        assert!(cfg.destinations[0].min_severity.is_none());
    }

    #[test]
    fn an_upstream_config_has_no_routes_and_no_min_severity() {
        let (cfg, diags) = crate::config::parse(
            "[[rule]]\njq_match = '.'\ndestinations = [\"s\"]\n[[destination]]\nid = \"s\"\ntype = \"sns\"\nsns_arn = \"arn:aws:sns:us-east-1:1:t\"\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert!(cfg.routes.is_empty());
        assert_eq!(cfg.destinations[0].min_severity, None);
        assert!(cfg.destinations[0].admits(None));
    }

    #[test]
    fn severities_match_only_rules_with_a_severity() {
        let p = plan(
            r#"
[[rule]]
name = "unrated"
jq_match = '.'

[[rule]]
name = "info"
jq_match = '.'
severity = "info"

[[route]]
severities = ["info"]
destinations = ["all"]
"#,
        );
        assert!(ids(&p, 0, None, None).is_empty());
        assert_eq!(ids(&p, 1, None, None), ["all"]);
    }
}
