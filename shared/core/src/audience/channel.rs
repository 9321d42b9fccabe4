//! The realtime channels (one per room, `/zhibo/{app_id}/{room_id}`) and who may use them: the
//! rule the AppSync Events Lambda authorizer applies in the deployment and `zhibo serve`'s local
//! endpoint applies on a laptop, so both admit exactly the same clients.

use super::token::{verify, TokenError, ViewerClaims};

/// The channel namespace zhibo publishes in.
pub const NAMESPACE: &str = "zhibo";

/// A room's channel: `/zhibo/{app_id}/{room_id}`.
pub fn room_channel(app_id: &str, room_id: u64) -> String {
    format!("/{NAMESPACE}/{app_id}/{room_id}")
}

/// The room a channel names, if it is a room channel.
pub fn parse_room_channel(channel: &str) -> Option<(&str, u64)> {
    let rest = channel
        .strip_prefix('/')?
        .strip_prefix(NAMESPACE)?
        .strip_prefix('/')?;
    let (app, room) = rest.split_once('/')?;
    if app.is_empty() || room.is_empty() || room.starts_with('0') || room.len() > 16 {
        return None;
    }
    if !room.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((app, room.parse().ok()?))
}

/// What a realtime client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// Open the WebSocket connection.
    Connect,
    /// Subscribe to a channel.
    Subscribe(&'a str),
    /// Publish to a channel (zhibo's functions only, with IAM in the deployment).
    Publish(&'a str),
}

/// Why a client is refused (shown to it as the error's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The token is missing or invalid.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A valid token, but for another room's channel (or not a room channel).
    #[error("this viewer token subscribes only to {allowed}, not {asked}")]
    OtherChannel {
        /// The token's room channel.
        allowed: String,
        /// What was asked.
        asked: String,
    },
    /// Viewers never publish on the channel: they post to the API, which moderates and publishes.
    #[error(
        "viewers cannot publish to realtime channels: POST /v1/rooms/{{room_id}}/messages instead"
    )]
    PublishRefused,
}

/// Decides whether the holder of `token` may do `op`, at `now` (Unix seconds).
pub fn authorize(
    master: &str,
    token: &str,
    op: Operation<'_>,
    now: i64,
) -> Result<ViewerClaims, Refusal> {
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let claims = verify(master, token, now, None)?;
    match op {
        Operation::Connect => Ok(claims),
        Operation::Subscribe(channel) => {
            let allowed = room_channel(&claims.app_id, claims.room_id);
            if channel == allowed {
                Ok(claims)
            } else {
                Err(Refusal::OtherChannel {
                    allowed,
                    asked: channel.chars().take(200).collect(),
                })
            }
        }
        Operation::Publish(_) => Err(Refusal::PublishRefused),
    }
}

#[cfg(test)]
mod tests {
    use super::super::token::Role;
    use super::*;

    const MASTER: &str = "viewer-master-key-0123456789";

    fn token(room_id: u64, exp: i64) -> String {
        ViewerClaims {
            app_id: "demo".into(),
            room_id,
            user_id: "u".into(),
            nickname: "n".into(),
            avatar: String::new(),
            role: Role::Viewer,
            exp,
        }
        .sign(MASTER)
    }

    #[test]
    fn a_token_subscribes_to_its_room_channel_only() {
        let t = token(7, 100);
        assert!(authorize(MASTER, &t, Operation::Connect, 50).is_ok());
        assert!(authorize(
            MASTER,
            &format!("Bearer {t}"),
            Operation::Subscribe("/zhibo/demo/7"),
            50
        )
        .is_ok());
        for other in [
            "/zhibo/demo/8",
            "/zhibo/other/7",
            "/zhibo/demo/*",
            "/zhibo/*",
            "/default/x",
        ] {
            assert!(
                matches!(
                    authorize(MASTER, &t, Operation::Subscribe(other), 50),
                    Err(Refusal::OtherChannel { .. })
                ),
                "{other}"
            );
        }
        assert_eq!(
            authorize(MASTER, &t, Operation::Publish("/zhibo/demo/7"), 50),
            Err(Refusal::PublishRefused)
        );
        assert!(matches!(
            authorize(MASTER, &t, Operation::Connect, 101),
            Err(Refusal::Token(TokenError::Expired { .. }))
        ));
        assert!(matches!(
            authorize("other-master-key-0123456", &t, Operation::Connect, 50),
            Err(Refusal::Token(TokenError::BadSignature))
        ));
    }

    #[test]
    fn room_channels_round_trip_and_nothing_else_parses() {
        assert_eq!(room_channel("demo", 7), "/zhibo/demo/7");
        assert_eq!(parse_room_channel("/zhibo/demo/7"), Some(("demo", 7)));
        for bad in [
            "/zhibo/demo/07",
            "/zhibo/demo/",
            "/zhibo//7",
            "/zhibo/demo/7/x",
            "zhibo/demo/7",
            "/other/demo/7",
            "/zhibo/demo/-1",
        ] {
            assert_eq!(parse_room_channel(bad), None, "{bad}");
        }
    }
}
