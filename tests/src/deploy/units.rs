//! The value formats of the manifests that have no parser in the workspace: Go durations (cert-manager's
//! `duration`, `renewBefore`) and Kubernetes resource quantities (`cpu`, `memory`).
//!
//! `humantime` (in the workspace) is not a Go duration parser: it accepts `1d`, `1w` and `1y`, which
//! cert-manager rejects, and not `1.5h`, which it accepts. k8s-openapi's `Quantity` is a string with no
//! parser.

/// A Go `time.ParseDuration` value made of h/m/s/ms parts (what cert-manager accepts), in seconds.
pub fn go_duration_secs(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// A CPU quantity (`500m`, `1`, `0.5`) in millicores.
pub fn cpu_millis(q: &str) -> Option<u64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q
            .parse::<f64>()
            .ok()
            .filter(|c| c.is_finite() && *c >= 0.0)
            .map(|c| (c * 1000.0).round() as u64),
    }
}

/// A memory quantity (`128Mi`, `1G`, `4096`) in bytes.
pub fn memory_bytes(q: &str) -> Option<u64> {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_in_hours_minutes_seconds() {
        assert_eq!(go_duration_secs("1h"), Some(3600.0));
        assert_eq!(go_duration_secs("2160h"), Some(2160.0 * 3600.0));
        assert_eq!(go_duration_secs("1h30m"), Some(5400.0));
        assert_eq!(go_duration_secs("1.5h"), Some(5400.0));
        assert_eq!(go_duration_secs("90s"), Some(90.0));
        assert_eq!(go_duration_secs("1m500ms"), Some(60.5));
    }

    #[test]
    fn go_durations_cert_manager_rejects() {
        for bad in ["", "1", "1d", "1w", "h", "1h 30m", "-1h", "1hour", "1.2.3h"] {
            assert_eq!(go_duration_secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu_millis("10m"), Some(10));
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("1"), Some(1000));
        assert_eq!(cpu_millis("0.5"), Some(500));
        for bad in ["", "m", "1.5m", "ten", "1Gi"] {
            assert_eq!(cpu_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(memory_bytes("64Mi"), Some(64 << 20));
        assert_eq!(memory_bytes("1Gi"), Some(1 << 30));
        assert_eq!(memory_bytes("2Ki"), Some(2048));
        assert_eq!(memory_bytes("1M"), Some(1_000_000));
        assert_eq!(memory_bytes("3k"), Some(3_000));
        assert_eq!(memory_bytes("4096"), Some(4096));
        for bad in ["", "Mi", "1.5Gi", "64MB", "lots"] {
            assert_eq!(memory_bytes(bad), None, "{bad:?}");
        }
    }
}
