//! FLV out: fan one live stream out to many HTTP-FLV viewers (WeChat
//! `<live-player>`, mpegts.js, ffplay).
//!
//! Three sans-IO pieces, used by the worker that holds (or relays) a live:
//!
//! - **Encoding** ([`file_header`], [`encode_tag`]): the 13-byte FLV file
//!   header (with `PreviousTagSize0`) and complete tags (11-byte tag header,
//!   body, 4-byte `PreviousTagSize`), Adobe FLV spec v10.1, annex E.2–E.4.
//! - **Stream state** ([`FlvStream`]): fed every RTMP audio/video message
//!   (whose payload is exactly an FLV tag body), it encodes each message
//!   **once** into a [`Bytes`] for all current viewers, remembers the latest
//!   metadata and sequence headers, and caches the tags since the latest
//!   video keyframe (the GOP) so a new viewer's first picture comes at once
//!   ([`FlvStream::start_for_new_viewer`]).
//! - **Per-viewer queue policy** ([`ViewerBuffer`]): a byte-bounded queue of
//!   shared tags; a viewer that falls behind by more than its limit is
//!   [`Lagging`] and must be dropped, never buffered without bound.
//!
//! # Allocation
//!
//! The broadcast path allocates once per incoming message: [`encode_tag`]
//! writes header, body and `PreviousTagSize` into one buffer of the exact
//! size and freezes it. Every viewer queue and the GOP cache hold clones of
//! that [`Bytes`] (a reference-count increment, no copy), so N viewers cost
//! one encoded tag plus N pointers, and memory held for a slow viewer is the
//! shared tags it has not yet sent, not copies of them. A new viewer's start
//! allocates only its restamped metadata and sequence headers (at most three
//! small tags); the FLV header is static and the GOP tags are shared.
//!
//! # Timestamps
//!
//! Tags keep the publisher's RTMP timestamps (32-bit milliseconds, written as
//! the 24-bit `Timestamp` plus the 8-bit `TimestampExtended`). A viewer that
//! joins mid-stream therefore sees a first media tag with a non-zero
//! timestamp. Rebasing per viewer would mean encoding every tag once per
//! viewer, which is what this module exists to avoid; and the players we
//! serve take the first media timestamp as their time base (mpegts.js
//! computes its `dtsBase` from the first samples; `<live-player>`, ffplay and
//! CDN players always join live FLV mid-stream). The only tags of a start
//! that are re-encoded are the metadata and sequence headers, which are
//! stamped with the timestamp of the first cached media tag so that each
//! viewer's timeline never goes backwards.
//!
//! # Metadata
//!
//! The RTMP library used by the worker (`rml_rtmp`) parses
//! `@setDataFrame`/`onMetaData` into a typed struct and does not keep the
//! AMF0 body, so the worker can build a minimal script body with
//! [`OnMetaData::encode`] and pass it to [`FlvStream::on_metadata`]. Metadata
//! is optional: mpegts.js and `<live-player>` take codec parameters from the
//! sequence headers.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::flv::{CODEC_ID_AVC, SOUND_FORMAT_AAC};
use crate::{Error, Result};

/// Size of the FLV file header plus `PreviousTagSize0`.
pub const FILE_HEADER_LEN: usize = 13;
/// Size of an FLV tag header.
pub const TAG_HEADER_LEN: usize = 11;
/// Size of the `PreviousTagSize` field after each tag.
pub const PREVIOUS_TAG_SIZE_LEN: usize = 4;
/// Largest tag body: `DataSize` is 24 bits (as is the RTMP message length).
pub const MAX_TAG_BODY_LEN: usize = 0xFF_FFFF;

/// `CodecID` 12: HEVC in legacy FLV, a widespread non-Adobe extension laid out
/// like AVC (`AVCPacketType`, `CompositionTime`).
const CODEC_ID_HEVC_LEGACY: u8 = 12;
/// `SoundFormat` 9: enhanced RTMP audio (`ExHeader`).
const SOUND_FORMAT_EX_HEADER: u8 = 9;

/// The 13 bytes an FLV stream starts with: signature `FLV`, version 1,
/// `TypeFlagsAudio` (0x04) / `TypeFlagsVideo` (0x01), `DataOffset` 9, then
/// `PreviousTagSize0` = 0. Static: no allocation.
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    Bytes::from_static(match (has_audio, has_video) {
        (false, false) => b"FLV\x01\x00\x00\x00\x00\x09\x00\x00\x00\x00",
        (false, true) => b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00",
        (true, false) => b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00",
        (true, true) => b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
    })
}

/// FLV `TagType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagType {
    /// 8: audio.
    Audio,
    /// 9: video.
    Video,
    /// 18: script data (`onMetaData`).
    Script,
}

impl TagType {
    /// The `TagType` byte.
    pub fn code(self) -> u8 {
        match self {
            TagType::Audio => 8,
            TagType::Video => 9,
            TagType::Script => 18,
        }
    }
}

/// Encodes one complete FLV tag: the 11-byte header (`TagType`, 24-bit
/// `DataSize`, `Timestamp` low 24 bits, `TimestampExtended` high 8 bits,
/// `StreamID` 0), the body, and the 4-byte `PreviousTagSize` (11 + body
/// length).
///
/// One allocation of exactly `11 + body.len() + 4` bytes. Fails with
/// [`Error::FlvTagTooLarge`] if the body exceeds [`MAX_TAG_BODY_LEN`].
pub fn encode_tag(tag_type: TagType, timestamp: u32, body: &[u8]) -> Result<Bytes> {
    let data_size = u32::try_from(body.len())
        .ok()
        .filter(|&size| size as usize <= MAX_TAG_BODY_LEN)
        .ok_or(Error::FlvTagTooLarge(body.len()))?;
    let mut out = BytesMut::with_capacity(TAG_HEADER_LEN + body.len() + PREVIOUS_TAG_SIZE_LEN);
    out.put_u8(tag_type.code());
    out.put_slice(&data_size.to_be_bytes()[1..]);
    let ts = timestamp.to_be_bytes();
    out.put_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.put_slice(&[0, 0, 0]);
    out.put_slice(body);
    out.put_u32(data_size + TAG_HEADER_LEN as u32);
    Ok(out.freeze())
}

/// A minimal `onMetaData` script tag body (AMF0: the string `onMetaData`
/// followed by an ECMA array), for when the raw `@setDataFrame` body is not
/// available. Absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnMetaData {
    /// `width`, pixels.
    pub width: Option<u32>,
    /// `height`, pixels.
    pub height: Option<u32>,
    /// `framerate`, frames per second (non-finite values are left out).
    pub frame_rate: Option<f64>,
    /// `videodatarate`, kbit/s.
    pub video_data_rate_kbps: Option<u32>,
    /// `videocodecid` (7 = AVC).
    pub video_codec_id: Option<u32>,
    /// `audiodatarate`, kbit/s.
    pub audio_data_rate_kbps: Option<u32>,
    /// `audiosamplerate`, Hz.
    pub audio_sample_rate: Option<u32>,
    /// `stereo`.
    pub stereo: Option<bool>,
    /// `audiocodecid` (10 = AAC).
    pub audio_codec_id: Option<u32>,
    /// `encoder` (cut to 255 bytes at a character boundary).
    pub encoder: Option<String>,
}

impl OnMetaData {
    /// Longest `encoder` string written, bytes.
    pub const MAX_ENCODER_LEN: usize = 255;

    /// The AMF0 script tag body: `0x02 "onMetaData"`, then an ECMA array
    /// (`0x08`, count, `name → value` pairs, end marker `00 00 09`).
    pub fn encode(&self) -> Vec<u8> {
        fn number(out: &mut Vec<u8>, name: &str, value: f64) {
            amf0_key(out, name);
            out.push(0x00);
            out.extend_from_slice(&value.to_be_bytes());
        }
        let mut entries = Vec::new();
        let mut count: u32 = 0;
        let numbers = [
            ("width", self.width.map(f64::from)),
            ("height", self.height.map(f64::from)),
            ("framerate", self.frame_rate.filter(|rate| rate.is_finite())),
            ("videodatarate", self.video_data_rate_kbps.map(f64::from)),
            ("videocodecid", self.video_codec_id.map(f64::from)),
            ("audiodatarate", self.audio_data_rate_kbps.map(f64::from)),
            ("audiosamplerate", self.audio_sample_rate.map(f64::from)),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                number(&mut entries, name, value);
                count += 1;
            }
        }
        if let Some(stereo) = self.stereo {
            amf0_key(&mut entries, "stereo");
            entries.extend_from_slice(&[0x01, u8::from(stereo)]);
            count += 1;
        }
        if let Some(id) = self.audio_codec_id {
            number(&mut entries, "audiocodecid", f64::from(id));
            count += 1;
        }
        if let Some(encoder) = &self.encoder {
            let mut cut = encoder.len().min(Self::MAX_ENCODER_LEN);
            while !encoder.is_char_boundary(cut) {
                cut -= 1;
            }
            amf0_key(&mut entries, "encoder");
            entries.push(0x02);
            amf0_key(&mut entries, encoder.get(..cut).unwrap_or_default());
            count += 1;
        }
        let mut out = Vec::with_capacity(13 + 5 + entries.len() + 3);
        out.push(0x02);
        amf0_key(&mut out, "onMetaData");
        out.push(0x08);
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&entries);
        out.extend_from_slice(&[0x00, 0x00, 0x09]);
        out
    }
}

/// An AMF0 UTF-8 string without its type marker: u16 length, bytes. Callers
/// pass at most 255 bytes.
fn amf0_key(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes().get(..usize::from(len)).unwrap_or_default());
}

/// What a video tag body is, as far as caching is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VideoKind {
    SequenceHeader,
    Keyframe,
    Other,
}

/// Classifies a video tag body without rejecting codecs: legacy AVC (7) and
/// HEVC (12) sequence headers and key NALU packets; enhanced RTMP
/// `SequenceStart` and key `CodedFrames(X)`; for other codecs, `FrameType` 1
/// is a keyframe.
fn classify_video(body: &[u8]) -> VideoKind {
    let Some(&first) = body.first() else {
        return VideoKind::Other;
    };
    if first & 0x80 != 0 {
        // Enhanced RTMP: UB[1] IsExHeader, UB[3] FrameType, UB[4] PacketType.
        let frame_type = (first >> 4) & 0x07;
        return match first & 0x0F {
            0 => VideoKind::SequenceHeader,
            1 | 3 if frame_type == 1 => VideoKind::Keyframe,
            _ => VideoKind::Other,
        };
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0F;
    if codec_id == CODEC_ID_AVC || codec_id == CODEC_ID_HEVC_LEGACY {
        if frame_type == 5 {
            return VideoKind::Other;
        }
        return match body.get(1) {
            Some(0) => VideoKind::SequenceHeader,
            Some(1) if frame_type == 1 => VideoKind::Keyframe,
            _ => VideoKind::Other,
        };
    }
    if frame_type == 1 {
        VideoKind::Keyframe
    } else {
        VideoKind::Other
    }
}

/// True for an AAC sequence header (`SoundFormat` 10, `AACPacketType` 0) or
/// an enhanced RTMP audio `SequenceStart`.
fn is_audio_sequence_header(body: &[u8]) -> bool {
    match body.first() {
        Some(&first) if first >> 4 == SOUND_FORMAT_AAC => body.get(1) == Some(&0),
        Some(&first) if first >> 4 == SOUND_FORMAT_EX_HEADER => first & 0x0F == 0,
        _ => false,
    }
}

/// Limits of a [`FlvStream`]'s cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvStreamConfig {
    /// Most bytes (encoded tags) the GOP cache holds. A GOP that grows beyond
    /// it is dropped and nothing is cached until the next keyframe.
    pub max_cache_bytes: usize,
    /// Most tags the GOP cache holds (same overflow rule).
    pub max_cache_tags: usize,
    /// For streams without video: how much audio a new viewer gets, in
    /// milliseconds of timestamps.
    pub audio_only_tail_ms: u32,
}

impl Default for FlvStreamConfig {
    /// 16 MiB, 4096 tags (about 30 s at 30 fps with audio; GOPs are usually
    /// 1–4 s), 1 s of audio for audio-only streams.
    fn default() -> Self {
        FlvStreamConfig {
            max_cache_bytes: 16 << 20,
            max_cache_tags: 4096,
            audio_only_tail_ms: 1000,
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    timestamp: u32,
    tag: Bytes,
}

/// A script or sequence header tag, kept encoded (for broadcast) along with
/// its body (for restamping at a viewer's start).
#[derive(Debug, Clone)]
struct HeaderTag {
    tag_type: TagType,
    body: Bytes,
}

/// The state of one live stream for HTTP-FLV playback: latest metadata and
/// sequence headers, and the cache a new viewer starts from.
///
/// Feed it every audio/video message of the publisher in order; each call
/// returns the encoded tag to send to every current viewer (or `None` for an
/// empty body, which carries nothing). Call
/// [`start_for_new_viewer`](Self::start_for_new_viewer) and subscribe the
/// viewer to the broadcast between the same two `on_*` calls (e.g. in the
/// task that owns the `FlvStream`), so the viewer misses and repeats no tag.
///
/// Cache policy:
/// - With video: the tags (audio and video) from the latest keyframe on. A
///   keyframe empties the cache and starts it again. Tags before the first
///   keyframe are not cached.
/// - Without video (no video message seen yet): the last
///   [`FlvStreamConfig::audio_only_tail_ms`] of audio.
/// - Never more than [`FlvStreamConfig::max_cache_bytes`] /
///   [`FlvStreamConfig::max_cache_tags`]: a GOP that would exceed them is
///   dropped whole and caching resumes at the next keyframe (a partial GOP
///   cannot be decoded); an audio tail is trimmed from the front.
///
/// Sequence headers and metadata are not part of the cache: the latest of
/// each is kept and a change is broadcast like any other tag. A video
/// sequence header that differs from the previous one also drops the cached
/// GOP (it was coded with the old parameters) until the next keyframe.
#[derive(Debug, Clone)]
pub struct FlvStream {
    config: FlvStreamConfig,
    has_audio: bool,
    has_video: bool,
    metadata: Option<HeaderTag>,
    video_header: Option<HeaderTag>,
    audio_header: Option<HeaderTag>,
    cache: VecDeque<Cached>,
    cache_bytes: usize,
    /// With video: the cache starts at a keyframe and is being extended.
    gop_open: bool,
    last_timestamp: u32,
}

impl FlvStream {
    /// An empty stream state.
    pub fn new(config: FlvStreamConfig) -> Self {
        FlvStream {
            config,
            has_audio: false,
            has_video: false,
            metadata: None,
            video_header: None,
            audio_header: None,
            cache: VecDeque::new(),
            cache_bytes: 0,
            gop_open: false,
            last_timestamp: 0,
        }
    }

    /// The limits this stream was created with.
    pub fn config(&self) -> &FlvStreamConfig {
        &self.config
    }

    /// True once an audio message has been seen.
    pub fn has_audio(&self) -> bool {
        self.has_audio
    }

    /// True once a video message has been seen.
    pub fn has_video(&self) -> bool {
        self.has_video
    }

    /// Tags in the cache.
    pub fn cached_tags(&self) -> usize {
        self.cache.len()
    }

    /// Bytes (encoded tags) in the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cache_bytes
    }

    /// A video message (an FLV video tag body). Returns the tag to broadcast.
    ///
    /// Any codec passes through unchanged; AVC (and legacy-HEVC and enhanced
    /// RTMP) sequence headers and keyframes are recognized for the cache.
    /// Fails only for a body larger than [`MAX_TAG_BODY_LEN`].
    pub fn on_video(&mut self, timestamp: u32, body: &[u8]) -> Result<Option<Bytes>> {
        if body.is_empty() {
            return Ok(None);
        }
        let tag = encode_tag(TagType::Video, timestamp, body)?;
        if !self.has_video {
            // Leaving audio-only mode: the audio tail is not a GOP.
            self.clear_cache();
            self.has_video = true;
        }
        self.last_timestamp = timestamp;
        match classify_video(body) {
            VideoKind::SequenceHeader => {
                let changed = self
                    .video_header
                    .as_ref()
                    .is_some_and(|old| old.body.as_ref() != body);
                if changed {
                    // The cached GOP was coded with the old parameters: a new
                    // viewer would get the new header before it. Wait for the
                    // next keyframe instead. (Repeats of the same header, as
                    // some encoders send before every keyframe, keep the GOP.)
                    self.clear_cache();
                    self.gop_open = false;
                }
                self.video_header = Some(HeaderTag {
                    tag_type: TagType::Video,
                    body: Bytes::copy_from_slice(body),
                });
            }
            VideoKind::Keyframe => {
                self.clear_cache();
                self.gop_open = true;
                self.push_gop(timestamp, tag.clone());
            }
            VideoKind::Other => self.push_gop(timestamp, tag.clone()),
        }
        Ok(Some(tag))
    }

    /// An audio message (an FLV audio tag body). Returns the tag to broadcast.
    ///
    /// Any sound format passes through; AAC (and enhanced RTMP) sequence
    /// headers are recognized. Fails only for a body larger than
    /// [`MAX_TAG_BODY_LEN`].
    pub fn on_audio(&mut self, timestamp: u32, body: &[u8]) -> Result<Option<Bytes>> {
        if body.is_empty() {
            return Ok(None);
        }
        let tag = encode_tag(TagType::Audio, timestamp, body)?;
        self.has_audio = true;
        self.last_timestamp = timestamp;
        if is_audio_sequence_header(body) {
            self.audio_header = Some(HeaderTag {
                tag_type: TagType::Audio,
                body: Bytes::copy_from_slice(body),
            });
        } else if self.has_video {
            self.push_gop(timestamp, tag.clone());
        } else {
            self.push_audio_tail(timestamp, tag.clone());
        }
        Ok(Some(tag))
    }

    /// A script data body (e.g. from [`OnMetaData::encode`]), stamped with
    /// the latest media timestamp. Returns the tag to broadcast; the latest
    /// one is sent to new viewers. An empty body clears the metadata and
    /// returns `None`. Fails only for a body larger than [`MAX_TAG_BODY_LEN`].
    pub fn on_metadata(&mut self, body: &[u8]) -> Result<Option<Bytes>> {
        if body.is_empty() {
            self.metadata = None;
            return Ok(None);
        }
        let tag = encode_tag(TagType::Script, self.last_timestamp, body)?;
        self.metadata = Some(HeaderTag {
            tag_type: TagType::Script,
            body: Bytes::copy_from_slice(body),
        });
        Ok(Some(tag))
    }

    /// What a new viewer is sent first, in order: the FLV file header (audio
    /// and video flags from what the stream has seen so far), the metadata if
    /// any, the video and audio sequence headers if any, then the cached tags
    /// (with video, starting at the latest keyframe).
    ///
    /// Metadata and sequence headers are stamped with the first cached tag's
    /// timestamp (or the latest timestamp seen), so the viewer's timestamps
    /// never go backwards; cached tags are shared, not copied.
    pub fn start_for_new_viewer(&self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(4 + self.cache.len());
        out.push(file_header(self.has_audio, self.has_video));
        let timestamp = self
            .cache
            .front()
            .map_or(self.last_timestamp, |cached| cached.timestamp);
        for header in [&self.metadata, &self.video_header, &self.audio_header]
            .into_iter()
            .flatten()
        {
            // Bodies were accepted by encode_tag when they arrived.
            if let Ok(tag) = encode_tag(header.tag_type, timestamp, &header.body) {
                out.push(tag);
            }
        }
        out.extend(self.cache.iter().map(|cached| cached.tag.clone()));
        out
    }

    fn clear_cache(&mut self) {
        self.cache.clear();
        self.cache_bytes = 0;
    }

    /// Appends to an open GOP; a GOP that outgrows the limits is dropped and
    /// caching waits for the next keyframe.
    fn push_gop(&mut self, timestamp: u32, tag: Bytes) {
        if !self.gop_open {
            return;
        }
        if self.cache.len() >= self.config.max_cache_tags
            || self.cache_bytes.saturating_add(tag.len()) > self.config.max_cache_bytes
        {
            self.clear_cache();
            self.gop_open = false;
            return;
        }
        self.cache_bytes += tag.len();
        self.cache.push_back(Cached { timestamp, tag });
    }

    /// Appends to the audio-only tail and trims it to the time and size
    /// limits (a timestamp going backwards drops everything older).
    fn push_audio_tail(&mut self, timestamp: u32, tag: Bytes) {
        self.cache_bytes += tag.len();
        self.cache.push_back(Cached { timestamp, tag });
        while let Some(front) = self.cache.front() {
            let too_old = timestamp.wrapping_sub(front.timestamp) > self.config.audio_only_tail_ms;
            let too_big = self.cache_bytes > self.config.max_cache_bytes
                || self.cache.len() > self.config.max_cache_tags;
            if !(too_old || too_big) {
                break;
            }
            if let Some(dropped) = self.cache.pop_front() {
                self.cache_bytes -= dropped.tag.len();
            }
        }
    }
}

impl Default for FlvStream {
    fn default() -> Self {
        FlvStream::new(FlvStreamConfig::default())
    }
}

/// A viewer fell too far behind: its queue would exceed its byte limit. The
/// worker must drop the viewer (end its HTTP response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("viewer lagging: {queued_bytes} bytes queued plus {incoming_bytes} would exceed the limit of {limit}")]
pub struct Lagging {
    /// Bytes that were queued when the limit was hit.
    pub queued_bytes: usize,
    /// Size of the tag that did not fit.
    pub incoming_bytes: usize,
    /// The viewer's limit.
    pub limit: usize,
}

/// The send queue of one viewer, bounded by bytes.
///
/// The worker pushes every broadcast tag (and the viewer's start) and pops
/// them as the viewer's connection accepts data. When a push would take the
/// queue beyond its limit the viewer is too slow: the push fails with
/// [`Lagging`], the queue is emptied and every later push fails too, and the
/// worker must drop the viewer. A queue never grows without bound, and a
/// slow viewer affects no other: the queued tags are shared [`Bytes`], the
/// same allocations every other viewer holds.
///
/// The limit should exceed the largest start a viewer can get (about
/// [`FlvStreamConfig::max_cache_bytes`] plus sequence headers); since the
/// bytes are shared with the GOP cache, a generous limit costs little memory.
#[derive(Debug, Clone)]
pub struct ViewerBuffer {
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    limit: usize,
    lagging: bool,
}

impl ViewerBuffer {
    /// Default limit: 24 MiB, the default cache limit (16 MiB) plus 8 MiB of
    /// lag (several seconds even at high bitrates).
    pub const DEFAULT_LIMIT: usize = 24 << 20;

    /// An empty queue holding at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        ViewerBuffer {
            queue: VecDeque::new(),
            queued_bytes: 0,
            limit,
            lagging: false,
        }
    }

    /// Queues a tag, or reports that the viewer is lagging (see the type's
    /// documentation); once lagging, always lagging.
    pub fn push(&mut self, tag: Bytes) -> std::result::Result<(), Lagging> {
        let over = self
            .queued_bytes
            .checked_add(tag.len())
            .is_none_or(|total| total > self.limit);
        if self.lagging || over {
            let err = Lagging {
                queued_bytes: self.queued_bytes,
                incoming_bytes: tag.len(),
                limit: self.limit,
            };
            self.lagging = true;
            self.queue.clear();
            self.queued_bytes = 0;
            return Err(err);
        }
        self.queued_bytes += tag.len();
        self.queue.push_back(tag);
        Ok(())
    }

    /// Queues every tag in order (e.g. a viewer's start), stopping at the
    /// first that does not fit.
    pub fn push_all(
        &mut self,
        tags: impl IntoIterator<Item = Bytes>,
    ) -> std::result::Result<(), Lagging> {
        tags.into_iter().try_for_each(|tag| self.push(tag))
    }

    /// The next tag to send.
    pub fn pop(&mut self) -> Option<Bytes> {
        let tag = self.queue.pop_front()?;
        self.queued_bytes -= tag.len();
        Some(tag)
    }

    /// True once a push has failed.
    pub fn is_lagging(&self) -> bool {
        self.lagging
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Tags queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes queued.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The byte limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Default for ViewerBuffer {
    fn default() -> Self {
        ViewerBuffer::new(Self::DEFAULT_LIMIT)
    }
}

#[cfg(test)]
mod tests;
