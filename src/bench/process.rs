//! What the kernel knows of a process and of UDP: CPU time and resident memory from
//! `/proc/<pid>`, receive-buffer drops from `/proc/net/snmp` (Linux).

use anyhow::Context as _;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process's CPU time and memory at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User and system CPU time since the process started, seconds.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// The highest resident memory the process has had.
    pub peak_rss_bytes: u64,
}

/// The usage of process `pid`.
pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(Usage {
        cpu_seconds: cpu_seconds(&stat).context("parsing /proc/<pid>/stat")?,
        rss_bytes: status_kib(&status, "VmRSS").unwrap_or(0) * 1024,
        peak_rss_bytes: status_kib(&status, "VmHWM").unwrap_or(0) * 1024,
    })
}

/// The CPU time of the threads of process `pid` named `name`, seconds (0 when none is found).
pub fn thread_cpu_seconds(pid: u32, name: &str) -> f64 {
    // The kernel keeps the first 15 bytes of a thread's name.
    let comm = &name.as_bytes()[..name.len().min(15)];
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read(task.path().join("comm"))
                .is_ok_and(|named| named.trim_ascii_end() == comm)
        })
        .filter_map(|task| cpu_seconds(&std::fs::read_to_string(task.path().join("stat")).ok()?))
        .sum()
}

/// utime + stime: fields 14 and 15, counted after the parenthesised command name (which may
/// itself hold spaces).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// UDP datagrams the kernel dropped for a full receive buffer, machine-wide (`RcvbufErrors`).
pub fn udp_receive_buffer_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    snmp_field(&snmp, "Udp", "RcvbufErrors").unwrap_or(0)
}

/// A field of `/proc/net/snmp`: a header line of names, then a line of values, per protocol.
fn snmp_field(snmp: &str, protocol: &str, name: &str) -> Option<u64> {
    let prefix = format!("{protocol}:");
    let mut lines = snmp.lines().filter(|line| line.starts_with(&prefix));
    let names = lines.next()?.split_whitespace();
    let values = lines.next()?.split_whitespace();
    names
        .zip(values)
        .find(|(field, _)| *field == name)
        .and_then(|(_, value)| value.parse().ok())
}

/// The machine: logical cores and the CPU model.
pub fn machine() -> (usize, String) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    (cores, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_after_a_command_name_with_spaces() {
        let stat = "4242 (meterd serve) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn reads_memory_in_bytes_from_status() {
        let status = "Name:\tmeterd\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(10_240));
        assert_eq!(status_kib(status, "VmHWM"), Some(20_480));
    }

    #[test]
    fn reads_udp_counters_from_snmp() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 100 2 3 90 7 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 0\n";
        assert_eq!(snmp_field(snmp, "Udp", "RcvbufErrors"), Some(7));
        assert_eq!(snmp_field(snmp, "Udp", "Nothing"), None);
    }

    #[test]
    fn finds_a_thread_by_its_name() {
        // The thread spins until its own CPU time, as read by name, shows a tenth of a second
        // (other tests share the cores, so wall time says little); a thread not found reads 0
        // and gives up after 10 s.
        let busy = std::thread::Builder::new()
            .name("bench-test-busy-thread".into())
            .spawn(|| {
                let started = std::time::Instant::now();
                let mut measured = 0.0;
                while measured < 0.1 && started.elapsed() < std::time::Duration::from_secs(10) {
                    let mut spins = 0u64;
                    while spins < 1_000_000 {
                        spins = std::hint::black_box(spins + 1);
                    }
                    measured = thread_cpu_seconds(std::process::id(), "bench-test-busy-thread");
                }
                measured
            })
            .unwrap();
        let measured = busy.join().unwrap();
        assert!(measured >= 0.1, "{measured} s");
        assert_eq!(
            thread_cpu_seconds(std::process::id(), "no-such-thread"),
            0.0
        );
    }

    #[test]
    fn this_process_uses_memory() {
        let usage = usage(std::process::id()).unwrap();
        assert!(usage.rss_bytes > 0 && usage.peak_rss_bytes >= usage.rss_bytes);
    }
}
