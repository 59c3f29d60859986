//! A two-word skid buffer: a register stage on a valid/ready stream whose upstream
//! `up_ready` comes from a flip-flop, so the downstream's ready does not reach the
//! upstream's logic in the same clock (on the Ethernet board it ran from the control
//! block's state through the core into an ingress buffer's read address and fill).
//! Full throughput: a word per clock in and out; a word waits one clock more than
//! without it. When the downstream stalls, the word then arriving goes into the skid
//! register and `up_ready` drops the next clock.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Skid<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub up_data: Signal<In, Bits<W>>,
    pub up_valid: Signal<In, Bit>,
    /// From a flip-flop: the skid register is empty.
    pub up_ready: Signal<Out, Bit>,
    pub data: Signal<Out, Bits<W>>,
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    out: DFF<Bits<W>>,
    out_valid: DFF<Bit>,
    skid: DFF<Bits<W>>,
    skid_valid: DFF<Bit>,
    take: Signal<Local, Bit>,
}

impl<const W: usize> Logic for Skid<W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, out, out_valid, skid, skid_valid);
        self.take.next = self.up_valid.val() & !self.skid_valid.q.val();
        if self.ready.val() | !self.out_valid.q.val() {
            // The output register is free this clock: the skid word first, else the
            // arriving one.
            self.out_valid.d.next = self.skid_valid.q.val() | self.take.val();
            if self.skid_valid.q.val() {
                self.out.d.next = self.skid.q.val();
                self.skid_valid.d.next = false;
            } else {
                self.out.d.next = self.up_data.val();
            }
        } else if self.take.val() {
            self.skid.d.next = self.up_data.val();
            self.skid_valid.d.next = true;
        }
        if self.reset.val() {
            self.out_valid.d.next = false;
            self.skid_valid.d.next = false;
        }
        self.up_ready.next = !self.skid_valid.q.val();
        self.data.next = self.out.q.val();
        self.valid.next = self.out_valid.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random offers and random back-pressure: every word offered and taken upstream
    /// comes out once, in order; `up_ready` never changes with `ready` within a clock;
    /// with `ready` held high it carries a word per clock.
    #[test]
    fn words_in_order_and_up_ready_from_a_flip_flop() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut uut = Skid::<10>::default();
        uut.connect_all();
        portshare_tools::clocking::settle(&mut uut);
        let (mut sent, mut got) = (Vec::new(), Vec::new());
        let (mut next, mut at_half) = (0u64, 0u64);
        for cycle in 0..20_000 {
            let busy = cycle >= 10_000;
            if cycle == 10_000 {
                at_half = got.len() as u64;
            }
            let offer = busy || rng.gen_bool(0.7);
            let ready = busy || rng.gen_bool(0.5);
            uut.up_valid.next = offer;
            uut.up_data.next = (next & 0x3FF).into();
            uut.ready.next = !ready;
            portshare_tools::clocking::settle(&mut uut);
            let before = uut.up_ready.val();
            uut.ready.next = ready;
            portshare_tools::clocking::settle(&mut uut);
            assert_eq!(
                uut.up_ready.val(),
                before,
                "up_ready followed ready in one clock"
            );
            if offer && uut.up_ready.val() {
                sent.push(next & 0x3FF);
                next += 1;
            }
            if uut.valid.val() && ready {
                got.push(uut.data.val().to_u64());
            }
            uut.clock.next = true.into();
            portshare_tools::clocking::settle(&mut uut);
            uut.clock.next = false.into();
            portshare_tools::clocking::settle(&mut uut);
        }
        assert!(
            sent.len() - got.len() <= 2,
            "{} in, {} out",
            sent.len(),
            got.len()
        );
        assert_eq!(got, sent[..got.len()]);
        // The last 10 000 clocks offered and took a word every clock.
        assert!(
            got.len() as u64 - at_half >= 9_999,
            "{} words in 10 000 clocks",
            got.len() as u64 - at_half
        );
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = Skid::<10>::default();
        uut.connect_all();
        yosys_validate(
            &format!("portshare-skid-{}", std::process::id()),
            &generate_verilog(&uut),
        )
        .unwrap();
    }
}
