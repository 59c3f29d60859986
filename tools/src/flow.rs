//! The iCE40 build flow for the Alchitry Cu (iCE40HX8K-CB132): rust-hdl block →
//! Verilog → yosys `synth_ice40` → `nextpnr-ice40` → `icepack`, with every exit status
//! checked and the timing and utilisation read back into a [`Report`].
//!
//! We do not use the BSP's `generate_bitstream`: it ignores tool failures and lets
//! nextpnr time the design against 12 MHz (RUST-HDL.md §7).
//!
//! All files land in the output directory: `<top>.v`, `<top>.pcf`, `synth.ys`,
//! `<top>.json` (netlist), `<top>.netlist.v` (the same netlist as Verilog, for the netlist
//! level), `<top>.asc`, `<top>.bin`, `nextpnr-report.json`, and one log
//! per tool (`yosys.log`, `nextpnr.log`, `icepack.log`).

use rust_hdl::core::check_error::check_all;
use rust_hdl::fpga::toolchains::icestorm::generate_pcf;
use rust_hdl::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use crate::runner::{run, run_logged, ToolError, ICEPACK, ICETIME, NEXTPNR, YOSYS};
use std::fs;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The part on the Alchitry Cu.
pub const DEVICE: &str = "iCE40HX8K-CB132";
/// Its package, as nextpnr, icetime and icebox_vlog name it.
pub const PACKAGE: &str = "cb132";
/// Cells whose source location is not inside the design's Verilog (e.g. LUTs made by
/// abc, which loses `src`) are counted under this name in [`Report::modules`].
pub const UNATTRIBUTED: &str = "(unattributed)";

/// What to build and how.
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// Every generated file and tool log goes here (created if missing).
    pub out_dir: PathBuf,
    /// Name of the top Verilog module (and of the output files). rust-hdl always
    /// emits `module top(`; any other name renames it (sub-modules stay `top$…`).
    pub top_name: String,
    /// Target clock frequency passed to nextpnr (`--freq`).
    pub freq_mhz: f64,
    /// Placement seed (`--seed`); nextpnr's default when `None`.
    pub seed: Option<u64>,
    /// When timing is missed at `seed`, place again with seeds 1..=`seed_sweep` (those
    /// not tried yet) until one meets it; the bitstream is the best placement's.
    pub seed_sweep: u64,
    /// Pin constraints. `None` = generated from the block's pin locations
    /// (`Signal::add_location`), as rust-hdl's icestorm PCF generator does.
    pub pcf: Option<String>,
    /// Clock domains beside `--freq`'s: (top-level clock net, MHz), given to nextpnr as
    /// pre-pack constraints (`clocks.py`, `ctx.addClock`), each timed against its own.
    pub clocks: Vec<(String, f64)>,
    /// yosys `synth_ice40 -dffe_min_ce_use N`: a clock enable that would drive fewer
    /// than N flip-flops becomes a LUT mux instead. An iCE40 logic block's 8 cells
    /// share one clock, enable and reset, so many small enable groups leave blocks
    /// part-empty; a nearly full design may then not place at all.
    pub dffe_min_ce_use: Option<u32>,
}

impl FlowOptions {
    pub fn new(out_dir: impl Into<PathBuf>, freq_mhz: f64) -> Self {
        FlowOptions {
            out_dir: out_dir.into(),
            top_name: "top".to_string(),
            freq_mhz,
            seed: None,
            seed_sweep: 0,
            pcf: None,
            clocks: Vec::new(),
            dffe_min_ce_use: None,
        }
    }
}

/// Achieved vs. wanted frequency of one clock domain, from nextpnr's report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClockTiming {
    /// nextpnr's net name, e.g. `clock$SB_IO_IN_$glb_clk`.
    pub name: String,
    pub fmax_mhz: f64,
    pub target_mhz: f64,
}

/// The register-to-register path of the kept placement (nextpnr's report) with the
/// least slack against its clock's target: with one clock the slowest path, which sets
/// Fmax (`1000 / total_ns` MHz); with several, the one that misses by most (or comes
/// closest), not merely the longest (a 14 ns path meets 50 MHz, a 13 ns one misses 100).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CriticalPath {
    /// The clock edges it runs between (`posedge clk -> posedge clk`).
    pub clocks: String,
    /// Source and sink cells, as nextpnr names them (instance paths of the design).
    pub from: String,
    pub to: String,
    pub total_ns: f64,
    /// Clock-to-out, LUTs and carries, and setup; the rest is wire.
    pub logic_ns: f64,
    pub routing_ns: f64,
}

/// One nextpnr placement: its seed and the worst clock's Fmax.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Placement {
    pub seed: Option<u64>,
    pub fmax_mhz: Option<f64>,
    pub timing_met: bool,
}

impl Placement {
    /// The placement at `seed` whose report gave `clocks`.
    fn of(seed: Option<u64>, clocks: &[ClockTiming]) -> Placement {
        Placement {
            seed,
            fmax_mhz: clocks.iter().map(|c| c.fmax_mhz).reduce(f64::min),
            timing_met: clocks.iter().all(|c| c.fmax_mhz >= c.target_mhz),
        }
    }
}

/// The seeds to place with, in order: `first`, then 1..=`sweep` without `first`.
pub fn seed_order(first: Option<u64>, sweep: u64) -> Vec<Option<u64>> {
    let mut seeds = vec![first];
    seeds.extend((1..=sweep).map(Some).filter(|s| *s != first));
    seeds
}

/// icestorm's own timing estimate of the placed design (`icetime`'s topological
/// analysis of the `.asc`), beside nextpnr's: an independent second opinion.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IcetimeEstimate {
    pub path_ns: f64,
    pub fmax_mhz: f64,
}

/// "Total path delay: 5.58 ns (179.07 MHz)" from icetime's report.
pub fn parse_icetime(report: &str) -> Option<IcetimeEstimate> {
    let line = report.lines().rev().find(|l| l.starts_with("Total path delay:"))?;
    let rest = line.strip_prefix("Total path delay:")?.trim();
    let (ns, mhz) = rest.split_once(" ns (")?;
    Some(IcetimeEstimate { path_ns: ns.trim().parse().ok()?, fmax_mhz: mhz.trim_end_matches(" MHz)").trim().parse().ok()? })
}

/// Wall-clock seconds of each step (reported, never asserted).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepSeconds {
    pub verilog: f64,
    pub yosys: f64,
    pub nextpnr: f64,
    pub icepack: f64,
    pub icetime: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub top: String,
    pub device: String,
    /// Worst achieved Fmax over all clock domains; `None` for a design with no clock.
    pub fmax_mhz: Option<f64>,
    pub target_mhz: f64,
    /// Every clock domain reached its target.
    pub timing_met: bool,
    pub clocks: Vec<ClockTiming>,
    /// Logic cells (ICESTORM_LC) used / in the part.
    pub lcs_used: u64,
    pub lcs_total: u64,
    /// Flip-flops: SB_DFF* cells in the synthesized netlist.
    pub ffs_used: u64,
    /// Block RAMs (ICESTORM_RAM) used / in the part.
    pub brams_used: u64,
    pub brams_total: u64,
    pub ios_used: u64,
    /// The seed of the placement in the bitstream (`None`: nextpnr's default).
    pub seed: Option<u64>,
    /// Every placement tried, in order (more than one after a seed sweep).
    pub placements: Vec<Placement>,
    /// `None` for a design without register-to-register paths.
    pub critical_path: Option<CriticalPath>,
    /// icetime's estimate of the same placement.
    pub icetime: Option<IcetimeEstimate>,
    pub bitstream: PathBuf,
    pub bitstream_bytes: u64,
    /// The Verilog that was synthesized (co-simulate this text, with the top renamed
    /// back to `top` if it was renamed).
    pub verilog: PathBuf,
    pub out_dir: PathBuf,
    /// Cells of the final (flattened) netlist by the rust-hdl module they came from
    /// (rust-hdl names a sub-module after its instance path: `top$pipeline$cam`), then
    /// by cell type; see `cells_by_module` for how cells are traced. Flip-flops, carries
    /// and block RAMs are traced reliably; LUTs only in part (the rest are
    /// [`UNATTRIBUTED`]).
    pub modules: BTreeMap<String, BTreeMap<String, u64>>,
    pub seconds: StepSeconds,
}

impl Report {
    /// By how many MHz the worst clock misses its target (0 when met).
    pub fn shortfall_mhz(&self) -> f64 {
        self.clocks
            .iter()
            .map(|c| c.target_mhz - c.fmax_mhz)
            .fold(0.0, f64::max)
    }

    /// Cells of `cell_type` (a prefix: "SB_DFF" counts every flip-flop kind) in modules
    /// whose name starts with `module_prefix` (so a module and all its sub-modules).
    pub fn cells_in(&self, module_prefix: &str, cell_type: &str) -> u64 {
        self.modules
            .iter()
            .filter(|(m, _)| m.starts_with(module_prefix))
            .flat_map(|(_, cells)| cells.iter())
            .filter(|(t, _)| t.starts_with(cell_type))
            .map(|(_, n)| n)
            .sum()
    }

    /// A few lines for humans.
    pub fn summary(&self) -> String {
        let pct = |u: u64, t: u64| {
            if t == 0 {
                0.0
            } else {
                100.0 * u as f64 / t as f64
            }
        };
        let mut s = String::new();
        s += &format!("{} on {}\n", self.top, self.device);
        match self.fmax_mhz {
            Some(f) => {
                s += &format!(
                    "timing: Fmax {:.2} MHz at target {:.2} MHz: {}\n",
                    f,
                    self.target_mhz,
                    if self.timing_met {
                        "MET".to_string()
                    } else {
                        format!("NOT MET (short by {:.2} MHz)", self.shortfall_mhz())
                    }
                )
            }
            None => s += "timing: no clock domain in the design\n",
        }
        if self.clocks.len() > 1 {
            for c in &self.clocks {
                s += &format!(
                    "  {}: Fmax {:.2} MHz at target {:.2} MHz: {}\n",
                    c.name,
                    c.fmax_mhz,
                    c.target_mhz,
                    if c.fmax_mhz >= c.target_mhz { "MET" } else { "NOT MET" }
                );
            }
        }
        if self.placements.len() > 1 {
            let tried: Vec<String> = self
                .placements
                .iter()
                .map(|p| {
                    format!(
                        "{} {:.1} MHz",
                        p.seed.map_or("default".to_string(), |s| format!("seed {s}")),
                        p.fmax_mhz.unwrap_or(0.0)
                    )
                })
                .collect();
            s += &format!("placements tried: {} (kept the best)\n", tried.join(", "));
        }
        if let Some(t) = &self.icetime {
            s += &format!("icetime estimate: {:.2} MHz ({:.2} ns path), beside nextpnr's {:.2} MHz\n", t.fmax_mhz, t.path_ns, self.fmax_mhz.unwrap_or(0.0));
        }
        if let Some(p) = &self.critical_path {
            s += &format!(
                "critical path: {:.2} ns ({:.2} logic, {:.2} wire), {} -> {}\n",
                p.total_ns, p.logic_ns, p.routing_ns, p.from, p.to
            );
        }
        s += &format!(
            "logic cells {}/{} ({:.1}%), flip-flops {}, block RAMs {}/{} ({:.1}%), IOs {}\n",
            self.lcs_used,
            self.lcs_total,
            pct(self.lcs_used, self.lcs_total),
            self.ffs_used,
            self.brams_used,
            self.brams_total,
            pct(self.brams_used, self.brams_total),
            self.ios_used
        );
        s += "cells by module (flip-flops / block RAMs / other):\n";
        for (m, cells) in &self.modules {
            let ff: u64 = cells
                .iter()
                .filter(|(t, _)| t.starts_with("SB_DFF"))
                .map(|(_, n)| n)
                .sum();
            let ram: u64 = cells
                .iter()
                .filter(|(t, _)| t.starts_with("SB_RAM"))
                .map(|(_, n)| n)
                .sum();
            let all: u64 = cells.values().sum();
            s += &format!("  {m}: {ff} / {ram} / {}\n", all - ff - ram);
        }
        s += &format!(
            "bitstream: {} ({} bytes)\nseconds: yosys {:.1}, nextpnr {:.1}, icepack {:.1}, icetime {:.1}\n",
            self.bitstream.display(),
            self.bitstream_bytes,
            self.seconds.yosys,
            self.seconds.nextpnr,
            self.seconds.icepack,
            self.seconds.icetime
        );
        s
    }
}

/// Builds `uut` into a bitstream and reports on it. Missing the target frequency is
/// not an error (the bitstream is still written; see [`Report::timing_met`]); a tool
/// failing is, and carries the tail of that tool's log.
pub fn build<B: Block>(uut: &mut B, opts: &FlowOptions) -> Result<Report, ToolError> {
    let dir = &opts.out_dir;
    fs::create_dir_all(dir).map_err(|source| ToolError::Io {
        path: dir.clone(),
        source,
    })?;
    let top = opts.top_name.as_str();
    let t0 = Instant::now();
    let verilog = top_verilog(uut, top)?;
    let pcf = match &opts.pcf {
        Some(p) => p.clone(),
        None => catch_panic("the PCF", || generate_pcf(uut))?,
    };
    let v_name = format!("{top}.v");
    let netlist = format!("{top}.json");
    let netlist_v = netlist_verilog_name(top);
    let asc = format!("{top}.asc");
    let bin = format!("{top}.bin");
    let pcf_name = format!("{top}.pcf");
    // A failed run must not leave an older run's bitstream looking current.
    for stale in [&netlist, &netlist_v, &asc, &bin, &"nextpnr-report.json".to_string()] {
        let path = dir.join(stale);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ToolError::Io { path, source: e })
            }
            _ => {}
        }
    }
    write(&dir.join(&v_name), &verilog)?;
    write(&dir.join(&pcf_name), &pcf)?;
    // The script is a file so a failed run can be repeated by hand: `yosys -s synth.ys`.
    let synth_options = opts.dffe_min_ce_use.map_or(String::new(), |n| format!(" -dffe_min_ce_use {n}"));
    write(
        &dir.join("synth.ys"),
        &format!("read_verilog {v_name}\nsynth_ice40 -top {top}{synth_options} -json {netlist}\nwrite_verilog -noattr {netlist_v}\n"),
    )?;
    let mut seconds = StepSeconds {
        verilog: t0.elapsed().as_secs_f64(),
        ..Default::default()
    };

    seconds.yosys = run_logged(YOSYS, &["-s".into(), "synth.ys".into()], dir, "yosys.log")?;
    check_yosys_log(&dir.join("yosys.log"))?;

    let freq = format!("{}", opts.freq_mhz);
    let base_args: Vec<String> = [
        "--hx8k",
        "--package",
        PACKAGE,
        "--freq",
        &freq,
        "--pcf",
        &pcf_name,
        "--json",
        &netlist,
        "--asc",
        &asc,
        "--report",
        "nextpnr-report.json",
        // A missed target still gives a bitstream and a report; we judge timing ourselves.
        "--timing-allow-fail",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut base_args = base_args;
    if !opts.clocks.is_empty() {
        let script: String =
            opts.clocks.iter().map(|(net, mhz)| format!("ctx.addClock(\"{net}\", {mhz})\n")).collect();
        write(&dir.join("clocks.py"), &script)?;
        base_args.extend(["--pre-pack".to_string(), "clocks.py".to_string()]);
    }
    // Place (and, while timing is missed, place again with the next seed). Before a
    // further attempt overwrites them, the best placement's files are set aside; they
    // come back only if that placement stays the best.
    let report_path = dir.join("nextpnr-report.json");
    let kept = |name: &str| dir.join(format!("best-{name}"));
    let placed_files = [asc.clone(), "nextpnr-report.json".to_string(), "nextpnr.log".to_string()];
    let seeds = seed_order(opts.seed, opts.seed_sweep);
    let mut placements: Vec<Placement> = Vec::new();
    let mut best = 0;
    let mut kept_best: Option<usize> = None;
    for (i, seed) in seeds.iter().copied().enumerate() {
        if let Some(last) = placements.last() {
            eprintln!(
                "[build] timing missed at seed {} ({:.1} MHz); placing again with seed {}",
                last.seed.map_or("default".to_string(), |s| s.to_string()),
                last.fmax_mhz.unwrap_or(0.0),
                seed.map_or("default".to_string(), |s| s.to_string())
            );
        }
        let mut args = base_args.clone();
        if let Some(seed) = seed {
            args.extend(["--seed".to_string(), seed.to_string()]);
        }
        seconds.nextpnr += run_logged(NEXTPNR, &args, dir, "nextpnr.log")?;
        let (clocks, _) = parse_nextpnr_report(&read_json(&report_path)?, &report_path)?;
        let placement = Placement::of(seed, &clocks);
        if placement.fmax_mhz > placements.get(best).and_then(|p| p.fmax_mhz) {
            best = i;
        }
        let met = placement.timing_met;
        placements.push(placement);
        if met || i + 1 == seeds.len() {
            break;
        }
        if best == i {
            for f in &placed_files {
                copy(&dir.join(f), &kept(f))?;
            }
            kept_best = Some(i);
        }
    }
    if best != placements.len() - 1 {
        // An earlier placement was better than the last: its files go back in place.
        debug_assert_eq!(kept_best, Some(best));
        for f in &placed_files {
            let from = kept(f);
            fs::rename(&from, dir.join(f)).map_err(|source| ToolError::Io { path: from, source })?;
        }
    } else if kept_best.is_some() {
        for f in &placed_files {
            let path = kept(f);
            fs::remove_file(&path).map_err(|source| ToolError::Io { path, source })?;
        }
    }
    let chosen = placements[best].clone();
    seconds.icepack = run_logged(ICEPACK, &[asc.clone(), bin.clone()], dir, "icepack.log")?;
    let t = Instant::now();
    let icetime_report = run(ICETIME, &["-d", "hx8k", "-P", PACKAGE, "-p", &pcf_name, "-t", &asc], dir)?;
    seconds.icetime = t.elapsed().as_secs_f64();
    write(&dir.join("icetime.log"), &icetime_report)?;
    let icetime = parse_icetime(&icetime_report);

    let pnr = read_json(&report_path)?;
    let net = read_json(&dir.join(&netlist))?;
    let bitstream = dir.join(&bin);
    let bitstream_bytes = fs::metadata(&bitstream)
        .map_err(|source| ToolError::Io {
            path: bitstream.clone(),
            source,
        })?
        .len();
    let (clocks, util) = parse_nextpnr_report(&pnr, &report_path)?;
    let critical_path = critical_path(&pnr, &clocks);
    let used = |k: &str| util.get(k).map(|u| u.0).unwrap_or(0);
    let total = |k: &str| util.get(k).map(|u| u.1).unwrap_or(0);
    let modules =
        cells_by_module(&net, top, &v_name, &verilog).map_err(|detail| ToolError::Parse {
            path: dir.join(&netlist),
            detail,
        })?;
    let ffs_used = modules
        .values()
        .flat_map(|c| c.iter())
        .filter(|(t, _)| t.starts_with("SB_DFF"))
        .map(|(_, n)| n)
        .sum();
    Ok(Report {
        top: top.to_string(),
        device: DEVICE.to_string(),
        fmax_mhz: chosen.fmax_mhz,
        target_mhz: opts.freq_mhz,
        timing_met: chosen.timing_met,
        clocks,
        lcs_used: used("ICESTORM_LC"),
        lcs_total: total("ICESTORM_LC"),
        ffs_used,
        brams_used: used("ICESTORM_RAM"),
        brams_total: total("ICESTORM_RAM"),
        ios_used: used("SB_IO"),
        seed: chosen.seed,
        placements,
        critical_path,
        icetime,
        bitstream,
        bitstream_bytes,
        verilog: dir.join(&v_name),
        out_dir: dir.clone(),
        modules,
        seconds,
    })
}

/// The synthesized netlist as Verilog, written by the same yosys run as the JSON that
/// nextpnr places (`write_verilog -noattr`): the netlist level of a build simulates
/// exactly what was placed.
pub fn netlist_verilog_name(top: &str) -> String {
    format!("{top}.netlist.v")
}

/// The block's Verilog with the top module named `top` (checked first, so rust-hdl's
/// `generate_verilog` cannot panic on an unconnected design).
pub fn top_verilog<B: Block>(uut: &mut B, top: &str) -> Result<String, ToolError> {
    uut.connect_all();
    check_all(uut).map_err(|e| ToolError::Check(format!("{e:?}")))?;
    let text = catch_panic("Verilog", || generate_verilog(uut))?;
    if top == "top" {
        return Ok(text);
    }
    if text.matches("module top(").count() != 1 {
        return Err(ToolError::Generate {
            what: "Verilog",
            detail: "expected exactly one `module top(` to rename".into(),
        });
    }
    Ok(text.replace("module top(", &format!("module {top}(")))
}

fn catch_panic<T>(what: &'static str, f: impl FnOnce() -> T) -> Result<T, ToolError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|e| ToolError::Generate {
        what,
        detail: e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "rust-hdl panicked".into()),
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), ToolError> {
    fs::copy(from, to).map(|_| ()).map_err(|source| ToolError::Io { path: from.to_path_buf(), source })
}

fn write(path: &Path, text: &str) -> Result<(), ToolError> {
    fs::write(path, text).map_err(|source| ToolError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_json(path: &Path) -> Result<serde_json::Value, ToolError> {
    let text = fs::read_to_string(path).map_err(|source| ToolError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ToolError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// yosys warnings that mean the netlist is not what the Rust simulation ran: an
/// undeclared identifier (a Rust `const` in hdl_gen becomes a 1-bit undriven wire), a
/// latch (an output not assigned on every path), an undriven wire, a module defined twice.
const YOSYS_DESIGN_PROBLEMS: [&str; 4] = [
    "is implicitly declared",
    "Latch inferred for",
    "is used but has no driver",
    "Re-definition of module",
];

pub(crate) fn check_yosys_log(log: &Path) -> Result<(), ToolError> {
    let text = fs::read_to_string(log).map_err(|source| ToolError::Io {
        path: log.to_path_buf(),
        source,
    })?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| YOSYS_DESIGN_PROBLEMS.iter().any(|p| l.contains(p)))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    eprintln!("[flow] yosys log shows {} design problem(s)", lines.len());
    Err(ToolError::Design {
        log: log.to_path_buf(),
        lines: lines.join("\n"),
    })
}

type Utilisation = BTreeMap<String, (u64, u64)>;

/// Clock timing and (used, available) per resource from `nextpnr --report`'s JSON:
/// `{"fmax": {clk: {"achieved": MHz, "constraint": MHz}}, "utilization": {res: {"used", "available"}}}`.
fn parse_nextpnr_report(
    v: &serde_json::Value,
    path: &Path,
) -> Result<(Vec<ClockTiming>, Utilisation), ToolError> {
    let bad = |detail: String| ToolError::Parse {
        path: path.to_path_buf(),
        detail,
    };
    let mut clocks = Vec::new();
    if let Some(fmax) = v.get("fmax").and_then(|f| f.as_object()) {
        for (name, c) in fmax {
            let num = |k: &str| {
                c.get(k)
                    .and_then(|x| x.as_f64())
                    .ok_or_else(|| bad(format!("fmax.{name}.{k} missing")))
            };
            clocks.push(ClockTiming {
                name: name.clone(),
                fmax_mhz: num("achieved")?,
                target_mhz: num("constraint")?,
            });
        }
    }
    let util = v
        .get("utilization")
        .and_then(|u| u.as_object())
        .ok_or_else(|| bad("no `utilization` object".into()))?;
    let mut out = Utilisation::new();
    for (res, u) in util {
        let num = |k: &str| {
            u.get(k)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| bad(format!("utilization.{res}.{k} missing")))
        };
        out.insert(res.clone(), (num("used")?, num("available")?));
    }
    if !out.contains_key("ICESTORM_LC") {
        return Err(bad("no ICESTORM_LC utilisation".into()));
    }
    Ok((clocks, out))
}

/// The clocked path in `nextpnr --report`'s `critical_paths` (entries `{"from": edge,
/// "to": edge, "path": [{"type", "delay", "to": {"cell"}}…]}`; paths from or to
/// `<async>` I/O are skipped) with the least slack: its delay less its launching
/// clock's period (the clock named in `from`; a clock without a target counts its
/// delay alone).
fn critical_path(v: &serde_json::Value, clocks: &[ClockTiming]) -> Option<CriticalPath> {
    let period = |edge: &str| {
        clocks.iter().find(|c| edge.ends_with(c.name.as_str())).map_or(0.0, |c| 1000.0 / c.target_mhz)
    };
    let paths = v.get("critical_paths")?.as_array()?;
    paths
        .iter()
        .filter_map(|p| {
            let (from, to) = (p.get("from")?.as_str()?, p.get("to")?.as_str()?);
            if from.contains("<async>") || to.contains("<async>") {
                return None;
            }
            let steps = p.get("path")?.as_array()?;
            let cell = |step: &serde_json::Value| step.get("to")?.get("cell")?.as_str().map(str::to_string);
            let (mut logic_ns, mut routing_ns) = (0.0, 0.0);
            for step in steps {
                let delay = step.get("delay")?.as_f64()?;
                match step.get("type")?.as_str()? {
                    "routing" => routing_ns += delay,
                    _ => logic_ns += delay,
                }
            }
            let path = CriticalPath {
                clocks: format!("{from} -> {to}"),
                from: cell(steps.first()?)?,
                to: cell(steps.last()?)?,
                total_ns: logic_ns + routing_ns,
                logic_ns,
                routing_ns,
            };
            Some((path.total_ns - period(from), path))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, path)| path)
}

/// Line ranges (1-based, inclusive) of each `module … endmodule` in `verilog`.
fn module_line_ranges(verilog: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize)> = None;
    for (i, line) in verilog.lines().enumerate() {
        let l = line.trim_start();
        if let Some(rest) = l.strip_prefix("module ") {
            let name = rest
                .split(|c: char| c == '(' || c == ';' || c.is_whitespace())
                .next()
                .unwrap_or("");
            open = Some((name.to_string(), i + 1));
        } else if l.starts_with("endmodule") {
            if let Some((name, start)) = open.take() {
                out.push((name, start, i + 1));
            }
        }
    }
    out
}

/// Counts the cells of the flattened netlist by originating module and type.
///
/// First by the cell's `src` attribute: a `|`-separated chain from the outermost
/// instantiation down to the defining line (e.g.
/// `top.v:8.7-8.28|top.v:2.30-2.35|…/ff_map.v:2.51-2.90`); the innermost location in
/// our Verilog file names the module. Cells made by yosys' tech mapping keep only the
/// library's location (block RAMs, the flip-flops `emulate_transparency` adds, many
/// LUTs); for those, the cell's name, which flatten prefixes with the instance path
/// (`ram.mem.0.0`, `cam.hits_SB_DFF_Q`), gives the deepest existing module
/// `top$ram`. Auto-named cells (`$abc$…`) stay [`UNATTRIBUTED`].
fn cells_by_module(
    netlist: &serde_json::Value,
    top: &str,
    v_name: &str,
    verilog: &str,
) -> Result<BTreeMap<String, BTreeMap<String, u64>>, String> {
    let ranges = module_line_ranges(verilog);
    let cells = netlist
        .get("modules")
        .and_then(|m| m.get(top))
        .and_then(|m| m.get("cells"))
        .and_then(|c| c.as_object())
        .ok_or_else(|| format!("no cells for module `{top}`"))?;
    let prefix = format!("{v_name}:");
    let by_src = |src: &str| -> Option<String> {
        let line = src
            .rsplit('|')
            .find_map(|part| part.strip_prefix(&prefix))
            .and_then(|loc| loc.split('.').next())
            .and_then(|l| l.parse::<usize>().ok())?;
        ranges
            .iter()
            .find(|(_, a, b)| *a <= line && line <= *b)
            .map(|(name, _, _)| name.clone())
    };
    let by_name = |name: &str| -> Option<String> {
        if name.starts_with('$') {
            return None;
        }
        // rust-hdl names the module of instance path a.b `top$a$b` (even if the top
        // itself was renamed).
        let path: Vec<&str> = name.split('.').collect();
        (1..path.len())
            .rev()
            .map(|n| format!("top${}", path[..n].join("$")))
            .find(|m| ranges.iter().any(|(r, _, _)| r == m))
            .or_else(|| Some(top.to_string()))
    };
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (name, cell) in cells {
        let ty = cell
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or("cell without a type")?;
        let src = cell
            .get("attributes")
            .and_then(|a| a.get("src"))
            .and_then(|s| s.as_str())
            .unwrap_or("");
        let module = by_src(src)
            .or_else(|| by_name(name))
            .unwrap_or_else(|| UNATTRIBUTED.to_string());
        *out.entry(module)
            .or_default()
            .entry(ty.to_string())
            .or_default() += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_hdl_bsp_alchitry_cu::pins;

    /// A free-running 32-bit counter: the sub-block whose flip-flops must survive.
    #[derive(LogicBlock, Default)]
    struct FreeCounter {
        clock: Signal<In, Clock>,
        count: Signal<Out, Bits<32>>,
        cnt: DFF<Bits<32>>,
    }

    impl Logic for FreeCounter {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, cnt);
            self.cnt.d.next = self.cnt.q.val() + 1;
            self.count.next = self.cnt.q.val();
        }
    }

    /// The Cu's LEDs show the counter's top byte.
    #[derive(LogicBlock)]
    struct Blinky {
        clock: Signal<In, Clock>,
        leds: Signal<Out, Bits<8>>,
        divider: FreeCounter,
    }

    impl Default for Blinky {
        fn default() -> Self {
            Blinky {
                clock: pins::clock(),
                leds: pins::leds(),
                divider: FreeCounter::default(),
            }
        }
    }

    impl Logic for Blinky {
        #[hdl_gen]
        fn update(&mut self) {
            clock!(self, clock, divider);
            self.leds.next = self.divider.count.val().get_bits::<8>(24);
        }
    }

    /// Shows the counter's top byte from a register loaded every other clock: 8
    /// flip-flops on one clock enable.
    #[derive(LogicBlock)]
    struct EnableBlinky {
        clock: Signal<In, Clock>,
        leds: Signal<Out, Bits<8>>,
        divider: FreeCounter,
        shown: DFF<Bits<8>>,
    }

    impl Default for EnableBlinky {
        fn default() -> Self {
            EnableBlinky {
                clock: pins::clock(),
                leds: pins::leds(),
                divider: FreeCounter::default(),
                shown: Default::default(),
            }
        }
    }

    impl Logic for EnableBlinky {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, shown);
            clock!(self, clock, divider);
            if self.divider.count.val().get_bit(0) {
                self.shown.d.next = self.divider.count.val().get_bits::<8>(24);
            }
            self.leds.next = self.shown.q.val();
        }
    }

    /// Writes the counter into a 256x8 RAM and shows what it reads back.
    #[derive(LogicBlock)]
    struct RamBlinky {
        clock: Signal<In, Clock>,
        leds: Signal<Out, Bits<8>>,
        divider: FreeCounter,
        ram: RAM<Bits<8>, 8>,
    }

    impl Default for RamBlinky {
        fn default() -> Self {
            RamBlinky {
                clock: pins::clock(),
                leds: pins::leds(),
                divider: FreeCounter::default(),
                ram: RAM::default(),
            }
        }
    }

    impl Logic for RamBlinky {
        #[hdl_gen]
        fn update(&mut self) {
            clock!(self, clock, divider);
            self.ram.read_clock.next = self.clock.val();
            self.ram.write_clock.next = self.clock.val();
            self.ram.write_address.next = self.divider.count.val().get_bits::<8>(0);
            self.ram.write_data.next = self.divider.count.val().get_bits::<8>(8);
            self.ram.write_enable.next = self.divider.count.val().get_bit(16);
            self.ram.read_address.next = self.divider.count.val().get_bits::<8>(20);
            self.leds.next = self.ram.read_data.val();
        }
    }

    /// Block RAMs are counted and traced to the module that holds them (the CAM will
    /// be built from them).
    #[test]
    fn block_ram_is_counted_and_attributed() {
        let dir = tempfile::tempdir().unwrap();
        let r = build(
            &mut RamBlinky::default(),
            &FlowOptions::new(dir.path(), 100.0),
        )
        .expect("flow");
        eprintln!("{}", r.summary());
        assert_eq!(r.brams_used, 1);
        assert_eq!(r.cells_in("top$ram", "SB_RAM40_4K"), 1, "{:?}", r.modules);
        // The RAM's read-data and write-port registers yosys added are the RAM's too.
        assert!(r.cells_in("top$ram", "SB_DFF") >= 8, "{:?}", r.modules);
        assert_eq!(
            r.cells_in("top$divider", "SB_DFF") + r.cells_in("top$ram", "SB_DFF"),
            r.ffs_used
        );
        assert!(r.timing_met);
    }

    #[test]
    fn cells_are_attributed_by_src_then_by_instance_name() {
        let v = "module cu(a);\nendmodule\nmodule top$cam(b);\n x;\nendmodule\nmodule top$cam$ram(c);\nendmodule\n";
        let net = serde_json::json!({"modules": {"cu": {"cells": {
            "x_SB_DFF_Q": {"type": "SB_DFF", "attributes": {"src": "cu.v:2.1-2.5|cu.v:4.2-4.3|/y/ff_map.v:2.5"}},
            "cam.ram.mem.0.0": {"type": "SB_RAM40_4K", "attributes": {"src": "/y/brams_map.v:204.5"}},
            "cam.hit_SB_LUT4_O": {"type": "SB_LUT4", "attributes": {}},
            "leds_SB_LUT4_O": {"type": "SB_LUT4", "attributes": {}},
            "$abc$1$lut": {"type": "SB_LUT4", "attributes": {}}
        }}}});
        let m = cells_by_module(&net, "cu", "cu.v", v).unwrap();
        let get = |module: &str, ty: &str| m.get(module).and_then(|c| c.get(ty)).copied();
        assert_eq!(get("top$cam", "SB_DFF"), Some(1));
        assert_eq!(get("top$cam$ram", "SB_RAM40_4K"), Some(1));
        assert_eq!(get("top$cam", "SB_LUT4"), Some(1));
        assert_eq!(get("cu", "SB_LUT4"), Some(1));
        assert_eq!(get(UNATTRIBUTED, "SB_LUT4"), Some(1));
    }

    #[test]
    fn seed_sweep_tries_the_given_seed_first_and_each_seed_once() {
        assert_eq!(seed_order(None, 0), vec![None]);
        assert_eq!(seed_order(None, 2), vec![None, Some(1), Some(2)]);
        assert_eq!(seed_order(Some(2), 3), vec![Some(2), Some(1), Some(3)]);
        assert_eq!(seed_order(Some(9), 1), vec![Some(9), Some(1)]);
    }

    #[test]
    fn module_ranges_follow_module_endmodule() {
        let v = "module a(x);\n input x;\nendmodule\n\nmodule top$b(y);\nendmodule\n";
        assert_eq!(
            module_line_ranges(v),
            vec![("a".to_string(), 1, 3), ("top$b".to_string(), 5, 6)]
        );
    }

    #[test]
    fn icetimes_total_path_line_parses() {
        let report = "     5.108 ns ..  5.367 ns c_SB_CARRY_CI_CO[25]\n\nTotal number of logic levels: 26\nTotal path delay: 5.58 ns (179.07 MHz)\n";
        assert_eq!(parse_icetime(report), Some(IcetimeEstimate { path_ns: 5.58, fmax_mhz: 179.07 }));
        assert_eq!(parse_icetime("no timing here"), None);
    }

    #[test]
    fn blinky_builds_meets_timing_and_keeps_its_counter() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = FlowOptions::new(dir.path(), 100.0);
        opts.top_name = "blinky".into();
        opts.seed = Some(1);
        let r = build(&mut Blinky::default(), &opts).expect("flow");
        eprintln!("{}", r.summary());
        // The PCF came from the block's pins: clock on P7, LEDs on J11..N14.
        let pcf = fs::read_to_string(dir.path().join("blinky.pcf")).unwrap();
        assert!(
            pcf.contains("set_io clock P7") && pcf.contains("set_io leds[7] N14"),
            "{pcf}"
        );
        assert_eq!((r.lcs_total, r.brams_total), (7680, 32), "HX8K resources");
        let v = fs::read_to_string(&r.verilog).unwrap();
        assert!(v.contains("module blinky(") && !v.contains("module top("), "renamed top");
        assert_eq!(r.brams_used, 0);
        // Every counter bit feeds the carry chain into bits 24..31, so all 32 stay.
        assert_eq!(r.ffs_used, 32);
        assert_eq!(r.cells_in("top$divider", "SB_DFF"), 32, "{:?}", r.modules);
        assert!(
            r.cells_in("top$divider", "SB_CARRY") >= 30,
            "{:?}",
            r.modules
        );
        assert!(r.lcs_used >= 32 && r.lcs_used < 100, "LCs {}", r.lcs_used);
        assert_eq!(r.ios_used, 9, "clock + 8 LEDs");
        assert_eq!(r.clocks.len(), 1);
        assert!(
            r.timing_met && r.fmax_mhz.unwrap() > 100.0,
            "{:?}",
            r.clocks
        );
        assert_eq!(r.clocks[0].target_mhz, 100.0);
        // The critical path sets Fmax (nextpnr: 1000 / its delay) and runs through the
        // divider's counter.
        let cp = r.critical_path.as_ref().expect("a clocked path");
        assert!((1000.0 / cp.total_ns - r.fmax_mhz.unwrap()).abs() < 0.1, "{cp:?}");
        assert!(cp.from.starts_with("divider") && cp.to.starts_with("divider"), "{cp:?}");
        assert!(cp.logic_ns > 0.0 && cp.routing_ns > 0.0, "{cp:?}");
        // An HX8K image is 135100 bytes whatever the design (icepack pads the CRAM).
        assert_eq!(r.bitstream_bytes, 135_100);
        for log in ["yosys.log", "nextpnr.log", "icepack.log", "icetime.log"] {
            assert!(dir.path().join(log).exists(), "{log}");
        }
        // icetime's estimate of the same placement: an independent analysis, so only
        // roughly equal (it is more conservative than nextpnr on carry chains).
        let it = r.icetime.as_ref().expect("icetime's estimate");
        assert!((1000.0 / it.path_ns - it.fmax_mhz).abs() < 0.1, "{it:?}");
        assert!(it.fmax_mhz > 50.0 && it.fmax_mhz < 2.0 * r.fmax_mhz.unwrap(), "{it:?} vs {:?}", r.fmax_mhz);
        // The nextpnr log agrees with the JSON report we parsed.
        let log = fs::read_to_string(dir.path().join("nextpnr.log")).unwrap();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("Max frequency for clock"))
            .unwrap();
        assert!(
            line.contains(&format!(
                "{:.2} MHz (PASS at 100.00 MHz)",
                r.fmax_mhz.unwrap()
            )),
            "{line}"
        );
        assert!(
            log.contains(&format!("ICESTORM_LC: {:>5}/ 7680", r.lcs_used)),
            "LC line missing"
        );
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "fmax_mhz",
            "target_mhz",
            "timing_met",
            "lcs_used",
            "lcs_total",
            "ffs_used",
            "brams_used",
            "brams_total",
            "bitstream",
            "modules",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn missed_target_is_reported_not_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let r = build(
            &mut Blinky::default(),
            &FlowOptions::new(dir.path(), 1000.0),
        )
        .expect("flow");
        assert!(!r.timing_met);
        assert!(r.fmax_mhz.unwrap() < 1000.0);
        assert!((r.shortfall_mhz() - (1000.0 - r.fmax_mhz.unwrap())).abs() < 1e-9);
        assert!(r.summary().contains("NOT MET"));
        let log = fs::read_to_string(dir.path().join("nextpnr.log")).unwrap();
        assert!(
            log.contains("FAIL at 1000.00 MHz"),
            "nextpnr itself saw the miss"
        );
    }

    #[test]
    fn a_missed_target_sweeps_seeds_and_keeps_the_best_placement() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = FlowOptions::new(dir.path(), 1000.0);
        opts.seed_sweep = 2;
        let r = build(&mut Blinky::default(), &opts).expect("flow");
        let seeds: Vec<_> = r.placements.iter().map(|p| p.seed).collect();
        assert_eq!(seeds, vec![None, Some(1), Some(2)], "never met, so every seed is tried");
        let best = r.placements.iter().filter_map(|p| p.fmax_mhz).fold(0.0, f64::max);
        assert_eq!(r.fmax_mhz, Some(best), "the report (and bitstream) are the best placement's");
        let chosen = r.placements.iter().find(|p| p.fmax_mhz == Some(best)).unwrap();
        assert_eq!(r.seed, chosen.seed);
        assert!(r.summary().contains("placements tried"));
        for f in fs::read_dir(dir.path()).unwrap().flatten() {
            assert!(!f.file_name().to_string_lossy().starts_with("best-"), "{:?} left behind", f.path());
        }
        // A target that is met stops at the first placement.
        let mut easy = FlowOptions::new(dir.path().join("easy"), 10.0);
        easy.seed_sweep = 3;
        let r = build(&mut Blinky::default(), &easy).expect("flow");
        assert_eq!(r.placements.len(), 1);
        assert!(r.timing_met);
    }

    /// `dffe_min_ce_use` reaches yosys: an enable of 8 flip-flops stays an SB_DFFE*
    /// by default and becomes plain flip-flops (and LUT muxes) when 8 is too few.
    #[test]
    fn dffe_min_ce_use_turns_small_enable_groups_into_plain_flip_flops() {
        let enable_ffs = |min: Option<u32>| {
            let dir = tempfile::tempdir().unwrap();
            let mut opts = FlowOptions::new(dir.path(), 10.0);
            opts.dffe_min_ce_use = min;
            build(&mut EnableBlinky::default(), &opts).expect("flow");
            let script = fs::read_to_string(dir.path().join("synth.ys")).unwrap();
            assert_eq!(script.contains("-dffe_min_ce_use 9"), min.is_some(), "{script}");
            let netlist: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.path().join("top.json")).unwrap()).unwrap();
            let cells = netlist["modules"]["top"]["cells"].as_object().unwrap().values();
            cells.filter(|c| c["type"].as_str().unwrap().starts_with("SB_DFFE")).count()
        };
        assert_eq!(enable_ffs(None), 8);
        assert_eq!(enable_ffs(Some(9)), 0);
    }

    /// With two clock domains the critical path is the one with the least slack: a
    /// 13 ns path at 100 MHz (−3 ns), not a 14 ns one at 50 MHz (+6 ns).
    #[test]
    fn the_critical_path_is_the_least_slack_not_the_longest() {
        let path = |clock: &str, from: &str, ns: f64| {
            serde_json::json!({
                "from": format!("posedge {clock}"), "to": format!("posedge {clock}"),
                "path": [
                    {"type": "clk-to-q", "delay": 1.0, "to": {"cell": from}},
                    {"type": "routing", "delay": ns - 1.0, "to": {"cell": "sink"}},
                ]
            })
        };
        let report = serde_json::json!({ "critical_paths": [
            path("ref_clk$SB_IO_IN_$glb_clk", "slow_domain", 14.0),
            path("clock$SB_IO_IN_$glb_clk", "fast_domain", 13.0),
        ]});
        let clock = |name: &str, target_mhz: f64| ClockTiming { name: name.into(), fmax_mhz: 0.0, target_mhz };
        let clocks = [clock("clock$SB_IO_IN_$glb_clk", 100.0), clock("ref_clk$SB_IO_IN_$glb_clk", 50.0)];
        assert_eq!(critical_path(&report, &clocks).unwrap().from, "fast_domain");
        // Both at one target: the longest.
        let same = [clock("clock$SB_IO_IN_$glb_clk", 100.0), clock("ref_clk$SB_IO_IN_$glb_clk", 100.0)];
        assert_eq!(critical_path(&report, &same).unwrap().from, "slow_domain");
    }

    #[test]
    fn bad_pin_fails_with_nextpnrs_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = FlowOptions::new(dir.path(), 100.0);
        let good = generate_pcf(&{
            let mut b = Blinky::default();
            b.connect_all();
            b
        });
        opts.pcf = Some(good.replace("N14", "Z99"));
        // As if an earlier run had succeeded here.
        fs::write(dir.path().join("top.bin"), b"old").unwrap();
        match build(&mut Blinky::default(), &opts) {
            Err(ToolError::Failed { tool, tail, .. }) => {
                assert_eq!(tool, "nextpnr-ice40");
                assert!(
                    tail.contains("package does not have a pin named 'Z99'"),
                    "{tail}"
                );
            }
            other => panic!("expected a nextpnr failure, got {other:?}"),
        }
        assert!(!dir.path().join("top.bin").exists());
    }

    /// A forgotten pin is an error, not a randomly placed IO.
    #[test]
    fn unconstrained_io_fails_with_nextpnrs_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = FlowOptions::new(dir.path(), 100.0);
        let mut b = Blinky::default();
        b.connect_all();
        let pcf: String = generate_pcf(&b)
            .lines()
            .filter(|l| !l.contains("leds[3]"))
            .map(|l| format!("{l}\n"))
            .collect();
        opts.pcf = Some(pcf);
        match build(&mut Blinky::default(), &opts) {
            Err(
                e @ ToolError::Failed {
                    tool: "nextpnr-ice40",
                    ..
                },
            ) => {
                assert!(
                    e.to_string().contains("leds[3]") && e.to_string().contains("unconstrained"),
                    "{e}"
                );
            }
            other => panic!("expected a nextpnr failure, got {other:?}"),
        }
    }

    /// RUST-HDL.md §2: a Rust `const` inside hdl_gen becomes a bare Verilog identifier.
    const LIMIT: u64 = 7;

    #[derive(LogicBlock)]
    struct UsesRustConst {
        clock: Signal<In, Clock>,
        leds: Signal<Out, Bits<8>>,
    }

    impl Default for UsesRustConst {
        fn default() -> Self {
            UsesRustConst {
                clock: pins::clock(),
                leds: pins::leds(),
            }
        }
    }

    impl Logic for UsesRustConst {
        #[hdl_gen]
        fn update(&mut self) {
            self.leds.next = LIMIT.into();
        }
    }

    /// yosys itself accepts this (as an undriven 1-bit wire); the flow must not.
    #[test]
    fn rust_const_in_hdl_gen_is_caught_in_the_yosys_log() {
        let dir = tempfile::tempdir().unwrap();
        match build(
            &mut UsesRustConst::default(),
            &FlowOptions::new(dir.path(), 100.0),
        ) {
            Err(e @ ToolError::Design { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("LIMIT") && msg.contains("implicitly declared"),
                    "{msg}"
                );
            }
            other => panic!("expected a design problem, got {other:?}"),
        }
        assert!(
            !dir.path().join("top.bin").exists(),
            "no bitstream from a bad netlist"
        );
    }

    /// RUST-HDL.md pitfall (c): an output assigned only under a condition is a latch.
    #[derive(LogicBlock)]
    struct Latchy {
        clock: Signal<In, Clock>,
        leds: Signal<Out, Bits<8>>,
        divider: FreeCounter,
    }

    impl Default for Latchy {
        fn default() -> Self {
            Latchy {
                clock: pins::clock(),
                leds: pins::leds(),
                divider: FreeCounter::default(),
            }
        }
    }

    impl Logic for Latchy {
        #[hdl_gen]
        fn update(&mut self) {
            clock!(self, clock, divider);
            if self.divider.count.val().get_bit(31) {
                self.leds.next = self.divider.count.val().get_bits::<8>(20);
            }
        }
    }

    #[test]
    fn latch_is_caught_in_the_yosys_log() {
        let dir = tempfile::tempdir().unwrap();
        match build(&mut Latchy::default(), &FlowOptions::new(dir.path(), 100.0)) {
            Err(e @ ToolError::Design { .. }) => {
                assert!(e.to_string().contains("Latch inferred for"), "{e}");
            }
            other => panic!("expected a latch report, got {other:?}"),
        }
    }

    /// A genuine yosys error comes back with yosys' own ERROR line: here the script
    /// names a top module that does not exist, so `hierarchy` fails.
    #[test]
    fn yosys_error_is_returned_with_its_message() {
        let dir = tempfile::tempdir().unwrap();
        let v = top_verilog(&mut Blinky::default(), "top").unwrap();
        fs::write(dir.path().join("top.v"), &v).unwrap();
        fs::write(
            dir.path().join("synth.ys"),
            "read_verilog top.v\nsynth_ice40 -top nosuchtop -json top.json\n",
        )
        .unwrap();
        match run_logged(
            YOSYS,
            &["-s".into(), "synth.ys".into()],
            dir.path(),
            "yosys.log",
        ) {
            Err(e @ ToolError::Failed { tool: "yosys", .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("ERROR") && msg.contains("nosuchtop"), "{msg}");
            }
            other => panic!("expected a yosys failure, got {other:?}"),
        }
    }

    /// A sub-block whose input nobody drives.
    #[derive(LogicBlock, Default)]
    struct Unconnected {
        clock: Signal<In, Clock>,
        leds: Signal<Out, Bits<8>>,
        inner: FreeCounter,
    }

    impl Logic for Unconnected {
        #[hdl_gen]
        fn update(&mut self) {
            self.leds.next = self.inner.count.val().get_bits::<8>(0);
        }
    }

    #[test]
    fn unconnected_design_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        match build(
            &mut Unconnected::default(),
            &FlowOptions::new(dir.path(), 100.0),
        ) {
            Err(ToolError::Check(msg)) => assert!(msg.contains("clock"), "{msg}"),
            other => panic!("expected a check failure, got {other:?}"),
        }
    }
}
