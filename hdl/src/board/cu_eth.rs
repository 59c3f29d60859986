//! The Alchitry Cu as a bump in the wire: two RMII ports (LAN8720 modules on the Br
//! breakout: `net_*` toward the network on header A, `srv_*` toward the server on header
//! B), the pipeline between them, and the USB control plane of [`super::CuBoard`]
//! unchanged beside them.
//!
//! ```text
//!  net RX ─► EthPort(net).ingress ─┐                      ┌─► EthPort(srv).egress ─► srv TX   (incoming)
//!                                  ├─► Core (pipeline) ───┤
//!  srv RX ─► EthPort(srv).ingress ─┘   ▲ USB inject       └─► EthPort(net).egress ─► net TX   (outgoing)
//! ```
//!
//! The arbiter here takes one whole frame at a time from a port's ingress buffer into
//! the core (ports in turn when both have one), but only a frame that fits the other
//! port's egress buffer whole (`out_free` > its length, a descriptor free; or the
//! egress empty, for a frame longer than it, up to the ingress's 2 048 bytes): a slow or
//! busy egress (a 10 Mb/s port) then never holds the pipeline back — the other
//! direction is served meanwhile — and its own ingress drops whole frames, counted,
//! when it overflows. The egress lets a frame out once 64 bytes are in (cut-through),
//! so the wire does not idle while the pipeline copies it. The fit is decided one clock
//! ahead from registers (`net_go`/`srv_go`), not in the start decision's path (the core
//! clock must reach 100 MHz); the arbiter waits two clocks after a frame (`settled`,
//! `settled_2`: the egress writes a byte the clock after it is given) so that decision
//! sees that frame's last byte in the egress. The frame's direction is
//! its ingress port's, its stomp flag its ingress FCS's. One table (the core's) serves
//! both directions; one [`PortCounters`] (one block RAM) keeps both ports' counters and
//! answers READ_PORT's counter words, the ports' own registers its status word.
//! README, "Ethernet board", has the pins, the figures and why the pipeline is shared
//! this way.
//!
//! | pin | ball (Br header) | |
//! |-----|-----|-|
//! | `net_ref_clk` | G1 (A8, global buffer) | network module's 50 MHz REF_CLK |
//! | `net_crs_dv`, `net_rxd[0]`, `net_rxd[1]` | M1 (A2), L1 (A3), J1 (A5) | |
//! | `net_tx_en`, `net_txd[0]`, `net_txd[1]` | J3 (A6), G3 (A9), E1 (A11) | |
//! | `net_mdc`, `net_mdio` | D1 (A12), C1 (A14) | |
//! | `srv_ref_clk` | F14 (B20, global buffer) | server module's 50 MHz REF_CLK |
//! | `srv_crs_dv`, `srv_rxd[0]`, `srv_rxd[1]` | B14 (B12), C14 (B14), D14 (B15) | |
//! | `srv_tx_en`, `srv_txd[0]`, `srv_txd[1]` | E14 (B17), E12 (B18), H12 (B23) | |
//! | `srv_mdc`, `srv_mdio` | J12 (B24), H11 (B27) | |
//! | LEDs J11..N14 | | heartbeat, net link, net activity, srv link, srv activity, USB, error/drop, reset |
//!
//! `clock`, `reset_n`, `usb_rx`, `usb_tx` as on the Cu board. The checked-in
//! `constraints/alchitry-cu-eth.pcf` is what `generate_pcf` makes of this top.

use super::status::BoardStatus;
use super::{pin, Core};
use crate::ctrl::control::default_build_id;
use crate::ctrl::uart::{UartRx, UartTx, CLOCKS_PER_BIT_4MBAUD};
use crate::eth::mdio::{MdioMaster, POLL_INTERVAL};
use crate::eth::port::EthPort;
use crate::eth::port_counters::{PortCounters, COUNTERS, TOTAL};
use rust_hdl::prelude::*;
use rust_hdl::widgets::prelude::TristateBuffer;

/// The balls of one port: REF_CLK, CRS_DV, RXD0, RXD1, TX_EN, TXD0, TXD1, MDC, MDIO.
pub const NET_BALLS: [&str; 9] = ["G1", "M1", "L1", "J1", "J3", "G3", "E1", "D1", "C1"];
pub const SRV_BALLS: [&str; 9] = ["F14", "B14", "C14", "D14", "E14", "E12", "H12", "J12", "H11"];

#[derive(LogicBlock)]
pub struct CuEthBoard<const N: usize> {
    pub clock: Signal<In, Clock>,
    pub reset_n: Signal<In, Bit>,
    pub usb_rx: Signal<In, Bit>,
    pub usb_tx: Signal<Out, Bit>,
    pub net_ref_clk: Signal<In, Clock>,
    pub net_crs_dv: Signal<In, Bit>,
    pub net_rxd: Signal<In, Bits<2>>,
    pub net_tx_en: Signal<Out, Bit>,
    pub net_txd: Signal<Out, Bits<2>>,
    pub net_mdc: Signal<Out, Bit>,
    pub net_mdio: Signal<InOut, Bit>,
    pub srv_ref_clk: Signal<In, Clock>,
    pub srv_crs_dv: Signal<In, Bit>,
    pub srv_rxd: Signal<In, Bits<2>>,
    pub srv_tx_en: Signal<Out, Bit>,
    pub srv_txd: Signal<Out, Bits<2>>,
    pub srv_mdc: Signal<Out, Bit>,
    pub srv_mdio: Signal<InOut, Bit>,
    pub led_heartbeat: Signal<Out, Bit>,
    pub led_net_link: Signal<Out, Bit>,
    pub led_net_activity: Signal<Out, Bit>,
    pub led_srv_link: Signal<Out, Bit>,
    pub led_srv_activity: Signal<Out, Bit>,
    pub led_usb: Signal<Out, Bit>,
    pub led_error: Signal<Out, Bit>,
    pub led_reset: Signal<Out, Bit>,
    pub uart_rx: UartRx,
    pub uart_tx: UartTx,
    pub core: Core<N>,
    pub net: EthPort,
    pub srv: EthPort,
    /// Both ports' counters: the network port's first, then the server port's.
    pub counters: PortCounters,
    /// Both PHYs' MDIO master (`mdio.phy`: 0 the network port's, 1 the server's).
    pub mdio: MdioMaster,
    /// The MDIO pins' three-state buffers (what each pin is driven with, and when).
    pub net_mdio_buf: TristateBuffer<Bit>,
    pub srv_mdio_buf: TristateBuffer<Bit>,
    /// What each MDIO pin reads.
    net_mdio_i: Signal<Local, Bit>,
    srv_mdio_i: Signal<Local, Bit>,
    status: BoardStatus,
    /// A frame is being carried (from its ingress port until it is out of the core).
    active: DFF<Bit>,
    /// It is the server port's (outgoing); else the network port's.
    from_srv: DFF<Bit>,
    stomp: DFF<Bit>,
    /// The port served last, for turns.
    last_srv: DFF<Bit>,
    /// READ_PORT's answer is due (a clock after the block's `done`; the value is from
    /// registers that hold until the next read, so it needs no register of its own).
    port_done: DFF<Bit>,
    /// The word asked for is a status word (else a counter), whose port, and its answer
    /// is due.
    status_sel: DFF<Bit>,
    status_srv: DFF<Bit>,
    status_done: DFF<Bit>,
    /// The server port's first counter's index in `counters` (and its events' place).
    c_srv_first: Constant<Bits<5>>,
    c_srv_shift: Constant<Bits<8>>,
    /// Last clock: the port had a frame whose length fits the other port's egress.
    net_go: DFF<Bit>,
    srv_go: DFF<Bit>,
    /// No frame was carried last clock either, nor the clock before.
    settled: DFF<Bit>,
    settled_2: DFF<Bit>,
    net_ok: Signal<Local, Bit>,
    srv_ok: Signal<Local, Bit>,
}

fn port_pins<const W: usize>(balls: &[&str]) -> Signal<In, Bits<W>> {
    let mut s = Signal::default();
    for (i, b) in balls.iter().enumerate() {
        s.add_location(i, b);
    }
    s
}

fn port_outs<const W: usize>(balls: &[&str]) -> Signal<Out, Bits<W>> {
    let mut s = Signal::default();
    for (i, b) in balls.iter().enumerate() {
        s.add_location(i, b);
    }
    s
}

fn clock_pin(ball: &str) -> Signal<In, Clock> {
    let mut s = Signal::default();
    s.add_location(0, ball);
    s
}

impl<const N: usize> CuEthBoard<N> {
    /// The board at 4 Mbaud, MDIO polled every 10 ms: what the bitstream flow builds.
    pub fn new() -> Self {
        Self::with_options(CLOCKS_PER_BIT_4MBAUD, default_build_id(), POLL_INTERVAL)
    }

    /// `mdio_interval`: core clocks between MDIO polls (simulations poll more often).
    pub fn with_options(clocks_per_bit: u16, build_id: u32, mdio_interval: u64) -> Self {
        let (n, s) = (NET_BALLS, SRV_BALLS);
        Self {
            clock: rust_hdl_bsp_alchitry_cu::pins::clock(),
            reset_n: pin("P8"),
            usb_rx: pin("P14"),
            usb_tx: pin("M9"),
            net_ref_clk: clock_pin(n[0]),
            net_crs_dv: pin(n[1]),
            net_rxd: port_pins(&n[2..4]),
            net_tx_en: pin(n[4]),
            net_txd: port_outs(&n[5..7]),
            net_mdc: pin(n[7]),
            net_mdio: pin(n[8]),
            srv_ref_clk: clock_pin(s[0]),
            srv_crs_dv: pin(s[1]),
            srv_rxd: port_pins(&s[2..4]),
            srv_tx_en: pin(s[4]),
            srv_txd: port_outs(&s[5..7]),
            srv_mdc: pin(s[7]),
            srv_mdio: pin(s[8]),
            led_heartbeat: pin("J11"),
            led_net_link: pin("K11"),
            led_net_activity: pin("K12"),
            led_srv_link: pin("K14"),
            led_srv_activity: pin("L12"),
            led_usb: pin("L14"),
            led_error: pin("M12"),
            led_reset: pin("N14"),
            uart_rx: UartRx::new(clocks_per_bit),
            uart_tx: UartTx::new(clocks_per_bit),
            core: Core::new(build_id),
            net: Default::default(),
            srv: Default::default(),
            counters: Default::default(),
            mdio: MdioMaster::new(mdio_interval),
            net_mdio_buf: Default::default(),
            srv_mdio_buf: Default::default(),
            net_mdio_i: Default::default(),
            srv_mdio_i: Default::default(),
            status: Default::default(),
            active: Default::default(),
            from_srv: Default::default(),
            stomp: Default::default(),
            last_srv: Default::default(),
            port_done: Default::default(),
            status_sel: Default::default(),
            status_srv: Default::default(),
            status_done: Default::default(),
            c_srv_first: Constant::new((COUNTERS as u64).into()),
            c_srv_shift: Constant::new((COUNTERS as u64).into()),
            net_go: Default::default(),
            srv_go: Default::default(),
            settled: Default::default(),
            settled_2: Default::default(),
            net_ok: Default::default(),
            srv_ok: Default::default(),
        }
    }
}

impl<const N: usize> Default for CuEthBoard<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Logic for CuEthBoard<N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, active, from_srv, stomp, last_srv, port_done, status_sel, status_srv, status_done, net_go, srv_go, settled, settled_2);
        clock!(self, clock, uart_rx, uart_tx, core, net, srv, counters, status, mdio);
        self.net.ref_clk.next = self.net_ref_clk.val();
        self.srv.ref_clk.next = self.srv_ref_clk.val();
        self.status.reset_n.next = self.reset_n.val();

        // USB control plane, as on the Cu board.
        self.uart_rx.reset.next = self.status.reset.val();
        self.uart_rx.rx.next = self.usb_rx.val();
        self.uart_tx.reset.next = self.status.reset.val();
        self.usb_tx.next = self.uart_tx.tx.val();
        self.core.reset.next = self.status.reset.val();
        self.core.rx_data.next = self.uart_rx.data.val();
        self.core.rx_valid.next = self.uart_rx.valid.val();
        self.core.rx_error.next = self.uart_rx.frame_error.val();
        self.uart_tx.data.next = self.core.tx_data.val();
        self.uart_tx.valid.next = self.core.tx_valid.val();
        self.core.tx_ready.next = self.uart_tx.ready.val();

        // Pins.
        self.net.reset.next = self.status.reset.val();
        self.net.crs_dv.next = self.net_crs_dv.val();
        self.net.rxd.next = self.net_rxd.val();
        self.net_tx_en.next = self.net.tx_en.val();
        self.net_txd.next = self.net.txd.val();
        self.srv.reset.next = self.status.reset.val();
        self.srv.crs_dv.next = self.srv_crs_dv.val();
        self.srv.rxd.next = self.srv_rxd.val();
        self.srv_tx_en.next = self.srv.tx_en.val();
        self.srv_txd.next = self.srv.txd.val();

        // MDIO: one master, its lines on the PHY it polls (the other's MDC stays low,
        // its MDIO released); its results to that PHY's port.
        self.mdio.reset.next = self.status.reset.val();
        self.net_mdc.next = self.mdio.mdc.val() & !self.mdio.phy.val();
        self.srv_mdc.next = self.mdio.mdc.val() & self.mdio.phy.val();
        Signal::<InOut, Bit>::link(&mut self.net_mdio, &mut self.net_mdio_buf.bus);
        Signal::<InOut, Bit>::link(&mut self.srv_mdio, &mut self.srv_mdio_buf.bus);
        self.net_mdio_buf.write_enable.next = self.mdio.mdio_oe.val() & !self.mdio.phy.val();
        self.srv_mdio_buf.write_enable.next = self.mdio.mdio_oe.val() & self.mdio.phy.val();
        self.net_mdio_buf.write_data.next = self.mdio.mdio_o.val();
        self.srv_mdio_buf.write_data.next = self.mdio.mdio_o.val();
        self.net_mdio_i.next = self.net_mdio_buf.read_data.val();
        self.srv_mdio_i.next = self.srv_mdio_buf.read_data.val();
        self.mdio.mdio_i.next = self.net_mdio_i.val();
        if self.mdio.phy.val() {
            self.mdio.mdio_i.next = self.srv_mdio_i.val();
        }
        self.net.phy_updated.next = self.mdio.updated.val() & !self.mdio.phy.val();
        self.srv.phy_updated.next = self.mdio.updated.val() & self.mdio.phy.val();
        self.net.phy_link.next = self.mdio.link.val();
        self.srv.phy_link.next = self.mdio.link.val();
        self.net.phy_speed_10.next = self.mdio.speed_10.val();
        self.srv.phy_speed_10.next = self.mdio.speed_10.val();
        self.net.phy_full_duplex.next = self.mdio.full_duplex.val();
        self.srv.phy_full_duplex.next = self.mdio.full_duplex.val();
        self.net.phy_present.next = self.mdio.phy_present.val();
        self.srv.phy_present.next = self.mdio.phy_present.val();
        self.net.phy_bmsr.next = self.mdio.bmsr.val();
        self.srv.phy_bmsr.next = self.mdio.bmsr.val();

        // Arbiter: a whole frame whose egress has room for it (`>`: a byte to spare), or
        // any frame into an empty egress (one longer than the egress, up to the
        // ingress's 2 048 bytes, streams through it, holding the pipeline back only
        // until the wire frees room), ports in turn.
        self.net_go.d.next = self.net.in_valid.val()
            & (((self.srv.out_free.val() > self.net.in_len.val()) & !self.srv.out_full.val()) | self.srv.out_empty.val());
        self.srv_go.d.next = self.srv.in_valid.val()
            & (((self.net.out_free.val() > self.srv.in_len.val()) & !self.net.out_full.val()) | self.net.out_empty.val());
        self.settled.d.next = !self.active.q.val();
        self.settled_2.d.next = self.settled.q.val() & !self.active.q.val();
        self.net_ok.next = self.net_go.q.val() & self.net.in_valid.val();
        self.srv_ok.next = self.srv_go.q.val() & self.srv.in_valid.val();
        if !self.active.q.val() & self.settled_2.q.val() {
            if self.srv_ok.val() & (!self.net_ok.val() | !self.last_srv.q.val()) {
                self.active.d.next = true;
                self.from_srv.d.next = true;
                self.last_srv.d.next = true;
                self.stomp.d.next = self.srv.in_fcs_bad.val();
            } else if self.net_ok.val() {
                self.active.d.next = true;
                self.from_srv.d.next = false;
                self.last_srv.d.next = false;
                self.stomp.d.next = self.net.in_fcs_bad.val();
            }
        }
        self.core.eth_in_data.next = self.net.in_data.val();
        self.core.eth_in_last.next = self.net.in_last.val();
        self.core.eth_in_valid.next = self.active.q.val() & !self.from_srv.q.val() & self.net.in_valid.val();
        self.core.eth_in_direction.next = self.from_srv.q.val();
        self.core.eth_in_fcs_bad.next = self.stomp.q.val();
        if self.from_srv.q.val() {
            self.core.eth_in_data.next = self.srv.in_data.val();
            self.core.eth_in_last.next = self.srv.in_last.val();
            self.core.eth_in_valid.next = self.active.q.val() & self.srv.in_valid.val();
        }
        self.net.in_ready.next = self.active.q.val() & !self.from_srv.q.val() & self.core.eth_in_ready.val();
        self.srv.in_ready.next = self.active.q.val() & self.from_srv.q.val() & self.core.eth_in_ready.val();
        // Out of the core into the other port's egress, which could hold the pipeline
        // back while it is full (never drops; the fit test above keeps it from that).
        self.core.eth_out_ready.next = self.net.out_ready.val();
        if !self.from_srv.q.val() {
            self.core.eth_out_ready.next = self.srv.out_ready.val();
        }
        self.net.out_data.next = self.core.eth_out_data.val();
        self.srv.out_data.next = self.core.eth_out_data.val();
        self.net.out_stomp.next = self.stomp.q.val();
        self.srv.out_stomp.next = self.stomp.q.val();
        // Each egress takes a byte on its own `out_ready` (what the mux above gives the
        // core when it is the one written): the write decision does not run through the
        // mux and the other port's buffer (the core clock's critical path, 14.3 ns).
        self.net.out_byte.next = self.core.eth_out_valid.val() & self.net.out_ready.val() & self.from_srv.q.val();
        self.net.out_end.next = self.core.eth_out_valid.val() & self.net.out_ready.val() & self.core.eth_out_last.val() & self.from_srv.q.val();
        self.srv.out_byte.next = self.core.eth_out_valid.val() & self.srv.out_ready.val() & !self.from_srv.q.val();
        self.srv.out_end.next = self.core.eth_out_valid.val() & self.srv.out_ready.val() & self.core.eth_out_last.val() & !self.from_srv.q.val();
        if self.core.eth_out_valid.val() & self.core.eth_out_ready.val() & self.core.eth_out_last.val() {
            self.active.d.next = false;
        }
        if self.status.reset.val() {
            self.active.d.next = false;
        }

        // The ports' status and counters for READ_PORT (core domain): word 0 is the
        // selected port's status word (from registers, answered two clocks on), word
        // `w` (1 to COUNTERS, the executor asks no more) its counter `w - 1` from
        // `counters`; every answer due a clock after. RESET_COUNTERS clears both
        // ports'.
        self.core.has_ports.next = true;
        self.counters.reset.next = self.status.reset.val();
        self.counters.clear.next = self.core.port_counters_clear.val();
        self.counters.events.next = bit_cast::<TOTAL, COUNTERS>(self.net.events.val())
            | (bit_cast::<TOTAL, COUNTERS>(self.srv.events.val()) << self.c_srv_shift.val());
        self.counters.rx_len0.next = self.net.rx_len.val();
        self.counters.rx_len1.next = self.srv.rx_len.val();
        self.counters.read_index.next = bit_cast::<5, 4>(self.core.port.word.val()) - 1;
        if self.core.port.select.val() {
            self.counters.read_index.next = (bit_cast::<5, 4>(self.core.port.word.val()) - 1) + self.c_srv_first.val();
        }
        self.counters.read.next = false;
        self.status_done.d.next = false;
        if self.core.port.read.val() {
            self.status_sel.d.next = self.core.port.word.val() == 0;
            self.status_srv.d.next = self.core.port.select.val();
            self.status_done.d.next = self.core.port.word.val() == 0;
            self.counters.read.next = self.core.port.word.val() != 0;
        }
        self.core.port.value.next = self.counters.value.val();
        if self.status_sel.q.val() {
            self.core.port.value.next = self.net.status_word.val();
            if self.status_srv.q.val() {
                self.core.port.value.next = self.srv.status_word.val();
            }
        }
        self.port_done.d.next = self.status_done.q.val() | self.counters.done.val();
        self.core.port.done.next = self.port_done.q.val();

        // LEDs.
        self.status.event0.next = self.net.rx_activity.val() | self.net.tx_activity.val();
        self.status.event1.next = self.srv.rx_activity.val() | self.srv.tx_activity.val();
        self.status.event2.next = self.core.request_pulse.val() | self.uart_rx.valid.val();
        self.status.event3.next = self.core.error_pulse.val()
            | self.uart_rx.frame_error.val()
            | self.net.drop_activity.val()
            | self.srv.drop_activity.val();
        self.status.event4.next = false;
        self.status.event5.next = false;
        self.led_heartbeat.next = self.status.heartbeat.val();
        self.led_net_link.next = self.net.link.val();
        self.led_net_activity.next = self.status.lit0.val();
        self.led_srv_link.next = self.srv.link.val();
        self.led_srv_activity.next = self.status.lit1.val();
        self.led_usb.next = self.status.lit2.val();
        self.led_error.next = self.status.lit3.val();
        self.led_reset.next = self.status.reset.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_hdl::fpga::toolchains::icestorm::generate_pcf;

    fn pcf_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../constraints/alchitry-cu-eth.pcf")
    }

    /// Global-buffer inputs reachable from the Br headers (ETHERNET.md §1, from
    /// icestorm's `padin_pio_db`): each REF_CLK must be on one.
    const GBIN_BALLS: [&str; 6] = ["G1", "H1", "A6", "A7", "F14", "G14"];

    #[test]
    fn checked_in_pcf_is_what_the_design_generates_with_ref_clks_on_global_buffers() {
        let mut uut = CuEthBoard::<16>::new();
        uut.connect_all();
        let generated = generate_pcf(&uut);
        if std::env::var_os("PORTSHARE_WRITE_PCF").is_some() {
            std::fs::write(pcf_path(), &generated).unwrap();
        }
        let checked_in =
            std::fs::read_to_string(pcf_path()).expect("constraints/alchitry-cu-eth.pcf (PORTSHARE_WRITE_PCF=1 writes it)");
        assert_eq!(checked_in, generated);
        let ball = |name: &str| {
            generated
                .lines()
                .find_map(|l| l.strip_prefix(&format!("set_io {name} ")))
                .unwrap_or_else(|| panic!("no `{name}` in\n{generated}"))
                .to_string()
        };
        for clk in ["net_ref_clk", "srv_ref_clk"] {
            assert!(GBIN_BALLS.contains(&ball(clk).as_str()), "{clk} on {}", ball(clk));
        }
        // The Cu board's pins are where they were.
        for (name, b) in [("clock", "P7"), ("reset_n", "P8"), ("usb_rx", "P14"), ("usb_tx", "M9")] {
            assert_eq!(ball(name), b);
        }
        // Every ball once, none of the Qwiic pair (A3/A4).
        let balls: Vec<&str> = generated.lines().filter_map(|l| l.rsplit(' ').next()).collect();
        let mut unique = balls.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), balls.len(), "{balls:?}");
        assert!(!balls.iter().any(|b| *b == "A3" || *b == "A4"));
        assert_eq!(balls.len(), 4 + 2 * NET_BALLS.len() + 8);
    }

    #[test]
    fn board_top_generates_valid_verilog() {
        let mut uut = CuEthBoard::<16>::new();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-cuethboard", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
