//! The control plane behind the USB UART: the 8N1 UART and the SLIP/CRC request
//! executor that reads and writes the pipeline's table and counters.

pub mod control;
pub mod uart;
