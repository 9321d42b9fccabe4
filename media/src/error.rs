//! The crate's error type.

use std::fmt;

/// Result type of every fallible function in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while remuxing or handling playlists.
///
/// Input-driven errors never leave a [`crate::hls::Segmenter`] in a broken
/// state: the offending message is skipped and the next one can be fed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a fixed-size field could be read.
    #[error("truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// FLV video `CodecID` other than 7 (AVC).
    #[error("unsupported FLV video codec id {0}")]
    UnsupportedVideoCodec(u8),
    /// Enhanced-RTMP video (`IsExHeader` set) with the given FourCC.
    #[error("unsupported enhanced RTMP video codec {}", String::from_utf8_lossy(.0))]
    UnsupportedVideoFourCc([u8; 4]),
    /// FLV audio `SoundFormat` other than 10 (AAC).
    #[error("unsupported FLV audio format {0}")]
    UnsupportedAudioCodec(u8),
    /// FLV video `FrameType` 0 or 6..=15.
    #[error("invalid FLV video frame type {0}")]
    InvalidVideoFrameType(u8),
    /// `AVCPacketType` other than 0, 1, 2.
    #[error("invalid AVC packet type {0}")]
    InvalidAvcPacketType(u8),
    /// `AACPacketType` other than 0, 1.
    #[error("invalid AAC packet type {0}")]
    InvalidAacPacketType(u8),
    /// `AVCDecoderConfigurationRecord.configurationVersion` is not 1.
    #[error("unsupported AVCDecoderConfigurationRecord version {0}")]
    InvalidAvcConfigVersion(u8),
    /// A length-prefixed NAL unit claims more bytes than the message holds.
    #[error("NAL unit at offset {offset} has length {length} but only {remaining} bytes remain")]
    NaluLengthExceedsBody {
        /// Offset of the length prefix inside the NALU data.
        offset: usize,
        /// Declared NALU length.
        length: usize,
        /// Bytes left after the prefix.
        remaining: usize,
    },
    /// AVC NAL units arrived before any AVC sequence header.
    #[error("AVC NAL units before the AVC sequence header")]
    MissingAvcSequenceHeader,
    /// Raw AAC frames arrived before any AAC sequence header.
    #[error("AAC frame before the AAC sequence header")]
    MissingAacSequenceHeader,
    /// Audio object type that ADTS cannot carry (only 1..=4, plus SBR/PS over those).
    #[error("unsupported AAC audio object type {0}")]
    UnsupportedAacObjectType(u8),
    /// Sampling frequency with no ADTS index (explicit or reserved index).
    #[error("unsupported AAC sampling frequency {0} Hz")]
    UnsupportedAacSampleRate(u32),
    /// Sampling frequency index 13 or 14 (reserved).
    #[error("reserved AAC sampling frequency index {0}")]
    ReservedAacSampleRateIndex(u8),
    /// Channel configuration 0 (program config element) or above 7.
    #[error("unsupported AAC channel configuration {0}")]
    UnsupportedAacChannelConfig(u8),
    /// An AAC frame too large for the 13-bit ADTS frame length.
    #[error("AAC frame of {0} bytes does not fit an ADTS frame")]
    AacFrameTooLarge(usize),
    /// A body too large for an FLV tag (`DataSize` is 24 bits).
    #[error("FLV tag body of {0} bytes exceeds the 24-bit DataSize")]
    FlvTagTooLarge(usize),
    /// A byte stream read as FLV is not FLV (the edge relay's upstream).
    #[error("not an FLV stream: {0}")]
    FlvStream(String),
    /// A frame would grow the open segment beyond its byte cap and cannot start a new segment
    /// (not a keyframe while video is active): the stream is misbehaving (timestamps that do
    /// not advance, or no keyframes). See [`Error::ends_stream`].
    #[error(
        "the segment would exceed {limit} bytes and this frame cannot start a new one: \
         timestamps must advance and keyframes must come at least every few seconds"
    )]
    SegmentTooLarge {
        /// The cap, bytes.
        limit: usize,
    },
    /// More segments were cut than the wall-clock rate limit allows: the stream's timestamps
    /// jump on (almost) every message, or it is pushed much faster than real time. See
    /// [`Error::ends_stream`].
    #[error(
        "more than {per_minute} segments per minute of wall time: publish at real-time pace \
         with continuous timestamps"
    )]
    SegmentRateExceeded {
        /// The limit, segments per minute (after a burst allowance).
        per_minute: u32,
    },
    /// A media playlist could not be parsed.
    #[error("playlist line {line}: {kind} (`{content}`)")]
    Playlist {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        kind: PlaylistErrorKind,
        /// The offending line, cut to 80 characters.
        content: String,
    },
}

impl Error {
    /// True for input that is well-formed but uses a codec or codec feature
    /// this crate does not remux (the caller may want to log it once and
    /// ignore further occurrences).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Error::UnsupportedVideoCodec(_)
                | Error::UnsupportedVideoFourCc(_)
                | Error::UnsupportedAudioCodec(_)
                | Error::UnsupportedAacObjectType(_)
                | Error::UnsupportedAacSampleRate(_)
                | Error::UnsupportedAacChannelConfig(_)
        )
    }

    /// True for a stream that breaks a resource limit ([`Error::SegmentTooLarge`],
    /// [`Error::SegmentRateExceeded`]): the message was refused and further input would be
    /// too, so the caller should end the stream.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Error::SegmentTooLarge { .. } | Error::SegmentRateExceeded { .. }
        )
    }

    pub(crate) fn playlist(line: usize, kind: PlaylistErrorKind, content: &str) -> Self {
        let content = match content.char_indices().nth(80) {
            Some((cut, _)) => content.get(..cut).unwrap_or(content).to_owned(),
            None => content.to_owned(),
        };
        Error::Playlist {
            line,
            kind,
            content,
        }
    }

    pub(crate) fn truncated(what: &'static str, needed: usize, available: usize) -> Self {
        Error::Truncated {
            what,
            needed,
            available,
        }
    }
}

/// Why a playlist line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaylistErrorKind {
    /// The first line is not `#EXTM3U`.
    MissingHeader,
    /// A `#EXT` tag outside the supported subset.
    UnsupportedTag,
    /// A tag whose value does not parse.
    InvalidValue,
    /// A tag that may appear once appeared again.
    DuplicateTag,
    /// A playlist-level tag after the first segment.
    TagAfterSegment,
    /// A URI line without a preceding `#EXTINF`.
    UriWithoutExtinf,
    /// Two `#EXTINF` lines without a URI between them.
    ExtinfWithoutUri,
    /// The playlist ends in the middle of a segment (tags without a URI) or
    /// its last line has no terminating newline.
    Truncated,
    /// Anything after `#EXT-X-ENDLIST`.
    ContentAfterEndlist,
    /// No `#EXT-X-TARGETDURATION` tag.
    MissingTargetDuration,
}

impl fmt::Display for PlaylistErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlaylistErrorKind::MissingHeader => "first line must be #EXTM3U",
            PlaylistErrorKind::UnsupportedTag => "unsupported tag",
            PlaylistErrorKind::InvalidValue => "invalid tag value",
            PlaylistErrorKind::DuplicateTag => "duplicate tag",
            PlaylistErrorKind::TagAfterSegment => "playlist tag after the first segment",
            PlaylistErrorKind::UriWithoutExtinf => "URI without a preceding #EXTINF",
            PlaylistErrorKind::ExtinfWithoutUri => "#EXTINF without a following URI",
            PlaylistErrorKind::Truncated => "playlist is truncated",
            PlaylistErrorKind::ContentAfterEndlist => "content after #EXT-X-ENDLIST",
            PlaylistErrorKind::MissingTargetDuration => "missing #EXT-X-TARGETDURATION",
        })
    }
}
