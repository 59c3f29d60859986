//! The soak: a million seeded random frames, valid and mangled (every class of
//! docs/semantics.md §3, from `common::Gen`), both directions mixed, through the 64-entry
//! pipeline's Verilog under Verilator, with random input gaps and output back-pressure
//! and whole-entry table writes while the frames flow; judged against the reference
//! model. No frame may be lost, reordered or differ: a frame that passed during a
//! write must equal the model for some table of whole old/new/absent entries, and the
//! counters (per reason and per entry) must equal the model's tally of exactly those
//! outcomes.
//!
//! `PORTSHARE_SOAK_SEED` and `PORTSHARE_SOAK_FRAMES` replay or resize a run; every
//! failure message carries the seed and the round.

mod common;

use common::{generator, random_table, whole_entry_outcomes};
use portshare_host::Direction;
use portshare_sim::engine::{open, EngineKind, MgmtOp, Traffic};
use portshare_sim::model::{Counters, CountOutcome, Outcome};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

const CAPACITY: usize = 64;
const FRAMES_PER_ROUND: usize = 2_500;
/// Entries rewritten (each once, with new contents) while a round's frames flow.
const WRITES_PER_ROUND: usize = 4;

/// A random table (overlapping entries, as `common::random_table`) without entries
/// that map a port to itself, whose hits would leave the bytes as a miss does.
fn soak_table(rng: &mut StdRng, g: &common::Gen, n: usize) -> Vec<portshare_host::Slot> {
    let mut t = random_table(rng, g, n);
    for s in &mut t {
        if s.shared_port == s.assigned_port {
            s.assigned_port = s.shared_port.wrapping_add(1).max(1);
        }
    }
    t
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `base` plus one outcome of each undecided frame, equal to `got`, if some choice is
/// (a depth-first search that drops a choice as soon as it overshoots a counter).
fn settle(base: &Counters, undecided: &[Vec<Outcome>], got: &Counters) -> Option<Counters> {
    let vector = |c: &Counters| -> Vec<i64> {
        let mut v = vec![c.rewritten, c.no_match, c.fragment, c.unparsed, c.udp_zero_checksum];
        v.extend(&c.hits);
        v.into_iter().map(|x| x as i64).collect()
    };
    let one = |o: &Outcome| {
        let mut c = Counters::new(base.hits.len());
        c.count(o);
        vector(&c)
    };
    let options: Vec<Vec<Vec<i64>>> = undecided.iter().map(|os| os.iter().map(one).collect()).collect();
    fn search(left: &mut Vec<i64>, options: &[Vec<Vec<i64>>]) -> bool {
        let Some((first, rest)) = options.split_first() else { return left.iter().all(|&x| x == 0) };
        for o in first {
            left.iter_mut().zip(o).for_each(|(l, x)| *l -= x);
            if left.iter().all(|&x| x >= 0) && search(left, rest) {
                return true;
            }
            left.iter_mut().zip(o).for_each(|(l, x)| *l += x);
        }
        false
    }
    let mut left: Vec<i64> = vector(got).iter().zip(vector(base)).map(|(g, b)| g - b).collect();
    search(&mut left, &options).then(|| got.clone())
}

#[test]
fn a_million_random_frames_with_table_writes_equal_the_model() {
    let seed = env_or("PORTSHARE_SOAK_SEED", 20_261_201);
    let total = env_or("PORTSHARE_SOAK_FRAMES", 1_000_000) as usize;
    eprintln!("soak: seed {seed} (PORTSHARE_SOAK_SEED replays it), {total} frames");
    let mut g = generator(seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut table = soak_table(&mut rng, &g, CAPACITY);
    let mut e = open(EngineKind::Verilator, CAPACITY).unwrap_or_else(|e| panic!("{e:#}"));
    e.load(&table);
    let mut expect = Counters::new(CAPACITY);
    let (mut frames_done, mut writes, mut rewritten_during_writes, mut round) = (0usize, 0usize, 0usize, 0u64);
    let mut undecided = 0usize;
    let t = std::time::Instant::now();
    while frames_done < total {
        let ctx = format!("seed {seed}, round {round}");
        let n = FRAMES_PER_ROUND.min(total - frames_done);
        let frames: Vec<(Vec<u8>, Direction)> = (0..n)
            .map(|_| (g.frame(), if g.rng.gen_bool(0.5) { Direction::Incoming } else { Direction::Outgoing }))
            .collect();
        let bytes: u64 = frames.iter().map(|(f, _)| f.len() as u64).sum();
        // New contents for a few entries, written at random clocks inside the round.
        let mut changed: Vec<usize> = (0..CAPACITY).collect();
        changed.shuffle(&mut rng);
        changed.truncate(WRITES_PER_ROUND);
        let fresh = soak_table(&mut rng, &g, WRITES_PER_ROUND);
        let mut new = table.clone();
        let mut mgmt: Vec<(u64, MgmtOp)> = changed
            .iter()
            .zip(&fresh)
            .map(|(&i, s)| {
                new[i] = *s;
                (rng.gen_range(0..bytes), MgmtOp::WriteEntry(i as u8, s.to_record()))
            })
            .collect();
        mgmt.sort_by_key(|(at, _)| *at);
        let traffic = Traffic {
            input_gap: *[0.0, 0.0, 0.05, 0.2].choose(&mut rng).unwrap(),
            backpressure: *[0.0, 0.1, 0.3, 0.6].choose(&mut rng).unwrap(),
            seed: rng.gen(),
            mgmt,
            ..Default::default()
        };
        let batch: Vec<(&[u8], Direction)> = frames.iter().map(|(f, d)| (f.as_slice(), *d)).collect();
        let r = e.stream(&batch, &traffic);
        assert_eq!(r.frames.len(), n, "{ctx}: frames lost");
        assert_eq!(r.mgmt_replies.len(), WRITES_PER_ROUND, "{ctx}: table writes");
        // Frames whose bytes fit tables with different outcomes (an entry mapping a
        // port to itself, two entries with one mapping) are settled by the counters.
        let mut ambiguous: Vec<Vec<Outcome>> = vec![];
        for (i, ((f, d), got)) in frames.iter().zip(&r.frames).enumerate() {
            assert_eq!(got.len(), f.len(), "{ctx}, frame {i}: length (lost, reordered or cut)");
            let fits = whole_entry_outcomes(f, *d, &table, &new, &changed, got);
            match fits.as_slice() {
                [] => panic!(
                    "{ctx}, frame {i} ({d}, {} bytes): output fits no table of whole old/new/absent entries\n in  {f:02x?}\n out {got:02x?}",
                    f.len()
                ),
                [p] => {
                    if matches!(p.outcome, Outcome::Rewritten { entry, .. } if changed.contains(&entry)) {
                        rewritten_during_writes += 1;
                    }
                    expect.count(&p.outcome);
                }
                many => ambiguous.push(many.iter().map(|p| p.outcome).collect()),
            }
        }
        let got = e.read_counters();
        assert!(ambiguous.len() <= 200, "{ctx}: {} frames fit several outcomes", ambiguous.len());
        undecided += ambiguous.len();
        expect = settle(&expect, &ambiguous, &got).unwrap_or_else(|| {
            panic!("{ctx}: counters\n hardware {got:?}\n model    {expect:?}\n undecided frames {ambiguous:?}")
        });
        table = new;
        writes += WRITES_PER_ROUND;
        frames_done += n;
        round += 1;
    }
    // The run exercised what it claims to.
    assert!(writes >= 1000 || total < 1_000_000, "{writes} table writes");
    assert!(u64::from(expect.rewritten) > total as u64 / 20 && expect.no_match > 0 && expect.fragment > 0 && expect.unparsed > 0, "{expect:?}");
    assert!(expect.udp_zero_checksum > 0 && rewritten_during_writes > 0, "{expect:?}, {rewritten_during_writes}");
    eprintln!(
        "soak: {frames_done} frames, {writes} table writes ({rewritten_during_writes} frames rewritten by a just-written entry, \
         {undecided} settled by the counters), \
         {} clocks, {:.1} s; counters {expect:?}",
        e.clocks(),
        t.elapsed().as_secs_f64()
    );
}
