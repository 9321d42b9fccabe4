//! [`S3Sink`]: objects as S3 PutObject requests (AWS S3, or SeaweedFS locally).

use super::{ObjectPut, SegmentSink, SinkError};
use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

/// How long one PutObject may take, SDK retries included, before it counts as a (retryable)
/// failure; [`S3Sink::with_timeout`] changes it.
pub const DEFAULT_PUT_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes objects with PutObject, setting `Content-Type` and `Cache-Control`. Build the client
/// with `zhibo_store::aws::s3_client` (path-style when an endpoint override is given).
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    timeout: Duration,
}

impl S3Sink {
    /// A sink writing into `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> S3Sink {
        S3Sink {
            client,
            bucket,
            timeout: DEFAULT_PUT_TIMEOUT,
        }
    }

    /// Replaces the per-request time limit ([`DEFAULT_PUT_TIMEOUT`]); a hung connection then
    /// fails as retryable instead of stalling its stream.
    pub fn with_timeout(mut self, timeout: Duration) -> S3Sink {
        self.timeout = timeout;
        self
    }

    /// The bucket written to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
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
impl SegmentSink for S3Sink {
    async fn put(&self, object: &ObjectPut) -> Result<(), SinkError> {
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
        match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(SinkError {
                key: object.key.clone(),
                message: format!(
                    "PutObject s3://{}/{}: {}",
                    self.bucket,
                    object.key,
                    describe(&err)
                ),
                retryable: retryable(&err, |raw| raw.status().as_u16()),
            }),
            Err(_) => Err(SinkError {
                key: object.key.clone(),
                message: format!(
                    "PutObject s3://{}/{}: no answer within {:?}",
                    self.bucket, object.key, self.timeout
                ),
                retryable: true,
            }),
        }
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
        let sink = S3Sink::new(client(&format!("http://127.0.0.1:{port}")), "hls".into());
        let err = sink.put(&object()).await.unwrap_err();
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
        let sink = S3Sink::new(client(&format!("http://127.0.0.1:{port}")), "hls".into())
            .with_timeout(Duration::from_millis(300));
        let err = sink.put(&object()).await.unwrap_err();
        assert!(err.retryable, "{err}");
        holder.abort();
    }
}
