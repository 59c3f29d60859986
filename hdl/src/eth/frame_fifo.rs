//! A frame buffer on the core clock: `1 024 + 2^HI` bytes in two block RAMs (a
//! 1 024-byte and a `2^HI`-byte one: [`IngressFifo`] 2 048 bytes in four `SB_RAM40_4K`,
//! [`EgressFifo`] 1 536 in three) and up to [`DESCRIPTORS`] frames. A frame that cannot
//! be held — longer than the space left, a fifth frame, no bytes at all, or `w_drop`
//! with its end — is discarded whole (its bytes are taken back) and strobes `dropped`.
//! Nothing is ever truncated.
//!
//! Two ways to let a frame out (`new(cut_through)`):
//! - **whole frames** (the ingress): only once it is complete, its length (`r_len`) and
//!   flag (`r_flag`, given with its end) known from its first byte — the arbiter needs
//!   complete frames and their length;
//! - **cut-through** (the egress): also as soon as [`CUT_THROUGH_BYTES`] of it are in
//!   (or its end). The writer (the pipeline, a byte per clock) outruns the reader (the
//!   wire, a byte per 8 clocks at 100 Mb/s, 80 at 10) and never drops — the arbiter
//!   starts a frame only when `free` holds it and the writer is held by `room` — so the
//!   transmitter cannot underrun; a byte is only read once a later one is written (or
//!   the end is), so `r_last` is exact. `r_flag` is valid with `r_last` (stomp needs it
//!   no earlier) and `r_len` is not used. A frame already on its way out cannot be
//!   taken back: one that would be discarded (the writer broke the contract) ends
//!   where it was cut with its flag set, so the wire carries it with a stomped FCS
//!   (never a good FCS on wrong bytes). 64 bytes: the rewriter's hold (~20 bytes) with
//!   room to spare, so the frame's bytes stay ahead of the wire, which the TX crossing
//!   (two words, `cdc_tx.rs`) needs; it saves a frame's copy time (15 µs for 1 514
//!   bytes) of wire idle and latency per frame.
//!
//! The write side's inputs are registered (`s_*`): a byte given now is written next
//! clock, so the writer's handshake (on the Ethernet board: the arbiter's direction,
//! through the core, into the other port's buffer — the core clock's critical path)
//! reaches registers only, never the space arithmetic. `room` (a byte and a frame's
//! end given now will be taken) is a flip-flop set a clock ahead from the state, the
//! staged byte and the byte being given, conservatively (bytes read out meanwhile are
//! not counted: at most a clock's wait). The space is counted free (`free`, what
//! the arbiter reads, straight from its register), the space beside the committed
//! frames alone (`cfree`) kept with it: each moves by this clock's bytes (one adder
//! each), and a commit or a roll then picks the other's (a mux of three ±1 adders and
//! a `cap − fill` subtractor took 115 LUTs per buffer, four buffers on the Ethernet
//! board).
//!
//! Write side: `w_byte` (a byte in `w_data`) and `w_end` (the frame ends on this clock,
//! with or without a byte), never waiting. Read side: `r_valid`/`r_ready`/`r_last`;
//! `free` is the space a frame may still take and `full` that no descriptor is left,
//! both as of the bytes written (not yet the one given last clock; the arbiter reads
//! them two clocks after a frame, before it sends the next in, so the egress never
//! drops).
//!
//! Used four times by the Ethernet board: one ingress buffer per port (a maximum frame
//! waits in it while the pipeline carries the other port's, and the next one's first
//! 534 bytes — 43 µs at 100 Mb/s, three passes of the pipeline — still fit) and one
//! egress buffer per port (the pipeline runs at a byte per clock, the wire takes one
//! per 8).

use crate::prim::ram::BlockRam;
use rust_hdl::prelude::*;

/// Bytes a buffer with a `2^hi`-byte upper RAM holds.
pub const fn capacity(hi: usize) -> u64 {
    1024 + (1 << hi)
}
/// Upper RAM address bits of the ingress and egress buffers.
pub const INGRESS_HI: usize = 10;
pub const EGRESS_HI: usize = 9;
/// Bytes held by each.
pub const INGRESS_CAPACITY: u64 = capacity(INGRESS_HI);
pub const EGRESS_CAPACITY: u64 = capacity(EGRESS_HI);
/// Frames held.
pub const DESCRIPTORS: usize = 4;
/// Bytes of a frame in before a cut-through buffer starts letting it out.
pub const CUT_THROUGH_BYTES: u64 = 64;

/// Whole frames, 2 048 bytes.
pub type IngressFifo = FrameFifo<INGRESS_HI>;
/// Cut-through, 1 536 bytes.
pub type EgressFifo = FrameFifo<EGRESS_HI>;

#[derive(LogicBlock)]
pub struct FrameFifo<const HI: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub w_data: Signal<In, Bits<8>>,
    pub w_byte: Signal<In, Bit>,
    pub w_end: Signal<In, Bit>,
    pub w_flag: Signal<In, Bit>,
    pub w_drop: Signal<In, Bit>,
    /// One clock when a frame was discarded.
    pub dropped: Signal<Out, Bit>,
    pub free: Signal<Out, Bits<12>>,
    /// Every descriptor is taken: a frame ending now would be dropped.
    pub full: Signal<Out, Bit>,
    /// A byte and a frame's end given now will be taken (from a flip-flop).
    pub room: Signal<Out, Bit>,
    /// Nothing held (a frame longer than the buffer may still go through it when it
    /// is cut-through and its writer is held by `room`).
    pub empty: Signal<Out, Bit>,
    pub r_data: Signal<Out, Bits<8>>,
    pub r_valid: Signal<Out, Bit>,
    pub r_last: Signal<Out, Bit>,
    pub r_ready: Signal<In, Bit>,
    /// The frame being read: its length and flag (valid with `r_valid`; with cut-through
    /// the flag with `r_last` only, the length not at all).
    pub r_len: Signal<Out, Bits<12>>,
    pub r_flag: Signal<Out, Bit>,
    lo: BlockRam<8, 10>,
    hi: BlockRam<8, HI>,
    wptr: DFF<Bits<11>>,
    wstart: DFF<Bits<11>>,
    flen: DFF<Bits<12>>,
    dropping: DFF<Bit>,
    /// Bytes free, and free beside the committed frames alone (`free` plus the frame
    /// being written, `flen`); both the capacity at power-up.
    free_q: DFFWithInit<Bits<12>>,
    cfree: DFFWithInit<Bits<12>>,
    /// `free == 0`, `desc_count == DESCRIPTORS` and `flen != 0`, each a flip-flop set
    /// from this clock's events (power-up 0 is right for the empty buffer): `room`
    /// and the write decision then start from registers.
    r_at_cap: DFF<Bit>,
    r_desc_full: DFF<Bit>,
    flen_nz: DFF<Bit>,
    desc_len: [DFF<Bits<12>>; DESCRIPTORS],
    desc_flag: [DFF<Bit>; DESCRIPTORS],
    desc_wp: DFF<Bits<2>>,
    desc_rp: DFF<Bits<2>>,
    desc_count: DFF<Bits<3>>,
    r_dropped: DFF<Bit>,
    /// The write side's inputs as given last clock: what this clock writes.
    s_data: DFF<Bits<8>>,
    s_byte: DFF<Bit>,
    s_end: DFF<Bit>,
    s_flag: DFF<Bit>,
    s_drop: DFF<Bit>,
    /// `room`, set from last clock's state and inputs (the empty buffer's at power-up).
    r_room: DFFWithInit<Bit>,
    /// Reading a frame: bytes still to fetch, its length and flag.
    reading: DFF<Bit>,
    rptr: DFF<Bits<11>>,
    rem: DFF<Bits<12>>,
    cur_len: DFF<Bits<12>>,
    cur_flag: DFF<Bit>,
    /// Cut-through: the frame being read is still being written (`wr_read`: the writer
    /// has not ended it; `rd_open`: the reader has not yet taken its descriptor), and
    /// its bytes written but not yet fetched (`lead`).
    rd_open: DFF<Bit>,
    wr_read: DFF<Bit>,
    lead: DFF<Bits<12>>,
    /// `flen >= CUT_THROUGH_BYTES`, set as `flen` reaches it (a compare with the constant was a
    /// carry chain into the start decision: the block's critical path).
    flen_ge: DFF<Bit>,
    /// The RAM output holds a byte of the frame (from `sptr`), its last-ness, its RAM.
    shown: DFF<Bit>,
    shown_last: DFF<Bit>,
    shown_hi: DFF<Bit>,
    sptr: DFF<Bits<11>>,
    c_cap: Constant<Bits<12>>,
    c_minus_one: Constant<Bits<12>>,
    c_ptr_last: Constant<Bits<11>>,
    c_desc_full: Constant<Bits<3>>,
    c_desc_full_m1: Constant<Bits<3>>,
    c_desc_full_m2: Constant<Bits<3>>,
    c_cut_through: Constant<Bit>,
    c_ct_level_m1: Constant<Bits<12>>,
    // This clock's events.
    write: Signal<Local, Bit>,
    commit: Signal<Local, Bit>,
    roll: Signal<Local, Bit>,
    /// Cut-through: a frame that would be discarded is already going out.
    poison: Signal<Local, Bit>,
    flen_now: Signal<Local, Bits<12>>,
    wptr_inc: Signal<Local, Bits<11>>,
    start: Signal<Local, Bit>,
    start_open: Signal<Local, Bit>,
    close: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
    advance: Signal<Local, Bit>,
    fetch: Signal<Local, Bit>,
    consume: Signal<Local, Bit>,
    raddr: Signal<Local, Bits<11>>,
    rptr_inc: Signal<Local, Bits<11>>,
    /// `free`'s change this clock (+1 a byte out, −1 a byte in, as two's complement),
    /// `free` and `cfree` moved by this clock's bytes (before a commit or roll).
    free_delta: Signal<Local, Bits<12>>,
    free_moved: Signal<Local, Bits<12>>,
    cfree_moved: Signal<Local, Bits<12>>,
    flen_zero: Signal<Local, Bit>,
    at_cap: Signal<Local, Bit>,
    at_cap_m1: Signal<Local, Bit>,
    at_cap_m2: Signal<Local, Bit>,
}

impl<const HI: usize> FrameFifo<HI> {
    /// `cut_through`: let a frame out once [`CUT_THROUGH_BYTES`] of it are in.
    pub fn new(cut_through: bool) -> Self {
        let cap = capacity(HI);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            w_data: Default::default(),
            w_byte: Default::default(),
            w_end: Default::default(),
            w_flag: Default::default(),
            w_drop: Default::default(),
            dropped: Default::default(),
            free: Default::default(),
            full: Default::default(),
            room: Default::default(),
            empty: Default::default(),
            r_data: Default::default(),
            r_valid: Default::default(),
            r_last: Default::default(),
            r_ready: Default::default(),
            r_len: Default::default(),
            r_flag: Default::default(),
            lo: Default::default(),
            hi: Default::default(),
            wptr: Default::default(),
            wstart: Default::default(),
            flen: Default::default(),
            dropping: Default::default(),
            free_q: DFFWithInit::new(cap.into()),
            cfree: DFFWithInit::new(cap.into()),
            r_at_cap: Default::default(),
            r_desc_full: Default::default(),
            flen_nz: Default::default(),
            desc_len: Default::default(),
            desc_flag: Default::default(),
            desc_wp: Default::default(),
            desc_rp: Default::default(),
            desc_count: Default::default(),
            r_dropped: Default::default(),
            s_data: Default::default(),
            s_byte: Default::default(),
            s_end: Default::default(),
            s_flag: Default::default(),
            s_drop: Default::default(),
            r_room: DFFWithInit::new(true),
            reading: Default::default(),
            rptr: Default::default(),
            rem: Default::default(),
            cur_len: Default::default(),
            cur_flag: Default::default(),
            rd_open: Default::default(),
            wr_read: Default::default(),
            lead: Default::default(),
            flen_ge: Default::default(),
            shown: Default::default(),
            shown_last: Default::default(),
            shown_hi: Default::default(),
            sptr: Default::default(),
            c_cap: Constant::new(cap.into()),
            c_minus_one: Constant::new(0xFFF.into()),
            c_ptr_last: Constant::new((cap - 1).into()),
            c_desc_full: Constant::new((DESCRIPTORS as u64).into()),
            c_desc_full_m1: Constant::new((DESCRIPTORS as u64 - 1).into()),
            c_desc_full_m2: Constant::new((DESCRIPTORS as u64 - 2).into()),
            c_cut_through: Constant::new(cut_through),
            c_ct_level_m1: Constant::new((CUT_THROUGH_BYTES - 1).into()),
            write: Default::default(),
            commit: Default::default(),
            roll: Default::default(),
            poison: Default::default(),
            flen_now: Default::default(),
            wptr_inc: Default::default(),
            start: Default::default(),
            start_open: Default::default(),
            close: Default::default(),
            pop: Default::default(),
            advance: Default::default(),
            fetch: Default::default(),
            consume: Default::default(),
            raddr: Default::default(),
            rptr_inc: Default::default(),
            free_delta: Default::default(),
            free_moved: Default::default(),
            cfree_moved: Default::default(),
            flen_zero: Default::default(),
            at_cap: Default::default(),
            at_cap_m1: Default::default(),
            at_cap_m2: Default::default(),
        }
    }
}

/// Whole frames.
impl<const HI: usize> Default for FrameFifo<HI> {
    fn default() -> Self {
        Self::new(false)
    }
}

impl<const HI: usize> Logic for FrameFifo<HI> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, wptr, wstart, flen, dropping, free_q, cfree, r_at_cap, r_desc_full, flen_nz, desc_wp, desc_rp, desc_count,
            r_dropped, s_data, s_byte, s_end, s_flag, s_drop, r_room, reading, rptr, rem, cur_len, cur_flag, rd_open, wr_read, lead, flen_ge, shown, shown_last, shown_hi, sptr
        );
        clock!(self, clock, lo, hi);
        for i in 0..DESCRIPTORS {
            self.desc_len[i].clock.next = self.clock.val();
            self.desc_len[i].d.next = self.desc_len[i].q.val();
            self.desc_flag[i].clock.next = self.clock.val();
            self.desc_flag[i].d.next = self.desc_flag[i].q.val();
        }
        self.r_dropped.d.next = false;

        // The write side's inputs, a clock on (`s_*`): the writer's handshake reaches
        // only these registers and `r_room`.
        self.s_data.d.next = self.w_data.val();
        self.s_byte.d.next = self.w_byte.val();
        self.s_end.d.next = self.w_end.val();
        self.s_flag.d.next = self.w_flag.val();
        self.s_drop.d.next = self.w_drop.val();

        // Write side: a byte goes in while there is room and the frame is not being
        // discarded; at the end the frame is committed or taken back (or, already going
        // out, committed with its flag set).
        self.at_cap.next = self.r_at_cap.q.val();
        self.at_cap_m1.next = self.free_q.q.val() == 1;
        self.at_cap_m2.next = self.free_q.q.val() == 2;
        self.flen_zero.next = !self.flen_nz.q.val();
        self.write.next = self.s_byte.q.val() & !self.dropping.q.val() & !self.at_cap.val();
        self.wptr_inc.next = self.wptr.q.val() + 1;
        if self.wptr.q.val() == self.c_ptr_last.val() {
            self.wptr_inc.next = 0.into();
        }
        self.flen_now.next = self.flen.q.val();
        if self.write.val() {
            self.flen_now.next = self.flen.q.val() + 1;
        }
        self.commit.next = false;
        self.roll.next = false;
        self.poison.next = false;
        if self.s_end.q.val() {
            if (self.dropping.q.val() | (self.s_byte.q.val() & !self.write.val()) | self.s_drop.q.val())
                | (self.flen_zero.val() & !self.write.val())
                | self.r_desc_full.q.val()
            {
                if self.wr_read.q.val() {
                    self.poison.next = true;
                    self.commit.next = true;
                } else {
                    self.roll.next = true;
                }
            } else {
                self.commit.next = true;
            }
        } else if self.s_byte.q.val() & !self.write.val() {
            self.dropping.d.next = true;
        }
        self.lo.write_address.next = self.wptr.q.val().get_bits::<10>(0);
        self.hi.write_address.next = self.wptr.q.val().get_bits::<HI>(0);
        self.lo.write_data.next = self.s_data.q.val();
        self.hi.write_data.next = self.s_data.q.val();
        self.lo.write_enable.next = self.write.val() & !self.roll.val() & !self.wptr.q.val().get_bit(10);
        self.hi.write_enable.next = self.write.val() & !self.roll.val() & self.wptr.q.val().get_bit(10);
        if self.write.val() & !self.roll.val() {
            self.wptr.d.next = self.wptr_inc.val();
            self.flen.d.next = self.flen.q.val() + 1;
        }
        if self.commit.val() {
            for i in 0..DESCRIPTORS {
                if self.desc_wp.q.val() == i.to_bits() {
                    self.desc_len[i].d.next = self.flen_now.val();
                    self.desc_flag[i].d.next = self.s_flag.q.val() | self.poison.val();
                }
            }
            self.desc_wp.d.next = self.desc_wp.q.val() + 1;
            self.wstart.d.next = self.wptr.q.val();
            if self.write.val() {
                self.wstart.d.next = self.wptr_inc.val();
            }
            self.flen.d.next = 0.into();
            self.wr_read.d.next = false;
        }
        if self.roll.val() {
            self.wptr.d.next = self.wstart.q.val();
            self.flen.d.next = 0.into();
            self.r_dropped.d.next = true;
        }
        if self.s_end.q.val() {
            self.dropping.d.next = false;
        }

        // Read side: a committed frame is started (its descriptor taken) once the
        // previous one is wholly out; the RAM shows a byte the clock after its address,
        // and a shown byte not taken is read again. Cut-through: with no committed
        // frame, the one being written is started open once CUT_THROUGH_BYTES of it
        // are in (not on its end's clock: then it is simply committed), read while a
        // later byte of it is in, and its descriptor taken when it is committed.
        self.advance.next = !self.shown.q.val() | self.r_ready.val();
        self.consume.next = self.shown.q.val() & self.r_ready.val();
        self.start.next = !self.reading.q.val() & !self.shown.q.val() & (self.desc_count.q.val() != 0);
        self.start_open.next = self.c_cut_through.val()
            & !self.reading.q.val()
            & !self.shown.q.val()
            & (self.desc_count.q.val() == 0)
            & self.flen_ge.q.val()
            & !self.s_end.q.val()
            & !self.dropping.q.val();
        self.close.next = self.rd_open.q.val() & (self.desc_count.q.val() != 0);
        self.pop.next = self.start.val() | self.close.val();
        self.fetch.next = self.reading.q.val()
            & self.advance.val()
            & ((!self.rd_open.q.val() & (self.rem.q.val() != 0))
                | (self.rd_open.q.val() & self.wr_read.q.val() & (self.lead.q.val().get_bits::<11>(1) != 0)));
        self.rptr_inc.next = self.rptr.q.val() + 1;
        if self.rptr.q.val() == self.c_ptr_last.val() {
            self.rptr_inc.next = 0.into();
        }
        self.raddr.next = self.sptr.q.val();
        if self.fetch.val() {
            self.raddr.next = self.rptr.q.val();
            self.rptr.d.next = self.rptr_inc.val();
            self.sptr.d.next = self.rptr.q.val();
            self.shown.d.next = true;
            self.shown_hi.d.next = self.rptr.q.val().get_bit(10);
            self.shown_last.d.next = false;
            if !self.rd_open.q.val() {
                self.rem.d.next = self.rem.q.val() - 1;
                self.shown_last.d.next = self.rem.q.val() == 1;
                if self.rem.q.val() == 1 {
                    self.reading.d.next = false;
                }
            }
        } else if self.advance.val() {
            self.shown.d.next = false;
        }
        self.lo.read_address.next = self.raddr.val().get_bits::<10>(0);
        self.hi.read_address.next = self.raddr.val().get_bits::<HI>(0);
        // The open frame's bytes not yet fetched: its writes less its fetches.
        self.lead.d.next = self.lead.q.val();
        if self.write.val() & self.wr_read.q.val() & !self.fetch.val() {
            self.lead.d.next = self.lead.q.val() + 1;
        }
        if !(self.write.val() & self.wr_read.q.val()) & self.fetch.val() {
            self.lead.d.next = self.lead.q.val() - 1;
        }
        if self.start_open.val() {
            self.reading.d.next = true;
            self.rd_open.d.next = true;
            self.wr_read.d.next = true;
            self.lead.d.next = self.flen_now.val();
            self.cur_flag.d.next = false;
        }
        if self.pop.val() {
            for i in 0..DESCRIPTORS {
                if self.desc_rp.q.val() == i.to_bits() {
                    self.cur_len.d.next = self.desc_len[i].q.val();
                    self.cur_flag.d.next = self.desc_flag[i].q.val();
                }
            }
            self.desc_rp.d.next = self.desc_rp.q.val() + 1;
        }
        if self.start.val() {
            self.reading.d.next = true;
            for i in 0..DESCRIPTORS {
                if self.desc_rp.q.val() == i.to_bits() {
                    self.rem.d.next = self.desc_len[i].q.val();
                }
            }
        }
        if self.close.val() {
            // The writer has ended it: what is left to fetch is its lead.
            self.rd_open.d.next = false;
            self.rem.d.next = self.lead.q.val();
        }
        if self.commit.val() & !self.pop.val() {
            self.desc_count.d.next = self.desc_count.q.val() + 1;
        }
        if !self.commit.val() & self.pop.val() {
            self.desc_count.d.next = self.desc_count.q.val() - 1;
        }

        // Space: bytes written in, bytes taken out, a discarded frame's bytes back (to
        // what the committed frames hold). The write/roll decision comes last: `free`
        // moves by this clock's byte in and byte out (one adder), `cfree` by the byte
        // out; a commit takes the first into `cfree`, a roll the second into `free`
        // (a byte written in a clock that takes its frame back is not kept). (A base
        // picked by the roll before the adder put that decision ahead of the carry
        // chain: cu-eth's critical path.)
        self.free_delta.next = 0.into();
        if self.consume.val() & !self.write.val() {
            self.free_delta.next = 1.into();
        }
        if !self.consume.val() & self.write.val() {
            self.free_delta.next = self.c_minus_one.val();
        }
        self.free_moved.next = self.free_q.q.val() + self.free_delta.val();
        self.cfree_moved.next = self.cfree.q.val();
        if self.consume.val() {
            self.cfree_moved.next = self.cfree.q.val() + 1;
        }
        self.free_q.d.next = self.free_moved.val();
        if self.roll.val() {
            self.free_q.d.next = self.cfree_moved.val();
        }
        self.cfree.d.next = self.cfree_moved.val();
        if self.commit.val() {
            self.cfree.d.next = self.free_moved.val();
        }
        // `room` next clock: the free space reaches 0 (from 1 with a byte in, or staying
        // at 0), or a fifth descriptor is taken.
        self.r_at_cap.d.next = !self.consume.val()
            & ((self.at_cap.val() & (!self.roll.val() | self.flen_zero.val()))
                | (self.at_cap_m1.val() & self.write.val() & !self.roll.val()));
        // `room` next clock: a byte given then is written the clock after, so it needs
        // a byte of space beyond this clock's staged byte (`write`) and the byte given
        // now (`w_byte`); a frame's end given then needs a descriptor beyond this
        // clock's commit and the end given now. Bytes read out and frames rolled back
        // only add room: left out, they cost at most a clock's wait.
        self.r_room.d.next = (!(self.at_cap.val() | self.at_cap_m1.val() | self.at_cap_m2.val())
            | (self.at_cap_m2.val() & !(self.write.val() & self.w_byte.val()))
            | (self.at_cap_m1.val() & !self.write.val() & !self.w_byte.val()))
            & ((self.desc_count.q.val() < self.c_desc_full_m2.val())
                | ((self.desc_count.q.val() == self.c_desc_full_m2.val()) & !(self.commit.val() & self.w_end.val()))
                | ((self.desc_count.q.val() == self.c_desc_full_m1.val()) & !self.commit.val() & !self.w_end.val()));
        self.r_desc_full.d.next = (self.r_desc_full.q.val() & !(self.pop.val() & !self.commit.val()))
            | ((self.desc_count.q.val() == self.c_desc_full_m1.val()) & self.commit.val() & !self.pop.val());
        self.flen_nz.d.next = (self.flen_nz.q.val() | (self.write.val() & !self.roll.val()))
            & !(self.commit.val() | self.roll.val());
        self.flen_ge.d.next = (self.flen_ge.q.val()
            | (self.write.val() & !self.roll.val() & (self.flen.q.val() == self.c_ct_level_m1.val())))
            & !(self.commit.val() | self.roll.val());

        if self.reset.val() {
            self.wptr.d.next = 0.into();
            self.wstart.d.next = 0.into();
            self.flen.d.next = 0.into();
            self.dropping.d.next = false;
            self.free_q.d.next = self.c_cap.val();
            self.cfree.d.next = self.c_cap.val();
            self.r_at_cap.d.next = false;
            self.r_room.d.next = true;
            self.s_byte.d.next = false;
            self.s_end.d.next = false;
            self.r_desc_full.d.next = false;
            self.flen_nz.d.next = false;
            self.flen_ge.d.next = false;
            self.desc_wp.d.next = 0.into();
            self.desc_rp.d.next = 0.into();
            self.desc_count.d.next = 0.into();
            self.reading.d.next = false;
            self.rd_open.d.next = false;
            self.wr_read.d.next = false;
            self.rptr.d.next = 0.into();
            self.shown.d.next = false;
        }

        self.dropped.next = self.r_dropped.q.val();
        self.free.next = self.free_q.q.val();
        self.full.next = self.desc_count.q.val() == self.c_desc_full.val();
        self.room.next = self.r_room.q.val();
        self.empty.next = self.free_q.q.val() == self.c_cap.val();
        self.r_valid.next = self.shown.q.val();
        self.r_last.next = self.shown_last.q.val();
        self.r_data.next = self.lo.read_data.val();
        if self.shown_hi.q.val() {
            self.r_data.next = self.hi.read_data.val();
        }
        self.r_len.next = self.cur_len.q.val();
        self.r_flag.next = self.cur_flag.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn tick<const HI: usize>(uut: &mut FrameFifo<HI>) {
        portshare_tools::clocking::cycle(uut, |u| &mut u.clock);
    }

    /// A frame that came out: its bytes and its flag.
    struct Out {
        bytes: Vec<u8>,
        flag: bool,
    }

    /// Random frames (some too long for the space left, some with `w_drop`, some
    /// empty, some ended a clock after their last byte) written at random rates —
    /// ignoring `room` — and read under random
    /// back-pressure. Whole frames: every frame that fits comes out whole and in order
    /// with its flag and length, every other is counted as dropped. Cut-through: the
    /// same, except that a frame already on its way out when it would be discarded
    /// ends where it was cut, flagged (its FCS stomped on the wire). Either way the
    /// space comes back to the whole capacity.
    fn whole_frames_in_order_or_dropped_whole<const HI: usize>(cut_through: bool, seed: u64) {
        let cap = capacity(HI) as usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut uut = FrameFifo::<HI>::new(cut_through);
        uut.connect_all();
        portshare_tools::clocking::settle(&mut uut);
        // Frames written (bytes, flag, w_drop), in order; what came out.
        let mut written: Vec<(Vec<u8>, bool, bool)> = Vec::new();
        let (mut got, mut drops) = (Vec::<Out>::new(), 0usize);
        let mut partial = Vec::new();
        let mut read = |uut: &mut FrameFifo<HI>, ready: bool, got: &mut Vec<Out>| {
            uut.r_ready.next = ready;
            if uut.r_valid.val() && ready {
                partial.push(uut.r_data.val().to_u64() as u8);
                if uut.r_last.val() {
                    if !cut_through {
                        assert_eq!(uut.r_len.val().to_u64() as usize, partial.len());
                    }
                    got.push(Out { bytes: std::mem::take(&mut partial), flag: uut.r_flag.val() });
                }
            }
        };
        for _ in 0..300 {
            let len = match rng.gen_range(0..10) {
                0 => 0,
                1 => rng.gen_range(1000..cap + 100),
                _ => rng.gen_range(1..200),
            };
            let frame: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let flag = rng.gen_bool(0.5);
            let drop = rng.gen_bool(0.05);
            let gap = rng.gen_range(1..4);
            let stall = rng.gen_bool(0.5);
            // The end on the clock after the last byte, without one.
            let end_alone = rng.gen_bool(0.2);
            let mut i = 0;
            loop {
                let is_end = if end_alone { i >= frame.len() } else { i + 1 >= frame.len() };
                let byte = i < frame.len();
                let give = byte && rng.gen_range(0..gap) == 0 || !byte;
                uut.w_byte.next = give && byte;
                uut.w_end.next = give && is_end;
                uut.w_data.next = (*frame.get(i).unwrap_or(&0) as u64).into();
                uut.w_flag.next = flag;
                uut.w_drop.next = drop;
                let ready = !stall || rng.gen_bool(0.3);
                read(&mut uut, ready, &mut got);
                tick(&mut uut);
                if uut.dropped.val() {
                    drops += 1;
                }
                if give {
                    i += 1;
                    if is_end {
                        break;
                    }
                }
            }
            if !frame.is_empty() {
                written.push((frame, flag, drop));
            } else {
                // Nothing to match: an empty frame must be dropped.
                written.push((frame, flag, true));
            }
        }
        uut.w_byte.next = false;
        uut.w_end.next = false;
        for _ in 0..5000 {
            read(&mut uut, true, &mut got);
            tick(&mut uut);
            // The last frame's, a clock after its end.
            if uut.dropped.val() {
                drops += 1;
            }
        }
        assert!(partial.is_empty());
        assert_eq!(uut.free.val().to_u64(), cap as u64, "all space back");
        // Every frame out is the next written one that was not dropped: intact with its
        // flag (and not one with `w_drop`; cut-through: even one longer than the buffer,
        // read while written), or — cut-through only — a flagged prefix of one that
        // could not be held. Nothing reordered, nothing duplicated.
        let (mut skipped, mut cut, mut wanted_drops) = (0, 0, 0);
        let mut w = written.iter();
        for (k, g) in got.iter().enumerate() {
            loop {
                let (bytes, flag, drop) = w.next().unwrap_or_else(|| panic!("frame {k} out ({} bytes) was never written", g.bytes.len()));
                let fits = bytes.len() <= cap;
                if !drop && (fits || cut_through) && g.bytes == *bytes && g.flag == *flag {
                    break;
                }
                if cut_through && g.flag && !g.bytes.is_empty() && bytes.starts_with(&g.bytes) && (*drop || g.bytes.len() < bytes.len()) {
                    cut += 1;
                    break;
                }
                skipped += 1;
                if *drop || !fits {
                    wanted_drops += 1;
                }
            }
        }
        let rest: Vec<_> = w.collect();
        skipped += rest.len();
        assert_eq!(drops, skipped, "every frame that did not come out strobed `dropped` once");
        // Both kinds of loss were exercised, and most frames still made it.
        assert!(wanted_drops > 0 && skipped > wanted_drops, "{skipped} skipped, {wanted_drops} had to be");
        assert!(got.len() > 150, "{} frames out", got.len());
        if cut_through {
            assert!(cut > 0, "no frame was cut on its way out");
        } else {
            assert_eq!(cut, 0);
        }
    }

    #[test]
    fn ingress_whole_frames_in_order_or_dropped_whole() {
        whole_frames_in_order_or_dropped_whole::<INGRESS_HI>(false, 13);
    }

    #[test]
    fn egress_whole_frames_in_order_or_dropped_whole() {
        whole_frames_in_order_or_dropped_whole::<EGRESS_HI>(false, 14);
    }

    #[test]
    fn cut_through_in_order_dropped_whole_or_cut_flagged() {
        whole_frames_in_order_or_dropped_whole::<EGRESS_HI>(true, 15);
    }

    /// The egress as the board drives it: a frame is written at a byte per clock only
    /// once `free` holds it, held by `room`, and read at a byte per 8 clocks (the wire
    /// at 100 Mb/s). Every frame comes out whole, never waiting for a byte mid-frame
    /// (the transmitter would underrun), its first byte out CUT_THROUGH_BYTES after its
    /// first in (whole frames: after its last) and its flag with its last byte.
    #[test]
    fn cut_through_starts_early_and_never_underruns() {
        for cut_through in [true, false] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(16);
            let mut uut = EgressFifo::new(cut_through);
            uut.connect_all();
            portshare_tools::clocking::settle(&mut uut);
            let frames: Vec<(Vec<u8>, bool)> = (0..40)
                .map(|i| {
                    let len = if i % 3 == 0 { 1514 } else { rng.gen_range(60..400) };
                    ((0..len).map(|_| rng.gen()).collect(), rng.gen_bool(0.3))
                })
                .collect();
            let (mut wf, mut wi) = (0usize, 0usize);
            let (mut got, mut partial) = (Vec::<(Vec<u8>, bool)>::new(), Vec::new());
            // Per frame: clock its first byte went in, clock its first byte came out.
            let (mut first_in, mut first_out) = (vec![0u64; frames.len()], vec![0u64; frames.len()]);
            let mut reading = false;
            for clk in 0..400_000u64 {
                let f = frames.get(wf);
                // In groups of four, back to back, 40 000 clocks apart (the buffer idle
                // between them).
                let released = clk >= (wf as u64 / 4) * 40_000;
                let go = f.is_some_and(|f| wi > 0 || (released && uut.free.val().to_u64() > f.0.len() as u64)) && uut.room.val();
                uut.w_byte.next = go;
                uut.w_end.next = go && f.is_some_and(|f| wi + 1 == f.0.len());
                uut.w_data.next = (f.map_or(0, |f| f.0.get(wi).copied().unwrap_or(0)) as u64).into();
                uut.w_flag.next = f.is_some_and(|f| f.1);
                uut.w_drop.next = false;
                let slot = clk % 8 == 0;
                uut.r_ready.next = slot;
                if slot && reading {
                    assert!(uut.r_valid.val(), "frame {} starved after {} bytes", got.len(), partial.len());
                }
                if slot && uut.r_valid.val() {
                    if partial.is_empty() {
                        first_out[got.len()] = clk;
                        reading = true;
                    }
                    partial.push(uut.r_data.val().to_u64() as u8);
                    if uut.r_last.val() {
                        got.push((std::mem::take(&mut partial), uut.r_flag.val()));
                        reading = false;
                    }
                }
                if go {
                    if wi == 0 {
                        first_in[wf] = clk;
                    }
                    wi += 1;
                    if wi == frames[wf].0.len() {
                        (wf, wi) = (wf + 1, 0);
                    }
                }
                tick(&mut uut);
                assert!(!uut.dropped.val());
            }
            assert_eq!(got, frames, "cut-through {cut_through}");
            // The wait from first byte in to first byte out, for the frames that found
            // the buffer empty (the reader idle).
            let idle: Vec<usize> = (0..frames.len()).filter(|&i| i == 0 || first_out[i - 1] + 8 * frames[i - 1].0.len() as u64 + 16 < first_in[i]).collect();
            assert!(idle.len() > 5, "{} frames found the buffer idle", idle.len());
            for i in idle {
                let (w, len) = (first_out[i] - first_in[i], frames[i].0.len() as u64);
                if cut_through {
                    assert!((CUT_THROUGH_BYTES..CUT_THROUGH_BYTES + 16).contains(&w), "frame {i}: first byte out {w} clocks after the first in");
                } else {
                    assert!(w >= len, "frame {i} ({len} bytes): first byte out {w} clocks after the first in");
                }
            }
        }
    }

    /// A writer held by `room` alone — a byte (and a frame's end) whenever it is up,
    /// frames of any length up to the capacity, ends alone or with a byte — against a
    /// reader stalling at random: nothing is dropped and every frame comes out whole, in
    /// order, with its flag, while `room` did hold the writer back both with the space
    /// down to its last bytes and with every descriptor taken.
    #[test]
    fn a_writer_held_by_room_loses_nothing() {
        for (cut_through, seed) in [(false, 17), (true, 18)] {
            let cap = capacity(EGRESS_HI) as usize;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut uut = EgressFifo::new(cut_through);
            uut.connect_all();
            portshare_tools::clocking::settle(&mut uut);
            let frames: Vec<(Vec<u8>, bool, bool)> = (0..150)
                .map(|_| {
                    let len = match rng.gen_range(0..6) {
                        0 => rng.gen_range(cap - 8..=cap),
                        1 => rng.gen_range(400..cap),
                        2 => rng.gen_range(1..4),
                        _ => rng.gen_range(1..80),
                    };
                    ((0..len).map(|_| rng.gen()).collect(), rng.gen_bool(0.5), rng.gen_bool(0.2))
                })
                .collect();
            let (mut wf, mut wi) = (0usize, 0usize);
            let (mut got, mut partial) = (Vec::<(Vec<u8>, bool)>::new(), Vec::new());
            let (mut held_low, mut held_full) = (0, 0);
            let mut slow = false;
            for _ in 0..600_000u64 {
                let f = frames.get(wf);
                if f.is_some() && !uut.room.val() {
                    held_low += (uut.free.val().to_u64() <= 2) as usize;
                    held_full += uut.full.val() as usize;
                }
                let give = f.is_some() && uut.room.val() && rng.gen_bool(0.9);
                let (byte, end) = match f {
                    Some((bytes, _, alone)) if give => (wi < bytes.len(), if *alone { wi == bytes.len() } else { wi + 1 == bytes.len() }),
                    _ => (false, false),
                };
                uut.w_byte.next = byte;
                uut.w_end.next = end;
                uut.w_data.next = (f.and_then(|f| f.0.get(wi)).copied().unwrap_or(0) as u64).into();
                uut.w_flag.next = f.is_some_and(|f| f.1);
                uut.w_drop.next = false;
                if rng.gen_bool(0.001) {
                    slow = !slow;
                }
                let ready = rng.gen_bool(if slow { 0.02 } else { 0.7 });
                uut.r_ready.next = ready;
                if ready && uut.r_valid.val() {
                    partial.push(uut.r_data.val().to_u64() as u8);
                    if uut.r_last.val() {
                        got.push((std::mem::take(&mut partial), uut.r_flag.val()));
                    }
                }
                if give {
                    wi += 1;
                    if end {
                        (wf, wi) = (wf + 1, 0);
                    }
                }
                tick(&mut uut);
                assert!(!uut.dropped.val(), "cut-through {cut_through}: frame {wf} dropped");
            }
            let want: Vec<(Vec<u8>, bool)> = frames.iter().map(|(b, f, _)| (b.clone(), *f)).collect();
            assert_eq!(got.len(), want.len(), "cut-through {cut_through}: frames out");
            assert!(got == want, "cut-through {cut_through}: frames changed");
            assert!(held_low > 0 && held_full > 0, "cut-through {cut_through}: held {held_low} clocks at the last bytes, {held_full} with every descriptor taken");
        }
    }

    #[test]
    fn generates_valid_verilog() {
        for (name, v) in [("in", generate_verilog(&{ let mut u = IngressFifo::new(false); u.connect_all(); u })), ("out", generate_verilog(&{ let mut u = EgressFifo::new(true); u.connect_all(); u }))] {
            yosys_validate(&format!("portshare-frame-fifo-{name}-{}", std::process::id()), &v).unwrap();
        }
    }
}
