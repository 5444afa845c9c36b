//! JSON request bodies: every way a body can be wrong becomes a problem with a `code`, never the
//! deserialiser's text (which quotes the client's values and the type's internals).
//!
//! - not JSON at all (a syntax error, a truncated body, trailing bytes), or not an object:
//!   `400 malformed-request`, saying where (line and column) and nothing of the bytes;
//! - a known field with a value of the wrong type or out of its closed set, a required field that
//!   is missing, a field the endpoint does not know: `422 invalid-field` with `field` (the
//!   top-level field), and for a closed set (a link's `role`, `scopes`) `allowed`: its values;
//! - no `Content-Type: application/json`: `415 unsupported-media-type`; over 1 MiB:
//!   `413 request-too-large`.
//!
//! [`Json`] is the extractor for every JSON-body endpoint; [`payload_error`] is actix's
//! `JsonConfig` error handler, for anything still taking `web::Json` (it cannot name the field of
//! a wrong value, so it says `body`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::mime;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::problem::ApiError;
use crate::services::ServiceError;

/// Largest JSON body accepted.
pub const LIMIT_BYTES: usize = 1 << 20;

/// A body type's closed sets: the values a field accepts, for the problem's `allowed`.
pub trait ClosedSets {
    fn allowed(_field: &str) -> Option<&'static [&'static str]> {
        None
    }
}

/// A JSON body of type `T`, read within [`LIMIT_BYTES`] and deserialised with the error mapping
/// of this module.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        }
        _ => false,
    }
}

impl<T: DeserializeOwned + ClosedSets + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let declared = super::content_length(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ServiceError::UnsupportedMediaType.into());
            }
            let too_large = || ServiceError::RequestTooLarge {
                limit_bytes: LIMIT_BYTES as u64,
            };
            if declared.is_some_and(|n| n > LIMIT_BYTES as u64) {
                return Err(too_large().into());
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    ServiceError::Malformed("the body could not be read to its end".into())
                })?;
                if body.len() + chunk.len() > LIMIT_BYTES {
                    return Err(too_large().into());
                }
                body.extend_from_slice(&chunk);
            }
            parse::<T>(&body).map(Json).map_err(ApiError::from)
        })
    }
}

/// Deserialises `body` as a `T`, mapping every failure to its problem.
pub fn parse<T: DeserializeOwned + ClosedSets>(body: &[u8]) -> Result<T, ServiceError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => value,
        Err(e) => {
            let field = e.path().iter().next().and_then(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                _ => None,
            });
            return Err(error::<T>(e.inner(), field));
        }
    };
    de.end().map_err(|e| error::<T>(&e, None))?;
    Ok(value)
}

/// The field a serde message names (`missing field `x``, `unknown field `x``), for errors that
/// arise at the object itself rather than in a field's value.
fn named_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    let name = &rest[..rest.find('`')?];
    // A client's unknown key is echoed back only when it looks like a field name.
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then(|| name.to_owned())
}

/// The problem for a serde_json error; `field` is the top-level field whose value failed, when
/// known.
fn error<T: ClosedSets>(e: &serde_json::Error, field: Option<String>) -> ServiceError {
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ServiceError::Malformed(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
        Category::Data => {
            let message = e.to_string();
            let (field, why) = if let Some(named) = named_field(&message) {
                let why = if message.starts_with("missing") {
                    "is required"
                } else {
                    "is not a field of this request"
                };
                (named, why)
            } else if let Some(field) = field {
                (field, "has the wrong type or an invalid value")
            } else {
                return ServiceError::Malformed("the body must be a JSON object".into());
            };
            match T::allowed(&field) {
                Some(allowed) if why != "is not a field of this request" => {
                    ServiceError::InvalidChoice { field, allowed }
                }
                _ => ServiceError::InvalidField {
                    field,
                    message: why.into(),
                },
            }
        }
    }
}

/// No closed sets known (the `JsonConfig` fallback).
struct Unknown;

impl ClosedSets for Unknown {}

/// actix's `JsonConfig` error handler: the same problems for a `web::Json` body, as far as they
/// can be told without the body (a wrong value's field is `body`).
pub fn payload_error(e: &JsonPayloadError) -> ServiceError {
    match e {
        JsonPayloadError::ContentType => ServiceError::UnsupportedMediaType,
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ServiceError::RequestTooLarge {
                limit_bytes: LIMIT_BYTES as u64,
            }
        }
        JsonPayloadError::Deserialize(inner) => match error::<Unknown>(inner, None) {
            ServiceError::Malformed(_) if inner.classify() == Category::Data => {
                ServiceError::InvalidField {
                    field: "body".into(),
                    message: "a field has the wrong type or an invalid value".into(),
                }
            }
            other => other,
        },
        _ => ServiceError::Malformed("the body could not be read".into()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        colour: Colour,
        count: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Colour {
        Red,
        Blue,
    }

    impl ClosedSets for Body {
        fn allowed(field: &str) -> Option<&'static [&'static str]> {
            (field == "colour").then_some(&["red", "blue"][..])
        }
    }

    fn problem(body: &str) -> ServiceError {
        parse::<Body>(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn each_kind_of_bad_body_has_its_problem_and_no_serde_text() {
        match problem(r#"{"name": "a", "colour": "respiratory green"}"#) {
            ServiceError::InvalidChoice { field, allowed } => {
                assert_eq!(field, "colour");
                assert_eq!(allowed, ["red", "blue"]);
            }
            other => panic!("{other:?}"),
        }
        for (body, want) in [
            (r#"{"name": 5, "colour": "red"}"#, "name"),
            (r#"{"name": "a", "colour": "red", "count": -1}"#, "count"),
            (r#"{"colour": "red"}"#, "name"),
            (r#"{"name": "a", "colour": "red", "shade": 1}"#, "shade"),
        ] {
            match problem(body) {
                ServiceError::InvalidField { field, message } => {
                    assert_eq!(field, want, "{body}");
                    assert!(!message.contains("expected"), "{message}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        for body in [
            r#"{"name": "a", "#,
            "[1, 2]",
            r#"{"name": "a", "colour": "red"} x"#,
            "",
        ] {
            assert!(
                matches!(problem(body), ServiceError::Malformed(_)),
                "{body}"
            );
        }
        assert!(parse::<Body>(br#"{"name": "a", "colour": "blue"}"#).is_ok());
    }
}
