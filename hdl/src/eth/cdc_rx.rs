//! Receive-side clock-domain crossing: `RmiiRx`'s output, on the port's REF_CLK, into the
//! 100 MHz core, through a 4-word flip-flop FIFO and an output register (no block RAM):
//! the words sit in flip-flops written on REF_CLK and are read through a mux on the core
//! clock into the output register; each side's pointer crosses gray-coded through a
//! 2-flip-flop synchronizer, so one bit changes per step and a pointer caught mid-change
//! reads as its old or its new value, never another. The receiver writes at most a word
//! per 4 REF_CLK cycles (80 ns); a word reaches the output register ≤ 4 core clocks after
//! it was written and its slot is free to the writer ≤ 3 REF_CLK cycles after that, so a
//! reader that takes every word (port.rs ties `ready` high) holds at most 2 as the
//! writer sees them. The 5 words also carry a reader that is ready only 40 % of the
//! clocks (the bench; with 4 it lost about one word in 10 000).
//!
//! 135 LCs, no block RAM, core clock 164 MHz, REF_CLK 178 MHz (`eth::fit`; rust-hdl's
//! async FIFO on a block RAM took 96 LCs and the block RAM).
//!
//! A word is one of the receiver's events: a frame byte (`byte`), a frame's end (`last`,
//! with its status flags; on the same word as the final byte when the frame had bytes
//! out, on a word of its own when it had none), or a false carrier. Core side: the words
//! as a stream, `valid`/`ready`, first word fall-through. The core must keep taking them
//! (the wire does not wait): a word written while the FIFO is full is lost and strobes
//! `rx_overflow` in the REF_CLK domain — the frame it belonged to is damaged and must be
//! dropped and counted by whoever reads the stream (it can only happen if the reader
//! stalls for about 4 words ≈ 300 ns).

use rust_hdl::prelude::*;

/// Words the FIFO holds besides the output register. Its pointers (`Bits<3>`, indexed by
/// their low 2 bits) have one more bit than an index, to tell full from empty.
pub const DEPTH: usize = 4;

// A word: data 7:0, then bit 8 byte, 9 last, 10 fcs_bad, 11 stomped, 12 runt, 13 align,
// 14 false_carrier (literals in `update`: hdl_gen cannot name Rust constants).

#[derive(LogicBlock)]
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
    /// REF_CLK domain, one clock per word lost to a full FIFO.
    pub rx_overflow: Signal<Out, Bit>,
    /// The core clock and the word stream.
    pub clock: Signal<In, Clock>,
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
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
    /// REF_CLK domain: the words, the write pointer (binary and gray), the read pointer
    /// as synchronized.
    mem: [DFF<Bits<15>>; DEPTH],
    wp: DFF<Bits<3>>,
    wp_gray: DFF<Bits<3>>,
    rp_sync1: DFF<Bits<3>>,
    rp_sync2: DFF<Bits<3>>,
    r_overflow: DFF<Bit>,
    /// Core domain: the read pointer, the write pointer as synchronized, and the output
    /// register (the stream's current word).
    rp: DFF<Bits<3>>,
    rp_gray: DFF<Bits<3>>,
    wp_sync1: DFF<Bits<3>>,
    wp_sync2: DFF<Bits<3>>,
    out_valid: DFF<Bit>,
    out_word: DFF<Bits<15>>,
    /// Full: the write pointer is the read pointer one lap on (gray: the top two bits
    /// inverted).
    c_lap: Constant<Bits<3>>,
    word: Signal<Local, Bits<15>>,
    write: Signal<Local, Bit>,
    full: Signal<Local, Bit>,
    wp_next: Signal<Local, Bits<3>>,
    empty: Signal<Local, Bit>,
    rp_next: Signal<Local, Bits<3>>,
    head: Signal<Local, Bits<15>>,
}

impl Default for RxCdc {
    fn default() -> Self {
        Self {
            rx_clock: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            rx_frame_end: Default::default(),
            rx_fcs_bad: Default::default(),
            rx_stomped: Default::default(),
            rx_runt: Default::default(),
            rx_align: Default::default(),
            rx_false_carrier: Default::default(),
            rx_overflow: Default::default(),
            clock: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            data: Default::default(),
            byte: Default::default(),
            last: Default::default(),
            fcs_bad: Default::default(),
            stomped: Default::default(),
            runt: Default::default(),
            align: Default::default(),
            false_carrier: Default::default(),
            mem: Default::default(),
            wp: Default::default(),
            wp_gray: Default::default(),
            rp_sync1: Default::default(),
            rp_sync2: Default::default(),
            r_overflow: Default::default(),
            rp: Default::default(),
            rp_gray: Default::default(),
            wp_sync1: Default::default(),
            wp_sync2: Default::default(),
            out_valid: Default::default(),
            out_word: Default::default(),
            c_lap: Constant::new(0b110.into()),
            word: Default::default(),
            write: Default::default(),
            full: Default::default(),
            wp_next: Default::default(),
            empty: Default::default(),
            rp_next: Default::default(),
            head: Default::default(),
        }
    }
}

impl Logic for RxCdc {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, rx_clock, wp, wp_gray, rp_sync1, rp_sync2, r_overflow);
        dff_setup!(self, clock, rp, rp_gray, wp_sync1, wp_sync2, out_valid, out_word);
        for i in 0..DEPTH {
            self.mem[i].clock.next = self.rx_clock.val();
            self.mem[i].d.next = self.mem[i].q.val();
        }
        // Write side (REF_CLK).
        self.rp_sync1.d.next = self.rp_gray.q.val();
        self.rp_sync2.d.next = self.rp_sync1.q.val();
        self.word.next = bit_cast::<15, 8>(self.rx_data.val())
            .replace_bit(8, self.rx_valid.val())
            .replace_bit(9, self.rx_frame_end.val())
            .replace_bit(10, self.rx_fcs_bad.val())
            .replace_bit(11, self.rx_stomped.val())
            .replace_bit(12, self.rx_runt.val())
            .replace_bit(13, self.rx_align.val())
            .replace_bit(14, self.rx_false_carrier.val());
        self.write.next = self.rx_valid.val() | self.rx_frame_end.val() | self.rx_false_carrier.val();
        self.full.next = self.wp_gray.q.val() == (self.rp_sync2.q.val() ^ self.c_lap.val());
        self.wp_next.next = self.wp.q.val() + 1;
        if self.write.val() & !self.full.val() {
            for i in 0..DEPTH {
                if self.wp.q.val().get_bits::<2>(0) == i.to_bits() {
                    self.mem[i].d.next = self.word.val();
                }
            }
            self.wp.d.next = self.wp_next.val();
            self.wp_gray.d.next = self.wp_next.val() ^ (self.wp_next.val() >> 1);
        }
        self.r_overflow.d.next = self.write.val() & self.full.val();
        self.rx_overflow.next = self.r_overflow.q.val();

        // Read side (core clock).
        self.wp_sync1.d.next = self.wp_gray.q.val();
        self.wp_sync2.d.next = self.wp_sync1.q.val();
        self.empty.next = self.rp_gray.q.val() == self.wp_sync2.q.val();
        self.rp_next.next = self.rp.q.val() + 1;
        self.head.next = self.mem[0].q.val();
        for i in 0..DEPTH {
            if self.rp.q.val().get_bits::<2>(0) == i.to_bits() {
                self.head.next = self.mem[i].q.val();
            }
        }
        if self.out_valid.q.val() & self.ready.val() {
            self.out_valid.d.next = false;
        }
        // The head word moves to the output register whenever that is free or taken.
        if !self.empty.val() & (!self.out_valid.q.val() | self.ready.val()) {
            self.out_word.d.next = self.head.val();
            self.out_valid.d.next = true;
            self.rp.d.next = self.rp_next.val();
            self.rp_gray.d.next = self.rp_next.val() ^ (self.rp_next.val() >> 1);
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

    /// Writes `words` (one per 4 REF_CLK cycles, or back to back with `dense`) while the
    /// core takes them with probability `p_ready`; `ref_ppm` offsets REF_CLK from 50 MHz.
    fn cross(words: &[Word], ref_ppm: f64, p_ready: f64, dense: bool, release_after: u64) -> (Vec<Word>, usize) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(31);
        let mut uut = RxCdc::default();
        uut.connect_all();
        let mut clocks = TwoClocks::new(10.0, 20.0 * (1.0 + ref_ppm * 1e-6));
        let (mut got, mut lost, mut next, mut ref_cycle) = (Vec::new(), 0, 0, 0u64);
        while clocks.now_ns() < release_after as f64 + 4000.0 + words.len() as f64 * 100.0 {
            let edge = clocks.advance();
            // Sample the handshake as it stands at the core's rising edge.
            let take = edge.rises(0) && uut.valid.val() && uut.ready.val();
            let word = read(&uut);
            uut.clock.next = clocks.level(0).into();
            uut.rx_clock.next = clocks.level(1).into();
            portshare_tools::clocking::settle(&mut uut);
            if take {
                got.push(word);
            }
            if edge.rises(0) {
                uut.ready.next = clocks.now_ns() > release_after as f64 && rng.gen_bool(p_ready);
            }
            if edge.rises(1) {
                lost += uut.rx_overflow.val() as usize;
                ref_cycle += 1;
                let w = (next < words.len() && (dense || ref_cycle % 4 == 0)).then(|| words[next]);
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

    #[test]
    fn every_word_crosses_in_order_with_ref_clk_100_ppm_either_way() {
        let words = random_words(3000);
        for ppm in [-100.0, 100.0] {
            for p_ready in [1.0, 0.4] {
                let (got, lost) = cross(&words, ppm, p_ready, false, 0);
                assert_eq!(lost, 0, "ppm {ppm} p_ready {p_ready}");
                assert!(got == words, "ppm {ppm} p_ready {p_ready}: {} of {} words, first difference at {:?}", got.len(), words.len(), got.iter().zip(&words).position(|(a, b)| a != b));
            }
        }
    }

    /// REF_CLK well above its ±100 ppm against the core (0.5 % and 5 % fast): the
    /// receiver's word per 4 REF_CLK cycles still crosses whole, with the core taking
    /// every word at once or only half the time.
    #[test]
    fn every_word_crosses_with_ref_clk_fast_against_the_core() {
        let words = random_words(2000);
        for ppm in [5_000.0, 50_000.0] {
            for p_ready in [1.0, 0.5] {
                let (got, lost) = cross(&words, ppm, p_ready, false, 0);
                assert_eq!(lost, 0, "ppm {ppm} p_ready {p_ready}");
                assert!(got == words, "ppm {ppm} p_ready {p_ready}: {} of {} words", got.len(), words.len());
            }
        }
    }

    #[test]
    fn a_stalled_reader_loses_words_and_each_loss_is_strobed() {
        let words = random_words(60);
        let (got, lost) = cross(&words, 0.0, 1.0, true, 5000);
        assert!(lost > 0);
        assert_eq!(got.len() + lost, words.len());
        assert_eq!(got.len(), DEPTH + 1, "the FIFO and its output register filled, and only then words were lost");
        assert_eq!(got[..], words[..got.len()], "the words kept are the first ones, in order");
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = RxCdc::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-cdc-rx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
