//! Primitives the blocks are built from: block RAM (with collision poisoning in
//! simulation) and CRCs generalized over width and polynomial.

pub mod crc;
pub mod crc16;
pub mod ram;
pub mod skid;
