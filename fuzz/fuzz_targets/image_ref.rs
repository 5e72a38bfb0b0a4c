//! `cargo fuzz run image_ref` (through `scripts/fuzz`): [`regcred_fuzz::image_ref`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| regcred_fuzz::image_ref(data));
