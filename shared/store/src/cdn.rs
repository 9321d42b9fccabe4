//! CloudFront invalidations for [`zhibo_core::takedown`]: one `CreateInvalidation` (REST API
//! 2020-05-31) signed with SigV4 from the function's own credentials. Only the one call is
//! needed, so it is made here rather than through another SDK crate. `CDN_DISTRIBUTION_ID`
//! names the distribution (the template passes it in public playback mode; locally there is no
//! CDN and nothing is invalidated).

use aws_credential_types::provider::ProvideCredentials;
use std::time::{Duration, SystemTime};
use zhibo_core::error::Error;

/// The CloudFront API endpoint (a global service, signed for `us-east-1`).
pub const CLOUDFRONT_ENDPOINT: &str = "https://cloudfront.amazonaws.com";
/// Timeout of one invalidation request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The XML body of `CreateInvalidation` for `paths` (pure).
pub fn invalidation_batch(paths: &[String], caller_reference: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let items: String = paths
        .iter()
        .map(|p| format!("<Path>{}</Path>", esc(p)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
         <Paths><Quantity>{}</Quantity><Items>{items}</Items></Paths>\
         <CallerReference>{}</CallerReference></InvalidationBatch>",
        paths.len(),
        esc(caller_reference)
    )
}

/// Invalidates paths of one distribution.
#[derive(Clone)]
pub struct Invalidator {
    distribution_id: String,
    endpoint: String,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Invalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidator")
            .field("distribution_id", &self.distribution_id)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Invalidator {
    /// For distribution `distribution_id` at `endpoint` (default [`CLOUDFRONT_ENDPOINT`]), with
    /// the SDK configuration's credentials.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        distribution_id: &str,
        endpoint: Option<&str>,
    ) -> Invalidator {
        let endpoint = endpoint.unwrap_or(CLOUDFRONT_ENDPOINT);
        Invalidator {
            distribution_id: distribution_id.to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            credentials: sdk.credentials_provider(),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends one `CreateInvalidation` for `paths`.
    pub async fn invalidate(&self, paths: &[String]) -> Result<(), Error> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let fail = |what: String| Error::Media(format!("CloudFront invalidation: {what}"));
        let url = format!(
            "{}/2020-05-31/distribution/{}/invalidation",
            self.endpoint, self.distribution_id
        );
        let body = invalidation_batch(paths, &format!("zhibo-{}", zhibo_core::ids::random_hex(8)));
        let creds = self
            .credentials
            .as_ref()
            .ok_or_else(|| fail("no AWS credentials to sign with".into()))?
            .provide_credentials()
            .await
            .map_err(|e| fail(format!("credentials: {e}")))?;
        let identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("cloudfront")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| fail(format!("signing parameters: {e}")))?
            .into();
        let headers = [("content-type", "application/xml")];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| fail(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| fail(format!("signing: {e}")))?
            .into_parts();
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/xml");
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let res = req
            .body(body)
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {}", e.without_url())))?;
        let status = res.status();
        if !status.is_success() {
            let text: String = res
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return Err(fail(format!(
                "distribution {} answered HTTP {status}: {text}",
                self.distribution_id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_lists_every_path() {
        let xml = invalidation_batch(&["/live/a/1/*".into(), "/replays/a/1/*".into()], "r<1>");
        assert!(xml.contains("<Quantity>2</Quantity>"));
        assert!(xml.contains("<Items><Path>/live/a/1/*</Path><Path>/replays/a/1/*</Path></Items>"));
        assert!(xml.contains("<CallerReference>r&lt;1&gt;</CallerReference>"));
    }
}
