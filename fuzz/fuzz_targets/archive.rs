//! The zip reader: `inspect` of a `.zip` (every archive rule, listing the members it checked) and
//! then `read_member` for each listed member, as a submission stores them. A member that passed
//! the check must read back at its measured size (otherwise the upload is a 500).
#![no_main]

use consilium::intake::{Field, Filename, Policy, inspect, member_kind, read_member};
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
        let Ok(inspected) = inspect(field, &Filename::parse("a.zip").unwrap(), bytes, &policy)
        else {
            return;
        };
        assert_eq!(inspected.members.len(), inspected.archive_members);
        assert!(inspected.inflated <= policy.archive.max_total_inflated);
        for member in &inspected.members {
            let data = read_member(bytes, member).expect("a checked member reads back");
            assert_eq!(data.len() as u64, member.size);
            let _ = member_kind(&member.path, &data);
        }
    }
);
