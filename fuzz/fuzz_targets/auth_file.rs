//! `cargo fuzz run auth_file` (through `scripts/fuzz`): [`regcred_fuzz::auth_file`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regcred_fuzz::auth_file(data));
