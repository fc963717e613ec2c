//! The services' committed query data (`<service>/.sqlx`, what the `sqlx::query!` macros check
//! the SQL against when building offline) is what their code and migrations give, checked as
//! `cargo sqlx prepare --check` would but without compiling anything: every query of the data
//! is described again by a fresh database holding the service's migrations, and compared.
//!
//! What this leaves to the build: a query changed or added in the code without new data fails
//! to compile (the macros find no data for it, `SQLX_OFFLINE=true`). What it adds: a migration
//! that changes what a committed query returns or takes, and data that no code uses any more.
//! The fix either way: `scripts/sqlx.sh prepare <service>`, then commit `<service>/.sqlx`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection};
use testkit::TestDatabase;

const SERVICES: [&str; 4] = ["user", "billing", "order", "notification"];

#[tokio::test]
async fn the_committed_query_data_is_what_the_code_and_migrations_give() {
    let mut stale = Vec::new();
    for service in SERVICES {
        stale.extend(check(service).await);
    }
    assert!(
        stale.is_empty(),
        "the committed query data is stale; run scripts/sqlx.sh prepare <service> and commit \
         <service>/.sqlx:\n{}",
        stale.join("\n")
    );
}

/// What is wrong with one service's query data.
async fn check(service: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(service);
    let db = TestDatabase::create(&format!("sqlxdata_{service}")).await;
    let mut conn = PgConnection::connect(db.url()).await.expect("connect");
    sqlx::migrate::Migrator::new(dir.join("migrations"))
        .await
        .expect("read the migrations")
        .run(&mut conn)
        .await
        .expect("run the migrations");
    let code = without_spacing(&rust_sources(&dir).join("\n"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(".sqlx"))
        .expect(".sqlx")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{service}/.sqlx is empty");

    let mut stale = Vec::new();
    for file in files {
        let name = format!(
            "{service}/.sqlx/{}",
            file.file_name().expect("name").to_string_lossy()
        );
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        let query = data["query"].as_str().expect("query");
        let hash = hex(&Sha256::digest(query.as_bytes()));
        if data["hash"] != hash.as_str() || !name.ends_with(&format!("/query-{hash}.json")) {
            stale.push(format!("{name}: its hash is not its query's"));
        }
        if !code.contains(&without_spacing(query)) {
            stale.push(format!(
                "{name}: no code of {service} has this query any more"
            ));
        }
        match conn.describe(query).await {
            Ok(describe) => {
                let now = serde_json::to_value(&describe).expect("describe as json");
                if now != data["describe"] {
                    stale.push(format!(
                        "{name}: the migrations now describe it as {now}, the data says {}",
                        data["describe"]
                    ));
                }
            }
            Err(e) => stale.push(format!("{name}: the migrations reject it: {e}")),
        }
    }
    stale
}

/// The text of every Rust file of a crate's code and tests.
fn rust_sources(dir: &Path) -> Vec<String> {
    let mut sources = Vec::new();
    let mut folders = vec![dir.join("src"), dir.join("tests")];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.map(|entry| entry.expect("entry").path()) {
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(&path).expect("read"));
            }
        }
    }
    sources
}

/// A query as the macro's string literal has it and as the data stores it compare equal
/// without their whitespace and backslashes (line continuations, escaped quotes).
fn without_spacing(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '\\')
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
