//! (being written)
#[derive(clap::Args)]
pub struct BenchArgs {}
pub fn run(_a: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("`portshare bench` is not built yet")
}
