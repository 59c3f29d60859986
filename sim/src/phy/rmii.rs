//! RMII at the pins, per REF_CLK cycle (50 MHz from the PHY module's own oscillator: its
//! period in a two-clock run is `ref_clk_ns(ppm)`).
//!
//! Receive (`PhyRx`: what the PHY drives): CRS_DV and RXD[1:0]; each frame with the
//! preamble, SFD and FCS (good, bad or stomped), two bits per dibit LSB first; options
//! per frame for what real PHYs do — CRS_DV up with RXD = 00 before decoding starts,
//! preamble dibits swallowed, CRS_DV dropped early and toggling (low on each nibble's
//! first dibit, high on its second) while the PHY's FIFO drains, a stray half byte —
//! and false carriers (CRS_DV up with RXD = 10, no SFD). At 10 Mb/s each dibit is held
//! 10 cycles.
//!
//! Transmit (`TxDecoder`: what the PHY samples): TX_EN and TXD[1:0] back to frames,
//! checking the preamble and SFD, whole bytes, steady dibits at 10 Mb/s, the FCS (good,
//! stomped — the inverted good one — or bad) and the idle gap before each frame.

use bitvec::prelude::*;

/// 7 bytes of preamble and the SFD, as on the wire.
pub const PREAMBLE_SFD: [u8; 8] = [0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xD5];

/// REF_CLK's period for an oscillator `ppm` off 50 MHz.
pub fn ref_clk_ns(ppm: f64) -> f64 {
    20.0 / (1.0 + ppm * 1e-6)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    Mbps100,
    Mbps10,
}

impl Speed {
    /// REF_CLK cycles per dibit.
    pub fn hold(self) -> usize {
        match self {
            Speed::Mbps100 => 1,
            Speed::Mbps10 => 10,
        }
    }
}

/// The Ethernet FCS (CRC-32/ISO-HDLC) of `bytes`.
pub fn fcs(bytes: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(bytes)
}

/// Which FCS follows a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fcs {
    #[default]
    Good,
    /// Good, with one bit flipped.
    Bad,
    /// The good one inverted (a cut-through hop upstream stomped it).
    Stomped,
}

impl Fcs {
    /// What the FCS after `bytes` is.
    pub fn classify(bytes: &[u8], wire: [u8; 4]) -> Fcs {
        let v = u32::from_le_bytes(wire);
        if v == fcs(bytes) {
            Fcs::Good
        } else if v == !fcs(bytes) {
            Fcs::Stomped
        } else {
            Fcs::Bad
        }
    }
}

/// The frame with its FCS appended (least significant byte first).
pub fn with_fcs(frame: &[u8], kind: Fcs) -> Vec<u8> {
    let good = fcs(frame);
    let value = match kind {
        Fcs::Good => good,
        Fcs::Bad => good ^ 0x0000_0100,
        Fcs::Stomped => !good,
    };
    let mut v = frame.to_vec();
    v.extend(value.to_le_bytes());
    v
}

/// Bytes to dibits, LSB first.
pub fn dibits(bytes: &[u8]) -> Vec<u8> {
    bytes.view_bits::<Lsb0>().chunks(2).map(|c| c[0] as u8 | (c[1] as u8) << 1).collect()
}

/// How the PHY presents one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    pub fcs: Fcs,
    /// Dibit times of CRS_DV with RXD = 00 before the preamble.
    pub early: usize,
    /// Leading preamble dibits swallowed (at most 31: the SFD's `11` stays).
    pub lost: usize,
    /// Nibbles at the end during which CRS_DV toggles.
    pub toggle: usize,
    /// A stray half byte after the FCS (an alignment error).
    pub half_byte: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RxEvent {
    Frame(Vec<u8>, Arrival),
    /// A false carrier this many dibit times long.
    FalseCarrier(usize),
    /// CRS_DV low this many dibit times.
    Idle(usize),
}

/// The minimum gap between frames: 96 bit times.
pub const GAP_DIBITS: usize = 48;

/// The receive side of the PHY at one speed.
pub struct PhyRx {
    pub speed: Speed,
}

impl PhyRx {
    /// (CRS_DV, RXD) per REF_CLK cycle for `events`.
    pub fn pins(&self, events: &[RxEvent]) -> Vec<(bool, u8)> {
        let mut per_dibit: Vec<(bool, u8)> = Vec::new();
        for e in events {
            match e {
                RxEvent::Idle(n) => per_dibit.extend(std::iter::repeat((false, 0)).take(*n)),
                RxEvent::FalseCarrier(n) => per_dibit.extend(std::iter::repeat((true, 0b10)).take(*n)),
                RxEvent::Frame(frame, a) => {
                    assert!(a.lost < 32, "the SFD's last dibit cannot be lost");
                    per_dibit.extend(std::iter::repeat((true, 0)).take(a.early));
                    let mut all = dibits(&PREAMBLE_SFD);
                    all.extend(dibits(&with_fcs(frame, a.fcs)));
                    if a.half_byte {
                        all.extend([0b10, 0b01]);
                    }
                    // Nibble boundaries are those of the whole preamble-and-frame sequence.
                    let end = all.len() - 2 * a.toggle;
                    for (i, &d) in all.iter().enumerate().skip(a.lost) {
                        per_dibit.push((i < end || i % 2 == 1, d));
                    }
                }
            }
        }
        per_dibit.into_iter().flat_map(|s| std::iter::repeat(s).take(self.speed.hold())).collect()
    }
}

/// `frames` back to back with good FCSs and the minimum gap, each as `arrival` says.
pub fn back_to_back(frames: &[Vec<u8>], mut arrival: impl FnMut(usize) -> Arrival) -> Vec<RxEvent> {
    frames.iter().enumerate().flat_map(|(i, f)| [RxEvent::Frame(f.clone(), arrival(i)), RxEvent::Idle(GAP_DIBITS)]).collect()
}

/// One frame as the PHY saw it on TX_EN/TXD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxFrame {
    /// Without preamble, SFD and FCS.
    pub bytes: Vec<u8>,
    pub fcs: Fcs,
    /// Idle bit times since the previous frame (None for the first).
    pub gap_bits: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("TX_EN high for {0} dibits: not whole bytes")]
    NotWholeBytes(usize),
    #[error("a dibit not held for {0} REF_CLK cycles at 10 Mb/s")]
    Unsteady(usize),
    #[error("preamble and SFD were {0:02x?}")]
    Preamble(Vec<u8>),
    #[error("{0} bytes after the SFD: no room for an FCS")]
    TooShort(usize),
}

/// The transmit side of the PHY: decodes TX_EN/TXD, one REF_CLK cycle at a time.
pub struct TxDecoder {
    speed: Speed,
    burst: Vec<u8>,
    idle: Option<usize>,
    pub frames: Vec<Result<TxFrame, TxError>>,
}

impl TxDecoder {
    pub fn new(speed: Speed) -> Self {
        Self { speed, burst: Vec::new(), idle: None, frames: Vec::new() }
    }

    /// Whether a frame is being received (TX_EN was high on the last cycle).
    pub fn busy(&self) -> bool {
        !self.burst.is_empty()
    }

    pub fn push(&mut self, tx_en: bool, txd: u8) {
        if tx_en {
            self.burst.push(txd & 3);
            return;
        }
        if !self.burst.is_empty() {
            let burst = std::mem::take(&mut self.burst);
            let gap = self.idle.map(|n| n * 2 / self.speed.hold());
            self.frames.push(self.decode(&burst).map(|(bytes, fcs)| TxFrame { bytes, fcs, gap_bits: gap }));
            self.idle = Some(0);
        }
        self.idle = self.idle.map(|n| n + 1);
    }

    fn decode(&self, cycles: &[u8]) -> Result<(Vec<u8>, Fcs), TxError> {
        let hold = self.speed.hold();
        let mut bits = BitVec::<u8, Lsb0>::new();
        for c in cycles.chunks(hold) {
            if c.len() != hold || c.iter().any(|&d| d != c[0]) {
                return Err(TxError::Unsteady(hold));
            }
            bits.push(c[0] & 1 == 1);
            bits.push(c[0] & 2 == 2);
        }
        if bits.len() % 8 != 0 {
            return Err(TxError::NotWholeBytes(bits.len() / 2));
        }
        let bytes = bits.into_vec();
        if bytes.len() < 8 || bytes[..8] != PREAMBLE_SFD {
            return Err(TxError::Preamble(bytes[..bytes.len().min(8)].to_vec()));
        }
        let body = &bytes[8..];
        if body.len() < 4 {
            return Err(TxError::TooShort(body.len()));
        }
        let (frame, wire) = body.split_at(body.len() - 4);
        Ok((frame.to_vec(), Fcs::classify(frame, wire.try_into().unwrap())))
    }
}
