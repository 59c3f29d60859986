//! Both Ethernet ports' 11 32-bit counters each (`portshare_spec::ports::COUNTER_NAMES`
//! order; port 0's as counters 0–10, port 1's as 11–21) in one block RAM, and
//! READ_PORT's reads of them. One instance serves both ports: one RAM and one engine
//! instead of one per port.
//!
//! The RAM (`BlockRam<16, 8>`, one SB_RAM40_4K) holds counter `i` as two 16-bit words,
//! low at `2i`, high at `2i + 1`. Events (`events`, one bit per counter, port 0's in
//! bits 0–10, any number in one clock) only raise a counter's pending amount: a 3-bit
//! count per counter, 16 bits for each port's `rx_bytes` (adds that port's `rx_len0` /
//! `rx_len1` per event), 8 for `tx_bytes` (adds one per event). One read-modify-write
//! engine visits the counters in turn, three clocks each (read low; write low + amount,
//! read high; write high + carry), a counter's pending amount taken whole in the first
//! (an event in that clock stays pending; an amount of zero writes the words back
//! unchanged). A read (three clocks) goes before the next visit, so a round is at most
//! 22 × (3 + 3) = 132 clocks even with reads back to back (READ_PORT asks one word per
//! four UART bytes: 33 clocks). A counter loses nothing while its events come at most
//! seven per 132 clocks: each is a frame's end, a false carrier, a drop or a frame sent,
//! ≥ 20 byte times = 160 clocks apart on a 100 Mb/s wire; the byte amounts take at most
//! 2 047 per frame (one frame per round) and one per byte handed to the TX crossing
//! (≤ 255 per round: at most its 32 free words at once, then one per byte time).
//!
//! `read` (a pulse, counter `read_index`; one at a time, the next after `done`) is
//! served between two visits: `value` holds the counter (both halves read back to
//! back, never between an update's two writes) from the clock `done` pulses until the
//! next read's `done`. `reset` or `clear` (a
//! pulse) zeroes every pending amount and sweeps the RAM to zero (64 clocks), an event
//! in the same clock counting after; a read waits for the sweep (one cut short by it
//! starts again), so it never sees a half-cleared RAM. Figures: README, "Ethernet
//! blocks".

use crate::prim::ram::BlockRam;
use portshare_spec::ports::COUNTER_NAMES;
use rust_hdl::prelude::*;

/// Counters per port.
pub const COUNTERS: usize = COUNTER_NAMES.len();
/// Ports served, and the counters kept (port `p`'s counter `i` is `p * COUNTERS + i`).
pub const PORTS: usize = 2;
pub const TOTAL: usize = PORTS * COUNTERS;
/// The RAM: 256 words of 16 bits, one SB_RAM40_4K (`resources` counts it).
pub const RAM_ADDR_BITS: usize = 8;
pub const RAM_BITS: usize = 16;
/// The byte counters' places among a port's counters (their events carry an amount).
pub const RX_BYTES: usize = 1;
pub const TX_BYTES: usize = 9;
/// Width of `tx_bytes`' pending amount (see `pend_tx_bytes0`).
const TX_PEND_BITS: usize = 8;
const _: () = assert!(matches!(COUNTER_NAMES[RX_BYTES].as_bytes(), b"rx_bytes"));
const _: () = assert!(matches!(COUNTER_NAMES[TX_BYTES].as_bytes(), b"tx_bytes"));
/// Addresses the sweep clears (two words per counter, rounded up to a power of two).
const SWEPT: usize = 64;
const _: () = assert!(2 * TOTAL <= SWEPT && SWEPT <= 1 << RAM_ADDR_BITS);

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum CountState {
    /// Choose: a read, or the counter `idx` (its pending amount, maybe zero).
    Scan,
    /// Low word in `read_data`: write it plus the amount, read the high word.
    Lo,
    /// High word in `read_data`: write it plus the carry.
    Hi,
    ReadLo,
    ReadHi,
    Sweep,
}

#[derive(LogicBlock)]
pub struct PortCounters {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// RESET_COUNTERS: zero every counter (one clock).
    pub clear: Signal<In, Bit>,
    /// Bit `i`: counter `i` counts (by one, or its port's `rx_len` for `rx_bytes`).
    pub events: Signal<In, Bits<TOTAL>>,
    pub rx_len0: Signal<In, Bits<11>>,
    pub rx_len1: Signal<In, Bits<11>>,
    pub read: Signal<In, Bit>,
    pub read_index: Signal<In, Bits<5>>,
    pub done: Signal<Out, Bit>,
    pub value: Signal<Out, Bits<32>>,
    ram: BlockRam<RAM_BITS, RAM_ADDR_BITS>,
    state: DFF<CountState>,
    /// The counter the engine is at.
    idx: DFF<Bits<5>>,
    pend: [DFF<Bits<3>>; TOTAL],
    pend_rx_bytes0: DFF<Bits<16>>,
    /// `tx_bytes` takes at most 255 a round: the TX crossing accepts its 32 free words
    /// at once, then one per byte time (≤ 25 in the 196 clocks of a sweep and a round).
    pend_tx_bytes0: DFF<Bits<TX_PEND_BITS>>,
    pend_rx_bytes1: DFF<Bits<16>>,
    pend_tx_bytes1: DFF<Bits<TX_PEND_BITS>>,
    /// The amount being added, and the low word's carry.
    amount: DFF<Bits<16>>,
    carry: DFF<Bit>,
    rd_pending: DFF<Bit>,
    rd_index: DFF<Bits<5>>,
    value_lo: DFF<Bits<16>>,
    value_hi: DFF<Bits<16>>,
    done_r: DFF<Bit>,
    sweep: DFF<Bits<6>>,
    /// `idx`'s pending amount, and whether the engine takes it this clock.
    sel_pend: Signal<Local, Bits<3>>,
    sel_amount: Signal<Local, Bits<16>>,
    take: Signal<Local, Bit>,
    /// Events that count one (all but the byte counters').
    unit_events: Signal<Local, Bits<TOTAL>>,
    addend: Signal<Local, Bits<17>>,
    sum: Signal<Local, Bits<17>>,
    word_lo: Signal<Local, Bits<8>>,
    word_hi: Signal<Local, Bits<8>>,
    rd_lo: Signal<Local, Bits<8>>,
    rd_hi: Signal<Local, Bits<8>>,
    starting: Signal<Local, Bit>,
    c_unit_mask: Constant<Bits<TOTAL>>,
    c_rx_mask0: Constant<Bits<TOTAL>>,
    c_tx_mask0: Constant<Bits<TOTAL>>,
    c_rx_mask1: Constant<Bits<TOTAL>>,
    c_tx_mask1: Constant<Bits<TOTAL>>,
    c_rx_bytes0: Constant<Bits<5>>,
    c_tx_bytes0: Constant<Bits<5>>,
    c_rx_bytes1: Constant<Bits<5>>,
    c_tx_bytes1: Constant<Bits<5>>,
    c_last: Constant<Bits<5>>,
    c_last_swept: Constant<Bits<6>>,
}

impl Default for PortCounters {
    fn default() -> Self {
        let (rx1, tx1) = (COUNTERS + RX_BYTES, COUNTERS + TX_BYTES);
        let unit_mask = ((1u64 << TOTAL) - 1) & !(1 << RX_BYTES) & !(1 << TX_BYTES) & !(1 << rx1) & !(1 << tx1);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            clear: Default::default(),
            events: Default::default(),
            rx_len0: Default::default(),
            rx_len1: Default::default(),
            read: Default::default(),
            read_index: Default::default(),
            done: Default::default(),
            value: Default::default(),
            ram: Default::default(),
            state: Default::default(),
            idx: Default::default(),
            pend: Default::default(),
            pend_rx_bytes0: Default::default(),
            pend_tx_bytes0: Default::default(),
            pend_rx_bytes1: Default::default(),
            pend_tx_bytes1: Default::default(),
            amount: Default::default(),
            carry: Default::default(),
            rd_pending: Default::default(),
            rd_index: Default::default(),
            value_lo: Default::default(),
            value_hi: Default::default(),
            done_r: Default::default(),
            sweep: Default::default(),
            sel_pend: Default::default(),
            sel_amount: Default::default(),
            take: Default::default(),
            unit_events: Default::default(),
            addend: Default::default(),
            sum: Default::default(),
            word_lo: Default::default(),
            word_hi: Default::default(),
            rd_lo: Default::default(),
            rd_hi: Default::default(),
            starting: Default::default(),
            c_unit_mask: Constant::new(unit_mask.into()),
            c_rx_mask0: Constant::new((1u64 << RX_BYTES).into()),
            c_tx_mask0: Constant::new((1u64 << TX_BYTES).into()),
            c_rx_mask1: Constant::new((1u64 << rx1).into()),
            c_tx_mask1: Constant::new((1u64 << tx1).into()),
            c_rx_bytes0: Constant::new((RX_BYTES as u64).into()),
            c_tx_bytes0: Constant::new((TX_BYTES as u64).into()),
            c_rx_bytes1: Constant::new((rx1 as u64).into()),
            c_tx_bytes1: Constant::new((tx1 as u64).into()),
            c_last: Constant::new(((TOTAL - 1) as u64).into()),
            c_last_swept: Constant::new(((SWEPT - 1) as u64).into()),
        }
    }
}

impl Logic for PortCounters {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, idx, pend_rx_bytes0, pend_tx_bytes0, pend_rx_bytes1, pend_tx_bytes1, amount, carry, rd_pending, rd_index, value_lo, value_hi,
            done_r, sweep
        );
        clock!(self, clock, ram);
        for i in 0..TOTAL {
            self.pend[i].clock.next = self.clock.val();
            self.pend[i].d.next = self.pend[i].q.val();
        }
        self.done_r.d.next = false;
        // Word addresses: counter `i`'s low word at 2i, its high word at 2i + 1.
        self.word_lo.next = bit_cast::<8, 5>(self.idx.q.val()) << 1;
        self.word_hi.next = (bit_cast::<8, 5>(self.idx.q.val()) << 1) | 1;
        self.rd_lo.next = bit_cast::<8, 5>(self.rd_index.q.val()) << 1;
        self.rd_hi.next = (bit_cast::<8, 5>(self.rd_index.q.val()) << 1) | 1;
        self.ram.read_address.next = self.word_lo.val();
        self.ram.write_address.next = self.word_lo.val();
        self.ram.write_data.next = 0.into();
        self.ram.write_enable.next = false;
        // One adder: low word + amount, then high word + carry.
        self.addend.next = 0.into();
        if self.carry.q.val() {
            self.addend.next = 1.into();
        }
        if self.state.q.val() == CountState::Lo {
            self.addend.next = bit_cast::<17, 16>(self.amount.q.val());
        }
        self.sum.next = bit_cast::<17, 16>(self.ram.read_data.val()) + self.addend.val();

        self.sel_pend.next = 0.into();
        for i in 0..TOTAL {
            if self.idx.q.val() == i.to_bits() {
                self.sel_pend.next = self.pend[i].q.val();
            }
        }
        self.sel_amount.next = bit_cast::<16, 3>(self.sel_pend.val());
        if self.idx.q.val() == self.c_rx_bytes0.val() {
            self.sel_amount.next = self.pend_rx_bytes0.q.val();
        }
        if self.idx.q.val() == self.c_tx_bytes0.val() {
            self.sel_amount.next = bit_cast::<16, TX_PEND_BITS>(self.pend_tx_bytes0.q.val());
        }
        if self.idx.q.val() == self.c_rx_bytes1.val() {
            self.sel_amount.next = self.pend_rx_bytes1.q.val();
        }
        if self.idx.q.val() == self.c_tx_bytes1.val() {
            self.sel_amount.next = bit_cast::<16, TX_PEND_BITS>(self.pend_tx_bytes1.q.val());
        }

        if self.read.val() {
            self.rd_pending.d.next = true;
            self.rd_index.d.next = self.read_index.val();
        }
        self.take.next = false;
        match self.state.q.val() {
            CountState::Scan => {
                if self.rd_pending.q.val() {
                    self.ram.read_address.next = self.rd_lo.val();
                    self.rd_pending.d.next = false;
                    self.state.d.next = CountState::ReadLo;
                } else {
                    // Taken whatever it is (zero adds nothing): the take then hangs on
                    // no mux of the amounts (timing).
                    self.take.next = true;
                    self.amount.d.next = self.sel_amount.val();
                    self.state.d.next = CountState::Lo;
                }
            }
            CountState::Lo => {
                self.ram.write_enable.next = true;
                self.ram.write_data.next = self.sum.val().get_bits::<16>(0);
                self.carry.d.next = self.sum.val().get_bit(16);
                self.ram.read_address.next = self.word_hi.val();
                self.state.d.next = CountState::Hi;
            }
            CountState::Hi => {
                self.ram.write_enable.next = true;
                self.ram.write_address.next = self.word_hi.val();
                self.ram.write_data.next = self.sum.val().get_bits::<16>(0);
                self.idx.d.next = self.idx.q.val() + 1;
                if self.idx.q.val() == self.c_last.val() {
                    self.idx.d.next = 0.into();
                }
                self.state.d.next = CountState::Scan;
            }
            CountState::ReadLo => {
                self.value_lo.d.next = self.ram.read_data.val();
                self.ram.read_address.next = self.rd_hi.val();
                self.state.d.next = CountState::ReadHi;
            }
            CountState::ReadHi => {
                self.value_hi.d.next = self.ram.read_data.val();
                self.done_r.d.next = true;
                self.state.d.next = CountState::Scan;
            }
            CountState::Sweep => {
                self.ram.write_enable.next = true;
                self.ram.write_address.next = bit_cast::<8, 6>(self.sweep.q.val());
                self.sweep.d.next = self.sweep.q.val() + 1;
                if self.sweep.q.val() == self.c_last_swept.val() {
                    self.state.d.next = CountState::Scan;
                }
            }
        }

        // Pending amounts: taken whole, plus this clock's events (which a clear keeps).
        self.starting.next = self.reset.val() | self.clear.val();
        self.unit_events.next = self.events.val() & self.c_unit_mask.val();
        for i in 0..TOTAL {
            if (self.take.val() & (self.idx.q.val() == i.to_bits())) | self.starting.val() {
                self.pend[i].d.next = 0.into();
            }
            if self.unit_events.val().get_bit(i) {
                self.pend[i].d.next = self.pend[i].q.val() + 1;
                if (self.take.val() & (self.idx.q.val() == i.to_bits())) | self.starting.val() {
                    self.pend[i].d.next = 1.into();
                }
            }
        }
        if (self.take.val() & (self.idx.q.val() == self.c_rx_bytes0.val())) | self.starting.val() {
            self.pend_rx_bytes0.d.next = 0.into();
        }
        if (self.events.val() & self.c_rx_mask0.val()).any() {
            self.pend_rx_bytes0.d.next = self.pend_rx_bytes0.q.val() + bit_cast::<16, 11>(self.rx_len0.val());
            if (self.take.val() & (self.idx.q.val() == self.c_rx_bytes0.val())) | self.starting.val() {
                self.pend_rx_bytes0.d.next = bit_cast::<16, 11>(self.rx_len0.val());
            }
        }
        if (self.take.val() & (self.idx.q.val() == self.c_tx_bytes0.val())) | self.starting.val() {
            self.pend_tx_bytes0.d.next = 0.into();
        }
        if (self.events.val() & self.c_tx_mask0.val()).any() {
            self.pend_tx_bytes0.d.next = self.pend_tx_bytes0.q.val() + 1;
            if (self.take.val() & (self.idx.q.val() == self.c_tx_bytes0.val())) | self.starting.val() {
                self.pend_tx_bytes0.d.next = 1.into();
            }
        }

        if (self.take.val() & (self.idx.q.val() == self.c_rx_bytes1.val())) | self.starting.val() {
            self.pend_rx_bytes1.d.next = 0.into();
        }
        if (self.events.val() & self.c_rx_mask1.val()).any() {
            self.pend_rx_bytes1.d.next = self.pend_rx_bytes1.q.val() + bit_cast::<16, 11>(self.rx_len1.val());
            if (self.take.val() & (self.idx.q.val() == self.c_rx_bytes1.val())) | self.starting.val() {
                self.pend_rx_bytes1.d.next = bit_cast::<16, 11>(self.rx_len1.val());
            }
        }
        if (self.take.val() & (self.idx.q.val() == self.c_tx_bytes1.val())) | self.starting.val() {
            self.pend_tx_bytes1.d.next = 0.into();
        }
        if (self.events.val() & self.c_tx_mask1.val()).any() {
            self.pend_tx_bytes1.d.next = self.pend_tx_bytes1.q.val() + 1;
            if (self.take.val() & (self.idx.q.val() == self.c_tx_bytes1.val())) | self.starting.val() {
                self.pend_tx_bytes1.d.next = 1.into();
            }
        }

        // A clear abandons an update (the sweep overwrites it) and restarts a read.
        if self.starting.val() {
            self.state.d.next = CountState::Sweep;
            self.sweep.d.next = 0.into();
            self.idx.d.next = 0.into();
            self.done_r.d.next = false;
            self.rd_pending.d.next = self.rd_pending.q.val()
                | self.read.val()
                | (self.state.q.val() == CountState::ReadLo)
                | (self.state.q.val() == CountState::ReadHi);
        }
        if self.reset.val() {
            self.rd_pending.d.next = false;
        }
        self.done.next = self.done_r.q.val();
        self.value.next = (bit_cast::<32, 16>(self.value_hi.q.val()) << 16) | bit_cast::<32, 16>(self.value_lo.q.val());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::cycle;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn tick(uut: &mut PortCounters) {
        cycle(uut, |u| &mut u.clock);
    }

    fn fresh() -> PortCounters {
        let mut uut = PortCounters::default();
        uut.connect_all();
        uut.reset.next = true;
        tick(&mut uut);
        uut.reset.next = false;
        uut
    }

    /// The bench's side: the events it drives and the plain count of them.
    struct Bench {
        uut: PortCounters,
        model: [u64; TOTAL],
        rng: StdRng,
        /// Per counter, the clocks of its last events (at most three per 70 clocks, so
        /// at most six in a round of 132).
        recent: [Vec<u64>; TOTAL],
        now: u64,
    }

    impl Bench {
        fn new(seed: u64) -> Self {
            Bench { uut: fresh(), model: [0; TOTAL], rng: StdRng::seed_from_u64(seed), recent: std::array::from_fn(|_| vec![]), now: 0 }
        }

        /// One clock with random events (each kind as often as the block allows, so
        /// several coincide most clocks), `clear` and a `read` as asked.
        fn step(&mut self, busy: bool, clear: bool, read: Option<usize>) {
            let mut ev = 0u64;
            let len = [self.rng.gen_range(0..2048u64), self.rng.gen_range(0..2048u64)];
            if busy {
                for i in 0..TOTAL {
                    self.recent[i].retain(|&t| self.now - t < 70);
                    let limit = if i % COUNTERS == TX_BYTES { 70 } else { 3 };
                    if self.recent[i].len() < limit && self.rng.gen_bool(0.3) {
                        ev |= 1 << i;
                        self.recent[i].push(self.now);
                    }
                }
            }
            if clear {
                self.model = [0; TOTAL];
            }
            for i in 0..TOTAL {
                if ev >> i & 1 == 1 {
                    self.model[i] += if i % COUNTERS == RX_BYTES { len[i / COUNTERS] } else { 1 };
                }
            }
            let u = &mut self.uut;
            u.events.next = ev.into();
            u.rx_len0.next = len[0].into();
            u.rx_len1.next = len[1].into();
            u.clear.next = clear;
            u.read.next = read.is_some();
            u.read_index.next = (read.unwrap_or(0) as u64).into();
            tick(u);
            self.now += 1;
        }

        /// Reads counter `i` (events going on if `busy`): its value, and the model's
        /// counts when the read was asked and when it was answered.
        fn read(&mut self, i: usize, busy: bool) -> (u64, u64, u64) {
            let before = self.model[i];
            self.step(busy, false, Some(i));
            for _ in 0..100 {
                if self.uut.done.val() {
                    return (self.uut.value.val().to_u64(), before, self.model[i]);
                }
                self.step(busy, false, None);
            }
            panic!("no answer to reading counter {i}");
        }

        /// Events stop; once the engine has caught up every counter equals the model.
        fn check_quiet(&mut self, what: &str) {
            // A round without reads: 22 visits of three clocks.
            for _ in 0..3 * TOTAL + 10 {
                self.step(false, false, None);
            }
            for i in 0..TOTAL {
                let (v, _, _) = self.read(i, false);
                let name = COUNTER_NAMES[i % COUNTERS];
                assert_eq!(v, self.model[i] & 0xFFFF_FFFF, "{what}: port {} {name} after {} clocks", i / COUNTERS, self.now);
            }
        }
    }

    /// Random events on every counter of both ports at once, many clocks coinciding, with reads in
    /// between (each answer between the counts when it was asked and when it came, the
    /// engine being up to a round behind) and clears (one during a read), against a
    /// plain count of the same events; the byte counter crosses 2^16 many times, so the
    /// high words' carries are checked too.
    #[test]
    fn counts_equal_a_plain_count_under_random_coinciding_events_reads_and_clears() {
        let mut b = Bench::new(7);
        for round in 0..6 {
            for _ in 0..3000 {
                b.step(true, false, None);
            }
            for i in 0..TOTAL {
                let (v, lo, hi) = b.read(i, true);
                // Up to a round of events (132 clocks with these back-to-back reads: ≤ 6
                // of a kind, 132 bytes) may still be pending.
                let slack = if i % COUNTERS == RX_BYTES { 6 * 2047 } else { 132 };
                let name = COUNTER_NAMES[i % COUNTERS];
                assert!(v <= hi && v + slack >= lo, "round {round}: port {} {name} read {v}, model {lo}..{hi}", i / COUNTERS);
            }
            b.check_quiet(&format!("round {round}"));
            if round == 0 {
                assert!(b.model[RX_BYTES] > 1 << 16, "port 0's byte count crossed into the high word");
                assert!(b.model[COUNTERS + RX_BYTES] > 1 << 16, "port 1's byte count crossed into the high word");
            }
            if round % 2 == 1 {
                // A clear 0 to 7 clocks after a read was asked (before, while and after
                // the engine reads): the read is answered once, after the sweep if it
                // was cut (by then the count is the few bytes since the clear).
                for offset in 0..8 {
                    // Port 0's and port 1's byte counter in turn.
                    let target = (offset % PORTS) * COUNTERS + RX_BYTES;
                    b.step(true, false, Some(target));
                    let mut answers = vec![];
                    for k in 0..offset + 1 + 100 {
                        if b.uut.done.val() {
                            answers.push((k, b.uut.value.val().to_u64(), b.model[target]));
                        }
                        b.step(true, k == offset, None);
                    }
                    assert_eq!(answers.len(), 1, "round {round}, clear {offset} clocks after a read: answers {answers:?}");
                    let (k, v, model) = answers[0];
                    if k > offset {
                        assert!(v <= model, "round {round}, clear {offset} clocks after a read: {v} after the clear, model {model}");
                    }
                    b.check_quiet(&format!("after the clear in round {round}, {offset} clocks after a read"));
                    for _ in 0..500 {
                        b.step(true, false, None);
                    }
                }
            }
        }
    }

    /// Both ports' counters take one block RAM (yosys maps the 256 × 16 RAM to one
    /// SB_RAM40_4K and keeps no bypass beside it).
    #[test]
    fn verilog_is_accepted_by_yosys_and_takes_one_block_ram() {
        use portshare_tools::runner::{self, YOSYS};
        let mut uut = PortCounters::default();
        uut.connect_all();
        let verilog = generate_verilog(&uut);
        yosys_validate(&format!("portshare-hdl-{}-portcounters", std::process::id()), &verilog).unwrap();
        let dir = std::env::temp_dir().join(format!("portshare-hdl-{}-portcounters-synth", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("top.v"), &verilog).unwrap();
        let log = runner::run(YOSYS, &["-p", "read_verilog top.v; synth_ice40 -top top; stat"], &dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let cells = |name: &str| -> u64 {
            let stat = &log[log.rfind("Number of cells").unwrap()..];
            stat.lines().find_map(|l| l.trim().strip_prefix(name).map(|n| n.trim().parse().unwrap())).unwrap_or(0)
        };
        assert_eq!(cells("SB_RAM40_4K"), 1, "{}", &log[log.rfind("Number of cells").unwrap()..]);
        eprintln!("PortCounters: {} LUT4, {} SB_CARRY, {} SB_RAM40_4K", cells("SB_LUT4"), cells("SB_CARRY"), cells("SB_RAM40_4K"));
    }
}
