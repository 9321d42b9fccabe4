//! `matrix`: for every N and every server (interleaved at each N, so the ratios come from the
//! same box in the same minutes), a fresh server, one live published to it, N viewers in a
//! separate process, a warm-up, then a steady window measured from `/proc`; then the delay
//! pass. Settings are `BENCH_FLV_*` environment variables (see `bench/flv_fanout.sh`). Rows
//! go to a JSONL file; the markdown report is printed from them (`report` re-prints it).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use zhibo_core::signing::{UrlPurpose, UrlSignature};

use crate::input::Input;
use crate::procfs::{box_ticks, clk_tck, ncpu, TreeTicks};

const PLAY_KEY: &str = "zhibo-flv-bench-play-key";
const APP: &str = "bench";
const ROOM: u64 = 10;
const STREAM: &str = "bench_10";
/// Other work on the box (% of one core) above which a run is marked noisy.
const NOISY_PCT: f64 = 20.0;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> io::Result<T> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("{name}={v:?} is not a number"))),
    }
}

fn list(name: &str, default: &str) -> Vec<String> {
    env_or(name, default)
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub struct Settings {
    servers: Vec<String>,
    ns: Vec<usize>,
    lat_servers: Vec<String>,
    lat_ns: Vec<usize>,
    window: f64,
    warmup: f64,
    lat_window: f64,
    read_ms: u64,
    loadgen_threads: usize,
    batch: usize,
    port: u16,
    worker_bin: String,
    worker_env: Vec<(String, String)>,
    floor_batch_ms: u64,
    input_path: String,
    out: String,
    stop_on_saturation: bool,
    work_root: String,
}

impl Settings {
    pub fn from_env() -> io::Result<Settings> {
        let nums = |name: &str, default: &str| -> io::Result<Vec<usize>> {
            list(name, default)
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|_| io::Error::other(format!("{name}: {s:?} is not a number")))
                })
                .collect()
        };
        let servers = list(
            "BENCH_FLV_SERVERS",
            "zhibo,zhibo+ZHIBO_READ_BATCH_MS=0,nginx,floor,floor-tag",
        );
        let lat_servers = list(
            "BENCH_FLV_LAT_SERVERS",
            "zhibo,zhibo+ZHIBO_READ_BATCH_MS=0,nginx",
        );
        for s in servers.iter().chain(&lat_servers) {
            check_spec(s)?;
        }
        let worker_env = env_or("BENCH_FLV_WORKER_ENV", "")
            .split_whitespace()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(io::Error::other(format!(
                    "BENCH_FLV_WORKER_ENV: {kv:?} is not NAME=VALUE"
                ))),
            })
            .collect::<io::Result<_>>()?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Settings {
            servers,
            ns: nums("BENCH_FLV_N", "100,500,1000")?,
            lat_servers,
            lat_ns: nums("BENCH_FLV_LAT_N", "10,100")?,
            window: env_num("BENCH_FLV_WINDOW", 20.0)?,
            warmup: env_num("BENCH_FLV_WARMUP", 8.0)?,
            lat_window: env_num("BENCH_FLV_LAT_WINDOW", 20.0)?,
            read_ms: env_num("BENCH_FLV_READ_MS", 100)?,
            loadgen_threads: env_num("BENCH_FLV_LOADGEN_THREADS", 1)?,
            batch: env_num("BENCH_FLV_BATCH", 50)?,
            port: env_num("BENCH_FLV_PORT", 19450)?,
            worker_bin: env_or("BENCH_FLV_WORKER_BIN", "target/release/zhibo-media-worker"),
            worker_env,
            floor_batch_ms: env_num("BENCH_FLV_FLOOR_BATCH_MS", 95)?,
            input_path: env_or("BENCH_FLV_INPUT", "bench/data/in_720p30_h264_aac.flv"),
            out: env_or(
                "BENCH_FLV_OUT",
                &format!("bench/results/flv-fanout-{stamp}.jsonl"),
            ),
            stop_on_saturation: env_num("BENCH_FLV_STOP_ON_SATURATION", 0u8)? != 0,
            work_root: env_or("BENCH_FLV_WORK_ROOT", "/dev/shm"),
        })
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("flv-bench: {}", msg.as_ref());
}

/// A server spec: `zhibo`, `zhibo+NAME=VALUE+...` (extra worker environment), `nginx`,
/// `nginx-hls` (nginx-rtmp also writing HLS, as the worker does),
/// `floor` (writes in `BENCH_FLV_FLOOR_BATCH_MS` batches), `floor-sendfile` (the same batches
/// sent from one shared in-memory file with `sendfile`) or `floor-tag` (a write per tag).
fn base(spec: &str) -> &str {
    spec.split('+').next().unwrap_or(spec)
}

fn spec_env(spec: &str) -> Vec<(String, String)> {
    spec.split('+')
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_spec(spec: &str) -> io::Result<()> {
    let ok = match base(spec) {
        "zhibo" => spec.split('+').skip(1).all(|kv| kv.contains('=')),
        "nginx" | "nginx-hls" | "floor" | "floor-sendfile" | "floor-tag" => !spec.contains('+'),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "unknown server {spec:?} (zhibo, zhibo+NAME=VALUE..., nginx, nginx-hls, floor, floor-sendfile, floor-tag)"
        )))
    }
}

fn label(s: &Settings, spec: &str) -> String {
    let env = spec_env(spec)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    match base(spec) {
        "zhibo" if env.is_empty() => "zhibo HTTP-FLV".into(),
        "zhibo" => format!("zhibo HTTP-FLV ({env})"),
        "nginx" => "nginx-rtmp RTMP play".into(),
        "nginx-hls" => "nginx-rtmp RTMP play, and HLS as the worker writes it".into(),
        "floor" if s.floor_batch_ms > 0 => format!("floor, {} ms batches", s.floor_batch_ms),
        "floor-sendfile" => format!("floor, {} ms batches, sendfile", s.floor_batch_ms),
        _ => "floor, write per tag".into(),
    }
}

fn dir_safe(spec: &str) -> String {
    spec.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Ports: zhibo RTMP, zhibo HTTP, nginx RTMP, floor.
fn ports(base: u16) -> [u16; 4] {
    [base, base + 1, base + 2, base + 3]
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn wait_listening(port: u16, within: Duration) -> io::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::other(format!(
        "nothing listens on 127.0.0.1:{port} after {within:?}"
    )))
}

fn play_query() -> String {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
        + 6 * 3600;
    UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Play, APP, ROOM, expires).query()
}

/// A process the bench started, in its own process group; killed with the group on drop.
struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> io::Result<Proc> {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("start {name}: {e}")))?;
        Ok(Proc { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM to the group, SIGKILL after `grace`.
    fn stop(&mut self, grace: Duration) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the process group this bench created for its child.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; also reaps any grandchild left in the group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_millis(500));
    }
}

/// The viewers' process: commands on stdin, JSON lines on stdout.
struct Loadgen {
    proc: Proc,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Loadgen {
    fn spawn(mut cmd: Command) -> io::Result<Loadgen> {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut proc = Proc::spawn("viewers", cmd)?;
        let stdin = proc
            .child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?;
        let stdout = proc
            .child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Loadgen { proc, stdin, lines })
    }

    fn expect(&self, event: &str, within: Duration) -> io::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|_| {
                io::Error::other(format!("the viewers' process sent no {event:?} line"))
            })?;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["event"] == event {
                    return Ok(v);
                }
            }
        }
    }

    fn command(&mut self, cmd: &str, event: &str) -> io::Result<Value> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        self.expect(event, Duration::from_secs(10))
    }
}

/// `/metrics` of the worker: the HTTP-FLV series.
fn worker_metrics(port: u16) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return out;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return out;
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(name), Some(v)) = (it.next(), it.next()) {
            if matches!(
                name,
                "zhibo_flv_viewers"
                    | "zhibo_flv_viewers_dropped_total"
                    | "zhibo_flv_bytes_out_total"
            ) {
                if let Ok(v) = v.parse() {
                    out.insert(name.to_string(), v);
                }
            }
        }
    }
    out
}

/// With `hls`, nginx-rtmp also writes the live as HLS (2 s fragments) under `workdir`, as
/// the worker always does (to its fs sink here).
fn nginx_conf(workdir: &str, port: u16, hls: bool) -> String {
    let hls = if hls {
        format!(
            "            hls on;\n            hls_path {workdir}/hls;\n            \
             hls_fragment 2s;\n            hls_playlist_length 12s;\n"
        )
    } else {
        String::new()
    };
    // what this process raised its limit to (nginx inherits it; more would be refused)
    let nofile = crate::nofile().clamp(1024, 65536);
    format!(
        "# written by zhibo-flv-bench\n\
         daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         user root;\n\
         pid {workdir}/nginx.pid;\n\
         error_log {workdir}/error.log warn;\n\
         worker_rlimit_nofile {nofile};\n\
         load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
         events {{ worker_connections 8192; }}\n\
         rtmp {{\n    server {{\n        listen 127.0.0.1:{port};\n        chunk_size 4096;\n        \
         application live {{\n            live on;\n            record off;\n{hls}        }}\n    }}\n}}\n"
    )
}

/// A server under test, started fresh.
struct Server {
    proc: Proc,
    /// The viewers' kind and URL.
    view: (&'static str, String),
    /// Where the publisher publishes (none for the floor, which paces the file itself).
    publish: Option<String>,
    metrics_port: Option<u16>,
    spec: String,
}

fn start_server(s: &Settings, server: &str, workdir: &str) -> io::Result<Server> {
    let [z_rtmp, z_http, n_rtmp, floor] = ports(s.port);
    let log_file = || fs::File::create(format!("{workdir}/server.log"));
    let floor_batch = if server == "floor" || server == "floor-sendfile" {
        s.floor_batch_ms
    } else {
        0
    };
    let (proc, view, publish, metrics_port, spec, wait) = match base(server) {
        "zhibo" => {
            let mut env: Vec<(String, String)> = [
                ("ZHIBO_RTMP_ADDR", format!("127.0.0.1:{z_rtmp}")),
                ("ZHIBO_HTTP_ADDR", format!("127.0.0.1:{z_http}")),
                ("ZHIBO_SINK", "fs".into()),
                ("ZHIBO_FS_SINK_DIR", format!("{workdir}/hls")),
                ("ZHIBO_PUBLISH_AUTH", "off".into()),
                ("ZHIBO_SPILL_DIR", format!("{workdir}/spill")),
                ("PLAY_KEY", PLAY_KEY.into()),
                ("ZHIBO_MAX_FLV_VIEWERS", "5000".into()),
                ("ZHIBO_SHUTDOWN_GRACE_S", "0".into()),
                ("ZHIBO_RECONNECT_REQUEST_WAIT_S", "0".into()),
                ("RUST_LOG", "warn".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            for (k, v) in s.worker_env.iter().chain(&spec_env(server)) {
                env.retain(|(k2, _)| k2 != k);
                env.push((k.clone(), v.clone()));
            }
            let mut cmd = Command::new(&s.worker_bin);
            cmd.envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(log_file()?)
                .stderr(log_file()?);
            let spec = format!(
                "env {} {}",
                env.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                s.worker_bin
            );
            (
                Proc::spawn("zhibo-media-worker", cmd)?,
                (
                    "http",
                    format!(
                        "http://127.0.0.1:{z_http}/live/{STREAM}.flv?{}",
                        play_query()
                    ),
                ),
                Some(format!("rtmp://127.0.0.1:{z_rtmp}/live/{STREAM}")),
                Some(z_http),
                spec,
                vec![z_rtmp, z_http],
            )
        }
        "nginx" | "nginx-hls" => {
            let hls = base(server) == "nginx-hls";
            let conf = format!("{workdir}/nginx.conf");
            fs::write(&conf, nginx_conf(workdir, n_rtmp, hls))?;
            let mut cmd = Command::new("nginx");
            cmd.args([
                "-p",
                workdir,
                "-e",
                &format!("{workdir}/error.log"),
                "-c",
                &conf,
            ])
            .stdin(Stdio::null())
            .stdout(log_file()?)
            .stderr(log_file()?);
            let url = format!("rtmp://127.0.0.1:{n_rtmp}/live/{STREAM}");
            (
                Proc::spawn("nginx", cmd)?,
                ("rtmp", url.clone()),
                Some(url),
                None,
                format!(
                    "nginx -p {workdir} -c nginx.conf: {}",
                    nginx_conf("{workdir}", n_rtmp, hls).replace('\n', " ")
                ),
                vec![n_rtmp],
            )
        }
        _ => {
            let exe = std::env::current_exe()?;
            let mut cmd = Command::new(&exe);
            cmd.args([
                "floor",
                "--listen",
                &format!("127.0.0.1:{floor}"),
                "--input",
                &s.input_path,
                "--batch-ms",
                &floor_batch.to_string(),
                "--sendfile",
                if server == "floor-sendfile" { "1" } else { "0" },
            ])
            .stdin(Stdio::null())
            .stdout(log_file()?)
            .stderr(log_file()?);
            (
                Proc::spawn("floor", cmd)?,
                (
                    "http",
                    format!("http://127.0.0.1:{floor}/live/{STREAM}.flv"),
                ),
                None,
                None,
                format!(
                    "{} floor --listen 127.0.0.1:{floor} --input {} --batch-ms {floor_batch} --sendfile {}",
                    exe.display(),
                    s.input_path,
                    u8::from(server == "floor-sendfile")
                ),
                vec![floor],
            )
        }
    };
    let mut srv = Server {
        proc,
        view,
        publish,
        metrics_port,
        spec,
    };
    for p in wait {
        if let Err(e) = wait_listening(p, Duration::from_secs(15)) {
            let tail = fs::read_to_string(format!("{workdir}/server.log")).unwrap_or_default();
            srv.proc.stop(Duration::from_millis(200));
            return Err(io::Error::other(format!(
                "{server}: {e}; its log: {}",
                tail.chars()
                    .rev()
                    .take(2000)
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect::<String>()
            )));
        }
    }
    Ok(srv)
}

struct CpuMark {
    at: Instant,
    server: TreeTicks,
    loadgen: TreeTicks,
    publisher: Option<TreeTicks>,
    boxt: (u64, u64),
}

fn cpu_mark(server: u32, loadgen: u32, publisher: Option<u32>) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        server: TreeTicks::sample(server),
        loadgen: TreeTicks::sample(loadgen),
        publisher: publisher.map(TreeTicks::sample),
        boxt: box_ticks(),
    }
}

fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One (server, N) run; the JSON row.
fn run_fanout(s: &Settings, input: &Input, server_kind: &str, n: usize) -> io::Result<Value> {
    let workdir = format!(
        "{}/zhibo-flv-bench-{}-{}-{n}",
        s.work_root,
        std::process::id(),
        dir_safe(server_kind)
    );
    let _ = fs::remove_dir_all(&workdir);
    fs::create_dir_all(&workdir)?;
    let result = run_fanout_in(s, input, server_kind, n, &workdir);
    let _ = fs::remove_dir_all(&workdir);
    result
}

fn run_fanout_in(
    s: &Settings,
    input: &Input,
    server_kind: &str,
    n: usize,
    workdir: &str,
) -> io::Result<Value> {
    let exe = std::env::current_exe()?;
    let mut server = start_server(s, server_kind, workdir)?;
    let mut publisher = match &server.publish {
        Some(url) => {
            let mut cmd = Command::new(&exe);
            cmd.args(["publish", "--url", url, "--input", &s.input_path])
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            let p = Proc::spawn("publisher", cmd)?;
            // the live exists (zhibo answers 404 before), and a GOP is cached
            std::thread::sleep(Duration::from_millis(2500));
            Some(p)
        }
        None => None,
    };
    if let Some(p) = publisher.as_mut() {
        if !p.alive() {
            return Err(io::Error::other("the publisher exited at start"));
        }
    }
    let (rtmp_bps, flv_bps) = input.rates_bps();
    let expect_media_bps = if server.view.0 == "rtmp" {
        rtmp_bps
    } else {
        flv_bps
    };
    let mut cmd = Command::new(&exe);
    cmd.args([
        "viewers",
        "--kind",
        server.view.0,
        "--url",
        &server.view.1,
        "--n",
        &n.to_string(),
        "--read-ms",
        &s.read_ms.to_string(),
        "--threads",
        &s.loadgen_threads.to_string(),
        "--batch",
        &s.batch.to_string(),
        "--expect-media-bps",
        &format!("{expect_media_bps:.0}"),
    ]);
    let mut loadgen = Loadgen::spawn(cmd)?;
    let ready = loadgen.expect("ready", Duration::from_secs(90))?;
    std::thread::sleep(Duration::from_secs_f64(s.warmup));
    loadgen.command("mark", "marked")?;
    let m0 = worker_metrics_opt(server.metrics_port);
    let c0 = cpu_mark(
        server.proc.pid(),
        loadgen.proc.pid(),
        publisher.as_ref().map(|p| p.pid()),
    );
    std::thread::sleep(Duration::from_secs_f64(s.window));
    let c1 = cpu_mark(
        server.proc.pid(),
        loadgen.proc.pid(),
        publisher.as_ref().map(|p| p.pid()),
    );
    let report = loadgen.command("report", "report")?;
    let m1 = worker_metrics_opt(server.metrics_port);
    let server_alive = server.proc.alive();
    let publisher_alive = publisher.as_mut().map(|p| p.alive());
    loadgen.proc.stop(Duration::from_millis(300));
    if let Some(p) = publisher.as_mut() {
        p.stop(Duration::from_millis(300));
    }
    server.proc.stop(Duration::from_secs(3));

    let secs = c1.at.duration_since(c0.at).as_secs_f64();
    let tck = clk_tck();
    let pct = |ticks: u64| ticks as f64 / tck / secs * 100.0;
    let (srv_ticks, srv_thread) = c0.server.delta(&c1.server);
    let (lg_ticks, lg_thread) = c0.loadgen.delta(&c1.loadgen);
    let pub_ticks = match (&c0.publisher, &c1.publisher) {
        (Some(a), Some(b)) => a.delta(b).0,
        _ => 0,
    };
    let box_busy = (c1.boxt.0 - c0.boxt.0) as f64 / (c1.boxt.1 - c0.boxt.1).max(1) as f64
        * 100.0
        * ncpu() as f64;
    let srv_cpu = pct(srv_ticks);
    let lg_cpu = pct(lg_ticks);
    let pub_cpu = pct(pub_ticks);
    let rsecs = report["secs"].as_f64().unwrap_or(secs).max(0.001);
    let wire = report["wire_bytes"].as_u64().unwrap_or(0) as f64;
    let media = report["media_bytes"].as_u64().unwrap_or(0) as f64;
    let egress_gbps = wire * 8.0 / rsecs / 1e9;
    let media_ratio = media * 8.0 / rsecs / (expect_media_bps * n as f64);
    let playing = report["playing"].as_u64().unwrap_or(0) as usize;
    let stalled = report["stalled"].as_u64().unwrap_or(0) as usize;
    let lost = n.saturating_sub(playing) + stalled;
    let ok = playing - stalled.min(playing);
    // since the worker started (the viewers' ramp included), not just the window
    let dropped_metric = m1.get("zhibo_flv_viewers_dropped_total").copied();
    let server_egress_gbps = match (
        m0.get("zhibo_flv_bytes_out_total"),
        m1.get("zhibo_flv_bytes_out_total"),
    ) {
        (Some(a), Some(b)) => Some(r3((b - a) * 8.0 / secs / 1e9)),
        _ => None,
    };
    let other = box_busy - srv_cpu - lg_cpu - pub_cpu;
    let mut saturated = Vec::new();
    if box_busy >= 0.9 * 100.0 * ncpu() as f64 {
        saturated.push(if other > NOISY_PCT {
            format!("box {box_busy:.0}% (other work {other:.0}%)")
        } else {
            format!("box {box_busy:.0}%")
        });
    }
    if pct(srv_thread) >= 95.0 {
        saturated.push(format!("server thread {:.0}%", pct(srv_thread)));
    }
    if pct(lg_thread) >= 95.0 {
        saturated.push(format!("viewers' thread {:.0}%", pct(lg_thread)));
    }
    if n > 0 && media_ratio < 0.95 {
        saturated.push(format!("egress {:.0}% of N x rate", media_ratio * 100.0));
    }
    if lost > 0 {
        saturated.push(format!("{lost} viewers lost"));
    }
    if !server_alive {
        saturated.push("server died".into());
    }
    if publisher_alive == Some(false) {
        saturated.push("publisher died".into());
    }
    let per_viewer = if n > 0 { srv_cpu / n as f64 } else { 0.0 };
    Ok(json!({
        "kind": "fanout",
        "server": server_kind,
        "label": label(s, server_kind),
        "n": n,
        "window_s": r3(secs),
        "viewers_ok": ok,
        "viewers_lost": lost,
        "viewers_failed_to_start": report["failed"],
        "viewers_ended": report["ended"],
        "viewers_ended_in_window": report["ended_in_window"],
        "viewers_stalled": stalled,
        "viewers_short": report["short"],
        "zhibo_flv_viewers_dropped_total": dropped_metric,
        "zhibo_flv_viewers": m1.get("zhibo_flv_viewers"),
        "server_reported_egress_gbps": server_egress_gbps,
        "egress_gbps": r3(egress_gbps),
        "media_vs_expected": r3(media_ratio),
        "expected_media_bps_per_viewer": expect_media_bps.round(),
        "min_viewer_media_ratio": r3(report["min_viewer_media_bytes"].as_u64().unwrap_or(0) as f64 * 8.0 / rsecs / expect_media_bps),
        "server_cpu_pct": r1(srv_cpu),
        "server_busiest_thread_pct": r1(pct(srv_thread)),
        "cpu_pct_per_viewer": r3(per_viewer),
        "cpu_pct_per_gbps": if egress_gbps > 0.0 { Some(r1(srv_cpu / egress_gbps)) } else { None },
        "viewers_cpu_pct": r1(lg_cpu),
        "viewers_busiest_thread_pct": r1(pct(lg_thread)),
        "publisher_cpu_pct": r1(pub_cpu),
        "box_cpu_pct": r1(box_busy),
        "box_cpu_max_pct": 100 * ncpu(),
        "other_cpu_pct": r1(other),
        "saturated": saturated,
        "ramp": ready,
        "errors": report["errors"],
        "viewer_read_ms": s.read_ms,
        "viewer_threads": s.loadgen_threads,
        "spec": server.spec,
    }))
}

fn worker_metrics_opt(port: Option<u16>) -> BTreeMap<String, f64> {
    port.map(worker_metrics).unwrap_or_default()
}

/// One delay run: fresh server, `latency` process (publisher + n viewers).
fn run_latency(s: &Settings, server_kind: &str, n: usize) -> io::Result<Value> {
    let workdir = format!(
        "{}/zhibo-flv-bench-{}-lat-{}-{n}",
        s.work_root,
        std::process::id(),
        dir_safe(server_kind)
    );
    let _ = fs::remove_dir_all(&workdir);
    fs::create_dir_all(&workdir)?;
    let result = (|| {
        let mut server = start_server(s, server_kind, &workdir)?;
        let publish = server
            .publish
            .clone()
            .ok_or_else(|| io::Error::other("the floor has no publisher: no delay to measure"))?;
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(&exe);
        cmd.args([
            "latency",
            "--publish",
            &publish,
            "--kind",
            server.view.0,
            "--url",
            &server.view.1,
            "--n",
            &n.to_string(),
            "--input",
            &s.input_path,
            "--warmup-s",
            "5",
            "--duration-s",
            &s.lat_window.to_string(),
        ]);
        let b0 = box_ticks();
        let lat = Loadgen::spawn(cmd)?;
        let lat_pid = lat.proc.pid();
        let t0 = TreeTicks::sample(lat_pid);
        let s0 = TreeTicks::sample(server.proc.pid());
        let w0 = Instant::now();
        let v = lat.expect("latency", Duration::from_secs_f64(s.lat_window + 60.0));
        let secs = w0.elapsed().as_secs_f64().max(0.001);
        let pct = |a: &TreeTicks, b: &TreeTicks| r1(a.delta(b).0 as f64 / clk_tck() / secs * 100.0);
        let lat_cpu = pct(&t0, &TreeTicks::sample(lat_pid));
        let srv_cpu = pct(&s0, &TreeTicks::sample(server.proc.pid()));
        let b1 = box_ticks();
        let box_busy =
            r1((b1.0 - b0.0) as f64 / (b1.1 - b0.1).max(1) as f64 * 100.0 * ncpu() as f64);
        drop(lat);
        server.proc.stop(Duration::from_secs(3));
        let v = v?;
        Ok(json!({
            "kind": "latency",
            "server": server_kind,
            "label": label(s, server_kind),
            "n": n,
            "window_s": s.lat_window,
            "result": v,
            "server_cpu_pct": srv_cpu,
            "latency_process_cpu_pct": lat_cpu,
            "box_cpu_pct": box_busy,
            "other_cpu_pct": r1(box_busy - srv_cpu - lat_cpu),
            "spec": server.spec,
        }))
    })();
    let _ = fs::remove_dir_all(&workdir);
    result
}

pub fn matrix() -> io::Result<()> {
    let s = Settings::from_env()?;
    let input = Input::read(&s.input_path)?;
    let (rtmp_bps, flv_bps) = input.rates_bps();
    for p in ports(s.port) {
        if !port_free(p) {
            return Err(io::Error::other(format!(
                "port 127.0.0.1:{p} is in use (BENCH_FLV_PORT={} uses it and the next 3)",
                s.port
            )));
        }
    }
    if let Some(dir) = std::path::Path::new(&s.out).parent() {
        fs::create_dir_all(dir)?;
    }
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&s.out)?;
    let meta = json!({
        "kind": "meta",
        "started_unix": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "cpus": ncpu(),
        "input": s.input_path,
        "input_loop_s": input.loop_secs(),
        "rtmp_media_bps": rtmp_bps.round(),
        "flv_media_bps": flv_bps.round(),
        "window_s": s.window,
        "warmup_s": s.warmup,
        "lat_window_s": s.lat_window,
        "servers": s.servers,
        "ns": s.ns,
        "viewer_read_ms": s.read_ms,
        "viewer_threads": s.loadgen_threads,
        "worker_bin": s.worker_bin,
        "nofile": crate::nofile(),
    });
    writeln!(out, "{meta}")?;
    log(format!(
        "results: {} (live: {:.2} Mbit/s of FLV tags, {:.2} Mbit/s of RTMP payload, {:.1} s loop)",
        s.out,
        flv_bps / 1e6,
        rtmp_bps / 1e6,
        input.loop_secs()
    ));
    let t0 = Instant::now();
    let mut rows = vec![meta];
    let mut given_up: Vec<String> = Vec::new();
    let total = s.ns.len() * s.servers.len();
    let mut i = 0;
    for &n in &s.ns {
        for server in &s.servers {
            i += 1;
            if given_up.contains(server) {
                log(format!(
                    "[{i}/{total}] skip {server} N={n} (saturated at a smaller N)"
                ));
                continue;
            }
            log(format!(
                "[{i}/{total}] {} N={n}: warm-up {}s, window {}s",
                label(&s, server),
                s.warmup,
                s.window
            ));
            let row = match run_fanout(&s, &input, server, n) {
                Ok(row) => row,
                Err(e) => {
                    log(format!("  {server} N={n} failed: {e}"));
                    json!({"kind": "fanout", "server": server, "label": label(&s, server), "n": n,
                           "error": e.to_string()})
                }
            };
            log(format!(
                "  cpu {}% ({} %/viewer), egress {} Gbit/s, ok {} of {n}, viewers' cpu {}%, box {}%{}",
                row["server_cpu_pct"],
                row["cpu_pct_per_viewer"],
                row["egress_gbps"],
                row["viewers_ok"],
                row["viewers_cpu_pct"],
                row["box_cpu_pct"],
                match row["saturated"].as_array() {
                    Some(a) if !a.is_empty() => format!(", SATURATED: {}", join(a)),
                    _ => String::new(),
                }
            ));
            if s.stop_on_saturation
                && (row.get("error").is_some()
                    || row["saturated"].as_array().is_some_and(|a| !a.is_empty()))
            {
                given_up.push(server.clone());
            }
            writeln!(out, "{row}")?;
            rows.push(row);
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let lat_total = s.lat_ns.len() * s.lat_servers.len();
    let mut j = 0;
    for &n in &s.lat_ns {
        for server in &s.lat_servers {
            j += 1;
            if !matches!(base(server), "zhibo" | "nginx" | "nginx-hls") {
                continue;
            }
            log(format!(
                "[delay {j}/{lat_total}] {} N={n}: {}s",
                label(&s, server),
                s.lat_window
            ));
            let row = match run_latency(&s, server, n) {
                Ok(row) => row,
                Err(e) => {
                    log(format!("  {server} N={n} failed: {e}"));
                    json!({"kind": "latency", "server": server, "label": label(&s, server), "n": n,
                           "error": e.to_string()})
                }
            };
            log(format!(
                "  p50 {} ms, p95 {} ms, samples {}",
                row["result"]["p50_ms"], row["result"]["p95_ms"], row["result"]["samples"]
            ));
            writeln!(out, "{row}")?;
            rows.push(row);
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let secs = t0.elapsed().as_secs();
    log(format!("matrix done in {} min {} s", secs / 60, secs % 60));
    print!("{}", report(&rows));
    Ok(())
}

fn join(a: &[Value]) -> String {
    a.iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

fn num(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    }
}

/// The markdown report of JSONL rows.
pub fn report(rows: &[Value]) -> String {
    let mut o = String::new();
    let meta = rows.iter().find(|r| r["kind"] == "meta");
    if let Some(m) = meta {
        o += &format!(
            "\nOne live: {:.2} Mbit/s of FLV tags ({:.2} Mbit/s of RTMP audio/video payload), {} CPUs, window {} s after {} s warm-up; viewers read every {} ms on {} thread(s).\n",
            m["flv_media_bps"].as_f64().unwrap_or(0.0) / 1e6,
            m["rtmp_media_bps"].as_f64().unwrap_or(0.0) / 1e6,
            m["cpus"],
            m["window_s"],
            m["warmup_s"],
            m["viewer_read_ms"],
            m["viewer_threads"],
        );
    }
    o += "\n### Fan-out: server CPU per viewer\n\n";
    o += "| server | N | viewers ok | lost | egress Gbit/s | of N x rate | server CPU % | CPU %/viewer | CPU % per Gbit/s | busiest srv thread % | viewers' CPU % (1 process) | publisher CPU % | other CPU % | box CPU % (of max) | saturated |\n";
    o += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    let fan: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "fanout").collect();
    for r in &fan {
        if let Some(e) = r.get("error") {
            o += &format!(
                "| {} | {} | - | - | - | - | - | - | - | - | - | - | - | - | FAILED: {} |\n",
                r["label"].as_str().unwrap_or("?"),
                r["n"],
                e.as_str().unwrap_or("?").replace('|', "/")
            );
            continue;
        }
        let mut sat = match r["saturated"].as_array() {
            Some(a) if !a.is_empty() => format!("**yes**: {}", join(a)),
            _ => "no".into(),
        };
        if r["other_cpu_pct"].as_f64().is_some_and(|x| x > NOISY_PCT) {
            sat += " (noisy)";
        }
        let mut lost = r["viewers_lost"].to_string();
        if let Some(d) = r["zhibo_flv_viewers_dropped_total"].as_f64() {
            lost += &format!(" (worker dropped {d:.0})");
        }
        o += &format!(
            "| {} | {} | {} | {} | {} | {:.0}% | {} | {} | {} | {} | {} | {} | {} | {} of {} | {} |\n",
            r["label"].as_str().unwrap_or("?"),
            r["n"],
            r["viewers_ok"],
            lost,
            num(&r["egress_gbps"], 3),
            r["media_vs_expected"].as_f64().unwrap_or(0.0) * 100.0,
            num(&r["server_cpu_pct"], 1),
            num(&r["cpu_pct_per_viewer"], 4),
            num(&r["cpu_pct_per_gbps"], 1),
            num(&r["server_busiest_thread_pct"], 1),
            num(&r["viewers_cpu_pct"], 1),
            num(&r["publisher_cpu_pct"], 1),
            num(&r["other_cpu_pct"], 0),
            num(&r["box_cpu_pct"], 0),
            r["box_cpu_max_pct"],
            sat
        );
    }
    let by = |server: &str, n: &Value| -> Option<&Value> {
        fan.iter()
            .copied()
            .find(|r| r["server"] == server && r["n"] == *n && r.get("error").is_none())
    };
    let mut ns: Vec<Value> = Vec::new();
    for r in &fan {
        if !ns.contains(&r["n"]) {
            ns.push(r["n"].clone());
        }
    }
    o += "\n### Ratios of CPU per viewer (same N, same run)\n\n";
    o += "| N | zhibo | / nginx-rtmp | goal <= 0.5 | / floor (batched) | / floor (per tag) | nginx-rtmp / floor (per tag) | note |\n|---|---|---|---|---|---|---|---|\n";
    let mut zhibos: Vec<&str> = Vec::new();
    for r in &fan {
        if let Some(spec) = r["server"].as_str() {
            if base(spec) == "zhibo" && !zhibos.contains(&spec) {
                zhibos.push(spec);
            }
        }
    }
    for n in &ns {
        for zspec in &zhibos {
            let cpv = |s: &str| by(s, n).and_then(|r| r["cpu_pct_per_viewer"].as_f64());
            let (z, g, f, ft) = (cpv(zspec), cpv("nginx"), cpv("floor"), cpv("floor-tag"));
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let zn = ratio(z, g);
            let verdict = match zn {
                Some(x) if x <= 0.5 => "PASS",
                Some(_) => "FAIL",
                None => "-",
            };
            let flagged = |f: &dyn Fn(&Value) -> bool| -> Vec<String> {
                [*zspec, "nginx", "floor", "floor-tag"]
                    .into_iter()
                    .filter(|s| by(s, n).is_some_and(f))
                    .map(str::to_string)
                    .collect()
            };
            let mut notes = Vec::new();
            let sats = flagged(&|r| r["saturated"].as_array().is_some_and(|a| !a.is_empty()));
            if !sats.is_empty() {
                notes.push(format!("saturated: {}", sats.join(", ")));
            }
            let noisy = flagged(&|r| r["other_cpu_pct"].as_f64().is_some_and(|x| x > NOISY_PCT));
            if !noisy.is_empty() {
                notes.push(format!(
                    "noisy (other work > {NOISY_PCT}%): {}",
                    noisy.join(", ")
                ));
            }
            let f2 = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}"));
            let zlabel = by(zspec, n)
                .and_then(|r| r["label"].as_str())
                .unwrap_or(zspec)
                .to_string();
            o += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                n,
                zlabel,
                f2(zn),
                verdict,
                f2(ratio(z, f)),
                f2(ratio(z, ft)),
                f2(ratio(g, ft)),
                notes.join("; ")
            );
        }
    }
    let lat: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "latency").collect();
    if !lat.is_empty() {
        o += "\n### Added delay: publisher write -> viewer read, per video tag\n\n";
        o += "| server | N | viewers playing | samples (of ~expected) | p50 ms | p95 ms | p99 ms | max ms | other CPU % | goal p95 <= 100 ms |\n|---|---|---|---|---|---|---|---|---|---|\n";
        for r in lat {
            if let Some(e) = r.get("error") {
                o += &format!(
                    "| {} | {} | - | - | - | - | - | - | - | FAILED: {} |\n",
                    r["label"].as_str().unwrap_or("?"),
                    r["n"],
                    e.as_str().unwrap_or("?").replace('|', "/")
                );
                continue;
            }
            let v = &r["result"];
            let zhibo = r["server"].as_str().is_some_and(|s| base(s) == "zhibo");
            let goal = match (zhibo, v["p95_ms"].as_f64()) {
                (true, Some(p)) if p <= 100.0 => "PASS",
                (true, Some(_)) => "FAIL",
                (true, None) => "no samples",
                _ => "(reference)",
            };
            o += &format!(
                "| {} | {} | {} of {} | {} (~{}) | {} | {} | {} | {} | {} | {}{} |\n",
                r["label"].as_str().unwrap_or("?"),
                r["n"],
                v["playing_at_end"],
                r["n"],
                v["samples"],
                v["expected_samples_approx"],
                num(&v["p50_ms"], 1),
                num(&v["p95_ms"], 1),
                num(&v["p99_ms"], 1),
                num(&v["max_ms"], 1),
                num(&r["other_cpu_pct"], 0),
                goal,
                if r["other_cpu_pct"].as_f64().is_some_and(|x| x > NOISY_PCT) {
                    " (noisy)"
                } else {
                    ""
                }
            );
        }
    }
    o
}

pub fn report_files(paths: &[String]) -> io::Result<()> {
    let mut rows = Vec::new();
    for p in paths {
        for line in fs::read_to_string(p)?.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                rows.push(v);
            }
        }
    }
    print!("{}", report(&rows));
    Ok(())
}
