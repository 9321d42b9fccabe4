//! Sans-IO RTMP chunk guard: sees every byte of the chunk stream before `rml_rtmp` does and
//! refuses, with a reason, what would let one unauthenticated connection stop or bloat the
//! worker.
//!
//! `rml_rtmp 0.8` parses every complete message at once (AMF0 through `rml_amf0 0.3`, which
//! recurses without a depth limit: a 10 MB message of nested arrays overflows the stack and
//! aborts the process), reserves a whole message's length after its first chunk, and keeps one
//! header per chunk stream id forever. The guard tracks chunk headers exactly as
//! `rml_rtmp::chunk_io::ChunkDeserializer` reads them (basic header of 1-3 bytes, message
//! header types 0-3, extended timestamps, the peer's Set Chunk Size) without copying media
//! payloads; it buffers only AMF command/data messages (at most [`GuardLimits::amf_message`]
//! bytes) and scans them iteratively for nesting depth before they are passed on.
//!
//! Feed it each read before the session: [`ChunkGuard::inspect`] checks the whole slice, so a
//! message that completes inside it has been checked before `rml_rtmp` can parse it.

use std::fmt;

/// Limits of one connection's chunk stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardLimits {
    /// Largest message of any type before the publish is authorized (a `connect` or
    /// `publish` command is a few hundred bytes).
    pub pre_auth_message: u32,
    /// Bytes of chunk stream a connection may send before its publish is authorized.
    pub pre_auth_bytes: u64,
    /// Largest AMF command/data message (types 15, 17, 18, 20) and other non-media message.
    pub amf_message: u32,
    /// Largest audio/video message once publishing (a keyframe).
    pub media_message: u32,
    /// Deepest nesting of AMF0 objects/arrays in a command or data message.
    pub amf_depth: usize,
    /// Largest chunk size the peer may set.
    pub chunk_size: u32,
    /// Distinct chunk stream ids one connection may use.
    pub chunk_streams: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits {
            pre_auth_message: 8 * 1024,
            pre_auth_bytes: 64 * 1024,
            amf_message: 64 * 1024,
            media_message: 8 * 1024 * 1024,
            amf_depth: 32,
            // A chunk is never longer than its message, so a larger size cannot change the
            // framing; anything above the largest message length (24 bits) is bogus.
            chunk_size: 0xFF_FFFF,
            chunk_streams: 64,
        }
    }
}

/// Why the guard closed the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A message longer than allowed for its type (or for any type before the publish).
    MessageTooLong {
        /// RTMP message type id.
        type_id: u8,
        /// Announced length.
        length: u32,
        /// The limit that applied.
        limit: u32,
        /// Whether the publish was authorized.
        authorized: bool,
    },
    /// More bytes than allowed before the publish was authorized.
    TooMuchBeforePublish {
        /// The limit.
        limit: u64,
    },
    /// AMF0 values nested deeper than allowed.
    AmfTooDeep {
        /// RTMP message type id.
        type_id: u8,
        /// The limit.
        limit: usize,
    },
    /// Set Chunk Size to 0, above the limit or unreadable.
    BadChunkSize {
        /// The size asked for (`None`: the message is shorter than 4 bytes).
        size: Option<u32>,
        /// The limit.
        limit: u32,
    },
    /// Too many distinct chunk stream ids.
    TooManyChunkStreams {
        /// The limit.
        limit: usize,
    },
    /// A header of type 1-3 on a chunk stream that has had no type-0 header.
    NoPreviousHeader {
        /// Chunk stream id.
        csid: u32,
    },
    /// A chunk that does not continue the unfinished message (rml_rtmp keeps one partial
    /// message for all chunk streams, so interleaved messages cannot be parsed).
    Interleaved {
        /// Chunk stream id of the unfinished message.
        unfinished_csid: u32,
        /// Chunk stream id of the chunk that came instead.
        csid: u32,
    },
    /// An extended timestamp below 0xFFFFFF on a delta header (rml_rtmp's arithmetic breaks).
    ExtendedTimestampTooSmall {
        /// Chunk stream id.
        csid: u32,
    },
}

impl std::error::Error for Refusal {}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::MessageTooLong {
                type_id,
                length,
                limit,
                authorized: false,
            } => write!(
                f,
                "RTMP message of type {type_id} is {length} bytes before the publish was \
                 authorized (at most {limit}): send connect and publish first"
            ),
            Refusal::MessageTooLong {
                type_id,
                length,
                limit,
                authorized: true,
            } => write!(
                f,
                "RTMP message of type {type_id} is {length} bytes (at most {limit} for this type)"
            ),
            Refusal::TooMuchBeforePublish { limit } => write!(
                f,
                "more than {limit} bytes of RTMP messages before the publish was authorized: \
                 send connect and publish first"
            ),
            Refusal::AmfTooDeep { type_id, limit } => write!(
                f,
                "RTMP message of type {type_id} nests AMF0 values deeper than {limit} levels"
            ),
            Refusal::BadChunkSize {
                size: Some(size),
                limit,
            } => write!(
                f,
                "RTMP message Set Chunk Size asks for {size} bytes (1 to {limit} accepted)"
            ),
            Refusal::BadChunkSize { size: None, .. } => {
                write!(f, "RTMP message Set Chunk Size is shorter than 4 bytes")
            }
            Refusal::TooManyChunkStreams { limit } => write!(
                f,
                "RTMP message on more than {limit} chunk streams: use fewer chunk stream ids"
            ),
            Refusal::NoPreviousHeader { csid } => write!(
                f,
                "RTMP message chunk on chunk stream {csid} continues a header that was never sent"
            ),
            Refusal::Interleaved {
                unfinished_csid,
                csid,
            } => write!(
                f,
                "RTMP message chunk on chunk stream {csid} interrupts the unfinished message of \
                 chunk stream {unfinished_csid}: send each message's chunks contiguously"
            ),
            Refusal::ExtendedTimestampTooSmall { csid } => write!(
                f,
                "RTMP message chunk on chunk stream {csid} has an extended timestamp delta below \
                 0xFFFFFF"
            ),
        }
    }
}

const TYPE_SET_CHUNK_SIZE: u8 = 1;
const TYPE_AUDIO: u8 = 8;
const TYPE_VIDEO: u8 = 9;
const TYPE_AMF3_DATA: u8 = 15;
const TYPE_AMF3_COMMAND: u8 = 17;
const TYPE_AMF0_DATA: u8 = 18;
const TYPE_AMF0_COMMAND: u8 = 20;
/// An AMF0 string marker, length 7, `connect`: how a `connect` command begins.
const AMF0_CONNECT: &[u8] = b"\x02\x00\x07connect";
/// RTMP's initial chunk size.
const INITIAL_CHUNK_SIZE: u32 = 128;
/// A timestamp field of 0xFFFFFF announces a 4-byte extended timestamp.
const EXTENDED: u32 = 0xFF_FFFF;
/// Longest chunk header: 3-byte basic header, 11-byte message header, extended timestamp.
const MAX_HEADER: usize = 18;

/// What the guard remembers of the last header of one chunk stream (what rml_rtmp reuses for
/// header types 1-3).
#[derive(Debug, Clone, Copy)]
struct StreamHeader {
    csid: u32,
    length: u32,
    type_id: u8,
    /// The last timestamp field was 0xFFFFFF: every chunk carries an extended timestamp.
    extended: bool,
}

/// The message being received.
#[derive(Debug, Clone, Copy)]
struct Message {
    csid: u32,
    length: u32,
    type_id: u8,
    received: u32,
    /// Its payload is collected (AMF and Set Chunk Size) rather than skipped.
    collect: bool,
}

enum Parsed {
    NeedMore,
    Header { len: usize, header: Header },
}

struct Header {
    fmt: u8,
    csid: u32,
    /// For fmt 0-2: the timestamp field; fmt 3: unused.
    timestamp_field: u32,
    length: u32,
    type_id: u8,
    extended_timestamp: Option<u32>,
}

/// One connection's guard.
#[derive(Debug)]
pub struct ChunkGuard {
    limits: GuardLimits,
    authorized: bool,
    bytes_before_auth: u64,
    chunk_size: u32,
    streams: Vec<StreamHeader>,
    /// Bytes of a header split across reads.
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// Bytes left in the current chunk's payload (0: a header comes next).
    chunk_left: u32,
    message: Option<Message>,
    payload: Vec<u8>,
    messages: u64,
    /// The AMF0 body of the first `connect` command, kept until taken (for its `capsEx`).
    connect: Option<Vec<u8>>,
    connect_seen: bool,
}

impl ChunkGuard {
    /// A guard for a new connection (right after the handshake).
    pub fn new(limits: GuardLimits) -> ChunkGuard {
        ChunkGuard {
            limits,
            authorized: false,
            bytes_before_auth: 0,
            chunk_size: INITIAL_CHUNK_SIZE,
            streams: Vec::new(),
            header: [0; MAX_HEADER],
            header_len: 0,
            chunk_left: 0,
            message: None,
            payload: Vec::new(),
            messages: 0,
            connect: None,
            connect_seen: false,
        }
    }

    /// The publish was authorized: from now on media messages up to
    /// [`GuardLimits::media_message`] are accepted and bytes are no longer counted.
    pub fn authorize(&mut self) {
        self.authorized = true;
    }

    /// Messages whose last byte has been inspected (the fuzz target compares it with
    /// rml_rtmp's count).
    pub fn messages_seen(&self) -> u64 {
        self.messages
    }

    /// The AMF0 values of the first `connect` command (name, transaction id, command object,
    /// ...), once its last byte has been inspected: the session reads the client's `capsEx`
    /// from it, which rml_rtmp does not pass on. At most [`GuardLimits::pre_auth_message`]
    /// bytes, depth-checked.
    pub fn take_connect_command(&mut self) -> Option<Vec<u8>> {
        self.connect.take()
    }

    /// Checks `input`, the next bytes of the chunk stream. `Ok`: pass all of it on. `Err`: close
    /// the connection (the guard must not be used again).
    pub fn inspect(&mut self, input: &[u8]) -> Result<(), Refusal> {
        if !self.authorized {
            self.bytes_before_auth = self.bytes_before_auth.saturating_add(input.len() as u64);
            if self.bytes_before_auth > self.limits.pre_auth_bytes {
                return Err(Refusal::TooMuchBeforePublish {
                    limit: self.limits.pre_auth_bytes,
                });
            }
        }
        let mut pos = 0;
        while pos < input.len() {
            if self.chunk_left > 0 {
                let n = (self.chunk_left as usize).min(input.len() - pos);
                self.on_payload(&input[pos..pos + n])?;
                pos += n;
                continue;
            }
            // A header, possibly the rest of one begun in an earlier read.
            let (taken, header) = if self.header_len == 0 {
                match self.parse_header(&input[pos..])? {
                    Parsed::Header { len, header } => (len, header),
                    Parsed::NeedMore => {
                        // A header is at most MAX_HEADER bytes, so this is shorter.
                        let rest = &input[pos..];
                        self.header[..rest.len()].copy_from_slice(rest);
                        self.header_len = rest.len();
                        return Ok(());
                    }
                }
            } else {
                let had = self.header_len;
                let take = (MAX_HEADER - had).min(input.len() - pos);
                let mut buf = self.header;
                buf[had..had + take].copy_from_slice(&input[pos..pos + take]);
                match self.parse_header(&buf[..had + take])? {
                    Parsed::Header { len, header } => {
                        self.header_len = 0;
                        (len - had, header)
                    }
                    Parsed::NeedMore => {
                        // MAX_HEADER bytes always make a header: the input is used up.
                        self.header = buf;
                        self.header_len = had + take;
                        return Ok(());
                    }
                }
            };
            pos += taken;
            self.on_header(header)?;
        }
        Ok(())
    }

    /// Parses one chunk header at the start of `b` the way rml_rtmp reads it.
    fn parse_header(&self, b: &[u8]) -> Result<Parsed, Refusal> {
        let Some(&first) = b.first() else {
            return Ok(Parsed::NeedMore);
        };
        let fmt = first >> 6;
        let (csid, mut at) = match first & 0x3F {
            0 => match b.get(1) {
                Some(&x) => (u32::from(x) + 64, 2),
                None => return Ok(Parsed::NeedMore),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&lo), Some(&hi)) => (u32::from(hi) * 256 + u32::from(lo) + 64, 3),
                _ => return Ok(Parsed::NeedMore),
            },
            x => (u32::from(x), 1),
        };
        let previous = self.streams.iter().find(|s| s.csid == csid);
        if fmt != 0 && previous.is_none() {
            return Err(Refusal::NoPreviousHeader { csid });
        }
        let message_header = [11, 7, 3, 0][usize::from(fmt)];
        if b.len() < at + message_header {
            return Ok(Parsed::NeedMore);
        }
        let u24 = |i: usize| u32::from_be_bytes([0, b[i], b[i + 1], b[i + 2]]);
        let (timestamp_field, length, type_id) = match fmt {
            0 | 1 => (u24(at), u24(at + 3), b[at + 6]),
            2 => {
                let p = previous.map(|p| (p.length, p.type_id)).unwrap_or_default();
                (u24(at), p.0, p.1)
            }
            _ => {
                let p = previous
                    .map(|p| (p.length, p.type_id, p.extended))
                    .unwrap_or_default();
                (if p.2 { EXTENDED } else { 0 }, p.0, p.1)
            }
        };
        at += message_header;
        let extended_timestamp = if timestamp_field >= EXTENDED {
            if b.len() < at + 4 {
                return Ok(Parsed::NeedMore);
            }
            let v = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            at += 4;
            Some(v)
        } else {
            None
        };
        Ok(Parsed::Header {
            len: at,
            header: Header {
                fmt,
                csid,
                timestamp_field,
                length,
                type_id,
                extended_timestamp,
            },
        })
    }

    fn on_header(&mut self, h: Header) -> Result<(), Refusal> {
        // Continuation of an unfinished message: only a type-3 chunk of the same chunk stream
        // (anything else, rml_rtmp would mix into the unfinished payload).
        if let Some(m) = &self.message {
            if h.fmt != 3 || h.csid != m.csid {
                return Err(Refusal::Interleaved {
                    unfinished_csid: m.csid,
                    csid: h.csid,
                });
            }
            let left = m.length - m.received;
            self.chunk_left = left.min(self.chunk_size);
            return Ok(());
        }
        // A new message. rml_rtmp applies an extended timestamp on a delta header as
        // `timestamp - 0xFFFFFF`: below that it underflows.
        if h.fmt != 0 && h.extended_timestamp.is_some_and(|t| t < EXTENDED) {
            return Err(Refusal::ExtendedTimestampTooSmall { csid: h.csid });
        }
        match self.streams.iter_mut().find(|s| s.csid == h.csid) {
            Some(s) => {
                if h.fmt != 3 {
                    s.extended = h.timestamp_field >= EXTENDED;
                }
                s.length = h.length;
                s.type_id = h.type_id;
            }
            None => {
                if self.streams.len() >= self.limits.chunk_streams {
                    return Err(Refusal::TooManyChunkStreams {
                        limit: self.limits.chunk_streams,
                    });
                }
                self.streams.push(StreamHeader {
                    csid: h.csid,
                    length: h.length,
                    type_id: h.type_id,
                    extended: h.timestamp_field >= EXTENDED,
                });
            }
        }
        let limit = self.length_limit(h.type_id);
        if h.length > limit {
            return Err(Refusal::MessageTooLong {
                type_id: h.type_id,
                length: h.length,
                limit,
                authorized: self.authorized,
            });
        }
        let collect = is_amf(h.type_id) || h.type_id == TYPE_SET_CHUNK_SIZE;
        self.payload.clear();
        self.message = Some(Message {
            csid: h.csid,
            length: h.length,
            type_id: h.type_id,
            received: 0,
            collect,
        });
        // rml_rtmp: a message no longer than the chunk size is one chunk.
        self.chunk_left = h.length.min(self.chunk_size);
        if h.length == 0 {
            return self.complete();
        }
        Ok(())
    }

    fn length_limit(&self, type_id: u8) -> u32 {
        if !self.authorized {
            return self.limits.pre_auth_message;
        }
        match type_id {
            TYPE_AUDIO | TYPE_VIDEO => self.limits.media_message,
            _ => self.limits.amf_message,
        }
    }

    fn on_payload(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let Some(m) = self.message.as_mut() else {
            // Unreachable: chunk_left > 0 only while a message is open.
            self.chunk_left = 0;
            return Ok(());
        };
        if m.collect {
            // Bounded by the message length limit checked at its header.
            self.payload.extend_from_slice(bytes);
        }
        let n = bytes.len() as u32;
        m.received += n;
        self.chunk_left -= n;
        if m.received == m.length {
            return self.complete();
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), Refusal> {
        self.chunk_left = 0;
        let Some(m) = self.message.take() else {
            return Ok(());
        };
        self.messages += 1;
        if m.type_id == TYPE_SET_CHUNK_SIZE {
            let size = self
                .payload
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            match size {
                Some(s) if (1..=self.limits.chunk_size).contains(&s) => self.chunk_size = s,
                _ => {
                    return Err(Refusal::BadChunkSize {
                        size,
                        limit: self.limits.chunk_size,
                    })
                }
            }
        } else if is_amf(m.type_id) {
            // rml_rtmp reads type 17 as AMF0 after a leading 0 byte.
            let amf = match (m.type_id, self.payload.first()) {
                (TYPE_AMF3_COMMAND, Some(0)) => &self.payload[1..],
                _ => &self.payload[..],
            };
            if amf0_depth_exceeds(amf, self.limits.amf_depth) {
                return Err(Refusal::AmfTooDeep {
                    type_id: m.type_id,
                    limit: self.limits.amf_depth,
                });
            }
            // The first `connect` command (before the publish, so small): kept whole.
            if !self.connect_seen
                && matches!(m.type_id, TYPE_AMF0_COMMAND | TYPE_AMF3_COMMAND)
                && amf.starts_with(AMF0_CONNECT)
            {
                self.connect_seen = true;
                self.connect = Some(amf.to_vec());
            }
        }
        self.payload.clear();
        if self.payload.capacity() > 4096 {
            self.payload = Vec::new();
        }
        Ok(())
    }
}

fn is_amf(type_id: u8) -> bool {
    matches!(
        type_id,
        TYPE_AMF3_DATA | TYPE_AMF3_COMMAND | TYPE_AMF0_DATA | TYPE_AMF0_COMMAND
    )
}

/// A container being scanned by [`amf0_depth_exceeds`].
enum Frame {
    /// Strict array: values left to read.
    Array(u32),
    /// Object or ECMA array: properties until an empty name and 0x09.
    Object,
}

/// Whether `rml_amf0 0.3`'s `deserialize` would nest deeper than `max_depth` containers on
/// `b`. Iterative, O(len) time, memory proportional to `max_depth`. It follows the parser's
/// reading (strict array, object and ECMA array markers open a level; 0x09 in place of a
/// value ends an array and the top level; truncated input ends everything) and stops where
/// the parser would fail, so it finds the depth the parser reaches; where it is unsure it reads
/// on, which can only over-count.
pub fn amf0_depth_exceeds(b: &[u8], max_depth: usize) -> bool {
    let mut stack: Vec<Frame> = Vec::new();
    let mut at = 0usize;
    // Reads one value at `at`: Some(true) if it opened a container, Some(false) if it was a
    // scalar, None if the parser returns "no value" (end marker or end of input) or fails.
    loop {
        let in_object = match stack.last_mut() {
            Some(Frame::Array(0)) => {
                stack.pop();
                continue;
            }
            Some(Frame::Array(left)) => {
                *left -= 1;
                false
            }
            Some(Frame::Object) => true,
            None => false,
        };
        if in_object {
            // Property: u16 name length; 0 ends the object (then the 0x09 byte).
            let Some(name) = b.get(at..at + 2) else {
                return false;
            };
            let name_len = usize::from(u16::from_be_bytes([name[0], name[1]]));
            at += 2;
            if name_len == 0 {
                if b.get(at) != Some(&0x09) {
                    return false;
                }
                at += 1;
                stack.pop();
                continue;
            }
            at = at.saturating_add(name_len);
            // A property's value must exist: a missing one is an error.
        }
        let Some(&marker) = b.get(at) else {
            return false;
        };
        at += 1;
        let opens = match marker {
            0x00 => {
                at = at.saturating_add(8);
                None
            }
            0x01 => {
                at = at.saturating_add(1);
                None
            }
            0x02 => {
                let Some(l) = b.get(at..at + 2) else {
                    return false;
                };
                at = at.saturating_add(2 + usize::from(u16::from_be_bytes([l[0], l[1]])));
                None
            }
            0x05 | 0x06 => None,
            0x03 => Some(Frame::Object),
            0x08 => {
                if b.len() < at + 4 {
                    return false;
                }
                at += 4;
                Some(Frame::Object)
            }
            0x0A => {
                let Some(c) = b.get(at..at + 4) else {
                    return false;
                };
                at += 4;
                Some(Frame::Array(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            }
            0x09 => {
                if in_object {
                    // A property without a value: the parser fails.
                    return false;
                }
                // "No value": ends the array it is in, or the whole message at the top level.
                if stack.pop().is_none() {
                    return false;
                }
                continue;
            }
            _ => return false,
        };
        if let Some(frame) = opens {
            if stack.len() >= max_depth {
                return true;
            }
            stack.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One message as a type-0 chunk on `csid` followed by type-3 continuations.
    fn message(csid: u8, type_id: u8, payload: &[u8], chunk_size: usize) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![csid, 0, 0, 0];
        out.extend(&len.to_be_bytes()[1..]);
        out.push(type_id);
        out.extend([1, 0, 0, 0]);
        for (i, c) in payload.chunks(chunk_size.max(1)).enumerate() {
            if i > 0 {
                out.push(0xC0 | csid);
            }
            out.extend_from_slice(c);
        }
        out
    }

    fn nested(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.extend([0x0A, 0, 0, 0, 1]);
        }
        v.push(0x05);
        v
    }

    fn authorized() -> ChunkGuard {
        let mut g = ChunkGuard::new(GuardLimits::default());
        g.authorize();
        g
    }

    /// `connect` as ffmpeg sends it (AMF0 command, an object of strings).
    fn connect_command() -> Vec<u8> {
        let mut v = vec![0x02, 0, 7];
        v.extend(b"connect");
        v.push(0x00);
        v.extend(1f64.to_be_bytes());
        v.push(0x03);
        for (k, val) in [("app", "live"), ("tcUrl", "rtmp://127.0.0.1/live")] {
            v.extend((k.len() as u16).to_be_bytes());
            v.extend(k.as_bytes());
            v.push(0x02);
            v.extend((val.len() as u16).to_be_bytes());
            v.extend(val.as_bytes());
        }
        v.extend([0, 0, 0x09]);
        v
    }

    #[test]
    fn depth_scanner_counts_every_container_kind() {
        assert!(!amf0_depth_exceeds(&nested(32), 32));
        assert!(amf0_depth_exceeds(&nested(33), 32));
        // Objects: 03, name "a", value 03 ...
        let mut objects = Vec::new();
        for _ in 0..40 {
            objects.extend([0x03, 0, 1, b'a']);
        }
        assert!(amf0_depth_exceeds(&objects, 32));
        // ECMA arrays.
        let mut ecma = Vec::new();
        for _ in 0..40 {
            ecma.extend([0x08, 0, 0, 0, 1, 0, 1, b'a']);
        }
        assert!(amf0_depth_exceeds(&ecma, 32));
        // Wide but flat is fine: 10,000 siblings in one array, then nothing deeper.
        let mut wide = vec![0x0A, 0, 0, 0x27, 0x10];
        for _ in 0..10_000 {
            wide.extend([0x01, 1]);
        }
        assert!(!amf0_depth_exceeds(&wide, 2));
        assert!(!amf0_depth_exceeds(&connect_command(), 1));
        // Closed containers do not add up: ten arrays one after the other.
        let mut seq = Vec::new();
        for _ in 0..10 {
            seq.extend([0x0A, 0, 0, 0, 1, 0x05]);
        }
        assert!(!amf0_depth_exceeds(&seq, 1));
        // 0x09 ends an array early; the next value is at the outer level again.
        let mut early = Vec::new();
        for _ in 0..10 {
            early.extend([0x0A, 0, 0, 0, 9, 0x09]);
        }
        assert!(!amf0_depth_exceeds(&early, 1));
        // An unknown marker stops the parser (and the scan).
        assert!(!amf0_depth_exceeds(&[0x0C, 0x0A, 0, 0, 0, 1], 0));
    }

    #[test]
    fn the_nested_array_message_of_c1_is_refused_at_its_header() {
        let bytes = message(3, 20, &nested(2_000_000), 128);
        let mut g = ChunkGuard::new(GuardLimits::default());
        let e = g.inspect(&bytes[..200]).unwrap_err();
        assert!(matches!(
            e,
            Refusal::MessageTooLong {
                type_id: 20,
                authorized: false,
                ..
            }
        ));
        assert!(e.to_string().contains("connect and publish"), "{e}");
        // After the publish, too: AMF messages are capped at 64 KiB.
        let e = authorized().inspect(&bytes[..200]).unwrap_err();
        assert!(
            matches!(e, Refusal::MessageTooLong { limit: 65536, .. }),
            "{e}"
        );
    }

    #[test]
    fn deep_amf_within_the_size_cap_is_refused_before_the_last_chunk_passes() {
        // 13,000 levels in 65 KB would still overflow a 2 MiB stack in rml_amf0.
        let payload = nested(13_000);
        let bytes = message(3, 20, &payload, 128);
        let mut g = authorized();
        let last = bytes.len() - 10;
        // Everything but the end passes: the message is not complete, rml_rtmp cannot parse it.
        g.inspect(&bytes[..last]).unwrap();
        let e = g.inspect(&bytes[last..]).unwrap_err();
        assert_eq!(
            e,
            Refusal::AmfTooDeep {
                type_id: 20,
                limit: 32
            }
        );
        // Type 17 (a 0 byte, then AMF0) and data messages too.
        for (t, p) in [
            (17u8, [&[0u8][..], &nested(40)].concat()),
            (18, nested(40)),
            (15, nested(40)),
        ] {
            let e = authorized().inspect(&message(3, t, &p, 128)).unwrap_err();
            assert!(matches!(e, Refusal::AmfTooDeep { .. }), "type {t}: {e}");
        }
    }

    #[test]
    fn a_normal_session_passes_in_any_cut() {
        let mut stream = Vec::new();
        stream.extend(message(2, 1, &4096u32.to_be_bytes(), 128));
        stream.extend(message(3, 20, &connect_command(), 128));
        let mut big_video = message(6, 9, &vec![0x17; 100_000], 4096);
        // A type-1 header (new length), then a type-2 and a type-3 header for the next ones.
        big_video.extend([0x46, 0, 0, 40, 0, 0, 10, 9]);
        big_video.extend([0x27; 10]);
        big_video.extend([0x86, 0, 0, 40]);
        big_video.extend([0x27; 10]);
        big_video.push(0xC6);
        big_video.extend([0x27; 10]);
        for cut in [1usize, 2, 3, 7, 17, 128, 4097, 65536] {
            let mut g = ChunkGuard::new(GuardLimits::default());
            for piece in stream.chunks(cut) {
                g.inspect(piece).unwrap();
            }
            assert_eq!(g.messages_seen(), 2);
            g.authorize();
            for piece in big_video.chunks(cut) {
                g.inspect(piece).unwrap();
            }
            assert_eq!(g.messages_seen(), 6, "cut {cut}");
        }
    }

    #[test]
    fn limits_before_the_publish() {
        // Any message above 8 KiB, media included.
        let e = ChunkGuard::new(GuardLimits::default())
            .inspect(&message(6, 9, &[0; 9000], 128)[..20])
            .unwrap_err();
        assert!(matches!(
            e,
            Refusal::MessageTooLong {
                type_id: 9,
                limit: 8192,
                ..
            }
        ));
        // Many small messages: 64 KiB in all.
        let mut g = ChunkGuard::new(GuardLimits::default());
        let one = message(3, 20, &connect_command(), 128);
        let mut result = Ok(());
        for _ in 0..2000 {
            result = g.inspect(&one);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result.unwrap_err(),
            Refusal::TooMuchBeforePublish { limit: 65536 }
        );
        // Once authorized, neither applies.
        let mut g = authorized();
        for _ in 0..2000 {
            g.inspect(&one).unwrap();
        }
        g.inspect(&message(2, 1, &4096u32.to_be_bytes(), 128))
            .unwrap();
        g.inspect(&message(6, 9, &vec![0; 1_000_000], 4096))
            .unwrap();
        let e = g
            .inspect(&message(6, 9, &vec![0; 9 * 1024 * 1024], 4096)[..30])
            .unwrap_err();
        assert!(matches!(
            e,
            Refusal::MessageTooLong {
                type_id: 9,
                authorized: true,
                ..
            }
        ));
    }

    #[test]
    fn chunk_size_and_chunk_stream_limits() {
        for size in [0u32, 0x100_0000, 0x7FFF_FFFF, 0xFFFF_FFFF] {
            let e = authorized()
                .inspect(&message(2, 1, &size.to_be_bytes(), 128))
                .unwrap_err();
            assert_eq!(
                e,
                Refusal::BadChunkSize {
                    size: Some(size),
                    limit: 0xFF_FFFF
                }
            );
        }
        let e = authorized()
            .inspect(&message(2, 1, &[0, 1], 128))
            .unwrap_err();
        assert!(matches!(e, Refusal::BadChunkSize { size: None, .. }));
        // 64 chunk streams are fine, the 65th is not (3-byte basic headers: csid 64+).
        let mut g = authorized();
        for csid in 0..64u32 {
            let id = csid + 64;
            let mut h = vec![0x01, (id - 64) as u8, ((id - 64) >> 8) as u8];
            h.extend([0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0x17]);
            g.inspect(&h).unwrap();
        }
        let e = g
            .inspect(&[0x01, 200, 0, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0x17])
            .unwrap_err();
        assert_eq!(e, Refusal::TooManyChunkStreams { limit: 64 });
    }

    #[test]
    fn what_rml_rtmp_cannot_parse_is_refused() {
        // Interleaved: csid 3's message is unfinished when csid 4 sends a chunk.
        let mut v = vec![0x03, 0, 0, 0, 0, 0, 200, 0x08, 1, 0, 0, 0];
        v.extend([0u8; 128]);
        v.extend([0x04, 0, 0, 0, 0, 0, 10, 0x08, 1, 0, 0, 0]);
        assert_eq!(
            authorized().inspect(&v).unwrap_err(),
            Refusal::Interleaved {
                unfinished_csid: 3,
                csid: 4
            }
        );
        // A type-1 header on a chunk stream never opened.
        assert_eq!(
            authorized().inspect(&[0x45, 0, 0, 0]).unwrap_err(),
            Refusal::NoPreviousHeader { csid: 5 }
        );
        // Extended timestamp 0 on a delta header.
        let mut v = message(2, 1, &4096u32.to_be_bytes(), 128);
        v.extend([0x42, 0xff, 0xff, 0xff, 0, 0, 4, 0x01, 0, 0, 0, 0]);
        assert_eq!(
            authorized().inspect(&v).unwrap_err(),
            Refusal::ExtendedTimestampTooSmall { csid: 2 }
        );
    }

    #[test]
    fn extended_timestamps_are_framed_like_rml_rtmp() {
        // Type 0 with timestamp field 0xFFFFFF: 4 more bytes, then on every type-3 chunk.
        let payload = vec![0x27u8; 300];
        let mut v = vec![0x06, 0xff, 0xff, 0xff, 0, 1, 44, 9, 1, 0, 0, 0, 1, 0, 0, 0];
        v.extend(&payload[..128]);
        v.extend([0xC6, 1, 0, 0, 0]);
        v.extend(&payload[128..256]);
        v.extend([0xC6, 1, 0, 0, 0]);
        v.extend(&payload[256..]);
        let mut g = authorized();
        for b in v.chunks(3) {
            g.inspect(b).unwrap();
        }
        assert_eq!(g.messages_seen(), 1);
        // Compared with rml_rtmp's own deserializer.
        let mut d = rml_rtmp::chunk_io::ChunkDeserializer::new();
        let m = d.get_next_message(&v).unwrap().unwrap();
        assert_eq!(m.data.len(), 300);
        assert!(d.get_next_message(&[]).unwrap().is_none());
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        fn any_message() -> impl Strategy<Value = (u8, u8, Vec<u8>)> {
            (
                2u8..8,
                prop_oneof![Just(8u8), Just(9), Just(18), Just(20), Just(4), Just(5)],
                proptest::collection::vec(any::<u8>(), 0..3000),
            )
        }

        proptest! {
            /// Well-formed streams of messages: the guard counts the same messages as
            /// rml_rtmp's deserializer, whatever the chunk size and however the reads cut them.
            #[test]
            fn agrees_with_rml_rtmp_on_message_boundaries(
                messages in proptest::collection::vec(any_message(), 1..12),
                chunk_size in prop_oneof![Just(128usize), Just(1), Just(7), Just(4096)],
                cut in 1usize..5000,
            ) {
                let mut bytes = message(2, 1, &(chunk_size as u32).to_be_bytes(), 128);
                for (csid, t, p) in &messages {
                    // AMF types get a flat payload: a string.
                    let p = if *t == 18 || *t == 20 {
                        let mut s = vec![0x02];
                        s.extend((p.len() as u16).to_be_bytes());
                        s.extend(p);
                        s
                    } else { p.clone() };
                    bytes.extend(message(*csid, *t, &p, chunk_size));
                }
                let mut g = authorized();
                for piece in bytes.chunks(cut) {
                    g.inspect(piece).unwrap();
                }
                let mut d = rml_rtmp::chunk_io::ChunkDeserializer::new();
                let mut n = 0u64;
                let mut input = &bytes[..];
                while let Some(m) = d.get_next_message(input).unwrap() {
                    input = &[];
                    n += 1;
                    if m.type_id == 1 {
                        d.set_max_chunk_size(chunk_size).unwrap();
                    }
                }
                prop_assert_eq!(g.messages_seen(), n);
                prop_assert_eq!(n, messages.len() as u64 + 1);
            }

            /// Arbitrary bytes: never a panic, and whatever passes the guard never holds a
            /// message above the caps in the guard's own buffer.
            #[test]
            fn arbitrary_input_never_panics(
                bytes in proptest::collection::vec(any::<u8>(), 0..4000),
                cut in 1usize..300,
                authorize in any::<bool>(),
            ) {
                let mut g = ChunkGuard::new(GuardLimits::default());
                if authorize { g.authorize(); }
                for piece in bytes.chunks(cut) {
                    if g.inspect(piece).is_err() { break; }
                    prop_assert!(g.payload.len() <= 64 * 1024);
                }
            }

            /// Depth: nested arrays/objects of random kinds are refused exactly above the cap.
            #[test]
            fn depth_cap_is_exact(kinds in proptest::collection::vec(0u8..3, 1..80), cap in 1usize..40) {
                let mut v = Vec::new();
                for k in &kinds {
                    match k {
                        0 => v.extend([0x0A, 0, 0, 0, 1]),
                        1 => v.extend([0x03, 0, 1, b'k']),
                        _ => v.extend([0x08, 0, 0, 0, 1, 0, 1, b'k']),
                    }
                }
                v.push(0x05);
                prop_assert_eq!(amf0_depth_exceeds(&v, cap), kinds.len() > cap);
                // And rml_amf0 parses what the scanner lets through (shallow enough here).
                if kinds.len() <= cap {
                    let parsed = rml_rtmp::rml_amf0::deserialize(&mut std::io::Cursor::new(&v));
                    prop_assert!(parsed.is_ok() || kinds.contains(&1) || kinds.contains(&2));
                }
            }
        }
    }
}
