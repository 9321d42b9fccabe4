//! WeChat's `live_status` codes (101–107) and which of them mean "a live session is in progress".

use serde::{Deserialize, Serialize};

/// A room's live status, serialized as WeChat's integer code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum LiveStatus {
    /// 101: the worker reports a publish that the hook allowed.
    Live,
    /// 102: created, not started yet.
    NotStarted,
    /// 103: ended (`end` action, 15 min abnormal, or 12 h live).
    Ended,
    /// 104: banned by an operator; never again.
    Banned,
    /// 105: paused by an operator until `resume`.
    Paused,
    /// 106: the publisher dropped without `end`.
    Abnormal,
    /// 107: still not started when `end_time` passed.
    Expired,
}

impl LiveStatus {
    /// Every status, in code order.
    pub const ALL: [LiveStatus; 7] = [
        LiveStatus::Live,
        LiveStatus::NotStarted,
        LiveStatus::Ended,
        LiveStatus::Banned,
        LiveStatus::Paused,
        LiveStatus::Abnormal,
        LiveStatus::Expired,
    ];

    /// The WeChat integer code.
    pub fn code(self) -> u16 {
        match self {
            LiveStatus::Live => 101,
            LiveStatus::NotStarted => 102,
            LiveStatus::Ended => 103,
            LiveStatus::Banned => 104,
            LiveStatus::Paused => 105,
            LiveStatus::Abnormal => 106,
            LiveStatus::Expired => 107,
        }
    }

    /// The status for a WeChat code, if it is one of 101–107.
    pub fn from_code(code: u16) -> Option<LiveStatus> {
        LiveStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// True while a live session is in progress (live, paused or abnormal): such a room
    /// cannot be deleted or edited.
    pub fn session_in_progress(self) -> bool {
        matches!(
            self,
            LiveStatus::Live | LiveStatus::Paused | LiveStatus::Abnormal
        )
    }
}

impl LiveStatus {
    /// True for the final statuses (ended, banned, expired): no publish is ever allowed again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            LiveStatus::Ended | LiveStatus::Banned | LiveStatus::Expired
        )
    }
}

impl From<LiveStatus> for u16 {
    fn from(s: LiveStatus) -> u16 {
        s.code()
    }
}

impl TryFrom<u16> for LiveStatus {
    type Error = String;
    fn try_from(code: u16) -> Result<Self, Self::Error> {
        LiveStatus::from_code(code).ok_or_else(|| format!("{code} is not a live_status (101-107)"))
    }
}

impl std::fmt::Display for LiveStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_serialize_as_integers() {
        for s in LiveStatus::ALL {
            assert_eq!(LiveStatus::from_code(s.code()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), s.code().to_string());
        }
        assert_eq!(LiveStatus::from_code(100), None);
        assert!(serde_json::from_str::<LiveStatus>("108").is_err());
    }
}
