//! CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final xor), one byte
//! per clock: the control protocol's CRC (`portshare_host::protocol::crc16`). It is the
//! one generic CRC block (`prim::crc`, which derives the xor network from the spec)
//! with that spec; the test vectors below hold it to the host's CRC.

use crate::prim::crc::{Crc, CCITT_FALSE};

/// The control protocol's CRC block: `clear`, `enable`, `data` (a byte), `crc`, and
/// `residue_ok` (the bytes folded in were a message followed by its CRC, big-endian:
/// the register is 0).
pub type Crc16 = Crc<16, 8>;

impl Crc<16, 8> {
    pub fn ccitt_false() -> Self {
        Self::new(CCITT_FALSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::*;
    use portshare_host::protocol::crc16;
    use rust_hdl::prelude::*;
    use rand::{Rng, SeedableRng};

    fn feed(uut: &mut Crc16, byte: Option<u8>, clear: bool) {
        uut.clear.next = clear;
        uut.enable.next = byte.is_some();
        uut.data.next = (byte.unwrap_or(0) as u64).into();
        cycle(uut, |u| &mut u.clock);
    }

    #[test]
    fn matches_the_host_crc_on_random_messages_with_idle_clocks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut uut = Crc16::ccitt_false();
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
            assert!(uut.residue_ok.val(), "len {len}: residue");
        }
        // clear together with a byte: that byte starts the message.
        feed(&mut uut, Some(0x31), true);
        assert_eq!(uut.crc.val().index() as u16, crc16(&[0x31]));
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = Crc16::ccitt_false();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-crc16", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
