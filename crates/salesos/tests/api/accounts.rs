use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn accounts_normalise_domains_and_keep_them_unique() {
    let app = spawn_app().await;
    let created = app
        .post("/api/v1/accounts", json!({"name": "Acme Corp", "domain": "https://www.ACME.com/about", "company_size": "51-200", "annual_revenue_micros": 12_000_000_000_000i64, "fit_score": 0.8}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["domain"], "acme.com");
    assert_eq!(created.body["company_size"], "51-200");
    let id = created.body["id"].as_str().expect("id");

    let dup = app
        .post(
            "/api/v1/accounts",
            json!({"name": "Acme again", "domain": "acme.com"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.problem_fields(), ["domain"]);

    let invalid = app
        .post(
            "/api/v1/accounts",
            json!({"domain": "not a domain", "fit_score": 3}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.problem_fields(), ["name", "domain", "fit_score"]);

    let found = app.get("/api/v1/accounts?domain=http://acme.com").await;
    assert_eq!(found.body["data"][0]["id"], id);
    let searched = app.get("/api/v1/accounts?q=acme").await;
    assert_eq!(searched.body["data"].as_array().map(Vec::len), Some(1));

    let patched = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            json!({"status": "active", "industry": "Anvils"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["status"], "active");

    let timeline = app.get(&format!("/api/v1/accounts/{id}/activities")).await;
    assert_eq!(
        timeline.body["data"][0]["metadata"]["changes"]["industry"]["to"],
        "Anvils"
    );

    let contact = app
        .contact(json!({"email": "wile@acme.com", "account_id": id}))
        .await;
    let by_name = app.get("/api/v1/accounts?sort=name").await;
    assert_eq!(by_name.status, StatusCode::OK);

    // Deleting the account keeps its contacts, unlinked.
    assert_eq!(
        app.delete(&format!("/api/v1/accounts/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let c = app
        .get(&format!(
            "/api/v1/contacts/{}",
            contact["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["account_id"], serde_json::Value::Null);
}

#[tokio::test]
async fn contacts_must_point_at_real_accounts_and_members() {
    let app = spawn_app().await;
    let missing = uuid::Uuid::new_v4();
    let bad = app
        .post(
            "/api/v1/contacts",
            json!({"email": "x@y.co", "account_id": missing, "owner_id": missing}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.problem_fields(), ["account_id", "owner_id"]);
}
