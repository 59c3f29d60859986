//! CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final xor), one byte
//! per clock: the control protocol's CRC (`portshare_host::protocol::crc16`). The
//! byte step is the usual table-free form — x = crc[15:8] ^ data; x ^= x >> 4;
//! crc' = (crc << 8) ^ (x << 12) ^ (x << 5) ^ x — a small xor network, at most
//! five inputs per output bit, so it fits two LUT levels at 100 MHz.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Crc16 {
    pub clock: Signal<In, Clock>,
    /// Start over from 0xFFFF; with `enable` the byte is the first of the new message.
    pub clear: Signal<In, Bit>,
    /// Fold `data` into the CRC on this clock edge.
    pub enable: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    /// The CRC of the bytes folded in so far. Over a message followed by its own CRC
    /// (big-endian) it is 0.
    pub crc: Signal<Out, Bits<16>>,
    state: DFFWithInit<Bits<16>>,
    init: Constant<Bits<16>>,
    base: Signal<Local, Bits<16>>,
    x: Signal<Local, Bits<8>>,
    y: Signal<Local, Bits<16>>,
}

impl Default for Crc16 {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            clear: Default::default(),
            enable: Default::default(),
            data: Default::default(),
            crc: Default::default(),
            state: DFFWithInit::new(0xFFFF.into()),
            init: Constant::new(0xFFFF.into()),
            base: Default::default(),
            x: Default::default(),
            y: Default::default(),
        }
    }
}

impl Logic for Crc16 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state);
        self.base.next = self.state.q.val();
        if self.clear.val() {
            self.base.next = self.init.val();
        }
        self.state.d.next = self.base.val();
        // The byte step only where it is used: rust-hdl's simulator shifts through
        // BigUint, so evaluating it on every idle clock would dominate simulation time.
        self.x.next = 0.into();
        self.y.next = 0.into();
        if self.enable.val() {
            self.x.next = bit_cast::<8, 16>(self.base.val() >> 8) ^ self.data.val();
            self.y.next = bit_cast::<16, 8>(self.x.val() ^ (self.x.val() >> 4));
            self.state.d.next = (self.base.val() << 8) ^ (self.y.val() << 12) ^ (self.y.val() << 5) ^ self.y.val();
        }
        self.crc.next = self.state.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_host::protocol::crc16;
    use rand::{Rng, SeedableRng};

    fn feed(uut: &mut Crc16, byte: Option<u8>, clear: bool) {
        uut.clear.next = clear;
        uut.enable.next = byte.is_some();
        uut.data.next = (byte.unwrap_or(0) as u64).into();
        uut.clock.next = true.into();
        assert!(simulate(uut, 100));
        uut.clock.next = false.into();
        assert!(simulate(uut, 100));
    }

    #[test]
    fn matches_the_host_crc_on_random_messages_with_idle_clocks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut uut = Crc16::default();
        uut.connect_all();
        for len in [0usize, 1, 2, 9, 26, 300] {
            let msg: Vec<u8> = if len == 9 { b"123456789".to_vec() } else { (0..len).map(|_| rng.gen()).collect() };
            feed(&mut uut, None, true);
            for &b in &msg {
                feed(&mut uut, Some(b), false);
                if rng.gen_bool(0.3) {
                    feed(&mut uut, None, false); // an idle clock changes nothing
                }
            }
            assert_eq!(uut.crc.val().index() as u16, crc16(&msg), "len {len}");
            // Appending the CRC big-endian gives residue 0.
            for b in crc16(&msg).to_be_bytes() {
                feed(&mut uut, Some(b), false);
            }
            assert_eq!(uut.crc.val().index(), 0);
        }
        // clear together with a byte: that byte starts the message.
        feed(&mut uut, Some(0x31), true);
        assert_eq!(uut.crc.val().index() as u16, crc16(&[0x31]));
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = Crc16::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-crc16", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
