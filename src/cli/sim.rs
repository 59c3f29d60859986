//! `portshare sim`: run the frames of a pcap through the pipeline — its generated
//! Verilog under Verilator (default), the rust-hdl blocks in rust-hdl's simulator, or
//! the reference model — and write them to a new pcap with the same link type, order
//! and timestamps. Only rewritten ports and checksums differ. With a cycle-accurate
//! engine the model runs too, and any frame where the two differ is reported.

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
            let first: Vec<String> = r.model_mismatches.iter().take(10).map(|i| (i + 1).to_string()).collect();
            bail!(
                "the {} engine's output differs from the reference model in {} frames (first: {})",
                a.engine,
                r.model_mismatches.len(),
                first.join(", ")
            );
        }
    }
    Ok(())
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
