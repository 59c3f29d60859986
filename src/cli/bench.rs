//! `portshare bench`: bytes per clock and latency of the pipeline on back-to-back
//! frames that all hit the table, and each cycle-accurate engine's own speed, measured
//! side by side in one run (the verilator engine's library build and C ABI cost too).

use portshare_sim::bench::{run_case, verilator_cost, BenchCase};
use portshare_sim::engine::EngineKind;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Table capacity of the simulated design: 16, 64 or 128.
    #[arg(long, default_value_t = 64)]
    pub capacity: usize,
    /// Frame sizes to measure, in bytes (each ≥ 54).
    #[arg(long, value_delimiter = ',', default_values_t = vec![60, 1500])]
    pub sizes: Vec<usize>,
    /// Bytes to stream per size and engine (rounded to whole frames).
    #[arg(long, default_value_t = 120_000)]
    pub bytes: usize,
    /// Bytes per size for the verilator engine [default: 50 × --bytes]: it runs
    /// ~200 times faster, and a longer run measures it better.
    #[arg(long)]
    pub verilator_bytes: Option<usize>,
    /// Engines to run, side by side: rtl (rust-hdl's simulator) and/or verilator (the
    /// generated Verilog under Verilator); both by default, with their speed ratio.
    #[arg(long, value_delimiter = ',', default_values_t = vec![EngineKind::Rtl, EngineKind::Verilator], value_name = "rtl,verilator")]
    pub engine: Vec<EngineKind>,
    /// Also time the board top at its UART pins at these levels, side by side (rtl,
    /// verilator, netlist, bitstream: the build in --build-dir), on a fixed piece of
    /// work (INFO and a few table writes).
    #[arg(long, value_delimiter = ',', value_name = "rtl,verilator,netlist,bitstream")]
    pub levels: Vec<EngineKind>,
    /// The build `--levels bitstream` simulates [default: out/cu-<capacity>].
    #[arg(long)]
    pub build_dir: Option<std::path::PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!a.engine.contains(&EngineKind::Model), "bench measures the cycle-accurate engines: rtl, verilator");
    // The library first: its build (or cache hit) is a figure of its own, not part
    // of the streaming time.
    let cost = if a.engine.contains(&EngineKind::Verilator) {
        if !a.json {
            eprintln!("[bench] verilator library for {} entries …", a.capacity);
        }
        Some(verilator_cost(a.capacity)?)
    } else {
        None
    };
    let mut cases: Vec<BenchCase> = vec![];
    for &size in &a.sizes {
        anyhow::ensure!(size >= 54, "frame size {size}: a TCP/IPv4 frame needs at least 54 bytes");
        for &kind in &a.engine {
            let bytes = if kind == EngineKind::Verilator { a.verilator_bytes.unwrap_or(a.bytes * 50) } else { a.bytes };
            let frames = (bytes / size).max(1);
            if !a.json {
                eprintln!("[bench] {kind}: {frames} back-to-back {size}-byte frames, {} entries …", a.capacity);
            }
            cases.push(run_case(kind, a.capacity, size, frames)?);
        }
    }
    let ratio = |size: usize| {
        let speed = |k: &str| cases.iter().find(|c| c.frame_bytes == size && c.engine == k).map(|c| c.sim_clocks_per_second);
        Some(speed("verilator")? / speed("rtl")?)
    };
    let build_dir = a.build_dir.clone().unwrap_or_else(|| portshare_sim::bitstream::default_build_dir(a.capacity));
    let mut levels = vec![];
    for &kind in &a.levels {
        anyhow::ensure!(kind != EngineKind::Model, "--levels: the model has no clock");
        if !a.json {
            eprintln!("[bench] board top at its UART pins, {kind} level …");
        }
        levels.push(portshare_sim::bench::board_case(kind, a.capacity, &build_dir)?);
    }
    let ratios: Vec<serde_json::Value> = a
        .sizes
        .iter()
        .filter_map(|&s| ratio(s).map(|r| serde_json::json!({ "frame_bytes": s, "verilator_over_rtl": r })))
        .collect();
    if a.json {
        println!("{}", serde_json::json!({ "capacity": a.capacity, "cases": cases, "ratios": ratios, "verilator": cost, "levels": levels }));
        return Ok(());
    }
    println!(
        "{:>9} {:>6} {:>8} {:>10} {:>9} {:>11} {:>12} {:>13} {:>12}",
        "engine", "bytes", "frames", "clocks", "bytes/clk", "latency clk", "held after L4", "sim clocks/s", "sim frames/s"
    );
    for c in &cases {
        println!(
            "{:>9} {:>6} {:>8} {:>10} {:>9.4} {:>5}..{:<5} {:>6}..{:<6} {:>13.0} {:>12.0}",
            c.engine,
            c.frame_bytes,
            c.frames,
            c.clocks,
            c.bytes_per_clock,
            c.latency_min_clocks,
            c.latency_max_clocks,
            c.held_after_l4_header_min_clocks,
            c.held_after_l4_header_max_clocks,
            c.sim_clocks_per_second,
            c.sim_frames_per_second
        );
    }
    for &s in &a.sizes {
        if let Some(r) = ratio(s) {
            println!("{s}-byte frames: verilator runs {r:.0} × as many clocks per second as rtl");
        }
    }
    if let Some(c) = &cost {
        match c.library_build_seconds {
            Some(b) => println!("verilator library: built in {b:.1} s ({})", c.library.display()),
            None => println!("verilator library: from the cache in {:.3} s ({})", c.library_ready_seconds, c.library.display()),
        }
        println!(
            "verilator: idle clocks {:.2} M clocks/s (inputs held, in C++); set 2 inputs, clock, read 2 outputs: {:.2} M clocks/s in C++ (Verilator's own loop), {:.2} M clocks/s with one C ABI call each ({:+.0} %)",
            c.native_loop_clocks_per_second / 1e6,
            c.own_loop_clocks_per_second / 1e6,
            c.per_clock_abi_clocks_per_second / 1e6,
            (c.per_clock_abi_clocks_per_second / c.own_loop_clocks_per_second - 1.0) * 100.0
        );
    }
    for l in &levels {
        println!(
            "board top at its UART pins, {:>9} level: {:>10.0} clocks/s ({} clocks in {:.2} s; ready in {:.1} s)",
            l.engine, l.sim_clocks_per_second, l.clocks, l.sim_seconds, l.ready_seconds
        );
    }
    println!(
        "every frame hit the table's last entry and was rewritten: {}; \"held after L4\": clocks from the TCP header's last byte in to a port byte out",
        cases.iter().all(|c| c.rewritten == c.frames as u64)
    );
    Ok(())
}
