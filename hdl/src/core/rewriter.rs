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

use crate::core::parser::role;
use rust_hdl::prelude::*;

/// Layout of a queued byte: data 7..0, last 8, role 11..9, class 13..12, and the role
/// pre-decoded: 14 a port byte, 15 a checksum byte (so the hold decision is one LUT).
pub const QUEUE_BITS: usize = 16;

#[derive(LogicBlock)]
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
    r_strobe: DFF<Bit>,
    r_data: DFF<Bits<8>>,
    r_role: DFF<Bits<3>>,
    r_l4_start: DFF<Bit>,
    r_l4_udp: DFF<Bit>,
    r_l4_complete: DFF<Bit>,
    r_l4_fail: DFF<Bit>,
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
    r_out_valid: DFF<Bit>,
    r_out_data: DFF<Bits<8>>,
    r_out_last: DFF<Bit>,
    load: Signal<Local, Bit>,
    r_count: DFF<Bit>,
    r_count_class: DFF<Bits<2>>,
    r_count_hit: DFF<Bit>,
    r_count_index: DFF<Bits<8>>,
    r_count_udp_zero: DFF<Bit>,
    c_role_port_hi: Constant<Bits<3>>,
    c_role_port_lo: Constant<Bits<3>>,
    c_role_checksum_hi: Constant<Bits<3>>,
    c_role_checksum_lo: Constant<Bits<3>>,
}

impl Default for Rewriter {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            strobe: Default::default(),
            data: Default::default(),
            role: Default::default(),
            l4_start: Default::default(),
            l4_udp: Default::default(),
            l4_complete: Default::default(),
            l4_fail: Default::default(),
            result_valid: Default::default(),
            result_hit: Default::default(),
            result_index: Default::default(),
            result_port: Default::default(),
            q_data: Default::default(),
            q_empty: Default::default(),
            q_pop: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_last: Default::default(),
            out_ready: Default::default(),
            count: Default::default(),
            count_class: Default::default(),
            count_hit: Default::default(),
            count_index: Default::default(),
            count_udp_zero: Default::default(),
            r_strobe: Default::default(),
            r_data: Default::default(),
            r_role: Default::default(),
            r_l4_start: Default::default(),
            r_l4_udp: Default::default(),
            r_l4_complete: Default::default(),
            r_l4_fail: Default::default(),
            complete: Default::default(),
            failed: Default::default(),
            looked_up: Default::default(),
            hit: Default::default(),
            index: Default::default(),
            new_port: Default::default(),
            old_port: Default::default(),
            old_cks: Default::default(),
            udp: Default::default(),
            resolved: Default::default(),
            rewrite: Default::default(),
            keep_cks: Default::default(),
            sum1: Default::default(),
            fold1: Default::default(),
            sum2: Default::default(),
            fold2: Default::default(),
            settled: Default::default(),
            new_cks: Default::default(),
            cks_ready: Default::default(),
            role_out: Default::default(),
            hold: Default::default(),
            byte_out: Default::default(),
            r_out_valid: Default::default(),
            r_out_data: Default::default(),
            r_out_last: Default::default(),
            load: Default::default(),
            r_count: Default::default(),
            r_count_class: Default::default(),
            r_count_hit: Default::default(),
            r_count_index: Default::default(),
            r_count_udp_zero: Default::default(),
            c_role_port_hi: Constant::new(role::PORT_HI.into()),
            c_role_port_lo: Constant::new(role::PORT_LO.into()),
            c_role_checksum_hi: Constant::new(role::CHECKSUM_HI.into()),
            c_role_checksum_lo: Constant::new(role::CHECKSUM_LO.into()),
        }
    }
}

impl Logic for Rewriter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, complete, failed, looked_up, hit, index, new_port, old_port, old_cks, udp,
            sum1, fold1, sum2, fold2, settled, r_out_valid, r_out_data, r_out_last, r_count, r_count_class, r_count_hit, r_count_index, r_count_udp_zero, r_strobe, r_data, r_role, r_l4_start, r_l4_udp,
            r_l4_complete, r_l4_fail
        );
        // ---- Context, written from the head of the pipeline (its events registered
        // first: the parser's decode and the context's enables never share a clock;
        // a byte takes longer than that to reach the queue's head). ----
        self.r_strobe.d.next = self.strobe.val();
        self.r_data.d.next = self.data.val();
        self.r_role.d.next = self.role.val();
        self.r_l4_start.d.next = self.l4_start.val();
        self.r_l4_udp.d.next = self.l4_udp.val();
        self.r_l4_complete.d.next = self.l4_complete.val();
        self.r_l4_fail.d.next = self.l4_fail.val();
        if self.r_strobe.q.val() {
            if self.r_l4_start.q.val() {
                self.complete.d.next = false;
                self.failed.d.next = false;
                self.looked_up.d.next = false;
                self.hit.d.next = false;
                self.udp.d.next = self.r_l4_udp.q.val();
            }
            if self.r_role.q.val() == self.c_role_port_hi.val() {
                self.old_port.d.next = (bit_cast::<16, 8>(self.r_data.q.val()) << 8)
                    | (self.old_port.q.val() & 0xFF);
            }
            if self.r_role.q.val() == self.c_role_port_lo.val() {
                self.old_port.d.next =
                    (self.old_port.q.val() & 0xFF00) | bit_cast::<16, 8>(self.r_data.q.val());
            }
            if self.r_role.q.val() == self.c_role_checksum_hi.val() {
                self.old_cks.d.next = (bit_cast::<16, 8>(self.r_data.q.val()) << 8)
                    | (self.old_cks.q.val() & 0xFF);
            }
            if self.r_role.q.val() == self.c_role_checksum_lo.val() {
                self.old_cks.d.next =
                    (self.old_cks.q.val() & 0xFF00) | bit_cast::<16, 8>(self.r_data.q.val());
            }
            if self.r_l4_complete.q.val() {
                self.complete.d.next = true;
            }
            if self.r_l4_fail.q.val() {
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
        if self.r_strobe.q.val() & self.r_l4_start.q.val() {
            self.settled.d.next = 0.into();
        }
        self.cks_ready.next = self.resolved.val() & (self.settled.q.val() == 4);

        // ---- Output: the queue head, ports and checksum replaced when rewriting. ----
        self.role_out.next = self.q_data.val().get_bits::<3>(9);
        self.hold.next = (self.q_data.val().get_bit(14) & !self.resolved.val())
            | (self.q_data.val().get_bit(15) & !self.cks_ready.val());
        self.load.next = !self.r_out_valid.q.val() | self.out_ready.val();
        self.q_pop.next = !self.q_empty.val() & !self.hold.val() & self.load.val();
        self.byte_out.next = self.q_data.val().get_bits::<8>(0);
        if self.rewrite.val() {
            if self.role_out.val() == self.c_role_port_hi.val() {
                self.byte_out.next = self.new_port.q.val().get_bits::<8>(8);
            }
            if self.role_out.val() == self.c_role_port_lo.val() {
                self.byte_out.next = self.new_port.q.val().get_bits::<8>(0);
            }
            if !self.keep_cks.val() {
                if self.role_out.val() == self.c_role_checksum_hi.val() {
                    self.byte_out.next = self.new_cks.val().get_bits::<8>(8);
                }
                if self.role_out.val() == self.c_role_checksum_lo.val() {
                    self.byte_out.next = self.new_cks.val().get_bits::<8>(0);
                }
            }
        }
        if self.load.val() {
            self.r_out_valid.d.next = self.q_pop.val();
        }
        if self.q_pop.val() {
            self.r_out_data.d.next = self.byte_out.val();
            self.r_out_last.d.next = self.q_data.val().get_bit(8);
        }
        self.out_valid.next = self.r_out_valid.q.val();
        self.out_data.next = self.r_out_data.q.val();
        self.out_last.next = self.r_out_last.q.val();
        // The outcome of a frame whose last byte left, one clock later from registers
        // (keeps the output handshake out of the counters' logic).
        self.r_count.d.next = self.q_pop.val() & self.q_data.val().get_bit(8);
        self.r_count_class.d.next = self.q_data.val().get_bits::<2>(12);
        self.r_count_hit.d.next = self.rewrite.val();
        self.r_count_index.d.next = self.index.q.val();
        self.r_count_udp_zero.d.next = self.keep_cks.val();
        self.count.next = self.r_count.q.val();
        self.count_class.next = self.r_count_class.q.val();
        self.count_hit.next = self.r_count_hit.q.val();
        self.count_index.next = self.r_count_index.q.val();
        self.count_udp_zero.next = self.r_count_udp_zero.q.val();
    }
}
