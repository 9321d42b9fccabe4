//! Sans-IO RTMP server side of one TCP connection: the handshake and `rml_rtmp`'s
//! [`ServerSession`] behind one small API. Bytes in, [`RtmpEvent`]s and bytes to send out; no
//! socket, no clock. The fuzz target drives exactly this type.

use std::collections::HashMap;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeError, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::{MessageSerializationError, RtmpMessage};
use rml_rtmp::rml_amf0::{self, Amf0Value};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};

use super::chunk_guard::{ChunkGuard, GuardLimits, Refusal};

/// Outgoing chunk size announced to the publisher (RTMP's default of 128 makes even the small
/// answers of a server cost many chunk headers).
pub const OUTGOING_CHUNK_SIZE: u32 = 4096;

/// Enhanced RTMP v2 (veovera `enhanced-rtmp-v2`, "Reconnect Request"): the status code of the
/// NetConnection `onStatus` a server sends to ask the client to reconnect.
pub const RECONNECT_REQUEST_CODE: &str = "NetConnection.Connect.ReconnectRequest";
/// Enhanced RTMP v2 `CapsExMask.Reconnect`: the bit of the `connect` command object's `capsEx`
/// by which a client says it handles [`RECONNECT_REQUEST_CODE`].
pub const CAPS_EX_RECONNECT: u32 = 0x01;
/// The chunk stream of the reconnect request: 3, the NetConnection command stream clients use
/// (rml_rtmp's own answers go on 2 and 6, so its header compression is not disturbed).
const RECONNECT_REQUEST_CSID: u8 = 3;

/// What the publisher did, in the order it did it.
#[derive(Debug, Clone, PartialEq)]
pub enum RtmpEvent {
    /// `connect` to `app_name`: answer with [`RtmpSession::accept`] or [`RtmpSession::reject`].
    Connect {
        /// Pass back to accept/reject.
        request_id: u32,
        /// The RTMP application (`live`).
        app_name: String,
    },
    /// `publish` of `stream_key` (`{stream_name}?txSecret=..&txTime=..`): answer it.
    Publish {
        /// Pass back to accept/reject.
        request_id: u32,
        /// The RTMP application.
        app_name: String,
        /// Stream name and query string, as sent.
        stream_key: String,
    },
    /// `play`: zhibo serves viewers over HLS only; refuse it.
    Play {
        /// Pass back to reject.
        request_id: u32,
    },
    /// An FLV video tag body.
    Video {
        /// RTMP timestamp, milliseconds.
        timestamp: u32,
        /// The tag body.
        data: Bytes,
    },
    /// An FLV audio tag body.
    Audio {
        /// RTMP timestamp, milliseconds.
        timestamp: u32,
        /// The tag body.
        data: Bytes,
    },
    /// `onMetaData` changed (nothing in it is needed for remuxing; HTTP-FLV viewers get it).
    Metadata(zhibo_media::flv_out::OnMetaData),
    /// `FCUnpublish`/`deleteStream`/`closeStream`: the publisher is done.
    PublishFinished,
}

/// The input broke the RTMP protocol, or the session cannot go on; the connection must be
/// closed. The text says how; the cause is kept as the error's source.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    /// The handshake bytes were wrong.
    #[error("RTMP handshake failed: {0}")]
    Handshake(#[source] HandshakeError),
    /// `rml_rtmp` could not start a session after the handshake.
    #[error("RTMP session setup failed: {0}")]
    Setup(#[source] ServerSessionError),
    /// Session bytes or a request answer before the handshake completed.
    #[error("RTMP session is not established")]
    NotEstablished,
    /// The chunk guard refused the input before `rml_rtmp` saw it.
    #[error("{0}")]
    Guard(#[from] Refusal),
    /// `rml_rtmp` refused the session bytes.
    #[error("malformed RTMP data: {0}")]
    Session(#[source] ServerSessionError),
    /// Accepting a `connect` or `publish` request failed.
    #[error("cannot accept request {request_id}: {source}")]
    Accept {
        /// The request.
        request_id: u32,
        /// Why.
        #[source]
        source: ServerSessionError,
    },
    /// Rejecting a request failed.
    #[error("cannot reject request {request_id}: {source}")]
    Reject {
        /// The request.
        request_id: u32,
        /// Why.
        #[source]
        source: ServerSessionError,
    },
    /// The reconnect request could not be encoded.
    #[error("cannot encode the reconnect request: {0}")]
    ReconnectRequest(#[source] MessageSerializationError),
    /// `rml_rtmp` panicked on the input (see [`guarded`]).
    #[error("malformed {what} (the RTMP parser rejected it: {detail})")]
    Panicked {
        /// What was being parsed.
        what: &'static str,
        /// The panic message.
        detail: String,
    },
}

/// One connection's protocol state.
pub struct RtmpSession {
    handshake: Option<Handshake>,
    session: Option<ServerSession>,
    /// Checks every byte of the chunk stream before `rml_rtmp` parses it.
    guard: ChunkGuard,
    outbound: Vec<u8>,
    /// The `capsEx` of the client's `connect` (0: none, or not a number).
    caps_ex: u32,
}

impl Default for RtmpSession {
    fn default() -> Self {
        Self::new()
    }
}

impl RtmpSession {
    /// A connection that has not received a byte yet, with the default [`GuardLimits`].
    pub fn new() -> RtmpSession {
        RtmpSession::with_limits(GuardLimits::default())
    }

    /// A connection that has not received a byte yet.
    pub fn with_limits(limits: GuardLimits) -> RtmpSession {
        RtmpSession {
            handshake: Some(Handshake::new(PeerType::Server)),
            session: None,
            guard: ChunkGuard::new(limits),
            outbound: Vec::new(),
            caps_ex: 0,
        }
    }

    /// The publish was authorized: lifts the pre-publish limits of the chunk stream (call it
    /// after accepting the `publish`).
    pub fn publish_authorized(&mut self) {
        self.guard.authorize();
    }

    /// Whether the handshake is over.
    pub fn is_established(&self) -> bool {
        self.session.is_some()
    }

    /// Feeds bytes read from the socket; appends what they caused to `events`.
    pub fn on_bytes(&mut self, input: &[u8], events: &mut Vec<RtmpEvent>) -> Result<(), RtmpError> {
        if let Some(handshake) = self.handshake.as_mut() {
            let result = guarded("RTMP handshake", || handshake.process_bytes(input))?
                .map_err(RtmpError::Handshake)?;
            match result {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.outbound.extend_from_slice(&response_bytes);
                    return Ok(());
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.outbound.extend_from_slice(&response_bytes);
                    self.handshake = None;
                    let config = ServerSessionConfig {
                        chunk_size: OUTGOING_CHUNK_SIZE,
                        ..ServerSessionConfig::new()
                    };
                    let (session, results) =
                        ServerSession::new(config).map_err(RtmpError::Setup)?;
                    self.session = Some(session);
                    self.absorb(results, events);
                    if remaining_bytes.is_empty() {
                        return Ok(());
                    }
                    return self.feed_session(&remaining_bytes, events);
                }
            }
        }
        self.feed_session(input, events)
    }

    fn feed_session(&mut self, input: &[u8], events: &mut Vec<RtmpEvent>) -> Result<(), RtmpError> {
        let Some(session) = self.session.as_mut() else {
            return Err(RtmpError::NotEstablished);
        };
        // Before rml_rtmp sees a byte of it: a message that completes in `input` has been
        // checked whole.
        self.guard.inspect(input)?;
        let results =
            guarded("RTMP data", || session.handle_input(input))?.map_err(RtmpError::Session)?;
        self.absorb(results, events);
        Ok(())
    }

    /// Accepts a `connect` or `publish` request.
    pub fn accept(&mut self, request_id: u32) -> Result<(), RtmpError> {
        let mut events = Vec::new();
        let results = self
            .session_mut()?
            .accept_request(request_id)
            .map_err(|source| RtmpError::Accept { request_id, source })?;
        self.absorb(results, &mut events);
        Ok(())
    }

    /// Refuses a request with an RTMP status `code` (e.g. `NetStream.Publish.BadName`) and a
    /// description the publisher shows to its user.
    pub fn reject(
        &mut self,
        request_id: u32,
        code: &str,
        description: &str,
    ) -> Result<(), RtmpError> {
        let mut events = Vec::new();
        let results = self
            .session_mut()?
            .reject_request(request_id, code, description)
            .map_err(|source| RtmpError::Reject { request_id, source })?;
        self.absorb(results, &mut events);
        Ok(())
    }

    /// Whether the client's `connect` advertised Enhanced RTMP's reconnect capability
    /// (`capsEx` with [`CAPS_EX_RECONNECT`]): only then may [`RtmpSession::request_reconnect`]
    /// be used.
    pub fn peer_accepts_reconnect_request(&self) -> bool {
        self.caps_ex & CAPS_EX_RECONNECT != 0
    }

    /// Queues an Enhanced RTMP reconnect request (see [`reconnect_request`]) on the outbound
    /// bytes: the client finishes its current media up to a boundary, connects again to the
    /// same URL (through the load balancer: another worker) and then leaves this one.
    pub fn request_reconnect(&mut self, description: &str) -> Result<(), RtmpError> {
        if !self.is_established() {
            return Err(RtmpError::NotEstablished);
        }
        let bytes = reconnect_request(None, description, OUTGOING_CHUNK_SIZE)
            .map_err(RtmpError::ReconnectRequest)?;
        self.outbound.extend_from_slice(&bytes);
        Ok(())
    }

    /// Bytes waiting to be written to the socket (then call [`RtmpSession::clear_outbound`]).
    pub fn outbound(&self) -> &[u8] {
        &self.outbound
    }

    /// Forgets the bytes returned by [`RtmpSession::outbound`] once written.
    pub fn clear_outbound(&mut self) {
        self.outbound.clear();
    }

    fn session_mut(&mut self) -> Result<&mut ServerSession, RtmpError> {
        self.session.as_mut().ok_or(RtmpError::NotEstablished)
    }

    fn absorb(&mut self, results: Vec<ServerSessionResult>, events: &mut Vec<RtmpEvent>) {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    self.outbound.extend_from_slice(&packet.bytes)
                }
                ServerSessionResult::RaisedEvent(event) => {
                    if matches!(event, ServerSessionEvent::ConnectionRequested { .. }) {
                        // The guard has seen the whole command before rml_rtmp raised this.
                        if let Some(command) = self.guard.take_connect_command() {
                            self.caps_ex = connect_caps_ex(&command);
                        }
                    }
                    if let Some(e) = translate(event) {
                        events.push(e);
                    }
                }
                // User control, aggregate and other messages a publisher may send that carry
                // nothing we need.
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }
}

/// Runs an `rml_rtmp` parser on untrusted bytes. rml_rtmp 0.8 panics on some malformed input
/// (an AMF0 command with fewer than three values, a chunk of another chunk stream inside an
/// unfinished message, an extended timestamp below 0xFFFFFF: found by `fuzz/`'s `rtmp_ingest`);
/// such a panic becomes an error that closes this connection only. The session is not used again
/// after an error.
fn guarded<T>(what: &'static str, parse: impl FnOnce() -> T) -> Result<T, RtmpError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).map_err(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        RtmpError::Panicked { what, detail }
    })
}

/// The `capsEx` number of a `connect` command's object (AMF0 values: `connect`, transaction
/// id, command object, ...); 0 when it is missing, not a number or the command does not parse.
fn connect_caps_ex(command: &[u8]) -> u32 {
    let values = guarded("connect command", || {
        rml_amf0::deserialize(&mut std::io::Cursor::new(command))
    });
    let Ok(Ok(values)) = values else {
        return 0;
    };
    let caps = values.into_iter().nth(2).and_then(|object| match object {
        Amf0Value::Object(mut properties) => properties.remove("capsEx"),
        _ => None,
    });
    match caps {
        // A bit mask sent as an AMF0 number: anything else is no capability.
        Some(Amf0Value::Number(n)) if n.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&n) => {
            n as u32
        }
        _ => 0,
    }
}

/// The chunk bytes of an Enhanced RTMP v2 reconnect request: the NetConnection command
/// `onStatus` (message stream 0, transaction id 0, null command object) whose info object has
/// `level: "status"`, `code: "NetConnection.Connect.ReconnectRequest"`, `description` and, if
/// given, `tcUrl` (absent: reconnect to the URL of the current connection). Type-0 header on
/// chunk stream 3, split at `chunk_size` (the size announced to the peer).
pub fn reconnect_request(
    tc_url: Option<&str>,
    description: &str,
    chunk_size: u32,
) -> Result<Vec<u8>, MessageSerializationError> {
    let mut info = HashMap::new();
    info.insert("level".to_string(), Amf0Value::Utf8String("status".into()));
    info.insert(
        "code".to_string(),
        Amf0Value::Utf8String(RECONNECT_REQUEST_CODE.into()),
    );
    info.insert(
        "description".to_string(),
        Amf0Value::Utf8String(description.into()),
    );
    if let Some(url) = tc_url {
        info.insert("tcUrl".to_string(), Amf0Value::Utf8String(url.into()));
    }
    let message = RtmpMessage::Amf0Command {
        command_name: "onStatus".into(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(info)],
    };
    let payload = message.into_message_payload(rml_rtmp::time::RtmpTimestamp::new(0), 0)?;
    let data = &payload.data[..];
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX).min(0xFF_FFFF);
    let mut out = Vec::with_capacity(data.len() + 16);
    // fmt 0: timestamp 0, message length (24 bits), type, message stream id 0 (little endian).
    out.push(RECONNECT_REQUEST_CSID);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(payload.type_id);
    out.extend_from_slice(&0u32.to_le_bytes());
    let chunk = usize::try_from(chunk_size.max(1)).unwrap_or(usize::MAX);
    for (i, piece) in data.chunks(chunk).enumerate() {
        if i > 0 {
            // fmt 3: continues the message on the same chunk stream.
            out.push(0xC0 | RECONNECT_REQUEST_CSID);
        }
        out.extend_from_slice(piece);
    }
    Ok(out)
}

fn translate(event: ServerSessionEvent) -> Option<RtmpEvent> {
    Some(match event {
        ServerSessionEvent::ConnectionRequested {
            request_id,
            app_name,
        } => RtmpEvent::Connect {
            request_id,
            app_name,
        },
        ServerSessionEvent::PublishStreamRequested {
            request_id,
            app_name,
            stream_key,
            ..
        } => RtmpEvent::Publish {
            request_id,
            app_name,
            stream_key,
        },
        ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
            RtmpEvent::Play { request_id }
        }
        ServerSessionEvent::VideoDataReceived {
            data, timestamp, ..
        } => RtmpEvent::Video {
            timestamp: timestamp.value,
            data,
        },
        ServerSessionEvent::AudioDataReceived {
            data, timestamp, ..
        } => RtmpEvent::Audio {
            timestamp: timestamp.value,
            data,
        },
        ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
            RtmpEvent::Metadata(zhibo_media::flv_out::OnMetaData {
                width: metadata.video_width,
                height: metadata.video_height,
                frame_rate: metadata.video_frame_rate.map(f64::from),
                video_data_rate_kbps: metadata.video_bitrate_kbps,
                video_codec_id: metadata.video_codec_id,
                audio_data_rate_kbps: metadata.audio_bitrate_kbps,
                audio_sample_rate: metadata.audio_sample_rate,
                stereo: metadata.audio_is_stereo,
                audio_codec_id: metadata.audio_codec_id,
                encoder: metadata.encoder,
            })
        }
        ServerSessionEvent::PublishStreamFinished { .. } => RtmpEvent::PublishFinished,
        // ffmpeg's releaseStream/FCPublish/FCUnpublish arrive as unhandleable AMF0 commands and
        // need no answer; acks, pings and chunk size changes are handled inside rml_rtmp.
        ServerSessionEvent::ReleaseStreamRequested { .. }
        | ServerSessionEvent::UnhandleableAmf0Command { .. }
        | ServerSessionEvent::ClientChunkSizeChanged { .. }
        | ServerSessionEvent::PlayStreamFinished { .. }
        | ServerSessionEvent::AcknowledgementReceived { .. }
        | ServerSessionEvent::PingResponseReceived { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_before_the_handshake_is_an_error_not_a_panic() {
        let mut s = RtmpSession::new();
        let mut events = Vec::new();
        // Version byte 0x47 is not RTMP (3).
        let r = s.on_bytes(&[0x47; 4000], &mut events);
        assert!(r.is_err() || !s.is_established());
    }

    /// The handshake a client sends: C0+C1, then C2.
    fn established() -> RtmpSession {
        let mut s = RtmpSession::new();
        let mut events = Vec::new();
        let mut hello = vec![3u8];
        hello.extend(std::iter::repeat_n(0u8, 1536));
        s.on_bytes(&hello, &mut events).unwrap();
        s.on_bytes(&[0u8; 1536], &mut events).unwrap();
        assert!(s.is_established());
        s
    }

    /// Inputs found by `fuzz/` that make rml_rtmp 0.8 panic: each must end in an error.
    #[test]
    fn inputs_that_panic_the_rtmp_library_are_errors() {
        let interleaved = {
            // csid 3, type 0, length 200, first 128-byte chunk; then csid 4, type 0, length 10.
            let mut v = vec![0x03, 0, 0, 0, 0, 0, 200, 0x08, 1, 0, 0, 0];
            v.extend([0u8; 128]);
            v.extend([0x04, 0, 0, 0, 0, 0, 10, 0x08, 1, 0, 0, 0]);
            v.extend([0u8; 10]);
            v
        };
        let extended_timestamp = {
            // Set Chunk Size (csid 2, type 0), then a type-1 header on csid 2 with delta ffffff
            // and an extended timestamp of 0.
            let mut v = vec![0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0, 0, 0x10, 0];
            v.extend([
                0x42, 0xff, 0xff, 0xff, 0, 0, 4, 0x01, 0, 0, 0, 0, 0, 0, 0x10, 0,
            ]);
            v
        };
        let cases: [(&str, Vec<u8>); 3] = [
            (
                "AMF0 command with one value",
                vec![0x03, 0, 0, 0, 0, 0, 4, 0x14, 0, 0, 0, 0, 0x02, 0, 1, b'x'],
            ),
            ("interleaved chunk streams", interleaved),
            ("extended timestamp below 0xffffff", extended_timestamp),
        ];
        for (name, bytes) in cases {
            let mut s = established();
            let mut events = Vec::new();
            let mut result = Ok(());
            for chunk in bytes.chunks(7) {
                result = s.on_bytes(chunk, &mut events);
                if result.is_err() {
                    break;
                }
            }
            // (In release builds the third one wraps instead of panicking: no error there.)
            let e = result.expect_err(name);
            // rml_rtmp's panic, caught, or the chunk guard's refusal before it.
            assert!(
                e.to_string().contains("malformed") || e.to_string().contains("RTMP message chunk"),
                "{name}: {e}"
            );
            // Whole, in one read, too.
            let _ = established().on_bytes(&bytes, &mut Vec::new());
        }
    }

    /// C1 of the security review, sans IO: the 10 MB message of nested AMF0 arrays is an error
    /// for this connection, not a stack overflow (which would abort the whole process).
    #[test]
    fn nested_amf_message_is_an_error() {
        let mut payload = Vec::new();
        for _ in 0..2_000_000 {
            payload.extend([0x0A, 0, 0, 0, 1]);
        }
        payload.push(0x05);
        let len = payload.len() as u32;
        let mut bytes = vec![0x03, 0, 0, 0];
        bytes.extend(&len.to_be_bytes()[1..]);
        bytes.extend([0x14, 0, 0, 0, 0]);
        for (i, c) in payload.chunks(128).enumerate() {
            if i > 0 {
                bytes.push(0xC3);
            }
            bytes.extend_from_slice(c);
        }
        let mut s = established();
        let mut events = Vec::new();
        let mut result = Ok(());
        for read in bytes.chunks(64 * 1024) {
            result = s.on_bytes(read, &mut events);
            if result.is_err() {
                break;
            }
        }
        let e = result.expect_err("the nested message must be refused");
        assert!(matches!(e, RtmpError::Guard(_)), "{e:?}");
        assert!(
            e.to_string().contains("before the publish was authorized"),
            "{e}"
        );
        // The same message after a publish is authorized: over the AMF size cap.
        let mut s = established();
        s.publish_authorized();
        let e = s.on_bytes(&bytes[..64 * 1024], &mut events).unwrap_err();
        assert!(matches!(e, RtmpError::Guard(_)), "{e:?}");
        assert!(e.to_string().contains("at most 65536"), "{e}");
    }

    /// The chunk bytes of a `connect` command whose object holds `app: live` and `extra`.
    fn connect_command(extra: Vec<(&str, Amf0Value)>) -> Vec<u8> {
        let mut object = HashMap::new();
        object.insert("app".to_string(), Amf0Value::Utf8String("live".into()));
        for (k, v) in extra {
            object.insert(k.to_string(), v);
        }
        let message = RtmpMessage::Amf0Command {
            command_name: "connect".into(),
            transaction_id: 1.0,
            command_object: Amf0Value::Object(object),
            additional_arguments: vec![],
        };
        let payload = message
            .into_message_payload(rml_rtmp::time::RtmpTimestamp::new(0), 0)
            .unwrap();
        rml_rtmp::chunk_io::ChunkSerializer::new()
            .serialize(&payload, true, false)
            .unwrap()
            .bytes
    }

    fn connected(extra: Vec<(&str, Amf0Value)>) -> RtmpSession {
        let mut s = established();
        let mut events = Vec::new();
        // In small reads: the guard and rml_rtmp see the command cut anywhere.
        for piece in connect_command(extra).chunks(5) {
            s.on_bytes(piece, &mut events).unwrap();
        }
        assert!(
            matches!(events.as_slice(), [RtmpEvent::Connect { app_name, .. }] if app_name == "live"),
            "{events:?}"
        );
        s
    }

    #[test]
    fn the_reconnect_capability_is_read_from_connect() {
        let capable = connected(vec![("capsEx", Amf0Value::Number(1.0))]);
        assert!(capable.peer_accepts_reconnect_request());
        // Other E-RTMP bits with it (Reconnect | Multitrack | ModEx).
        let more = connected(vec![("capsEx", Amf0Value::Number(7.0))]);
        assert!(more.peer_accepts_reconnect_request());
        for (name, extra) in [
            ("no capsEx", vec![]),
            (
                "capsEx without the bit",
                vec![("capsEx", Amf0Value::Number(2.0))],
            ),
            (
                "capsEx as a string",
                vec![("capsEx", Amf0Value::Utf8String("1".into()))],
            ),
            ("capsEx negative", vec![("capsEx", Amf0Value::Number(-1.0))]),
            (
                "capsEx not finite",
                vec![("capsEx", Amf0Value::Number(f64::NAN))],
            ),
        ] {
            assert!(!connected(extra).peer_accepts_reconnect_request(), "{name}");
        }
        // Before any connect: none.
        assert!(!established().peer_accepts_reconnect_request());
    }

    /// Reads `bytes` back as a peer does (rml_rtmp's chunk deserializer at `chunk_size`).
    fn decode(bytes: &[u8], chunk_size: u32) -> rml_rtmp::messages::MessagePayload {
        let mut d = rml_rtmp::chunk_io::ChunkDeserializer::new();
        d.set_max_chunk_size(chunk_size as usize).unwrap();
        let payload = d
            .get_next_message(bytes)
            .unwrap()
            .expect("one whole message");
        assert!(
            d.get_next_message(&[]).unwrap().is_none(),
            "nothing after the message"
        );
        payload
    }

    #[test]
    fn the_reconnect_request_decodes_as_the_enhanced_rtmp_on_status() {
        for (tc_url, chunk_size) in [
            (None, OUTGOING_CHUNK_SIZE),
            (
                Some("rtmp://ingest.example.com:1935/live"),
                OUTGOING_CHUNK_SIZE,
            ),
            // Split over several chunks.
            (None, 16),
        ] {
            let bytes = reconnect_request(tc_url, "zhibo is restarting", chunk_size).unwrap();
            // Type-0 header on chunk stream 3.
            assert_eq!(bytes[0], 0x03, "{bytes:02x?}");
            let payload = decode(&bytes, chunk_size);
            assert_eq!(payload.message_stream_id, 0);
            assert_eq!(payload.type_id, 20);
            let RtmpMessage::Amf0Command {
                command_name,
                transaction_id,
                command_object,
                mut additional_arguments,
            } = payload.to_rtmp_message().unwrap()
            else {
                panic!("not an AMF0 command");
            };
            assert_eq!(command_name, "onStatus");
            assert_eq!(transaction_id, 0.0);
            assert_eq!(command_object, Amf0Value::Null);
            assert_eq!(additional_arguments.len(), 1);
            let Some(Amf0Value::Object(info)) = additional_arguments.pop() else {
                panic!("the info object is not an object");
            };
            let text = |k: &str| match info.get(k) {
                Some(Amf0Value::Utf8String(v)) => Some(v.clone()),
                _ => None,
            };
            assert_eq!(text("level").as_deref(), Some("status"));
            assert_eq!(
                text("code").as_deref(),
                Some("NetConnection.Connect.ReconnectRequest")
            );
            assert_eq!(text("description").as_deref(), Some("zhibo is restarting"));
            assert_eq!(text("tcUrl").as_deref(), tc_url);
            assert_eq!(info.len(), 3 + usize::from(tc_url.is_some()));
        }
    }

    #[test]
    fn a_session_queues_the_reconnect_request_only_once_established() {
        let mut s = RtmpSession::new();
        assert!(s.request_reconnect("x").is_err());
        let mut s = connected(vec![("capsEx", Amf0Value::Number(1.0))]);
        s.clear_outbound();
        s.request_reconnect("zhibo is restarting").unwrap();
        let payload = decode(s.outbound(), OUTGOING_CHUNK_SIZE);
        let Ok(RtmpMessage::Amf0Command {
            command_name,
            additional_arguments,
            ..
        }) = payload.to_rtmp_message()
        else {
            panic!("not an AMF0 command");
        };
        assert_eq!(command_name, "onStatus");
        let Some(Amf0Value::Object(info)) = additional_arguments.first() else {
            panic!("no info object");
        };
        assert_eq!(
            info.get("code"),
            Some(&Amf0Value::Utf8String(RECONNECT_REQUEST_CODE.into()))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut s = RtmpSession::new();
            let mut events = Vec::new();
            // A valid C0+C1 so the input gets past the handshake into the chunk parser.
            let mut hello = vec![3u8];
            hello.extend(std::iter::repeat_n(0u8, 1536));
            let _ = s.on_bytes(&hello, &mut events);
            let _ = s.on_bytes(&[0u8; 1536], &mut events);
            for _ in 0..20 {
                let len = (seed % 700) as usize;
                let chunk: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                if s.on_bytes(&chunk, &mut events).is_err() {
                    break;
                }
            }
        }
    }
}
