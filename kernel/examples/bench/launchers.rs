//! `bench --only launchers`: cold start and the `1+1` round trip of a local kernel
//! against the same through the identity launcher (`env`), the bubblewrap sandbox and
//! ssh. `xtask/src/bench/launchers.rs` documents what each number covers.

use std::time::Instant;

use pykernel::{Kernel, KernelOptions, Launcher, Output, Sandbox};

use crate::{Args, Results, median, ms, percentile, run_cell, run_cell_with, start};

/// One way of starting a kernel, with its keys in the report.
struct Route {
    name: &'static str,
    options: KernelOptions,
    /// Cold start, its gap to the local start, and the round trip.
    keys: [&'static str; 3],
}

/// The routes this run measures: always local and `env`, the sandbox unless
/// `--no-sandbox`, ssh with `--ssh`.
fn routes(args: &Args) -> Result<Vec<Route>, String> {
    let local = args.options();
    let launcher =
        |words: Vec<String>| Launcher::new(words).map_err(|err| format!("bad launcher: {err}"));
    let mut routes = vec![
        Route {
            name: "local",
            options: local.clone(),
            keys: [
                "launch_local_cold_start_ms",
                "",
                "launch_local_rtt_median_ms",
            ],
        },
        Route {
            name: "env",
            options: local
                .clone()
                .with_launcher(launcher(vec!["env".to_owned()])?),
            keys: [
                "launch_env_cold_start_ms",
                "launch_env_cold_start_gap_ms",
                "launch_env_rtt_median_ms",
            ],
        },
    ];
    if args.sandbox {
        routes.push(Route {
            name: "sandbox",
            options: local.clone().with_sandbox(Sandbox::new()),
            keys: [
                "launch_sandbox_cold_start_ms",
                "launch_sandbox_cold_start_gap_ms",
                "launch_sandbox_rtt_median_ms",
            ],
        });
    }
    if let Some(words) = &args.ssh {
        routes.push(Route {
            name: "ssh",
            options: local.with_launcher(launcher(words.clone())?),
            keys: [
                "launch_ssh_cold_start_ms",
                "launch_ssh_cold_start_gap_ms",
                "launch_ssh_rtt_median_ms",
            ],
        });
    }
    Ok(routes)
}

/// Measures every route and returns its results.
pub(crate) async fn run(args: &Args) -> Result<Results, String> {
    let routes = routes(args)?;
    let (trials, blocks, per_block) = if args.quick {
        (3, 2, 50)
    } else {
        (20, 10, 100)
    };
    let trials = args.trials.unwrap_or(trials);

    // One untimed start per route pays one-time costs (page cache, bytecode caches).
    for route in &routes {
        let kernel = start(route.options.clone()).await?;
        run_cell(&kernel, "pass").await?;
        kernel.shutdown().await;
    }

    // Trials alternate the routes, so a change in the machine's load touches them all.
    let mut cold: Vec<Vec<f64>> = vec![Vec::new(); routes.len()];
    for _ in 0..trials {
        for (route, samples) in routes.iter().zip(&mut cold) {
            let started = Instant::now();
            let kernel = start(route.options.clone()).await?;
            run_cell(&kernel, "pass").await?;
            samples.push(ms(started.elapsed()));
            kernel.shutdown().await;
        }
    }

    // Round trips: every route's kernel open at once, blocks of `1+1` in turn.
    let mut kernels = Vec::with_capacity(routes.len());
    for route in &routes {
        let kernel = start(route.options.clone()).await?;
        for _ in 0..50 {
            one_plus_one(&kernel).await?;
        }
        kernels.push(kernel);
    }
    let mut rtt: Vec<Vec<f64>> = vec![Vec::new(); routes.len()];
    for _ in 0..blocks {
        for (kernel, samples) in kernels.iter().zip(&mut rtt) {
            for _ in 0..per_block {
                let started = Instant::now();
                one_plus_one(kernel).await?;
                samples.push(ms(started.elapsed()));
            }
        }
    }
    for kernel in &kernels {
        kernel.shutdown().await;
    }

    // Each trial's start against the local start of the same trial: the median of these
    // differences is steadier on a loaded machine than a difference of medians.
    let gaps: Vec<f64> = cold
        .iter()
        .map(|samples| {
            let mut gaps: Vec<f64> = samples
                .iter()
                .zip(&cold[0])
                .map(|(ours, local)| ours - local)
                .collect();
            median(&mut gaps)
        })
        .collect();
    let mut results = Results::default();
    for (index, (route, gap)) in routes.iter().zip(gaps).enumerate() {
        let cold_median = median(&mut cold[index]);
        let rtt_median = median(&mut rtt[index]);
        let samples = &cold[index];
        eprintln!(
            "pykernel launch {}: cold start {cold_median:.1} ms ({:.1}-{:.1}, {gap:+.1} ms \
             against local), 1+1 {rtt_median:.3} ms (p99 {:.3})",
            route.name,
            samples[0],
            samples[samples.len() - 1],
            percentile(&rtt[index], 0.99),
        );
        let [cold_key, gap_key, rtt_key] = route.keys;
        results.push(cold_key, Some(cold_median));
        if index > 0 {
            results.push(gap_key, Some(gap));
        }
        results.push(rtt_key, Some(rtt_median));
    }
    Ok(results)
}

/// `1+1` to its outcome, its result consumed and checked.
async fn one_plus_one(kernel: &Kernel) -> Result<(), String> {
    let mut two = false;
    run_cell_with(kernel, "1+1", |output| {
        if let Output::Result { bundle, .. } = output {
            two |= bundle.get_str("text/plain") == Some("2");
        }
    })
    .await?;
    if two {
        Ok(())
    } else {
        Err("`1+1` did not give 2".to_owned())
    }
}
