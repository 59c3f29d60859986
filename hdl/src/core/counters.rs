//! Frame counters, all in one block RAM: one 32-bit hit counter per table entry and
//! the five reason counters above them ([`REASON_BASE`]..), each incremented
//! read-modify-write. Counting happens as a frame's last byte leaves, when its outcome
//! is final.
//!
//! Frames that are not looked up may end on consecutive clocks, so increments are not
//! written as they come: each reason keeps a small tally of increments not yet in the
//! RAM, and one hit (at most one is ever waiting: a hit frame is ≥ 42 bytes, and the
//! hit slot comes every 16 clocks) waits with its entry. A slot counter gives the RAM
//! to each in turn, two clocks a slot: the first reads the word, the second registers
//! it, and the next slot's first clock adds the tally and writes that back (RAM → adder
//! → RAM in one clock was the Cu board's critical path, RAM → adder → register the
//! Ethernet board's):
//!
//! | slot | reads | writes (in the next slot's first clock) |
//! |---|---|---|
//! | 0..=4 | reason counter `slot` | it + its tally (the tally restarts from this clock's event) |
//! | 5 | the waiting hit's entry | it + 1 |
//! | 6 | nothing | nothing (slot 5's write lands here, before slot 7 reads) |
//! | 7 | entry `mgmt_index` (READ_HITS) | nothing |
//!
//! So a tally never exceeds 16 (5 bits), and a word is never read in the clock it is
//! written (a slot reads another word than the one the slot before writes). A read
//! returns the slot's word plus what is still waiting for it (its tally; for READ_HITS
//! the waiting hit if it is that entry's): every frame counted before the op started
//! is in it. Keeping the reasons in the RAM rather than in 160
//! flip-flops with their adders and read mux took the Ethernet board top (16 entries)
//! from 7 452 to 7 328 logic cells (the sum not yet registered then).
//!
//! RESET_COUNTERS drops the tallies and the waiting hit, then writes 0 to every word,
//! the reasons' first, in each slot's second clock (when the write port is free). A
//! slot read once the reset has started writes nothing back (it could put a count from
//! before the zero back after it): frames counted while the reset runs may count or
//! not, as with any reset racing traffic. (Comparing the swept word with the one under
//! way instead put an adder and a compare on the RAM's write enable, the Ethernet
//! board's critical path.)

use crate::core::parser::class;
use crate::prim::ram::BlockRam;
use crate::core::pipeline::{
    MGMT_INDEX_BITS, MGMT_OP_BITS, MGMT_READ_HITS, MGMT_READ_REASON, REASON_COUNT, REASON_FRAGMENT, REASON_NO_MATCH, REASON_REWRITTEN,
    REASON_UDP_ZERO_CHECKSUM, REASON_UNPARSED,
};
use portshare_spec::CAPACITIES;

/// The counters' RAM: 32-bit words, entries' hits from 0, reasons from `REASON_BASE`.
pub const HITS_BITS: usize = 32;
pub const HITS_ADDR_BITS: usize = 8;
/// The word of reason 0 (reason `r` at `REASON_BASE + r`).
pub const REASON_BASE: u64 = (1 << HITS_ADDR_BITS) - 8;
const _: () = {
    let mut i = 0;
    while i < CAPACITIES.len() {
        assert!(CAPACITIES[i] as u64 <= REASON_BASE, "hit counters would overlap the reasons'");
        i += 1;
    }
    // Slots 0..=4 are the reasons in REASON_* order.
    assert!(REASON_COUNT == 5);
    assert!(REASON_REWRITTEN == 0 && REASON_NO_MATCH == 1 && REASON_FRAGMENT == 2);
    assert!(REASON_UNPARSED == 3 && REASON_UDP_ZERO_CHECKSUM == 4);
    // `update`'s match arms 5 and 7 (hdl_gen needs literals there).
    assert!(SLOT_HIT == 5 && SLOT_READ_HITS == 7);
};
/// Slots: the waiting hit's increment, READ_HITS' read.
const SLOT_HIT: u64 = 5;
const SLOT_READ_HITS: u64 = 7;
/// A tally's width: up to 16 increments between two of its slots.
const TALLY_BITS: usize = 5;
use rust_hdl::prelude::*;

/// Increments of one counter not yet written: `inc` adds one; `take` (its slot's
/// read) hands the tally over and restarts it from this clock's `inc`.
#[derive(LogicBlock, Default)]
pub struct Tally {
    pub clock: Signal<In, Clock>,
    pub inc: Signal<In, Bit>,
    pub take: Signal<In, Bit>,
    pub value: Signal<Out, Bits<TALLY_BITS>>,
    n: DFF<Bits<TALLY_BITS>>,
}

impl Logic for Tally {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, n);
        self.value.next = self.n.q.val();
        if self.take.val() {
            self.n.d.next = 0.into();
            if self.inc.val() {
                self.n.d.next = 1.into();
            }
        } else if self.inc.val() {
            self.n.d.next = self.n.q.val() + 1;
        }
    }
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum CounterOp {
    Idle,
    /// Waiting for the slot that reads the word asked for (`target`).
    Read,
    /// Drop the tallies, then zero every word (`Reset`).
    ResetStart,
    Reset,
    Done,
}

#[derive(LogicBlock)]
pub struct Counters {
    pub clock: Signal<In, Clock>,
    /// A frame's last byte left this clock.
    pub count: Signal<In, Bit>,
    /// Its class (`parser::class`), whether it hit an entry, which, and whether that
    /// rewrite kept a zero UDP checksum.
    pub count_class: Signal<In, Bits<2>>,
    pub count_hit: Signal<In, Bit>,
    pub count_index: Signal<In, Bits<8>>,
    pub count_udp_zero: Signal<In, Bit>,
    // Management (MGMT_READ_HITS, MGMT_READ_REASON, MGMT_RESET_COUNTERS).
    pub mgmt_op: Signal<In, Bits<MGMT_OP_BITS>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<MGMT_INDEX_BITS>>,
    pub mgmt_busy: Signal<Out, Bit>,
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_rdata: Signal<Out, Bits<32>>,

    ram: BlockRam<HITS_BITS, HITS_ADDR_BITS>,
    /// The reasons' tallies (REASON_* order).
    t_rewritten: Tally,
    t_no_match: Tally,
    t_fragment: Tally,
    t_unparsed: Tally,
    t_udp_zero: Tally,
    /// The waiting hit and its entry.
    hit_waiting: DFF<Bit>,
    hit_index: DFF<Bits<8>>,
    /// The RAM's turn: `slot`, and in it the read clock (`phase` 0) or the write (1).
    slot: DFF<Bits<3>>,
    phase: DFF<Bit>,
    /// Registered at the read for the write: whether it writes, where, what it adds.
    w_enable: DFF<Bit>,
    w_address: DFF<Bits<8>>,
    amount: DFF<Bits<TALLY_BITS>>,
    /// The word read, registered in the slot's second clock; it plus its amount is
    /// what the write stores and what a read returns (in the next slot's first clock).
    word: DFF<Bits<32>>,
    sum: Signal<Local, Bits<32>>,
    read_address: Signal<Local, Bits<8>>,
    /// This clock's increments.
    inc_rewritten: Signal<Local, Bit>,
    looked_up: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    flush: Signal<Local, Bit>,
    op: DFF<CounterOp>,
    /// In Done (set as the op moves there).
    done: DFF<Bit>,
    busy: DFF<Bit>,
    sel: DFF<Bits<8>>,
    /// The slot a read waits for, and that its read clock came while the op waited (a
    /// read clock before the op started could have read another entry, and a tally
    /// taken then misses what came since).
    target: DFF<Bits<3>>,
    armed: DFF<Bit>,
    /// The clock after `armed`: the word is registered, its sum is the value.
    summed: DFF<Bit>,
    /// The word the reset zeroes next: from `REASON_BASE` up, wrapping, to the one
    /// below it.
    sweep: DFF<Bits<8>>,
    /// A reset has started: slot reads write nothing back.
    resetting: Signal<Local, Bit>,
    value: DFF<Bits<32>>,
    c_class_fragment: Constant<Bits<2>>,
    c_class_looked_up: Constant<Bits<2>>,
    c_op_read_hits: Constant<Bits<MGMT_OP_BITS>>,
    c_op_read_reason: Constant<Bits<MGMT_OP_BITS>>,
    c_reason_base: Constant<Bits<8>>,
    c_reason_count: Constant<Bits<8>>,
    c_slot_read_hits: Constant<Bits<3>>,
    c_last_swept: Constant<Bits<8>>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            count: Default::default(),
            count_class: Default::default(),
            count_hit: Default::default(),
            count_index: Default::default(),
            count_udp_zero: Default::default(),
            mgmt_op: Default::default(),
            mgmt_start: Default::default(),
            mgmt_index: Default::default(),
            mgmt_busy: Default::default(),
            mgmt_done: Default::default(),
            mgmt_rdata: Default::default(),
            ram: Default::default(),
            t_rewritten: Default::default(),
            t_no_match: Default::default(),
            t_fragment: Default::default(),
            t_unparsed: Default::default(),
            t_udp_zero: Default::default(),
            hit_waiting: Default::default(),
            hit_index: Default::default(),
            slot: Default::default(),
            phase: Default::default(),
            w_enable: Default::default(),
            w_address: Default::default(),
            amount: Default::default(),
            word: Default::default(),
            sum: Default::default(),
            read_address: Default::default(),
            inc_rewritten: Default::default(),
            looked_up: Default::default(),
            take: Default::default(),
            flush: Default::default(),
            op: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            sel: Default::default(),
            target: Default::default(),
            armed: Default::default(),
            summed: Default::default(),
            sweep: Default::default(),
            resetting: Default::default(),
            value: Default::default(),
            c_class_fragment: Constant::new(class::FRAGMENT.into()),
            c_class_looked_up: Constant::new(class::LOOKED_UP.into()),
            c_op_read_hits: Constant::new(MGMT_READ_HITS.into()),
            c_op_read_reason: Constant::new(MGMT_READ_REASON.into()),
            c_reason_base: Constant::new(REASON_BASE.into()),
            c_reason_count: Constant::new((REASON_COUNT as u64).into()),
            c_slot_read_hits: Constant::new(SLOT_READ_HITS.into()),
            c_last_swept: Constant::new((REASON_BASE - 1).into()),
        }
    }
}

impl Logic for Counters {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, hit_waiting, hit_index, slot, phase, w_enable, w_address, amount, word, op, done, busy, sel, target,
            armed, summed, sweep, value
        );
        clock!(self, clock, ram, t_rewritten, t_no_match, t_fragment, t_unparsed, t_udp_zero);

        // This clock's increments.
        self.looked_up.next = self.count_class.val() == self.c_class_looked_up.val();
        self.inc_rewritten.next = self.count.val() & self.looked_up.val() & self.count_hit.val();
        self.t_rewritten.inc.next = self.inc_rewritten.val();
        self.t_udp_zero.inc.next = self.inc_rewritten.val() & self.count_udp_zero.val();
        self.t_no_match.inc.next = self.count.val() & self.looked_up.val() & !self.count_hit.val();
        self.t_fragment.inc.next = self.count.val() & (self.count_class.val() == self.c_class_fragment.val());
        self.t_unparsed.inc.next =
            self.count.val() & !self.looked_up.val() & (self.count_class.val() != self.c_class_fragment.val());

        // The RAM's turn: a slot's read (phase 0) hands its tally over to `amount`.
        self.phase.d.next = !self.phase.q.val();
        if self.phase.q.val() {
            self.slot.d.next = self.slot.q.val() + 1;
        }
        self.take.next = !self.phase.q.val();
        self.flush.next = self.op.q.val() == CounterOp::ResetStart;
        self.t_rewritten.take.next = self.flush.val();
        self.t_no_match.take.next = self.flush.val();
        self.t_fragment.take.next = self.flush.val();
        self.t_unparsed.take.next = self.flush.val();
        self.t_udp_zero.take.next = self.flush.val();
        self.read_address.next = self.c_reason_base.val() | bit_cast::<8, 3>(self.slot.q.val());
        if self.take.val() {
            self.w_enable.d.next = true;
            self.amount.d.next = 0.into();
            // Slots 0..=4 are the reasons in REASON_* order.
            match self.slot.q.val().index() {
                0 => {
                    self.t_rewritten.take.next = true;
                    self.amount.d.next = self.t_rewritten.value.val();
                }
                1 => {
                    self.t_no_match.take.next = true;
                    self.amount.d.next = self.t_no_match.value.val();
                }
                2 => {
                    self.t_fragment.take.next = true;
                    self.amount.d.next = self.t_fragment.value.val();
                }
                3 => {
                    self.t_unparsed.take.next = true;
                    self.amount.d.next = self.t_unparsed.value.val();
                }
                4 => {
                    self.t_udp_zero.take.next = true;
                    self.amount.d.next = self.t_udp_zero.value.val();
                }
                5 => {
                    self.read_address.next = self.hit_index.q.val();
                    self.w_enable.d.next = self.hit_waiting.q.val();
                    if self.hit_waiting.q.val() {
                        self.amount.d.next = 1.into();
                    }
                    self.hit_waiting.d.next = false;
                }
                7 => {
                    self.read_address.next = self.sel.q.val();
                    self.w_enable.d.next = false;
                    if self.hit_waiting.q.val() & (self.hit_index.q.val() == self.sel.q.val()) {
                        self.amount.d.next = 1.into();
                    }
                }
                _ => {
                    self.w_enable.d.next = false;
                }
            }
        }
        self.resetting.next = (self.op.q.val() == CounterOp::ResetStart) | (self.op.q.val() == CounterOp::Reset);
        if self.take.val() & self.resetting.val() {
            self.w_enable.d.next = false;
            self.amount.d.next = 0.into();
        }
        if self.flush.val() {
            self.hit_waiting.d.next = false;
        }
        if self.inc_rewritten.val() {
            self.hit_waiting.d.next = true;
            self.hit_index.d.next = self.count_index.val();
        }
        if self.take.val() {
            self.w_address.d.next = self.read_address.val();
        }
        self.ram.read_address.next = self.read_address.val();
        // The word is registered in the slot's second clock; the next slot's first adds
        // its amount (held until that clock's end) and writes the sum.
        if self.phase.q.val() {
            self.word.d.next = self.ram.read_data.val();
        }
        // While resetting the word and amount are 0, so the sum is the reset's zero
        // too: the write data needs no mux (32 LUTs) between the two.
        if self.resetting.val() {
            self.word.d.next = 0.into();
        }
        self.sum.next = self.word.q.val() + bit_cast::<32, TALLY_BITS>(self.amount.q.val());
        self.ram.write_enable.next = self.take.val() & self.w_enable.q.val();
        self.ram.write_address.next = self.w_address.q.val();
        self.ram.write_data.next = self.sum.val();

        // `busy` mirrors `op != Idle` in a flip-flop (the port's accept reads it).
        self.mgmt_busy.next = self.busy.q.val();
        // `done` is set with the move to Done: `mgmt_done` comes from a flip-flop.
        self.mgmt_done.next = self.done.q.val();
        self.done.d.next = false;
        self.mgmt_rdata.next = self.value.q.val();
        match self.op.q.val() {
            CounterOp::Idle => {
                // Operands load every idle clock; only the state depends on the start
                // (keeps the port's accept off these registers' enables).
                self.sel.d.next = self.mgmt_index.val();
                self.sweep.d.next = self.c_reason_base.val();
                self.armed.d.next = false;
                self.summed.d.next = false;
                self.target.d.next = self.mgmt_index.val().get_bits::<3>(0);
                if self.mgmt_op.val() == self.c_op_read_hits.val() {
                    self.target.d.next = self.c_slot_read_hits.val();
                }
                if self.mgmt_start.val() {
                    self.busy.d.next = true;
                    if self.mgmt_op.val() == self.c_op_read_hits.val() {
                        self.op.d.next = CounterOp::Read;
                    } else if self.mgmt_op.val() == self.c_op_read_reason.val() {
                        self.op.d.next = CounterOp::Read;
                        if self.mgmt_index.val() >= self.c_reason_count.val() {
                            self.value.d.next = 0.into();
                            self.op.d.next = CounterOp::Done;
                            self.done.d.next = true;
                        }
                    } else {
                        self.op.d.next = CounterOp::ResetStart;
                    }
                }
            }
            CounterOp::Read => {
                // The slot's second clock registers its word; the next slot's first adds
                // what waits for it.
                self.armed.d.next = self.take.val() & (self.slot.q.val() == self.target.q.val());
                self.summed.d.next = self.armed.q.val();
                if self.summed.q.val() {
                    self.value.d.next = self.sum.val();
                    self.op.d.next = CounterOp::Done;
                    self.done.d.next = true;
                }
            }
            CounterOp::ResetStart => {
                self.op.d.next = CounterOp::Reset;
            }
            CounterOp::Reset => {
                // Zero a word in a slot's second clock (the write port is free; the last
                // write-back of a read from before the reset lands before the first);
                // the data is the sum, 0 while resetting.
                if !self.take.val() {
                    self.ram.write_enable.next = true;
                    self.ram.write_address.next = self.sweep.q.val();
                    self.sweep.d.next = self.sweep.q.val() + 1;
                    if self.sweep.q.val() == self.c_last_swept.val() {
                        self.op.d.next = CounterOp::Done;
                        self.done.d.next = true;
                    }
                }
            }
            CounterOp::Done => {
                self.op.d.next = CounterOp::Idle;
                self.busy.d.next = false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::*;
    use crate::core::pipeline::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A frame's outcome as the pipeline reports it when its last byte leaves.
    #[derive(Clone, Copy)]
    struct Event {
        class: u64,
        hit: bool,
        index: usize,
        udp_zero: bool,
    }

    struct Bench {
        c: Counters,
    }

    impl Bench {
        fn new() -> Self {
            let mut c = Counters::default();
            c.connect_all();
            let mut b = Self { c };
            b.quiet();
            b
        }

        fn quiet(&mut self) {
            self.c.count.next = false;
            self.c.mgmt_start.next = false;
        }

        fn event(&mut self, e: Event) {
            self.c.count.next = true;
            self.c.count_class.next = e.class.into();
            self.c.count_hit.next = e.hit;
            self.c.count_index.next = (e.index as u64).into();
            self.c.count_udp_zero.next = e.udp_zero;
        }

        fn start(&mut self, op: u64, index: usize) {
            self.c.mgmt_op.next = op.into();
            self.c.mgmt_index.next = (index as u64).into();
            self.c.mgmt_start.next = true;
        }

        /// One clock; inputs as set now are sampled at its rising edge. Returns the
        /// value if an op completed in this clock.
        fn tick(&mut self) -> Option<u64> {
            edge(&mut self.c, |c| &mut c.clock, false);
            let done = self.c.mgmt_done.val().then(|| u64::from(self.c.mgmt_rdata.val()));
            edge(&mut self.c, |c| &mut c.clock, true);
            self.quiet();
            done
        }

        fn op(&mut self, op: u64, index: usize) -> u64 {
            while self.c.mgmt_busy.val() {
                self.tick();
            }
            self.start(op, index);
            (0..1000).find_map(|_| self.tick()).expect("op finishes")
        }
    }

    /// The reasons a frame adds to (REASON_* order) and the entry whose hits it adds to.
    fn tally(e: &Event, reasons: &mut [u64; REASON_COUNT], hits: &mut [u64; 256]) {
        match (e.class, e.hit) {
            (class::LOOKED_UP, true) => {
                reasons[REASON_REWRITTEN as usize] += 1;
                hits[e.index] += 1;
                if e.udp_zero {
                    reasons[REASON_UDP_ZERO_CHECKSUM as usize] += 1;
                }
            }
            (class::LOOKED_UP, false) => reasons[REASON_NO_MATCH as usize] += 1,
            (class::FRAGMENT, _) => reasons[REASON_FRAGMENT as usize] += 1,
            _ => reasons[REASON_UNPARSED as usize] += 1,
        }
    }

    #[test]
    fn counts_every_reason_and_hit_like_the_tally_while_reads_overlap() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut b = Bench::new();
        let (mut reasons, mut hits) = ([0u64; REASON_COUNT], [0u64; 256]);
        let mut next_hit_ok = 0u64;
        let mut read_while_counting = 0;
        for clock in 0..40_000u64 {
            // Unparsed and missed frames may end on consecutive clocks; hits at least
            // 42 clocks apart (the shortest frame that can hit).
            if rng.gen_bool(0.3) {
                let class = [class::UNPARSED, class::FRAGMENT, class::LOOKED_UP][rng.gen_range(0..3)];
                let hit = class == class::LOOKED_UP && clock >= next_hit_ok && rng.gen_bool(0.5);
                let e = Event { class, hit, index: rng.gen_range(0..8), udp_zero: rng.gen_bool(0.3) };
                if hit {
                    next_hit_ok = clock + 42;
                }
                tally(&e, &mut reasons, &mut hits);
                b.event(e);
            }
            // Reads of hits start at random clocks too (including a hit's own clock).
            if !b.c.mgmt_busy.val() && rng.gen_bool(0.05) {
                b.start(MGMT_READ_HITS, rng.gen_range(0..8));
                read_while_counting += 1;
            }
            b.tick();
        }
        for _ in 0..4 {
            b.tick();
        }
        for (i, &want) in hits.iter().enumerate().take(8) {
            assert_eq!(b.op(MGMT_READ_HITS, i), want, "hits of entry {i}");
        }
        for (r, &want) in reasons.iter().enumerate() {
            assert_eq!(b.op(MGMT_READ_REASON, r), want, "reason {r}");
        }
        assert!(reasons.iter().all(|&n| n > 40) && read_while_counting > 300, "{reasons:?}, {read_while_counting} reads");
    }

    /// The hits RAM's collisions are don't care (`ram.rs`): a read of an entry whose
    /// increment is being written in that clock must wait for it.
    #[test]
    fn reading_hits_as_they_are_incremented_sees_the_new_count() {
        let mut b = Bench::new();
        for n in 1..=3u64 {
            // The hit's read is in this clock, its write in the clock the read op
            // starts reading.
            b.event(Event { class: class::LOOKED_UP, hit: true, index: 5, udp_zero: false });
            b.start(MGMT_READ_HITS, 5);
            assert_eq!((0..100).find_map(|_| b.tick()), Some(n));
            for _ in 0..50 {
                b.tick();
            }
        }
    }

    /// A reset sweeping past an entry as it is incremented leaves 0 or 1, never a
    /// collision's garbage.
    #[test]
    fn reset_racing_an_increment_leaves_zero_or_one() {
        for delay in 0..12 {
            let mut b = Bench::new();
            b.event(Event { class: class::LOOKED_UP, hit: true, index: 4, udp_zero: false });
            b.tick();
            b.start(MGMT_RESET_COUNTERS, 0);
            for _ in 0..delay {
                b.tick();
            }
            b.event(Event { class: class::LOOKED_UP, hit: true, index: 4, udp_zero: false });
            for _ in 0..400 {
                b.tick();
            }
            let n = b.op(MGMT_READ_HITS, 4);
            assert!(n <= 1, "delay {delay}: {n}");
        }
    }

    /// A frame ending on every clock (the fastest unparsed, fragment and missed frames
    /// come), hits as often as they can: no tally overflows, and a read made while
    /// counting returns a count between the tally when it started and when it ended.
    #[test]
    fn an_event_every_clock_loses_none_and_reads_bracket_the_tally() {
        let mut rng = StdRng::seed_from_u64(6);
        let mut b = Bench::new();
        let (mut reasons, mut hits) = ([0u64; REASON_COUNT], [0u64; 256]);
        let mut next_hit_ok = 0u64;
        let mut reading: Option<(u64, usize, u64)> = None;
        let mut checked = 0;
        // Runs of one class, so that one tally takes every clock's increment.
        let mut class = class::UNPARSED;
        for clock in 0..30_000u64 {
            if rng.gen_bool(0.01) {
                class = [class::UNPARSED, class::FRAGMENT, class::LOOKED_UP][rng.gen_range(0..3)];
            }
            let hit = class == class::LOOKED_UP && clock >= next_hit_ok;
            if hit {
                next_hit_ok = clock + 42;
            }
            let e = Event { class, hit, index: rng.gen_range(0..4), udp_zero: rng.gen_bool(0.5) };
            tally(&e, &mut reasons, &mut hits);
            b.event(e);
            let count = |op: u64, i: usize, reasons: &[u64; REASON_COUNT], hits: &[u64; 256]| {
                if op == MGMT_READ_HITS { hits[i] } else { reasons[i] }
            };
            if reading.is_none() && !b.c.mgmt_busy.val() && rng.gen_bool(0.1) {
                let (op, i) = if rng.gen() { (MGMT_READ_HITS, rng.gen_range(0..4)) } else { (MGMT_READ_REASON, rng.gen_range(0..REASON_COUNT)) };
                b.start(op, i);
                // This clock's event counts before the read (both are sampled at its edge).
                reading = Some((op, i, count(op, i, &reasons, &hits)));
            }
            if let Some(got) = b.tick() {
                let (op, i, low) = reading.take().expect("a read was asked for");
                let high = count(op, i, &reasons, &hits);
                assert!((low..=high).contains(&got), "clock {clock}: op {op} index {i}: {got} not in {low}..={high}");
                checked += 1;
            }
        }
        b.quiet();
        for (i, &want) in hits.iter().enumerate().take(4) {
            assert_eq!(b.op(MGMT_READ_HITS, i), want, "hits of entry {i}");
        }
        for (r, &want) in reasons.iter().enumerate() {
            assert_eq!(b.op(MGMT_READ_REASON, r), want, "reason {r}");
        }
        assert!(checked > 1000 && reasons.iter().all(|&n| n > 100), "{checked} reads, {reasons:?}");
    }

    /// A reset under an event every clock (no match, fragment, unparsed in turn), started
    /// at every offset into the slot round: each reason then holds at least the frames
    /// counted after the reset finished and at most those since it started (a zero
    /// overwritten by a read-modify-write under way would leave the count from before);
    /// an out-of-range reason reads 0.
    #[test]
    fn reset_under_full_traffic_keeps_the_frames_since_it_started_at_most() {
        let classes = [(class::LOOKED_UP, REASON_NO_MATCH), (class::FRAGMENT, REASON_FRAGMENT), (class::UNPARSED, REASON_UNPARSED)];
        for offset in 0..16 {
            let mut b = Bench::new();
            let mut clock = 0usize;
            let mut since_start = [0u64; REASON_COUNT];
            let mut since_done = [0u64; REASON_COUNT];
            let (mut started, mut done) = (false, false);
            let send = |b: &mut Bench, clock: &mut usize, since_start: &mut [u64; REASON_COUNT], since_done: &mut [u64; REASON_COUNT], started: bool, done: bool| {
                let (class, reason) = classes[*clock % 3];
                b.event(Event { class, hit: false, index: 0, udp_zero: false });
                if started {
                    since_start[reason as usize] += 1;
                }
                if done {
                    since_done[reason as usize] += 1;
                }
                *clock += 1;
            };
            for _ in 0..500 + offset {
                send(&mut b, &mut clock, &mut since_start, &mut since_done, started, done);
                b.tick();
            }
            b.start(MGMT_RESET_COUNTERS, 0);
            started = true;
            for _ in 0..3000 {
                if b.c.mgmt_done.val() {
                    done = true;
                }
                send(&mut b, &mut clock, &mut since_start, &mut since_done, started, done);
                b.tick();
                if done && since_done.iter().sum::<u64>() >= 100 {
                    break;
                }
            }
            assert!(done, "offset {offset}: the reset finishes under full traffic");
            b.quiet();
            for (_, r) in classes {
                let n = b.op(MGMT_READ_REASON, r as usize);
                let (low, high) = (since_done[r as usize], since_start[r as usize]);
                assert!((low..=high).contains(&n), "offset {offset}, reason {r}: {n} not in {low}..={high}");
            }
            assert_eq!(b.op(MGMT_READ_REASON, REASON_REWRITTEN as usize), 0);
            assert_eq!(b.op(MGMT_READ_REASON, REASON_COUNT), 0);
        }
    }
}
