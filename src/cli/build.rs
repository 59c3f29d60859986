//! `portshare build`: the Alchitry Cu board top → Verilog → yosys → nextpnr → icepack,
//! through `portshare_tools::flow`. Prints a summary (or `--json`, the flow's Report) on
//! stdout, tool progress on stderr, and fails when timing is not met.

use anyhow::{bail, Context};
use portshare_tools::flow::{FlowOptions, Report};
use portshare_sim::verify::VerifyReport;
use portshare_tools::ToolError;
use std::path::PathBuf;

// Table sizes the board top is built for: the one list.
use portshare_sim::rtl::CAPACITIES as ENTRIES;

/// Which board top: the Cu with its USB UART, or with two RMII Ethernet ports too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BoardKind {
    Cu,
    CuEth,
}

/// Each RMII port's REF_CLK, from its PHY module.
const REF_CLK_MHZ: f64 = 50.0;
/// yosys `-dffe_min_ce_use` for the Ethernet board top (see `FlowOptions`): 16 places
/// its core faster than 8 on each seed measured, for ~200 LCs more (README,
/// "Ethernet board", "Build").
const CU_ETH_DFFE_MIN_CE_USE: u32 = 16;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The board top: `cu` (USB only) or `cu-eth` (plus two RMII ports).
    #[arg(long, value_enum, default_value_t = BoardKind::Cu)]
    pub board: BoardKind,
    /// Port-table entries in the CAM: 16, 64 or 128.
    #[arg(long, default_value_t = 64, value_parser = parse_entries)]
    pub entries: usize,
    /// Output directory for the Verilog, netlist, bitstream and tool logs
    /// [default: out/<board>-<entries>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Target clock in MHz (the Cu's oscillator is 100 MHz).
    #[arg(long, default_value_t = 100.0)]
    pub freq: f64,
    /// nextpnr placement seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// If timing is missed, place again with seeds 1..=N until it is met (0: never);
    /// the bitstream is the best placement's.
    #[arg(long, default_value_t = 8)]
    pub seeds: u64,
    /// After icepack, simulate the bitstream just built at its UART pins and run the
    /// fixed verify session through it (table load and read-back, corpus frames both
    /// ways vs the reference model, counters, bad requests): fails on any difference.
    #[arg(long)]
    pub verify: bool,
    /// Print the report as one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

fn parse_entries(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if ENTRIES.contains(&n) => Ok(n),
        _ => Err(format!("`{s}`: the board is built for {ENTRIES:?} entries")),
    }
}

type BuildFn = fn(&FlowOptions) -> Result<Report, ToolError>;

/// The board top for `entries`.
fn board_top(board: BoardKind, entries: usize) -> anyhow::Result<BuildFn> {
    use portshare_hdl::board::{CuBoard, CuEthBoard};
    use portshare_tools::flow;
    Ok(match (board, entries) {
        (BoardKind::Cu, 16) => |o| flow::build(&mut CuBoard::<16>::new(), o),
        (BoardKind::Cu, 64) => |o| flow::build(&mut CuBoard::<64>::new(), o),
        (BoardKind::Cu, 128) => |o| flow::build(&mut CuBoard::<128>::new(), o),
        (BoardKind::CuEth, 16) => |o| flow::build(&mut CuEthBoard::<16>::new(), o),
        (BoardKind::CuEth, 64) => |o| flow::build(&mut CuEthBoard::<64>::new(), o),
        (BoardKind::CuEth, 128) => |o| flow::build(&mut CuEthBoard::<128>::new(), o),
        (_, n) => bail!("no board top for {n} entries"),
    })
}

pub fn run(a: BuildArgs) -> anyhow::Result<()> {
    // Block RAM is the one resource the table size decides: refuse what cannot fit
    // before yosys runs (nextpnr would say so only after synthesis).
    use portshare_hdl::resources::{does_not_fit_on, Board};
    let (resources, name, top) = match a.board {
        BoardKind::Cu => (Board::Cu, "cu", "portshare_cu"),
        BoardKind::CuEth => (Board::CuEth, "cu-eth", "portshare_cu_eth"),
    };
    if let Some(why) = does_not_fit_on(resources, a.entries, &ENTRIES) {
        bail!("{name}: {why}");
    }
    if a.verify && a.board != BoardKind::Cu {
        bail!("--verify simulates the Cu board's bitstream at its UART pins; the {name} board has no verify session yet");
    }
    let build = board_top(a.board, a.entries)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| match a.board {
            BoardKind::Cu => portshare_sim::bitstream::default_build_dir(a.entries),
            BoardKind::CuEth => PathBuf::from(format!("out/{name}-{}", a.entries)),
        });
    let mut opts = FlowOptions::new(&out, a.freq);
    opts.top_name = top.into();
    if a.board == BoardKind::CuEth {
        // The core at --freq (the Cu's oscillator), each port at its REF_CLK.
        opts.clocks = vec![
            ("clock".into(), a.freq),
            ("net_ref_clk".into(), REF_CLK_MHZ),
            ("srv_ref_clk".into(), REF_CLK_MHZ),
        ];
        // At 94 % of the LCs, 437 clock-enable/reset groups (181 of one flip-flop) left
        // nextpnr no legal placement; enables of fewer than 8 flip-flops as LUT muxes
        // place and route it (README, "Ethernet board", "Fit").
        opts.dffe_min_ce_use = Some(CU_ETH_DFFE_MIN_CE_USE);
    }
    opts.seed = a.seed;
    opts.seed_sweep = a.seeds;
    eprintln!(
        "[build] Alchitry Cu ({name}), {} entries, {} MHz, into {}",
        a.entries,
        a.freq,
        out.display()
    );
    let report =
        build(&opts).with_context(|| format!("building the {}-entry board top", a.entries))?;
    let verified = if a.verify { Some(verify(&out, a.entries)?) } else { None };
    if a.json {
        let mut j = serde_json::to_value(&report)?;
        if let Some(v) = &verified {
            j["verify"] = serde_json::to_value(v)?;
        }
        println!("{j}");
    } else {
        print!("{}", report.summary());
        if let Some(v) = &verified {
            print!("{}", v.summary());
        }
    }
    // A bitstream that fails its session is the worse news: it comes before timing.
    if let Some(v) = verified.filter(|v| !v.passed()) {
        bail!(
            "the bitstream in {} differs from the reference model in the verify session ({} difference(s); first: {})",
            out.display(),
            v.differences.len(),
            v.differences[0]
        );
    }
    verdict(&report)
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The build's table size.
    #[arg(long, default_value_t = 64, value_parser = parse_entries)]
    pub entries: usize,
    /// The build [default: out/cu-<entries>, where `portshare build` writes].
    #[arg(long)]
    pub build_dir: Option<PathBuf>,
    /// What to simulate: the bitstream (the `.asc` decoded, what is flashed) or the
    /// netlist the build placed (its `portshare_cu.netlist.v`: yosys' output, before
    /// placement and routing).
    #[arg(long, value_enum, default_value_t = VerifyLevel::Bitstream)]
    pub level: VerifyLevel,
    /// Print the verify report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyLevel {
    Netlist,
    Bitstream,
}

/// `portshare verify`: the session of `build --verify` on an existing build.
pub fn run_verify(a: VerifyArgs) -> anyhow::Result<()> {
    let dir = a.build_dir.clone().unwrap_or_else(|| portshare_sim::bitstream::default_build_dir(a.entries));
    let v = verify_at(&dir, a.entries, a.level)?;
    if a.json {
        println!("{}", serde_json::json!({ "verify": v }));
    } else {
        print!("{}", v.summary());
    }
    if !v.passed() {
        bail!("the {} in {} differs from the reference model in the verify session (first: {})", v.level, dir.display(), v.differences[0]);
    }
    Ok(())
}

/// The verify session through the bitstream in `dir` (built for `entries`).
pub fn verify(dir: &std::path::Path, entries: usize) -> anyhow::Result<VerifyReport> {
    verify_at(dir, entries, VerifyLevel::Bitstream)
}

/// The verify session through the bitstream or the netlist in `dir`.
fn verify_at(dir: &std::path::Path, entries: usize, level: VerifyLevel) -> anyhow::Result<VerifyReport> {
    let (name, open): (&str, fn(&std::path::Path, usize) -> anyhow::Result<portshare_sim::board::SimBoard>) = match level {
        VerifyLevel::Bitstream => ("bitstream", portshare_sim::board::SimBoard::from_build),
        VerifyLevel::Netlist => ("netlist", portshare_sim::board::SimBoard::from_build_netlist),
    };
    eprintln!("[build] verify: the {name} in {} simulated at its UART pins", dir.display());
    let t = std::time::Instant::now();
    let board = open(dir, entries)?;
    let mut r = portshare_sim::verify::session(board, name)?;
    // The whole step: checks, decoding and the library (cached after a first use) too.
    r.seconds = t.elapsed().as_secs_f64();
    Ok(r)
}

/// Timing not met is a failed build, even though a bitstream was written.
fn verdict(r: &Report) -> anyhow::Result<()> {
    if r.timing_met {
        return Ok(());
    }
    if r.clocks.len() > 1 {
        let missed: Vec<String> = r
            .clocks
            .iter()
            .filter(|c| c.fmax_mhz < c.target_mhz)
            .map(|c| format!("{} {:.2} MHz < {:.2} MHz", c.name, c.fmax_mhz, c.target_mhz))
            .collect();
        bail!("timing not met in {}: {} (bitstream {} written anyway)", missed.len(), missed.join(", "), r.bitstream.display());
    }
    bail!(
        "timing not met: Fmax {:.2} MHz is {:.2} MHz short of the {:.2} MHz target (bitstream {} written anyway)",
        r.fmax_mhz.unwrap_or(0.0),
        r.shortfall_mhz(),
        r.target_mhz,
        r.bitstream.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::flow::{self, ClockTiming, StepSeconds};

    fn report(fmax: f64) -> Report {
        Report {
            top: "portshare_cu".into(),
            device: flow::DEVICE.into(),
            fmax_mhz: Some(fmax),
            target_mhz: 100.0,
            timing_met: fmax >= 100.0,
            clocks: vec![ClockTiming {
                name: "clk".into(),
                fmax_mhz: fmax,
                target_mhz: 100.0,
            }],
            lcs_used: 1,
            lcs_total: 7680,
            ffs_used: 1,
            brams_used: 0,
            brams_total: 32,
            ios_used: 1,
            seed: None,
            placements: vec![],
            critical_path: None,
            icetime: None,
            bitstream: "x.bin".into(),
            bitstream_bytes: 135_100,
            verilog: "x.v".into(),
            out_dir: ".".into(),
            modules: Default::default(),
            seconds: StepSeconds::default(),
        }
    }

    #[test]
    fn missed_timing_fails_and_says_by_how_much() {
        assert!(verdict(&report(120.0)).is_ok());
        let e = verdict(&report(87.5)).unwrap_err().to_string();
        assert!(
            e.contains("87.50 MHz") && e.contains("12.50 MHz short"),
            "{e}"
        );
    }

    #[test]
    fn only_supported_table_sizes_parse() {
        assert_eq!(parse_entries("64"), Ok(64));
        assert!(parse_entries("32").unwrap_err().contains("[16, 64, 128]"));
        assert!(parse_entries("x").is_err());
    }
}
