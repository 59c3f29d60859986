//! `portshare`: simulate the port-sharing pipeline on pcaps, build the bitstream, and
//! drive the board (or its simulation) over the control protocol.

mod cli;
mod live;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "portshare", version, about = "FPGA port-sharing unit: simulate, build, load tables")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run frames of a pcap through the pipeline (RTL simulation or reference model).
    Sim(cli::sim::SimArgs),
    /// Measure the pipeline: bytes per clock, latency, simulator speed.
    Bench(cli::bench::BenchArgs),
    /// Generate Verilog and build the Alchitry Cu bitstream (yosys, nextpnr, icepack).
    Build(cli::build::BuildArgs),
    /// Run `build --verify`'s session on a build already written (no tool reruns).
    Verify(cli::build::VerifyArgs),
    #[command(flatten)]
    Board(cli::board::BoardCmd),
    /// Put a simulated board's UART on a unix socket: for QEMU's emulated FTDI chip
    /// (`--uart`), or kept alive for command after command (`--listen`).
    ///
    /// `--board cu-eth` serves the Ethernet board (both ports' PHYs up at 100 Mb/s
    /// full duplex): `--table` is loaded, then `--net-rx`/`--srv-rx` captures are played
    /// into the ports (`--net-tx`/`--srv-tx` keep what left them), before it serves;
    /// `stats` then shows each port's link and counters.
    Serve(cli::serve::ServeArgs),
    /// Put the unit live between two interfaces (AF_PACKET or TAP): real traffic through it.
    Wire(cli::wire::WireArgs),
    /// The table as a stateless nftables ruleset (print it, or load it with --apply).
    Nft(cli::nft::NftArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Sim(a) => cli::sim::run(a),
        Cmd::Bench(a) => cli::bench::run(a),
        Cmd::Build(a) => cli::build::run(a),
        Cmd::Verify(a) => cli::build::run_verify(a),
        Cmd::Board(c) => cli::board::run(c),
        Cmd::Serve(a) => cli::serve::run(a),
        Cmd::Wire(a) => cli::wire::run(a),
        Cmd::Nft(a) => cli::nft::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
