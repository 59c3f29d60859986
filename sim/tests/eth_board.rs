//! The Ethernet board top (`CuEthBoard`) at its pins on the bench of
//! `portshare_sim::eth_board` (three clocks in simulated time, the PHY and MDIO models,
//! the USB UART): frames enter through one port's RX pins and are decoded from the other
//! port's TX pins. Every frame must equal the reference model's output, leave with a
//! good FCS (a stomped one when its ingress FCS was bad) and the minimum gap. The runs
//! are on the Verilator engine (the board top's generated Verilog); one short run checks
//! that rust-hdl's simulator of the blocks gives the same pins at every edge.

use etherparse::PacketBuilder;
use portshare_host::protocol::Request;
use portshare_host::{Direction, Slot};
use portshare_sim::corpus;
use portshare_sim::engine::EngineKind;
use portshare_sim::eth_board::{BenchOptions, EthBench, Port};
use portshare_sim::model::process_frame;
use portshare_sim::phy::rmii::{back_to_back, Arrival, Fcs, RxEvent, Speed, TxFrame, GAP_DIBITS};
use std::net::{IpAddr, Ipv4Addr};

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

fn bench(engine: EngineKind, ppm: [f64; 2], speed: [Speed; 2]) -> EthBench {
    EthBench::new(BenchOptions { engine, ppm, speed, ..Default::default() }).unwrap()
}

/// What left a port, each frame checked: decodable (preamble, SFD, whole bytes).
fn sent(b: &EthBench, port: Port) -> Vec<TxFrame> {
    b.sent(port).iter().map(|f| f.clone().unwrap_or_else(|e| panic!("undecodable frame on the wire: {e}"))).collect()
}

/// Each frame the model's with the FCS wanted, after at least 96 bit times of gap.
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

/// The model's output for `frames` entering in `d`, stomped where the FCS was not good.
fn model(frames: &[(Vec<u8>, Fcs)], d: Direction, slots: &[Slot]) -> Vec<(Vec<u8>, Fcs)> {
    frames.iter().map(|(f, fcs)| (process_frame(f, d, slots).frame, if *fcs == Fcs::Good { Fcs::Good } else { Fcs::Stomped })).collect()
}

fn events(fs: &[(Vec<u8>, Fcs)]) -> Vec<RxEvent> {
    fs.iter().flat_map(|(f, fcs)| [RxEvent::Frame(f.clone(), Arrival { fcs: *fcs, ..Default::default() }), RxEvent::Idle(GAP_DIBITS)]).collect()
}

/// `n` 60-byte frames one way: a third rewritten by the table, the rest to other
/// ports; frame 5 with a bad FCS and 11 already stomped upstream.
fn mixed(incoming: bool, n: usize) -> Vec<(Vec<u8>, Fcs)> {
    (0..n)
        .map(|i| {
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
}

/// A short run of everything at once — a table write over the UART, MDIO polls, frames
/// both ways with a bad FCS among them, REF_CLKs 100 ppm apart — on both engines: the
/// Verilator model of the board top's Verilog and rust-hdl's simulator of its blocks
/// drive the same level on every TX pin, MDC, MDIO and `usb_tx` after every edge of
/// every clock, and hold the same counters.
#[test]
fn verilator_and_rtl_agree_at_every_edge_of_every_clock() {
    let run = |engine| {
        let mut b = EthBench::new(BenchOptions { engine, trace: true, ..Default::default() }).unwrap();
        b.write_table(&[slot()]).unwrap();
        let (inc, out) = (mixed(true, 6), mixed(false, 6));
        b.feed(Port::Net, &events(&inc));
        b.feed(Port::Srv, &events(&out));
        b.run_clocks(12_000);
        let status = [b.status(Port::Net), b.status(Port::Srv)];
        (b.trace.clone(), status, sent(&b, Port::Srv).len(), sent(&b, Port::Net).len(), b.replies.len())
    };
    let v = run(EngineKind::Verilator);
    let r = run(EngineKind::Rtl);
    // Not trivially equal: frames went both ways and the write was answered.
    assert_eq!((v.2, v.3, v.4), (6, 6, 1));
    assert_eq!(v.0.len(), r.0.len());
    if let Some(i) = v.0.iter().zip(&r.0).position(|(a, b)| a != b) {
        panic!("the engines differ at edge {i} of {}: verilator {:#06x}, rtl {:#06x}", v.0.len(), v.0[i], r.0[i]);
    }
    assert_eq!(v.1, r.1);
}

/// Both directions at once, back-to-back 64-byte frames at the minimum gap on both
/// ports (a third of them rewritten each way, one with a bad FCS, one already stomped
/// upstream), the REF_CLKs 100 ppm apart: nothing lost or reordered, each frame the
/// model's, each FCS good — stomped for the two bad ones, and the frames after them
/// untouched; the counters count them.
#[test]
fn both_directions_at_line_rate_with_bad_fcs_frames_equal_the_model() {
    let mut b = bench(EngineKind::Verilator, [50.0, -50.0], [Speed::Mbps100; 2]);
    b.write_table(&[slot()]).unwrap();
    let frames = 48;
    let (inc, out) = (mixed(true, frames), mixed(false, frames));
    b.feed(Port::Net, &events(&inc));
    b.feed(Port::Srv, &events(&out));
    b.run_until_idle(400_000).unwrap();
    let slots = [slot()];
    let (to_srv, to_net) = (model(&inc, Direction::Incoming, &slots), model(&out, Direction::Outgoing, &slots));
    // The table took: the model rewrote a third of each direction.
    assert_eq!(to_srv.iter().zip(&inc).filter(|(a, b)| a.0 != b.0).count(), frames / 3);
    assert_eq!(to_net.iter().zip(&out).filter(|(a, b)| a.0 != b.0).count(), frames / 3);
    check(&sent(&b, Port::Srv), &to_srv, "network → server");
    check(&sent(&b, Port::Net), &to_net, "server → network");
    // Line rate: the egress kept pace with the ingress (the last frame left within two
    // frame times of the last one arriving).
    for p in Port::BOTH {
        let (rx, _) = b.starts(p);
        let (_, tx) = b.starts(p.other());
        assert!(tx[tx.len() - 1] - rx[rx.len() - 1] < 2.0 * 6720.0, "{p:?}: {} ns behind", tx[tx.len() - 1] - rx[rx.len() - 1]);
    }
    for p in Port::BOTH {
        let s = b.status(p);
        let c = |n| s.get(n);
        let good = frames as u64 - 2;
        assert_eq!((c("rx_frames"), c("fcs_errors"), c("rx_stomped"), c("dropped")), (good, 2, 1, 0), "{p:?}");
        assert_eq!((c("tx_frames"), c("tx_stomped")), (frames as u64, 2), "{p:?}");
        assert_eq!(c("rx_bytes"), good * 60, "{p:?}");
    }
}

/// Maximum-size frames back to back into one port with its REF_CLK 100 ppm faster
/// than the other port's (so the egress runs slower than the ingress), each way: all
/// of them arrive whole, the model's, with good FCSs and gaps.
#[test]
fn maximum_frames_back_to_back_into_the_faster_port_each_way() {
    for (from, d, ppm) in [(Port::Net, Direction::Incoming, [50.0, -50.0]), (Port::Srv, Direction::Outgoing, [-50.0, 50.0])] {
        let mut b = bench(EngineKind::Verilator, ppm, [Speed::Mbps100; 2]);
        let frames: Vec<Vec<u8>> = (0..6).map(|i| tcp_frame(d == Direction::Incoming, 443, 50000 + i, 1514, i as u32)).collect();
        b.feed(from, &back_to_back(&frames, |_| Arrival::default()));
        b.run_until_idle(1_000_000).unwrap();
        let want: Vec<(Vec<u8>, Fcs)> = frames.iter().map(|f| (process_frame(f, d, &[]).frame, Fcs::Good)).collect();
        check(&sent(&b, from.other()), &want, &format!("{from:?} → {:?}", from.other()));
        assert!(b.sent(from).is_empty());
        assert_eq!(b.status(from).get("dropped"), 0);
    }
}

/// Up to `per_capture` frames of every corpus capture, of at most 1 514 bytes, those
/// shorter than 60 bytes padded with zeros to 60 as the sending NIC would (captures
/// hold them unpadded).
fn corpus_frames(per_capture: usize) -> Vec<Vec<u8>> {
    corpus::ethernet_frames(per_capture)
        .into_iter()
        .map(|mut f| {
            if f.len() < 60 {
                f.resize(60, 0);
            }
            f
        })
        .collect()
}

/// `frames` at half the line rate: each followed by the minimum gap and as long again
/// as it took. (Back to back at the full rate, a frame waits behind the longest frame
/// before it for as long as the stream lasts — the ingress buffer stores each frame
/// whole — and the wait never drains: after a 1 514-byte frame, ~137 µs; with the
/// corpus' mix the ingress buffer then drops some, counted.)
fn half_load(frames: &[Vec<u8>]) -> Vec<RxEvent> {
    frames.iter().flat_map(|f| [RxEvent::Frame(f.clone(), Arrival::default()), RxEvent::Idle(GAP_DIBITS + 4 * (f.len() + 12))]).collect()
}

/// A sample of the corpus (the first 2 frames of every capture, at half the line
/// rate), through the pins one way and then the other with the corpus' own flows in
/// the table: equal to the model, every egress FCS good, nothing dropped.
#[test]
fn corpus_sample_both_directions_through_the_pins_equals_the_model() {
    let frames = corpus_frames(2);
    assert!(frames.len() >= 200, "{} corpus frames", frames.len());
    let slots: Vec<Slot> = portshare_sim::flows::table_from_frames(frames.iter().map(|f| f.as_slice()), Direction::Incoming, 16, 16, std::path::Path::new("corpus"))
        .unwrap()
        .slots();
    let mut b = bench(EngineKind::Verilator, [100.0, -100.0], [Speed::Mbps100; 2]);
    b.write_table(&slots).unwrap();
    b.feed(Port::Net, &half_load(&frames));
    b.run_until_idle(20_000_000).unwrap();
    b.feed(Port::Srv, &half_load(&frames));
    b.run_until_idle(20_000_000).unwrap();
    let want = |d| -> Vec<(Vec<u8>, Fcs)> { frames.iter().map(|f| (process_frame(f, d, &slots).frame, Fcs::Good)).collect() };
    let (to_srv, to_net) = (want(Direction::Incoming), want(Direction::Outgoing));
    assert!(to_srv.iter().zip(&frames).filter(|(a, f)| a.0 != **f).count() > 10, "the table rewrote few frames");
    check(&sent(&b, Port::Srv), &to_srv, "network → server");
    check(&sent(&b, Port::Net), &to_net, "server → network");
    assert_eq!((b.status(Port::Net).get("dropped"), b.status(Port::Srv).get("dropped")), (0, 0));
}

/// The network port's PHY at 10 Mb/s and the server port's at 100 (each says so over
/// MDIO, and the MACs follow): 64- and 1 518-byte frames both ways arrive whole, the
/// model's, each at its port's speed (the decoder checks each dibit held 10 cycles on
/// the slow side), nothing lost although the fast side brings frames 10 times faster
/// than the slow side can take them — as many as the buffers hold.
#[test]
fn one_port_at_10_mbps_and_the_other_at_100() {
    let mut b = bench(EngineKind::Verilator, [30.0, -30.0], [Speed::Mbps10, Speed::Mbps100]);
    b.wait_for_links(200_000).unwrap();
    assert!(b.status(Port::Net).speed_10 && !b.status(Port::Srv).speed_10);
    let mk = |incoming: bool| -> Vec<Vec<u8>> { [60usize, 1514, 60].iter().enumerate().map(|(i, &n)| tcp_frame(incoming, 443, 7 + i as u16, n, i as u32)).collect() };
    let (inc, out) = (mk(true), mk(false));
    b.feed(Port::Net, &back_to_back(&inc, |_| Arrival::default()));
    b.feed(Port::Srv, &back_to_back(&out, |_| Arrival::default()));
    b.run_until_idle(5_000_000).unwrap();
    let good = |fs: &[Vec<u8>], d| -> Vec<(Vec<u8>, Fcs)> { fs.iter().map(|f| (process_frame(f, d, &[]).frame, Fcs::Good)).collect() };
    check(&sent(&b, Port::Srv), &good(&inc, Direction::Incoming), "network (10) → server (100)");
    check(&sent(&b, Port::Net), &good(&out, Direction::Outgoing), "server (100) → network (10)");
    assert_eq!((b.mdio(Port::Net).contention, b.mdio(Port::Srv).contention), (0, 0));
}

/// Table writes and USB injects while frames stream both ways: every frame on the
/// wire is the model's for the table before the write or after it (and those after the
/// write's reply, the new table's), and every injected frame's reply the model's.
#[test]
fn table_writes_and_usb_inject_during_ethernet_traffic() {
    let mut b = bench(EngineKind::Verilator, [0.0, 0.0], [Speed::Mbps100; 2]);
    let frames = 40;
    let inc: Vec<(Vec<u8>, Fcs)> = (0..frames).map(|i| (tcp_frame(true, 443, 30000 + i as u16, 60 + i % 5, i as u32), Fcs::Good)).collect();
    let out: Vec<(Vec<u8>, Fcs)> = (0..frames).map(|i| (tcp_frame(false, 8443, 30000 + i as u16, 60, i as u32), Fcs::Good)).collect();
    b.feed(Port::Net, &events(&inc));
    b.feed(Port::Srv, &events(&out));
    b.run_clocks(5_000);
    b.write_table(&[slot()]).unwrap();
    let injected = tcp_frame(true, 443, 1, 80, 5);
    let r = b.transact(&Request::Inject { direction: Direction::Incoming, frame: injected.clone() }, 100_000).unwrap();
    assert!(b.rx_pending(Port::Net) > 0 && b.rx_pending(Port::Srv) > 0, "the inject did not happen during traffic");
    b.run_until_idle(1_000_000).unwrap();
    let (old, new) = (vec![], vec![slot()]);
    for (port, fs, d) in [(Port::Srv, &inc, Direction::Incoming), (Port::Net, &out, Direction::Outgoing)] {
        let got = sent(&b, port);
        assert_eq!(got.len(), frames, "{port:?}");
        let (mut n_old, mut n_new) = (0, 0);
        for (i, (g, (f, _))) in got.iter().zip(fs.iter()).enumerate() {
            let (o, n) = (process_frame(f, d, &old).frame, process_frame(f, d, &new).frame);
            assert_ne!(o, n, "frame {i}: the tables must differ on it");
            assert!(g.bytes == o || g.bytes == n, "{port:?} frame {i} is neither table's");
            assert_eq!(g.fcs, Fcs::Good);
            if g.bytes == o {
                assert_eq!(n_new, 0, "{port:?} frame {i}: old table after the new one");
                n_old += 1;
            } else {
                n_new += 1;
            }
        }
        assert!(n_old > 0 && n_new > 0, "{port:?}: the write did not land during traffic ({n_old} old, {n_new} new)");
    }
    assert_eq!(r.status, portshare_host::protocol::STATUS_OK);
    assert_eq!(r.payload, process_frame(&injected, Direction::Incoming, &new).frame);
}

/// What real PHYs do at the pins, at the board level: preamble dibits lost, CRS_DV up
/// early with RXD = 00, CRS_DV toggling at the end, a false carrier, a runt, a stray
/// half byte: the frames come out the model's, the false carrier nowhere, and the
/// counters count each (the receiver's own bench, `hdl/src/eth/rmii_rx.rs`, covers
/// each case alone at both speeds).
#[test]
fn lost_preamble_toggling_false_carrier_runts_and_alignment_at_the_board() {
    let mut b = bench(EngineKind::Verilator, [100.0, -100.0], [Speed::Mbps100; 2]);
    let f = |i: u16| tcp_frame(true, 1000 + i, 9, 60 + i as usize, i as u32);
    let ok = Arrival::default();
    let ev = vec![
        RxEvent::Frame(f(0), Arrival { lost: 13, early: 3, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(f(1), Arrival { toggle: 3, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::FalseCarrier(40),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(vec![0xAA; 20], ok),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(f(2), Arrival { half_byte: true, lost: 21, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(f(3), Arrival { lost: 1, toggle: 1, early: 1, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
    ];
    b.feed(Port::Net, &ev);
    b.run_until_idle(200_000).unwrap();
    let got = sent(&b, Port::Srv);
    let bytes: Vec<Vec<u8>> = got.iter().map(|g| g.bytes.clone()).collect();
    let s = b.status(Port::Net);
    assert_eq!(bytes, [f(0), f(1), vec![0xAA; 20], f(2), f(3)].iter().map(|x| process_frame(x, Direction::Incoming, &[]).frame).collect::<Vec<_>>());
    // The runt and the frame ending on a half byte leave stomped (docs/semantics.md §3a).
    assert_eq!(got.iter().map(|g| g.fcs).collect::<Vec<_>>(), [Fcs::Good, Fcs::Good, Fcs::Stomped, Fcs::Stomped, Fcs::Good]);
    assert_eq!((s.get("false_carriers"), s.get("runts"), s.get("align_errors"), s.get("fcs_errors")), (1, 1, 1, 0));
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

/// READ_PORT at the board's pins: after frames both ways — good ones, a bad FCS, one
/// stomped upstream, two runts, one ending on a half byte, a false carrier — each
/// port's status and counters read over the USB UART equal what the PHY models sent
/// and decoded, link/speed/duplex/BMSR are what the MDIO PHY models answer (the two
/// ports' duplex differ, so a swap shows), the hit and reason counters (READ_COUNTERS)
/// count only the frames that leave with a good FCS, and every other frame leaves
/// stomped.
#[test]
fn port_status_and_counters_over_the_uart_equal_the_phy_models() {
    use portshare_host::protocol::{Counters, PortStatus, STATUS_OK, STATUS_OUT_OF_RANGE};
    use portshare_sim::model::CountOutcome;
    use portshare_sim::phy::mdio::BMSR;

    let mut b = EthBench::new(BenchOptions { ppm: [30.0, -30.0], full_duplex: [true, false], ..Default::default() }).unwrap();
    b.wait_for_links(2_000_000).unwrap();
    let slots = [slot()];
    b.write_table(&slots).unwrap();

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
    b.feed(Port::Net, &events(&inc, true));
    b.feed(Port::Srv, &events(&out, false));
    b.run_until_idle(400_000).unwrap();

    // What left each port: the model's bytes; stomped unless the frame was good.
    let mut model = Counters::new(slots.len());
    let mut want = |s: &[Sent], d: Direction| -> Vec<(Vec<u8>, Fcs)> {
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
    let (want_srv, want_net) = (want(&inc, Direction::Incoming), want(&out, Direction::Outgoing));
    check(&sent(&b, Port::Srv), &want_srv, "network → server");
    check(&sent(&b, Port::Net), &want_net, "server → network");
    assert!(model.rewritten >= 2 && model.frames() < (inc.len() + out.len()) as u64, "the mix has rewritten and uncounted frames");

    // Over the UART, one request at a time as the host's client sends them: both ports,
    // a third that does not exist, and the counters.
    let mut ask = |r: Request| b.transact(&r, 200_000).unwrap();
    let replies = [ask(Request::ReadPort { port: 0 }), ask(Request::ReadPort { port: 1 }), ask(Request::ReadPort { port: 2 }), ask(Request::ReadCounters)];
    assert_eq!(replies.iter().map(|r| r.status).collect::<Vec<_>>(), [STATUS_OK, STATUS_OK, STATUS_OUT_OF_RANGE, STATUS_OK]);
    let got: Vec<PortStatus> = replies[..2].iter().map(|r| PortStatus::from_payload(&r.payload).unwrap()).collect();
    let want_counts = [port_counts(&inc, 1, &out), port_counts(&out, 0, &inc)];
    for (p, port) in [(0, Port::Net), (1, Port::Srv)] {
        let name = port.name();
        assert_eq!(got[p].counters(), want_counts[p], "{name} port counters ({:?})", portshare_host::protocol::ports::COUNTER_NAMES);
        let regs = b.mdio(port).regs;
        assert_eq!(
            (got[p].link, got[p].speed_mbps, got[p].full_duplex, got[p].phy_present, got[p].bmsr),
            (true, 100, p == 0, true, regs[BMSR]),
            "{name} port status: the MDIO model answers {regs:04x?}"
        );
    }
    let c = Counters::from_payload(&replies[3].payload).unwrap();
    assert_eq!(
        (c.rewritten, c.no_match, c.fragment, c.unparsed, c.hits[0]),
        (model.rewritten, model.no_match, model.fragment, model.unparsed, model.hits[0]),
        "hit and reason counters count only the frames that left good"
    );
}

/// RESET_COUNTERS at the board's pins: after a mix of frames both ways, READ_PORT shows
/// the PHY models' counts; RESET_COUNTERS zeroes both ports' counters (every READ_PORT
/// counter word 0, the status word unchanged) as well as the pipeline's; after more
/// traffic each port counts again from zero, exactly the second batch.
#[test]
fn reset_counters_zeroes_both_ports_and_they_count_again_from_zero() {
    use portshare_host::protocol::{Counters, PortStatus, STATUS_OK};

    let mut b = EthBench::new(BenchOptions { ppm: [40.0, -40.0], ..Default::default() }).unwrap();
    b.wait_for_links(2_000_000).unwrap();
    let slots = [slot()];
    b.write_table(&slots).unwrap();
    let ok = Arrival::default();
    let batch = |k: u32| -> (Vec<Sent>, Vec<Sent>) {
        let inc = vec![
            Sent { frame: tcp_frame(true, 443, 40000 + k as u16, 60 + k as usize, k), arrival: ok },
            Sent { frame: tcp_frame(true, 443, 40100, 90, k + 1), arrival: Arrival { fcs: Fcs::Bad, ..ok } },
            Sent { frame: tcp_frame(true, 443, 40200, 300 + 7 * k as usize, k + 2), arrival: ok },
            Sent { frame: tcp_frame(true, 443, 40300, 64, k + 3)[..45].to_vec(), arrival: ok },
        ];
        let out = vec![
            Sent { frame: tcp_frame(false, 8443, 41000, 70 + k as usize, k + 4), arrival: ok },
            Sent { frame: tcp_frame(false, 8443, 41100, 100, k + 5), arrival: Arrival { fcs: Fcs::Stomped, ..ok } },
            Sent { frame: tcp_frame(false, 8443, 41200, 80, k + 6), arrival: Arrival { half_byte: true, ..ok } },
        ];
        (inc, out)
    };
    let events = |s: &[Sent]| -> Vec<RxEvent> { s.iter().flat_map(|s| [RxEvent::Frame(s.frame.clone(), s.arrival), RxEvent::Idle(GAP_DIBITS)]).collect() };
    let read = |b: &mut EthBench, port: u8| -> PortStatus {
        let r = b.transact(&Request::ReadPort { port }, 200_000).unwrap();
        assert_eq!(r.status, STATUS_OK);
        PortStatus::from_payload(&r.payload).unwrap()
    };

    // Batch 1, each port's counts from the PHY models; the false carrier only on one
    // port and the second batch differs, so neither a swap nor a stale count passes.
    let (inc1, out1) = batch(1);
    let mut ev = events(&inc1);
    ev.extend([RxEvent::FalseCarrier(40), RxEvent::Idle(GAP_DIBITS)]);
    b.feed(Port::Net, &ev);
    b.feed(Port::Srv, &events(&out1));
    b.run_until_idle(400_000).unwrap();
    let first = [read(&mut b, 0), read(&mut b, 1)];
    assert_eq!([first[0].counters(), first[1].counters()], [port_counts(&inc1, 1, &out1), port_counts(&out1, 0, &inc1)], "batch 1");

    let r = b.transact(&Request::ResetCounters, 200_000).unwrap();
    assert_eq!(r.status, STATUS_OK);
    let zeroed = [read(&mut b, 0), read(&mut b, 1)];
    for (p, z) in zeroed.iter().enumerate() {
        assert_eq!(z.counters(), [0; 11], "port {p} right after RESET_COUNTERS");
        assert_eq!((z.link, z.speed_mbps, z.full_duplex, z.phy_present, z.bmsr), (first[p].link, 100, true, true, first[p].bmsr), "port {p}'s status word");
    }
    let r = b.transact(&Request::ReadCounters, 200_000).unwrap();
    let c = Counters::from_payload(&r.payload).unwrap();
    assert_eq!((c.frames(), c.hits[0]), (0, 0), "the pipeline's counters too");

    // Batch 2: exactly its counts, from zero.
    let (inc2, out2) = batch(2);
    b.feed(Port::Net, &events(&inc2));
    b.feed(Port::Srv, &events(&out2));
    b.run_until_idle(400_000).unwrap();
    let second = [read(&mut b, 0), read(&mut b, 1)];
    assert_eq!([second[0].counters(), second[1].counters()], [port_counts(&inc2, 0, &out2), port_counts(&out2, 0, &inc2)], "batch 2, from zero");
}

/// Wire-to-wire latency (first bit in to first bit out, ns) of every frame that entered
/// `from`, when none was lost: (min, max).
fn latency(b: &EthBench, from: Port) -> (f64, f64) {
    let (rx, _) = b.starts(from);
    let (_, tx) = b.starts(from.other());
    assert_eq!(rx.len(), tx.len(), "{from:?}: {} frames in, {} out", rx.len(), tx.len());
    let l: Vec<f64> = rx.iter().zip(tx).map(|(i, o)| o - i).collect();
    (l.iter().cloned().fold(f64::MAX, f64::min), l.iter().cloned().fold(0.0, f64::max))
}

/// Both directions at once, 1 514-byte frames back to back at the minimum gap on both
/// ports, the REF_CLKs 100 ppm apart (each side faster once), a third of them rewritten:
/// none lost, each the model's with a good FCS after at least 96 bit times of gap, and
/// each leaving less than 2 µs after its last bit arrived (its own wire time plus the
/// pipeline's pass of the other port's frame at most; the egress lets it out while it
/// is copied in).
#[test]
fn both_directions_at_once_maximum_frames_back_to_back_lose_nothing() {
    for ppm in [[50.0, -50.0], [-50.0, 50.0]] {
        let mut b = bench(EngineKind::Verilator, ppm, [Speed::Mbps100; 2]);
        b.write_table(&[slot()]).unwrap();
        let n = 10;
        let mk = |incoming: bool| -> Vec<Vec<u8>> {
            let port = |i: usize| match (incoming, i % 3) {
                (true, 0) => 443,
                (false, 0) => 8443,
                _ => 2000 + i as u16,
            };
            (0..n).map(|i| tcp_frame(incoming, port(i), 50000 + i as u16, 1514, i as u32 * 31)).collect()
        };
        let (inc, out) = (mk(true), mk(false));
        b.feed(Port::Net, &back_to_back(&inc, |_| Arrival::default()));
        b.feed(Port::Srv, &back_to_back(&out, |_| Arrival::default()));
        b.run_until_idle(2_000_000).unwrap();
        let slots = [slot()];
        let want = |fs: &[Vec<u8>], d| -> Vec<(Vec<u8>, Fcs)> { fs.iter().map(|f| (process_frame(f, d, &slots).frame, Fcs::Good)).collect() };
        let (to_srv, to_net) = (want(&inc, Direction::Incoming), want(&out, Direction::Outgoing));
        assert_eq!(to_srv.iter().zip(&inc).filter(|(a, f)| a.0 != **f).count(), n.div_ceil(3), "the table rewrote a third");
        check(&sent(&b, Port::Srv), &to_srv, &format!("network → server, ppm {ppm:?}"));
        check(&sent(&b, Port::Net), &to_net, &format!("server → network, ppm {ppm:?}"));
        // A frame's own wire time (preamble to FCS, 1 526 bytes at 80 ns) and the
        // pipeline's pass of the other port's (1 514 clocks).
        let (own, pass) = (1526.0 * 80.0, 1514.0 * 10.0);
        let mut best = f64::MAX;
        for p in Port::BOTH {
            assert_eq!(b.status(p).get("dropped"), 0, "{p:?}");
            let (lo, hi) = latency(&b, p);
            eprintln!("ppm {ppm:?}, {p:?} → {:?}: 1 514-byte frames, wire-to-wire latency {lo:.0}..{hi:.0} ns", p.other());
            // At most one pass behind the other port's frame, and not growing.
            assert!(hi < own + pass + 3000.0 && hi - lo < 2000.0, "{p:?}: latency {lo:.0}..{hi:.0} ns");
            best = best.min(lo);
        }
        // The direction served first leaves while the pipeline copies it in.
        assert!(best < own + 3000.0, "latency at least {best:.0} ns");
    }
}

/// Frames of random sizes (60…1 514 bytes without FCS), back to back at the line rate
/// both ways at once for a long stream, REF_CLKs 100 ppm apart: none lost (the ingress
/// holds a maximum frame and what arrives while it waits; the egress sends while it is
/// copied in), each the model's.
#[test]
fn long_mixed_size_stream_both_ways_at_line_rate_loses_nothing() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(1514);
    let mut b = bench(EngineKind::Verilator, [50.0, -50.0], [Speed::Mbps100; 2]);
    b.write_table(&[slot()]).unwrap();
    let n = 160;
    let mut mk = |incoming: bool| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let len = match rng.gen_range(0..4) {
                    0 => 60,
                    1 => 1514,
                    _ => rng.gen_range(60..=1514),
                };
                let port = if rng.gen_bool(0.4) { if incoming { 443 } else { 8443 } } else { 3000 + i as u16 };
                tcp_frame(incoming, port, 20000 + i as u16, len, rng.gen())
            })
            .collect()
    };
    let (inc, out) = (mk(true), mk(false));
    b.feed(Port::Net, &back_to_back(&inc, |_| Arrival::default()));
    b.feed(Port::Srv, &back_to_back(&out, |_| Arrival::default()));
    b.run_until_idle(20_000_000).unwrap();
    let slots = [slot()];
    let want = |fs: &[Vec<u8>], d| -> Vec<(Vec<u8>, Fcs)> { fs.iter().map(|f| (process_frame(f, d, &slots).frame, Fcs::Good)).collect() };
    check(&sent(&b, Port::Srv), &want(&inc, Direction::Incoming), "network → server");
    check(&sent(&b, Port::Net), &want(&out, Direction::Outgoing), "server → network");
    for p in Port::BOTH {
        assert_eq!(b.status(p).get("dropped"), 0, "{p:?}");
        let (lo, hi) = latency(&b, p);
        eprintln!("{p:?} → {:?}: mixed sizes, wire-to-wire latency {lo:.0}..{hi:.0} ns", p.other());
    }
}

/// The server port at 100 Mb/s into the network port at 10 while the network port's
/// own frames (at its 10 Mb/s line rate, maximum size) go the other way: the fast →
/// slow direction drops whole frames on the server port's ingress, counted in
/// `dropped` (every frame that leaves is the model's, whole, in order, with a good
/// FCS); the slow egress never holds the pipeline, so the other direction loses
/// nothing.
#[test]
fn fast_into_slow_drops_whole_frames_and_the_other_direction_loses_nothing() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let mut b = bench(EngineKind::Verilator, [30.0, -30.0], [Speed::Mbps10, Speed::Mbps100]);
    b.wait_for_links(200_000).unwrap();
    b.write_table(&[slot()]).unwrap();
    // Server → network: 100 Mb/s, back to back, mixed sizes (~6 ms on the wire).
    let out: Vec<Vec<u8>> = (0..60).map(|i| tcp_frame(false, if i % 2 == 0 { 8443 } else { 4000 + i }, 9000 + i, [60, 1514, rng.gen_range(60..1514)][i as usize % 3], i as u32)).collect();
    // Network → server: 10 Mb/s, back to back, maximum size (~6 ms on the wire).
    let inc: Vec<Vec<u8>> = (0..5).map(|i| tcp_frame(true, if i % 2 == 0 { 443 } else { 5000 + i }, 7000 + i, 1514, i as u32)).collect();
    b.feed(Port::Srv, &back_to_back(&out, |_| Arrival::default()));
    b.feed(Port::Net, &back_to_back(&inc, |_| Arrival::default()));
    b.run_until_idle(10_000_000).unwrap();
    let slots = [slot()];
    let good = |fs: &[Vec<u8>], d| -> Vec<(Vec<u8>, Fcs)> { fs.iter().map(|f| (process_frame(f, d, &slots).frame, Fcs::Good)).collect() };
    check(&sent(&b, Port::Srv), &good(&inc, Direction::Incoming), "network (10) → server (100)");
    assert_eq!(b.status(Port::Net).get("dropped"), 0);
    // Fast → slow: an ordered subsequence of the model's frames, each whole.
    let to_net = sent(&b, Port::Net);
    let want = good(&out, Direction::Outgoing);
    let mut w = want.iter();
    for (i, g) in to_net.iter().enumerate() {
        assert!(g.gap_bits.is_none_or(|gap| gap >= 96), "frame {i} out after {:?} bit times", g.gap_bits);
        assert!(w.any(|(f, fcs)| *f == g.bytes && *fcs == g.fcs), "frame {i} out ({} bytes) is not the next of the model's, whole", g.bytes.len());
    }
    let dropped = b.status(Port::Srv).get("dropped");
    assert!(dropped > 10, "only {dropped} dropped: the slow side was not overrun");
    assert_eq!(to_net.len() as u64 + dropped, out.len() as u64, "every frame left or was counted as dropped");
    eprintln!("server (100) → network (10): {} of {} left, {dropped} dropped", to_net.len(), out.len());
}

/// Frames longer than an egress buffer (1 536 bytes) but not than an ingress buffer
/// (2 048) are carried whole when the egress is empty (it sends while they are copied
/// in, holding the pipeline back at most until it has room); a longer one is dropped
/// whole and counted; the frames around them pass.
#[test]
fn frames_longer_than_the_egress_buffer_pass_whole_and_longer_than_the_ingress_drop_whole() {
    let mut b = bench(EngineKind::Verilator, [50.0, -50.0], [Speed::Mbps100; 2]);
    let lens = [1600, 60, 2040, 2100, 60, 1536];
    let fs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &n)| tcp_frame(true, 443, 100 + i as u16, n, i as u32)).collect();
    b.feed(Port::Net, &back_to_back(&fs, |_| Arrival::default()));
    b.run_until_idle(2_000_000).unwrap();
    let want: Vec<(Vec<u8>, Fcs)> = fs.iter().filter(|f| f.len() <= 2048).map(|f| (process_frame(f, Direction::Incoming, &[]).frame, Fcs::Good)).collect();
    check(&sent(&b, Port::Srv), &want, "network → server");
    assert_eq!(b.status(Port::Net).get("dropped"), 1);
}
