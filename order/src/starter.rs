//! `order catalogue load <file>`: the operator's command that fills an empty catalogue from a
//! JSON file (`[{"title", "description"?, "price", "stock"}, ...]`, listed in that order).
//! `make up` loads `order/catalogue/starter.json` with it; a catalogue that has any product,
//! active or not, is left as it is, so running it again changes nothing. In production the
//! catalogue starts empty and an admin fills it (`POST /api/v1/products`), or an operator runs
//! this with the shop's own file.

use anyhow::{bail, Context};
use common::money::Amount;
use serde::Deserialize;

use crate::catalogue::{self, Description, NewProduct, Title, Units};

pub const USAGE: &str = "\
usage: order catalogue load <file.json>

Adds the products of the file (a JSON list of {\"title\", \"description\"?, \"price\", \"stock\"},
prices in minor units) to the catalogue, if and only if the catalogue has no product yet.
Reads DATABASE_URL, as the service does.";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    title: String,
    #[serde(default)]
    description: String,
    price: i64,
    stock: i64,
}

/// The products of a catalogue file, each checked as the API checks a new product.
pub fn parse(json: &str) -> anyhow::Result<Vec<NewProduct>> {
    let entries: Vec<Entry> = serde_json::from_str(json).context("not a list of products")?;
    entries
        .into_iter()
        .enumerate()
        .map(|(n, e)| {
            let product = (|| {
                Ok::<_, common::ApiError>(NewProduct {
                    title: Title::parse(&e.title)?,
                    description: Description::parse(&e.description)?,
                    price: Amount::parse("price", e.price)?,
                    stock: Units::parse("stock", e.stock)?,
                })
            })();
            product.map_err(|problem| anyhow::anyhow!("product {}: {problem}", n + 1))
        })
        .collect()
}

/// `order catalogue ...`: the process's entry point.
pub async fn command(args: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    let args: Vec<String> = args.into_iter().collect();
    let [action, file] = args.as_slice() else {
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("{USAGE}");
            return Ok(());
        }
        bail!("unexpected arguments: {}\n\n{USAGE}", args.join(" "));
    };
    if action != "load" {
        bail!("unknown action {action:?}\n\n{USAGE}");
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let products = parse(&text).with_context(|| format!("in {file}"))?;
    let db = common::db::command_pool().await?;
    match catalogue::load_into_empty(&db, &products).await? {
        0 => println!("the catalogue already has products: nothing loaded"),
        added => {
            tracing::info!(added, file, "starter catalogue loaded");
            println!("loaded {added} products from {file}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_starter_file_is_a_valid_catalogue_and_bad_entries_are_named() {
        let starter = include_str!("../catalogue/starter.json");
        let products = super::parse(starter).expect("the starter catalogue parses");
        assert!(products.len() >= 5);
        let bad = r#"[{"title": "Mug", "price": 100, "stock": 1}, {"title": "Tea", "price": 0, "stock": 1}]"#;
        let problem = format!("{:#}", super::parse(bad).err().expect("refused"));
        assert!(
            problem.contains("product 2") && problem.contains("price"),
            "{problem}"
        );
        assert!(super::parse(r#"[{"title": "Mug", "price": 1, "stock": 1, "cost": 2}]"#).is_err());
    }
}
