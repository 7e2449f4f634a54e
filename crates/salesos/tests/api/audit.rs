use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_write_is_in_the_audit_log_with_before_and_after() {
    let app = spawn_app().await;
    let c = app
        .contact(json!({"email": "audited@acme.test", "title": "CTO"}))
        .await;
    let id = c["id"].as_str().expect("id");
    app.patch(&format!("/api/v1/contacts/{id}"), json!({"title": "CEO"}))
        .await;
    app.delete(&format!("/api/v1/contacts/{id}")).await;

    let log = app
        .get(&format!("/api/v1/audit?entity_type=contact&entity_id={id}"))
        .await;
    assert_eq!(log.status, StatusCode::OK);
    let entries = log.body["data"].as_array().expect("data");
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().expect("a"))
        .collect();
    assert_eq!(
        actions,
        ["contact.deleted", "contact.updated", "contact.created"]
    );
    let updated = &entries[1];
    assert_eq!(updated["before_state"]["title"], "CTO");
    assert_eq!(updated["after_state"]["title"], "CEO");
    assert_eq!(updated["actor_type"], "user");
    assert_eq!(updated["actor_id"], app.admin_id.to_string());
    assert!(
        updated["request_id"].is_string(),
        "the request id ties the entry to the log lines"
    );
    assert_eq!(entries[0]["after_state"], serde_json::Value::Null);

    let page = app.get("/api/v1/audit?limit=1").await;
    let next = page.body["next_cursor"].as_str().expect("more entries");
    let page2 = app
        .get(&format!("/api/v1/audit?limit=1&cursor={next}"))
        .await;
    assert_ne!(page2.body["data"][0]["id"], page.body["data"][0]["id"]);
}
