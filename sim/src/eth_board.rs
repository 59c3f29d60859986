//! The Ethernet board top (`CuEthBoard`) at its pins, with its three clocks stepped in
//! simulated time — the core's 100 MHz and each port's REF_CLK at its own ppm — on one
//! of two engines: `rtl` (rust-hdl's direct loop on the blocks) or `verilator` (the
//! board top's generated Verilog under Verilator, every clock a plain input).
//!
//! Around the board: per port the PHY model (`phy::rmii`: frames to CRS_DV/RXD at the
//! port's speed, TX_EN/TXD back to frames with FCS and gap checked) and the MDIO PHY
//! model (`phy::mdio`, a LAN8720 at address 1 reporting link, speed and full duplex);
//! the USB UART in software (`board::SoftUart`, 8N1 at [`CLOCKS_PER_BIT`]) carrying the
//! control protocol. `portshare sim --at rmii` and `sim/tests/eth_board.rs` drive it.
//!
//! The per-port counters are read as the host reads them, READ_PORT over the UART
//! (they live in each port's block RAM); link and speed come from the design's
//! signals: under Verilator the board top's Verilog gets output ports wired to them
//! (and MDIO's three-state pin split into the line in and the master's drive out) —
//! see [`verilator_design`]; the logic is the generated Verilog's, untouched. Its three
//! clocks are plain inputs, evaluated by `Model::settle`.

use crate::board::SoftUart;
use crate::engine::EngineKind;
use crate::phy::mdio::{lan8720, MdioPhy};
use crate::phy::rmii::{ref_clk_ns, PhyRx, RxEvent, Speed, TxDecoder, TxError, TxFrame};
use anyhow::{bail, Context as _, Result};
use portshare_hdl::board::CuEthBoard;
use portshare_hdl::eth::port::EthPort;
use portshare_host::protocol::{Deframed, Reply, Request, SlipDecoder};
use portshare_host::Slot;
use portshare_tools::verilator::{Design, Library, Model};
use portshare_tools::verilog::{add_outputs, inout_as_input, parse_top_ports};
use rust_hdl::prelude::*;
use std::collections::VecDeque;

/// UART clocks per bit on the bench (25 Mbaud: the board is built with the same), so
/// table writes cost few clocks.
pub const CLOCKS_PER_BIT: u16 = 4;
/// Core clocks between MDIO polls on the bench (the bitstream polls every 10 ms).
pub const MDIO_INTERVAL: u64 = 20_000;
/// The core clock's period.
pub const CORE_NS: f64 = 10.0;
/// Core clocks without anything moving after which a run is idle: long enough for a
/// 1 518-byte frame waiting in a buffer to start.
pub const QUIET_CLOCKS: u64 = 40_000;

/// The board's two Ethernet ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// Toward the network (header A).
    Net,
    /// Toward the server (header B).
    Srv,
}

impl Port {
    pub const BOTH: [Port; 2] = [Port::Net, Port::Srv];
    fn i(self) -> usize {
        self as usize
    }
    pub fn name(self) -> &'static str {
        match self {
            Port::Net => "net",
            Port::Srv => "srv",
        }
    }
    pub fn other(self) -> Port {
        match self {
            Port::Net => Port::Srv,
            Port::Srv => Port::Net,
        }
    }
}

/// `EthPort`'s counters, in READ_PORT's order (its doc says what each counts).
pub const COUNTERS: [&str; 11] = portshare_host::protocol::ports::COUNTER_NAMES;

/// One port's counters (READ_PORT) and link state (the design's signals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStatus {
    pub counters: [u64; 11],
    pub link: bool,
    pub speed_10: bool,
}

impl PortStatus {
    /// The counter called `name` (one of [`COUNTERS`]).
    pub fn get(&self, name: &str) -> u64 {
        self.counters[COUNTERS.iter().position(|c| *c == name).unwrap_or_else(|| panic!("no counter {name}"))]
    }

    pub fn json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("link".into(), self.link.into());
        m.insert("speed_mbps".into(), (if self.speed_10 { 10 } else { 100 }).into());
        for (n, v) in COUNTERS.iter().zip(self.counters) {
            m.insert((*n).into(), v.into());
        }
        m.into()
    }
}

/// A port's link and speed as the design's MDIO master holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    link: bool,
    speed_10: bool,
}

/// A port's outputs after an edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortOut {
    pub tx_en: bool,
    pub txd: u8,
    pub mdc: bool,
    pub mdio_o: bool,
    pub mdio_oe: bool,
}

/// The board top's pins on one engine.
trait Pins {
    fn clocks(&mut self, core: bool, net: bool, srv: bool);
    fn usb_rx(&mut self, level: bool);
    fn rx(&mut self, p: Port, crs_dv: bool, rxd: u8);
    /// The MDIO line as the PHY side leaves it (the master's own drive wins inside).
    fn mdio(&mut self, p: Port, line: bool);
    /// Evaluates the design with the inputs as set (no clock forced).
    fn settle(&mut self);
    fn usb_tx(&mut self) -> bool;
    fn out(&mut self, p: Port) -> PortOut;
    /// Link and speed (the counters are READ_PORT's: [`EthBench::status`]).
    fn link(&mut self, p: Port) -> Link;
}

/// The board top in rust-hdl's simulator.
struct RtlPins<const N: usize>(Box<CuEthBoard<N>>);

impl<const N: usize> RtlPins<N> {
    fn new() -> Self {
        let mut uut = Box::new(CuEthBoard::<N>::with_options(CLOCKS_PER_BIT, BUILD_ID, MDIO_INTERVAL));
        uut.connect_all();
        uut.reset_n.next = true;
        uut.usb_rx.next = true;
        uut.net_mdio.next = true;
        uut.srv_mdio.next = true;
        portshare_tools::clocking::settle(&mut *uut);
        RtlPins(uut)
    }
    fn port(&self, p: Port) -> &EthPort {
        match p {
            Port::Net => &self.0.net,
            Port::Srv => &self.0.srv,
        }
    }
}

impl<const N: usize> Pins for RtlPins<N> {
    fn clocks(&mut self, core: bool, net: bool, srv: bool) {
        let u = &mut self.0;
        u.clock.next = core.into();
        u.net_ref_clk.next = net.into();
        u.srv_ref_clk.next = srv.into();
    }
    fn usb_rx(&mut self, level: bool) {
        self.0.usb_rx.next = level;
    }
    fn rx(&mut self, p: Port, crs_dv: bool, rxd: u8) {
        let u = &mut self.0;
        let (c, d) = match p {
            Port::Net => (&mut u.net_crs_dv, &mut u.net_rxd),
            Port::Srv => (&mut u.srv_crs_dv, &mut u.srv_rxd),
        };
        c.next = crs_dv;
        d.next = (rxd as u64).into();
    }
    fn mdio(&mut self, p: Port, line: bool) {
        match p {
            Port::Net => self.0.net_mdio.next = line,
            Port::Srv => self.0.srv_mdio.next = line,
        }
    }
    fn settle(&mut self) {
        portshare_tools::clocking::settle(&mut *self.0);
    }
    fn usb_tx(&mut self) -> bool {
        self.0.usb_tx.val()
    }
    fn out(&mut self, p: Port) -> PortOut {
        let u = &self.0;
        let (tx_en, txd, mdc) = match p {
            Port::Net => (u.net_tx_en.val(), u.net_txd.val(), u.net_mdc.val()),
            Port::Srv => (u.srv_tx_en.val(), u.srv_txd.val(), u.srv_mdc.val()),
        };
        // The pin's drive, as the Verilator side reads it (`{n}_mdio_buf$write_*`).
        let buf = match p {
            Port::Net => &u.net_mdio_buf,
            Port::Srv => &u.srv_mdio_buf,
        };
        PortOut { tx_en, txd: txd.to_u64() as u8, mdc, mdio_o: buf.write_data.val(), mdio_oe: buf.write_enable.val() }
    }
    fn link(&mut self, p: Port) -> Link {
        let e = self.port(p);
        Link { link: e.link.val(), speed_10: e.speed_10.val() }
    }
}

/// The Verilator model's port indices for one Ethernet port.
struct PortIdx {
    crs_dv: usize,
    rxd: usize,
    mdio: usize,
    tx_en: usize,
    txd: usize,
    mdc: usize,
    mdio_o: usize,
    mdio_oe: usize,
    link: usize,
    speed_10: usize,
}

/// The board top's Verilog under Verilator.
struct VerilatorPins {
    model: Model,
    clock: [usize; 3],
    usb_rx: usize,
    usb_tx: usize,
    ports: [PortIdx; 2],
}

/// The output ports added to the generated Verilog's `module top`: (name, width, the
/// signal inside that drives it).
fn added_ports() -> Vec<(String, usize, String)> {
    let mut v = vec![];
    for p in Port::BOTH {
        let n = p.name();
        v.push((format!("{n}_mdio_o"), 1, format!("{n}_mdio_buf$write_data")));
        v.push((format!("{n}_mdio_oe"), 1, format!("{n}_mdio_buf$write_enable")));
        v.push((format!("{n}_link"), 1, format!("{n}$link")));
        v.push((format!("{n}_speed_10"), 1, format!("{n}$speed_10")));
    }
    v
}

/// The board top's generated Verilog (from a fresh block) for Verilator: `module top`
/// gets output ports for each port's link and speed, and its MDIO pins
/// (three-state: Verilator's top-level inout needs the enables split out) become the
/// line in (`net_mdio`, what the PHY side leaves it at) and the master's drive out
/// (`net_mdio_o`/`net_mdio_oe`); the master reads its own drive while it drives, the
/// line otherwise, as `TristateBuffer` does in rust-hdl (`tools::verilog`'s
/// `inout_as_input` and `add_outputs`). Nothing else changes.
pub fn verilator_design<const N: usize>() -> Result<Design> {
    let mut fresh = CuEthBoard::<N>::with_options(CLOCKS_PER_BIT, BUILD_ID, MDIO_INTERVAL);
    let mut verilog = portshare_tools::flow::top_verilog(&mut fresh, "top")?;
    for p in Port::BOTH {
        let n = p.name();
        verilog = inout_as_input(&verilog, &format!("{n}_mdio"), &format!("{n}_mdio_buf"))
            .map_err(|e| anyhow::anyhow!("the board top's {n}_mdio (has rust-hdl's output changed?): {e}"))?;
    }
    let verilog = add_outputs(&verilog, &added_ports()).map_err(|e| anyhow::anyhow!("the board top's probes: {e}"))?;
    let mut ports = parse_top_ports(&verilog).map_err(|e| anyhow::anyhow!("the board top's ports: {e}"))?;
    for p in &mut ports {
        p.is_clock = ["clock", "net_ref_clk", "srv_ref_clk"].contains(&p.name.as_str());
    }
    Ok(Design { verilog, ports, clock: "clock".into(), stream: None, cells: None })
}

/// The build id the bench's board reports.
pub const BUILD_ID: u32 = 1;

impl VerilatorPins {
    fn new<const N: usize>() -> Result<Self> {
        let lib = Library::get(&verilator_design::<N>()?).context(crate::verilator::NEEDS)?;
        let mut model = lib.instance();
        let port = |n: &str| model.port(n).with_context(|| format!("the board top's Verilog has no port {n}"));
        let idx = |p: Port| -> Result<PortIdx> {
            let n = p.name();
            Ok(PortIdx {
                crs_dv: port(&format!("{n}_crs_dv"))?,
                rxd: port(&format!("{n}_rxd"))?,
                mdio: port(&format!("{n}_mdio"))?,
                tx_en: port(&format!("{n}_tx_en"))?,
                txd: port(&format!("{n}_txd"))?,
                mdc: port(&format!("{n}_mdc"))?,
                mdio_o: port(&format!("{n}_mdio_o"))?,
                mdio_oe: port(&format!("{n}_mdio_oe"))?,
                link: port(&format!("{n}_link"))?,
                speed_10: port(&format!("{n}_speed_10"))?,
            })
        };
        let ports = [idx(Port::Net)?, idx(Port::Srv)?];
        let clock = [port("clock")?, port("net_ref_clk")?, port("srv_ref_clk")?];
        let (usb_rx, usb_tx, reset_n) = (port("usb_rx")?, port("usb_tx")?, port("reset_n")?);
        model.set_u64(reset_n, 1);
        model.set_u64(usb_rx, 1);
        for p in &ports {
            model.set_u64(p.mdio, 1);
        }
        model.settle();
        Ok(VerilatorPins { model, clock, usb_rx, usb_tx, ports })
    }
}

impl Pins for VerilatorPins {
    fn clocks(&mut self, core: bool, net: bool, srv: bool) {
        for (i, v) in self.clock.into_iter().zip([core, net, srv]) {
            self.model.set_u64(i, v as u64);
        }
    }
    fn usb_rx(&mut self, level: bool) {
        self.model.set_u64(self.usb_rx, level as u64);
    }
    fn rx(&mut self, p: Port, crs_dv: bool, rxd: u8) {
        let (c, d) = (self.ports[p.i()].crs_dv, self.ports[p.i()].rxd);
        self.model.set_u64(c, crs_dv as u64);
        self.model.set_u64(d, rxd as u64);
    }
    fn mdio(&mut self, p: Port, line: bool) {
        self.model.set_u64(self.ports[p.i()].mdio, line as u64);
    }
    fn settle(&mut self) {
        self.model.settle();
    }
    fn usb_tx(&mut self) -> bool {
        self.model.get_u64(self.usb_tx) == 1
    }
    fn out(&mut self, p: Port) -> PortOut {
        let x = &self.ports[p.i()];
        let m = &mut self.model;
        PortOut {
            tx_en: m.get_u64(x.tx_en) == 1,
            txd: m.get_u64(x.txd) as u8,
            mdc: m.get_u64(x.mdc) == 1,
            mdio_o: m.get_u64(x.mdio_o) == 1,
            mdio_oe: m.get_u64(x.mdio_oe) == 1,
        }
    }
    fn link(&mut self, p: Port) -> Link {
        let x = &self.ports[p.i()];
        let m = &mut self.model;
        Link { link: m.get_u64(x.link) == 1, speed_10: m.get_u64(x.speed_10) == 1 }
    }
}

/// How the bench is set up.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    pub engine: EngineKind,
    /// Table capacity of the design: 16 or 64.
    pub capacity: usize,
    /// Each REF_CLK's offset from 50 MHz (network port's, server port's).
    pub ppm: [f64; 2],
    /// The link speed each PHY negotiated (its MDIO registers say so; its RMII pins run
    /// at it).
    pub speed: [Speed; 2],
    /// Each PHY's negotiated duplex (its MDIO registers say so).
    pub full_duplex: [bool; 2],
    /// Record every port's TX pins and `usb_tx` at every edge (for comparing engines).
    pub trace: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { engine: EngineKind::Verilator, capacity: 16, ppm: [50.0, -50.0], speed: [Speed::Mbps100; 2], full_duplex: [true; 2], trace: false }
    }
}

/// One port's surroundings: the PHY's receive pins queued, its transmit decoder, its
/// MDIO registers, and when each frame's first bit went in and came out.
struct PortSim {
    phy: PhyRx,
    /// (CRS_DV, RXD, a frame's first preamble dibit) per REF_CLK cycle.
    rx: VecDeque<(bool, u8, bool)>,
    tx: TxDecoder,
    mdio: MdioPhy,
    tx_en: bool,
    /// Simulated ns at which each frame's first preamble dibit was on RXD.
    rx_starts: Vec<f64>,
    /// Simulated ns at which TX_EN rose for each frame.
    tx_starts: Vec<f64>,
}

/// The board at its pins with everything around it.
pub struct EthBench {
    pins: Box<dyn Pins>,
    pub options: BenchOptions,
    /// Half periods and next edge (ns) of the core clock and both REF_CLKs.
    half: [f64; 3],
    next: [f64; 3],
    level: [bool; 3],
    now_ns: f64,
    pub core_clocks: u64,
    /// Rising edges of each REF_CLK.
    pub ref_clocks: [u64; 2],
    ports: [PortSim; 2],
    uart: SoftUart,
    slip: SlipDecoder,
    seq: u8,
    /// Replies that came over the UART, in order (bad CRCs and escapes are errors).
    pub replies: Vec<std::result::Result<Reply, String>>,
    /// With `trace`: per edge, every output that matters packed into a word.
    pub trace: Vec<u16>,
    /// With [`Self::keep_usb_bytes`]: the bytes off `usb_tx` not yet taken by
    /// [`Self::core_clock`] (a host transport reads them raw).
    usb_bytes: Option<VecDeque<u8>>,
}

impl EthBench {
    pub fn new(options: BenchOptions) -> Result<EthBench> {
        let pins: Box<dyn Pins> = match (options.engine, options.capacity) {
            (EngineKind::Rtl, 16) => Box::new(RtlPins::<16>::new()),
            (EngineKind::Rtl, 64) => Box::new(RtlPins::<64>::new()),
            (EngineKind::Verilator, 16) => Box::new(VerilatorPins::new::<16>()?),
            (EngineKind::Verilator, 64) => Box::new(VerilatorPins::new::<64>()?),
            (EngineKind::Rtl | EngineKind::Verilator, n) => bail!("the Ethernet board is simulated with 16 or 64 entries, not {n}"),
            (e, _) => bail!("the Ethernet board runs on the verilator or rtl engine, not {e}"),
        };
        let half = [CORE_NS / 2.0, ref_clk_ns(options.ppm[0]) / 2.0, ref_clk_ns(options.ppm[1]) / 2.0];
        // The REF_CLKs start a third and two thirds of their period late, so no edges
        // line up at the start.
        let next = [half[0], half[1] * (1.0 + 2.0 / 3.0), half[2] * (1.0 + 4.0 / 3.0)];
        let port = |i: usize| {
            let speed = options.speed[i];
            PortSim {
                phy: PhyRx { speed },
                rx: VecDeque::new(),
                tx: TxDecoder::new(speed),
                mdio: MdioPhy::new(1, lan8720(true, speed == Speed::Mbps10, options.full_duplex[i]), CORE_NS),
                tx_en: false,
                rx_starts: Vec::new(),
                tx_starts: Vec::new(),
            }
        };
        let mut b = EthBench {
            pins,
            options,
            half,
            next,
            level: [false; 3],
            now_ns: 0.0,
            core_clocks: 0,
            ref_clocks: [0; 2],
            ports: [port(0), port(1)],
            uart: SoftUart::new(CLOCKS_PER_BIT),
            slip: SlipDecoder::new(),
            seq: 0,
            replies: Vec::new(),
            trace: Vec::new(),
            usb_bytes: None,
        };
        // Past the power-on reset (16 clocks) before anything comes in.
        b.run_clocks(64);
        Ok(b)
    }

    /// Simulated time since the start.
    pub fn now_ns(&self) -> f64 {
        self.now_ns
    }

    /// Queues `events` on `port`'s receive pins, after whatever is queued.
    pub fn feed(&mut self, port: Port, events: &[RxEvent]) {
        let p = &mut self.ports[port.i()];
        for e in events {
            let pins = p.phy.pins(std::slice::from_ref(e));
            let first = match e {
                RxEvent::Frame(_, a) => Some(a.early * p.phy.speed.hold()),
                _ => None,
            };
            p.rx.extend(pins.into_iter().enumerate().map(|(i, (c, d))| (c, d, Some(i) == first)));
        }
    }

    /// Queues a request on the USB UART pins (without waiting: the control block takes
    /// one request at a time, so a second one sent before the first's reply is BUSY).
    pub fn request(&mut self, r: &Request) {
        self.seq = self.seq.wrapping_add(1);
        self.uart.queue.extend(r.encode(self.seq));
    }

    /// Sends `r` over the UART and runs until its reply is back (everything else
    /// carries on meanwhile).
    pub fn transact(&mut self, r: &Request, max_core_clocks: u64) -> Result<Reply> {
        let n = self.replies.len();
        self.request(r);
        let limit = self.core_clocks + max_core_clocks;
        while self.replies.len() == n {
            if self.core_clocks >= limit {
                bail!("no reply to {r:?} within {max_core_clocks} core clocks");
            }
            self.step();
        }
        let reply = self.replies[n].clone().map_err(|e| anyhow::anyhow!("the reply to {r:?}: {e}"))?;
        if reply.seq != self.seq {
            bail!("the reply to {r:?} has sequence {}, not {}", reply.seq, self.seq);
        }
        Ok(reply)
    }

    /// Writes `slots` to entries 0.. over the UART, one request at a time.
    pub fn write_table(&mut self, slots: &[Slot]) -> Result<()> {
        for (i, s) in slots.iter().enumerate() {
            let r = self.transact(&Request::WriteEntry { index: i as u8, record: s.to_record() }, 100_000)?;
            if r.status != portshare_host::protocol::STATUS_OK {
                bail!("writing entry {i}: status {:#04x}", r.status);
            }
        }
        Ok(())
    }

    /// What left `port`'s TX pins, decoded.
    pub fn sent(&self, port: Port) -> &[std::result::Result<TxFrame, TxError>] {
        &self.ports[port.i()].tx.frames
    }

    /// When each frame entered `port` and when each left it (ns).
    pub fn starts(&self, port: Port) -> (&[f64], &[f64]) {
        let p = &self.ports[port.i()];
        (&p.rx_starts, &p.tx_starts)
    }

    /// The MDIO PHY model of `port` (reads seen, timing, contention).
    pub fn mdio(&self, port: Port) -> &MdioPhy {
        &self.ports[port.i()].mdio
    }

    /// The counters (READ_PORT over the UART, everything else carrying on meanwhile)
    /// and the link state the design holds for `port`. The bench's own look: its reply
    /// is not kept in `replies`.
    pub fn status(&mut self, port: Port) -> PortStatus {
        let n = self.replies.len();
        let reply = self.transact(&Request::ReadPort { port: port.i() as u8 }, 200_000).expect("READ_PORT over the UART");
        self.replies.truncate(n);
        assert_eq!(reply.status, portshare_host::protocol::STATUS_OK, "READ_PORT {}", port.name());
        let p = portshare_host::protocol::PortStatus::from_payload(&reply.payload).expect("READ_PORT's reply");
        let Link { link, speed_10 } = self.pins.link(port);
        PortStatus { counters: p.counters().map(u64::from), link, speed_10 }
    }

    /// RX dibits still queued for `port`.
    pub fn rx_pending(&self, port: Port) -> usize {
        self.ports[port.i()].rx.len()
    }

    /// Advances to the next edge of any clock: clocks set and the design settled, then
    /// on each rising edge the TX pins sampled and the next inputs applied (a PHY
    /// changes RXD after REF_CLK's rising edge, the MAC samples at the next one).
    pub fn step(&mut self) {
        let t = self.next.iter().copied().fold(f64::INFINITY, f64::min);
        let mut rise = [false; 3];
        for i in 0..3 {
            if self.next[i] - t < 1e-6 {
                self.level[i] = !self.level[i];
                rise[i] = self.level[i];
                self.next[i] += self.half[i];
            }
        }
        self.now_ns = t;
        let pins = &mut self.pins;
        pins.clocks(self.level[0], self.level[1], self.level[2]);
        pins.settle();
        for port in Port::BOTH {
            if !rise[1 + port.i()] {
                continue;
            }
            self.ref_clocks[port.i()] += 1;
            let o = pins.out(port);
            let p = &mut self.ports[port.i()];
            p.tx.push(o.tx_en, o.txd);
            if o.tx_en && !p.tx_en {
                p.tx_starts.push(t);
            }
            p.tx_en = o.tx_en;
            let (crs, rxd, first) = p.rx.pop_front().unwrap_or((false, 0, false));
            if first {
                p.rx_starts.push(t);
            }
            pins.rx(port, crs, rxd);
        }
        if rise[0] {
            self.core_clocks += 1;
            let tx = pins.usb_tx();
            if let Some(b) = self.uart.line_in(tx) {
                if let Some(q) = &mut self.usb_bytes {
                    q.push_back(b);
                }
                for d in self.slip.push(&[b]) {
                    self.replies.push(match d {
                        Deframed::Packet(body) => Reply::decode(&body).map_err(|e| e.to_string()),
                        Deframed::BadEscape(_) => Err("a bad SLIP escape".into()),
                    });
                }
            }
            pins.usb_rx(self.uart.line_out());
            for port in Port::BOTH {
                let o = pins.out(port);
                let line = self.ports[port.i()].mdio.step(o.mdc, o.mdio_o, o.mdio_oe);
                pins.mdio(port, line);
            }
        }
        pins.settle();
        if self.options.trace {
            let mut w = pins.usb_tx() as u16;
            for port in Port::BOTH {
                let o = pins.out(port);
                let bits = o.tx_en as u16 | (o.txd as u16) << 1 | (o.mdc as u16) << 3 | (o.mdio_oe as u16) << 4 | (o.mdio_o as u16) << 5;
                w |= bits << (1 + 6 * port.i());
            }
            self.trace.push(w);
        }
    }

    /// Whether anything is still to go in or out.
    fn busy(&self) -> bool {
        self.uart.sending() || self.slip.in_packet() || self.ports.iter().any(|p| !p.rx.is_empty() || p.tx.busy() || p.tx_en)
    }

    /// Runs `n` core clocks.
    pub fn run_clocks(&mut self, n: u64) {
        let end = self.core_clocks + n;
        while self.core_clocks < end {
            self.step();
        }
    }

    /// Runs until nothing has moved for `quiet` core clocks; an error after
    /// `max_core_clocks` still busy.
    pub fn run_until_quiet(&mut self, quiet: u64, max_core_clocks: u64) -> Result<()> {
        let limit = self.core_clocks + max_core_clocks;
        let mut last_busy = self.core_clocks;
        while self.core_clocks < limit {
            self.step();
            if self.busy() {
                last_busy = self.core_clocks;
            } else if self.core_clocks - last_busy >= quiet {
                return Ok(());
            }
        }
        bail!("the Ethernet board was still busy after {max_core_clocks} core clocks")
    }

    /// [`Self::run_until_quiet`] with [`QUIET_CLOCKS`].
    pub fn run_until_idle(&mut self, max_core_clocks: u64) -> Result<()> {
        self.run_until_quiet(QUIET_CLOCKS, max_core_clocks)
    }

    /// Runs until both ports have read their PHY's link up (and speed) over MDIO.
    pub fn wait_for_links(&mut self, max_core_clocks: u64) -> Result<()> {
        let limit = self.core_clocks + max_core_clocks;
        while self.core_clocks < limit {
            self.run_clocks(256);
            let ok = Port::BOTH.iter().all(|&p| {
                let s = self.pins.link(p);
                s.link && s.speed_10 == (self.options.speed[p.i()] == Speed::Mbps10)
            });
            if ok {
                // The MACs' speed crosses into REF_CLK through a synchronizer.
                self.run_clocks(16);
                return Ok(());
            }
        }
        bail!("no link over MDIO after {max_core_clocks} core clocks")
    }
}

/// The bench as a host's byte transport sees it (`board::SimBoard::ethernet`): raw
/// bytes on the USB UART, one core clock at a time, and captures played into the ports.
impl EthBench {
    /// From now on also keeps the raw bytes off `usb_tx` for [`Self::core_clock`].
    pub fn keep_usb_bytes(&mut self) {
        self.usb_bytes.get_or_insert_with(VecDeque::new);
    }

    /// Queues raw bytes (a host's framed requests) on the USB UART's `usb_rx` pin.
    pub fn send_usb(&mut self, bytes: &[u8]) {
        self.uart.queue.extend(bytes);
    }

    /// True while bytes given to [`Self::send_usb`] have not all left the UART.
    pub fn usb_sending(&self) -> bool {
        self.uart.sending()
    }

    /// Runs to the next core clock's rising edge; a byte `usb_tx` finished, if any
    /// (with [`Self::keep_usb_bytes`]).
    pub fn core_clock(&mut self) -> Option<u8> {
        let end = self.core_clocks + 1;
        while self.core_clocks < end {
            self.step();
        }
        self.usb_bytes.as_mut().and_then(|q| q.pop_front())
    }

    /// Plays `frames[0]` into the network port's RX pins and `frames[1]` into the
    /// server port's, both at once, each port's frames back to back at the minimum gap
    /// (line rate) with a good FCS and a whole preamble (empty frames are skipped), and
    /// runs until nothing moves. The counters then count them.
    pub fn play(&mut self, frames: [&[Vec<u8>]; 2]) -> Result<()> {
        use crate::phy::rmii::{Arrival, GAP_DIBITS};
        // Paced by the slower port (a frame may leave by it).
        let hold = self.options.speed.iter().map(|s| s.hold()).max().unwrap_or(1) as u64;
        let mut clocks = 0;
        for (port, fs) in Port::BOTH.into_iter().zip(frames) {
            let mut wire = 0;
            for f in fs.iter().filter(|f| !f.is_empty()) {
                self.feed(port, &[RxEvent::Frame(f.clone(), Arrival::default()), RxEvent::Idle(GAP_DIBITS)]);
                // Dibits on the wire (preamble, frame, FCS, gap), two core clocks a dibit at 100 Mb/s.
                wire += 4 * (f.len() as u64 + 24) * hold * 2;
            }
            clocks = u64::max(clocks, wire);
        }
        // Egress may be the slower port: time for everything twice over, plus a margin.
        self.run_until_idle(4 * clocks + 1_000_000)
    }
}

/// What a capture's run through the pins gave (`portshare sim --at rmii`).
pub struct PinsRun {
    /// Per input frame, what left the other port without its FCS (`None`: the board
    /// dropped it; empty frames are not sent and come back empty).
    pub frames: Vec<Option<Vec<u8>>>,
    /// Frames that left with an FCS other than docs/semantics.md §3a's (the input's
    /// are all good): a full-size frame stomped, or a runt with a good one. Never.
    pub bad_fcs: usize,
    /// Runts (under 64 bytes with their FCS, e.g. a capture's unpadded frames) that
    /// left stomped, as §3a says they must.
    pub stomped_runts: usize,
    pub net: PortStatus,
    pub srv: PortStatus,
    /// First bit in (the preamble's first dibit on RXD) to first bit out (TX_EN up),
    /// per carried frame, ns.
    pub latency_ns: Vec<f64>,
    /// Frames per second entering and leaving, from the first frame's start to the
    /// last one's (0 with fewer than two).
    pub ingress_fps: f64,
    pub egress_fps: f64,
    pub core_clocks: u64,
    pub sim_ns: f64,
    pub wall: std::time::Duration,
}

/// `frames` into `direction`'s ingress port (incoming: the network port) at `load`
/// percent of the line rate (100: back to back at the minimum gap), decoded from the
/// other port's TX pins, with `slots` written to the table over the UART first.
pub fn run_capture(options: BenchOptions, slots: &[Slot], frames: &[Vec<u8>], direction: portshare_host::Direction, load: u32) -> Result<PinsRun> {
    use crate::phy::rmii::{Arrival, Fcs, GAP_DIBITS};
    if !(1..=100).contains(&load) {
        bail!("the load is a percentage of the line rate, 1 to 100, not {load}");
    }
    if slots.len() > options.capacity {
        bail!("{} table entries do not fit a {}-entry design", slots.len(), options.capacity);
    }
    let started = std::time::Instant::now();
    let mut b = EthBench::new(options)?;
    b.write_table(slots)?;
    let (from, to) = match direction {
        portshare_host::Direction::Incoming => (Port::Net, Port::Srv),
        portshare_host::Direction::Outgoing => (Port::Srv, Port::Net),
    };
    let hold = options.speed[from.i()].hold() as u64;
    let mut sent_frames = Vec::new();
    for f in frames.iter().filter(|f| !f.is_empty()) {
        // Dibits on the wire (preamble, frame, FCS), then the gap that makes the load.
        let wire = 4 * (f.len() as u64 + 12);
        let idle = (GAP_DIBITS as u64 + wire) * 100 / load as u64 - wire;
        b.feed(from, &[RxEvent::Frame(f.clone(), Arrival::default()), RxEvent::Idle(idle as usize)]);
        sent_frames.push(f);
    }
    // Time enough for every frame at the slower port's speed, with a margin.
    let wire_clocks: u64 = sent_frames.iter().map(|f| 4 * (f.len() as u64 + 24) * hold * 2 * 100 / load as u64).sum();
    b.run_until_idle(wire_clocks * 4 + 1_000_000)?;
    let mut out = Vec::new();
    let (mut bad_fcs, mut stomped_runts) = (0, 0);
    for (i, f) in b.sent(to).iter().enumerate() {
        let f = f.as_ref().map_err(|e| anyhow::anyhow!("frame {} out of the {} port could not be decoded: {e}", i + 1, to.name()))?;
        // Every input frame's FCS is good; a runt leaves stomped (docs/semantics.md §3a).
        let runt = f.bytes.len() + 4 < 64;
        match (runt, f.fcs == Fcs::Good) {
            (false, true) => {}
            (true, false) => stomped_runts += 1,
            _ => bad_fcs += 1,
        }
        out.push(f.bytes.clone());
    }
    let net = b.status(Port::Net);
    let srv = b.status(Port::Srv);
    let (rx_starts, _) = b.starts(from);
    let (_, tx_starts) = b.starts(to);
    // Which input each output is: in order; when some were dropped, the next input
    // whose model output it is (the table the board holds, so a difference from the
    // model shows as a mismatch, not a drop, when nothing was dropped).
    let dropped_total = net.get("dropped") + srv.get("dropped");
    let mut result = vec![None; frames.len()];
    let mut latency = Vec::new();
    let nonempty: Vec<usize> = (0..frames.len()).filter(|&i| !frames[i].is_empty()).collect();
    for (r, f) in result.iter_mut().zip(frames) {
        if f.is_empty() {
            *r = Some(Vec::new());
        }
    }
    if out.len() == nonempty.len() || dropped_total == 0 {
        for (k, (&i, o)) in nonempty.iter().zip(&out).enumerate() {
            result[i] = Some(o.clone());
            latency.push(tx_starts[k] - rx_starts[k]);
        }
    } else {
        let mut k = 0;
        for (n, &i) in nonempty.iter().enumerate() {
            if k < out.len() && out[k] == crate::model::process_frame(&frames[i], direction, slots).frame {
                result[i] = Some(out[k].clone());
                latency.push(tx_starts[k] - rx_starts[n]);
                k += 1;
            }
        }
    }
    let fps = |t: &[f64]| if t.len() < 2 { 0.0 } else { (t.len() - 1) as f64 * 1e9 / (t[t.len() - 1] - t[0]) };
    Ok(PinsRun {
        frames: result,
        bad_fcs,
        stomped_runts,
        net,
        srv,
        latency_ns: latency,
        ingress_fps: fps(rx_starts),
        egress_fps: fps(tx_starts),
        core_clocks: b.core_clocks,
        sim_ns: b.now_ns(),
        wall: started.elapsed(),
    })
}
