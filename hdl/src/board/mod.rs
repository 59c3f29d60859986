//! Board tops, one per file, over one [`core::Core`] (the control block and the
//! pipeline, wired once): `cu` — the Alchitry Cu with the USB UART only; `cu_eth` — the
//! same plus two RMII Ethernet ports (network and server) with the pipeline between them.

pub mod core;
pub mod cu;
pub mod cu_eth;
pub mod status;

pub use self::core::Core;
pub use cu::CuBoard;
pub use cu_eth::CuEthBoard;

use rust_hdl::prelude::*;

/// A one-bit top-level port at an FPGA ball.
pub(crate) fn pin<D: Direction>(pad: &str) -> Signal<D, Bit> {
    let mut s = Signal::<D, Bit>::default();
    s.add_location(0, pad);
    s
}
