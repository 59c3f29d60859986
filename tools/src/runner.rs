//! The one tool runner and the one error type of every tool driver in this crate
//! (the iCE40 flow, Icarus, Verilator and the C++ compiler behind it).
//!
//! A tool that is not installed is reported by name with the Debian package that
//! provides it; a tool that fails carries its exit status and the tail of what it
//! printed (and where the whole log is, when it was written to a file).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often a long-running tool's latest log line is echoed to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Lines of a failing tool's output carried in its error.
const TAIL_LINES: usize = 15;

/// A command-line tool and the Debian package it comes from (`scripts/setup` installs
/// every one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub package: &'static str,
}

pub const YOSYS: Tool = Tool { name: "yosys", package: "yosys" };
pub const NEXTPNR: Tool = Tool { name: "nextpnr-ice40", package: "nextpnr-ice40" };
pub const ICEPACK: Tool = Tool { name: "icepack", package: "fpga-icestorm" };
/// Needs the chip database too (`fpga-icestorm-chipdb`).
pub const ICETIME: Tool = Tool { name: "icetime", package: "fpga-icestorm" };
pub const IVERILOG: Tool = Tool { name: "iverilog", package: "iverilog" };
pub const VVP: Tool = Tool { name: "vvp", package: "iverilog" };
pub const VERILATOR: Tool = Tool { name: "verilator", package: "verilator" };
/// The C++ compiler that builds Verilator's model into a shared library.
pub const CXX: Tool = Tool { name: "g++", package: "g++" };
/// The placed-and-routed `.asc` back to Verilog (a Python script of icestorm's).
pub const ICEBOX_VLOG: Tool = Tool { name: "icebox_vlog", package: "fpga-icestorm" };
/// The flashed `.bin` back to its `.asc`.
pub const ICEUNPACK: Tool = Tool { name: "iceunpack", package: "fpga-icestorm" };

/// Every error of the tool drivers.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("`{tool}` is not installed: install the Debian package `{package}` (scripts/setup does)")]
    Missing { tool: &'static str, package: &'static str },
    #[error("cannot run `{tool}`: {source}")]
    Spawn {
        tool: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{tool} failed ({status}){}; its last lines:\n{tail}", log.as_ref().map(|l| format!("; full log in {}", l.display())).unwrap_or_default())]
    Failed { tool: &'static str, status: String, log: Option<PathBuf>, tail: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {path}: {detail}")]
    Parse { path: PathBuf, detail: String },

    // The design handed to a tool.
    #[error("the design failed rust-hdl's connection check: {0}")]
    Check(String),
    #[error("generating {what} failed: {detail}")]
    Generate { what: &'static str, detail: String },
    /// yosys accepted the Verilog but logged a problem that makes the hardware differ
    /// from the Rust simulation (the same checks as rust-hdl's `yosys_validate`).
    #[error("yosys found design problems (full log in {log}):\n{lines}")]
    Design { log: PathBuf, lines: String },
    #[error("port `{port}` cannot be simulated from outside: {why}")]
    UnsupportedPort { port: String, why: String },
    #[error("the Rust block's ports and the Verilog `module top` disagree: {0}")]
    PortsDiffer(String),

    // Co-simulation.
    #[error("the rust-hdl simulation did not settle at clock {clock}")]
    NotSettled { clock: usize },
    #[error("input `{port}` was {value} (not 0/1) in the Rust simulation at clock {clock}")]
    UndrivenInput { port: String, clock: usize, value: String },
    #[error("nothing to compare: {0}")]
    Empty(&'static str),
    #[error("{0}")]
    Mismatch(crate::icarus::Mismatch),
    /// A recorded run replayed on another model disagreed.
    #[error("{0}")]
    Replay(String),
    #[error("Icarus output {path}: {detail}")]
    BadOutput { path: PathBuf, detail: String },

    // Verilator's library.
    #[error("loading {path}: {detail}")]
    Load { path: PathBuf, detail: String },
}

impl ToolError {
    /// `Io` for `path`, as a closure for `map_err`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> ToolError + '_ {
        move |source| ToolError::Io { path: path.to_path_buf(), source }
    }
}

fn spawn_error(tool: Tool, source: io::Error) -> ToolError {
    if source.kind() == io::ErrorKind::NotFound {
        ToolError::Missing { tool: tool.name, package: tool.package }
    } else {
        ToolError::Spawn { tool: tool.name, source }
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// True when `tool` can be started (it is on PATH).
pub fn available(tool: Tool) -> bool {
    Command::new(tool.name)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `tool` in `dir`, its output captured; returns stdout + stderr on success.
pub fn run(tool: Tool, args: &[&str], dir: &Path) -> Result<String, ToolError> {
    let out = Command::new(tool.name)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(tool, e))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text += &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(ToolError::Failed { tool: tool.name, status: out.status.to_string(), log: None, tail: tail(&text) });
    }
    Ok(text)
}

/// Runs `tool` in `dir` with its stdout written to `out` (a tool that prints its
/// result); its stderr is carried in the error when it fails.
pub fn run_to_file(tool: Tool, args: &[&str], dir: &Path, out: &Path) -> Result<(), ToolError> {
    let file = File::create(out).map_err(ToolError::io(out))?;
    let o = Command::new(tool.name)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(tool, e))?;
    if !o.status.success() {
        return Err(ToolError::Failed {
            tool: tool.name,
            status: o.status.to_string(),
            log: None,
            tail: tail(&String::from_utf8_lossy(&o.stderr)),
        });
    }
    Ok(())
}

/// Runs `tool` in `dir` with stdout and stderr going to `dir/log`, echoing its latest
/// log line every [`PROGRESS_EVERY`] (nextpnr can be quiet for minutes); returns its
/// wall-clock seconds.
pub fn run_logged(tool: Tool, args: &[String], dir: &Path, log: &str) -> Result<f64, ToolError> {
    let log_path = dir.join(log);
    let file = File::create(&log_path).map_err(ToolError::io(&log_path))?;
    let file2 = file.try_clone().map_err(ToolError::io(&log_path))?;
    eprintln!("[flow] {} {} (log: {})", tool.name, args.join(" "), log_path.display());
    let t = Instant::now();
    let mut child = Command::new(tool.name)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(file2))
        .spawn()
        .map_err(|e| spawn_error(tool, e))?;
    let mut next_note = PROGRESS_EVERY;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => return Err(ToolError::Spawn { tool: tool.name, source }),
        }
        std::thread::sleep(Duration::from_millis(100));
        if t.elapsed() >= next_note {
            next_note += PROGRESS_EVERY;
            let text = fs::read_to_string(&log_path).unwrap_or_default();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            eprintln!("[flow] {} running {:.0}s: {}", tool.name, t.elapsed().as_secs_f64(), last.trim());
        }
    };
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        eprintln!("[flow] {} FAILED after {secs:.1}s", tool.name);
        return Err(ToolError::Failed { tool: tool.name, status: status.to_string(), log: Some(log_path), tail: tail(&text) });
    }
    eprintln!("[flow] {} done in {secs:.1}s", tool.name);
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_debian_package() {
        let ghost = Tool { name: "portshare-no-such-tool", package: "portshare-ghost" };
        let e = run(ghost, &[], Path::new(".")).unwrap_err();
        assert!(matches!(e, ToolError::Missing { .. }), "{e:?}");
        assert!(e.to_string().contains("Debian package `portshare-ghost`"), "{e}");
        assert!(!available(ghost));
    }

    #[test]
    fn a_failing_tool_carries_its_output() {
        let sh = Tool { name: "sh", package: "dash" };
        let e = run(sh, &["-c", "echo first; echo the-reason >&2; exit 3"], Path::new(".")).unwrap_err();
        let ToolError::Failed { status, tail, .. } = &e else { panic!("{e:?}") };
        assert!(status.contains('3') && tail.contains("the-reason"), "{e}");
    }
}
