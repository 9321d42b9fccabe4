//! The synchronous review call (docs/api.md "Moderation"): an app may name a `review_url` that
//! zhibo POSTs each message to, after the blocked words pass and before the message takes a
//! `seq`, as AWS IVS Chat's message review handler. The answer decides `published`, `held` or
//! `rejected`; a call that fails (no answer within [`REVIEW_BUDGET_MS`], no connection, a
//! non-2xx status, an answer that is not one of the documented ones) is decided by the app's
//! `review_fail` mode. Pure: the rooms function does the I/O and calls [`decide`].
//!
//! The call is signed like a webhook (`Zhibo-Signature: t={unix},v1={hex HMAC-SHA256(secret,
//! t + "." + raw_body)}`, [`crate::webhook::signature_header`]) with the app's review secret
//! ([`new_review_secret`]), so the review service checks it with the same code as webhooks.

use serde::{Deserialize, Serialize};

use crate::audience::item::ItemUser;
use crate::room::RoomId;

/// The whole budget of one review call: connecting, sending and reading the answer.
pub const REVIEW_BUDGET_MS: u64 = 500;
/// Largest answer read from a review service; a longer one is a failed call.
pub const MAX_REVIEW_ANSWER_BYTES: usize = 4096;
/// Longest `reason` kept from an answer (longer ones are cut).
pub const MAX_REVIEW_REASON_CHARS: usize = 200;
/// Longest `review_url`.
pub const MAX_REVIEW_URL_LEN: usize = 2048;

/// What happens to a message when its review call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewFail {
    /// The message is published as if the review allowed it (availability first).
    Open,
    /// The message is rejected, saying the review service failed (safety first).
    Closed,
}

impl ReviewFail {
    /// The mode for its wire name (`open`, `closed`).
    pub fn parse(name: &str) -> Option<ReviewFail> {
        match name {
            "open" => Some(ReviewFail::Open),
            "closed" => Some(ReviewFail::Closed),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewFail::Open => "open",
            ReviewFail::Closed => "closed",
        }
    }
}

/// An app's review call: where, what happens when it fails, and the secret it is signed with.
/// `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ReviewSettings {
    /// Where messages are POSTed (checked when set).
    pub url: String,
    /// What a failed call decides.
    pub fail: ReviewFail,
    /// The signing secret (`whsec_` + 64 hex characters, as a webhook's).
    pub secret: String,
}

impl std::fmt::Debug for ReviewSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewSettings")
            .field("url", &self.url)
            .field("fail", &self.fail)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A fresh review secret (the webhook secret's form).
pub fn new_review_secret() -> String {
    crate::webhook::new_webhook_secret()
}

/// The body POSTed to the review service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRequest<'a> {
    /// The room's app.
    pub app_id: &'a str,
    /// The room.
    pub room_id: RoomId,
    /// Who sent the message (from the viewer token).
    pub user: &'a ItemUser,
    /// The message as it would be published (trimmed).
    pub text: &'a str,
    /// When zhibo received it (Unix ms).
    pub at_ms: i64,
}

/// What a review service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Publish the message.
    Allow,
    /// Refuse it, with the service's reason if it gave one.
    Deny(Option<String>),
    /// Do not publish it now, with the service's reason if it gave one.
    Hold(Option<String>),
}

/// Why a review call did not give a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewFailure {
    /// No complete answer within the budget.
    #[error("no answer within {REVIEW_BUDGET_MS} ms")]
    Timeout,
    /// The connection failed (nothing listens, TLS refused, …).
    #[error("could not connect")]
    Unreachable,
    /// The URL's host resolves to no public address (deployed, names are checked at each call).
    #[error("its host resolves to no public address")]
    NotPublic,
    /// It answered with a status other than 2xx.
    #[error("it answered HTTP {0}")]
    Status(u16),
    /// The answer is not `{"result": "allow"|"deny"|"hold", "reason"?}` of at most
    /// [`MAX_REVIEW_ANSWER_BYTES`].
    #[error("its answer is not {{\"result\": \"allow\"|\"deny\"|\"hold\", \"reason\"?}}: {0}")]
    BadAnswer(String),
}

#[derive(Deserialize)]
struct Answer {
    result: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Cuts a reason to [`MAX_REVIEW_REASON_CHARS`] characters without control characters; an
/// empty one is none.
fn clean_reason(reason: Option<String>) -> Option<String> {
    let r: String = reason?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REVIEW_REASON_CHARS)
        .collect();
    let r = r.trim().to_string();
    (!r.is_empty()).then_some(r)
}

/// Reads an answer: `status` (2xx) and at most [`MAX_REVIEW_ANSWER_BYTES`] of `body`, a JSON
/// object `{"result": "allow"|"deny"|"hold", "reason"?}` (other fields are ignored, so a
/// service may add its own).
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Verdict, ReviewFailure> {
    if !(200..300).contains(&status) {
        return Err(ReviewFailure::Status(status));
    }
    if body.len() > MAX_REVIEW_ANSWER_BYTES {
        return Err(ReviewFailure::BadAnswer(format!(
            "longer than {MAX_REVIEW_ANSWER_BYTES} bytes"
        )));
    }
    let a: Answer = serde_json::from_slice(body)
        .map_err(|e| ReviewFailure::BadAnswer(format!("not JSON of that form ({e})")))?;
    let reason = clean_reason(a.reason);
    match a.result.as_str() {
        "allow" => Ok(Verdict::Allow),
        "deny" => Ok(Verdict::Deny(reason)),
        "hold" => Ok(Verdict::Hold(reason)),
        other => Err(ReviewFailure::BadAnswer(format!(
            "result {:?} is not allow, deny or hold",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

/// What becomes of a reviewed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stored with the next `seq` and published.
    Publish,
    /// `status: "held"`: not stored, not delivered; the reason says why.
    Held(String),
    /// `status: "rejected"`: not stored, not delivered; the reason says why.
    Rejected(String),
}

/// Decides a message from its review call's `outcome` and the app's `fail` mode.
pub fn decide(outcome: &Result<Verdict, ReviewFailure>, fail: ReviewFail) -> Decision {
    match outcome {
        Ok(Verdict::Allow) => Decision::Publish,
        Ok(Verdict::Deny(reason)) => Decision::Rejected(match reason {
            Some(r) => format!("the app's review service rejected the text: {r}"),
            None => "the app's review service rejected the text".into(),
        }),
        Ok(Verdict::Hold(reason)) => Decision::Held(match reason {
            Some(r) => format!("the app's review service holds the text: {r}"),
            None => "the app's review service holds the text".into(),
        }),
        Err(_) if fail == ReviewFail::Open => Decision::Publish,
        Err(e) => Decision::Rejected(format!(
            "the app's review service failed ({e}) and the app's review_fail is \"closed\": \
             try again later"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly_and_bounded() {
        let ok = |b: &str| parse_answer(200, b.as_bytes());
        assert_eq!(ok(r#"{"result": "allow"}"#), Ok(Verdict::Allow));
        assert_eq!(
            ok(r#"{"result": "allow", "reason": "x", "extra": 1}"#),
            Ok(Verdict::Allow)
        );
        assert_eq!(
            ok(r#"{"result": "deny", "reason": " spam\n "}"#),
            Ok(Verdict::Deny(Some("spam".into())))
        );
        assert_eq!(ok(r#"{"result": "hold"}"#), Ok(Verdict::Hold(None)));
        assert_eq!(
            ok(r#"{"result": "hold", "reason": ""}"#),
            Ok(Verdict::Hold(None))
        );
        let long = format!(r#"{{"result": "deny", "reason": "{}"}}"#, "字".repeat(500));
        match ok(&long) {
            Ok(Verdict::Deny(Some(r))) => assert_eq!(r.chars().count(), MAX_REVIEW_REASON_CHARS),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_answer(204, b""),
            Err(ReviewFailure::BadAnswer(_))
        ));
        assert_eq!(
            parse_answer(500, br#"{"result": "allow"}"#),
            Err(ReviewFailure::Status(500))
        );
        assert_eq!(
            parse_answer(302, br#"{"result": "allow"}"#),
            Err(ReviewFailure::Status(302))
        );
        for bad in [
            "allow",
            r#"{"result": "ALLOW"}"#,
            r#"{"result": 1}"#,
            r#"{"reason": "x"}"#,
            "[]",
            "null",
        ] {
            assert!(matches!(ok(bad), Err(ReviewFailure::BadAnswer(_))), "{bad}");
        }
        let huge = format!(
            r#"{{"result": "allow", "pad": "{}"}}"#,
            "x".repeat(MAX_REVIEW_ANSWER_BYTES)
        );
        assert!(matches!(ok(&huge), Err(ReviewFailure::BadAnswer(_))));
    }

    #[test]
    fn every_outcome_in_both_fail_modes() {
        use ReviewFail::{Closed, Open};
        let failures = [
            ReviewFailure::Timeout,
            ReviewFailure::Unreachable,
            ReviewFailure::NotPublic,
            ReviewFailure::Status(503),
            ReviewFailure::BadAnswer("x".into()),
        ];
        for fail in [Open, Closed] {
            assert_eq!(decide(&Ok(Verdict::Allow), fail), Decision::Publish);
            match decide(&Ok(Verdict::Deny(Some("ads".into()))), fail) {
                Decision::Rejected(r) => assert!(r.ends_with(": ads"), "{r}"),
                other => panic!("{other:?}"),
            }
            match decide(&Ok(Verdict::Hold(None)), fail) {
                Decision::Held(r) => assert!(r.contains("holds"), "{r}"),
                other => panic!("{other:?}"),
            }
            for f in &failures {
                let d = decide(&Err(f.clone()), fail);
                match fail {
                    Open => assert_eq!(d, Decision::Publish, "{f}"),
                    Closed => match d {
                        Decision::Rejected(r) => {
                            assert!(r.contains("review service failed"), "{r}");
                            assert!(r.contains(&f.to_string()), "{r}");
                        }
                        other => panic!("{f}: {other:?}"),
                    },
                }
            }
        }
        assert_eq!(
            ReviewFailure::Timeout.to_string(),
            "no answer within 500 ms"
        );
    }

    #[test]
    fn fail_modes_and_the_request_body() {
        for m in [ReviewFail::Open, ReviewFail::Closed] {
            assert_eq!(ReviewFail::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert_eq!(ReviewFail::parse("Open"), None);
        let user = ItemUser {
            user_id: "u".into(),
            nickname: "n".into(),
            avatar: String::new(),
            role: crate::audience::token::Role::Viewer,
        };
        let body = serde_json::to_value(ReviewRequest {
            app_id: "demo",
            room_id: 7,
            user: &user,
            text: "hi",
            at_ms: 5,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"app_id": "demo", "room_id": 7, "text": "hi", "at_ms": 5,
                "user": {"user_id": "u", "nickname": "n", "avatar": "", "role": "viewer"}})
        );
        let s = ReviewSettings {
            url: "https://example.com/review".into(),
            fail: ReviewFail::Closed,
            secret: new_review_secret(),
        };
        assert!(s.secret.starts_with("whsec_"));
        assert!(!format!("{s:?}").contains(&s.secret));
    }
}
