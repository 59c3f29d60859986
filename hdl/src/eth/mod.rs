//! Ethernet blocks for the RMII ports (LAN8720 modules): one
//! block per file, each with its test bench; the PHY model they are also tested against
//! lives in `portshare_sim::phy` (sim/tests/rmii.rs).
//!
//! Clock domains: `rmii_rx` and `rmii_tx` run on their port's REF_CLK (50 MHz from the
//! PHY module), `mdio` on the 100 MHz core clock, and `cdc` crosses between the two.
//!
//! Stream conventions (the crate's: 8-bit `data`, `valid`, `last`; frames carry no
//! preamble, SFD or FCS on any stream here):
//! * `RmiiRx` out: no `ready` — the wire does not wait; one beat per `valid` clock. Its
//!   frame status (`fcs_bad`, `stomped`, `runt`, `align`) is valid with its
//!   `frame_end` strobe, which falls on the last beat's clock (a frame of 4 bytes or fewer ends
//!   with `frame_end` and no beat at all).
//! * `RmiiTx` in: `valid`/`ready`/`last` plus `stomp`, read with `last`: the frame
//!   leaves with an FCS that can never check (the bad-ingress-FCS rule). Once a frame
//!   has started, the transmitter needs a byte every 8 bit times; if none is valid it
//!   ends the frame stomped (`underrun`) and drops the rest of it.
//! * Crossings (`cdc_rx`, `cdc_tx`): REF_CLK-side ports are named `rx_*`/`tx_*` as the
//!   receiver's outputs and the transmitter's inputs; `cdc_rx`'s core side is a stream
//!   of receiver events (bytes, frame ends with their flags, false carriers).

pub mod mdio;
pub mod rmii_rx;
pub mod rmii_tx;
pub mod cdc_rx;
pub mod cdc_tx;
pub mod frame_fifo;
pub mod port;
pub mod port_counters;
#[cfg(test)]
mod fit;
pub mod two_clocks;
