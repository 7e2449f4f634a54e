//! The platform's event consumer, driven batch by batch on the real store: matching events
//! are handled once, in the transaction that advances the position; a failed batch leaves
//! everything as it was and comes again.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

use salesos_platform::{
    error::Error,
    runtime::{consumer, events::Event},
    store::{WriteTxn, exec},
};
use serde_json::json;

use crate::helpers::spawn_app;

/// Records what it handles in a table whose key refuses an event handled twice.
struct Ledger {
    fail_next: AtomicBool,
    seen: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl consumer::Consumer for Ledger {
    fn name(&self) -> &'static str {
        "test.ledger"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["contact.created"]
    }

    async fn handle(&self, txn: &WriteTxn, events: &[Event]) -> Result<(), Error> {
        for e in events {
            exec(
                txn,
                "INSERT INTO test_ledger (event_id) VALUES ($1)",
                vec![e.event_id.to_string().into()],
            )
            .await?;
        }
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(Error::Internal(anyhow::anyhow!("the ledger is down")));
        }
        let mut seen = self.seen.lock().expect("lock");
        seen.extend(events.iter().map(|e| e.event_type.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn a_consumer_handles_each_matching_event_once_and_retries_a_failed_batch() {
    let app = spawn_app().await;
    exec(
        app.store.conn(),
        "CREATE TABLE test_ledger (event_id text PRIMARY KEY)",
        vec![],
    )
    .await
    .expect("ledger table");
    let ledger = Ledger {
        fail_next: AtomicBool::new(true),
        seen: Mutex::new(Vec::new()),
    };
    let before = consumer::lag(app.store.conn(), "test.ledger")
        .await
        .expect("lag");
    for email in ["a@x.test", "b@x.test"] {
        app.contact(json!({"email": email})).await;
    }
    let account = app.post("/api/v1/accounts", json!({"name": "Acme"})).await;
    assert_eq!(account.status, reqwest::StatusCode::CREATED);
    let pending = consumer::lag(app.store.conn(), "test.ledger")
        .await
        .expect("lag");
    assert_eq!(pending, before + 3, "two contacts and an account");

    // The first batch fails after writing: nothing of it stays, the position stays.
    let err = consumer::run_once(&app.store, &ledger)
        .await
        .expect_err("the handler fails");
    assert!(matches!(err, Error::Internal(_)), "{err}");
    assert_eq!(
        consumer::lag(app.store.conn(), "test.ledger")
            .await
            .expect("lag"),
        pending
    );
    assert!(ledger.seen.lock().expect("lock").is_empty());

    // The retry handles the contacts (not the account) once; the position moves over all.
    let read = consumer::run_once(&app.store, &ledger)
        .await
        .expect("retry");
    assert_eq!(read as i64, pending);
    let seen = ledger.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.iter().filter(|t| *t == "contact.created").count(),
        2,
        "{seen:?}"
    );
    assert!(seen.iter().all(|t| t == "contact.created"), "{seen:?}");
    assert_eq!(
        consumer::lag(app.store.conn(), "test.ledger")
            .await
            .expect("lag"),
        0
    );
    assert_eq!(
        consumer::run_once(&app.store, &ledger).await.expect("idle"),
        0
    );

    // The webhook fan-out is a consumer like this one, and /metrics shows its lag.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("salesos_event_consumer_lag{consumer=\"webhooks\"}"),
        "{metrics}"
    );
}
