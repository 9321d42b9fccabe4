//! The media bucket as objects: [`ObjectPut`] (a whole object with the headers and metadata
//! docs/api.md "Object layout and HLS" fixes, and an optional precondition), the
//! [`MediaObjects`] port the worker's upload queue and [`crate::live_room`] write and read
//! through, and its S3 adapter [`S3Objects`] (AWS S3, or SeaweedFS locally).
//!
//! Preconditions are S3's conditional writes: `If-None-Match: *` (create only) and `If-Match`
//! (replace only the version read), answered 412 when they fail. They fence a room's live
//! playlist between workers ([`zhibo_core::live_room`]).

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use std::time::Duration;

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PutCondition {
    /// Always (overwrite).
    #[default]
    None,
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this ETag (`If-Match`).
    Match(String),
}

/// One object to write: key in the media bucket, body and the headers docs/api.md "Object layout
/// and HLS" fixes for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPut {
    /// Key in the bucket (see `zhibo_core::object_keys`).
    pub key: String,
    /// The bytes.
    pub body: Bytes,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Cache-Control`.
    pub cache_control: &'static str,
    /// User metadata (`x-amz-meta-{name}`): the replay playlist carries the replay's size and
    /// times (`zhibo_core::replay::metadata`), the live playlist its head and segments their
    /// journal entry (`zhibo_core::live_room::metadata`).
    pub metadata: Vec<(&'static str, String)>,
    /// When the write may happen.
    pub condition: PutCondition,
}

/// Why a read or write failed. `retryable` tells the caller whether trying again can help;
/// `precondition_failed` that a conditional write found another version (HTTP 412).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ObjectError {
    /// The object key (or prefix, for a listing).
    pub key: String,
    /// What went wrong, for logs.
    pub message: String,
    /// A later attempt may succeed (network, 5xx, throttling).
    pub retryable: bool,
    /// The write's [`PutCondition`] did not hold.
    pub precondition_failed: bool,
}

impl ObjectError {
    /// A failure that is not a failed precondition.
    pub fn new(key: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        ObjectError {
            key: key.into(),
            message: message.into(),
            retryable,
            precondition_failed: false,
        }
    }

    /// A failed precondition on `key`.
    pub fn precondition(key: impl Into<String>, message: impl Into<String>) -> Self {
        ObjectError {
            key: key.into(),
            message: message.into(),
            retryable: false,
            precondition_failed: true,
        }
    }
}

/// What a HEAD tells of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectHead {
    /// Its ETag, quotes included, as `If-Match` wants it.
    pub etag: String,
    /// Its size.
    pub size: u64,
    /// Its user metadata (names as the store hands them back).
    pub metadata: Vec<(String, String)>,
}

impl ObjectHead {
    /// The metadata as borrowed pairs.
    pub fn metadata_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// An object read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its body.
    pub body: Bytes,
    /// Its ETag, size and metadata.
    pub head: ObjectHead,
}

/// What a listing found under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Keys with their sizes.
    pub objects: Vec<(String, u64)>,
    /// With a delimiter: the "folders" one level down (each ending in `/`).
    pub prefixes: Vec<String>,
}

/// Most keys one [`MediaObjects::list`] returns: a room's sessions, or one session's segments
/// and journal chunks (12 hours of 0.5-s segments is 86 400).
pub const MAX_LISTED: usize = 200_000;

/// The media bucket, as the worker and the functions use it.
#[async_trait]
pub trait MediaObjects: Send + Sync + 'static {
    /// Writes one object, whole, if its condition holds; returns its new ETag when the store
    /// says it.
    async fn put(&self, object: &ObjectPut) -> Result<Option<String>, ObjectError>;
    /// Reads one object whole; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ObjectError>;
    /// Reads one object's ETag, size and metadata; `None` when there is none.
    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError>;
    /// Lists the keys under `prefix` (at most [`MAX_LISTED`]); with `delimited`, the keys
    /// directly under it and the prefixes one level down.
    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing, ObjectError>;
}

/// How long one request may take, SDK retries included, before it counts as a (retryable)
/// failure; [`S3Objects::with_timeout`] changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The media bucket on S3: PutObject (with `Content-Type`, `Cache-Control`, metadata and
/// preconditions), GetObject, HeadObject and ListObjectsV2. Build the client with
/// [`crate::aws::s3_client`] (path-style when an endpoint override is given).
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
    timeout: Duration,
}

impl S3Objects {
    /// The objects of `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> S3Objects {
        S3Objects {
            client,
            bucket,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Replaces the per-request time limit ([`DEFAULT_TIMEOUT`]); a hung connection then
    /// fails as retryable instead of stalling its stream.
    pub fn with_timeout(mut self, timeout: Duration) -> S3Objects {
        self.timeout = timeout;
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn timed_out(&self, what: &str, key: &str) -> ObjectError {
        ObjectError::new(
            key,
            format!(
                "{what} s3://{}/{key}: no answer within {:?}",
                self.bucket, self.timeout
            ),
            true,
        )
    }

    fn failed<E>(&self, what: &str, key: &str, err: &SdkError<E, HttpResponse>) -> ObjectError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        ObjectError::new(
            key,
            format!("{what} s3://{}/{key}: {}", self.bucket, describe(err)),
            retryable(err, |raw| raw.status().as_u16()),
        )
    }
}

/// The HTTP status of a service error, if the error is one.
fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn metadata_of(map: Option<&std::collections::HashMap<String, String>>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    pairs.sort();
    pairs
}

/// S3 error codes worth retrying even though some come with a 4xx status.
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "ExpiredToken",
    "RequestExpired",
    "RequestTimeTooSkewed",
];

/// Whether a service error (a response with `status` and S3 error `code`) may go away.
fn service_error_retryable(status: Option<u16>, code: Option<&str>) -> bool {
    if code.is_some_and(|c| RETRYABLE_CODES.contains(&c)) {
        return true;
    }
    match status {
        Some(408 | 429) => true,
        Some(s) => s >= 500,
        // No response status: no way to tell, trying again is the safe side.
        None => true,
    }
}

/// Whether an SDK error may go away on a later attempt.
fn retryable<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, status: impl Fn(&R) -> u16) -> bool {
    match err {
        // The request could not even be built (bad input): the same input fails again.
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) => true,
        // Connection refused/reset, DNS, TLS, timeouts. A "user" dispatch error is a
        // misconfigured client (e.g. an invalid endpoint URL) and stays wrong.
        SdkError::DispatchFailure(d) => !d.is_user(),
        // A response that could not be parsed: usually a proxy or a dropped connection.
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service_error_retryable(Some(status(service.raw())), service.err().code())
        }
        _ => service_error_retryable(err.raw_response().map(&status), err.code()),
    }
}

/// What went wrong, in one line: `HTTP 403 AccessDenied: Access Denied.` for a service
/// error (the whole debug dump of the response would only bury it), the error chain otherwise.
fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("HTTP {status} {code}: {message}"),
                (Some(code), None) => format!("HTTP {status} {code}"),
                _ => format!("HTTP {status}: {}", DisplayErrorContext(e)),
            }
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

#[async_trait]
impl MediaObjects for S3Objects {
    async fn put(&self, object: &ObjectPut) -> Result<Option<String>, ObjectError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type(object.content_type)
            .cache_control(object.cache_control)
            .content_length(object.body.len() as i64)
            .body(ByteStream::from(object.body.clone()));
        for (name, value) in &object.metadata {
            request = request.metadata(*name, value);
        }
        request = match &object.condition {
            PutCondition::None => request,
            PutCondition::Absent => request.if_none_match("*"),
            PutCondition::Match(etag) => request.if_match(etag),
        };
        match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(out)) => Ok(out.e_tag().map(str::to_string)),
            // 412: the condition does not hold. 409: a concurrent conditional write won. 404 on
            // `If-Match`: the object is gone (a takedown deleted it), so no version matches.
            Ok(Err(err))
                if status_of(&err) == Some(412)
                    || (status_of(&err) == Some(409) && object.condition != PutCondition::None)
                    || (status_of(&err) == Some(404)
                        && matches!(object.condition, PutCondition::Match(_))) =>
            {
                Err(ObjectError::precondition(
                    &object.key,
                    format!(
                        "PutObject s3://{}/{}: the object changed since it was read ({:?} does not hold)",
                        self.bucket, object.key, object.condition
                    ),
                ))
            }
            Ok(Err(err)) => Err(self.failed("PutObject", &object.key, &err)),
            Err(_) => Err(self.timed_out("PutObject", &object.key)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ObjectError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send();
        let out = match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(out)) => out,
            Ok(Err(err))
                if err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || status_of(&err) == Some(404) =>
            {
                return Ok(None)
            }
            Ok(Err(err)) => return Err(self.failed("GetObject", key, &err)),
            Err(_) => return Err(self.timed_out("GetObject", key)),
        };
        let head = ObjectHead {
            etag: out.e_tag().unwrap_or_default().to_string(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            metadata: metadata_of(out.metadata()),
        };
        let body = match tokio::time::timeout(self.timeout, out.body.collect()).await {
            Ok(Ok(body)) => body.into_bytes(),
            Ok(Err(e)) => {
                return Err(ObjectError::new(
                    key,
                    format!(
                        "GetObject s3://{}/{key}: reading the body failed: {e}",
                        self.bucket
                    ),
                    true,
                ))
            }
            Err(_) => return Err(self.timed_out("GetObject", key)),
        };
        Ok(Some(StoredObject { body, head }))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        let request = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send();
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(out)) => Ok(Some(ObjectHead {
                etag: out.e_tag().unwrap_or_default().to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                metadata: metadata_of(out.metadata()),
            })),
            Ok(Err(err))
                if err.as_service_error().is_some_and(|e| e.is_not_found())
                    || status_of(&err) == Some(404) =>
            {
                Ok(None)
            }
            Ok(Err(err)) => Err(self.failed("HeadObject", key, &err)),
            Err(_) => Err(self.timed_out("HeadObject", key)),
        }
    }

    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing, ObjectError> {
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let mut request = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take());
            if delimited {
                request = request.delimiter("/");
            }
            let out = match tokio::time::timeout(self.timeout, request.send()).await {
                Ok(Ok(out)) => out,
                Ok(Err(err)) => return Err(self.failed("ListObjectsV2", prefix, &err)),
                Err(_) => return Err(self.timed_out("ListObjectsV2", prefix)),
            };
            for o in out.contents() {
                if let Some(key) = o.key() {
                    listing
                        .objects
                        .push((key.to_string(), o.size().unwrap_or(0).max(0) as u64));
                }
            }
            for p in out.common_prefixes() {
                if let Some(p) = p.prefix() {
                    listing.prefixes.push(p.to_string());
                }
            }
            if listing.objects.len() + listing.prefixes.len() > MAX_LISTED {
                return Err(ObjectError::new(
                    prefix,
                    format!(
                        "ListObjectsV2 s3://{}/{prefix}: more than {MAX_LISTED} keys",
                        self.bucket
                    ),
                    false,
                ));
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use bytes::Bytes;

    #[test]
    fn service_errors_are_classified_by_status_and_code() {
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (502, "BadGateway"),
            (429, "TooManyRequests"),
            (400, "RequestTimeout"),
            (400, "ExpiredToken"),
            (403, "RequestTimeTooSkewed"),
        ] {
            assert!(
                service_error_retryable(Some(status), Some(code)),
                "{status} {code}"
            );
        }
        for (status, code) in [
            (404, "NoSuchBucket"),
            (403, "AccessDenied"),
            (403, "InvalidAccessKeyId"),
            (403, "SignatureDoesNotMatch"),
            (400, "InvalidBucketName"),
            (400, "EntityTooLarge"),
        ] {
            assert!(
                !service_error_retryable(Some(status), Some(code)),
                "{status} {code}"
            );
        }
    }

    fn client(endpoint: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "unit-test"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    fn object() -> ObjectPut {
        ObjectPut {
            key: "live/a/1/index.m3u8".into(),
            body: Bytes::from_static(b"#EXTM3U\n"),
            content_type: "application/vnd.apple.mpegurl",
            cache_control: "max-age=1",
            metadata: Vec::new(),
            condition: PutCondition::None,
        }
    }

    #[tokio::test]
    async fn connection_refused_is_retryable_and_says_so() {
        // A port nobody listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let objects = S3Objects::new(client(&format!("http://127.0.0.1:{port}")), "hls".into());
        let err = objects.put(&object()).await.unwrap_err();
        eprintln!("{err}");
        assert!(err.retryable, "{err}");
        assert_eq!(err.key, "live/a/1/index.m3u8");
        assert!(
            err.message.contains("s3://hls/live/a/1/index.m3u8"),
            "{err}"
        );
        let lower = err.message.to_lowercase();
        assert!(
            lower.contains("connect") || lower.contains("refused") || lower.contains("dispatch"),
            "message should say the connection failed: {err}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_as_retryable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accept and hold connections without ever answering.
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let objects = S3Objects::new(client(&format!("http://127.0.0.1:{port}")), "hls".into())
            .with_timeout(Duration::from_millis(300));
        let err = objects.put(&object()).await.unwrap_err();
        assert!(err.retryable, "{err}");
        holder.abort();
    }
}
