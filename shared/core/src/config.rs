//! Configuration, parsed once from the environment at cold start. Every problem is reported at
//! once, one per line, so a deployment is fixed in one go.

use crate::env::EnvReader;
use crate::error::Error;

/// How a deployment sets a variable (checked against `template.yaml` by the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarUse {
    /// The template sets it for every function.
    Deployed,
    /// The template passes `{NAME}_SECRET_ARN` to the functions that use it
    /// ([`zhibo_store::aws::config_with_secrets`]).
    Secret,
    /// Has a default that suits AWS; the template may leave it out.
    Optional,
    /// Local development and tests only: the template must not set it.
    LocalOnly,
}

/// Every variable [`Config::from_lookup`] reads, and how a deployment sets it.
pub const VARIABLES: &[(&str, VarUse)] = &[
    ("ZHIBO_TABLE", VarUse::Deployed),
    ("MEDIA_BUCKET", VarUse::Deployed),
    ("MIN_START_LEAD_S", VarUse::Deployed),
    ("MAX_LIVES_PER_DAY", VarUse::Deployed),
    ("MAX_CONCURRENT_LIVES", VarUse::Deployed),
    ("QUOTA_UTC_OFFSET_MINUTES", VarUse::Deployed),
    ("INGEST_HOST", VarUse::Deployed),
    ("REPLAY_TTL_DAYS", VarUse::Deployed),
    ("PLAYBACK_MODE", VarUse::Deployed),
    ("PLAYBACK_BASE_URL", VarUse::Deployed),
    ("PLAY_HOST", VarUse::Deployed),
    ("API_BASE_URL", VarUse::Deployed),
    ("PUSH_KEY", VarUse::Secret),
    ("HOOK_SECRET", VarUse::Secret),
    ("PLAY_KEY", VarUse::Secret),
    ("EVENT_BUS_NAME", VarUse::Optional),
    ("PLAY_URL_TTL_S", VarUse::Optional),
    ("ABNORMAL_TIMEOUT_S", VarUse::Optional),
    ("MAX_LIVE_S", VarUse::Optional),
    ("WORKER_SILENCE_S", VarUse::Optional),
    ("WEBHOOK_RETRY_BASE_MS", VarUse::Optional),
    ("WEBHOOK_RETRY_CAP_MS", VarUse::Optional),
    ("WEBHOOK_RETRY_WINDOW_S", VarUse::Optional),
    ("CDN_DISTRIBUTION_ID", VarUse::Optional),
    // Audience interaction: the template's ViewerTokenKeySecret and Event API (RealtimeApi).
    ("VIEWER_TOKEN_KEY", VarUse::Secret),
    ("REALTIME_WS_URL", VarUse::Deployed),
    ("REALTIME_HTTP_URL", VarUse::Deployed),
    ("USER_MESSAGE_BURST", VarUse::Optional),
    ("USER_MESSAGE_INTERVAL_MS", VarUse::Optional),
    ("ROOM_MESSAGES_PER_S", VarUse::Optional),
    ("ZHIBO_DYNAMO_ENDPOINT", VarUse::LocalOnly),
    ("ZHIBO_S3_ENDPOINT", VarUse::LocalOnly),
    ("ZHIBO_EVENTBRIDGE_ENDPOINT", VarUse::LocalOnly),
    ("WEBHOOK_ALLOW_HTTP", VarUse::LocalOnly),
    ("ZHIBO_CLOUDFRONT_ENDPOINT", VarUse::LocalOnly),
    ("REALTIME_PUBLISH_KEY", VarUse::LocalOnly),
];

/// Everything a function reads from its environment. `Debug` hides the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `ZHIBO_TABLE`: the single DynamoDB table. Required.
    pub table: String,
    /// `ZHIBO_DYNAMO_ENDPOINT`: DynamoDB endpoint override (DynamoDB Local); unset on AWS.
    pub dynamo_endpoint: Option<String>,
    /// `ZHIBO_S3_ENDPOINT`: S3 endpoint override (SeaweedFS); unset on AWS.
    pub s3_endpoint: Option<String>,
    /// `MEDIA_BUCKET`: the media bucket. It defaults to `hls`.
    pub media_bucket: String,
    /// `MIN_START_LEAD_S`: how far ahead a room's `start_time` must be. It defaults to 600 s
    /// (as WeChat); local development uses 0.
    pub min_start_lead_s: i64,
    /// `MAX_LIVES_PER_DAY`: rooms whose live is scheduled on one day, per app. It defaults to 50.
    pub max_lives_per_day: u32,
    /// `MAX_CONCURRENT_LIVES`: rooms live (101) at once, per app. It defaults to 50.
    pub max_concurrent_lives: u32,
    /// `QUOTA_UTC_OFFSET_MINUTES`: the time zone of the quota day. It defaults to 480 (UTC+8,
    /// China Standard Time, as WeChat).
    pub quota_utc_offset_minutes: i32,
    /// `PUSH_KEY`: the master key each app's push-URL key is derived from
    /// ([`crate::signing::app_url_key`]; the media worker derives the same). At least 16
    /// characters, not equal to `PLAY_KEY`; `POST /v1/rooms/{id}/push-url` needs it.
    pub push_key: Option<String>,
    /// `INGEST_HOST`: host[:port] of the RTMP ingest in push URLs. It defaults to
    /// `localhost:1935`.
    pub ingest_host: String,
    /// `HOOK_SECRET`: the secret the media workers sign `/internal/hooks` calls with (at least
    /// 16 characters); the hooks endpoint refuses every call without it.
    pub hook_secret: Option<String>,
    /// `ABNORMAL_TIMEOUT_S` (default 900), `MAX_LIVE_S` (default 43200), `WORKER_SILENCE_S`
    /// (default 45): the lifecycle timers.
    pub timers: crate::lifecycle::Timers,
    /// `WEBHOOK_RETRY_BASE_MS` (default 5000), `WEBHOOK_RETRY_CAP_MS` (default 3600000),
    /// `WEBHOOK_RETRY_WINDOW_S` (default 86400): the webhook retry schedule.
    pub webhook_retry: crate::webhook::RetryPolicy,
    /// `WEBHOOK_ALLOW_HTTP`: `1` accepts `http://` webhook URLs (local development and tests);
    /// otherwise they must be `https://`.
    pub webhook_allow_http: bool,
    /// `PLAYBACK_MODE` (`public`, the default, or `signed`) with `PLAYBACK_BASE_URL` (public:
    /// where the bucket is read, default the S3 endpoint's path-style bucket URL), or
    /// `PLAY_KEY` (at least 16 characters), `PLAY_URL_TTL_S` (default 3600) and optionally
    /// `API_BASE_URL` (default: each request's own host) for signed playback URLs.
    pub playback: crate::playback::Playback,
    /// `PLAY_HOST` (with `PLAY_KEY` and `PLAY_URL_TTL_S`): where the media workers serve
    /// HTTP-FLV; `None` when unset (`play-urls` then returns `"flv": null`).
    pub flv: Option<crate::playback::FlvPlayback>,
    /// `REPLAY_TTL_DAYS`: how long replays are kept (S3 lifecycle and DynamoDB TTL). It
    /// defaults to 365.
    pub replay_ttl_days: i64,
    /// `EVENT_BUS_NAME`: the EventBridge bus `replay.ready` is put on (`default` on AWS);
    /// unset, no EventBridge events are sent (local development).
    pub event_bus: Option<String>,
    /// `ZHIBO_EVENTBRIDGE_ENDPOINT`: EventBridge endpoint override (tests); unset on AWS.
    pub eventbridge_endpoint: Option<String>,
    /// `CDN_DISTRIBUTION_ID`: the CloudFront distribution in front of the media bucket, whose
    /// cached copies a takedown invalidates ([`crate::takedown`]); unset, none is (local).
    pub cdn_distribution_id: Option<String>,
    /// `ZHIBO_CLOUDFRONT_ENDPOINT`: CloudFront API endpoint override (tests); unset on AWS.
    pub cloudfront_endpoint: Option<String>,
    /// `VIEWER_TOKEN_KEY` with `REALTIME_WS_URL` and `REALTIME_HTTP_URL`: audience
    /// interaction (viewer tokens, the realtime channel); `None` when `VIEWER_TOKEN_KEY` is
    /// unset (those routes then answer 503 saying so).
    pub audience: Option<crate::audience::AudienceConfig>,
    /// Where the functions publish room items: `REALTIME_HTTP_URL` (and, locally,
    /// `REALTIME_PUBLISH_KEY`), with or without the rest of the audience configuration, so a
    /// function that only publishes (the hooks' `stats` items, the webhook delivery's `status`
    /// items) never holds the viewer-token key.
    pub realtime_publish: Option<crate::audience::RealtimePublish>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |k: &Option<String>| k.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("dynamo_endpoint", &self.dynamo_endpoint)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("media_bucket", &self.media_bucket)
            .field("min_start_lead_s", &self.min_start_lead_s)
            .field("max_lives_per_day", &self.max_lives_per_day)
            .field("max_concurrent_lives", &self.max_concurrent_lives)
            .field("quota_utc_offset_minutes", &self.quota_utc_offset_minutes)
            .field("push_key", &hidden(&self.push_key))
            .field("ingest_host", &self.ingest_host)
            .field("hook_secret", &hidden(&self.hook_secret))
            .field("timers", &self.timers)
            .field("webhook_retry", &self.webhook_retry)
            .field("webhook_allow_http", &self.webhook_allow_http)
            .field("playback", &self.playback)
            .field("flv", &self.flv)
            .field("replay_ttl_days", &self.replay_ttl_days)
            .field("event_bus", &self.event_bus)
            .field("eventbridge_endpoint", &self.eventbridge_endpoint)
            .field("audience", &self.audience)
            .field("realtime_publish", &self.realtime_publish)
            .finish()
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        use crate::lifecycle::Timers;
        use crate::playback::{FlvPlayback, Playback};
        use crate::webhook::RetryPolicy;

        let mut env = EnvReader::new(get);
        let table = env.string("ZHIBO_TABLE", "the DynamoDB table name");
        let min_start_lead_s = env.num("MIN_START_LEAD_S", 600, 0..=30 * 86400);
        let max_lives_per_day = env.num("MAX_LIVES_PER_DAY", 50, 1..=1_000_000);
        let max_concurrent_lives = env.num("MAX_CONCURRENT_LIVES", 50, 1..=1_000_000);
        let quota_utc_offset_minutes = env.num("QUOTA_UTC_OFFSET_MINUTES", 480, -720..=840);
        let dynamo_endpoint = env.url("ZHIBO_DYNAMO_ENDPOINT");
        let s3_endpoint = env.url("ZHIBO_S3_ENDPOINT");
        let media_bucket = env.or("MEDIA_BUCKET", "hls");
        let push_key = env.secret("PUSH_KEY", 16);
        let ingest_host = env.or("INGEST_HOST", "localhost:1935");
        if ingest_host.contains('/') || ingest_host.contains(char::is_whitespace) {
            env.problem(format!(
                "INGEST_HOST={ingest_host:?} is invalid: expected host[:port], without scheme or path"
            ));
        }
        let hook_secret = env.secret("HOOK_SECRET", 16);
        let d = Timers::default();
        let timers = Timers {
            abnormal_timeout_s: env.num("ABNORMAL_TIMEOUT_S", d.abnormal_timeout_s, 1..=86_400),
            max_live_s: env.num("MAX_LIVE_S", d.max_live_s, 1..=7 * 86_400),
            worker_silence_s: env.num("WORKER_SILENCE_S", d.worker_silence_s, 1..=3600),
        };
        let r = RetryPolicy::default();
        let webhook_retry = RetryPolicy {
            base_ms: env.num("WEBHOOK_RETRY_BASE_MS", r.base_ms, 1..=3_600_000),
            cap_ms: env.num("WEBHOOK_RETRY_CAP_MS", r.cap_ms, 1..=86_400_000),
            window_s: env.num("WEBHOOK_RETRY_WINDOW_S", r.window_s, 1..=30 * 86_400),
        };
        let webhook_allow_http = env.flag("WEBHOOK_ALLOW_HTTP", false);
        let replay_ttl_days = env.num("REPLAY_TTL_DAYS", 365, 1..=3650);
        let eventbridge_endpoint = env.url("ZHIBO_EVENTBRIDGE_ENDPOINT");
        let event_bus = env.optional("EVENT_BUS_NAME");
        let cdn_distribution_id = env
            .optional("CDN_DISTRIBUTION_ID")
            .map(|v| v.trim().to_string());
        if let Some(id) = &cdn_distribution_id {
            if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                env.problem(format!(
                    "CDN_DISTRIBUTION_ID={id:?} is invalid: expected a CloudFront distribution id \
                     (letters and digits, e.g. E2QWRUHEXAMPLE)"
                ));
            }
        }
        let cloudfront_endpoint = env.url("ZHIBO_CLOUDFRONT_ENDPOINT");
        let playback = match env.optional("PLAYBACK_MODE").as_deref() {
            None | Some("public") => {
                let base_url = env
                    .url("PLAYBACK_BASE_URL")
                    .unwrap_or_else(|| match &s3_endpoint {
                        Some(e) => format!("{}/{media_bucket}", e.trim_end_matches('/')),
                        None => format!("https://{media_bucket}.s3.amazonaws.com"),
                    });
                Playback::Public {
                    base_url: base_url.trim_end_matches('/').to_string(),
                }
            }
            Some("signed") => {
                // Unset: each request's own https://Host (API Gateway's URL, which the
                // template cannot pass to its own integrations without a cycle).
                let api_base_url = env.url("API_BASE_URL");
                let play_key = env.optional("PLAY_KEY").unwrap_or_default();
                if play_key.len() < 16 {
                    env.problem(
                        "PLAY_KEY is required with PLAYBACK_MODE=signed: use at least 16 characters",
                    );
                }
                Playback::Signed {
                    api_base_url: api_base_url.map(|u| u.trim_end_matches('/').to_string()),
                    play_key,
                    ttl_s: env.num("PLAY_URL_TTL_S", 3600, 10..=7 * 86_400),
                }
            }
            Some(v) => {
                env.problem(format!(
                    "PLAYBACK_MODE={v:?} is invalid: expected public or signed"
                ));
                Playback::Public {
                    base_url: String::new(),
                }
            }
        };
        let flv = env.optional("PLAY_HOST").and_then(|host| {
            let base_url = match FlvPlayback::base_url_from_play_host(&host) {
                Ok(u) => u,
                Err(e) => {
                    env.problem(e);
                    return None;
                }
            };
            let play_key = env.optional("PLAY_KEY").unwrap_or_default();
            if play_key.len() < 16 {
                env.problem(
                    "PLAY_KEY is required with PLAY_HOST (HTTP-FLV URLs are signed): use at least 16 characters",
                );
            }
            Some(FlvPlayback {
                base_url,
                play_key,
                ttl_s: env.num("PLAY_URL_TTL_S", 3600, 10..=7 * 86_400),
            })
        });
        if let (Some(push), Some(flv), Playback::Public { .. }) = (&push_key, &flv, &playback) {
            // (In signed mode the same PLAY_KEY is checked below.)
            if crate::signing::constant_time_eq(push.as_bytes(), flv.play_key.as_bytes()) {
                env.problem(
                    "PLAY_KEY equals PUSH_KEY: use two different random keys, or a play URL's key \
                     would be derived from the push master key",
                );
            }
        }
        if let (Some(push), Playback::Signed { play_key, .. }) = (&push_key, &playback) {
            if crate::signing::constant_time_eq(push.as_bytes(), play_key.as_bytes()) {
                env.problem(
                    "PLAY_KEY equals PUSH_KEY: use two different random keys, or a play URL's key \
                     would be derived from the push master key",
                );
            }
        }
        let audience = env.optional("VIEWER_TOKEN_KEY").map(|key| {
            if key.len() < 16 {
                env.problem("VIEWER_TOKEN_KEY is too short: use at least 16 random characters");
            }
            let mut url = |name: &str, scheme: [&str; 2], path: &str| {
                let Some(url) = env.optional(name) else {
                    env.problem(format!(
                        "{name} is required with VIEWER_TOKEN_KEY: the realtime endpoint's URL \
                         ({}://{{host}}{path}; the template's RealtimeWsUrl/RealtimeHttpUrl outputs, \
                         or zhibo serve's own address)",
                        scheme[1]
                    ));
                    return String::new();
                };
                let ok = scheme.iter().any(|s| url.starts_with(&format!("{s}://")))
                    && url.ends_with(path)
                    && url.len() <= 512;
                if !ok {
                    env.problem(format!(
                        "{name}={url:?} is invalid: expected {}://{{host}}{path} (or {}:// locally)",
                        scheme[1], scheme[0]
                    ));
                }
                url
            };
            let ws_url = url("REALTIME_WS_URL", ["ws", "wss"], "/event/realtime");
            let http_url = url("REALTIME_HTTP_URL", ["http", "https"], "/event");
            let publish_key = env.optional("REALTIME_PUBLISH_KEY");
            if publish_key.as_ref().is_some_and(|k| k.len() < 16) {
                env.problem("REALTIME_PUBLISH_KEY is too short: use at least 16 random characters");
            }
            let message_limit = crate::audience::rate_limit::Limit {
                burst: env.num("USER_MESSAGE_BURST", 5, 1..=100),
                interval_ms: env.num("USER_MESSAGE_INTERVAL_MS", 1000, 100..=3_600_000),
            };
            let room_messages_per_s = env.num("ROOM_MESSAGES_PER_S", 100, 1..=10_000);
            crate::audience::AudienceConfig {
                viewer_token_key: key,
                ws_url,
                http_url,
                publish_key,
                message_limit,
                room_messages_per_s,
            }
        });
        let realtime_publish = match &audience {
            Some(a) => Some(crate::audience::RealtimePublish {
                http_url: a.http_url.clone(),
                publish_key: a.publish_key.clone(),
            }),
            None => env.optional("REALTIME_HTTP_URL").map(|http_url| {
                let ok = (http_url.starts_with("https://") || http_url.starts_with("http://"))
                    && http_url.ends_with("/event")
                    && http_url.len() <= 512;
                if !ok {
                    env.problem(format!(
                        "REALTIME_HTTP_URL={http_url:?} is invalid: expected https://{{host}}/event (or http:// locally)"
                    ));
                }
                crate::audience::RealtimePublish {
                    http_url,
                    publish_key: env.optional("REALTIME_PUBLISH_KEY"),
                }
            }),
        };
        env.finish().map_err(|e| Error::Config(e.to_string()))?;
        Ok(Config {
            table,
            dynamo_endpoint,
            s3_endpoint,
            media_bucket,
            min_start_lead_s,
            max_lives_per_day,
            max_concurrent_lives,
            quota_utc_offset_minutes,
            push_key,
            ingest_host,
            hook_secret,
            timers,
            webhook_retry,
            webhook_allow_http,
            playback,
            flv,
            replay_ttl_days,
            event_bus,
            eventbridge_endpoint,
            cdn_distribution_id,
            cloudfront_endpoint,
            audience,
            realtime_publish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("ZHIBO_TABLE", "t")]).unwrap();
        assert_eq!(c.min_start_lead_s, 600);
        assert_eq!(c.max_lives_per_day, 50);
        assert_eq!(c.max_concurrent_lives, 50);
        assert_eq!(c.quota_utc_offset_minutes, 480);
        assert_eq!(c.media_bucket, "hls");
        assert_eq!(c.dynamo_endpoint, None);
        assert_eq!(c.replay_ttl_days, 365);
        assert_eq!(c.event_bus, None);
        assert_eq!(
            c.playback,
            crate::playback::Playback::Public {
                base_url: "https://hls.s3.amazonaws.com".into()
            }
        );
        let local = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("ZHIBO_S3_ENDPOINT", "http://127.0.0.1:18433/"),
        ])
        .unwrap();
        assert_eq!(
            local.playback,
            crate::playback::Playback::Public {
                base_url: "http://127.0.0.1:18433/hls".into()
            }
        );
    }

    #[test]
    fn signed_playback_needs_its_key_and_api_url() {
        let err = cfg(&[("ZHIBO_TABLE", "t"), ("PLAYBACK_MODE", "signed")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PLAY_KEY is required"), "{err}");
        let c = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("PLAYBACK_MODE", "signed"),
            ("API_BASE_URL", "https://api.example.com/"),
            ("PLAY_KEY", "0123456789abcdef"),
        ])
        .unwrap();
        assert!(matches!(
            c.playback,
            crate::playback::Playback::Signed { ref api_base_url, ttl_s: 3600, .. }
                if api_base_url.as_deref() == Some("https://api.example.com")
        ));
    }

    #[test]
    fn flv_playback_needs_play_host_and_key() {
        let c = cfg(&[("ZHIBO_TABLE", "t")]).unwrap();
        assert_eq!(c.flv, None);
        let err = cfg(&[("ZHIBO_TABLE", "t"), ("PLAY_HOST", "play.example.com")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PLAY_KEY is required with PLAY_HOST"), "{err}");
        let err = cfg(&[("ZHIBO_TABLE", "t"), ("PLAY_HOST", "play.example.com/x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PLAY_HOST=\"play.example.com/x\" is invalid"),
            "{err}"
        );
        let c = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("PLAY_HOST", "http://127.0.0.1:9090"),
            ("PLAY_KEY", "0123456789abcdef"),
            ("PLAY_URL_TTL_S", "600"),
        ])
        .unwrap();
        let flv = c.flv.expect("flv playback");
        assert_eq!(flv.base_url, "http://127.0.0.1:9090");
        assert_eq!(flv.ttl_s, 600);
        let err = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("PUSH_KEY", "same-key-0123456789"),
            ("PLAY_HOST", "play.example.com"),
            ("PLAY_KEY", "same-key-0123456789"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("PLAY_KEY equals PUSH_KEY"), "{err}");
    }

    /// L5: one key for both would make the two derivations share a master.
    #[test]
    fn play_key_equal_to_push_key_is_refused() {
        let err = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("PUSH_KEY", "same-key-0123456789"),
            ("PLAYBACK_MODE", "signed"),
            ("PLAY_KEY", "same-key-0123456789"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("PLAY_KEY equals PUSH_KEY"), "{err}");
    }

    /// L6: `Debug` never prints a key.
    #[test]
    fn debug_hides_the_keys() {
        let c = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("PUSH_KEY", "push-secret-0123456789"),
            ("HOOK_SECRET", "hook-secret-0123456789"),
            ("PLAYBACK_MODE", "signed"),
            ("PLAY_KEY", "play-secret-0123456789"),
        ])
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        for key in ["push-secret", "hook-secret", "play-secret"] {
            assert!(!shown.contains(key), "{key} in {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn audience_needs_its_key_and_both_realtime_urls() {
        let c = cfg(&[("ZHIBO_TABLE", "t")]).unwrap();
        assert_eq!((c.audience, c.realtime_publish), (None, None));
        // A function that only publishes needs the HTTP URL, never the viewer-token key.
        let c = cfg(&[
            ("ZHIBO_TABLE", "t"),
            (
                "REALTIME_HTTP_URL",
                "https://x.appsync-api.eu-west-1.amazonaws.com/event",
            ),
        ])
        .unwrap();
        assert_eq!(c.audience, None);
        assert_eq!(
            c.realtime_publish.map(|p| (p.http_url, p.publish_key)),
            Some((
                "https://x.appsync-api.eu-west-1.amazonaws.com/event".into(),
                None
            ))
        );
        let err = cfg(&[("ZHIBO_TABLE", "t"), ("REALTIME_HTTP_URL", "ftp://x/event")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("REALTIME_HTTP_URL="), "{err}");
        let err = cfg(&[("ZHIBO_TABLE", "t"), ("VIEWER_TOKEN_KEY", "short")])
            .unwrap_err()
            .to_string();
        for needle in [
            "VIEWER_TOKEN_KEY is too short",
            "REALTIME_WS_URL is required",
            "REALTIME_HTTP_URL is required",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        let err = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("VIEWER_TOKEN_KEY", "viewer-token-key-0123456789"),
            ("REALTIME_WS_URL", "https://x/event/realtime"),
            ("REALTIME_HTTP_URL", "https://x/other"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("REALTIME_WS_URL=") && err.contains("REALTIME_HTTP_URL="),
            "{err}"
        );
        let c = cfg(&[
            ("ZHIBO_TABLE", "t"),
            ("VIEWER_TOKEN_KEY", "viewer-token-key-0123456789"),
            ("REALTIME_WS_URL", "ws://127.0.0.1:18080/event/realtime"),
            ("REALTIME_HTTP_URL", "http://127.0.0.1:18080/event"),
        ])
        .unwrap();
        let a = c.audience.clone().expect("audience");
        assert_eq!(a.http_url, "http://127.0.0.1:18080/event");
        assert!(!format!("{c:?}").contains("viewer-token-key"));
    }

    #[test]
    fn room_messages_per_s_defaults_to_100_and_refuses_a_bad_value() {
        let base = [
            ("ZHIBO_TABLE", "t"),
            ("VIEWER_TOKEN_KEY", "viewer-token-key-0123456789"),
            ("REALTIME_WS_URL", "ws://127.0.0.1:18080/event/realtime"),
            ("REALTIME_HTTP_URL", "http://127.0.0.1:18080/event"),
        ];
        let a = cfg(&base).unwrap().audience.expect("audience");
        assert_eq!(a.room_messages_per_s, 100);
        let mut set = base.to_vec();
        set.push(("ROOM_MESSAGES_PER_S", "3"));
        let a = cfg(&set).unwrap().audience.expect("audience");
        assert_eq!(a.room_messages_per_s, 3);
        for bad in ["0", "many", "10001"] {
            let mut set = base.to_vec();
            set.push(("ROOM_MESSAGES_PER_S", bad));
            let err = cfg(&set).unwrap_err().to_string();
            assert!(err.contains("ROOM_MESSAGES_PER_S="), "{bad}: {err}");
        }
    }

    #[test]
    fn variables_lists_exactly_what_is_read() {
        use std::cell::RefCell;
        let asked = RefCell::new(std::collections::BTreeSet::new());
        for mode in ["public", "signed"] {
            let _ = Config::from_lookup(|k| {
                asked.borrow_mut().insert(k.to_string());
                match k {
                    "PLAYBACK_MODE" => Some(mode.to_string()),
                    "VIEWER_TOKEN_KEY" => Some("viewer-token-key-0123456789".to_string()),
                    _ => None,
                }
            });
        }
        let listed: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(asked.into_inner(), listed);
    }

    #[test]
    fn every_problem_reported_at_once() {
        let err = cfg(&[
            ("MIN_START_LEAD_S", "soon"),
            ("MAX_LIVES_PER_DAY", "0"),
            ("ZHIBO_DYNAMO_ENDPOINT", "localhost:8000"),
        ])
        .unwrap_err()
        .to_string();
        for needle in [
            "ZHIBO_TABLE is required",
            "MIN_START_LEAD_S=\"soon\"",
            "MAX_LIVES_PER_DAY=\"0\"",
            "ZHIBO_DYNAMO_ENDPOINT=\"localhost:8000\"",
        ] {
            assert!(err.contains(needle), "{needle} not in {err}");
        }
    }
}
