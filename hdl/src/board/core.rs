//! The unit's core, shared by every board top and by the simulated board's byte path:
//! the control block (requests from the UART, replies to it) and the pipeline, with one
//! more frame source beside the control block's injected frames — the Ethernet ports'
//! stream (`eth_in_*`, frames with their direction; the `eth_out_*` stream carries them
//! back out). A board without Ethernet ties `eth_in_valid` low.
//!
//! One frame is in the pipeline at a time: a source is chosen when the pipeline is
//! empty (injected frames first: they are rare and their request waits), its frame is
//! fed, and the next frame starts once that frame's last byte has left. Frame order per
//! source is kept and an output frame always goes back to the source whose input it
//! was. It costs the pipeline's latency (~25 clocks) between frames; the Ethernet
//! ports need at most two frames per 672 clocks (README, "Ethernet board").
//!
//! An Ethernet frame whose ingress FCS did not check (`eth_in_fcs_bad`) goes through
//! the pipeline like any other (it leaves stomped) but its hit and reason are not
//! counted: those count only frames whose FCS checked (docs/semantics.md §3a); the
//! ports count the others (`fcs_errors`). The ports' status and counters reach the
//! control block's READ_PORT through `has_ports`/`port_*` (a board without Ethernet
//! ties `has_ports` low); RESET_COUNTERS clears the ports' counters too
//! (`port_counters_clear`).

use crate::core::pipeline::{Pipeline, MGMT_OP_BITS, MGMT_RESET_COUNTERS};
use crate::ctrl::control::{default_build_id, Control};
use crate::ctrl::links::PortRead;
use crate::prim::skid::Skid;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Core<const N: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// The control block's byte ports (from and to the UART).
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_valid: Signal<In, Bit>,
    pub rx_error: Signal<In, Bit>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_valid: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,
    /// Frames from the Ethernet ports (`eth_in_direction`: 1 = outgoing, as the
    /// pipeline's `in_direction`), and their rewritten bytes back.
    pub eth_in_data: Signal<In, Bits<8>>,
    pub eth_in_valid: Signal<In, Bit>,
    pub eth_in_last: Signal<In, Bit>,
    pub eth_in_direction: Signal<In, Bit>,
    pub eth_in_fcs_bad: Signal<In, Bit>,
    pub eth_in_ready: Signal<Out, Bit>,
    pub eth_out_data: Signal<Out, Bits<8>>,
    pub eth_out_valid: Signal<Out, Bit>,
    pub eth_out_last: Signal<Out, Bit>,
    pub eth_out_ready: Signal<In, Bit>,
    /// The board's Ethernet ports for READ_PORT (see `Executor`).
    pub has_ports: Signal<In, Bit>,
    pub port: PortRead,
    /// RESET_COUNTERS for the ports' counters: one clock, the clock after the pipeline
    /// took its own MGMT_RESET_COUNTERS (the ports' sweep then holds READ_PORT back).
    pub port_counters_clear: Signal<Out, Bit>,
    /// Activity pulses for LEDs (the control block's and the pipeline's).
    pub request_pulse: Signal<Out, Bit>,
    pub error_pulse: Signal<Out, Bit>,
    pub inject_pulse: Signal<Out, Bit>,
    pub rewrite_pulse: Signal<Out, Bit>,
    pub control: Control<N>,
    pub pipeline: Pipeline<N>,
    /// The injected frame's bytes (data, last, direction) through a register stage:
    /// the pipeline's `in_ready` (from its queue fill) stops here instead of running
    /// into the executor's feed counters (the Cu board's critical path).
    inject_skid: Skid<10>,
    inject_word: Signal<Local, Bits<10>>,
    /// A frame is in the pipeline (its first byte went in, its last has not come out).
    busy: DFF<Bit>,
    /// Its source: the Ethernet stream (else the control block).
    from_eth: DFF<Bit>,
    /// Its last byte went in.
    in_done: DFF<Bit>,
    /// It is an Ethernet frame with a bad ingress FCS: not counted.
    uncounted: DFF<Bit>,
    /// The source offering the byte this clock.
    sel_eth: Signal<Local, Bit>,
    open: Signal<Local, Bit>,
    clear: Signal<Local, Bit>,
    /// The pipeline took a RESET_COUNTERS op (registered: `mgmt_busy` is the
    /// pipeline's).
    counters_clear: DFF<Bit>,
    c_op_reset: Constant<Bits<MGMT_OP_BITS>>,
}

impl<const N: usize> Core<N> {
    pub fn new(build_id: u32) -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            rx_error: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            eth_in_data: Default::default(),
            eth_in_valid: Default::default(),
            eth_in_last: Default::default(),
            eth_in_direction: Default::default(),
            eth_in_fcs_bad: Default::default(),
            eth_in_ready: Default::default(),
            eth_out_data: Default::default(),
            eth_out_valid: Default::default(),
            eth_out_last: Default::default(),
            eth_out_ready: Default::default(),
            has_ports: Default::default(),
            port: Default::default(),
            port_counters_clear: Default::default(),
            request_pulse: Default::default(),
            error_pulse: Default::default(),
            inject_pulse: Default::default(),
            rewrite_pulse: Default::default(),
            control: Control::new(build_id),
            pipeline: Pipeline::default(),
            inject_skid: Default::default(),
            inject_word: Default::default(),
            busy: Default::default(),
            from_eth: Default::default(),
            in_done: Default::default(),
            uncounted: Default::default(),
            sel_eth: Default::default(),
            open: Default::default(),
            clear: Default::default(),
            counters_clear: Default::default(),
            c_op_reset: Constant::new((MGMT_RESET_COUNTERS as u64).into()),
        }
    }
}

impl<const N: usize> Default for Core<N> {
    fn default() -> Self {
        Self::new(default_build_id())
    }
}

impl<const N: usize> Logic for Core<N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, from_eth, in_done, uncounted, counters_clear);
        clock!(self, clock, control, pipeline, inject_skid);
        self.control.reset.next = self.reset.val();
        self.control.rx_data.next = self.rx_data.val();
        self.control.rx_valid.next = self.rx_valid.val();
        self.control.rx_error.next = self.rx_error.val();
        self.tx_data.next = self.control.tx_data.val();
        self.tx_valid.next = self.control.tx_valid.val();
        self.control.tx_ready.next = self.tx_ready.val();
        self.clear.next = self.reset.val() | self.control.pipeline_reset.val();
        self.pipeline.reset.next = self.clear.val();
        self.pipeline.mgmt_op.next = self.control.mgmt.op.val();
        self.pipeline.mgmt_start.next = self.control.mgmt.start.val();
        self.pipeline.mgmt_index.next = self.control.mgmt.index.val();
        self.pipeline.mgmt_wdata.next = self.control.mgmt.wdata.val();
        self.control.mgmt.busy.next = self.pipeline.mgmt_busy.val();
        self.control.mgmt.done.next = self.pipeline.mgmt_done.val();
        self.control.mgmt.rdata.next = self.pipeline.mgmt_rdata.val();
        self.control.has_ports.next = self.has_ports.val();
        PortRead::link(&mut self.port, &mut self.control.port);
        self.counters_clear.d.next = self.control.mgmt.start.val()
            & !self.pipeline.mgmt_busy.val()
            & (self.control.mgmt.op.val() == self.c_op_reset.val());
        self.port_counters_clear.next = self.counters_clear.q.val();

        // Input: the frame in the pipeline's source until its last byte, then nothing
        // until it has come out; an empty pipeline takes an injected frame first.
        self.inject_skid.reset.next = self.clear.val();
        self.inject_word.next = bit_cast::<10, 8>(self.control.inject.data.val());
        if self.control.inject.last.val() {
            self.inject_word.next = bit_cast::<10, 8>(self.control.inject.data.val()) | 0x100;
        }
        self.inject_skid.up_data.next = self.inject_word.val();
        if self.control.inject.direction.val() {
            self.inject_skid.up_data.next = self.inject_word.val() | 0x200;
        }
        self.inject_skid.up_valid.next = self.control.inject.valid.val();
        self.control.inject.ready.next = self.inject_skid.up_ready.val();

        self.sel_eth.next = self.from_eth.q.val();
        if !self.busy.q.val() {
            self.sel_eth.next = !self.inject_skid.valid.val() & self.eth_in_valid.val();
        }
        self.open.next = !(self.busy.q.val() & self.in_done.q.val());
        self.pipeline.in_data.next = self.inject_skid.data.val().get_bits::<8>(0);
        self.pipeline.in_last.next = self.inject_skid.data.val().get_bit(8);
        self.pipeline.in_direction.next = self.inject_skid.data.val().get_bit(9);
        self.pipeline.in_valid.next = self.open.val() & self.inject_skid.valid.val();
        if self.sel_eth.val() {
            self.pipeline.in_data.next = self.eth_in_data.val();
            self.pipeline.in_last.next = self.eth_in_last.val();
            self.pipeline.in_direction.next = self.eth_in_direction.val();
            self.pipeline.in_valid.next = self.open.val() & self.eth_in_valid.val();
        }
        self.inject_skid.ready.next = self.open.val() & !self.sel_eth.val() & self.pipeline.in_ready.val();
        self.eth_in_ready.next = self.open.val() & self.sel_eth.val() & self.pipeline.in_ready.val();
        if self.pipeline.in_valid.val() & self.pipeline.in_ready.val() {
            self.busy.d.next = true;
            self.from_eth.d.next = self.sel_eth.val();
            self.in_done.d.next = self.pipeline.in_last.val();
            // Latched per beat, so it holds the frame's flag until the next frame's
            // first beat, which comes after its outcome was counted.
            self.uncounted.d.next = self.sel_eth.val() & self.eth_in_fcs_bad.val();
        }
        self.pipeline.count_skip.next = self.uncounted.q.val();

        // Output: back to the frame's source.
        self.control.rewritten.data.next = self.pipeline.out_data.val();
        self.control.rewritten.last.next = self.pipeline.out_last.val();
        self.control.rewritten.valid.next = self.pipeline.out_valid.val() & !self.from_eth.q.val();
        self.eth_out_data.next = self.pipeline.out_data.val();
        self.eth_out_last.next = self.pipeline.out_last.val();
        self.eth_out_valid.next = self.pipeline.out_valid.val() & self.from_eth.q.val();
        self.pipeline.out_ready.next = self.control.rewritten.ready.val();
        if self.from_eth.q.val() {
            self.pipeline.out_ready.next = self.eth_out_ready.val();
        }
        if self.pipeline.out_valid.val() & self.pipeline.out_ready.val() & self.pipeline.out_last.val() {
            self.busy.d.next = false;
            self.in_done.d.next = false;
        }
        if self.clear.val() {
            self.busy.d.next = false;
            self.in_done.d.next = false;
        }

        self.request_pulse.next = self.control.request_pulse.val();
        self.error_pulse.next = self.control.error_pulse.val();
        self.inject_pulse.next = self.control.inject_pulse.val();
        self.rewrite_pulse.next = self.pipeline.rewrite_pulse.val();
    }
}
