//! What a board top needs of the part before any tool runs: its block RAMs, counted from
//! the same constants that size each RAM in the design, so `portshare build` can refuse
//! a table size that cannot fit instead of letting nextpnr fail after synthesis.
//! `tests/build.rs` checks the count against nextpnr's report, so it cannot drift.

use crate::core::{cam, counters, pipeline, rewriter};
use crate::ctrl::control;

/// Block RAMs on the iCE40HX8K (`SB_RAM40_4K`, 4 kbit each).
pub const HX8K_BLOCK_RAMS: usize = 32;

/// The shapes one `SB_RAM40_4K` takes: (words, bits per word).
const BRAM_SHAPES: [(usize, usize); 4] = [(256, 16), (512, 8), (1024, 4), (2048, 2)];

/// One memory of the design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub name: &'static str,
    pub words: usize,
    pub bits: usize,
}

impl Memory {
    /// Block RAMs it takes: the cheapest tiling by one of the RAM's shapes (what yosys's
    /// memory mapping picks for these sizes).
    pub fn block_rams(&self) -> usize {
        BRAM_SHAPES
            .iter()
            .map(|&(words, bits)| self.words.div_ceil(words) * self.bits.div_ceil(bits))
            .min()
            .expect("shapes")
    }
}

/// Every block RAM of the board top for a table of `entries`.
pub fn memories(entries: usize) -> Vec<Memory> {
    let key = |name| Memory { name, words: 1 << cam::KEY_ADDR_BITS, bits: entries };
    vec![
        key("CAM high-nibble keys"),
        key("CAM low-nibble keys"),
        Memory { name: "CAM results", words: 1 << cam::RESULT_ADDR_BITS, bits: cam::RESULT_BITS },
        Memory { name: "hit counters", words: 1 << counters::HITS_ADDR_BITS, bits: counters::HITS_BITS },
        Memory { name: "byte queue", words: 1 << pipeline::QUEUE_ADDR_BITS, bits: rewriter::QUEUE_BITS },
        Memory { name: "frame buffer", words: 1 << control::FRAME_ADDR_BITS, bits: 8 },
    ]
}

/// The board tops `portshare build --board` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// `CuBoard`: USB only.
    Cu,
    /// `CuEthBoard`: plus two RMII ports.
    CuEth,
}

/// Every block RAM of `board` for a table of `entries`: the Cu board's, and for the
/// Ethernet board per port two whole-frame buffers (the crossings hold their words in
/// flip-flops), and both ports' counters in one RAM.
pub fn board_memories(board: Board, entries: usize) -> Vec<Memory> {
    use crate::eth::frame_fifo::{EGRESS_CAPACITY, INGRESS_CAPACITY};
    use crate::eth::port_counters;
    let mut m = memories(entries);
    if board == Board::CuEth {
        for _port in 0..2 {
            // 1 024 + 1 024 bytes: two RAMs of two blocks each.
            m.push(Memory { name: "ingress frames (1 KiB)", words: 1024, bits: 8 });
            m.push(Memory { name: "ingress frames (1 KiB, upper)", words: INGRESS_CAPACITY as usize - 1024, bits: 8 });
            // 1 024 + 512 bytes: two RAMs.
            m.push(Memory { name: "egress frames (1 KiB)", words: 1024, bits: 8 });
            m.push(Memory { name: "egress frames (512 B)", words: EGRESS_CAPACITY as usize - 1024, bits: 8 });
        }
        m.push(Memory { name: "port counters", words: 1 << port_counters::RAM_ADDR_BITS, bits: port_counters::RAM_BITS });
    }
    m
}

/// Block RAMs the board top needs for `entries`.
pub fn block_rams(entries: usize) -> usize {
    memories(entries).iter().map(Memory::block_rams).sum()
}

/// `None` when a table of `entries` fits the HX8K's block RAM, else why not, naming the
/// largest of `sizes` that does fit.
pub fn does_not_fit(entries: usize, sizes: &[usize]) -> Option<String> {
    does_not_fit_on(Board::Cu, entries, sizes)
}

/// [`does_not_fit`] for `board`.
pub fn does_not_fit_on(board: Board, entries: usize, sizes: &[usize]) -> Option<String> {
    let rams = |n: usize| board_memories(board, n).iter().map(Memory::block_rams).sum::<usize>();
    let need = rams(entries);
    if need <= HX8K_BLOCK_RAMS {
        return None;
    }
    let parts = board_memories(board, entries)
        .iter()
        .map(|m| format!("{} {}", m.name, m.block_rams()))
        .collect::<Vec<_>>()
        .join(", ");
    let largest = sizes.iter().copied().filter(|&n| rams(n) <= HX8K_BLOCK_RAMS).max();
    Some(format!(
        "{entries} entries need {need} block RAMs ({parts}); the HX8K has {HX8K_BLOCK_RAMS}; {}",
        match largest {
            Some(n) => format!("{n} is the largest that fits"),
            None => "no table size fits".into(),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_tile_each_memory_as_the_part_allows() {
        // 512 × 64: eight 512 × 8 RAMs; 256 × 36: three 256 × 16; 2048 × 8: four 2048 × 2.
        assert_eq!(Memory { name: "", words: 512, bits: 64 }.block_rams(), 8);
        assert_eq!(Memory { name: "", words: 256, bits: 36 }.block_rams(), 3);
        assert_eq!(Memory { name: "", words: 2048, bits: 8 }.block_rams(), 4);
        assert_eq!(Memory { name: "", words: 32, bits: 16 }.block_rams(), 1);
        assert_eq!(Memory { name: "", words: 4096, bits: 1 }.block_rams(), 2);
    }

    #[test]
    fn the_128_entry_table_is_refused_with_its_need_and_the_largest_that_fits() {
        assert_eq!(does_not_fit(64, &[16, 64, 128]), None);
        let e = does_not_fit(128, &[16, 64, 128]).unwrap();
        assert!(e.starts_with("128 entries need 42 block RAMs ("), "{e}");
        assert!(e.ends_with("the HX8K has 32; 64 is the largest that fits"), "{e}");
        assert!(e.contains("(CAM high-nibble keys 16, CAM low-nibble keys 16, CAM results 3, "), "{e}");
    }
}
