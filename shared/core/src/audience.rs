//! Audience interaction (docs/api.md "Audience interaction"): the pure rules behind comments,
//! likes, gifts and viewer numbers. No I/O: the functions store and publish what these decide.
//!
//! - [`token`]: viewer tokens, issued by the customer's backend through the signed API, bound to
//!   one room and one user, verified without a database read.
//! - [`moderation`]: blocked words that survive case, full-width forms, spaces and punctuation.
//! - [`review`]: the app's optional synchronous review call and what its answer decides.
//! - [`rate_limit`]: the token bucket behind per-user limits (429 with `Retry-After`).
//! - [`channel`]: the per-room realtime channel and who may subscribe to it.
//! - [`item`]: what is published on it and kept as the room's history.
//! - [`commerce`]: gifts, announcements and `status` items (the signed API's items).
//! - [`presence`]: viewer numbers from presence reports, and the room's stats.

pub mod channel;
pub mod commerce;
pub mod item;
pub mod moderation;
pub mod presence;
pub mod rate_limit;
pub mod review;
pub mod token;

/// Where clients reach the realtime engine, and the key viewer tokens are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct AudienceConfig {
    /// `VIEWER_TOKEN_KEY`: the master key of viewer tokens ([`token`]).
    pub viewer_token_key: String,
    /// `REALTIME_WS_URL`: `wss://{realtime host}/event/realtime` (AppSync Events' WebSocket).
    pub ws_url: String,
    /// `REALTIME_HTTP_URL`: `https://{http host}/event` (its HTTP publish endpoint).
    pub http_url: String,
    /// `REALTIME_PUBLISH_KEY` (local only): the functions publish with `x-api-key` instead of
    /// IAM (SigV4), as `zhibo serve`'s stand-in expects.
    pub publish_key: Option<String>,
    /// `USER_MESSAGE_BURST` (default 5) and `USER_MESSAGE_INTERVAL_MS` (default 1000): each
    /// user's messages in a room, as a token bucket.
    pub message_limit: rate_limit::Limit,
    /// `ROOM_MESSAGES_PER_S` (default 100): messages a room publishes per second, across every
    /// function instance (flood control); the rest are counted (`messages_dropped`), not
    /// delivered.
    pub room_messages_per_s: u32,
}

impl std::fmt::Debug for AudienceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudienceConfig")
            .field("viewer_token_key", &"<redacted>")
            .field("ws_url", &self.ws_url)
            .field("http_url", &self.http_url)
            .field(
                "publish_key",
                &self.publish_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where and how the functions publish on rooms' channels (AppSync Events' HTTP publish).
#[derive(Clone, PartialEq, Eq)]
pub struct RealtimePublish {
    /// `REALTIME_HTTP_URL`: `https://{http host}/event`.
    pub http_url: String,
    /// `REALTIME_PUBLISH_KEY` (local only): `x-api-key` instead of IAM (SigV4).
    pub publish_key: Option<String>,
}

impl std::fmt::Debug for RealtimePublish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimePublish")
            .field("http_url", &self.http_url)
            .field(
                "publish_key",
                &self.publish_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What `POST /v1/rooms/{room_id}/viewer-tokens` answers: the token and how to subscribe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ViewerTokenGrant {
    /// The viewer token (`Authorization: Bearer {token}` on the viewer routes).
    pub token: String,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
    /// The realtime channel and how to connect to it.
    pub realtime: RealtimeAccess,
}

/// How a client subscribes to its room's channel with the AppSync Events protocol.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RealtimeAccess {
    /// The WebSocket URL.
    pub ws: String,
    /// The HTTP endpoint (its host goes in `authorization.host`).
    pub http: String,
    /// The room's channel.
    pub channel: String,
    /// What goes base64url-encoded in the `header-…` subprotocol and in each subscribe.
    pub authorization: RealtimeAuthorization,
}

/// The `authorization` object of the AppSync Events protocol for a Lambda authorizer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RealtimeAuthorization {
    /// The HTTP endpoint's host.
    pub host: String,
    /// The viewer token.
    #[serde(rename = "Authorization")]
    pub authorization: String,
}

impl AudienceConfig {
    /// Issues a token for `claims` (already checked) and says how to use it.
    pub fn grant(&self, claims: &token::ViewerClaims) -> ViewerTokenGrant {
        let token = claims.sign(&self.viewer_token_key);
        let host = self
            .http_url
            .split_once("://")
            .map_or("", |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        ViewerTokenGrant {
            expires_at: claims.exp,
            realtime: RealtimeAccess {
                ws: self.ws_url.clone(),
                http: self.http_url.clone(),
                channel: channel::room_channel(&claims.app_id, claims.room_id),
                authorization: RealtimeAuthorization {
                    host,
                    authorization: token.clone(),
                },
            },
            token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token::{Role, ViewerClaims};
    use super::*;

    #[test]
    fn a_grant_carries_the_channel_and_the_appsync_authorization() {
        let cfg = AudienceConfig {
            viewer_token_key: "viewer-master-key-0123456789".into(),
            ws_url: "wss://abc.appsync-realtime-api.us-east-1.amazonaws.com/event/realtime".into(),
            http_url: "https://abc.appsync-api.us-east-1.amazonaws.com/event".into(),
            publish_key: None,
            message_limit: rate_limit::Limit {
                interval_ms: 1000,
                burst: 5,
            },
            room_messages_per_s: 100,
        };
        let claims = ViewerClaims {
            app_id: "demo".into(),
            room_id: 7,
            user_id: "u".into(),
            nickname: "n".into(),
            avatar: String::new(),
            role: Role::Viewer,
            exp: 100,
        };
        let g = cfg.grant(&claims);
        assert_eq!(g.realtime.channel, "/zhibo/demo/7");
        assert_eq!(
            g.realtime.authorization.host,
            "abc.appsync-api.us-east-1.amazonaws.com"
        );
        assert_eq!(g.realtime.authorization.authorization, g.token);
        assert_eq!(
            token::verify(&cfg.viewer_token_key, &g.token, 50, Some(("demo", 7))),
            Ok(claims)
        );
        assert!(!format!("{cfg:?}").contains("viewer-master-key"));
    }
}
