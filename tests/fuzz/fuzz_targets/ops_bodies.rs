//! The bodies and query strings of the ops routes (`gasline_status::bodies`:
//! provisioning and the order desk), read as their handlers read them. The
//! first byte picks which; the rest is the body (or the query string).
//!
//! Checks: a refused body is a 400 (not JSON) or a 422 (the wrong shape)
//! and nothing else; a refused query is a 400; what is accepted holds the
//! rules of the core's types it carries (an accepted id, name or reason
//! parses again as itself).

#![no_main]

use gasline_core::types::{HoldReason, PlaceName, RiderId, RiderName, StationId};
use gasline_fuzz::body::{read, read_optional};
use gasline_status::bodies::{
    DeviceToken, KeyRetirement, NewKey, NewRider, NewStation, NewToken, OrderListing, Paging, Reassignment, Replay,
    Revocation, RiderChange, RiderListing, StationChange, Suspension, TokenListing,
};
use libfuzzer_sys::fuzz_target;

fn query<T: serde::de::DeserializeOwned>(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(uri) = format!("/?{text}").parse::<http::Uri>() else {
        return;
    };
    let request = http::Request::builder().uri(uri).body(Vec::new()).expect("a request");
    if let Err(problem) = gasline_http::read_query::<T>(&request) {
        assert_eq!(problem.status.as_u16(), 400, "{problem:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 16 {
        0 => {
            if let Some(s) = read::<NewStation>(rest) {
                assert_eq!(StationId::parse(s.id.as_str()).as_ref(), Ok(&s.id));
                assert_eq!(PlaceName::parse(s.name.as_str()).as_ref(), Ok(&s.name));
            }
        }
        1 => {
            let _ = read::<StationChange>(rest);
        }
        2 => {
            if let Some(s) = read::<Suspension>(rest) {
                assert_eq!(HoldReason::parse(s.reason.as_str()).as_ref(), Ok(&s.reason));
            }
        }
        3 => {
            if let Some(r) = read::<NewRider>(rest) {
                assert_eq!(RiderId::parse(r.id.as_str()).as_ref(), Ok(&r.id));
                assert_eq!(RiderName::parse(r.name.as_str()).as_ref(), Ok(&r.name));
            }
        }
        4 => {
            let _ = read::<RiderChange>(rest);
        }
        5 => {
            let _ = read::<NewToken>(rest);
        }
        6 => {
            let _ = read_optional::<DeviceToken>(rest);
        }
        7 => {
            let _ = read_optional::<Revocation>(rest);
        }
        8 => {
            let _ = read::<NewKey>(rest);
        }
        9 => {
            let _ = read_optional::<KeyRetirement>(rest);
        }
        10 => {
            let _ = read_optional::<Reassignment>(rest);
        }
        11 => {
            let _ = read::<Replay>(rest);
        }
        12 => query::<OrderListing>(rest),
        13 => query::<RiderListing>(rest),
        14 => query::<TokenListing>(rest),
        _ => query::<Paging>(rest),
    }
});
