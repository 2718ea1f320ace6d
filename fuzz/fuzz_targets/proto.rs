#![no_main]
//! See fuzz/README.md and `tend::fuzzing::proto`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tend::fuzzing::proto(data));
