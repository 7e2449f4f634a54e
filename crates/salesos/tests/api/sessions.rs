use reqwest::{Client, StatusCode};
use salesos::app::Application;
use serde_json::json;

use crate::helpers::{PASSWORD, empty_settings, spawn_app, spawn_app_with};

#[tokio::test]
async fn dashboard_sign_in_sets_a_locked_down_cookie() {
    let app = spawn_app().await;
    let anonymous = app
        .client
        .get(app.url("/app/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert!(
        anonymous.headers()["location"]
            .to_str()
            .expect("loc")
            .starts_with("/login?next=")
    );

    let res = app
        .client
        .post(app.url("/login"))
        .form(&[("email", app.admin_email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    for attr in ["salesos_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }

    let wrong = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", app.admin_email.as_str()),
            ("password", "wrong password!"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn sessions_call_the_api_but_unsafe_methods_need_the_csrf_token() {
    let app = spawn_app().await;
    let (client, csrf) = app.browser_session(&app.admin_email).await;
    let list = client
        .get(app.url("/api/v1/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(list.status(), StatusCode::OK);

    let forged = client
        .post(app.url("/api/v1/contacts"))
        .json(&json!({"email": "x@y.co"}))
        .send()
        .await
        .expect("req");
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "no CSRF token, no write"
    );
    let ok = client
        .post(app.url("/api/v1/contacts"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"email": "x@y.co"}))
        .send()
        .await
        .expect("req");
    assert_eq!(ok.status(), StatusCode::CREATED);

    // Dashboard forms carry the token as a field.
    let id = ok.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let no_token = client
        .post(app.url(&format!("/app/contacts/{id}")))
        .form(&[("title", "Boss")])
        .send()
        .await
        .expect("req");
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let with_token = client
        .post(app.url(&format!("/app/contacts/{id}")))
        .form(&[("_csrf", csrf.as_str()), ("title", "Boss")])
        .send()
        .await
        .expect("req");
    assert_eq!(with_token.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/api/v1/contacts/{id}")).await.body["title"],
        "Boss"
    );

    let out = client
        .post(app.url("/logout"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("req");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = client
        .get(app.url("/api/v1/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "the session is gone after sign-out"
    );
    for action in ["session.created", "session.deleted"] {
        let log = app.get(&format!("/api/v1/audit?action={action}")).await;
        assert_eq!(
            log.body["data"].as_array().map(Vec::len),
            Some(1),
            "{action} audited"
        );
        assert_eq!(log.body["data"][0]["entity_id"], app.admin_id.to_string());
    }
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app =
        spawn_app_with(|s| s.session_idle_timeout = std::time::Duration::from_secs(1800)).await;
    let (client, _) = app.browser_session(&app.admin_email).await;
    app.advance(std::time::Duration::from_secs(1200));
    let used = client
        .get(app.url("/api/v1/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(
        used.status(),
        StatusCode::OK,
        "20 idle minutes of 30: still signed in"
    );
    app.advance(std::time::Duration::from_secs(1801));
    let res = client
        .get(app.url("/api/v1/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let app = spawn_app_with(|s| s.login_attempts = 3).await;
    for _ in 0..3 {
        let r = app
            .client
            .post(app.url("/login"))
            .form(&[("email", "admin@acme.test"), ("password", "guess guess!")])
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "admin@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .expect("req");
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn first_run_setup_link_creates_the_first_admin_once() {
    let (settings, _guard) = empty_settings().await;
    let app = Application::build(settings).await.expect("build");
    let link = app
        .setup_url()
        .expect("a setup link when nobody can sign in");
    let base = app.base_url();
    let token = link.split("token=").nth(1).expect("token").to_owned();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let bad = client
        .get(format!("{base}/setup?token=wrong"))
        .send()
        .await
        .expect("req");
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    let form = client.get(&link).send().await.expect("req");
    assert_eq!(form.status(), StatusCode::OK);

    let short = client
        .post(format!("{base}/setup"))
        .form(&[
            ("token", token.as_str()),
            ("workspace_name", "Initech"),
            ("display_name", "Bill"),
            ("email", "bill@initech.com"),
            ("password", "short"),
        ])
        .send()
        .await
        .expect("req");
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .expect("text")
            .contains("at least 10 characters")
    );

    let done = client
        .post(format!("{base}/setup"))
        .form(&[
            ("token", token.as_str()),
            ("workspace_name", "Initech"),
            ("display_name", "Bill"),
            ("email", "bill@initech.com"),
            ("password", "TPS reports 4ever"),
        ])
        .send()
        .await
        .expect("req");
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let dashboard = client
        .get(format!("{base}/app/contacts"))
        .send()
        .await
        .expect("req");
    assert_eq!(
        dashboard.status(),
        StatusCode::OK,
        "signed in straight after setup"
    );
    assert!(dashboard.text().await.expect("text").contains("Initech"));

    let again = client.get(&link).send().await.expect("req");
    assert_eq!(again.status(), StatusCode::FORBIDDEN, "the link works once");
}
