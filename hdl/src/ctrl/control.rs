//! The control block: turns the UART's byte stream into commands for the pipeline and
//! sends back one reply per request. The wire format is defined (and documented, with
//! tables) in `portshare_host::protocol`; its codes and sizes come from
//! `portshare_spec`, the one copy host and hardware share.
//!
//! Receive side (always running): SLIP deframing (`END` = 0xC0, `ESC` = 0xDB), a byte-
//! serial CRC-16 over the unescaped body, the command/sequence/argument bytes into
//! registers, and bytes 3.. into a 2048-byte block RAM (WRITE_ENTRY's record, INJECT's
//! frame). A packet is only stored
//! when the executor could take it as it began (idle, or sending a reply that uses
//! neither buffer); otherwise it is answered BUSY afterwards. So the executor never
//! uses a RAM read while the receive side writes, and the RAM is a `BlockRam`
//! (collisions don't care). Bytes are expected at
//! UART pace (at least 4 clocks apart; a UART delivers one per 10 bit times).
//!
//! Executor: checks framing, length, CRC, command, length for the command and range in
//! that order (nothing is touched unless all pass), runs the management op (WRITE_ENTRY
//! first shifts its record out of the RAM into the record register), then
//! streams the reply — `END, status, command, seq, payload, CRC, END` — through a SLIP
//! escaper into the UART transmitter. READ_COUNTERS reads each counter over the
//! management port just before its four bytes go out; INJECT feeds the frame from the
//! RAM into the pipeline and forwards the pipeline's output as it comes (back-pressured
//! by the UART). A watchdog ends a management op or an injection that makes no
//! progress for 2^20 clocks (10.5 ms): TIMEOUT before the reply has started, or a cut
//! reply (the host sees the short length) once it has, and pulses `pipeline_reset`.

use crate::prim::crc16::Crc16;
use crate::prim::ram::BlockRam;
use crate::core::pipeline::{
    MGMT_CLEAR_TABLE, MGMT_READ_ENTRY, MGMT_READ_HITS, MGMT_READ_REASON, MGMT_RESET_COUNTERS, MGMT_WRITE_ENTRY,
    REASON_COUNT,
};
use rust_hdl::prelude::*;

pub use portshare_spec::protocol::*;
use portshare_spec::record::{RECORD_BITS, RECORD_LEN};

/// Bits of a counter on the management port (the low bits of `mgmt_rdata`).
const COUNTER_BITS: usize = COUNTER_LEN * 8;
/// Buffer positions: body bytes `BULK_AT..=BULK_LAST` go to the frame buffer.
const BULK_LAST: usize = BULK_AT + MAX_FRAME_LEN - 1;
/// The frame buffer: `BlockRam<8, FRAME_ADDR_BITS>`, exactly the largest INJECT frame.
pub const FRAME_ADDR_BITS: usize = 11;
const _: () = assert!(1 << FRAME_ADDR_BITS == MAX_FRAME_LEN);

/// Build id reported by INFO unless the build stamps its own: the crate version as
/// 0x00MMmmpp.
pub fn default_build_id() -> u32 {
    let v = |s: &str| s.parse::<u32>().unwrap_or(0) & 0xFF;
    (v(env!("CARGO_PKG_VERSION_MAJOR")) << 16) | (v(env!("CARGO_PKG_VERSION_MINOR")) << 8) | v(env!("CARGO_PKG_VERSION_PATCH"))
}

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
    /// Into the pipeline's stream input.
    pub pl_data: Signal<Out, Bits<8>>,
    pub pl_valid: Signal<Out, Bit>,
    pub pl_last: Signal<Out, Bit>,
    pub pl_direction: Signal<Out, Bit>,
    pub pl_ready: Signal<In, Bit>,
    /// From the pipeline's stream output.
    pub po_data: Signal<In, Bits<8>>,
    pub po_valid: Signal<In, Bit>,
    pub po_last: Signal<In, Bit>,
    pub po_ready: Signal<Out, Bit>,
    /// The pipeline's management port.
    pub mgmt_op: Signal<Out, Bits<3>>,
    pub mgmt_start: Signal<Out, Bit>,
    pub mgmt_index: Signal<Out, Bits<8>>,
    pub mgmt_wdata: Signal<Out, Bits<RECORD_BITS>>,
    pub mgmt_busy: Signal<In, Bit>,
    pub mgmt_done: Signal<In, Bit>,
    pub mgmt_rdata: Signal<In, Bits<RECORD_BITS>>,
    /// One-clock pulse after a watchdog timeout (and during reset).
    pub pipeline_reset: Signal<Out, Bit>,
    /// Activity pulses for LEDs: a request was taken; an error reply started; an
    /// injected frame's last byte went out.
    pub request_pulse: Signal<Out, Bit>,
    pub error_pulse: Signal<Out, Bit>,
    pub inject_pulse: Signal<Out, Bit>,

    c_end: Constant<Bits<8>>,
    c_esc: Constant<Bits<8>>,
    c_esc_end: Constant<Bits<8>>,
    c_esc_esc: Constant<Bits<8>>,
    c_cmd_info: Constant<Bits<8>>,
    c_cmd_write: Constant<Bits<8>>,
    c_cmd_read: Constant<Bits<8>>,
    c_cmd_clear: Constant<Bits<8>>,
    c_cmd_counters: Constant<Bits<8>>,
    c_cmd_reset: Constant<Bits<8>>,
    c_cmd_inject: Constant<Bits<8>>,
    c_st_ok: Constant<Bits<8>>,
    c_st_crc: Constant<Bits<8>>,
    c_st_length: Constant<Bits<8>>,
    c_st_command: Constant<Bits<8>>,
    c_st_range: Constant<Bits<8>>,
    c_st_busy: Constant<Bits<8>>,
    c_st_framing: Constant<Bits<8>>,
    c_st_timeout: Constant<Bits<8>>,
    c_op_write: Constant<Bits<3>>,
    c_op_read: Constant<Bits<3>>,
    c_op_clear: Constant<Bits<3>>,
    c_op_hits: Constant<Bits<3>>,
    c_op_reason: Constant<Bits<3>>,
    c_op_reset: Constant<Bits<3>>,
    /// Highest valid entry index (N-1).
    c_last_index: Constant<Bits<8>>,
    c_reason_count: Constant<Bits<9>>,
    /// Counters in a READ_COUNTERS reply (reasons + N).
    c_counter_total: Constant<Bits<9>>,
    /// INFO payload in the top INFO_LEN bytes.
    c_info: Constant<Bits<RECORD_BITS>>,
    // Request lengths (whole body, CRC included) and buffer positions, from
    // `portshare_spec::protocol` (the update code can only name constants as fields).
    c_len_no_payload: Constant<Bits<12>>,
    c_len_read_entry: Constant<Bits<12>>,
    c_len_write_entry: Constant<Bits<12>>,
    c_len_inject_min: Constant<Bits<12>>,
    c_len_inject_max: Constant<Bits<12>>,
    c_bulk_before: Constant<Bits<12>>,
    c_bulk_at: Constant<Bits<12>>,
    c_bulk_last: Constant<Bits<12>>,
    /// Bytes to shift out of the record register: INFO's payload, a record.
    c_info_len: Constant<Bits<5>>,
    c_record_len: Constant<Bits<5>>,
    /// A counter arrives in `mgmt_rdata`'s low bits and leaves from the record's top.
    c_counter_shift: Constant<Bits<8>>,

    // Receive side.
    rx_len: DFF<Bits<12>>,
    rx_esc: DFF<Bit>,
    rx_bad: DFF<Bit>,
    rx_accepting: DFF<Bit>,
    in_buffer: DFF<Bit>,
    req_cmd: DFF<Bits<8>>,
    req_seq: DFF<Bits<8>>,
    req_arg: DFF<Bits<8>>,
    rej_cmd: DFF<Bits<8>>,
    rej_seq: DFF<Bits<8>>,
    req_ready: DFF<Bit>,
    req_len: DFF<Bits<12>>,
    req_crc_ok: DFF<Bit>,
    req_framing: DFF<Bit>,
    pending_busy: DFF<Bit>,
    /// Check's predicates on the request registers, registered.
    len_no_payload: DFF<Bit>,
    len_read_entry: DFF<Bit>,
    len_inject_one: DFF<Bit>,
    len_write_entry: DFF<Bit>,
    len_short: DFF<Bit>,
    len_bad_inject: DFF<Bit>,
    arg_over: DFF<Bit>,
    arg_over_1: DFF<Bit>,
    is_info: DFF<Bit>,
    is_write: DFF<Bit>,
    is_read: DFF<Bit>,
    is_clear: DFF<Bit>,
    is_counters: DFF<Bit>,
    is_reset: DFF<Bit>,
    is_inject: DFF<Bit>,
    record: DFF<Bits<RECORD_BITS>>,
    rx_crc: Crc16,
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
    exec_free: Signal<Local, Bit>,
    exec_idle_r: DFF<Bit>,
    reply_uses_buffers: Signal<Local, Bit>,

    // Executor.
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
    op: DFF<Bits<3>>,
    /// The management request being offered (`mgmt_start`) and its index: the
    /// request's argument (an entry; INJECT's direction in bit 0), or the counter a
    /// READ_COUNTERS step reads.
    issue: DFF<Bit>,
    issue_index: DFF<Bits<8>>,
    load_info: DFF<Bit>,
    /// Record-register selects (see where `record` is written).
    loading: DFF<Bit>,
    shift_pending: DFF<Bit>,
    wait_entry: DFF<Bit>,
    wait_count: DFF<Bit>,
    count_next: Signal<Local, Bit>,
    count_op: Signal<Local, Bits<3>>,
    count_index: Signal<Local, Bits<8>>,
    shift_left: DFF<Bits<5>>,
    counter_i: DFF<Bits<9>>,
    /// Frame bytes not yet fed to the pipeline, and registered flags derived from it.
    feed_left: DFF<Bits<12>>,
    feeding: DFF<Bit>,
    feed_last: DFF<Bit>,
    feed_ptr: DFF<Bits<12>>,
    watchdog: DFF<Bits<20>>,
    pl_reset: DFF<Bit>,
    tx_crc: Crc16,
    esc_pending: DFF<Bit>,
    esc_second: DFF<Bits<8>>,
    txh_valid: DFF<Bit>,
    txh_data: DFF<Bits<8>>,
    ob_valid: DFF<Bit>,
    ob_data: DFF<Bits<8>>,
    ob_raw: DFF<Bit>,
    ob_crc: DFF<Bit>,
    out_byte: Signal<Local, Bits<8>>,
    out_req: Signal<Local, Bit>,
    out_raw: Signal<Local, Bit>,
    out_crc: Signal<Local, Bit>,
    out_accept: Signal<Local, Bit>,
    slip_move: Signal<Local, Bit>,
    pl_accept: Signal<Local, Bit>,
    wd_expired: Signal<Local, Bit>,
}

impl<const N: usize> Control<N> {
    pub fn new(build_id: u32) -> Self {
        assert!(N >= 1 && N <= 256, "entry indexes are one byte");
        let k8 = |v: u8| Constant::<Bits<8>>::new((v as u64).into());
        let k3 = |v: u64| Constant::<Bits<3>>::new(v.into());
        let k12 = |v: usize| Constant::<Bits<12>>::new((v as u64).into());
        let info_hi = PROTOCOL_VERSION as u64;
        let info_lo = ((N as u64) << 48) | ((MAX_FRAME_LEN as u64) << 32) | build_id as u64;
        // INFO's payload in the record register's top bytes, the order it is sent.
        let info = (Bits::<RECORD_BITS>::from(info_hi) << (RECORD_BITS as u64 - 8))
            | (Bits::<RECORD_BITS>::from(info_lo) << (RECORD_BITS as u64 - 8 * INFO_LEN as u64));
        Self {
            clock: Default::default(),
            reset: Default::default(),
            rx_data: Default::default(),
            rx_valid: Default::default(),
            rx_error: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            pl_data: Default::default(),
            pl_valid: Default::default(),
            pl_last: Default::default(),
            pl_direction: Default::default(),
            pl_ready: Default::default(),
            po_data: Default::default(),
            po_valid: Default::default(),
            po_last: Default::default(),
            po_ready: Default::default(),
            mgmt_op: Default::default(),
            mgmt_start: Default::default(),
            mgmt_index: Default::default(),
            mgmt_wdata: Default::default(),
            mgmt_busy: Default::default(),
            mgmt_done: Default::default(),
            mgmt_rdata: Default::default(),
            pipeline_reset: Default::default(),
            request_pulse: Default::default(),
            error_pulse: Default::default(),
            inject_pulse: Default::default(),
            c_end: k8(SLIP_END),
            c_esc: k8(SLIP_ESC),
            c_esc_end: k8(SLIP_ESC_END),
            c_esc_esc: k8(SLIP_ESC_ESC),
            c_cmd_info: k8(CMD_INFO),
            c_cmd_write: k8(CMD_WRITE_ENTRY),
            c_cmd_read: k8(CMD_READ_ENTRY),
            c_cmd_clear: k8(CMD_CLEAR_TABLE),
            c_cmd_counters: k8(CMD_READ_COUNTERS),
            c_cmd_reset: k8(CMD_RESET_COUNTERS),
            c_cmd_inject: k8(CMD_INJECT),
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
            c_info: Constant::new(info),
            c_len_no_payload: k12(NO_PAYLOAD_LEN),
            c_len_read_entry: k12(READ_ENTRY_LEN),
            c_len_write_entry: k12(WRITE_ENTRY_LEN),
            c_len_inject_min: k12(INJECT_MIN_LEN),
            c_len_inject_max: k12(INJECT_MAX_LEN),
            c_bulk_before: k12(BULK_AT - 1),
            c_bulk_at: k12(BULK_AT),
            c_bulk_last: k12(BULK_LAST),
            c_info_len: Constant::new((INFO_LEN as u64).into()),
            c_record_len: Constant::new((RECORD_LEN as u64).into()),
            c_counter_shift: Constant::new(((RECORD_BITS - COUNTER_BITS) as u64).into()),
            rx_len: Default::default(),
            rx_esc: Default::default(),
            rx_bad: Default::default(),
            rx_accepting: Default::default(),
            in_buffer: Default::default(),
            req_cmd: Default::default(),
            req_seq: Default::default(),
            req_arg: Default::default(),
            rej_cmd: Default::default(),
            rej_seq: Default::default(),
            req_ready: Default::default(),
            req_len: Default::default(),
            req_crc_ok: Default::default(),
            req_framing: Default::default(),
            pending_busy: Default::default(),
            len_no_payload: Default::default(),
            len_read_entry: Default::default(),
            len_inject_one: Default::default(),
            len_write_entry: Default::default(),
            len_short: Default::default(),
            len_bad_inject: Default::default(),
            arg_over: Default::default(),
            arg_over_1: Default::default(),
            is_info: Default::default(),
            is_write: Default::default(),
            is_read: Default::default(),
            is_clear: Default::default(),
            is_counters: Default::default(),
            is_reset: Default::default(),
            is_inject: Default::default(),
            record: Default::default(),
            rx_crc: Default::default(),
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
            exec_free: Default::default(),
            exec_idle_r: Default::default(),
            reply_uses_buffers: Default::default(),
            state: Default::default(),
            status: Default::default(),
            reply_cmd: Default::default(),
            reply_seq: Default::default(),
            st_ok: Default::default(),
            reply_shift: Default::default(),
            reply_counters: Default::default(),
            reply_inject: Default::default(),
            op: Default::default(),
            shift_left: Default::default(),
            counter_i: Default::default(),
            issue: Default::default(),
            load_info: Default::default(),
            loading: Default::default(),
            shift_pending: Default::default(),
            wait_entry: Default::default(),
            wait_count: Default::default(),
            issue_index: Default::default(),
            count_next: Default::default(),
            count_op: Default::default(),
            count_index: Default::default(),
            feed_left: Default::default(),
            feeding: Default::default(),
            feed_last: Default::default(),
            feed_ptr: Default::default(),
            watchdog: Default::default(),
            pl_reset: Default::default(),
            tx_crc: Default::default(),
            esc_pending: Default::default(),
            esc_second: Default::default(),
            txh_valid: Default::default(),
            txh_data: Default::default(),
            ob_valid: Default::default(),
            ob_data: Default::default(),
            ob_raw: Default::default(),
            ob_crc: Default::default(),
            out_byte: Default::default(),
            out_req: Default::default(),
            out_raw: Default::default(),
            out_crc: Default::default(),
            out_accept: Default::default(),
            slip_move: Default::default(),
            pl_accept: Default::default(),
            wd_expired: Default::default(),
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
        dff_setup!(
            self, clock, rx_len, rx_esc, rx_bad, rx_accepting, req_cmd, req_seq, req_arg, rej_cmd, rej_seq, req_ready,
            req_len, req_crc_ok, req_framing, pending_busy, len_no_payload, len_read_entry, len_inject_one, len_write_entry, len_short, len_bad_inject, arg_over, arg_over_1, is_info, is_write, is_read, is_clear, is_counters, is_reset, is_inject, record, state, status, reply_cmd, reply_seq, st_ok, reply_shift, reply_counters, reply_inject, op,
            shift_left, counter_i, issue, load_info, loading, shift_pending, wait_entry, wait_count, issue_index, feed_left, feeding, feed_last, feed_ptr, watchdog, pl_reset, esc_pending, esc_second,
            txh_valid, txh_data, ob_valid, ob_data, ob_raw, ob_crc, dv, db, de, de_bad, exec_idle_r, in_buffer
        );
        clock!(self, clock, rx_crc, tx_crc);
        self.ram.clock.next = self.clock.val();

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
                self.out_req.next = self.po_valid.val();
                self.out_crc.next = true;
                self.out_byte.next = self.po_data.val();
            }
            ExecState::CrcHi => {
                self.out_req.next = true;
                self.out_byte.next = self.tx_crc.crc.val().get_bits::<8>(8);
            }
            ExecState::CrcLo => {
                self.out_req.next = true;
                self.out_byte.next = self.tx_crc.crc.val().get_bits::<8>(0);
            }
            ExecState::ReplyEnd => {
                self.out_req.next = true;
                self.out_raw.next = true;
            }
            _ => {}
        }

        // ---------------- Output register, SLIP escaper, UART holding register ----------------
        // Two registers between the executor and the UART: `ob` takes the executor's
        // byte (so the executor's accept and `po_ready` depend only on `ob_valid`), and
        // `txh` holds the escaped byte the UART transmitter reads. The reply CRC folds
        // bytes as they leave `ob`, so when CrcHi finds `ob` empty the CRC is complete.
        self.out_accept.next = self.out_req.val() & !self.ob_valid.q.val();
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
            self.ob_data.d.next = self.out_byte.val();
            self.ob_raw.d.next = self.out_raw.val();
            self.ob_crc.d.next = self.out_crc.val();
        }
        self.tx_crc.clear.next = self.state.q.val() == ExecState::ReplyStart;
        self.tx_crc.enable.next = self.slip_move.val() & self.ob_crc.q.val();
        self.tx_crc.data.next = self.ob_data.q.val();

        // ---------------- Executor: management port, pipeline stream, transitions ----------------
        // The management request comes straight from registers (`issue`, `op`,
        // `issue_index`), loaded on entering MgmtIssue/CountIssue: the port's accept
        // (`start && !busy`) then spans no decode logic of ours.
        self.mgmt_start.next = self.issue.q.val();
        self.mgmt_op.next = self.op.q.val();
        self.mgmt_index.next = self.issue_index.q.val();
        self.mgmt_wdata.next = self.record.q.val();
        self.pl_valid.next = false;
        self.pl_last.next = false;
        self.pl_data.next = self.ram.read_data.val();
        self.pl_direction.next = self.issue_index.q.val().get_bit(0);
        self.po_ready.next = false;
        self.pl_accept.next = false;
        self.ram.read_address.next = 0.into();
        self.pl_reset.d.next = false;
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
        self.len_no_payload.d.next = self.req_len.q.val() == self.c_len_no_payload.val();
        self.len_read_entry.d.next = self.req_len.q.val() == self.c_len_read_entry.val();
        self.len_inject_one.d.next = self.req_len.q.val() == self.c_len_inject_min.val();
        self.len_write_entry.d.next = self.req_len.q.val() == self.c_len_write_entry.val();
        self.len_short.d.next = self.req_len.q.val() < self.c_len_no_payload.val();
        self.len_bad_inject.d.next = (self.req_len.q.val() < self.c_len_inject_min.val()) | (self.req_len.q.val() > self.c_len_inject_max.val());
        self.arg_over.d.next = self.req_arg.q.val() > self.c_last_index.val();
        self.arg_over_1.d.next = self.req_arg.q.val() > 1;
        self.is_info.d.next = self.req_cmd.q.val() == self.c_cmd_info.val();
        self.is_write.d.next = self.req_cmd.q.val() == self.c_cmd_write.val();
        self.is_read.d.next = self.req_cmd.q.val() == self.c_cmd_read.val();
        self.is_clear.d.next = self.req_cmd.q.val() == self.c_cmd_clear.val();
        self.is_counters.d.next = self.req_cmd.q.val() == self.c_cmd_counters.val();
        self.is_reset.d.next = self.req_cmd.q.val() == self.c_cmd_reset.val();
        self.is_inject.d.next = self.req_cmd.q.val() == self.c_cmd_inject.val();

        // The record register, written in one place with every select a flip-flop
        // (or `mgmt_done`), since each select fans out to 168 bits: a shift (LoadRecord
        // every clock; Shift the clock after a byte leaves), a management reply, or
        // INFO's payload (the clock after Check). Shifting takes in RAM bytes in both
        // cases; in a reply they never reach the top byte within its 21 shifts.
        self.load_info.d.next = false;
        self.shift_pending.d.next = false;
        if self.loading.q.val() | self.shift_pending.q.val() {
            self.record.d.next = (self.record.q.val() << 8) | bit_cast::<RECORD_BITS, 8>(self.ram.read_data.val());
        }
        if self.wait_entry.q.val() & self.mgmt_done.val() {
            self.record.d.next = self.mgmt_rdata.val();
        }
        if self.wait_count.q.val() & self.mgmt_done.val() {
            self.record.d.next = self.mgmt_rdata.val() << self.c_counter_shift.val();
        }
        if self.load_info.q.val() {
            self.record.d.next = self.c_info.val();
        }

        match self.state.q.val() {
            ExecState::Idle => {
                if self.req_ready.q.val() {
                    self.req_ready.d.next = false;
                    self.request_pulse.next = true;
                    self.state.d.next = ExecState::Check;
                } else if self.pending_busy.q.val() {
                    self.pending_busy.d.next = false;
                    self.status.d.next = self.c_st_busy.val();
                    self.st_ok.d.next = false;
                    self.reply_cmd.d.next = self.rej_cmd.q.val();
                    self.reply_shift.d.next = false;
                    self.reply_counters.d.next = false;
                    self.reply_inject.d.next = false;
                    self.reply_seq.d.next = self.rej_seq.q.val();
                    self.state.d.next = ExecState::ReplyStart;
                }
            }
            ExecState::Check => {
                self.reply_cmd.d.next = self.req_cmd.q.val();
                self.reply_shift.d.next = self.is_info.q.val() | self.is_read.q.val();
                self.reply_counters.d.next = self.is_counters.q.val();
                self.reply_inject.d.next = self.is_inject.q.val();
                self.reply_seq.d.next = self.req_seq.q.val();
                self.issue_index.d.next = self.req_arg.q.val();
                self.feed_left.d.next = self.req_len.q.val() - 5;
                self.feeding.d.next = true;
                self.feed_last.d.next = self.len_inject_one.q.val();
                self.feed_ptr.d.next = 0.into();
                self.counter_i.d.next = 0.into();
                self.status.d.next = self.c_st_ok.val();
                self.st_ok.d.next = true;
                self.state.d.next = ExecState::ReplyStart;
                if self.req_framing.q.val() {
                    self.status.d.next = self.c_st_framing.val();
                    self.st_ok.d.next = false;
                } else if self.len_short.q.val() {
                    self.status.d.next = self.c_st_length.val();
                    self.st_ok.d.next = false;
                } else if !self.req_crc_ok.q.val() {
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
                self.ram.read_address.next = bit_cast::<11, 12>(self.feed_ptr.q.val() + 1);
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
                if !self.mgmt_busy.val() {
                    self.issue.d.next = false;
                    // Accepted. The port never completes in the accepting clock, so
                    // `record` loads only from MgmtWait (keeps `mgmt_busy` off its path).
                    self.wait_entry.d.next = true;
                    self.state.d.next = ExecState::MgmtWait;
                } else if self.wd_expired.val() {
                    self.issue.d.next = false;
                    self.status.d.next = self.c_st_timeout.val();
                    self.st_ok.d.next = false;
                    self.pl_reset.d.next = true;
                    self.state.d.next = ExecState::ReplyStart;
                }
            }
            ExecState::MgmtWait => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if self.mgmt_done.val() {
                    self.wait_entry.d.next = false;
                    self.shift_left.d.next = self.c_record_len.val();
                    self.state.d.next = ExecState::ReplyStart;
                } else if self.wd_expired.val() {
                    self.wait_entry.d.next = false;
                    self.status.d.next = self.c_st_timeout.val();
                    self.st_ok.d.next = false;
                    self.pl_reset.d.next = true;
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
                        } else if self.reply_counters.q.val() {
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
                        if self.reply_counters.q.val()
                            & (self.counter_i.q.val() != self.c_counter_total.val())
                        {
                            self.count_next.next = true;
                        }
                    }
                }
            }
            ExecState::CountIssue => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if !self.mgmt_busy.val() {
                    self.issue.d.next = false;
                    self.wait_count.d.next = true;
                    self.state.d.next = ExecState::CountWait;
                } else if self.wd_expired.val() {
                    self.issue.d.next = false;
                    self.pl_reset.d.next = true;
                    self.state.d.next = ExecState::CrcHi;
                }
            }
            ExecState::CountWait => {
                self.watchdog.d.next = self.watchdog.q.val() + 1;
                if self.mgmt_done.val() {
                    self.wait_count.d.next = false;
                    self.shift_left.d.next = 4.into();
                    self.counter_i.d.next = self.counter_i.q.val() + 1;
                    self.state.d.next = ExecState::Shift;
                } else if self.wd_expired.val() {
                    self.wait_count.d.next = false;
                    self.pl_reset.d.next = true;
                    self.state.d.next = ExecState::CrcHi;
                }
            }
            ExecState::Inject => {
                // Feeder: `read_data` always holds RAM[feed_ptr]; on a beat, fetch the next.
                // `feeding`/`feed_last` are registered so `pl_valid`/`pl_last` come
                // straight from flip-flops.
                self.pl_valid.next = self.feeding.q.val();
                self.pl_last.next = self.feed_last.q.val();
                self.pl_accept.next = self.feeding.q.val() & self.pl_ready.val();
                self.ram.read_address.next = bit_cast::<11, 12>(self.feed_ptr.q.val());
                if self.pl_accept.val() {
                    self.ram.read_address.next = bit_cast::<11, 12>(self.feed_ptr.q.val() + 1);
                    self.feed_ptr.d.next = self.feed_ptr.q.val() + 1;
                    self.feed_left.d.next = self.feed_left.q.val() - 1;
                    self.feeding.d.next = self.feed_left.q.val() != 1;
                    self.feed_last.d.next = self.feed_left.q.val() == 2;
                }
                // Output: straight to the escaper, back-pressured by the UART.
                self.po_ready.next = !self.ob_valid.q.val();
                if !(self.pl_accept.val() | self.out_accept.val()) {
                    self.watchdog.d.next = self.watchdog.q.val() + 1;
                }
                if self.out_accept.val() & self.po_last.val() {
                    self.inject_pulse.next = true;
                    self.state.d.next = ExecState::CrcHi;
                } else if self.wd_expired.val() {
                    self.pl_reset.d.next = true;
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
            self.issue.d.next = true;
            self.op.d.next = self.count_op.val();
            self.issue_index.d.next = self.count_index.val();
            self.state.d.next = ExecState::CountIssue;
        }

        // ---------------- Receive side: SLIP deframer, CRC, header, record, RAM ----------------
        // The receive side may store a new packet while the executor is idle, and also
        // while it sends a reply that needs neither the record register nor the RAM (an
        // error, or WRITE/CLEAR/RESET's empty OK): so a request right behind line
        // garbage is not turned away BUSY while the garbage gets its error reply.
        self.reply_uses_buffers.next = self.st_ok.q.val()
            & (self.reply_shift.q.val() | self.reply_counters.q.val() | self.reply_inject.q.val());
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
        self.exec_idle.next = self.exec_free.val() & !self.pending_busy.q.val() & !self.req_ready.q.val();
        // Registered (timing): one clock late is safe because bytes arrive at least 4
        // clocks apart and the only busy-making transition (Idle -> Check) follows
        // `req_ready`, which is set the clock after the END that precedes any new packet.
        self.exec_idle_r.d.next = self.exec_idle.val();
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
        if self.rx_len.q.val() == 0 {
            self.acc_now.next = self.exec_idle_r.q.val();
        }
        self.rx_crc.clear.next = self.rx_len.q.val() == 0;
        self.rx_crc.enable.next = self.dv.q.val();
        self.rx_crc.data.next = self.db.q.val();
        self.ram.write_enable.next = false;
        self.ram.write_data.next = self.db.q.val();
        self.ram.write_address.next = bit_cast::<11, 12>(self.rx_len.q.val() - self.c_bulk_at.val());
        if self.dv.q.val() {
            if self.rx_len.q.val() != 0xFFF {
                self.rx_len.d.next = self.rx_len.q.val() + 1;
            }
            // A position flag kept beside the length (equality tests instead of range
            // compares on the receive path): bytes BULK_AT..=BULK_LAST go to the buffer.
            if self.rx_len.q.val() == self.c_bulk_before.val() {
                self.in_buffer.d.next = true;
            }
            if self.rx_len.q.val() == self.c_bulk_last.val() {
                self.in_buffer.d.next = false;
            }
            if self.rx_len.q.val() == 0 {
                self.rx_accepting.d.next = self.exec_idle_r.q.val();
            }
            // Past the header (`in_buffer` implies `rx_len` >= 3) accepting is just
            // `rx_accepting`: kept off `acc_now`'s length compare for timing.
            if self.rx_accepting.q.val() & self.in_buffer.q.val() {
                self.ram.write_enable.next = true;
            }
            if self.acc_now.val() {
                if self.rx_len.q.val() == 0 {
                    self.req_cmd.d.next = self.db.q.val();
                    self.req_seq.d.next = 0.into();
                }
                if self.rx_len.q.val() == 1 {
                    self.req_seq.d.next = self.db.q.val();
                }
                if self.rx_len.q.val() == 2 {
                    self.req_arg.d.next = self.db.q.val();
                }
            } else {
                if self.rx_len.q.val() == 0 {
                    self.rej_cmd.d.next = self.db.q.val();
                    self.rej_seq.d.next = 0.into();
                }
                if self.rx_len.q.val() == 1 {
                    self.rej_seq.d.next = self.db.q.val();
                }
            }
        }
        if self.de.q.val() {
            self.rx_len.d.next = 0.into();
            self.in_buffer.d.next = false;
            if self.rx_len.q.val() != 0 {
                if self.rx_accepting.q.val() {
                    self.req_ready.d.next = true;
                    self.req_len.d.next = self.rx_len.q.val();
                    self.req_crc_ok.d.next = self.rx_crc.crc.val() == 0;
                    self.req_framing.d.next = self.de_bad.q.val();
                } else {
                    self.pending_busy.d.next = true;
                }
            }
        }

        if self.reset.val() {
            self.state.d.next = ExecState::Idle;
            self.issue.d.next = false;
            self.loading.d.next = false;
            self.wait_entry.d.next = false;
            self.wait_count.d.next = false;
            self.shift_pending.d.next = false;
            self.load_info.d.next = false;
            self.rx_len.d.next = 0.into();
            self.in_buffer.d.next = false;
            self.rx_esc.d.next = false;
            self.rx_bad.d.next = false;
            self.dv.d.next = false;
            self.de.d.next = false;
            self.req_ready.d.next = false;
            self.pending_busy.d.next = false;
            self.esc_pending.d.next = false;
            self.txh_valid.d.next = false;
            self.ob_valid.d.next = false;
            self.pl_reset.d.next = true;
        }
        self.pipeline_reset.next = self.pl_reset.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_host::protocol as proto;
    use portshare_host::protocol::{Deframed, Reply, Request, SlipDecoder};
    use crate::core::pipeline::{bits_to_record, record_to_bits};
    use portshare_host::{Direction, Slot, RECORD_LEN};
    use std::collections::VecDeque;

    const CAP: usize = 4;

    /// A behavioural stand-in for the pipeline's management port and stream, written
    /// in plain Rust (simulation only): a register file of `CAP` records, hit and
    /// reason counters, a few clocks of busy per op (more for writes), and a stream path
    /// through a 4-byte FIFO that stalls every third clock and inverts every byte of an
    /// outgoing frame (so a reply provably comes from the pipeline, not the buffer).
    #[derive(LogicBlock, Default)]
    struct PortStandIn {
        clock: Signal<In, Clock>,
        mgmt_op: Signal<In, Bits<3>>,
        mgmt_start: Signal<In, Bit>,
        mgmt_index: Signal<In, Bits<8>>,
        mgmt_wdata: Signal<In, Bits<RECORD_BITS>>,
        mgmt_busy: Signal<Out, Bit>,
        mgmt_done: Signal<Out, Bit>,
        mgmt_rdata: Signal<Out, Bits<RECORD_BITS>>,
        in_data: Signal<In, Bits<8>>,
        in_valid: Signal<In, Bit>,
        in_last: Signal<In, Bit>,
        in_direction: Signal<In, Bit>,
        in_ready: Signal<Out, Bit>,
        out_data: Signal<Out, Bits<8>>,
        out_valid: Signal<Out, Bit>,
        out_last: Signal<Out, Bit>,
        out_ready: Signal<In, Bit>,
        _regs: Vec<[u8; RECORD_LEN]>,
        _hits: Vec<u32>,
        _reasons: [u32; 5],
        _busy_left: u32,
        _op: (u64, usize, [u8; RECORD_LEN]),
        _ops_accepted: usize,
        _fifo: VecDeque<(u8, bool)>,
        _beats_in: usize,
        _frames_out: usize,
        _tick: u64,
        /// Fault injection: accepted ops never complete / the output never flows.
        _stuck_mgmt: bool,
        _stuck_output: bool,
        _resets_seen: usize,
        reset: Signal<In, Bit>,
    }

    impl Logic for PortStandIn {
        fn update(&mut self) {
            if !self.clock.pos_edge() {
                return;
            }
            self._tick += 1;
            if self._regs.is_empty() {
                self._regs = vec![[0; RECORD_LEN]; CAP];
                self._hits = vec![0; CAP];
            }
            let mut done = false;
            if self.reset.val() {
                self._resets_seen += 1;
                self._fifo.clear();
            }
            if self._busy_left > 0 && !self._stuck_mgmt {
                self._busy_left -= 1;
                if self._busy_left == 0 {
                    done = true;
                    let (op, i, w) = self._op;
                    let mut rdata = [0u8; RECORD_LEN];
                    let word = |v: u32| {
                        let mut r = [0u8; RECORD_LEN];
                        r[17..].copy_from_slice(&v.to_be_bytes());
                        r
                    };
                    match op {
                        MGMT_WRITE_ENTRY => self._regs[i] = w,
                        MGMT_READ_ENTRY => rdata = self._regs[i],
                        MGMT_CLEAR_TABLE => self._regs.iter_mut().for_each(|r| *r = [0; RECORD_LEN]),
                        MGMT_READ_HITS => rdata = word(self._hits[i]),
                        MGMT_READ_REASON => rdata = word(self._reasons[i]),
                        MGMT_RESET_COUNTERS => {
                            self._hits.iter_mut().for_each(|h| *h = 0);
                            self._reasons = [0; 5];
                        }
                        _ => panic!("unknown management op {op}"),
                    }
                    self.mgmt_rdata.next = record_to_bits(&rdata);
                }
            } else if self.mgmt_start.val() {
                let op = self.mgmt_op.val().index() as u64;
                let i = self.mgmt_index.val().index();
                self._op = (op, i, bits_to_record(self.mgmt_wdata.val()));
                self._ops_accepted += 1;
                self._busy_left = if op == MGMT_WRITE_ENTRY { 40 } else { 3 + (i as u32 % 3) };
            }
            self.mgmt_busy.next = self._busy_left > 0;
            self.mgmt_done.next = done;

            // Stream: beats move on the pre-edge values.
            if self.out_valid.val() && self.out_ready.val() {
                let (_, last) = self._fifo.pop_front().unwrap();
                if last {
                    self._frames_out += 1;
                    self._reasons[1] += 1; // counted as "no match"
                    self._hits[self._frames_out % CAP] += 1;
                }
            }
            if self.in_valid.val() && self.in_ready.val() {
                let b = self.in_data.val().index() as u8;
                let b = if self.in_direction.val() { !b } else { b };
                self._fifo.push_back((b, self.in_last.val()));
                self._beats_in += 1;
            }
            self.in_ready.next = self._fifo.len() < 3 && self._tick % 3 != 0;
            let head = self._fifo.front().copied().filter(|_| !self._stuck_output);
            self.out_valid.next = head.is_some();
            self.out_data.next = (head.map_or(0, |h| h.0) as u64).into();
            self.out_last.next = head.map_or(false, |h| h.1);
        }
    }

    #[derive(LogicBlock)]
    struct Bench {
        clock: Signal<In, Clock>,
        ctl: Control<CAP>,
        port: PortStandIn,
    }

    impl Logic for Bench {
        fn update(&mut self) {
            self.ctl.clock.next = self.clock.val();
            self.port.clock.next = self.clock.val();
            self.port.reset.next = self.ctl.pipeline_reset.val();
            self.port.mgmt_op.next = self.ctl.mgmt_op.val();
            self.port.mgmt_start.next = self.ctl.mgmt_start.val();
            self.port.mgmt_index.next = self.ctl.mgmt_index.val();
            self.port.mgmt_wdata.next = self.ctl.mgmt_wdata.val();
            self.ctl.mgmt_busy.next = self.port.mgmt_busy.val();
            self.ctl.mgmt_done.next = self.port.mgmt_done.val();
            self.ctl.mgmt_rdata.next = self.port.mgmt_rdata.val();
            self.port.in_data.next = self.ctl.pl_data.val();
            self.port.in_valid.next = self.ctl.pl_valid.val();
            self.port.in_last.next = self.ctl.pl_last.val();
            self.port.in_direction.next = self.ctl.pl_direction.val();
            self.ctl.pl_ready.next = self.port.in_ready.val();
            self.ctl.po_data.next = self.port.out_data.val();
            self.ctl.po_valid.next = self.port.out_valid.val();
            self.ctl.po_last.next = self.port.out_last.val();
            self.port.out_ready.next = self.ctl.po_ready.val();
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
            assert!(simulate(&mut self.b, 200));
            let sent = self.b.ctl.tx_valid.val() && self.b.ctl.tx_ready.val();
            let byte = self.b.ctl.tx_data.val().index() as u8;
            self.b.clock.next = true.into();
            assert!(simulate(&mut self.b, 200));
            self.b.clock.next = false.into();
            assert!(simulate(&mut self.b, 200));
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
        let c = proto::BoardCounters::from_payload(&r.payload).unwrap();
        assert_eq!(
            c,
            proto::BoardCounters { rewritten: 1, no_match: 2, fragment: 3, unparsed: 4, udp_zero_checksum: 0xC0C0_C0C0, hits: vec![7, 0xC0DB_0001, 0, 0xFFFF_FFFF] }
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
