//! Sans-IO media core of zhibo: FLV tag bodies in, MPEG-TS segments and HLS
//! playlists out, and FLV tags out for HTTP-FLV viewers.
//!
//! Nothing in this crate opens a socket, reads a clock or touches a file. The
//! media worker feeds it the payloads of RTMP audio/video messages (which are
//! exactly FLV tag bodies) together with their RTMP timestamps, and gets back
//! finished segments and playlist text to upload.
//!
//! # Layers
//!
//! | Layer | Module | Job |
//! |-------|--------|-----|
//! | Container in | [`flv`] | Split an FLV audio/video tag body into codec header fields and payload ([`flv::parse_video`], [`flv::parse_audio`]). |
//! | Video codec | [`avc`] | `AVCDecoderConfigurationRecord` (SPS/PPS, NALU length size) and AVCC → Annex-B conversion with AUD and SPS/PPS insertion. |
//! | Audio codec | [`aac`] | `AudioSpecificConfig` and the 7-byte ADTS header put in front of every raw AAC frame. |
//! | FLV out | [`flv_out`] | HTTP-FLV fan-out: FLV header and tags encoded once per message as shared `Bytes`, latest sequence headers, GOP cache for a new viewer's start, byte-bounded per-viewer queues. |
//! | Container out | [`ts`] | 188-byte transport stream packets: PAT, PMT, PES with PTS/DTS, PCR, continuity counters, CRC-32/MPEG-2. |
//! | Segmenting | [`hls::Segmenter`] | Timestamp repair (u32 wrap, jumps, jitter), keyframe-aligned cutting, one growing buffer per segment. |
//! | Playlists | [`hls::playlist`] | Live sliding-window and VOD media playlists, plus a strict parser for the same subset. |
//!
//! # Specifications
//!
//! | Spec | Used for |
//! |------|----------|
//! | Adobe FLV/F4V file format spec v10.1, annex E | Audio/video tag headers (`SoundFormat`, `CodecID`, `AVCPacketType`, `CompositionTime`). |
//! | ISO/IEC 13818-1 (H.222.0) | Transport stream packets, PSI (PAT/PMT), PES, PCR, 33-bit PTS/DTS, CRC-32/MPEG-2. |
//! | ISO/IEC 14496-10 (H.264) | NAL unit types (IDR = 5, SPS = 7, PPS = 8, AUD = 9) and Annex-B byte stream. |
//! | ISO/IEC 14496-15 §5.2.4 | `AVCDecoderConfigurationRecord`, length-prefixed (AVCC) NAL units. |
//! | ISO/IEC 14496-3 §1.6.2.1 / §1.A.2 | `AudioSpecificConfig`, ADTS framing. |
//! | RFC 8216 | HLS media playlists (`EXTINF`, `EXT-X-TARGETDURATION`, `EXT-X-MEDIA-SEQUENCE`, `EXT-X-DISCONTINUITY(-SEQUENCE)`, `EXT-X-PROGRAM-DATE-TIME`, `EXT-X-ENDLIST`). |
//!
//! # Errors
//!
//! Every fallible function returns [`Result`]. Errors from
//! [`hls::Segmenter::on_video`] / [`hls::Segmenter::on_audio`] concern one
//! message only and leave the segmenter untouched, so the caller can log them
//! and keep feeding; [`Error::is_unsupported`] tells "codec we do not remux"
//! apart from "broken input", and [`Error::ends_stream`] marks a stream that
//! breaks a resource limit (segment size, segment rate): the caller should end it.
//!
//! # Limits
//!
//! A segment never holds more than `SegmenterConfig::max_segment_bytes`, and
//! segments are cut at most `max_segments_per_minute` per minute of wall time
//! (after a burst). The crate reads no clock: the caller tells the time with
//! [`hls::Segmenter::set_now_ms`].
//!
//! # Example
//!
//! ```
//! use zhibo_media::hls::{LivePlaylist, LivePlaylistConfig, Segmenter, SegmenterConfig};
//!
//! let mut segmenter = Segmenter::new(SegmenterConfig::default());
//! let mut live = LivePlaylist::new(LivePlaylistConfig::default());
//! // for each RTMP audio/video message: segmenter.on_audio(ts, body)? / on_video(ts, body)?
//! if let Some(segment) = segmenter.finish() {
//!     let uri = format!("{}.ts", segment.sequence);
//!     live.push(segment.playlist_entry(uri, None));
//! }
//! let text = live.render();
//! assert!(text.starts_with("#EXTM3U\n"));
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod aac;
pub mod avc;
mod error;
pub mod flv;
pub mod flv_in;
pub mod flv_out;
pub mod hls;
pub mod ts;

pub use error::{Error, PlaylistErrorKind, Result};
