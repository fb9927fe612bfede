//! The fuzz targets' short run, on stable Rust, in the test command: random inputs built
//! from the bytes that matter to each parser (quotes, delimiters, newlines, braces,
//! digits, signs, escapes, multi-byte UTF-8) and from any bytes at all. Nothing may
//! panic; the redaction target asserts that no password survives. The long run is
//! `cargo +nightly fuzz run <target>` in `fuzz/` (see its Cargo.toml).

use proptest::prelude::*;

const INTERESTING: &[u8] = b",;\t\"'\\\r\n {}[]:-+.eE0123456789aAxXtTfnNZ@/?#=%\xc3\xa9\xff\x00";

fn structured() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(INTERESTING), 0..160),
        prop::collection::vec(any::<u8>(), 0..160),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_never_panics(data in structured()) {
        upsertx::fuzz::read_csv(&data);
    }

    #[test]
    fn json_never_panics(data in structured()) {
        let mut framed = b"[{\"a\": ".to_vec();
        framed.extend_from_slice(&data);
        upsertx::fuzz::read_json(&data);
        upsertx::fuzz::read_json(&framed);
    }

    #[test]
    fn value_checks_never_panic(data in structured()) {
        upsertx::fuzz::check_values(&data);
    }

    #[test]
    fn redaction_hides_every_password(data in structured()) {
        upsertx::fuzz::redact_urls(&data);
    }
}
