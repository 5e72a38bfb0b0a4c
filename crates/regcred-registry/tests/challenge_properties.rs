//! `WWW-Authenticate` parsing on arbitrary header text: whatever `challenge::parse` accepts
//! renders (through `Display`) to a header that parses back to the same challenges.

use proptest::prelude::*;
use regcred_registry::challenge::parse;

proptest! {
    // A fixed seed: the suite sees the same 2048 cases every run, so it cannot fail one run in
    // twenty. To explore other inputs, change the seed or raise `cases` locally.
    #![proptest_config(ProptestConfig {
        cases: 2048,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7265_6763),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn accepted_headers_are_fixed_points(
        input in prop_oneof![
            "\\PC{0,60}",
            "[A-Za-z =,\"\\\\\t]{0,40}",
            "(Bearer|Basic|bearer) ([a-z]{1,6}=(\"[ -~]{0,10}\"|[a-z0-9.:/]{1,8})(, ?)?){0,4}(, (Basic|Bearer)( [a-z]{1,4}=x)?)?",
        ]
    ) {
        if let Ok(challenges) = parse(&input) {
            let rendered = challenges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(parse(&rendered), Ok(challenges), "input {:?} rendered {:?}", input, rendered);
        }
    }
}
