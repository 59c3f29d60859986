//! READ_PORT's link from the control plane to the board's Ethernet ports, one bundle
//! (a start/done management port, `lib.rs`): a `read` pulse asks for word `word` of
//! port `select` (both held until the answer), which is in `value` the clock `done`
//! pulses (the counters live in block RAM, and a clearing sweep holds a read back).
//! `Executor`, `Control` and `Core` carry it as `port` (`link`ed down the hierarchy);
//! the board top answers it.

use rust_hdl::prelude::*;

/// The asking side (the executor's; `Control` and `Core` pass it on).
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
