//! The suppression list through `/api/v1/suppressions`: addresses and whole domains,
//! checked case-insensitively, with their reason, source, events and audit trail.

use reqwest::{Method, StatusCode};
use salesos_platform::auth::Role;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn values(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["value"].as_str().expect("value").to_owned())
        .collect()
}

#[tokio::test]
async fn a_domain_entry_suppresses_its_subdomains_and_an_address_only_itself() {
    let app = spawn_app().await;
    let domain = app
        .post(
            "/api/v1/suppressions",
            json!({"domain": "https://www.Competitor.COM/pricing", "reason": "do_not_contact", "note": "  their staff  "}),
        )
        .await;
    assert_eq!(domain.status, StatusCode::CREATED, "{}", domain.body);
    assert_eq!(domain.body["kind"], "domain");
    assert_eq!(domain.body["value"], "competitor.com");
    assert_eq!(domain.body["source"], "api");
    assert_eq!(domain.body["note"], "their staff");
    assert_eq!(domain.body["created_by"], app.admin_id.to_string());
    let address = app
        .post(
            "/api/v1/suppressions",
            json!({"email": " Ada@Example.com ", "reason": "unsubscribed"}),
        )
        .await;
    assert_eq!(address.status, StatusCode::CREATED, "{}", address.body);
    assert_eq!(address.body["value"], "ada@example.com");

    let check = |email: &'static str| {
        let app = &app;
        async move {
            let a = app
                .get(&format!("/api/v1/suppressions/check?email={email}"))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            a.body
        }
    };
    let sub = check("Bob@EU.Competitor.com").await;
    assert_eq!(sub["email"], "bob@eu.competitor.com");
    assert_eq!(sub["suppressed"], true, "{sub}");
    assert_eq!(sub["by"][0]["id"], domain.body["id"], "{sub}");
    let ada = check("ADA@example.com").await;
    assert_eq!(ada["suppressed"], true, "{ada}");
    assert_eq!(ada["by"][0]["reason"], "unsubscribed");
    // Another address at the same domain, and a look-alike domain, may be mailed.
    let other = check("grace@example.com").await;
    assert_eq!(other["suppressed"], false, "{other}");
    assert_eq!(other["by"], json!([]));
    let lookalike = check("x@notcompetitor.com").await;
    assert_eq!(lookalike["suppressed"], false, "{lookalike}");

    // The same entry twice is a conflict, whatever its case; nothing is half-written.
    let again = app
        .post(
            "/api/v1/suppressions",
            json!({"email": "ADA@EXAMPLE.COM", "reason": "manual"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.problem_fields(), ["email"], "{}", again.body);
    let list = app.get("/api/v1/suppressions").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(values(&list.body), ["ada@example.com", "competitor.com"]);

    // Filters and pages.
    let domains = app.get("/api/v1/suppressions?kind=domain").await;
    assert_eq!(values(&domains.body), ["competitor.com"]);
    let unsub = app.get("/api/v1/suppressions?reason=unsubscribed").await;
    assert_eq!(values(&unsub.body), ["ada@example.com"]);
    let found = app.get("/api/v1/suppressions?q=COMPET").await;
    assert_eq!(values(&found.body), ["competitor.com"]);
    let first = app.get("/api/v1/suppressions?limit=1").await;
    assert_eq!(values(&first.body), ["ada@example.com"]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/api/v1/suppressions?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(values(&second.body), ["competitor.com"]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    // Taking the domain off lets its addresses be mailed again.
    let id = domain.body["id"].as_str().expect("id");
    let gone = app.delete(&format!("/api/v1/suppressions/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(
        app.get(&format!("/api/v1/suppressions/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(check("bob@eu.competitor.com").await["suppressed"], false);

    // Each change is an event and an audit entry.
    for (topic, n) in [("suppression.added", 2), ("suppression.removed", 1)] {
        let events = app.get(&format!("/api/v1/events?type={topic}")).await;
        assert_eq!(
            events.body["data"].as_array().map(Vec::len),
            Some(n),
            "{topic}: {}",
            events.body
        );
    }
    let removed = app.get("/api/v1/events?type=suppression.removed").await;
    assert_eq!(removed.body["data"][0]["data"]["value"], "competitor.com");
    let audit = app
        .get(&format!(
            "/api/v1/audit?entity_type=suppression&entity_id={id}"
        ))
        .await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["suppression.removed", "suppression.added"],
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn bad_entries_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    for (body, field) in [
        (
            json!({"email": "not an address", "reason": "manual"}),
            "email",
        ),
        (json!({"domain": "localhost", "reason": "manual"}), "domain"),
        (
            json!({"email": "a@b.com", "domain": "b.com", "reason": "manual"}),
            "domain",
        ),
        (json!({"reason": "manual"}), "email"),
        (
            json!({"email": "a@b.com", "reason": "manual", "note": "x".repeat(501)}),
            "note",
        ),
    ] {
        let a = app.post("/api/v1/suppressions", body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            a.body
        );
        assert_eq!(a.problem_fields(), [field], "{body}: {}", a.body);
        assert_eq!(a.content_type(), "application/problem+json");
    }
    let unknown = app
        .post(
            "/api/v1/suppressions",
            json!({"email": "a@b.com", "reason": "bored"}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.to_string().contains("reason"),
        "{}",
        unknown.body
    );
    let check = app.get("/api/v1/suppressions/check?email=nope").await;
    assert_eq!(
        check.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        check.body
    );
    assert_eq!(check.problem_fields(), ["email"], "{}", check.body);
    let list = app.get("/api/v1/suppressions").await;
    assert_eq!(list.body["data"], json!([]), "{}", list.body);
}

#[tokio::test]
async fn reps_read_the_list_managers_change_it_and_workspaces_never_see_each_other() {
    let app = spawn_app().await;
    let (_, rep) = app.member("rep@acme.test", Role::Rep).await;
    let (_, manager) = app.member("manager@acme.test", Role::Manager).await;
    let body = json!({"email": "ceo@bigco.com", "reason": "manual"});
    let refused = app
        .call(
            Method::POST,
            "/api/v1/suppressions",
            &rep,
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let made = app
        .call(Method::POST, "/api/v1/suppressions", &manager, Some(body))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().expect("id");
    // A rep must know whom not to mail.
    let seen = app
        .call(
            Method::GET,
            "/api/v1/suppressions/check?email=ceo@bigco.com",
            &rep,
            None,
        )
        .await;
    assert_eq!(seen.body["suppressed"], true, "{}", seen.body);
    let path = format!("/api/v1/suppressions/{id}");
    assert_eq!(
        app.call(Method::DELETE, &path, &rep, None).await.status,
        StatusCode::FORBIDDEN
    );

    let other = app.other_workspace_key().await;
    for method in [Method::GET, Method::DELETE] {
        let a = app.call(method.clone(), &path, &other, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {}", a.body);
    }
    let theirs = app
        .call(
            Method::GET,
            "/api/v1/suppressions/check?email=ceo@bigco.com",
            &other,
            None,
        )
        .await;
    assert_eq!(theirs.body["suppressed"], false, "{}", theirs.body);
    let list = app
        .call(Method::GET, "/api/v1/suppressions", &other, None)
        .await;
    assert_eq!(list.body["data"], json!([]));
    // Still there for its own workspace.
    assert_eq!(app.get(&path).await.status, StatusCode::OK);
}
