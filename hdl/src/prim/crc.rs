//! One CRC block for every CRC in the design, generic over the CRC's width `W` and the
//! bits folded in per clock `D` (verilog-ethernet's `lfsr.v` idea): the spec (polynomial,
//! init, bit order, final xor) is a constructor argument, and the constructor derives the
//! next-state xor network from the bit-serial definition — for each state bit, which
//! state bits and which data bits feed it — so no polynomial-specific equations are
//! written by hand. yosys reduces each output bit to a small xor tree.
//!
//! Specs used here: [`FCS`] (Ethernet, CRC-32/ISO-HDLC) and [`CCITT_FALSE`] (the control
//! protocol's CRC-16).

use rust_hdl::prelude::*;

/// A CRC's definition, in the usual catalogue terms (Williams' "Rocksoft" model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrcSpec {
    pub width: usize,
    /// The generator polynomial, normal (MSB-first) form, without the x^width term.
    pub poly: u64,
    pub init: u64,
    /// Reflected: data bits enter LSB first and the register shifts right (Ethernet);
    /// otherwise MSB first, shifting left.
    pub reflect: bool,
    pub xorout: u64,
}

/// The Ethernet FCS: CRC-32, polynomial 0x04C11DB7 reflected, init and final xor all
/// ones. Sent least significant byte first, each byte LSB first (IEEE 802.3 §3.2.9).
pub const FCS: CrcSpec = CrcSpec { width: 32, poly: 0x04C1_1DB7, init: 0xFFFF_FFFF, reflect: true, xorout: 0xFFFF_FFFF };

/// CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, MSB first, no final xor.
pub const CCITT_FALSE: CrcSpec = CrcSpec { width: 16, poly: 0x1021, init: 0xFFFF, reflect: false, xorout: 0 };

impl CrcSpec {
    fn mask(&self) -> u64 {
        if self.width == 64 {
            u64::MAX
        } else {
            (1 << self.width) - 1
        }
    }

    /// The register after folding in the low `bits` bits of `data` one bit at a time
    /// (LSB first if reflected, else MSB first): the definition the block is derived from.
    pub fn step(&self, mut state: u64, data: u64, bits: usize) -> u64 {
        let mask = self.mask();
        let rpoly = (0..self.width).filter(|i| self.poly >> i & 1 == 1).fold(0u64, |r, i| r | 1 << (self.width - 1 - i));
        for k in 0..bits {
            if self.reflect {
                let fb = (state ^ (data >> k)) & 1;
                state >>= 1;
                if fb == 1 {
                    state ^= rpoly;
                }
            } else {
                let fb = (state >> (self.width - 1) ^ (data >> (bits - 1 - k))) & 1;
                state = (state << 1) & mask;
                if fb == 1 {
                    state ^= self.poly;
                }
            }
        }
        state & mask
    }

    /// The CRC of `bytes` (the bit-serial definition, byte by byte).
    pub fn checksum(&self, bytes: &[u8]) -> u64 {
        bytes.iter().fold(self.init, |s, &b| self.step(s, b as u64, 8)) ^ self.xorout
    }

    /// The CRC as sent after the message: little-endian if reflected, else big-endian.
    pub fn wire_bytes(&self, crc: u64) -> Vec<u8> {
        let n = self.width / 8;
        (0..n).map(|i| if self.reflect { (crc >> (8 * i)) as u8 } else { (crc >> (8 * (n - 1 - i))) as u8 }).collect()
    }

    /// The register after any message followed by its own CRC (`wire_bytes`): a
    /// constant (0xDEBB20E3 for the FCS, 0 for CCITT-FALSE).
    pub fn residue(&self) -> u64 {
        let crc = self.checksum(&[]);
        self.wire_bytes(crc).iter().fold(self.checksum(&[]) ^ self.xorout, |s, &b| self.step(s, b as u64, 8))
    }

    /// The register after a message followed by its CRC with every bit inverted (how
    /// the transmitters here stomp a frame): another constant, so a receiver can tell a
    /// frame stomped upstream from one damaged on the wire.
    pub fn stomped_residue(&self) -> u64 {
        let crc = self.checksum(&[]) ^ self.mask();
        self.wire_bytes(crc).iter().fold(self.init, |s, &b| self.step(s, b as u64, 8))
    }
}

#[derive(LogicBlock)]
pub struct Crc<const W: usize, const D: usize> {
    pub clock: Signal<In, Clock>,
    /// Start over from the spec's init; with `enable` the data is the first of the new
    /// message.
    pub clear: Signal<In, Bit>,
    /// Fold `data` into the CRC on this clock edge.
    pub enable: Signal<In, Bit>,
    /// `D` message bits; the first on the wire is bit 0 if reflected, bit D-1 if not.
    pub data: Signal<In, Bits<D>>,
    /// The CRC of the data folded in so far (the register with the final xor applied).
    pub crc: Signal<Out, Bits<W>>,
    /// The data folded in so far was a message followed by its own CRC.
    pub residue_ok: Signal<Out, Bit>,
    /// … followed by its CRC inverted (stomped).
    pub residue_stomped: Signal<Out, Bit>,
    state: DFFWithInit<Bits<W>>,
    c_init: Constant<Bits<W>>,
    c_xorout: Constant<Bits<W>>,
    c_residue: Constant<Bits<W>>,
    c_stomped: Constant<Bits<W>>,
    /// Per next-state bit j: the state bits and the data bits whose xor it is.
    c_state_taps: Vec<Constant<Bits<W>>>,
    c_data_taps: Vec<Constant<Bits<D>>>,
    base: Signal<Local, Bits<W>>,
    next: Signal<Local, Bits<W>>,
}

impl<const W: usize, const D: usize> Crc<W, D> {
    pub fn new(spec: CrcSpec) -> Self {
        assert_eq!(spec.width, W, "the spec's width is the block's");
        assert!(W % 8 == 0 && D >= 1 && D <= 64);
        // The step is linear in (state, data): column i of the matrix is the step of a
        // single set bit.
        let state_cols: Vec<u64> = (0..W).map(|i| spec.step(1 << i, 0, D)).collect();
        let data_cols: Vec<u64> = (0..D).map(|k| spec.step(0, 1 << k, D)).collect();
        let taps = |cols: &[u64], j: usize| cols.iter().enumerate().filter(|(_, c)| *c >> j & 1 == 1).fold(0u64, |m, (i, _)| m | 1 << i);
        Self {
            clock: Default::default(),
            clear: Default::default(),
            enable: Default::default(),
            data: Default::default(),
            crc: Default::default(),
            residue_ok: Default::default(),
            residue_stomped: Default::default(),
            state: DFFWithInit::new(spec.init.into()),
            c_init: Constant::new(spec.init.into()),
            c_xorout: Constant::new(spec.xorout.into()),
            c_residue: Constant::new(spec.residue().into()),
            c_stomped: Constant::new(spec.stomped_residue().into()),
            c_state_taps: (0..W).map(|j| Constant::new(taps(&state_cols, j).into())).collect(),
            c_data_taps: (0..W).map(|j| Constant::new(taps(&data_cols, j).into())).collect(),
            base: Default::default(),
            next: Default::default(),
        }
    }
}

impl Crc<32, 8> {
    /// The Ethernet FCS, one byte per clock.
    pub fn fcs() -> Self {
        Self::new(FCS)
    }
}

impl Crc<32, 2> {
    /// The Ethernet FCS, one RMII dibit per clock (bit 0 first on the wire): each next
    /// state bit is the xor of at most 5 inputs (the byte-wide one's of up to 14).
    pub fn fcs_dibit() -> Self {
        Self::new(FCS)
    }
}

impl<const W: usize, const D: usize> Logic for Crc<W, D> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state);
        self.base.next = self.state.q.val();
        if self.clear.val() {
            self.base.next = self.c_init.val();
        }
        self.state.d.next = self.base.val();
        // The xor network only where it is used: rust-hdl's simulator would otherwise
        // spend most of an idle clock on it.
        self.next.next = 0.into();
        if self.enable.val() {
            for j in 0..W {
                self.next.next = self.next.val().replace_bit(
                    j,
                    (self.base.val() & self.c_state_taps[j].val()).xor() ^ (self.data.val() & self.c_data_taps[j].val()).xor(),
                );
            }
            self.state.d.next = self.next.val();
        }
        self.crc.next = self.state.q.val() ^ self.c_xorout.val();
        self.residue_ok.next = self.state.q.val() == self.c_residue.val();
        self.residue_stomped.next = self.state.q.val() == self.c_stomped.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::*;
    use rand::{Rng, SeedableRng};

    fn feed<const W: usize, const D: usize>(uut: &mut Crc<W, D>, data: Option<u64>, clear: bool) {
        uut.clear.next = clear;
        uut.enable.next = data.is_some();
        uut.data.next = data.unwrap_or(0).into();
        cycle(uut, |u| &mut u.clock);
    }

    fn crc_of<const W: usize>(uut: &Crc<W, 8>) -> u64 {
        u64::from(uut.crc.val())
    }

    /// The bit-serial definition against the published check values (catalogue: "123456789").
    #[test]
    fn spec_matches_catalogue_check_values_and_the_crc_crate() {
        assert_eq!(FCS.checksum(b"123456789"), 0xCBF4_3926);
        assert_eq!(CCITT_FALSE.checksum(b"123456789"), 0x29B1);
        assert_eq!(FCS.residue(), 0xDEBB_20E3);
        // RmiiRx reads an empty message's check as neither.
        assert!(FCS.init != FCS.residue() && FCS.init != FCS.stomped_residue());
        assert_eq!(CCITT_FALSE.residue(), 0);
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        let reference16 = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for len in 0..200 {
            let msg: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            assert_eq!(FCS.checksum(&msg), reference.checksum(&msg) as u64, "len {len}");
            assert_eq!(CCITT_FALSE.checksum(&msg), reference16.checksum(&msg) as u64, "len {len}");
        }
    }

    /// The byte-wide FCS block against the `crc` crate on random messages with idle
    /// clocks, the residue with the FCS appended, and the stomped residue.
    #[test]
    fn fcs_block_matches_the_crc_crate() {
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut uut = Crc::fcs();
        uut.connect_all();
        for len in [0usize, 1, 2, 3, 9, 14, 60, 300, 1514] {
            let msg: Vec<u8> = if len == 9 { b"123456789".to_vec() } else { (0..len).map(|_| rng.gen()).collect() };
            feed(&mut uut, None, true);
            for &b in &msg {
                feed(&mut uut, Some(b as u64), false);
                if rng.gen_bool(0.2) {
                    feed(&mut uut, None, false);
                }
            }
            let good = reference.checksum(&msg);
            assert_eq!(crc_of(&uut), good as u64, "len {len}");
            let mut with_fcs = msg.clone();
            with_fcs.extend(good.to_le_bytes());
            // Appending the FCS little-endian leaves the residue; inverted, the stomp one.
            let mut stomped = msg.clone();
            stomped.extend((!good).to_le_bytes());
            for (bytes, ok, stomp) in [(&with_fcs, true, false), (&stomped, false, true)] {
                feed(&mut uut, None, true);
                for &b in bytes.iter() {
                    feed(&mut uut, Some(b as u64), false);
                }
                assert_eq!((uut.residue_ok.val(), uut.residue_stomped.val()), (ok, stomp), "len {len}");
            }
            // Any single flipped bit breaks both.
            if !with_fcs.is_empty() {
                let bit = rng.gen_range(0..with_fcs.len() * 8);
                with_fcs[bit / 8] ^= 1 << (bit % 8);
                feed(&mut uut, None, true);
                for &b in &with_fcs {
                    feed(&mut uut, Some(b as u64), false);
                }
                assert_eq!((uut.residue_ok.val(), uut.residue_stomped.val()), (false, false), "len {len} bit {bit}");
            }
        }
        // clear together with a byte: that byte starts the message.
        feed(&mut uut, Some(0x31), true);
        assert_eq!(crc_of(&uut), reference.checksum(&[0x31]) as u64);
    }

    /// The same spec at two bits per clock (RMII's dibits, LSB first) equals the byte
    /// block, and CCITT-FALSE (MSB first, no final xor) equals the `crc` crate too.
    #[test]
    fn other_widths_and_bit_orders() {
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        let reference16 = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut dibit = Crc::<32, 2>::new(FCS);
        dibit.connect_all();
        let mut c16 = Crc::<16, 8>::new(CCITT_FALSE);
        c16.connect_all();
        for len in [0usize, 1, 9, 64] {
            let msg: Vec<u8> = if len == 9 { b"123456789".to_vec() } else { (0..len).map(|_| rng.gen()).collect() };
            feed(&mut dibit, None, true);
            feed(&mut c16, None, true);
            for &b in &msg {
                for k in 0..4 {
                    feed(&mut dibit, Some((b as u64 >> (2 * k)) & 3), false);
                }
                feed(&mut c16, Some(b as u64), false);
            }
            assert_eq!(u64::from(dibit.crc.val()), reference.checksum(&msg) as u64, "dibit len {len}");
            assert_eq!(u64::from(c16.crc.val()), reference16.checksum(&msg) as u64, "crc16 len {len}");
            for b in reference16.checksum(&msg).to_be_bytes() {
                feed(&mut c16, Some(b as u64), false);
            }
            assert!(c16.residue_ok.val());
        }
    }

    /// The dibit FCS block (the RMII MACs' one) clock by clock against the bit-serial
    /// definition `CrcSpec::step`: random dibits, random idle clocks and random clears
    /// (alone or with a dibit), the register compared after every clock; and the residue
    /// flags on messages sent as dibits with their FCS, inverted FCS and a flipped bit.
    #[test]
    fn dibit_fcs_block_follows_the_bit_serial_definition_every_clock() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let mut uut = Crc::fcs_dibit();
        uut.connect_all();
        let mut state = FCS.init;
        for _ in 0..20_000 {
            let clear = rng.gen_bool(0.01);
            let data = rng.gen_bool(0.8).then(|| rng.gen_range(0..4u64));
            feed(&mut uut, data, clear);
            if clear {
                state = FCS.init;
            }
            if let Some(d) = data {
                state = FCS.step(state, d, 2);
            }
            assert_eq!(u64::from(uut.crc.val()), state ^ FCS.xorout);
            assert_eq!(uut.residue_ok.val(), state == FCS.residue());
            assert_eq!(uut.residue_stomped.val(), state == FCS.stomped_residue());
        }
        for len in [0usize, 1, 5, 60, 200] {
            let msg: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let fcs = FCS.checksum(&msg) as u32;
            for (tail, ok, stomp) in [(fcs, true, false), (!fcs, false, true)] {
                let mut bytes = msg.clone();
                bytes.extend(tail.to_le_bytes());
                let flip = rng.gen_range(0..bytes.len() * 8);
                for broken in [false, true] {
                    let mut b = bytes.clone();
                    if broken {
                        b[flip / 8] ^= 1 << (flip % 8);
                    }
                    feed(&mut uut, None, true);
                    for x in b {
                        for k in 0..4 {
                            feed(&mut uut, Some((x as u64 >> (2 * k)) & 3), false);
                        }
                    }
                    let want = if broken { (false, false) } else { (ok, stomp) };
                    assert_eq!((uut.residue_ok.val(), uut.residue_stomped.val()), want, "len {len} broken {broken}");
                }
            }
        }
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = Crc::fcs();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-crc32", std::process::id()), &generate_verilog(&uut)).unwrap();
        let mut uut = Crc::fcs_dibit();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-crc32-dibit", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
