//! The port-sharing table: a transposed block-RAM CAM.
//!
//! Each key byte arrives with its key position (see `parser.rs`). Two RAMs of 512
//! words × N match bits, one addressed by (position, high nibble) and one by (position,
//! low nibble), say which entries have that nibble there; ANDing the words of every key
//! byte into an accumulator leaves the entries whose whole key matched. Matching costs
//! nothing per entry in logic, so N is bounded by block RAM, not LCs.
//!
//! Words 0..320 hold positions 0..20 (the record's bytes: address, shared port,
//! assigned port). A frame's final key byte — its port's low byte — comes at a position
//! that also names the frame's kind, 20 + 2·IPv4 + TCP (incoming, shared port) or 24 +
//! 2·IPv4 + TCP (outgoing, assigned port), words 320..448: there an entry's bit is set
//! only if the byte matches *and* the entry is of that family and carries that
//! protocol. So family and protocol cost no per-entry registers and no masking of the
//! match; positions 17 and 19 are kept only for reading entries back.
//!
//! The winner (lowest index) is found by scanning the match vector 8 bits per clock —
//! a short mux per clock instead of a 64-deep priority chain, so it runs at board speed
//! — and its ports are read from a result RAM.
//!
//! Management writes replace an entry whole: the entry's valid bit drops first (and
//! drops out of every match in flight, since the accumulator is ANDed with the valid
//! bits every clock), the 448 key words are rewritten read-modify-write in pairs of
//! clocks when no key byte reads the RAM, and only then does the valid bit return. A
//! frame therefore sees the old entry, the new one, or none — never half of one.
//!
//! No read whose data is used ever shares a clock with a write to its address, so the
//! RAMs are `BlockRam`s (collisions don't care): key words are written only when no key
//! byte reads, and the result word is written only while its entry cannot be found.

use crate::core::pipeline::{MGMT_INDEX_BITS, MGMT_OP_BITS};
use crate::prim::ram::BlockRam;

/// The key RAMs' address: (key position, nibble), 512 words of N match bits each.
pub const KEY_ADDR_BITS: usize = 9;
/// The result RAM: one word per entry (up to 256) of flags 35..32 and ports 31..0.
pub const RESULT_BITS: usize = 36;
pub const RESULT_ADDR_BITS: usize = 8;
use rust_hdl::prelude::*;

/// `1 << index` over N bits (zero when index ≥ N).
#[derive(LogicBlock)]
pub struct OneHot<const N: usize> {
    pub index: Signal<In, Bits<8>>,
    pub onehot: Signal<Out, Bits<N>>,
    c_one: Constant<Bits<N>>,
    c_count: Constant<Bits<9>>,
}

impl<const N: usize> Default for OneHot<N> {
    fn default() -> Self {
        Self {
            index: Default::default(),
            onehot: Default::default(),
            c_one: Constant::new(1.into()),
            c_count: Constant::new((N as u64).into()),
        }
    }
}

impl<const N: usize> Logic for OneHot<N> {
    #[hdl_gen]
    fn update(&mut self) {
        self.onehot.next = 0.into();
        if bit_cast::<9, 8>(self.index.val()) < self.c_count.val() {
            self.onehot.next = self.c_one.val() << self.index.val();
        }
    }
}

/// Whether `group` is the match vector's last 8-entry group (N/8 − 1). (A block
/// whose output depends on an input: an `always @(*)` over a constant alone never runs
/// in Icarus.)
#[derive(LogicBlock)]
pub struct LastGroup<const N: usize> {
    pub group: Signal<In, Bits<8>>,
    pub is_last: Signal<Out, Bit>,
    c_last: Constant<Bits<8>>,
}

impl<const N: usize> Default for LastGroup<N> {
    fn default() -> Self {
        assert!(N % 8 == 0 && (8..=256).contains(&N), "the CAM holds 8..=256 entries in groups of 8");
        Self { group: Default::default(), is_last: Default::default(), c_last: Constant::new(((N / 8 - 1) as u64).into()) }
    }
}

impl<const N: usize> Logic for LastGroup<N> {
    #[hdl_gen]
    fn update(&mut self) {
        self.is_last.next = self.group.val() == self.c_last.val();
    }
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum ScanState {
    Idle,
    Scan,
    /// Read the winner's ports (index registered first: no priority logic before the RAM).
    Fetch,
    Deliver,
    /// No entry matched.
    Miss,
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum TableOp {
    Idle,
    /// The index was registered at the start; decode it to one-hot here.
    WriteDecode,
    WriteClear,
    WriteRead,
    WriteWrite,
    WriteFinish,
    ReadDecode,
    ReadRead,
    ReadCapture,
    ReadAccum,
    ReadResult,
    ReadResultCapture,
    Clear,
    Done,
}

#[derive(LogicBlock, Default)]
pub struct Cam<const N: usize> {
    pub clock: Signal<In, Clock>,
    // Lookup: key bytes from the parser.
    pub key_valid: Signal<In, Bit>,
    pub key_pos: Signal<In, Bits<5>>,
    pub key_byte: Signal<In, Bits<8>>,
    pub key_first: Signal<In, Bit>,
    pub key_last: Signal<In, Bit>,
    /// 0 incoming (result is the assigned port), 1 outgoing (the shared port).
    pub key_dir: Signal<In, Bit>,
    /// One-clock pulse per lookup, a few clocks after `key_last`.
    pub result_valid: Signal<Out, Bit>,
    pub result_hit: Signal<Out, Bit>,
    pub result_index: Signal<Out, Bits<8>>,
    pub result_port: Signal<Out, Bits<16>>,
    // Management (MGMT_WRITE_ENTRY, MGMT_READ_ENTRY, MGMT_CLEAR_TABLE).
    pub mgmt_op: Signal<In, Bits<MGMT_OP_BITS>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<MGMT_INDEX_BITS>>,
    pub mgmt_wdata: Signal<In, Bits<168>>,
    pub mgmt_busy: Signal<Out, Bit>,
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_rdata: Signal<Out, Bits<168>>,

    r_key_valid: DFF<Bit>,
    r_key_first: DFF<Bit>,
    r_key_last: DFF<Bit>,
    r_key_dir: DFF<Bit>,
    r_addr_hi: DFF<Bits<9>>,
    r_addr_lo: DFF<Bits<9>>,
    key_hi: BlockRam<N, KEY_ADDR_BITS>,
    key_lo: BlockRam<N, KEY_ADDR_BITS>,
    /// Per entry: the record's flags (bits 35..32: IPv4, UDP, TCP, valid-as-written),
    /// shared port (31..16), assigned port (15..0). Read-back takes the protocol and
    /// family flags from here; `valid` must come from its register (CLEAR).
    result: BlockRam<RESULT_BITS, RESULT_ADDR_BITS>,
    valid: DFF<Bits<N>>,

    acc: DFF<Bits<N>>,
    acc_now: Signal<Local, Bits<N>>,
    pending: DFF<Bit>,
    finishing: DFF<Bit>,
    lk_dir: DFF<Bit>,
    scan: DFF<Bits<N>>,
    scan_state: DFF<ScanState>,
    group: DFF<Bits<8>>,
    last_group: LastGroup<N>,
    found_index: DFF<Bits<8>>,
    low8: Signal<Local, Bits<8>>,
    pe8: Signal<Local, Bits<8>>,
    found_now: Signal<Local, Bit>,

    op: DFF<TableOp>,
    /// In Done (set as the op moves there).
    done: DFF<Bit>,
    busy: DFF<Bit>,
    entry: DFF<Bits<8>>,
    entry_bit: OneHot<N>,
    /// `1 << entry`, registered at the op's start.
    onehot: DFF<Bits<N>>,
    /// The entry's key bytes (address, shared port, assigned port), shifted out 8 bits
    /// per key position while writing and shifted in while reading back.
    key_sr: DFF<Bits<160>>,
    /// Record flags (valid, tcp, udp, ipv4) and ports (shared, assigned).
    flags: DFF<Bits<4>>,
    ports: DFF<Bits<32>>,
    word: DFF<Bits<9>>,
    /// Whether the entry's bit is set in `word` of the high / low nibble RAM (computed
    /// while the word is read, used as it is written).
    set_hi: DFF<Bit>,
    set_lo: DFF<Bit>,
    /// The byte and kind test behind `word`: positions below 20 test `key_sr`'s top
    /// byte; the kind positions test a port's low byte and the entry's flags.
    w_byte: Signal<Local, Bits<8>>,
    w_kind: Signal<Local, Bit>,
    nib_hi: DFF<Bits<4>>,
    nib_lo: DFF<Bits<4>>,
    /// Read-back: the RAM word masked to the entry, registered (the AND's LUTs carry
    /// these flip-flops for free) so the OR-reduction starts from flip-flops, not from
    /// the block RAM's slow read port.
    masked_hi: DFF<Bits<N>>,
    masked_lo: DFF<Bits<N>>,
    nib_hi_now: Signal<Local, Bits<4>>,
    nib_lo_now: Signal<Local, Bits<4>>,
    f_valid: Signal<Local, Bits<4>>,
    f_stored: Signal<Local, Bits<4>>,
}

impl<const N: usize> Logic for Cam<N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, r_key_valid, r_key_first, r_key_last, r_key_dir, r_addr_hi, r_addr_lo, valid,
            acc, pending, finishing, lk_dir, scan, scan_state, group, found_index, op, entry, onehot,
            key_sr, flags, ports, word, set_hi, set_lo, nib_hi, nib_lo, masked_hi, masked_lo, done, busy
        );
        clock!(self, clock, key_hi, key_lo, result);
        self.entry_bit.index.next = self.entry.q.val();
        self.last_group.group.next = self.group.q.val();

        // ---- Lookup: accumulate the match of every key byte. ----
        // Key bytes are registered on the way in: the parser's decode and the RAM
        // address never share a clock.
        self.r_key_valid.d.next = self.key_valid.val();
        self.r_key_first.d.next = self.key_first.val();
        self.r_key_last.d.next = self.key_last.val();
        self.r_key_dir.d.next = self.key_dir.val();
        self.r_addr_hi.d.next = (bit_cast::<9, 5>(self.key_pos.val()) << 4)
            | bit_cast::<9, 4>(self.key_byte.val().get_bits::<4>(4));
        self.r_addr_lo.d.next = (bit_cast::<9, 5>(self.key_pos.val()) << 4)
            | bit_cast::<9, 4>(self.key_byte.val().get_bits::<4>(0));
        self.key_hi.read_address.next = self.r_addr_hi.q.val();
        self.key_lo.read_address.next = self.r_addr_lo.q.val();
        self.acc_now.next = self.acc.q.val() & self.valid.q.val();
        if self.pending.q.val() {
            self.acc_now.next = self.acc.q.val()
                & self.valid.q.val()
                & self.key_hi.read_data.val()
                & self.key_lo.read_data.val();
        }
        self.acc.d.next = self.acc_now.val();
        if self.r_key_valid.q.val() & self.r_key_first.q.val() {
            self.acc.d.next = self.valid.q.val();
        }
        self.pending.d.next = self.r_key_valid.q.val();
        self.finishing.d.next = self.r_key_valid.q.val() & self.r_key_last.q.val();
        if self.r_key_valid.q.val() & self.r_key_last.q.val() {
            self.lk_dir.d.next = self.r_key_dir.q.val();
        }

        // ---- Lookup: lowest matching index, 8 entries per clock. ----
        self.result_valid.next = false;
        self.result_hit.next = false;
        self.result_index.next = self.found_index.q.val();
        self.result_port.next = self.result.read_data.val().get_bits::<16>(0);
        if self.lk_dir.q.val() {
            self.result_port.next = self.result.read_data.val().get_bits::<16>(16);
        }
        self.low8.next = self.scan.q.val().get_bits::<8>(0);
        self.pe8.next = 0.into();
        if self.low8.val().get_bit(7) {
            self.pe8.next = 7.into();
        }
        if self.low8.val().get_bit(6) {
            self.pe8.next = 6.into();
        }
        if self.low8.val().get_bit(5) {
            self.pe8.next = 5.into();
        }
        if self.low8.val().get_bit(4) {
            self.pe8.next = 4.into();
        }
        if self.low8.val().get_bit(3) {
            self.pe8.next = 3.into();
        }
        if self.low8.val().get_bit(2) {
            self.pe8.next = 2.into();
        }
        if self.low8.val().get_bit(1) {
            self.pe8.next = 1.into();
        }
        if self.low8.val().get_bit(0) {
            self.pe8.next = 0.into();
        }
        self.found_now.next = self.scan_state.q.val() == ScanState::Fetch;
        self.result.read_address.next = self.entry.q.val();
        if self.found_now.val() {
            self.result.read_address.next = self.found_index.q.val();
        }
        match self.scan_state.q.val() {
            ScanState::Idle => {}
            ScanState::Scan => {
                // Shift on every Scan clock (what is left once found or missed is never
                // read): the 64 flip-flops' enable stays off the match logic.
                self.scan.d.next = self.scan.q.val() >> 8;
                self.group.d.next = self.group.q.val() + 1;
                if self.low8.val().any() {
                    self.found_index.d.next = (self.group.q.val() << 3) | self.pe8.val();
                    self.scan_state.d.next = ScanState::Fetch;
                } else if self.last_group.is_last.val() {
                    self.scan_state.d.next = ScanState::Miss;
                }
            }
            ScanState::Miss => {
                self.result_valid.next = true;
                self.scan_state.d.next = ScanState::Idle;
            }
            ScanState::Fetch => {
                self.scan_state.d.next = ScanState::Deliver;
            }
            ScanState::Deliver => {
                self.result_valid.next = true;
                self.result_hit.next = true;
                self.scan_state.d.next = ScanState::Idle;
            }
            _ => {}
        }
        if self.finishing.q.val() {
            self.scan.d.next = self.acc_now.val();
            self.group.d.next = 0.into();
            self.scan_state.d.next = ScanState::Scan;
        }

        // ---- Management: whole-entry writes, read-back, clear. ----
        // `busy` mirrors `op != Idle` in a flip-flop (the port's accept reads it).
        self.mgmt_busy.next = self.busy.q.val();
        // `done` is set with the move to Done: `mgmt_done` comes from a flip-flop.
        self.mgmt_done.next = self.done.q.val();
        self.done.d.next = false;
        self.mgmt_rdata.next = (bit_cast::<168, 4>(self.flags.q.val()) << 160)
            | (bit_cast::<168, 128>(self.key_sr.q.val().get_bits::<128>(0)) << 32)
            | bit_cast::<168, 32>(self.ports.q.val());
        self.key_hi.write_enable.next = false;
        self.key_lo.write_enable.next = false;
        self.key_hi.write_address.next = self.word.q.val();
        self.key_lo.write_address.next = self.word.q.val();
        // Kind words (320..448, see the module doc): word bit 7 picks the port (0 the
        // shared port, incoming; 1 the assigned port, outgoing), bit 5 the family, bit 4
        // the protocol (flags: 3 IPv4, 2 UDP, 1 TCP).
        self.w_byte.next = self.key_sr.q.val().get_bits::<8>(152);
        self.w_kind.next = true;
        if self.word.q.val().get_bit(8) & (self.word.q.val().get_bit(7) | self.word.q.val().get_bit(6)) {
            self.w_byte.next = self.ports.q.val().get_bits::<8>(16);
            if self.word.q.val().get_bit(7) {
                self.w_byte.next = self.ports.q.val().get_bits::<8>(0);
            }
            self.w_kind.next = (self.flags.q.val().get_bit(3) == self.word.q.val().get_bit(5))
                & ((self.word.q.val().get_bit(4) & self.flags.q.val().get_bit(1))
                    | (!self.word.q.val().get_bit(4) & self.flags.q.val().get_bit(2)));
        }
        self.set_hi.d.next = (self.w_byte.val().get_bits::<4>(4) == self.word.q.val().get_bits::<4>(0)) & self.w_kind.val();
        self.set_lo.d.next = (self.w_byte.val().get_bits::<4>(0) == self.word.q.val().get_bits::<4>(0)) & self.w_kind.val();
        self.key_hi.write_data.next = self.key_hi.read_data.val() & !self.onehot.q.val();
        self.key_lo.write_data.next = self.key_lo.read_data.val() & !self.onehot.q.val();
        if self.set_hi.q.val() {
            self.key_hi.write_data.next = self.key_hi.read_data.val() | self.onehot.q.val();
        }
        if self.set_lo.q.val() {
            self.key_lo.write_data.next = self.key_lo.read_data.val() | self.onehot.q.val();
        }
        self.result.write_enable.next = false;
        self.result.write_address.next = self.entry.q.val();
        self.result.write_data.next = (bit_cast::<36, 4>(self.flags.q.val()) << 32) | bit_cast::<36, 32>(self.ports.q.val());
        self.nib_hi_now.next = self.nib_hi.q.val();
        if self.masked_hi.q.val().any() {
            self.nib_hi_now.next = self.word.q.val().get_bits::<4>(0);
        }
        self.nib_lo_now.next = self.nib_lo.q.val();
        if self.masked_lo.q.val().any() {
            self.nib_lo_now.next = self.word.q.val().get_bits::<4>(0);
        }
        self.f_valid.next = 0.into();
        if (self.valid.q.val() & self.onehot.q.val()).any() {
            self.f_valid.next = 1.into();
        }
        self.f_stored.next = self.result.read_data.val().get_bits::<4>(32) & 0xE;
        match self.op.q.val() {
            TableOp::Idle => {
                // Operands load every idle clock; only the state depends on the start
                // (keeps the port's accept off these 200 flip-flops' enables).
                self.entry.d.next = self.mgmt_index.val();
                self.key_sr.d.next = self.mgmt_wdata.val().get_bits::<160>(0);
                self.flags.d.next = self.mgmt_wdata.val().get_bits::<4>(160);
                self.ports.d.next = self.mgmt_wdata.val().get_bits::<32>(0);
                self.word.d.next = 0.into();
                self.nib_hi.d.next = 0.into();
                self.nib_lo.d.next = 0.into();
                if self.mgmt_start.val() {
                    if self.mgmt_op.val() == 1 {
                        self.op.d.next = TableOp::WriteDecode;
                        self.busy.d.next = true;
                    }
                    if self.mgmt_op.val() == 2 {
                        self.op.d.next = TableOp::ReadDecode;
                        self.busy.d.next = true;
                    }
                    if self.mgmt_op.val() == 3 {
                        self.op.d.next = TableOp::Clear;
                        self.busy.d.next = true;
                    }
                }
            }
            TableOp::Clear => {
                self.valid.d.next = 0.into();
                self.op.d.next = TableOp::Done;
                self.done.d.next = true;
            }
            TableOp::WriteDecode => {
                self.onehot.d.next = self.entry_bit.onehot.val();
                self.op.d.next = TableOp::WriteClear;
            }
            TableOp::ReadDecode => {
                self.onehot.d.next = self.entry_bit.onehot.val();
                self.op.d.next = TableOp::ReadRead;
            }
            TableOp::WriteClear => {
                self.valid.d.next = self.valid.q.val() & !self.onehot.q.val();
                self.op.d.next = TableOp::WriteRead;
            }
            TableOp::WriteRead => {
                if !self.r_key_valid.q.val() {
                    self.key_hi.read_address.next = self.word.q.val();
                    self.key_lo.read_address.next = self.word.q.val();
                    self.op.d.next = TableOp::WriteWrite;
                }
            }
            TableOp::WriteWrite => {
                // A key byte reading the RAM now could read the word being written (a
                // don't-care collision): leave the word for the next free clock.
                self.op.d.next = TableOp::WriteRead;
                if !self.r_key_valid.q.val() {
                    self.key_hi.write_enable.next = true;
                    self.key_lo.write_enable.next = true;
                    self.word.d.next = self.word.q.val() + 1;
                    if self.word.q.val().get_bits::<4>(0) == 15 {
                        self.key_sr.d.next = self.key_sr.q.val() << 8;
                    }
                    if self.word.q.val() == 447 {
                        self.op.d.next = TableOp::WriteFinish;
                    }
                }
            }
            TableOp::WriteFinish => {
                self.result.write_enable.next = true;
                if self.flags.q.val().get_bit(0) {
                    self.valid.d.next = self.valid.q.val() | self.onehot.q.val();
                }
                self.op.d.next = TableOp::Done;
                self.done.d.next = true;
            }
            TableOp::ReadRead => {
                if !self.r_key_valid.q.val() {
                    self.key_hi.read_address.next = self.word.q.val();
                    self.key_lo.read_address.next = self.word.q.val();
                    self.op.d.next = TableOp::ReadCapture;
                }
            }
            TableOp::ReadCapture => {
                self.masked_hi.d.next = self.key_hi.read_data.val() & self.onehot.q.val();
                self.masked_lo.d.next = self.key_lo.read_data.val() & self.onehot.q.val();
                self.op.d.next = TableOp::ReadAccum;
            }
            TableOp::ReadAccum => {
                self.nib_hi.d.next = self.nib_hi_now.val();
                self.nib_lo.d.next = self.nib_lo_now.val();
                self.word.d.next = self.word.q.val() + 1;
                self.op.d.next = TableOp::ReadRead;
                if self.word.q.val().get_bits::<4>(0) == 15 {
                    self.key_sr.d.next = (self.key_sr.q.val() << 8)
                        | (bit_cast::<160, 4>(self.nib_hi_now.val()) << 4)
                        | bit_cast::<160, 4>(self.nib_lo_now.val());
                    self.nib_hi.d.next = 0.into();
                    self.nib_lo.d.next = 0.into();
                    if self.word.q.val() == 255 {
                        self.op.d.next = TableOp::ReadResult;
                    }
                }
            }
            TableOp::ReadResult => {
                if !self.found_now.val() {
                    self.op.d.next = TableOp::ReadResultCapture;
                }
            }
            TableOp::ReadResultCapture => {
                self.flags.d.next = self.f_valid.val() | self.f_stored.val();
                self.ports.d.next = self.result.read_data.val().get_bits::<32>(0);
                self.op.d.next = TableOp::Done;
                self.done.d.next = true;
            }
            TableOp::Done => {
                self.op.d.next = TableOp::Idle;
                self.busy.d.next = false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_tools::clocking::*;
    use crate::core::pipeline::{record_to_bits, MGMT_READ_ENTRY, MGMT_WRITE_ENTRY, RECORD_BYTES};
    // Entries are the host's `Slot`s, written as its records.
    use portshare_host::Slot as Entry;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A lookup: the frame's family, protocol, direction and (address, port) key.
    #[derive(Clone, Copy)]
    struct Key {
        ipv4: bool,
        tcp: bool,
        outgoing: bool,
        addr: [u8; 16],
        port: u16,
    }

    impl Key {
        /// (position, byte) in the parser's order; the last position names the kind.
        fn bytes(&self) -> Vec<(u8, u8)> {
            let first = if self.ipv4 { 12 } else { 0 };
            let (port_pos, kind_pos) = if self.outgoing { (18, 24) } else { (16, 20) };
            let mut v: Vec<(u8, u8)> = (first..16).map(|p| (p as u8, self.addr[p])).collect();
            v.push((port_pos, (self.port >> 8) as u8));
            v.push((kind_pos + 2 * self.ipv4 as u8 + self.tcp as u8, self.port as u8));
            v
        }

        /// The reference: lowest valid entry of the same family and protocol whose
        /// address and port equal the key; its other port.
        fn expect(&self, table: &[Entry]) -> Option<(usize, u16)> {
            table.iter().enumerate().find_map(|(i, e)| {
                let addr_from = if self.ipv4 { 12 } else { 0 };
                let hit = e.valid
                    && e.ipv4 == self.ipv4
                    && (if self.tcp { e.tcp } else { e.udp })
                    && e.address[addr_from..] == self.addr[addr_from..]
                    && self.port == if self.outgoing { e.assigned_port } else { e.shared_port };
                hit.then(|| (i, if self.outgoing { e.shared_port } else { e.assigned_port }))
            })
        }
    }

    struct Bench<const N: usize> {
        cam: Cam<N>,
        /// Lookup results in order: (hit, index, port).
        results: Vec<(bool, usize, u16)>,
    }

    impl<const N: usize> Bench<N> {
        fn new() -> Self {
            let mut cam = Cam::<N>::default();
            cam.connect_all();
            Self { cam, results: vec![] }
        }

        /// One clock: inputs as set now are sampled at the rising edge.
        fn tick(&mut self) {
            edge(&mut self.cam, |c| &mut c.clock, false);
            if self.cam.result_valid.val() {
                let c = &self.cam;
                self.results.push((c.result_hit.val(), c.result_index.val().index(), c.result_port.val().index() as u16));
            }
            edge(&mut self.cam, |c| &mut c.clock, true);
            self.idle_key();
        }

        fn idle_key(&mut self) {
            self.cam.key_valid.next = false;
            self.cam.key_first.next = false;
            self.cam.key_last.next = false;
            self.cam.mgmt_start.next = false;
        }

        /// Present key byte `i` of `key` for the next edge.
        fn key_byte(&mut self, key: &Key, i: usize) {
            let bytes = key.bytes();
            let (pos, byte) = bytes[i];
            let c = &mut self.cam;
            c.key_valid.next = true;
            c.key_pos.next = (pos as u64).into();
            c.key_byte.next = (byte as u64).into();
            c.key_first.next = i == 0;
            c.key_last.next = i + 1 == bytes.len();
            c.key_dir.next = key.outgoing;
        }

        fn start(&mut self, op: u64, index: usize, record: [u8; RECORD_BYTES]) {
            while self.cam.mgmt_busy.val() {
                self.tick();
            }
            self.cam.mgmt_op.next = op.into();
            self.cam.mgmt_index.next = (index as u64).into();
            self.cam.mgmt_wdata.next = record_to_bits(&record);
            self.cam.mgmt_start.next = true;
            self.tick();
        }

        /// Runs the started op to its end; returns `mgmt_rdata` from the done clock.
        fn finish(&mut self) -> Bits<168> {
            for _ in 0..5000 {
                if self.cam.mgmt_done.val() {
                    let r = self.cam.mgmt_rdata.val();
                    self.tick();
                    return r;
                }
                self.tick();
            }
            panic!("management op never finished");
        }

        fn write(&mut self, index: usize, e: &Entry) {
            self.start(MGMT_WRITE_ENTRY, index, e.to_record());
            self.finish();
        }

        fn lookup(&mut self, key: &Key) -> (bool, usize, u16) {
            let before = self.results.len();
            for i in 0..key.bytes().len() {
                self.key_byte(key, i);
                self.tick();
            }
            for _ in 0..(N / 8 + 8) {
                self.tick();
            }
            assert_eq!(self.results.len(), before + 1, "one result per lookup");
            self.results[before]
        }
    }

    fn random_entry(rng: &mut StdRng, addrs: &[[u8; 16]]) -> Entry {
        let tcp = rng.gen_bool(0.6);
        Entry {
            valid: rng.gen_bool(0.85),
            tcp,
            udp: !tcp || rng.gen_bool(0.3),
            ipv4: rng.gen_bool(0.5),
            address: addrs[rng.gen_range(0..addrs.len())],
            shared_port: [80, 443][rng.gen_range(0..2)],
            assigned_port: rng.gen_range(1024..1040),
        }
    }

    #[test]
    fn lookups_find_the_lowest_matching_entry_like_the_reference() {
        let mut rng = StdRng::seed_from_u64(7);
        // Few distinct addresses and ports, so keys collide across entries often.
        let addrs: Vec<[u8; 16]> = (0..3).map(|_| rng.gen()).collect();
        let mut b = Bench::<16>::new();
        let mut table = vec![Entry::default(); 16];
        let (mut hits, mut misses) = (0, 0);
        for round in 0..6 {
            for (i, slot) in table.iter_mut().enumerate() {
                if round == 0 || rng.gen_bool(0.3) {
                    *slot = random_entry(&mut rng, &addrs);
                    b.write(i, slot);
                }
            }
            for _ in 0..60 {
                let e = table[rng.gen_range(0..16)];
                let outgoing = rng.gen_bool(0.5);
                let key = Key {
                    ipv4: if rng.gen_bool(0.9) { e.ipv4 } else { !e.ipv4 },
                    tcp: rng.gen_bool(0.5),
                    outgoing,
                    addr: if rng.gen_bool(0.9) { e.address } else { addrs[rng.gen_range(0..addrs.len())] },
                    port: if outgoing { e.assigned_port } else { e.shared_port },
                };
                let want = key.expect(&table);
                let got = b.lookup(&key);
                match want {
                    Some((index, port)) => {
                        hits += 1;
                        assert_eq!(got, (true, index, port));
                    }
                    None => {
                        misses += 1;
                        assert!(!got.0, "false hit on entry {}", got.1);
                    }
                }
            }
        }
        assert!(hits > 100 && misses > 50, "{hits} hits, {misses} misses");
    }

    #[test]
    fn entries_read_back_as_written() {
        let mut rng = StdRng::seed_from_u64(8);
        let addrs: Vec<[u8; 16]> = (0..4).map(|_| rng.gen()).collect();
        let mut b = Bench::<8>::new();
        let mut table: Vec<Entry> = (0..8).map(|_| random_entry(&mut rng, &addrs)).collect();
        // Neither protocol: matches nothing, still reads back.
        (table[6].tcp, table[6].udp) = (false, false);
        for (i, e) in table.iter().enumerate() {
            b.write(i, e);
        }
        for (i, e) in table.iter().enumerate() {
            b.start(MGMT_READ_ENTRY, i, [0; RECORD_BYTES]);
            assert_eq!(b.finish(), record_to_bits(&e.to_record()), "entry {i}");
        }
    }

    /// The RAMs' read-during-write collisions are don't care (`ram.rs`): a key byte that
    /// reads the very word a table write is about to write, in that clock, must still
    /// see the word (the write waits). Drives that collision deliberately for every word
    /// an unchanged entry's key reads, in both RAMs.
    #[test]
    fn key_byte_reading_the_word_being_written_still_matches() {
        let mut b = Bench::<8>::new();
        let kept = Entry { valid: true, tcp: true, address: [0x35; 16], shared_port: 0x3536, assigned_port: 0x3738, ..Default::default() };
        b.write(0, &kept);
        let key = Key { ipv4: false, tcp: true, outgoing: false, addr: kept.address, port: kept.shared_port };
        let bytes = key.bytes();
        let replacement = Entry { valid: true, udp: true, address: [0x77; 16], shared_port: 1, assigned_port: 2, ..Default::default() };
        let mut collisions = 0;
        for (at, &(pos, byte)) in bytes.iter().enumerate() {
            for nibble in [byte >> 4, byte & 0xF] {
                // Word (position, nibble) is read-modified-written by every entry write.
                let target = (pos as u64) << 4 | nibble as u64;
                let before = b.results.len();
                b.start(MGMT_WRITE_ENTRY, 5, replacement.to_record());
                // The key's earlier bytes (the write makes no progress while they read).
                for i in 0..at {
                    b.key_byte(&key, i);
                    b.tick();
                }
                // Wait for the edge that moves WriteRead (having read `target`) to
                // WriteWrite: byte `at`, registered at that edge, reads `target` in the
                // clock the word is written.
                while !(b.cam.op.q.val() == TableOp::WriteRead
                    && b.cam.word.q.val().index() as u64 == target
                    && !b.cam.r_key_valid.q.val())
                {
                    assert!(b.cam.word.q.val().index() as u64 <= target, "word {target} passed");
                    b.tick();
                }
                collisions += 1;
                for i in at..bytes.len() {
                    b.key_byte(&key, i);
                    b.tick();
                }
                b.finish();
                for _ in 0..16 {
                    b.tick();
                }
                assert_eq!(b.results[before..], [(true, 0, kept.assigned_port)], "key byte {at}, word {target}");
            }
        }
        assert_eq!(collisions, 2 * bytes.len());
    }
}
