fn main() -> std::process::ExitCode {
    ha_cli::cli::main()
}
