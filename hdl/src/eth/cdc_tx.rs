//! Transmit-side clock-domain crossing: frames from the 100 MHz core into `RmiiTx` on the
//! port's REF_CLK, through two held words and two toggles each way (no FIFO memory, no
//! block RAM). The core writes slot A and slot B in turn: the word (data, `last`,
//! `stomp`) is held in its slot and flips the slot's `filled` toggle. On REF_CLK each
//! `filled` toggle passes two synchronizer flip-flops; the slot expected next is full
//! while it differs from that slot's `taken` toggle, and `RmiiTx` taking the word flips
//! `taken`, which crosses back to the core the same way and frees the slot. Words leave
//! in the order written, each once.
//!
//! Timing: a word written is seen full on REF_CLK ≤ 3 cycles (60 ns) later and a slot
//! taken is free to the core ≤ 4 core clocks (40 ns) later, so a writer that is ready
//! with its bytes refills a slot ≤ 100 ns after it was taken, while `RmiiTx` needs that
//! slot again two byte times (160 ns at 100 Mb/s) later. So the writer must keep ahead
//! of the wire within a frame: the egress buffer does (it lets a frame out once 64 bytes
//! are in, `frame_fifo.rs`, and is written at up to a byte per clock); a writer that
//! stalls mid-frame makes `RmiiTx` underrun (the frame leaves stomped and is counted).
//! A slot's word is stable from the clock it is seen full until it is taken, so the
//! REF_CLK side reads it straight from the core's flip-flops.
//!
//! Core side: `data`/`valid`/`ready`/`last`/`stomp`, `ready` from a flip-flop (set when
//! the slot written next is free: a slot only goes from full to free on its own, so the
//! registered view is at worst a clock late). REF_CLK side: `tx_*`, named as `RmiiTx`'s
//! inputs.
//!
//! 58 LCs, no block RAM, core clock 242 MHz, REF_CLK 235 MHz (`eth::fit`; the rust-hdl
//! async FIFO of 32 words with a 16-word start level this replaced took 178 LCs and a
//! block RAM).

use rust_hdl::prelude::*;
use rust_hdl::widgets::prelude::BitSynchronizer;

#[derive(LogicBlock, Default)]
pub struct TxCdc {
    /// The core clock and the frame stream.
    pub clock: Signal<In, Clock>,
    pub data: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub last: Signal<In, Bit>,
    pub stomp: Signal<In, Bit>,
    /// The port's REF_CLK and `RmiiTx`'s stream inputs.
    pub tx_clock: Signal<In, Clock>,
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_valid: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,
    pub tx_last: Signal<Out, Bit>,
    pub tx_stomp: Signal<Out, Bit>,
    /// Core domain: the slots (data 7:0, last 8, stomp 9) and their `filled` toggles,
    /// the slot written next, the `taken` toggles as synchronized, registered `ready`.
    held_a: DFF<Bits<10>>,
    held_b: DFF<Bits<10>>,
    filled_a: DFF<Bit>,
    filled_b: DFF<Bit>,
    w_slot_b: DFF<Bit>,
    ta_sync: BitSynchronizer,
    tb_sync: BitSynchronizer,
    r_ready: DFF<Bit>,
    /// REF_CLK domain: the `taken` toggles, the slot read next, `filled` as synchronized.
    taken_a: DFF<Bit>,
    taken_b: DFF<Bit>,
    r_slot_b: DFF<Bit>,
    fa_sync: BitSynchronizer,
    fb_sync: BitSynchronizer,
    write: Signal<Local, Bit>,
    free_a: Signal<Local, Bit>,
    free_b: Signal<Local, Bit>,
    word: Signal<Local, Bits<10>>,
    head: Signal<Local, Bits<10>>,
    take: Signal<Local, Bit>,
}

impl Logic for TxCdc {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, held_a, held_b, filled_a, filled_b, w_slot_b, r_ready);
        dff_setup!(self, tx_clock, taken_a, taken_b, r_slot_b);
        clock!(self, clock, ta_sync, tb_sync);
        clock!(self, tx_clock, fa_sync, fb_sync);

        // Core side.
        self.ta_sync.sig_in.next = self.taken_a.q.val();
        self.tb_sync.sig_in.next = self.taken_b.q.val();
        self.free_a.next = !(self.filled_a.q.val() ^ self.ta_sync.sig_out.val());
        self.free_b.next = !(self.filled_b.q.val() ^ self.tb_sync.sig_out.val());
        self.ready.next = self.r_ready.q.val();
        self.write.next = self.valid.val() & self.r_ready.q.val();
        self.word.next = bit_cast::<10, 8>(self.data.val()).replace_bit(8, self.last.val()).replace_bit(9, self.stomp.val());
        // The slot written next clock: the other one after a write, else this one.
        self.r_ready.d.next = self.free_a.val();
        if self.w_slot_b.q.val() ^ self.write.val() {
            self.r_ready.d.next = self.free_b.val();
        }
        if self.write.val() {
            if self.w_slot_b.q.val() {
                self.held_b.d.next = self.word.val();
                self.filled_b.d.next = !self.filled_b.q.val();
            } else {
                self.held_a.d.next = self.word.val();
                self.filled_a.d.next = !self.filled_a.q.val();
            }
            self.w_slot_b.d.next = !self.w_slot_b.q.val();
        }

        // REF_CLK side.
        self.fa_sync.sig_in.next = self.filled_a.q.val();
        self.fb_sync.sig_in.next = self.filled_b.q.val();
        self.tx_valid.next = self.fa_sync.sig_out.val() ^ self.taken_a.q.val();
        self.head.next = self.held_a.q.val();
        if self.r_slot_b.q.val() {
            self.tx_valid.next = self.fb_sync.sig_out.val() ^ self.taken_b.q.val();
            self.head.next = self.held_b.q.val();
        }
        self.tx_data.next = self.head.val().get_bits::<8>(0);
        self.tx_last.next = self.head.val().get_bit(8);
        self.tx_stomp.next = self.head.val().get_bit(9);
        self.take.next = self.tx_valid.val() & self.tx_ready.val();
        if self.take.val() {
            if self.r_slot_b.q.val() {
                self.taken_b.d.next = !self.taken_b.q.val();
            } else {
                self.taken_a.d.next = !self.taken_a.q.val();
            }
            self.r_slot_b.d.next = !self.r_slot_b.q.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::two_clocks::TwoClocks;
    use rand::{Rng, SeedableRng};

    /// Frames written by the core the way the egress buffer writes them: a byte on every
    /// clock `ready` allows (`flood`), or each byte 1–6 clocks after the last (ahead of
    /// the wire's 8, as the contract asks), a 20-byte gap between frames. Taken on the
    /// REF_CLK side the way `RmiiTx` takes them: 8 byte times of preamble after
    /// `tx_valid` rises, then a byte every 4 cycles that must be there (else it counts an
    /// underrun), 12 of gap. A write into a slot not yet free fails the bench.
    fn cross(frames: &[Vec<u8>], ref_ppm: f64, flood: bool) -> (Vec<Vec<u8>>, usize) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let mut uut = TxCdc::default();
        uut.connect_all();
        let mut clocks = TwoClocks::new(10.0, 20.0 * (1.0 + ref_ppm * 1e-6));
        let bytes: Vec<(u8, bool, bool)> = frames.iter().flat_map(|f| f.iter().enumerate().map(|(i, &b)| (b, i + 1 == f.len(), b == 0x5A))).collect();
        let (mut next, mut wait) = (0, 0u64);
        let (mut got, mut partial, mut underruns) = (Vec::new(), Vec::new(), 0);
        // REF side: cycles to the next byte time, None when idle.
        let (mut due, mut gap) = (None::<u64>, 0u64);
        let end_ns = bytes.len() as f64 * 100.0 + frames.len() as f64 * 2000.0 + 5000.0;
        while clocks.now_ns() < end_ns {
            let edge = clocks.advance();
            let write = edge.rises(0) && uut.valid.val() && uut.ready.val();
            let full = if uut.w_slot_b.q.val() { !uut.free_b.val() } else { !uut.free_a.val() };
            let read = edge.rises(1) && uut.tx_valid.val() && uut.tx_ready.val();
            let word = (uut.tx_data.val().to_u64() as u8, uut.tx_last.val(), uut.tx_stomp.val());
            uut.clock.next = clocks.level(0).into();
            uut.tx_clock.next = clocks.level(1).into();
            portshare_tools::clocking::settle(&mut uut);
            if edge.rises(0) {
                if write {
                    assert!(!full, "byte {next} written into a slot not yet free");
                    next += 1;
                    wait = if bytes[next - 1].1 {
                        160
                    } else if flood {
                        1
                    } else {
                        rng.gen_range(1..7)
                    };
                }
                wait = wait.saturating_sub(1);
                uut.valid.next = next < bytes.len() && wait == 0;
                let (b, l, s) = bytes.get(next).copied().unwrap_or_default();
                uut.data.next = (b as u64).into();
                uut.last.next = l;
                uut.stomp.next = s && l;
            }
            if edge.rises(1) {
                if read {
                    assert_eq!(word.2, word.1 && word.0 == 0x5A, "stomp travels with last");
                    partial.push(word.0);
                    if word.1 {
                        got.push(std::mem::take(&mut partial));
                        due = None;
                        gap = 48;
                    }
                }
                gap = gap.saturating_sub(1);
                due = match due {
                    None if gap == 0 && uut.tx_valid.val() && partial.is_empty() => Some(32),
                    Some(0) => {
                        if !read {
                            underruns += 1;
                        }
                        Some(3)
                    }
                    Some(n) => Some(n - 1),
                    None => None,
                };
                uut.tx_ready.next = due == Some(0);
            }
            portshare_tools::clocking::settle(&mut uut);
        }
        (got, underruns)
    }

    #[test]
    fn frames_cross_at_line_rate_without_underrun_with_ref_clk_100_ppm_either_way() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(43);
        let mut frames: Vec<Vec<u8>> = (0..6).map(|_| (0..1518).map(|_| rng.gen()).collect()).collect();
        // Short frames and a stomped one.
        frames.extend([vec![1u8], vec![2, 3, 4], (0..60).collect(), vec![9, 0x5A]]);
        for ppm in [-100.0, 100.0] {
            for flood in [false, true] {
                let (got, underruns) = cross(&frames, ppm, flood);
                assert_eq!(underruns, 0, "ppm {ppm} flood {flood}");
                assert!(got == frames, "ppm {ppm} flood {flood}: {} of {} frames", got.len(), frames.len());
            }
        }
    }

    #[test]
    fn a_writer_faster_than_the_line_is_held_back_by_ready_and_loses_nothing() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(47);
        let mut frames: Vec<Vec<u8>> = (0..3).map(|_| (0..1518).map(|_| rng.gen()).collect()).collect();
        frames.extend([vec![7u8; 60], vec![9, 0x5A], (0..200).map(|_| rng.gen()).collect()]);
        for ppm in [-100.0, 100.0] {
            let (got, underruns) = cross(&frames, ppm, true);
            assert_eq!(underruns, 0, "ppm {ppm}");
            assert!(got == frames, "ppm {ppm}: {} of {} frames", got.len(), frames.len());
        }
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = TxCdc::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-cdc-tx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
