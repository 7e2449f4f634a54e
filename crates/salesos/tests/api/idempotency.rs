use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

async fn post_with_key(app: &TestApp, key: &str, body: Value) -> (Answer, Option<String>) {
    let res = app
        .client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&app.admin_key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = res.status();
    let headers = res.headers().clone();
    let body: Value = res.json().await.expect("json");
    (
        Answer {
            status,
            headers,
            body,
        },
        replayed,
    )
}

#[tokio::test]
async fn a_repeated_post_returns_the_first_answer_and_creates_nothing() {
    let app = spawn_app().await;
    let body = json!({"email": "once@acme.test", "first_name": "Once"});
    let (first, replayed) = post_with_key(&app, "order-42", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(replayed.is_none());
    let (second, replayed) = post_with_key(&app, "order-42", body.clone()).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(second.body, first.body, "the same answer, byte for byte");
    let list = app.get("/api/v1/contacts").await;
    assert_eq!(
        list.body["data"].as_array().map(Vec::len),
        Some(1),
        "one contact, not two"
    );

    let (different, _) = post_with_key(&app, "order-42", json!({"email": "other@acme.test"})).await;
    assert_eq!(different.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        different.body["type"],
        "urn:salesos:problem:idempotency-key-reused"
    );

    // Validation failures are answers too: repeated, not re-run.
    let (bad, _) = post_with_key(&app, "bad-1", json!({"email": "nope"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (bad_again, replayed) = post_with_key(&app, "bad-1", json!({"email": "nope"})).await;
    assert_eq!(bad_again.body, bad.body);
    assert_eq!(replayed.as_deref(), Some("true"));

    // Keys belong to a workspace: another workspace may use the same key.
    let other = app.other_workspace_key().await;
    let res = app
        .client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "order-42")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_key_outside_the_documented_rule_is_refused_as_sent_and_writes_nothing() {
    let app = spawn_app().await;
    // (Spaces around a header's value are not part of it on the wire.)
    let long = "k".repeat(256);
    for key in ["with\ttab", "caf\u{e9}", long.as_str()] {
        let (a, _) = post_with_key(&app, key, json!({"email": "ada@example.com"})).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{key:?}: {}",
            a.body
        );
        assert_eq!(a.problem_fields(), ["Idempotency-Key"], "{key:?}");
    }
    let (ok, _) = post_with_key(
        &app,
        "a key with spaces",
        json!({"email": "ada@example.com"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let list = app.get("/api/v1/contacts").await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
}
