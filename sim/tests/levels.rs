//! The 64-entry board one level below its Verilog: yosys' synth_ice40 netlist of the
//! board top under Verilator with yosys' cell models, at its UART pins (4 Mbaud, 25
//! clocks a bit), runs the fixed verify session (`portshare_sim::verify`, what
//! `portshare build --verify` runs through the bitstream; tests/build.rs runs it on
//! the bitstream): power-on table empty, 64 entries loaded and read back, corpus
//! frames both ways equal to the reference model, counters equal to the model's,
//! a bad-CRC and a garbage request answered with errors and the table unchanged.

use portshare_sim::board::{SimBoard, SimWire};
use portshare_sim::engine::EngineKind;
use portshare_sim::verify;
use std::time::Instant;

#[test]
fn board_netlist_passes_the_verify_session_at_its_uart_pins() {
    let t = Instant::now();
    let board = SimBoard::with_engine(64, SimWire::UartPins, EngineKind::Netlist).unwrap_or_else(|e| panic!("{e:#}"));
    let ready = t.elapsed().as_secs_f64();
    let r = verify::session(board, "netlist").unwrap();
    eprintln!("{}(board netlist ready in {ready:.1} s: synthesis and Verilator build, cached after a first use)", r.summary());
    assert!(r.passed(), "{}", r.summary());
    assert!(r.power_on_empty);
    assert_eq!((r.entries_written, r.entries_read_back), (64, 64));
    assert!(r.frames_injected >= 50, "{} frames", r.frames_injected);
    assert_eq!(r.frames_matched, r.frames_injected);
    assert!(r.counters_match && r.table_unchanged_after_errors);
    assert_eq!(r.errors_seen, 2);
}

/// The session's table has what it promises: IPv4 and IPv6 entries, bytes SLIP must
/// escape, entries the frames hit in both directions.
#[test]
fn the_verify_session_table_and_frames_cover_what_it_claims() {
    let frames = verify::frames().unwrap();
    assert!(frames.len() >= 50);
    let slots = verify::table(&frames, 64);
    assert_eq!(slots.len(), 64);
    assert!(slots.iter().any(|s| s.ipv4) && slots.iter().any(|s| !s.ipv4));
    let records: Vec<u8> = slots.iter().flat_map(|s| s.to_record()).collect();
    assert!(records.contains(&0xC0) && records.contains(&0xDB));
    for dir in [portshare_host::Direction::Incoming, portshare_host::Direction::Outgoing] {
        let rewritten = frames
            .iter()
            .filter(|(f, d)| *d == dir && matches!(portshare_sim::model::process_frame(f, dir, &slots).outcome, portshare_sim::model::Outcome::Rewritten { .. }))
            .count();
        assert!(rewritten >= 5, "{dir}: {rewritten} frames rewritten");
    }
}
