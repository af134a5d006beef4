//! The session manager over memory transports and fake runners, in paused time.
//!
//! Every kernel a test's [`Sessions`] starts is numbered in start order (`k1`, `k2`, ...);
//! [`World::transcript`] shows what each one's runner saw: the cells it ran (startup cells
//! left out), `exit` requests, signals and how it ended.
//!
//! Cells are `sleep SECS` (runs that long), `die` (the runner exits with code 3) or
//! anything else (succeeds at once).

use std::{
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use pykernel::{
    ExecuteOptions, Kernel, KernelError, KernelOptions, SessionId, Sessions, SessionsOptions,
};
use pykernel_protocol::{Execute, Hello, Request};
use pykernel_transport::{ExitStatus, FakeRunner, MemoryTransport, RunnerLog, Script};
use tokio::{task::AbortHandle, time};

/// The kernels a test's sessions started, and how the next ones start.
#[derive(Clone, Default)]
struct World {
    inner: Arc<Mutex<WorldState>>,
}

#[derive(Default)]
struct WorldState {
    kernels: Vec<Started>,
    /// How long each start takes before the runner exists.
    start_delay: Duration,
    /// Whether starts fail (the runner speaks another protocol version).
    failing: bool,
}

struct Started {
    log: RunnerLog,
    runner: AbortHandle,
    /// The test aborted the runner's task.
    killed: bool,
}

impl World {
    fn sessions(&self, options: SessionsOptions) -> Sessions {
        let world = self.clone();
        Sessions::with_factory(options, move |kernel_options| {
            let world = world.clone();
            async move { world.start(kernel_options).await }
        })
    }

    async fn start(&self, options: KernelOptions) -> Result<Kernel, KernelError> {
        let delay = self.state().start_delay;
        time::sleep(delay).await;
        let (transport, handle) = MemoryTransport::pair();
        let log = handle.log();
        let mut runner = FakeRunner::new(handle).on_execute(script_for);
        if self.state().failing {
            runner = runner.hello(Some(Hello {
                protocol: 99,
                runner: "future".to_owned(),
                python: "3.99".to_owned(),
                pid: 0,
                features: Vec::new(),
                hash: None,
            }));
        }
        let runner = runner.spawn().abort_handle();
        self.state().kernels.push(Started {
            log,
            runner,
            killed: false,
        });
        Kernel::start_with_transport(Box::new(transport), options).await
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WorldState> {
        self.inner.lock().unwrap()
    }

    fn n_started(&self) -> usize {
        self.state().kernels.len()
    }

    fn set_start_delay(&self, delay: Duration) {
        self.state().start_delay = delay;
    }

    fn set_failing(&self, failing: bool) {
        self.state().failing = failing;
    }

    /// Kills the runner of kernel `number` (1-based) as if the process vanished.
    fn kill_runner(&self, number: usize) {
        let started = &mut self.state().kernels[number - 1];
        started.runner.abort();
        started.killed = true;
    }

    /// One line per kernel: `k1: cell | cell | exit => exit code 0`.
    fn transcript(&self) -> String {
        let mut out = String::new();
        for (index, started) in self.state().kernels.iter().enumerate() {
            let mut steps = Vec::new();
            for request in started.log.requests() {
                match request {
                    Request::Execute(execute) if is_startup(&execute) => {}
                    Request::Execute(execute) => steps.push(execute.code),
                    Request::Exit => steps.push("exit".to_owned()),
                    other => steps.push(format!("{other:?}")),
                }
            }
            steps.extend(
                started
                    .log
                    .signals()
                    .iter()
                    .map(|signal| format!("{signal:?}")),
            );
            let end = match started.log.exit_status() {
                Some(status) => status.to_string(),
                None if started.killed => "killed".to_owned(),
                None => "running".to_owned(),
            };
            let steps = if steps.is_empty() {
                "-".to_owned()
            } else {
                steps.join(" | ")
            };
            writeln!(out, "k{}: {steps} => {end}", index + 1).unwrap();
        }
        out
    }
}

fn is_startup(execute: &Execute) -> bool {
    matches!(execute.id.as_str(), "init" | "prelude")
}

fn script_for(execute: &Execute) -> Script {
    let (verb, rest) = execute.code.split_once(' ').unwrap_or((&execute.code, ""));
    match verb {
        "sleep" => Script::new().sleep(Duration::from_secs(rest.parse().unwrap_or(1))),
        "die" => Script::new().exit(ExitStatus::Code(3), "SystemError: boom\n"),
        _ => Script::new(),
    }
}

fn options() -> SessionsOptions {
    SessionsOptions::new(
        KernelOptions::new()
            .with_cwd("/pyk-test")
            .with_prelude(false),
    )
}

/// Runs `code` in session `id` to its end; renders the outcome or the error.
async fn run(sessions: &Sessions, id: &str, code: &str) -> String {
    let id = SessionId::new(id);
    let execution = match sessions.execute(&id, code, ExecuteOptions::new()).await {
        Ok(execution) => execution,
        Err(err) => return format!("Err({err})"),
    };
    match execution.outcome().await {
        Ok(outcome) if outcome.is_ok() => "ok".to_owned(),
        Ok(outcome) => format!("{:?}", outcome.status),
        Err(err) => format!("Err({err})"),
    }
}

/// Lets every task run until it waits; the clock does not move.
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn handles_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Sessions>();
    send_sync::<SessionId>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let sessions = World::default().sessions(options());
    let id = SessionId::new("a");
    send(&sessions.execute(&id, "x", ExecuteOptions::new()));
    send(&sessions.remove(&id));
    send(&sessions.shutdown_all());
}

#[tokio::test(start_paused = true)]
async fn a_session_reuses_its_kernel() {
    let world = World::default();
    let sessions = world.sessions(options());
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    assert_eq!(run(&sessions, "a", "x + 1").await, "ok");
    assert_eq!(run(&sessions, "b", "y = 2").await, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: x = 1 | x + 1 => running
        k2: y = 2 => running
    ");
}

#[tokio::test(start_paused = true)]
async fn a_dead_kernel_is_replaced_on_next_use() {
    let world = World::default();
    let sessions = world.sessions(options());
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    let died = run(&sessions, "a", "die").await;
    assert!(died.starts_with("Err(kernel died (exit code 3)"), "{died}");
    assert_eq!(run(&sessions, "a", "x").await, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: x = 1 | die => exit code 3
        k2: x => running
    ");
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_use_starts_once() {
    let world = World::default();
    world.set_start_delay(Duration::from_secs(2));
    let sessions = world.sessions(options());
    let id = SessionId::new("a");
    let (first, second, third) = tokio::join!(
        sessions.kernel(&id),
        sessions.kernel(&id),
        run(&sessions, "a", "shared"),
    );
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    assert_eq!(third, "ok");
    first
        .unwrap()
        .execute("from first", ExecuteOptions::new())
        .outcome()
        .await
        .unwrap();
    second
        .unwrap()
        .execute("from second", ExecuteOptions::new())
        .outcome()
        .await
        .unwrap();
    insta::assert_snapshot!(world.transcript(), @"k1: shared | from first | from second => running");
}

#[tokio::test(start_paused = true)]
async fn callers_of_a_failed_start_all_get_its_error() {
    let world = World::default();
    world.set_start_delay(Duration::from_secs(1));
    world.set_failing(true);
    let sessions = world.sessions(options());
    let id = SessionId::new("a");
    let (first, second) = tokio::join!(sessions.kernel(&id), sessions.kernel(&id));
    let errors = [
        first.unwrap_err().to_string(),
        second.unwrap_err().to_string(),
    ];
    insta::assert_snapshot!(errors.join("\n"), @r"
        runner speaks protocol 99, host speaks 2
        runner speaks protocol 99, host speaks 2
    ");
    assert_eq!(world.n_started(), 1);
    assert!(sessions.session_ids().is_empty());

    // The failure is not kept: the next use tries again.
    world.set_failing(false);
    assert_eq!(run(&sessions, "a", "retry").await, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: Kill => signal 9
        k2: retry => running
    ");
}

#[tokio::test(start_paused = true)]
async fn concurrent_resets_share_one_shutdown() {
    let world = World::default();
    let sessions = world.sessions(options());
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    let id = SessionId::new("a");
    let (first, second, third) = tokio::join!(
        sessions.remove(&id),
        sessions.remove(&id),
        sessions.reset(&id),
    );
    assert_eq!(first, second);
    assert!(first.is_some_and(|report| report.confirmed()), "{first:?}");
    let _: () = third;
    assert!(sessions.session_ids().is_empty());
    assert_eq!(sessions.remove(&id).await, None);
    assert_eq!(run(&sessions, "a", "x").await, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: x = 1 | exit => exit code 0
        k2: x => running
    ");
}

#[tokio::test(start_paused = true)]
async fn use_during_a_reset_waits_for_it_then_starts_fresh() {
    let world = World::default();
    let sessions = world.sessions(options());
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    let id = SessionId::new("a");
    let (_, after) = tokio::join!(sessions.reset(&id), run(&sessions, "a", "after reset"));
    assert_eq!(after, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: x = 1 | exit => exit code 0
        k2: after reset => running
    ");
}

#[tokio::test(start_paused = true)]
async fn a_reset_aborts_a_start_in_progress() {
    let world = World::default();
    world.set_start_delay(Duration::from_secs(5));
    let sessions = world.sessions(options());
    let id = SessionId::new("a");
    let waiter = tokio::spawn({
        let sessions = sessions.clone();
        let id = id.clone();
        async move { sessions.kernel(&id).await.map(drop) }
    });
    time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sessions.remove(&id).await, None);
    let waited = waiter.await.unwrap();
    insta::assert_snapshot!(format!("{waited:?}"), @"Err(Cancelled)");
    // The aborted start never created a runner; the next use starts one.
    assert_eq!(world.n_started(), 0);
    assert_eq!(run(&sessions, "a", "fresh").await, "ok");
    insta::assert_snapshot!(world.transcript(), @"k1: fresh => running");
}

#[tokio::test(start_paused = true)]
async fn an_idle_kernel_is_reaped_at_the_idle_timeout() {
    let world = World::default();
    let sessions = world.sessions(options().with_idle_timeout(Duration::from_secs(10)));
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    let ended = time::Instant::now();

    time::sleep_until(ended + Duration::from_secs(10) - Duration::from_millis(1)).await;
    settle().await;
    insta::assert_snapshot!(world.transcript(), @"k1: x = 1 => running");
    assert_eq!(sessions.session_ids(), [SessionId::new("a")]);

    time::sleep_until(ended + Duration::from_secs(10)).await;
    settle().await;
    insta::assert_snapshot!(world.transcript(), @"k1: x = 1 | exit => exit code 0");
    assert!(sessions.session_ids().is_empty());

    // The next use starts a new kernel.
    assert_eq!(run(&sessions, "a", "x").await, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: x = 1 | exit => exit code 0
        k2: x => running
    ");
}

#[tokio::test(start_paused = true)]
async fn a_busy_kernel_is_not_reaped_and_idle_time_runs_from_the_end() {
    let world = World::default();
    let sessions = world.sessions(options().with_idle_timeout(Duration::from_secs(10)));
    let id = SessionId::new("a");
    let started = time::Instant::now();
    let execution = sessions
        .execute(&id, "sleep 30", ExecuteOptions::new())
        .await
        .unwrap();
    let outcome = execution.outcome().await.unwrap();
    assert!(outcome.is_ok());
    let ended = time::Instant::now();
    assert_eq!(ended - started, Duration::from_secs(30));
    settle().await;
    insta::assert_snapshot!(world.transcript(), @"k1: sleep 30 => running");

    time::sleep_until(ended + Duration::from_secs(10) - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(sessions.session_ids(), [SessionId::new("a")]);
    time::sleep_until(ended + Duration::from_secs(10)).await;
    settle().await;
    insta::assert_snapshot!(world.transcript(), @"k1: sleep 30 | exit => exit code 0");
}

#[tokio::test(start_paused = true)]
async fn draining_or_dropping_an_execution_ends_its_use() {
    let world = World::default();
    let sessions = world.sessions(options().with_idle_timeout(Duration::from_secs(10)));
    let id = SessionId::new("a");
    let mut drained = sessions
        .execute(&id, "sleep 5", ExecuteOptions::new())
        .await
        .unwrap();
    while drained.next().await.is_some() {}
    // Still held, but over: idle from its end (t=5s), reaped at t=15s.
    time::sleep(Duration::from_secs(15)).await;
    settle().await;
    assert!(sessions.session_ids().is_empty());
    drop(drained);

    let dropped = sessions
        .execute(&id, "sleep 100", ExecuteOptions::new())
        .await
        .unwrap();
    time::sleep(Duration::from_secs(1)).await;
    drop(dropped);
    time::sleep(Duration::from_secs(10)).await;
    settle().await;
    assert!(sessions.session_ids().is_empty());
    insta::assert_snapshot!(world.transcript(), @r"
        k1: sleep 5 | exit => exit code 0
        k2: sleep 100 | exit | Interrupt => exit code 0
    ");
}

#[tokio::test(start_paused = true)]
async fn handing_out_a_kernel_counts_as_use() {
    let world = World::default();
    let sessions = world.sessions(options().with_idle_timeout(Duration::from_secs(10)));
    let id = SessionId::new("a");
    sessions.kernel(&id).await.unwrap();
    time::sleep(Duration::from_secs(6)).await;
    sessions.kernel(&id).await.unwrap();
    time::sleep(Duration::from_secs(6)).await;
    settle().await;
    assert_eq!(sessions.session_ids(), [SessionId::new("a")]);
    time::sleep(Duration::from_secs(4)).await;
    settle().await;
    assert!(sessions.session_ids().is_empty());
    insta::assert_snapshot!(world.transcript(), @"k1: exit => exit code 0");
}

#[tokio::test(start_paused = true)]
async fn a_long_cell_run_on_a_handed_out_kernel_is_not_reaped() {
    let world = World::default();
    let sessions = world.sessions(options().with_idle_timeout(Duration::from_secs(10)));
    let kernel = sessions.kernel(&SessionId::new("a")).await.unwrap();
    let started = time::Instant::now();
    let execution = kernel.execute("sleep 30", ExecuteOptions::new());
    let outcome = execution.outcome().await.unwrap();
    assert!(outcome.is_ok() && !outcome.kernel_killed(), "{outcome:?}");
    let ended = time::Instant::now();
    assert_eq!(ended - started, Duration::from_secs(30));

    time::sleep_until(ended + Duration::from_secs(10) - Duration::from_millis(1)).await;
    settle().await;
    insta::assert_snapshot!(world.transcript(), @"k1: sleep 30 => running");
    time::sleep_until(ended + Duration::from_secs(10)).await;
    settle().await;
    insta::assert_snapshot!(world.transcript(), @"k1: sleep 30 | exit => exit code 0");
    assert!(sessions.session_ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_pool_hands_out_started_kernels_and_refills() {
    let world = World::default();
    world.set_start_delay(Duration::from_secs(1));
    let sessions = world.sessions(options().with_pool_size(1));
    time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!((world.n_started(), sessions.pooled()), (1, 1));

    // A new session takes the pooled kernel without waiting for a start.
    let before = time::Instant::now();
    let kernel = sessions.kernel(&SessionId::new("a")).await.unwrap();
    assert_eq!(time::Instant::now(), before);
    drop(kernel);
    assert_eq!(sessions.pooled(), 0);
    assert_eq!(run(&sessions, "a", "on the pooled kernel").await, "ok");

    time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!((world.n_started(), sessions.pooled()), (2, 1));
    assert_eq!(run(&sessions, "b", "on the refill").await, "ok");
    insta::assert_snapshot!(world.transcript(), @r"
        k1: on the pooled kernel => running
        k2: on the refill => running
    ");
}

#[tokio::test(start_paused = true)]
async fn a_pooled_kernel_that_died_is_discarded() {
    let world = World::default();
    let sessions = world.sessions(options().with_pool_size(1));
    settle().await;
    assert_eq!(sessions.pooled(), 1);
    world.kill_runner(1);
    settle().await;
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    settle().await;
    assert_eq!(sessions.pooled(), 1);
    insta::assert_snapshot!(world.transcript(), @r"
        k1: - => killed
        k2: x = 1 => running
        k3: - => running
    ");
}

#[tokio::test(start_paused = true)]
async fn failing_pool_starts_back_off() {
    let world = World::default();
    world.set_failing(true);
    let _sessions = world.sessions(options().with_pool_size(1));
    let mut starts = Vec::new();
    for _ in 0..20 {
        time::sleep(Duration::from_secs(1)).await;
        settle().await;
        starts.push(world.n_started().to_string());
    }
    // Retries after 1, 2, 4 and 8 seconds.
    insta::assert_snapshot!(starts.join(" "), @"2 2 3 3 3 3 4 4 4 4 4 4 4 4 5 5 5 5 5 5");
}

#[tokio::test(start_paused = true)]
async fn shutdown_all_stops_every_kernel_and_the_pool() {
    let world = World::default();
    let sessions = world.sessions(options().with_pool_size(1));
    assert_eq!(run(&sessions, "a", "in a").await, "ok");
    assert_eq!(run(&sessions, "b", "in b").await, "ok");
    settle().await;
    sessions.shutdown_all().await;
    settle().await;
    let n_started = world.n_started();
    insta::assert_snapshot!(world.transcript(), @r"
        k1: in a | exit => exit code 0
        k2: in b | exit => exit code 0
        k3: exit => exit code 0
    ");
    let after = sessions.kernel(&SessionId::new("c")).await;
    insta::assert_snapshot!(format!("{after:?}"), @"Err(NotRunning)");

    // Nothing refills the pool afterwards.
    time::sleep(Duration::from_secs(60)).await;
    settle().await;
    assert_eq!(world.n_started(), n_started);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_shuts_kernels_down() {
    let world = World::default();
    let sessions = world.sessions(options().with_pool_size(1));
    let clone = sessions.clone();
    assert_eq!(run(&sessions, "a", "x = 1").await, "ok");
    settle().await;
    drop(sessions);
    assert_eq!(run(&clone, "a", "still here").await, "ok");
    drop(clone);
    time::sleep(Duration::from_secs(5)).await;
    settle().await;
    insta::assert_snapshot!(world.transcript(), @r"
        k1: x = 1 | still here | exit => exit code 0
        k2: exit => exit code 0
    ");
}

/// With a real Python: two sessions keep separate namespaces, and the second takes its
/// kernel from the pool.
#[cfg(unix)]
#[tokio::test]
async fn real_python_sessions_use_the_pool() {
    if pykernel_runner::testing::test_python().is_none() {
        return;
    }
    let cwd = std::env::temp_dir();
    let sessions =
        Sessions::new(SessionsOptions::new(KernelOptions::new().with_cwd(&cwd)).with_pool_size(1));
    let result = time::timeout(Duration::from_secs(60), async {
        let a = SessionId::new("a");
        let b = SessionId::new("b");
        let ok = |code: &'static str, id: SessionId| {
            let sessions = sessions.clone();
            async move {
                let execution = sessions.execute(&id, code, ExecuteOptions::new()).await?;
                execution.outcome().await
            }
        };
        assert!(ok("x = 41", a.clone()).await.unwrap().is_ok());
        // Wait for the refill: the pool must hold a started kernel for `b`.
        while sessions.pooled() == 0 {
            time::sleep(Duration::from_millis(20)).await;
        }
        let kernel = sessions.kernel(&b).await.unwrap();
        assert_eq!(sessions.pooled(), 0);
        let mut execution = kernel.execute("print('x' in globals())", ExecuteOptions::new());
        let mut stdout = String::new();
        while let Some(output) = execution.next_output().await {
            if let pykernel::Output::Stdout(text) = output {
                stdout.push_str(&text);
            }
        }
        assert_eq!(stdout, "False\n");
        assert!(ok("assert x == 41", a.clone()).await.unwrap().is_ok());
        sessions.shutdown_all().await;
    })
    .await;
    assert!(
        result.is_ok(),
        "real python sessions did not finish in 60 s"
    );
}

/// Runs `code` on `owner`'s session to its end; renders the outcome with its generation.
async fn run_owned(owner: &pykernel::SessionOwner, code: &str) -> String {
    let execution = match owner.execute(code, ExecuteOptions::new()).await {
        Ok(execution) => execution,
        Err(err) => return format!("Err({err})"),
    };
    match execution.outcome().await {
        Ok(outcome) => format!("{:?} generation={}", outcome.status, outcome.generation),
        Err(err) => format!("Err({err})"),
    }
}

#[tokio::test(start_paused = true)]
async fn owners_share_a_session_and_the_last_release_shuts_it_down() {
    let world = World::default();
    let sessions = world.sessions(options());
    let id = SessionId::new("shared");
    let a = sessions.acquire(&id).expect("acquired");
    let b = sessions.acquire(&id).expect("acquired");
    assert_eq!(sessions.owners(&id), 2);
    let mut ran = vec![run_owned(&a, "x = 1").await, run_owned(&b, "x + 1").await];
    // The first release leaves the kernel to the other owner.
    let first = a.release().await;
    ran.push(format!("a released: {first:?}"));
    ran.push(run_owned(&b, "x + 2").await);
    let last = b
        .release()
        .await
        .expect("the last release shuts the kernel down");
    ran.push(format!("b released: confirmed={}", last.confirmed()));
    ran.push(format!(
        "owners={} sessions={:?}",
        sessions.owners(&id),
        sessions.session_ids()
    ));
    insta::assert_snapshot!(ran.join("\n") + "\n" + &world.transcript(), @r#"
    Ok generation=1
    Ok generation=1
    a released: None
    Ok generation=1
    b released: confirmed=true
    owners=0 sessions=[]
    k1: x = 1 | x + 1 | x + 2 | exit => exit code 0
    "#);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_owner_shuts_down_even_a_busy_kernel_without_hanging() {
    let world = World::default();
    let sessions = world.sessions(options());
    let id = SessionId::new("s");
    let owner = sessions.acquire(&id).expect("acquired");
    let running = owner
        .execute("sleep 1000", ExecuteOptions::new())
        .await
        .expect("started");
    let other = sessions.acquire(&id).expect("acquired");
    drop(other);
    settle().await;
    // One owner is left: the cell runs on.
    assert!(world.transcript().contains("=> running"));
    drop(owner);
    let outcome = running.outcome().await.expect("an outcome");
    assert!(outcome.kernel_killed(), "{outcome:?}");
    time::sleep(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(sessions.owners(&id), 0);
    assert!(sessions.session_ids().is_empty());
    insta::assert_snapshot!(world.transcript(), @"k1: sleep 1000 | exit | Terminate => signal 15");
}

#[tokio::test(start_paused = true)]
async fn a_replaced_kernel_is_the_next_generation_and_owners_keep_the_session() {
    let world = World::default();
    let sessions = world.sessions(options());
    let id = SessionId::new("g");
    let owner = sessions.acquire(&id).expect("acquired");
    assert_eq!(sessions.generation(&id), None);
    let mut ran = vec![
        run_owned(&owner, "x = 1").await,
        run_owned(&owner, "die").await,
    ];
    // Died: the next call gets a new kernel, and the outcome says it is a new generation.
    ran.push(run_owned(&owner, "x").await);
    sessions.reset(&id).await;
    ran.push(run_owned(&owner, "after reset").await);
    ran.push(format!(
        "generation={:?} owners={}",
        sessions.generation(&id),
        sessions.owners(&id)
    ));
    let report = owner.release().await.map(|report| report.confirmed());
    ran.push(format!("released: {report:?}"));
    assert!(sessions.acquire(&id).is_ok());
    sessions.shutdown_all().await;
    ran.push(format!(
        "after shutdown_all: {:?}",
        sessions.acquire(&id).err()
    ));
    insta::assert_snapshot!(ran.join("\n") + "\n" + &world.transcript(), @r#"
    Ok generation=1
    Err(kernel died (exit code 3); stderr:
    SystemError: boom)
    Ok generation=2
    Ok generation=3
    generation=Some(3) owners=1
    released: Some(true)
    after shutdown_all: Some(NotRunning)
    k1: x = 1 | die => exit code 3
    k2: x | exit => exit code 0
    k3: after reset | exit => exit code 0
    "#);
}
