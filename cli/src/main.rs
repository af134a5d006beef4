//! `pyk`: a thin command-line frontend over the `pykernel` library.

fn main() {
    eprintln!("pyk: no commands yet");
    std::process::exit(2);
}
