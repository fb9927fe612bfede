#![no_main]
//! See crates/upsertx/src/fuzz.rs: must never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| upsertx::fuzz::read_csv(data));
