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
