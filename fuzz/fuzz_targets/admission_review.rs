#![no_main]

use libfuzzer_sys::fuzz_target;
use sigward_webhook::images::images;
use sigward_webhook::review::AdmissionReview;

// Input: a request body as kube-apiserver would POST it.
fuzz_target!(|bytes: &[u8]| {
    if let Ok(review) = AdmissionReview::parse(bytes) {
        let r = &review.request;
        for object in [&r.object, &r.old_object].into_iter().flatten() {
            let _ = images(&r.kind.group, &r.kind.kind, object);
        }
    }
});
