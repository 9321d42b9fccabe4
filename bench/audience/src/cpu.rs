//! CPU time from `/proc`: a process (all its threads), a process group, the whole box.

use std::time::Instant;

fn ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (pid, pgrp, utime + stime in ticks) of `/proc/{pid}/stat`.
fn stat(pid: &str) -> Option<(u32, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
    let pgrp = f.get(2)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((pid.parse().ok()?, pgrp, ticks))
}

/// CPU seconds of `pid` and of every process in the group it leads (`pid` alone when it is
/// not a group leader).
pub fn group_seconds(pid: u32) -> f64 {
    let mut ticks = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some((p, g, t)) = stat(name) {
                if p == pid || g == pid {
                    ticks += t;
                }
            }
        }
    }
    ticks as f64 / ticks_per_s()
}

/// CPU seconds of this process.
pub fn own_seconds() -> f64 {
    stat(&std::process::id().to_string()).map_or(0.0, |(_, _, t)| t as f64 / ticks_per_s())
}

/// Busy CPU seconds of the whole box (all cores; `/proc/stat` minus idle and iowait).
pub fn box_seconds() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = text.lines().next() else {
        return 0.0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle) as f64 / ticks_per_s()
}

/// CPU use over a window, in % of one core.
pub struct Meter {
    at: Instant,
    server: f64,
    dynamo: f64,
    own: f64,
    all: f64,
    server_pid: u32,
    dynamo_pid: Option<u32>,
}

/// What a [`Meter`] measured, in % of one core.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// `zhibo serve`.
    pub server: f64,
    /// DynamoDB Local (its process group), if its pid is known.
    pub dynamo: Option<f64>,
    /// This process: the load generator, the subscriber and the counting proxy.
    pub bench: f64,
    /// Everything else on the box (other work).
    pub other: f64,
}

impl Meter {
    /// Starts measuring.
    pub fn start(server_pid: u32, dynamo_pid: Option<u32>) -> Meter {
        Meter {
            at: Instant::now(),
            server: group_seconds(server_pid),
            dynamo: dynamo_pid.map_or(0.0, group_seconds),
            own: own_seconds(),
            all: box_seconds(),
            server_pid,
            dynamo_pid,
        }
    }

    /// The use since [`Meter::start`].
    pub fn stop(&self) -> Usage {
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let pct = |now: f64, then: f64| (now - then).max(0.0) / secs * 100.0;
        let server = pct(group_seconds(self.server_pid), self.server);
        let dynamo = self.dynamo_pid.map(|p| pct(group_seconds(p), self.dynamo));
        let bench = pct(own_seconds(), self.own);
        let all = pct(box_seconds(), self.all);
        Usage {
            server,
            dynamo,
            bench,
            other: (all - server - dynamo.unwrap_or(0.0) - bench).max(0.0),
        }
    }
}
