//! Frame counters: one 32-bit counter per reason (registers) and one hit counter per
//! table entry (block RAM, incremented read-modify-write). Counting happens as a
//! frame's last byte leaves, when its outcome is final.

use crate::core::parser::class;
use crate::prim::ram::BlockRam;
use crate::core::pipeline::{MGMT_READ_HITS, MGMT_READ_REASON};

/// The per-entry hit counters' RAM: one 32-bit count per entry (up to 256).
pub const HITS_BITS: usize = 32;
pub const HITS_ADDR_BITS: usize = 8;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum CounterOp {
    Idle,
    ReadHits,
    ReadHitsCapture,
    ReadReason,
    /// Zero the reason counters, then sweep the hit counters (`Reset`).
    ResetReasons,
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
    pub mgmt_op: Signal<In, Bits<3>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<8>>,
    pub mgmt_busy: Signal<Out, Bit>,
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_rdata: Signal<Out, Bits<32>>,

    rewritten: DFF<Bits<32>>,
    no_match: DFF<Bits<32>>,
    fragment: DFF<Bits<32>>,
    unparsed: DFF<Bits<32>>,
    udp_zero_checksum: DFF<Bits<32>>,
    hits: BlockRam<HITS_BITS, HITS_ADDR_BITS>,
    inc_pending: DFF<Bit>,
    inc_index: DFF<Bits<8>>,
    inc_now: Signal<Local, Bit>,
    op: DFF<CounterOp>,
    /// In Done (set as the op moves there).
    done: DFF<Bit>,
    busy: DFF<Bit>,
    sel: DFF<Bits<8>>,
    sweep: DFF<Bits<9>>,
    value: DFF<Bits<32>>,
    c_class_fragment: Constant<Bits<2>>,
    c_class_looked_up: Constant<Bits<2>>,
    c_op_read_hits: Constant<Bits<3>>,
    c_op_read_reason: Constant<Bits<3>>,
    /// The last hit counter's address: the reset sweep ends there.
    c_last_hit: Constant<Bits<9>>,
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
            rewritten: Default::default(),
            no_match: Default::default(),
            fragment: Default::default(),
            unparsed: Default::default(),
            udp_zero_checksum: Default::default(),
            hits: Default::default(),
            inc_pending: Default::default(),
            inc_index: Default::default(),
            inc_now: Default::default(),
            op: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            sel: Default::default(),
            sweep: Default::default(),
            value: Default::default(),
            c_class_fragment: Constant::new(class::FRAGMENT.into()),
            c_class_looked_up: Constant::new(class::LOOKED_UP.into()),
            c_op_read_hits: Constant::new(MGMT_READ_HITS.into()),
            c_op_read_reason: Constant::new(MGMT_READ_REASON.into()),
            c_last_hit: Constant::new(((1u64 << HITS_ADDR_BITS) - 1).into()),
        }
    }
}

impl Logic for Counters {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, rewritten, no_match, fragment, unparsed, udp_zero_checksum, inc_pending,
            inc_index, op, sel, sweep, value, done, busy
        );
        clock!(self, clock, hits);

        // Reasons.
        if self.count.val() {
            if self.count_class.val() == self.c_class_looked_up.val() {
                if self.count_hit.val() {
                    self.rewritten.d.next = self.rewritten.q.val() + 1;
                    if self.count_udp_zero.val() {
                        self.udp_zero_checksum.d.next = self.udp_zero_checksum.q.val() + 1;
                    }
                } else {
                    self.no_match.d.next = self.no_match.q.val() + 1;
                }
            } else if self.count_class.val() == self.c_class_fragment.val() {
                self.fragment.d.next = self.fragment.q.val() + 1;
            } else {
                self.unparsed.d.next = self.unparsed.q.val() + 1;
            }
        }

        // Hits: read this clock, write +1 the next (rewritten frames are ≥ 42 bytes apart).
        self.inc_now.next = self.count.val() & (self.count_class.val() == self.c_class_looked_up.val()) & self.count_hit.val();
        self.hits.read_address.next = self.sel.q.val();
        if self.inc_now.val() {
            self.hits.read_address.next = self.count_index.val();
            self.inc_index.d.next = self.count_index.val();
        }
        self.inc_pending.d.next = self.inc_now.val();
        self.hits.write_enable.next = false;
        self.hits.write_address.next = self.inc_index.q.val();
        self.hits.write_data.next = self.hits.read_data.val() + 1;
        if self.inc_pending.q.val() {
            self.hits.write_enable.next = true;
        }

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
                self.sweep.d.next = 0.into();
                if self.mgmt_start.val() {
                    if self.mgmt_op.val() == self.c_op_read_hits.val() {
                        self.op.d.next = CounterOp::ReadHits;
                        self.busy.d.next = true;
                    } else if self.mgmt_op.val() == self.c_op_read_reason.val() {
                        self.op.d.next = CounterOp::ReadReason;
                        self.busy.d.next = true;
                    } else {
                        self.op.d.next = CounterOp::ResetReasons;
                        self.busy.d.next = true;
                    }
                }
            }
            CounterOp::ResetReasons => {
                self.rewritten.d.next = 0.into();
                self.no_match.d.next = 0.into();
                self.fragment.d.next = 0.into();
                self.unparsed.d.next = 0.into();
                self.udp_zero_checksum.d.next = 0.into();
                self.op.d.next = CounterOp::Reset;
            }
            CounterOp::ReadReason => {
                self.value.d.next = 0.into();
                match self.sel.q.val().index() {
                    0 => {
                        self.value.d.next = self.rewritten.q.val();
                    }
                    1 => {
                        self.value.d.next = self.no_match.q.val();
                    }
                    2 => {
                        self.value.d.next = self.fragment.q.val();
                    }
                    3 => {
                        self.value.d.next = self.unparsed.q.val();
                    }
                    4 => {
                        self.value.d.next = self.udp_zero_checksum.q.val();
                    }
                    _ => {}
                }
                self.op.d.next = CounterOp::Done;
                self.done.d.next = true;
            }
            CounterOp::ReadHits => {
                // Read when no increment reads or writes: the hits RAM's collisions
                // don't care (see ram.rs).
                if !self.inc_now.val() & !self.inc_pending.q.val() {
                    self.op.d.next = CounterOp::ReadHitsCapture;
                }
            }
            CounterOp::ReadHitsCapture => {
                self.value.d.next = self.hits.read_data.val();
                self.op.d.next = CounterOp::Done;
                self.done.d.next = true;
            }
            CounterOp::Reset => {
                if !self.inc_pending.q.val() & !self.inc_now.val() {
                    self.hits.write_enable.next = true;
                    self.hits.write_address.next = self.sweep.q.val().get_bits::<8>(0);
                    self.hits.write_data.next = 0.into();
                    self.sweep.d.next = self.sweep.q.val() + 1;
                    if self.sweep.q.val() == self.c_last_hit.val() {
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
}
