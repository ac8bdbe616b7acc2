//! The `tandem` command. Everything is in the library (`tandem_service::cli`).

fn main() -> std::process::ExitCode {
    tandem_service::cli::main()
}
