//! [`EnvReader`]: reads configuration variables through a lookup (the process environment, or a
//! map in tests) and collects every problem, so that a deployment sees all of them at once and
//! is fixed in one go.
//!
//! ```
//! use zhibo_core::env::EnvReader;
//! let get = |k: &str| (k == "PORT").then(|| "99999".to_string());
//! let mut env = EnvReader::new(get);
//! let port: u16 = env.num("PORT", 80, 1..=65535);
//! let name = env.string("NAME", "the service name");
//! let problems = env.finish().unwrap_err();
//! assert_eq!(problems.problems().len(), 2);
//! ```

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// Every problem an [`EnvReader`] found: each says which variable, what was wrong and what to
/// do. Displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct EnvError {
    problems: Vec<String>,
}

impl EnvError {
    /// The problems, in the order they were found.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Reads variables through a lookup; a blank value counts as unset. Each reader method returns
/// a usable value (the default when the variable is invalid) and records what was wrong;
/// [`EnvReader::finish`] then reports all of it.
pub struct EnvReader<F> {
    get: F,
    trim: bool,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> EnvReader<F> {
    /// A reader returning values as set (a blank value counts as unset; numbers, flags and
    /// addresses are parsed without surrounding whitespace).
    pub fn new(get: F) -> EnvReader<F> {
        EnvReader {
            get,
            trim: false,
            problems: Vec::new(),
        }
    }

    /// A reader returning every value without surrounding whitespace.
    pub fn trimming(get: F) -> EnvReader<F> {
        EnvReader {
            trim: true,
            ..EnvReader::new(get)
        }
    }

    /// Records a problem found by the caller (a check across variables, an invalid choice);
    /// `message` says what was wrong and what to do.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// `k`'s value, `None` when unset or blank.
    pub fn optional(&self, k: &str) -> Option<String> {
        let v = (self.get)(k)?;
        if v.trim().is_empty() {
            None
        } else if self.trim {
            Some(v.trim().to_string())
        } else {
            Some(v)
        }
    }

    /// `k`'s value, or `default` when unset.
    pub fn or(&self, k: &str, default: &str) -> String {
        self.optional(k).unwrap_or_else(|| default.to_string())
    }

    /// A required variable; when unset, the problem is `"{k} is required: {what}"` and the
    /// value is empty.
    pub fn string(&mut self, k: &str, what: &str) -> String {
        self.optional(k).unwrap_or_else(|| {
            self.problem(format!("{k} is required: {what}"));
            String::new()
        })
    }

    /// An optional secret: when set, at least `min_len` characters.
    pub fn secret(&mut self, k: &str, min_len: usize) -> Option<String> {
        let v = self.optional(k);
        if v.as_ref().is_some_and(|v| v.len() < min_len) {
            self.problem(format!(
                "{k} is too short: use at least {min_len} characters"
            ));
        }
        v
    }

    /// An integer in `range`, `default` when unset or invalid.
    pub fn num<T>(&mut self, k: &str, default: T, range: RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        match self.optional(k) {
            None => default,
            Some(v) => match v.trim().parse::<T>() {
                Ok(n) if range.contains(&n) => n,
                _ => {
                    self.problem(format!(
                        "{k}={v:?} is invalid: expected an integer in {}..={}",
                        range.start(),
                        range.end()
                    ));
                    default
                }
            },
        }
    }

    /// Seconds in `range` (see [`EnvReader::num`]).
    pub fn secs(&mut self, k: &str, default: u64, range: RangeInclusive<u64>) -> Duration {
        Duration::from_secs(self.num(k, default, range))
    }

    /// Milliseconds in `range` (see [`EnvReader::num`]).
    pub fn ms(&mut self, k: &str, default: u64, range: RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.num(k, default, range))
    }

    /// An optional `http://` or `https://` URL; `None` when unset or invalid.
    pub fn url(&mut self, k: &str) -> Option<String> {
        let v = self.optional(k)?;
        if is_http_url(&v) {
            Some(v)
        } else {
            self.problem(format!("{k}={v:?} is invalid: expected an http(s) URL"));
            None
        }
    }

    /// A socket address, `default` when unset; when invalid, the problem names the default as
    /// an example and the value is `127.0.0.1:0`.
    pub fn addr(&mut self, k: &str, default: &str) -> SocketAddr {
        let v = self.optional(k).unwrap_or_else(|| default.to_string());
        v.trim().parse().unwrap_or_else(|_| {
            self.problem(format!(
                "{k}={v:?} is invalid: expected host:port, e.g. {default}"
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    /// `1`/`true` or `0`/`false`, `default` when unset or invalid.
    pub fn flag(&mut self, k: &str, default: bool) -> bool {
        match self.optional(k).as_deref().map(str::trim) {
            None => default,
            Some("1") | Some("true") => true,
            Some("0") | Some("false") => false,
            Some(v) => {
                self.problem(format!("{k}={v:?} is invalid: expected 1 or 0"));
                default
            }
        }
    }

    /// `Ok` when nothing was wrong, else every problem.
    pub fn finish(self) -> Result<(), EnvError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(EnvError {
                problems: self.problems,
            })
        }
    }
}

/// True for an `http://` or `https://` URL.
pub fn is_http_url(v: &str) -> bool {
    v.starts_with("http://") || v.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_when_unset_or_blank() {
        let mut env = EnvReader::new(lookup(&[("BLANK", "  ")]));
        assert_eq!(env.optional("BLANK"), None);
        assert_eq!(env.or("BLANK", "d"), "d");
        assert_eq!(env.num("N", 7u32, 1..=10), 7);
        assert_eq!(env.secs("S", 3, 0..=10), Duration::from_secs(3));
        assert_eq!(env.ms("M", 3, 0..=10), Duration::from_millis(3));
        assert_eq!(env.url("U"), None);
        assert_eq!(env.addr("A", "0.0.0.0:1935").port(), 1935);
        assert!(env.flag("F", true));
        assert!(!env.flag("F", false));
        assert_eq!(env.secret("K", 16), None);
        assert_eq!(env.finish(), Ok(()));
    }

    #[test]
    fn values_parse() {
        let mut env = EnvReader::new(lookup(&[
            ("N", " 9 "),
            ("NEG", "-720"),
            ("U", "https://x"),
            ("A", "127.0.0.1:80"),
            ("F", "true"),
            ("G", "0"),
            ("S", " padded "),
        ]));
        assert_eq!(env.num("N", 7u32, 1..=10), 9);
        assert_eq!(env.num("NEG", 0i32, -720..=840), -720);
        assert_eq!(env.url("U").as_deref(), Some("https://x"));
        assert_eq!(env.addr("A", "0.0.0.0:1"), "127.0.0.1:80".parse().unwrap());
        assert!(env.flag("F", false));
        assert!(!env.flag("G", true));
        assert_eq!(env.string("S", "x"), " padded ");
        assert_eq!(env.finish(), Ok(()));
        let env = EnvReader::trimming(lookup(&[("S", " padded ")]));
        assert_eq!(env.optional("S").as_deref(), Some("padded"));
    }

    #[test]
    fn every_problem_is_reported_with_what_to_do() {
        let mut env = EnvReader::new(lookup(&[
            ("N", "11"),
            ("M", "soon"),
            ("U", "localhost:8000"),
            ("A", "nope"),
            ("F", "yes"),
            ("K", "short"),
        ]));
        assert_eq!(env.num("N", 7u32, 1..=10), 7);
        assert_eq!(env.num("M", 7u64, 1..=10), 7);
        assert_eq!(env.url("U"), None);
        assert_eq!(env.addr("A", "0.0.0.0:1935").port(), 0);
        assert!(env.flag("F", true));
        assert_eq!(env.secret("K", 16).as_deref(), Some("short"));
        assert_eq!(env.string("R", "the table name"), "");
        env.problem("X and Y differ: set one");
        let err = env.finish().unwrap_err();
        assert_eq!(
            err.problems(),
            [
                "N=\"11\" is invalid: expected an integer in 1..=10",
                "M=\"soon\" is invalid: expected an integer in 1..=10",
                "U=\"localhost:8000\" is invalid: expected an http(s) URL",
                "A=\"nope\" is invalid: expected host:port, e.g. 0.0.0.0:1935",
                "F=\"yes\" is invalid: expected 1 or 0",
                "K is too short: use at least 16 characters",
                "R is required: the table name",
                "X and Y differ: set one",
            ]
        );
        assert_eq!(err.to_string().lines().count(), 8);
        assert!(err.to_string().starts_with("N=\"11\""));
    }

    #[test]
    fn reads_only_what_is_asked() {
        use std::cell::RefCell;
        let asked = RefCell::new(Vec::new());
        let mut env = EnvReader::new(|k: &str| {
            asked.borrow_mut().push(k.to_string());
            None
        });
        env.num("A", 1u8, 0..=9);
        env.url("B");
        assert_eq!(env.finish(), Ok(()));
        assert_eq!(asked.into_inner(), ["A", "B"]);
    }
}
