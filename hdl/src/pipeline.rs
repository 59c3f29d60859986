//! PLACEHOLDER PORT LIST (being written by the pipeline owner): the data-plane top.
//! The ports below are the contract other blocks build against; the body is a
//! pass-through until the real parser/CAM/rewriter land.

use rust_hdl::prelude::*;

/// Management operations (`mgmt_op`), accepted on a clock edge with `mgmt_start && !mgmt_busy`.
pub const MGMT_NOP: u64 = 0;
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

pub const REASON_REWRITTEN: u64 = 0;
pub const REASON_NO_MATCH: u64 = 1;
pub const REASON_FRAGMENT: u64 = 2;
pub const REASON_UNPARSED: u64 = 3;
pub const REASON_UDP_ZERO_CHECKSUM: u64 = 4;
pub const REASON_COUNT: usize = 5;

/// Width of an entry record on the management port (21 bytes, big-endian packed).
pub const RECORD_BITS: usize = 168;

#[derive(LogicBlock, Default)]
pub struct Pipeline<const N: usize> {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: drops frames in flight; the table and counters stay.
    pub reset: Signal<In, Bit>,
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_last: Signal<In, Bit>,
    /// 0 incoming, 1 outgoing; held steady for every beat of a frame.
    pub in_direction: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub out_data: Signal<Out, Bits<8>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_last: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    pub mgmt_op: Signal<In, Bits<3>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<8>>,
    pub mgmt_wdata: Signal<In, Bits<168>>,
    /// High from the clock after an accepted start until the op completes.
    pub mgmt_busy: Signal<Out, Bit>,
    /// One-clock pulse when an op completes; `mgmt_rdata` is valid from then on.
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_rdata: Signal<Out, Bits<168>>,
    /// One-clock pulse per frame rewritten (for an activity LED).
    pub rewrite_pulse: Signal<Out, Bit>,
}

impl<const N: usize> Logic for Pipeline<N> {
    #[hdl_gen]
    fn update(&mut self) {
        self.in_ready.next = self.out_ready.val();
        self.out_data.next = self.in_data.val();
        self.out_valid.next = self.in_valid.val();
        self.out_last.next = self.in_last.val();
        self.mgmt_busy.next = false;
        self.mgmt_done.next = self.mgmt_start.val();
        self.mgmt_rdata.next = 0.into();
        self.rewrite_pulse.next = false;
    }
}
