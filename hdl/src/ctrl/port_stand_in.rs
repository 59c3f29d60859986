//! A behavioural stand-in for the pipeline's management port and stream (simulation
//! only), shared by the executor's and the control block's test benches.

use crate::core::pipeline::{
    bits_to_record, record_to_bits, MGMT_CLEAR_TABLE, MGMT_READ_ENTRY, MGMT_READ_HITS, MGMT_READ_REASON,
    MGMT_RESET_COUNTERS, MGMT_WRITE_ENTRY,
};
use portshare_spec::ports::WORDS as PORT_WORDS;
use portshare_spec::record::RECORD_LEN;
use crate::ctrl::links::{InjectTarget, MgmtTarget, PortReadTarget, RewrittenSource};
use rust_hdl::prelude::*;
use std::collections::VecDeque;

/// Entries the stand-in holds (the benches' table size).
pub(crate) const CAP: usize = 4;

/// Wires a block with the control block's pipeline-side ports (`mgmt`, `inject`, `rewritten`,
/// `pipeline_reset`, `has_ports`, `port`) to the stand-in, both clocked by `clock`: one bench wiring for the
/// executor's bench and the control block's.
macro_rules! wire_to_stand_in {
    ($clock:expr, $uut:expr, $port:expr) => {
        $uut.clock.next = $clock;
        $port.clock.next = $clock;
        $port.reset.next = $uut.pipeline_reset.val();
        $crate::ctrl::links::Mgmt::join(&mut $uut.mgmt, &mut $port.mgmt);
        $crate::ctrl::links::Inject::join(&mut $uut.inject, &mut $port.inject);
        $crate::ctrl::links::Rewritten::join(&mut $uut.rewritten, &mut $port.rewritten);
        $uut.has_ports.next = $port.has_ports.val();
        $crate::ctrl::links::PortRead::join(&mut $uut.port, &mut $port.port);
    };
}
pub(crate) use wire_to_stand_in;

/// A behavioural stand-in for the pipeline's management port and stream, written
/// in plain Rust (simulation only): a register file of `CAP` records, hit and
/// reason counters, a few clocks of busy per op (more for writes), and a stream path
/// through a 4-byte FIFO that stalls every third clock and inverts every byte of an
/// outgoing frame (so a reply provably comes from the pipeline, not the buffer); and
/// the board's Ethernet port words (`_ports`, none by default), each answered 1 to 4
/// clocks after it is asked for (`port.read`/`port.done`), like the board's ports.
#[derive(LogicBlock, Default)]
pub(crate) struct PortStandIn {
    pub(crate) clock: Signal<In, Clock>,
    pub(crate) mgmt: MgmtTarget,
    pub(crate) inject: InjectTarget,
    pub(crate) rewritten: RewrittenSource,
    pub(crate) has_ports: Signal<Out, Bit>,
    pub(crate) port: PortReadTarget,
    /// The read being answered: clocks left and its word.
    pub(crate) _port_due: Option<(u64, u32)>,
    /// Per port, its READ_PORT words.
    pub(crate) _ports: Vec<[u32; PORT_WORDS]>,
    pub(crate) _regs: Vec<[u8; RECORD_LEN]>,
    pub(crate) _hits: Vec<u32>,
    pub(crate) _reasons: [u32; 5],
    pub(crate) _busy_left: u32,
    pub(crate) _op: (u64, usize, [u8; RECORD_LEN]),
    pub(crate) _ops_accepted: usize,
    pub(crate) _fifo: VecDeque<(u8, bool)>,
    pub(crate) _beats_in: usize,
    pub(crate) _frames_out: usize,
    pub(crate) _tick: u64,
    /// Fault injection: accepted ops never complete / the output never flows.
    pub(crate) _stuck_mgmt: bool,
    pub(crate) _stuck_output: bool,
    pub(crate) _resets_seen: usize,
    pub(crate) reset: Signal<In, Bit>,
}

impl Logic for PortStandIn {
    fn update(&mut self) {
        self.has_ports.next = !self._ports.is_empty();
        if !self.clock.pos_edge() {
            return;
        }
        // A read is answered 1 to 4 clocks later (as the ports' RAM and sweep may),
        // its word held in `port.value` until the next answer.
        self.port.done.next = false;
        if let Some((left, v)) = self._port_due {
            if left == 0 {
                self.port.value.next = (v as u64).into();
                self.port.done.next = true;
                self._port_due = None;
            } else {
                self._port_due = Some((left - 1, v));
            }
        }
        if self.port.read.val() {
            let (port, word) = (self.port.select.val() as usize, self.port.word.val().index());
            let v = self._ports.get(port).and_then(|w| w.get(word)).copied().unwrap_or(0);
            self._port_due = Some(((self._tick * 7 + word as u64) % 4, v));
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
                self.mgmt.rdata.next = record_to_bits(&rdata);
            }
        } else if self.mgmt.start.val() {
            let op = self.mgmt.op.val().index() as u64;
            let i = self.mgmt.index.val().index();
            self._op = (op, i, bits_to_record(self.mgmt.wdata.val()));
            self._ops_accepted += 1;
            self._busy_left = if op == MGMT_WRITE_ENTRY { 40 } else { 3 + (i as u32 % 3) };
        }
        self.mgmt.busy.next = self._busy_left > 0;
        self.mgmt.done.next = done;

        // Stream: beats move on the pre-edge values.
        if self.rewritten.valid.val() && self.rewritten.ready.val() {
            let (_, last) = self._fifo.pop_front().unwrap();
            if last {
                self._frames_out += 1;
                self._reasons[1] += 1; // counted as "no match"
                self._hits[self._frames_out % CAP] += 1;
            }
        }
        if self.inject.valid.val() && self.inject.ready.val() {
            let b = self.inject.data.val().index() as u8;
            let b = if self.inject.direction.val() { !b } else { b };
            self._fifo.push_back((b, self.inject.last.val()));
            self._beats_in += 1;
        }
        self.inject.ready.next = self._fifo.len() < 3 && self._tick % 3 != 0;
        let head = self._fifo.front().copied().filter(|_| !self._stuck_output);
        self.rewritten.valid.next = head.is_some();
        self.rewritten.data.next = (head.map_or(0, |h| h.0) as u64).into();
        self.rewritten.last.next = head.map_or(false, |h| h.1);
    }
}

