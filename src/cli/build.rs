//! (being written)
#[derive(clap::Args)]
pub struct BuildArgs {}
pub fn run(_a: BuildArgs) -> anyhow::Result<()> {
    anyhow::bail!("`portshare build` is not built yet")
}
