//! The console's performance budget with 100,000 machines loaded (see `docs/performance.md`,
//! "Console"): one frame on a 200×50 `TestBackend` ≤ 2 ms, a filter change ≤ 20 ms, a sort change
//! ≤ 20 ms, resident memory ≤ 150 MB. Plain `harness = false` binary: it measures and prints, and
//! never fails on a time (timings on a shared machine are not assertions).
//!
//! Run: `cargo bench -p matrix-console --bench console` (add `-- 10000` for another fleet size).

use std::time::{Duration, Instant};

use matrix_console::tui::filter::Filter;
use matrix_console::tui::fixture;
use matrix_console::tui::fleet::FleetSnapshot;
use matrix_console::tui::sort::{Column, SortSpec};
use matrix_console::tui::state::{Msg, State, update};
use matrix_console::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Resident set size now and at its peak, in MiB, from `/proc/self/status`.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn new() -> Self {
        Self {
            samples: Vec::new(),
        }
    }
    fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let r = f();
        self.samples.push(start.elapsed());
        r
    }
    fn report(&mut self, what: &str, budget_ms: f64) {
        self.samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let n = self.samples.len();
        let median = ms(self.samples[n / 2]);
        let p95 = ms(self.samples[(n * 95 / 100).min(n - 1)]);
        let max = ms(self.samples[n - 1]);
        let verdict = if p95 <= budget_ms { "within" } else { "OVER" };
        println!(
            "{what:<34} n={n:<4} median {median:>8.3} ms  p95 {p95:>8.3} ms  max {max:>8.3} ms  budget {budget_ms} ms: {verdict}"
        );
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let base = Instant::now();
    let (rss_before, _) = rss_mib();

    let build = Instant::now();
    let response = fixture::large(n);
    let snapshot = FleetSnapshot::new(response, base);
    let mut state = State::new(false, true, None);
    update(
        &mut state,
        Msg::Resize {
            width: 200,
            height: 50,
        },
        base,
    );
    update(&mut state, Msg::FleetLoaded(Box::new(snapshot)), base);
    let load = build.elapsed();
    let (rss_after, hwm) = rss_mib();
    println!("fleet: {n} machines, {} in the view", state.view.len());
    println!(
        "load (build wire fleet + precompute + first view): {:.1} ms",
        load.as_secs_f64() * 1000.0
    );
    println!(
        "memory: RSS {rss_before:.1} MiB before, {rss_after:.1} MiB after loading ({:.1} MiB for the fleet); peak {hwm:.1} MiB; budget 150 MB",
        rss_after - rss_before
    );

    // One frame, selection in the middle of the fleet (the visible slice is what is built).
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    for _ in 0..(n / 2) / 1000 {
        update(
            &mut state,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::PageDown,
                crossterm::event::KeyModifiers::NONE,
            )),
            base,
        );
    }
    let mut frame = Stats::new();
    for i in 0..300u64 {
        let now = base + Duration::from_millis(i * 10);
        frame.time(|| {
            terminal
                .draw(|f| view::render(f, &state, now))
                .expect("draw")
        });
    }
    frame.report("frame 200x50 (fleet table)", 2.0);

    let mut filter = Stats::new();
    let filters = [
        "status:failed,recovering",
        "hb>5m",
        "backup>2h !slot:staging",
        "u00",
        "95.17",
        "hb:late,unreachable backup:stale,critical",
        "",
    ];
    let mut each: Vec<Stats> = filters.iter().map(|_| Stats::new()).collect();
    for round in 0..5 {
        for (k, text) in filters.iter().enumerate() {
            state.filter = Filter::parse(text).expect("valid filter");
            let now = base + Duration::from_secs(round);
            let start = Instant::now();
            state.recompute_view(now);
            let took = start.elapsed();
            filter.samples.push(took);
            each[k].samples.push(took);
        }
    }
    filter.report("filter change (filter + sort)", 20.0);
    for (k, text) in filters.iter().enumerate() {
        each[k].report(&format!("  filter `{text}`"), 20.0);
    }

    state.filter = Filter::default();
    let mut sort = Stats::new();
    for round in 0..3 {
        for column in Column::ALL {
            for descending in [false, true] {
                state.sort = SortSpec { column, descending };
                let now = base + Duration::from_secs(round);
                sort.time(|| state.recompute_view(now));
            }
        }
    }
    sort.report("sort change (all rows, any column)", 20.0);

    // Faults-only with the default sort (the sort change is measured above).
    state.sort = SortSpec::default();
    let mut faults = Stats::new();
    for _ in 0..10 {
        state.faults_only = !state.faults_only;
        faults.time(|| state.recompute_view(base));
    }
    faults.report("faults-only toggle", 20.0);

    let mut tick = Stats::new();
    for i in 0..20u64 {
        tick.time(|| update(&mut state, Msg::Tick, base + Duration::from_secs(i)));
    }
    tick.report("tick (pulse recomputed)", 20.0);
    let (rss_end, hwm_end) = rss_mib();
    println!("memory at the end: RSS {rss_end:.1} MiB, peak {hwm_end:.1} MiB");
}
