//! The data plane: parser → CAM → queue → rewriter, with the counters beside it.
//!
//! ```text
//!  in ──┬──────────────► queue (32 × byte+role+class) ──► rewriter ──► out
//!       └─► parser ─key─► CAM ─result─┘      context ───────┘   │
//!                 └──── roles, L4 events ────────┘              └─► counters
//! ```
//!
//! Every accepted byte enters the queue and the parser in the same clock; the parser
//! tags it (port/checksum byte) and drives the CAM with the key bytes. The rewriter
//! lets bytes out as soon as they are known not to change, and holds a port byte only
//! until its frame's L4 header is complete and looked up. Throughput is one byte per
//! clock in and out, back-to-back frames included; the queue absorbs the wait.

use crate::core::cam::Cam;
use crate::core::counters::Counters;
use crate::core::parser::{class, role, Parser};
use crate::core::rewriter::Rewriter;
use rust_hdl::prelude::*;
use rust_hdl::widgets::prelude::SynchronousFIFO;

/// The management port's widths: `mgmt_op` and `mgmt_index` (every block on the port,
/// and `ctrl::links::Mgmt`, its bundle on the control side).
pub const MGMT_OP_BITS: usize = 3;
pub const MGMT_INDEX_BITS: usize = 8;

/// Management operations (`mgmt_op`; 0 does nothing), accepted on a clock edge with
/// `mgmt_start && !mgmt_busy`.
/// Replace entry `mgmt_index` with the record in `mgmt_wdata` (atomic w.r.t. lookups).
pub const MGMT_WRITE_ENTRY: u64 = 1;
/// Read entry `mgmt_index` into `mgmt_rdata` (record layout).
pub const MGMT_READ_ENTRY: u64 = 2;
/// Invalidate every entry.
pub const MGMT_CLEAR_TABLE: u64 = 3;
/// Hit counter of entry `mgmt_index` into `mgmt_rdata[31:0]`.
pub const MGMT_READ_HITS: u64 = 4;
/// Reason counter `mgmt_index` (REASON_*) into `mgmt_rdata[31:0]`.
pub const MGMT_READ_REASON: u64 = 5;
/// Zero every hit and reason counter.
pub const MGMT_RESET_COUNTERS: u64 = 6;
const _: () = assert!(MGMT_RESET_COUNTERS < 1 << MGMT_OP_BITS);

// Reason indexes (the counters' order, READ_COUNTERS' order) and the record's width:
// one copy, shared with the host.
use portshare_spec::reasons;
pub const REASON_REWRITTEN: u64 = reasons::REWRITTEN as u64;
pub const REASON_NO_MATCH: u64 = reasons::NO_MATCH as u64;
pub const REASON_FRAGMENT: u64 = reasons::FRAGMENT as u64;
pub const REASON_UNPARSED: u64 = reasons::UNPARSED as u64;
pub const REASON_UDP_ZERO_CHECKSUM: u64 = reasons::UDP_ZERO_CHECKSUM as u64;
pub const REASON_COUNT: usize = reasons::COUNT;

/// Width of an entry record on the management port (big-endian packed).
pub use portshare_spec::record::{RECORD_BITS, RECORD_LEN as RECORD_BYTES};

/// A record's bytes as the management port carries them: byte 0 in bits 167..160.
pub fn record_to_bits(r: &[u8; RECORD_BYTES]) -> Bits<RECORD_BITS> {
    r.iter().fold(Bits::<RECORD_BITS>::default(), |acc, &b| (acc << 8) | Bits::<RECORD_BITS>::from(b as u64))
}

/// The inverse of [`record_to_bits`].
pub fn bits_to_record(b: Bits<RECORD_BITS>) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    for (i, byte) in r.iter_mut().enumerate() {
        *byte = u64::from(b.get_bits::<8>((RECORD_BYTES - 1 - i) * 8)) as u8;
    }
    r
}

/// Address bits of the queue between parser and rewriter, and the bytes it holds. The
/// depth must stay below 34 (the shortest Ethernet + IPv4 header) for the rewriter's
/// single frame context, and at least 20 (a TCP header) so a waiting port byte never
/// blocks its own resolution.
pub const QUEUE_ADDR_BITS: usize = 5;
const QUEUE_ADDR_BITS_P1: usize = QUEUE_ADDR_BITS + 1;
pub const QUEUE_DEPTH: usize = 1 << QUEUE_ADDR_BITS;
const _: () = assert!(QUEUE_DEPTH >= 20 && QUEUE_DEPTH < 34);
// `queue_full` reads bit 5 of the fill count.
const _: () = assert!(QUEUE_ADDR_BITS == 5);

#[derive(LogicBlock)]
pub struct Pipeline<const N: usize> {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: restarts the parser and releases any held frame
    /// unchanged; the table and counters stay.
    pub reset: Signal<In, Bit>,
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_last: Signal<In, Bit>,
    /// 0 incoming, 1 outgoing; held steady for every beat of a frame.
    pub in_direction: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// High while the frame whose outcome is counted now must not be (the `Core`
    /// holds it for the one frame it has in the pipeline: its ingress FCS did not
    /// check, docs/semantics.md §3a). Counted one clock after its last byte leaves the
    /// queue; low (count everything) for a pipeline used alone.
    pub count_skip: Signal<In, Bit>,
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_last: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    pub mgmt_op: Signal<In, Bits<MGMT_OP_BITS>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<MGMT_INDEX_BITS>>,
    pub mgmt_wdata: Signal<In, Bits<RECORD_BITS>>,
    /// High from the clock after an accepted start until the op completes.
    pub mgmt_busy: Signal<Out, Bit>,
    /// One-clock pulse when an op completes (never in the clock that accepts it);
    /// `mgmt_rdata` is valid in that clock only (idle blocks reload their operands).
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_rdata: Signal<Out, Bits<RECORD_BITS>>,
    /// One-clock pulse per frame rewritten (for an activity LED).
    pub rewrite_pulse: Signal<Out, Bit>,

    parser: Parser,
    cam: Cam<N>,
    queue: SynchronousFIFO<Bits<{ crate::core::rewriter::QUEUE_BITS }>, QUEUE_ADDR_BITS, QUEUE_ADDR_BITS_P1, 1>,
    rewriter: Rewriter,
    counters: Counters,
    strobe: Signal<Local, Bit>,
    queue_word: Signal<Local, Bits<16>>,
    queue_last: Signal<Local, Bits<16>>,
    queue_port: Signal<Local, Bits<16>>,
    queue_cks: Signal<Local, Bits<16>>,
    idle: Signal<Local, Bit>,
    cam_op: Signal<Local, Bit>,
    last_op_cam: DFF<Bit>,
    r_in_valid: DFF<Bit>,
    /// Words in the queue (counted beside the FIFO) and whether it is full.
    queued: DFF<Bits<{ QUEUE_ADDR_BITS_P1 }>>,
    queued_next: Signal<Local, Bits<{ QUEUE_ADDR_BITS_P1 }>>,
    queue_full: DFF<Bit>,
    popped: DFF<Bit>,
    r_in_data: DFF<Bits<8>>,
    r_in_last: DFF<Bit>,
    r_in_direction: DFF<Bit>,
    c_role_port_hi: Constant<Bits<3>>,
    c_role_port_lo: Constant<Bits<3>>,
    c_role_checksum_hi: Constant<Bits<3>>,
    c_role_checksum_lo: Constant<Bits<3>>,
    c_class_looked_up: Constant<Bits<2>>,
    /// The management ops (MGMT_*), the CAM's and the counters'.
    c_op_write_entry: Constant<Bits<MGMT_OP_BITS>>,
    c_op_read_entry: Constant<Bits<MGMT_OP_BITS>>,
    c_op_clear_table: Constant<Bits<MGMT_OP_BITS>>,
    c_op_read_hits: Constant<Bits<MGMT_OP_BITS>>,
    c_op_read_reason: Constant<Bits<MGMT_OP_BITS>>,
    c_op_reset_counters: Constant<Bits<MGMT_OP_BITS>>,
}

impl<const N: usize> Default for Pipeline<N> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_last: Default::default(),
            in_direction: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_last: Default::default(),
            out_ready: Default::default(),
            mgmt_op: Default::default(),
            mgmt_start: Default::default(),
            mgmt_index: Default::default(),
            mgmt_wdata: Default::default(),
            mgmt_busy: Default::default(),
            mgmt_done: Default::default(),
            mgmt_rdata: Default::default(),
            rewrite_pulse: Default::default(),
            count_skip: Default::default(),
            parser: Default::default(),
            cam: Default::default(),
            queue: Default::default(),
            rewriter: Default::default(),
            counters: Default::default(),
            strobe: Default::default(),
            queue_word: Default::default(),
            queue_last: Default::default(),
            queue_port: Default::default(),
            queue_cks: Default::default(),
            idle: Default::default(),
            cam_op: Default::default(),
            last_op_cam: Default::default(),
            r_in_valid: Default::default(),
            queued: Default::default(),
            queued_next: Default::default(),
            queue_full: Default::default(),
            popped: Default::default(),
            r_in_data: Default::default(),
            r_in_last: Default::default(),
            r_in_direction: Default::default(),
            c_role_port_hi: Constant::new(role::PORT_HI.into()),
            c_role_port_lo: Constant::new(role::PORT_LO.into()),
            c_role_checksum_hi: Constant::new(role::CHECKSUM_HI.into()),
            c_role_checksum_lo: Constant::new(role::CHECKSUM_LO.into()),
            c_class_looked_up: Constant::new(class::LOOKED_UP.into()),
            c_op_write_entry: Constant::new(MGMT_WRITE_ENTRY.into()),
            c_op_read_entry: Constant::new(MGMT_READ_ENTRY.into()),
            c_op_clear_table: Constant::new(MGMT_CLEAR_TABLE.into()),
            c_op_read_hits: Constant::new(MGMT_READ_HITS.into()),
            c_op_read_reason: Constant::new(MGMT_READ_REASON.into()),
            c_op_reset_counters: Constant::new(MGMT_RESET_COUNTERS.into()),
        }
    }
}

impl<const N: usize> Logic for Pipeline<N> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, parser, cam, queue, rewriter, counters);
        dff_setup!(self, clock, last_op_cam, queued, queue_full, popped, r_in_valid, r_in_data, r_in_last, r_in_direction);

        // Input register: the parser and queue see a registered byte, and `in_ready`
        // depends on registers only (no combinational path through the pipeline).
        self.strobe.next = self.r_in_valid.q.val() & !self.queue_full.q.val();
        self.in_ready.next = !self.r_in_valid.q.val() | !self.queue_full.q.val();
        // The queue's fill, counted here so `strobe` (which fans out to the parser,
        // the CAM and the queue) comes from two flip-flops, not the FIFO's compare.
        // Pops count a clock late (`popped`, off the queue RAM's read path), so the
        // count may run one high for a clock: full is never missed, only early.
        self.popped.d.next = self.rewriter.q_pop.val();
        self.queued_next.next = self.queued.q.val();
        if self.strobe.val() & !self.popped.q.val() {
            self.queued_next.next = self.queued.q.val() + 1;
        }
        // (A pop is only counted against a non-zero count: the simulator's first
        // edge can see `q_pop` before the FIFO's `empty` has settled.)
        if !self.strobe.val() & self.popped.q.val() & self.queued.q.val().any() {
            self.queued_next.next = self.queued.q.val() - 1;
        }
        self.queued.d.next = self.queued_next.val();
        // Full is the count's top bit (a literal: `#[hdl_gen]` cannot read constants).
        self.queue_full.d.next = self.queued_next.val().get_bit(5);
        if self.in_valid.val() & self.in_ready.val() {
            self.r_in_valid.d.next = true;
            self.r_in_data.d.next = self.in_data.val();
            self.r_in_last.d.next = self.in_last.val();
            self.r_in_direction.d.next = self.in_direction.val();
        } else if self.strobe.val() {
            self.r_in_valid.d.next = false;
        }
        if self.reset.val() {
            self.r_in_valid.d.next = false;
        }

        self.parser.reset.next = self.reset.val();
        self.parser.data.next = self.r_in_data.q.val();
        self.parser.strobe.next = self.strobe.val();
        self.parser.last.next = self.r_in_last.q.val();
        self.parser.direction.next = self.r_in_direction.q.val();
        self.parser.next_data.next = self.in_data.val();
        self.parser.next_load.next = self.in_valid.val() & self.in_ready.val();

        self.cam.key_valid.next = self.parser.key_valid.val();
        self.cam.key_pos.next = self.parser.key_pos.val();
        self.cam.key_byte.next = self.r_in_data.q.val();
        self.cam.key_first.next = self.parser.key_first.val();
        self.cam.key_last.next = self.parser.key_last.val();
        self.cam.key_dir.next = self.parser.frame_dir.val();

        self.queue.write.next = self.strobe.val();
        // Queue word: see rewriter::QUEUE_BITS.
        self.queue_word.next = (bit_cast::<16, 2>(self.parser.class.val()) << 12)
            | (bit_cast::<16, 3>(self.parser.role.val()) << 9)
            | bit_cast::<16, 8>(self.r_in_data.q.val());
        self.queue_last.next = 0.into();
        if self.r_in_last.q.val() {
            self.queue_last.next = 0x100.into();
        }
        self.queue_port.next = 0.into();
        if (self.parser.role.val() == self.c_role_port_hi.val()) | (self.parser.role.val() == self.c_role_port_lo.val()) {
            self.queue_port.next = 0x4000.into();
        }
        self.queue_cks.next = 0.into();
        if (self.parser.role.val() == self.c_role_checksum_hi.val()) | (self.parser.role.val() == self.c_role_checksum_lo.val()) {
            self.queue_cks.next = 0x8000.into();
        }
        self.queue.data_in.next =
            self.queue_word.val() | self.queue_last.val() | self.queue_port.val() | self.queue_cks.val();

        self.rewriter.reset.next = self.reset.val();
        self.rewriter.strobe.next = self.strobe.val();
        self.rewriter.data.next = self.r_in_data.q.val();
        self.rewriter.role.next = self.parser.role.val();
        self.rewriter.l4_start.next = self.parser.l4_start.val();
        self.rewriter.l4_udp.next = self.parser.l4_udp.val();
        self.rewriter.l4_complete.next = self.parser.l4_complete.val();
        self.rewriter.l4_fail.next = self.parser.l4_fail.val();
        self.rewriter.result_valid.next = self.cam.result_valid.val();
        self.rewriter.result_hit.next = self.cam.result_hit.val();
        self.rewriter.result_index.next = self.cam.result_index.val();
        self.rewriter.result_port.next = self.cam.result_port.val();
        self.rewriter.q_data.next = self.queue.data_out.val();
        self.rewriter.q_empty.next = self.queue.empty.val();
        self.queue.read.next = self.rewriter.q_pop.val();
        self.rewriter.out_ready.next = self.out_ready.val();
        self.out_data.next = self.rewriter.out_data.val();
        self.out_valid.next = self.rewriter.out_valid.val();
        self.out_last.next = self.rewriter.out_last.val();

        self.counters.count.next = self.rewriter.count.val() & !self.count_skip.val();
        self.counters.count_class.next = self.rewriter.count_class.val();
        self.counters.count_hit.next = self.rewriter.count_hit.val();
        self.counters.count_index.next = self.rewriter.count_index.val();
        self.counters.count_udp_zero.next = self.rewriter.count_udp_zero.val();
        self.rewrite_pulse.next = self.counters.count.val()
            & (self.rewriter.count_class.val() == self.c_class_looked_up.val())
            & self.rewriter.count_hit.val();

        // Management: table ops go to the CAM, counter ops to the counters.
        self.idle.next = !self.cam.mgmt_busy.val() & !self.counters.mgmt_busy.val();
        self.cam_op.next = (self.mgmt_op.val() == self.c_op_write_entry.val())
            | (self.mgmt_op.val() == self.c_op_read_entry.val())
            | (self.mgmt_op.val() == self.c_op_clear_table.val());
        self.cam.mgmt_op.next = self.mgmt_op.val();
        self.cam.mgmt_index.next = self.mgmt_index.val();
        self.cam.mgmt_wdata.next = self.mgmt_wdata.val();
        self.cam.mgmt_start.next = self.mgmt_start.val() & self.idle.val() & self.cam_op.val();
        self.counters.mgmt_op.next = self.mgmt_op.val();
        self.counters.mgmt_index.next = self.mgmt_index.val();
        self.counters.mgmt_start.next = self.mgmt_start.val()
            & self.idle.val()
            & ((self.mgmt_op.val() == self.c_op_read_hits.val())
                | (self.mgmt_op.val() == self.c_op_read_reason.val())
                | (self.mgmt_op.val() == self.c_op_reset_counters.val()));
        if self.mgmt_start.val() & self.idle.val() {
            self.last_op_cam.d.next = self.cam_op.val();
        }
        self.mgmt_busy.next = !self.idle.val();
        self.mgmt_done.next = self.cam.mgmt_done.val() | self.counters.mgmt_done.val();
        self.mgmt_rdata.next = bit_cast::<168, 32>(self.counters.mgmt_rdata.val());
        if self.last_op_cam.q.val() {
            self.mgmt_rdata.next = self.cam.mgmt_rdata.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_verilog_passes_yosys() {
        let dir = std::env::temp_dir().join(format!("portshare-yosys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("TMPDIR", &dir);
        let mut uut = Pipeline::<16>::default();
        uut.connect_all();
        let v = generate_verilog(&uut);
        if let Ok(p) = std::env::var("PORTSHARE_DUMP_VERILOG") {
            std::fs::write(p, &v).unwrap();
        }
        yosys_validate("pipeline", &v).unwrap();
    }

    /// The management port's packing (record byte 0 in the top bits) and its inverse,
    /// on the host's own records.
    #[test]
    fn records_pack_big_endian_and_round_trip() {
        let slot = portshare_host::Slot::new("2001:db8::c0:db".parse().unwrap(), true, false, 0xC0DB, 0x01BB);
        let r = slot.to_record();
        let b = record_to_bits(&r);
        for (i, &byte) in r.iter().enumerate() {
            let at = RECORD_BITS - 8 * (i + 1);
            assert_eq!(u64::from(b.get_bits::<8>(at)), byte as u64, "record byte {i} at bits {}..{at}", at + 8);
        }
        assert_eq!(bits_to_record(b), r);
        let mut all = [0u8; RECORD_BYTES];
        all.iter_mut().enumerate().for_each(|(i, v)| *v = 0xFF - i as u8);
        assert_eq!(bits_to_record(record_to_bits(&all)), all);
    }
}
