//! The port-sharing table: a transposed block-RAM CAM.
//!
//! Each key byte arrives with its key position (0..20, see `parser.rs`). Two RAMs of
//! 512 words × N match bits, one addressed by (position, high nibble) and one by
//! (position, low nibble), say which entries have that nibble there; ANDing the words
//! of every key byte into an accumulator leaves the entries whose whole key matched.
//! Matching costs nothing per entry in logic, so N is bounded by block RAM, not LCs.
//!
//! The winner (lowest index) is found by scanning the match vector 8 bits per clock —
//! a short mux per clock instead of a 64-deep priority chain, so it runs at board speed
//! — and its ports are read from a result RAM.
//!
//! Management writes replace an entry whole: the entry's valid bit drops first (and
//! drops out of every match in flight, since the accumulator is ANDed with the valid
//! bits every clock), the 320 key words are rewritten read-modify-write in clocks when
//! no key byte needs the RAM read port, and only then does the valid bit return. A frame
//! therefore sees the old entry, the new one, or none — never half of one.

use rust_hdl::prelude::*;

/// `1 << index` over N bits (zero when index ≥ N).
#[derive(LogicBlock)]
pub struct OneHot<const N: usize> {
    pub index: Signal<In, Bits<8>>,
    pub onehot: Signal<Out, Bits<N>>,
    one: Constant<Bits<N>>,
    count: Constant<Bits<9>>,
}

impl<const N: usize> Default for OneHot<N> {
    fn default() -> Self {
        Self {
            index: Default::default(),
            onehot: Default::default(),
            one: Constant::new(1.into()),
            count: Constant::new((N as u64).into()),
        }
    }
}

impl<const N: usize> Logic for OneHot<N> {
    #[hdl_gen]
    fn update(&mut self) {
        self.onehot.next = 0.into();
        if bit_cast::<9, 8>(self.index.val()) < self.count.val() {
            self.onehot.next = self.one.val() << self.index.val();
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
    last: Constant<Bits<8>>,
}

impl<const N: usize> Default for LastGroup<N> {
    fn default() -> Self {
        assert!(N % 8 == 0 && (8..=256).contains(&N), "the CAM holds 8..=256 entries in groups of 8");
        Self { group: Default::default(), is_last: Default::default(), last: Constant::new(((N / 8 - 1) as u64).into()) }
    }
}

impl<const N: usize> Logic for LastGroup<N> {
    #[hdl_gen]
    fn update(&mut self) {
        self.is_last.next = self.group.val() == self.last.val();
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
    pub key_ipv4: Signal<In, Bit>,
    pub key_last: Signal<In, Bit>,
    pub key_tcp: Signal<In, Bit>,
    /// 0 incoming (result is the assigned port), 1 outgoing (the shared port).
    pub key_dir: Signal<In, Bit>,
    /// One-clock pulse per lookup, a few clocks after `key_last`.
    pub result_valid: Signal<Out, Bit>,
    pub result_hit: Signal<Out, Bit>,
    pub result_index: Signal<Out, Bits<8>>,
    pub result_port: Signal<Out, Bits<16>>,
    // Management (MGMT_WRITE_ENTRY, MGMT_READ_ENTRY, MGMT_CLEAR_TABLE).
    pub mgmt_op: Signal<In, Bits<3>>,
    pub mgmt_start: Signal<In, Bit>,
    pub mgmt_index: Signal<In, Bits<8>>,
    pub mgmt_wdata: Signal<In, Bits<168>>,
    pub mgmt_busy: Signal<Out, Bit>,
    pub mgmt_done: Signal<Out, Bit>,
    pub mgmt_rdata: Signal<Out, Bits<168>>,

    r_key_valid: DFF<Bit>,
    r_key_first: DFF<Bit>,
    r_key_ipv4: DFF<Bit>,
    r_key_last: DFF<Bit>,
    r_key_tcp: DFF<Bit>,
    r_key_dir: DFF<Bit>,
    r_addr_hi: DFF<Bits<9>>,
    r_addr_lo: DFF<Bits<9>>,
    key_hi: RAM<Bits<N>, 9>,
    key_lo: RAM<Bits<N>, 9>,
    /// Per entry: the record's flags (bits 35..32: IPv4, UDP, TCP, valid-as-written),
    /// shared port (31..16), assigned port (15..0). Read-back takes the protocol and
    /// family flags from here instead of reducing the per-entry registers (one more
    /// block RAM for ~130 fewer LUTs); `valid` must come from its register (CLEAR).
    result: RAM<Bits<36>, 8>,
    valid: DFF<Bits<N>>,
    ipv4: DFF<Bits<N>>,
    tcp: DFF<Bits<N>>,
    udp: DFF<Bits<N>>,

    acc: DFF<Bits<N>>,
    acc_now: Signal<Local, Bits<N>>,
    pending: DFF<Bit>,
    finishing: DFF<Bit>,
    lk_tcp: DFF<Bit>,
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

impl<const N: usize> Cam<N> {
    /// A CAM whose RAMs start as zero in the generated Verilog too, as iCE40 block RAM
    /// does after configuration (so a second simulator sees no X).
    pub fn new() -> Self {
        let mut c = Self::default();
        c.key_hi = RAM::new((0..512u64).map(|i| (i.into(), 0.into())).collect());
        c.key_lo = RAM::new((0..512u64).map(|i| (i.into(), 0.into())).collect());
        c.result = RAM::new((0..256u64).map(|i| (i.into(), 0.into())).collect());
        c
    }
}

impl<const N: usize> Logic for Cam<N> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, r_key_valid, r_key_first, r_key_ipv4, r_key_last, r_key_tcp, r_key_dir,
            r_addr_hi, r_addr_lo, valid, ipv4, tcp, udp, acc, pending, finishing, lk_tcp, lk_dir, scan,
            scan_state, group, found_index, op, entry, onehot, key_sr, flags, ports, word, nib_hi, nib_lo, masked_hi, masked_lo, done, busy
        );
        self.key_hi.read_clock.next = self.clock.val();
        self.key_hi.write_clock.next = self.clock.val();
        self.key_lo.read_clock.next = self.clock.val();
        self.key_lo.write_clock.next = self.clock.val();
        self.result.read_clock.next = self.clock.val();
        self.result.write_clock.next = self.clock.val();
        self.entry_bit.index.next = self.entry.q.val();
        self.last_group.group.next = self.group.q.val();

        // ---- Lookup: accumulate the match of every key byte. ----
        // Key bytes are registered on the way in: the parser's decode and the RAM
        // address never share a clock.
        self.r_key_valid.d.next = self.key_valid.val();
        self.r_key_first.d.next = self.key_first.val();
        self.r_key_ipv4.d.next = self.key_ipv4.val();
        self.r_key_last.d.next = self.key_last.val();
        self.r_key_tcp.d.next = self.key_tcp.val();
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
            if self.r_key_ipv4.q.val() {
                self.acc.d.next = self.valid.q.val() & self.ipv4.q.val();
            } else {
                self.acc.d.next = self.valid.q.val() & !self.ipv4.q.val();
            }
        }
        self.pending.d.next = self.r_key_valid.q.val();
        self.finishing.d.next = self.r_key_valid.q.val() & self.r_key_last.q.val();
        if self.r_key_valid.q.val() & self.r_key_last.q.val() {
            self.lk_tcp.d.next = self.r_key_tcp.q.val();
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
            if self.lk_tcp.q.val() {
                self.scan.d.next = self.acc_now.val() & self.tcp.q.val();
            } else {
                self.scan.d.next = self.acc_now.val() & self.udp.q.val();
            }
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
        self.key_hi.write_data.next = self.key_hi.read_data.val() & !self.onehot.q.val();
        self.key_lo.write_data.next = self.key_lo.read_data.val() & !self.onehot.q.val();
        if self.key_sr.q.val().get_bits::<4>(156) == self.word.q.val().get_bits::<4>(0) {
            self.key_hi.write_data.next =
                (self.key_hi.read_data.val() & !self.onehot.q.val()) | self.onehot.q.val();
        }
        if self.key_sr.q.val().get_bits::<4>(152) == self.word.q.val().get_bits::<4>(0) {
            self.key_lo.write_data.next =
                (self.key_lo.read_data.val() & !self.onehot.q.val()) | self.onehot.q.val();
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
                self.key_hi.write_enable.next = true;
                self.key_lo.write_enable.next = true;
                self.word.d.next = self.word.q.val() + 1;
                if self.word.q.val().get_bits::<4>(0) == 15 {
                    self.key_sr.d.next = self.key_sr.q.val() << 8;
                }
                if self.word.q.val() == 319 {
                    self.op.d.next = TableOp::WriteFinish;
                } else {
                    self.op.d.next = TableOp::WriteRead;
                }
            }
            TableOp::WriteFinish => {
                self.result.write_enable.next = true;
                self.tcp.d.next = self.tcp.q.val() & !self.onehot.q.val();
                if self.flags.q.val().get_bit(1) {
                    self.tcp.d.next = self.tcp.q.val() | self.onehot.q.val();
                }
                self.udp.d.next = self.udp.q.val() & !self.onehot.q.val();
                if self.flags.q.val().get_bit(2) {
                    self.udp.d.next = self.udp.q.val() | self.onehot.q.val();
                }
                self.ipv4.d.next = self.ipv4.q.val() & !self.onehot.q.val();
                if self.flags.q.val().get_bit(3) {
                    self.ipv4.d.next = self.ipv4.q.val() | self.onehot.q.val();
                }
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
