//! The machine a benchmark ran on, for its table's heading (benches/login.rs, wan.rs).

use std::process::Command;

/// CPU model, cores, kernel, docker and curl versions and load.
pub fn describe() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!(
        "{cpu}, {cores} cores, Linux {}, docker CLI {}, curl {}, load average {load} at start",
        output("uname", &["-r"]),
        output("docker", &["version", "--format", "{{.Client.Version}}"]),
        output("sh", &["-c", "curl --version | head -1 | cut -d' ' -f2"]),
    )
}
