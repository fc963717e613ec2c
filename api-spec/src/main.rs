//! `cargo run -p api-spec` rewrites api-spec/openapi.yaml from the code.

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(api_spec::SPEC_PATH);
    std::fs::write(&path, api_spec::public_spec_yaml()?)?;
    println!("wrote {}", path.display());
    Ok(())
}
