//! The viewers' process (`viewers`): N HTTP-FLV or RTMP-play viewers of one live, driven by
//! the matrix over stdin/stdout (`mark` starts a window, `report` prints one JSON line on it),
//! and the delay measurement (`latency`): the bench's publisher and M viewers in one process,
//! one clock.

use std::io::{self, BufRead, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::http::HttpUrl;
use crate::input::Input;
use crate::rtmp::RtmpUrl;
use crate::stats::{now_ms, quantile, SendLog, Slot, CONNECTING, ENDED, FAILED, PLAYING};

#[derive(Clone)]
pub enum Target {
    Http(HttpUrl),
    Rtmp(Arc<RtmpUrl>),
}

impl Target {
    pub fn parse(kind: &str, url: &str) -> io::Result<Target> {
        match kind {
            "http" => Ok(Target::Http(HttpUrl::parse(url)?)),
            "rtmp" => Ok(Target::Rtmp(Arc::new(RtmpUrl::parse(url)?))),
            _ => Err(io::Error::other(format!(
                "unknown viewer kind {kind} (http, rtmp)"
            ))),
        }
    }
}

/// The first few distinct errors viewers met.
#[derive(Default)]
struct Errors(Mutex<Vec<(String, u64)>>);

impl Errors {
    fn add(&self, e: &io::Error) {
        let text = e.to_string();
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = v.iter_mut().find(|(t, _)| *t == text) {
            entry.1 += 1;
        } else if v.len() < 8 {
            v.push((text, 1));
        }
    }

    fn json(&self) -> serde_json::Value {
        let v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        json!(v
            .iter()
            .map(|(t, n)| json!({"error": t, "count": n}))
            .collect::<Vec<_>>())
    }
}

fn spawn_viewer(
    target: &Target,
    slot: Arc<Slot>,
    read_every: Duration,
    log: Option<Arc<SendLog>>,
    errors: Arc<Errors>,
) {
    let target = target.clone();
    tokio::spawn(async move {
        let result = match &target {
            Target::Http(url) => crate::http::play(url, slot.clone(), read_every, log).await,
            Target::Rtmp(url) => crate::rtmp::play(url, slot.clone(), read_every, log).await,
        };
        if let Err(e) = result {
            errors.add(&e);
        }
        slot.finish();
    });
}

/// Opens `n` viewers, `batch` at a time every 50 ms.
async fn open_viewers(
    target: &Target,
    slots: &[Arc<Slot>],
    batch: usize,
    read_every: Duration,
    log: Option<Arc<SendLog>>,
    errors: &Arc<Errors>,
) {
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 && i % batch.max(1) == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        spawn_viewer(
            target,
            slot.clone(),
            read_every,
            log.clone(),
            errors.clone(),
        );
    }
}

fn count(slots: &[Arc<Slot>], state: u8) -> usize {
    slots
        .iter()
        .filter(|s| s.state.load(Ordering::Relaxed) == state)
        .count()
}

pub struct ViewersArgs {
    pub target: Target,
    pub n: usize,
    pub read_every: Duration,
    pub threads: usize,
    pub batch: usize,
    /// Media bytes/s one viewer should receive (for `short` in the report).
    pub expect_media_bps: f64,
}

/// `viewers`: runs until stdin closes or says `quit`.
pub fn viewers(args: ViewersArgs) -> io::Result<()> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let slots: Arc<Vec<Arc<Slot>>> = Arc::new((0..args.n).map(|_| Arc::default()).collect());
    let errors = Arc::new(Errors::default());
    {
        let slots = slots.clone();
        let errors = errors.clone();
        let target = args.target.clone();
        let (read_every, batch) = (args.read_every, args.batch);
        runtime.spawn(async move {
            let t0 = Instant::now();
            open_viewers(&target, &slots, batch, read_every, None, &errors).await;
            let deadline = Instant::now() + Duration::from_secs(30);
            while count(&slots, CONNECTING) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let line = json!({
                "event": "ready",
                "secs": t0.elapsed().as_secs_f64(),
                "playing": count(&slots, PLAYING),
                "connecting": count(&slots, CONNECTING),
                "failed": count(&slots, FAILED),
                "ended": count(&slots, ENDED),
                "errors": errors.json(),
            });
            println!("{line}");
            let _ = io::stdout().flush();
        });
    }
    // Commands on this thread; the runtime's threads run the viewers.
    let block = std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    // (when, per viewer: wire bytes, media bytes, state)
    type Mark = (u64, Vec<(u64, u64, u8)>);
    let mut mark: Option<Mark> = None;
    for line in io::stdin().lock().lines() {
        let line = line?;
        match line.trim() {
            "mark" => {
                let base = slots
                    .iter()
                    .map(|s| {
                        (
                            s.wire_bytes.load(Ordering::Relaxed),
                            s.media_bytes.load(Ordering::Relaxed),
                            s.state.load(Ordering::Relaxed),
                        )
                    })
                    .collect();
                mark = Some((now_ms(), base));
                println!("{}", json!({"event": "marked"}));
            }
            "report" => {
                let (t_mark, base) = match &mark {
                    Some((t, b)) => (*t, b.clone()),
                    None => (0, vec![(0, 0, CONNECTING); slots.len()]),
                };
                let now = now_ms();
                let secs = (now - t_mark) as f64 / 1000.0;
                let (mut wire, mut media) = (0u64, 0u64);
                let mut min_media = u64::MAX;
                let (mut short, mut ended_in_window, mut stalled) = (0usize, 0usize, 0usize);
                for (s, (w0, m0, st0)) in slots.iter().zip(&base) {
                    let w = s.wire_bytes.load(Ordering::Relaxed) - w0;
                    let m = s.media_bytes.load(Ordering::Relaxed) - m0;
                    let st = s.state.load(Ordering::Relaxed);
                    wire += w;
                    media += m;
                    min_media = min_media.min(m);
                    if (m as f64) < 0.9 * args.expect_media_bps / 8.0 * secs {
                        short += 1;
                    }
                    if *st0 == PLAYING && st != PLAYING {
                        ended_in_window += 1;
                    }
                    if st == PLAYING && now - s.last_rx_ms.load(Ordering::Relaxed) > 3000 {
                        stalled += 1;
                    }
                }
                let line = json!({
                    "event": "report",
                    "secs": secs,
                    "n": slots.len(),
                    "playing": count(&slots, PLAYING),
                    "connecting": count(&slots, CONNECTING),
                    "failed": count(&slots, FAILED),
                    "ended": count(&slots, ENDED),
                    "ended_in_window": ended_in_window,
                    "stalled": stalled,
                    "short": short,
                    "wire_bytes": wire,
                    "media_bytes": media,
                    "min_viewer_media_bytes": if slots.is_empty() { 0 } else { min_media },
                    "errors": errors.json(),
                });
                println!("{line}");
            }
            "quit" => break,
            "" => continue,
            _ => println!("{}", json!({"event": "unknown command"})),
        }
        let _ = io::stdout().flush();
    }
    drop(block);
    std::process::exit(0);
}

pub struct LatencyArgs {
    pub publish: RtmpUrl,
    pub target: Target,
    pub n: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// `latency`: prints one JSON line with the delay quantiles.
pub fn latency(input: Input, args: LatencyArgs) -> io::Result<()> {
    let video_fps = input.video_fps();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let input = Arc::new(input);
        let log = Arc::new(SendLog::default());
        let publisher = {
            let (input, log) = (input.clone(), log.clone());
            tokio::spawn(async move { crate::rtmp::publish(&args.publish, &input, Some(log)).await })
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if publisher.is_finished() {
            return match publisher.await {
                Ok(Err(e)) => Err(io::Error::other(format!("publisher: {e}"))),
                _ => Err(io::Error::other("publisher ended")),
            };
        }
        let slots: Vec<Arc<Slot>> = (0..args.n).map(|_| Arc::default()).collect();
        let errors = Arc::new(Errors::default());
        open_viewers(
            &args.target,
            &slots,
            50,
            Duration::ZERO,
            Some(log.clone()),
            &errors,
        )
        .await;
        tokio::time::sleep(args.warmup).await;
        let playing_at_start = count(&slots, PLAYING);
        log.start(Instant::now());
        tokio::time::sleep(args.duration).await;
        let mut delays = log.take();
        let publisher_alive = !publisher.is_finished();
        delays.sort_by(f64::total_cmp);
        let expected = (args.n as f64 * args.duration.as_secs_f64() * video_fps).round();
        let line = json!({
            "event": "latency",
            "n": args.n,
            "playing_at_start": playing_at_start,
            "playing_at_end": count(&slots, PLAYING),
            "publisher_alive": publisher_alive,
            "samples": delays.len(),
            "expected_samples_approx": expected,
            "p50_ms": quantile(&delays, 0.50),
            "p95_ms": quantile(&delays, 0.95),
            "p99_ms": quantile(&delays, 0.99),
            "max_ms": delays.last(),
            "mean_ms": if delays.is_empty() { None } else { Some(delays.iter().sum::<f64>() / delays.len() as f64) },
            "errors": errors.json(),
        });
        println!("{line}");
        Ok(())
    })?;
    let _ = io::stdout().flush();
    std::process::exit(0);
}
