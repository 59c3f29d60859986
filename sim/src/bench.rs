//! Throughput and latency of the pipeline on back-to-back frames that all hit the
//! table (the worst case: every frame is looked up and rewritten), and the speed of
//! each cycle-accurate engine running it. `portshare bench` prints these; nothing
//! asserts on the wall-clock figures.

use crate::engine::{open, EngineKind, Traffic};
use portshare_host::{Direction, Slot};
use serde::Serialize;
use std::net::Ipv4Addr;
use std::time::Instant;

/// An Ethernet II + IPv4 + TCP frame of exactly `len` bytes (≥ 54), checksums correct.
pub fn tcp4_frame(len: usize, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    assert!(len >= 54, "a TCP/IPv4 frame needs 54 bytes");
    let payload: Vec<u8> = (0..len - 54).map(|i| i as u8).collect();
    let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sport, dport, 0, 4096)
        .psh()
        .ack(0);
    let mut f = Vec::with_capacity(len);
    builder.write(&mut f, &payload).expect("writing to a Vec cannot fail");
    f
}

/// Offset of the TCP header in [`tcp4_frame`]'s frames, and of its last byte.
pub const L4_OFFSET: usize = 34;
pub const L4_HEADER_LAST: usize = L4_OFFSET + 19;
/// The bytes an incoming rewrite changes: the TCP destination port and checksum.
const HELD: [usize; 4] = [L4_OFFSET + 2, L4_OFFSET + 3, L4_OFFSET + 16, L4_OFFSET + 17];

#[derive(Clone, Debug, Serialize)]
pub struct BenchCase {
    pub engine: String,
    pub frame_bytes: usize,
    pub frames: usize,
    pub capacity: usize,
    pub bytes_in: u64,
    /// Clocks from the first byte offered to the last byte out.
    pub clocks: u64,
    pub bytes_per_clock: f64,
    pub latency_min_clocks: u64,
    pub latency_max_clocks: u64,
    /// The held bytes (the TCP destination port and checksum) leave this many clocks after the L4
    /// header's last byte (L4+19) entered: docs/semantics.md §3 makes them wait for it (a TCP
    /// header cut off by the frame's end passes unchanged), so this is the distance
    /// to what the semantics allow (min, max over every frame).
    pub held_after_l4_header_min_clocks: u64,
    pub held_after_l4_header_max_clocks: u64,
    /// Every frame was rewritten (the entry sits in the table's last slot).
    pub rewritten: u64,
    pub sim_seconds: f64,
    pub sim_clocks_per_second: f64,
    pub sim_frames_per_second: f64,
}

/// Streams `frames` back-to-back frames of `frame_bytes` bytes, all hitting the table's
/// last entry, through a pipeline of `capacity` entries.
pub fn run_case(kind: EngineKind, capacity: usize, frame_bytes: usize, frames: usize) -> anyhow::Result<BenchCase> {
    let server = Ipv4Addr::new(192, 0, 2, 10);
    let mut e = open(kind, capacity)?;
    let mut slots = vec![Slot::default(); capacity];
    slots[capacity - 1] = Slot::new(server.into(), true, false, 443, 8443);
    e.load(&slots);
    let frame = tcp4_frame(frame_bytes, Ipv4Addr::new(198, 51, 100, 7), server, 40000, 443);
    let batch: Vec<(&[u8], Direction)> = (0..frames).map(|_| (frame.as_slice(), Direction::Incoming)).collect();
    let t = Instant::now();
    let r = e.stream(&batch, &Traffic { timing: true, ..Default::default() });
    let secs = t.elapsed().as_secs_f64();
    // The bytes that change (destination port, checksum) and so wait for the header.
    let held: Vec<u64> = r
        .byte_clocks
        .chunks(frame_bytes)
        .flat_map(|f| HELD.iter().map(move |&i| f[i].1.saturating_sub(f[L4_HEADER_LAST].0)))
        .collect();
    let c = e.read_counters();
    Ok(BenchCase {
        engine: kind.to_string(),
        frame_bytes,
        frames,
        capacity,
        bytes_in: r.bytes_in,
        clocks: r.clocks,
        bytes_per_clock: r.bytes_in as f64 / r.clocks as f64,
        latency_min_clocks: r.latency_min,
        latency_max_clocks: r.latency_max,
        held_after_l4_header_min_clocks: held.iter().copied().min().unwrap_or(0),
        held_after_l4_header_max_clocks: held.iter().copied().max().unwrap_or(0),
        rewritten: c.rewritten,
        sim_seconds: secs,
        sim_clocks_per_second: r.clocks as f64 / secs,
        sim_frames_per_second: frames as f64 / secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_frames_are_valid_tcp() {
        let f = tcp4_frame(60, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), 1, 2);
        assert_eq!(f.len(), 60);
        let p = crate::model::parse(&f);
        assert!(matches!(p, crate::model::Parse::Parsed(_)), "{p:?}");
        // the checksum verifies by full recomputation
        let h = etherparse::PacketHeaders::from_ethernet_slice(&f).unwrap();
        let (Some(etherparse::NetHeaders::Ipv4(ip, _)), Some(etherparse::TransportHeader::Tcp(t))) = (h.net, h.transport) else {
            panic!("not TCP/IPv4")
        };
        assert_eq!(t.calc_checksum_ipv4(&ip, h.payload.slice()).unwrap(), t.checksum);
    }

    #[test]
    fn back_to_back_minimum_frames_move_one_byte_per_clock() {
        let c = run_case(EngineKind::Rtl, 16, 60, 200).unwrap();
        assert_eq!(c.rewritten, 200);
        // Every byte in takes a clock; fill and drain add the latency once.
        assert!(c.clocks <= c.bytes_in + c.latency_max_clocks + 4, "{c:?}");
        // The port bytes cannot leave before the L4 header's last byte has entered.
        assert!(c.held_after_l4_header_min_clocks >= 1, "{c:?}");
        assert!(c.held_after_l4_header_max_clocks < c.latency_max_clocks, "{c:?}");
    }
}

/// What the verilator engine costs besides the design itself, on the `capacity`-entry
/// pipeline: the library build (or cache hit), idle clocks in C++ (the inputs held), a
/// loop that crosses the C ABI every clock (set two inputs, clock, read two outputs:
/// five calls) beside the same loop run inside the library (Verilator's own loop over
/// the same work: the ABI's cost is the difference), and the batched stream.
#[derive(Clone, Debug, Serialize)]
pub struct VerilatorCost {
    pub capacity: usize,
    /// Seconds Verilator + g++ took now; `None`: the library came from the cache.
    pub library_build_seconds: Option<f64>,
    /// Seconds to get a ready model (build or cache lookup, dlopen, construction).
    pub library_ready_seconds: f64,
    pub library: std::path::PathBuf,
    /// Clocks with the inputs held, in C++ (no input logic to evaluate).
    pub native_loop_clocks_per_second: f64,
    /// The per-clock loop inside the library.
    pub own_loop_clocks_per_second: f64,
    pub per_clock_abi_clocks_per_second: f64,
}

pub fn verilator_cost(capacity: usize) -> anyhow::Result<VerilatorCost> {
    let t = Instant::now();
    let lib = crate::verilator::library(capacity)?;
    let mut m = lib.instance();
    let library_ready_seconds = t.elapsed().as_secs_f64();
    let port = |m: &portshare_tools::verilator::Model, n: &str| m.port(n).expect("a pipeline port");
    let (in_data, in_valid, out_ready, out_valid, out_data) =
        (port(&m, "in_data"), port(&m, "in_valid"), port(&m, "out_ready"), port(&m, "out_valid"), port(&m, "out_data"));
    m.set_u64(out_ready, 1);
    const N: u64 = 2_000_000;
    let t = Instant::now();
    m.tick(N);
    let native = N as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sink = m.own_loop(N, [in_data, in_valid, out_valid, out_data]);
    let own = N as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..N {
        m.set_u64(in_data, i & 0xff);
        m.set_u64(in_valid, (i % 64 != 63) as u64);
        m.tick(1);
        sink = sink.wrapping_add(m.get_u64(out_valid) + m.get_u64(out_data));
    }
    let per_clock = N as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    Ok(VerilatorCost {
        capacity,
        library_build_seconds: lib.build_seconds,
        library_ready_seconds,
        library: lib.path().to_path_buf(),
        native_loop_clocks_per_second: native,
        own_loop_clocks_per_second: own,
        per_clock_abi_clocks_per_second: per_clock,
    })
}

/// The board top at its UART pins at one level, timed on a fixed piece of work (INFO
/// and [`BOARD_WRITES`] table writes through the host's codec): the speed of each
/// level in simulated clocks per wall second, side by side in one run.
#[derive(Clone, Debug, Serialize)]
pub struct BoardCase {
    pub engine: String,
    pub capacity: usize,
    /// Seconds to a ready board: library build or cache lookup (synthesis, decoding
    /// and the bitstream checks for the levels below the Verilog), power-on.
    pub ready_seconds: f64,
    pub clocks: u64,
    pub sim_seconds: f64,
    pub sim_clocks_per_second: f64,
}

/// Table writes in a [`BoardCase`] (few: rust-hdl runs the board at thousands of
/// clocks per second).
pub const BOARD_WRITES: usize = 8;

/// Times `kind` (rtl, verilator, netlist, or bitstream: the build in `build_dir`).
pub fn board_case(kind: EngineKind, capacity: usize, build_dir: &std::path::Path) -> anyhow::Result<BoardCase> {
    use crate::board::{SimBoard, SimWire};
    use portshare_host::protocol::Client;
    let t = Instant::now();
    let board = match kind {
        EngineKind::Bitstream => SimBoard::from_build(build_dir, capacity)?,
        k => SimBoard::with_engine(capacity, SimWire::UartPins, k)?,
    };
    let ready_seconds = t.elapsed().as_secs_f64();
    let mut c = Client::new(board);
    let clocks0 = c.transport().clocks();
    let t = Instant::now();
    c.info()?;
    for i in 0..BOARD_WRITES {
        c.write_entry(i as u8, &Slot::new(Ipv4Addr::new(192, 0, 2, i as u8).into(), true, true, 443, 8000 + i as u16))?;
    }
    let sim_seconds = t.elapsed().as_secs_f64();
    let clocks = c.transport().clocks() - clocks0;
    Ok(BoardCase {
        engine: kind.to_string(),
        capacity,
        ready_seconds,
        clocks,
        sim_seconds,
        sim_clocks_per_second: clocks as f64 / sim_seconds,
    })
}
