//! The service layer with real kernels: named sessions, restarts, limits, interrupts.

use std::time::Duration;

use pykernel::KernelOptions;
use pykernel_server::{RunOptions, Service, ServiceError, ServiceOptions, Transcript};

/// The service with kernels on `PYKERNEL_TEST_PYTHON`, or `None` to skip the test.
fn service(configure: impl FnOnce(ServiceOptions) -> ServiceOptions) -> Option<Service> {
    let python = std::env::var_os("PYKERNEL_TEST_PYTHON")?;
    let options = configure(ServiceOptions::new(
        KernelOptions::new().with_python(python),
    ));
    Some(Service::new(options).expect("a service"))
}

/// Runs `code` in `session` and renders what a text consumer gets: the run's flags, then
/// the transcript's text.
async fn check(service: &Service, session: &str, code: &str, options: RunOptions) -> String {
    let mut run = match service.run(session, code, options).await {
        Ok(run) => run,
        Err(err) => return format!("error: {err}\n"),
    };
    let info = run.info().clone();
    let mut transcript = Transcript::new(service.artifacts(), 2000);
    while let Some(output) = run.next_output().await {
        transcript.push(&output);
    }
    let outcome = run.outcome().await;
    let cell = transcript.finish();
    let ending = match &outcome {
        Ok(outcome) if outcome.timed_out() => "timed out",
        Ok(outcome) if outcome.cancelled() => "cancelled",
        Ok(outcome) if outcome.is_ok() => "ok",
        Ok(_) => "error",
        Err(_) => "kernel died",
    };
    format!(
        "[{ending} gen={} restarted={}]\n{}",
        info.generation, info.kernel_restarted, cell.text
    )
}

#[tokio::test]
async fn sessions_keep_state_apart_and_report_a_replaced_kernel() {
    let Some(service) = service(|options| options) else {
        return;
    };
    let mut transcript = String::new();
    for (session, code) in [
        ("a", "x = 1"),
        ("b", "x = 2"),
        ("a", "x"),
        ("b", "x"),
        ("a", "import os; os._exit(3)"),
        ("a", "x"),
        ("a", "x = 5; x"),
    ] {
        transcript.push_str(&format!("{session}> {code}\n"));
        transcript.push_str(&check(&service, session, code, RunOptions::new()).await);
    }
    insta::assert_snapshot!(transcript.replace('^', ""), @r#"
    a> x = 1
    [ok gen=1 restarted=false]
    b> x = 2
    [ok gen=1 restarted=false]
    a> x
    [ok gen=1 restarted=false]
    1
    b> x
    [ok gen=1 restarted=false]
    2
    a> import os; os._exit(3)
    [kernel died gen=1 restarted=false]
    a> x
    [error gen=2 restarted=true]
    Traceback (most recent call last):
      File "<cell-1>", line 1, in <module>
        x
    NameError: name 'x' is not defined
    a> x = 5; x
    [ok gen=2 restarted=false]
    5
    "#);
    let mut names: Vec<(String, bool, u64)> = service
        .sessions()
        .into_iter()
        .map(|info| (info.name, info.alive, info.generation))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("a".to_owned(), true, 2), ("b".to_owned(), true, 1)]
    );
    service.shutdown_all().await;
}

#[tokio::test]
async fn a_new_session_over_the_limit_is_refused() {
    let Some(service) = service(|options| options.with_max_sessions(1).with_pool_size(0)) else {
        return;
    };
    let first = check(&service, "one", "1", RunOptions::new()).await;
    let second = check(&service, "two", "2", RunOptions::new()).await;
    service.shutdown("one").await.expect("session one exists");
    let third = check(&service, "two", "3", RunOptions::new()).await;
    insta::assert_snapshot!(format!("{first}{second}{third}"), @r"
    [ok gen=1 restarted=false]
    1
    error: too many sessions: 1 already run, the limit; reuse one or restart the server with a higher --max-sessions
    [ok gen=1 restarted=false]
    3
    ");
    service.shutdown_all().await;
}

#[tokio::test]
async fn interrupt_ends_the_running_cell_and_keeps_the_session() {
    let Some(service) = service(|options| options) else {
        return;
    };
    check(&service, "s", "y = 7", RunOptions::new()).await;
    let mut run = service
        .run(
            "s",
            "import time\nprint('running', flush=True)\nwhile True: time.sleep(0.01)",
            RunOptions::new().with_timeout(Duration::from_secs(60)),
        )
        .await
        .expect("a run");
    assert!(service.sessions()[0].busy);
    // Interrupt only once the cell is known to run: it printed.
    run.next_output().await.expect("the cell's first line");
    service.interrupt("s").expect("the session runs");
    while run.next_output().await.is_some() {}
    let outcome = run.outcome().await.expect("an outcome");
    assert!(outcome.cancelled());
    assert_eq!(
        check(&service, "s", "y", RunOptions::new()).await,
        "[ok gen=1 restarted=false]\n7\n"
    );
    assert!(matches!(
        service.interrupt("nope"),
        Err(ServiceError::NoSuchSession(_))
    ));
    let restarted = service.restart("s").await.expect("a restart");
    assert_eq!(
        (restarted.generation, restarted.kernel_restarted),
        (2, false)
    );
    service.shutdown_all().await;
}

#[tokio::test]
async fn opened_sessions_are_shared_and_the_last_close_shuts_them_down() {
    let Some(service) = service(|options| options.with_pool_size(0)) else {
        return;
    };
    let mut transcript = String::new();
    let first = service.open("shared").await.expect("opened");
    let second = service.open("shared").await.expect("opened");
    transcript.push_str(&format!(
        "opened: owners {} then {}, generation {}\n",
        first.owners, second.owners, second.info.generation
    ));
    transcript.push_str(&check(&service, "shared", "x = 41", RunOptions::new()).await);
    let closed = service.close(first.owner).await.expect("closed");
    transcript.push_str(&format!("first close shut it down: {closed}\n"));
    transcript.push_str(&check(&service, "shared", "x + 1", RunOptions::new()).await);
    let closed = service.close(second.owner).await.expect("closed");
    transcript.push_str(&format!("last close shut it down: {closed}\n"));
    transcript.push_str(&format!("sessions: {}\n", service.sessions().len()));
    let again = service.close(second.owner).await;
    transcript.push_str(&format!("closing again: {}\n", again.expect_err("gone")));
    // The name starts over with a fresh kernel, the next generation.
    transcript.push_str(&check(&service, "shared", "'x' in dir()", RunOptions::new()).await);
    service.shutdown_all().await;
    insta::assert_snapshot!(transcript, @r#"
    opened: owners 1 then 2, generation 1
    [ok gen=1 restarted=false]
    first close shut it down: false
    [ok gen=1 restarted=false]
    42
    last close shut it down: true
    sessions: 0
    closing again: no open session has owner 2
    [ok gen=2 restarted=false]
    False
    "#);
}

#[tokio::test]
async fn a_cut_output_is_read_back_whole_with_output() {
    let Some(service) = service(|options| options.with_pool_size(0)) else {
        return;
    };
    let long = check(
        &service,
        "a",
        "for n in range(1, 1001): print(f'line {n}')",
        RunOptions::new(),
    )
    .await;
    assert!(long.contains("output(\"out-1\")"), "{long}");
    let read = check(
        &service,
        "a",
        "print(output('out-1', offset=998), end='')\n\
         print(output('out-1', query='line 50', format='json')['content'], end='')\n\
         try:\n    output('out-9')\nexcept Exception as err:\n    print(type(err).__name__, err)",
        RunOptions::new(),
    )
    .await;
    service.shutdown_all().await;
    insta::assert_snapshot!(read, @r#"
    [ok gen=1 restarted=false]
    line 999
    line 1000
    line 50
    line 500
    line 501
    line 502
    line 503
    line 504
    line 505
    line 506
    line 507
    line 508
    line 509
    HostCallError no output named "out-9"; saved outputs: out-1
    "#);
}
