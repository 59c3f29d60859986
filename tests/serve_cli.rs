//! End-to-end tests of `portshare serve`, the simulated board as a unix-socket UART
//! (the far end QEMU's emulated FTDI chip connects to; `tests/usb-qemu/run` uses it
//! that way). Here the test itself is the peer and speaks the control protocol with
//! the host codec.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portshare_host::protocol::{Deframed, DeviceInfo, Reply, Request, SlipDecoder, PROTOCOL_VERSION, STATUS_OK};

fn serve_error(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_portshare"))
        .arg("serve")
        .args(args)
        .output()
        .expect("run portshare");
    assert!(!o.status.success(), "serve {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_refuses_bad_arguments_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("board.sock");
    let uart = format!("unix:{}", sock.display());

    assert!(serve_error(&["--device", "sim", "--uart", "tcp:127.0.0.1:9"]).contains("unix:PATH"));
    assert!(serve_error(&["--uart", &uart]).contains("use --device sim"));
    let e = serve_error(&["--device", "sim", "--uart", &uart, "--fault", "loud"]);
    assert!(e.contains("none, silent, bad-crc or version=N"), "{e}");
    std::fs::write(&sock, b"").unwrap();
    assert!(serve_error(&["--device", "sim", "--uart", &uart]).contains("already exists"));
}

#[test]
fn serve_answers_its_peer_and_exits_when_the_peer_closes() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("board.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portshare"))
        .args(["serve", "--device", "sim", "--sim-capacity", "16", "--fault", "version=9"])
        .arg("--uart")
        .arg(format!("unix:{}", sock.display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portshare serve");
    wait_for("the socket", || Path::new(&sock).exists());

    let mut peer = UnixStream::connect(&sock).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    peer.write_all(&Request::Info.encode(7)).unwrap();
    let mut deframer = SlipDecoder::new();
    let mut buf = [0u8; 256];
    let body = loop {
        let n = peer.read(&mut buf).expect("the board replies");
        assert!(n > 0, "serve closed the connection");
        if let Some(Deframed::Packet(body)) = deframer.push(&buf[..n]).into_iter().next() {
            break body;
        }
    };
    let reply = Reply::decode(&body).expect("a well-formed reply");
    assert_eq!((reply.status, reply.seq), (STATUS_OK, 7));
    let info = DeviceInfo::from_payload(&reply.payload).expect("an INFO payload");
    assert_eq!(info.capacity, 16);
    assert_eq!(info.protocol_version, 9, "the version fault rewrites INFO");
    assert_ne!(info.protocol_version, PROTOCOL_VERSION);

    drop(peer);
    let mut status = None;
    wait_for("serve to exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.unwrap().success(), "{stderr}");
    let sent = format!("{} bytes received", Request::Info.encode(7).len());
    assert!(stderr.contains("peer closed") && stderr.contains(&sent), "{stderr}");
    assert!(!sock.exists(), "serve removes its socket");
}
