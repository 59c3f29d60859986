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
        assert!(simulate(&mut uut, 400));
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
        assert!(simulate(u, 400));
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
        assert!(simulate(u, 400));
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

/// One Ethernet frame a PHY model sends, and what the unit must make of it.
struct Sent {
    frame: Vec<u8>,
    arrival: Arrival,
}

impl Sent {
    /// It leaves with a good FCS (its own checked, a whole number of bytes, not a runt)
    /// and so is counted by the hit and reason counters (docs/semantics.md §3a).
    fn good(&self) -> bool {
        self.arrival.fcs == Fcs::Good && !self.arrival.half_byte && self.frame.len() + 4 >= 64
    }
}

/// The counters a port must show for `rx` received and `tx` sent, from what the PHY
/// models put on the wire — independently of the port's logic. Names as READ_PORT's.
fn port_counts(rx: &[Sent], false_carriers: u32, tx: &[Sent]) -> [u32; 11] {
    let n = |f: &dyn Fn(&Sent) -> bool| rx.iter().filter(|s| f(s)).count() as u32;
    let fcs_ok = |s: &Sent| s.arrival.fcs == Fcs::Good;
    [
        n(&fcs_ok),
        rx.iter().filter(|s| fcs_ok(s)).map(|s| s.frame.len() as u32).sum(),
        n(&|s| !fcs_ok(s)),
        n(&|s| s.arrival.fcs == Fcs::Stomped),
        n(&|s| s.frame.len() + 4 < 64),
        n(&|s| s.arrival.half_byte),
        0,
        false_carriers,
        tx.len() as u32,
        tx.iter().map(|s| s.frame.len() as u32).sum(),
        tx.iter().filter(|s| !s.good()).count() as u32,
    ]
}

/// 8N1 bytes from `usb_tx` sampled once per core clock at `cpb` clocks per bit.
fn uart_bytes(line: &[bool], cpb: usize) -> Vec<u8> {
    let (mut out, mut i) = (Vec::new(), 1);
    while i + 10 * cpb <= line.len() {
        if line[i - 1] && !line[i] {
            let bit = |k: usize| line[i + k * cpb + cpb / 2];
            assert!(!bit(0) && bit(9), "UART framing at clock {i}");
            out.push((1..=8).fold(0u8, |b, k| b | (bit(k) as u8) << (k - 1)));
            i += 10 * cpb;
        } else {
            i += 1;
        }
    }
    out
}

/// Steps the bench `clocks` core clocks with MDIO PHY models on both ports' MDC/MDIO
/// (network first), recording `usb_tx` once per core clock.
fn run_managed(b: &mut Bench, phys: &mut [portshare_sim::phy::mdio::MdioPhy; 2], usb_tx: &mut Vec<bool>, clocks: u64) {
    let end = b.core_clocks + clocks;
    while b.core_clocks < end {
        let before = b.core_clocks;
        b.step();
        if b.core_clocks == before {
            continue;
        }
        let u = &mut b.uut;
        usb_tx.push(u.usb_tx.val());
        let net = phys[0].step(u.net_mdc.val(), u.net.mdio_o.val(), u.net.mdio_oe.val());
        let srv = phys[1].step(u.srv_mdc.val(), u.srv.mdio_o.val(), u.srv.mdio_oe.val());
        u.net_mdio.next = net;
        u.srv_mdio.next = srv;
    }
}

/// READ_PORT at the board's pins: after frames both ways — good ones, a bad FCS, one
/// stomped upstream, a runt, one ending on a half byte, a false carrier — each port's
/// status and counters read over the USB UART equal what the PHY models sent and
/// decoded, link/speed/duplex/BMSR are what the MDIO PHY models answer, the hit and
/// reason counters (READ_COUNTERS) count only the frames that leave with a good FCS,
/// and every other frame leaves stomped.
#[test]
fn port_status_and_counters_over_the_uart_equal_the_phy_models() {
    use portshare_host::protocol::{BoardCounters, Deframed, PortStatus, Reply, SlipDecoder, STATUS_OK};
    use portshare_sim::model::Counters;
    use portshare_sim::phy::mdio::{lan8720, MdioPhy, BMSR};

    let mut b = Bench::new(30.0, -30.0);
    // Network PHY: link up at 100 Mb/s full duplex; server PHY: 100 Mb/s half duplex.
    let regs = [lan8720(true, false, true), lan8720(true, false, false)];
    let mut phys = regs.map(|r| MdioPhy::new(1, r, 10.0));
    let mut usb_tx = Vec::new();
    b.send_request(&Request::WriteEntry { index: 0, record: slot().to_record() }, 1);
    run_managed(&mut b, &mut phys, &mut usb_tx, 20_000);

    let ok = Arrival::default();
    let runt = tcp_frame(true, 443, 40001, 60, 1)[..40].to_vec();
    let inc = vec![
        Sent { frame: tcp_frame(true, 443, 40000, 60, 0), arrival: ok },
        Sent { frame: tcp_frame(true, 1000, 40002, 100, 2), arrival: ok },
        Sent { frame: tcp_frame(true, 443, 40003, 80, 3), arrival: Arrival { fcs: Fcs::Bad, ..ok } },
        Sent { frame: runt.clone(), arrival: ok },
        Sent { frame: runt[..30].to_vec(), arrival: Arrival { fcs: Fcs::Bad, ..ok } },
        Sent { frame: tcp_frame(true, 443, 40004, 70, 4), arrival: Arrival { half_byte: true, ..ok } },
        Sent { frame: tcp_frame(true, 443, 40005, 200, 5), arrival: Arrival { toggle: 3, lost: 7, ..ok } },
    ];
    let out = vec![
        Sent { frame: tcp_frame(false, 8443, 41000, 64, 6), arrival: ok },
        Sent { frame: tcp_frame(false, 1001, 41001, 90, 7), arrival: Arrival { fcs: Fcs::Stomped, ..ok } },
        Sent { frame: tcp_frame(false, 8443, 41002, 120, 8), arrival: Arrival { fcs: Fcs::Bad, ..ok } },
        Sent { frame: tcp_frame(false, 1002, 41003, 66, 9), arrival: ok },
    ];
    let events = |s: &[Sent], false_carrier: bool| -> Vec<RxEvent> {
        let mut e: Vec<RxEvent> = s.iter().flat_map(|s| [RxEvent::Frame(s.frame.clone(), s.arrival), RxEvent::Idle(GAP_DIBITS)]).collect();
        if false_carrier {
            e.insert(2, RxEvent::FalseCarrier(40));
            e.insert(3, RxEvent::Idle(GAP_DIBITS));
        }
        e
    };
    let phy = PhyRx { speed: Speed::Mbps100 };
    b.net_rx.extend(phy.pins(&events(&inc, true)));
    b.srv_rx.extend(phy.pins(&events(&out, false)));
    run_managed(&mut b, &mut phys, &mut usb_tx, 60_000);

    // What left each port: the model's bytes; stomped unless the frame was good.
    let slots = [slot()];
    let mut model = Counters::new(N);
    let want = |s: &[Sent], d: Direction, model: &mut Counters| -> Vec<(Vec<u8>, Fcs)> {
        s.iter()
            .map(|s| {
                let p = process_frame(&s.frame, d, &slots);
                if s.good() {
                    model.count(&p.outcome);
                }
                (p.frame, if s.good() { Fcs::Good } else { Fcs::Stomped })
            })
            .collect()
    };
    check(&sent(&b.srv_tx), &want(&inc, Direction::Incoming, &mut model), "network → server");
    check(&sent(&b.net_tx), &want(&out, Direction::Outgoing, &mut model), "server → network");
    assert!(model.rewritten >= 2 && model.frames() < (inc.len() + out.len()) as u64, "the mix has rewritten and uncounted frames");

    // Over the UART: both ports, a third that does not exist, and the counters.
    let requests = [Request::ReadPort { port: 0 }, Request::ReadPort { port: 1 }, Request::ReadPort { port: 2 }, Request::ReadCounters];
    usb_tx.clear();
    // One at a time, as the host's stop-and-wait client sends them.
    for (i, r) in requests.iter().enumerate() {
        b.send_request(r, 10 + i as u8);
        run_managed(&mut b, &mut phys, &mut usb_tx, 6_000);
    }
    let replies: Vec<Reply> = SlipDecoder::new()
        .push(&uart_bytes(&usb_tx, CPB as usize))
        .into_iter()
        .map(|p| match p {
            Deframed::Packet(body) => Reply::decode(&body).expect("reply CRC"),
            Deframed::BadEscape(b) => panic!("bad escape {b:02x?}"),
        })
        .collect();
    assert_eq!(replies.iter().map(|r| (r.seq, r.status)).collect::<Vec<_>>(), [(10, STATUS_OK), (11, STATUS_OK), (12, portshare_host::protocol::STATUS_OUT_OF_RANGE), (13, STATUS_OK)]);
    let got: Vec<PortStatus> = replies[..2].iter().map(|r| PortStatus::from_payload(&r.payload).unwrap()).collect();
    let want_counts = [port_counts(&inc, 1, &out), port_counts(&out, 0, &inc)];
    for (p, name) in [(0, "network"), (1, "server")] {
        assert_eq!(got[p].counters(), want_counts[p], "{name} port counters ({:?})", portshare_host::protocol::ports::COUNTER_NAMES);
        let r = &regs[p];
        assert_eq!(
            (got[p].link, got[p].speed_mbps, got[p].full_duplex, got[p].phy_present, got[p].bmsr),
            (true, 100, p == 0, true, r[BMSR]),
            "{name} port status: the MDIO model answers {r:04x?}"
        );
    }
    let c = BoardCounters::from_payload(&replies[3].payload).unwrap();
    assert_eq!(
        (c.rewritten as u64, c.no_match as u64, c.fragment as u64, c.unparsed as u64, c.hits[0] as u64),
        (model.rewritten, model.no_match, model.fragment, model.unparsed, model.hits[0]),
        "hit and reason counters count only the frames that left good"
    );
}
