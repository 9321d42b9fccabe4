//! Per-stream resource limits: what ends a misbehaving publisher (with the reason in the log
//! and in `/metrics`) while every other stream on the worker goes on.

/// A limit a publish session broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamLimit {
    /// A segment would outgrow its byte cap with no keyframe to cut at (timestamps that do not
    /// advance, or no keyframes).
    SegmentBytes,
    /// More segments per minute of wall time than allowed (timestamps that jump on every
    /// message, or a push far faster than real time).
    SegmentRate,
    /// The room's replay is full (segments or playlist size).
    Replay,
    /// The stream's upload backlog (objects or bytes) or the worker's spill folder is full.
    UploadBacklog,
}

impl StreamLimit {
    /// Every limit, in the order of [`StreamLimit::index`].
    pub const ALL: [StreamLimit; 4] = [
        StreamLimit::SegmentBytes,
        StreamLimit::SegmentRate,
        StreamLimit::Replay,
        StreamLimit::UploadBacklog,
    ];

    /// The `limit` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            StreamLimit::SegmentBytes => "segment_bytes",
            StreamLimit::SegmentRate => "segment_rate",
            StreamLimit::Replay => "replay",
            StreamLimit::UploadBacklog => "upload_backlog",
        }
    }

    /// Position in [`StreamLimit::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The limit a media error breaks, if it is one (see `zhibo_media::Error::ends_stream`).
    pub fn of_media_error(e: &zhibo_media::Error) -> Option<StreamLimit> {
        match e {
            zhibo_media::Error::SegmentTooLarge { .. } => Some(StreamLimit::SegmentBytes),
            zhibo_media::Error::SegmentRateExceeded { .. } => Some(StreamLimit::SegmentRate),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_all() {
        for (i, limit) in StreamLimit::ALL.iter().enumerate() {
            assert_eq!(limit.index(), i);
        }
    }
}
