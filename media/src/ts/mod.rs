//! MPEG-2 transport stream writer (ISO/IEC 13818-1).
//!
//! [`TsMuxer`] appends 188-byte packets to a caller-owned `Vec<u8>`: PAT and
//! PMT via [`TsMuxer::write_tables`], PES packets via [`TsMuxer::write_pes`].
//! It owns the per-PID continuity counters, so one muxer per publish session
//! keeps counters continuous across segments.
//!
//! Timestamps are passed as unbounded 90 kHz `u64` values and reduced modulo
//! 2^33 when written, so wrap-around is handled here once.

mod crc;
mod pes;
mod psi;

pub use crc::crc32_mpeg2;

/// Size of a transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// TS sync byte.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the H.264 elementary stream.
pub const VIDEO_PID: u16 = 0x0100;
/// PID of the AAC elementary stream.
pub const AUDIO_PID: u16 = 0x0101;
/// `stream_type` of H.264 video.
pub const STREAM_TYPE_H264: u8 = 0x1B;
/// `stream_type` of AAC audio in ADTS framing.
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
/// PES `stream_id` of the video stream.
pub const STREAM_ID_VIDEO: u8 = 0xE0;
/// PES `stream_id` of the audio stream.
pub const STREAM_ID_AUDIO: u8 = 0xC0;
/// PTS/DTS/PCR-base modulus mask (33 bits).
pub const TIMESTAMP_MASK: u64 = (1 << 33) - 1;
/// Ticks per second of PTS/DTS.
pub const CLOCK_HZ: u64 = 90_000;
/// How far the PCR runs behind the DTS of the PES that carries it
/// (100 ms), leaving the decoder a little buffering headroom.
pub const PCR_LEAD_90K: u64 = 9_000;

/// An elementary stream of the single program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// H.264 on [`VIDEO_PID`].
    Video,
    /// AAC/ADTS on [`AUDIO_PID`].
    Audio,
}

impl StreamKind {
    /// The PID carrying this stream.
    pub fn pid(self) -> u16 {
        match self {
            StreamKind::Video => VIDEO_PID,
            StreamKind::Audio => AUDIO_PID,
        }
    }
}

/// Which elementary streams the PMT lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tracks {
    /// H.264 present.
    pub video: bool,
    /// AAC present.
    pub audio: bool,
}

impl Tracks {
    /// Whether `kind` is listed.
    pub fn contains(self, kind: StreamKind) -> bool {
        match kind {
            StreamKind::Video => self.video,
            StreamKind::Audio => self.audio,
        }
    }

    /// The PCR PID: video if present, else audio (`None` with no streams).
    pub fn pcr_pid(self) -> Option<u16> {
        if self.video {
            Some(VIDEO_PID)
        } else if self.audio {
            Some(AUDIO_PID)
        } else {
            None
        }
    }
}

/// Timing and flags of one PES packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesFrame {
    /// Which stream.
    pub kind: StreamKind,
    /// Presentation time, 90 kHz, unbounded (reduced mod 2^33 on write).
    pub pts: u64,
    /// Decode time, 90 kHz, unbounded; written only when it differs from `pts`.
    pub dts: u64,
    /// Sets `random_access_indicator` (video keyframes).
    pub random_access: bool,
}

/// Stateful transport stream packetizer for one program with at most one
/// H.264 and one AAC stream.
#[derive(Debug, Clone, Default)]
pub struct TsMuxer {
    tracks: Tracks,
    pmt_version: u8,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
}

impl TsMuxer {
    /// A muxer with no streams; call [`TsMuxer::set_tracks`] before writing.
    pub fn new() -> Self {
        TsMuxer::default()
    }

    /// Streams currently listed in the PMT.
    pub fn tracks(&self) -> Tracks {
        self.tracks
    }

    /// Changes the listed streams; bumps the PMT `version_number` when they
    /// differ. Returns whether anything changed (the caller should then
    /// write the tables again).
    pub fn set_tracks(&mut self, tracks: Tracks) -> bool {
        if tracks == self.tracks {
            return false;
        }
        self.tracks = tracks;
        self.pmt_version = (self.pmt_version + 1) & 0x1F;
        true
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let cc = match pid {
            PAT_PID => &mut self.cc_pat,
            PMT_PID => &mut self.cc_pmt,
            VIDEO_PID => &mut self.cc_video,
            _ => &mut self.cc_audio,
        };
        let value = *cc;
        *cc = (value + 1) & 0x0F;
        value
    }
}

#[cfg(test)]
mod tests;
