//! Viewer tokens: `zv1.{app_id}.{base64url(claims JSON)}.{base64url(HMAC-SHA256)}`.
//!
//! The MAC key is the app's viewer key, HMAC-SHA256(`VIEWER_TOKEN_KEY`, `"viewer\0" + app_id`),
//! so a token is verified with the deployment's master key alone (no database read, as the
//! realtime authorizer must), one app's tokens never verify for another app, and the master key
//! never leaves the deployment. The app id is in clear so the key is known before anything of
//! the token is parsed; the claims are parsed only once the MAC matches.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::signing::{constant_time_eq, hmac_hex};

/// The token's version prefix.
pub const PREFIX: &str = "zv1";
/// Longest token accepted (checked before anything else).
pub const MAX_TOKEN_LEN: usize = 2048;
/// Longest `user_id`.
pub const MAX_USER_ID_LEN: usize = 64;
/// Longest `nickname`, in characters.
pub const MAX_NICKNAME_CHARS: usize = 32;
/// Longest `avatar` URL.
pub const MAX_AVATAR_LEN: usize = 512;
/// Longest validity a token can be issued for.
pub const MAX_TTL_S: i64 = 86_400;

/// What a token lets its holder do in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watches, comments, likes.
    Viewer,
    /// The room's anchor.
    Anchor,
    /// The anchor's assistant (场控).
    Assistant,
}

/// Who a token vouches for, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerClaims {
    /// The app (tenant).
    pub app_id: String,
    /// The one room the token is for.
    pub room_id: u64,
    /// The customer's user id.
    pub user_id: String,
    /// Shown next to the user's messages.
    pub nickname: String,
    /// The user's avatar URL ("" for none).
    pub avatar: String,
    /// What the user may do.
    pub role: Role,
    /// Unix seconds after which the token is refused.
    pub exp: i64,
}

/// Why a token is refused (each message says what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Absent, too long, or not `zv1.{app}.{claims}.{mac}`.
    #[error("viewer token is malformed ({0}); send `Authorization: Bearer {{token}}` with a token from POST /v1/rooms/{{room_id}}/viewer-tokens")]
    Malformed(&'static str),
    /// The MAC does not match (tampered, or issued by another deployment or for another app).
    #[error("viewer token signature does not match; get a new token from your backend")]
    BadSignature,
    /// Past `exp`.
    #[error(
        "viewer token expired at {exp} (server time {now}); get a new token from your backend"
    )]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The server's clock.
        now: i64,
    },
    /// Valid, but for another room.
    #[error("viewer token is for another room; get a token for this room")]
    OtherRoom,
}

/// Why claims cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ClaimsError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The key one app's viewer tokens are signed with (hex), derived from the master key.
pub fn app_token_key(master: &str, app_id: &str) -> String {
    let mut msg = Vec::with_capacity(7 + app_id.len());
    msg.extend_from_slice(b"viewer\0");
    msg.extend_from_slice(app_id.as_bytes());
    hmac_hex(master.as_bytes(), &msg)
}

fn valid_app_id(app_id: &str) -> bool {
    !app_id.is_empty()
        && app_id.len() <= 64
        && app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl ViewerClaims {
    /// Checks the fields a customer's backend supplies.
    pub fn check(&self) -> Result<(), ClaimsError> {
        let bad = |field, reason: &str| {
            Err(ClaimsError {
                field,
                reason: reason.to_string(),
            })
        };
        if self.user_id.is_empty()
            || self.user_id.len() > MAX_USER_ID_LEN
            || self.user_id.chars().any(|c| c.is_control())
        {
            return bad("user_id", "must be 1-64 bytes without control characters");
        }
        if self.nickname.chars().count() > MAX_NICKNAME_CHARS
            || self.nickname.chars().any(|c| c.is_control())
        {
            return bad(
                "nickname",
                "must be at most 32 characters without control characters",
            );
        }
        if !self.avatar.is_empty()
            && (self.avatar.len() > MAX_AVATAR_LEN || !self.avatar.starts_with("https://"))
        {
            return bad(
                "avatar",
                "must be empty or an https:// URL of at most 512 characters",
            );
        }
        if !valid_app_id(&self.app_id) {
            return bad("app_id", "is not a valid app id");
        }
        Ok(())
    }

    /// Signs the claims into a token with the deployment's master key.
    pub fn sign(&self, master: &str) -> String {
        let claims = serde_json::to_vec(self).unwrap_or_default();
        let body = format!(
            "{PREFIX}.{}.{}",
            self.app_id,
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mac = mac(master, &self.app_id, &body);
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(mac))
    }
}

fn mac(master: &str, app_id: &str, body: &str) -> Vec<u8> {
    let key = app_token_key(master, app_id);
    hex::decode(hmac_hex(key.as_bytes(), body.as_bytes())).unwrap_or_default()
}

/// Verifies a token (the MAC first, in constant time, then the expiry) and returns its claims;
/// `room`, when given (`(app_id, room_id)` of the route), must be the token's room.
pub fn verify(
    master: &str,
    token: &str,
    now: i64,
    room: Option<(&str, u64)>,
) -> Result<ViewerClaims, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Malformed("empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("longer than 2048 characters"));
    }
    let mut parts = token.split('.');
    let (Some(prefix), Some(app_id), Some(claims), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(TokenError::Malformed("expected 4 dot-separated parts"));
    };
    if prefix != PREFIX {
        return Err(TokenError::Malformed("unknown version (expected zv1)"));
    }
    if !valid_app_id(app_id) {
        return Err(TokenError::Malformed("bad app id"));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
    // The signed part: everything before the last dot (the split above found three).
    let body = token.rsplit_once('.').map_or("", |(body, _)| body);
    if !constant_time_eq(&mac(master, app_id, body), &sig) {
        return Err(TokenError::BadSignature);
    }
    let claims = URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|_| TokenError::Malformed("claims are not base64url"))?;
    let claims: ViewerClaims = serde_json::from_slice(&claims)
        .map_err(|_| TokenError::Malformed("claims are not JSON"))?;
    if claims.app_id != app_id {
        return Err(TokenError::Malformed("app id does not match the claims"));
    }
    if now > claims.exp {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if let Some((app, room_id)) = room {
        if claims.app_id != app || claims.room_id != room_id {
            return Err(TokenError::OtherRoom);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "viewer-master-key-0123456789";

    fn claims() -> ViewerClaims {
        ViewerClaims {
            app_id: "demo".into(),
            room_id: 7,
            user_id: "u-1".into(),
            nickname: "小明".into(),
            avatar: "https://example.com/a.png".into(),
            role: Role::Viewer,
            exp: 1_000,
        }
    }

    #[test]
    fn a_signed_token_verifies_for_its_room_until_it_expires() {
        let token = claims().sign(MASTER);
        assert!(token.starts_with("zv1.demo."));
        assert_eq!(
            verify(MASTER, &token, 1_000, Some(("demo", 7))),
            Ok(claims())
        );
        assert_eq!(
            verify(MASTER, &token, 1_001, Some(("demo", 7))),
            Err(TokenError::Expired {
                exp: 1_000,
                now: 1_001
            })
        );
        assert_eq!(
            verify(MASTER, &token, 10, Some(("demo", 8))),
            Err(TokenError::OtherRoom)
        );
        assert_eq!(
            verify(MASTER, &token, 10, Some(("other", 7))),
            Err(TokenError::OtherRoom)
        );
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let token = claims().sign(MASTER);
        assert_eq!(
            verify("another-master-key-0123", &token, 10, None),
            Err(TokenError::BadSignature)
        );
        // Claims changed (another room), MAC kept.
        let mut other = claims();
        other.room_id = 8;
        let forged = other.sign(MASTER);
        let (head, _) = forged.rsplit_once('.').unwrap();
        let (_, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(
            verify(MASTER, &format!("{head}.{sig}"), 10, None),
            Err(TokenError::BadSignature)
        );
        // The same claims moved to another app id in clear.
        let moved = token.replacen("zv1.demo.", "zv1.other.", 1);
        assert_eq!(
            verify(MASTER, &moved, 10, None),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_say_why_without_panicking() {
        for (token, why) in [
            ("", "empty"),
            ("zv1.demo.x", "4 dot-separated parts"),
            ("zv2.demo.x.y", "unknown version"),
            ("zv1.de mo.x.y", "bad app id"),
            ("zv1.demo.x.!!", "not base64url"),
            ("zv1.demo.x.y.z", "4 dot-separated parts"),
        ] {
            match verify(MASTER, token, 0, None) {
                Err(TokenError::Malformed(m)) => assert!(m.contains(why), "{token}: {m}"),
                other => panic!("{token}: {other:?}"),
            }
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            verify(MASTER, &long, 0, None),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn claims_are_checked_before_signing() {
        let mut c = claims();
        c.user_id = String::new();
        assert_eq!(c.check().unwrap_err().field, "user_id");
        let mut c = claims();
        c.nickname = "x".repeat(33);
        assert_eq!(c.check().unwrap_err().field, "nickname");
        let mut c = claims();
        c.avatar = "http://example.com/a.png".into();
        assert_eq!(c.check().unwrap_err().field, "avatar");
        assert!(claims().check().is_ok());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(token in "\\PC{0,300}") {
            let _ = verify(MASTER, &token, 0, Some(("demo", 7)));
        }
    }
}
