//! The answers every API route can give because of the platform, not because of its
//! area: the credentials check (401), the role check (403), the rate limit (429), reading
//! the request (400, 413, 415, 422), the workspace lookup (404) and idempotent POST (409,
//! 422). Areas document what their use case answers; [`complete`] adds these to every
//! operation of the document and gives every problem its real media type, so a route that
//! an area adds later is described truthfully without its author repeating any of it.

use serde_json::{Map, Value, json};

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Complete an OpenAPI document (as JSON) with the platform's answers.
pub fn complete(doc: &mut Value) {
    let secured_by_default = doc
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            complete_operation(path, method, op, secured_by_default);
        }
    }
}

fn complete_operation(path: &str, method: &str, op: &mut Map<String, Value>, secured: bool) {
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .map_or(secured, |s| !s.is_empty());
    let mut has_params = false;
    let mut takes_key = false;
    if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        has_params = !ps.is_empty();
        for p in ps.iter_mut() {
            let is_key = p.get("in").and_then(Value::as_str) == Some("header")
                && p.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case("idempotency-key"));
            if is_key {
                takes_key = true;
                // What the idempotency middleware accepts.
                p["schema"] = json!({
                    "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]*[!-~][ -~]*$"
                });
            }
        }
    }
    let has_body = op.contains_key("requestBody");
    let idempotent_post = method == "post" && takes_key;
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for response in responses.values_mut() {
        problems_as_problem_json(response);
    }
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(description));
    };
    if secured {
        add(
            "401",
            "No valid credentials: a missing, unknown, revoked or expired API key or session",
        );
        add("403", "The caller's role may not do this");
    }
    if has_params || has_body {
        add(
            "422",
            "A parameter or field breaks its rules; `errors` names each one",
        );
    }
    if path.contains('{') {
        add("404", "No such resource in the caller's workspace");
    }
    if has_body {
        add(
            "400",
            "The body cannot be read (malformed JSON, bytes after the value, a broken form)",
        );
        add("413", "The body is larger than this server accepts");
        add(
            "415",
            "The body is not in a media type this operation reads",
        );
    }
    if idempotent_post {
        add(
            "409",
            "A request with this Idempotency-Key is still being handled",
        );
    }
    if path.starts_with("/api/") {
        responses.entry("429").or_insert_with(|| {
            let mut r =
                problem_response("Too many requests; try again after `Retry-After` seconds");
            if let Some(r) = r.as_object_mut() {
                r.insert(
                    "headers".into(),
                    json!({"Retry-After": {
                        "description": "Seconds until a request may succeed",
                        "schema": {"type": "integer", "minimum": 0}
                    }}),
                );
            }
            r
        });
    }
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// An answer whose body is a `Problem` is sent as `application/problem+json`.
fn problems_as_problem_json(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let is_problem = |v: &Value| {
        v.pointer("/schema/$ref")
            .and_then(Value::as_str)
            .is_some_and(|r| r.ends_with("/Problem"))
    };
    if content.get("application/json").is_some_and(is_problem)
        && let Some(body) = content.remove("application/json")
    {
        content.insert(PROBLEM_JSON.to_owned(), body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_gets_the_platform_answers() {
        let mut doc = json!({"paths": {
            "/api/v1/things/{id}": {
                "patch": {
                    "parameters": [{"name": "id", "in": "path"}],
                    "requestBody": {"content": {"application/json": {}}},
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "409": {"description": "taken", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                    },
                    "security": [{"api_key": []}]
                }
            },
            "/api/v1/things": {
                "post": {
                    "parameters": [{"name": "Idempotency-Key", "in": "header"}],
                    "requestBody": {},
                    "responses": {"201": {"description": "made"}},
                    "security": [{"api_key": []}]
                },
                "get": {"responses": {"200": {"description": "public"}}}
            }
        }});
        complete(&mut doc);
        let patch = &doc["paths"]["/api/v1/things/{id}"]["patch"]["responses"];
        let mut got: Vec<&String> = patch.as_object().expect("responses").keys().collect();
        got.sort();
        assert_eq!(
            got,
            [
                "200", "400", "401", "403", "404", "409", "413", "415", "422", "429"
            ]
        );
        assert!(
            patch["200"]["content"]["application/json"].is_object(),
            "success stays JSON"
        );
        assert!(patch["409"]["content"].get("application/json").is_none());
        assert_eq!(
            patch["409"]["description"], "taken",
            "the area's own words are kept"
        );
        assert!(patch["409"]["content"][PROBLEM_JSON].is_object());
        assert!(patch["429"]["headers"]["Retry-After"].is_object());
        let post = &doc["paths"]["/api/v1/things"]["post"]["responses"];
        assert!(
            post["409"].is_object(),
            "an idempotent POST documents its 409"
        );
        let get = &doc["paths"]["/api/v1/things"]["get"]["responses"];
        assert!(get.get("401").is_none() && get.get("422").is_none() && get.get("404").is_none());
        assert!(get["429"].is_object());
    }
}
