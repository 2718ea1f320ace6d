#![no_main]
//! See fuzz/README.md and `tend::fuzzing::tmpfiles`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tend::fuzzing::tmpfiles(data));
