use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("req");
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/ready")).send().await.expect("req");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<serde_json::Value>().await.expect("json")["database"],
        "ok"
    );

    app.get("/api/v1/contacts").await;
    app.get("/api/v1/contacts/00000000-0000-0000-0000-000000000000")
        .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            r#"salesos_http_requests_total{method="GET",route="/api/v1/contacts",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/contacts/{id}",status="404""#),
        "route templates, not raw ids: {metrics}"
    );
    assert!(
        metrics.contains("salesos_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("salesos_db_pool_connections"), "{metrics}");
    assert!(metrics.contains("salesos_build_info{version="), "{metrics}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/login")).send().await.expect("req");
    let h = res.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(!h["x-request-id"].is_empty());
    let given = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("req");
    assert_eq!(
        given.headers()["x-request-id"],
        "trace-me-123",
        "a caller's request id is kept"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_as_problems() {
    let app = crate::helpers::spawn_app_with(|s| s.max_body_bytes = 1024).await;
    let big = serde_json::json!({"email": "a@b.co", "custom_fields": {"blob": "x".repeat(4096)}});
    let res = app.post("/api/v1/contacts", big).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.content_type(), "application/problem+json");
}

#[tokio::test]
async fn openapi_document_and_offline_docs_page() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    // Operation ids are unique (a client generator names its methods by them), and every
    // link from a creation names an operation that exists and takes the `id` it passes.
    let mut ids = std::collections::HashMap::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                assert!(
                    ids.insert(id.to_owned(), (path.clone(), method.clone()))
                        .is_none(),
                    "operationId {id} twice"
                );
            }
        }
    }
    let created = &doc["paths"]["/api/v1/contacts"]["post"]["responses"]["201"]["links"];
    assert!(created["get_contacts_by_id"].is_object(), "{created}");
    let mut links = 0;
    for item in paths.values() {
        for op in item.as_object().expect("path item").values() {
            for link in op["responses"]["201"]["links"]
                .as_object()
                .into_iter()
                .flat_map(|l| l.values())
            {
                links += 1;
                let target = link["operationId"].as_str().expect("operationId");
                let (path, _) = ids
                    .get(target)
                    .unwrap_or_else(|| panic!("no operation {target}"));
                assert!(path.contains("{id}"), "{target} takes an id");
            }
        }
    }
    assert!(links >= 10, "{links} links");
    // A webhook's `events` state which patterns exist in this build.
    let topic_pattern = doc["components"]["schemas"]["TopicPattern"]["pattern"]
        .as_str()
        .expect("the topic pattern's rule");
    assert!(
        topic_pattern.contains("contact\\.created"),
        "{topic_pattern}"
    );
    assert_eq!(
        doc["components"]["schemas"]["NewWebhook"]["properties"]["events"]["items"]["$ref"],
        "#/components/schemas/TopicPattern"
    );
    for (path, methods) in [
        ("/api/v1/contacts", &["get", "post"][..]),
        ("/api/v1/contacts/{id}", &["get", "patch", "delete"][..]),
        ("/api/v1/contacts/{id}/activities", &["get", "post"][..]),
        ("/api/v1/accounts", &["get", "post"][..]),
        ("/api/v1/accounts/{id}", &["get", "patch", "delete"][..]),
        ("/api/v1/accounts/{id}/contacts", &["get"][..]),
        ("/api/v1/accounts/{id}/activities", &["get", "post"][..]),
        ("/api/v1/api-keys", &["get", "post"][..]),
        ("/api/v1/api-keys/{id}", &["delete"][..]),
        ("/api/v1/audit", &["get"][..]),
        ("/api/v1/jobs", &["get"][..]),
        ("/api/v1/jobs/{id}", &["get"][..]),
        ("/api/v1/jobs/{id}/retry", &["post"][..]),
        ("/api/v1/jobs/{id}/cancel", &["post"][..]),
        ("/api/v1/events", &["get"][..]),
        ("/api/v1/domains", &["get", "post"][..]),
        ("/api/v1/domains/{id}", &["get", "delete"][..]),
        ("/api/v1/domains/{id}/verify", &["post"][..]),
        ("/api/v1/emails", &["get"][..]),
        ("/api/v1/emails/send", &["post"][..]),
        ("/api/v1/emails/{id}", &["get"][..]),
        ("/api/v1/emails/{id}/tracking", &["get"][..]),
        ("/api/v1/mail-settings", &["get", "put"][..]),
        ("/api/v1/mailboxes", &["get", "post"][..]),
        ("/api/v1/mailboxes/{id}", &["get", "patch", "delete"][..]),
        ("/api/v1/mailboxes/{id}/test", &["post"][..]),
        ("/api/v1/suppressions", &["get", "post"][..]),
        ("/api/v1/suppressions/check", &["get"][..]),
        ("/api/v1/suppressions/import", &["post"][..]),
        ("/api/v1/suppressions/export.csv", &["get"][..]),
        ("/api/v1/suppressions/{id}", &["get", "delete"][..]),
        ("/api/v1/templates", &["get", "post"][..]),
        ("/api/v1/templates/{id}", &["get", "patch", "delete"][..]),
        ("/api/v1/templates/{id}/preview", &["post"][..]),
        ("/api/v1/templates/preview", &["post"][..]),
        ("/api/v1/webhooks", &["get", "post"][..]),
        ("/api/v1/webhooks/{id}", &["get", "patch", "delete"][..]),
        ("/api/v1/webhooks/{id}/rotate-secret", &["post"][..]),
        ("/api/v1/webhooks/{id}/deliveries", &["get"][..]),
        (
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}",
            &["get"][..],
        ),
        (
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
            &["post"][..],
        ),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*m)).is_some(),
                "{m} {path} missing from OpenAPI"
            );
        }
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for s in [
        "Contact",
        "ContactInput",
        "Account",
        "AccountInput",
        "Problem",
        "Activity",
        "ApiKey",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // Enums are documented in the case the wire uses (a generated client sends `new`).
    assert_eq!(
        schemas["ContactStatus"]["enum"][0], "new",
        "{}",
        schemas["ContactStatus"]
    );
    let policy = schemas["Policy"]["enum"].as_array().expect("Policy enum");
    assert!(policy.contains(&serde_json::json!("fill")), "{policy:?}");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            schemas.contains_key(name),
            "{r} is referenced but not defined"
        );
    }
    // Every operation documents the platform's answers, errors as problem+json.
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            for status in ["401", "403", "429"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            for (status, r) in responses {
                if status.starts_with('4') {
                    let content = r["content"].as_object().expect("error content");
                    assert!(
                        content.contains_key("application/problem+json")
                            && !content.contains_key("application/json"),
                        "{method} {path} {status} is not documented as problem+json"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    let docs = app
        .client
        .get(app.url("/api/v1/docs"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(docs.contains("/assets/swagger-ui-bundle.js"));
    let js = app
        .client
        .get(app.url("/assets/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("req");
    assert_eq!(
        js.status(),
        StatusCode::OK,
        "the docs script is served by SalesOS itself"
    );
    assert!(js.bytes().await.expect("bytes").len() > 100_000);
}

#[tokio::test]
async fn unknown_api_routes_are_problems() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/nothing-here").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.content_type(), "application/problem+json");
    let wrong_method = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/contacts",
            &app.admin_key,
            None,
        )
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.content_type(), "application/problem+json");
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(serde_json::Value::as_str) {
                out.push(r.to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}
