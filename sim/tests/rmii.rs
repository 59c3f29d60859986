//! The Ethernet blocks (`portshare_hdl::eth`) against the PHY model (`portshare_sim::phy`),
//! in rust-hdl's simulator with the direct loop: corpus frames through the model into
//! the receiver (and through the clock-domain crossing into the core clock, REF_CLK
//! 100 ppm off either way), frames from the core through the crossing and the
//! transmitter into the model's decoder (FCS checked, gaps measured), and the MDIO master
//! against the model's management interface (MDC timing checked).

use portshare_hdl::eth::cdc_rx::RxCdc;
use portshare_hdl::eth::cdc_tx::TxCdc;
use portshare_hdl::eth::mdio::MdioMaster;
use portshare_hdl::eth::rmii_rx::{RmiiRx, RxFrame};
use portshare_hdl::eth::rmii_tx::RmiiTx;
use portshare_hdl::eth::two_clocks::TwoClocks;
use portshare_sim::corpus;
use portshare_sim::phy::mdio::{lan8720, MdioPhy};
use portshare_sim::phy::rmii::{back_to_back, ref_clk_ns, Arrival, Fcs, PhyRx, RxEvent, Speed, TxDecoder, TxFrame, GAP_DIBITS};
use rand::{Rng, SeedableRng};
use portshare_tools::clocking::settle;
use rust_hdl::prelude::*;

/// What the receiver must report for a frame the model sent with a good FCS.
fn good(frame: &[u8]) -> RxFrame {
    RxFrame { bytes: frame.to_vec(), runt: frame.len() + 4 < 64, ..Default::default() }
}

fn receive(speed: Speed, pins: &[(bool, u8)]) -> (Vec<RxFrame>, usize) {
    let mut rx = RmiiRx::default();
    rx.connect_all();
    rx.speed_10.next = speed == Speed::Mbps10;
    let (mut frames, mut partial, mut false_carriers) = (Vec::new(), Vec::new(), 0);
    for &(crs, rxd) in pins {
        frames.extend(rx.step(crs, rxd, &mut partial, &mut false_carriers));
    }
    assert!(partial.is_empty());
    (frames, false_carriers)
}

fn random_arrival(rng: &mut impl Rng) -> Arrival {
    Arrival { early: rng.gen_range(0..6), lost: rng.gen_range(0..24), toggle: rng.gen_range(0..4), ..Default::default() }
}

#[test]
fn corpus_frames_through_the_phy_model_into_the_receiver_at_both_speeds() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let frames = corpus::ethernet_frames(3);
    assert!(frames.len() >= 400, "{} corpus frames", frames.len());
    let events = back_to_back(&frames, |_| random_arrival(&mut rng));
    let (got, fc) = receive(Speed::Mbps100, &PhyRx { speed: Speed::Mbps100 }.pins(&events));
    assert_eq!(fc, 0);
    assert_eq!(got.len(), frames.len());
    for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(*g, good(f), "frame {i}");
    }
    let few: Vec<Vec<u8>> = frames.iter().step_by(40).cloned().collect();
    let events = back_to_back(&few, |i| Arrival { lost: i % 7, toggle: i % 3, ..Default::default() });
    let (got, fc) = receive(Speed::Mbps10, &PhyRx { speed: Speed::Mbps10 }.pins(&events));
    assert_eq!((got, fc), (few.iter().map(|f| good(f)).collect(), 0));
}

#[test]
fn bad_and_stomped_fcs_alignment_false_carrier_and_runts_through_the_model() {
    let frames = corpus::ethernet_frames(1);
    let f = |i: usize| frames[i].clone();
    let ok = Arrival::default();
    let events = vec![
        RxEvent::Frame(f(0), Arrival { fcs: Fcs::Bad, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(f(1), Arrival { fcs: Fcs::Stomped, toggle: 2, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::FalseCarrier(30),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(f(2), Arrival { half_byte: true, lost: 5, ..ok }),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(vec![0xAA; 20], ok),
        RxEvent::Idle(GAP_DIBITS),
        RxEvent::Frame(f(3), ok),
        RxEvent::Idle(GAP_DIBITS),
    ];
    for speed in [Speed::Mbps100, Speed::Mbps10] {
        let (got, fc) = receive(speed, &PhyRx { speed }.pins(&events));
        assert_eq!(fc, 1, "{speed:?}");
        assert_eq!(
            got,
            vec![
                RxFrame { fcs_bad: true, ..good(&f(0)) },
                RxFrame { fcs_bad: true, stomped: true, ..good(&f(1)) },
                RxFrame { align: true, ..good(&f(2)) },
                good(&[0xAA; 20]),
                good(&f(3)),
            ],
            "{speed:?}"
        );
    }
}

/// The receive path of one port: pins on REF_CLK, words on the core clock.
#[derive(LogicBlock, Default)]
struct RxPath {
    pub ref_clk: Signal<In, Clock>,
    pub crs_dv: Signal<In, Bit>,
    pub rxd: Signal<In, Bits<2>>,
    pub speed_10: Signal<In, Bit>,
    pub clock: Signal<In, Clock>,
    pub valid: Signal<Out, Bit>,
    pub data: Signal<Out, Bits<8>>,
    pub byte: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    pub fcs_bad: Signal<Out, Bit>,
    pub overflow: Signal<Out, Bit>,
    rx: RmiiRx,
    cdc: RxCdc,
}

impl Logic for RxPath {
    #[hdl_gen]
    fn update(&mut self) {
        self.rx.clock.next = self.ref_clk.val();
        self.rx.reset.next = false;
        self.rx.crs_dv.next = self.crs_dv.val();
        self.rx.rxd.next = self.rxd.val();
        self.rx.speed_10.next = self.speed_10.val();
        self.cdc.rx_clock.next = self.ref_clk.val();
        self.cdc.rx_data.next = self.rx.data.val();
        self.cdc.rx_valid.next = self.rx.valid.val();
        self.cdc.rx_frame_end.next = self.rx.frame_end.val();
        self.cdc.rx_fcs_bad.next = self.rx.fcs_bad.val();
        self.cdc.rx_stomped.next = self.rx.stomped.val();
        self.cdc.rx_runt.next = self.rx.runt.val();
        self.cdc.rx_align.next = self.rx.align.val();
        self.cdc.rx_false_carrier.next = self.rx.false_carrier.val();
        self.overflow.next = self.cdc.rx_overflow.val();
        self.cdc.clock.next = self.clock.val();
        self.valid.next = self.cdc.valid.val();
        self.data.next = self.cdc.data.val();
        self.byte.next = self.cdc.byte.val();
        self.last.next = self.cdc.last.val();
        self.fcs_bad.next = self.cdc.fcs_bad.val();
    }
}

/// Model pins on REF_CLK `ppm` off 50 MHz, frames read on the 100 MHz core clock with
/// taken on each clock the crossing's `valid` is up.
fn receive_in_core(ppm: f64, pins: &[(bool, u8)]) -> Vec<(Vec<u8>, bool)> {
    let mut uut = RxPath::default();
    uut.connect_all();
    let mut clocks = TwoClocks::new(10.0, ref_clk_ns(ppm));
    let (mut frames, mut partial, mut next) = (Vec::new(), Vec::new(), 0);
    while next < pins.len() + 400 {
        let edge = clocks.advance();
        let take = edge.rises(0) && uut.valid.val();
        let word = (uut.data.val().to_u64() as u8, uut.byte.val(), uut.last.val(), uut.fcs_bad.val());
        uut.clock.next = clocks.level(0).into();
        uut.ref_clk.next = clocks.level(1).into();
        settle(&mut uut);
        if take {
            if word.1 {
                partial.push(word.0);
            }
            if word.2 {
                frames.push((std::mem::take(&mut partial), word.3));
            }
        }
        if edge.rises(1) {
            assert!(!uut.overflow.val());
            let (crs, rxd) = pins.get(next).copied().unwrap_or((false, 0));
            uut.crs_dv.next = crs;
            uut.rxd.next = (rxd as u64).into();
            next += 1;
        }
        settle(&mut uut);
    }
    frames
}

#[test]
fn maximum_frames_back_to_back_cross_into_the_core_with_ref_clk_100_ppm_off_either_way() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut frames: Vec<Vec<u8>> = (0..5).map(|_| (0..1514).map(|_| rng.gen()).collect()).collect();
    frames.extend(corpus::ethernet_frames(1).into_iter().take(20));
    let pins = PhyRx { speed: Speed::Mbps100 }.pins(&back_to_back(&frames, |i| Arrival { lost: i % 5, toggle: i % 2, ..Default::default() }));
    for ppm in [100.0, -100.0] {
        let got = receive_in_core(ppm, &pins);
        assert_eq!(got.len(), frames.len(), "ppm {ppm}");
        for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
            assert!(g.0 == *f && !g.1, "ppm {ppm}: frame {i}");
        }
    }
}

/// The transmit path of one port: frames on the core clock, pins on REF_CLK.
#[derive(LogicBlock, Default)]
struct TxPath {
    pub clock: Signal<In, Clock>,
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub last: Signal<In, Bit>,
    pub stomp: Signal<In, Bit>,
    pub ref_clk: Signal<In, Clock>,
    pub speed_10: Signal<In, Bit>,
    pub tx_en: Signal<Out, Bit>,
    pub txd: Signal<Out, Bits<2>>,
    pub underrun: Signal<Out, Bit>,
    cdc: TxCdc,
    tx: RmiiTx,
}

impl Logic for TxPath {
    #[hdl_gen]
    fn update(&mut self) {
        self.cdc.clock.next = self.clock.val();
        self.cdc.data.next = self.data.val();
        self.cdc.valid.next = self.valid.val();
        self.ready.next = self.cdc.ready.val();
        self.cdc.last.next = self.last.val();
        self.cdc.stomp.next = self.stomp.val();
        self.cdc.tx_clock.next = self.ref_clk.val();
        self.tx.clock.next = self.ref_clk.val();
        self.tx.reset.next = false;
        self.tx.speed_10.next = self.speed_10.val();
        self.tx.data.next = self.cdc.tx_data.val();
        self.tx.valid.next = self.cdc.tx_valid.val();
        self.tx.last.next = self.cdc.tx_last.val();
        self.tx.stomp.next = self.cdc.tx_stomp.val();
        self.cdc.tx_ready.next = self.tx.ready.val();
        self.tx_en.next = self.tx.tx_en.val();
        self.txd.next = self.tx.txd.val();
        self.underrun.next = self.tx.underrun.val();
    }
}

/// Frames (bytes, stomp) written by the core at the line rate of `speed` (a byte per 8
/// or 80 core clocks, 20 byte times between frames as on the ingress wire), sent on
/// REF_CLK `ppm` off, decoded by the model.
fn transmit(speed: Speed, ppm: f64, frames: &[(Vec<u8>, bool)]) -> Vec<TxFrame> {
    let mut uut = TxPath::default();
    uut.connect_all();
    uut.speed_10.next = speed == Speed::Mbps10;
    let mut clocks = TwoClocks::new(10.0, ref_clk_ns(ppm));
    let mut decoder = TxDecoder::new(speed);
    let per_byte = 8 * speed.hold() as u64;
    let bytes: Vec<(u8, bool, bool)> = frames.iter().flat_map(|(f, s)| f.iter().enumerate().map(move |(i, &b)| (b, i + 1 == f.len(), *s))).collect();
    let (mut next, mut wait, mut quiet) = (0, 0u64, 0);
    // Time enough for every byte at half the line rate; a stall ends the run and fails below.
    let end_ns = ((bytes.len() + 40 * frames.len()) as u64 * per_byte * 20 + 20_000) as f64;
    while (next < bytes.len() || decoder.busy() || quiet < 200 * speed.hold()) && clocks.now_ns() < end_ns {
        let edge = clocks.advance();
        let write = edge.rises(0) && uut.valid.val() && uut.ready.val();
        uut.clock.next = clocks.level(0).into();
        uut.ref_clk.next = clocks.level(1).into();
        settle(&mut uut);
        if edge.rises(0) {
            if write {
                next += 1;
                wait = if bytes[next - 1].1 { 20 * per_byte } else { per_byte };
            }
            wait = wait.saturating_sub(1);
            uut.valid.next = next < bytes.len() && wait == 0;
            let (b, l, s) = bytes.get(next).copied().unwrap_or_default();
            uut.data.next = (b as u64).into();
            uut.last.next = l;
            uut.stomp.next = s && l;
        }
        if edge.rises(1) {
            assert!(!uut.underrun.val(), "underrun");
            decoder.push(uut.tx_en.val(), uut.txd.val().to_u64() as u8);
            quiet = if next < bytes.len() || uut.tx_en.val() { 0 } else { quiet + 1 };
        }
        settle(&mut uut);
    }
    assert_eq!(next, bytes.len(), "bytes never taken by the transmit path");
    decoder.frames.into_iter().map(|f| f.expect("a well-formed frame on TX")).collect()
}

fn check_sent(got: &[TxFrame], frames: &[(Vec<u8>, bool)], what: &str) -> (usize, usize) {
    assert_eq!(got.len(), frames.len(), "{what}");
    for (i, (g, (f, stomp))) in got.iter().zip(frames).enumerate() {
        assert_eq!(g.bytes, *f, "{what}: frame {i}");
        assert_eq!(g.fcs, if *stomp { Fcs::Stomped } else { Fcs::Good }, "{what}: frame {i}");
    }
    let gaps: Vec<usize> = got.iter().filter_map(|g| g.gap_bits).collect();
    let (min, max) = (*gaps.iter().min().unwrap(), *gaps.iter().max().unwrap());
    assert!(min >= 96, "{what}: a gap of {min} bit times");
    (min, max)
}

#[test]
fn corpus_and_maximum_frames_leave_the_transmitter_with_valid_fcs_and_gaps_ppm_either_way() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut frames: Vec<(Vec<u8>, bool)> = (0..3).map(|_| ((0..1514).map(|_| rng.gen()).collect(), false)).collect();
    frames.extend(corpus::ethernet_frames(1).into_iter().take(24).enumerate().map(|(i, f)| (f, i % 7 == 4)));
    for ppm in [100.0, -100.0] {
        let got = transmit(Speed::Mbps100, ppm, &frames);
        let (min, max) = check_sent(&got, &frames, &format!("100 Mb/s, {ppm} ppm"));
        eprintln!("100 Mb/s, REF_CLK {ppm:+} ppm: gaps {min}–{max} bit times");
    }
    let few: Vec<(Vec<u8>, bool)> = frames.iter().skip(3).step_by(8).cloned().collect();
    let got = transmit(Speed::Mbps10, 0.0, &few);
    let (min, max) = check_sent(&got, &few, "10 Mb/s");
    eprintln!("10 Mb/s: gaps {min}–{max} bit times");
}

#[test]
fn transmitter_into_receiver_through_the_model_loop() {
    // TX pins decoded by the model, re-sent by the model's receive side into RmiiRx:
    // two independent implementations of the same wire agree.
    let frames: Vec<(Vec<u8>, bool)> = corpus::ethernet_frames(1).into_iter().skip(100).take(30).map(|f| (f, false)).collect();
    let sent = transmit(Speed::Mbps100, 50.0, &frames);
    let again: Vec<Vec<u8>> = sent.iter().map(|s| s.bytes.clone()).collect();
    let (got, _) = receive(Speed::Mbps100, &PhyRx { speed: Speed::Mbps100 }.pins(&back_to_back(&again, |_| Arrival::default())));
    assert_eq!(got, frames.iter().map(|(f, _)| good(f)).collect::<Vec<_>>());
}

/// Runs the MDIO master against the model for `clocks` core clocks; returns the model
/// and the master's (link, speed_10, full_duplex, phy_present) at each update.
fn manage(phy: &mut MdioPhy, clocks: usize, change_at: Option<(usize, [u16; 32])>) -> Vec<(bool, bool, bool, bool)> {
    let mut uut = MdioMaster::new(20_000);
    uut.connect_all();
    let mut line = true;
    let mut seen = Vec::new();
    for t in 0..clocks {
        if let Some((at, regs)) = change_at {
            if t == at {
                phy.regs = regs;
            }
        }
        uut.mdio_i.next = line;
        uut.clock.next = true.into();
        settle(&mut uut);
        uut.clock.next = false.into();
        settle(&mut uut);
        line = phy.step(uut.mdc.val(), uut.mdio_o.val(), uut.mdio_oe.val());
        if uut.updated.val() {
            seen.push((uut.link.val(), uut.speed_10.val(), uut.full_duplex.val(), uut.phy_present.val()));
        }
    }
    seen
}

#[test]
fn mdio_master_follows_the_phy_model_within_mdc_timing() {
    let mut phy = MdioPhy::new(1, lan8720(true, false, true), 10.0);
    // Link up at 100 full, then 10 Mb/s half duplex after a renegotiation.
    let seen = manage(&mut phy, 120_000, Some((60_000, lan8720(true, true, false))));
    assert!(seen.len() >= 4, "{seen:?}");
    assert_eq!(seen[0], (true, false, true, true));
    assert_eq!(*seen.last().unwrap(), (true, true, false, true));
    assert!(phy.min_high_ns >= 160.0 && phy.min_low_ns >= 160.0 && phy.min_period_ns >= 400.0, "MDC {} / {} / {} ns", phy.min_high_ns, phy.min_low_ns, phy.min_period_ns);
    assert_eq!(phy.contention, 0);
    assert!(phy.reads.iter().all(|&(a, r)| a == 1 && [0, 1, 31].contains(&r)), "{:?}", phy.reads);
    assert!([0u8, 1, 31].iter().all(|r| phy.reads.contains(&(1, *r))));
    eprintln!("MDC: high ≥ {} ns, low ≥ {} ns, period ≥ {} ns", phy.min_high_ns, phy.min_low_ns, phy.min_period_ns);
    // The PHY's answers as late as the LAN8720 allows (300 ns).
    let mut late = MdioPhy::new(1, lan8720(true, true, true), 10.0);
    late.delay = 30;
    assert_eq!(manage(&mut late, 40_000, None)[0], (true, true, true, true));
    // Link down.
    let mut down = MdioPhy::new(1, lan8720(false, false, false), 10.0);
    assert_eq!(manage(&mut down, 40_000, None)[0], (false, false, false, true));
    // No PHY at address 1.
    let mut elsewhere = MdioPhy::new(2, lan8720(true, false, true), 10.0);
    assert_eq!(manage(&mut elsewhere, 40_000, None)[0].0, false);
    assert_eq!(manage(&mut elsewhere, 40_000, None)[0].3, false);
}
