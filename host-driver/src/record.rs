//! The hardware's view of one table entry: a 21-byte record. This layout is the one
//! the control protocol carries and the one the CAM's management port takes (packed
//! big-endian into a `Bits<168>`: record byte 0 in bits 167..160).
//!
//! | byte  | field |
//! |-------|-------|
//! | 0     | flags: bit0 valid, bit1 tcp, bit2 udp, bit3 ipv4 |
//! | 1..17 | address, network order; IPv4 as `::ffff:a.b.c.d` |
//! | 17..19| shared_port, big-endian |
//! | 19..21| assigned_port, big-endian |

use std::net::{IpAddr, Ipv6Addr};

pub use portshare_spec::record::{
    ADDRESS_AT, ADDRESS_LEN, ASSIGNED_PORT_AT, FLAGS_AT, FLAG_IPV4, FLAG_TCP, FLAG_UDP, FLAG_VALID, RECORD_LEN,
    SHARED_PORT_AT,
};

/// One CAM slot as the hardware holds it. An empty slot is `Slot::default()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Slot {
    pub valid: bool,
    pub tcp: bool,
    pub udp: bool,
    /// The address is IPv4 (stored as `::ffff:a.b.c.d`; only bytes 12..16 are matched).
    pub ipv4: bool,
    pub address: [u8; 16],
    pub shared_port: u16,
    pub assigned_port: u16,
}

impl Slot {
    /// A valid slot for `address`; `tcp`/`udp` say which protocols it applies to.
    pub fn new(address: IpAddr, tcp: bool, udp: bool, shared_port: u16, assigned_port: u16) -> Slot {
        let (ipv4, address) = match address {
            IpAddr::V4(a) => (true, a.to_ipv6_mapped().octets()),
            IpAddr::V6(a) => (false, a.octets()),
        };
        Slot { valid: true, tcp, udp, ipv4, address, shared_port, assigned_port }
    }

    /// The address as it would be written in a table file.
    pub fn ip(&self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.address);
        match (self.ipv4, v6.to_ipv4_mapped()) {
            (true, Some(v4)) => IpAddr::V4(v4),
            _ => IpAddr::V6(v6),
        }
    }

    pub fn to_record(&self) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[FLAGS_AT] = (self.valid as u8 * FLAG_VALID)
            | (self.tcp as u8 * FLAG_TCP)
            | (self.udp as u8 * FLAG_UDP)
            | (self.ipv4 as u8 * FLAG_IPV4);
        r[ADDRESS_AT..ADDRESS_AT + ADDRESS_LEN].copy_from_slice(&self.address);
        r[SHARED_PORT_AT..SHARED_PORT_AT + 2].copy_from_slice(&self.shared_port.to_be_bytes());
        r[ASSIGNED_PORT_AT..ASSIGNED_PORT_AT + 2].copy_from_slice(&self.assigned_port.to_be_bytes());
        r
    }

    /// Decodes a record; bits 4..8 of the flags byte are reserved and ignored.
    pub fn from_record(r: &[u8; RECORD_LEN]) -> Slot {
        let mut address = [0u8; ADDRESS_LEN];
        address.copy_from_slice(&r[ADDRESS_AT..ADDRESS_AT + ADDRESS_LEN]);
        let flags = r[FLAGS_AT];
        let port = |at: usize| u16::from_be_bytes([r[at], r[at + 1]]);
        Slot {
            valid: flags & FLAG_VALID != 0,
            tcp: flags & FLAG_TCP != 0,
            udp: flags & FLAG_UDP != 0,
            ipv4: flags & FLAG_IPV4 != 0,
            address,
            shared_port: port(SHARED_PORT_AT),
            assigned_port: port(ASSIGNED_PORT_AT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_has_documented_layout() {
        let s = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
        let r = s.to_record();
        assert_eq!(r[0], FLAG_VALID | FLAG_TCP | FLAG_IPV4);
        assert_eq!(&r[1..17], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10]);
        assert_eq!(&r[17..21], &[0x01, 0xbb, 0x20, 0xfb]);
        assert_eq!(Slot::from_record(&r), s);
        assert_eq!(s.ip().to_string(), "192.0.2.10");
        let v6 = Slot::new("2001:db8::1".parse().unwrap(), true, true, 53, 5353);
        assert_eq!(Slot::from_record(&v6.to_record()), v6);
        assert_eq!(v6.ip().to_string(), "2001:db8::1");
    }
}
