#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

// Input: a policy file's text (both APIs, several documents).
fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let (policies, _) = sigward_webhook::sources::parse_file(Path::new("fuzz.yaml"), text);
    for p in policies {
        match p.policy {
            sigward_policy::AnyPolicy::OpenShift(p) => {
                let _ = p.validate();
            }
            sigward_policy::AnyPolicy::Sigstore(p) => {
                let _ = p.validate();
                let _ = p.requirements();
            }
        }
    }
});
