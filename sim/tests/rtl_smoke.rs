//! First light for the RTL: a TCP and a UDP frame through the pipeline, checked with
//! etherparse (ports) and its full checksum recomputation.

use etherparse::{PacketBuilder, PacketHeaders, TransportHeader};
use portshare_host::{Direction, Slot};
use portshare_sim::engine::Engine;
use portshare_sim::rtl::{Harness, Traffic};

fn tcp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 12345, 4000);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv6(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn checksum_is_right(frame: &[u8]) -> bool {
    let h = PacketHeaders::from_ethernet_slice(frame).unwrap();
    let payload = h.payload.slice();
    match (h.net.unwrap(), h.transport.unwrap()) {
        (etherparse::NetHeaders::Ipv4(ip, _), TransportHeader::Tcp(t)) => {
            t.calc_checksum_ipv4(&ip, payload).unwrap() == t.checksum
        }
        (etherparse::NetHeaders::Ipv6(ip, _), TransportHeader::Udp(u)) => {
            u.calc_checksum_ipv6(&ip, payload).unwrap() == u.checksum
        }
        other => panic!("unexpected headers {other:?}"),
    }
}

fn ports(frame: &[u8]) -> (u16, u16) {
    match PacketHeaders::from_ethernet_slice(frame).unwrap().transport.unwrap() {
        TransportHeader::Tcp(t) => (t.source_port, t.destination_port),
        TransportHeader::Udp(u) => (u.source_port, u.destination_port),
        _ => panic!(),
    }
}

#[test]
fn rewrites_matching_frames_and_passes_others() {
    let mut h = Harness::<16>::new();
    let a = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
    let mut v6 = [0u8; 16];
    v6[0] = 0x20;
    v6[1] = 0x01;
    v6[15] = 7;
    let b = Slot::new(std::net::Ipv6Addr::from(v6).into(), false, true, 53, 5353);
    h.load(&[a, b]);

    let inc = tcp4([198, 51, 100, 1], [192, 0, 2, 10], 40000, 443, b"hello, world");
    let out = tcp4([192, 0, 2, 10], [198, 51, 100, 1], 8443, 40000, b"reply");
    let miss = tcp4([198, 51, 100, 1], [192, 0, 2, 11], 40000, 443, b"x");
    let u = udp6([0xfe; 16], v6, 1111, 53, b"query....");
    let frames: Vec<(&[u8], Direction)> = vec![
        (&inc, Direction::Incoming),
        (&out, Direction::Outgoing),
        (&miss, Direction::Incoming),
        (&u, Direction::Incoming),
    ];
    let r = h.stream(&frames, &Traffic::default());
    assert_eq!(r.frames.len(), 4);
    assert_eq!(ports(&r.frames[0]), (40000, 8443));
    assert!(checksum_is_right(&r.frames[0]));
    assert_eq!(ports(&r.frames[1]), (443, 40000));
    assert!(checksum_is_right(&r.frames[1]));
    assert_eq!(r.frames[2], miss);
    assert_eq!(ports(&r.frames[3]), (1111, 5353));
    assert!(checksum_is_right(&r.frames[3]));
    let c = h.read_counters();
    assert_eq!((c.rewritten, c.no_match, c.fragment, c.unparsed), (3, 1, 0, 0));
    assert_eq!(c.hits[0], 2);
    assert_eq!(c.hits[1], 1);
    eprintln!("clocks {} bytes {} latency {}..{}", r.clocks, r.bytes_in, r.latency_min, r.latency_max);
}
