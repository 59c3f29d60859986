//! The rusb transport end to end through a real Linux USB stack, with no board: QEMU's
//! emulated FTDI (`usb-serial`, an FT232 at 0403:6001) behind the guest kernel's xHCI
//! driver and usbfs, with ftdi_sio bound as on a desktop. Inside the guest the static
//! test binary `host-driver/tests/usb_guest.rs` enumerates, detaches ftdi_sio from the
//! one interface, claims it, sends the FTDI vendor requests and moves multi-packet bulk
//! transfers with their modem-status bytes. Two emulated FT232s are attached: ECHO0001,
//! whose far end (a thread here) echoes every byte, and SIM00001, whose far end is
//! the simulated board — so a `Client` runs the control protocol over real USB.
//! Facts and pitfalls: /work/shared/QEMU-FTDI.md.
//!
//! Needs QEMU and a kernel, so it is `#[ignore]`d. To run it (Debian 12, as root):
//!
//! ```text
//! apt-get install -y qemu-system-x86 busybox-static cpio
//! apt-get download linux-image-6.1.0-56-amd64 && dpkg -x linux-image-6.1.0-56-amd64_*.deb /tmp/kernel
//! CARGO_TARGET_DIR=/tmp/static RUSTFLAGS="-C target-feature=+crt-static" \
//!   cargo test -p portshare-host --features vendored-libusb --test usb_guest --no-run \
//!   --target x86_64-unknown-linux-gnu   # (so RUSTFLAGS spare the proc macros)
//! PORTSHARE_QEMU_KERNEL=/tmp/kernel \
//! PORTSHARE_QEMU_GUEST_BIN=$(ls /tmp/static/x86_64-unknown-linux-gnu/debug/deps/usb_guest-* | grep -v '\.d$') \
//!   cargo test --test usb_qemu -- --ignored --nocapture
//! ```

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use portshare_host::transport::Transport;
use portshare_sim::board::{SimBoard, SimWire};

const MODULES: [&str; 6] = [
    "usb-common",
    "usbcore",
    "xhci-hcd",
    "xhci-pci",
    "usbserial",
    "ftdi_sio",
];

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(p);
        }
    }
    None
}

/// Reads from `stream` on one thread and writes on another, so QEMU (which writes the
/// guest's OUT data with a blocking write) is never stuck behind our writing.
fn split(stream: UnixStream) -> (mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) {
    let (in_tx, in_rx) = mpsc::channel();
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>();
    let mut reader = stream.try_clone().expect("clone socket");
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || in_tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut writer = stream;
    thread::spawn(move || {
        for chunk in out_rx {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    (in_rx, out_tx)
}

fn serve_echo(listener: UnixListener) {
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("QEMU connects");
        let (rx, tx) = split(stream);
        for chunk in rx {
            if tx.send(chunk).is_err() {
                break;
            }
        }
    });
}

/// The simulated board as the far end of the UART: bytes from the guest go into its
/// control block, bytes it sends go back to the guest. The fast byte-level wiring is
/// used: the guest's `Client` waits in wall-clock time, and the pins-level simulation
/// would be far slower than the real 3 Mbaud line.
fn serve_sim_board(listener: UnixListener) {
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("QEMU connects");
        let (rx, tx) = split(stream);
        let mut board = SimBoard::new(64, SimWire::Bytes).expect("simulated board");
        let mut out = Vec::new();
        // Clock the board while anything is happening; once nothing has moved for a
        // good while (longer than any request takes), block on the guest instead.
        let mut idle_rounds = 0u32;
        loop {
            loop {
                match rx.try_recv() {
                    Ok(bytes) => {
                        board.send(&bytes).expect("sim board takes bytes");
                        idle_rounds = 0;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            out.clear();
            if board
                .recv(&mut out, Duration::from_micros(20))
                .expect("sim board runs")
                > 0
            {
                idle_rounds = 0;
                if tx.send(out.clone()).is_err() {
                    return;
                }
            } else if idle_rounds < 100 {
                idle_rounds += 1;
            } else {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(bytes) => {
                        board.send(&bytes).expect("sim board takes bytes");
                        idle_rounds = 0;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    });
}

#[test]
#[ignore = "needs QEMU, a Debian kernel and a static guest build; see the file's doc comment"]
fn usb_transport_through_qemu_ftdi() {
    let kernel = PathBuf::from(
        std::env::var("PORTSHARE_QEMU_KERNEL")
            .expect("PORTSHARE_QEMU_KERNEL: unpacked linux-image tree"),
    );
    let guest = PathBuf::from(
        std::env::var("PORTSHARE_QEMU_GUEST_BIN")
            .expect("PORTSHARE_QEMU_GUEST_BIN: static usb_guest test binary"),
    );
    let vmlinuz = std::fs::read_dir(kernel.join("boot"))
        .expect("kernel/boot")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vmlinuz-")
        })
        .expect("boot/vmlinuz-*");

    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    for d in ["bin", "modules", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static installed");
    std::fs::copy(&guest, root.join("guest")).expect("guest binary");
    for m in MODULES {
        let ko = find_file(&kernel.join("lib/modules"), &format!("{m}.ko"))
            .unwrap_or_else(|| panic!("module {m}.ko"));
        std::fs::copy(ko, root.join(format!("modules/{m}.ko"))).unwrap();
    }
    let init = format!(
        r#"#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
for m in {modules}; do $B insmod /modules/$m.ko || echo "GUEST: insmod $m failed"; done
i=0
while [ $i -lt 100 ]; do
  n=$($B ls /sys/bus/usb/drivers/ftdi_sio 2>/dev/null | $B grep -c ':')
  [ "$n" -ge 2 ] && break
  $B usleep 100000; i=$((i+1))
done
PORTSHARE_QEMU_GUEST=1 PORTSHARE_QEMU_SIM=1 /guest --ignored --exact qemu_guest --nocapture --test-threads=1
echo "GUEST-RESULT $?"
$B poweroff -f
"#,
        modules = MODULES.join(" ")
    );
    std::fs::write(root.join("init"), init).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["init", "guest", "bin/busybox"] {
        std::fs::set_permissions(root.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let initrd = tmp.path().join("initramfs.cpio.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && find . | cpio -o -H newc 2>/dev/null | gzip -1 > {}",
            root.display(),
            initrd.display()
        ))
        .status()
        .expect("cpio/gzip");
    assert!(st.success(), "building the initramfs");

    let echo_sock = tmp.path().join("echo.sock");
    let sim_sock = tmp.path().join("sim.sock");
    serve_echo(UnixListener::bind(&echo_sock).unwrap());
    serve_sim_board(UnixListener::bind(&sim_sock).unwrap());

    let out = Command::new("timeout")
        .args([
            "-k",
            "5",
            "300",
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "512",
            "-smp",
            "1",
            "-nodefaults",
        ])
        .args([
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init",
        ])
        .args(["-device", "qemu-xhci,id=hc"])
        .arg("-chardev")
        .arg(format!("socket,id=echo,path={}", echo_sock.display()))
        .args([
            "-device",
            "usb-serial,bus=hc.0,chardev=echo,serial=ECHO0001",
        ])
        .arg("-chardev")
        .arg(format!("socket,id=sim,path={}", sim_sock.display()))
        .args(["-device", "usb-serial,bus=hc.0,chardev=sim,serial=SIM00001"])
        .output()
        .expect("qemu-system-x86_64 installed");
    let console = String::from_utf8_lossy(&out.stdout);
    println!("{console}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        console.contains("GUEST: ALL OK"),
        "the guest did not finish its checks"
    );
    assert!(console.contains("GUEST-RESULT 0"), "the guest test failed");
}
