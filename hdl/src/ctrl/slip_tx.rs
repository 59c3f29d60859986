//! The control block's transmit side: the output register, the SLIP escaper and the
//! reply CRC, between the executor's reply bytes and the UART transmitter.
//!
//! Two registers: `ob` takes the executor's byte (so the executor's accept, and the
//! `rewritten.ready` it gives the pipeline while injecting, depend only on `ob_valid`), and
//! `txh` holds the escaped byte the UART transmitter reads. The CRC folds bytes as they
//! leave `ob`, so when `reply_ready` is high every byte offered before has been folded
//! and `crc` is complete.

use crate::prim::crc16::Crc16;
use portshare_spec::protocol::{SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SlipTx {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: drops the bytes in flight.
    pub reset: Signal<In, Bit>,
    /// The executor's reply bytes (a byte moves on `reply_valid && reply_ready`).
    /// `reply_end`: send SLIP END (the data is ignored; not escaped, not folded);
    /// `reply_fold`: fold the byte into the reply CRC.
    pub reply_data: Signal<In, Bits<8>>,
    pub reply_valid: Signal<In, Bit>,
    pub reply_end: Signal<In, Bit>,
    pub reply_fold: Signal<In, Bit>,
    pub reply_ready: Signal<Out, Bit>,
    /// Start the reply CRC over (the clock the reply's first END is offered).
    pub crc_clear: Signal<In, Bit>,
    /// The CRC-16 of the folded bytes that have left the output register.
    pub crc: Signal<Out, Bits<16>>,
    /// To the UART transmitter (a byte moves on `tx_valid && tx_ready`).
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_valid: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,

    c_end: Constant<Bits<8>>,
    c_esc: Constant<Bits<8>>,
    c_esc_end: Constant<Bits<8>>,
    c_esc_esc: Constant<Bits<8>>,
    tx_crc: Crc16,
    esc_pending: DFF<Bit>,
    esc_second: DFF<Bits<8>>,
    txh_valid: DFF<Bit>,
    txh_data: DFF<Bits<8>>,
    ob_valid: DFF<Bit>,
    ob_data: DFF<Bits<8>>,
    ob_raw: DFF<Bit>,
    ob_crc: DFF<Bit>,
    out_accept: Signal<Local, Bit>,
    slip_move: Signal<Local, Bit>,
}

impl Default for SlipTx {
    fn default() -> Self {
        let k8 = |v: u8| Constant::<Bits<8>>::new((v as u64).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            reply_data: Default::default(),
            reply_valid: Default::default(),
            reply_end: Default::default(),
            reply_fold: Default::default(),
            reply_ready: Default::default(),
            crc_clear: Default::default(),
            crc: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            c_end: k8(SLIP_END),
            c_esc: k8(SLIP_ESC),
            c_esc_end: k8(SLIP_ESC_END),
            c_esc_esc: k8(SLIP_ESC_ESC),
            tx_crc: Crc16::ccitt_false(),
            esc_pending: Default::default(),
            esc_second: Default::default(),
            txh_valid: Default::default(),
            txh_data: Default::default(),
            ob_valid: Default::default(),
            ob_data: Default::default(),
            ob_raw: Default::default(),
            ob_crc: Default::default(),
            out_accept: Default::default(),
            slip_move: Default::default(),
        }
    }
}

impl Logic for SlipTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, esc_pending, esc_second, txh_valid, txh_data, ob_valid, ob_data, ob_raw, ob_crc);
        clock!(self, clock, tx_crc);
        self.reply_ready.next = !self.ob_valid.q.val();
        self.out_accept.next = self.reply_valid.val() & !self.ob_valid.q.val();
        self.slip_move.next = self.ob_valid.q.val() & !self.esc_pending.q.val() & !self.txh_valid.q.val();
        self.tx_valid.next = self.txh_valid.q.val();
        self.tx_data.next = self.txh_data.q.val();
        if self.txh_valid.q.val() & self.tx_ready.val() {
            self.txh_valid.d.next = false;
        }
        if self.esc_pending.q.val() & !self.txh_valid.q.val() {
            self.txh_valid.d.next = true;
            self.txh_data.d.next = self.esc_second.q.val();
            self.esc_pending.d.next = false;
        }
        if self.slip_move.val() {
            self.ob_valid.d.next = false;
            self.txh_valid.d.next = true;
            self.txh_data.d.next = self.ob_data.q.val();
            if self.ob_raw.q.val() {
                self.txh_data.d.next = self.c_end.val();
            } else if self.ob_data.q.val() == self.c_end.val() {
                self.txh_data.d.next = self.c_esc.val();
                self.esc_pending.d.next = true;
                self.esc_second.d.next = self.c_esc_end.val();
            } else if self.ob_data.q.val() == self.c_esc.val() {
                self.txh_data.d.next = self.c_esc.val();
                self.esc_pending.d.next = true;
                self.esc_second.d.next = self.c_esc_esc.val();
            }
        }
        if self.out_accept.val() {
            self.ob_valid.d.next = true;
            self.ob_data.d.next = self.reply_data.val();
            self.ob_raw.d.next = self.reply_end.val();
            self.ob_crc.d.next = self.reply_fold.val();
        }
        self.tx_crc.clear.next = self.crc_clear.val();
        self.tx_crc.enable.next = self.slip_move.val() & self.ob_crc.q.val();
        self.tx_crc.data.next = self.ob_data.q.val();
        self.crc.next = self.tx_crc.crc.val();

        if self.reset.val() {
            self.esc_pending.d.next = false;
            self.txh_valid.d.next = false;
            self.ob_valid.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Judged by the host's codec: the line bytes go through `SlipDecoder`, which must
    //! find exactly the reply body offered, and `crc16` says what `crc` must be.
    use super::*;
    use portshare_tools::clocking::*;
    use portshare_host::protocol::{crc16, Deframed, SlipDecoder};
    use rand::{Rng, SeedableRng};

    struct Bench {
        uut: SlipTx,
        line: Vec<u8>,
        /// (data, tx_valid) while the transmitter did not take it: must hold still.
        held: Option<u8>,
    }

    impl Bench {
        fn new() -> Self {
            let mut uut = SlipTx::default();
            uut.connect_all();
            Bench { uut, line: Vec::new(), held: None }
        }

        /// One clock offering `byte` (data, end, fold) with the transmitter ready or
        /// not; returns whether the byte was taken.
        fn clock(&mut self, byte: Option<(u8, bool, bool)>, crc_clear: bool, tx_ready: bool) -> bool {
            let u = &mut self.uut;
            let (d, end, fold) = byte.unwrap_or((0, false, false));
            u.reply_valid.next = byte.is_some();
            u.reply_data.next = (d as u64).into();
            u.reply_end.next = end;
            u.reply_fold.next = fold;
            u.crc_clear.next = crc_clear;
            u.tx_ready.next = tx_ready;
            settle(u);
            let taken = byte.is_some() && u.reply_ready.val();
            if u.tx_valid.val() {
                let b = u.tx_data.val().index() as u8;
                if let Some(h) = self.held {
                    assert_eq!(h, b, "a byte offered to the UART changed before it was taken");
                }
                self.held = if tx_ready {
                    self.line.push(b);
                    None
                } else {
                    Some(b)
                };
            }
            cycle(u, |u| &mut u.clock);
            taken
        }

        /// Offers one byte until taken, with random gaps and back-pressure.
        fn offer(&mut self, byte: (u8, bool, bool), crc_clear: bool, rng: &mut impl Rng) {
            while rng.gen_bool(0.3) {
                self.clock(None, false, rng.gen_bool(0.5));
            }
            while !self.clock(Some(byte), crc_clear, rng.gen_bool(0.5)) {}
        }
    }

    #[test]
    fn replies_reach_the_line_escaped_with_their_crc() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let mut bench = Bench::new();
        let mut host = SlipDecoder::new();
        for n in 0..200 {
            let len = if n % 50 == 49 { 2051 } else { rng.gen_range(3..40) };
            let payload: Vec<u8> = (0..len)
                .map(|_| match rng.gen_range(0..5) {
                    0 => SLIP_END,
                    1 => SLIP_ESC,
                    _ => rng.gen(),
                })
                .collect();
            bench.offer((rng.gen(), true, false), true, &mut rng);
            for &b in &payload {
                bench.offer((b, false, true), false, &mut rng);
            }
            // What the executor does at CrcHi: wait for the register to empty, then
            // take the CRC (every folded byte has left by then).
            while !bench.uut.reply_ready.val() {
                bench.clock(None, false, rng.gen_bool(0.5));
            }
            let crc = bench.uut.crc.val().index() as u16;
            assert_eq!(crc, crc16(&payload), "reply {n}: CRC of the folded bytes");
            for b in crc.to_be_bytes() {
                bench.offer((b, false, false), false, &mut rng);
            }
            bench.offer((rng.gen(), true, false), false, &mut rng);
            for _ in 0..8 {
                bench.clock(None, false, true);
            }
            let got = host.push(&std::mem::take(&mut bench.line));
            let mut want = payload.clone();
            want.extend(crc.to_be_bytes());
            assert_eq!(got, vec![Deframed::Packet(want)], "reply {n}");
            assert!(!host.in_packet());
        }
    }

    #[test]
    fn reset_drops_the_bytes_in_flight() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut bench = Bench::new();
        bench.offer((0, true, false), true, &mut rng);
        bench.offer((SLIP_END, false, true), false, &mut rng);
        bench.uut.reset.next = true;
        bench.clock(None, false, false);
        bench.uut.reset.next = false;
        bench.held = None;
        assert!(!bench.uut.tx_valid.val() && bench.uut.reply_ready.val());
        for _ in 0..8 {
            bench.clock(None, false, true);
        }
        assert!(!bench.uut.tx_valid.val());
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = SlipTx::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-slip-tx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
