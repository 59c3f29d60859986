//! Transmit-side clock-domain crossing: frames from the 100 MHz core into `RmiiTx` on the
//! port's REF_CLK, through rust-hdl's asynchronous FIFO (32 words of data, `last`,
//! `stomp`; one block RAM).
//!
//! `RmiiTx` must get a byte every 8 bit times once a frame has started, while the core
//! side delivers a frame at the ingress port's rate (its own REF_CLK, up to 200 ppm
//! slower) and not evenly: the pipeline holds a rewritten TCP frame's port bytes until
//! its header is complete (README, "Rewriter"), about 20 byte times at line rate, then
//! sends the held bytes at a byte per clock. So a frame is let out only once
//! `START_LEVEL` words are buffered, or the whole frame is (its `last` is in: a count of
//! frames written crosses by a handshake synchronizer). With the preamble's 8 byte times
//! that is 24 byte times of lead: the hold plus 200 ppm over 20 000 bytes. It costs
//! 16 byte times (1.3 µs) of latency at 100 Mb/s.
//!
//! Core side: `data`/`valid`/`ready`/`last`/`stomp`. `ready` comes from a flip-flop (the
//! FIFO's `full` is a compare of two pointers, and through the egress buffer's read and
//! fill arithmetic it was the core's critical path): it is set when the FIFO's
//! `write_fill` is below `READY_LEVEL`. `write_fill` counts writes from a delayed write
//! pointer, so it misses the write two clocks back; with the one this clock, the
//! registered decision is for a clock after that, so the margin is two words.
//! REF_CLK side: `tx_*`, named as `RmiiTx`'s inputs.

use rust_hdl::prelude::*;

declare_async_fifo!(TxFifo, Bits<10>, 32, 1);

/// Words buffered before a frame is let out (unless it is already whole).
pub const START_LEVEL: u64 = 16;
/// `ready` is set the next clock while `write_fill` is below this: the FIFO's 32 words
/// less the two writes `write_fill` may not show yet (above).
pub const READY_LEVEL: u64 = 30;

#[derive(LogicBlock)]
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
    fifo: TxFifo,
    frames: VectorSynchronizer<Bits<6>>,
    /// Frames written (core side), frames let out (REF_CLK side).
    written: DFF<Bits<6>>,
    sent: DFF<Bits<6>>,
    in_frame: DFF<Bit>,
    /// Registered `ready`.
    r_ready: DFF<Bit>,
    c_start_level: Constant<Bits<6>>,
    c_ready_level: Constant<Bits<6>>,
    open: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
}

impl Default for TxCdc {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            last: Default::default(),
            stomp: Default::default(),
            tx_clock: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            tx_last: Default::default(),
            tx_stomp: Default::default(),
            fifo: Default::default(),
            frames: Default::default(),
            written: Default::default(),
            sent: Default::default(),
            in_frame: Default::default(),
            r_ready: Default::default(),
            c_start_level: Constant::new(START_LEVEL.into()),
            c_ready_level: Constant::new(READY_LEVEL.into()),
            open: Default::default(),
            take: Default::default(),
        }
    }
}

impl Logic for TxCdc {
    #[hdl_gen]
    fn update(&mut self) {
        self.fifo.write_clock.next = self.clock.val();
        self.fifo.read_clock.next = self.tx_clock.val();
        self.written.clock.next = self.clock.val();
        self.sent.clock.next = self.tx_clock.val();
        self.in_frame.clock.next = self.tx_clock.val();
        self.r_ready.clock.next = self.clock.val();
        self.written.d.next = self.written.q.val();
        self.sent.d.next = self.sent.q.val();
        self.in_frame.d.next = self.in_frame.q.val();
        self.frames.clock_in.next = self.clock.val();
        self.frames.clock_out.next = self.tx_clock.val();
        self.frames.sig_in.next = self.written.q.val();
        self.frames.send.next = !self.frames.busy.val();

        // Core side.
        self.r_ready.d.next = self.fifo.write_fill.val() < self.c_ready_level.val();
        self.ready.next = self.r_ready.q.val();
        self.fifo.write.next = self.valid.val() & self.r_ready.q.val();
        self.fifo.data_in.next = bit_cast::<10, 8>(self.data.val()).replace_bit(8, self.last.val()).replace_bit(9, self.stomp.val());
        if self.valid.val() & self.r_ready.q.val() & self.last.val() {
            self.written.d.next = self.written.q.val() + 1;
        }

        // REF_CLK side: a frame is let out once it has a lead or is whole.
        self.open.next = self.in_frame.q.val() | (self.frames.sig_out.val() != self.sent.q.val()) | (self.fifo.read_fill.val() >= self.c_start_level.val());
        self.tx_valid.next = !self.fifo.empty.val() & self.open.val();
        self.take.next = !self.fifo.empty.val() & self.open.val() & self.tx_ready.val();
        self.fifo.read.next = self.take.val();
        self.tx_data.next = self.fifo.data_out.val().get_bits::<8>(0);
        self.tx_last.next = self.fifo.data_out.val().get_bit(8);
        self.tx_stomp.next = self.fifo.data_out.val().get_bit(9);
        if self.take.val() {
            self.in_frame.d.next = !self.fifo.data_out.val().get_bit(8);
            if self.fifo.data_out.val().get_bit(8) {
                self.sent.d.next = self.sent.q.val() + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::two_clocks::TwoClocks;
    use rand::{Rng, SeedableRng};

    /// Frames written by the core at line rate (a byte per 8 core clocks, a 20-byte gap
    /// between frames); with `bursty`, as the pipeline sends a rewritten TCP frame:
    /// random jitter, and after byte 38 nothing for 20 byte times, then the 20 bytes held
    /// at one per clock. Taken on the REF_CLK side the way
    /// `RmiiTx` takes them: 8 byte times of preamble after `tx_valid` rises, then a byte
    /// every 4 cycles that must be there (else it counts an underrun), 12 of gap.
    /// With `flood`, a byte every core clock: the FIFO stays full and `ready` holds the
    /// writer back (a word taken while the FIFO is full would be lost).
    fn cross(frames: &[Vec<u8>], ref_ppm: f64, bursty: bool, flood: bool) -> (Vec<Vec<u8>>, usize) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let mut uut = TxCdc::default();
        uut.connect_all();
        let mut clocks = TwoClocks::new(10.0, 20.0 * (1.0 + ref_ppm * 1e-6));
        let bytes: Vec<(u8, bool, bool)> = frames.iter().flat_map(|f| f.iter().enumerate().map(|(i, &b)| (b, i + 1 == f.len(), b == 0x5A))).collect();
        let (mut next, mut wait, mut index) = (0, 0u64, 0usize);
        let (mut got, mut partial, mut underruns) = (Vec::new(), Vec::new(), 0);
        // REF side: cycles to the next byte time, None when idle.
        let (mut due, mut gap) = (None::<u64>, 0u64);
        let end_ns = bytes.len() as f64 * 100.0 + frames.len() as f64 * 2000.0 + 5000.0;
        while clocks.now_ns() < end_ns {
            let edge = clocks.advance();
            let write = edge.rises(0) && uut.valid.val() && uut.ready.val();
            let full = uut.fifo.full.val();
            let read = edge.rises(1) && uut.tx_valid.val() && uut.tx_ready.val();
            let word = (uut.tx_data.val().to_u64() as u8, uut.tx_last.val(), uut.tx_stomp.val());
            uut.clock.next = clocks.level(0).into();
            uut.tx_clock.next = clocks.level(1).into();
            portshare_tools::clocking::settle(&mut uut);
            if edge.rises(0) {
                if write {
                    assert!(!full, "byte {next} taken while the FIFO is full");
                    next += 1;
                    index = if bytes[next - 1].1 { 0 } else { index + 1 };
                    wait = if flood {
                        1
                    } else if bytes[next - 1].1 {
                        160
                    } else if bursty && index == 38 {
                        160
                    } else if bursty && (39..59).contains(&index) {
                        1
                    } else if bursty {
                        rng.gen_range(4..13)
                    } else {
                        8
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
        // Short frames (below the start level: let out whole) and a stomped one.
        frames.extend([vec![1u8], vec![2, 3, 4], (0..60).collect(), vec![9, 0x5A]]);
        for ppm in [-100.0, 100.0] {
            for bursty in [false, true] {
                let (got, underruns) = cross(&frames, ppm, bursty, false);
                assert_eq!(underruns, 0, "ppm {ppm} bursty {bursty}");
                assert!(got == frames, "ppm {ppm} bursty {bursty}: {} of {} frames", got.len(), frames.len());
            }
        }
    }

    #[test]
    fn a_writer_faster_than_the_line_is_held_back_by_ready_and_loses_nothing() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(47);
        let mut frames: Vec<Vec<u8>> = (0..3).map(|_| (0..1518).map(|_| rng.gen()).collect()).collect();
        frames.extend([vec![7u8; 60], vec![9, 0x5A], (0..200).map(|_| rng.gen()).collect()]);
        for ppm in [-100.0, 100.0] {
            let (got, underruns) = cross(&frames, ppm, false, true);
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
