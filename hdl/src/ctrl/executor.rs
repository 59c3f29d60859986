//! The control block's executor (16 states): takes the request the receive side
//! stored (`req_*`, the frame buffer behind `buf_read_*`), checks framing, length,
//! CRC, command, length for the command and range in that order (nothing is touched
//! unless all pass), runs the management op (WRITE_ENTRY first shifts its record out
//! of the buffer into the record register), then offers the reply — `END, status,
//! command, seq, payload, CRC, END` — byte by byte to the SLIP escaper (`reply_*`;
//! the CRC comes back from it as `crc`). A packet the receive side turned away
//! (`busy_pending`) is answered BUSY. READ_COUNTERS reads each counter over the
//! management port just before its four bytes go out, READ_PORT each of a port's
//! words from the board's ports (`port_*`, a read answered when done) likewise; INJECT feeds the frame from the
//! buffer into the pipeline and forwards the pipeline's output as it comes
//! (back-pressured by the escaper). A watchdog ends a management op or an injection
//! that makes no progress for 2^20 clocks (10.5 ms): TIMEOUT before the reply has
//! started, or a cut reply (the host sees the short length) once it has, and pulses
//! `pipeline_reset`.

use crate::core::pipeline::{
    MGMT_CLEAR_TABLE, MGMT_INDEX_BITS, MGMT_OP_BITS, MGMT_READ_ENTRY, MGMT_READ_HITS, MGMT_READ_REASON, MGMT_RESET_COUNTERS, MGMT_WRITE_ENTRY,
    REASON_COUNT,
};
use crate::ctrl::slip_rx::FRAME_ADDR_BITS;
use portshare_spec::ports::{PORT_COUNT, WORDS as PORT_WORDS};
use portshare_spec::protocol::*;
use portshare_spec::record::{RECORD_BITS, RECORD_LEN};
use crate::ctrl::links::{Inject, Mgmt, PortRead, Rewritten};
use rust_hdl::prelude::*;

/// Bits of a counter on the management port (the low bits of `mgmt.rdata`).
const COUNTER_BITS: usize = COUNTER_LEN * 8;

#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum ExecState {
    Idle,
    Check,
    /// WRITE_ENTRY: shift the record's 21 bytes from the RAM into `record`.
    LoadRecord,
    MgmtIssue,
    MgmtWait,
    ReplyStart,
    Status,
    Command,
    Seq,
    Shift,
    CountIssue,
    CountWait,
    Inject,
    CrcHi,
    CrcLo,
    ReplyEnd,
}

#[derive(LogicBlock)]
pub struct Executor<const N: usize> {
    pub clock: Signal<In, Clock>,
    /// Synchronous, active high: abandons the request and the reply in progress.
    pub reset: Signal<In, Bit>,
    /// The receive side's stored request (see `SlipRx`).
    pub req_ready: Signal<In, Bit>,
    pub req_cmd: Signal<In, Bits<8>>,
    pub req_seq: Signal<In, Bits<8>>,
    pub req_arg: Signal<In, Bits<8>>,
    pub req_len: Signal<In, Bits<12>>,
    pub req_crc_ok: Signal<In, Bit>,
    pub req_framing: Signal<In, Bit>,
    pub busy_pending: Signal<In, Bit>,
    pub rej_cmd: Signal<In, Bits<8>>,
    pub rej_seq: Signal<In, Bits<8>>,
    /// To the receive side: the request is taken / the BUSY reply starts / a packet
    /// beginning now could be taken (idle, or a reply that uses neither buffer).
    pub take: Signal<Out, Bit>,
    pub take_busy: Signal<Out, Bit>,
    pub exec_free: Signal<Out, Bit>,
    /// The frame buffer's read port.
    pub buf_read_address: Signal<Out, Bits<FRAME_ADDR_BITS>>,
    pub buf_read_data: Signal<In, Bits<8>>,
    /// Reply bytes to the SLIP escaper (see `SlipTx`), and the CRC it folds.
    pub reply_data: Signal<Out, Bits<8>>,
    pub reply_valid: Signal<Out, Bit>,
    pub reply_end: Signal<Out, Bit>,
    pub reply_fold: Signal<Out, Bit>,
    pub reply_ready: Signal<In, Bit>,
    pub crc_clear: Signal<Out, Bit>,
    pub crc: Signal<In, Bits<16>>,
    /// The control plane's links (`links.rs`): INJECT's frames into the pipeline, their
    /// rewritten bytes back, the pipeline's management port.
    pub inject: Inject,
    pub rewritten: Rewritten,
    pub mgmt: Mgmt,
    /// The board's Ethernet ports (READ_PORT): whether it has them (`PORT_COUNT`; a
    /// board without ties this low and every port is out of range), and the link
    /// that reads their words (`links.rs`).
    pub has_ports: Signal<In, Bit>,
    pub port: PortRead,
    /// One-clock pulse after a watchdog timeout (and during reset).
    pub pipeline_reset: Signal<Out, Bit>,
    /// Activity pulses for LEDs: a request was taken; an error reply started; an
    /// injected frame's last byte went out.
    pub request_pulse: Signal<Out, Bit>,
    pub error_pulse: Signal<Out, Bit>,
    pub inject_pulse: Signal<Out, Bit>,

    c_cmd_info: Constant<Bits<8>>,
    c_cmd_write: Constant<Bits<8>>,
    c_cmd_read: Constant<Bits<8>>,
    c_cmd_clear: Constant<Bits<8>>,
    c_cmd_counters: Constant<Bits<8>>,
    c_cmd_reset: Constant<Bits<8>>,
    c_cmd_inject: Constant<Bits<8>>,
    c_cmd_port: Constant<Bits<8>>,
    c_st_ok: Constant<Bits<8>>,
    c_st_crc: Constant<Bits<8>>,
    c_st_length: Constant<Bits<8>>,
    c_st_command: Constant<Bits<8>>,
    c_st_range: Constant<Bits<8>>,
    c_st_busy: Constant<Bits<8>>,
    c_st_framing: Constant<Bits<8>>,
    c_st_timeout: Constant<Bits<8>>,
    c_op_write: Constant<Bits<MGMT_OP_BITS>>,
    c_op_read: Constant<Bits<MGMT_OP_BITS>>,
    c_op_clear: Constant<Bits<MGMT_OP_BITS>>,
    c_op_hits: Constant<Bits<MGMT_OP_BITS>>,
    c_op_reason: Constant<Bits<MGMT_OP_BITS>>,
    c_op_reset: Constant<Bits<MGMT_OP_BITS>>,
    /// Highest valid entry index (N-1).
    c_last_index: Constant<Bits<8>>,
    c_reason_count: Constant<Bits<9>>,
    /// Counters in a READ_COUNTERS reply (reasons + N).
    c_counter_total: Constant<Bits<9>>,
    /// Words in a READ_PORT reply, and the highest port index.
    c_port_words: Constant<Bits<9>>,
    c_last_port: Constant<Bits<8>>,
    /// INFO payload in the top INFO_LEN bytes.
    c_info: Constant<Bits<RECORD_BITS>>,
    // Request lengths (whole body, CRC included), from `portshare_spec::protocol` (the
    // update code can only name constants as fields).
    c_len_no_payload: Constant<Bits<12>>,
    c_len_read_entry: Constant<Bits<12>>,
    c_len_write_entry: Constant<Bits<12>>,
    c_len_read_port: Constant<Bits<12>>,
    c_len_inject_min: Constant<Bits<12>>,
    c_len_inject_max: Constant<Bits<12>>,
    /// Bytes to shift out of the record register: INFO's payload, a record.
    c_info_len: Constant<Bits<5>>,
    c_record_len: Constant<Bits<5>>,
    /// A counter arrives in `mgmt.rdata`'s low bits and leaves from the record's top.
    c_counter_shift: Constant<Bits<8>>,
    /// The record's bits below that word.
    c_below_word: Constant<Bits<RECORD_BITS>>,

    /// Check's predicates on the request registers, registered.
    len_no_payload: DFF<Bit>,
    len_read_entry: DFF<Bit>,
    len_inject_one: DFF<Bit>,
    len_write_entry: DFF<Bit>,
    len_read_port: DFF<Bit>,
    len_short: DFF<Bit>,
    len_bad_inject: DFF<Bit>,
    arg_over: DFF<Bit>,
    arg_over_1: DFF<Bit>,
    /// No such port (or no ports at all).
    arg_over_port: DFF<Bit>,
    is_info: DFF<Bit>,
    is_write: DFF<Bit>,
    is_read: DFF<Bit>,
    is_clear: DFF<Bit>,
    is_counters: DFF<Bit>,
    is_reset: DFF<Bit>,
    is_inject: DFF<Bit>,
    is_port: DFF<Bit>,
    record: DFF<Bits<RECORD_BITS>>,
    /// `record` shifted a byte up with the RAM's byte in; the counter or port word
    /// being loaded.
    shifted: Signal<Local, Bits<RECORD_BITS>>,
    word_in: Signal<Local, Bits<COUNTER_BITS>>,
    reply_uses_buffers: Signal<Local, Bit>,
    state: DFF<ExecState>,
    status: DFF<Bits<8>>,
    reply_cmd: DFF<Bits<8>>,
    reply_seq: DFF<Bits<8>>,
    /// `status` is OK, and what the reply carries (INFO/READ: the record; counters;
    /// an injected frame): flags kept beside `status`/`reply_cmd` instead of compares.
    st_ok: DFF<Bit>,
    reply_shift: DFF<Bit>,
    reply_counters: DFF<Bit>,
    reply_inject: DFF<Bit>,
    reply_port: DFF<Bit>,
    /// READ_PORT's port, held for the reply (drives `port.select`).
    port_num: DFF<Bit>,
    op: DFF<Bits<MGMT_OP_BITS>>,
    /// The management request being offered (`mgmt.start`) and its index: the
    /// request's argument (an entry; INJECT's direction in bit 0), or the counter a
    /// READ_COUNTERS step reads.
    issue: DFF<Bit>,
    issue_index: DFF<Bits<MGMT_INDEX_BITS>>,
    load_info: DFF<Bit>,
    /// Record-register selects (see where `record` is written).
    loading: DFF<Bit>,
    shift_pending: DFF<Bit>,
    wait_entry: DFF<Bit>,
    wait_count: DFF<Bit>,
    /// A READ_PORT word is being asked for (CountIssue: drives `port.read`), and is
    /// awaited (CountWait, with no management op).
    port_ask: DFF<Bit>,
    wait_port: DFF<Bit>,
    count_next: Signal<Local, Bit>,
    count_op: Signal<Local, Bits<MGMT_OP_BITS>>,
    count_index: Signal<Local, Bits<8>>,
    shift_left: DFF<Bits<5>>,
    counter_i: DFF<Bits<9>>,
    /// Frame bytes not yet fed to the pipeline, and registered flags derived from it.
    feed_left: DFF<Bits<12>>,
    feeding: DFF<Bit>,
    feed_last: DFF<Bit>,
    feed_ptr: DFF<Bits<12>>,
    watchdog: DFF<Bits<20>>,
    r_pipeline_reset: DFF<Bit>,
    out_byte: Signal<Local, Bits<8>>,
    out_req: Signal<Local, Bit>,
    out_raw: Signal<Local, Bit>,
    out_crc: Signal<Local, Bit>,
    out_accept: Signal<Local, Bit>,
    inject_accept: Signal<Local, Bit>,
    wd_expired: Signal<Local, Bit>,
}

impl<const N: usize> Executor<N> {
    pub fn new(build_id: u32) -> Self {
        assert!(N >= 1 && N <= 256, "entry indexes are one byte");
        let k8 = |v: u8| Constant::<Bits<8>>::new((v as u64).into());
        let k3 = |v: u64| Constant::<Bits<MGMT_OP_BITS>>::new(v.into());
        let k12 = |v: usize| Constant::<Bits<12>>::new((v as u64).into());
        let info_hi = PROTOCOL_VERSION as u64;
        let info_lo = ((N as u64) << 48) | ((MAX_FRAME_LEN as u64) << 32) | build_id as u64;
        // INFO's payload in the record register's top bytes, the order it is sent.
        let info = (Bits::<RECORD_BITS>::from(info_hi) << (RECORD_BITS as u64 - 8))
            | (Bits::<RECORD_BITS>::from(info_lo) << (RECORD_BITS as u64 - 8 * INFO_LEN as u64));
        Self {
            clock: Default::default(),
            reset: Default::default(),
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
            take: Default::default(),
            take_busy: Default::default(),
            exec_free: Default::default(),
            buf_read_address: Default::default(),
            buf_read_data: Default::default(),
            reply_data: Default::default(),
            reply_valid: Default::default(),
            reply_end: Default::default(),
            reply_fold: Default::default(),
            reply_ready: Default::default(),
            crc_clear: Default::default(),
            crc: Default::default(),
            has_ports: Default::default(),
            inject: Default::default(),
            rewritten: Default::default(),
            mgmt: Default::default(),
            port: Default::default(),
            pipeline_reset: Default::default(),
            request_pulse: Default::default(),
            error_pulse: Default::default(),
            inject_pulse: Default::default(),
            c_cmd_info: k8(CMD_INFO),
            c_cmd_write: k8(CMD_WRITE_ENTRY),
            c_cmd_read: k8(CMD_READ_ENTRY),
            c_cmd_clear: k8(CMD_CLEAR_TABLE),
            c_cmd_counters: k8(CMD_READ_COUNTERS),
            c_cmd_reset: k8(CMD_RESET_COUNTERS),
            c_cmd_inject: k8(CMD_INJECT),
            c_cmd_port: k8(CMD_READ_PORT),
            c_st_ok: k8(STATUS_OK),
            c_st_crc: k8(STATUS_BAD_CRC),
            c_st_length: k8(STATUS_BAD_LENGTH),
            c_st_command: k8(STATUS_UNKNOWN_COMMAND),
            c_st_range: k8(STATUS_OUT_OF_RANGE),
            c_st_busy: k8(STATUS_BUSY),
            c_st_framing: k8(STATUS_BAD_FRAMING),
            c_st_timeout: k8(STATUS_TIMEOUT),
            c_op_write: k3(MGMT_WRITE_ENTRY),
            c_op_read: k3(MGMT_READ_ENTRY),
            c_op_clear: k3(MGMT_CLEAR_TABLE),
            c_op_hits: k3(MGMT_READ_HITS),
            c_op_reason: k3(MGMT_READ_REASON),
            c_op_reset: k3(MGMT_RESET_COUNTERS),
            c_last_index: k8((N - 1) as u8),
            c_reason_count: Constant::new((REASON_COUNT as u64).into()),
            c_counter_total: Constant::new(((REASON_COUNT + N) as u64).into()),
            c_port_words: Constant::new((PORT_WORDS as u64).into()),
            c_last_port: k8((PORT_COUNT - 1) as u8),
            c_info: Constant::new(info),
            c_len_no_payload: k12(NO_PAYLOAD_LEN),
            c_len_read_entry: k12(READ_ENTRY_LEN),
            c_len_write_entry: k12(WRITE_ENTRY_LEN),
            c_len_read_port: k12(READ_PORT_LEN),
            c_len_inject_min: k12(INJECT_MIN_LEN),
            c_len_inject_max: k12(INJECT_MAX_LEN),
            c_info_len: Constant::new((INFO_LEN as u64).into()),
            c_record_len: Constant::new((RECORD_LEN as u64).into()),
            c_counter_shift: Constant::new(((RECORD_BITS - COUNTER_BITS) as u64).into()),
            c_below_word: Constant::new((Bits::<RECORD_BITS>::from(1u64) << (RECORD_BITS - COUNTER_BITS) as u64) - 1),
            len_no_payload: Default::default(),
            len_read_entry: Default::default(),
            len_inject_one: Default::default(),
            len_write_entry: Default::default(),
            len_read_port: Default::default(),
            len_short: Default::default(),
            len_bad_inject: Default::default(),
            arg_over: Default::default(),
            arg_over_1: Default::default(),
            arg_over_port: Default::default(),
            is_info: Default::default(),
            is_write: Default::default(),
            is_read: Default::default(),
            is_clear: Default::default(),
            is_counters: Default::default(),
            is_reset: Default::default(),
            is_inject: Default::default(),
            is_port: Default::default(),
            record: Default::default(),
            shifted: Default::default(),
            word_in: Default::default(),
            reply_uses_buffers: Default::default(),
            state: Default::default(),
            status: Default::default(),
            reply_cmd: Default::default(),
            reply_seq: Default::default(),
            st_ok: Default::default(),
            reply_shift: Default::default(),
            reply_counters: Default::default(),
            reply_inject: Default::default(),
            reply_port: Default::default(),
            port_num: Default::default(),
            op: Default::default(),
            issue: Default::default(),
            issue_index: Default::default(),
            load_info: Default::default(),
            loading: Default::default(),
            shift_pending: Default::default(),
            wait_entry: Default::default(),
            wait_count: Default::default(),
            port_ask: Default::default(),
            wait_port: Default::default(),
            count_next: Default::default(),
            count_op: Default::default(),
            count_index: Default::default(),
            shift_left: Default::default(),
            counter_i: Default::default(),
            feed_left: Default::default(),
            feeding: Default::default(),
            feed_last: Default::default(),
            feed_ptr: Default::default(),
            watchdog: Default::default(),
            r_pipeline_reset: Default::default(),
            out_byte: Default::default(),
            out_req: Default::default(),
            out_raw: Default::default(),
            out_crc: Default::default(),
            out_accept: Default::default(),
            inject_accept: Default::default(),
            wd_expired: Default::default(),
        }
    }
}

impl<const N: usize> Logic for Executor<N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, len_no_payload, len_read_entry, len_inject_one, len_write_entry, len_read_port, len_short, len_bad_inject, arg_over, arg_over_1, arg_over_port, is_info, is_write, is_read, is_clear, is_counters, is_reset, is_inject, is_port, record, state, status, reply_cmd, reply_seq, st_ok, reply_shift, reply_counters, reply_inject, reply_port, port_num, op, issue, issue_index, load_info, loading, shift_pending, wait_entry, wait_count, port_ask, wait_port, shift_left, counter_i, feed_left, feeding, feed_last, feed_ptr, watchdog, r_pipeline_reset);
        self.take.next = false;
        self.take_busy.next = false;

        // ---------------- Executor: what goes out in each state ----------------
        self.out_req.next = false;
        self.out_raw.next = false;
        self.out_crc.next = false;
        self.out_byte.next = 0.into();
        match self.state.q.val() {
            ExecState::ReplyStart => {
                self.out_req.next = true;
                self.out_raw.next = true;
            }
            ExecState::Status => {
                self.out_req.next = true;
                self.out_crc.next = true;
                self.out_byte.next = self.status.q.val();
            }
            ExecState::Command => {
                self.out_req.next = true;
                self.out_crc.next = true;
                self.out_byte.next = self.reply_cmd.q.val();
            }
            ExecState::Seq => {
                self.out_req.next = true;
                self.out_crc.next = true;
                self.out_byte.next = self.reply_seq.q.val();
            }
            ExecState::Shift => {
                self.out_req.next = !self.shift_pending.q.val();
                self.out_crc.next = true;
                self.out_byte.next = self.record.q.val().get_bits::<8>(160);
            }
            ExecState::Inject => {
                self.out_req.next = self.rewritten.valid.val();
                self.out_crc.next = true;
                self.out_byte.next = self.rewritten.data.val();
            }
            ExecState::CrcHi => {
                self.out_req.next = true;
                self.out_byte.next = self.crc.val().get_bits::<8>(8);
            }
            ExecState::CrcLo => {
                self.out_req.next = true;
                self.out_byte.next = self.crc.val().get_bits::<8>(0);
            }
            ExecState::ReplyEnd => {
                self.out_req.next = true;
                self.out_raw.next = true;
            }
            _ => {}
        }

        self.reply_valid.next = self.out_req.val();
        self.reply_end.next = self.out_raw.val();
        self.reply_fold.next = self.out_crc.val();
        self.reply_data.next = self.out_byte.val();
        self.out_accept.next = self.out_req.val() & self.reply_ready.val();
        self.crc_clear.next = self.state.q.val() == ExecState::ReplyStart;

        // ---------------- Executor: management port, pipeline stream, transitions ----------------
        // The management request comes straight from registers (`issue`, `op`,
        // `issue_index`), loaded on entering MgmtIssue/CountIssue: the port's accept
        // (`start && !busy`) then spans no decode logic of ours.
        self.mgmt.start.next = self.issue.q.val();
        self.mgmt.op.next = self.op.q.val();
        self.mgmt.index.next = self.issue_index.q.val();
        self.mgmt.wdata.next = self.record.q.val();
        self.port.select.next = self.port_num.q.val();
        self.port.read.next = self.port_ask.q.val();
        self.port.word.next = self.issue_index.q.val().get_bits::<4>(0);
        self.inject.valid.next = false;
        self.inject.last.next = false;
        self.inject.data.next = self.buf_read_data.val();
        self.inject.direction.next = self.issue_index.q.val().get_bit(0);
        self.rewritten.ready.next = false;
        self.inject_accept.next = false;
        self.buf_read_address.next = 0.into();
        self.r_pipeline_reset.d.next = false;
        self.request_pulse.next = false;
        self.error_pulse.next = false;
        self.inject_pulse.next = false;
        self.watchdog.d.next = 0.into();
        self.wd_expired.next = self.watchdog.q.val().all();
        // The next READ_COUNTERS step: reason counters first, then hits per entry.
        self.count_next.next = false;
        self.count_op.next = self.c_op_hits.val();
        self.count_index.next = bit_cast::<8, 9>(self.counter_i.q.val() - self.c_reason_count.val());
        if self.counter_i.q.val() < self.c_reason_count.val() {
            self.count_op.next = self.c_op_reason.val();
            self.count_index.next = bit_cast::<8, 9>(self.counter_i.q.val());
        }

        // Check's predicates, registered from the request registers (stable from the
        // clock `req_ready` rises, one clock before Check): Check then decides from
        // flip-flops alone.
        self.len_no_payload.d.next = self.req_len.val() == self.c_len_no_payload.val();
        self.len_read_entry.d.next = self.req_len.val() == self.c_len_read_entry.val();
        self.len_inject_one.d.next = self.req_len.val() == self.c_len_inject_min.val();
        self.len_write_entry.d.next = self.req_len.val() == self.c_len_write_entry.val();
        self.len_short.d.next = self.req_len.val() < self.c_len_no_payload.val();
        self.len_bad_inject.d.next = (self.req_len.val() < self.c_len_inject_min.val()) | (self.req_len.val() > self.c_len_inject_max.val());
        self.arg_over.d.next = self.req_arg.val() > self.c_last_index.val();
        self.arg_over_1.d.next = self.req_arg.val() > 1;
        self.arg_over_port.d.next = self.req_arg.val() > self.c_last_port.val();
        self.len_read_port.d.next = self.req_len.val() == self.c_len_read_port.val();
        self.is_port.d.next = self.req_cmd.val() == self.c_cmd_port.val();
        self.is_info.d.next = self.req_cmd.val() == self.c_cmd_info.val();
        self.is_write.d.next = self.req_cmd.val() == self.c_cmd_write.val();
        self.is_read.d.next = self.req_cmd.val() == self.c_cmd_read.val();
        self.is_clear.d.next = self.req_cmd.val() == self.c_cmd_clear.val();
        self.is_counters.d.next = self.req_cmd.val() == self.c_cmd_counters.val();
        self.is_reset.d.next = self.req_cmd.val() == self.c_cmd_reset.val();
        self.is_inject.d.next = self.req_cmd.val() == self.c_cmd_inject.val();

        // The record register, written in one place with every select a flip-flop
        // (or `mgmt.done`), since each select fans out to 168 bits: a shift (LoadRecord
        // every clock; Shift the clock after a byte leaves), a management reply, or
        // INFO's payload (the clock after Check). Shifting takes in RAM bytes in both
        // cases; in a reply they never reach the top byte within its 21 shifts. A
        // counter or port word goes to the top 32 bits, and the bits below take the
        // shift (never sent: only the word's 4 bytes leave before the next load), so
        // each bit below picks from three sources (one LUT), not five.
        self.load_info.d.next = false;
        self.shift_pending.d.next = false;
        self.shifted.next = (self.record.q.val() << 8) | bit_cast::<RECORD_BITS, 8>(self.buf_read_data.val());
        self.word_in.next = self.mgmt.rdata.val().get_bits::<COUNTER_BITS>(0);
        if self.wait_port.q.val() {
            self.word_in.next = self.port.value.val();
        }
        if self.loading.q.val() | self.shift_pending.q.val() {
            self.record.d.next = self.shifted.val();
        }
        if (self.wait_count.q.val() & self.mgmt.done.val()) | (self.wait_port.q.val() & self.port.done.val()) {
            self.record.d.next = (self.shifted.val() & self.c_below_word.val())
                | (bit_cast::<RECORD_BITS, COUNTER_BITS>(self.word_in.val()) << self.c_counter_shift.val());
        }
        if self.wait_entry.q.val() & self.mgmt.done.val() {
            self.record.d.next = self.mgmt.rdata.val();
        }
        if self.load_info.q.val() {
            self.record.d.next = self.c_info.val();
        }

        match self.state.q.val() {
            ExecState::Idle => {
                if self.req_ready.val() {
                    self.take.next = true;
                    self.request_pulse.next = true;
                    self.state.d.next = ExecState::Check;
                } else if self.busy_pending.val() {
                    self.take_busy.next = true;
                    self.status.d.next = self.c_st_busy.val();
                    self.st_ok.d.next = false;
                    self.reply_cmd.d.next = self.rej_cmd.val();
                    self.reply_shift.d.next = false;
                    self.reply_counters.d.next = false;
                    self.reply_inject.d.next = false;
                    self.reply_port.d.next = false;
                    self.reply_seq.d.next = self.rej_seq.val();
                    self.state.d.next = ExecState::ReplyStart;
                }
            }
            ExecState::Check => {
                self.reply_cmd.d.next = self.req_cmd.val();
                self.reply_shift.d.next = self.is_info.q.val() | self.is_read.q.val();
                self.reply_counters.d.next = self.is_counters.q.val();
                self.reply_inject.d.next = self.is_inject.q.val();
                // `has_ports` (a constant on each board) folds the whole READ_PORT reply
                // path away on a board without ports: the Cu top keeps only its checks.
                self.reply_port.d.next = self.is_port.q.val() & self.has_ports.val();
                self.port_num.d.next = self.req_arg.val().get_bit(0);
                self.reply_seq.d.next = self.req_seq.val();
                self.issue_index.d.next = self.req_arg.val();
                self.feed_left.d.next = self.req_len.val() - 5;
                self.feeding.d.next = true;
                self.feed_last.d.next = self.len_inject_one.q.val();
                self.feed_ptr.d.next = 0.into();
                self.counter_i.d.next = 0.into();
                self.status.d.next = self.c_st_ok.val();
                self.st_ok.d.next = true;
                self.state.d.next = ExecState::ReplyStart;
                if self.req_framing.val() {
                    self.status.d.next = self.c_st_framing.val();
                    self.st_ok.d.next = false;
                } else if self.len_short.q.val() {
                    self.status.d.next = self.c_st_length.val();
                    self.st_ok.d.next = false;
                } else if !self.req_crc_ok.val() {
                    self.status.d.next = self.c_st_crc.val();
                    self.st_ok.d.next = false;
                } else if self.is_info.q.val() {
                    if !self.len_no_payload.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else {
                        self.load_info.d.next = true;
                        self.shift_left.d.next = self.c_info_len.val();
                    }
                } else if self.is_write.q.val() {
                    if !self.len_write_entry.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else if self.arg_over.q.val() {
                        self.status.d.next = self.c_st_range.val();
                        self.st_ok.d.next = false;
                    } else {
                        self.op.d.next = self.c_op_write.val();
                        self.shift_left.d.next = self.c_record_len.val();
                        self.loading.d.next = true;
                        self.state.d.next = ExecState::LoadRecord;
                    }
                } else if self.is_read.q.val() {
                    if !self.len_read_entry.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else if self.arg_over.q.val() {
                        self.status.d.next = self.c_st_range.val();
                        self.st_ok.d.next = false;
                    } else {
                        self.op.d.next = self.c_op_read.val();
                        self.issue.d.next = true;
                        self.state.d.next = ExecState::MgmtIssue;
                    }
                } else if self.is_clear.q.val() {
                    if !self.len_no_payload.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else {
                        self.op.d.next = self.c_op_clear.val();
                        self.issue.d.next = true;
                        self.state.d.next = ExecState::MgmtIssue;
                    }
                } else if self.is_counters.q.val() {
                    if !self.len_no_payload.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    }
                } else if self.is_reset.q.val() {
                    if !self.len_no_payload.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else {
                        self.op.d.next = self.c_op_reset.val();
                        self.issue.d.next = true;
                        self.state.d.next = ExecState::MgmtIssue;
                    }
                } else if self.is_port.q.val() {
                    if !self.len_read_port.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else if !self.has_ports.val() | self.arg_over_port.q.val() {
                        self.status.d.next = self.c_st_range.val();
                        self.st_ok.d.next = false;
                    }
                } else if self.is_inject.q.val() {
                    if self.len_bad_inject.q.val() {
                        self.status.d.next = self.c_st_length.val();
                        self.st_ok.d.next = false;
                    } else if self.arg_over_1.q.val() {
                        self.status.d.next = self.c_st_range.val();
                        self.st_ok.d.next = false;
                    }
                } else {
                    self.status.d.next = self.c_st_command.val();
                    self.st_ok.d.next = false;
                }
            }
            ExecState::LoadRecord => {
                // `read_data` holds RAM[feed_ptr] (address 0 was read in Check).
                self.buf_read_address.next = bit_cast::<11, 12>(self.feed_ptr.q.val() + 1);
                self.feed_ptr.d.next = self.feed_ptr.q.val() + 1;
                self.shift_left.d.next = self.shift_left.q.val() - 1;
                if self.shift_left.q.val() == 1 {
                    self.loading.d.next = false;
                    self.issue.d.next = true;
                    self.state.d.next = ExecState::MgmtIssue;
                }
            }
            ExecState::MgmtIssue => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if !self.mgmt.busy.val() {
                    self.issue.d.next = false;
                    // Accepted. The port never completes in the accepting clock, so
                    // `record` loads only from MgmtWait (keeps `mgmt.busy` off its path).
                    self.wait_entry.d.next = true;
                    self.state.d.next = ExecState::MgmtWait;
                } else if self.wd_expired.val() {
                    self.issue.d.next = false;
                    self.status.d.next = self.c_st_timeout.val();
                    self.st_ok.d.next = false;
                    self.r_pipeline_reset.d.next = true;
                    self.state.d.next = ExecState::ReplyStart;
                }
            }
            ExecState::MgmtWait => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if self.mgmt.done.val() {
                    self.wait_entry.d.next = false;
                    self.shift_left.d.next = self.c_record_len.val();
                    self.state.d.next = ExecState::ReplyStart;
                } else if self.wd_expired.val() {
                    self.wait_entry.d.next = false;
                    self.status.d.next = self.c_st_timeout.val();
                    self.st_ok.d.next = false;
                    self.r_pipeline_reset.d.next = true;
                    self.state.d.next = ExecState::ReplyStart;
                }
            }
            ExecState::ReplyStart => {
                if self.out_accept.val() {
                    self.error_pulse.next = !self.st_ok.q.val();
                    self.state.d.next = ExecState::Status;
                }
            }
            ExecState::Status => {
                if self.out_accept.val() {
                    self.state.d.next = ExecState::Command;
                }
            }
            ExecState::Command => {
                if self.out_accept.val() {
                    self.state.d.next = ExecState::Seq;
                }
            }
            ExecState::Seq => {
                if self.out_accept.val() {
                    self.state.d.next = ExecState::CrcHi;
                    if self.st_ok.q.val() {
                        if self.reply_shift.q.val() {
                            self.state.d.next = ExecState::Shift;
                        } else if self.reply_counters.q.val() | self.reply_port.q.val() {
                            self.count_next.next = true;
                        } else if self.reply_inject.q.val() {
                            self.state.d.next = ExecState::Inject;
                        }
                    }
                }
            }
            ExecState::Shift => {
                if self.out_accept.val() {
                    self.shift_pending.d.next = true;
                    self.shift_left.d.next = self.shift_left.q.val() - 1;
                    if self.shift_left.q.val() == 1 {
                        self.state.d.next = ExecState::CrcHi;
                        if (self.reply_counters.q.val() & (self.counter_i.q.val() != self.c_counter_total.val()))
                            | (self.reply_port.q.val() & (self.counter_i.q.val() != self.c_port_words.val()))
                        {
                            self.count_next.next = true;
                        }
                    }
                }
            }
            ExecState::CountIssue => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if self.reply_port.q.val() {
                    // No management op: the port's read, asked for this clock.
                    self.port_ask.d.next = false;
                    self.wait_port.d.next = true;
                    self.state.d.next = ExecState::CountWait;
                } else if !self.mgmt.busy.val() {
                    self.issue.d.next = false;
                    self.wait_count.d.next = true;
                    self.state.d.next = ExecState::CountWait;
                } else if self.wd_expired.val() {
                    self.issue.d.next = false;
                    self.r_pipeline_reset.d.next = true;
                    self.state.d.next = ExecState::CrcHi;
                }
            }
            ExecState::CountWait => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if self.reply_port.q.val() {
                    if self.port.done.val() {
                        self.wait_port.d.next = false;
                        self.shift_left.d.next = 4.into();
                        self.counter_i.d.next = self.counter_i.q.val() + 1;
                        self.state.d.next = ExecState::Shift;
                    } else if self.wd_expired.val() {
                        self.wait_port.d.next = false;
                        self.r_pipeline_reset.d.next = true;
                        self.state.d.next = ExecState::CrcHi;
                    }
                } else if self.mgmt.done.val() {
                    self.wait_count.d.next = false;
                    self.shift_left.d.next = 4.into();
                    self.counter_i.d.next = self.counter_i.q.val() + 1;
                    self.state.d.next = ExecState::Shift;
                } else if self.wd_expired.val() {
                    self.wait_count.d.next = false;
                    self.r_pipeline_reset.d.next = true;
                    self.state.d.next = ExecState::CrcHi;
                }
            }
            ExecState::Inject => {
                // Feeder: `read_data` always holds RAM[feed_ptr]; on a beat, fetch the next.
                // `feeding`/`feed_last` are registered so `inject.valid`/`inject.last` come
                // straight from flip-flops.
                self.inject.valid.next = self.feeding.q.val();
                self.inject.last.next = self.feed_last.q.val();
                self.inject_accept.next = self.feeding.q.val() & self.inject.ready.val();
                self.buf_read_address.next = bit_cast::<11, 12>(self.feed_ptr.q.val());
                if self.inject_accept.val() {
                    self.buf_read_address.next = bit_cast::<11, 12>(self.feed_ptr.q.val() + 1);
                    self.feed_ptr.d.next = self.feed_ptr.q.val() + 1;
                    self.feed_left.d.next = self.feed_left.q.val() - 1;
                    self.feeding.d.next = self.feed_left.q.val() != 1;
                    self.feed_last.d.next = self.feed_left.q.val() == 2;
                }
                // Output: straight to the escaper, back-pressured by the UART.
                self.rewritten.ready.next = self.reply_ready.val();
                if !(self.inject_accept.val() | self.out_accept.val()) {
                    self.watchdog.d.next = self.watchdog.q.val() + 1;
                }
                if self.out_accept.val() & self.rewritten.last.val() {
                    self.inject_pulse.next = true;
                    self.state.d.next = ExecState::CrcHi;
                } else if self.wd_expired.val() {
                    self.r_pipeline_reset.d.next = true;
                    self.state.d.next = ExecState::CrcHi;
                }
            }
            ExecState::CrcHi => {
                if self.out_accept.val() {
                    self.state.d.next = ExecState::CrcLo;
                }
            }
            ExecState::CrcLo => {
                if self.out_accept.val() {
                    self.state.d.next = ExecState::ReplyEnd;
                }
            }
            ExecState::ReplyEnd => {
                if self.out_accept.val() {
                    self.state.d.next = ExecState::Idle;
                }
            }
        }

        // The next counter of a READ_COUNTERS reply (from Seq, then after each one's bytes).
        if self.count_next.val() {
            self.issue.d.next = !self.reply_port.q.val();
            self.port_ask.d.next = self.reply_port.q.val();
            self.op.d.next = self.count_op.val();
            self.issue_index.d.next = self.count_index.val();
            if self.reply_port.q.val() {
                self.issue_index.d.next = bit_cast::<8, 9>(self.counter_i.q.val());
            }
            self.state.d.next = ExecState::CountIssue;
        }

        // The receive side may store a new packet while the executor is idle, and also
        // while it sends a reply that needs neither the record register nor the RAM (an
        // error, or WRITE/CLEAR/RESET's empty OK): so a request right behind line
        // garbage is not turned away BUSY while the garbage gets its error reply.
        self.reply_uses_buffers.next = self.st_ok.q.val()
            & (self.reply_shift.q.val() | self.reply_counters.q.val() | self.reply_inject.q.val() | self.reply_port.q.val());
        self.exec_free.next = self.state.q.val() == ExecState::Idle;
        if (self.state.q.val() == ExecState::ReplyStart)
            | (self.state.q.val() == ExecState::Status)
            | (self.state.q.val() == ExecState::Command)
            | (self.state.q.val() == ExecState::Seq)
            | (self.state.q.val() == ExecState::CrcHi)
            | (self.state.q.val() == ExecState::CrcLo)
            | (self.state.q.val() == ExecState::ReplyEnd)
        {
            self.exec_free.next = !self.reply_uses_buffers.val();
        }

        if self.reset.val() {
            self.state.d.next = ExecState::Idle;
            self.issue.d.next = false;
            self.loading.d.next = false;
            self.wait_entry.d.next = false;
            self.wait_count.d.next = false;
            self.port_ask.d.next = false;
            self.wait_port.d.next = false;
            self.shift_pending.d.next = false;
            self.load_info.d.next = false;
            self.r_pipeline_reset.d.next = true;
        }
        self.pipeline_reset.next = self.r_pipeline_reset.q.val();
    }
}

#[cfg(test)]
mod tests {
    //! The executor alone: the bench plays the receive side (request registers and the
    //! frame buffer, read one clock late like the block RAM), the transmit side (random
    //! `reply_ready`, the CRC of the folded bytes) and, through `PortStandIn`, the
    //! pipeline. Every request's status is judged by the host's own request parser
    //! (`Request::decode`, same checks in the same order) and every reply by the host's
    //! reply decoder.
    use super::*;
    use crate::ctrl::port_stand_in::{wire_to_stand_in, PortStandIn, CAP};
    use portshare_host::protocol::{crc16, crc16_update, Counters, DeviceInfo, Reply, Request};
    use portshare_host::{Direction, Slot};
    use rand::{Rng, SeedableRng};

    #[derive(LogicBlock)]
    struct Bench {
        clock: Signal<In, Clock>,
        exec: Executor<CAP>,
        port: PortStandIn,
    }

    impl Logic for Bench {
        fn update(&mut self) {
            wire_to_stand_in!(self.clock.val(), self.exec, self.port);
        }
    }

    /// What the bench hands the executor: a request body (with the receive side's
    /// framing verdict), or a turned-away packet's command and sequence.
    enum Offer {
        Request(Vec<u8>, bool),
        Busy(u8, u8),
    }

    struct Driver {
        b: Bench,
        rng: rand::rngs::StdRng,
        buffer: Vec<u8>,
        read_address: usize,
        crc: u16,
        /// Bytes the escaper took: (data, end, fold).
        reply: Vec<(u8, bool, bool)>,
        took: bool,
    }

    impl Driver {
        fn new(seed: u64) -> Self {
            let mut b = Bench { clock: Default::default(), exec: Executor::new(0x0BAD_CAFE), port: Default::default() };
            b.connect_all();
            let mut d = Driver {
                b,
                rng: rand::rngs::StdRng::seed_from_u64(seed),
                buffer: vec![0; MAX_FRAME_LEN],
                read_address: 0,
                crc: 0xFFFF,
                reply: Vec::new(),
                took: false,
            };
            d.clock();
            d
        }

        fn clock(&mut self) {
            let ready = self.rng.gen_bool(0.6);
            let e = &mut self.b.exec;
            e.reply_ready.next = ready;
            e.crc.next = (self.crc as u64).into();
            e.buf_read_data.next = (self.buffer[self.read_address] as u64).into();
            portshare_tools::clocking::settle(&mut self.b);
            let e = &mut self.b.exec;
            let (take, take_busy) = (e.take.val(), e.take_busy.val());
            if e.crc_clear.val() {
                self.crc = 0xFFFF;
            }
            if e.reply_valid.val() && ready {
                let byte = (e.reply_data.val().index() as u8, e.reply_end.val(), e.reply_fold.val());
                if byte.2 {
                    self.crc = crc16_update(self.crc, byte.0);
                }
                self.reply.push(byte);
            }
            self.read_address = e.buf_read_address.val().index();
            self.b.clock.next = true.into();
            portshare_tools::clocking::settle(&mut self.b);
            // The receive side's registers change after the edge, like flip-flops.
            if take {
                self.b.exec.req_ready.next = false;
                self.took = true;
            }
            if take_busy {
                self.b.exec.busy_pending.next = false;
                self.took = true;
            }
            self.b.clock.next = false.into();
            portshare_tools::clocking::settle(&mut self.b);
        }

        /// Offers a request (or a BUSY) and runs until its reply's closing END.
        fn serve(&mut self, offer: &Offer) -> Reply {
            let e = &mut self.b.exec;
            match offer {
                Offer::Request(body, framing) => {
                    let byte = |i: usize| (body.get(i).copied().unwrap_or(0) as u64).into();
                    e.req_cmd.next = byte(0);
                    e.req_seq.next = byte(1);
                    e.req_arg.next = byte(2);
                    e.req_len.next = (body.len() as u64).into();
                    e.req_crc_ok.next = crc16(body) == 0;
                    e.req_framing.next = *framing;
                    e.req_ready.next = true;
                    for (i, &b) in body.iter().skip(BULK_AT).take(MAX_FRAME_LEN).enumerate() {
                        self.buffer[i] = b;
                    }
                }
                Offer::Busy(cmd, seq) => {
                    e.rej_cmd.next = (*cmd as u64).into();
                    e.rej_seq.next = (*seq as u64).into();
                    e.busy_pending.next = true;
                }
            }
            self.took = false;
            self.reply.clear();
            let mut clocks = 0;
            while !(self.reply.len() > 1 && self.reply.last().unwrap().1) {
                self.clock();
                clocks += 1;
                assert!(clocks < 100_000, "no reply: state {:?}, so far {:02x?}", self.b.exec.state.q.val(), self.reply);
            }
            assert!(self.took, "the request was taken");
            assert!(self.b.exec.exec_free.val(), "idle after the reply");
            let r = std::mem::take(&mut self.reply);
            assert!(r[0].1 && r.iter().skip(1).rev().skip(1).all(|b| !b.1), "END, body, END: {r:?}");
            let body: Vec<u8> = r[1..r.len() - 1].iter().map(|b| b.0).collect();
            let folded: Vec<bool> = r[1..r.len() - 1].iter().map(|b| b.2).collect();
            assert!(folded.len() >= 5 && folded[..folded.len() - 2].iter().all(|&f| f) && !folded[folded.len() - 2] && !folded[folded.len() - 1], "the CRC covers status..payload, not itself");
            Reply::decode(&body).expect("reply CRC and length")
        }
    }

    /// A request body of each kind, valid or broken the ways the board must tell apart.
    fn request(rng: &mut impl Rng, seq: u8) -> Vec<u8> {
        let index = rng.gen_range(0..CAP as u8 + 2);
        let record = Slot::new(std::net::IpAddr::from([198, 51, 100, index]), true, true, 443, 8000 + index as u16).to_record();
        let frame_len = match rng.gen_range(0..8) {
            0 => MAX_FRAME_LEN,
            1 => MAX_FRAME_LEN + 1,
            2 => 0,
            _ => rng.gen_range(1..80),
        };
        let mut body = match rng.gen_range(0..9) {
            0 => Request::Info.body(seq),
            1 => Request::WriteEntry { index, record }.body(seq),
            2 => Request::ReadEntry { index }.body(seq),
            3 => Request::ClearTable.body(seq),
            4 => Request::ReadCounters.body(seq),
            5 => Request::ResetCounters.body(seq),
            6 => Request::ReadPort { port: rng.gen_range(0..4) }.body(seq),
            7 => {
                let mut b = vec![CMD_INJECT, seq, rng.gen_range(0..3)];
                b.extend((0..frame_len).map(|_| rng.gen::<u8>()));
                portshare_host::protocol::append_crc(&mut b);
                b
            }
            _ => {
                let mut b = vec![rng.gen_range(0x09..=0xFF), seq];
                portshare_host::protocol::append_crc(&mut b);
                b
            }
        };
        match rng.gen_range(0..10) {
            0 => {
                let i = rng.gen_range(0..body.len());
                body[i] ^= 0x10;
            }
            1 => body.truncate(rng.gen_range(1..body.len())),
            2 => {
                // One payload byte more or less, CRC recomputed: a length error.
                let n = body.len() - 2;
                body.truncate(n);
                if rng.gen_bool(0.5) || n <= 2 {
                    body.push(0x5A);
                } else {
                    body.pop();
                }
                portshare_host::protocol::append_crc(&mut body);
            }
            _ => {}
        }
        body
    }

    #[test]
    fn every_request_gets_the_status_the_host_parser_gives_and_its_payload() {
        let mut d = Driver::new(16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(61);
        d.b.port._hits = vec![7, 0xC0DB_0001, 0, 0xFFFF_FFFF];
        d.b.port._regs = vec![[0; RECORD_LEN]; CAP];
        // Two ports whose words all differ (a word read a clock early or from the
        // other port shows); none for a stretch, like the Cu top.
        let ports: Vec<[u32; PORT_WORDS]> =
            (0..PORT_COUNT as u32).map(|p| std::array::from_fn(|w| 0xC0DB_0000 ^ (p << 12) ^ (w as u32 * 0x0101_0101))).collect();
        for n in 0..360u32 {
            let seq = n as u8;
            d.b.port._ports = if (200..260).contains(&n) { vec![] } else { ports.clone() };
            if n % 37 == 5 {
                let r = d.serve(&Offer::Busy(CMD_WRITE_ENTRY, seq));
                assert_eq!((r.status, r.command, r.seq, r.payload.len()), (STATUS_BUSY, CMD_WRITE_ENTRY, seq, 0));
                continue;
            }
            let body = request(&mut rng, seq);
            let framing = rng.gen_bool(0.03);
            let (cmd, seq, parsed) = Request::decode(&body);
            let want = match &parsed {
                _ if framing => Err(STATUS_BAD_FRAMING),
                Ok(Request::WriteEntry { index, .. } | Request::ReadEntry { index }) if *index as usize >= CAP => {
                    Err(STATUS_OUT_OF_RANGE)
                }
                Ok(Request::ReadPort { port }) if *port as usize >= d.b.port._ports.len() => Err(STATUS_OUT_OF_RANGE),
                r => r.clone(),
            };
            let (regs, hits, reasons) = (d.b.port._regs.clone(), d.b.port._hits.clone(), d.b.port._reasons);
            let ops = d.b.port._ops_accepted;
            let what = format!("request {n} {body:02x?}");
            let r = d.serve(&Offer::Request(body.clone(), framing));
            assert_eq!((r.command, r.seq), (cmd, seq), "{what}: echo");
            match want {
                Err(status) => {
                    assert_eq!((r.status, r.payload.len()), (status, 0), "{what}");
                    assert_eq!(d.b.port._ops_accepted, ops, "{what}: nothing ran");
                    assert_eq!(d.b.port._regs, regs, "{what}: table untouched");
                }
                Ok(req) => {
                    assert_eq!(r.status, STATUS_OK, "{what}");
                    match req {
                        Request::Info => assert_eq!(
                            DeviceInfo::from_payload(&r.payload),
                            Some(DeviceInfo { protocol_version: PROTOCOL_VERSION, capacity: CAP as u16, max_frame: MAX_FRAME_LEN as u16, build_id: 0x0BAD_CAFE }),
                            "{what}"
                        ),
                        Request::WriteEntry { index, record } => {
                            assert!(r.payload.is_empty());
                            assert_eq!(d.b.port._regs[index as usize], record, "{what}");
                        }
                        Request::ReadEntry { index } => assert_eq!(r.payload, regs[index as usize], "{what}"),
                        Request::ClearTable => assert!(d.b.port._regs.iter().all(|r| *r == [0; RECORD_LEN]), "{what}"),
                        Request::ReadCounters => {
                            let c = Counters::from_payload(&r.payload).expect("counters payload");
                            assert_eq!(c.hits, hits, "{what}");
                            assert_eq!([c.rewritten, c.no_match, c.fragment, c.unparsed, c.udp_zero_checksum], reasons, "{what}");
                        }
                        Request::ReadPort { port } => {
                            let want: Vec<u8> = ports[port as usize].iter().flat_map(|w| w.to_be_bytes()).collect();
                            assert_eq!(r.payload, want, "{what}: the port's words in order");
                        }
                        Request::ResetCounters => {
                            assert!(d.b.port._hits.iter().all(|&h| h == 0) && d.b.port._reasons == [0; 5], "{what}")
                        }
                        Request::Inject { direction, frame } => {
                            let want: Vec<u8> = match direction {
                                Direction::Incoming => frame,
                                Direction::Outgoing => frame.iter().map(|b| !b).collect(),
                            };
                            assert!(r.payload == want, "{what}: the stand-in's output");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = Executor::<64>::new(1);
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-executor", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
