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

/// Parse JSON bytes into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
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
