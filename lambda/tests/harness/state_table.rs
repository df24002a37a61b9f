//! The state table, made exactly as the SAM template's `StateTable` (the
//! test fails when the template's definition changes without it). Included
//! by the tests that need DynamoDB (`e2e_state.rs`, `e2e_noise.rs`).
#![allow(dead_code)]

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    SseSpecification, TimeToLiveSpecification,
};
use tattletail_lambda::state::dynamo::DynamoStore;
use tattletail_lambda::state::Store;

use super::harness::{self, Moto};

/// A DynamoDB client on moto.
pub async fn client(moto: &Moto) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto.sdk().await)
}

/// Create `name` as the SAM template's `StateTable` is, and the store on
/// it.
pub async fn table(moto: &Moto, name: &str) -> Store {
    let ddb = client(moto).await;
    let template = std::fs::read_to_string(harness::root().join("lambda/template.yaml")).unwrap();
    for line in [
        "- {AttributeName: pk, AttributeType: S}",
        "- {AttributeName: sk, AttributeType: S}",
        "- {AttributeName: pk, KeyType: HASH}",
        "- {AttributeName: sk, KeyType: RANGE}",
        "BillingMode: PAY_PER_REQUEST",
        "AttributeName: expires_at",
        "SSEEnabled: true",
    ] {
        assert!(
            template.contains(line),
            "the template's StateTable changed ({line} is gone): update this test"
        );
    }
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .send()
        .await
        .unwrap();
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Store::Dynamo(DynamoStore::new(ddb, name.to_string()))
}
