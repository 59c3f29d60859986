//! 8N1 framing of UART bytes, as line levels: a start bit (low), the eight data bits
//! least significant first, a stop bit (high). The one serializer every software end of
//! the board's UART uses (the simulated board's pin driver, the UART and board-top
//! test benches); built on bitvec, whose `Lsb0` order is exactly the wire's bit order.

use bitvec::prelude::*;

/// Bit times in one frame.
pub const FRAME_BITS: usize = 10;

/// One byte's frame, bit time by bit time.
pub fn frame(byte: u8) -> BitArr!(for FRAME_BITS, in u8, Lsb0) {
    let mut f = BitArray::ZERO;
    f[1..9].copy_from_bitslice(byte.view_bits::<Lsb0>());
    f.set(FRAME_BITS - 1, true);
    f
}

/// The line levels of one byte's frame, start bit first.
pub fn levels(byte: u8) -> impl Iterator<Item = bool> {
    let f = frame(byte);
    (0..FRAME_BITS).map(move |i| f[i])
}

/// The frames of `bytes` back to back, one level per bit time.
pub fn serialize(bytes: &[u8]) -> BitVec<u8, Lsb0> {
    bytes.iter().flat_map(|&b| levels(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_data_lsb_first_stop() {
        // 0x35 = 0b0011_0101: data bits 1,0,1,0,1,1,0,0 on the wire.
        let want = [false, true, false, true, false, true, true, false, false, true];
        assert_eq!(levels(0x35).collect::<Vec<_>>(), want);
        for b in 0..=255u8 {
            let l: Vec<bool> = levels(b).collect();
            assert!(!l[0] && l[9], "{b:#04x}");
            assert_eq!((0..8).fold(0u8, |acc, i| acc | ((l[1 + i] as u8) << i)), b);
        }
        let line = serialize(&[0x00, 0xFF]);
        assert_eq!(line.len(), 20);
        assert_eq!(line.count_ones(), 1 + 9);
    }
}
