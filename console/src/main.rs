//! `matrix-console`: the operator console binary.

fn main() {
    eprintln!("matrix-console: not built yet");
    std::process::exit(2);
}
