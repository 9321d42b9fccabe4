//! Publishing to a room's realtime channel: AppSync Events' HTTP publish (`POST {http}/event`
//! `{"channel", "events": [JSON strings]}`), signed with the function's IAM credentials (SigV4,
//! service `appsync`) in the deployment, or with `x-api-key` against `zhibo serve`'s stand-in.

use aws_credential_types::provider::ProvideCredentials;
use std::time::{Duration, SystemTime};
use zhibo_core::audience::RealtimePublish;
use zhibo_core::error::Error;

/// Timeout of one publish.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Events in one publish (AppSync's limit).
pub const MAX_EVENTS_PER_PUBLISH: usize = 5;

#[derive(Clone)]
enum Auth {
    ApiKey(String),
    Iam {
        region: String,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    },
}

/// Publishes events on channels of the Event API.
#[derive(Clone)]
pub struct RealtimePublisher {
    url: String,
    auth: Auth,
    http: reqwest::Client,
}

impl std::fmt::Debug for RealtimePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimePublisher")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RealtimePublisher {
    /// From the audience configuration: `x-api-key` when `REALTIME_PUBLISH_KEY` is set, else
    /// SigV4 with the SDK configuration's credentials and region.
    pub fn new(publish: &RealtimePublish, sdk: &aws_config::SdkConfig) -> RealtimePublisher {
        let auth = match &publish.publish_key {
            Some(key) => Auth::ApiKey(key.clone()),
            None => Auth::Iam {
                region: sdk
                    .region()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "us-east-1".into()),
                credentials: sdk.credentials_provider(),
            },
        };
        RealtimePublisher {
            url: publish.http_url.clone(),
            auth,
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// The publish body for `events` (each a JSON document) on `channel` (pure).
    pub fn body(channel: &str, events: &[String]) -> String {
        serde_json::json!({"channel": channel, "events": events}).to_string()
    }

    /// Publishes `events` (at most [`MAX_EVENTS_PER_PUBLISH`]) on `channel`, in order.
    pub async fn publish(&self, channel: &str, events: &[String]) -> Result<(), Error> {
        let fail = |what: String| Error::Media(format!("realtime publish to {channel}: {what}"));
        if events.len() > MAX_EVENTS_PER_PUBLISH {
            return Err(fail(format!(
                "{} events; at most {MAX_EVENTS_PER_PUBLISH} per publish",
                events.len()
            )));
        }
        let body = Self::body(channel, events);
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json");
        for (name, value) in self.auth_headers(&body).await.map_err(fail)? {
            req = req.header(name, value);
        }
        let res = req
            .body(body)
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {}", e.without_url())))?;
        let status = res.status();
        let text: String = res
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}: {text}")));
        }
        // AppSync answers 200 with per-event results; a failed event is an error too.
        let failed = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("failed").and_then(|f| f.as_array()).map(Vec::len))
            .unwrap_or(0);
        if failed > 0 {
            return Err(fail(format!("{failed} event(s) failed: {text}")));
        }
        Ok(())
    }

    /// The headers that authorize a publish of `body`.
    async fn auth_headers(&self, body: &str) -> Result<Vec<(String, String)>, String> {
        match &self.auth {
            Auth::ApiKey(key) => Ok(vec![("x-api-key".into(), key.clone())]),
            Auth::Iam {
                region,
                credentials,
            } => {
                let creds = credentials
                    .as_ref()
                    .ok_or("no AWS credentials to sign with")?
                    .provide_credentials()
                    .await
                    .map_err(|e| format!("credentials: {e}"))?;
                sign_v4(&self.url, body, region, creds, SystemTime::now())
            }
        }
    }
}

/// SigV4 headers (service `appsync`) for a publish of `body` to `url`.
fn sign_v4(
    url: &str,
    body: &str,
    region: &str,
    creds: aws_credential_types::Credentials,
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = creds.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("appsync")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let headers = [("content-type", "application/json")];
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_publishes_are_signed_for_appsync_in_the_region() {
        let creds = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("tok".into()),
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let headers = sign_v4(
            "https://abc.appsync-api.ap-east-1.amazonaws.com/event",
            &RealtimePublisher::body("/zhibo/demo/7", &["{}".into()]),
            "ap-east-1",
            creds,
            at,
        )
        .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        assert!(
            get("authorization").starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/ap-east-1/appsync/aws4_request"
            ),
            "{headers:?}"
        );
        assert_eq!(get("x-amz-date"), "20260101T000000Z");
        assert_eq!(get("x-amz-security-token"), "tok");
    }

    #[test]
    fn the_body_is_appsyncs_publish_shape() {
        let body: serde_json::Value = serde_json::from_str(&RealtimePublisher::body(
            "/zhibo/demo/7",
            &["{\"seq\":1}".into()],
        ))
        .unwrap();
        assert_eq!(body["channel"], "/zhibo/demo/7");
        assert_eq!(body["events"][0], "{\"seq\":1}");
    }
}
