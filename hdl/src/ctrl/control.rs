//! The control block: turns the UART's byte stream into commands for the pipeline and
//! sends back one reply per request. The wire format is defined (and documented, with
//! tables) in `portshare_host::protocol`; its codes and sizes come from
//! `portshare_spec`, the one copy host and hardware share.
//!
//! Three blocks, wired here: the receive side (`SlipRx`: SLIP deframer, CRC, request
//! registers and the frame buffer), the executor (`Executor`: checks, management ops,
//! injection, the reply's bytes) and the transmit side (`SlipTx`: output register,
//! SLIP escaper, reply CRC) in front of the UART transmitter.

use crate::ctrl::executor::Executor;
use crate::ctrl::links::{Inject, Mgmt, PortRead, Rewritten};
use crate::ctrl::slip_rx::SlipRx;
use crate::ctrl::slip_tx::SlipTx;
use rust_hdl::prelude::*;

pub use crate::ctrl::slip_rx::FRAME_ADDR_BITS;
pub use portshare_spec::protocol::*;

/// Build id reported by INFO unless the build stamps its own: the crate version as
/// 0x00MMmmpp.
pub fn default_build_id() -> u32 {
    let v = |s: &str| s.parse::<u32>().unwrap_or(0) & 0xFF;
    (v(env!("CARGO_PKG_VERSION_MAJOR")) << 16) | (v(env!("CARGO_PKG_VERSION_MINOR")) << 8) | v(env!("CARGO_PKG_VERSION_PATCH"))
}

#[derive(LogicBlock)]
pub struct Control<const N: usize> {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: abandons the packet and the reply in progress.
    pub reset: Signal<In, Bit>,
    /// From the UART receiver.
    pub rx_data: Signal<In, Bits<8>>,
    pub rx_valid: Signal<In, Bit>,
    pub rx_error: Signal<In, Bit>,
    /// To the UART transmitter (a byte moves on `tx_valid && tx_ready`).
    pub tx_data: Signal<Out, Bits<8>>,
    pub tx_valid: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,
    /// The executor's links to the pipeline (`links.rs`), passed on.
    pub inject: Inject,
    pub rewritten: Rewritten,
    pub mgmt: Mgmt,
    /// The board's Ethernet ports for READ_PORT (see `Executor`).
    pub has_ports: Signal<In, Bit>,
    pub port: PortRead,
    /// One-clock pulse after a watchdog timeout (and during reset).
    pub pipeline_reset: Signal<Out, Bit>,
    /// Activity pulses for LEDs: a request was taken; an error reply started; an
    /// injected frame's last byte went out.
    pub request_pulse: Signal<Out, Bit>,
    pub error_pulse: Signal<Out, Bit>,
    pub inject_pulse: Signal<Out, Bit>,

    rx: SlipRx,
    exec: Executor<N>,
    tx: SlipTx,
}

impl<const N: usize> Control<N> {
    pub fn new(build_id: u32) -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            rx_error: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            has_ports: Default::default(),
            inject: Default::default(),
            rewritten: Default::default(),
            mgmt: Default::default(),
            port: Default::default(),
            pipeline_reset: Default::default(),
            request_pulse: Default::default(),
            error_pulse: Default::default(),
            inject_pulse: Default::default(),
            rx: Default::default(),
            exec: Executor::new(build_id),
            tx: Default::default(),
        }
    }
}

impl<const N: usize> Default for Control<N> {
    fn default() -> Self {
        Self::new(default_build_id())
    }
}

impl<const N: usize> Logic for Control<N> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, rx, exec, tx);
        self.rx.reset.next = self.reset.val();
        self.exec.reset.next = self.reset.val();
        self.tx.reset.next = self.reset.val();
        // UART receiver -> receive side.
        self.rx.rx_data.next = self.rx_data.val();
        self.rx.rx_valid.next = self.rx_valid.val();
        self.rx.rx_error.next = self.rx_error.val();
        // Receive side <-> executor: the stored request and the frame buffer.
        self.exec.req_ready.next = self.rx.req_ready.val();
        self.exec.req_cmd.next = self.rx.req_cmd.val();
        self.exec.req_seq.next = self.rx.req_seq.val();
        self.exec.req_arg.next = self.rx.req_arg.val();
        self.exec.req_len.next = self.rx.req_len.val();
        self.exec.req_crc_ok.next = self.rx.req_crc_ok.val();
        self.exec.req_framing.next = self.rx.req_framing.val();
        self.exec.busy_pending.next = self.rx.busy_pending.val();
        self.exec.rej_cmd.next = self.rx.rej_cmd.val();
        self.exec.rej_seq.next = self.rx.rej_seq.val();
        self.rx.take.next = self.exec.take.val();
        self.rx.take_busy.next = self.exec.take_busy.val();
        self.rx.exec_free.next = self.exec.exec_free.val();
        self.rx.buf_read_address.next = self.exec.buf_read_address.val();
        self.exec.buf_read_data.next = self.rx.buf_read_data.val();
        // Executor <-> transmit side: reply bytes and their CRC.
        self.tx.reply_data.next = self.exec.reply_data.val();
        self.tx.reply_valid.next = self.exec.reply_valid.val();
        self.tx.reply_end.next = self.exec.reply_end.val();
        self.tx.reply_fold.next = self.exec.reply_fold.val();
        self.exec.reply_ready.next = self.tx.reply_ready.val();
        self.tx.crc_clear.next = self.exec.crc_clear.val();
        self.exec.crc.next = self.tx.crc.val();
        // Transmit side -> UART transmitter.
        self.tx_data.next = self.tx.tx_data.val();
        self.tx_valid.next = self.tx.tx_valid.val();
        self.tx.tx_ready.next = self.tx_ready.val();
        // Executor <-> pipeline and ports.
        Inject::link(&mut self.inject, &mut self.exec.inject);
        Rewritten::link(&mut self.rewritten, &mut self.exec.rewritten);
        Mgmt::link(&mut self.mgmt, &mut self.exec.mgmt);
        self.exec.has_ports.next = self.has_ports.val();
        PortRead::link(&mut self.port, &mut self.exec.port);
        self.pipeline_reset.next = self.exec.pipeline_reset.val();
        self.request_pulse.next = self.exec.request_pulse.val();
        self.error_pulse.next = self.exec.error_pulse.val();
        self.inject_pulse.next = self.exec.inject_pulse.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_host::protocol as proto;
    use portshare_host::protocol::{Deframed, Reply, Request, SlipDecoder};
    use crate::ctrl::port_stand_in::{wire_to_stand_in, PortStandIn, CAP};
    use portshare_host::{Direction, Slot, RECORD_LEN};

    #[derive(LogicBlock)]
    struct Bench {
        clock: Signal<In, Clock>,
        ctl: Control<CAP>,
        port: PortStandIn,
    }

    impl Logic for Bench {
        fn update(&mut self) {
            wire_to_stand_in!(self.clock.val(), self.ctl, self.port);
        }
    }

    /// Drives the bench at the byte level: one request byte every `gap` clocks, and a
    /// transmitter that takes a byte only every 4th clock (back-pressure).
    struct Driver {
        b: Bench,
        clocks: u64,
        rx: SlipDecoder,
        replies: Vec<Deframed>,
    }

    impl Driver {
        fn new() -> Self {
            let mut b = Bench { clock: Default::default(), ctl: Control::new(0x1234_5678), port: Default::default() };
            b.connect_all();
            Driver { b, clocks: 0, rx: SlipDecoder::new(), replies: Vec::new() }
        }

        fn clock(&mut self, rx: Option<u8>, rx_error: bool) {
            let ctl = &mut self.b.ctl;
            ctl.rx_valid.next = rx.is_some();
            ctl.rx_data.next = (rx.unwrap_or(0) as u64).into();
            ctl.rx_error.next = rx_error;
            ctl.tx_ready.next = self.clocks % 4 == 0;
            portshare_tools::clocking::settle(&mut self.b);
            let sent = self.b.ctl.tx_valid.val() && self.b.ctl.tx_ready.val();
            let byte = self.b.ctl.tx_data.val().index() as u8;
            self.b.clock.next = true.into();
            portshare_tools::clocking::settle(&mut self.b);
            self.b.clock.next = false.into();
            portshare_tools::clocking::settle(&mut self.b);
            self.clocks += 1;
            if sent {
                let got = self.rx.push(&[byte]);
                self.replies.extend(got);
            }
        }

        fn send(&mut self, wire: &[u8], gap: u64) {
            for &b in wire {
                self.clock(Some(b), false);
                for _ in 1..gap {
                    self.clock(None, false);
                }
            }
        }

        /// Runs until `n` replies have arrived in total (panics after `budget` clocks).
        fn await_replies(&mut self, n: usize, budget: u64) -> Vec<Reply> {
            let start = self.clocks;
            while self.replies.len() < n {
                assert!(self.clocks - start < budget, "no reply within {budget} clocks");
                self.clock(None, false);
            }
            // A few idle clocks so nothing is left half-sent.
            for _ in 0..8 {
                self.clock(None, false);
            }
            assert!(!self.b.ctl.tx_valid.val(), "nothing more to send");
            std::mem::take(&mut self.replies)
                .into_iter()
                .map(|p| match p {
                    Deframed::Packet(body) => Reply::decode(&body).expect("reply CRC and length"),
                    Deframed::BadEscape(b) => panic!("bad escape in reply {b:02x?}"),
                })
                .collect()
        }

        fn request(&mut self, req: &Request, seq: u8) -> Reply {
            self.send(&req.encode(seq), 3);
            let r = self.await_replies(1, 200_000).pop().unwrap();
            assert_eq!((r.command, r.seq), (req.command(), seq), "echo");
            r
        }
    }

    fn slot(i: u8) -> Slot {
        Slot::new(std::net::IpAddr::from([192, 0xDB, 2, i]), true, i % 2 == 0, 443, 0xC000 + i as u16)
    }

    #[test]
    fn info_reports_version_capacity_and_build() {
        let mut d = Driver::new();
        let r = d.request(&Request::Info, 1);
        assert_eq!(r.status, proto::STATUS_OK);
        let info = proto::DeviceInfo::from_payload(&r.payload).unwrap();
        assert_eq!(
            info,
            proto::DeviceInfo { protocol_version: proto::PROTOCOL_VERSION, capacity: CAP as u16, max_frame: MAX_FRAME_LEN as u16, build_id: 0x1234_5678 }
        );
    }

    #[test]
    fn entries_write_read_clear_and_counters() {
        let mut d = Driver::new();
        for i in 0..CAP as u8 {
            let r = d.request(&Request::WriteEntry { index: i, record: slot(i).to_record() }, 10 + i);
            assert_eq!((r.status, r.payload.len()), (proto::STATUS_OK, 0));
        }
        // What reached the management port is exactly what was sent.
        for i in 0..CAP {
            assert_eq!(d.b.port._regs[i], slot(i as u8).to_record());
        }
        for i in (0..CAP as u8).rev() {
            let r = d.request(&Request::ReadEntry { index: i }, 20 + i);
            assert_eq!(r.status, proto::STATUS_OK);
            assert_eq!(Slot::from_record(&r.payload.clone().try_into().unwrap()), slot(i));
        }
        d.b.port._hits = vec![7, 0xC0DB_0001, 0, 0xFFFF_FFFF];
        d.b.port._reasons = [1, 2, 3, 4, 0xC0C0_C0C0];
        let r = d.request(&Request::ReadCounters, 30);
        let c = proto::Counters::from_payload(&r.payload).unwrap();
        assert_eq!(
            c,
            proto::Counters { rewritten: 1, no_match: 2, fragment: 3, unparsed: 4, udp_zero_checksum: 0xC0C0_C0C0, hits: vec![7, 0xC0DB_0001, 0, 0xFFFF_FFFF] }
        );
        assert_eq!(d.request(&Request::ResetCounters, 31).status, proto::STATUS_OK);
        assert_eq!((d.b.port._hits.clone(), d.b.port._reasons), (vec![0; CAP], [0; 5]));
        assert_eq!(d.request(&Request::ClearTable, 32).status, proto::STATUS_OK);
        assert!(d.b.port._regs.iter().all(|r| *r == [0; RECORD_LEN]));
    }

    #[test]
    fn injected_frames_come_back_from_the_pipeline() {
        let mut d = Driver::new();
        for (n, len) in [1usize, 2, 60, 300, MAX_FRAME_LEN].into_iter().enumerate() {
            let frame: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8 | if i % 5 == 0 { 0xC0 } else { 0 }).collect();
            for dir in [Direction::Incoming, Direction::Outgoing] {
                let r = d.request(&Request::Inject { direction: dir, frame: frame.clone() }, n as u8);
                assert_eq!(r.status, proto::STATUS_OK);
                let want: Vec<u8> = match dir {
                    Direction::Incoming => frame.clone(),
                    Direction::Outgoing => frame.iter().map(|b| !b).collect(),
                };
                assert!(r.payload == want, "len {len} {dir}: reply differs from the stand-in's output");
            }
        }
        assert_eq!(d.b.port._frames_out, 10);
        assert_eq!(d.b.port._reasons[1], 10, "frames counted by the stand-in");
    }

    /// Builds a body with a good CRC from raw bytes.
    fn raw(bytes: &[u8]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        proto::append_crc(&mut b);
        proto::slip_encode(&b)
    }

    #[test]
    fn bad_requests_get_their_error_and_change_nothing() {
        let mut d = Driver::new();
        d.request(&Request::WriteEntry { index: 1, record: slot(1).to_record() }, 1);
        let ops = d.b.port._ops_accepted;
        let mut flipped = Request::WriteEntry { index: 2, record: slot(2).to_record() }.body(2);
        flipped[10] ^= 0x01;
        let mut bad_inject = Request::Inject { direction: Direction::Incoming, frame: vec![0x33; 100] }.body(18);
        let n = bad_inject.len();
        bad_inject[n - 3] ^= 0x40; // last frame byte: the whole frame is buffered, then rejected
        let mut too_long = vec![proto::CMD_INJECT, 9, 0];
        too_long.extend(vec![0x55; MAX_FRAME_LEN + 1]);
        let cases: Vec<(Vec<u8>, u8, u8, u8)> = vec![
            (proto::slip_encode(&flipped), proto::CMD_WRITE_ENTRY, 2, proto::STATUS_BAD_CRC),
            (proto::slip_encode(&[proto::CMD_INFO, 3, 0x99]), proto::CMD_INFO, 3, proto::STATUS_BAD_LENGTH),
            (raw(&[0x55, 4]), 0x55, 4, proto::STATUS_UNKNOWN_COMMAND),
            (raw(&[proto::CMD_INFO, 5, 0]), proto::CMD_INFO, 5, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_READ_ENTRY, 6]), proto::CMD_READ_ENTRY, 6, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_READ_ENTRY, 7, CAP as u8]), proto::CMD_READ_ENTRY, 7, proto::STATUS_OUT_OF_RANGE),
            (Request::WriteEntry { index: 0xFF, record: slot(3).to_record() }.encode(8), proto::CMD_WRITE_ENTRY, 8, proto::STATUS_OUT_OF_RANGE),
            (raw(&[proto::CMD_WRITE_ENTRY, 9, 0, 1, 2]), proto::CMD_WRITE_ENTRY, 9, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_CLEAR_TABLE, 10, 0]), proto::CMD_CLEAR_TABLE, 10, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_RESET_COUNTERS, 11, 0]), proto::CMD_RESET_COUNTERS, 11, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_READ_COUNTERS, 12, 0]), proto::CMD_READ_COUNTERS, 12, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_INJECT, 13, 0]), proto::CMD_INJECT, 13, proto::STATUS_BAD_LENGTH),
            (raw(&[proto::CMD_INJECT, 14, 2, 0x45]), proto::CMD_INJECT, 14, proto::STATUS_OUT_OF_RANGE),
            (raw(&too_long), proto::CMD_INJECT, 9, proto::STATUS_BAD_LENGTH),
            (proto::slip_encode(&bad_inject), proto::CMD_INJECT, 18, proto::STATUS_BAD_CRC),
            // Bad escape.
            (vec![0xC0, proto::CMD_INFO, 15, 0xDB, 0x01, 0x00, 0xC0], proto::CMD_INFO, 15, proto::STATUS_BAD_FRAMING),
        ];
        for (wire, cmd, seq, status) in cases {
            d.send(&wire, 2);
            let r = d.await_replies(1, 100_000).pop().unwrap();
            assert_eq!((r.status, r.command, r.seq, r.payload.len()), (status, cmd, seq, 0), "status for cmd {cmd:#x} seq {seq}");
        }
        assert_eq!(d.b.port._ops_accepted, ops, "no management op ran");
        assert_eq!(d.b.port._beats_in, 0, "no byte entered the pipeline");
        assert_eq!(d.b.port._regs[2], [0; RECORD_LEN]);
        assert_eq!(d.b.port._regs[1], slot(1).to_record());
        // A UART framing error inside a packet spoils it too.
        let wire = Request::ClearTable.encode(16);
        d.send(&wire[..2], 2);
        d.clock(None, true);
        d.send(&wire[2..], 2);
        let r = d.await_replies(1, 100_000).pop().unwrap();
        assert_eq!((r.status, r.seq), (proto::STATUS_BAD_FRAMING, 16));
        assert_eq!(d.b.port._ops_accepted, ops);
        // And after all that the next good request works.
        assert_eq!(d.request(&Request::ReadEntry { index: 1 }, 17).payload, slot(1).to_record());
    }

    #[test]
    fn resynchronizes_after_garbage_and_answers_overlap_busy() {
        let mut d = Driver::new();
        // Garbage, then a request right behind it: the garbage gets an error reply and the
        // request, arriving while that error goes out, is still served. (Bytes 4 clocks
        // apart: a UART delivers one per 10 bit times at most, the executor needs 2
        // clocks to start a reply.)
        let mut wire = vec![0x12, 0x34, 0x56];
        wire.extend(Request::WriteEntry { index: 3, record: slot(3).to_record() }.encode(40));
        d.send(&wire, 4);
        let r = d.await_replies(2, 100_000);
        assert_eq!(r[0].status, proto::STATUS_BAD_LENGTH);
        assert_eq!((r[1].status, r[1].seq), (proto::STATUS_OK, 40));
        assert_eq!(d.b.port._regs[3], slot(3).to_record());
        // A request sent while a long reply (an injected frame) goes out is answered
        // BUSY after it, and did not run.
        let frame = vec![0x11; 200];
        d.send(&Request::Inject { direction: Direction::Incoming, frame: frame.clone() }.encode(41), 1);
        for _ in 0..400 {
            d.clock(None, false);
        }
        d.send(&Request::ClearTable.encode(42), 1);
        let r = d.await_replies(2, 100_000);
        assert_eq!((r[0].status, r[0].seq, &r[0].payload), (proto::STATUS_OK, 41, &frame));
        assert_eq!((r[1].status, r[1].command, r[1].seq), (proto::STATUS_BUSY, proto::CMD_CLEAR_TABLE, 42));
        assert_eq!(d.b.port._regs[3], slot(3).to_record(), "the BUSY clear did not run");
        // Empty packets (END END) get no reply at all.
        d.send(&[0xC0, 0xC0, 0xC0], 1);
        for _ in 0..200 {
            d.clock(None, false);
        }
        assert!(d.replies.is_empty() && !d.b.ctl.tx_valid.val());
    }

    /// The watchdog (2^20 clocks without progress) ends a hung management op with
    /// TIMEOUT and a hung injection with a cut reply, resets the pipeline, and the
    /// block serves the next request.
    #[test]
    fn watchdog_recovers_from_a_hung_pipeline() {
        let mut d = Driver::new();
        let resets = d.b.port._resets_seen;
        d.b.port._stuck_mgmt = true;
        d.send(&Request::ClearTable.encode(1), 3);
        let r = d.await_replies(1, 1 << 21).pop().unwrap();
        assert_eq!((r.status, r.seq), (proto::STATUS_TIMEOUT, 1));
        assert!(d.b.port._resets_seen > resets, "pipeline reset pulsed");
        d.b.port._stuck_mgmt = false;
        d.b.port._busy_left = 0;
        d.b.port._stuck_output = true;
        let frame = vec![0x5A; 40];
        d.send(&Request::Inject { direction: Direction::Incoming, frame }.encode(2), 3);
        let r = d.await_replies(1, 1 << 21).pop().unwrap();
        assert_eq!((r.status, r.seq, r.payload.len()), (proto::STATUS_OK, 2, 0), "reply cut short");
        d.b.port._stuck_output = false;
        assert_eq!(d.request(&Request::ReadEntry { index: 0 }, 3).status, proto::STATUS_OK);
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = Control::<64>::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        let v = generate_verilog(&uut);
        yosys_validate(&format!("portshare-hdl-{}-control", std::process::id()), &v).unwrap();
    }
}
