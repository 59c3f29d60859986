//! Live frames: the packet I/O `portshare wire` stands on, below any engine.
//!
//! A [`Port`] is one side of the unit: an existing interface through an AF_PACKET socket
//! ([`packet`]) or a TAP device portshare creates ([`tap`]). [`offload`] deals with what
//! a kernel hands over unfinished (checksum offload, GSO superframes). Nothing here knows
//! about tables or engines.

pub mod offload;
pub mod packet;
pub mod tap;

use std::io;

/// What the kernel said about a frame it handed over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStatus {
    /// `TP_STATUS_CSUMNOTREADY`: the L4 checksum field holds only the pseudo-header sum
    /// (the sending side left checksum offload on).
    pub csum_not_ready: bool,
    /// A VLAN tag the kernel had taken off (TPID, TCI); it was put back into the frame.
    pub vlan: Option<(u16, u16)>,
    /// The frame was longer than the read buffer (only a GSO superframe can be).
    pub truncated: bool,
    /// The frame's length as the kernel had it.
    pub wire_len: usize,
    /// A GSO superframe (GRO on the interface coalesced a burst, or the sender's TSO/GSO).
    pub gso: Option<Gso>,
}

/// How a GSO superframe is to be cut into frames (`virtio_net_hdr`'s fields): what the
/// kernel said when it handed one over, and what it is told when one is sent whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// `VIRTIO_NET_HDR_GSO_*` (TCPV4 1, TCPV6 4, UDP_L4 5; | 0x80 ECN).
    pub gso_type: u8,
    /// Payload bytes per frame.
    pub gso_size: u16,
    /// Length of the headers before the payload.
    pub hdr_len: u16,
    /// Where the unfinished L4 checksum starts summing, and its field's offset from there
    /// (`VIRTIO_NET_HDR_F_NEEDS_CSUM`); `None` when the kernel did not say.
    pub csum: Option<(u16, u16)>,
}

/// One frame read: `len` bytes at the start of the caller's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub len: usize,
    pub status: RxStatus,
}

/// How a port is named on the command line: an interface, or `tap:NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSpec {
    Interface(String),
    Tap(String),
}

impl std::str::FromStr for PortSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (tap, name) = match s.strip_prefix("tap:") {
            Some(n) => (true, n),
            None => (false, s),
        };
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', ':']) {
            return Err(format!(
                "`{s}`: an interface name (1-15 bytes, no `/`, `:` or space), or `tap:NAME` for a TAP device portshare creates"
            ));
        }
        Ok(if tap { PortSpec::Tap(name.into()) } else { PortSpec::Interface(name.into()) })
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSpec::Interface(n) => f.write_str(n),
            PortSpec::Tap(n) => write!(f, "tap:{n}"),
        }
    }
}

/// Why a frame could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// The link is down (ENETDOWN, a TAP's EIO): count it and carry on.
    LinkDown,
    /// Longer than the interface takes (EMSGSIZE).
    TooLong,
    /// The interface is gone: stop.
    Gone,
    /// The kernel had no buffer (ENOBUFS) or refused it otherwise.
    Refused,
}

pub enum Port {
    Packet(packet::PacketPort),
    Tap(tap::TapPort),
}

impl Port {
    pub fn open(spec: &PortSpec) -> io::Result<Port> {
        Ok(match spec {
            PortSpec::Interface(n) => Port::Packet(packet::PacketPort::open(n)?),
            PortSpec::Tap(n) => Port::Tap(tap::TapPort::create(n)?),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Port::Packet(p) => p.name(),
            Port::Tap(t) => t.name(),
        }
    }

    /// A buffer large enough for any frame `recv` returns.
    pub fn buffer() -> Vec<u8> {
        vec![0; packet::PacketPort::buffer_len() + 4]
    }

    /// The longest frame that is not a GSO superframe: MTU + Ethernet header + two VLAN
    /// tags. `None` for a TAP (opened without offloads, it never hands one over).
    pub fn longest_frame(&self) -> io::Result<Option<usize>> {
        match self {
            Port::Packet(p) => Ok(Some(p.mtu()? + 14 + 8)),
            Port::Tap(_) => Ok(None),
        }
    }

    /// The descriptor to poll for frames to read.
    pub fn raw_fd(&self) -> i32 {
        match self {
            Port::Packet(p) => p.raw_fd(),
            Port::Tap(t) => t.raw_fd(),
        }
    }

    /// One frame into `buf` (from [`Port::buffer`]), or `None` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self {
            Port::Packet(p) => p.recv(buf),
            Port::Tap(t) => t.recv(buf),
        }
    }

    /// Sends one frame; `gso` (only where [`Port::takes_superframes`]) sends a superframe
    /// whole, for the kernel to cut up.
    pub fn send(&self, frame: &[u8], gso: Option<&Gso>) -> Result<(), SendFailure> {
        let r = match self {
            Port::Packet(p) => p.send(frame, gso),
            Port::Tap(_) if gso.is_some() => return Err(SendFailure::TooLong),
            Port::Tap(t) => t.send(frame),
        };
        r.map_err(|e| match e.raw_os_error() {
            Some(libc::ENETDOWN) | Some(libc::EIO) => {
                if self.exists() {
                    SendFailure::LinkDown
                } else {
                    SendFailure::Gone
                }
            }
            Some(libc::ENXIO) | Some(libc::ENODEV) | Some(libc::EBADFD) => SendFailure::Gone,
            Some(libc::EMSGSIZE) => SendFailure::TooLong,
            _ => SendFailure::Refused,
        })
    }

    /// Whether a GSO superframe can be sent whole (a TAP opened without offloads cannot).
    pub fn takes_superframes(&self) -> bool {
        matches!(self, Port::Packet(_))
    }

    /// Whether the interface is still there. A TAP lives as long as portshare holds it.
    pub fn exists(&self) -> bool {
        match self {
            Port::Packet(p) => p.exists(),
            Port::Tap(_) => true,
        }
    }

    /// Whether a read error means the link went down for a while (carry on) rather than
    /// that the interface is gone or the descriptor broke (stop).
    pub fn recv_error_is_transient(&self, e: &io::Error) -> bool {
        match e.raw_os_error() {
            Some(libc::EINTR) | Some(libc::EAGAIN) => true,
            // The kernel reports a bound interface going down (and coming back) once as
            // ENETDOWN on the socket; gone is told apart by its index.
            Some(libc::ENETDOWN) => self.exists(),
            _ => false,
        }
    }

    /// Whether a read error means the kernel dropped a GSO superframe it could not describe
    /// in a `virtio_net_hdr` (EINVAL from a packet socket: a tunnel or other GSO kind).
    pub fn recv_error_is_dropped_superframe(&self, e: &io::Error) -> bool {
        matches!(self, Port::Packet(_)) && e.raw_os_error() == Some(libc::EINVAL)
    }

    /// Frames the kernel dropped before portshare read them, since the last call.
    pub fn kernel_drops(&self) -> u64 {
        match self {
            Port::Packet(p) => p.kernel_drops().unwrap_or(0),
            // A TAP's queue drops show up as the interface's tx_dropped, not here.
            Port::Tap(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse() {
        assert_eq!("veth0".parse::<PortSpec>(), Ok(PortSpec::Interface("veth0".into())));
        assert_eq!("tap:tps".parse::<PortSpec>(), Ok(PortSpec::Tap("tps".into())));
        assert_eq!("tap:tps".parse::<PortSpec>().unwrap().to_string(), "tap:tps");
        for bad in ["", "tap:", "a/b", "sixteen-bytes-xx", "usb:1"] {
            let e = bad.parse::<PortSpec>().unwrap_err();
            assert!(e.contains("tap:NAME"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_missing_interface_is_named() {
        let e = Port::open(&PortSpec::Interface("ps-nosuch0".into())).err().expect("no such interface");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no interface `ps-nosuch0`"), "{e}");
    }
}
