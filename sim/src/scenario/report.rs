//! What a run of several scenarios reports: a table for the terminal and JUnit XML for CI (one
//! test case per scenario, a `failure` element carrying the first violation or step error).

use std::fmt::Write as _;

use super::run::Outcome;

/// The final table: scenario, seed, steps, result, duration, broken invariant.
pub fn table(outcomes: &[Outcome]) -> String {
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>20}  {:>7}  {:<6}  {:>8}  broken",
        "scenario", "seed", "steps", "result", "time"
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "{:<width$}  {:>20}  {:>7}  {:<6}  {:>7.1}s  {}",
            o.name,
            o.seed,
            format!("{}/{}", o.steps_run, o.steps_total),
            if o.passed() {
                "pass"
            } else if o.run_error.is_some() {
                "ERROR"
            } else {
                "FAIL"
            },
            o.duration.as_secs_f64(),
            o.failure().unwrap_or_default()
        );
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML; `replays` gives, per outcome, the command that replays it.
pub fn junit(outcomes: &[Outcome], replays: &[String]) -> String {
    let errors = outcomes.iter().filter(|o| o.run_error.is_some()).count();
    let failures = outcomes.iter().filter(|o| !o.passed()).count() - errors;
    let total: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"matrix-sim\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">",
        outcomes.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">",
        outcomes.len()
    );
    for (i, o) in outcomes.iter().enumerate() {
        let _ = write!(
            out,
            "    <testcase classname=\"scenarios\" name=\"{}\" time=\"{:.3}\"",
            escape(&o.name),
            o.duration.as_secs_f64()
        );
        if o.passed() {
            out.push_str("/>\n");
            continue;
        }
        let message = o.failure().unwrap_or_default();
        if let Some(e) = &o.run_error {
            let mut body = format!("run error: {e}\n");
            if let Some(replay) = replays.get(i) {
                let _ = writeln!(body, "replay: {replay}");
            }
            let _ = writeln!(
                out,
                ">\n      <error message=\"{}\" type=\"run\">{}</error>\n    </testcase>",
                escape(&message),
                escape(&body)
            );
            continue;
        }
        let mut body = String::new();
        if let Some(e) = &o.step_error {
            let _ = writeln!(body, "step failed: {e}");
        }
        for v in &o.violations {
            let _ = writeln!(body, "{}: {}", v.invariant.name(), v.message);
        }
        if let Some(replay) = replays.get(i) {
            let _ = writeln!(body, "replay: {replay}");
        }
        let _ = writeln!(
            out,
            ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
            escape(&message),
            if o.step_error.is_some() {
                "step"
            } else {
                "invariant"
            },
            escape(&body)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
