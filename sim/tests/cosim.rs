//! The Verilog that becomes the bitstream is the Verilog that was tested: the
//! pipeline's generated Verilog, run in Icarus on the exact clock-by-clock inputs of a
//! rust-hdl run — table load, real frames with input gaps and back-pressure, counter
//! reads — must give the same outputs on every clock.

use portshare_host::Direction;
use portshare_sim::engine::Engine;
use portshare_sim::rtl::{Harness, MgmtOp, Traffic};
use std::path::Path;

#[test]
fn pipeline_verilog_matches_rust_hdl_on_real_frames() {
    let dir = portshare_sim::corpus::tcpdump_dir();
    let mut frames = vec![];
    for name in ["dns_udp_2.pcap", "ssh.pcap", "afs.pcap", "ipv6-srh-ext-header.pcap", "802.1ad_QinQ.pcap", "dns_tcp.pcap"] {
        let p = dir.join(name);
        let cap = portshare_sim::pcap::Capture::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        frames.extend(cap.frames().into_iter().take(60));
    }
    let table = portshare_sim::flows::table_from_frames(
        frames.iter().map(|f| f.as_slice()),
        Direction::Incoming,
        16,
        16,
        Path::new("<cosim flows>"),
    )
    .unwrap();
    let mut h = Harness::<16>::new();
    h.record();
    h.load(&table.slots());
    let batch: Vec<(&[u8], Direction)> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.is_empty())
        .map(|(i, f)| (f.as_slice(), if i % 3 == 0 { Direction::Outgoing } else { Direction::Incoming }))
        .collect();
    let r = h.stream(&batch, &Traffic { input_gap: 0.1, backpressure: 0.2, seed: 9, ..Default::default() });
    let c = h.read_counters();
    assert!(c.rewritten > 20, "the vectors should exercise rewriting: {c:?}");
    h.mgmt(&MgmtOp::ReadEntry(3));
    let work = tempfile::tempdir().unwrap();
    let report = h.cosimulate(work.path()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("co-simulated {} clocks ({} frames): Icarus agrees", report.clocks, r.frames.len());
    assert!(report.clocks > 20_000);
    // One level down, on the same vectors: yosys' synth_ice40 netlist (its block RAMs
    // inferred, the no_rw_check ones included) under Verilator with cells_sim.v.
    let t = std::time::Instant::now();
    let clocks = h.replay_on_netlist().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("the netlist agrees on all {clocks} clocks ({:.1} s with its synthesis and build, cached after a first use)", t.elapsed().as_secs_f64());
    assert_eq!(clocks, report.clocks);
}

#[test]
fn counters_verilog_matches_rust_hdl() {
    use portshare_hdl::core::counters::Counters;
    use rust_hdl::prelude::*;
    let mut uut = Counters::default();
    uut.connect_all();
    let mut rec = portshare_tools::icarus::Recorder::new(&uut).unwrap();
    use portshare_hdl::core::parser::class;
    use portshare_hdl::core::pipeline::{MGMT_READ_HITS, MGMT_READ_REASON, MGMT_RESET_COUNTERS};
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(55);
    // Frames of every class (some on consecutive clocks), hits 50 clocks apart, reads
    // of hits and reasons and a reset among them.
    for t in 0..3000u64 {
        let hit = t % 50 == 10;
        uut.count.next = hit || rng.gen_bool(0.4);
        uut.count_class.next = if hit { class::LOOKED_UP } else { [class::UNPARSED, class::FRAGMENT, class::LOOKED_UP][rng.gen_range(0..3)] }.into();
        uut.count_hit.next = hit;
        uut.count_index.next = ((t / 100) % 6).into();
        uut.count_udp_zero.next = rng.gen();
        let reset = (1500..1510).contains(&t);
        uut.mgmt_start.next = reset || rng.gen_bool(0.05);
        uut.mgmt_op.next = if reset { MGMT_RESET_COUNTERS } else if rng.gen() { MGMT_READ_HITS } else { MGMT_READ_REASON }.into();
        uut.mgmt_index.next = rng.gen_range(0..7u64).into();
        rec.step(&mut uut, |u| &mut u.clock).unwrap();
    }
    // (The hits RAM is a `BlockRam`, whose Verilog starts zeroed whatever was
    // simulated: no fresh block needed.)
    let work = tempfile::tempdir().unwrap();
    rec.run_icarus(&generate_verilog(&uut), work.path()).unwrap_or_else(|e| panic!("{e}"));
}

/// The data-plane top, co-simulated on random stimulus (any stimulus is a fair
/// differential test: both simulators must agree on every output, every clock).
#[test]
fn pipeline_agrees_on_random_stimulus() {
    use portshare_hdl::core::pipeline::Pipeline;
    use rand::{Rng, SeedableRng};
    use rust_hdl::prelude::*;
    let mut uut = Pipeline::<16>::default();
    uut.connect_all();
    let mut rec = portshare_tools::icarus::Recorder::new(&uut).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    for _ in 0..2000 {
        uut.reset.next = rng.gen_bool(0.01);
        uut.in_data.next = (rng.gen::<u8>() as u64).into();
        uut.in_valid.next = rng.gen();
        uut.in_last.next = rng.gen_bool(0.05);
        uut.in_direction.next = rng.gen();
        uut.out_ready.next = rng.gen_bool(0.8);
        uut.count_skip.next = rng.gen_bool(0.1);
        uut.mgmt_op.next = (rng.gen_range(0..8) as u64).into();
        uut.mgmt_start.next = rng.gen_bool(0.05);
        uut.mgmt_index.next = (rng.gen::<u8>() as u64).into();
        let mut wdata: Bits<168> = 0.into();
        for i in 0..168 {
            wdata = wdata.replace_bit(i, rng.gen());
        }
        uut.mgmt_wdata.next = wdata;
        rec.step(&mut uut, |u| &mut u.clock).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let r = rec
        .run_icarus(&generate_verilog(&uut), dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.clocks, r.inputs, r.outputs), (2000, 12, 8));
}
