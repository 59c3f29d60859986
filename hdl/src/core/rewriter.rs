//! The rewriter and checksum adjuster: the output end of the pipeline.
//!
//! Bytes wait in a small queue between the parser and here. The rewriter keeps one
//! frame context (old port, old checksum, lookup result, whether the L4 header is
//! complete) written by the parser and the CAM from the frame's L4 header on, and
//! holds a port byte at the queue's head until that context is resolved: the whole L4
//! header has arrived (docs/semantics.md §3 — a header cut off by the frame's end passes
//! unchanged, so the ports cannot leave before byte L4+19 of a TCP frame is in) and the
//! lookup is done. One context suffices: the queue holds at most 32 bytes and no frame
//! reaches its L4 header in fewer than 34, so when a frame starts its context the
//! previous frame has left.
//!
//! Checksum: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), one's-complement, every carry
//! folded, one addition per clock. UDP checksum 0 stays 0; a UDP result of 0 is sent as
//! 0xFFFF; a TCP result of 0 stays 0.
//!
//! Test bench: `sim/tests/rewriter.rs` (the block alone, judged by RFC 1624 computed
//! there and by a full recomputation; a dropped carry or a lost UDP 0xFFFF rule fails it).

use rust_hdl::prelude::*;

/// Layout of a queued byte: data 7..0, last 8, role 11..9, class 13..12, and the role
/// pre-decoded: 14 a port byte, 15 a checksum byte (so the hold decision is one LUT).
pub const QUEUE_BITS: usize = 16;

#[derive(LogicBlock, Default)]
pub struct Rewriter {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    // From the parser, for the byte accepted this clock.
    pub strobe: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub role: Signal<In, Bits<3>>,
    pub l4_start: Signal<In, Bit>,
    pub l4_udp: Signal<In, Bit>,
    pub l4_complete: Signal<In, Bit>,
    pub l4_fail: Signal<In, Bit>,
    // From the CAM.
    pub result_valid: Signal<In, Bit>,
    pub result_hit: Signal<In, Bit>,
    pub result_index: Signal<In, Bits<8>>,
    pub result_port: Signal<In, Bits<16>>,
    // The queue's head.
    pub q_data: Signal<In, Bits<QUEUE_BITS>>,
    pub q_empty: Signal<In, Bit>,
    pub q_pop: Signal<Out, Bit>,
    // Stream out.
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_last: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    // A frame's last byte left: its outcome, for the counters.
    pub count: Signal<Out, Bit>,
    pub count_class: Signal<Out, Bits<2>>,
    pub count_hit: Signal<Out, Bit>,
    pub count_index: Signal<Out, Bits<8>>,
    pub count_udp_zero: Signal<Out, Bit>,

    // The parser's events, registered.
    h_strobe: DFF<Bit>,
    h_data: DFF<Bits<8>>,
    h_role: DFF<Bits<3>>,
    h_l4_start: DFF<Bit>,
    h_l4_udp: DFF<Bit>,
    h_l4_complete: DFF<Bit>,
    h_l4_fail: DFF<Bit>,
    // Frame context.
    complete: DFF<Bit>,
    failed: DFF<Bit>,
    looked_up: DFF<Bit>,
    hit: DFF<Bit>,
    index: DFF<Bits<8>>,
    new_port: DFF<Bits<16>>,
    old_port: DFF<Bits<16>>,
    old_cks: DFF<Bits<16>>,
    udp: DFF<Bit>,
    resolved: Signal<Local, Bit>,
    rewrite: Signal<Local, Bit>,
    keep_cks: Signal<Local, Bit>,
    // Checksum pipeline and the clocks since the context resolved.
    sum1: DFF<Bits<17>>,
    fold1: DFF<Bits<16>>,
    sum2: DFF<Bits<17>>,
    fold2: DFF<Bits<16>>,
    settled: DFF<Bits<4>>,
    new_cks: Signal<Local, Bits<16>>,
    cks_ready: Signal<Local, Bit>,
    // The queue head, unpacked.
    role_out: Signal<Local, Bits<3>>,
    hold: Signal<Local, Bit>,
    byte_out: Signal<Local, Bits<8>>,
    /// Output register: the pipeline's outputs come straight from flip-flops.
    o_valid: DFF<Bit>,
    o_data: DFF<Bits<8>>,
    o_last: DFF<Bit>,
    load: Signal<Local, Bit>,
    c_count: DFF<Bit>,
    c_class: DFF<Bits<2>>,
    c_hit: DFF<Bit>,
    c_index: DFF<Bits<8>>,
    c_udp_zero: DFF<Bit>,
}

impl Logic for Rewriter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, complete, failed, looked_up, hit, index, new_port, old_port, old_cks, udp,
            sum1, fold1, sum2, fold2, settled, o_valid, o_data, o_last, c_count, c_class, c_hit, c_index, c_udp_zero, h_strobe, h_data, h_role, h_l4_start, h_l4_udp,
            h_l4_complete, h_l4_fail
        );
        // ---- Context, written from the head of the pipeline (its events registered
        // first: the parser's decode and the context's enables never share a clock;
        // a byte takes longer than that to reach the queue's head). ----
        self.h_strobe.d.next = self.strobe.val();
        self.h_data.d.next = self.data.val();
        self.h_role.d.next = self.role.val();
        self.h_l4_start.d.next = self.l4_start.val();
        self.h_l4_udp.d.next = self.l4_udp.val();
        self.h_l4_complete.d.next = self.l4_complete.val();
        self.h_l4_fail.d.next = self.l4_fail.val();
        if self.h_strobe.q.val() {
            if self.h_l4_start.q.val() {
                self.complete.d.next = false;
                self.failed.d.next = false;
                self.looked_up.d.next = false;
                self.hit.d.next = false;
                self.udp.d.next = self.h_l4_udp.q.val();
            }
            if self.h_role.q.val() == 1 {
                self.old_port.d.next = (bit_cast::<16, 8>(self.h_data.q.val()) << 8)
                    | (self.old_port.q.val() & 0xFF);
            }
            if self.h_role.q.val() == 2 {
                self.old_port.d.next =
                    (self.old_port.q.val() & 0xFF00) | bit_cast::<16, 8>(self.h_data.q.val());
            }
            if self.h_role.q.val() == 3 {
                self.old_cks.d.next = (bit_cast::<16, 8>(self.h_data.q.val()) << 8)
                    | (self.old_cks.q.val() & 0xFF);
            }
            if self.h_role.q.val() == 4 {
                self.old_cks.d.next =
                    (self.old_cks.q.val() & 0xFF00) | bit_cast::<16, 8>(self.h_data.q.val());
            }
            if self.h_l4_complete.q.val() {
                self.complete.d.next = true;
            }
            if self.h_l4_fail.q.val() {
                self.failed.d.next = true;
            }
        }
        if self.result_valid.val() {
            self.looked_up.d.next = true;
            self.hit.d.next = self.result_hit.val();
            self.index.d.next = self.result_index.val();
            self.new_port.d.next = self.result_port.val();
        }
        if self.reset.val() {
            self.complete.d.next = false;
            self.failed.d.next = true;
        }
        self.resolved.next =
            (self.complete.q.val() & self.looked_up.q.val()) | self.failed.q.val();
        self.rewrite.next = self.complete.q.val() & self.hit.q.val();
        self.keep_cks.next = self.udp.q.val() & (self.old_cks.q.val() == 0);

        // ---- Checksum: ~(~HC + ~m + m'), one addition per clock. ----
        self.sum1.d.next = bit_cast::<17, 16>(!self.old_cks.q.val())
            + bit_cast::<17, 16>(!self.old_port.q.val());
        self.fold1.d.next = self.sum1.q.val().get_bits::<16>(0)
            + bit_cast::<16, 1>(self.sum1.q.val().get_bits::<1>(16));
        self.sum2.d.next =
            bit_cast::<17, 16>(self.fold1.q.val()) + bit_cast::<17, 16>(self.new_port.q.val());
        self.fold2.d.next = self.sum2.q.val().get_bits::<16>(0)
            + bit_cast::<16, 1>(self.sum2.q.val().get_bits::<1>(16));
        self.new_cks.next = !self.fold2.q.val();
        if self.udp.q.val() & (self.fold2.q.val() == 0xFFFF) {
            self.new_cks.next = 0xFFFF.into();
        }
        // Four clocks of a resolved, unchanging context settle the pipeline above.
        self.settled.d.next = 0.into();
        if self.resolved.val() {
            self.settled.d.next = self.settled.q.val();
            if self.settled.q.val() != 4 {
                self.settled.d.next = self.settled.q.val() + 1;
            }
        }
        if self.h_strobe.q.val() & self.h_l4_start.q.val() {
            self.settled.d.next = 0.into();
        }
        self.cks_ready.next = self.resolved.val() & (self.settled.q.val() == 4);

        // ---- Output: the queue head, ports and checksum replaced when rewriting. ----
        self.role_out.next = self.q_data.val().get_bits::<3>(9);
        self.hold.next = (self.q_data.val().get_bit(14) & !self.resolved.val())
            | (self.q_data.val().get_bit(15) & !self.cks_ready.val());
        self.load.next = !self.o_valid.q.val() | self.out_ready.val();
        self.q_pop.next = !self.q_empty.val() & !self.hold.val() & self.load.val();
        self.byte_out.next = self.q_data.val().get_bits::<8>(0);
        if self.rewrite.val() {
            if self.role_out.val() == 1 {
                self.byte_out.next = self.new_port.q.val().get_bits::<8>(8);
            }
            if self.role_out.val() == 2 {
                self.byte_out.next = self.new_port.q.val().get_bits::<8>(0);
            }
            if !self.keep_cks.val() {
                if self.role_out.val() == 3 {
                    self.byte_out.next = self.new_cks.val().get_bits::<8>(8);
                }
                if self.role_out.val() == 4 {
                    self.byte_out.next = self.new_cks.val().get_bits::<8>(0);
                }
            }
        }
        if self.load.val() {
            self.o_valid.d.next = self.q_pop.val();
        }
        if self.q_pop.val() {
            self.o_data.d.next = self.byte_out.val();
            self.o_last.d.next = self.q_data.val().get_bit(8);
        }
        self.out_valid.next = self.o_valid.q.val();
        self.out_data.next = self.o_data.q.val();
        self.out_last.next = self.o_last.q.val();
        // The outcome of a frame whose last byte left, one clock later from registers
        // (keeps the output handshake out of the counters' logic).
        self.c_count.d.next = self.q_pop.val() & self.q_data.val().get_bit(8);
        self.c_class.d.next = self.q_data.val().get_bits::<2>(12);
        self.c_hit.d.next = self.rewrite.val();
        self.c_index.d.next = self.index.q.val();
        self.c_udp_zero.d.next = self.keep_cks.val();
        self.count.next = self.c_count.q.val();
        self.count_class.next = self.c_class.q.val();
        self.count_hit.next = self.c_hit.q.val();
        self.count_index.next = self.c_index.q.val();
        self.count_udp_zero.next = self.c_udp_zero.q.val();
    }
}
