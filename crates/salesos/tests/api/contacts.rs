use reqwest::StatusCode;
use salesos_platform::auth::Role;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn create_read_update_delete_a_contact() {
    let app = spawn_app().await;
    let created = app
        .contact(json!({
            "first_name": "Ada", "last_name": "Lovelace", "email": "  Ada@Example.COM ",
            "title": "CTO", "timezone": "Europe/London", "country": "gb", "tier": 1,
            "consent": {"basis": "legitimate_interest", "obtained_at": "2026-01-02T03:04:05Z", "source": "conference"},
            "custom_fields": {"shoe_size": 38}, "crm_ids": {"hubspot": "123"}
        }))
        .await;
    assert_eq!(created["email"], "ada@example.com");
    assert_eq!(created["country"], "GB");
    assert_eq!(created["status"], "new");
    assert_eq!(created["consent"]["basis"], "legitimate_interest");
    let id = created["id"].as_str().expect("id");

    let got = app.get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["custom_fields"]["shoe_size"], 38);
    assert_eq!(got.body["crm_ids"]["hubspot"], "123");

    let patched = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            json!({"title": "CEO", "city": "London", "tier": null}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["title"], "CEO");
    assert_eq!(patched.body["tier"], serde_json::Value::Null);
    assert_eq!(patched.body["first_name"], "Ada", "absent fields stay");

    let timeline = app.get(&format!("/api/v1/contacts/{id}/activities")).await;
    let entries = timeline.body["data"].as_array().expect("data");
    assert_eq!(entries.len(), 2, "{}", timeline.body);
    assert_eq!(
        entries[0]["metadata"]["changes"]["title"],
        json!({"from": "CTO", "to": "CEO"})
    );
    assert_eq!(entries[1]["subject"], "Contact created");

    let note = app
        .post(
            &format!("/api/v1/contacts/{id}/activities"),
            json!({"kind": "call", "subject": "Intro call", "body": "Wants a demo"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let timeline = app
        .get(&format!("/api/v1/contacts/{id}/activities?kind=call"))
        .await;
    assert_eq!(timeline.body["data"][0]["subject"], "Intro call");

    assert_eq!(
        app.delete(&format!("/api/v1/contacts/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = app.get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.content_type(), "application/problem+json");
}

#[tokio::test]
async fn bad_input_is_named_and_never_a_500() {
    let app = spawn_app().await;
    let malformed = app
        .post_raw("/api/v1/contacts", "application/json", "{\"email\": ")
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.content_type(), "application/problem+json");
    assert_eq!(malformed.body["type"], "urn:salesos:problem:bad-request");

    let wrong_type = app
        .post(
            "/api/v1/contacts",
            json!({"email": "a@b.co", "tier": "gold"}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_type.problem_fields(), ["tier"]);

    let unknown = app
        .post(
            "/api/v1/contacts",
            json!({"email": "a@b.co", "favourite_colour": "red"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.problem_fields(), ["favourite_colour"]);

    let invalid = app
        .post(
            "/api/v1/contacts",
            json!({"email": "not-an-email", "timezone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.problem_fields(), ["email", "timezone"]);
    assert_eq!(invalid.body["title"], "Invalid input");

    let nested = app.post("/api/v1/contacts", json!({"email": "a@b.co", "consent": {"basis": "vibes", "obtained_at": "2026-01-01T00:00:00Z"}})).await;
    assert_eq!(nested.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nested.problem_fields(), ["consent.basis"]);

    let not_json = app
        .post_raw("/api/v1/contacts", "text/plain", "email=a@b.co")
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let bad_id = app.get("/api/v1/contacts/not-a-uuid").await;
    assert_eq!(bad_id.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_id.problem_fields(), ["id"]);

    let bad_filter = app.get("/api/v1/contacts?status=hot&limit=5000").await;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Bytes after the JSON value are refused, not ignored.
    let trailing = app
        .post_raw(
            "/api/v1/contacts",
            "application/json",
            "{\"email\": \"one@b.co\"} {\"email\": \"two@b.co\"}",
        )
        .await;
    assert_eq!(
        trailing.status,
        StatusCode::BAD_REQUEST,
        "{}",
        trailing.body
    );
    assert!(
        trailing.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("trailing"),
        "{}",
        trailing.body
    );

    // NUL (U+0000) in any text: PostgreSQL cannot hold it, so it is named, never a 500.
    let nul_body = app
        .post_raw(
            "/api/v1/contacts",
            "application/json",
            r#"{"email": "a@b.co", "title": "C\u0000O"}"#,
        )
        .await;
    assert_eq!(
        nul_body.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        nul_body.body
    );
    assert_eq!(nul_body.problem_fields(), ["title"]);
    for path in [
        "/api/v1/contacts?q=a%00b",
        "/api/v1/contacts/export.csv?q=a%00b",
        "/api/v1/accounts?q=a%00b",
    ] {
        let nul = app.get(path).await;
        assert_eq!(
            nul.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            nul.body
        );
        assert_eq!(nul.problem_fields(), ["q"], "{path}");
    }
    let (browser, _) = app.browser_session(&app.admin_email).await;
    for path in ["/app/contacts?q=a%00b", "/app/accounts?q=a%00b"] {
        let page = browser.get(app.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let text = page.text().await.expect("text");
        assert!(text.contains("NUL"), "{path}: the page says what is wrong");
    }

    // Nothing half-written: the workspace has no contacts after all that.
    let list = app.get("/api/v1/contacts").await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn emails_are_unique_per_workspace_ignoring_case() {
    let app = spawn_app().await;
    app.contact(json!({"email": "grace@navy.mil"})).await;
    let dup = app
        .post("/api/v1/contacts", json!({"email": "Grace@NAVY.mil"}))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.problem_fields(), ["email"]);

    let other = app.contact(json!({"email": "hopper@navy.mil"})).await;
    let clash = app
        .patch(
            &format!("/api/v1/contacts/{}", other["id"].as_str().expect("id")),
            json!({"email": "GRACE@navy.mil"}),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert_eq!(clash.problem_fields(), ["email"]);

    // Another workspace may hold the same address.
    let other_key = app.other_workspace_key().await;
    let elsewhere = app
        .call(
            reqwest::Method::POST,
            "/api/v1/contacts",
            &other_key,
            Some(json!({"email": "grace@navy.mil"})),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED);
}

#[tokio::test]
async fn list_filters_search_and_sorts() {
    let app = spawn_app().await;
    let (rep_id, _) = app.member("rep@acme.test", Role::Rep).await;
    let account = app
        .post(
            "/api/v1/accounts",
            json!({"name": "Initech", "domain": "initech.com"}),
        )
        .await
        .body;
    let acc_id = account["id"].as_str().expect("id");
    app.contact(json!({"first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.com", "title": "Programmer", "account_id": acc_id, "status": "engaged", "tier": 2})).await;
    app.contact(json!({"first_name": "Bill", "last_name": "Lumbergh", "email": "bill@initech.com", "title": "Vice President", "owner_id": rep_id, "status": "engaged", "engagement_score": 90})).await;
    app.contact(json!({"first_name": "Milton", "last_name": "Waddams", "email": "milton@stapler.org", "company": "Red Stapler Fans", "engagement_score": 10})).await;

    let names = |body: &serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|c| c["last_name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.get("/api/v1/contacts").await.body),
        ["Waddams", "Lumbergh", "Gibbons"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=initech").await.body),
        ["Lumbergh", "Gibbons"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=STAPLER%20fans").await.body),
        ["Waddams"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=vice%20pres").await.body),
        ["Lumbergh"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=lu").await.body),
        ["Lumbergh"],
        "two-letter terms work too"
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=100%25").await.body),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    assert_eq!(
        names(
            &app.get(&format!(
                "/api/v1/contacts?status=engaged&owner_id={rep_id}"
            ))
            .await
            .body
        ),
        ["Lumbergh"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?owner_id=none&status=engaged")
                .await
                .body
        ),
        ["Gibbons"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?tier=2").await.body),
        ["Gibbons"]
    );
    assert_eq!(
        names(
            &app.get(&format!("/api/v1/contacts?account_id={acc_id}"))
                .await
                .body
        ),
        ["Gibbons"]
    );
    assert_eq!(
        names(
            &app.get(&format!("/api/v1/accounts/{acc_id}/contacts"))
                .await
                .body
        ),
        ["Gibbons"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?sort=-engagement_score")
                .await
                .body
        ),
        ["Lumbergh", "Waddams", "Gibbons"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?sort=created_at").await.body),
        ["Gibbons", "Lumbergh", "Waddams"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?created_after=2100-01-01T00:00:00Z")
                .await
                .body
        ),
        Vec::<String>::new()
    );
    let bad_sort = app.get("/api/v1/contacts?sort=password").await;
    assert_eq!(bad_sort.problem_fields(), ["sort"]);
    // The company of a linked account is filled in and searchable.
    let peter = app.get("/api/v1/contacts?q=peter").await.body;
    assert_eq!(peter["data"][0]["company"], "Initech");
}

#[tokio::test]
async fn paging_while_rows_are_added_never_repeats_or_skips() {
    let app = spawn_app().await;
    for i in 0..25 {
        app.contact(json!({"email": format!("p{i:02}@page.test")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/contacts?limit=7&sort=created_at&cursor={c}"),
            None => "/api/v1/contacts?limit=7&sort=created_at".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for c in page.body["data"].as_array().expect("data") {
            seen.push(c["email"].as_str().expect("email").to_owned());
        }
        // Rows arrive between pages, as they would during an import.
        app.contact(json!({"email": format!("new{added:02}@page.test")}))
            .await;
        added += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(added < 20, "paging must end");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no row repeated");
    for i in 0..25 {
        assert!(
            seen.contains(&format!("p{i:02}@page.test")),
            "row {i} skipped"
        );
    }
    let default_order = app.get("/api/v1/contacts?limit=500").await;
    assert_eq!(
        default_order.body["data"].as_array().map(Vec::len),
        Some(25 + added)
    );
}
