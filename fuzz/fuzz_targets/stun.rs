#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_sfu::fuzz::stun(data));
