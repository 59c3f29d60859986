//! `portshare sim`: run the frames of a pcap through the pipeline — its generated
//! Verilog under Verilator (default), the rust-hdl blocks in rust-hdl's simulator, or
//! the reference model — and write them to a new pcap with the same link type, order
//! and timestamps. Only rewritten ports and checksums differ. With a cycle-accurate
//! engine the model runs too, and any frame where the two differ is reported.
//!
//! `--at rmii`: the frames go through the Ethernet board top at its pins instead
//! (`portshare_sim::eth_board`): into one port's RX pins through the PHY model, out of
//! the other's TX pins through its decoder; the summary adds the ports' counters, the
//! wire-to-wire latency and frames/s, and any frame the board dropped.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::model;
use portshare_sim::pcap::Capture;
use portshare_sim::engine::{self, EngineKind};
use portshare_sim::flows;
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Table capacities the hardware is built for.
pub use portshare_sim::rtl::CAPACITIES;

#[derive(clap::Args)]
pub struct SimArgs {
    /// The port-sharing table (TOML, one [[entry]] per entry).
    #[arg(long, value_name = "TABLE.toml", required_unless_present = "flows", conflicts_with = "flows")]
    pub table: Option<PathBuf>,
    /// Instead of a table file, build a table of the N most common flows in IN.pcap
    /// (incoming: destination address, protocol, port; outgoing: source), each mapped to a
    /// made-up port from 40000 up.
    #[arg(long, value_name = "N")]
    pub flows: Option<usize>,
    /// Also write the table that was used (handy with --flows) as a table file.
    #[arg(long, value_name = "TABLE.toml")]
    pub save_table: Option<PathBuf>,
    /// incoming (match destination, write assigned_port) or outgoing (match source, write shared_port).
    #[arg(long, default_value = "incoming")]
    pub direction: Direction,
    /// verilator: the pipeline's generated Verilog under Verilator (millions of clocks
    /// per second; its library is built once and cached, Debian package `verilator`);
    /// rtl: the rust-hdl blocks in rust-hdl's simulator (~25 000 clocks/s, needs no
    /// tools; the only one that writes --vcd); netlist: yosys' iCE40 netlist of that
    /// Verilog under Verilator with yosys' cell models (synthesized and built once,
    /// cached); model: the reference model (no clocks).
    #[arg(long, default_value = "verilator", value_name = "verilator|rtl|netlist|model")]
    pub engine: EngineKind,
    /// Where the frames enter: `pipeline` (the pipeline's byte stream) or `rmii` (the
    /// Ethernet board top's pins: incoming frames into the network port's RX pins and
    /// out of the server port's TX pins, outgoing the other way; at 100 Mb/s, through
    /// the PHY model; engines verilator (default) or rtl, capacity 16 or 64).
    #[arg(long, default_value = "pipeline", value_name = "pipeline|rmii", value_parser = ["pipeline", "rmii"])]
    pub at: String,
    /// With --at rmii: the offered load in percent of the line rate (100: back to back
    /// at the minimum gap of 96 bit times).
    #[arg(long, default_value_t = 100, value_name = "PERCENT")]
    pub load: u32,
    /// Table capacity of the design: 16, 64 or 128.
    #[arg(long, default_value_t = 64, value_parser = parse_capacity)]
    pub capacity: usize,
    /// Input capture (classic pcap or pcapng, Ethernet).
    #[arg(value_name = "IN.pcap")]
    pub input: PathBuf,
    /// Output capture, in the input's format (pcapng keeps interfaces, timestamps and options).
    #[arg(short = 'o', long = "output", value_name = "OUT.pcap")]
    pub output: PathBuf,
    /// Write a VCD waveform of the RTL run (slow; for small captures).
    #[arg(long, value_name = "WAVE.vcd")]
    pub vcd: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

fn parse_capacity(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if CAPACITIES.contains(&n) {
        Ok(n)
    } else {
        Err(format!("capacity must be 16, 64 or 128, not {n}"))
    }
}

/// A progress bar on stderr, only when stderr is a terminal (never in pipes or tests).
fn progress_bar(len: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} frames {{per_sec}} eta {{eta}}")) {
        pb.set_style(style);
    }
    pb
}

/// What a cycle-accurate run adds to the summary.
struct RtlFigures {
    clocks: u64,
    bytes_in: u64,
    latency_clocks: u64,
    /// Frames where the RTL output differs from the model's.
    model_mismatches: Vec<usize>,
}

pub fn run(a: SimArgs) -> Result<()> {
    if a.vcd.is_some() && a.engine != EngineKind::Rtl {
        bail!("--vcd needs --engine rtl (the {} engine writes no waveform)", a.engine);
    }
    if same_file(&a.input, &a.output) {
        bail!("{}: the output would overwrite the input", a.output.display());
    }
    let capture = Capture::read(&a.input)?;
    let frames = capture.frames();

    let table = match (&a.table, a.flows) {
        (Some(path), _) => Table::load(path, a.capacity)?,
        (None, Some(n)) => {
            let label = PathBuf::from(format!("flows of {}", a.input.display()));
            let t = flows::table_from_frames(frames.iter().map(|f| f.as_slice()), a.direction, n, a.capacity, &label)?;
            if t.entries.is_empty() {
                bail!("{}: no TCP/UDP flows to build a table from", a.input.display());
            }
            t
        }
        (None, None) => bail!("give --table TABLE.toml or --flows N"),
    };
    if let Some(path) = &a.save_table {
        let header = format!("# portshare table: {}\n# {} direction, {} entries\n\n", table.path.display(), a.direction, table.entries.len());
        std::fs::write(path, header + &table.to_toml()).with_context(|| format!("{}: writing the table", path.display()))?;
    }
    let slots = table.slots();
    if a.at == "rmii" {
        return run_rmii(&a, &capture, &frames, &table, &slots);
    }
    if a.load != 100 {
        bail!("--load is for --at rmii (the pipeline's byte stream has no line rate)");
    }

    let pb = progress_bar(frames.len(), a.engine.name());
    let result = engine::run(a.engine, a.capacity, a.vcd.as_deref(), &slots, &frames, a.direction, &mut |n| {
        pb.set_position(n as u64)
    })
    .with_context(|| format!("the {} engine", a.engine))?;
    pb.finish_and_clear();
    if result.frames.len() != frames.len() {
        bail!("the {} engine returned {} frames for {} in", a.engine, result.frames.len(), frames.len());
    }
    let rtl_figures = (a.engine != EngineKind::Model).then(|| RtlFigures {
        clocks: result.clocks,
        bytes_in: result.bytes_in,
        latency_clocks: result.latency_clocks,
        model_mismatches: frames
            .iter()
            .zip(&result.frames)
            .enumerate()
            .filter(|(_, (f, out))| model::process_frame(f, a.direction, &slots).frame != **out)
            .map(|(i, _)| i)
            .collect(),
    });
    let (out_frames, counters) = (result.frames, result.counters);

    let out_capture = capture.with_frames(out_frames)?;
    out_capture.write(&a.output)?;
    let unchanged = capture.records.iter().zip(&out_capture.records).filter(|(i, o)| i.data == o.data).count();
    let hits: Vec<u32> = (0..table.entries.len()).map(|i| counters.hits.get(i).copied().unwrap_or(0)).collect();

    if a.json {
        let mut j = json!({
            "input": a.input,
            "output": a.output,
            "table": table.path,
            "entries": table.entries.len(),
            "capacity": a.capacity,
            "direction": a.direction,
            "engine": a.engine.name(),
            "frames_in": frames.len(),
            "frames_out": out_capture.records.len(),
            "rewritten": counters.rewritten,
            "unchanged": unchanged,
            "no_match": counters.no_match,
            "fragment": counters.fragment,
            "unparsed": counters.unparsed,
            "udp_zero_checksum": counters.udp_zero_checksum,
            "hits": hits,
        });
        if let Some(r) = &rtl_figures {
            let extra = json!({
                "clocks": r.clocks,
                "bytes_in": r.bytes_in,
                "bytes_per_clock": if r.clocks == 0 { 0.0 } else { r.bytes_in as f64 / r.clocks as f64 },
                "latency_clocks": r.latency_clocks,
                "model_mismatches": r.model_mismatches.len(),
            });
            j.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        }
        println!("{j}");
    } else {
        println!(
            "{} → {}: {} frames, {} engine, {}, table {} ({} of {} entries)",
            a.input.display(),
            a.output.display(),
            frames.len(),
            a.engine.name(),
            a.direction,
            table.path.display(),
            table.entries.len(),
            a.capacity
        );
        println!(
            "  rewritten {} (UDP without checksum {}), unchanged {}: no match {}, fragment {}, unparsed {}",
            counters.rewritten, counters.udp_zero_checksum, unchanged, counters.no_match, counters.fragment, counters.unparsed
        );
        for (i, (e, h)) in table.entries.iter().zip(&hits).enumerate() {
            if *h > 0 {
                println!(
                    "  entry {:>3} {} {} {} {}→{}: {h} frames",
                    i + 1,
                    e.name.as_deref().unwrap_or("-"),
                    e.address,
                    e.protocol,
                    e.shared_port,
                    e.assigned_port
                );
            }
        }
        if let Some(r) = &rtl_figures {
            println!(
                "  {}: {} clocks for {} bytes ({:.3} bytes/clock), latency {} clocks",
                a.engine,
                r.clocks,
                r.bytes_in,
                if r.clocks == 0 { 0.0 } else { r.bytes_in as f64 / r.clocks as f64 },
                r.latency_clocks
            );
        }
    }
    if let Some(r) = &rtl_figures {
        if !r.model_mismatches.is_empty() {
            bail!(
                "the {} engine's output differs from the reference model in {} frames (first: {})",
                a.engine,
                r.model_mismatches.len(),
                first_ten(&r.model_mismatches)
            );
        }
    }
    Ok(())
}

/// `--at rmii`: the capture through the Ethernet board top's pins.
fn run_rmii(a: &SimArgs, capture: &Capture, frames: &[Vec<u8>], table: &Table, slots: &[portshare_host::Slot]) -> Result<()> {
    use portshare_sim::eth_board::{self, BenchOptions};
    if !matches!(a.engine, EngineKind::Verilator | EngineKind::Rtl) {
        bail!("--at rmii runs on the verilator or rtl engine, not {}", a.engine);
    }
    if a.vcd.is_some() {
        bail!("--at rmii writes no waveform (--vcd is for the pipeline on the rtl engine)");
    }
    if a.capacity == 128 {
        bail!("--at rmii simulates the Ethernet board with 16 or 64 entries, not 128");
    }
    let options = BenchOptions { engine: a.engine, capacity: a.capacity, ..Default::default() };
    let run = eth_board::run_capture(options, slots, frames, a.direction, a.load)
        .with_context(|| format!("the Ethernet board on the {} engine", a.engine))?;
    let dropped: Vec<usize> = run.frames.iter().enumerate().filter(|(_, f)| f.is_none()).map(|(i, _)| i).collect();
    let mismatches: Vec<usize> = frames
        .iter()
        .zip(&run.frames)
        .enumerate()
        .filter(|(_, (f, out))| out.as_ref().is_some_and(|o| model::process_frame(f, a.direction, slots).frame != *o))
        .map(|(i, _)| i)
        .collect();
    // A dropped frame's record is left out (a pcapng's blocks would keep its input bytes).
    if !dropped.is_empty() && capture.format_name() == "pcapng" {
        bail!("the board dropped {} frames (first: {}), and a pcapng output cannot leave them out: no output written", dropped.len(), dropped[0] + 1);
    }
    let carried = Capture {
        format: capture.format.clone(),
        records: capture.records.iter().zip(&run.frames).filter(|(_, f)| f.is_some()).map(|(r, _)| r.clone()).collect(),
    };
    let out_capture = carried.with_frames(run.frames.iter().flatten().cloned().collect())?;
    out_capture.write(&a.output)?;
    let (lmin, lmax) = run.latency_ns.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &l| (lo.min(l), hi.max(l)));
    let (lmin, lmax) = if run.latency_ns.is_empty() { (0.0, 0.0) } else { (lmin, lmax) };
    let clocks_per_s = run.core_clocks as f64 / run.wall.as_secs_f64().max(1e-9);
    let (from, to) = match a.direction {
        Direction::Incoming => ("net", "srv"),
        Direction::Outgoing => ("srv", "net"),
    };
    if a.json {
        let j = json!({
            "input": a.input,
            "output": a.output,
            "table": table.path,
            "entries": table.entries.len(),
            "capacity": a.capacity,
            "direction": a.direction,
            "at": "rmii",
            "engine": a.engine.name(),
            "load_percent": a.load,
            "frames_in": frames.len(),
            "frames_out": out_capture.records.len(),
            "dropped": dropped,
            "model_mismatches": mismatches.len(),
            "egress_fcs_bad": run.bad_fcs,
            "egress_runts_stomped": run.stomped_runts,
            "ingress_port": from,
            "egress_port": to,
            "ports": { "net": run.net.json(), "srv": run.srv.json() },
            "counters_source": "READ_PORT over the board's UART pins, once the run is idle",
            "latency_ns": { "min": lmin, "max": lmax },
            "ingress_frames_per_s": run.ingress_fps,
            "egress_frames_per_s": run.egress_fps,
            "core_clocks": run.core_clocks,
            "simulated_ns": run.sim_ns,
            "wall_s": run.wall.as_secs_f64(),
            "core_clocks_per_s": clocks_per_s,
        });
        println!("{j}");
    } else {
        println!(
            "{} → {}: {} frames into the {from} port's pins, {} out of the {to} port's, {} engine, {}, {}% load, table {} ({} of {} entries)",
            a.input.display(),
            a.output.display(),
            frames.len(),
            out_capture.records.len(),
            a.engine.name(),
            a.direction,
            a.load,
            table.path.display(),
            table.entries.len(),
            a.capacity
        );
        println!(
            "  {:.0} frames/s in, {:.0} out; wire-to-wire latency {:.0}–{:.0} ns; {} core clocks ({:.0} µs simulated) at {:.0} clocks/s",
            run.ingress_fps,
            run.egress_fps,
            lmin,
            lmax,
            run.core_clocks,
            run.sim_ns / 1000.0,
            clocks_per_s
        );
        for (name, s) in [("net", &run.net), ("srv", &run.srv)] {
            let c: Vec<String> = eth_board::COUNTERS.iter().zip(s.counters).filter(|(_, v)| *v > 0).map(|(n, v)| format!("{n} {v}")).collect();
            println!("  {name}: link {}, {}", if s.link { "up" } else { "down" }, if c.is_empty() { "no counts".into() } else { c.join(", ") });
        }
    }
    if !dropped.is_empty() {
        eprintln!("warning: the board dropped {} frames (first: {}); OUT holds the others", dropped.len(), first_ten(&dropped));
    }
    if run.stomped_runts > 0 {
        eprintln!(
            "note: {} frames under 64 bytes with their FCS (runts: a capture's unpadded frames) left stomped, as docs/semantics.md §3a says; \
             OUT holds their bytes",
            run.stomped_runts
        );
    }
    if run.bad_fcs > 0 {
        bail!("{} frames left the {to} port with an FCS other than docs/semantics.md §3a's (a full-size frame stomped, or a runt not)", run.bad_fcs);
    }
    if !mismatches.is_empty() {
        bail!("the board's output differs from the reference model in {} frames (first: {})", mismatches.len(), first_ten(&mismatches));
    }
    Ok(())
}

/// The first ten of `frames` (0-based indices) as 1-based frame numbers.
fn first_ten(frames: &[usize]) -> String {
    frames.iter().take(10).map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", ")
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
