//! `portshare bench`: bytes per clock and latency of the RTL pipeline on back-to-back
//! frames that all hit the table, and the cycle simulator's own speed.

use portshare_sim::bench::{run_case, BenchCase};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Table capacity of the simulated design: 16, 64 or 128.
    #[arg(long, default_value_t = 64)]
    pub capacity: usize,
    /// Frame sizes to measure, in bytes (each ≥ 54).
    #[arg(long, value_delimiter = ',', default_values_t = vec![60, 1500])]
    pub sizes: Vec<usize>,
    /// Bytes to stream per size (rounded to whole frames).
    #[arg(long, default_value_t = 120_000)]
    pub bytes: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let mut cases: Vec<BenchCase> = vec![];
    for &size in &a.sizes {
        anyhow::ensure!(size >= 54, "frame size {size}: a TCP/IPv4 frame needs at least 54 bytes");
        let frames = (a.bytes / size).max(1);
        if !a.json {
            eprintln!("[bench] {frames} back-to-back {size}-byte frames, {} entries …", a.capacity);
        }
        cases.push(run_case(a.capacity, size, frames)?);
    }
    if a.json {
        println!("{}", serde_json::json!({ "capacity": a.capacity, "cases": cases }));
        return Ok(());
    }
    println!("{:>6} {:>7} {:>10} {:>10} {:>12} {:>14} {:>12}", "bytes", "frames", "clocks", "bytes/clk", "latency clk", "sim clocks/s", "sim frames/s");
    for c in &cases {
        println!(
            "{:>6} {:>7} {:>10} {:>10.4} {:>5}..{:<6} {:>14.0} {:>12.0}",
            c.frame_bytes, c.frames, c.clocks, c.bytes_per_clock, c.latency_min_clocks, c.latency_max_clocks,
            c.sim_clocks_per_second, c.sim_frames_per_second
        );
    }
    println!("every frame hit the table's last entry and was rewritten: {}", cases.iter().all(|c| c.rewritten == c.frames as u64));
    Ok(())
}
