//! The guest half of the USB end-to-end test (`tests/usb_qemu.rs` in the root package
//! is the host half and says how to run both). Inside a QEMU guest, through the real
//! Linux xHCI driver and usbfs, two emulated FTDI FT232s (QEMU `usb-serial`) are
//! present: serial ECHO0001 whose far end echoes every byte, and SIM00001 whose far end
//! is the simulated board. This test drives both with `UsbTransport` exactly as the
//! CLI does. It only makes sense in that guest, so it is `#[ignore]`d and refuses to
//! run elsewhere.

use std::time::{Duration, Instant};

use portshare_host::ftdi::{UsbSelector, FTDI_VID};
use portshare_host::protocol::Client;
use portshare_host::transport::Transport;
use portshare_host::usb::{self, UartSettings, UsbTransport};
use portshare_host::{Direction, Slot};

fn say(msg: impl AsRef<str>) {
    println!("GUEST: {}", msg.as_ref());
}

/// The interfaces ftdi_sio is bound to, per sysfs (e.g. "1-1:1.0").
fn ftdi_sio_bound() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/bus/usb/drivers/ftdi_sio")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(':'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads until `want` bytes have come or `timeout` passes.
fn recv_exactly(t: &mut UsbTransport, want: usize, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        t.recv(&mut got, Duration::from_millis(50)).expect("recv");
    }
    got
}

fn echo_phase() {
    let sel = UsbSelector::Serial("ECHO0001".into());
    let bound_before = ftdi_sio_bound();
    say(format!("ftdi_sio bound to {bound_before:?}"));
    assert_eq!(
        bound_before.len(),
        2,
        "ftdi_sio should hold both FT232s before we open one"
    );

    // The FT232 (BM) cannot do 4 Mbaud; the error says so rather than running slow.
    let e = UsbTransport::open(&sel, UartSettings::default())
        .err()
        .expect("4 Mbaud on an FT232BM must be refused");
    say(format!("4 Mbaud refused: {e:#}"));
    assert!(
        format!("{e:#}").contains("cannot run at 4000000 baud"),
        "{e:#}"
    );

    let mut t = UsbTransport::open(
        &sel,
        UartSettings {
            baud: 3_000_000,
            latency_ms: 1,
        },
    )
    .expect("open ECHO0001");
    let ep = t.endpoints();
    say(format!(
        "opened {}: {:?}, {} baud",
        t.describe(),
        ep,
        t.baud()
    ));
    assert_eq!(
        (ep.ep_in, ep.ep_out, ep.max_packet),
        (0x81, 0x02, 64),
        "QEMU's FT232 endpoints from the descriptors"
    );
    assert_eq!(t.baud(), 3_000_000);
    let bound_open = ftdi_sio_bound();
    say(format!("while open, ftdi_sio bound to {bound_open:?}"));
    assert_eq!(bound_open.len(), 1, "only our interface is detached");

    // Lengths around the 62-data-byte packet boundary, and bytes that look like the
    // status header (0x01 0x60 / 0xb1 0x60), must come back exactly.
    for len in [1usize, 61, 62, 63, 64, 124, 125, 200, 1000, 3000] {
        let data: Vec<u8> = (0..len)
            .map(|i| [0xb1, 0x60, 0x01, 0x00, (i * 31 + 7) as u8][i % 5])
            .collect();
        let started = Instant::now();
        t.send(&data).expect("send");
        let back = recv_exactly(&mut t, len, Duration::from_secs(10));
        assert_eq!(
            back.len(),
            len,
            "echo of {len} bytes: got {} back",
            back.len()
        );
        assert!(back == data, "echo of {len} bytes differs");
        say(format!("echo {len:>5} bytes ok in {:?}", started.elapsed()));
    }
    // Nothing more is pending: recv times out cleanly with 0.
    let mut none = Vec::new();
    assert_eq!(
        t.recv(&mut none, Duration::from_millis(100))
            .expect("idle recv"),
        0
    );
    drop(t);
    // The kernel driver gets its interface back.
    std::thread::sleep(Duration::from_millis(300));
    let bound_after = ftdi_sio_bound();
    say(format!("after close, ftdi_sio bound to {bound_after:?}"));
    assert_eq!(bound_after, bound_before, "ftdi_sio reattached on drop");
}

fn board_phase() {
    let sel = UsbSelector::Serial("SIM00001".into());
    let t = UsbTransport::open(
        &sel,
        UartSettings {
            baud: 3_000_000,
            latency_ms: 1,
        },
    )
    .expect("open SIM00001");
    say(format!("opened {}", t.describe()));
    let mut c = Client::new(t)
        .with_baud(3_000_000)
        .with_timeout(Duration::from_millis(2000));
    let info = c.info().expect("INFO");
    say(format!("INFO: {info:?}"));
    assert!(info.capacity > 0);
    let cap = info.capacity as usize;

    let alpha = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
    let gamma = Slot::new("2001:db8::10".parse().unwrap(), true, true, 443, 9443);
    c.write_entry(0, &alpha).expect("write 0");
    c.write_entry(1, &gamma).expect("write 1");
    assert_eq!(c.read_entry(0).expect("read 0"), alpha);
    assert_eq!(c.read_entry(1).expect("read 1"), gamma);
    let started = Instant::now();
    for i in 2..cap {
        c.write_entry(i as u8, &Slot::default())
            .expect("clear slot");
    }
    say(format!(
        "{} empty slots written in {:?}",
        cap - 2,
        started.elapsed()
    ));

    // IPv4 TCP to alpha:443, padded to several sizes around the 62-byte packet payload.
    for len in [60usize, 61, 62, 64, 125, 600, 1514] {
        let mut f = vec![0u8; len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (len - 14) as u16;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&ip_len.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[198, 51, 100, 7]);
        f[30..34].copy_from_slice(&[192, 0, 2, 10]);
        f[34..36].copy_from_slice(&51000u16.to_be_bytes());
        f[36..38].copy_from_slice(&443u16.to_be_bytes());
        f[46] = 0x50;
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = (i * 13) as u8;
        }
        let out = c.inject(Direction::Incoming, &f).expect("inject");
        assert_eq!(out.len(), len);
        assert_eq!(
            &out[36..38],
            &8443u16.to_be_bytes(),
            "{len}-byte frame: port rewritten"
        );
        let differing: Vec<usize> = (0..len).filter(|&i| out[i] != f[i]).collect();
        assert!(
            differing
                .iter()
                .all(|&i| (36..38).contains(&i) || (50..52).contains(&i)),
            "{len}: {differing:?}"
        );
        // The same frame outgoing does not match (src port 51000 is nobody's assigned port).
        assert_eq!(
            c.inject(Direction::Outgoing, &f).expect("inject out"),
            f,
            "{len}-byte frame outgoing: unchanged"
        );
        say(format!("inject {len:>4}-byte frame ok"));
    }
    let counters = c.read_counters(cap).expect("counters");
    say(format!("counters: {counters:?}"));
    assert_eq!(counters.hits[0], 7);
    let stats = c.stats();
    say(format!("client stats: {stats:?}"));
}

#[test]
#[ignore = "runs only inside the QEMU guest started by tests/usb_qemu.rs"]
fn qemu_guest() {
    assert_eq!(
        std::env::var("PORTSHARE_QEMU_GUEST").as_deref(),
        Ok("1"),
        "this test runs only in the QEMU guest"
    );
    let devices = usb::enumerate().expect("enumerate");
    for d in devices.iter().filter(|d| d.vid == FTDI_VID) {
        say(format!("found {} chip {:?}", d.summary(), d.chip()));
    }
    let ftdi: Vec<_> = devices
        .iter()
        .filter(|d| d.vid == FTDI_VID && d.pid == 0x6001)
        .collect();
    assert_eq!(ftdi.len(), 2, "two QEMU FT232s");
    assert!(ftdi
        .iter()
        .all(|d| d.product.as_deref() == Some("QEMU USB SERIAL")));

    // Two usable boards: a bare `usb` must not guess.
    let e = UsbTransport::open(
        &UsbSelector::Any,
        UartSettings {
            baud: 3_000_000,
            latency_ms: 1,
        },
    )
    .err()
    .expect("ambiguous");
    say(format!("bare usb refused: {e:#}"));
    assert!(format!("{e:#}").contains("several boards"));

    echo_phase();
    if std::env::var("PORTSHARE_QEMU_SIM").as_deref() == Ok("1") {
        board_phase();
    }
    say("ALL OK");
}
