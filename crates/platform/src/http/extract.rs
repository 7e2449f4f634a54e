//! Request extractors that turn unreadable input into problems naming the field:
//! malformed JSON is a 400, a wrong type or unknown field is a 422 with its path.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError};

/// A JSON body, read with the path of any bad value kept.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Error::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::BadRequest(format!("cannot read request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parse JSON bytes into `T`, naming the offending field on failure. A body is one JSON
/// value: anything after it but whitespace is refused, not ignored. No text may hold
/// U+0000, which PostgreSQL cannot store and no person types.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        Ok(v) => {
            de.end()
                .map_err(|e| Error::BadRequest(format!("malformed JSON: {e}")))?;
            if has_escaped_nul(bytes) {
                let field = serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .and_then(|v| nul_path(&v, ""))
                    .unwrap_or_else(|| "body".to_owned());
                return Err(Error::Invalid(vec![FieldError::new(field, NUL_MESSAGE)]));
            }
            Ok(v)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(Error::BadRequest(format!("malformed JSON: {inner}")));
            }
            Err(Error::Invalid(vec![describe(&path, &inner.to_string())]))
        }
    }
}

/// Why a text holding U+0000 is refused, wherever it comes in.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// Does a JSON text hold `\u0000`? Raw NUL is not valid JSON, so the escape is the only way
/// in; escapes come in pairs, so `\\u0000` (a backslash, then `u0000`) is not one.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            if bytes.get(i + 1..i + 6) == Some(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The path of the first key or text in `v` that holds NUL.
fn nul_path(v: &serde_json::Value, at: &str) -> Option<String> {
    let join = |name: &str| {
        if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(if at.is_empty() {
            "body".into()
        } else {
            at.into()
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &join(&i.to_string()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "")))
            } else {
                nul_path(item, &join(k))
            }
        }),
        _ => None,
    }
}

/// Refuse a query parameter (name or value) that holds NUL, naming it.
fn check_query_text(query: &str) -> Result<(), Error> {
    match form_urlencoded_parse(query).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        Some((k, _)) => Err(Error::invalid(k.replace('\0', ""), NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// Turn serde's message into a field name and a message without line/column noise.
fn describe(path: &str, message: &str) -> FieldError {
    let message = message
        .rsplit_once(" at line ")
        .map(|(m, _)| m)
        .unwrap_or(message)
        .to_owned();
    let base = if path == "." { "" } else { path };
    let join = |name: &str| {
        if base.is_empty() {
            name.to_owned()
        } else {
            format!("{base}.{name}")
        }
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(name) = quoted("unknown field `") {
        // The path already ends at the unknown key.
        let field = if base.is_empty() {
            name
        } else {
            base.to_owned()
        };
        return FieldError::new(field, "unknown field");
    }
    if let Some(name) = quoted("missing field `") {
        return FieldError::new(join(&name), "is required");
    }
    let field = if base.is_empty() { "body" } else { base };
    FieldError::new(field, message)
}

/// A query string, with bad parameters named.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        check_query_text(query)?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                Error::Invalid(vec![describe(&path, &err.into_inner().to_string())])
            })
    }
}

/// A path parameter, refused with a problem naming it when it does not parse.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| Error::invalid("id", format!("is not a valid id: {}", e.body_text())))
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        score: Option<u8>,
    }

    fn field_of(err: Error) -> (String, String) {
        match err {
            Error::Invalid(mut v) => {
                let e = v.remove(0);
                (e.field, e.message)
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let err = parse_json::<Body>(b"{\"email\": ").expect_err("malformed");
        assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
    }

    #[test]
    fn bytes_after_the_body_are_refused() {
        let err = parse_json::<Body>(br#"{"email":"a@b.c"}{"email":"x@y.z"}"#).expect_err("two");
        assert!(
            matches!(err, Error::BadRequest(ref m) if m.contains("trailing")),
            "{err:?}"
        );
        let err = parse_json::<Body>(b"{\"email\":\"a@b.c\"} x").expect_err("junk");
        assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
        assert!(parse_json::<Body>(b"{\"email\":\"a@b.c\"}\r\n ").is_ok());
    }

    #[test]
    fn nul_in_any_text_is_refused_with_its_path() {
        let (field, message) =
            field_of(parse_json::<Body>(br#"{"email":"a\u0000b@c.d"}"#).expect_err("nul"));
        assert_eq!(field, "email");
        assert!(message.contains("NUL"), "{message}");
        let err =
            parse_json::<serde_json::Value>(br#"{"tags":["ok","x\u0000"]}"#).expect_err("nul");
        assert_eq!(field_of(err).0, "tags.1");
        let err = parse_json::<serde_json::Value>(br#"{"a\u0000":1}"#).expect_err("key");
        assert_eq!(field_of(err).0, "a");
        // An escaped backslash followed by `u0000` is text, not NUL.
        assert!(parse_json::<serde_json::Value>(br#"{"a":"\\u0000"}"#).is_ok());
        let err = check_query_text("q=a%00b&limit=1").expect_err("query");
        assert_eq!(field_of(err).0, "q");
        assert!(check_query_text("q=a%2500b").is_ok());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = parse_json::<Body>(br#"{"email":"a@b.c","score":"high"}"#).expect_err("type");
        let (field, message) = field_of(err);
        assert_eq!(field, "score");
        assert!(message.contains("invalid type"), "{message}");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let (field, _) =
            field_of(parse_json::<Body>(br#"{"email":"a@b.c","colour":1}"#).expect_err("unk"));
        assert_eq!(field, "colour");
        let (field, message) = field_of(parse_json::<Body>(br#"{}"#).expect_err("missing"));
        assert_eq!((field.as_str(), message.as_str()), ("email", "is required"));
    }
}
