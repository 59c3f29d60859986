//! What the CLI tests share: running the binary, and a `serve --listen` process.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

pub fn portshare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portshare")).args(args).output().expect("run portshare")
}

pub fn ok(args: &[&str]) -> String {
    let o = portshare(args);
    assert!(o.status.success(), "portshare {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

pub fn fails(args: &[&str]) -> String {
    let o = portshare(args);
    assert!(!o.status.success(), "portshare {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A `portshare serve … --listen unix:SOCK` process, killed (it runs until killed) when
/// the test ends.
pub struct Server {
    child: Child,
    pub sock: PathBuf,
    log: BufReader<ChildStderr>,
    /// What it said before it served.
    pub started: String,
}

impl Server {
    /// `portshare serve ARGS --listen unix:SOCK`, waiting until it says it serves (the
    /// socket then listens).
    pub fn start(sock: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portshare"))
            .arg("serve")
            .args(args)
            .arg("--listen")
            .arg(format!("unix:{}", sock.display()))
            .stderr(Stdio::piped())
            .spawn()
            .expect("run portshare serve");
        let mut log = BufReader::new(child.stderr.take().unwrap());
        let mut started = String::new();
        loop {
            let mut line = String::new();
            assert!(log.read_line(&mut line).unwrap() > 0, "serve exited before serving: {started}");
            started += &line;
            if line.starts_with("serving ") {
                break;
            }
        }
        Server { child, sock: sock.into(), log, started }
    }

    pub fn device(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    /// Kills it and returns everything it said after it started serving.
    pub fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut stderr = String::new();
        self.log.read_to_string(&mut stderr).unwrap();
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
