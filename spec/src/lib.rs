//! The facts the hardware (`portshare-hdl`) and the host (`portshare-host`) must agree
//! on, written once. Both crates depend on this one and on nothing of each other, so
//! the hardware needs no USB stack and no copy of a constant can drift. The wire format
//! built from these numbers is documented in `portshare_host::protocol`; the record
//! layout in `portshare_host::record`.
#![no_std]

/// The Alchitry Cu's oscillator, which clocks the whole design.
pub const BOARD_CLOCK_HZ: u64 = 100_000_000;

/// Table sizes the design is built and simulated with (entries). Which of them fit the
/// HX8K is the build's business; this is the one list every command offers.
pub const CAPACITIES: [usize; 3] = [16, 64, 128];

/// The 21-byte entry record: what WRITE_ENTRY/READ_ENTRY carry and what the CAM's
/// management port takes, packed big-endian (byte 0 in the top bits).
pub mod record {
    pub const RECORD_LEN: usize = 21;
    pub const RECORD_BITS: usize = RECORD_LEN * 8;
    /// Byte 0: flags.
    pub const FLAGS_AT: usize = 0;
    pub const FLAG_VALID: u8 = 1 << 0;
    pub const FLAG_TCP: u8 = 1 << 1;
    pub const FLAG_UDP: u8 = 1 << 2;
    pub const FLAG_IPV4: u8 = 1 << 3;
    /// Bytes 1..17: the address in network order (IPv4 as `::ffff:a.b.c.d`).
    pub const ADDRESS_AT: usize = 1;
    pub const ADDRESS_LEN: usize = 16;
    /// Bytes 17..19 and 19..21: the ports, big-endian.
    pub const SHARED_PORT_AT: usize = ADDRESS_AT + ADDRESS_LEN;
    pub const ASSIGNED_PORT_AT: usize = SHARED_PORT_AT + 2;
    const _: () = assert!(ASSIGNED_PORT_AT + 2 == RECORD_LEN);
}

/// The frame counters by reason, in the order READ_COUNTERS sends them (and the
/// counters block indexes them). The first four partition all frames;
/// `udp_zero_checksum` counts the rewritten frames whose UDP checksum was 0.
pub mod reasons {
    pub const REWRITTEN: usize = 0;
    pub const NO_MATCH: usize = 1;
    pub const FRAGMENT: usize = 2;
    pub const UNPARSED: usize = 3;
    pub const UDP_ZERO_CHECKSUM: usize = 4;
    pub const NAMES: [&str; 5] = ["rewritten", "no_match", "fragment", "unparsed", "udp_zero_checksum"];
    pub const COUNT: usize = NAMES.len();
}

/// An Ethernet board's ports and what READ_PORT sends about one: a status word, then
/// its counters, in this order (u32 each, big-endian). The port index is READ_PORT's
/// argument; a board without Ethernet has none (every index is out of range).
pub mod ports {
    /// Ports of the Ethernet board: 0 toward the network, 1 toward the server.
    pub const PORT_COUNT: usize = 2;
    pub const PORT_NAMES: [&str; PORT_COUNT] = ["network", "server"];
    /// Word 0: the status word. Its low bits are flags, its top 16 bits the PHY's
    /// basic status register (BMSR, MDIO register 1) as last read.
    pub const STATUS_WORD: usize = 0;
    /// Link up (BMSR bit 2 and, when auto-negotiating, the PHY's "autodone").
    pub const FLAG_LINK: u32 = 1 << 0;
    /// 100 Mb/s (else 10 Mb/s), as the PHY's speed indication says.
    pub const FLAG_100M: u32 = 1 << 1;
    pub const FLAG_FULL_DUPLEX: u32 = 1 << 2;
    /// The PHY answers on MDIO (address 1) at all.
    pub const FLAG_PHY_PRESENT: u32 = 1 << 3;
    /// Where BMSR sits in the status word.
    pub const BMSR_SHIFT: u32 = 16;
    /// The counters after the status word (see `hdl/src/eth/port.rs` for what each
    /// counts): frames/bytes received with a good FCS, frames with a bad FCS (of which
    /// already stomped), runts, alignment errors, frames dropped whole, false carriers,
    /// frames/bytes sent, frames sent stomped.
    pub const COUNTER_NAMES: [&str; 11] = [
        "rx_frames",
        "rx_bytes",
        "fcs_errors",
        "rx_stomped",
        "runts",
        "align_errors",
        "dropped",
        "false_carriers",
        "tx_frames",
        "tx_bytes",
        "tx_stomped",
    ];
    /// Words in a READ_PORT reply: the status word and the counters.
    pub const WORDS: usize = 1 + COUNTER_NAMES.len();
    const _: () = assert!(WORDS <= 16, "the word index is 4 bits wide");
}

/// The control protocol's codes and sizes.
pub mod protocol {
    use crate::record::RECORD_LEN;

    /// Bump on any change to the wire format (2: READ_PORT).
    pub const PROTOCOL_VERSION: u8 = 2;

    pub const SLIP_END: u8 = 0xC0;
    pub const SLIP_ESC: u8 = 0xDB;
    pub const SLIP_ESC_END: u8 = 0xDC;
    pub const SLIP_ESC_ESC: u8 = 0xDD;

    pub const CMD_INFO: u8 = 0x01;
    pub const CMD_WRITE_ENTRY: u8 = 0x02;
    pub const CMD_READ_ENTRY: u8 = 0x03;
    pub const CMD_CLEAR_TABLE: u8 = 0x04;
    pub const CMD_READ_COUNTERS: u8 = 0x05;
    pub const CMD_RESET_COUNTERS: u8 = 0x06;
    pub const CMD_INJECT: u8 = 0x07;
    pub const CMD_READ_PORT: u8 = 0x08;

    pub const STATUS_OK: u8 = 0x00;
    pub const STATUS_BAD_CRC: u8 = 0x01;
    pub const STATUS_BAD_LENGTH: u8 = 0x02;
    pub const STATUS_UNKNOWN_COMMAND: u8 = 0x03;
    pub const STATUS_OUT_OF_RANGE: u8 = 0x04;
    pub const STATUS_BUSY: u8 = 0x05;
    pub const STATUS_BAD_FRAMING: u8 = 0x06;
    pub const STATUS_TIMEOUT: u8 = 0x07;

    /// Request body: command, sequence, payload, CRC.
    pub const REQUEST_HEADER_LEN: usize = 2;
    /// Reply body: status, command, sequence, payload, CRC.
    pub const REPLY_HEADER_LEN: usize = 3;
    pub const CRC_LEN: usize = 2;
    /// Each counter in a READ_COUNTERS reply (u32, big-endian).
    pub const COUNTER_LEN: usize = 4;
    /// INFO's reply payload: version u8, capacity u16, max frame u16, build id u32.
    pub const INFO_LEN: usize = 1 + 2 + 2 + 4;
    /// READ_PORT's reply payload: the port's words (`ports::WORDS`, u32 each).
    pub const PORT_REPLY_LEN: usize = crate::ports::WORDS * COUNTER_LEN;
    /// Largest frame INJECT carries: the board's frame buffer.
    pub const MAX_FRAME_LEN: usize = 2048;

    /// Length of a whole request body (CRC included) with `payload` bytes of payload.
    pub const fn request_len(payload: usize) -> usize {
        REQUEST_HEADER_LEN + payload + CRC_LEN
    }
    /// Lengths the board checks requests against.
    pub const NO_PAYLOAD_LEN: usize = request_len(0);
    /// READ_ENTRY: the index byte; READ_PORT: the port byte.
    pub const READ_ENTRY_LEN: usize = request_len(1);
    pub const READ_PORT_LEN: usize = request_len(1);
    /// WRITE_ENTRY: index byte and record.
    pub const WRITE_ENTRY_LEN: usize = request_len(1 + RECORD_LEN);
    /// INJECT: direction byte and 1..=MAX_FRAME_LEN frame bytes.
    pub const INJECT_MIN_LEN: usize = request_len(1 + 1);
    pub const INJECT_MAX_LEN: usize = request_len(1 + MAX_FRAME_LEN);
    /// Where a request's bulk bytes (WRITE_ENTRY's record, INJECT's frame) start in the
    /// body: after command, sequence and the index/direction byte.
    pub const BULK_AT: usize = REQUEST_HEADER_LEN + 1;
}
