//! The doctor's output: the checklist (table, wide) or the checks as JSON / YAML.

use std::fmt::Write as _;

use anyhow::Result;

use super::checks::{Check, Verdict};
use super::facts::Facts;
use crate::cli::Output;

impl Verdict {
    /// Its mark in the checklist.
    fn mark(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Skip => "skip",
            Self::Info => "info",
        }
    }
}

/// The checklist (table/wide) or the checks as JSON / YAML.
pub fn render(facts: &Facts, checks: &[Check], output: Output) -> Result<String> {
    let document = serde_json::json!({
        "secretSync": format!("{}/{}", facts.namespace, facts.name),
        "checks": checks,
    });
    match output {
        Output::Json => Ok(serde_json::to_string_pretty(&document)? + "\n"),
        Output::Yaml => Ok(serde_yaml_ng::to_string(&document)?),
        Output::Table | Output::Wide => {
            let mut out = format!("SecretSync {}/{}\n", facts.namespace, facts.name);
            let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
            for c in checks {
                let _ = writeln!(
                    out,
                    "  [{:<4}] {:<width$}  {}",
                    c.verdict.mark(),
                    c.check,
                    c.summary
                );
                if let Some(fix) = &c.fix
                    && (!matches!(c.verdict, Verdict::Ok | Verdict::Info) || output == Output::Wide)
                {
                    let _ = writeln!(out, "         {:<width$}  fix: {fix}", "");
                }
            }
            let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
            let _ = writeln!(
                out,
                "{}",
                if failed == 0 {
                    "No check failed.".to_string()
                } else {
                    format!("{failed} check(s) failed.")
                }
            );
            Ok(out)
        }
    }
}
