//! Upserts `examples/customers.csv` into the SQLite database `demo.db`, creating the
//! table on the first run. From the repository root:
//! `cargo run -p upsertx --example load_csv`.

use upsertx::{Duplicates, OnConflict, Source, Upsert};

fn main() -> Result<(), upsertx::Error> {
    let report = Upsert::new("sqlite://demo.db")
        .table("customers")
        .key(["id"])
        .on_conflict(OnConflict::Update)
        .duplicates(Duplicates::Last)
        .create(true)
        .run(Source::path("examples/customers.csv"))?;
    println!("{report}"); // or serde_json::to_string(&report)
    Ok(())
}
