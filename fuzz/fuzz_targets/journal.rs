#![no_main]
//! See fuzz/README.md and `tend::fuzzing::journal`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tend::fuzzing::journal(data));
