//! UART receiver and transmitter, 8N1, LSB first, line idle high. The bit time is a
//! constructor parameter in clocks: 25 at 100 MHz is 4 Mbaud (the default), 50 is
//! 2 Mbaud. Both blocks count with 16-bit counters, so any rate down to 100 MHz/65535
//! works.
//!
//! `UartRx` puts the line through a 2-flip-flop synchronizer (it comes from another
//! clock domain: the FTDI chip), starts on a falling edge, re-checks the start bit in
//! its middle (a shorter glitch is ignored), samples every data bit in its middle and
//! reports a missing stop bit as a framing error instead of a byte. It is ready for the
//! next start bit from the middle of the stop bit on, so a sender up to ~5 % fast is
//! still received.

use rust_hdl::prelude::*;

/// Clocks per bit for 4 Mbaud at 100 MHz.
pub const CLOCKS_PER_BIT_4MBAUD: u16 = 25;
/// Clocks per bit for 2 Mbaud at 100 MHz.
pub const CLOCKS_PER_BIT_2MBAUD: u16 = 50;

#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: abandons a byte being received.
    pub reset: Signal<In, Bit>,
    /// The serial line (idle high).
    pub rx: Signal<In, Bit>,
    /// The byte received; valid with `valid`.
    pub data: Signal<Out, Bits<8>>,
    /// One-clock strobe: a byte with a good stop bit arrived.
    pub valid: Signal<Out, Bit>,
    /// One-clock strobe: a byte arrived whose stop bit was 0 (the byte is discarded).
    pub frame_error: Signal<Out, Bit>,
    c_clocks_per_bit_m1: Constant<Bits<16>>,
    c_half_bit_m1: Constant<Bits<16>>,
    sync1: DFFWithInit<Bit>,
    sync2: DFFWithInit<Bit>,
    busy: DFF<Bit>,
    count: DFF<Bits<16>>,
    /// 0: start bit, 1..=8: data bits, 9: stop bit.
    bit: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    r_data: DFF<Bits<8>>,
    r_valid: DFF<Bit>,
    r_frame_error: DFF<Bit>,
}

impl UartRx {
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(clocks_per_bit >= 4, "a UART bit needs at least 4 clocks");
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            frame_error: Default::default(),
            c_clocks_per_bit_m1: Constant::new((clocks_per_bit as u64 - 1).into()),
            c_half_bit_m1: Constant::new((clocks_per_bit as u64 / 2 - 1).into()),
            sync1: DFFWithInit::new(true),
            sync2: DFFWithInit::new(true),
            busy: Default::default(),
            count: Default::default(),
            bit: Default::default(),
            shift: Default::default(),
            r_data: Default::default(),
            r_valid: Default::default(),
            r_frame_error: Default::default(),
        }
    }
}

impl Default for UartRx {
    fn default() -> Self {
        Self::new(CLOCKS_PER_BIT_4MBAUD)
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync1, sync2, busy, count, bit, shift, r_data, r_valid, r_frame_error);
        self.sync1.d.next = self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.r_valid.d.next = false;
        self.r_frame_error.d.next = false;
        if self.reset.val() {
            self.busy.d.next = false;
        } else if !self.busy.q.val() {
            if !self.sync2.q.val() {
                // Falling edge: look again in the middle of the start bit.
                self.busy.d.next = true;
                self.count.d.next = self.c_half_bit_m1.val();
                self.bit.d.next = 0.into();
            }
        } else if self.count.q.val() != 0 {
            self.count.d.next = self.count.q.val() - 1;
        } else {
            self.count.d.next = self.c_clocks_per_bit_m1.val();
            self.bit.d.next = self.bit.q.val() + 1;
            if self.bit.q.val() == 0 {
                if self.sync2.q.val() {
                    self.busy.d.next = false; // a glitch, not a start bit
                }
            } else if self.bit.q.val() == 9 {
                self.busy.d.next = false;
                if self.sync2.q.val() {
                    self.r_valid.d.next = true;
                    self.r_data.d.next = self.shift.q.val();
                } else {
                    self.r_frame_error.d.next = true;
                }
            } else {
                self.shift.d.next = (self.shift.q.val() >> 1).replace_bit(7, self.sync2.q.val());
            }
        }
        self.data.next = self.r_data.q.val();
        self.valid.next = self.r_valid.q.val();
        self.frame_error.next = self.r_frame_error.q.val();
    }
}

#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: abandons the byte being sent, line goes idle.
    pub reset: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    /// A byte moves on a clock edge with `valid && ready`.
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    /// The serial line (idle high).
    pub tx: Signal<Out, Bit>,
    c_clocks_per_bit_m1: Constant<Bits<16>>,
    line: DFFWithInit<Bit>,
    busy: DFF<Bit>,
    count: DFF<Bits<16>>,
    /// 0: start bit, 1..=8: data bits, 9: stop bit (as in `UartRx`).
    bit: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    at_end: DFF<Bit>,
    /// `count == 0`, registered a clock ahead: the bit's end decides the count, the bit
    /// number and the line, so a 16-bit zero test in front of them was the board's
    /// critical path.
    r_count_zero: DFF<Bit>,
    free: Signal<Local, Bit>,
}

impl UartTx {
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(clocks_per_bit >= 2, "a UART bit needs at least 2 clocks");
        Self {
            clock: Default::default(),
            reset: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            c_clocks_per_bit_m1: Constant::new((clocks_per_bit as u64 - 1).into()),
            line: DFFWithInit::new(true),
            busy: Default::default(),
            count: Default::default(),
            bit: Default::default(),
            shift: Default::default(),
            at_end: Default::default(),
            r_count_zero: Default::default(),
            free: Default::default(),
        }
    }
}

impl Default for UartTx {
    fn default() -> Self {
        Self::new(CLOCKS_PER_BIT_4MBAUD)
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, line, busy, count, bit, shift, at_end, r_count_zero);
        // Free in the last clock of the stop bit too, so back-to-back bytes keep the
        // exact bit rate (10 bit times per byte, not 10 plus a clock).
        // `at_end` is "bit 9 and count 0", registered a clock ahead (timing).
        self.free.next = !self.busy.q.val() | self.at_end.q.val();
        self.at_end.d.next = false;
        self.ready.next = self.free.val() & !self.reset.val();
        if self.reset.val() {
            self.busy.d.next = false;
            self.line.d.next = true;
        } else if self.free.val() & self.valid.val() {
            self.busy.d.next = true;
            self.line.d.next = false;
            self.shift.d.next = self.data.val();
            self.count.d.next = self.c_clocks_per_bit_m1.val();
            // A bit lasts at least 2 clocks (`new`): a reloaded count is never zero.
            self.r_count_zero.d.next = false;
            self.bit.d.next = 0.into();
        } else if self.busy.q.val() {
            if !self.r_count_zero.q.val() {
                self.count.d.next = self.count.q.val() - 1;
                self.r_count_zero.d.next = self.count.q.val() == 1;
                self.at_end.d.next = (self.count.q.val() == 1) & (self.bit.q.val() == 9);
            } else {
                self.count.d.next = self.c_clocks_per_bit_m1.val();
                self.r_count_zero.d.next = false;
                self.bit.d.next = self.bit.q.val() + 1;
                if self.bit.q.val() == 8 {
                    self.line.d.next = true;
                } else if self.bit.q.val() == 9 {
                    self.busy.d.next = false;
                } else {
                    self.line.d.next = self.shift.q.val().get_bit(0);
                    self.shift.d.next = self.shift.q.val() >> 1;
                }
            }
        }
        self.tx.next = self.line.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::*;
    use rand::{Rng, SeedableRng};

    /// Drives `line` (one entry per clock) into a `UartRx`, collects what it reports.
    fn receive(cpb: u16, line: &[bool]) -> (Vec<u8>, usize) {
        let mut uut = UartRx::new(cpb);
        uut.connect_all();
        let (mut bytes, mut errors) = (Vec::new(), 0);
        for &l in line.iter().chain(std::iter::repeat(&true).take(4 * cpb as usize)) {
            uut.rx.next = l;
            cycle(&mut uut, |u| &mut u.clock);
            if uut.valid.val() {
                bytes.push(uut.data.val().index() as u8);
            }
            if uut.frame_error.val() {
                errors += 1;
            }
        }
        (bytes, errors)
    }

    /// The host's serializer (`portshare_host::uart8n1`) on a line whose bits last
    /// `period` clocks (real-valued, to model a sender off frequency), then `gap_bits`
    /// bit times of idle line; `stop_bit: false` breaks every stop bit.
    fn serialize(bytes: &[u8], period: f64, stop_bit: bool, gap_bits: f64) -> Vec<bool> {
        use portshare_host::uart8n1::{levels, FRAME_BITS};
        let mut segments = Vec::new();
        for &b in bytes {
            segments.extend(levels(b).enumerate().map(|(i, l)| (if i == FRAME_BITS - 1 { stop_bit } else { l }, period)));
            segments.push((true, gap_bits * period));
        }
        let (mut out, mut end) = (Vec::new(), 0.0);
        for (level, duration) in segments {
            end += duration;
            while (out.len() as f64) < end {
                out.push(level);
            }
        }
        out
    }

    #[test]
    fn rx_receives_back_to_back_bytes_at_both_rates_and_off_frequency() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let bytes: Vec<u8> = (0..64).map(|_| rng.gen()).chain([0x00, 0xFF, 0x55, 0xAA, 0xC0]).collect();
        for cpb in [CLOCKS_PER_BIT_4MBAUD, CLOCKS_PER_BIT_2MBAUD] {
            for skew in [0.97, 1.0, 1.03] {
                let line = serialize(&bytes, cpb as f64 * skew, true, 0.0);
                let (got, errors) = receive(cpb, &line);
                assert_eq!(errors, 0, "cpb {cpb} skew {skew}");
                assert_eq!(got, bytes, "cpb {cpb} skew {skew}");
            }
        }
    }

    #[test]
    fn rx_reports_missing_stop_bit_and_ignores_glitches() {
        let cpb = CLOCKS_PER_BIT_4MBAUD;
        let mut line = serialize(&[0x41], cpb as f64, false, 2.0);
        // A glitch shorter than half a bit is not a start bit.
        line.extend(std::iter::repeat(true).take(30));
        line.extend(std::iter::repeat(false).take(5));
        line.extend(std::iter::repeat(true).take(30));
        line.extend(serialize(&[0x42], cpb as f64, true, 0.0));
        let (got, errors) = receive(cpb, &line);
        assert_eq!(errors, 1);
        assert_eq!(got, vec![0x42]);
    }

    /// Sends bytes through `UartTx`, checks the waveform bit by bit against 8N1 with
    /// exact bit times, and loops it into a `UartRx`.
    #[test]
    fn tx_waveform_is_exact_8n1_and_loops_back_into_rx() {
        for cpb in [CLOCKS_PER_BIT_4MBAUD, CLOCKS_PER_BIT_2MBAUD] {
            let bytes = [0x00u8, 0xFF, 0xA5, 0x3C, 0xC0, 0x01];
            let mut tx = UartTx::new(cpb);
            tx.connect_all();
            settle(&mut tx); // so `ready` shows the state before the first edge
            let mut line = Vec::new();
            let mut next = 0;
            let mut clocks = 0;
            while clocks < 12 * cpb as usize * bytes.len() {
                tx.valid.next = next < bytes.len();
                tx.data.next = (bytes[next.min(bytes.len() - 1)] as u64).into();
                let accepted = next < bytes.len() && tx.ready.val();
                cycle(&mut tx, |u| &mut u.clock);
                if accepted {
                    next += 1;
                }
                line.push(tx.tx.val());
                clocks += 1;
            }
            let start = line.iter().position(|&l| !l).unwrap();
            let expect = serialize(&bytes, cpb as f64, true, 0.0);
            let runs = |v: &[bool]| {
                let mut r: Vec<(bool, usize)> = Vec::new();
                for &x in v {
                    match r.last_mut() {
                        Some((l, n)) if *l == x => *n += 1,
                        _ => r.push((x, 1)),
                    }
                }
                r
            };
            assert_eq!(runs(&line[start..start + expect.len()]), runs(&expect), "cpb {cpb}: waveform (level, clocks) runs");
            let (got, errors) = receive(cpb, &line);
            assert_eq!((got.as_slice(), errors), (&bytes[..], 0));
        }
    }

    #[test]
    fn uart_blocks_generate_valid_verilog() {
        let name = |n: &str| format!("portshare-hdl-{}-{n}", std::process::id());
        let mut rx = UartRx::default();
        rx.connect_all();
        check_all(&rx).unwrap();
        yosys_validate(&name("uart_rx"), &generate_verilog(&rx)).unwrap();
        let mut tx = UartTx::new(CLOCKS_PER_BIT_2MBAUD);
        tx.connect_all();
        check_all(&tx).unwrap();
        yosys_validate(&name("uart_tx"), &generate_verilog(&tx)).unwrap();
    }

}
