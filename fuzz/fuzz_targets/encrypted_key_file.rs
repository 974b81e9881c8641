#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = sigward_sign::decrypt_private_key(bytes, b"pw");
});
