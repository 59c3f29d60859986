//! The Ethernet board top (`CuEthBoard`) at its pins, in rust-hdl's direct loop with its
//! three clocks stepped in simulated time (the core's 100 MHz and each port's REF_CLK at
//! its own ppm): frames enter through the PHY model's RX pins of one port and are decoded
//! from the other port's TX pins by the PHY model's decoder; the table is loaded over the
//! USB UART pins. Every frame must equal the reference model's output, leave with a good
//! FCS (a stomped one when its ingress FCS was bad) and the minimum gap.

use etherparse::PacketBuilder;
use portshare_hdl::board::CuEthBoard;
use portshare_hdl::eth::two_clocks::TwoClocks;
use portshare_host::protocol::Request;
use portshare_host::{Direction, Slot};
use portshare_sim::model::process_frame;
use portshare_sim::phy::rmii::{ref_clk_ns, Arrival, Fcs, PhyRx, RxEvent, Speed, TxDecoder, TxFrame, GAP_DIBITS};
use portshare_tools::clocking::settle;
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

const N: usize = 16;
/// UART clocks per bit in these runs (25 Mbaud: the board is built with the same).
const CPB: u16 = 4;

fn slot() -> Slot {
    Slot::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), true, true, 443, 8443)
}

/// A TCP frame of `len` bytes (without FCS) between 198.51.100.7:`peer` and
/// 192.0.2.10:`port`, toward the server when `incoming`.
fn tcp_frame(incoming: bool, port: u16, peer: u16, len: usize, seq: u32) -> Vec<u8> {
    let (unit, client) = ([192, 0, 2, 10], [198, 51, 100, 7]);
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let b = if incoming { b.ipv4(client, unit, 64).tcp(peer, port, seq, 1000) } else { b.ipv4(unit, client, 64).tcp(port, peer, seq, 1000) };
    let payload: Vec<u8> = (0..len - 54).map(|i| (i as u32 ^ seq) as u8).collect();
    let mut out = Vec::new();
    b.write(&mut out, &payload).unwrap();
    assert_eq!(out.len(), len);
    out
}

/// The board, its clocks and both PHYs' wires.
struct Bench {
    uut: CuEthBoard<N>,
    /// (core, net REF_CLK) and (core, srv REF_CLK): the core clock is the first of each.
    net_clk: TwoClocks,
    srv_clk: TwoClocks,
    net_rx: VecDeque<(bool, u8)>,
    srv_rx: VecDeque<(bool, u8)>,
    uart: VecDeque<bool>,
    net_tx: TxDecoder,
    srv_tx: TxDecoder,
    core_clocks: u64,
}

impl Bench {
    fn new(net_ppm: f64, srv_ppm: f64) -> Self {
        let mut uut = CuEthBoard::<N>::with_options(CPB, 1, 20_000);
        uut.connect_all();
        uut.reset_n.next = true;
        uut.usb_rx.next = true;
        settle(&mut uut);
        Bench {
            uut,
            net_clk: TwoClocks::new(10.0, ref_clk_ns(net_ppm)),
            srv_clk: TwoClocks::new(10.0, ref_clk_ns(srv_ppm)),
            net_rx: VecDeque::new(),
            srv_rx: VecDeque::new(),
            uart: VecDeque::new(),
            net_tx: TxDecoder::new(Speed::Mbps100),
            srv_tx: TxDecoder::new(Speed::Mbps100),
            core_clocks: 0,
        }
    }

    fn send_request(&mut self, r: &Request, seq: u8) {
        // Idle line first: the power-on reset lasts 16 clocks.
        self.uart.extend(std::iter::repeat(true).take(64));
        for b in r.encode(seq) {
            for level in portshare_host::uart8n1::levels(b) {
                self.uart.extend(std::iter::repeat(level).take(CPB as usize));
            }
        }
    }

    /// Advances to the next edge of any clock. The two TwoClocks share the core clock's
    /// timeline; each REF_CLK is stepped when its own clock's next edge comes first.
    fn step(&mut self) {
        let (tn, ts) = (self.net_clk.peek_ns(), self.srv_clk.peek_ns());
        let t = tn.min(ts);
        let (mut core_rise, mut net_rise, mut srv_rise) = (false, false, false);
        if tn - t < 1e-6 {
            let e = self.net_clk.advance();
            core_rise |= e.rises(0);
            net_rise = e.rises(1);
        }
        if ts - t < 1e-6 {
            let e = self.srv_clk.advance();
            srv_rise = e.rises(1);
            if tn - t >= 1e-6 {
                core_rise |= e.rises(0);
            }
        }
        let u = &mut self.uut;
        u.clock.next = self.net_clk.level(0).into();
        u.net_ref_clk.next = self.net_clk.level(1).into();
        u.srv_ref_clk.next = self.srv_clk.level(1).into();
        settle(u);
        if net_rise {
            self.net_tx.push(u.net_tx_en.val(), u.net_txd.val().to_u64() as u8);
            let (crs, rxd) = self.net_rx.pop_front().unwrap_or((false, 0));
            u.net_crs_dv.next = crs;
            u.net_rxd.next = (rxd as u64).into();
        }
        if srv_rise {
            self.srv_tx.push(u.srv_tx_en.val(), u.srv_txd.val().to_u64() as u8);
            let (crs, rxd) = self.srv_rx.pop_front().unwrap_or((false, 0));
            u.srv_crs_dv.next = crs;
            u.srv_rxd.next = (rxd as u64).into();
        }
        if core_rise {
            self.core_clocks += 1;
            u.usb_rx.next = self.uart.pop_front().unwrap_or(true);
        }
        settle(u);
    }

    fn run_until_idle(&mut self, max_core_clocks: u64) {
        let limit = self.core_clocks + max_core_clocks;
        let mut quiet = 0;
        while self.core_clocks < limit {
            self.step();
            let busy = !self.net_rx.is_empty() || !self.srv_rx.is_empty() || !self.uart.is_empty() || self.net_tx.busy() || self.srv_tx.busy();
            quiet = if busy || self.uut.net_tx_en.val() || self.uut.srv_tx_en.val() { 0 } else { quiet + 1 };
            // Long enough for a 1 518-byte frame waiting in a buffer to start.
            if quiet > 40_000 {
                return;
            }
        }
        panic!("still busy after {max_core_clocks} core clocks");
    }
}

/// What left a port, each frame checked: decodable, a good FCS unless `stomped`, the gap.
fn sent(dec: &TxDecoder) -> Vec<TxFrame> {
    dec.frames.iter().map(|f| f.clone().unwrap_or_else(|e| panic!("undecodable frame on the wire: {e}"))).collect()
}

fn check(out: &[TxFrame], want: &[(Vec<u8>, Fcs)], what: &str) {
    assert_eq!(out.len(), want.len(), "{what}: {} frames out of {}", out.len(), want.len());
    for (i, (o, (w, fcs))) in out.iter().zip(want).enumerate() {
        assert_eq!(&o.bytes, w, "{what}: frame {i} differs from the model");
        assert_eq!(o.fcs, *fcs, "{what}: frame {i}'s FCS");
        if let Some(g) = o.gap_bits {
            assert!(g >= 96, "{what}: frame {i} after a gap of {g} bit times");
        }
    }
}

/// Both directions at once, back-to-back 64-byte frames at the minimum gap on both
/// ports (a third of them rewritten each way, one with a bad FCS, one already stomped,
/// upstream), the REF_CLKs 100 ppm apart: nothing lost or reordered, each frame the
/// model's, each FCS good — stomped for the two bad ones, and the frames after them
/// untouched.
#[test]
fn both_directions_at_line_rate_with_bad_fcs_frames_equal_the_model() {
    let mut b = Bench::new(50.0, -50.0);
    b.send_request(&Request::WriteEntry { index: 0, record: slot().to_record() }, 1);
    b.run_until_idle(20_000);
    let frames = 24;
    let mk = |incoming: bool| -> Vec<(Vec<u8>, Fcs)> {
        (0..frames)
            .map(|i| {
                // Rewritten (the entry's port), not rewritten (another port), another.
                let port = match (incoming, i % 3) {
                    (true, 0) => 443,
                    (false, 0) => 8443,
                    _ => 1000 + i as u16,
                };
                let fcs = match i {
                    5 => Fcs::Bad,
                    11 => Fcs::Stomped,
                    _ => Fcs::Good,
                };
                (tcp_frame(incoming, port, 40000 + i as u16, 60, i as u32 * 7919), fcs)
            })
            .collect()
    };
    let (inc, out) = (mk(true), mk(false));
    let events = |fs: &[(Vec<u8>, Fcs)]| -> Vec<RxEvent> {
        fs.iter().flat_map(|(f, fcs)| [RxEvent::Frame(f.clone(), Arrival { fcs: *fcs, ..Default::default() }), RxEvent::Idle(GAP_DIBITS)]).collect()
    };
    let phy = PhyRx { speed: Speed::Mbps100 };
    b.net_rx.extend(phy.pins(&events(&inc)));
    b.srv_rx.extend(phy.pins(&events(&out)));
    b.run_until_idle(200_000);
    let slots = [slot()];
    let want = |fs: &[(Vec<u8>, Fcs)], d: Direction| -> Vec<(Vec<u8>, Fcs)> {
        fs.iter().map(|(f, fcs)| (process_frame(f, d, &slots).frame, if *fcs == Fcs::Good { Fcs::Good } else { Fcs::Stomped })).collect()
    };
    let (to_srv, to_net) = (want(&inc, Direction::Incoming), want(&out, Direction::Outgoing));
    // The table took: the model rewrote a third of each direction.
    assert_eq!(to_srv.iter().zip(&inc).filter(|(a, b)| a.0 != b.0).count(), frames / 3);
    assert_eq!(to_net.iter().zip(&out).filter(|(a, b)| a.0 != b.0).count(), frames / 3);
    check(&sent(&b.srv_tx), &to_srv, "network → server");
    check(&sent(&b.net_tx), &to_net, "server → network");
    // The counters saw every frame: 22 good and 2 bad each way, none dropped.
    for (name, p) in [("net", &b.uut.net), ("srv", &b.uut.srv)] {
        let c = |s: &Signal<Out, Bits<32>>| s.val().to_u64();
        assert_eq!((c(&p.rx_frames), c(&p.fcs_errors), c(&p.rx_stomped), c(&p.dropped)), (22, 2, 1, 0), "{name}");
        assert_eq!((c(&p.tx_frames), c(&p.tx_stomped)), (24, 2), "{name}");
        assert_eq!(c(&p.rx_bytes), 22 * 60, "{name}");
    }
}

/// Maximum-size frames back to back into the network port with its REF_CLK 100 ppm
/// faster than the server port's (so the egress runs slower than the ingress): all of
/// them arrive whole, the model's, with good FCSs and gaps.
#[test]
fn maximum_frames_back_to_back_with_ref_clks_100_ppm_apart() {
    let mut b = Bench::new(50.0, -50.0);
    let frames: Vec<Vec<u8>> = (0..4).map(|i| tcp_frame(true, 443, 50000 + i, 1514, i as u32)).collect();
    let phy = PhyRx { speed: Speed::Mbps100 };
    b.net_rx.extend(phy.pins(&portshare_sim::phy::rmii::back_to_back(&frames, |_| Arrival::default())));
    b.run_until_idle(400_000);
    let want: Vec<(Vec<u8>, Fcs)> = frames.iter().map(|f| (process_frame(f, Direction::Incoming, &[]).frame, Fcs::Good)).collect();
    check(&sent(&b.srv_tx), &want, "network → server");
    assert!(b.net_tx.frames.is_empty());
}
