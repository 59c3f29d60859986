//! A model of the LAN8720 RMII PHY module at the FPGA's pins, for testing the Ethernet
//! blocks (`portshare_hdl::eth`) without hardware: `rmii` (frames to CRS_DV/RXD per
//! REF_CLK cycle, and TX_EN/TXD back to frames) and `mdio` (the management interface's
//! register reads). Written from IEEE 802.3 clauses 4, 22 and 24, the RMII specification
//! and the LAN8720A datasheet, independently of the blocks it tests; its FCS is the `crc`
//! crate's CRC-32/ISO-HDLC.

pub mod mdio;
pub mod rmii;
