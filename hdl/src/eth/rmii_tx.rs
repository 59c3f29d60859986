//! RMII transmitter, on the port's REF_CLK: TX_EN and TXD[1:0] from flip-flops on the
//! rising edge (the PHY samples them on the next one), LSB-first dibits: 7 preamble
//! bytes 0x55, the SFD 0xD5, the frame's bytes as they are taken from the stream, and
//! the FCS computed over exactly those bytes — or, when the frame's `last` beat carries
//! `stomp`, that FCS inverted, which can never check (a frame whose ingress FCS was bad
//! never leaves with a good one; `RmiiRx` reports it as `stomped`). At least 96 bit times
//! (48 dibit times) of idle follow every frame.
//!
//! The stream is taken one byte per 8 bit times, no faster and no slower: once a frame
//! has started, a byte must be valid whenever `ready` is up. If none is (`underrun`), the
//! frame ends there with a stomped FCS and the rest of it is taken and dropped up to its
//! `last`. So the side feeding it (the clock-domain crossing) starts a frame only once
//! enough of it is buffered. No padding: a frame shorter than 60 bytes leaves as it came.
//!
//! 10 Mb/s (`speed_10`, taken at a frame's start): each dibit is held 10 clocks.
//!
//! The FCS is folded a dibit per clock (`Crc<32, 2>`), on the clock each of a frame
//! byte's dibits goes to TXD: the last one's clock precedes the next byte time, where the
//! FCS's first byte is taken.
//!
//! 224 LCs, REF_CLK 127 MHz (`eth::fit`; 287 LCs with the byte-wide FCS).

use crate::prim::crc::Crc;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum TxState {
    Idle,
    Preamble,
    Data,
    Fcs,
    /// The FCS's last byte is on the wire; TX_EN drops at the next byte time.
    Last,
    Gap,
}

#[derive(LogicBlock)]
pub struct RmiiTx {
    /// The port's REF_CLK.
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: TX_EN drops at once (a frame cut short is a runt on the
    /// wire with no valid FCS).
    pub reset: Signal<In, Bit>,
    /// 10 Mb/s (from the MDIO master); taken at the start of each frame.
    pub speed_10: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub last: Signal<In, Bit>,
    /// With `last`: end this frame with a stomped FCS.
    pub stomp: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub tx_en: Signal<Out, Bit>,
    pub txd: Signal<Out, Bits<2>>,
    /// One clock as a frame's FCS has left; `stomped` and `underrun` are valid with it.
    pub sent: Signal<Out, Bit>,
    pub stomped: Signal<Out, Bit>,
    pub underrun: Signal<Out, Bit>,
    state: DFF<TxState>,
    slow: DFF<Bit>,
    div: DFF<Bits<4>>,
    /// The dibit's index in its byte.
    dibit: DFF<Bits<2>>,
    shift: DFF<Bits<8>>,
    /// Preamble bytes sent; FCS bytes sent.
    n: DFF<Bits<3>>,
    fcs: DFF<Bits<32>>,
    r_stomp: DFF<Bit>,
    r_underrun: DFF<Bit>,
    /// Taking and dropping the rest of an underrun frame.
    dropping: DFF<Bit>,
    gap: DFF<Bits<6>>,
    /// This byte time carries a frame byte (its dibits go into the FCS).
    carry: DFF<Bit>,
    crc: Crc<32, 2>,
    tx_en_o: DFF<Bit>,
    txd_o: DFF<Bits<2>>,
    sent_o: DFF<Bit>,
    stomped_o: DFF<Bit>,
    underrun_o: DFF<Bit>,
    c_gap_dibits: Constant<Bits<6>>,
    c_invert: Constant<Bits<32>>,
    tick: Signal<Local, Bit>,
    /// A byte time starts on this clock.
    load: Signal<Local, Bit>,
    byte: Signal<Local, Bits<8>>,
    take: Signal<Local, Bit>,
    fcs_good: Signal<Local, Bits<32>>,
    fcs_stomped: Signal<Local, Bits<32>>,
}

/// Idle dibit times after a frame: 96 bit times (IEEE 802.3 interFrameGap).
pub const GAP_DIBITS: u64 = 48;

impl Default for RmiiTx {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            speed_10: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            last: Default::default(),
            stomp: Default::default(),
            ready: Default::default(),
            tx_en: Default::default(),
            txd: Default::default(),
            sent: Default::default(),
            stomped: Default::default(),
            underrun: Default::default(),
            state: Default::default(),
            slow: Default::default(),
            div: Default::default(),
            dibit: Default::default(),
            shift: Default::default(),
            n: Default::default(),
            fcs: Default::default(),
            r_stomp: Default::default(),
            r_underrun: Default::default(),
            dropping: Default::default(),
            gap: Default::default(),
            carry: Default::default(),
            crc: Crc::fcs_dibit(),
            tx_en_o: Default::default(),
            txd_o: Default::default(),
            sent_o: Default::default(),
            stomped_o: Default::default(),
            underrun_o: Default::default(),
            // The clock that sends Last's idle dibit and Idle's clock make up the 2 (100 Mb/s).
            c_gap_dibits: Constant::new((GAP_DIBITS - 2).into()),
            c_invert: Constant::new(0xFFFF_FFFF_u64.into()),
            tick: Default::default(),
            load: Default::default(),
            byte: Default::default(),
            take: Default::default(),
            fcs_good: Default::default(),
            fcs_stomped: Default::default(),
        }
    }
}

impl Logic for RmiiTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, slow, div, dibit, shift, n, fcs, r_stomp, r_underrun, dropping, gap, carry, tx_en_o, txd_o,
            sent_o, stomped_o, underrun_o
        );
        clock!(self, clock, crc);
        self.sent_o.d.next = false;
        // A dibit time starts on `tick`: every clock at 100 Mb/s, every 10th at 10.
        self.tick.next = true;
        if self.slow.q.val() {
            self.tick.next = self.div.q.val() == 0;
            if self.div.q.val() == 0 {
                self.div.d.next = 9.into();
            } else {
                self.div.d.next = self.div.q.val() - 1;
            }
        }
        self.load.next = self.tick.val() & (self.dibit.q.val() == 0);
        self.take.next = self.load.val() & (self.state.q.val() == TxState::Data) & self.valid.val();
        self.ready.next = self.take.val() | (self.dropping.q.val() & (self.state.q.val() != TxState::Data));
        self.crc.clear.next = false;
        // A taken byte's first dibit on its load clock, its other three from `shift`.
        self.crc.enable.next = self.take.val();
        self.crc.data.next = self.data.val().get_bits::<2>(0);
        if self.load.val() {
            self.carry.d.next = self.take.val();
        }
        self.byte.next = 0x55.into();
        self.fcs_good.next = self.crc.crc.val();
        self.fcs_stomped.next = self.crc.crc.val() ^ self.c_invert.val();

        if self.tick.val() & (self.state.q.val() != TxState::Idle) {
            self.dibit.d.next = self.dibit.q.val() + 1;
            self.txd_o.d.next = self.shift.q.val().get_bits::<2>(0);
            self.shift.d.next = self.shift.q.val() >> 2;
            if self.carry.q.val() & (self.dibit.q.val() != 0) {
                self.crc.enable.next = true;
                self.crc.data.next = self.shift.q.val().get_bits::<2>(0);
            }
        }
        if self.dropping.q.val() & self.valid.val() & self.last.val() & (self.state.q.val() != TxState::Data) {
            self.dropping.d.next = false;
        }

        match self.state.q.val() {
            TxState::Idle => {
                self.slow.d.next = self.speed_10.val();
                self.div.d.next = 9.into();
                self.dibit.d.next = 0.into();
                self.tx_en_o.d.next = false;
                self.txd_o.d.next = 0.into();
                if self.valid.val() & !self.dropping.q.val() {
                    // The first preamble byte's first dibit now.
                    self.state.d.next = TxState::Preamble;
                    self.n.d.next = 1.into();
                    self.tx_en_o.d.next = true;
                    self.txd_o.d.next = 1.into();
                    self.shift.d.next = 0x15.into();
                    self.dibit.d.next = 1.into();
                    self.crc.clear.next = true;
                    self.r_stomp.d.next = false;
                    self.r_underrun.d.next = false;
                }
            }
            TxState::Preamble => {
                if self.load.val() {
                    self.n.d.next = self.n.q.val() + 1;
                    if self.n.q.val() == 7 {
                        self.byte.next = 0xD5.into();
                        self.state.d.next = TxState::Data;
                    }
                }
            }
            TxState::Data => {
                if self.load.val() {
                    if self.valid.val() {
                        self.byte.next = self.data.val();
                        if self.last.val() {
                            self.state.d.next = TxState::Fcs;
                            self.n.d.next = 0.into();
                            self.r_stomp.d.next = self.stomp.val();
                        }
                    } else {
                        // Underrun: end here, stomped, and drop the rest of the frame.
                        self.state.d.next = TxState::Fcs;
                        self.n.d.next = 0.into();
                        self.r_stomp.d.next = true;
                        self.r_underrun.d.next = true;
                        self.dropping.d.next = true;
                        // This byte time already carries the FCS's first byte.
                        self.fcs.d.next = self.fcs_stomped.val() >> 8;
                        self.byte.next = self.fcs_stomped.val().get_bits::<8>(0);
                        self.n.d.next = 1.into();
                    }
                }
            }
            TxState::Fcs => {
                if self.load.val() {
                    self.n.d.next = self.n.q.val() + 1;
                    if self.n.q.val() == 0 {
                        self.fcs.d.next = self.fcs_good.val() >> 8;
                        self.byte.next = self.fcs_good.val().get_bits::<8>(0);
                        if self.r_stomp.q.val() {
                            self.fcs.d.next = self.fcs_stomped.val() >> 8;
                            self.byte.next = self.fcs_stomped.val().get_bits::<8>(0);
                        }
                    } else {
                        self.fcs.d.next = self.fcs.q.val() >> 8;
                        self.byte.next = self.fcs.q.val().get_bits::<8>(0);
                    }
                    if self.n.q.val() == 3 {
                        self.state.d.next = TxState::Last;
                    }
                }
            }
            TxState::Last => {
                if self.load.val() {
                    self.tx_en_o.d.next = false;
                    self.txd_o.d.next = 0.into();
                    self.state.d.next = TxState::Gap;
                    self.gap.d.next = self.c_gap_dibits.val();
                    if self.slow.q.val() {
                        // Idle starts a clock, not a dibit time, after the count.
                        self.gap.d.next = self.c_gap_dibits.val() + 1;
                    }
                    self.sent_o.d.next = true;
                    self.stomped_o.d.next = self.r_stomp.q.val();
                    self.underrun_o.d.next = self.r_underrun.q.val();
                }
            }
            TxState::Gap => {
                self.tx_en_o.d.next = false;
                self.txd_o.d.next = 0.into();
                if self.tick.val() {
                    if self.gap.q.val() == 0 {
                        self.state.d.next = TxState::Idle;
                    } else {
                        self.gap.d.next = self.gap.q.val() - 1;
                    }
                }
            }
        }
        // A new byte's first dibit goes out with this byte time.
        if self.load.val() & (self.state.q.val() != TxState::Idle) & (self.state.q.val() != TxState::Last) & (self.state.q.val() != TxState::Gap) {
            self.txd_o.d.next = self.byte.val().get_bits::<2>(0);
            self.shift.d.next = self.byte.val() >> 2;
        }
        if self.reset.val() {
            self.state.d.next = TxState::Idle;
            self.tx_en_o.d.next = false;
            self.dropping.d.next = false;
            self.carry.d.next = false;
        }
        self.tx_en.next = self.tx_en_o.q.val();
        self.txd.next = self.txd_o.q.val();
        self.sent.next = self.sent_o.q.val();
        self.stomped.next = self.stomped_o.q.val();
        self.underrun.next = self.underrun_o.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    /// What the bench's decoder saw on the pins for one frame.
    #[derive(Debug, PartialEq)]
    struct Seen {
        bytes: Vec<u8>,
        fcs_ok: bool,
        stomped: bool,
        /// Idle bit times before this frame (None for the first).
        gap_bits: Option<usize>,
    }

    /// Drives frames (bytes, stomp) into the transmitter; `hole` makes `valid` drop for
    /// a while after that many bytes of the given frame. Decodes the pins independently:
    /// 10-clock dibits must be constant, preamble and SFD exact, FCS by the `crc` crate.
    fn transmit(slow: bool, frames: &[(Vec<u8>, bool)], hole: Option<(usize, usize)>) -> (Vec<Seen>, Vec<(bool, bool)>) {
        let mut uut = RmiiTx::default();
        uut.connect_all();
        uut.speed_10.next = slow;
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        let mut queue: VecDeque<(usize, usize, u8, bool, bool)> = frames
            .iter()
            .enumerate()
            .flat_map(|(f, (b, s))| b.iter().enumerate().map(move |(i, &x)| (f, i, x, i + 1 == b.len(), *s)))
            .collect();
        let total: usize = frames.iter().map(|(b, _)| 8 + b.len() + 4 + 12).sum::<usize>() * 4 * if slow { 10 } else { 1 } + 2000;
        let (mut pins, mut status) = (Vec::new(), Vec::new());
        let (mut hole_used, mut hole_left) = (false, 0);
        for _ in 0..total {
            if let (Some((f, at)), Some(&(qf, qi, ..)), false) = (hole, queue.front(), hole_used) {
                if (qf, qi) == (f, at) {
                    (hole_used, hole_left) = (true, 200);
                }
            }
            let front = if hole_left > 0 {
                hole_left -= 1;
                None
            } else {
                queue.front().copied()
            };
            uut.valid.next = front.is_some();
            let (_, _, x, last, stomp) = front.unwrap_or((0, 0, 0, false, false));
            uut.data.next = (x as u64).into();
            uut.last.next = last;
            uut.stomp.next = stomp && last;
            portshare_tools::clocking::settle(&mut uut);
            if front.is_some() && uut.ready.val() {
                queue.pop_front();
            }
            uut.clock.next = true.into();
            portshare_tools::clocking::settle(&mut uut);
            uut.clock.next = false.into();
            portshare_tools::clocking::settle(&mut uut);
            pins.push((uut.tx_en.val(), uut.txd.val().to_u64() as u8));
            if uut.sent.val() {
                status.push((uut.stomped.val(), uut.underrun.val()));
            }
        }
        assert!(queue.is_empty(), "bytes never taken: {}", queue.len());
        assert!(!pins.last().unwrap().0, "still sending at the end");
        // Decode.
        let hold = if slow { 10 } else { 1 };
        let mut seen = Vec::new();
        let mut i = 0;
        let mut idle = None::<usize>;
        while i < pins.len() {
            if !pins[i].0 {
                idle = idle.map(|n| n + 1);
                i += 1;
                continue;
            }
            let start = i;
            while i < pins.len() && pins[i].0 {
                i += 1;
            }
            let burst = &pins[start..i];
            assert_eq!(burst.len() % (4 * hold), 0, "whole bytes");
            let dibits: Vec<u8> = burst
                .chunks(hold)
                .map(|c| {
                    assert!(c.iter().all(|&p| p == c[0]), "a dibit held {hold} clocks");
                    c[0].1
                })
                .collect();
            let bytes: Vec<u8> = dibits.chunks(4).map(|d| d.iter().enumerate().fold(0u8, |b, (k, &x)| b | x << (2 * k))).collect();
            assert_eq!(&bytes[..8], &[0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xD5], "preamble and SFD");
            let (body, fcs) = bytes[8..].split_at(bytes.len() - 12);
            let good = reference.checksum(body).to_le_bytes();
            seen.push(Seen {
                bytes: body.to_vec(),
                fcs_ok: fcs == good,
                stomped: fcs == (!reference.checksum(body)).to_le_bytes(),
                gap_bits: idle.map(|n| n * 2 / hold),
            });
            idle = Some(0);
        }
        (seen, status)
    }

    #[test]
    fn back_to_back_frames_at_both_speeds_with_valid_fcs_and_minimum_gap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        for slow in [false, true] {
            let lens: &[usize] = if slow { &[60, 1, 64] } else { &[60, 60, 1, 2, 1514, 61, 100] };
            let frames: Vec<(Vec<u8>, bool)> = lens.iter().map(|&n| ((0..n).map(|_| rng.gen()).collect(), false)).collect();
            let (seen, status) = transmit(slow, &frames, None);
            let expect: Vec<Seen> = frames
                .iter()
                .enumerate()
                .map(|(i, (b, _))| Seen { bytes: b.clone(), fcs_ok: true, stomped: false, gap_bits: (i > 0).then_some(96) })
                .collect();
            assert_eq!(seen, expect, "slow {slow}");
            assert_eq!(status, vec![(false, false); frames.len()]);
        }
    }

    #[test]
    fn stomps_on_request_and_on_underrun_and_the_next_frame_is_clean() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(29);
        let mut frame = || -> Vec<u8> { (0..70).map(|_| rng.gen()).collect() };
        let frames = vec![(frame(), false), (frame(), true), (frame(), false), (frame(), false)];
        // Frame 2 runs dry after 30 bytes.
        let (seen, status) = transmit(false, &frames, Some((2, 30)));
        assert_eq!(seen.len(), 4);
        assert_eq!((&seen[0].bytes, seen[0].fcs_ok), (&frames[0].0, true));
        assert_eq!((&seen[1].bytes, seen[1].fcs_ok, seen[1].stomped), (&frames[1].0, false, true));
        assert_eq!((&seen[2].bytes[..], seen[2].fcs_ok, seen[2].stomped), (&frames[2].0[..30], false, true));
        assert_eq!((&seen[3].bytes, seen[3].fcs_ok), (&frames[3].0, true));
        assert!(seen.iter().skip(1).all(|s| s.gap_bits.unwrap() >= 96));
        assert_eq!(status, vec![(false, false), (true, false), (true, true), (false, false)]);
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = RmiiTx::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-rmii-tx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
