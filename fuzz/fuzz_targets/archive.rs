//! The zip reader: `archive_members` (every rule `inspect` applies to a `.zip`, listing the
//! members) and then `read_member` for each listed member, as a submission stores them. A member
//! that passed the check must read back at its measured size (otherwise the upload is a 500).
#![no_main]

use consilium::intake::{
    Field, Filename, Policy, archive_members, inspect, member_kind, read_member,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // DICOM members go through `index_dicom`, which turns a dependency's panic into an error
        // on purpose; a panic that escapes still aborts.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    },
    |data: &[u8]| {
        let Some((&pick, bytes)) = data.split_first() else {
            return;
        };
        let field = if pick & 1 == 0 { Field::Image } else { Field::Report };
        let policy = Policy {
            allow_dicom: true,
            ..Policy::default()
        };
        let listed = archive_members(field, bytes, &policy);
        let inspected = inspect(field, &Filename::parse("a.zip").unwrap(), bytes, &policy);
        assert_eq!(
            listed.is_ok(),
            inspected.is_ok(),
            "archive_members and inspect disagree"
        );
        let Ok(members) = listed else {
            return;
        };
        assert_eq!(members.len(), inspected.unwrap().archive_members);
        for member in &members {
            let data = read_member(bytes, member).expect("a checked member reads back");
            assert_eq!(data.len() as u64, member.size);
            let _ = member_kind(&member.path, &data);
        }
    }
);
