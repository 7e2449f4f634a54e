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
            // Unique across areas (each area's handlers are `list`, `get`, `create`…),
            // as a client generator needs them.
            op.insert("operationId".into(), json!(operation_id(method, path)));
            complete_operation(path, method, op, secured_by_default);
        }
    }
    link_created_resources(doc);
}

/// Give the document's `TopicPattern` the regular expression of the patterns this
/// build's topics accept, so a subscription's `events` state their rule.
pub fn describe_topics(doc: &mut Value, topics: &crate::runtime::topics::Topics) {
    if let Some(schema) = doc
        .pointer_mut("/components/schemas/TopicPattern")
        .and_then(Value::as_object_mut)
    {
        schema.insert("pattern".into(), json!(topics.pattern_regex()));
        let names: Vec<&str> = topics.iter().map(|t| t.name).collect();
        schema.insert(
            "description".into(),
            json!(format!(
                "A topic, or the start of one followed by `*` (`contact.*`, `*`). The topics: {}.",
                names.join(", ")
            )),
        );
    }
}

/// `get_contacts_by_id_activities` for `GET /api/v1/contacts/{id}/activities`.
pub fn operation_id(method: &str, path: &str) -> String {
    let rest = path.strip_prefix("/api/v1/").unwrap_or(path);
    let mut id = method.to_owned();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(param);
            }
            None => id.extend(
                segment
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
            ),
        }
    }
    id
}

/// OpenAPI links from what a POST creates to the operations on it: `POST /api/v1/contacts`
/// answers 201 with the new contact's `id`, which `GET /api/v1/contacts/{id}` and every
/// operation under it whose only path parameter is `{id}` take. Clients and the fuzzer's
/// stateful phase follow them instead of guessing ids.
fn link_created_resources(doc: &mut Value) {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return;
    };
    let mut planned = Vec::new();
    for (path, item) in paths {
        let Some(created) = item.pointer("/post/responses/201") else {
            continue;
        };
        if !has_id(doc, created) {
            continue;
        }
        let own = format!("{path}/{{id}}");
        let mut links = Map::new();
        for (other, other_item) in paths {
            let under = other == &own || other.starts_with(&format!("{own}/"));
            if !under || other.matches('{').count() != 1 {
                continue;
            }
            for method in METHODS {
                if other_item.get(method).is_some() {
                    links.insert(
                        operation_id(method, other),
                        json!({
                            "operationId": operation_id(method, other),
                            "parameters": {"id": "$response.body#/id"}
                        }),
                    );
                }
            }
        }
        if !links.is_empty() {
            planned.push((path.clone(), links));
        }
    }
    for (path, links) in planned {
        if let Some(created) = doc
            .pointer_mut(&format!(
                "/paths/{}/post/responses/201",
                pointer_escape(&path)
            ))
            .and_then(Value::as_object_mut)
        {
            created.insert("links".into(), Value::Object(links));
        }
    }
}

/// Whether a response's JSON body has an `id` property (inline or through a component).
fn has_id(doc: &Value, response: &Value) -> bool {
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        return false;
    };
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(s) => s,
            None => return false,
        },
        None => schema,
    };
    schema.pointer("/properties/id").is_some()
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
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
    fn operation_ids_are_unique_and_creations_link_to_what_they_made() {
        let mut doc = json!({
            "components": {"schemas": {"Thing": {"properties": {"id": {"type": "string"}}}}},
            "paths": {
                "/api/v1/things": {
                    "post": {"responses": {"201": {"description": "made", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}},
                    "get": {"operationId": "list", "responses": {}}
                },
                "/api/v1/things/{id}": {"get": {"operationId": "get", "responses": {}}, "delete": {"responses": {}}},
                "/api/v1/things/{id}/parts/{part_id}": {"get": {"responses": {}}},
                "/api/v1/things/export.csv": {"get": {"responses": {}}},
                "/api/v1/others/{id}": {"get": {"operationId": "get", "responses": {}}}
            }
        });
        complete(&mut doc);
        assert_eq!(
            doc["paths"]["/api/v1/things/{id}"]["get"]["operationId"],
            "get_things_by_id"
        );
        assert_eq!(
            doc["paths"]["/api/v1/others/{id}"]["get"]["operationId"],
            "get_others_by_id"
        );
        assert_eq!(
            doc["paths"]["/api/v1/things/export.csv"]["get"]["operationId"],
            "get_things_export_csv"
        );
        let links = doc["paths"]["/api/v1/things"]["post"]["responses"]["201"]["links"]
            .as_object()
            .expect("links");
        let mut names: Vec<&String> = links.keys().collect();
        names.sort();
        assert_eq!(names, ["delete_things_by_id", "get_things_by_id"]);
        assert_eq!(
            links["get_things_by_id"]["parameters"]["id"],
            "$response.body#/id"
        );
    }

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
