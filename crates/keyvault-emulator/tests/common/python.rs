//! The interpreter that runs the official Python SDK scripts (`tests/python/`).

use std::process::Stdio;

use tokio::process::Command;

/// `$SSE_PYTHON`, else `python3`, when it can import `modules`. Otherwise `None` after a notice that `what`
/// was skipped, unless `SSE_REQUIRE_PYTHON_SDK=1` (CI sets it, see `.ci/run`), which makes that a failure
/// naming `install_hint`.
pub async fn interpreter(what: &str, modules: &str, install_hint: &str) -> Option<String> {
    let python = std::env::var("SSE_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_string());
    let missing = match Command::new(&python)
        .args(["-c", modules])
        .stdin(Stdio::null())
        .output()
        .await
    {
        Ok(out) if out.status.success() => return Some(python),
        Ok(out) => format!(
            "`{python} -c '{modules}'` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => format!("cannot run `{python}`: {err}"),
    };
    assert!(
        std::env::var("SSE_REQUIRE_PYTHON_SDK").as_deref() != Ok("1"),
        "SSE_REQUIRE_PYTHON_SDK=1 but the {what} is not usable: {missing}. Install it: {install_hint}"
    );
    #[allow(clippy::print_stdout, reason = "the skip notice goes to the test's output")]
    {
        println!("skipped: {what} not installed (set SSE_PYTHON): {missing}");
    }
    None
}

/// Run `script` (a file of `tests/python/`) with `python` against `emu`, with `env` and what every script
/// reads: `CA_FILE` (the emulator's CA, the only one trusted), `EMULATOR_ADDR`, and no proxy. Bounded at
/// 120 s; a failure shows the script's output. Returns its stdout (also printed).
pub async fn run(
    python: &str,
    emu: &keyvault_emulator::Emulator,
    script: &str,
    env: &[(&str, &str)],
) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, emu.ca_pem()).expect("the CA file");
    let script = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let run = Command::new(python)
        .arg(&script)
        .envs(env.iter().copied())
        .env("CA_FILE", &ca_file)
        .env("EMULATOR_ADDR", emu.addr().to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Talk to the emulator directly even where a proxy is configured.
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the Python script did not finish within 120 s")
        .expect("the Python script ran");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{python} {script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    #[allow(
        clippy::print_stdout,
        reason = "the script's report goes to the test's output"
    )]
    {
        println!("{stdout}");
    }
    stdout
}
