//! The containers' args and env in every installable render of `deploy/` (issue 4) parse with the
//! binaries' own clap definitions (`manager::args::Cli`, `provider_azure::Args`), and what they say
//! agrees with the pod: TLS files inside mounted volumes, the provider socket where the manager looks,
//! probes on the addresses the binaries listen on. The harness: `sse_tests::deploy`.

use std::path::Path;

use clap::Parser;
use serde_json::Value;
use sse_api::consts;
use sse_tests::deploy::{
    MANAGER, Overlay, PROVIDER, Problems, Render, check_every_overlay, container, items,
    manager_command_line, strings, volume_mounted_at,
};

/// Port of an HTTP probe (numeric, or a named container port).
fn probe_port(c: &Value, probe: &str) -> Option<u64> {
    let port = &c[probe]["httpGet"]["port"];
    port.as_u64().or_else(|| {
        let name = port.as_str()?;
        c["ports"].as_array()?.iter().find(|p| p["name"] == name)?["containerPort"].as_u64()
    })
}

/// The manager's args plus `--flag=value` for every env var it gets (literal or from a ConfigMap in the
/// render), parsed by `manager::args::Cli`; the downward-API env vars carry the pod's identity.
fn check_manager_args(o: &Overlay, p: &mut Problems) -> Option<manager::args::Cli> {
    let pod = o.pod();
    let c = container(pod, MANAGER)?;
    let (mut argv, env_flags) = manager_command_line(&o.render, o.dep().namespace(), c, p);
    p.check(c.get("command").is_none(), || {
        "manager: keep the image's entrypoint (no command)".to_string()
    });

    let downward = [
        consts::ENV_POD_NAME,
        consts::ENV_POD_UID,
        consts::ENV_POD_NAMESPACE,
    ];
    for e in items(&c["env"]) {
        let name = e["name"].as_str().unwrap_or("");
        let Some(field) = e.pointer("/valueFrom/fieldRef/fieldPath").and_then(Value::as_str) else {
            continue;
        };
        p.check(downward.contains(&name), || {
            format!("manager: unexpected downward-API env {name}")
        });
        let want = match name {
            n if n == consts::ENV_POD_NAME => "metadata.name",
            n if n == consts::ENV_POD_UID => "metadata.uid",
            _ => "metadata.namespace",
        };
        p.check(field == want, || {
            format!("manager: env {name} must come from {want}")
        });
    }
    for d in downward {
        p.check(items(&c["env"]).any(|e| e["name"] == d), || {
            format!("manager: env {d} (downward API) is missing")
        });
    }

    // The args alone (what the flags say) and the args with the env-derived values both parse.
    if let Err(e) = manager::args::Cli::try_parse_from(&argv) {
        p.add(format!("manager args do not parse: {e}"));
        return None;
    }
    argv.extend(env_flags);
    let cli = match manager::args::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            p.add(format!("manager args + env do not parse: {e}"));
            return None;
        }
    };
    let run = &cli.run;
    p.check(cli.command.is_none(), || {
        "manager: args must run the controller, not a subcommand".to_string()
    });
    p.check(run.leader_elect, || {
        "manager: --leader-elect=true expected".to_string()
    });
    let tls = &run.provider;
    p.check(
        tls.provider_tls_cert_file.is_some()
            && tls.provider_tls_key_file.is_some()
            && tls.provider_tls_ca_file.is_some(),
        || "manager: mutual TLS to the provider needs cert, key and CA files".to_string(),
    );
    p.check(tls.plaintext_providers.is_empty(), || {
        "manager: no plaintext providers by default".to_string()
    });
    for f in [
        &tls.provider_tls_cert_file,
        &tls.provider_tls_key_file,
        &tls.provider_tls_ca_file,
    ]
    .into_iter()
    .flatten()
    {
        let dir = f.parent().and_then(Path::to_str).unwrap_or("");
        p.check(volume_mounted_at(pod, MANAGER, dir).is_some(), || {
            format!("manager: {} is not inside a mounted volume", f.display())
        });
    }
    let vol = tls.provider_volume.to_str().unwrap_or("");
    p.check(
        volume_mounted_at(pod, MANAGER, vol).is_some_and(|v| v["name"] == "providervol"),
        || format!("manager: --provider-volume={vol} is not the providervol mount"),
    );
    p.check(!run.audiences().is_empty(), || {
        "manager: no token audience configured".to_string()
    });
    let health = manager::args::parse_bind_address(&run.health_probe_bind_address);
    match health {
        Ok(Some(addr)) => {
            for probe in ["livenessProbe", "readinessProbe"] {
                p.check(probe_port(c, probe) == Some(u64::from(addr.port())), || {
                    format!("manager: {probe} port is not --health-probe-bind-address ({addr})")
                });
            }
        }
        _ => p.add("manager: --health-probe-bind-address must be an address (the probes need it)"),
    }
    match manager::args::parse_bind_address(&run.metrics_bind_address) {
        Ok(Some(addr)) => p.check(
            items(&c["ports"]).any(|port| {
                port["name"] == "metrics" && port["containerPort"].as_u64() == Some(u64::from(addr.port()))
            }),
            || format!("manager: container port `metrics` is not --metrics-bind-address ({addr})"),
        ),
        other => p.add(format!(
            "manager: --metrics-bind-address does not parse: {other:?}"
        )),
    }
    Some(cli)
}

/// The environment variables the provider's flags read (clap `env`).
fn provider_flag_envs() -> Vec<String> {
    use clap::CommandFactory as _;
    provider_azure::Args::command()
        .get_arguments()
        .filter_map(|a| a.get_env().and_then(|e| e.to_str()).map(str::to_string))
        .collect()
}

fn check_provider_args(r: &Render, pod: &Value, manager: Option<&manager::args::Cli>, p: &mut Problems) {
    let Some(c) = container(pod, PROVIDER) else {
        return;
    };
    // Flags, plus (the outbound-proxy component) environment variables that provider flags read: each
    // `env` entry names one, with a file path inside a mounted volume; each `envFrom` ConfigMap exists in
    // the render and holds only such variables.
    let envs = provider_flag_envs();
    for e in items(&c["env"]) {
        let name = e["name"].as_str().unwrap_or_default();
        p.check(envs.iter().any(|known| known == name), || {
            format!("provider: env {name} is no flag's variable")
        });
        if name.ends_with("_FILE") {
            let value = e["value"].as_str().unwrap_or_default();
            let dir = Path::new(value).parent().and_then(Path::to_str).unwrap_or("");
            p.check(volume_mounted_at(pod, PROVIDER, dir).is_some(), || {
                format!("provider: {name}={value} is not inside a mounted volume")
            });
        }
    }
    for from in items(&c["envFrom"]) {
        let (kind, name) = match (
            from["configMapRef"]["name"].as_str(),
            from["secretRef"]["name"].as_str(),
        ) {
            (Some(name), _) => ("ConfigMap", name),
            (None, Some(name)) => ("Secret", name),
            (None, None) => {
                p.add("provider: envFrom names neither a ConfigMap nor a Secret");
                continue;
            }
        };
        match r.of_kind(kind).find(|m| m.name() == name) {
            Some(source) => {
                let keys = ["data", "stringData"].into_iter().flat_map(|field| {
                    source.json[field]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone())
                });
                for key in keys.collect::<Vec<_>>() {
                    p.check(envs.contains(&key), || {
                        format!("provider: {kind} {name} key {key} is no flag's variable")
                    });
                }
            }
            None => p.add(format!("provider: envFrom {kind} {name} is not installed")),
        }
    }
    p.check(c.get("command").is_none(), || {
        "provider: keep the image's entrypoint (no command)".to_string()
    });
    let argv = std::iter::once("provider-azure".to_string()).chain(strings(&c["args"]));
    let args = match provider_azure::Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            p.add(format!("provider args do not parse: {e}"));
            return;
        }
    };
    p.check(!args.plaintext, || {
        "provider: must not serve plaintext".to_string()
    });
    for f in [&args.tls_cert_file, &args.tls_key_file, &args.tls_client_ca_file] {
        match f {
            Some(f) => {
                let dir = f.parent().and_then(Path::to_str).unwrap_or("");
                p.check(volume_mounted_at(pod, PROVIDER, dir).is_some(), || {
                    format!("provider: {} is not inside a mounted volume", f.display())
                });
            }
            None => p.add("provider: mutual TLS needs --tls-cert-file, --tls-key-file, --tls-client-ca-file"),
        }
    }
    // The socket is <provider volume>/azure.sock, where the manager looks for provider `azure`.
    match args.endpoint.strip_prefix("unix://") {
        Some(path) => {
            let path = Path::new(path);
            let dir = path.parent().and_then(Path::to_str).unwrap_or("");
            p.check(
                volume_mounted_at(pod, PROVIDER, dir).is_some_and(|v| v["name"] == "providervol"),
                || {
                    format!(
                        "provider: socket {} is not in the providervol mount",
                        path.display()
                    )
                },
            );
            p.check(path.file_name() == Some("azure.sock".as_ref()), || {
                "provider: the socket must be azure.sock (SecretProviderClass `provider: azure`)".to_string()
            });
            if let Some(m) = manager {
                let mgr_dir = &m.run.provider.provider_volume;
                let mgr_vol = volume_mounted_at(pod, MANAGER, mgr_dir.to_str().unwrap_or(""));
                let prov_vol = volume_mounted_at(pod, PROVIDER, dir);
                p.check(mgr_vol.is_some() && mgr_vol == prov_vol, || {
                    "manager --provider-volume and the provider's socket directory are not the same volume"
                        .to_string()
                });
            }
        }
        None => p.add(format!(
            "provider: --endpoint must be a unix socket, is {}",
            args.endpoint
        )),
    }
    match args.health_addr.0 {
        Some(addr) => p.check(
            probe_port(c, "livenessProbe") == Some(u64::from(addr.port())),
            || format!("provider: liveness probe port is not --health-addr ({addr})"),
        ),
        None => p.add("provider: --health-addr is disabled but the liveness probe needs it"),
    }
}

#[test]
fn container_args_and_env_parse_with_the_binaries_flags() {
    check_every_overlay(|o, p| {
        let cli = check_manager_args(o, p);
        check_provider_args(&o.render, o.pod(), cli.as_ref(), p);
        match cli {
            Some(cli) => format!(
                "manager and provider args parse, watch-owned-secrets={}",
                cli.run.watch_owned_secrets
            ),
            None => "the manager's args do not parse".to_string(),
        }
    });
}
