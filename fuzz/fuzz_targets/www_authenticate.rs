//! `cargo fuzz run www_authenticate` (through `scripts/fuzz`): [`regcred_fuzz::www_authenticate`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regcred_fuzz::www_authenticate(data));
