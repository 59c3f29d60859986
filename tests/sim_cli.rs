//! `portshare sim` end to end: the built binary on corpus captures and generated ones,
//! its output checked frame by frame against the reference model with pcap-file, and
//! its errors for bad input.


use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::model::{self, Counters, CountOutcome};
use portshare_sim::pcap::{self, Capture, Format, Record, Stamp};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn portshare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portshare")).args(args).output().expect("run portshare")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn example_table() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/table.toml")
}

/// Checks OUT against IN run through the model with `table`: same header, same
/// timestamps and lengths, frames equal to the model's; returns the model's counters.
fn check_against_model(input: &Path, output: &Path, table: &Table, direction: Direction) -> Counters {
    let a = Capture::read(input).unwrap();
    let b = Capture::read(output).unwrap();
    let (Format::Pcap(ha), Format::Pcap(hb)) = (&a.format, &b.format) else { panic!("not classic pcap") };
    assert_eq!(ha, hb, "pcap header changed");
    assert_eq!(a.records.len(), b.records.len(), "frame count changed");
    let slots = table.slots();
    let mut counters = Counters::new(64);
    for (i, (ra, rb)) in a.records.iter().zip(&b.records).enumerate() {
        assert_eq!(ra.stamp, rb.stamp, "record {i}");
        let p = model::process_frame(&ra.data, direction, &slots);
        counters.count(&p.outcome);
        assert_eq!(p.frame, rb.data, "record {i} differs from the model");
    }
    counters
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "portshare failed: {}", stderr(o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "--json must print one line: {text}");
    let j: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    if j["engine"] == "model" {
        // No progress bar or chatter when stderr is not a terminal.
        assert!(o.stderr.is_empty(), "stderr: {}", stderr(o));
    }
    j
}

fn assert_json_counts(j: &serde_json::Value, c: &Counters, frames: usize, entries: usize) {
    assert_eq!(j["frames_in"], frames);
    assert_eq!(j["frames_out"], frames);
    assert_eq!(j["rewritten"], c.rewritten);
    assert_eq!(j["no_match"], c.no_match);
    assert_eq!(j["fragment"], c.fragment);
    assert_eq!(j["unparsed"], c.unparsed);
    assert_eq!(j["udp_zero_checksum"], c.udp_zero_checksum);
    assert_eq!(j["unchanged"].as_u64().unwrap() + u64::from(c.rewritten), frames as u64);
    let hits: Vec<u64> = j["hits"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).collect();
    assert_eq!(hits, c.hits[..entries].iter().map(|&h| u64::from(h)).collect::<Vec<_>>());
}

#[test]
fn sim_model_on_a_corpus_capture_with_a_flows_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = portshare_sim::corpus::capture("afs.pcap");
    let (out, table_file) = (dir.path().join("out.pcap"), dir.path().join("flows.toml"));
    for direction in ["incoming", "outgoing"] {
        let o = portshare(&[
            "sim", "--engine", "model", "--direction", direction, "--flows", "8", "--save-table", s(&table_file),
            s(&input), "-o", s(&out), "--json",
        ]);
        let j = json(&o);
        assert_eq!(j["engine"], "model");
        let d: Direction = direction.parse().unwrap();
        // The saved table is a valid table file, and it is the table that was used.
        let table = Table::load(&table_file, 64).unwrap();
        assert_eq!(table.entries.len(), 8);
        let c = check_against_model(&input, &out, &table, d);
        assert!(c.rewritten > 100, "{direction}: {c:?}");
        assert_json_counts(&j, &c, 601, 8);
        // The same table given with --table gives the same output, and a human summary.
        let out2 = dir.path().join("out2.pcap");
        let o = portshare(&["sim", "--engine", "model", "--direction", direction, "--table", s(&table_file), s(&input), "-o", s(&out2)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains(&format!("rewritten {}", c.rewritten)), "{text}");
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    }
}

#[test]
fn sim_model_with_an_empty_table_copies_the_capture_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("empty.toml");
    std::fs::write(&table, "# no entries\n").unwrap();
    // A capture with FCS bits in its link-type field and one with VLANs.
    for name in ["heapoverflow-tcp_print.pcap", "802.1ad_QinQ.pcap", "afs.pcap"] {
        let input = portshare_sim::corpus::capture(name);
        let out = dir.path().join("out.pcap");
        let o = portshare(&["sim", "--engine", "model", "--table", s(&table), s(&input), "-o", s(&out), "--json"]);
        let j = json(&o);
        assert_eq!(j["rewritten"], 0);
        assert_eq!(std::fs::read(&input).unwrap(), std::fs::read(&out).unwrap(), "{name}");
    }
}

/// Frames for the example table, built with etherparse: one per entry plus decoys.
fn example_capture(path: &Path) -> Vec<Vec<u8>> {
    use etherparse::PacketBuilder;
    let client = [198, 51, 100, 7];
    let eth = || PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut frames = Vec::new();
    let mut push = |f: Vec<u8>| frames.push(f);
    let mut v = Vec::new();
    eth().ipv4(client, [192, 0, 2, 10], 64).tcp(50000, 443, 1, 1000).write(&mut v, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    push(std::mem::take(&mut v));
    eth().ipv4(client, [192, 0, 2, 10], 64).udp(50001, 443).write(&mut v, b"quic initial").unwrap();
    push(std::mem::take(&mut v));
    eth().ipv4(client, [192, 0, 2, 20], 64).tcp(50002, 443, 1, 1000).write(&mut v, b"tls").unwrap();
    push(std::mem::take(&mut v));
    eth().ipv4(client, [192, 0, 2, 20], 64).udp(50003, 443).write(&mut v, b"not mapped").unwrap();
    push(std::mem::take(&mut v));
    let mut c6 = [0u8; 16];
    c6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    c6[15] = 0x77;
    let g6: [u8; 16] = "2001:db8::30".parse::<std::net::Ipv6Addr>().unwrap().octets();
    eth().ipv6(c6, g6, 64).tcp(50004, 443, 1, 1000).write(&mut v, b"v6").unwrap();
    push(std::mem::take(&mut v));
    eth().ipv4(client, [192, 0, 2, 10], 64).tcp(50005, 853, 1, 1000).write(&mut v, b"dot").unwrap();
    push(std::mem::take(&mut v));
    eth().ipv4(client, [192, 0, 2, 10], 64).tcp(50006, 80, 1, 1000).write(&mut v, b"plain http").unwrap();
    push(std::mem::take(&mut v));
    let records = frames
        .iter()
        .enumerate()
        .map(|(i, f)| Record {
            data: f.clone(),
            stamp: Stamp::Pcap { ts_sec: 1_700_000_000 + i as u32, ts_frac: 123_456, orig_len: f.len() as u32 },
        })
        .collect();
    Capture { format: Format::Pcap(pcap::ethernet_header()), records }.write(path).unwrap();
    frames
}

#[test]
fn sim_model_with_the_example_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("example.pcap");
    let frames = example_capture(&input);
    let out = dir.path().join("out.pcap");
    let o = portshare(&["sim", "--engine", "model", "--table", s(&example_table()), s(&input), "-o", s(&out), "--json"]);
    let j = json(&o);
    let table = Table::load(&example_table(), 64).unwrap();
    let c = check_against_model(&input, &out, &table, Direction::Incoming);
    assert_json_counts(&j, &c, frames.len(), table.entries.len());
    // alpha tcp+udp, beta tcp, gamma v6, alpha 853; beta's UDP and alpha's port 80 are not mapped.
    assert_eq!((c.rewritten, c.no_match), (5, 2));
    assert_eq!(&c.hits[..4], &[2, 1, 1, 1]);
    let ports: Vec<u16> = Capture::read(&out)
        .unwrap()
        .records
        .iter()
        .map(|r| match etherparse::SlicedPacket::from_ethernet(&r.data).unwrap().transport {
            Some(etherparse::TransportSlice::Tcp(t)) => t.destination_port(),
            Some(etherparse::TransportSlice::Udp(u)) => u.destination_port(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(ports, [8443, 8443, 9443, 443, 10443, 8853, 80]);
}

#[test]
fn sim_refuses_a_bad_table_naming_file_entry_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("web.toml");
    std::fs::write(
        &table,
        "[[entry]]\nname = \"alpha\"\naddress = \"192.0.2.1\"\nshared_port = 443\nassigned_port = 8443\n\n\
         [[entry]]\nname = \"beta.example\"\naddress = \"192.0.2.2\"\nshared_port = 70000\nassigned_port = 9443\n",
    )
    .unwrap();
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let out = dir.path().join("out.pcap");
    let o = portshare(&["sim", "--engine", "model", "--table", s(&table), s(&input), "-o", s(&out)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(&format!("{}: entry 2 (\"beta.example\"): shared_port: 70000 is out of range 1-65535", table.display())), "{e}");
    assert!(!out.exists(), "no output for a refused table");
    // Too many entries for the capacity.
    let mut text = String::new();
    for i in 0..17 {
        text.push_str(&format!("[[entry]]\naddress = \"192.0.2.{i}\"\nshared_port = 443\nassigned_port = 8443\n"));
    }
    std::fs::write(&table, text).unwrap();
    let o = portshare(&["sim", "--engine", "model", "--capacity", "16", "--table", s(&table), s(&input), "-o", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("entry 17: entry: the hardware holds 16 entries"), "{}", stderr(&o));
}

#[test]
fn sim_refuses_a_non_ethernet_capture() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("raw-ip.pcap");
    let mut header = pcap::ethernet_header();
    header.datalink = pcap_file::DataLink::RAW;
    let record = Record { data: vec![0x45; 20], stamp: Stamp::Pcap { ts_sec: 1, ts_frac: 0, orig_len: 20 } };
    Capture { format: Format::Pcap(header), records: vec![record] }.write(&input).unwrap();
    let out = dir.path().join("out.pcap");
    let o = portshare(&["sim", "--engine", "model", "--table", s(&example_table()), s(&input), "-o", s(&out)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("raw-ip.pcap") && e.contains("link type 101") && e.contains("not Ethernet"), "{e}");
    assert!(!out.exists());
}

#[test]
fn sim_refuses_missing_files_bad_options_and_overwriting_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.pcap");
    let missing = dir.path().join("missing.pcap");
    let o = portshare(&["sim", "--engine", "model", "--table", s(&example_table()), s(&missing), "-o", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.pcap"), "{}", stderr(&o));
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let o = portshare(&["sim", "--engine", "model", "--table", "/nonexistent/t.toml", s(&input), "-o", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/t.toml"), "{}", stderr(&o));
    let o = portshare(&["sim", "--engine", "model", "--capacity", "32", "--table", s(&example_table()), s(&input), "-o", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("16, 64 or 128"), "{}", stderr(&o));
    let o = portshare(&["sim", "--engine", "model", "--vcd", "w.vcd", "--table", s(&example_table()), s(&input), "-o", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--vcd needs --engine rtl"), "{}", stderr(&o));
    let o = portshare(&["sim", "--engine", "model", s(&input), "-o", s(&out)]);
    assert!(!o.status.success(), "a table or --flows is required");
    // The input is never overwritten.
    let copy = dir.path().join("in.pcap");
    std::fs::copy(&input, &copy).unwrap();
    let o = portshare(&["sim", "--engine", "model", "--flows", "4", s(&copy), "-o", s(&copy)]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&input).unwrap());
    // A truncated capture: the error names the file and the record.
    let bytes = std::fs::read(&input).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let o = portshare(&["sim", "--engine", "model", "--flows", "4", s(&cut), "-o", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cut.pcap: record 54"), "{}", stderr(&o));
}

/// The default engine (verilator) and the rtl engine on a corpus capture: exactly the
/// model's frames, and the same clock figures from both (one design, two simulators).
#[test]
fn sim_verilator_and_rtl_match_the_model_on_a_corpus_capture() {
    let dir = tempfile::tempdir().unwrap();
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let table_file = dir.path().join("flows.toml");
    let mut figures = vec![];
    for engine in [None, Some("rtl")] {
        let out = dir.path().join(format!("out-{}.pcap", engine.unwrap_or("default")));
        let mut args = vec!["sim", "--flows", "4", "--save-table", s(&table_file), s(&input), "-o", s(&out), "--json"];
        if let Some(e) = engine {
            args.extend(["--engine", e]);
        }
        let o = portshare(&args);
        let j = json(&o);
        assert_eq!(j["engine"], engine.unwrap_or("verilator"));
        let table = Table::load(&table_file, 64).unwrap();
        let c = check_against_model(&input, &out, &table, Direction::Incoming);
        assert!(c.rewritten > 0);
        assert_json_counts(&j, &c, 54, table.entries.len());
        assert_eq!(j["model_mismatches"], 0);
        let bytes: u64 = Capture::read(&input).unwrap().records.iter().map(|r| r.data.len() as u64).sum();
        assert_eq!(j["bytes_in"], bytes);
        assert!(j["clocks"].as_u64().unwrap() >= bytes);
        assert!(j["latency_clocks"].as_u64().unwrap() > 0);
        let bpc = j["bytes_per_clock"].as_f64().unwrap();
        assert!(bpc > 0.0 && bpc <= 1.0, "{bpc}");
        figures.push((j["clocks"].clone(), j["latency_clocks"].clone()));
    }
    assert_eq!(figures[0], figures[1], "verilator and rtl (clocks, latency)");
}

/// Without Verilator the verilator engine says what is missing, which Debian package
/// has it, and that `--engine rtl` needs nothing.
#[test]
fn sim_without_verilator_names_the_package_and_the_rtl_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let out = dir.path().join("out.pcap");
    let o = Command::new(env!("CARGO_BIN_EXE_portshare"))
        .args(["sim", "--flows", "4", s(&input), "-o", s(&out)])
        .env("PATH", dir.path())
        .env("PORTSHARE_VERILATOR_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("`verilator` is not installed") && e.contains("Debian package `verilator`") && e.contains("--engine rtl"), "{e}");
}

/// `sim --at rmii`: the example capture (plus a maximum-size frame) through the Ethernet
/// board's pins both ways equals `sim --engine model` byte for byte with the input's
/// timestamps; the JSON has the ports' counters (every frame received on the ingress
/// port, sent on the egress port), a wire-to-wire latency no shorter than the shortest
/// frame's own time on the wire, and nothing dropped. Bad uses are refused.
#[test]
fn sim_at_rmii_equals_the_model_both_ways_with_counters_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("example.pcap");
    let mut frames = example_capture(&input);
    // One maximum-size frame (1 514 bytes without FCS) for the latency's range.
    let mut cap = Capture::read(&input).unwrap();
    let mut big = frames[0].clone();
    big.resize(1514, 0x5A);
    cap.records.push(Record { data: big.clone(), stamp: Stamp::Pcap { ts_sec: 1_800_000_000, ts_frac: 7, orig_len: 1514 } });
    cap.write(&input).unwrap();
    frames.push(big);
    let table = example_table();
    for dir_name in ["incoming", "outgoing"] {
        let (out, model_out) = (dir.path().join(format!("{dir_name}.pcap")), dir.path().join(format!("{dir_name}-model.pcap")));
        let o = portshare(&["sim", "--at", "rmii", "--table", s(&table), "--direction", dir_name, s(&input), "-o", s(&out), "--json"]);
        let j = json(&o);
        let m = portshare(&["sim", "--engine", "model", "--table", s(&table), "--direction", dir_name, s(&input), "-o", s(&model_out)]);
        assert!(m.status.success(), "{}", stderr(&m));
        let (a, b) = (Capture::read(&out).unwrap(), Capture::read(&model_out).unwrap());
        assert_eq!(a.records, b.records, "{dir_name}: --at rmii differs from the model");
        assert_eq!(a.records.len(), frames.len());
        assert_eq!((j["at"].as_str(), j["engine"].as_str()), (Some("rmii"), Some("verilator")));
        assert_eq!(j["dropped"].as_array().map(|a| a.len()), Some(0), "{j}");
        assert_eq!((j["model_mismatches"].as_u64(), j["egress_fcs_bad"].as_u64()), (Some(0), Some(0)));
        // The capture's unpadded frames are runts on the wire: they leave stomped (§3a).
        let runts = frames.iter().filter(|f| f.len() + 4 < 64).count() as u64;
        assert_eq!(j["egress_runts_stomped"].as_u64(), Some(runts), "{j}");
        let (from, to) = if dir_name == "incoming" { ("net", "srv") } else { ("srv", "net") };
        let n = frames.len() as u64;
        assert_eq!(j["ports"][from]["rx_frames"].as_u64(), Some(n), "{j}");
        assert_eq!(j["ports"][to]["tx_frames"].as_u64(), Some(n), "{j}");
        assert_eq!(j["ports"][to]["rx_frames"].as_u64(), Some(0), "{j}");
        let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        assert_eq!(j["ports"][from]["rx_bytes"].as_u64(), Some(bytes), "{j}");
        // The board stores a frame whole before the pipeline: at least the shortest
        // frame's preamble, bytes and FCS at 80 ns a byte, and at least the big one's.
        let shortest = frames.iter().map(|f| f.len()).min().unwrap() as f64;
        let (lmin, lmax) = (j["latency_ns"]["min"].as_f64().unwrap(), j["latency_ns"]["max"].as_f64().unwrap());
        assert!(lmin >= (shortest + 12.0) * 80.0 && lmax >= 1526.0 * 80.0 && lmax < 200_000.0, "latency {lmin}–{lmax} ns");
    }
    let out = dir.path().join("x.pcap");
    let o = portshare(&["sim", "--at", "rmii", "--engine", "model", "--table", s(&table), s(&input), "-o", s(&out)]);
    assert!(!o.status.success() && stderr(&o).contains("verilator or rtl engine"), "{}", stderr(&o));
    let o = portshare(&["sim", "--at", "rmii", "--load", "0", "--table", s(&table), s(&input), "-o", s(&out)]);
    assert!(!o.status.success() && stderr(&o).contains("1 to 100"), "{}", stderr(&o));
    let o = portshare(&["sim", "--load", "50", "--table", s(&table), s(&input), "-o", s(&out)]);
    assert!(!o.status.success() && stderr(&o).contains("--at rmii"), "{}", stderr(&o));
}
