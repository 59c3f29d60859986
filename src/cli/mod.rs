//! One file per group of subcommands.
pub mod bench;
pub mod board;
pub mod build;
pub mod nft;
pub mod serve;
pub mod sim;
pub mod wire;
