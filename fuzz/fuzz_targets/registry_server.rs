//! `cargo fuzz run registry_server` (through `scripts/fuzz`): [`regcred_fuzz::registry_server`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regcred_fuzz::registry_server(data));
