//! Frame counters: one 32-bit counter per reason (registers) and one hit counter per
//! table entry (block RAM, incremented read-modify-write). Counting happens as a
//! frame's last byte leaves, when its outcome is final.

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

#[derive(LogicBlock, Default)]
pub struct Counters {
    pub clock: Signal<In, Clock>,
    /// A frame's last byte left this clock.
    pub count: Signal<In, Bit>,
    /// Its class (parser codes: 0 unparsed, 1 fragment, 2 looked up), whether it hit an entry, which, and whether that
    /// rewrite kept a zero UDP checksum.
    pub class: Signal<In, Bits<2>>,
    pub hit: Signal<In, Bit>,
    pub index: Signal<In, Bits<8>>,
    pub udp_zero: Signal<In, Bit>,
    // Management (MGMT_READ_HITS, MGMT_READ_REASON, MGMT_RESET_COUNTERS).
    pub mgmt_op: Signal<In, Bits<3>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<8>>,
    pub mgmt_busy: Signal<Out, Bit>,
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_value: Signal<Out, Bits<32>>,

    rewritten: DFF<Bits<32>>,
    no_match: DFF<Bits<32>>,
    fragment: DFF<Bits<32>>,
    unparsed: DFF<Bits<32>>,
    udp_zero_checksum: DFF<Bits<32>>,
    hits: RAM<Bits<32>, 8>,
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
}

impl Counters {
    pub fn new() -> Self {
        let mut c = Self::default();
        c.hits = RAM::new((0..256u64).map(|i| (i.into(), 0.into())).collect());
        c
    }
}

impl Logic for Counters {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, rewritten, no_match, fragment, unparsed, udp_zero_checksum, inc_pending,
            inc_index, op, sel, sweep, value, done, busy
        );
        self.hits.read_clock.next = self.clock.val();
        self.hits.write_clock.next = self.clock.val();

        // Reasons.
        if self.count.val() {
            if self.class.val() == 2 {
                if self.hit.val() {
                    self.rewritten.d.next = self.rewritten.q.val() + 1;
                    if self.udp_zero.val() {
                        self.udp_zero_checksum.d.next = self.udp_zero_checksum.q.val() + 1;
                    }
                } else {
                    self.no_match.d.next = self.no_match.q.val() + 1;
                }
            } else if self.class.val() == 1 {
                self.fragment.d.next = self.fragment.q.val() + 1;
            } else {
                self.unparsed.d.next = self.unparsed.q.val() + 1;
            }
        }

        // Hits: read this clock, write +1 the next (rewritten frames are ≥ 42 bytes apart).
        self.inc_now.next = self.count.val() & (self.class.val() == 2) & self.hit.val();
        self.hits.read_address.next = self.sel.q.val();
        if self.inc_now.val() {
            self.hits.read_address.next = self.index.val();
            self.inc_index.d.next = self.index.val();
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
        self.mgmt_value.next = self.value.q.val();
        match self.op.q.val() {
            CounterOp::Idle => {
                // Operands load every idle clock; only the state depends on the start
                // (keeps the port's accept off these registers' enables).
                self.sel.d.next = self.mgmt_index.val();
                self.sweep.d.next = 0.into();
                if self.mgmt_start.val() {
                    if self.mgmt_op.val() == 4 {
                        self.op.d.next = CounterOp::ReadHits;
                        self.busy.d.next = true;
                    } else if self.mgmt_op.val() == 5 {
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
                if !self.inc_now.val() {
                    self.op.d.next = CounterOp::ReadHitsCapture;
                }
            }
            CounterOp::ReadHitsCapture => {
                self.value.d.next = self.hits.read_data.val();
                self.op.d.next = CounterOp::Done;
                self.done.d.next = true;
            }
            CounterOp::Reset => {
                if !self.inc_pending.q.val() {
                    self.hits.write_enable.next = true;
                    self.hits.write_address.next = self.sweep.q.val().get_bits::<8>(0);
                    self.hits.write_data.next = 0.into();
                    self.sweep.d.next = self.sweep.q.val() + 1;
                    if self.sweep.q.val() == 255 {
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
