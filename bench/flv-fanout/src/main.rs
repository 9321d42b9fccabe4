//! `zhibo-flv-bench`: HTTP-FLV fan-out benchmark (see `bench/README.md`, "HTTP-FLV fan-out").
//!
//! Subcommands (the matrix starts the others as separate processes):
//!   matrix                      the whole benchmark; settings from `BENCH_FLV_*` variables
//!   report FILE.jsonl...        re-print the markdown report of earlier runs
//!   floor --listen ADDR --input FILE [--max-queue-kb 8192] [--batch-ms 0] [--sendfile 0|1]
//!   publish --url rtmp://HOST:PORT/APP/KEY --input FILE
//!   viewers --kind http|rtmp --url URL --n N [--read-ms 100] [--threads 1] [--batch 50]
//!           [--expect-media-bps BPS]
//!   latency --publish RTMP_URL --kind http|rtmp --url URL --n N --input FILE
//!           [--warmup-s 5] [--duration-s 20]

mod floor;
mod http;
mod input;
mod loadgen;
mod matrix;
mod procfs;
mod rtmp;
mod stats;

use std::collections::HashMap;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

/// `--name value` options.
struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> io::Result<Opts> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| io::Error::other(format!("unexpected argument {a:?}")))?;
            let v = it
                .next()
                .ok_or_else(|| io::Error::other(format!("--{name} needs a value")))?;
            map.insert(name.to_string(), v.clone());
        }
        Ok(Opts(map))
    }

    fn str(&self, name: &str) -> io::Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| io::Error::other(format!("--{name} is required")))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> io::Result<T> {
        match self.0.get(name) {
            Some(v) => v
                .parse()
                .map_err(|_| io::Error::other(format!("--{name} {v:?} is not a number"))),
            None => default.ok_or_else(|| io::Error::other(format!("--{name} is required"))),
        }
    }
}

/// Raises the open-files limit to the hard limit (1000 viewers need 1000+ sockets); returns it.
pub fn nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            let _ = libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    let cur = r.rlim_cur as u64;
    cur
}

fn run(args: &[String]) -> io::Result<()> {
    let (cmd, rest) = args.split_first().ok_or_else(|| {
        io::Error::other("usage: zhibo-flv-bench matrix|report|floor|publish|viewers|latency ...")
    })?;
    if cmd == "report" {
        return matrix::report_files(rest);
    }
    let o = Opts::parse(rest)?;
    match cmd.as_str() {
        "matrix" => matrix::matrix(),
        "floor" => {
            let input = input::Input::read(o.str("input")?)?;
            floor::serve(
                o.str("listen")?,
                &input,
                o.num("max-queue-kb", Some(8192usize))? * 1024,
                Duration::from_millis(o.num("batch-ms", Some(0))?),
                o.num("sendfile", Some(0u8))? == 1,
            )
        }
        "publish" => {
            let input = input::Input::read(o.str("input")?)?;
            let url = rtmp::RtmpUrl::parse(o.str("url")?)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(rtmp::publish(&url, &input, None))
        }
        "viewers" => loadgen::viewers(loadgen::ViewersArgs {
            target: loadgen::Target::parse(o.str("kind")?, o.str("url")?)?,
            n: o.num("n", None)?,
            read_every: Duration::from_millis(o.num("read-ms", Some(100))?),
            threads: o.num("threads", Some(1))?,
            batch: o.num("batch", Some(50))?,
            expect_media_bps: o.num("expect-media-bps", Some(0.0))?,
        }),
        "latency" => {
            let input = input::Input::read(o.str("input")?)?;
            loadgen::latency(
                input,
                loadgen::LatencyArgs {
                    publish: rtmp::RtmpUrl::parse(o.str("publish")?)?,
                    target: loadgen::Target::parse(o.str("kind")?, o.str("url")?)?,
                    n: o.num("n", None)?,
                    warmup: Duration::from_secs_f64(o.num("warmup-s", Some(5.0))?),
                    duration: Duration::from_secs_f64(o.num("duration-s", Some(20.0))?),
                },
            )
        }
        other => Err(io::Error::other(format!("unknown subcommand {other:?}"))),
    }
}

fn main() -> ExitCode {
    nofile();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "zhibo-flv-bench {}: {e}",
                args.first().map_or("", String::as_str)
            );
            ExitCode::FAILURE
        }
    }
}
