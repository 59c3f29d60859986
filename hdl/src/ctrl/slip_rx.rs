//! The control block's receive side (always running): SLIP deframing (`END` = 0xC0,
//! `ESC` = 0xDB), a byte-serial CRC-16 over the unescaped body, the command, sequence
//! and argument bytes into registers, and bytes `BULK_AT..` into a 2048-byte block RAM
//! (WRITE_ENTRY's record, INJECT's frame) that the executor reads through
//! `buf_read_*`.
//!
//! A packet is only stored when the executor could take it as it began (`exec_free`:
//! idle, or sending a reply that uses neither buffer, and nothing stored or pending);
//! otherwise its command and sequence are kept for a BUSY reply (`busy_pending`). So
//! the executor never reads the RAM while this side writes it, and the RAM is a
//! `BlockRam` (collisions don't care). Bytes are expected at UART pace (at least 4
//! clocks apart; a UART delivers one per 10 bit times).

use crate::prim::crc16::Crc16;
use crate::prim::ram::BlockRam;
use portshare_spec::protocol::{BULK_AT, MAX_FRAME_LEN, SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC};
use rust_hdl::prelude::*;

/// Buffer positions: body bytes `BULK_AT..=BULK_LAST` go to the frame buffer.
const BULK_LAST: usize = BULK_AT + MAX_FRAME_LEN - 1;
/// The frame buffer: `BlockRam<8, FRAME_ADDR_BITS>`, exactly the largest INJECT frame.
pub const FRAME_ADDR_BITS: usize = 11;
const _: () = assert!(1 << FRAME_ADDR_BITS == MAX_FRAME_LEN);

#[derive(LogicBlock)]
pub struct SlipRx {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: abandons the packet in progress and what is stored.
    pub reset: Signal<In, Bit>,
    /// From the UART receiver (a strobe: one byte per clock where `rx_valid`).
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_valid: Signal<In, Bit>,
    pub rx_error: Signal<In, Bit>,
    /// From the executor: it could take a packet beginning now.
    pub exec_free: Signal<In, Bit>,
    /// From the executor: it takes the stored request (clears `req_ready`) / starts the
    /// BUSY reply for the turned-away one (clears `busy_pending`).
    pub take: Signal<In, Bit>,
    pub take_busy: Signal<In, Bit>,
    /// A stored request: its body length (CRC included; saturates at 0xFFF), whether
    /// its CRC checked and whether its framing was bad (bad escape, UART error).
    pub req_ready: Signal<Out, Bit>,
    pub req_cmd: Signal<Out, Bits<8>>,
    pub req_seq: Signal<Out, Bits<8>>,
    pub req_arg: Signal<Out, Bits<8>>,
    pub req_len: Signal<Out, Bits<12>>,
    pub req_crc_ok: Signal<Out, Bit>,
    pub req_framing: Signal<Out, Bit>,
    /// A packet arrived that was not stored: answer BUSY with its command and sequence.
    pub busy_pending: Signal<Out, Bit>,
    pub rej_cmd: Signal<Out, Bits<8>>,
    pub rej_seq: Signal<Out, Bits<8>>,
    /// The frame buffer's read port (body byte `BULK_AT + a` at address `a`; data the
    /// clock after the address).
    pub buf_read_address: Signal<In, Bits<FRAME_ADDR_BITS>>,
    pub buf_read_data: Signal<Out, Bits<8>>,

    c_end: Constant<Bits<8>>,
    c_esc: Constant<Bits<8>>,
    c_esc_end: Constant<Bits<8>>,
    c_esc_esc: Constant<Bits<8>>,
    c_bulk_before: Constant<Bits<12>>,
    c_bulk_at: Constant<Bits<12>>,
    c_bulk_last: Constant<Bits<12>>,

    rx_len: DFF<Bits<12>>,
    /// `rx_len != 0`, `== 1`, `== 2`, kept beside it (timing: the header's byte
    /// selects without a 12-bit compare in front of them).
    r_len_nz: DFF<Bit>,
    r_len_is1: DFF<Bit>,
    r_len_is2: DFF<Bit>,
    rx_esc: DFF<Bit>,
    rx_bad: DFF<Bit>,
    rx_accepting: DFF<Bit>,
    in_buffer: DFF<Bit>,
    cmd: DFF<Bits<8>>,
    seq: DFF<Bits<8>>,
    arg: DFF<Bits<8>>,
    rcmd: DFF<Bits<8>>,
    rseq: DFF<Bits<8>>,
    ready: DFF<Bit>,
    len: DFF<Bits<12>>,
    crc_ok: DFF<Bit>,
    framing: DFF<Bit>,
    pending: DFF<Bit>,
    crc: Crc16,
    ram: BlockRam<8, FRAME_ADDR_BITS>,
    rx_byte: Signal<Local, Bits<8>>,
    rx_byte_valid: Signal<Local, Bit>,
    rx_end: Signal<Local, Bit>,
    acc_now: Signal<Local, Bit>,
    dv: DFF<Bit>,
    db: DFF<Bits<8>>,
    de: DFF<Bit>,
    de_bad: DFF<Bit>,
    exec_idle: Signal<Local, Bit>,
    r_exec_idle: DFF<Bit>,
}

impl Default for SlipRx {
    fn default() -> Self {
        let k8 = |v: u8| Constant::<Bits<8>>::new((v as u64).into());
        let k12 = |v: usize| Constant::<Bits<12>>::new((v as u64).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            rx_error: Default::default(),
            exec_free: Default::default(),
            take: Default::default(),
            take_busy: Default::default(),
            req_ready: Default::default(),
            req_cmd: Default::default(),
            req_seq: Default::default(),
            req_arg: Default::default(),
            req_len: Default::default(),
            req_crc_ok: Default::default(),
            req_framing: Default::default(),
            busy_pending: Default::default(),
            rej_cmd: Default::default(),
            rej_seq: Default::default(),
            buf_read_address: Default::default(),
            buf_read_data: Default::default(),
            c_end: k8(SLIP_END),
            c_esc: k8(SLIP_ESC),
            c_esc_end: k8(SLIP_ESC_END),
            c_esc_esc: k8(SLIP_ESC_ESC),
            c_bulk_before: k12(BULK_AT - 1),
            c_bulk_at: k12(BULK_AT),
            c_bulk_last: k12(BULK_LAST),
            rx_len: Default::default(),
            r_len_nz: Default::default(),
            r_len_is1: Default::default(),
            r_len_is2: Default::default(),
            rx_esc: Default::default(),
            rx_bad: Default::default(),
            rx_accepting: Default::default(),
            in_buffer: Default::default(),
            cmd: Default::default(),
            seq: Default::default(),
            arg: Default::default(),
            rcmd: Default::default(),
            rseq: Default::default(),
            ready: Default::default(),
            len: Default::default(),
            crc_ok: Default::default(),
            framing: Default::default(),
            pending: Default::default(),
            crc: Crc16::ccitt_false(),
            ram: Default::default(),
            rx_byte: Default::default(),
            rx_byte_valid: Default::default(),
            rx_end: Default::default(),
            acc_now: Default::default(),
            dv: Default::default(),
            db: Default::default(),
            de: Default::default(),
            de_bad: Default::default(),
            exec_idle: Default::default(),
            r_exec_idle: Default::default(),
        }
    }
}

impl Logic for SlipRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, rx_len, r_len_nz, r_len_is1, r_len_is2, rx_esc, rx_bad, rx_accepting, in_buffer, cmd, seq, arg, rcmd, rseq, ready, len, crc_ok,
            framing, pending, dv, db, de, de_bad, r_exec_idle
        );
        clock!(self, clock, crc);
        self.ram.clock.next = self.clock.val();
        self.ram.read_address.next = self.buf_read_address.val();
        self.buf_read_data.next = self.ram.read_data.val();
        self.req_ready.next = self.ready.q.val();
        self.req_cmd.next = self.cmd.q.val();
        self.req_seq.next = self.seq.q.val();
        self.req_arg.next = self.arg.q.val();
        self.req_len.next = self.len.q.val();
        self.req_crc_ok.next = self.crc_ok.q.val();
        self.req_framing.next = self.framing.q.val();
        self.busy_pending.next = self.pending.q.val();
        self.rej_cmd.next = self.rcmd.q.val();
        self.rej_seq.next = self.rseq.q.val();
        if self.take.val() {
            self.ready.d.next = false;
        }
        if self.take_busy.val() {
            self.pending.d.next = false;
        }

        self.exec_idle.next = self.exec_free.val() & !self.pending.q.val() & !self.ready.q.val();
        // Registered (timing): one clock late is safe because bytes arrive at least 4
        // clocks apart and the only busy-making transition (the executor leaving Idle)
        // follows `req_ready`, which is set the clock after the END that precedes any
        // new packet.
        self.r_exec_idle.d.next = self.exec_idle.val();
        self.rx_end.next = false;
        self.rx_byte_valid.next = false;
        self.rx_byte.next = self.rx_data.val();
        if self.rx_valid.val() {
            if self.rx_data.val() == self.c_end.val() {
                self.rx_end.next = true;
            } else if self.rx_esc.q.val() {
                self.rx_byte_valid.next = true;
                if self.rx_data.val() == self.c_esc_end.val() {
                    self.rx_byte.next = self.c_end.val();
                } else if self.rx_data.val() == self.c_esc_esc.val() {
                    self.rx_byte.next = self.c_esc.val();
                } else {
                    self.rx_bad.d.next = true;
                }
            } else if self.rx_data.val() != self.c_esc.val() {
                self.rx_byte_valid.next = true;
            }
            self.rx_esc.d.next = (self.rx_data.val() == self.c_esc.val()) & !self.rx_esc.q.val();
        }
        if self.rx_error.val() {
            self.rx_bad.d.next = true;
        }
        // Register the deframed byte: the packet logic below works on `dv/db/de` (one
        // clock later), which keeps the unescape compare off its paths.
        self.dv.d.next = self.rx_byte_valid.val();
        self.db.d.next = self.rx_byte.val();
        self.de.d.next = self.rx_end.val();
        self.de_bad.d.next = self.rx_bad.q.val() | self.rx_esc.q.val();
        if self.rx_end.val() {
            self.rx_esc.d.next = false;
            self.rx_bad.d.next = false;
        }

        self.acc_now.next = self.rx_accepting.q.val();
        if !self.r_len_nz.q.val() {
            self.acc_now.next = self.r_exec_idle.q.val();
        }
        self.crc.clear.next = !self.r_len_nz.q.val();
        self.crc.enable.next = self.dv.q.val();
        self.crc.data.next = self.db.q.val();
        self.ram.write_enable.next = false;
        self.ram.write_data.next = self.db.q.val();
        self.ram.write_address.next = bit_cast::<11, 12>(self.rx_len.q.val() - self.c_bulk_at.val());
        if self.dv.q.val() {
            if self.rx_len.q.val() != 0xFFF {
                self.rx_len.d.next = self.rx_len.q.val() + 1;
            }
            self.r_len_nz.d.next = true;
            self.r_len_is1.d.next = !self.r_len_nz.q.val();
            self.r_len_is2.d.next = self.r_len_is1.q.val();
            // A position flag kept beside the length (equality tests instead of range
            // compares on the receive path): bytes BULK_AT..=BULK_LAST go to the buffer.
            if self.rx_len.q.val() == self.c_bulk_before.val() {
                self.in_buffer.d.next = true;
            }
            if self.rx_len.q.val() == self.c_bulk_last.val() {
                self.in_buffer.d.next = false;
            }
            if !self.r_len_nz.q.val() {
                self.rx_accepting.d.next = self.r_exec_idle.q.val();
            }
            // Past the header (`in_buffer` implies `rx_len` >= 3) accepting is just
            // `rx_accepting`: kept off `acc_now`'s length compare for timing.
            if self.rx_accepting.q.val() & self.in_buffer.q.val() {
                self.ram.write_enable.next = true;
            }
            if self.acc_now.val() {
                if !self.r_len_nz.q.val() {
                    self.cmd.d.next = self.db.q.val();
                    self.seq.d.next = 0.into();
                }
                if self.r_len_is1.q.val() {
                    self.seq.d.next = self.db.q.val();
                }
                if self.r_len_is2.q.val() {
                    self.arg.d.next = self.db.q.val();
                }
            } else {
                if !self.r_len_nz.q.val() {
                    self.rcmd.d.next = self.db.q.val();
                    self.rseq.d.next = 0.into();
                }
                if self.r_len_is1.q.val() {
                    self.rseq.d.next = self.db.q.val();
                }
            }
        }
        if self.de.q.val() {
            self.rx_len.d.next = 0.into();
            self.r_len_nz.d.next = false;
            self.r_len_is1.d.next = false;
            self.r_len_is2.d.next = false;
            self.in_buffer.d.next = false;
            if self.r_len_nz.q.val() {
                if self.rx_accepting.q.val() {
                    self.ready.d.next = true;
                    self.len.d.next = self.rx_len.q.val();
                    self.crc_ok.d.next = self.crc.residue_ok.val();
                    self.framing.d.next = self.de_bad.q.val();
                } else {
                    self.pending.d.next = true;
                }
            }
        }

        if self.reset.val() {
            self.rx_len.d.next = 0.into();
            self.r_len_nz.d.next = false;
            self.r_len_is1.d.next = false;
            self.r_len_is2.d.next = false;
            self.in_buffer.d.next = false;
            self.rx_esc.d.next = false;
            self.rx_bad.d.next = false;
            self.dv.d.next = false;
            self.de.d.next = false;
            self.ready.d.next = false;
            self.pending.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Judged by the host's codec: `slip_encode` builds the wire, `SlipDecoder` says
    //! which packets and bodies it carries, `crc16` whether each checks.
    use super::*;
    use portshare_tools::clocking::*;
    use portshare_host::protocol::{append_crc, crc16, slip_encode, Deframed, SlipDecoder};
    use rand::{Rng, SeedableRng};

    struct Bench {
        uut: SlipRx,
        exec_free: bool,
    }

    impl Bench {
        fn new() -> Self {
            let mut uut = SlipRx::default();
            uut.connect_all();
            Bench { uut, exec_free: true }
        }

        /// One clock with `rx` (a byte from the UART, or a UART framing error).
        fn clock(&mut self, rx: Option<u8>, rx_error: bool, take: bool, take_busy: bool) {
            let u = &mut self.uut;
            u.rx_valid.next = rx.is_some();
            u.rx_data.next = (rx.unwrap_or(0) as u64).into();
            u.rx_error.next = rx_error;
            u.exec_free.next = self.exec_free;
            u.take.next = take;
            u.take_busy.next = take_busy;
            cycle(u, |u| &mut u.clock);
        }

        fn idle(&mut self, n: usize) {
            for _ in 0..n {
                self.clock(None, false, false, false);
            }
        }

        /// Bytes at UART pace (4..=7 clocks apart); `error_at` raises `rx_error` once,
        /// before that byte.
        fn send(&mut self, wire: &[u8], rng: &mut impl Rng, error_at: Option<usize>) {
            for (i, &b) in wire.iter().enumerate() {
                if error_at == Some(i) {
                    self.clock(None, true, false, false);
                }
                self.clock(Some(b), false, false, false);
                self.idle(rng.gen_range(3..7));
            }
            self.idle(4);
        }

        /// The frame buffer's first `n` bytes, through the read port.
        fn buffer(&mut self, n: usize) -> Vec<u8> {
            (0..=n)
                .map(|a| {
                    self.uut.buf_read_address.next = (a.min(MAX_FRAME_LEN - 1) as u64).into();
                    let got = self.uut.buf_read_data.val().index() as u8;
                    self.idle(1);
                    got
                })
                .skip(1)
                .collect()
        }
    }

    /// A random body: mostly requests with a good CRC, some corrupted, lots of the
    /// bytes SLIP escapes; lengths 1..=60 and a few at the frame buffer's end.
    fn body(rng: &mut impl Rng) -> Vec<u8> {
        let len = match rng.gen_range(0..10) {
            0 => rng.gen_range(BULK_AT + MAX_FRAME_LEN - 4..BULK_AT + MAX_FRAME_LEN + 4),
            _ => rng.gen_range(1..60),
        };
        let mut b: Vec<u8> = (0..len)
            .map(|_| match rng.gen_range(0..6) {
                0 => SLIP_END,
                1 => SLIP_ESC,
                _ => rng.gen(),
            })
            .collect();
        if rng.gen_bool(0.7) {
            append_crc(&mut b);
            if rng.gen_bool(0.2) {
                let i = rng.gen_range(0..b.len());
                b[i] ^= 1 << rng.gen_range(0..8);
            }
        }
        b
    }

    #[test]
    fn stores_what_the_host_decoder_decodes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let mut bench = Bench::new();
        let mut host = SlipDecoder::new();
        for n in 0..80 {
            let mut wire = slip_encode(&body(&mut rng));
            // Framing faults: a bad escape, an escape right before END, line noise.
            match rng.gen_range(0..10) {
                0 => {
                    let i = rng.gen_range(1..wire.len() - 1);
                    wire.splice(i..i, [SLIP_ESC, 0x01]);
                }
                1 => {
                    let end = wire.len() - 1;
                    wire.insert(end, SLIP_ESC);
                }
                2 => wire.splice(0..0, [0x12, 0x34, 0x56]).for_each(drop),
                _ => {}
            }
            let uart_error = rng.gen_bool(0.05).then(|| rng.gen_range(1..wire.len()));
            for (j, &byte) in wire.iter().enumerate() {
                if uart_error == Some(j) {
                    bench.clock(None, true, false, false);
                }
                bench.clock(Some(byte), false, false, false);
                bench.idle(rng.gen_range(3..7));
                // A UART error spoils the packet the next END closes.
                let spoiled = uart_error.map_or(false, |i| i <= j && !wire[i..j].contains(&SLIP_END));
                for p in host.push(&[byte]) {
                    let (body, bad_escape) = match p {
                        Deframed::Packet(b) => (b, false),
                        Deframed::BadEscape(b) => (b, true),
                    };
                    if body.is_empty() {
                        continue; // only an escape: nothing to answer
                    }
                    let u = &bench.uut;
                    assert!(u.req_ready.val(), "packet {n}: stored");
                    assert_eq!(u.req_len.val().index(), body.len().min(0xFFF), "packet {n}: length");
                    assert_eq!(u.req_cmd.val().index() as u8, body[0], "packet {n}: command");
                    assert_eq!(u.req_seq.val().index() as u8, body.get(1).copied().unwrap_or(0), "packet {n}: seq");
                    if body.len() > 2 {
                        assert_eq!(u.req_arg.val().index() as u8, body[2], "packet {n}: argument");
                    }
                    assert_eq!(u.req_crc_ok.val(), crc16(&body) == 0, "packet {n}: CRC");
                    assert_eq!(u.req_framing.val(), bad_escape || spoiled, "packet {n}: framing");
                    let bulk = &body[body.len().min(BULK_AT)..];
                    let bulk = &bulk[..bulk.len().min(MAX_FRAME_LEN)];
                    if bulk.len() <= 64 || n % 8 == 0 {
                        assert_eq!(bench.buffer(bulk.len()), bulk, "packet {n}: buffer");
                    }
                    bench.clock(None, false, true, false);
                    assert!(!bench.uut.req_ready.val(), "packet {n}: taken");
                    assert!(!bench.uut.busy_pending.val(), "packet {n}: none turned away");
                    bench.idle(2);
                }
            }
        }
    }

    #[test]
    fn a_packet_the_executor_cannot_take_is_kept_for_busy_and_not_stored() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut bench = Bench::new();
        let mut first = vec![0x07, 0x21, 0x00, 0xAA, 0xC0, 0xDB, 0xBB];
        append_crc(&mut first);
        bench.send(&slip_encode(&first), &mut rng, None);
        assert!(bench.uut.req_ready.val());
        bench.clock(None, false, true, false);
        // The executor busy as the next packet begins: it becomes free halfway, which
        // must not make the packet count as stored.
        bench.exec_free = false;
        let mut second = vec![0x04, 0x22, 0x11, 0x22, 0x33, 0x44];
        append_crc(&mut second);
        let wire = slip_encode(&second);
        bench.send(&wire[..3], &mut rng, None);
        bench.exec_free = true;
        bench.send(&wire[3..], &mut rng, None);
        let u = &bench.uut;
        assert!(!u.req_ready.val() && u.busy_pending.val());
        assert_eq!((u.rej_cmd.val().index(), u.rej_seq.val().index()), (0x04, 0x22));
        assert_eq!((u.req_cmd.val().index(), u.req_seq.val().index()), (0x07, 0x21), "request registers untouched");
        assert_eq!(bench.buffer(4), first[BULK_AT..BULK_AT + 4], "buffer untouched");
        // While the BUSY is pending, nothing new is stored either.
        bench.send(&slip_encode(&first), &mut rng, None);
        assert!(!bench.uut.req_ready.val());
        bench.clock(None, false, false, true);
        assert!(!bench.uut.busy_pending.val());
        bench.send(&slip_encode(&second), &mut rng, None);
        assert!(bench.uut.req_ready.val());
        assert_eq!(bench.buffer(3), second[BULK_AT..BULK_AT + 3]);
    }

    #[test]
    fn reset_abandons_the_packet_in_progress() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut bench = Bench::new();
        let mut body = vec![0x01, 0x05];
        append_crc(&mut body);
        let wire = slip_encode(&body);
        bench.send(&wire[..3], &mut rng, None);
        bench.uut.reset.next = true;
        bench.idle(1);
        bench.uut.reset.next = false;
        // What follows the reset is a packet of its own, as the host decoder reads it,
        // whose CRC does not check.
        bench.send(&wire[3..], &mut rng, None);
        let rest = match SlipDecoder::new().push(&wire[3..]).pop() {
            Some(Deframed::Packet(b)) => b,
            other => panic!("{other:?}"),
        };
        assert!(bench.uut.req_ready.val());
        assert_eq!(bench.uut.req_len.val().index(), rest.len());
        assert_eq!(bench.uut.req_cmd.val().index() as u8, rest[0]);
        assert!(!bench.uut.req_crc_ok.val());
        assert_eq!(crc16(&rest) == 0, false);
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = SlipRx::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-slip-rx", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
