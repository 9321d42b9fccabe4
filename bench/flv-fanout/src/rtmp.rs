//! RTMP clients on `rml_rtmp`'s `ClientSession`: the bench's publisher (the input file at
//! real-time pace, recording when each video tag was handed to the kernel) and the RTMP-play
//! viewer used against nginx-rtmp.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::input::{Input, AUDIO, VIDEO};
use crate::stats::{SendLog, Slot};

/// `rtmp://host:port/app/key` split.
pub struct RtmpUrl {
    pub addr: String,
    pub app: String,
    pub key: String,
}

impl RtmpUrl {
    pub fn parse(url: &str) -> io::Result<RtmpUrl> {
        let rest = url
            .strip_prefix("rtmp://")
            .ok_or_else(|| io::Error::other(format!("not an rtmp:// URL: {url}")))?;
        let mut parts = rest.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(addr), Some(app), Some(key)) if !addr.is_empty() && !app.is_empty() => {
                Ok(RtmpUrl {
                    addr: addr.to_string(),
                    app: app.to_string(),
                    key: key.to_string(),
                })
            }
            _ => Err(io::Error::other(format!(
                "expected rtmp://host:port/app/key, got {url}"
            ))),
        }
    }
}

fn err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

/// A connected RTMP client session.
pub struct Client {
    pub socket: TcpStream,
    pub session: ClientSession,
    buf: Vec<u8>,
}

impl Client {
    /// TCP connect, handshake and `connect` to the URL's app.
    pub async fn connect(url: &RtmpUrl) -> io::Result<Client> {
        let mut socket = TcpStream::connect(&url.addr).await?;
        socket.set_nodelay(true)?;
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().map_err(err)?;
        socket.write_all(&c0c1).await?;
        let mut buf = vec![0u8; 64 * 1024];
        let remaining = loop {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                return Err(io::Error::other("server closed during the handshake"));
            }
            match handshake.process_bytes(&buf[..n]).map_err(err)? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes).await?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket.write_all(&response_bytes).await?;
                    break remaining_bytes;
                }
            }
        };
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(format!("rtmp://{}/{}", url.addr, url.app));
        let (session, _) = ClientSession::new(config).map_err(err)?;
        let mut client = Client {
            socket,
            session,
            buf,
        };
        let mut events = Vec::new();
        client.handle(&remaining, &mut events).await?;
        let connect = client
            .session
            .request_connection(url.app.clone())
            .map_err(err)?;
        client.send(connect).await?;
        client
            .wait_for(events, |e| {
                matches!(e, ClientSessionEvent::ConnectionRequestAccepted)
            })
            .await?;
        Ok(client)
    }

    pub async fn send(&mut self, result: ClientSessionResult) -> io::Result<()> {
        if let ClientSessionResult::OutboundResponse(packet) = result {
            self.socket.write_all(&packet.bytes).await?;
        }
        Ok(())
    }

    /// Feeds bytes from the server to the session, sends its answers, collects its events.
    pub async fn handle(
        &mut self,
        bytes: &[u8],
        events: &mut Vec<ClientSessionEvent>,
    ) -> io::Result<()> {
        for result in self.session.handle_input(bytes).map_err(err)? {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.socket.write_all(&packet.bytes).await?;
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    /// Reads until an event matching `done` (within 10 s); returns the events raised after it.
    async fn wait_for(
        &mut self,
        mut events: Vec<ClientSessionEvent>,
        done: impl Fn(&ClientSessionEvent) -> bool,
    ) -> io::Result<Vec<ClientSessionEvent>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = events.iter().position(&done) {
                return Ok(events.split_off(i + 1));
            }
            for e in &events {
                if let ClientSessionEvent::ConnectionRequestRejected { description } = e {
                    return Err(io::Error::other(format!("connect refused: {description}")));
                }
            }
            events.clear();
            let mut buf = std::mem::take(&mut self.buf);
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buf)).await;
            let result = match read {
                Err(_) => Err(io::Error::other("no answer from the server within 10 s")),
                Ok(Err(e)) => Err(e),
                Ok(Ok(0)) => Err(io::Error::other("server closed the connection")),
                Ok(Ok(n)) => self.handle(&buf[..n], &mut events).await,
            };
            self.buf = buf;
            result?;
        }
    }
}

/// Publishes the input at real-time pace, looped, until an I/O error. Every video tag's send
/// instant (after its bytes were written to the socket) goes to `log` when given.
pub async fn publish(url: &RtmpUrl, input: &Input, log: Option<Arc<SendLog>>) -> io::Result<()> {
    let mut client = Client::connect(url).await?;
    let publish = client
        .session
        .request_publishing(url.key.clone(), PublishRequestType::Live)
        .map_err(err)?;
    client.send(publish).await?;
    client
        .wait_for(Vec::new(), |e| {
            matches!(e, ClientSessionEvent::PublishRequestAccepted)
        })
        .await?;
    for tag in input.headers() {
        send_tag(&mut client, tag.tag_type, 0, tag.body.clone()).await?;
    }
    let start = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    let mut events = Vec::new();
    for (due, timestamp, tag) in input.schedule() {
        let due = start + due;
        // Answer the server (acks, pings) while waiting for the tag's time.
        loop {
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(due) => break,
                read = client.socket.read(&mut buf) => {
                    let n = read?;
                    if n == 0 {
                        return Err(io::Error::other("the server closed the publishing connection"));
                    }
                    client.handle(&buf[..n], &mut events).await?;
                    events.clear();
                }
            }
        }
        send_tag(&mut client, tag.tag_type, timestamp, tag.body.clone()).await?;
        if tag.tag_type == VIDEO {
            if let Some(log) = &log {
                log.record(timestamp, Instant::now());
            }
        }
    }
    Ok(())
}

async fn send_tag(
    client: &mut Client,
    tag_type: u8,
    timestamp: u32,
    body: bytes::Bytes,
) -> io::Result<()> {
    let ts = RtmpTimestamp::new(timestamp);
    let result = match tag_type {
        VIDEO => client.session.publish_video_data(body, ts, false),
        AUDIO => client.session.publish_audio_data(body, ts, false),
        _ => return Ok(()),
    };
    client.send(result.map_err(err)?).await
}

/// One RTMP-play viewer: counts the audio/video payload bytes it receives into `slot`; with
/// `log`, records each video tag's delay since its send instant. `read_every` > 0 reads at
/// most that often (batches the wake-ups of the load generator; the server writes as before).
pub async fn play(
    url: &RtmpUrl,
    slot: Arc<Slot>,
    read_every: Duration,
    log: Option<Arc<SendLog>>,
) -> io::Result<()> {
    let mut client = Client::connect(url).await?;
    let play = client
        .session
        .request_playback(url.key.clone())
        .map_err(err)?;
    client.send(play).await?;
    let events = client
        .wait_for(Vec::new(), |e| {
            matches!(e, ClientSessionEvent::PlaybackRequestAccepted)
        })
        .await?;
    slot.started();
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = events;
    loop {
        count_events(&mut events, &slot, log.as_deref());
        if !read_every.is_zero() {
            tokio::time::sleep(read_every).await;
        }
        loop {
            let n = if read_every.is_zero() {
                client.socket.read(&mut buf).await?
            } else {
                match client.socket.try_read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the play connection",
                ));
            }
            slot.wire(n);
            let mut new_events = Vec::new();
            client.handle(&buf[..n], &mut new_events).await?;
            events.extend(new_events);
            count_events(&mut events, &slot, log.as_deref());
            if read_every.is_zero() {
                break;
            }
        }
    }
}

fn count_events(events: &mut Vec<ClientSessionEvent>, slot: &Slot, log: Option<&SendLog>) {
    let now = Instant::now();
    for e in events.drain(..) {
        match e {
            ClientSessionEvent::VideoDataReceived { data, timestamp } => {
                slot.media(data.len());
                if let Some(log) = log {
                    log.received(timestamp.value, now);
                }
            }
            ClientSessionEvent::AudioDataReceived { data, .. } => slot.media(data.len()),
            _ => {}
        }
    }
}
