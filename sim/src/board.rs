//! The simulated board: `CuBoard` (or its control block and pipeline alone) running in
//! rust-hdl's cycle simulator, behind the same `Transport` trait as the USB board, so
//! every host command runs unchanged against it.
//!
//! Two ways to carry the bytes, chosen at construction:
//!
//! * [`SimWire::UartPins`] — the whole `CuBoard`: bytes are serialized into the
//!   `usb_rx` pin (8N1 at 25 clocks per bit, 4 Mbaud) and deserialized from `usb_tx`
//!   by a software UART here, so the UART blocks, the reset logic and the board top
//!   are all in the loop and simulated time matches the real wire (2.5 µs per byte).
//!   [`SimWire::UartPinsAt`] runs board and wire at another rate (50 clocks = 2 Mbaud).
//! * [`SimWire::Bytes`] — a fast path: the `Control` block and the `Pipeline` only,
//!   with request bytes handed to the control block's receive port every
//!   [`BYTE_GAP_CLOCKS`] clocks and reply bytes taken as soon as it offers them. The
//!   protocol logic is identical (it is the same block); only the UART is skipped, so
//!   a request/reply costs ~30× fewer clocks. Use it for bulk work (hundreds of
//!   injected frames); use the pins for anything about the UART or timing.
//!
//! `recv`'s timeout is simulated time (10 ns per clock). The loop is rust-hdl's direct
//! `simulate()` per clock edge (the threaded `Simulation` is ~15× slower).

use anyhow::{bail, Result};
use portshare_hdl::board::CuBoard;
use portshare_hdl::control::Control;
use portshare_hdl::pipeline::Pipeline;
use portshare_hdl::uart::CLOCKS_PER_BIT_4MBAUD;
use portshare_host::transport::Transport;
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

/// Board clock period.
pub const CLOCK_NS: u64 = 10;
/// Clocks between request bytes on the fast path: the control block expects bytes at
/// UART pace (at least 4 clocks apart).
pub const BYTE_GAP_CLOCKS: u64 = 8;
/// Table capacities the simulated board can be built with.
pub const CAPACITIES: [usize; 3] = [16, 64, 128];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimWire {
    /// The UART pins at 4 Mbaud (25 clocks per bit).
    UartPins,
    /// The UART pins at another rate: clocks per bit at 100 MHz (50 = 2 Mbaud); the
    /// board is built with the same rate.
    UartPinsAt(u16),
    Bytes,
}

/// One simulated design behind the transport, clocked one cycle at a time.
trait Target {
    /// Queues bytes for the board's receiver.
    fn push(&mut self, bytes: &[u8]);
    /// One clock; returns a byte the board finished sending in it, if any.
    fn clock(&mut self) -> Option<u8>;
    /// True while bytes queued by `push` have not all reached the board.
    fn sending(&self) -> bool;
}

fn edge<B: Block>(uut: &mut B, set_clock: impl Fn(&mut B, bool)) {
    set_clock(uut, true);
    assert!(simulate(uut, 200), "the design did not settle after a rising edge");
    set_clock(uut, false);
    assert!(simulate(uut, 200), "the design did not settle after a falling edge");
}

/// Host side of the UART, in software: the host's 8N1 serializer
/// (`portshare_host::uart8n1`) into `usb_rx` and a mid-bit-sampling deserializer on
/// `usb_tx`.
struct PinTarget<const N: usize> {
    uut: CuBoard<N>,
    cpb: u64,
    queue: VecDeque<u8>,
    /// Line levels still to drive for the byte being sent (one entry per bit).
    tx_bits: VecDeque<bool>,
    tx_clocks_left: u64,
    /// Deserializer: clocks until the next sample, bit index (0 start .. 9 stop).
    rx_active: bool,
    rx_wait: u64,
    rx_bit: u32,
    rx_shift: u8,
    framing_errors: u64,
}

impl<const N: usize> PinTarget<N> {
    fn new(cpb: u16) -> Self {
        let mut uut = CuBoard::<N>::with_options(cpb, portshare_hdl::control::default_build_id());
        uut.connect_all();
        uut.reset_n.next = true;
        uut.usb_rx.next = true;
        assert!(simulate(&mut uut, 200));
        PinTarget {
            uut,
            cpb: cpb as u64,
            queue: VecDeque::new(),
            tx_bits: VecDeque::new(),
            tx_clocks_left: 0,
            rx_active: false,
            rx_wait: 0,
            rx_bit: 0,
            rx_shift: 0,
            framing_errors: 0,
        }
    }
}

impl<const N: usize> Target for PinTarget<N> {
    fn push(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes);
    }

    fn sending(&self) -> bool {
        !self.queue.is_empty() || !self.tx_bits.is_empty()
    }

    fn clock(&mut self) -> Option<u8> {
        // Drive usb_rx: each bit for exactly `cpb` clocks.
        if self.tx_clocks_left == 0 {
            self.tx_bits.pop_front();
            if self.tx_bits.is_empty() {
                if let Some(b) = self.queue.pop_front() {
                    self.tx_bits.extend(portshare_host::uart8n1::levels(b));
                }
            }
            self.tx_clocks_left = self.cpb;
        }
        let level = self.tx_bits.front().copied().unwrap_or(true);
        if self.uut.usb_rx.val() != level {
            self.uut.usb_rx.next = level;
        }
        self.tx_clocks_left -= 1;
        edge(&mut self.uut, |u, c| u.clock.next = c.into());

        // Sample usb_tx.
        let line = self.uut.usb_tx.val();
        if !self.rx_active {
            if !line {
                self.rx_active = true;
                self.rx_bit = 0;
                self.rx_wait = self.cpb / 2;
            }
            return None;
        }
        self.rx_wait -= 1;
        if self.rx_wait > 0 {
            return None;
        }
        self.rx_wait = self.cpb;
        match self.rx_bit {
            0 if line => self.rx_active = false, // glitch
            0 => {}
            1..=8 => self.rx_shift = (self.rx_shift >> 1) | ((line as u8) << 7),
            _ => {
                self.rx_active = false;
                if line {
                    return Some(self.rx_shift);
                }
                self.framing_errors += 1;
            }
        }
        self.rx_bit += 1;
        None
    }
}

/// The control block and the pipeline, wired as on the board, without the UART.
#[derive(LogicBlock)]
struct ByteCore<const N: usize> {
    clock: Signal<In, Clock>,
    reset: Signal<In, Bit>,
    control: Control<N>,
    pipeline: Pipeline<N>,
}

impl<const N: usize> Logic for ByteCore<N> {
    // Simulation-only glue (never turned into Verilog): the same connections as
    // `CuBoard::update`.
    fn update(&mut self) {
        let (c, p) = (&mut self.control, &mut self.pipeline);
        c.clock.next = self.clock.val();
        p.clock.next = self.clock.val();
        c.reset.next = self.reset.val();
        p.reset.next = self.reset.val() | c.pipeline_reset.val();
        p.in_data.next = c.pl_data.val();
        p.in_valid.next = c.pl_valid.val();
        p.in_last.next = c.pl_last.val();
        p.in_direction.next = c.pl_direction.val();
        c.pl_ready.next = p.in_ready.val();
        c.po_data.next = p.out_data.val();
        c.po_valid.next = p.out_valid.val();
        c.po_last.next = p.out_last.val();
        p.out_ready.next = c.po_ready.val();
        p.mgmt_op.next = c.mgmt_op.val();
        p.mgmt_start.next = c.mgmt_start.val();
        p.mgmt_index.next = c.mgmt_index.val();
        p.mgmt_wdata.next = c.mgmt_wdata.val();
        c.mgmt_busy.next = p.mgmt_busy.val();
        c.mgmt_done.next = p.mgmt_done.val();
        c.mgmt_rdata.next = p.mgmt_rdata.val();
    }
}

struct ByteTarget<const N: usize> {
    uut: ByteCore<N>,
    queue: VecDeque<u8>,
    clocks: u64,
}

impl<const N: usize> ByteTarget<N> {
    fn new() -> Self {
        let mut uut = ByteCore::<N> {
            clock: Default::default(),
            reset: Default::default(),
            control: Control::default(),
            pipeline: portshare_hdl::pipeline::Pipeline::default(),
        };
        uut.connect_all();
        uut.reset.next = true;
        for _ in 0..4 {
            edge(&mut uut, |u, c| u.clock.next = c.into());
        }
        uut.reset.next = false;
        uut.control.tx_ready.next = true;
        assert!(simulate(&mut uut, 200));
        ByteTarget { uut, queue: VecDeque::new(), clocks: 0 }
    }
}

impl<const N: usize> Target for ByteTarget<N> {
    fn push(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes);
    }

    fn sending(&self) -> bool {
        !self.queue.is_empty()
    }

    fn clock(&mut self) -> Option<u8> {
        let byte = if self.clocks % BYTE_GAP_CLOCKS == 0 { self.queue.pop_front() } else { None };
        // The control block's tx_valid/tx_data come from flip-flops, so the values
        // settled after the last edge are what it offers now; tx_ready is always high,
        // so that byte is taken at this edge.
        let out = self.uut.control.tx_valid.val().then(|| self.uut.control.tx_data.val().index() as u8);
        let c = &mut self.uut.control;
        c.rx_valid.next = byte.is_some();
        c.rx_data.next = (byte.unwrap_or(0) as u64).into();
        edge(&mut self.uut, |u, c| u.clock.next = c.into());
        self.clocks += 1;
        out
    }
}

/// The simulated board (see the module docs).
pub struct SimBoard {
    target: Box<dyn Target>,
    capacity: usize,
    wire: SimWire,
    clocks: u64,
}

impl SimBoard {
    /// A board with `capacity` entries (16, 64 or 128) carried over `wire`.
    pub fn new(capacity: usize, wire: SimWire) -> Result<SimBoard> {
        let wire = match wire {
            SimWire::UartPinsAt(CLOCKS_PER_BIT_4MBAUD) => SimWire::UartPins,
            SimWire::UartPinsAt(cpb) if cpb < 4 => bail!("a simulated UART needs at least 4 clocks per bit, not {cpb}"),
            w => w,
        };
        let target: Box<dyn Target> = match (capacity, wire) {
            (16, SimWire::UartPins) => Box::new(PinTarget::<16>::new(CLOCKS_PER_BIT_4MBAUD)),
            (64, SimWire::UartPins) => Box::new(PinTarget::<64>::new(CLOCKS_PER_BIT_4MBAUD)),
            (128, SimWire::UartPins) => Box::new(PinTarget::<128>::new(CLOCKS_PER_BIT_4MBAUD)),
            (16, SimWire::UartPinsAt(cpb)) => Box::new(PinTarget::<16>::new(cpb)),
            (64, SimWire::UartPinsAt(cpb)) => Box::new(PinTarget::<64>::new(cpb)),
            (128, SimWire::UartPinsAt(cpb)) => Box::new(PinTarget::<128>::new(cpb)),
            (16, SimWire::Bytes) => Box::new(ByteTarget::<16>::new()),
            (64, SimWire::Bytes) => Box::new(ByteTarget::<64>::new()),
            (128, SimWire::Bytes) => Box::new(ByteTarget::<128>::new()),
            _ => bail!("the simulated board is built with {CAPACITIES:?} entries, not {capacity}"),
        };
        let mut b = SimBoard { target, capacity, wire, clocks: 0 };
        // Let the power-on reset pass before anything is sent.
        b.run_clocks(32);
        Ok(b)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Clocks simulated so far.
    pub fn clocks(&self) -> u64 {
        self.clocks
    }

    /// Simulated time so far.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.clocks * CLOCK_NS)
    }

    /// True while bytes given to `send` have not all reached the board's receiver.
    pub fn input_pending(&self) -> bool {
        self.target.sending()
    }

    /// Runs `n` clocks; bytes the board sends meanwhile are dropped.
    pub fn run_clocks(&mut self, n: u64) {
        for _ in 0..n {
            self.target.clock();
            self.clocks += 1;
        }
    }
}

impl Transport for SimBoard {
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.target.push(bytes);
        Ok(())
    }

    /// Runs the design until it has sent at least one byte (then until it pauses, so a
    /// reply comes back in one piece) or `timeout` of simulated time has passed.
    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize> {
        let budget = (timeout.as_nanos() as u64 / CLOCK_NS).max(1);
        // A reply byte is followed by the next within ~10 bit times on the pins.
        let pause = match self.wire {
            SimWire::UartPins => 12 * CLOCKS_PER_BIT_4MBAUD as u64,
            SimWire::UartPinsAt(cpb) => 12 * cpb as u64,
            SimWire::Bytes => 64,
        };
        let start = buf.len();
        let mut since_last = 0;
        for _ in 0..budget {
            let got = self.target.clock();
            self.clocks += 1;
            if let Some(b) = got {
                buf.push(b);
                since_last = 0;
            } else if buf.len() > start {
                since_last += 1;
                if since_last >= pause && !self.target.sending() {
                    break;
                }
            }
        }
        Ok(buf.len() - start)
    }

    fn describe(&self) -> String {
        match self.wire {
            SimWire::UartPins => format!("simulated Alchitry Cu ({} entries, UART pins at 4 Mbaud)", self.capacity),
            SimWire::UartPinsAt(cpb) => {
                format!("simulated Alchitry Cu ({} entries, UART pins at {} baud)", self.capacity, 100_000_000 / cpb as u64)
            }
            SimWire::Bytes => format!("simulated control block + pipeline ({} entries, byte-level fast path)", self.capacity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_host::protocol::{Client, DeviceInfo, MAX_FRAME_LEN, PROTOCOL_VERSION};

    #[test]
    fn rejects_capacities_it_is_not_built_with() {
        let e = SimBoard::new(32, SimWire::Bytes).err().unwrap();
        assert!(e.to_string().contains("[16, 64, 128]"), "{e}");
    }

    #[test]
    fn info_over_both_wires_and_pin_timing_matches_4_mbaud() {
        for wire in [SimWire::UartPins, SimWire::Bytes] {
            let board = SimBoard::new(16, wire).unwrap();
            let mut c = Client::new(board);
            let start = c.transport().clocks();
            let info = c.info().unwrap();
            assert_eq!(
                info,
                DeviceInfo {
                    protocol_version: PROTOCOL_VERSION,
                    capacity: 16,
                    max_frame: MAX_FRAME_LEN as u16,
                    build_id: portshare_hdl::control::default_build_id()
                }
            );
            let clocks = c.transport().clocks() - start;
            let wire_bytes = c.stats().bytes_sent + c.stats().bytes_received;
            if wire == SimWire::UartPins {
                // Every byte costs 10 bits of 25 clocks; the rest is a few clocks of
                // processing plus recv's end-of-reply pause.
                let line = wire_bytes * 250;
                assert!(clocks >= line && clocks < line + 1000, "{clocks} clocks for {wire_bytes} bytes");
            }
        }
    }
}
