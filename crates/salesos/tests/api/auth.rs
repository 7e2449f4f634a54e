use reqwest::{Method, StatusCode};
use salesos_platform::auth::Role;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn callers_without_a_valid_key_are_refused() {
    let app = spawn_app().await;
    let none = app
        .client
        .get(app.url("/api/v1/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");

    let garbage = app
        .call(Method::GET, "/api/v1/contacts", "sos_nope", None)
        .await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    // A well-formed key with a wrong secret.
    let (prefix, _) = app
        .admin_key
        .trim_start_matches("sos_")
        .split_once('_')
        .expect("key");
    let forged = format!("sos_{prefix}_{}", "A".repeat(32));
    assert_eq!(
        app.call(Method::GET, "/api/v1/contacts", &forged, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_and_revocation_is_immediate() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "zapier", "role": "manager"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("sos_"));
    let id = created.body["id"].as_str().expect("id").to_owned();

    assert_eq!(
        app.call(Method::GET, "/api/v1/contacts", &key, None)
            .await
            .status,
        StatusCode::OK
    );
    // Cached after the first check; still right the second time.
    assert_eq!(
        app.call(Method::GET, "/api/v1/contacts", &key, None)
            .await
            .status,
        StatusCode::OK
    );

    let listed = app.get("/api/v1/api-keys").await;
    let row = listed.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|k| k["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert!(row.get("key").is_none(), "the secret is never listed");
    assert!(
        row["last_used_at"].is_string(),
        "last use is recorded: {row}"
    );

    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let after = app.call(Method::GET, "/api/v1/contacts", &key, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        after.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("revoked")
    );

    let past = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "old", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.problem_fields(), ["expires_at"]);
    let bad_role = app
        .post("/api/v1/api-keys", json!({"name": "x", "role": "owner"}))
        .await;
    assert_eq!(bad_role.problem_fields(), ["role"]);
}

#[tokio::test]
async fn expired_keys_stop_working() {
    let app = spawn_app().await;
    let soon = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "brief", "role": "viewer", "expires_at": soon}),
        )
        .await;
    let key = created.body["key"].as_str().expect("key").to_owned();
    let res = app.call(Method::GET, "/api/v1/contacts", &key, None).await;
    assert_eq!(res.status, StatusCode::OK, "valid until it expires");
    app.advance(std::time::Duration::from_secs(3601));
    let res = app.call(Method::GET, "/api/v1/contacts", &key, None).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("expired")
    );
}

#[tokio::test]
async fn roles_are_enforced_on_every_route() {
    let app = spawn_app().await;
    let contact = app.contact(json!({"email": "c@acme.test"})).await;
    let cid = contact["id"].as_str().expect("id").to_owned();
    for role in [Role::Viewer, Role::Analyst] {
        let (_, key) = app.member(&format!("{role}@acme.test"), role).await;
        assert_eq!(
            app.call(Method::GET, "/api/v1/contacts", &key, None)
                .await
                .status,
            StatusCode::OK,
            "{role} reads"
        );
        let write = app
            .call(
                Method::POST,
                "/api/v1/contacts",
                &key,
                Some(json!({"email": "n@acme.test"})),
            )
            .await;
        assert_eq!(write.status, StatusCode::FORBIDDEN, "{role} may not write");
        assert_eq!(write.content_type(), "application/problem+json");
        assert_eq!(
            app.call(
                Method::DELETE,
                &format!("/api/v1/contacts/{cid}"),
                &key,
                None
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.call(Method::GET, "/api/v1/api-keys", &key, None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.call(Method::GET, "/api/v1/audit", &key, None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
    let (_, manager) = app.member("manager@acme.test", Role::Manager).await;
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("/api/v1/contacts/{cid}"),
            &manager,
            Some(json!({"title": "VP"}))
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/api-keys",
            &manager,
            Some(json!({"name": "x", "role": "admin"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn reps_see_and_change_only_their_own_and_unassigned_records() {
    let app = spawn_app().await;
    let (rep_a, key_a) = app.member("a@acme.test", Role::Rep).await;
    let (rep_b, _key_b) = app.member("b@acme.test", Role::Rep).await;
    let mine = app
        .contact(json!({"email": "mine@x.co", "owner_id": rep_a}))
        .await;
    let theirs = app
        .contact(json!({"email": "theirs@x.co", "owner_id": rep_b}))
        .await;
    app.contact(json!({"email": "nobody@x.co"})).await;

    let list = app
        .call(
            Method::GET,
            "/api/v1/contacts?sort=created_at",
            &key_a,
            None,
        )
        .await;
    let emails: Vec<&str> = list.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["email"].as_str().expect("e"))
        .collect();
    assert_eq!(emails, ["mine@x.co", "nobody@x.co"]);
    let theirs_id = theirs["id"].as_str().expect("id");
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/api/v1/contacts/{theirs_id}"),
            &key_a,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("/api/v1/contacts/{theirs_id}"),
            &key_a,
            Some(json!({"title": "x"}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("/api/v1/contacts/{}", mine["id"].as_str().expect("id")),
            &key_a,
            Some(json!({"title": "x"}))
        )
        .await
        .status,
        StatusCode::OK
    );
    // A rep's new contact is theirs; they cannot hand one to someone else.
    let created = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &key_a,
            Some(json!({"email": "new@x.co"})),
        )
        .await;
    assert_eq!(created.body["owner_id"], rep_a.to_string());
    let gift = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &key_a,
            Some(json!({"email": "gift@x.co", "owner_id": rep_b})),
        )
        .await;
    assert_eq!(gift.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_workspaces_records_answer_404() {
    let app = spawn_app().await;
    let contact = app.contact(json!({"email": "secret@acme.test"})).await;
    let account = app
        .post("/api/v1/accounts", json!({"name": "Acme"}))
        .await
        .body;
    let other = app.other_workspace_key().await;
    let cid = contact["id"].as_str().expect("id");
    let aid = account["id"].as_str().expect("id");
    for (method, path) in [
        (Method::GET, format!("/api/v1/contacts/{cid}")),
        (Method::PATCH, format!("/api/v1/contacts/{cid}")),
        (Method::DELETE, format!("/api/v1/contacts/{cid}")),
        (Method::GET, format!("/api/v1/contacts/{cid}/activities")),
        (Method::GET, format!("/api/v1/accounts/{aid}")),
        (Method::GET, format!("/api/v1/accounts/{aid}/contacts")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"title": "x"}));
        let res = app.call(method.clone(), &path, &other, body).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let list = app
        .call(Method::GET, "/api/v1/contacts", &other, None)
        .await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(0));
    let link = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &other,
            Some(json!({"email": "x@y.co", "account_id": aid})),
        )
        .await;
    assert_eq!(
        link.problem_fields(),
        ["account_id"],
        "cannot link to another workspace's account"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_app_with(|s| s.rate_limit_per_minute = 5).await;
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/contacts").await.status, StatusCode::OK);
    }
    let limited = app.get("/api/v1/contacts").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("h")
        .parse()
        .expect("secs");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.content_type(), "application/problem+json");
    // Unauthenticated routes are limited per IP.
    for _ in 0..5 {
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .expect("req");
    }
    let res = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}
