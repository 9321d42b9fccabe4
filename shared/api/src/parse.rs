//! Request parsing that names what was wrong: the body (64 KiB at most), JSON objects, query
//! parameters and path segments.

use crate::ApiError;
use bytes::Bytes;

/// Largest accepted request body (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn read_body(body: axum::body::Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
}

/// Parses a JSON object body into `T`; errors name the field (`goods[2].price: invalid type ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            zhibo_core::error::codes::BAD_JSON,
            "request body is empty; send a JSON object",
        ));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            zhibo_core::error::codes::BAD_JSON,
            "request body must be a JSON object ({...})",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                http::StatusCode::BAD_REQUEST,
                zhibo_core::error::codes::BAD_JSON,
                format!("request body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::bad_request(format!("request body: {inner}"))
        } else {
            ApiError::bad_field(&path, inner)
        }
    })
}

/// The query string as decoded `(key, value)` pairs: percent-decoded exactly as the signature's
/// canonical query reads it (a `+` is a literal plus, RFC 3986), so a handler sees what was
/// signed.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    // form_urlencoded reads `+` as a space (HTML forms); the signature does not, so a literal
    // `+` is escaped first and comes back as itself.
    let query = query.unwrap_or("").replace('+', "%2B");
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A numeric query parameter in `min..=max`, or `default` when absent.
pub fn query_number(
    pairs: &[(String, String)],
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match pairs.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_field(
                name,
                format_args!("must be an integer in {min}..={max}; got {v:?}"),
            )),
        },
    }
}

/// A `room_id` path segment: a positive integer.
pub fn parse_room_id(raw: &str) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_field(
            "room_id",
            format_args!("must be a positive integer; got {raw:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: i64,
        b: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        c: bool,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<T>(br#"{"a":"x","b":[]}"#).unwrap_err();
        assert!(
            e.body.errmsg.starts_with("a: invalid type"),
            "{}",
            e.body.errmsg
        );
        let e = parse_json::<T>(br#"{"a":1,"b":[{"c":true},{"c":3}]}"#).unwrap_err();
        assert!(e.body.errmsg.starts_with("b[1].c: "), "{}", e.body.errmsg);
        let e = parse_json::<T>(br#"{"a":1"#).unwrap_err();
        assert_eq!(e.body.errcode, zhibo_core::error::codes::BAD_JSON);
        let e = parse_json::<T>(b"").unwrap_err();
        assert!(e.body.errmsg.contains("empty"));
        let e = parse_json::<T>(br#"{"a":1}"#).unwrap_err();
        assert!(
            e.body.errmsg.contains("missing field `b`"),
            "{}",
            e.body.errmsg
        );
    }

    #[test]
    fn query_numbers() {
        let q = query_pairs(Some("start=5&limit=101&x=%41"));
        assert_eq!(query_number(&q, "start", 0, 0, u64::MAX).unwrap(), 5);
        assert_eq!(query_number(&q, "missing", 10, 1, 100).unwrap(), 10);
        let e = query_number(&q, "limit", 10, 1, 100).unwrap_err();
        assert!(e.body.errmsg.starts_with("limit: "));
        assert_eq!(q[2].1, "A");
        // A `+` is a literal plus, as the signature's canonical query reads it; empty pairs
        // are skipped; a key without `=` has an empty value.
        let q = query_pairs(Some("a=1+2&&b=%2B&c&d=%E4%BD%A0"));
        let want = [("a", "1+2"), ("b", "+"), ("c", ""), ("d", "你")];
        assert_eq!(
            q,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        assert!(parse_room_id("0").is_err());
        assert!(parse_room_id("-1").is_err());
        assert_eq!(parse_room_id("12").unwrap(), 12);
    }
}
