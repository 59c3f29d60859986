//! A TAP device portshare creates (`tap:NAME`) and removes again when it closes it.
//!
//! Opened without packet information and without `TUNSETOFFLOAD`, so every frame the
//! kernel hands over carries a finished checksum and is at most MTU + header long, and
//! every frame written is checked by the receiving kernel like one from a wire. The
//! descriptor keeps working after the device is moved into another network namespace;
//! writing while the device is down fails with EIO.

use std::io;
use std::os::fd::AsRawFd;

use super::{Received, RxStatus};

pub struct TapPort {
    iface: tun_tap::Iface,
}

impl TapPort {
    pub fn create(name: &str) -> io::Result<TapPort> {
        let iface = tun_tap::Iface::without_packet_info(name, tun_tap::Mode::Tap).map_err(|e| {
            let why = match e.raw_os_error() {
                Some(libc::EPERM) => "creating a TAP device needs CAP_NET_ADMIN: run as root".to_string(),
                Some(libc::ENOENT) | Some(libc::ENODEV) => {
                    "/dev/net/tun is missing: load the `tun` kernel module (`modprobe tun`)".to_string()
                }
                Some(libc::EBUSY) => format!("an interface `{name}` already exists (see `ip link`)"),
                _ => e.to_string(),
            };
            io::Error::new(e.kind(), format!("TAP device `{name}`: {why}"))
        })?;
        if iface.name() != name {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TAP device `{name}`: the kernel named it `{}` (names are at most 15 bytes)", iface.name()),
            ));
        }
        // Reads must not block: the loop drains a port until nothing is waiting.
        // SAFETY: fcntl on a descriptor this TapPort owns.
        let fd = iface.as_raw_fd();
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(TapPort { iface })
    }

    pub fn name(&self) -> &str {
        self.iface.name()
    }

    pub fn raw_fd(&self) -> i32 {
        self.iface.as_raw_fd()
    }

    /// One frame, or `None` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self.iface.recv(buf) {
            Ok(len) => Ok(Some(Received { len, status: RxStatus { wire_len: len, ..Default::default() } })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one frame; a full queue (the descriptor does not block) is waited out.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            match self.iface.send(frame) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut pfd = libc::pollfd { fd: self.raw_fd(), events: libc::POLLOUT, revents: 0 };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, 100) };
                }
                r => return r.map(drop),
            }
        }
    }
}
