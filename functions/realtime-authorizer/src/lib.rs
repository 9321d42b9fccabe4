//! The `realtime-authorizer` function: the Lambda authorizer of the AppSync Events API in
//! `template.yaml`, whose connections and subscriptions use `AWS_LAMBDA` (this function) and
//! whose publishing is `AWS_IAM` only, so AppSync never asks it about zhibo's own publishes.
//!
//! AppSync invokes it with
//! `{"authorizationToken", "requestContext": {"apiId", "accountId", "requestId", "operation",
//! "channelNamespaceName", "channel"}, "requestHeaders"}`, `operation` one of `EVENT_CONNECT`,
//! `EVENT_SUBSCRIBE`, `EVENT_PUBLISH`, and takes `{"isAuthorized", "ttlOverride"}` back.
//! [`handle`] maps that onto the one rule, [`zhibo_core::audience::channel::authorize`], which
//! `zhibo serve`'s stand-in applies too: a valid viewer token (`authorizationToken`, with or
//! without `Bearer `) connects and subscribes to its own room's channel
//! `/zhibo/{app_id}/{room_id}` and to nothing else; no viewer publishes.
//!
//! [`handle`] is pure and total: any request, however malformed, gets an answer (refused),
//! never a panic or a failed invocation (which would trip the function's errors alarm for
//! every junk connection). A refusal is logged with its reason, never with the token.
//!
//! Answers are not cached (`ttlOverride` 0): AppSync would reuse a cached answer for the
//! same token, and a "yes" for one subscribe must never answer a subscribe to another room's
//! channel. The price is one invocation per connect and per subscribe (README "Realtime
//! engine").
//!
//! `main.rs` reads the master key once at cold start ([`viewer_token_key`]).

use serde::Serialize;
use serde_json::Value;
use zhibo_core::audience::channel::{authorize, Operation, Refusal};
use zhibo_core::audience::token::ViewerClaims;
use zhibo_core::env::EnvReader;
use zhibo_core::error::Error;

/// Longest `authorizationToken` read (a viewer token is at most 2,048 characters; `Bearer `
/// and slack for what a client might add). Longer ones are refused unread.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;
/// Longest `requestContext.channel` read (a room channel is far shorter).
pub const MAX_CHANNEL_LEN: usize = 512;
/// `ttlOverride` of every answer: not cached (see the module documentation).
pub const TTL_OVERRIDE_S: u64 = 0;
/// Shortest master key accepted (as `VIEWER_TOKEN_KEY` in the functions' configuration).
pub const MIN_KEY_LEN: usize = 16;

/// What the authorizer answers AppSync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// Whether the connection or subscription may go ahead.
    #[serde(rename = "isAuthorized")]
    pub is_authorized: bool,
    /// How long AppSync may cache the answer (seconds).
    #[serde(rename = "ttlOverride")]
    pub ttl_override: u64,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The request is not what AppSync sends: a field is missing, of another type, or too long.
    Request(&'static str),
    /// The token or the channel is refused by the rule.
    Rule(Refusal),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Request(why) => write!(f, "malformed authorizer request: {why}"),
            Refused::Rule(why) => why.fmt(f),
        }
    }
}

/// The operation (with its channel) and the token of an authorizer request. Reads nothing
/// else, and nothing longer than [`MAX_AUTHORIZATION_LEN`] / [`MAX_CHANNEL_LEN`].
pub fn read_request(request: &Value) -> Result<(Operation<'_>, &str), Refused> {
    let ctx = request
        .get("requestContext")
        .filter(|c| c.is_object())
        .ok_or(Refused::Request("no requestContext object"))?;
    let channel = || match ctx.get("channel") {
        Some(Value::String(c)) if c.len() <= MAX_CHANNEL_LEN => Ok(c.as_str()),
        Some(Value::String(_)) => Err(Refused::Request(
            "requestContext.channel is longer than 512 bytes",
        )),
        _ => Err(Refused::Request("no requestContext.channel string")),
    };
    let operation =
        match ctx.get("operation").and_then(Value::as_str) {
            Some("EVENT_CONNECT") => Operation::Connect,
            Some("EVENT_SUBSCRIBE") => Operation::Subscribe(channel()?),
            Some("EVENT_PUBLISH") => Operation::Publish(channel()?),
            _ => return Err(Refused::Request(
                "requestContext.operation is not EVENT_CONNECT, EVENT_SUBSCRIBE or EVENT_PUBLISH",
            )),
        };
    let token = match request.get("authorizationToken") {
        Some(Value::String(t)) if t.len() <= MAX_AUTHORIZATION_LEN => t.as_str(),
        Some(Value::String(_)) => {
            return Err(Refused::Request(
                "authorizationToken is longer than 4096 bytes",
            ))
        }
        _ => return Err(Refused::Request("no authorizationToken string")),
    };
    Ok((operation, token))
}

/// Decides a request at `now` (Unix seconds) with the master key `master`: the token's claims
/// when admitted.
pub fn decide(master: &str, request: &Value, now: i64) -> Result<ViewerClaims, Refused> {
    let (operation, token) = read_request(request)?;
    authorize(master, token, operation, now).map_err(Refused::Rule)
}

/// The answer to one authorizer invocation (logged: refusals with their reason at `info`,
/// admissions at `debug`; never the token).
pub fn handle(master: &str, request: &Value, now: i64) -> Answer {
    let ctx = request.get("requestContext");
    let field = |name: &str, max: usize| -> String {
        ctx.and_then(|c| c.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(max)
            .collect()
    };
    let request_id = field("requestId", 64);
    let operation = field("operation", 32);
    match decide(master, request, now) {
        Ok(claims) => {
            tracing::debug!(
                request_id,
                operation,
                app_id = %claims.app_id,
                room_id = claims.room_id,
                "admitted"
            );
            Answer {
                is_authorized: true,
                ttl_override: TTL_OVERRIDE_S,
            }
        }
        Err(why) => {
            tracing::info!(
                request_id,
                operation,
                channel = %field("channel", 200),
                reason = %why,
                "refused"
            );
            Answer {
                is_authorized: false,
                ttl_override: 0,
            }
        }
    }
}

/// `VIEWER_TOKEN_KEY` from what `get` (the environment) says: its value when set (local runs),
/// else the string of the secret `VIEWER_TOKEN_KEY_SECRET_ARN` names (the template's
/// `ViewerTokenKeySecret`), read once with [`zhibo_store::aws::secrets_client`]. A secret that
/// cannot be read, or a missing or short key, is a configuration error naming the variable
/// (never the value).
pub async fn viewer_token_key(
    sdk: &aws_config::SdkConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let mut from_secret = None;
    if set("VIEWER_TOKEN_KEY").is_none() {
        if let Some(arn) = set("VIEWER_TOKEN_KEY_SECRET_ARN") {
            let out = zhibo_store::aws::secrets_client(sdk)
                .get_secret_value()
                .secret_id(&arn)
                .send()
                .await
                .map_err(|e| {
                    Error::Config(format!(
                        "VIEWER_TOKEN_KEY_SECRET_ARN={arn}: cannot read the secret: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                    ))
                })?;
            match out.secret_string().map(str::trim) {
                Some(v) if !v.is_empty() => from_secret = Some(v.to_string()),
                _ => {
                    return Err(Error::Config(format!(
                        "VIEWER_TOKEN_KEY_SECRET_ARN={arn}: the secret has no string value"
                    )))
                }
            }
        }
    }
    key_from(|k| match (k, &from_secret) {
        ("VIEWER_TOKEN_KEY", Some(v)) => Some(v.clone()),
        _ => get(k),
    })
}

/// `VIEWER_TOKEN_KEY` through `get`, checked as the functions' configuration checks it.
pub fn key_from(get: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut env = EnvReader::new(get);
    let key = env.secret("VIEWER_TOKEN_KEY", MIN_KEY_LEN);
    if key.is_none() {
        env.problem(
            "VIEWER_TOKEN_KEY_SECRET_ARN is required: the ARN of the secret holding the viewer \
             tokens' master key (the template's ViewerTokenKeySecret; or VIEWER_TOKEN_KEY itself \
             locally)",
        );
    }
    env.finish().map_err(|e| Error::Config(e.to_string()))?;
    Ok(key.unwrap_or_default())
}

#[cfg(test)]
mod tests;
