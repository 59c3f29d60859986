//! Receive-side clock-domain crossing: `RmiiRx`'s output, on the port's REF_CLK, into the
//! 100 MHz core, through two held words and a toggle for each (no FIFO memory, no block
//! RAM). The receiver's words go to slot A and slot B in turn: the word is held in its
//! slot and flips the slot's toggle, both on REF_CLK. The core passes each toggle through
//! two synchronizer flip-flops and, when the toggle of the slot it expects next differs
//! from the value it last saw, takes that slot's word into its output register, strobes
//! `valid` and expects the other slot — so the words leave in the order written, each
//! once: a toggle changes once per word and is caught as its old or its new value.
//!
//! Timing: a word is taken 2–4 core clocks (≤ 40 ns) after it was written, and its slot
//! is written again two words later. The receiver's words are ≥ 2 REF_CLK cycles apart
//! (a byte per 4 cycles at 100 Mb/s, 40 at 10; a frame's end 2 cycles after its last
//! byte word; a false carrier ≥ 2 after anything), so a slot is rewritten ≥ 80 ns after
//! it was written. A word written 1 cycle after the previous one is not taken: it is lost
//! and strobes `rx_overflow` on REF_CLK (no receiver output does that; the benches
//! assert it never strobes).
//!
//! The core side is a strobe, not a handshake: the core takes each word on the clock
//! `valid` is up (the wire does not wait; words come ≥ 2 core clocks apart).
//!
//! 66 LCs, no block RAM, core clock 181 MHz, REF_CLK 164 MHz (`eth::fit`; the 4-word
//! gray-pointer FIFO this replaced took 135, rust-hdl's async FIFO on a block RAM 96 and
//! the block RAM).
//!
//! A word is one of the receiver's events: a frame byte (`byte`), a frame's end (`last`,
//! with its status flags; on the same word as the final byte when the frame had bytes
//! out, on a word of its own when it had none), or a false carrier.

use rust_hdl::prelude::*;
use rust_hdl::widgets::prelude::BitSynchronizer;

// A word: data 7:0, then bit 8 byte, 9 last, 10 fcs_bad, 11 stomped, 12 runt, 13 align,
// 14 false_carrier (literals in `update`: hdl_gen cannot name Rust constants).

#[derive(LogicBlock, Default)]
pub struct RxCdc {
    /// The port's REF_CLK and `RmiiRx`'s outputs, named as there.
    pub rx_clock: Signal<In, Clock>,
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_valid: Signal<In, Bit>,
    pub rx_frame_end: Signal<In, Bit>,
    pub rx_fcs_bad: Signal<In, Bit>,
    pub rx_stomped: Signal<In, Bit>,
    pub rx_runt: Signal<In, Bit>,
    pub rx_align: Signal<In, Bit>,
    pub rx_false_carrier: Signal<In, Bit>,
    /// REF_CLK domain, one clock per word lost (written 1 cycle after the previous).
    pub rx_overflow: Signal<Out, Bit>,
    /// The core clock and the word stream: one clock of `valid` per word.
    pub clock: Signal<In, Clock>,
    pub valid: Signal<Out, Bit>,
    pub data: Signal<Out, Bits<8>>,
    /// The word carries a frame byte in `data`.
    pub byte: Signal<Out, Bit>,
    /// The frame's end; the flags below are valid with it.
    pub last: Signal<Out, Bit>,
    pub fcs_bad: Signal<Out, Bit>,
    pub stomped: Signal<Out, Bit>,
    pub runt: Signal<Out, Bit>,
    pub align: Signal<Out, Bit>,
    pub false_carrier: Signal<Out, Bit>,
    /// REF_CLK domain: the slots and their toggles, the slot written next, and whether a
    /// cycle has passed since the last word (a word may be taken).
    held_a: DFF<Bits<15>>,
    held_b: DFF<Bits<15>>,
    toggle_a: DFF<Bit>,
    toggle_b: DFF<Bit>,
    w_slot_b: DFF<Bit>,
    w_open: DFF<Bit>,
    r_overflow: DFF<Bit>,
    /// Core domain: each toggle's synchronizer and the value last taken, the slot
    /// expected next, the output register.
    a_sync: BitSynchronizer,
    a_seen: DFF<Bit>,
    b_sync: BitSynchronizer,
    b_seen: DFF<Bit>,
    r_slot_b: DFF<Bit>,
    out_valid: DFF<Bit>,
    out_word: DFF<Bits<15>>,
    word: Signal<Local, Bit>,
    packed: Signal<Local, Bits<15>>,
    take_a: Signal<Local, Bit>,
    take_b: Signal<Local, Bit>,
}

impl Logic for RxCdc {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, rx_clock, held_a, held_b, toggle_a, toggle_b, w_slot_b, w_open, r_overflow);
        dff_setup!(self, clock, a_seen, b_seen, r_slot_b, out_valid, out_word);
        clock!(self, clock, a_sync, b_sync);
        // Write side (REF_CLK).
        self.packed.next = bit_cast::<15, 8>(self.rx_data.val())
            .replace_bit(8, self.rx_valid.val())
            .replace_bit(9, self.rx_frame_end.val())
            .replace_bit(10, self.rx_fcs_bad.val())
            .replace_bit(11, self.rx_stomped.val())
            .replace_bit(12, self.rx_runt.val())
            .replace_bit(13, self.rx_align.val())
            .replace_bit(14, self.rx_false_carrier.val());
        self.word.next = self.rx_valid.val() | self.rx_frame_end.val() | self.rx_false_carrier.val();
        self.w_open.d.next = true;
        if self.word.val() & self.w_open.q.val() {
            if self.w_slot_b.q.val() {
                self.held_b.d.next = self.packed.val();
                self.toggle_b.d.next = !self.toggle_b.q.val();
            } else {
                self.held_a.d.next = self.packed.val();
                self.toggle_a.d.next = !self.toggle_a.q.val();
            }
            self.w_slot_b.d.next = !self.w_slot_b.q.val();
            self.w_open.d.next = false;
        }
        self.r_overflow.d.next = self.word.val() & !self.w_open.q.val();
        self.rx_overflow.next = self.r_overflow.q.val();

        // Read side (core clock).
        self.a_sync.sig_in.next = self.toggle_a.q.val();
        self.b_sync.sig_in.next = self.toggle_b.q.val();
        self.take_a.next = !self.r_slot_b.q.val() & (self.a_sync.sig_out.val() ^ self.a_seen.q.val());
        self.take_b.next = self.r_slot_b.q.val() & (self.b_sync.sig_out.val() ^ self.b_seen.q.val());
        self.out_valid.d.next = self.take_a.val() | self.take_b.val();
        if self.take_a.val() {
            self.out_word.d.next = self.held_a.q.val();
            self.a_seen.d.next = self.a_sync.sig_out.val();
            self.r_slot_b.d.next = true;
        }
        if self.take_b.val() {
            self.out_word.d.next = self.held_b.q.val();
            self.b_seen.d.next = self.b_sync.sig_out.val();
            self.r_slot_b.d.next = false;
        }
        self.valid.next = self.out_valid.q.val();
        self.data.next = self.out_word.q.val().get_bits::<8>(0);
        self.byte.next = self.out_word.q.val().get_bit(8);
        self.last.next = self.out_word.q.val().get_bit(9);
        self.fcs_bad.next = self.out_word.q.val().get_bit(10);
        self.stomped.next = self.out_word.q.val().get_bit(11);
        self.runt.next = self.out_word.q.val().get_bit(12);
        self.align.next = self.out_word.q.val().get_bit(13);
        self.false_carrier.next = self.out_word.q.val().get_bit(14);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::two_clocks::TwoClocks;
    use rand::{Rng, SeedableRng};

    type Word = (u8, [bool; 7]);

    fn read(uut: &RxCdc) -> Word {
        let f = [&uut.byte, &uut.last, &uut.fcs_bad, &uut.stomped, &uut.runt, &uut.align, &uut.false_carrier].map(|s| s.val());
        (uut.data.val().to_u64() as u8, f)
    }

    /// Writes `words`, one per `every` REF_CLK cycles, with REF_CLK `ref_ppm` off 50 MHz;
    /// returns the words the core took (on each clock `valid` is up) and the losses
    /// strobed.
    fn cross(words: &[Word], ref_ppm: f64, every: u64) -> (Vec<Word>, usize) {
        let mut uut = RxCdc::default();
        uut.connect_all();
        let ref_ns = 20.0 * (1.0 + ref_ppm * 1e-6);
        let mut clocks = TwoClocks::new(10.0, ref_ns);
        let (mut got, mut lost, mut next, mut ref_cycle) = (Vec::new(), 0, 0, 0u64);
        while clocks.now_ns() < 1000.0 + words.len() as f64 * ref_ns * every as f64 {
            let edge = clocks.advance();
            // Sample the stream as it stands at the core's rising edge.
            let take = edge.rises(0) && uut.valid.val();
            let word = read(&uut);
            uut.clock.next = clocks.level(0).into();
            uut.rx_clock.next = clocks.level(1).into();
            portshare_tools::clocking::settle(&mut uut);
            if take {
                got.push(word);
            }
            if edge.rises(1) {
                lost += uut.rx_overflow.val() as usize;
                ref_cycle += 1;
                let w = (next < words.len() && ref_cycle % every == 0).then(|| words[next]);
                next += w.is_some() as usize;
                let (d, f) = w.unwrap_or((0, [false; 7]));
                uut.rx_data.next = (d as u64).into();
                for (s, v) in [&mut uut.rx_valid, &mut uut.rx_frame_end, &mut uut.rx_fcs_bad, &mut uut.rx_stomped, &mut uut.rx_runt, &mut uut.rx_align, &mut uut.rx_false_carrier].into_iter().zip(f) {
                    s.next = v;
                }
            }
            portshare_tools::clocking::settle(&mut uut);
        }
        (got, lost)
    }

    fn random_words(n: usize) -> Vec<Word> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(37);
        (0..n)
            .map(|_| {
                let mut f: [bool; 7] = std::array::from_fn(|_| rng.gen_bool(0.3));
                if !(f[0] || f[1] || f[6]) {
                    f[0] = true; // every word written is an event
                }
                (rng.gen(), f)
            })
            .collect()
    }

    /// The receiver's pace (a word per 4 cycles) and the closest one taken (2), REF_CLK
    /// 100 ppm either way: every word once, in order, none lost.
    #[test]
    fn every_word_crosses_in_order_with_ref_clk_100_ppm_either_way() {
        let words = random_words(3000);
        for ppm in [-100.0, 100.0] {
            for every in [4, 2] {
                let (got, lost) = cross(&words, ppm, every);
                assert_eq!(lost, 0, "ppm {ppm} every {every}");
                assert!(got == words, "ppm {ppm} every {every}: {} of {} words, first difference at {:?}", got.len(), words.len(), got.iter().zip(&words).position(|(a, b)| a != b));
            }
        }
    }

    /// REF_CLK well beyond its ±100 ppm against the core (0.5 % and 5 % slow, 5 % fast): the
    /// receiver's word per 4 REF_CLK cycles still crosses whole.
    #[test]
    fn every_word_crosses_with_ref_clk_far_off_against_the_core() {
        let words = random_words(2000);
        for ppm in [5_000.0, 50_000.0, -50_000.0] {
            let (got, lost) = cross(&words, ppm, 4);
            assert_eq!(lost, 0, "ppm {ppm}");
            assert!(got == words, "ppm {ppm}: {} of {} words", got.len(), words.len());
        }
    }

    /// Words on every cycle: every other one is lost and strobed, and what crosses is
    /// whole words in order (never one torn between two, nor one twice).
    #[test]
    fn words_on_consecutive_cycles_are_lost_strobed_and_never_torn() {
        let words = random_words(600);
        let (got, lost) = cross(&words, 30.0, 1);
        assert_eq!(lost, words.len() / 2);
        let kept: Vec<Word> = words.iter().copied().step_by(2).collect();
        assert!(got == kept, "{} words taken: the first, third, … in order", got.len());
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = RxCdc::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-cdc-rx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
