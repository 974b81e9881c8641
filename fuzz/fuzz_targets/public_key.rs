#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_verify::PublicKey;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(k) = PublicKey::parse(bytes) {
        assert_eq!(PublicKey::parse(k.to_pem().as_bytes()).as_ref(), Ok(&k));
        assert_eq!(PublicKey::parse(k.spki_der()).as_ref(), Ok(&k));
    }
});
