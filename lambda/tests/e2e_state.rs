//! The DynamoDB state store against a local moto server: the conformance
//! cases every store passes (`state::conformance`), then what only a
//! table shows: queries across pages, a missing table, concurrent
//! compare-and-swaps. Each test makes its own table, as the SAM template
//! does (`StateTable`: `pk`/`sk` strings, on-demand, TTL on `expires_at`).
//!
//! `state_latency_on_moto` (ignored by default) times the calls; run it
//! with `--ignored --nocapture`. It measures moto on loopback, not
//! DynamoDB.

#![cfg(feature = "aws")]

mod harness;
#[path = "harness/state_table.rs"]
mod state_table;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::Moto;
use serde_json::json;
use tattletail_lambda::state::dynamo::DynamoStore;
use tattletail_lambda::state::{conformance, Key, Store, StoreError};

use state_table::{client, table};

/// The template's table exists with noise control only, and so do its
/// grant (these four actions, on it only), the sweep schedule and the
/// variable naming it. (`e2e.rs` runs cfn-lint on the whole template.)
#[test]
fn the_sam_template_makes_the_table_only_with_noise_control() {
    let template = std::fs::read_to_string(harness::root().join("lambda/template.yaml")).unwrap();
    // A resource's lines: its name, then those indented deeper.
    let resource = |name: &str| {
        let start = template
            .find(&format!("\n  {name}:\n"))
            .unwrap_or_else(|| panic!("no resource {name}"));
        let lines: Vec<&str> = template[start + 1..]
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.is_empty() || l.starts_with("   "))
            .map(|(_, l)| l)
            .collect();
        lines.join("\n")
    };
    for name in ["StateTable", "SweepSchedule", "SweepInvokePermission"] {
        let text = resource(name);
        assert!(
            text.contains("    Condition: NoiseControlEnabled\n"),
            "{text}"
        );
    }
    assert!(resource("StateTable").contains("Type: AWS::DynamoDB::Table"));
    let schedule = resource("SweepSchedule");
    assert!(
        schedule.contains("ScheduleExpression: rate(5 minutes)")
            && schedule.contains(r#"Input: '{"tattletail": "sweep"}'"#),
        "{schedule}"
    );
    assert!(template
        .contains("TATTLETAIL_STATE_TABLE: !If [NoiseControlEnabled, !Ref StateTable, \"\"]"));
    assert!(
        template.contains("- NoiseControlEnabled\n          - PolicyName: noise-control-state\n")
    );
    assert!(template.contains(
        "Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:DeleteItem, dynamodb:Query]\n                  Resource: !GetAtt StateTable.Arn\n"
    ));
    assert_eq!(template.matches("dynamodb:").count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dynamodb_store_conforms() {
    let moto = Moto::get();
    let store = table(moto, "tt-state-conformance").await;
    assert!(store.is_shared());
    assert_eq!(store.name(), "tt-state-conformance");
    conformance::run(&store, "e2e-").await;
}

/// 2,500 items of about 1 KB in one partition: more than DynamoDB's (and
/// moto's) 1 MB a page, so a query of 2,000 items takes several pages;
/// every tenth item is expired, so pages also hold items the filter drops.
#[tokio::test(flavor = "multi_thread")]
async fn queries_page_through_a_large_partition() {
    let moto = Moto::get();
    let name = "tt-state-paging";
    let store = Arc::new(table(moto, name).await);
    let now = 1_000_000;
    let padding = "x".repeat(1_000);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let store = store.clone();
        let padding = padding.clone();
        tasks.spawn(async move {
            for i in (worker..2_500).step_by(8) {
                let key = Key::new("due", format!("{i:05}"));
                let expires_at = if i % 10 == 0 { now } else { now + 60 };
                let state = json!({"i": i, "pad": padding});
                assert!(store
                    .put(&key, &state, None, expires_at, now)
                    .await
                    .unwrap());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // The partition does not fit in one page (so the store must follow
    // LastEvaluatedKey).
    let first_page = client(moto)
        .await
        .query()
        .table_name(name)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("due".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(first_page.last_evaluated_key().is_some());
    assert!(
        first_page.items().len() < 2_000,
        "{}",
        first_page.items().len()
    );

    let live: Vec<usize> = (0..2_500).filter(|i| i % 10 != 0).collect();
    let found = store.query("due", "~", 2_000, now).await.unwrap();
    assert_eq!(found.len(), 2_000);
    let got: Vec<usize> = found
        .iter()
        .map(|(_, item)| item.state["i"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(got, live[..2_000]);
    assert!(found.iter().all(|(k, item)| k.pk == "due"
        && k.sk == format!("{:05}", item.state["i"].as_u64().unwrap())
        && item.version == 1
        && item.expires_at == now + 60));
    // Everything, and a bound on the sort key.
    let all = store.query("due", "~", 10_000, now).await.unwrap();
    assert_eq!(all.len(), live.len());
    let upto = store.query("due", "01234", 10_000, now).await.unwrap();
    assert_eq!(upto.len(), live.iter().filter(|&&i| i <= 1_234).count());
    assert_eq!(upto.last().unwrap().0.sk, "01234");
    // Once all have expired, nothing, however many pages that reads.
    assert!(store
        .query("due", "~", 10_000, now + 60)
        .await
        .unwrap()
        .is_empty());
    assert!(store.query("due", "~", 0, now).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_is_a_clear_error_naming_it() {
    let moto = Moto::get();
    let store = Store::Dynamo(DynamoStore::new(
        client(moto).await,
        "tt-state-no-such-table".into(),
    ));
    let key = Key::new("p", "s");
    let errors = [
        store.get(&key, 0).await.unwrap_err(),
        store.put(&key, &json!(1), None, 60, 0).await.unwrap_err(),
        store.delete(&key, 1).await.unwrap_err(),
        store.query("p", "~", 10, 0).await.unwrap_err(),
    ];
    for (err, operation) in errors
        .iter()
        .zip(["GetItem", "PutItem", "DeleteItem", "Query"])
    {
        let StoreError::Dynamo { table, message } = err else {
            panic!("{err}");
        };
        assert_eq!(table, "tt-state-no-such-table");
        assert!(
            message.starts_with(&format!("{operation} failed: ResourceNotFoundException"))
                && message.ends_with("; does the table exist in this account and region?")
                && !message.contains('\n')
                && !message.contains("{"),
            "{message}"
        );
        assert!(err
            .to_string()
            .starts_with("state table tt-state-no-such-table: "));
    }
}

/// An item Tattletail did not write (here: `state` not JSON) is reported
/// with its table and key by a get, and skipped by a query.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_item_is_reported_with_its_key() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let moto = Moto::get();
    let store = table(moto, "tt-state-malformed").await;
    client(moto)
        .await
        .put_item()
        .table_name("tt-state-malformed")
        .item("pk", AttributeValue::S("p".into()))
        .item("sk", AttributeValue::S("s".into()))
        .item("state", AttributeValue::S("{not json".into()))
        .item("version", AttributeValue::N("1".into()))
        .item("expires_at", AttributeValue::N("2000000".into()))
        .send()
        .await
        .unwrap();
    let err = store.get(&Key::new("p", "s"), 1_000_000).await.unwrap_err();
    assert!(matches!(err, StoreError::Malformed { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "state table tt-state-malformed: item p/s is malformed: state is not JSON: "
        ),
        "{err}"
    );
    // A query skips it (logged), so that one foreign item never blocks a
    // partition the sweep reads every few minutes.
    let good = Key::new("p", "t");
    assert!(store
        .put(&good, &json!(1), None, 2_000_000, 1_000_000)
        .await
        .unwrap());
    let found = store.query("p", "~", 10, 1_000_000).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, good);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_is_one_line_naming_the_table() {
    let port = harness::free_port();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let store = Store::Dynamo(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&conf),
        "tt-state".into(),
    ));
    let err = store.get(&Key::new("p", "s"), 0).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("state table tt-state: GetItem failed: could not connect: ")
            && text.ends_with("Connection refused (os error 111)")
            && !text.contains('\n'),
        "{text}"
    );
}

/// 20 tasks race to write the same item at the same expected version (and,
/// before that, to create it): exactly one wins each round.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_compare_and_swaps_have_one_winner() {
    let moto = Moto::get();
    let store = Arc::new(table(moto, "tt-state-race").await);
    let now = 1_000_000;
    for round in 0..5 {
        let key = Key::new("race", format!("{round}"));
        let mut expected = None;
        for _step in 0..3 {
            let mut tasks = tokio::task::JoinSet::new();
            for task in 0..20 {
                let store = store.clone();
                let key = key.clone();
                tasks.spawn(async move {
                    let won = store
                        .put(&key, &json!({"task": task}), expected, now + 60, now)
                        .await
                        .unwrap();
                    won.then_some(task)
                });
            }
            let mut winners = Vec::new();
            while let Some(done) = tasks.join_next().await {
                winners.extend(done.unwrap());
            }
            assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
            let item = store.get(&key, now).await.unwrap().unwrap();
            assert_eq!(item.state, json!({"task": winners[0]}));
            assert_eq!(item.version, expected.map_or(1, |v| v + 1));
            expected = Some(item.version);
        }
        // And one delete.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let store = store.clone();
            let key = key.clone();
            let version = expected.unwrap();
            tasks.spawn(async move { store.delete(&key, version).await.unwrap() });
        }
        let mut deleted = 0;
        while let Some(done) = tasks.join_next().await {
            deleted += usize::from(done.unwrap());
        }
        assert_eq!(deleted, 1, "round {round}");
        assert_eq!(store.get(&key, now).await.unwrap(), None);
    }
}

/// Median latency of a get, a conditional put and a query, 200 calls each,
/// against moto on loopback (not DynamoDB): `cargo test -p
/// tattletail-lambda --release --test e2e_state state_latency_on_moto --
/// --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check"]
async fn state_latency_on_moto() {
    let moto = Moto::get();
    let store = table(moto, "tt-state-latency").await;
    let now = 1_000_000;
    let state = json!({"first_seen": "2025-01-01T00:00:00Z", "count": 3, "message_ts": "1700000000.000100"});
    for i in 0..10 {
        let key = Key::new("q", format!("{i:02}"));
        store.put(&key, &state, None, now + 60, now).await.unwrap();
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let key = Key::new("q", "05");
    let mut gets = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        assert!(store.get(&key, now).await.unwrap().is_some());
        gets.push(t.elapsed());
    }
    let mut puts = Vec::new();
    for version in 1..=200 {
        let t = Instant::now();
        assert!(store
            .put(&key, &state, Some(version), now + 60, now)
            .await
            .unwrap());
        puts.push(t.elapsed());
    }
    let mut queries = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        assert_eq!(store.query("q", "~", 100, now).await.unwrap().len(), 10);
        queries.push(t.elapsed());
    }
    println!(
        "moto on loopback (not DynamoDB), median of 200: get {:?}, conditional put {:?}, \
         query of 10 items {:?}",
        median(gets),
        median(puts),
        median(queries)
    );
}
