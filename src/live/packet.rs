//! An existing interface through an AF_PACKET socket (a real NIC or a veth end).
//!
//! The socket is bound to one interface for every EtherType, asks for `PACKET_AUXDATA`
//! (the kernel's per-frame status: was the checksum left unfinished, was a VLAN tag
//! taken off) and `PACKET_IGNORE_OUTGOING` (an `ETH_P_ALL` socket would otherwise read
//! back its own transmissions). The kernel strips a VLAN tag into the auxdata on
//! receive; it is put back, so the frame is passed on as it was on the wire.
//!
//! `PACKET_VNET_HDR` puts a `virtio_net_hdr` before every frame both ways: on receive it
//! says whether a frame is a GSO superframe (what GRO on the interface makes of a burst
//! of MTU-sized frames) and where its unfinished checksum goes; on send it lets such a
//! superframe go out whole, the kernel cutting it into MTU-sized frames (and finishing
//! each one's checksum) on the way out — one system call for up to 45 frames. Those go
//! through a second, send-only socket: the first bypasses the queueing discipline, whose
//! direct path cannot cut a frame up.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{Gso, Received, RxStatus};

/// The frame's length as the kernel had it: 64 KiB covers GSO superframes, so they are
/// seen (and refused) whole instead of arriving cut short.
const READ_BUFFER: usize = 65_536 + 8;

/// Socket buffer asked for on each side (SO_RCVBUFFORCE, root only; plain SO_RCVBUF as
/// the fallback): the slow engines leave frames queued while one is simulated.
const SOCKET_BUFFER: libc::c_int = 8 << 20;

/// `struct virtio_net_hdr` (linux/virtio_net.h), in the host's byte order (what packet
/// sockets use: legacy virtio on a little-endian host).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct VnetHdr {
    flags: u8,
    gso_type: u8,
    hdr_len: u16,
    gso_size: u16,
    csum_start: u16,
    csum_offset: u16,
}
const VNET_HDR_LEN: usize = size_of::<VnetHdr>();
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;

pub struct PacketPort {
    fd: OwnedFd,
    /// Sends superframes only (see [`PacketPort::open`]).
    gso_fd: OwnedFd,
    name: String,
    ifindex: i32,
}

fn set_int(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: v outlives the call and its size is passed.
    cvt(unsafe { libc::setsockopt(fd.as_raw_fd(), level, opt, &v as *const _ as *const libc::c_void, size_of::<libc::c_int>() as u32) })
        .map(drop)
}

/// A packet socket with a `virtio_net_hdr` before every frame, big buffers and the
/// `SOL_PACKET` options given, bound to interface `ifindex` for `protocol` (0: it
/// receives nothing). Every option is set before the bind, so no frame is read without.
fn bound_socket(name: &str, ifindex: i32, protocol: u16, options: &[(libc::c_int, libc::c_int, &str)]) -> io::Result<OwnedFd> {
    // Protocol 0 at first: the socket sees nothing until it is bound to the interface.
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("opening a packet socket on `{name}` needs CAP_NET_RAW: run as root (or `setcap cap_net_raw,cap_net_admin+ep` on the binary)"),
            ));
        }
        return Err(os_err(format!("packet socket for `{name}`"))(e));
    }
    // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int(&fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1).map_err(os_err("PACKET_VNET_HDR".into()))?;
    for &(opt, v, what) in options {
        set_int(&fd, libc::SOL_PACKET, opt, v).map_err(os_err(what.into()))?;
    }
    if set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUFFER).is_err() {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, SOCKET_BUFFER)?;
    }
    if set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUFFER).is_err() {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SOCKET_BUFFER)?;
    }
    // SAFETY: sockaddr_ll is plain old data.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: sll outlives the call and its size is passed.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), &sll as *const _ as *const libc::sockaddr, size_of::<libc::sockaddr_ll>() as u32) })
        .map_err(os_err(format!("binding a packet socket to `{name}`")))?;
    Ok(fd)
}

fn os_err(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { zeroed() };
    if name.is_empty() || name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{name}` is not an interface name")));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

/// The interface's index, or `None` when no interface has that name (here, in this
/// network namespace).
pub fn ifindex(name: &str) -> Option<i32> {
    let c = CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i as i32)
}

impl PacketPort {
    pub fn open(name: &str) -> io::Result<PacketPort> {
        let Some(ifindex) = ifindex(name) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface `{name}` in this network namespace (see `ip link`; for a TAP device portshare creates, write `tap:{name}`)"),
            ));
        };
        // Frames written go straight to the driver: the unit keeps its own order and pace
        // (and a link without carrier refuses them instead of losing them silently).
        let fd = bound_socket(
            name,
            ifindex,
            libc::ETH_P_ALL as u16,
            &[
                (libc::PACKET_AUXDATA, 1, "PACKET_AUXDATA"),
                (libc::PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING (Linux 4.20 or later)"),
                (libc::PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS"),
            ],
        )?;
        // Superframes go out through a second socket that receives nothing (protocol 0)
        // and takes the queueing path: the direct one drops a frame that needs cutting up
        // in software (__dev_direct_xmit) instead of cutting it.
        let gso_fd = bound_socket(name, ifindex, 0, &[])?;
        Ok(PacketPort { fd, gso_fd, name: name.to_string(), ifindex })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn buffer_len() -> usize {
        READ_BUFFER
    }

    /// The interface's MTU now.
    pub fn mtu(&self) -> io::Result<usize> {
        let mut req = ifreq(&self.name)?;
        // SAFETY: req is a valid ifreq naming the interface.
        cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFMTU, &mut req) })
            .map_err(os_err(format!("reading the MTU of `{}`", self.name)))?;
        // SAFETY: SIOCGIFMTU filled in the mtu member.
        Ok(unsafe { req.ifr_ifru.ifru_mtu } as usize)
    }

    /// Is the link up with carrier (IFF_RUNNING)?
    fn running(&self) -> io::Result<bool> {
        let mut req = ifreq(&self.name)?;
        // SAFETY: req is a valid ifreq naming the interface.
        cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
        // SAFETY: SIOCGIFFLAGS filled in the flags member.
        Ok(unsafe { req.ifr_ifru.ifru_flags } as libc::c_int & libc::IFF_RUNNING != 0)
    }

    /// Is the interface still there (same name, same index)?
    pub fn exists(&self) -> bool {
        ifindex(&self.name) == Some(self.ifindex)
    }

    /// Reads one frame into `buf` (at least [`PacketPort::buffer_len`] long, with 4 bytes
    /// of room for a VLAN tag put back); `None` when none is waiting (never blocks).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        assert!(buf.len() >= READ_BUFFER + 4);
        let mut vnet = VnetHdr::default();
        let mut iov = [
            libc::iovec { iov_base: &mut vnet as *mut VnetHdr as *mut libc::c_void, iov_len: VNET_HDR_LEN },
            libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: READ_BUFFER },
        ];
        // Room for one cmsg holding tpacket_auxdata (u64-aligned like cmsghdr).
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain old data.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = 2;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: msg points at live buffers of the given sizes.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
        }
        // MSG_TRUNC: the frame's whole length (after the header), not what was copied.
        let mut len = (n as usize).saturating_sub(VNET_HDR_LEN);
        let mut status = RxStatus::default();
        // SAFETY: walking the control buffer the kernel filled, with the libc macros.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                    let aux = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::tpacket_auxdata);
                    status.csum_not_ready = aux.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0;
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        status.vlan = Some((tpid, aux.tp_vlan_tci));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        status.truncated = len > READ_BUFFER;
        if status.truncated {
            status.wire_len = len;
            len = READ_BUFFER;
        }
        let mut tag = 0;
        if let Some((tpid, tci)) = status.vlan {
            if len >= 12 {
                buf.copy_within(12..len, 16);
                buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                buf[14..16].copy_from_slice(&tci.to_be_bytes());
                len += 4;
                tag = 4;
            }
        }
        if vnet.gso_type != VIRTIO_NET_HDR_GSO_NONE {
            // Offsets count from the frame's start: the tag put back moves them.
            status.gso = Some(Gso {
                gso_type: vnet.gso_type,
                gso_size: vnet.gso_size,
                hdr_len: vnet.hdr_len.saturating_add(tag),
                csum: (vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0)
                    .then(|| (vnet.csum_start.saturating_add(tag), vnet.csum_offset)),
            });
        }
        if !status.truncated {
            status.wire_len = len;
        }
        Ok(Some(Received { len, status }))
    }

    /// Sends one frame out of the interface; with `gso`, a superframe the kernel cuts into
    /// frames of `gso_size` payload bytes, finishing each one's checksum.
    pub fn send(&self, frame: &[u8], gso: Option<&Gso>) -> io::Result<()> {
        let vnet = match gso {
            None => VnetHdr::default(),
            Some(g) => {
                let (csum_start, csum_offset) = g.csum.unwrap_or_default();
                VnetHdr {
                    flags: if g.csum.is_some() { VIRTIO_NET_HDR_F_NEEDS_CSUM } else { 0 },
                    gso_type: g.gso_type,
                    hdr_len: g.hdr_len,
                    gso_size: g.gso_size,
                    csum_start,
                    csum_offset,
                }
            }
        };
        let iov = [
            libc::iovec { iov_base: &vnet as *const VnetHdr as *mut libc::c_void, iov_len: VNET_HDR_LEN },
            libc::iovec { iov_base: frame.as_ptr() as *mut libc::c_void, iov_len: frame.len() },
        ];
        // SAFETY: msghdr is plain old data.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 2;
        // SAFETY: msg points at live buffers of the given sizes; the kernel only reads them.
        let fd = match gso {
            None => &self.fd,
            Some(_) => {
                // The queueing path takes a frame for a link without carrier and loses it
                // silently (veth); say so as the direct path does.
                if !self.running()? {
                    return Err(io::Error::from_raw_os_error(libc::ENETDOWN));
                }
                &self.gso_fd
            }
        };
        let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Frames the kernel dropped because the socket's buffer was full, since the last call
    /// (PACKET_STATISTICS resets on read).
    pub fn kernel_drops(&self) -> io::Result<u64> {
        // SAFETY: tpacket_stats is plain old data.
        let mut st: libc::tpacket_stats = unsafe { zeroed() };
        let mut len = size_of::<libc::tpacket_stats>() as u32;
        // SAFETY: st outlives the call and its size is passed.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut st as *mut _ as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(st.tp_drops as u64)
    }
}
