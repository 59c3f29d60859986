//! The control plane behind the USB UART: the 8N1 UART, the SLIP receive side (deframer,
//! CRC, request store), the request executor that reads and writes the pipeline's table
//! and counters, the SLIP transmit side (output register, escaper, reply CRC), and the
//! control block that wires those three.

pub mod control;
pub mod executor;
pub mod links;
pub mod slip_rx;
pub mod slip_tx;
pub mod uart;
#[cfg(test)]
pub(crate) mod port_stand_in;
