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
//! [`SimBoard::ethernet`] is the Ethernet board top instead (`CuEthBoard`, at its
//! pins on the bench of [`crate::eth_board`]: both ports' PHY models with link up over
//! MDIO, its UART at 25 Mbaud, the bench's build), one core clock per clock here; its
//! ports' status and counters answer READ_PORT, and [`SimBoard::eth_bench`] plays
//! frames into its RX pins.
//!
//! `recv`'s timeout is simulated time (10 ns per clock). The loop is rust-hdl's direct
//! `simulate()` per clock edge (the threaded `Simulation` is ~15× slower).

use crate::engine::EngineKind;
use crate::eth_board::{BenchOptions, EthBench};
use anyhow::{bail, Context as _, Result};
use portshare_hdl::board::{Core, CuBoard};
use portshare_hdl::ctrl::uart::CLOCKS_PER_BIT_4MBAUD;
use portshare_host::transport::Transport;
use portshare_tools::clocking::{cycle, settle};
use portshare_tools::verilator::{Design, Library, Model};
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

/// Board clock period.
pub const CLOCK_NS: u64 = 10;
/// Clocks between request bytes on the fast path: the control block expects bytes at
/// UART pace (at least 4 clocks apart).
pub const BYTE_GAP_CLOCKS: u64 = 8;
/// Table capacities the simulated board can be built with.
pub use portshare_spec::CAPACITIES;

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
    /// The Ethernet board's bench, when this is it.
    fn eth(&mut self) -> Option<&mut EthBench> {
        None
    }
}

/// The Ethernet board top on its bench, one core clock per `clock`.
struct OnEth(EthBench);

impl Target for OnEth {
    fn push(&mut self, bytes: &[u8]) {
        self.0.send_usb(bytes);
    }

    fn sending(&self) -> bool {
        self.0.usb_sending()
    }

    fn clock(&mut self) -> Option<u8> {
        self.0.core_clock()
    }

    fn eth(&mut self) -> Option<&mut EthBench> {
        Some(&mut self.0)
    }
}

/// Host side of the UART, in software: the host's 8N1 serializer
/// (`portshare_host::uart8n1`) into `usb_rx` and a mid-bit-sampling deserializer on
/// `usb_tx`, one call each per clock.
pub(crate) struct SoftUart {
    cpb: u64,
    pub(crate) queue: VecDeque<u8>,
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

impl SoftUart {
    pub(crate) fn new(cpb: u16) -> Self {
        SoftUart {
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

    pub(crate) fn sending(&self) -> bool {
        !self.queue.is_empty() || !self.tx_bits.is_empty()
    }

    /// The level to drive on `usb_rx` this clock: each bit for exactly `cpb` clocks.
    pub(crate) fn line_out(&mut self) -> bool {
        if self.tx_clocks_left == 0 {
            self.tx_bits.pop_front();
            if self.tx_bits.is_empty() {
                if let Some(b) = self.queue.pop_front() {
                    self.tx_bits.extend(portshare_host::uart8n1::levels(b));
                }
            }
            self.tx_clocks_left = self.cpb;
        }
        self.tx_clocks_left -= 1;
        self.tx_bits.front().copied().unwrap_or(true)
    }

    /// Samples `usb_tx` after this clock; a byte when its stop bit is complete.
    pub(crate) fn line_in(&mut self, line: bool) -> Option<u8> {
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

/// The board top at its pins, one clock: drive `usb_rx`, clock, read `usb_tx`. One
/// implementation per engine; [`OnPins`] does the UART for both.
trait Pins {
    fn step(&mut self, usb_rx: bool) -> bool;
}

/// A board top clocked at its pins, its UART driven by a [`SoftUart`].
struct OnPins<P> {
    pins: P,
    uart: SoftUart,
}

impl<P: Pins> Target for OnPins<P> {
    fn push(&mut self, bytes: &[u8]) {
        self.uart.queue.extend(bytes);
    }

    fn sending(&self) -> bool {
        self.uart.sending()
    }

    fn clock(&mut self) -> Option<u8> {
        let level = self.uart.line_out();
        let tx = self.pins.step(level);
        self.uart.line_in(tx)
    }
}

/// The whole board top in rust-hdl's simulator.
struct RtlPins<const N: usize>(CuBoard<N>);

impl<const N: usize> RtlPins<N> {
    fn new(cpb: u16) -> Self {
        let mut uut = CuBoard::<N>::with_options(cpb, portshare_hdl::ctrl::control::default_build_id());
        uut.connect_all();
        uut.reset_n.next = true;
        uut.usb_rx.next = true;
        settle(&mut uut);
        RtlPins(uut)
    }
}

impl<const N: usize> Pins for RtlPins<N> {
    fn step(&mut self, usb_rx: bool) -> bool {
        if self.0.usb_rx.val() != usb_rx {
            self.0.usb_rx.next = usb_rx;
        }
        cycle(&mut self.0, |u| &mut u.clock);
        self.0.usb_tx.val()
    }
}

/// The whole board top's Verilog under Verilator.
struct VerilatorPins {
    model: Model,
    usb_rx: usize,
    usb_tx: usize,
}

impl VerilatorPins {
    /// The board top's Verilog (`Verilator`) or its netlist (`Netlist`).
    fn new<const N: usize>(cpb: u16, level: EngineKind) -> Result<Self> {
        let mut fresh = CuBoard::<N>::with_options(cpb, portshare_hdl::ctrl::control::default_build_id());
        Self::of(verilator_model(&mut fresh, level)?)
    }

    /// A model with the board top's ports (any level, the decoded bitstream too).
    fn of(mut model: Model) -> Result<Self> {
        let port = |m: &Model, n: &str| m.port(n).expect("a board top port");
        let (reset_n, usb_rx, usb_tx) = (port(&model, "reset_n"), port(&model, "usb_rx"), port(&model, "usb_tx"));
        model.set_u64(reset_n, 1);
        model.set_u64(usb_rx, 1);
        model.eval();
        Ok(VerilatorPins { model, usb_rx, usb_tx })
    }
}

impl Pins for VerilatorPins {
    fn step(&mut self, usb_rx: bool) -> bool {
        self.model.set_u64(self.usb_rx, usb_rx as u64);
        self.model.tick(1);
        self.model.get_u64(self.usb_tx) == 1
    }
}

/// A fresh block at `level` (its Verilog or its netlist) compiled (or found in the
/// cache) and instantiated.
fn verilator_model<B: Block>(fresh: &mut B, level: EngineKind) -> Result<Model> {
    let design = crate::verilator::at_level(Design::of(fresh, None)?, level)?;
    let lib = Library::get(&design).context(crate::verilator::NEEDS)?;
    Ok(lib.instance())
}

/// The control block and the pipeline without the UART: the board tops' own [`Core`]
/// (its Ethernet input idle), its control byte ports driven directly.
pub type ByteCore<const N: usize> = Core<N>;

/// The byte-level core, one clock: the reply byte it offers now (its `tx_valid`/
/// `tx_data` come from flip-flops, and `tx_ready` is always high, so that byte is taken
/// at this edge), then a request byte (or none) in and the edge. One implementation
/// per engine; [`OnBytes`] paces the requests for both.
trait Bytes {
    fn step(&mut self, rx: Option<u8>) -> Option<u8>;
}

/// A byte-level core fed a request byte every [`BYTE_GAP_CLOCKS`] clocks.
struct OnBytes<B> {
    core: B,
    queue: VecDeque<u8>,
    clocks: u64,
}

impl<B> OnBytes<B> {
    fn new(core: B) -> Self {
        OnBytes { core, queue: VecDeque::new(), clocks: 0 }
    }
}

impl<B: Bytes> Target for OnBytes<B> {
    fn push(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes);
    }

    fn sending(&self) -> bool {
        !self.queue.is_empty()
    }

    fn clock(&mut self) -> Option<u8> {
        let byte = if self.clocks % BYTE_GAP_CLOCKS == 0 { self.queue.pop_front() } else { None };
        self.clocks += 1;
        self.core.step(byte)
    }
}

/// [`ByteCore`] in rust-hdl's simulator.
struct RtlBytes<const N: usize>(ByteCore<N>);

impl<const N: usize> RtlBytes<N> {
    fn new() -> Self {
        let mut uut = ByteCore::<N>::default();
        uut.connect_all();
        uut.reset.next = true;
        for _ in 0..4 {
            cycle(&mut uut, |u| &mut u.clock);
        }
        uut.reset.next = false;
        uut.tx_ready.next = true;
        settle(&mut uut);
        RtlBytes(uut)
    }
}

impl<const N: usize> Bytes for RtlBytes<N> {
    fn step(&mut self, rx: Option<u8>) -> Option<u8> {
        let u = &mut self.0;
        let out = u.tx_valid.val().then(|| u.tx_data.val().index() as u8);
        u.rx_valid.next = rx.is_some();
        u.rx_data.next = (rx.unwrap_or(0) as u64).into();
        cycle(u, |u| &mut u.clock);
        out
    }
}

/// [`ByteCore`]'s Verilog under Verilator.
struct VerilatorBytes {
    model: Model,
    rx_data: usize,
    rx_valid: usize,
    tx_data: usize,
    tx_valid: usize,
}

impl VerilatorBytes {
    fn new<const N: usize>(level: EngineKind) -> Result<Self> {
        let mut model = verilator_model(&mut ByteCore::<N>::default(), level)?;
        let port = |m: &Model, n: &str| m.port(n).expect("a ByteCore port");
        let (reset, tx_ready) = (port(&model, "reset"), port(&model, "tx_ready"));
        let (rx_data, rx_valid, tx_data, tx_valid) =
            (port(&model, "rx_data"), port(&model, "rx_valid"), port(&model, "tx_data"), port(&model, "tx_valid"));
        model.set_u64(reset, 1);
        model.tick(4);
        model.set_u64(reset, 0);
        model.set_u64(tx_ready, 1);
        model.eval();
        Ok(VerilatorBytes { model, rx_data, rx_valid, tx_data, tx_valid })
    }
}

impl Bytes for VerilatorBytes {
    fn step(&mut self, rx: Option<u8>) -> Option<u8> {
        let m = &mut self.model;
        let out = (m.get_u64(self.tx_valid) == 1).then(|| m.get_u64(self.tx_data) as u8);
        m.set_u64(self.rx_valid, rx.is_some() as u64);
        m.set_u64(self.rx_data, rx.unwrap_or(0) as u64);
        m.tick(1);
        out
    }
}

fn target<const N: usize>(wire: SimWire, engine: EngineKind) -> Result<Box<dyn Target>> {
    let cpb = match wire {
        SimWire::UartPinsAt(cpb) => cpb,
        _ => CLOCKS_PER_BIT_4MBAUD,
    };
    Ok(match (wire, engine) {
        (_, EngineKind::Model) => bail!("the simulated board runs the hardware: engine verilator, netlist or rtl, not model"),
        (_, EngineKind::Bitstream) => bail!("the bitstream level simulates a build's bitstream: SimBoard::from_build"),
        (SimWire::Bytes, EngineKind::Rtl) => Box::new(OnBytes::new(RtlBytes::<N>::new())),
        (SimWire::Bytes, level) => Box::new(OnBytes::new(VerilatorBytes::new::<N>(level)?)),
        (_, EngineKind::Rtl) => Box::new(OnPins { pins: RtlPins::<N>::new(cpb), uart: SoftUart::new(cpb) }),
        (_, level) => Box::new(OnPins { pins: VerilatorPins::new::<N>(cpb, level)?, uart: SoftUart::new(cpb) }),
    })
}

/// The simulated board (see the module docs).
pub struct SimBoard {
    target: Box<dyn Target>,
    capacity: usize,
    wire: SimWire,
    engine: EngineKind,
    clocks: u64,
    /// The Ethernet board top ([`SimBoard::ethernet`]).
    ethernet: bool,
}

impl SimBoard {
    /// A board with `capacity` entries (16, 64 or 128) carried over `wire`.
    pub fn new(capacity: usize, wire: SimWire) -> Result<SimBoard> {
        Self::with_engine(capacity, wire, EngineKind::Rtl)
    }

    /// A board run by `engine`: `Rtl` (the blocks in rust-hdl's simulator) or
    /// `Verilator` (their Verilog, compiled once and cached: ~100× faster).
    pub fn with_engine(capacity: usize, wire: SimWire, engine: EngineKind) -> Result<SimBoard> {
        let wire = match wire {
            SimWire::UartPinsAt(CLOCKS_PER_BIT_4MBAUD) => SimWire::UartPins,
            SimWire::UartPinsAt(cpb) if cpb < 4 => bail!("a simulated UART needs at least 4 clocks per bit, not {cpb}"),
            w => w,
        };
        let target = match capacity {
            16 => target::<16>(wire, engine)?,
            64 => target::<64>(wire, engine)?,
            128 => target::<128>(wire, engine)?,
            _ => bail!("the simulated board is built with {CAPACITIES:?} entries, not {capacity}"),
        };
        Ok(SimBoard::powered(target, capacity, wire, engine))
    }

    fn powered(target: Box<dyn Target>, capacity: usize, wire: SimWire, engine: EngineKind) -> SimBoard {
        let mut b = SimBoard { target, capacity, wire, engine, clocks: 0, ethernet: false };
        // Let the power-on reset pass before anything is sent.
        b.run_clocks(32);
        b
    }

    /// The board as `portshare build` wrote it into `dir` for `capacity` entries: its
    /// bitstream decoded and simulated at the UART pins (4 Mbaud, the rate it is built
    /// for), after checking that it is the build that gets flashed and that it
    /// answers INFO as this source tree's board of `capacity` entries
    /// (`crate::bitstream`).
    pub fn from_build(dir: &std::path::Path, capacity: usize) -> Result<SimBoard> {
        Self::of_build(crate::bitstream::model(dir, capacity)?, EngineKind::Bitstream)
    }

    /// The netlist `portshare build` placed into `dir` (its `portshare_cu.netlist.v`),
    /// simulated at the UART pins like [`SimBoard::from_build`]'s bitstream, after the
    /// same design and INFO checks.
    pub fn from_build_netlist(dir: &std::path::Path, capacity: usize) -> Result<SimBoard> {
        Self::of_build(crate::bitstream::netlist_model(dir, capacity)?, EngineKind::Netlist)
    }

    /// A build's model at its UART pins at 4 Mbaud (the rate it is built for), powered
    /// on and checked to answer INFO as this tree's board of the build's capacity.
    fn of_build((model, build): (Model, crate::bitstream::Build), level: EngineKind) -> Result<SimBoard> {
        let pins = VerilatorPins::of(model)?;
        let target = Box::new(OnPins { pins, uart: SoftUart::new(CLOCKS_PER_BIT_4MBAUD) });
        let board = SimBoard::powered(target, build.capacity, SimWire::UartPins, level);
        build.check_info(board)
    }

    /// The Ethernet board top (`CuEthBoard`, 16 or 64 entries, the verilator or rtl
    /// engine) on the bench of [`crate::eth_board`] as `options` set it up, its UART
    /// at the bench's [`crate::eth_board::CLOCKS_PER_BIT`], after both ports have read
    /// their PHY's link over MDIO.
    pub fn ethernet(options: BenchOptions) -> Result<SimBoard> {
        let mut bench = EthBench::new(options)?;
        bench.keep_usb_bytes();
        bench.wait_for_links(2_000_000)?;
        let clocks = bench.core_clocks;
        let wire = SimWire::UartPinsAt(crate::eth_board::CLOCKS_PER_BIT);
        let mut b = SimBoard::powered(Box::new(OnEth(bench)), options.capacity, wire, options.engine);
        b.clocks += clocks;
        b.ethernet = true;
        Ok(b)
    }

    /// The Ethernet board's bench (its ports' PHY models, what left its TX pins), on a
    /// [`SimBoard::ethernet`] board.
    pub fn eth_bench(&mut self) -> Option<&mut EthBench> {
        self.target.eth()
    }

    /// The UART's rate in baud on the pins (`None` on the byte-level fast path).
    pub fn baud(&self) -> Option<u32> {
        match self.wire {
            SimWire::UartPins => Some(100_000_000 / CLOCKS_PER_BIT_4MBAUD as u32),
            SimWire::UartPinsAt(cpb) => Some(100_000_000 / cpb as u32),
            SimWire::Bytes => None,
        }
    }

    pub fn engine(&self) -> EngineKind {
        self.engine
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
        if self.ethernet {
            return format!(
                "simulated Alchitry Cu with 2 Ethernet ports (cu-eth, {} entries, UART pins at {} baud, {} engine)",
                self.capacity,
                self.baud().unwrap_or(0),
                self.engine
            );
        }
        match self.wire {
            SimWire::UartPins => format!("simulated Alchitry Cu ({} entries, UART pins at 4 Mbaud, {} engine)", self.capacity, self.engine),
            SimWire::UartPinsAt(cpb) => format!(
                "simulated Alchitry Cu ({} entries, UART pins at {} baud, {} engine)",
                self.capacity,
                100_000_000 / cpb as u64,
                self.engine
            ),
            SimWire::Bytes => {
                format!("simulated control block + pipeline ({} entries, byte-level fast path, {} engine)", self.capacity, self.engine)
            }
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
        for (wire, engine) in [SimWire::UartPins, SimWire::Bytes]
            .into_iter()
            .flat_map(|w| [EngineKind::Rtl, EngineKind::Verilator].map(|e| (w, e)))
        {
            let board = SimBoard::with_engine(16, wire, engine).unwrap();
            let mut c = Client::new(board);
            let start = c.transport().clocks();
            let info = c.info().unwrap();
            assert_eq!(
                info,
                DeviceInfo {
                    protocol_version: PROTOCOL_VERSION,
                    capacity: 16,
                    max_frame: MAX_FRAME_LEN as u16,
                    build_id: portshare_hdl::ctrl::control::default_build_id()
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
