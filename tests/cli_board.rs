//! End-to-end tests of the board commands: the `portshare` binary against the
//! simulated board (`--device sim`), and its USB error paths on a machine without a
//! board. Outputs are checked against things the commands did not compute: the
//! tests' own tables, etherparse's full checksum recomputation, and the reference model
//! (`portshare_sim::model`) on real captures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, PayloadSlice, TransportHeader};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use portshare_host::table::Table;
use portshare_host::Direction;

const TABLE: &str = r#"
[[entry]]
name = "alpha.example"
address = "192.0.2.10"
shared_port = 443
assigned_port = 8443
protocol = "tcp"

[[entry]]
address = "192.0.2.11"
shared_port = 53
assigned_port = 5353
protocol = "udp"

[[entry]]
name = "gamma.example"
address = "2001:db8::10"
shared_port = 443
assigned_port = 9443
"#;

fn portshare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portshare"))
        .args(args)
        .output()
        .expect("run portshare")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and requires success; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = portshare(args);
    assert!(
        o.status.success(),
        "portshare {args:?} failed:\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// The simulated board every test here uses: 16 slots, byte-level wiring.
const SIM: [&str; 6] = [
    "--device",
    "sim",
    "--sim-wire",
    "bytes",
    "--sim-capacity",
    "16",
];

/// `ok` against the simulated board.
fn sim_ok(args: &[&str]) -> String {
    ok(&[args, &SIM[..]].concat())
}

/// `fails` against the simulated board.
fn sim_fails(args: &[&str]) -> String {
    fails(&[args, &SIM[..]].concat())
}

/// Runs and requires failure; returns stderr.
fn fails(args: &[&str]) -> String {
    let o = portshare(args);
    assert!(
        !o.status.success(),
        "portshare {args:?} should have failed:\n{}",
        text(&o.stdout)
    );
    text(&o.stderr)
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The number after `label` in `text` ("12 bytes sent" → number before, so pass a
/// closure-free pattern: the word that follows the number).
fn number_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(word)
        .unwrap_or_else(|| panic!("`{word}` not in:\n{text}"));
    let digits: String = text[..at]
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number before `{word}` in:\n{text}"))
}

/// The simulated board's capacity, as `list` reports it ("… 0 of N slots used").
fn sim_capacity() -> usize {
    let out = sim_ok(&["list"]);
    number_before(&out, "slots used") as usize
}

#[test]
fn load_writes_reads_back_and_reports_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let out = sim_ok(&["load", s(&t)]);
    assert!(out.contains("3 entries written"), "{out}");
    assert!(out.contains("read back and match"), "{out}");
    let capacity = number_before(&out, "slots read back");
    let sent = number_before(&out, "bytes sent");
    let received = number_before(&out, "received (");
    // Every slot is written (21-byte record + 7 bytes of framing at least) and read back.
    assert!(
        sent >= capacity * (21 + 7),
        "{sent} bytes sent for {capacity} slots:\n{out}"
    );
    assert!(
        received >= capacity * (21 + 8),
        "{received} bytes received for {capacity} reads:\n{out}"
    );
    // The wire time is the byte count at 10 bits a byte and 4 Mbaud.
    let ms = (sent + received) as f64 * 10.0 / 4e6 * 1e3;
    assert!(
        out.contains(&format!("{ms:.2} ms on the wire at 4000000 baud")),
        "expected {ms:.2} ms:\n{out}"
    );
}

#[test]
fn load_json_reports_the_same_wire_figures() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let out = sim_ok(&["load", s(&t), "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["entries_written"], 3);
    assert_eq!(v["capacity"], 16);
    let bytes = v["bytes_sent"].as_u64().unwrap() + v["bytes_received"].as_u64().unwrap();
    assert!(v["bytes_sent"].as_u64().unwrap() >= 16 * (21 + 7));
    let ms = bytes as f64 * 10.0 / 4e6 * 1e3;
    assert!((v["wire_ms"].as_f64().unwrap() - ms).abs() < 1e-6, "{v}");
}

#[test]
fn load_of_64_entries_reports_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let n = 64;
    let mut body = String::new();
    for i in 0..n {
        body += &format!(
            "[[entry]]\naddress = \"10.0.{}.{}\"\nshared_port = 443\nassigned_port = {}\nprotocol = \"tcp\"\n\n",
            i / 200,
            i % 200 + 1,
            10000 + i
        );
    }
    let t = write(dir.path(), "t64.toml", &body);
    // `list --table` loads first (its report on stderr), then lists what the board holds.
    let o = portshare(&[
        "list",
        "--device",
        "sim",
        "--sim-wire",
        "bytes",
        "--sim-capacity",
        "64",
        "--table",
        s(&t),
    ]);
    let (listed, report) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{listed}\n{report}");
    println!("{report}");
    assert!(
        report.contains("64 entries written") && report.contains("all 64 slots read back"),
        "{report}"
    );
    // 64 writes of a 21-byte record and 64 read-backs: at least 64 · (28 + 7) bytes each way.
    assert!(number_before(&report, "bytes sent") >= 64 * 35, "{report}");
    assert!(number_before(&report, "received (") >= 64 * 35, "{report}");
    assert!(report.contains("(128 requests, 0 retries)"), "{report}");
    assert!(listed.contains("64 of 64 slots used"), "{listed}");
    for i in [0, n / 2, n - 1] {
        let line = format!("10.0.{}.{}", i / 200, i % 200 + 1);
        assert!(
            listed
                .lines()
                .any(|l| l.contains(&line) && l.contains(&(10000 + i).to_string())),
            "{line}:\n{listed}"
        );
    }
}

#[test]
fn load_refuses_bad_tables_naming_file_entry_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let dup = write(
        dir.path(),
        "dup.toml",
        "[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 80\nassigned_port = 8080\n\n\
         [[entry]]\naddress = \"192.0.2.1\"\nshared_port = 80\nassigned_port = 8081\nprotocol = \"tcp\"\n",
    );
    let e = sim_fails(&["load", s(&dup)]);
    assert!(
        e.contains("dup.toml") && e.contains("entry 2") && e.contains("shared_port"),
        "{e}"
    );

    let unknown = write(
        dir.path(),
        "unknown.toml",
        "[[entry]]\naddress = \"192.0.2.1\"\nshared_port = 80\nassigned_port = 81\nport = 3\n",
    );
    let e = sim_fails(&["load", s(&unknown)]);
    assert!(e.contains("unknown.toml") && e.contains("port"), "{e}");

    // One more entry than the board holds: the error says how many it holds.
    let capacity = sim_capacity();
    let mut body = String::new();
    for i in 0..=capacity {
        body += &format!(
            "[[entry]]\naddress = \"10.1.{}.{}\"\nshared_port = 22\nassigned_port = 2222\n",
            i / 250,
            i % 250 + 1
        );
    }
    let big = write(dir.path(), "big.toml", &body);
    let e = sim_fails(&["load", s(&big)]);
    assert!(
        e.contains(&capacity.to_string()) && e.contains("big.toml"),
        "{e}"
    );

    let e = sim_fails(&["load", s(&dir.path().join("missing.toml"))]);
    assert!(e.contains("missing.toml"), "{e}");
}

#[test]
fn list_shows_what_the_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let out = sim_ok(&["list", "--table", s(&t)]);
    let table = Table::parse(TABLE, &t, 64).unwrap();
    assert!(
        out.contains(&format!("{} of", table.entries.len())),
        "{out}"
    );
    for (i, e) in table.entries.iter().enumerate() {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{i} ")))
            .unwrap_or_else(|| panic!("slot {i} missing:\n{out}"));
        for want in [
            e.address.to_string(),
            e.protocol.to_string(),
            e.shared_port.to_string(),
            e.assigned_port.to_string(),
        ] {
            assert!(line.contains(&want), "slot {i}: `{want}` not in `{line}`");
        }
    }
}

#[test]
fn stats_json_has_every_reason_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let out = sim_ok(&["stats", "--table", s(&t), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    for r in [
        "rewritten",
        "no_match",
        "fragment",
        "unparsed",
        "udp_zero_checksum",
    ] {
        assert_eq!(v["reasons"][r], 0, "{r} on a fresh board: {out}");
    }
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["address"], "2001:db8::10");
    assert_eq!(entries[2]["protocol"], "both");
    assert_eq!(entries[1]["assigned_port"], 5353);
    assert!(entries.iter().all(|e| e["hits"] == 0));
    // The simulated board is the byte-level core: no Ethernet ports, which READ_PORT
    // says (OUT_OF_RANGE) and stats reports without failing.
    assert_eq!(v["ports"], serde_json::json!([]), "{out}");
    // Text form too.
    let out = sim_ok(&["stats", "--table", s(&t)]);
    assert!(
        out.contains("rewritten 0") && out.contains("udp_zero_checksum 0") && out.contains("9443"),
        "{out}"
    );
    assert!(out.contains("this board has no Ethernet ports"), "{out}");
}

#[test]
fn clear_empties_the_board() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let out = sim_ok(&["clear", "--table", s(&t), "--counters"]);
    assert!(out.contains("3 entries removed"), "{out}");
    assert!(out.contains("counters zeroed"), "{out}");
}

fn frame_tcp4(dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4([198, 51, 100, 7], dst, 64)
        .tcp(sport, dport, 1, 1000);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn frame_udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn frame_udp6(dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .ipv6(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// (source port, destination port, checksum valid by full recomputation).
fn ports_and_checksum(frame: &[u8]) -> (u16, u16, bool) {
    let h = PacketHeaders::from_ethernet_slice(frame).unwrap();
    let payload = match h.payload {
        PayloadSlice::Tcp(p) | PayloadSlice::Udp(p) => p,
        _ => panic!("not TCP/UDP"),
    };
    match (h.transport.unwrap(), h.net.unwrap()) {
        (TransportHeader::Tcp(t), NetHeaders::Ipv4(ip, _)) => (
            t.source_port,
            t.destination_port,
            t.calc_checksum_ipv4(&ip, payload).unwrap() == t.checksum,
        ),
        (TransportHeader::Udp(u), NetHeaders::Ipv4(ip, _)) => (
            u.source_port,
            u.destination_port,
            u.calc_checksum_ipv4(&ip, payload).unwrap() == u.checksum,
        ),
        (TransportHeader::Udp(u), NetHeaders::Ipv6(ip, _)) => (
            u.source_port,
            u.destination_port,
            u.calc_checksum_ipv6(&ip, payload).unwrap() == u.checksum,
        ),
        other => panic!("unexpected {other:?}"),
    }
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::new(1_700_000_000 + i as u64, 1000 * i as u32);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
}

fn read_pcap(path: &Path) -> Vec<(std::time::Duration, Vec<u8>)> {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        v.push((p.timestamp, p.data.into_owned()));
    }
    v
}

#[test]
fn inject_rewrites_what_matches_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let gamma = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let incoming = vec![
        frame_tcp4([192, 0, 2, 10], 51000, 443, b"hello alpha"), // → 8443
        frame_tcp4([192, 0, 2, 10], 51000, 80, b"no entry"),     // unchanged
        frame_udp4([198, 51, 100, 7], [192, 0, 2, 11], 40000, 53, b"dns?"), // → 5353
        frame_udp4(
            [198, 51, 100, 7],
            [192, 0, 2, 10],
            40000,
            443,
            b"tcp-only entry",
        ), // unchanged
        frame_udp6(gamma, 50000, 443, b"both"),                  // → 9443
    ];
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    write_pcap(&input, &incoming);
    let out = sim_ok(&["inject", s(&input), "-o", s(&output), "--table", s(&t)]);
    assert!(
        out.contains("5 frames incoming") && out.contains("3 changed"),
        "{out}"
    );
    assert!(
        out.contains("rewritten +3") && out.contains("no_match +2"),
        "{out}"
    );
    let back = read_pcap(&output);
    let sent = read_pcap(&input);
    assert_eq!(back.len(), sent.len());
    let expect_dst = [Some(8443), None, Some(5353), None, Some(9443)];
    for (i, ((ts_out, f_out), (ts_in, f_in))) in back.iter().zip(&sent).enumerate() {
        assert_eq!(ts_out, ts_in, "frame {i}: timestamp kept");
        match expect_dst[i] {
            None => assert_eq!(f_out, f_in, "frame {i} must pass unchanged"),
            Some(port) => {
                let (src_in, _, _) = ports_and_checksum(f_in);
                let (src, dst, valid) = ports_and_checksum(f_out);
                assert_eq!((src, dst), (src_in, port), "frame {i}");
                assert!(valid, "frame {i}: checksum wrong after rewrite");
            }
        }
    }

    // Outgoing: replies from the assigned ports get the shared port back.
    let outgoing = vec![
        frame_udp4([192, 0, 2, 11], [198, 51, 100, 7], 5353, 40000, b"answer"), // src → 53
        frame_udp4(
            [192, 0, 2, 11],
            [198, 51, 100, 7],
            53,
            40000,
            b"already shared",
        ), // unchanged
    ];
    write_pcap(&input, &outgoing);
    let out = sim_ok(&[
        "inject",
        s(&input),
        "-o",
        s(&output),
        "--direction",
        "outgoing",
        "--table",
        s(&t),
    ]);
    assert!(out.contains("1 changed"), "{out}");
    let back = read_pcap(&output);
    let (src, dst, valid) = ports_and_checksum(&back[0].1);
    assert_eq!((src, dst, valid), (53, 40000, true));
    assert_eq!(back[1].1, outgoing[1]);
}

#[test]
fn inject_matches_the_reference_model_on_real_captures() {
    let dir = tempfile::tempdir().unwrap();
    let capacity = sim_capacity();
    // Small captures with TCP and UDP over IPv4 and IPv6 (the simulated board runs the
    // RTL, so whole big captures would be slow).
    let mut checked = 0;
    for name in [
        "accecn_handshake.pcap",
        "RADIUS.pcap",
        "bfd-raw-auth-simple.pcap",
    ] {
        let input = portshare_sim::corpus::capture(name);
        let capture = portshare_sim::pcap::Capture::read(&input).unwrap();
        let frames = capture.frames();
        for direction in [Direction::Incoming, Direction::Outgoing] {
            // A table of the capture's busiest flows, so frames really match.
            let table = portshare_sim::flows::table_from_frames(
                frames.iter().map(|f| f.as_slice()),
                direction,
                4,
                capacity,
                &input,
            )
            .unwrap();
            let t = write(dir.path(), "flows.toml", &table.to_toml());
            let output = dir.path().join("out.pcap");
            let out = sim_ok(&[
                "inject",
                s(&input),
                "-o",
                s(&output),
                "--direction",
                &direction.to_string(),
                "--table",
                s(&t),
            ]);
            let (expected, counters) =
                portshare_sim::model::process_all(&frames, direction, &table.slots(), capacity);
            let back = portshare_sim::pcap::Capture::read(&output).unwrap();
            assert_eq!(back.records.len(), expected.len(), "{name}");
            for (i, (b, e)) in back.records.iter().zip(&expected).enumerate() {
                assert!(
                    b.data == e.frame,
                    "{name} {direction} frame {}: board and model differ",
                    i + 1
                );
            }
            assert!(
                out.contains(&format!("rewritten +{}", counters.rewritten)),
                "{name}: {out}"
            );
            assert!(
                out.contains(&format!("no_match +{}", counters.no_match)),
                "{name}: {out}"
            );
            assert!(
                out.contains(&format!("unparsed +{}", counters.unparsed)),
                "{name}: {out}"
            );
            checked += counters.rewritten;
        }
    }
    assert!(
        checked > 0,
        "no frame of the chosen captures was rewritten; the test proves nothing"
    );
}

#[test]
fn demo_runs_a_whole_session() {
    let out = ok(&["demo"]);
    for section in [
        "== portshare load",
        "== portshare list",
        "== portshare inject",
        "== portshare stats",
    ] {
        assert!(out.contains(section), "{section} missing:\n{out}");
    }
    assert!(out.contains("all frames came back as docs/semantics.md"), "{out}");
    assert!(!out.contains("WRONG"), "{out}");
    // The stats at the end count what was injected: 9 frames rewritten by the demo table.
    assert!(out.contains("rewritten 9,"), "{out}");
}

#[test]
fn usb_errors_say_what_was_looked_for() {
    // This machine (and CI) has no Alchitry Cu: the commands must say what they looked
    // for instead of failing obscurely.
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.toml", TABLE);
    let e = fails(&["load", s(&t)]);
    assert!(e.contains("0403:6010") && e.contains("Alchitry Cu"), "{e}");
    let e = fails(&["devices"]);
    assert!(e.contains("0403:6010"), "{e}");
    let e = fails(&["list", "--device", "usb:3:99"]);
    assert!(e.contains("usb:3:99") || e.contains("0403:6010"), "{e}");
    let e = fails(&["list", "--device", "serial0"]);
    assert!(e.contains("usb:BUS:ADDR") && e.contains("sim"), "{e}");
}

#[test]
fn simulated_uart_rates_must_divide_the_board_clock() {
    let e = fails(&[
        "list",
        "--device",
        "sim",
        "--sim-wire",
        "pins",
        "--baud",
        "3000000",
    ]);
    assert!(e.contains("3000000") && e.contains("100 MHz"), "{e}");
    let e = fails(&["list", "--device", "sim", "--sim-capacity", "32"]);
    assert!(e.contains("32"), "{e}");
}
