//! The control plane's links to the rest of the board, each one bundle (a rust-hdl
//! `LogicInterface`, `lib.rs`): the executor drives them, `Control` passes them on with
//! `link`, `Core` meets them (the pipeline's management port and streams, the inject
//! skid) and the board top answers READ_PORT. Each has its asking side and, for a
//! block that stands at the other end whole (the benches' stand-in), its `join`
//! partner. The members' meaning is the pattern's (`lib.rs`: management port,
//! stream).

use crate::core::pipeline::{MGMT_INDEX_BITS, MGMT_OP_BITS};
use portshare_spec::record::RECORD_BITS;
use rust_hdl::prelude::*;

/// The pipeline's management port, from the side that issues operations: `start`
/// with `op`, `index` and `wdata` (held until taken, `start && !busy`); `done` pulses
/// with `rdata` once the operation has run.
#[derive(LogicInterface, Default)]
#[join = "MgmtTarget"]
pub struct Mgmt {
    pub op: Signal<Out, Bits<MGMT_OP_BITS>>,
    pub start: Signal<Out, Bit>,
    pub index: Signal<Out, Bits<MGMT_INDEX_BITS>>,
    pub wdata: Signal<Out, Bits<RECORD_BITS>>,
    pub busy: Signal<In, Bit>,
    pub done: Signal<In, Bit>,
    pub rdata: Signal<In, Bits<RECORD_BITS>>,
}

/// The side that runs the operations.
#[derive(LogicInterface, Default)]
#[join = "Mgmt"]
pub struct MgmtTarget {
    pub op: Signal<In, Bits<MGMT_OP_BITS>>,
    pub start: Signal<In, Bit>,
    pub index: Signal<In, Bits<MGMT_INDEX_BITS>>,
    pub wdata: Signal<In, Bits<RECORD_BITS>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub rdata: Signal<Out, Bits<RECORD_BITS>>,
}

/// INJECT's frames into the pipeline, a stream (`direction`, 1 = outgoing, with every
/// byte).
#[derive(LogicInterface, Default)]
#[join = "InjectTarget"]
pub struct Inject {
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    pub direction: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
}

/// The side that takes injected frames.
#[derive(LogicInterface, Default)]
#[join = "Inject"]
pub struct InjectTarget {
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub last: Signal<In, Bit>,
    pub direction: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
}

/// Injected frames back from the pipeline's output as it rewrote them, a stream into
/// the executor (INJECT's reply).
#[derive(LogicInterface, Default)]
#[join = "RewrittenSource"]
pub struct Rewritten {
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub last: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
}

/// The side that sends them.
#[derive(LogicInterface, Default)]
#[join = "Rewritten"]
pub struct RewrittenSource {
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
}

/// READ_PORT's link to the board's Ethernet ports (a start/done management port): a
/// `read` pulse asks for word `word` of port `select` (both held until the answer),
/// which is in `value` the clock `done` pulses (the counters live in block RAM, and a
/// clearing sweep holds a read back). `Core` passes it on to the board top, which
/// answers it.
#[derive(LogicInterface, Default)]
#[join = "PortReadTarget"]
pub struct PortRead {
    pub select: Signal<Out, Bit>,
    pub read: Signal<Out, Bit>,
    pub word: Signal<Out, Bits<4>>,
    pub value: Signal<In, Bits<32>>,
    pub done: Signal<In, Bit>,
}

/// The answering side, for a block that answers it whole (the benches' stand-in).
#[derive(LogicInterface, Default)]
#[join = "PortRead"]
pub struct PortReadTarget {
    pub select: Signal<In, Bit>,
    pub read: Signal<In, Bit>,
    pub word: Signal<In, Bits<4>>,
    pub value: Signal<Out, Bits<32>>,
    pub done: Signal<Out, Bit>,
}
