//! The control plane against the simulated Ethernet board (`--board cu-eth`): `portshare
//! serve --device sim --board cu-eth --listen unix:PATH` loads a table, plays a capture
//! into each port's RX pins, and serves command after command; `stats --json` shows
//! both ports' link (what the MDIO PHY models answer) and counters equal to what was
//! played, counted here from the frames; the hit and reason counters equal the
//! reference model's; `inject` and `clear` work through it; combinations that do not
//! apply are clear errors.

use portshare_host::Direction;
use portshare_sim::model::{self, Counters, CountOutcome};
use portshare_sim::pcap::{self, Capture, Format, Record, Stamp};
use std::path::Path;

mod common;
use common::{fails, ok, s, Server};

/// The served board: the Ethernet top, 16 entries.
const SERVE_ETH: &[&str] = &["--device", "sim", "--board", "cu-eth", "--sim-capacity", "16"];


const TABLE: &str = r#"
[[entry]]
address = "192.0.2.10"
shared_port = 443
assigned_port = 8443
protocol = "tcp"

[[entry]]
address = "192.0.2.20"
shared_port = 53
assigned_port = 5353
protocol = "udp"
"#;

/// `n` frames between the unit's addresses and 198.51.100.0/24 (toward the server when
/// `incoming`): matching entry 0 or 1, or neither, 60 to 1 514 bytes without FCS.
fn frames(incoming: bool, n: usize) -> Vec<Vec<u8>> {
    use etherparse::PacketBuilder;
    (0..n)
        .map(|i| {
            let unit = if i % 3 == 1 { [192, 0, 2, 20] } else { [192, 0, 2, 10] };
            let peer = [198, 51, 100, 1 + i as u8];
            let (port, peer_port) = match i % 3 {
                0 if incoming => (443, 40000),
                0 => (8443, 40000),
                1 if incoming => (53, 40001),
                1 => (5353, 40001),
                _ => (1000 + i as u16, 40002),
            };
            let len = [60, 64, 128, 600, 1514][i % 5];
            let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
            let b = if incoming { b.ipv4(peer, unit, 64) } else { b.ipv4(unit, peer, 64) };
            let (src, dst) = if incoming { (peer_port, port) } else { (port, peer_port) };
            let mut out = Vec::new();
            if i % 3 == 1 {
                let payload = vec![i as u8; len - 42];
                b.udp(src, dst).write(&mut out, &payload).unwrap();
            } else {
                let payload = vec![i as u8; len - 54];
                b.tcp(src, dst, i as u32, 1000).write(&mut out, &payload).unwrap();
            }
            assert_eq!(out.len(), len);
            out
        })
        .collect()
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let records = frames
        .iter()
        .enumerate()
        .map(|(i, f)| Record { data: f.clone(), stamp: Stamp::Pcap { ts_sec: i as u32, ts_frac: 0, orig_len: f.len() as u32 } })
        .collect();
    Capture { format: Format::Pcap(pcap::ethernet_header()), records }.write(path).unwrap();
}

/// The 11 port counters in READ_PORT's order, from the frames played into the port
/// (`rx`, of which `dropped` did not leave the other) and those that left it (`tx`).
fn port_counts(rx: &[Vec<u8>], dropped: usize, tx: &[Vec<u8>]) -> [u64; 11] {
    let bytes = |f: &[Vec<u8>]| f.iter().map(|f| f.len() as u64).sum::<u64>();
    [rx.len() as u64, bytes(rx), 0, 0, 0, 0, dropped as u64, 0, tx.len() as u64, bytes(tx), 0]
}

/// Which of `played` left as `left` (what the PHY model decoded off the other port's
/// TX pins): `left` must be the model's output of `played` in order, frames missing
/// only where the board dropped them whole.
fn carried(played: &[Vec<u8>], left: &[Vec<u8>], d: Direction, slots: &[portshare_host::Slot]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut k = 0;
    for (i, f) in played.iter().enumerate() {
        if k < left.len() && left[k] == model::process_frame(f, d, slots).frame {
            out.push(i);
            k += 1;
        }
    }
    assert_eq!(k, left.len(), "frame {} that left {d:?} is no played frame's model output (or out of order)", k + 1);
    out
}

fn counters(port: &serde_json::Value) -> [u64; 11] {
    portshare_host::protocol::ports::COUNTER_NAMES.map(|n| port[n].as_u64().unwrap_or_else(|| panic!("no {n} in {port}")))
}

fn reasons(stats: &serde_json::Value) -> [u64; 5] {
    let r = &stats["reasons"];
    ["rewritten", "no_match", "fragment", "unparsed", "udp_zero_checksum"].map(|n| r[n].as_u64().unwrap())
}

fn want_reasons(c: &Counters) -> [u64; 5] {
    [c.rewritten, c.no_match, c.fragment, c.unparsed, c.udp_zero_checksum].map(u64::from)
}

#[test]
fn a_served_ethernet_board_counts_the_frames_played_into_its_ports() {
    let dir = tempfile::tempdir().unwrap();
    let table_file = dir.path().join("table.toml");
    std::fs::write(&table_file, TABLE).unwrap();
    let slots = portshare_host::table::Table::load(&table_file, 16).unwrap().slots();
    let (inc, out) = (frames(true, 15), frames(false, 10));
    let (net_rx, srv_rx) = (dir.path().join("net.pcap"), dir.path().join("srv.pcap"));
    write_pcap(&net_rx, &inc);
    write_pcap(&srv_rx, &out);

    let (net_tx, srv_tx) = (dir.path().join("net-tx.pcap"), dir.path().join("srv-tx.pcap"));
    let plays = ["--net-rx", s(&net_rx), "--srv-rx", s(&srv_rx), "--net-tx", s(&net_tx), "--srv-tx", s(&srv_tx)];
    let server = Server::start(&dir.path().join("eth.sock"), &[SERVE_ETH, &["--table", s(&table_file)][..], &plays].concat());
    assert!(server.started.contains("2 entries written"), "{}", server.started);
    assert!(!server.started.contains("stomped"), "every frame leaves with a good FCS: {}", server.started);
    // What left each port: the model's frames, in order, any the board dropped missing.
    let (to_srv, to_net) = (Capture::read(&srv_tx).unwrap().frames(), Capture::read(&net_tx).unwrap().frames());
    let (inc_carried, out_carried) = (carried(&inc, &to_srv, Direction::Incoming, &slots), carried(&out, &to_net, Direction::Outgoing, &slots));
    assert!(server.started.contains(&format!("played {} frames", inc.len())) && server.started.contains(&format!("{} frames have left the server port", to_srv.len())), "{}", server.started);
    let dev = server.device();
    let dev = dev.as_str();

    // The table serve loaded is the one the board holds.
    let list = ok(&["list", "--device", dev]);
    assert!(list.contains(": 2 of 16 slots used") && list.contains("192.0.2.20"), "{list}");

    // Both ports: link as the PHY models negotiated it, counters as played.
    // The hit and reason counters count the frames the pipeline carried.
    let mut model = Counters::new(16);
    for (frames, which, d) in [(&inc, &inc_carried, Direction::Incoming), (&out, &out_carried, Direction::Outgoing)] {
        for &i in which {
            model.count(&model::process_frame(&frames[i], d, &slots).outcome);
        }
    }
    assert!(model.rewritten > 0 && model.no_match > 0, "the mix has both: {model:?}");
    let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "--device", dev, "--json"])).unwrap();
    let ports = stats["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 2, "{stats}");
    let want_ports = [port_counts(&inc, inc.len() - inc_carried.len(), &to_net), port_counts(&out, out.len() - out_carried.len(), &to_srv)];
    for ((p, name), want) in ports.iter().zip(["network", "server"]).zip(want_ports) {
        assert_eq!(p["port"], name);
        assert_eq!((&p["link"], &p["speed_mbps"], &p["full_duplex"], &p["phy_present"]), (&true.into(), &100.into(), &true.into(), &true.into()), "{p}");
        assert_eq!(counters(p), want, "{name} port ({:?})", portshare_host::protocol::ports::COUNTER_NAMES);
    }
    assert_eq!(reasons(&stats), want_reasons(&model));
    for e in stats["entries"].as_array().unwrap() {
        let slot = e["slot"].as_u64().unwrap() as usize;
        assert_eq!(e["hits"].as_u64(), Some(u64::from(model.hits[slot])), "{e}");
    }
    let text = ok(&["stats", "--device", dev]);
    assert!(text.contains("port network  link up, 100 Mb/s full duplex") && text.contains("port server   link up, 100 Mb/s full duplex"), "{text}");

    // A new table over the socket, then INJECT through the same pipeline.
    std::fs::write(&table_file, TABLE.replace("8443", "9443")).unwrap();
    let slots = portshare_host::table::Table::load(&table_file, 16).unwrap().slots();
    ok(&["load", "--device", dev, s(&table_file)]);
    let injected = dir.path().join("injected.pcap");
    ok(&["inject", "--device", dev, s(&net_rx), "-o", s(&injected)]);
    let want: Vec<Vec<u8>> = inc.iter().map(|f| model::process_frame(f, Direction::Incoming, &slots).frame).collect();
    assert_eq!(Capture::read(&injected).unwrap().frames(), want);
    for f in &inc {
        model.count(&model::process_frame(f, Direction::Incoming, &slots).outcome);
    }
    let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "--device", dev, "--json"])).unwrap();
    assert_eq!(reasons(&stats), want_reasons(&model), "played and injected");

    // clear --counters: the table, the hit and reason counters and both ports'
    // counters go (RESET_COUNTERS); the ports' status stays.
    assert!(ok(&["clear", "--device", dev, "--counters"]).contains("2 entries removed"));
    let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "--device", dev, "--json"])).unwrap();
    assert_eq!(reasons(&stats), [0; 5]);
    assert_eq!(stats["entries"], serde_json::json!([]));
    for p in 0..2 {
        assert_eq!(counters(&stats["ports"][p]), [0; 11], "port {p} after clear --counters");
        assert_eq!(stats["ports"][p]["link"], true);
    }

    // --board describes the simulated board; the served one already is one.
    let e = fails(&["stats", "--device", dev, "--board", "cu-eth"]);
    assert!(e.contains("describe a simulated board"), "{e}");
    let log = server.stop();
    assert!(log.lines().all(|l| !l.starts_with("connection") || l.contains(" closed: ")), "a connection failed: {log}");
}

#[test]
fn a_one_command_ethernet_board_and_the_combinations_that_do_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let table_file = dir.path().join("table.toml");
    std::fs::write(&table_file, TABLE).unwrap();
    let slots = portshare_host::table::Table::load(&table_file, 16).unwrap().slots();
    let inc = frames(true, 6);
    let input = dir.path().join("in.pcap");
    write_pcap(&input, &inc);

    // INJECT on a one-command cu-eth board: the pipeline's frames, as the model's.
    let output = dir.path().join("out.pcap");
    let eth = ["--device", "sim", "--board", "cu-eth", "--sim-capacity", "16"];
    ok(&[&["inject"][..], &eth, &["--table", s(&table_file), s(&input), "-o", s(&output)]].concat());
    let want: Vec<Vec<u8>> = inc.iter().map(|f| model::process_frame(f, Direction::Incoming, &slots).frame).collect();
    assert_eq!(Capture::read(&output).unwrap().frames(), want);

    let stats = |extra: &[&str]| fails(&[&["stats"][..], &eth, extra].concat());
    let e = stats(&["--engine", "bitstream"]);
    assert!(e.contains("no verify path yet") && e.contains("--engine verilator"), "{e}");
    let e = stats(&["--engine", "netlist"]);
    assert!(e.contains("verilator or rtl engine, not netlist"), "{e}");
    let e = stats(&["--baud", "115200"]);
    assert!(e.contains("--baud does not apply"), "{e}");
    let e = stats(&["--sim-wire", "bytes"]);
    assert!(e.contains("simulated at its pins"), "{e}");
    let e = stats(&["--net-rx", s(&dir.path().join("missing.pcap"))]);
    assert!(e.contains("missing.pcap"), "{e}");
    let e = fails(&["stats", "--device", "sim", "--board", "cu-eth", "--sim-capacity", "128"]);
    assert!(e.contains("16 or 64 entries, not 128"), "{e}");
    let e = fails(&["stats", "--device", "sim", "--net-rx", s(&dir.path().join("missing.pcap"))]);
    assert!(e.contains("the cu board has none"), "{e}");
    // A capture cut short by its snap length cannot be played whole.
    let cut = dir.path().join("cut.pcap");
    let records = vec![Record { data: inc[3][..200].to_vec(), stamp: Stamp::Pcap { ts_sec: 0, ts_frac: 0, orig_len: inc[3].len() as u32 } }];
    Capture { format: Format::Pcap(pcap::ethernet_header()), records }.write(&cut).unwrap();
    let e = stats(&["--srv-rx", s(&cut)]);
    assert!(e.contains("record 1 holds 200 of the frame's 600 bytes"), "{e}");
}
