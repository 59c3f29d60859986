//! `portshare serve --device sim --listen unix:PATH`: one simulated board kept alive
//! for command after command (`--device unix:PATH`). The table loaded by one command
//! is listed by the next, frames injected by a third are counted by a fourth, all
//! checked against the table file and the reference model; a second command while one
//! is served waits its turn (or says why it gave up), and sockets that are no board
//! get clear errors.


use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::model::{self, Counters, CountOutcome};
use portshare_sim::pcap::Capture;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::Duration;

mod common;
use common::{fails, ok, s, Server};

/// The served board of these tests: the Cu top, 16 entries.
const SERVE_CU: &[&str] = &["--device", "sim", "--sim-capacity", "16"];


#[test]
fn the_served_board_keeps_its_table_and_counters_between_commands() {
    let dir = tempfile::tempdir().unwrap();
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let table_file = dir.path().join("flows.toml");
    let scratch = dir.path().join("scratch.pcap");
    ok(&["sim", "--engine", "model", "--flows", "4", "--save-table", s(&table_file), s(&input), "-o", s(&scratch)]);
    let table = Table::load(&table_file, 16).unwrap();

    let server = Server::start(&dir.path().join("board.sock"), SERVE_CU);
    let dev = server.device();
    let dev = dev.as_str();
    // A fresh board is empty.
    assert!(ok(&["list", "--device", dev]).contains(": 0 of 16 slots used"));

    // Command 1 loads, command 2 lists what command 1 wrote.
    ok(&["load", "--device", dev, s(&table_file)]);
    let list = ok(&["list", "--device", dev]);
    assert!(list.contains(&format!(": {} of 16 slots used", table.entries.len())), "{list}");
    for (i, slot) in table.slots().iter().enumerate() {
        let line = list.lines().find(|l| l.split_whitespace().next() == Some(&i.to_string())).unwrap_or_else(|| panic!("slot {i}: {list}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], slot.ip().to_string(), "{line}");
        assert_eq!((fields[3], fields[4]), (&*slot.shared_port.to_string(), &*slot.assigned_port.to_string()), "{line}");
    }

    // Command 3 injects; command 4 reads the counters those frames left.
    let out = dir.path().join("out.pcap");
    ok(&["inject", "--device", dev, s(&input), "-o", s(&out)]);
    let frames = Capture::read(&input).unwrap().frames();
    let slots = table.slots();
    let mut want = Counters::new(16);
    let mut want_frames = Vec::new();
    for f in &frames {
        let p = model::process_frame(f, Direction::Incoming, &slots);
        want.count(&p.outcome);
        want_frames.push(p.frame);
    }
    assert_eq!(Capture::read(&out).unwrap().frames(), want_frames);
    assert!(want.rewritten > 0);
    let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "--device", dev, "--json"])).unwrap();
    let r = &stats["reasons"];
    assert_eq!(
        [&r["rewritten"], &r["no_match"], &r["fragment"], &r["unparsed"], &r["udp_zero_checksum"]].map(|v| v.as_u64().unwrap()),
        [want.rewritten, want.no_match, want.fragment, want.unparsed, want.udp_zero_checksum].map(u64::from)
    );
    for e in stats["entries"].as_array().unwrap() {
        let slot = e["slot"].as_u64().unwrap() as usize;
        assert_eq!(e["hits"].as_u64(), Some(u64::from(want.hits[slot])), "{e}");
    }

    // Command 5 clears; command 6 sees the empty table.
    assert!(ok(&["clear", "--device", dev]).contains(&format!("{} entries removed", table.entries.len())));
    assert!(ok(&["list", "--device", dev]).contains(": 0 of 16 slots used"));

    // One command at a time: while a connection is held, the next command waits its
    // turn; one whose timeout runs out first says why it may have got no answer.
    let held = UnixStream::connect(&server.sock).unwrap();
    let e = fails(&["list", "--device", dev, "--timeout-ms", "500"]);
    assert!(e.contains("one command at a time") && e.contains("no reply to INFO"), "{e}");
    let args = ["list".to_string(), "--device".into(), dev.into()];
    let waiting = std::thread::spawn(move || Command::new(env!("CARGO_BIN_EXE_portshare")).args(args).output());
    std::thread::sleep(Duration::from_secs(1));
    drop(held);
    let o = waiting.join().unwrap().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains(": 0 of 16 slots used"));

    let log = server.stop();
    assert!(log.matches(" closed: ").count() >= 8, "{log}");
}

#[test]
fn bad_device_paths_and_sockets_that_are_no_board_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let e = fails(&["list", "--device", &format!("unix:{}", missing.display())]);
    assert!(e.contains("missing.sock: no socket there; start one with `portshare serve --device sim --listen unix:"), "{e}");
    let file = dir.path().join("file.sock");
    std::fs::write(&file, b"").unwrap();
    let e = fails(&["stats", "--device", &format!("unix:{}", file.display())]);
    assert!(e.contains("not a unix socket"), "{e}");
    let e = fails(&["list", "--device", "unix:"]);
    assert!(e.contains("unix:PATH"), "{e}");

    // A socket whose server ended without removing it: nobody listens.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let e = fails(&["clear", "--device", &format!("unix:{}", stale.display())]);
    assert!(e.contains("nothing listens on this socket") && e.contains("--listen"), "{e}");
    // `serve --listen` takes such a leftover over, but not a socket in use.
    let server = Server::start(&stale, SERVE_CU);
    let e = fails(&["serve", "--device", "sim", "--listen", &server.device()]);
    assert!(e.contains("a server already listens there"), "{e}");
    drop(server);

    // Something else listening: one talks nonsense, one hangs up.
    let chatty = dir.path().join("chatty.sock");
    let listener = UnixListener::bind(&chatty).unwrap();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(b"220 smtp.example ESMTP ready\r\n");
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let e = fails(&["load", "--device", &format!("unix:{}", chatty.display()), "--timeout-ms", "300", "examples/table.toml"]);
    assert!(e.contains("did not answer as a portshare board") && e.contains("no reply to INFO"), "{e}");
    let rude = dir.path().join("rude.sock");
    let listener = UnixListener::bind(&rude).unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            drop(c);
        }
    });
    let e = fails(&["inject", "--device", &format!("unix:{}", rude.display()), "x.pcap", "-o", "y.pcap"]);
    assert!(e.contains("did not answer as a portshare board") && e.contains("closed the connection"), "{e}");
}
