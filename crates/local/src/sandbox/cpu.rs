//! How busy this machine's processors are, read from `/proc/stat`: the
//! pool starts another environment for a waiting invocation only when a
//! processor has time to run it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Readings closer together than this reuse the last answer (the counters
/// tick at 100 Hz, so a shorter interval says little).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Below this share of idle time (in thousandths) the machine counts as saturated.
const SATURATED_BELOW_PERMILLE: u32 = 50;

/// The idle share of the processors since the previous look, read only when
/// asked (when an invocation has waited), so an idle backend reads nothing.
#[derive(Debug, Default)]
pub(super) struct CpuLoad {
    last: Mutex<Option<Reading>>,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    times: (u64, u64),
    saturated: bool,
}

impl CpuLoad {
    /// Whether the processors were nearly always busy since the previous
    /// look. The first look, or one where `/proc/stat` cannot be read,
    /// answers no.
    pub(super) fn saturated(&self) -> bool {
        // The slot holds plain data; a panic elsewhere cannot leave it half-written.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(prev) = *last
            && now.duration_since(prev.at) < MIN_INTERVAL
        {
            return prev.saturated;
        }
        let Some(times) = read_times() else { return false };
        let saturated = last.is_some_and(|prev| idle_permille(prev.times, times) < SATURATED_BELOW_PERMILLE);
        *last = Some(Reading { at: now, times, saturated });
        saturated
    }
}

/// Idle and total processor time, in clock ticks, from the `cpu` line.
fn read_times() -> Option<(u64, u64)> {
    parse_times(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>().ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is already in user.
    let counted = fields.get(..8)?;
    let idle = counted[3] + counted[4];
    Some((idle, counted.iter().sum()))
}

fn idle_permille((idle_a, total_a): (u64, u64), (idle_b, total_b): (u64, u64)) -> u32 {
    let total = total_b.saturating_sub(total_a);
    if total == 0 {
        return 1000;
    }
    (idle_b.saturating_sub(idle_a) * 1000 / total).min(1000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_line_and_computes_the_idle_share() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n";
        assert_eq!(parse_times(stat), Some((850, 1000)));
        assert_eq!(idle_permille((850, 1000), (900, 2000)), 50);
        assert_eq!(idle_permille((850, 1000), (850, 1000)), 1000);
        assert_eq!(parse_times("cpu  1 2\n"), None);
        assert_eq!(parse_times("nothing"), None);
    }
}
