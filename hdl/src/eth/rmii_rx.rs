//! RMII receiver, on the port's REF_CLK: CRS_DV and RXD[1:0] sampled on the rising edge
//! (the PHY changes them on the falling one), dibits to bytes, the FCS checked and held
//! back, so the output stream is the frame without its FCS. The FCS is folded a dibit
//! per clock as each dibit is taken (`Crc<32, 2>`, about a third of the byte-wide
//! one's LCs); the check's result is kept at every byte boundary, so the dibits after the
//! last whole byte (the half byte of an alignment error, the dibit taken before the end
//! is seen) do not count, as on a byte-wide check.
//!
//! * Start: the SFD is found at dibit granularity — a `11` dibit after at least one
//!   preamble `01` — so a PHY that swallows preamble dibits (any number, odd too) is
//!   still received; the `00` dibits a LAN8720 shows while CRS_DV is already up before
//!   decoding starts are skipped.
//! * End: CRS_DV is read only on the second dibit of each nibble. The PHY drops it on a
//!   nibble boundary and, while its FIFO still holds data, toggles it (low on a nibble's
//!   first dibit, high on its second): a frame ends at the first second dibit without
//!   CRS_DV, and data stays valid while it toggles. Ending half way through a byte is an
//!   alignment error (the half byte is dropped).
//! * A carrier that ends without an SFD (a false carrier: LAN8720 shows RXD = 10 during
//!   one) produces no frame, only the `false_carrier` strobe.
//! * 10 Mb/s (`speed_10`, taken when a carrier starts): each dibit is held 10 REF_CLK
//!   cycles; the receiver finds the first non-zero dibit and from then on samples in the
//!   middle of each (every 10th clock).
//! * Status with `frame_end` (the last beat's clock): `fcs_bad` (the FCS did not check),
//!   `stomped` (it did not check because it is the inverted good FCS — a frame a
//!   cut-through hop upstream already stomped; `fcs_bad` is set too), `runt` (fewer
//!   than 64 bytes with FCS), `align`. Frames of 4 bytes or fewer give `frame_end` alone.
//!
//! Latency: a byte leaves 5 bytes after it arrived (the FCS hold-back and the byte that
//! waits to learn whether it is the last).
//!
//! 230 LCs, REF_CLK 153 MHz (`eth::fit`; 296 LCs with the byte-wide FCS).

use crate::prim::crc::Crc;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum RxState {
    Idle,
    /// Carrier up, looking for the SFD.
    Hunt,
    Data,
}

#[derive(LogicBlock)]
pub struct RmiiRx {
    /// The port's REF_CLK.
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: abandons a frame.
    pub reset: Signal<In, Bit>,
    pub crs_dv: Signal<In, Bit>,
    pub rxd: Signal<In, Bits<2>>,
    /// 10 Mb/s (from the MDIO master); taken at the start of each carrier.
    pub speed_10: Signal<In, Bit>,
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    /// One clock at each frame's end; the flags below are valid with it.
    pub frame_end: Signal<Out, Bit>,
    pub fcs_bad: Signal<Out, Bit>,
    pub stomped: Signal<Out, Bit>,
    pub runt: Signal<Out, Bit>,
    pub align: Signal<Out, Bit>,
    /// One clock when a carrier ends without an SFD.
    pub false_carrier: Signal<Out, Bit>,
    r_crs: DFF<Bit>,
    r_rxd: DFF<Bits<2>>,
    state: DFF<RxState>,
    slow: DFF<Bit>,
    /// 10 Mb/s: the dibit grid has been found.
    locked: DFF<Bit>,
    /// 10 Mb/s: clocks to the next sample.
    div: DFF<Bits<4>>,
    seen_pre: DFF<Bit>,
    /// The dibit's index in its byte.
    dibit: DFF<Bits<2>>,
    shift: DFF<Bits<8>>,
    /// `shift` holds a whole byte (the clock after its fourth dibit).
    got: DFF<Bit>,
    h0: DFF<Bits<8>>,
    h1: DFF<Bits<8>>,
    h2: DFF<Bits<8>>,
    h3: DFF<Bits<8>>,
    /// The oldest byte not yet out: it leaves when the next byte comes (not last) or
    /// the frame ends (last).
    pend: DFF<Bits<8>>,
    /// Bytes received with the FCS, saturating at 64.
    count: DFF<Bits<7>>,
    fin: DFF<Bit>,
    fin_align: DFF<Bit>,
    crc: Crc<32, 2>,
    /// The FCS check over the whole bytes so far (`crc`'s residue flags at the last byte
    /// boundary).
    fcs_ok: DFF<Bit>,
    fcs_stomped: DFF<Bit>,
    data_o: DFF<Bits<8>>,
    valid_o: DFF<Bit>,
    last_o: DFF<Bit>,
    end_o: DFF<Bit>,
    fcs_bad_o: DFF<Bit>,
    stomped_o: DFF<Bit>,
    runt_o: DFF<Bit>,
    align_o: DFF<Bit>,
    false_carrier_o: DFF<Bit>,
    c_min_frame: Constant<Bits<7>>,
    tick: Signal<Local, Bit>,
    shifted: Signal<Local, Bits<8>>,
}

impl Default for RmiiRx {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            crs_dv: Default::default(),
            rxd: Default::default(),
            speed_10: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            last: Default::default(),
            frame_end: Default::default(),
            fcs_bad: Default::default(),
            stomped: Default::default(),
            runt: Default::default(),
            align: Default::default(),
            false_carrier: Default::default(),
            r_crs: Default::default(),
            r_rxd: Default::default(),
            state: Default::default(),
            slow: Default::default(),
            locked: Default::default(),
            div: Default::default(),
            seen_pre: Default::default(),
            dibit: Default::default(),
            shift: Default::default(),
            got: Default::default(),
            h0: Default::default(),
            h1: Default::default(),
            h2: Default::default(),
            h3: Default::default(),
            pend: Default::default(),
            count: Default::default(),
            fin: Default::default(),
            fin_align: Default::default(),
            crc: Crc::fcs_dibit(),
            fcs_ok: Default::default(),
            fcs_stomped: Default::default(),
            data_o: Default::default(),
            valid_o: Default::default(),
            last_o: Default::default(),
            end_o: Default::default(),
            fcs_bad_o: Default::default(),
            stomped_o: Default::default(),
            runt_o: Default::default(),
            align_o: Default::default(),
            false_carrier_o: Default::default(),
            c_min_frame: Constant::new(MIN_FRAME.into()),
            tick: Default::default(),
            shifted: Default::default(),
        }
    }
}

/// The shortest frame that is not a runt, FCS included (IEEE 802.3 minFrameSize).
pub const MIN_FRAME: u64 = 64;

impl Logic for RmiiRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, r_crs, r_rxd, state, slow, locked, div, seen_pre, dibit, shift, got, h0, h1, h2, h3, pend, count,
            fin, fin_align, fcs_ok, fcs_stomped, data_o, valid_o, last_o, end_o, fcs_bad_o, stomped_o, runt_o, align_o,
            false_carrier_o
        );
        clock!(self, clock, crc);
        self.r_crs.d.next = self.crs_dv.val();
        self.r_rxd.d.next = self.rxd.val();
        self.got.d.next = false;
        self.fin.d.next = false;
        self.valid_o.d.next = false;
        self.last_o.d.next = false;
        self.end_o.d.next = false;
        self.false_carrier_o.d.next = false;
        self.crc.clear.next = false;
        self.crc.enable.next = false;
        self.crc.data.next = self.r_rxd.q.val();
        self.shifted.next = (self.shift.q.val() >> 2) | (bit_cast::<8, 2>(self.r_rxd.q.val()) << 6);

        // Which clocks carry a dibit.
        self.tick.next = true;
        if self.slow.q.val() {
            self.tick.next = self.locked.q.val() & (self.div.q.val() == 0);
            if self.div.q.val() == 0 {
                self.div.d.next = 9.into();
            } else {
                self.div.d.next = self.div.q.val() - 1;
            }
            if (self.state.q.val() == RxState::Hunt) & !self.locked.q.val() & (self.r_rxd.q.val() != 0) {
                // The first clock of the first non-zero dibit: sample 5 clocks on.
                self.locked.d.next = true;
                self.div.d.next = 4.into();
            }
        }

        match self.state.q.val() {
            RxState::Idle => {
                self.slow.d.next = self.speed_10.val();
                self.locked.d.next = false;
                self.seen_pre.d.next = false;
                if self.r_crs.q.val() {
                    self.state.d.next = RxState::Hunt;
                }
            }
            RxState::Hunt => {
                if !self.r_crs.q.val() {
                    self.state.d.next = RxState::Idle;
                    self.false_carrier_o.d.next = true;
                } else if self.tick.val() {
                    if self.r_rxd.q.val() == 1 {
                        self.seen_pre.d.next = true;
                    } else if self.r_rxd.q.val() == 3 {
                        if self.seen_pre.q.val() {
                            // The SFD's last dibit: the frame's first byte follows.
                            self.state.d.next = RxState::Data;
                            self.dibit.d.next = 0.into();
                            self.count.d.next = 0.into();
                            self.crc.clear.next = true;
                            // No whole byte yet: the check of an empty message (init is
                            // neither residue).
                            self.fcs_ok.d.next = false;
                            self.fcs_stomped.d.next = false;
                        }
                    } else {
                        self.seen_pre.d.next = false;
                    }
                }
            }
            RxState::Data => {
                if self.tick.val() {
                    if self.dibit.q.val().get_bit(0) & !self.r_crs.q.val() {
                        self.state.d.next = RxState::Idle;
                        self.fin.d.next = true;
                        self.fin_align.d.next = self.dibit.q.val().get_bit(1);
                    } else {
                        self.shift.d.next = self.shifted.val();
                        self.crc.enable.next = true;
                        self.dibit.d.next = self.dibit.q.val() + 1;
                        if self.dibit.q.val() == 3 {
                            self.got.d.next = true;
                        }
                    }
                }
            }
        }

        // A byte in: the oldest held byte moves to `pend`, the old `pend` leaves.
        if self.got.q.val() {
            // `shift` and `crc` hold the byte just completed (they take the next dibit
            // on this clock at the earliest).
            self.h0.d.next = self.shift.q.val();
            self.fcs_ok.d.next = self.crc.residue_ok.val();
            self.fcs_stomped.d.next = self.crc.residue_stomped.val();
            self.h1.d.next = self.h0.q.val();
            self.h2.d.next = self.h1.q.val();
            self.h3.d.next = self.h2.q.val();
            self.pend.d.next = self.h3.q.val();
            if self.count.q.val() != self.c_min_frame.val() {
                self.count.d.next = self.count.q.val() + 1;
            }
            if self.count.q.val() >= 5 {
                self.valid_o.d.next = true;
                self.data_o.d.next = self.pend.q.val();
            }
        }
        if self.fin.q.val() {
            self.end_o.d.next = true;
            self.fcs_bad_o.d.next = !self.fcs_ok.q.val();
            self.stomped_o.d.next = self.fcs_stomped.q.val();
            self.runt_o.d.next = self.count.q.val() < self.c_min_frame.val();
            self.align_o.d.next = self.fin_align.q.val();
            if self.count.q.val() >= 5 {
                self.valid_o.d.next = true;
                self.last_o.d.next = true;
                self.data_o.d.next = self.pend.q.val();
            }
        }
        if self.reset.val() {
            self.state.d.next = RxState::Idle;
            self.fin.d.next = false;
            self.got.d.next = false;
        }

        self.data.next = self.data_o.q.val();
        self.valid.next = self.valid_o.q.val();
        self.last.next = self.last_o.q.val();
        self.frame_end.next = self.end_o.q.val();
        self.fcs_bad.next = self.fcs_bad_o.q.val();
        self.stomped.next = self.stomped_o.q.val();
        self.runt.next = self.runt_o.q.val();
        self.align.next = self.align_o.q.val();
        self.false_carrier.next = self.false_carrier_o.q.val();
    }
}

/// What the receiver reported for one frame (the test benches' view of its outputs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxFrame {
    pub bytes: Vec<u8>,
    pub fcs_bad: bool,
    pub stomped: bool,
    pub runt: bool,
    pub align: bool,
}

impl RmiiRx {
    /// One REF_CLK cycle with these pins; returns a frame when one ended, and counts
    /// false carriers. For benches driving the receiver with the direct loop.
    pub fn step(&mut self, crs_dv: bool, rxd: u8, partial: &mut Vec<u8>, false_carriers: &mut usize) -> Option<RxFrame> {
        self.crs_dv.next = crs_dv;
        self.rxd.next = (rxd as u64).into();
        self.clock.next = true.into();
        assert!(simulate(self, 100));
        self.clock.next = false.into();
        assert!(simulate(self, 100));
        if self.false_carrier.val() {
            *false_carriers += 1;
        }
        if self.valid.val() {
            partial.push(self.data.val().to_u64() as u8);
            assert_eq!(self.last.val(), self.frame_end.val(), "last comes with frame_end");
        }
        self.frame_end.val().then(|| RxFrame {
            bytes: std::mem::take(partial),
            fcs_bad: self.fcs_bad.val(),
            stomped: self.stomped.val(),
            runt: self.runt.val(),
            align: self.align.val(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A small independent PHY for this bench (the full model is portshare_sim::phy):
    /// `frame` with its FCS as RMII (CRS_DV, RXD) per REF_CLK cycle.
    #[derive(Clone, Copy, Default)]
    struct Wire {
        slow: bool,
        /// Clocks of CRS_DV with RXD = 00 before the preamble.
        early: usize,
        /// Preamble dibits the PHY swallows.
        lost: usize,
        /// Nibbles at the end during which CRS_DV toggles.
        toggle: usize,
        /// An extra half byte after the FCS.
        half: bool,
    }

    fn dibits(bytes: &[u8]) -> Vec<u8> {
        bytes.iter().flat_map(|b| (0..4).map(move |k| (b >> (2 * k)) & 3)).collect()
    }

    fn wire(frame: &[u8], w: Wire) -> Vec<(bool, u8)> {
        let mut all = dibits(&[0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xD5]);
        all.extend(dibits(frame));
        if w.half {
            all.extend([2, 1]);
        }
        let total = all.len(); // even: whole nibbles
        let mut out: Vec<(bool, u8)> = vec![(true, 0); w.early];
        for (i, &d) in all.iter().enumerate().skip(w.lost) {
            // CRS_DV drops `toggle` nibbles early, then toggles on each nibble.
            let crs = i < total - 2 * w.toggle || i % 2 == 1;
            out.push((crs, d));
        }
        out.extend([(false, 0); 4]);
        if w.slow {
            out = out.into_iter().flat_map(|s| std::iter::repeat(s).take(10)).collect();
        }
        out.extend([(false, 0); 60]); // the gap
        out
    }

    fn with_fcs(frame: &[u8]) -> Vec<u8> {
        let mut f = frame.to_vec();
        f.extend(crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(frame).to_le_bytes());
        f
    }

    fn run(uut: &mut RmiiRx, slow: bool, samples: &[(bool, u8)]) -> (Vec<RxFrame>, usize) {
        uut.speed_10.next = slow;
        let (mut frames, mut partial, mut fc) = (Vec::new(), Vec::new(), 0);
        for &(crs, d) in samples {
            frames.extend(uut.step(crs, d, &mut partial, &mut fc));
        }
        assert!(partial.is_empty(), "bytes without a frame_end: {partial:?}");
        (frames, fc)
    }

    fn good(bytes: &[u8]) -> RxFrame {
        RxFrame { bytes: bytes.to_vec(), runt: bytes.len() + 4 < 64, ..Default::default() }
    }

    #[test]
    fn receives_frames_at_both_speeds_with_lost_preamble_early_carrier_and_toggling() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut uut = RmiiRx::default();
        uut.connect_all();
        for slow in [false, true] {
            let lens: &[usize] = if slow { &[60, 1, 100, 61] } else { &[60, 1, 2, 59, 64, 1514, 333, 61] };
            for (n, &len) in lens.iter().enumerate() {
                let frame: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                let w = Wire { slow, early: rng.gen_range(0..6), lost: [0, 1, 2, 3, 7, 27][n % 6], toggle: rng.gen_range(0..4), half: false };
                let (got, fc) = run(&mut uut, slow, &wire(&with_fcs(&frame), w));
                assert_eq!((got, fc), (vec![good(&frame)], 0), "slow {slow} len {len} lost {} toggle {}", w.lost, w.toggle);
            }
        }
    }

    #[test]
    fn flags_bad_and_stomped_fcs_runts_and_alignment_and_recovers() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let mut uut = RmiiRx::default();
        uut.connect_all();
        let frame: Vec<u8> = (0..80).map(|_| rng.gen()).collect();
        let w = Wire::default();
        let mut bad = with_fcs(&frame);
        bad[40] ^= 0x10;
        let mut stomped = with_fcs(&frame);
        for b in &mut stomped[80..] {
            *b = !*b;
        }
        let mut samples = wire(&bad, w);
        samples.extend(wire(&stomped, Wire { toggle: 2, ..w }));
        samples.extend(wire(&with_fcs(&frame), Wire { half: true, ..w }));
        samples.extend(wire(&with_fcs(&frame[..3]), w)); // 7 bytes, a runt
        samples.extend(wire(&with_fcs(&frame), w));
        let (got, fc) = run(&mut uut, false, &samples);
        let mut bad_out = frame.clone();
        bad_out[40] ^= 0x10;
        assert_eq!(
            got,
            vec![
                RxFrame { bytes: bad_out, fcs_bad: true, ..Default::default() },
                RxFrame { bytes: frame.clone(), fcs_bad: true, stomped: true, ..Default::default() },
                RxFrame { bytes: frame.clone(), align: true, ..Default::default() },
                RxFrame { bytes: frame[..3].to_vec(), runt: true, ..Default::default() },
                good(&frame),
            ]
        );
        assert_eq!(fc, 0);
        // 4 bytes or fewer: `frame_end` and no beat.
        let (got, _) = run(&mut uut, false, &wire(&[1, 2, 3], w));
        assert_eq!(got, vec![RxFrame { bytes: vec![], fcs_bad: true, runt: true, ..Default::default() }]);
    }

    #[test]
    fn ignores_false_carrier_at_both_speeds() {
        let mut uut = RmiiRx::default();
        uut.connect_all();
        let frame: Vec<u8> = (0..64).collect();
        for slow in [false, true] {
            let rep = if slow { 10 } else { 1 };
            // A false carrier: CRS_DV up with RXD = 10 for a while, a preamble cut off,
            // and a carrier of 00 dibits only.
            let mut samples: Vec<(bool, u8)> = vec![(true, 2); 40 * rep];
            samples.extend(vec![(false, 0); 30 * rep]);
            samples.extend(vec![(true, 1); 12 * rep]);
            samples.extend(vec![(false, 0); 30 * rep]);
            samples.extend(vec![(true, 0); 9 * rep]);
            samples.extend(vec![(false, 0); 30 * rep]);
            samples.extend(wire(&with_fcs(&frame), Wire { slow, ..Default::default() }));
            let (got, fc) = run(&mut uut, slow, &samples);
            assert_eq!((got, fc), (vec![good(&frame)], 3), "slow {slow}");
        }
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = RmiiRx::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-rmii-rx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
