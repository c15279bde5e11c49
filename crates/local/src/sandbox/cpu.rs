//! How busy this machine's processors are, sampled from `/proc/stat`: the
//! pool starts another environment for a waiting invocation only when a
//! processor has time to run it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How often the processor times are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(25);
/// Below this share of idle time (in thousandths) the machine counts as saturated.
const SATURATED_BELOW_PERMILLE: u32 = 50;

/// The idle share of the processors over the last sample period.
#[derive(Debug)]
pub struct CpuLoad {
    idle_permille: AtomicU32,
}

impl CpuLoad {
    /// Starts sampling in the background (until the returned value is
    /// dropped). Where `/proc/stat` cannot be read the machine never
    /// counts as saturated.
    pub fn start() -> Arc<Self> {
        let load = Arc::new(Self { idle_permille: AtomicU32::new(1000) });
        let weak = Arc::downgrade(&load);
        tokio::spawn(async move {
            let mut last = read_times();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let Some(load) = weak.upgrade() else { break };
                let now = read_times();
                if let (Some(a), Some(b)) = (last, now) {
                    load.idle_permille.store(idle_permille(a, b), Ordering::Relaxed);
                }
                last = now;
            }
        });
        load
    }

    /// Whether the processors were nearly always busy in the last sample period.
    pub fn saturated(&self) -> bool {
        self.idle_permille.load(Ordering::Relaxed) < SATURATED_BELOW_PERMILLE
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
