//! The byte pipe between the host and the board's control UART. Two kinds implement
//! it: the real board over USB (`usb.rs`) and the simulated board (`portshare-sim`'s
//! `board.rs`), so every command runs the same way against either.

use std::time::Duration;

pub trait Transport {
    /// Sends all of `bytes` to the board's UART.
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()>;
    /// Appends whatever the board has sent to `buf`, waiting up to `timeout` for at
    /// least one byte; returns how many bytes were appended (0 means the wait ran out).
    /// A simulated board measures `timeout` in simulated time.
    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> anyhow::Result<usize>;
    /// What this transport talks to, for messages ("Alchitry Cu on USB 1:7", "simulated board").
    fn describe(&self) -> String;
}
