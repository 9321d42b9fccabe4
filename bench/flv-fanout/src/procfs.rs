//! CPU time from `/proc`: a process tree's user+system ticks, its busiest thread, the box.

use std::collections::HashMap;
use std::fs;

pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

pub fn ncpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// (ppid, utime + stime) from a `stat` file's text.
fn parse_stat(text: &str) -> Option<(u32, u64)> {
    // the command name is in parentheses and may hold spaces: fields start after the last ')'
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `pid` and its live descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, _)) = fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// A snapshot of CPU ticks: per process and per thread of a tree.
#[derive(Default, Clone)]
pub struct TreeTicks {
    pub procs: HashMap<u32, u64>,
    pub threads: HashMap<(u32, u32), u64>,
}

impl TreeTicks {
    pub fn sample(root: u32) -> TreeTicks {
        let mut t = TreeTicks::default();
        for pid in tree(root) {
            if let Some((_, ticks)) = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            {
                t.procs.insert(pid, ticks);
            }
            if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) {
                for e in dir.flatten() {
                    let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    if let Some((_, ticks)) =
                        fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
                            .ok()
                            .as_deref()
                            .and_then(parse_stat)
                    {
                        t.threads.insert((pid, tid), ticks);
                    }
                }
            }
        }
        t
    }

    /// Ticks spent between `self` (earlier) and `later` by the tree (processes alive at the
    /// end; a process that started in between counts from 0), and by its busiest thread.
    pub fn delta(&self, later: &TreeTicks) -> (u64, u64) {
        let total = later
            .procs
            .iter()
            .map(|(p, t)| t.saturating_sub(*self.procs.get(p).unwrap_or(&0)))
            .sum();
        let busiest = later
            .threads
            .iter()
            .map(|(k, t)| t.saturating_sub(*self.threads.get(k).unwrap_or(&0)))
            .max()
            .unwrap_or(0);
        (total, busiest)
    }
}

/// The box: (busy ticks, all ticks) summed over CPUs, from `/proc/stat`.
pub fn box_ticks() -> (u64, u64) {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    let all: u64 = v.iter().sum();
    let idle = v.get(3).unwrap_or(&0) + v.get(4).unwrap_or(&0);
    (all - idle, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_name() {
        let s = "123 (a b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16";
        assert_eq!(parse_stat(s), Some((1, 11 + 12)));
    }
}
