//! The pure FTDI logic behind the USB transport (`usb.rs`): the parts we drive, the
//! vendor requests and their values, the baud-rate divisor encoding, the stripping of
//! the modem-status bytes from bulk IN packets, and the choice of a device among those
//! found. Nothing here touches USB, so all of it is unit-tested.
//!
//! Sources of the facts (values only, no code taken):
//! * libftdi 1.x `src/ftdi.c` and `src/ftdi.h` — request codes (`SIO_*_REQUEST`), the
//!   interface/port-index table of `ftdi_set_interface()` (INTERFACE_A = 1,
//!   INTERFACE_B = 2, INTERFACE_ANY → A), the chip type from bcdDevice in
//!   `ftdi_usb_open_dev()`, `ftdi_to_clkbits()` / `ftdi_convert_baudrate()` (the
//!   fractional-divisor code table {0,3,2,4,1,5,6,7}, the H-type 120 MHz clock with
//!   /10 and the 0x20000 "CLK/10" bit, the H-type wIndex = (divisor >> 8) & 0xFF00 |
//!   port index), the 5 % tolerance check of `ftdi_set_baudrate()`, the line
//!   property and flow-control encodings, and the per-packet status stripping of
//!   `ftdi_read_data()`.
//! * pyftdi `pyftdi/ftdi.py` — `MODEM_STATUS` bit names of the second status byte
//!   (dr, overrun, parity, framing, break, thre, txe, rcvr) and `ERROR_BITS = (0x00,
//!   0x8E)`; its `_convert_baudrate()` gives the same value/index for the rates tested
//!   below (it rounds `8 * 12 MHz / baud` where libftdi rounds `16 * 12 MHz / baud / 2`).

use std::fmt;

use thiserror::Error;

/// FTDI's USB vendor id.
pub const FTDI_VID: u16 = 0x0403;

/// bmRequestType of every FTDI vendor request we send: host-to-device, vendor, device
/// (libftdi `FTDI_DEVICE_OUT_REQTYPE`).
pub const REQTYPE_OUT: u8 = 0x40;

/// bRequest codes (libftdi `ftdi.h`).
pub const SIO_RESET_REQUEST: u8 = 0x00;
pub const SIO_SET_MODEM_CTRL_REQUEST: u8 = 0x01;
pub const SIO_SET_FLOW_CTRL_REQUEST: u8 = 0x02;
pub const SIO_SET_BAUDRATE_REQUEST: u8 = 0x03;
pub const SIO_SET_DATA_REQUEST: u8 = 0x04;
pub const SIO_SET_LATENCY_TIMER_REQUEST: u8 = 0x09;
pub const SIO_SET_BITMODE_REQUEST: u8 = 0x0B;

/// wValue of `SIO_RESET_REQUEST`.
pub const SIO_RESET_SIO: u16 = 0;
pub const SIO_RESET_PURGE_RX: u16 = 1;
pub const SIO_RESET_PURGE_TX: u16 = 2;

/// `SIO_SET_BITMODE_REQUEST` wValue = (mode << 8) | pin mask; mode 0 = BITMODE_RESET,
/// which puts the channel back in plain UART mode.
pub const BITMODE_RESET_UART: u16 = 0x0000;

/// `SIO_SET_DATA_REQUEST` wValue for 8 data bits, no parity (bits 8..10 = 0), one stop
/// bit (bits 11..12 = 0), break off (bit 14 = 0): 8N1.
pub const DATA_8N1: u16 = 0x0008;

/// `SIO_SET_FLOW_CTRL_REQUEST` carries the mode in wIndex's high byte, the port in its
/// low byte; SIO_DISABLE_FLOW_CTRL is 0.
pub const FLOW_CTRL_NONE: u16 = 0x0000;

/// Default UART rate: 100 MHz / 25 clocks per bit on the FPGA side, and exactly
/// 12 MHz / 3 on the FT2232H side.
pub const DEFAULT_BAUD: u32 = 4_000_000;

/// Latency timer, in ms: how long the chip holds a partial IN packet before sending
/// it. The chip's default (16 ms) would dominate every command/reply round trip.
pub const DEFAULT_LATENCY_MS: u8 = 1;

/// Length of the modem-status header at the start of every bulk IN packet.
pub const STATUS_LEN: usize = 2;

/// FTDI chip generation, from bcdDevice as libftdi's `ftdi_usb_open_dev()` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipType {
    Am,
    Bm,
    Ft2232C,
    R,
    Ft2232H,
    Ft4232H,
    Ft232H,
    Ft230X,
}

impl ChipType {
    /// `has_serial`: the device descriptor's iSerialNumber is non-zero (libftdi takes a
    /// 0x200 part without a serial number for a BM with a blank EEPROM).
    pub fn from_bcd_device(bcd: u16, has_serial: bool) -> Option<ChipType> {
        Some(match bcd {
            0x0400 => ChipType::Bm,
            0x0200 if !has_serial => ChipType::Bm,
            0x0200 => ChipType::Am,
            0x0500 => ChipType::Ft2232C,
            0x0600 => ChipType::R,
            0x0700 => ChipType::Ft2232H,
            0x0800 => ChipType::Ft4232H,
            0x0900 => ChipType::Ft232H,
            0x1000 => ChipType::Ft230X,
            _ => return None,
        })
    }

    /// H-type parts have the 120 MHz baud clock (and 512-byte high-speed packets).
    pub fn is_h_type(self) -> bool {
        matches!(
            self,
            ChipType::Ft2232H | ChipType::Ft4232H | ChipType::Ft232H
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            ChipType::Am => "FT232AM",
            ChipType::Bm => "FT232BM",
            ChipType::Ft2232C => "FT2232C/D",
            ChipType::R => "FT232R",
            ChipType::Ft2232H => "FT2232H",
            ChipType::Ft4232H => "FT4232H",
            ChipType::Ft232H => "FT232H",
            ChipType::Ft230X => "FT-X",
        }
    }
}

/// What `SIO_SET_BAUDRATE_REQUEST` carries for a requested rate, and the rate the chip
/// will really run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaudSetting {
    pub value: u16,
    pub index: u16,
    pub actual: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BaudError {
    #[error("baud rate must be positive")]
    Zero,
    #[error("{chip} cannot run at {requested} baud: the nearest rate it has is {actual} baud (more than 5 % off)")]
    OutOfTolerance {
        chip: &'static str,
        requested: u32,
        actual: u32,
    },
    #[error("{0} (AM) parts are not supported")]
    Unsupported(&'static str),
}

/// libftdi's `ftdi_to_clkbits()`: the divisor for `baud` from a clock `clk` behind a
/// pre-divider `clk_div` (16 on the 48 MHz clock, 10 on the H-type's 120 MHz), with
/// three fractional bits encoded by the sub-divisor code table. Returns (encoded
/// 17-bit divisor, achieved baud).
fn clock_divisor(baud: u32, clk: u64, clk_div: u64) -> (u32, u32) {
    // Fractional eighths in natural order → the chip's sub-divisor code.
    const FRAC_CODE: [u32; 8] = [0, 3, 2, 4, 1, 5, 6, 7];
    let baud = baud as u64;
    let base = clk / clk_div;
    // Divisors 0, 1 and 2 are special: /1, /1.5, /2 with no fraction.
    if baud >= base {
        return (0, base as u32);
    }
    if baud >= clk / (clk_div + clk_div / 2) {
        return (1, (clk / (clk_div + clk_div / 2)) as u32);
    }
    if baud >= clk / (2 * clk_div) {
        return (2, (clk / (2 * clk_div)) as u32);
    }
    // Sixteenths: three fractional bits of the divisor plus one rounding bit.
    let sixteenths = clk * 16 / clk_div / baud;
    let mut eighths = sixteenths / 2 + (sixteenths & 1);
    if eighths > 0x20000 {
        eighths = 0x1ffff;
    }
    let twice_baud = clk * 16 / clk_div / eighths;
    let achieved = twice_baud / 2 + (twice_baud & 1);
    let encoded = (eighths >> 3) as u32 | (FRAC_CODE[(eighths & 7) as usize] << 14);
    (encoded, achieved as u32)
}

/// The `SIO_SET_BAUDRATE_REQUEST` value/index for `baud` on `chip`, channel `port_index`
/// (1 = A, 2 = B). Follows libftdi's `ftdi_convert_baudrate()` and its 5 % tolerance.
pub fn baud_setting(chip: ChipType, baud: u32, port_index: u16) -> Result<BaudSetting, BaudError> {
    const H_CLK: u64 = 120_000_000;
    const C_CLK: u64 = 48_000_000;
    if baud == 0 {
        return Err(BaudError::Zero);
    }
    let (encoded, actual) = match chip {
        ChipType::Am => return Err(BaudError::Unsupported(chip.name())),
        // H parts take the 12 MHz (120 MHz / 10) base for anything the 14-bit divisor
        // can reach from it, and say so with the 0x20000 bit.
        c if c.is_h_type() && (baud as u64) * 10 > H_CLK / 0x3fff => {
            let (e, a) = clock_divisor(baud, H_CLK, 10);
            (e | 0x20000, a)
        }
        _ => clock_divisor(baud, C_CLK, 16),
    };
    let value = (encoded & 0xffff) as u16;
    // Multi-channel parts carry the divisor's high bits in wIndex's high byte and the
    // port in its low byte; single-channel ones have the divisor's bit 16 in wIndex.
    // (libftdi does this for H types; pyftdi also for the FT2232C/D, which has two
    // channels as well — followed here.)
    let index = if chip.is_h_type() || chip == ChipType::Ft2232C {
        (((encoded >> 8) & 0xff00) as u16) | port_index
    } else {
        (encoded >> 16) as u16
    };
    let (lo, hi) = (actual.min(baud) as u64, actual.max(baud) as u64);
    if lo * 21 < hi * 20 {
        return Err(BaudError::OutOfTolerance {
            chip: chip.name(),
            requested: baud,
            actual,
        });
    }
    Ok(BaudSetting {
        value,
        index,
        actual,
    })
}

/// Second modem-status byte (the line status), as pyftdi names its bits.
pub mod line_status {
    pub const DATA_READY: u8 = 0x01;
    pub const OVERRUN: u8 = 0x02;
    pub const PARITY: u8 = 0x04;
    pub const FRAMING: u8 = 0x08;
    pub const BREAK: u8 = 0x10;
    pub const TX_HOLDING_EMPTY: u8 = 0x20;
    pub const TX_EMPTY: u8 = 0x40;
    pub const FIFO_ERROR: u8 = 0x80;
    /// pyftdi's `ERROR_BITS[1]`.
    pub const ERRORS: u8 = OVERRUN | PARITY | FRAMING | FIFO_ERROR;
}

/// A receive error the chip reported in a packet's line-status byte: the bytes around
/// it cannot be trusted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LineError {
    #[error("UART receive error on the board's serial line: {} (line status 0x{status:02x}, packet {packet})", describe_line_errors(*.status))]
    Receive { status: u8, packet: usize },
    #[error(
        "malformed bulk IN packet {packet}: {len} byte(s), shorter than the 2-byte modem status"
    )]
    ShortPacket { packet: usize, len: usize },
}

fn describe_line_errors(status: u8) -> String {
    let names = [
        (line_status::OVERRUN, "overrun"),
        (line_status::PARITY, "parity error"),
        (line_status::FRAMING, "framing error"),
        (line_status::FIFO_ERROR, "error in receive FIFO"),
    ];
    names
        .iter()
        .filter(|(b, _)| status & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Strips the 2 modem-status bytes from each packet of one bulk IN transfer and appends
/// the data to `out`. A transfer holds whole packets of `max_packet` bytes and maybe a
/// last shorter one; a 2-byte packet carries status only. Returns the data bytes
/// appended; on a line error nothing is appended.
pub fn strip_modem_status(
    raw: &[u8],
    max_packet: usize,
    out: &mut Vec<u8>,
) -> Result<usize, LineError> {
    assert!(
        max_packet > STATUS_LEN,
        "max packet size {max_packet} leaves no room for data"
    );
    let start = out.len();
    for (packet, chunk) in raw.chunks(max_packet).enumerate() {
        if chunk.len() < STATUS_LEN {
            out.truncate(start);
            return Err(LineError::ShortPacket {
                packet,
                len: chunk.len(),
            });
        }
        let status = chunk[1];
        if status & line_status::ERRORS != 0 {
            out.truncate(start);
            return Err(LineError::Receive { status, packet });
        }
        out.extend_from_slice(&chunk[STATUS_LEN..]);
    }
    Ok(out.len() - start)
}

/// An FTDI part this tool can drive, and where its UART is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FtdiPart {
    pub vid: u16,
    pub pid: u16,
    /// What the part is, for messages.
    pub name: &'static str,
    /// The product string a bare `--device usb` requires, if any.
    pub product: Option<&'static str>,
    /// USB interface number of the UART channel.
    pub interface: u8,
    /// Port index carried in wIndex (libftdi `ftdi->index`: A = 1, B = 2).
    pub port_index: u16,
}

/// The parts, best first. The Alchitry Cu's FT2232H has channel A wired to the flash
/// (iceprog) and channel B to the FPGA's UART; an FT232 (as QEMU's usb-serial presents
/// it) has one channel, which libftdi addresses as INTERFACE_A.
pub const PARTS: [FtdiPart; 2] = [
    FtdiPart {
        vid: FTDI_VID,
        pid: 0x6010,
        name: "Alchitry Cu (FT2232H, channel B)",
        product: Some("Alchitry Cu"),
        interface: 1,
        port_index: 2,
    },
    FtdiPart {
        vid: FTDI_VID,
        pid: 0x6001,
        name: "FT232 USB UART",
        product: None,
        interface: 0,
        port_index: 1,
    },
];

pub fn part_for(vid: u16, pid: u16) -> Option<&'static FtdiPart> {
    PARTS.iter().find(|p| p.vid == vid && p.pid == pid)
}

/// What enumeration tells about one USB device, read without claiming it. Strings are
/// `None` when the device has none or could not be opened to read them (`open_error`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UsbDeviceInfo {
    pub bus: u8,
    pub address: u8,
    pub vid: u16,
    pub pid: u16,
    pub bcd_device: u16,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    /// Why the strings could not be read (e.g. "permission denied").
    pub open_error: Option<String>,
}

/// Whether a device can serve as a board, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Usability {
    Usable(&'static FtdiPart),
    /// A known part whose product string could not be read; it may be the board.
    Unverified(&'static FtdiPart),
    /// A known VID:PID with another product (another FT2232H board, say).
    OtherProduct(&'static FtdiPart),
    UnknownPart,
}

impl UsbDeviceInfo {
    pub fn usability(&self) -> Usability {
        let Some(part) = part_for(self.vid, self.pid) else {
            return Usability::UnknownPart;
        };
        match (part.product, &self.product) {
            (None, _) => Usability::Usable(part),
            (Some(want), Some(have)) if have == want => Usability::Usable(part),
            (Some(_), Some(_)) => Usability::OtherProduct(part),
            (Some(_), None) => Usability::Unverified(part),
        }
    }

    pub fn chip(&self) -> Option<ChipType> {
        ChipType::from_bcd_device(self.bcd_device, self.serial.is_some())
    }

    /// "bus 1 address 7, 0403:6010 \"Alchitry Cu\" serial FT1234".
    pub fn summary(&self) -> String {
        let mut s = format!(
            "USB {}:{} ({:04x}:{:04x}",
            self.bus, self.address, self.vid, self.pid
        );
        if let Some(p) = &self.product {
            s += &format!(" \"{p}\"");
        }
        if let Some(n) = &self.serial {
            s += &format!(", serial {n}");
        }
        if let Some(e) = &self.open_error {
            s += &format!(", strings unreadable: {e}");
        }
        s + ")"
    }
}

/// Which USB device `--device` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsbSelector {
    /// `usb`: the only board present.
    Any,
    /// `usb:BUS:ADDR`.
    BusAddress(u8, u8),
    /// `usb:SERIAL`.
    Serial(String),
}

impl std::str::FromStr for UsbSelector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = match s.strip_prefix("usb") {
            Some("") => return Ok(UsbSelector::Any),
            Some(r) if r.starts_with(':') => &r[1..],
            _ => {
                return Err(format!(
                    "`{s}` is not a USB device: use `usb`, `usb:BUS:ADDR` or `usb:SERIAL`"
                ))
            }
        };
        if rest.is_empty() {
            return Err(format!(
                "`{s}`: nothing after `usb:`; use `usb:BUS:ADDR` or `usb:SERIAL`"
            ));
        }
        if let Some((b, a)) = rest.split_once(':') {
            let bus = b
                .parse::<u8>()
                .map_err(|_| format!("`{s}`: bus `{b}` is not a number 0-255"))?;
            let addr = a
                .parse::<u8>()
                .map_err(|_| format!("`{s}`: address `{a}` is not a number 0-255"))?;
            return Ok(UsbSelector::BusAddress(bus, addr));
        }
        Ok(UsbSelector::Serial(rest.to_string()))
    }
}

impl fmt::Display for UsbSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsbSelector::Any => f.write_str("usb"),
            UsbSelector::BusAddress(b, a) => write!(f, "usb:{b}:{a}"),
            UsbSelector::Serial(s) => write!(f, "usb:{s}"),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("no board found: looked for {wanted}; found {}", found_list(.found))]
    NoBoard { wanted: String, found: Vec<String> },
    #[error("several boards found; choose one with --device usb:BUS:ADDR or --device usb:SERIAL:\n  {}", .candidates.join("\n  "))]
    Ambiguous { candidates: Vec<String> },
    #[error("{selector}: no USB device there; found {}", found_list(.found))]
    NotFound {
        selector: String,
        found: Vec<String>,
    },
    #[error(
        "{selector} is {device}, which is not an FTDI part this tool drives (it knows {known})"
    )]
    NotAPart {
        selector: String,
        device: String,
        known: String,
    },
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "no FTDI devices at all (is the board plugged in?)".to_string()
    } else {
        format!("only {}", found.join("; "))
    }
}

/// "0403:6010 \"Alchitry Cu\" or 0403:6001 (FT232 USB UART)".
pub fn wanted_parts() -> String {
    PARTS
        .iter()
        .map(|p| match p.product {
            Some(prod) => format!("{:04x}:{:04x} product \"{prod}\"", p.vid, p.pid),
            None => format!("{:04x}:{:04x} ({})", p.vid, p.pid, p.name),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Picks the device `selector` names among `devices` (all USB devices enumerated).
/// A bare `usb` takes the one usable board (a known part whose product string matches,
/// or could not be read); an explicit bus:address or serial number may also name a
/// known part with another product string, on the user's word.
pub fn select_device<'a>(
    devices: &'a [UsbDeviceInfo],
    selector: &UsbSelector,
) -> Result<&'a UsbDeviceInfo, SelectError> {
    let ftdi_found = || {
        devices
            .iter()
            .filter(|d| d.vid == FTDI_VID || part_for(d.vid, d.pid).is_some())
            .map(|d| d.summary())
            .collect()
    };
    let chosen = match selector {
        UsbSelector::Any => {
            let usable: Vec<&UsbDeviceInfo> = devices
                .iter()
                .filter(|d| {
                    matches!(
                        d.usability(),
                        Usability::Usable(_) | Usability::Unverified(_)
                    )
                })
                .collect();
            // Prefer the better part: an Alchitry Cu beside an FT232 cable is the board.
            let best_rank = usable.iter().filter_map(|d| rank(d)).min();
            let best: Vec<&UsbDeviceInfo> = usable
                .into_iter()
                .filter(|d| rank(d) == best_rank)
                .collect();
            match best.as_slice() {
                [] => {
                    return Err(SelectError::NoBoard {
                        wanted: wanted_parts(),
                        found: ftdi_found(),
                    })
                }
                [one] => *one,
                many => {
                    return Err(SelectError::Ambiguous {
                        candidates: many.iter().map(|d| d.summary()).collect(),
                    })
                }
            }
        }
        UsbSelector::BusAddress(bus, addr) => devices
            .iter()
            .find(|d| d.bus == *bus && d.address == *addr)
            .ok_or_else(|| SelectError::NotFound {
                selector: selector.to_string(),
                found: ftdi_found(),
            })?,
        UsbSelector::Serial(serial) => {
            let matching: Vec<&UsbDeviceInfo> = devices
                .iter()
                .filter(|d| d.serial.as_deref() == Some(serial))
                .collect();
            match matching.as_slice() {
                [] => {
                    return Err(SelectError::NotFound {
                        selector: selector.to_string(),
                        found: ftdi_found(),
                    })
                }
                [one] => *one,
                many => {
                    return Err(SelectError::Ambiguous {
                        candidates: many.iter().map(|d| d.summary()).collect(),
                    })
                }
            }
        }
    };
    if part_for(chosen.vid, chosen.pid).is_none() {
        return Err(SelectError::NotAPart {
            selector: selector.to_string(),
            device: chosen.summary(),
            known: wanted_parts(),
        });
    }
    Ok(chosen)
}

fn rank(d: &UsbDeviceInfo) -> Option<usize> {
    PARTS.iter().position(|p| p.vid == d.vid && p.pid == d.pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values worked by hand from libftdi's ftdi_to_clkbits() /
    // ftdi_convert_baudrate() (and cross-checked with pyftdi's _convert_baudrate()):
    //
    // FT2232H, channel B (index 2), 12 MHz base (120 MHz / 10), hispeed bit 0x20000:
    //   4 000 000: 16·12e6/4e6 = 48 → 24 eighths → 3, frac 0 → 0x20003; value 0x0003,
    //              index (0x20003 >> 8 & 0xff00) | 2 = 0x0202; baud 192e6/24/2 = 4e6
    //   3 000 000: 64 → 32 → 4 → value 0x0004, index 0x0202
    //   2 000 000: 96 → 48 → 6 → value 0x0006, index 0x0202
    //     115 200: 1666 (even) → 833 eighths = 104 + 1/8, frac code 3 → 0xc068;
    //              baud 192e6/833 = 230492 (even) /2 = 115246; index 0x0202
    //       9 600: 20000 → 10000 = 1250 → 0x04e2; baud 9600; index 0x0202
    //         300: 300·10 ≤ 120e6/0x3fff, so 48 MHz / 16: 16·3e6/300 = 160000 → 80000
    //              eighths = 10000 → value 0x2710, index 0x0002 (no hispeed bit)
    // FT232BM (3 MHz base, single channel: wIndex = divisor >> 16):
    //   4 000 000: ≥ 3 MHz → divisor 0 → 3 000 000, 25 % off → refused
    //   3 000 000: divisor 0, value 0, index 0
    //   2 000 000: ≥ 48e6/24 → divisor 1 (the /1.5 code), value 1, index 0
    //     115 200: 416 → 208 eighths = 26 → 0x001a; baud 48e6/208 = 230769 (odd) → 115385
    //       9 600: 5000 → 2500 eighths = 312 + 4/8, frac code 1 → 0x4138; baud 9600
    #[test]
    fn h_type_divisors_match_libftdi() {
        let cases = [
            (4_000_000, 0x0003, 0x0202, 4_000_000),
            (3_000_000, 0x0004, 0x0202, 3_000_000),
            (2_000_000, 0x0006, 0x0202, 2_000_000),
            (115_200, 0xc068, 0x0202, 115_246),
            (9_600, 0x04e2, 0x0202, 9_600),
            (300, 0x2710, 0x0002, 300),
        ];
        for (baud, value, index, actual) in cases {
            assert_eq!(
                baud_setting(ChipType::Ft2232H, baud, 2),
                Ok(BaudSetting {
                    value,
                    index,
                    actual
                }),
                "FT2232H at {baud}"
            );
        }
        // Channel A carries port index 1 in the same low byte.
        assert_eq!(
            baud_setting(ChipType::Ft2232H, 4_000_000, 1).unwrap().index,
            0x0201
        );
    }

    #[test]
    fn bm_divisors_match_libftdi() {
        let cases = [
            (3_000_000, 0x0000, 0x0000, 3_000_000),
            (2_000_000, 0x0001, 0x0000, 2_000_000),
            (115_200, 0x001a, 0x0000, 115_385),
            (9_600, 0x4138, 0x0000, 9_600),
        ];
        for (baud, value, index, actual) in cases {
            assert_eq!(
                baud_setting(ChipType::Bm, baud, 1),
                Ok(BaudSetting {
                    value,
                    index,
                    actual
                }),
                "BM at {baud}"
            );
        }
        assert_eq!(
            baud_setting(ChipType::Bm, 4_000_000, 1),
            Err(BaudError::OutOfTolerance {
                chip: "FT232BM",
                requested: 4_000_000,
                actual: 3_000_000
            })
        );
        assert_eq!(baud_setting(ChipType::Bm, 0, 1), Err(BaudError::Zero));
    }

    #[test]
    fn divisor_bit_16_goes_to_windex() {
        // Sub-divisor 3/8 has code 4, whose top bit is divisor bit 16.
        // BM at 113 744: 48e6/113744 = 421 sixteenths (odd) → 211 eighths = 26 + 3/8 →
        // 26 | 4 << 14 = 0x1001a: value 0x001a, wIndex 0x0001; 48e6/211 = 227488 → 113744.
        assert_eq!(
            baud_setting(ChipType::Bm, 113_744, 1),
            Ok(BaudSetting {
                value: 0x001a,
                index: 0x0001,
                actual: 113_744
            })
        );
        // FT2232H at 454 976: 192e6/454976 = 421 → 211 eighths again, | 0x20000 →
        // 0x3001a: value 0x001a, wIndex (0x300 & 0xff00) | 2 = 0x0302.
        assert_eq!(
            baud_setting(ChipType::Ft2232H, 454_976, 2),
            Ok(BaudSetting {
                value: 0x001a,
                index: 0x0302,
                actual: 454_976
            })
        );
        // Below the slowest divisor (3 MHz / 16383.875 ≈ 183 baud) is refused.
        assert!(matches!(
            baud_setting(ChipType::Bm, 23, 1),
            Err(BaudError::OutOfTolerance { actual: 183, .. })
        ));
    }

    #[test]
    fn chip_types_from_bcd_device() {
        assert_eq!(
            ChipType::from_bcd_device(0x0700, true),
            Some(ChipType::Ft2232H)
        );
        assert_eq!(ChipType::from_bcd_device(0x0400, true), Some(ChipType::Bm));
        assert_eq!(ChipType::from_bcd_device(0x0200, false), Some(ChipType::Bm));
        assert_eq!(ChipType::from_bcd_device(0x0200, true), Some(ChipType::Am));
        assert_eq!(ChipType::from_bcd_device(0x0123, true), None);
        assert!(ChipType::Ft2232H.is_h_type() && !ChipType::Bm.is_h_type());
    }

    /// Builds one transfer of packets from (status byte 2, payload) pairs.
    fn transfer(max_packet: usize, packets: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut raw = Vec::new();
        for (status, payload) in packets {
            assert!(payload.len() <= max_packet - 2);
            raw.extend_from_slice(&[0x31, *status]);
            raw.extend_from_slice(payload);
        }
        raw
    }

    #[test]
    fn status_bytes_are_stripped_per_packet() {
        for max_packet in [64usize, 512] {
            let full = max_packet - 2;
            let data: Vec<u8> = (0..(2 * full + 17)).map(|i| (i * 7 + 3) as u8).collect();
            let raw = transfer(
                max_packet,
                &[
                    (0x60, data[..full].to_vec()),
                    (0x60, data[full..2 * full].to_vec()),
                    (0x60, data[2 * full..].to_vec()),
                ],
            );
            assert_eq!(raw.len(), 2 * max_packet + 19);
            let mut out = vec![0xaa];
            assert_eq!(
                strip_modem_status(&raw, max_packet, &mut out),
                Ok(data.len())
            );
            assert_eq!(out[0], 0xaa, "existing bytes are kept");
            assert_eq!(&out[1..], &data[..], "max packet {max_packet}");
            // Status bytes that look like data (0x31 0x60 …) never leak through.
            assert!(!out.windows(2).any(|w| w == [0x31, 0x60]));
        }
    }

    #[test]
    fn status_only_packets_carry_no_data() {
        let mut out = Vec::new();
        assert_eq!(strip_modem_status(&[0x31, 0x60], 512, &mut out), Ok(0));
        // A status-only packet between two data packets: packet boundaries are the
        // max packet size, and a short packet ends the transfer, so a status-only one
        // can only come last; two of them back to back are two transfers' worth.
        let raw = transfer(64, &[(0x60, vec![1; 62]), (0x60, vec![])]);
        assert_eq!(strip_modem_status(&raw, 64, &mut out), Ok(62));
        assert_eq!(out, vec![1; 62]);
        assert_eq!(strip_modem_status(&[], 64, &mut out), Ok(0));
    }

    #[test]
    fn line_errors_are_reported_and_append_nothing() {
        for (bit, word) in [
            (line_status::OVERRUN, "overrun"),
            (line_status::PARITY, "parity"),
            (line_status::FRAMING, "framing"),
            (line_status::FIFO_ERROR, "FIFO"),
        ] {
            let raw = transfer(64, &[(0x60, vec![5; 62]), (0x60 | bit, vec![6; 3])]);
            let mut out = vec![9];
            let err = strip_modem_status(&raw, 64, &mut out).unwrap_err();
            assert_eq!(
                err,
                LineError::Receive {
                    status: 0x60 | bit,
                    packet: 1
                }
            );
            assert!(err.to_string().contains(word), "{err}");
            assert_eq!(out, vec![9]);
        }
        // Data-ready, break-free idle bits are not errors.
        let mut out = Vec::new();
        let raw = transfer(
            64,
            &[(
                line_status::DATA_READY | line_status::TX_EMPTY | line_status::TX_HOLDING_EMPTY,
                vec![7],
            )],
        );
        assert_eq!(strip_modem_status(&raw, 64, &mut out), Ok(1));
        // A 1-byte packet is malformed.
        let mut raw = transfer(64, &[(0x60, vec![1; 62])]);
        raw.push(0x31);
        assert_eq!(
            strip_modem_status(&raw, 64, &mut out),
            Err(LineError::ShortPacket { packet: 1, len: 1 })
        );
    }

    fn dev(
        bus: u8,
        address: u8,
        pid: u16,
        product: Option<&str>,
        serial: Option<&str>,
    ) -> UsbDeviceInfo {
        UsbDeviceInfo {
            bus,
            address,
            vid: FTDI_VID,
            pid,
            bcd_device: if pid == 0x6010 { 0x0700 } else { 0x0400 },
            product: product.map(str::to_string),
            serial: serial.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn selectors_parse() {
        assert_eq!("usb".parse(), Ok(UsbSelector::Any));
        assert_eq!("usb:1:7".parse(), Ok(UsbSelector::BusAddress(1, 7)));
        assert_eq!(
            "usb:FT5XYZ".parse(),
            Ok(UsbSelector::Serial("FT5XYZ".into()))
        );
        assert!("usb:".parse::<UsbSelector>().is_err());
        assert!("usb:1:300"
            .parse::<UsbSelector>()
            .unwrap_err()
            .contains("300"));
        assert!("sim".parse::<UsbSelector>().is_err());
        assert!("usbx".parse::<UsbSelector>().is_err());
        assert_eq!(UsbSelector::BusAddress(3, 4).to_string(), "usb:3:4");
    }

    #[test]
    fn selection_prefers_the_alchitry_and_explains_failures() {
        let cu = dev(1, 7, 0x6010, Some("Alchitry Cu"), Some("FT1"));
        let cable = dev(1, 9, 0x6001, Some("FT232R USB UART"), Some("A9"));
        let other_2232 = dev(2, 3, 0x6010, Some("iCEBreaker"), Some("IB"));
        let mouse = UsbDeviceInfo {
            bus: 1,
            address: 2,
            vid: 0x046d,
            pid: 0xc077,
            ..Default::default()
        };

        let all = vec![mouse.clone(), cable.clone(), other_2232.clone(), cu.clone()];
        assert_eq!(select_device(&all, &UsbSelector::Any), Ok(&cu));
        // Without the Cu the FT232 is the board.
        let no_cu = vec![mouse.clone(), cable.clone(), other_2232.clone()];
        assert_eq!(select_device(&no_cu, &UsbSelector::Any), Ok(&cable));
        // Only a foreign FT2232H and a mouse: nothing, and the message says what was found.
        let err =
            select_device(&[mouse.clone(), other_2232.clone()], &UsbSelector::Any).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("0403:6010") && msg.contains("Alchitry Cu") && msg.contains("iCEBreaker"),
            "{msg}"
        );
        assert!(
            !msg.contains("046d"),
            "non-FTDI devices are not listed: {msg}"
        );
        let err = select_device(std::slice::from_ref(&mouse), &UsbSelector::Any)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no FTDI devices"), "{err}");
        // …but naming it explicitly is the user's call.
        assert_eq!(
            select_device(&no_cu, &UsbSelector::BusAddress(2, 3)),
            Ok(&other_2232)
        );
        assert_eq!(
            select_device(&all, &UsbSelector::Serial("A9".into())),
            Ok(&cable)
        );
        // Two Cus: must choose.
        let cu2 = dev(3, 1, 0x6010, Some("Alchitry Cu"), Some("FT2"));
        let two = vec![cu.clone(), cu2.clone()];
        let err = select_device(&two, &UsbSelector::Any).unwrap_err();
        assert!(matches!(err, SelectError::Ambiguous { ref candidates } if candidates.len() == 2));
        assert!(err.to_string().contains("usb:BUS:ADDR"));
        assert_eq!(
            select_device(&two, &UsbSelector::Serial("FT2".into())),
            Ok(&cu2)
        );
        assert_eq!(select_device(&two, &UsbSelector::BusAddress(1, 7)), Ok(&cu));
        // Missing and foreign selections.
        assert!(matches!(
            select_device(&two, &UsbSelector::BusAddress(9, 9)),
            Err(SelectError::NotFound { .. })
        ));
        assert!(matches!(
            select_device(&two, &UsbSelector::Serial("nope".into())),
            Err(SelectError::NotFound { .. })
        ));
        assert!(matches!(
            select_device(&all, &UsbSelector::BusAddress(1, 2)),
            Err(SelectError::NotAPart { .. })
        ));
        // A Cu whose strings could not be read (no permission) is still a candidate, so
        // opening it reports the permission problem rather than "no board".
        let locked = UsbDeviceInfo {
            open_error: Some("permission denied".into()),
            ..dev(1, 4, 0x6010, None, None)
        };
        assert_eq!(
            select_device(std::slice::from_ref(&locked), &UsbSelector::Any),
            Ok(&locked)
        );
        assert_eq!(locked.usability(), Usability::Unverified(&PARTS[0]));
    }
}
