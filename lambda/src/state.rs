//! The state that outlives one invocation (noise control): a small
//! key-value store with versions, so that every decision that must hold
//! across invocations (a send claimed, a dedup window open, a threshold
//! reached) is one compare-and-swap on one item.
//!
//! Two stores behind one type: [`Store::Memory`] (the CLI without
//! `--state-table`, unit tests) and [`Store::Dynamo`] (one DynamoDB table,
//! `TATTLETAIL_STATE_TABLE` in the Lambda, `--state-table` in the CLI). The
//! logic above them (`noise`) is written once against [`Store`], so what
//! the unit tests show of the memory store holds for DynamoDB; the
//! conformance tests run the same cases on both (DynamoDB through moto).
//!
//! Items are addressed by a [`Key`] (partition `pk`, sort `sk`); each holds
//! a JSON `state`, a `version` (bumped by every write) and `expires_at`
//! (epoch seconds; DynamoDB's TTL attribute, so nothing needs cleaning).
//! An expired item reads as absent in both stores (DynamoDB deletes
//! expired items within days, not at once). Reads are strongly
//! consistent.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::aws::{Clients, SetupError};

pub mod dynamo;

/// The variable naming the Lambda's table (empty or unset: no table, the
/// memory store).
pub const TABLE_VAR: &str = "TATTLETAIL_STATE_TABLE";

/// Where an item is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Partition key (`pk`).
    pub pk: String,
    /// Sort key (`sk`).
    pub sk: String,
}

impl Key {
    /// A key.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Key {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One item as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Its state.
    pub state: Value,
    /// Its version: 1 when created, +1 on every write.
    pub version: u64,
    /// When it expires (epoch seconds).
    pub expires_at: i64,
}

/// Why the store could not answer (the operation may or may not have
/// happened; callers treat it as "unknown" and fail safe).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB refused or could not be reached (after the SDK's retries).
    #[error("state table {table}: {message}")]
    Dynamo {
        /// The table name.
        table: String,
        /// What went wrong, in one line.
        message: String,
    },
    /// An item's attributes are not what Tattletail writes.
    #[error("state table {table}: item {pk}/{sk} is malformed: {message}")]
    Malformed {
        /// The table name.
        table: String,
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The store.
pub enum Store {
    /// In this process only.
    Memory(MemoryStore),
    /// One DynamoDB table, shared by every invocation.
    Dynamo(dynamo::DynamoStore),
}

impl Store {
    /// A new, empty in-memory store.
    pub fn memory() -> Store {
        Store::Memory(MemoryStore::default())
    }

    /// The store on DynamoDB table `table` (name or ARN), through the
    /// clients' DynamoDB client ([`SetupError::NotBuilt`] when they were
    /// built without `Needs.dynamodb`). Nothing is sent yet: a missing
    /// table or a denied permission shows at the first call, as a
    /// [`StoreError::Dynamo`] naming the table.
    pub fn from_table(clients: &Clients, table: &str) -> Result<Store, SetupError> {
        let client = clients.dynamodb()?.clone();
        Ok(Store::Dynamo(dynamo::DynamoStore::new(
            client,
            table.to_string(),
        )))
    }

    /// The table named by [`TABLE_VAR`] read through `get`, if set and not
    /// blank (the SAM template sets it to "" when noise control is
    /// disabled).
    pub fn table_from_env(get: impl Fn(&str) -> Option<String>) -> Option<String> {
        get(TABLE_VAR)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    /// What to call it in logs: `memory` or the table name.
    pub fn name(&self) -> String {
        match self {
            Store::Memory(_) => "memory".into(),
            Store::Dynamo(d) => d.table().to_string(),
        }
    }

    /// Is it shared beyond this process (a table)?
    pub fn is_shared(&self) -> bool {
        !matches!(self, Store::Memory(_))
    }

    /// The item at `key`, unless absent or expired at `now` (epoch
    /// seconds).
    pub async fn get(&self, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.get(key, now)),
            Store::Dynamo(d) => d.get(key, now).await,
        }
    }

    /// Write `state` at `key` if the item is still at version `expected`
    /// (`None`: if there is no item, or only an expired one, at `now`).
    /// `Ok(true)`: written (the new version is `expected + 1`, or 1);
    /// `Ok(false)`: someone else wrote first, nothing changed.
    pub async fn put(
        &self,
        key: &Key,
        state: &Value,
        expected: Option<u64>,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.put(key, state, expected, expires_at, now)),
            Store::Dynamo(d) => d.put(key, state, expected, expires_at, now).await,
        }
    }

    /// Delete the item at `key` if it is still at version `expected`.
    /// `Ok(false)`: it changed (or is gone); nothing deleted.
    pub async fn delete(&self, key: &Key, expected: u64) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.delete(key, expected)),
            Store::Dynamo(d) => d.delete(key, expected).await,
        }
    }

    /// The items of partition `pk` whose sort key is at most `upto`, in
    /// sort-key order, at most `limit` of them, expired ones left out.
    pub async fn query(
        &self,
        pk: &str,
        upto: &str,
        limit: usize,
        now: i64,
    ) -> Result<Vec<(Key, Item)>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.query(pk, upto, limit, now)),
            Store::Dynamo(d) => d.query(pk, upto, limit, now).await,
        }
    }
}

/// The in-memory store: a sorted map behind a mutex.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<Key, Item>>,
    requests: Requests,
}

/// Requests made to a store, by kind: what the same calls would cost on
/// DynamoDB (one GetItem, PutItem, DeleteItem or Query page each).
#[derive(Debug, Default)]
pub struct Requests {
    /// Reads.
    pub gets: std::sync::atomic::AtomicU64,
    /// Conditional writes.
    pub puts: std::sync::atomic::AtomicU64,
    /// Conditional deletes.
    pub deletes: std::sync::atomic::AtomicU64,
    /// Queries.
    pub queries: std::sync::atomic::AtomicU64,
}

impl Requests {
    /// (gets, puts, deletes, queries) so far.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        (
            get(&self.gets),
            get(&self.puts),
            get(&self.deletes),
            get(&self.queries),
        )
    }

    fn add(a: &std::sync::atomic::AtomicU64) {
        a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Store {
    /// The requests made so far, for the in-memory store (`None` for a
    /// table, whose requests CloudWatch counts).
    pub fn requests(&self) -> Option<&Requests> {
        match self {
            Store::Memory(m) => Some(&m.requests),
            Store::Dynamo(_) => None,
        }
    }
}

impl MemoryStore {
    fn get(&self, key: &Key, now: i64) -> Option<Item> {
        Requests::add(&self.requests.gets);
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.get(key).filter(|i| i.expires_at > now).cloned()
    }

    fn put(
        &self,
        key: &Key,
        state: &Value,
        expected: Option<u64>,
        expires_at: i64,
        now: i64,
    ) -> bool {
        Requests::add(&self.requests.puts);
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        // Expired items go now and then (DynamoDB's TTL does this for a
        // table), so a long run or a warm Lambda does not keep them all.
        if self
            .requests
            .puts
            .load(std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(1024)
        {
            items.retain(|_, i| i.expires_at > now);
        }
        let current = items
            .get(key)
            .filter(|i| i.expires_at > now)
            .map(|i| i.version);
        if current != expected {
            return false;
        }
        let version = expected.map_or(1, |v| v + 1);
        items.insert(
            key.clone(),
            Item {
                state: state.clone(),
                version,
                expires_at,
            },
        );
        true
    }

    fn delete(&self, key: &Key, expected: u64) -> bool {
        Requests::add(&self.requests.deletes);
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if items.get(key).map(|i| i.version) != Some(expected) {
            return false;
        }
        items.remove(key);
        true
    }

    fn query(&self, pk: &str, upto: &str, limit: usize, now: i64) -> Vec<(Key, Item)> {
        Requests::add(&self.requests.queries);
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let from = Key::new(pk, "");
        items
            .range(from..)
            .take_while(|(k, _)| k.pk == pk && k.sk.as_str() <= upto)
            .filter(|(_, i)| i.expires_at > now)
            .take(limit)
            .map(|(k, i)| (k.clone(), i.clone()))
            .collect()
    }
}

/// The cases every store must pass; run on the memory store here and on
/// DynamoDB (moto) in the end-to-end tests.
pub mod conformance {
    use super::*;
    use serde_json::json;

    /// Run every case on `store` (which must be empty of `pk`s starting
    /// with `prefix`); panics with what differed.
    pub async fn run(store: &Store, prefix: &str) {
        let now = 1_000_000;
        let k = Key::new(format!("{prefix}a"), "x");
        assert_eq!(store.get(&k, now).await.unwrap(), None);
        assert!(store
            .put(&k, &json!({"n": 1}), None, now + 60, now)
            .await
            .unwrap());
        assert!(
            !store
                .put(&k, &json!({"n": 9}), None, now + 60, now)
                .await
                .unwrap(),
            "a create over an existing item must fail"
        );
        let item = store.get(&k, now).await.unwrap().unwrap();
        assert_eq!(
            (item.state.clone(), item.version, item.expires_at),
            (json!({"n": 1}), 1, now + 60)
        );
        assert!(!store
            .put(&k, &json!({"n": 2}), Some(7), now + 60, now)
            .await
            .unwrap());
        assert!(store
            .put(&k, &json!({"n": 2}), Some(1), now + 120, now)
            .await
            .unwrap());
        let item = store.get(&k, now).await.unwrap().unwrap();
        assert_eq!((item.state, item.version), (json!({"n": 2}), 2));
        // Expired: absent, and can be created again.
        assert_eq!(store.get(&k, now + 120).await.unwrap(), None);
        assert!(store
            .put(&k, &json!({"n": 3}), None, now + 500, now + 120)
            .await
            .unwrap());
        assert_eq!(store.get(&k, now + 121).await.unwrap().unwrap().version, 1);
        // Delete only at the expected version.
        assert!(!store.delete(&k, 5).await.unwrap());
        assert!(store.delete(&k, 1).await.unwrap());
        assert_eq!(store.get(&k, now).await.unwrap(), None);
        // Query: one partition, sort keys up to a bound, in order.
        let pk = format!("{prefix}due");
        for sk in ["0003#c", "0001#a", "0002#b", "0009#z"] {
            let key = Key::new(pk.clone(), sk);
            assert!(store
                .put(&key, &json!(sk), None, now + 60, now)
                .await
                .unwrap());
        }
        let other = Key::new(format!("{prefix}duf"), "0000");
        assert!(store
            .put(&other, &json!(0), None, now + 60, now)
            .await
            .unwrap());
        let found = store.query(&pk, "0003~", 10, now).await.unwrap();
        let sks: Vec<&str> = found.iter().map(|(k, _)| k.sk.as_str()).collect();
        assert_eq!(sks, ["0001#a", "0002#b", "0003#c"]);
        let found = store.query(&pk, "0003~", 2, now).await.unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1.state, json!("0001#a"));
        assert!(store
            .query(&pk, "0009~", 10, now + 60)
            .await
            .unwrap()
            .is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_conforms() {
        conformance::run(&Store::memory(), "t-").await;
    }

    #[test]
    fn the_table_comes_from_the_environment_unless_blank() {
        let from = |v: Option<&'static str>| {
            Store::table_from_env(move |k| {
                assert_eq!(k, "TATTLETAIL_STATE_TABLE");
                v.map(String::from)
            })
        };
        assert_eq!(from(None), None);
        assert_eq!(from(Some("")), None);
        assert_eq!(from(Some("  ")), None);
        assert_eq!(
            from(Some(" tattletail-state ")).as_deref(),
            Some("tattletail-state")
        );
    }

    #[tokio::test]
    async fn a_table_needs_the_dynamodb_client() {
        let clients = Clients::new(&crate::aws::Settings::default(), Default::default())
            .await
            .unwrap();
        let err = Store::from_table(&clients, "t").err().unwrap();
        assert!(err.to_string().contains("Needs.dynamodb"), "{err}");
        assert_eq!(Store::memory().name(), "memory");
        assert!(!Store::memory().is_shared());
    }
}
