//! `cargo fuzz run rpc_body` (through `scripts/fuzz`): [`regcred_fuzz::rpc_body`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regcred_fuzz::rpc_body(data));
