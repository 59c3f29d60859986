//! `portshare demo`: a whole session against a simulated board — load a table, list
//! it, run a set of frames through the pipeline both ways, read the counters — printed
//! as it goes. Every frame carries what should come out of it (worked out here from
//! docs/semantics.md §1–3, not from the pipeline), and the demo fails if the board disagrees,
//! so it doubles as a smoke test of the whole host side.

use std::net::IpAddr;

use anyhow::{bail, Context as _};
use etherparse::{
    EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, NetHeaders, PacketBuilder,
    PacketHeaders, PayloadSlice, TransportHeader, VlanId,
};
use portshare_host::table::Table;
use portshare_host::Direction;

use super::{Board, DemoArgs, DeviceArgs};

/// The demo's table: two IPv4 servers and one IPv6 server behind shared ports.
pub const DEMO_TABLE: &str = r#"# portshare demo table
[[entry]]
name = "alpha.example"
address = "192.0.2.10"
shared_port = 443
assigned_port = 8443
protocol = "tcp"

[[entry]]
name = "beta.example"
address = "192.0.2.11"
shared_port = 53
assigned_port = 5353
protocol = "udp"

[[entry]]
name = "gamma.example"
address = "2001:db8::10"
shared_port = 443
assigned_port = 9443
protocol = "both"
"#;

const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const CLIENT4: [u8; 4] = [198, 51, 100, 7];
const ALPHA: [u8; 4] = [192, 0, 2, 10];
const BETA: [u8; 4] = [192, 0, 2, 11];
const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
const GAMMA: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// What a frame should look like after the unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    DstPort(u16),
    SrcPort(u16),
    Unchanged,
}

struct DemoFrame {
    what: &'static str,
    direction: Direction,
    bytes: Vec<u8>,
    expect: Expect,
}

fn build(b: PacketBuilder_, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload)
        .expect("writing to a Vec cannot fail");
    v
}

/// The builder's final step type for TCP and UDP alike.
enum PacketBuilder_ {
    Tcp(etherparse::PacketBuilderStep<etherparse::TcpHeader>),
    Udp(etherparse::PacketBuilderStep<etherparse::UdpHeader>),
}

impl PacketBuilder_ {
    fn size(&self, n: usize) -> usize {
        match self {
            PacketBuilder_::Tcp(b) => b.size(n),
            PacketBuilder_::Udp(b) => b.size(n),
        }
    }
    fn write(self, v: &mut Vec<u8>, payload: &[u8]) -> anyhow::Result<()> {
        match self {
            PacketBuilder_::Tcp(b) => b.write(v, payload)?,
            PacketBuilder_::Udp(b) => b.write(v, payload)?,
        }
        Ok(())
    }
}

fn eth() -> etherparse::PacketBuilderStep<Ethernet2Header> {
    PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
}

fn demo_frames() -> Vec<DemoFrame> {
    use PacketBuilder_::{Tcp, Udp};
    let dns_query =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05alpha\x07example\x00\x00\x01\x00\x01";
    let tls_hello = b"\x16\x03\x01\x00\x05hello";
    let mut frames = vec![
        DemoFrame {
            what: "TCP SYN to alpha:443",
            direction: Direction::Incoming,
            bytes: build(
                Tcp(eth()
                    .ipv4(CLIENT4, ALPHA, 64)
                    .tcp(51000, 443, 1000, 64240)
                    .syn()),
                &[],
            ),
            expect: Expect::DstPort(8443),
        },
        DemoFrame {
            what: "TCP data to alpha:443",
            direction: Direction::Incoming,
            bytes: build(
                Tcp(eth()
                    .ipv4(CLIENT4, ALPHA, 64)
                    .tcp(51000, 443, 1001, 64240)
                    .ack(5001)),
                tls_hello,
            ),
            expect: Expect::DstPort(8443),
        },
        DemoFrame {
            what: "TCP to alpha:80 (no entry)",
            direction: Direction::Incoming,
            bytes: build(
                Tcp(eth()
                    .ipv4(CLIENT4, ALPHA, 64)
                    .tcp(51001, 80, 7, 64240)
                    .syn()),
                &[],
            ),
            expect: Expect::Unchanged,
        },
        DemoFrame {
            what: "UDP to alpha:443 (entry is TCP only)",
            direction: Direction::Incoming,
            bytes: build(
                Udp(eth().ipv4(CLIENT4, ALPHA, 64).udp(40001, 443)),
                b"quic?",
            ),
            expect: Expect::Unchanged,
        },
        DemoFrame {
            what: "DNS query to beta:53",
            direction: Direction::Incoming,
            bytes: build(Udp(eth().ipv4(CLIENT4, BETA, 64).udp(40000, 53)), dns_query),
            expect: Expect::DstPort(5353),
        },
        DemoFrame {
            what: "VLAN 100, TCP SYN to alpha:443",
            direction: Direction::Incoming,
            bytes: build(
                Tcp(eth()
                    .single_vlan(VlanId::try_new(100).expect("100 < 4096"))
                    .ipv4(CLIENT4, ALPHA, 64)
                    .tcp(51002, 443, 77, 64240)
                    .syn()),
                &[],
            ),
            expect: Expect::DstPort(8443),
        },
        DemoFrame {
            what: "IPv6 TCP SYN to [gamma]:443",
            direction: Direction::Incoming,
            bytes: build(
                Tcp(eth()
                    .ipv6(CLIENT6, GAMMA, 64)
                    .tcp(50000, 443, 9, 64800)
                    .syn()),
                &[],
            ),
            expect: Expect::DstPort(9443),
        },
        DemoFrame {
            what: "IPv6 UDP to [gamma]:443 (entry is both)",
            direction: Direction::Incoming,
            bytes: build(
                Udp(eth().ipv6(CLIENT6, GAMMA, 64).udp(50001, 443)),
                b"quic initial",
            ),
            expect: Expect::DstPort(9443),
        },
        DemoFrame {
            what: "SYN-ACK from alpha:8443",
            direction: Direction::Outgoing,
            bytes: build(
                Tcp(PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
                    .ipv4(ALPHA, CLIENT4, 64)
                    .tcp(8443, 51000, 5000, 65160)
                    .syn()
                    .ack(1001)),
                &[],
            ),
            expect: Expect::SrcPort(443),
        },
        DemoFrame {
            what: "DNS answer from beta:5353",
            direction: Direction::Outgoing,
            bytes: build(
                Udp(PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
                    .ipv4(BETA, CLIENT4, 64)
                    .udp(5353, 40000)),
                dns_query,
            ),
            expect: Expect::SrcPort(53),
        },
    ];

    // UDP with checksum 0 ("no checksum", IPv4): rewritten, checksum stays 0.
    let mut zero = build(Udp(eth().ipv4(CLIENT4, BETA, 64).udp(40002, 53)), dns_query);
    let l4 = 14 + 20;
    zero[l4 + 6..l4 + 8].copy_from_slice(&[0, 0]);
    frames.push(DemoFrame {
        what: "UDP to beta:53, zero checksum",
        direction: Direction::Incoming,
        bytes: zero,
        expect: Expect::DstPort(5353),
    });

    // A later fragment of a datagram to beta: no L4 header in it, so never rewritten
    // even though its first bytes happen to read as ports 40000 → 53.
    let mut frag_payload = vec![0x9c, 0x40, 0x00, 0x35];
    frag_payload.extend_from_slice(&[0x55; 36]);
    let mut ip = Ipv4Header::new(frag_payload.len() as u16, 64, IpNumber::UDP, CLIENT4, BETA)
        .expect("small payload");
    ip.fragment_offset = IpFragOffset::try_new(185).expect("13-bit offset");
    ip.identification = 0x4242;
    ip.header_checksum = ip.calc_header_checksum();
    let mut frag = Vec::new();
    Ethernet2Header {
        source: CLIENT_MAC,
        destination: SERVER_MAC,
        ether_type: EtherType::IPV4,
    }
    .write(&mut frag)
    .expect("Vec");
    ip.write(&mut frag).expect("Vec");
    frag.extend_from_slice(&frag_payload);
    frames.push(DemoFrame {
        what: "later IPv4 fragment to beta",
        direction: Direction::Incoming,
        bytes: frag,
        expect: Expect::Unchanged,
    });

    // ARP: not IP at all.
    let mut arp = Vec::new();
    Ethernet2Header {
        source: CLIENT_MAC,
        destination: [0xff; 6],
        ether_type: EtherType::ARP,
    }
    .write(&mut arp)
    .expect("Vec");
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&CLIENT4);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&ALPHA);
    arp.resize(60, 0);
    frames.push(DemoFrame {
        what: "ARP who-has alpha",
        direction: Direction::Incoming,
        bytes: arp,
        expect: Expect::Unchanged,
    });
    frames
}

/// Ports and L4 checksum of a frame, and whether the checksum is right by full
/// recomputation (`None` for a UDP checksum of 0, which means "none").
struct L4View {
    src: u16,
    dst: u16,
    checksum: u16,
    valid: Option<bool>,
}

fn l4_view(frame: &[u8]) -> Option<L4View> {
    let h = PacketHeaders::from_ethernet_slice(frame).ok()?;
    let payload = match h.payload {
        PayloadSlice::Tcp(p) | PayloadSlice::Udp(p) => p,
        _ => return None,
    };
    let recomputed = |t: &TransportHeader| -> Option<u16> {
        match (t, h.net.as_ref()?) {
            (TransportHeader::Tcp(t), NetHeaders::Ipv4(ip, _)) => {
                t.calc_checksum_ipv4(ip, payload).ok()
            }
            (TransportHeader::Tcp(t), NetHeaders::Ipv6(ip, _)) => {
                t.calc_checksum_ipv6(ip, payload).ok()
            }
            (TransportHeader::Udp(u), NetHeaders::Ipv4(ip, _)) => {
                u.calc_checksum_ipv4(ip, payload).ok()
            }
            (TransportHeader::Udp(u), NetHeaders::Ipv6(ip, _)) => {
                u.calc_checksum_ipv6(ip, payload).ok()
            }
            _ => None,
        }
    };
    let t = h.transport.as_ref()?;
    let (src, dst, checksum) = match t {
        TransportHeader::Tcp(t) => (t.source_port, t.destination_port, t.checksum),
        TransportHeader::Udp(u) => (u.source_port, u.destination_port, u.checksum),
        _ => return None,
    };
    let valid = match t {
        TransportHeader::Udp(_) if checksum == 0 => None,
        _ => Some(recomputed(t)? == checksum),
    };
    Some(L4View {
        src,
        dst,
        checksum,
        valid,
    })
}

/// Checks one frame's way through the unit; returns a line describing it.
fn judge(f: &DemoFrame, out: &[u8]) -> Result<String, String> {
    if out.len() != f.bytes.len() {
        return Err(format!(
            "{} bytes came back for {}",
            out.len(),
            f.bytes.len()
        ));
    }
    let before = l4_view(&f.bytes);
    let after = l4_view(out);
    match (f.expect, before, after) {
        (Expect::Unchanged, _, _) => {
            if out == f.bytes.as_slice() {
                Ok("unchanged".into())
            } else {
                Err("changed, but nothing should be".into())
            }
        }
        (e, Some(b), Some(a)) => {
            let (want_src, want_dst) = match e {
                Expect::DstPort(p) => (b.src, p),
                Expect::SrcPort(p) => (p, b.dst),
                Expect::Unchanged => unreachable!("handled above"),
            };
            if (a.src, a.dst) != (want_src, want_dst) {
                return Err(format!(
                    "ports {}→{}, expected {}→{}",
                    a.src, a.dst, want_src, want_dst
                ));
            }
            // Only the port and checksum bytes may differ.
            let differing = f.bytes.iter().zip(out).filter(|(x, y)| x != y).count();
            if differing > 4 {
                return Err(format!(
                    "{differing} bytes changed; at most 4 (a port and the checksum) may"
                ));
            }
            let check = match (b.valid, a.valid) {
                (None, None) if a.checksum == 0 => "stays 0 (no checksum)".to_string(),
                (Some(true), Some(true)) => format!(
                    "0x{:04x} → 0x{:04x}, valid by recomputation",
                    b.checksum, a.checksum
                ),
                (_, v) => {
                    return Err(format!(
                        "checksum 0x{:04x} → 0x{:04x} ({v:?} by recomputation)",
                        b.checksum, a.checksum
                    ))
                }
            };
            Ok(format!(
                "ports {}→{} became {}→{}, checksum {check}",
                b.src, b.dst, a.src, a.dst
            ))
        }
        (_, None, _) | (_, _, None) => Err("not a TCP/UDP frame after all".into()),
    }
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    session(a.pcap.as_deref(), DeviceArgs::sim(a.capacity, a.wire))
}

fn session(pcap: Option<&std::path::Path>, dev: DeviceArgs) -> anyhow::Result<()> {
    let mut board = Board::connect(&dev)?;
    println!(
        "== board: {} (protocol v{}, {} slots, frames up to {} bytes)",
        board.describe(),
        board.info.protocol_version,
        board.info.capacity,
        board.info.max_frame
    );

    let path = std::path::Path::new("demo-table.toml");
    println!(
        "\n== portshare load {}\n{}",
        path.display(),
        DEMO_TABLE.trim_end()
    );
    let table = Table::parse(DEMO_TABLE, path, board.capacity())?;
    let report = board.load_table(&table)?;
    println!("{}", report.summary(path, board.baud));

    println!("\n== portshare list");
    print!("{}", board.list_text()?);

    println!("\n== portshare inject (frames built here, each with what should come out)");
    let mut failures = 0;
    for (i, f) in demo_frames().iter().enumerate() {
        let out = board
            .client
            .inject(f.direction, &f.bytes)
            .with_context(|| format!("injecting frame {}: {}", i + 1, f.what))?;
        let verdict = match judge(f, &out) {
            Ok(s) => s,
            Err(s) => {
                failures += 1;
                format!("WRONG: {s}")
            }
        };
        let dir = match f.direction {
            Direction::Incoming => "in ",
            Direction::Outgoing => "out",
        };
        println!("{:>3} {dir} {:<40} {verdict}", i + 1, f.what);
    }

    if let Some(path) = pcap {
        println!("\n== portshare inject {} (incoming)", path.display());
        let frames = portshare_sim::pcap::Capture::read(path)?.frames();
        let mut changed = 0;
        let mut skipped = 0;
        for f in &frames {
            if f.is_empty() || f.len() > board.info.max_frame as usize {
                skipped += 1;
                continue;
            }
            let out = board.client.inject(Direction::Incoming, f)?;
            if out != *f {
                changed += 1;
            }
        }
        println!("{} frames, {changed} changed, {skipped} skipped (longer than the board's frame buffer)", frames.len());
    }

    println!("\n== portshare stats");
    print!("{}", board.stats()?.text());
    let shown: Vec<IpAddr> = board
        .read_slots()?
        .iter()
        .filter(|s| s.valid)
        .map(|s| s.ip())
        .collect();
    if shown.len() != 3 {
        bail!(
            "the board holds {} entries after loading the 3-entry demo table",
            shown.len()
        );
    }
    if failures > 0 {
        bail!("{failures} frame(s) came back other than docs/semantics.md says they should");
    }
    println!("\nall frames came back as docs/semantics.md §1-3 say they should");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_frames_are_well_formed_and_judging_catches_mistakes() {
        let frames = demo_frames();
        for f in &frames {
            // A frame judged against itself passes only when nothing should change.
            let same = judge(f, &f.bytes);
            assert_eq!(
                same.is_ok(),
                f.expect == Expect::Unchanged,
                "{}: {same:?}",
                f.what
            );
            if let Some(v) = l4_view(&f.bytes) {
                assert_ne!(
                    v.valid,
                    Some(false),
                    "{}: built with a bad checksum",
                    f.what
                );
            }
        }
        // A correct rewrite, done by hand with a full checksum recomputation, passes.
        let f = &frames[0];
        let mut fixed = f.bytes.clone();
        let l4 = 14 + 20;
        fixed[l4 + 2..l4 + 4].copy_from_slice(&8443u16.to_be_bytes());
        let h = PacketHeaders::from_ethernet_slice(&fixed).unwrap();
        let (Some(NetHeaders::Ipv4(ip, _)), Some(TransportHeader::Tcp(t))) = (h.net, h.transport)
        else {
            panic!()
        };
        let sum = t.calc_checksum_ipv4(&ip, &[]).unwrap();
        fixed[l4 + 16..l4 + 18].copy_from_slice(&sum.to_be_bytes());
        assert!(judge(f, &fixed).is_ok(), "{:?}", judge(f, &fixed));
        // The port alone, checksum left stale, is caught.
        let mut stale = f.bytes.clone();
        stale[l4 + 2..l4 + 4].copy_from_slice(&8443u16.to_be_bytes());
        assert!(judge(f, &stale).unwrap_err().contains("checksum"));
    }
}
