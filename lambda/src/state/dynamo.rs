//! The DynamoDB store: [`Store`](super::Store)'s items in one table, each
//! operation one request (a query, one per page), every compare-and-swap
//! a condition expression evaluated by DynamoDB, so that concurrent
//! invocations agree without locks of their own.
//!
//! The table: `pk` (string, partition key) and `sk` (string, sort key);
//! each item also holds `state` (string: the JSON text), `version`
//! (number) and `expires_at` (number, epoch seconds: the table's TTL
//! attribute). DynamoDB deletes expired items only within days, so every
//! read and every condition treats an item with `expires_at <= now` as
//! absent. Reads are strongly consistent. Attribute names in expressions
//! always go through placeholders (`#pk`, `#version`, …), so that none can
//! clash with DynamoDB's reserved words. Any failure of DynamoDB (after
//! the SDK's retries) is a [`StoreError::Dynamo`] naming the table, in one
//! line; an item this module did not write is a [`StoreError::Malformed`].

use std::collections::HashMap;
use std::error::Error;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::{Item, Key, StoreError};
use crate::s3::describe_error;

/// An item's attributes, as the SDK holds them.
type Attributes = HashMap<String, AttributeValue>;

/// The store on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// The store on `table` (its name or ARN), through `client`.
    pub fn new(client: Client, table: String) -> DynamoStore {
        DynamoStore { client, table }
    }

    /// The table's name, as given.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// See [`Store::get`](super::Store::get).
    pub async fn get(&self, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&key.pk))
            .key("sk", s(&key.sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed("GetItem", &e))?;
        let Some(attrs) = out.item() else {
            return Ok(None);
        };
        let item = decode(attrs).map_err(|m| self.malformed(key, m))?;
        Ok((item.expires_at > now).then_some(item))
    }

    /// See [`Store::put`](super::Store::put).
    pub async fn put(
        &self,
        key: &Key,
        state: &Value,
        expected: Option<u64>,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let version = expected.map_or(1, |v| v + 1);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&key.pk))
            .item("sk", s(&key.sk))
            .item("state", s(&state.to_string()))
            .item("version", n(version))
            .item("expires_at", n(expires_at))
            .expression_attribute_values(":now", n(now));
        request = match expected {
            None => request
                .condition_expression("attribute_not_exists(#pk) OR #expires <= :now")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#expires", "expires_at"),
            Some(v) => request
                .condition_expression("#version = :v AND #expires > :now")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#expires", "expires_at")
                .expression_attribute_values(":v", n(v)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.failed("PutItem", &e)),
        }
    }

    /// See [`Store::delete`](super::Store::delete).
    pub async fn delete(&self, key: &Key, expected: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&key.pk))
            .key("sk", s(&key.sk))
            .condition_expression("#version = :v")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", n(expected))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.failed("DeleteItem", &e)),
        }
    }

    /// See [`Store::query`](super::Store::query). Pages through the
    /// partition (DynamoDB returns at most 1 MB a page, and counts expired
    /// items against a page's limit before filtering them out) until
    /// `limit` items are found or the sort keys pass `upto`.
    pub async fn query(
        &self,
        pk: &str,
        upto: &str,
        limit: usize,
        now: i64,
    ) -> Result<Vec<(Key, Item)>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Attributes> = None;
        while found.len() < limit {
            let page_limit = i32::try_from(limit - found.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk <= :upto")
                .filter_expression("#expires > :now")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":upto", s(upto))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_names("#expires", "expires_at")
                .consistent_read(true)
                .limit(page_limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.failed("Query", &e))?;
            for attrs in out.items() {
                let key = Key::new(
                    string(attrs, "pk").unwrap_or_default(),
                    string(attrs, "sk").unwrap_or_default(),
                );
                // One item not written by Tattletail must not block the
                // partition (the sweep reads it every few minutes): it is
                // skipped and said.
                let item = match decode(attrs) {
                    Ok(item) => item,
                    Err(m) => {
                        tracing::warn!(
                            message = "state_item_skipped",
                            error = self.malformed(&key, m).to_string().as_str(),
                            help = "delete the item, or leave it: it expires with its TTL"
                        );
                        continue;
                    }
                };
                if item.expires_at > now && found.len() < limit {
                    found.push((key, item));
                }
            }
            match out.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => break,
            }
        }
        Ok(found)
    }

    /// `operation` failed: what DynamoDB or the connection said, in one
    /// line, with a hint when the table does not exist.
    fn failed<E: ProvideErrorMetadata + Error + 'static>(
        &self,
        operation: &str,
        e: &SdkError<E>,
    ) -> StoreError {
        let mut message = format!("{operation} failed: {}", describe_error(e));
        if e.as_service_error().and_then(|se| se.code()) == Some("ResourceNotFoundException") {
            message.push_str("; does the table exist in this account and region?");
        }
        StoreError::Dynamo {
            table: self.table.clone(),
            message,
        }
    }

    fn malformed(&self, key: &Key, message: String) -> StoreError {
        StoreError::Malformed {
            table: self.table.clone(),
            pk: key.pk.clone(),
            sk: key.sk.clone(),
            message,
        }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn string<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a str> {
    attrs
        .get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// An item's `state`, `version` and `expires_at`, or what is wrong with
/// them.
fn decode(attrs: &Attributes) -> Result<Item, String> {
    let text = string(attrs, "state").ok_or("no string attribute state")?;
    let state = serde_json::from_str(text).map_err(|e| format!("state is not JSON: {e}"))?;
    Ok(Item {
        state,
        version: number(attrs, "version")?,
        expires_at: number(attrs, "expires_at")?,
    })
}

fn number<T: std::str::FromStr>(attrs: &Attributes, name: &str) -> Result<T, String> {
    let raw = attrs
        .get(name)
        .and_then(|v| v.as_n().ok())
        .ok_or_else(|| format!("no number attribute {name}"))?;
    raw.parse()
        .map_err(|_| format!("{name} = {raw} is not a whole number in range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(pairs: &[(&str, AttributeValue)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn items_decode_or_say_what_is_wrong() {
        let good = attrs(&[
            ("pk", s("p")),
            ("sk", s("s")),
            ("state", s(r#"{"n":1}"#)),
            ("version", n(3)),
            ("expires_at", n(1_000_060)),
        ]);
        assert_eq!(
            decode(&good).unwrap(),
            Item {
                state: json!({"n": 1}),
                version: 3,
                expires_at: 1_000_060
            }
        );
        let with = |name: &str, v: Option<AttributeValue>| {
            let mut a = good.clone();
            match v {
                Some(v) => a.insert(name.to_string(), v),
                None => a.remove(name),
            };
            decode(&a).unwrap_err()
        };
        assert_eq!(with("state", None), "no string attribute state");
        assert_eq!(with("state", Some(n(1))), "no string attribute state");
        assert!(with("state", Some(s("{"))).starts_with("state is not JSON: "));
        assert_eq!(with("version", Some(s("1"))), "no number attribute version");
        assert_eq!(
            with("version", Some(n(-1))),
            "version = -1 is not a whole number in range"
        );
        assert_eq!(
            with("expires_at", Some(n("1.5"))),
            "expires_at = 1.5 is not a whole number in range"
        );
        assert_eq!(with("expires_at", None), "no number attribute expires_at");
    }
}
