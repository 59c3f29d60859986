//! (being written)
#[derive(clap::Args)]
pub struct SimArgs {}
pub fn run(_a: SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("`portshare sim` is not built yet")
}
