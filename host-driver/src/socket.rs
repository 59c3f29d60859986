//! The transport to a board behind a unix stream socket: a simulated board kept alive by
//! `portshare serve --device sim --listen unix:PATH` (or the QEMU far end of `serve
//! --uart`). The bytes are the board's UART bytes, as on USB.

use anyhow::{bail, Context as _};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::Transport;

/// How to start a board at `path`, for messages.
pub fn serve_hint(path: &Path) -> String {
    format!("start one with `portshare serve --device sim --listen unix:{}`", path.display())
}

pub struct SocketTransport {
    stream: UnixStream,
    path: PathBuf,
}

impl SocketTransport {
    /// Connects to the socket at `path`; says what is wrong (nothing there, not a
    /// socket, nobody listening) and how to start a board there.
    pub fn connect(path: &Path) -> anyhow::Result<SocketTransport> {
        let hint = serve_hint(path);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => bail!("unix:{}: no socket there; {hint}", path.display()),
            Err(e) => return Err(e).with_context(|| format!("unix:{}", path.display())),
        };
        if !meta.file_type().is_socket() {
            bail!("unix:{}: not a unix socket; {hint}", path.display());
        }
        let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            ErrorKind::ConnectionRefused => {
                anyhow::anyhow!("unix:{}: nothing listens on this socket (left over from a server that ended?); {hint}", path.display())
            }
            _ => anyhow::Error::new(e).context(format!("connecting to unix:{}", path.display())),
        })?;
        Ok(SocketTransport { stream, path: path.into() })
    }

    /// A transport over an already connected stream (`path` names it in messages).
    pub fn over(stream: UnixStream, path: &Path) -> SocketTransport {
        SocketTransport { stream, path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn closed(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "unix:{} closed the connection: not a portshare board, or its server ended",
            self.path.display()
        )
    }
}

impl Transport for SocketTransport {
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self.stream.write_all(bytes) {
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => Err(self.closed()),
            r => r.with_context(|| format!("writing to unix:{}", self.path.display())),
        }
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> anyhow::Result<usize> {
        self.stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            // A peer that hangs up on unread bytes resets the connection instead.
            Ok(0) => Err(self.closed()),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => Err(self.closed()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(0),
            Err(e) => Err(e).with_context(|| format!("reading from unix:{}", self.path.display())),
        }
    }

    fn describe(&self) -> String {
        format!("board on unix:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_path_plain_file_and_dead_socket_say_how_to_start_a_board() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let e = SocketTransport::connect(&missing).err().unwrap().to_string();
        assert!(e.contains("none.sock: no socket there") && e.contains("portshare serve --device sim --listen unix:"), "{e}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let e = SocketTransport::connect(&file).err().unwrap().to_string();
        assert!(e.contains("not a unix socket") && e.contains("--listen"), "{e}");
        let dead = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        let e = SocketTransport::connect(&dead).err().unwrap().to_string();
        assert!(e.contains("nothing listens") && e.contains("--listen"), "{e}");
    }

    #[test]
    fn a_closed_peer_is_an_error_and_silence_is_a_timeout() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut t = SocketTransport::over(ours, Path::new("/x.sock"));
        let mut buf = Vec::new();
        assert_eq!(t.recv(&mut buf, Duration::from_millis(5)).unwrap(), 0);
        (&theirs).write_all(b"ab").unwrap();
        assert_eq!(t.recv(&mut buf, Duration::from_millis(500)).unwrap(), 2);
        drop(theirs);
        let e = t.recv(&mut buf, Duration::from_millis(500)).unwrap_err().to_string();
        assert!(e.contains("closed the connection") && e.contains("not a portshare board"), "{e}");
        assert_eq!(buf, b"ab");
    }
}
