//! Scale-in: at SIGTERM the worker sends the Enhanced RTMP v2 reconnect request
//! (`onStatus` `NetConnection.Connect.ReconnectRequest`) to publishers whose `connect`
//! advertised `capsEx` Reconnect, waits for them to leave, then closes the rest; publishers
//! that did not advertise it get no such message, only the close (they reconnect on their own).
//! The publishers are a minimal hand-written RTMP client: rml_rtmp's client session cannot put
//! `capsEx` in its `connect`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RECONNECT_REQUEST: &str = "NetConnection.Connect.ReconnectRequest";

/// What the worker sent a [`RawPublisher`].
#[derive(Debug)]
enum Received {
    Message {
        stream_id: u32,
        message: RtmpMessage,
    },
    Closed,
}

/// A publisher speaking RTMP by hand (rml_rtmp's chunk and AMF0 codecs, no session).
struct RawPublisher {
    socket: TcpStream,
    reader: ChunkDeserializer,
    writer: ChunkSerializer,
    buf: Vec<u8>,
    stashed: Option<Vec<u8>>,
}

impl RawPublisher {
    /// Handshake, `connect` (with `capsEx` if given), `createStream`, `publish` of `key`.
    async fn start(port: u16, caps_ex: Option<f64>, key: &str) -> RawPublisher {
        let mut socket = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the worker");
        let _ = socket.set_nodelay(true);
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().expect("C0+C1");
        socket.write_all(&c0c1).await.expect("send C0+C1");
        let mut buf = vec![0u8; 64 * 1024];
        let remaining = loop {
            let n = socket.read(&mut buf).await.expect("read the handshake");
            assert!(n > 0, "the worker closed the connection in the handshake");
            match handshake
                .process_bytes(&buf[..n])
                .expect("a valid handshake")
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes).await.expect("send C2");
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket.write_all(&response_bytes).await.expect("send C2");
                    break remaining_bytes;
                }
            }
        };
        let mut p = RawPublisher {
            socket,
            reader: ChunkDeserializer::new(),
            writer: ChunkSerializer::new(),
            buf,
            // Read by the first `next`: the worker's first messages may follow S2 at once.
            stashed: Some(remaining),
        };

        let mut object = HashMap::new();
        let text = |s: &str| Amf0Value::Utf8String(s.into());
        object.insert("app".to_string(), text("live"));
        object.insert("type".to_string(), text("nonprivate"));
        object.insert(
            "flashVer".to_string(),
            text("FMLE/3.0 (compatible; zhibo-test)"),
        );
        object.insert(
            "tcUrl".to_string(),
            text(&format!("rtmp://127.0.0.1:{port}/live")),
        );
        if let Some(caps) = caps_ex {
            object.insert("capsEx".to_string(), Amf0Value::Number(caps));
        }
        p.command(0, "connect", 1.0, Amf0Value::Object(object), vec![])
            .await;
        p.wait_result(1.0).await;
        p.command(0, "createStream", 2.0, Amf0Value::Null, vec![])
            .await;
        let stream_id = match p.wait_result(2.0).await.first() {
            Some(Amf0Value::Number(id)) => *id as u32,
            other => panic!("createStream answered {other:?}"),
        };
        p.command(
            stream_id,
            "publish",
            3.0,
            Amf0Value::Null,
            vec![text(key), text("live")],
        )
        .await;
        loop {
            match p.next().await {
                Received::Message {
                    message:
                        RtmpMessage::Amf0Command {
                            command_name,
                            additional_arguments,
                            ..
                        },
                    ..
                } if command_name == "onStatus" => {
                    let code = status_code(&additional_arguments);
                    assert_eq!(
                        code.as_deref(),
                        Some("NetStream.Publish.Start"),
                        "publish refused: {additional_arguments:?}"
                    );
                    break;
                }
                Received::Closed => panic!("the worker closed the connection at publish"),
                Received::Message { .. } => {}
            }
        }
        p
    }

    async fn command(
        &mut self,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        command_object: Amf0Value,
        additional_arguments: Vec<Amf0Value>,
    ) {
        let message = RtmpMessage::Amf0Command {
            command_name: name.into(),
            transaction_id,
            command_object,
            additional_arguments,
        };
        let payload = message
            .into_message_payload(RtmpTimestamp::new(0), stream_id)
            .expect("encode a command");
        let packet = self
            .writer
            // Compressed headers allowed: a forced type-0 header on every chunk of a message
            // longer than a chunk would break it.
            .serialize(&payload, false, false)
            .expect("chunk a command");
        self.socket
            .write_all(&packet.bytes)
            .await
            .expect("send a command");
    }

    /// The arguments of the `_result` of `transaction_id`.
    async fn wait_result(&mut self, transaction_id: f64) -> Vec<Amf0Value> {
        loop {
            match self.next().await {
                Received::Message {
                    message:
                        RtmpMessage::Amf0Command {
                            command_name,
                            transaction_id: t,
                            additional_arguments,
                            ..
                        },
                    ..
                } if t == transaction_id => {
                    assert_eq!(command_name, "_result", "{additional_arguments:?}");
                    return additional_arguments;
                }
                Received::Closed => panic!("the worker closed the connection"),
                Received::Message { .. } => {}
            }
        }
    }

    /// The next message from the worker, or `Closed` at the end of the socket (60 s at most).
    async fn next(&mut self) -> Received {
        let mut input = self.stashed.take().unwrap_or_default();
        loop {
            let parsed = self
                .reader
                .get_next_message(&input)
                .expect("valid chunks from the worker");
            input.clear();
            if let Some(payload) = parsed {
                let message = payload.to_rtmp_message().expect("a valid RTMP message");
                if let RtmpMessage::SetChunkSize { size } = message {
                    self.reader
                        .set_max_chunk_size(size as usize)
                        .expect("a usable chunk size");
                }
                return Received::Message {
                    stream_id: payload.message_stream_id,
                    message,
                };
            }
            let read =
                tokio::time::timeout(Duration::from_secs(60), self.socket.read(&mut self.buf))
                    .await
                    .expect("the worker neither sent anything nor closed within 60 s");
            match read {
                Ok(0) | Err(_) => return Received::Closed,
                Ok(n) => input.extend_from_slice(&self.buf[..n]),
            }
        }
    }

    /// Reads until the reconnect request (returning its info object) or the end of the
    /// socket (`None`); every message before it is ignored.
    async fn until_reconnect_request(&mut self) -> Option<HashMap<String, Amf0Value>> {
        loop {
            match self.next().await {
                Received::Closed => return None,
                Received::Message {
                    stream_id,
                    message:
                        RtmpMessage::Amf0Command {
                            command_name,
                            transaction_id,
                            command_object,
                            additional_arguments,
                        },
                } if command_name == "onStatus"
                    && status_code(&additional_arguments).as_deref() == Some(RECONNECT_REQUEST) =>
                {
                    assert_eq!(stream_id, 0, "a NetConnection command: message stream 0");
                    assert_eq!(transaction_id, 0.0);
                    assert_eq!(command_object, Amf0Value::Null);
                    match additional_arguments.into_iter().next() {
                        Some(Amf0Value::Object(info)) => return Some(info),
                        other => panic!("the info object is {other:?}"),
                    }
                }
                Received::Message { .. } => {}
            }
        }
    }
}

fn status_code(args: &[Amf0Value]) -> Option<String> {
    match args.first() {
        Some(Amf0Value::Object(info)) => match info.get("code") {
            Some(Amf0Value::Utf8String(code)) => Some(code.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_advertising_reconnect_are_asked_to_reconnect_at_sigterm() {
    let mut worker = WorkerProc::start(&[
        ("ZHIBO_RECONNECT_REQUEST_WAIT_S", "6"),
        ("ZHIBO_SHUTDOWN_GRACE_S", "30"),
        ("ZHIBO_IDLE_TIMEOUT_S", "120"),
    ])
    .await;
    // `leaver` goes when asked (as a compliant encoder does, after connecting elsewhere);
    // `stayer` ignores the request and is closed once the wait is over.
    let mut leaver =
        RawPublisher::start(worker.rtmp_port, Some(1.0), &signed_key(unique_room())).await;
    let mut stayer =
        RawPublisher::start(worker.rtmp_port, Some(3.0), &signed_key(unique_room())).await;
    wait_for(Duration::from_secs(10), "both publishes", || async {
        worker.metric("zhibo_streams").await == 2.0
    })
    .await;
    worker.sigterm();

    let info = leaver.until_reconnect_request().await.unwrap_or_else(|| {
        panic!(
            "closed without a reconnect request; log:\n{}",
            worker.log_text()
        )
    });
    let text = |k: &str| match info.get(k) {
        Some(Amf0Value::Utf8String(v)) => Some(v.clone()),
        _ => None,
    };
    assert_eq!(text("level").as_deref(), Some("status"));
    assert!(
        text("description").is_some_and(|d| d.contains("reconnect")),
        "{info:?}"
    );
    // No tcUrl: the same URL, which through the load balancer reaches another worker.
    assert!(!info.contains_key("tcUrl"), "{info:?}");
    drop(leaver);

    assert!(
        stayer.until_reconnect_request().await.is_some(),
        "the second publisher got no reconnect request; log:\n{}",
        worker.log_text()
    );
    // Counted while the worker still waits for the stayer.
    assert_eq!(worker.metric("zhibo_reconnect_requests_total").await, 2.0);
    // The stayer goes on publishing until the wait is over, then the shutdown closes it.
    loop {
        match stayer.next().await {
            Received::Closed => break,
            Received::Message { message, .. } => {
                if let RtmpMessage::Amf0Command {
                    command_name,
                    additional_arguments,
                    ..
                } = &message
                {
                    assert!(
                        status_code(additional_arguments).as_deref() != Some(RECONNECT_REQUEST),
                        "a second reconnect request ({command_name})"
                    );
                }
            }
        }
    }
    assert!(
        worker.wait_exit(Duration::from_secs(60)).await,
        "the worker exits cleanly"
    );
    let log = worker.log_text();
    assert_eq!(
        log.matches("sent the publisher a reconnect request")
            .count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("1 of 2 publishers asked to reconnect are still connected"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_without_the_capability_are_only_closed() {
    let mut worker = WorkerProc::start(&[("ZHIBO_RECONNECT_REQUEST_WAIT_S", "30")]).await;
    // No capsEx, and capsEx with other bits only (Multitrack).
    let mut plain = RawPublisher::start(worker.rtmp_port, None, &signed_key(unique_room())).await;
    let mut multitrack =
        RawPublisher::start(worker.rtmp_port, Some(2.0), &signed_key(unique_room())).await;
    wait_for(Duration::from_secs(10), "both publishes", || async {
        worker.metric("zhibo_streams").await == 2.0
    })
    .await;
    worker.sigterm();
    for (name, p) in [("no capsEx", &mut plain), ("capsEx 2", &mut multitrack)] {
        assert!(
            p.until_reconnect_request().await.is_none(),
            "{name}: a reconnect request to a client that did not advertise it"
        );
    }
    // Nobody to wait for: no reconnect wait (30 s) before the close.
    assert!(worker.wait_exit(Duration::from_secs(25)).await);
    let log = worker.log_text();
    assert!(!log.contains("reconnect request"), "{log}");
}
