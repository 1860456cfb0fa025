//! A process's own accounting from /proc: CPU time (user + system, all
//! threads, exited ones included) and resident memory. The bench reads the
//! bridge's figures this way, so they are what the kernel charged to it and
//! not a guess from outside.

use std::fs;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read /proc/{pid}: {source}")]
    Read { pid: String, source: std::io::Error },
    #[error("unexpected /proc/{0}/stat format")]
    Format(String),
}

/// `pid` is a number or `self`.
pub fn sample(pid: &str) -> Result<ProcSample, ProcError> {
    let read = |file: &str| {
        fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|source| ProcError::Read {
            pid: pid.to_string(),
            source,
        })
    };
    let cpu_seconds = parse_stat(&read("stat")?).ok_or_else(|| ProcError::Format(pid.into()))?;
    let rss_bytes = parse_rss(&read("status")?).unwrap_or(0);
    Ok(ProcSample {
        cpu_seconds,
        rss_bytes,
    })
}

/// utime + stime from /proc/<pid>/stat. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_tricky_name() {
        let stat =
            "1234 (conf ab) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_stat(stat), Some(3.0));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn rss() {
        let status = "Name:\tconfab\nVmPeak:\t 9 kB\nVmRSS:\t   19456 kB\nThreads:\t4\n";
        assert_eq!(parse_rss(status), Some(19456 * 1024));
    }

    #[test]
    fn own_process() {
        let s = sample("self").unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_seconds >= 0.0);
    }
}
