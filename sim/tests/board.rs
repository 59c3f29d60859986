//! End-to-end tests of the board: the host's `Client` and codec against `CuBoard` (or
//! its control block + pipeline) in rust-hdl's cycle simulator or, for the bulk tests,
//! their generated Verilog under Verilator, through `SimBoard`.
//!
//! Framing, errors, resynchronization, table write/read-back, and injected frames
//! compared with the reference model.

use portshare_host::protocol::{self as proto, Client, Deframed, Reply, Request, SlipDecoder};
use portshare_host::transport::Transport;
use portshare_host::{Direction, Slot};
use portshare_sim::board::{SimBoard, SimWire};
use portshare_sim::engine::EngineKind;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// Sends raw wire bytes, collects every reply until the board has been quiet for 20 µs.
fn exchange(board: &mut SimBoard, wire: &[u8]) -> Vec<Reply> {
    board.send(wire).unwrap();
    let mut rx = SlipDecoder::new();
    let mut replies = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if board.recv(&mut buf, Duration::from_micros(200)).unwrap() == 0 {
            return replies;
        }
        for p in rx.push(&buf) {
            match p {
                Deframed::Packet(body) => replies.push(Reply::decode(&body).expect("reply CRC")),
                Deframed::BadEscape(b) => panic!("bad escape in a reply: {b:02x?}"),
            }
        }
    }
}

fn slot(i: usize) -> Slot {
    let addr = if i % 3 == 0 {
        std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0xC0DB, i as u16])
    } else {
        std::net::IpAddr::from([192, 0, 2, i as u8])
    };
    Slot::new(addr, i % 3 != 2, i % 3 != 1, 443, 8000 + i as u16)
}

#[test]
fn uart_pins_info_errors_and_resynchronization() {
    let mut b = SimBoard::new(16, SimWire::UartPins).unwrap();
    let r = exchange(&mut b, &Request::Info.encode(1));
    assert_eq!(r.len(), 1);
    let info = proto::DeviceInfo::from_payload(&r[0].payload).unwrap();
    assert_eq!((info.protocol_version, info.capacity, info.max_frame), (proto::PROTOCOL_VERSION, 16, 2048));

    let mut bad_crc = Request::ClearTable.body(2);
    bad_crc[2] ^= 0x80;
    let mut unknown = vec![0x42, 3];
    proto::append_crc(&mut unknown);
    let cases = [
        (proto::slip_encode(&bad_crc), proto::STATUS_BAD_CRC),
        (proto::slip_encode(&unknown), proto::STATUS_UNKNOWN_COMMAND),
        (Request::WriteEntry { index: 16, record: slot(1).to_record() }.encode(4), proto::STATUS_OUT_OF_RANGE),
        (Request::ReadEntry { index: 200 }.encode(5), proto::STATUS_OUT_OF_RANGE),
    ];
    for (wire, status) in cases {
        let r = exchange(&mut b, &wire);
        assert_eq!(r.len(), 1, "exactly one reply");
        assert_eq!((r[0].status, r[0].payload.len()), (status, 0));
    }

    // Line noise, then a request: the noise is answered with an error, the request
    // behind it is served.
    let mut wire = vec![0x3C, 0xDB, 0x11, 0x99];
    wire.extend(Request::Info.encode(6));
    let r = exchange(&mut b, &wire);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].status, proto::STATUS_BAD_FRAMING);
    assert_eq!((r[1].status, r[1].seq), (proto::STATUS_OK, 6));

    // A byte lost from the middle of a request: the rest fails its CRC (or length),
    // and the next request is unaffected.
    let mut lossy = Request::WriteEntry { index: 3, record: slot(3).to_record() }.encode(7);
    lossy.remove(10);
    let r = exchange(&mut b, &lossy);
    assert_eq!(r.len(), 1);
    assert!(matches!(r[0].status, proto::STATUS_BAD_CRC | proto::STATUS_BAD_LENGTH), "{r:?}");
    let mut c = Client::new(b);
    assert_eq!(c.info().unwrap().capacity, 16);
    assert_eq!(c.stats().retries, 0);
}

#[test]
fn uart_pins_loading_64_entries_and_its_wire_time() {
    let mut c = Client::new(SimBoard::with_engine(64, SimWire::UartPins, EngineKind::Verilator).unwrap());
    c.clear_table().unwrap();
    let (clocks0, sent0, recv0) = (c.transport().clocks(), c.stats().bytes_sent, c.stats().bytes_received);
    let wall = Instant::now();
    for i in 0..64 {
        c.write_entry(i as u8, &slot(i)).unwrap();
    }
    let wall = wall.elapsed();
    let clocks = c.transport().clocks() - clocks0;
    let (sent, recv) = (c.stats().bytes_sent - sent0, c.stats().bytes_received - recv0);
    assert_eq!(c.stats().retries, 0);
    // Stop-and-wait: the simulated time is the wire time of every byte plus the board's
    // turnaround and the SimBoard's end-of-reply pause (300 clocks per reply).
    let line_clocks = (sent + recv) * 250;
    assert!(clocks >= line_clocks, "{clocks} clocks < {line_clocks} clocks of line time");
    eprintln!(
        "loading 64 entries over the UART pins: {sent} bytes out, {recv} back, {:.2} ms simulated ({clocks} clocks, {:.2} ms of it on the wire); \
         {:.0} simulated clocks per wall second",
        clocks as f64 / 1e5,
        line_clocks as f64 / 1e5,
        clocks as f64 / wall.as_secs_f64()
    );
}

/// The board built for 2 Mbaud (50 clocks per bit) works end to end at that rate.
#[test]
fn uart_pins_at_2_mbaud() {
    let mut c = Client::new(SimBoard::new(16, SimWire::UartPinsAt(50)).unwrap()).with_baud(2_000_000);
    let start = c.transport().clocks();
    assert_eq!(c.info().unwrap().capacity, 16);
    let frame: Vec<u8> = (0..100).map(|i| (i * 13) as u8).collect();
    assert_eq!(c.inject(Direction::Incoming, &frame).unwrap().len(), frame.len());
    let bytes = c.stats().bytes_sent + c.stats().bytes_received;
    let clocks = c.transport().clocks() - start;
    assert!(clocks >= bytes * 500, "{clocks} clocks for {bytes} bytes at 500 clocks per byte");
    assert_eq!(c.stats().retries, 0);
}

/// Ethernet frames from the corpus that ships in the repository (a missing one fails).
fn corpus_frames(limit: usize) -> Vec<Vec<u8>> {
    let names = portshare_sim::corpus::pcaps();
    let mut frames = Vec::new();
    for path in names.iter().filter(|p| p.extension().map_or(false, |e| e == "pcap")) {
        let Ok(mut reader) = pcap_file::pcap::PcapReader::new(std::fs::File::open(path).unwrap()) else { continue };
        if reader.header().datalink != pcap_file::DataLink::ETHERNET {
            continue;
        }
        // A few frames from each capture, for variety.
        for _ in 0..3 {
            match reader.next_packet() {
                Some(Ok(p)) if !p.data.is_empty() && p.data.len() <= proto::MAX_FRAME_LEN => frames.push(p.data.to_vec()),
                _ => break,
            }
        }
        if frames.len() >= limit {
            break;
        }
    }
    frames
}

/// With an empty table nothing matches, so every frame must come back byte for byte.
#[test]
fn injected_frames_come_back_unchanged_with_an_empty_table() {
    let mut c = Client::new(SimBoard::with_engine(64, SimWire::Bytes, EngineKind::Verilator).unwrap());
    c.clear_table().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut frames = corpus_frames(200);
    for len in [1usize, 13, 14, 60, 64, 1514, 1518, 2048] {
        frames.push((0..len).map(|_| rng.gen()).collect());
    }
    while frames.len() < 300 {
        let len = rng.gen_range(1..200);
        frames.push((0..len).map(|_| if rng.gen_bool(0.1) { 0xC0 } else { rng.gen() }).collect());
    }
    let (clocks0, wall) = (c.transport().clocks(), Instant::now());
    let mut bytes = 0;
    for (i, f) in frames.iter().enumerate() {
        let dir = if i % 2 == 0 { Direction::Incoming } else { Direction::Outgoing };
        let out = c.inject(dir, f).unwrap();
        assert!(out == *f, "frame {i} ({} bytes, {dir}) changed", f.len());
        bytes += f.len();
    }
    let (clocks, wall) = (c.transport().clocks() - clocks0, wall.elapsed());
    eprintln!(
        "byte-level fast path: {} frames ({bytes} bytes) injected in {clocks} clocks, {:.2} s wall, {:.0} simulated clocks per wall second",
        frames.len(),
        wall.as_secs_f64(),
        clocks as f64 / wall.as_secs_f64()
    );
}

/// An injected frame that matches an entry comes back as the reference model rewrites it.
#[test]
fn inject_with_matching_entries_equals_model() {
    let mut c = Client::new(SimBoard::new(16, SimWire::Bytes).unwrap());
    let entry = Slot::new("192.0.2.10".parse().unwrap(), true, true, 443, 8443);
    c.write_entry(0, &entry).unwrap();
    // A request to the shared port, and the server's answer from its assigned port:
    // each matches only in its own direction, so a board that lost the direction on
    // the way to the pipeline leaves one of them unchanged.
    let udp = |src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16| {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut frame, b"hello")
            .unwrap();
        frame
    };
    for (direction, frame) in [
        (Direction::Incoming, udp([198, 51, 100, 7], [192, 0, 2, 10], 40000, 443)),
        (Direction::Outgoing, udp([192, 0, 2, 10], [198, 51, 100, 7], 8443, 40000)),
    ] {
        let out = c.inject(direction, &frame).unwrap();
        let expected = portshare_sim::model::process_frame(&frame, direction, &[entry]);
        assert!(matches!(expected.outcome, portshare_sim::model::Outcome::Rewritten { .. }), "{direction}");
        assert_eq!(out, expected.frame, "{direction}");
    }
}

#[test]
fn table_reads_back_what_was_written_and_clear_empties_it() {
    let mut c = Client::new(SimBoard::with_engine(64, SimWire::Bytes, EngineKind::Verilator).unwrap());
    for i in 0..64 {
        c.write_entry(i as u8, &slot(i)).unwrap();
    }
    for i in (0..64).rev() {
        assert_eq!(c.read_entry(i as u8).unwrap(), slot(i), "entry {i}");
    }
    c.write_entry(5, &Slot::default()).unwrap();
    assert_eq!(c.read_entry(5).unwrap(), Slot::default());
    c.clear_table().unwrap();
    for i in 0..64 {
        assert!(!c.read_entry(i).unwrap().valid, "entry {i} after clear");
    }
    c.reset_counters().unwrap();
    let counters = c.read_counters(64).unwrap();
    assert_eq!(counters, proto::Counters { hits: vec![0; 64], ..Default::default() });
}
