//! Receive-side clock-domain crossing: `RmiiRx`'s output, on the port's REF_CLK, into the
//! 100 MHz core, through rust-hdl's asynchronous FIFO (32 words, one block RAM; its
//! pointers cross by handshake synchronizers, so its flags lag a few clocks — harmless
//! here: the receiver writes at most a word per 4 REF_CLK cycles, 80 ns, and the core
//! can take one per 10 ns).
//!
//! A word is one of the receiver's events: a frame byte (`byte`), a frame's end (`last`,
//! with its status flags; on the same word as the final byte when the frame had bytes
//! out, on a word of its own when it had none), or a false carrier. Core side: the words
//! as a stream, `valid`/`ready`, first word fall-through. The core must keep taking them
//! (the wire does not wait): a word written while the FIFO is full is lost and strobes
//! `rx_overflow` in the REF_CLK domain — the frame it belonged to is damaged and must be
//! dropped and counted by whoever reads the stream (it can only happen if the reader
//! stalls for 32 words ≈ 2.5 µs).

use rust_hdl::prelude::*;

declare_async_fifo!(RxFifo, Bits<16>, 32, 1);

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
    fifo: RxFifo,
    overflow_r: DFF<Bit>,
    word: Signal<Local, Bits<16>>,
    write: Signal<Local, Bit>,
}

impl Logic for RxCdc {
    #[hdl_gen]
    fn update(&mut self) {
        self.fifo.write_clock.next = self.rx_clock.val();
        self.fifo.read_clock.next = self.clock.val();
        self.overflow_r.clock.next = self.rx_clock.val();
        self.word.next = bit_cast::<16, 8>(self.rx_data.val())
            .replace_bit(8, self.rx_valid.val())
            .replace_bit(9, self.rx_frame_end.val())
            .replace_bit(10, self.rx_fcs_bad.val())
            .replace_bit(11, self.rx_stomped.val())
            .replace_bit(12, self.rx_runt.val())
            .replace_bit(13, self.rx_align.val())
            .replace_bit(14, self.rx_false_carrier.val());
        self.write.next = self.rx_valid.val() | self.rx_frame_end.val() | self.rx_false_carrier.val();
        self.fifo.data_in.next = self.word.val();
        self.fifo.write.next = self.write.val() & !self.fifo.full.val();
        self.overflow_r.d.next = self.write.val() & self.fifo.full.val();
        self.rx_overflow.next = self.overflow_r.q.val();

        self.valid.next = !self.fifo.empty.val();
        self.fifo.read.next = !self.fifo.empty.val() & self.ready.val();
        self.data.next = self.fifo.data_out.val().get_bits::<8>(0);
        self.byte.next = self.fifo.data_out.val().get_bit(8);
        self.last.next = self.fifo.data_out.val().get_bit(9);
        self.fcs_bad.next = self.fifo.data_out.val().get_bit(10);
        self.stomped.next = self.fifo.data_out.val().get_bit(11);
        self.runt.next = self.fifo.data_out.val().get_bit(12);
        self.align.next = self.fifo.data_out.val().get_bit(13);
        self.false_carrier.next = self.fifo.data_out.val().get_bit(14);
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

    #[test]
    fn a_stalled_reader_loses_words_and_each_loss_is_strobed() {
        let words = random_words(60);
        let (got, lost) = cross(&words, 0.0, 1.0, true, 5000);
        assert!(lost > 0);
        assert_eq!(got.len() + lost, words.len());
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
