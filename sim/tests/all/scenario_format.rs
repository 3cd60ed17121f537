//! The scenario format: strict parsing with clear messages, validation of values, and properties
//! (arbitrary input never panics; a generated valid scenario round-trips through TOML).

use proptest::prelude::*;
use sim::scenario::Scenario;

fn parse(text: &str) -> Result<Scenario, String> {
    Scenario::parse(text, "test.toml").map_err(|e| e.to_string())
}

#[test]
fn an_unknown_key_is_an_error_naming_the_key() {
    let e = parse(
        r#"
name = "x"
[[step]]
action = "provision"
user = "user_a"
colour = "blue"
"#,
    )
    .unwrap_err();
    assert!(e.contains("colour"), "{e}");
    assert!(e.contains("test.toml"), "{e}");
    let e = parse("name = \"x\"\nsead = 3\n[[step]]\naction = \"reconcile\"\n").unwrap_err();
    assert!(e.contains("sead"), "{e}");
}

#[test]
fn an_unknown_action_or_fault_target_is_an_error() {
    let e = parse("name = \"x\"\n[[step]]\naction = \"explode\"\n").unwrap_err();
    assert!(e.contains("explode"), "{e}");
    let e = parse("name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"dns\"\n").unwrap_err();
    assert!(e.contains("dns"), "{e}");
}

#[test]
fn values_are_validated_with_the_step_named() {
    let cases = [
        (
            "name = \"x\"\n[[step]]\naction = \"advance\"\nby = \"10\"\n",
            "number without a unit",
        ),
        (
            "name = \"x\"\n[settings]\nhetzner_refill_per_second = 1e-300\n[[step]]\naction = \"reconcile\"\n",
            "hetzner_refill_per_second must be in [0.001, 10000]",
        ),
        (
            "name = \"x\"\n[settings]\nhetzner_rate_limit = 0\n[[step]]\naction = \"reconcile\"\n",
            "hetzner_rate_limit must be 1..=100000",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"hetzner\"\nop = \"create_server\"\neffect = \"error\"\nstatus = 200\n",
            "not an error status (400-599)",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"r2\"\nop = \"get_object\"\neffect = \"error\"\nstatus = 302\n",
            "not an error status (400-599)",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"reconcile\"\n[expect]\nconverge = false\ninvariants = [\"no_orphan_servers\"]\n",
            "only after convergence",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"provision\"\nuser = \"a\"\n",
            "step 1 (provision)",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"hetzner\"\nop = \"create_server\"\neffect = \"error\"\nprobability = 1.5\n",
            "probability",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"hetzner\"\nop = \"create_server\"\neffect = \"error\"\nnth = 1\ntimes = 2\n",
            "exclusive",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"wait_for\"\nstatus = \"running\"\n",
            "needs a user",
        ),
        (
            "name = \"Bad Name\"\n[[step]]\naction = \"reconcile\"\n",
            "name",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"server\"\nuser = \"user_a\"\neffect = \"stuck\"\nstatus = \"asleep\"\n",
            "effect stuck needs status",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"server\"\nuser = \"user_a\"\neffect = \"vanish\"\nstatus = \"off\"\n",
            "status applies only",
        ),
        (
            "name = \"x\"\n[[step]]\naction = \"fault\"\ntarget = \"proxy\"\nlink = \"dns\"\nmode = \"down\"\n",
            "dns",
        ),
        ("name = \"x\"\n", "nothing to do"),
        (
            "name = \"x\"\n[[step]]\naction = \"reconcile\"\n[expect]\ninvariants = [\"no_such_thing\"]\n",
            "no_such_thing",
        ),
    ];
    for (text, needle) in cases {
        let e = parse(text).unwrap_err();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
}

#[test]
fn every_library_scenario_parses_and_round_trips() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = sim::scenario::cli::scenario_files(&dir).unwrap();
    assert!(files.len() >= 13, "{files:?}");
    for file in files {
        let s = Scenario::load(&file).unwrap();
        assert_eq!(
            format!("{}.toml", s.name),
            file.file_name().unwrap().to_string_lossy(),
            "a scenario is named after its file"
        );
        let again = Scenario::parse(&s.encode().unwrap(), "encoded").unwrap();
        assert_eq!(again, s, "{}", file.display());
    }
}

fn user() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{2,12}"
}

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u64..600).prop_map(|n| format!("{n}s")),
        (1u64..600).prop_map(|n| format!("{n}m")),
        (1u64..48).prop_map(|n| format!("{n}h")),
    ]
}

fn step() -> impl Strategy<Value = String> {
    prop_oneof![
        (user(), prop::option::of(200u16..600)).prop_map(|(u, e)| {
            let expect = e.map(|e| format!("expect = {e}\n")).unwrap_or_default();
            format!("action = \"provision\"\nuser = \"{u}\"\n{expect}")
        }),
        duration().prop_map(|d| format!("action = \"advance\"\nby = \"{d}\"\n")),
        (1u32..5).prop_map(|n| format!("action = \"reconcile\"\npasses = {n}\n")),
        (user(), any::<bool>()).prop_map(|(u, fail)| format!(
            "action = \"backup\"\nuser = \"{u}\"\nexpect = \"{}\"\n",
            if fail { "fail" } else { "ok" }
        )),
        (user(), any::<bool>()).prop_map(|(u, e)| format!(
            "action = \"recover\"\nuser = \"{u}\"\nallow_empty = {e}\n"
        )),
        (user(), 1u64..1000).prop_map(|(u, n)| format!("action = \"workload\"\nuser = \"{u}\"\nrows = {n}\n")),
        (user(), prop::sample::select(vec!["running", "failed", "recovering"])).prop_map(
            |(u, s)| format!("action = \"wait_for\"\nuser = \"{u}\"\nstatus = \"{s}\"\nwithin = \"30m\"\n")
        ),
        (
            prop::sample::select(vec!["create_server", "delete_server", "any"]),
            0.0f64..=1.0
        )
            .prop_map(|(op, p)| format!(
                "action = \"fault\"\ntarget = \"hetzner\"\nop = \"{op}\"\neffect = \"error\"\nprobability = {p:?}\n"
            )),
        (user(), prop::sample::select(vec!["dump_fails", "upload_fails", "hang"])).prop_map(
            |(u, f)| format!("action = \"fault\"\ntarget = \"host\"\nuser = \"{u}\"\nfault = \"{f}\"\n")
        ),
        Just("action = \"restart_control_plane\"\n".to_owned()),
        Just("action = \"clear_faults\"\ntarget = \"r2\"\n".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in "\\PC{0,400}") {
        let _ = Scenario::parse(&text, "fuzz");
    }

    #[test]
    fn arbitrary_key_value_soup_never_panics(
        lines in prop::collection::vec(
            (
                prop::sample::select(vec!["name", "seed", "action", "user", "by", "target", "op", "effect", "nth", "probability", "expect", "[[step]]", "[settings]", "[expect]", "within", "rows"]),
                prop::sample::select(vec!["\"x\"", "1", "-1", "0.5", "true", "\"2h\"", "[1, 2]", "\"provision\"", "\"fault\"", "18446744073709551615", "\"\""]),
            ),
            0..30,
        )
    ) {
        let text: String = lines
            .iter()
            .map(|(k, v)| if k.starts_with('[') { format!("{k}\n") } else { format!("{k} = {v}\n") })
            .collect();
        let _ = Scenario::parse(&text, "soup");
    }

    #[test]
    fn a_generated_valid_scenario_parses_and_round_trips(
        seed in 0u64..i64::MAX as u64,
        steps in prop::collection::vec(step(), 1..12),
        light in any::<bool>(),
    ) {
        let mut text = format!(
            "name = \"generated\"\nseed = {seed}\nmode = \"{}\"\n",
            if light { "light" } else { "postgres" }
        );
        for s in &steps {
            text.push_str("\n[[step]]\n");
            text.push_str(s);
        }
        let parsed = Scenario::parse(&text, "generated").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.steps.len(), steps.len());
        let encoded = parsed.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = Scenario::parse(&encoded, "encoded").map_err(|e| TestCaseError::fail(format!("{e}\n{encoded}")))?;
        prop_assert_eq!(again, parsed);
    }
}

#[test]
fn without_convergence_the_default_invariants_drop_no_orphan_servers() {
    let s = Scenario::parse(
        "name = \"x\"\n[[step]]\naction = \"reconcile\"\n[expect]\nconverge = false\n",
        "inline",
    )
    .unwrap();
    assert!(
        !s.expect
            .invariants
            .contains(&sim::scenario::Invariant::NoOrphanServers)
    );
    assert_eq!(
        s.expect.invariants.len(),
        sim::scenario::Invariant::all().len() - 1
    );
    let again = Scenario::parse(&s.encode().unwrap(), "again").unwrap();
    assert_eq!(again, s);
}
