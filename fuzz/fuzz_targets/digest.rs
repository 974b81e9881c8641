#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_oci::Digest;

fuzz_target!(|s: &str| {
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.to_string(), s);
        assert_eq!(Digest::parse(&d.to_string()).as_ref(), Ok(&d));
    }
});
