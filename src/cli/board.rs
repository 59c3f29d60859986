//! (being written)
#[derive(clap::Subcommand)]
pub enum BoardCmd {
    /// List boards found on USB.
    Devices,
}
pub fn run(_c: BoardCmd) -> anyhow::Result<()> {
    anyhow::bail!("board commands are not built yet")
}
