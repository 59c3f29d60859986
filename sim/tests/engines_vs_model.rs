//! The cycle-accurate engines against the reference model and against each other:
//! rust-hdl's simulator (rtl) and the generated Verilog under Verilator must both equal
//! the model byte for byte, and each other in everything (frames, clock counts,
//! latencies, management replies, counters): it is one design, so any difference is a
//! bug in one of them. Every frame of the tcpdump corpus in both directions (through
//! rtl, a sample of it),
//! randomized valid and mangled frames under random input gaps and output
//! back-pressure, every truncation of rewritable frames, table writes while frames flow.

mod common;

use common::{compare, corpus_frames, cycle_engines, fits_whole_entries, generator, random_table};
use portshare_host::{Direction, Slot};
use portshare_sim::engine::Engine;
use portshare_sim::model::{self, Outcome};
use portshare_sim::engine::{MgmtOp, StreamResult, Traffic};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::Path;

/// Both engines through `compare` (each equal to the model); then equal to each other.
fn compare_engines(
    engines: &mut [Box<dyn Engine>],
    slots: &[Slot],
    frames: &[(String, Vec<u8>, Direction)],
    traffic: &Traffic,
) -> model::Counters {
    let mut results: Vec<(model::Counters, StreamResult, model::Counters)> = vec![];
    for e in engines.iter_mut() {
        let (c, r) = compare(e.as_mut(), slots, frames, traffic);
        results.push((c, r, e.read_counters()));
    }
    let (a, b) = (&results[0], &results[1]);
    assert_eq!(a.1.frames, b.1.frames, "rtl and verilator frames");
    assert_eq!(
        (a.1.clocks, a.1.bytes_in, a.1.latency_min, a.1.latency_max),
        (b.1.clocks, b.1.bytes_in, b.1.latency_min, b.1.latency_max),
        "rtl and verilator (clocks, bytes in, latency min, max)"
    );
    assert_eq!(a.1.mgmt_replies, b.1.mgmt_replies, "management replies");
    assert_eq!(a.2, b.2, "counters read back");
    assert!(a.1.clocks > 0);
    results.swap_remove(0).0
}

/// Every corpus frame through the Verilator engine against the model; every
/// `RTL_STRIDE`-th frame (every capture contributes) through both cycle engines, equal to
/// the model and to each other. rust-hdl's simulator runs ~130 times slower, and
/// verilator == rtl is also held on random traffic below: the whole corpus through rtl
/// would cost minutes and prove nothing the sample does not.
const RTL_STRIDE: usize = 8;

/// `frames` through the Verilator engine against the model, then `sample` through both
/// cycle engines (each against the model, then against each other). The model's
/// counters for both runs.
fn verilator_all_rtl_sample(
    capacity: usize,
    slots: &[Slot],
    frames: &[(String, Vec<u8>, Direction)],
    sample: &[(String, Vec<u8>, Direction)],
    traffic: &Traffic,
) -> (model::Counters, model::Counters) {
    let mut verilator = portshare_sim::engine::open(portshare_sim::engine::EngineKind::Verilator, capacity).unwrap();
    verilator.load(slots);
    let (c, r) = compare(verilator.as_mut(), slots, frames, traffic);
    assert!(r.clocks >= frames.iter().map(|(_, f, _)| f.len() as u64).sum::<u64>());
    let mut engines = cycle_engines(capacity, slots);
    (c, compare_engines(&mut engines, slots, sample, traffic))
}

fn corpus_run(direction: Direction, traffic: Traffic) {
    let frames = corpus_frames();
    let table = portshare_sim::flows::table_from_frames(
        frames.iter().map(|(_, f)| f.as_slice()),
        direction,
        64,
        64,
        Path::new("<corpus flows>"),
    )
    .unwrap();
    let slots = table.slots();
    let tagged: Vec<_> = frames.into_iter().map(|(n, f)| (n, f, direction)).collect();
    let sample: Vec<_> = tagged.iter().step_by(RTL_STRIDE).cloned().collect();
    let (c, s) = verilator_all_rtl_sample(64, &slots, &tagged, &sample, &traffic);
    eprintln!(
        "corpus {direction}: {} frames, rewritten {}, no_match {}, fragment {}, unparsed {}, udp_zero {}; rtl == verilator on {} of them (rewritten {})",
        tagged.len(),
        c.rewritten,
        c.no_match,
        c.fragment,
        c.unparsed,
        c.udp_zero_checksum,
        sample.len(),
        s.rewritten
    );
    assert!(c.rewritten > 100, "the flows table should rewrite real frames, got {}", c.rewritten);
    assert!(s.rewritten > 10, "the rtl sample should hold rewritten frames, got {}", s.rewritten);
}

#[test]
fn corpus_incoming_matches_model() {
    corpus_run(Direction::Incoming, Traffic::default());
}

#[test]
fn corpus_outgoing_matches_model_under_gaps_and_backpressure() {
    corpus_run(
        Direction::Outgoing,
        Traffic { input_gap: 0.2, backpressure: 0.3, seed: 7, ..Default::default() },
    );
}

#[test]
fn random_frames_match_model_under_gaps_and_backpressure() {
    let mut g = generator(42);
    let mut rng = StdRng::seed_from_u64(43);
    // Overlapping entries on purpose: the lowest index must win in both.
    let slots = random_table(&mut rng, &g, 16);
    let mut engines = cycle_engines(16, &slots);
    for round in 0..4u64 {
        let frames: Vec<_> = (0..600)
            .map(|i| {
                let d = if g.rng.gen_bool(0.5) { Direction::Incoming } else { Direction::Outgoing };
                (format!("round {round} frame {i}"), g.frame(), d)
            })
            .collect();
        let traffic = Traffic {
            input_gap: [0.0, 0.1, 0.5, 0.0][round as usize],
            backpressure: [0.0, 0.5, 0.1, 0.9][round as usize],
            seed: round,
            ..Default::default()
        };
        let c = compare_engines(&mut engines, &slots, &frames, &traffic);
        assert!(c.rewritten > 10 && c.no_match > 10 && c.unparsed > 10 && c.fragment > 5, "{c:?}");
    }
}

#[test]
fn every_truncation_of_rewritable_frames_matches_model() {
    let mut g = generator(5);
    let mut rng = StdRng::seed_from_u64(6);
    let slots = random_table(&mut rng, &g, 16);
    let mut frames = vec![];
    let mut found = 0;
    // Every cut of 40 frames through verilator; every cut of the first 8 through rtl too.
    let mut rtl_sample_len = 0;
    while found < 40 {
        let f = g.frame();
        let d = if found % 2 == 0 { Direction::Incoming } else { Direction::Outgoing };
        if matches!(model::process_frame(&f, d, &slots).outcome, Outcome::Rewritten { .. }) {
            found += 1;
            for cut in 1..=f.len() {
                frames.push((format!("frame {found} cut at {cut}"), f[..cut].to_vec(), d));
            }
            if found == 8 {
                rtl_sample_len = frames.len();
            }
        }
    }
    let traffic = Traffic { input_gap: 0.1, backpressure: 0.1, seed: 1, ..Default::default() };
    let (all, sample) = verilator_all_rtl_sample(16, &slots, &frames, &frames[..rtl_sample_len], &traffic);
    assert!(all.rewritten >= 40 && sample.rewritten >= 8, "every whole frame is rewritten: {all:?} {sample:?}");
}

#[test]
fn table_writes_while_frames_flow_never_show_half_an_entry() {
    let mut g = generator(11);
    let mut rng = StdRng::seed_from_u64(12);
    let old = random_table(&mut rng, &g, 16);
    let mut engines = cycle_engines(16, &old);
    let frames: Vec<(Vec<u8>, Direction)> = (0..1500)
        .map(|_| (g.frame(), if g.rng.gen_bool(0.5) { Direction::Incoming } else { Direction::Outgoing }))
        .collect();
    // Rewrite every entry with new contents, one after the other, while traffic flows.
    let new = random_table(&mut rng, &g, 16);
    let mgmt: Vec<(u64, MgmtOp)> =
        new.iter().enumerate().map(|(i, s)| (i as u64 * 2000, MgmtOp::WriteEntry(i as u8, s.to_record()))).collect();
    let batch: Vec<(&[u8], Direction)> = frames.iter().map(|(f, d)| (f.as_slice(), *d)).collect();
    let traffic = Traffic { input_gap: 0.05, backpressure: 0.05, seed: 3, mgmt, ..Default::default() };
    let results: Vec<StreamResult> = engines.iter_mut().map(|e| e.stream(&batch, &traffic)).collect();
    assert_eq!(results[0], results[1], "rtl and verilator during table writes");
    let r = &results[0];
    assert_eq!(r.frames.len(), frames.len());
    // Each frame must equal the model's output for some table in which every entry is
    // either old, new, or absent — entry by entry, never a mix inside one entry.
    let all: Vec<usize> = (0..16).collect();
    let (mut rewritten, mut depends_on_write) = (0, 0);
    for (i, ((f, d), got)) in frames.iter().zip(&r.frames).enumerate() {
        let p = fits_whole_entries(f, *d, &old, &new, &all, got)
            .unwrap_or_else(|| panic!("frame {i}: output fits no table made of whole old/new/absent entries"));
        rewritten += matches!(p.outcome, Outcome::Rewritten { .. }) as usize;
        depends_on_write += (model::process_frame(f, *d, &old).frame != model::process_frame(f, *d, &new).frame) as usize;
    }
    eprintln!("{rewritten} frames rewritten, {depends_on_write} whose output differs between the old and new table");
    assert!(rewritten > 20 && depends_on_write > 20, "too few frames touched the table: {rewritten}, {depends_on_write}");
    // After the writes, the table reads back as the new one and behaves like it.
    for e in engines.iter_mut() {
        for (i, s) in new.iter().enumerate() {
            assert_eq!(e.read_slot(i), *s, "{} entry {i} reads back", e.kind());
        }
    }
    let tail: Vec<_> = (0..300).map(|i| (format!("after {i}"), g.frame(), Direction::Incoming)).collect();
    compare_engines(&mut engines, &new, &tail, &Traffic::default());
}
