//! `pyk repl`: through a pseudo-terminal, as a person uses it, and with piped input.

use crate::support::{pyk_with_python, python, run};

#[test]
fn piped_cells_share_state_and_a_dead_kernel_is_replaced() {
    let Some(python) = python() else { return };
    let cells =
        "x = 5\nx * 2\ndef f(a):\n    return a + x\n\nf(1)\nimport os; os._exit(3)\ny = 7\ny\n";
    let finished = run(pyk_with_python(&python, &["repl"]), cells);
    assert_eq!(finished.code, Some(0), "{finished:?}");
    assert!(
        finished.stdout.contains("Out[2]: 10\n"),
        "{}",
        finished.stdout
    );
    assert!(
        finished.stdout.contains("Out[4]: 6\n"),
        "{}",
        finished.stdout
    );
    // The fresh kernel counts from 1 again.
    assert!(
        finished.stdout.contains("Out[2]: 7\n"),
        "{}",
        finished.stdout
    );
    assert!(
        finished.stderr.contains("kernel died (exit code 3)"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("starting a new kernel"),
        "{}",
        finished.stderr
    );
}

#[cfg(unix)]
mod pty {
    use std::{thread, time::Duration};

    use expectrl::{
        ControlCode, Expect, Regex, Session, process::unix::WaitStatus, session::OsSession,
    };

    use crate::support::{HANG, pyk_with_python, python, temp_dir};

    #[test]
    fn keeps_state_continues_blocks_interrupts_and_exits_on_ctrl_d() {
        let Some(python) = python() else { return };
        let history = temp_dir("repl").join("history");
        let mut command = pyk_with_python(&python, &["repl"]);
        // rustyline treats TERM=dumb as a terminal it cannot edit on.
        command.env("TERM", "xterm").env("PYK_HISTORY", &history);
        let mut repl = Session::spawn(command).expect("pyk runs in a pty");
        repl.set_expect_timeout(Some(HANG));

        repl.expect("In [1]: ").expect("first prompt");
        repl.send_line("x = 41").expect("pty write");
        repl.expect("In [2]: ").expect("second prompt");
        repl.send_line("x + 1").expect("pty write");
        repl.expect("Out[2]: 42").expect("the result, numbered");

        // A block continues until a blank line.
        repl.expect("In [3]: ").expect("third prompt");
        repl.send_line("def double(a):").expect("pty write");
        repl.expect("...: ").expect("a continuation prompt");
        repl.send_line("    return a * 2").expect("pty write");
        repl.expect("...: ").expect("a continuation prompt");
        repl.send_line("").expect("pty write");
        repl.expect("In [4]: ").expect("the block ran");
        repl.send_line("double(x)").expect("pty write");
        repl.expect("Out[4]: 82")
            .expect("the function from the block");

        // Ctrl-C at the prompt clears the line.
        repl.expect("In [5]: ").expect("fifth prompt");
        repl.send("undefined_name").expect("pty write");
        repl.send(ControlCode::EndOfText).expect("pty write");
        repl.expect("In [5]: ").expect("the same prompt again");

        // Ctrl-C during a cell interrupts it and the session goes on.
        // The cell says when it runs, so the Ctrl-C cannot land before it started.
        repl.send_line("import time; print('spinning', flush=True); time.sleep(600)")
            .expect("pty write");
        repl.expect("spinning\r\n").expect("the cell runs");
        repl.send(ControlCode::EndOfText).expect("pty write");
        repl.expect("KeyboardInterrupt")
            .expect("the cell was interrupted");
        repl.expect(Regex(r"In \[\d+\]: "))
            .expect("a prompt after the interrupt");
        repl.send_line("x").expect("pty write");
        repl.expect(Regex(r"Out\[\d+\]: 41"))
            .expect("state survived the interrupt");

        // input() is answered from the terminal.
        repl.expect(Regex(r"In \[\d+\]: ")).expect("a prompt");
        repl.send_line("name = input('who? ')").expect("pty write");
        repl.expect("who? ").expect("the input prompt");
        repl.send_line("Ann").expect("pty write");
        repl.expect(Regex(r"In \[\d+\]: ")).expect("a prompt");
        repl.send_line("print('hello', name)").expect("pty write");
        repl.expect("hello Ann").expect("the answer reached Python");

        // Ctrl-D leaves and shuts the kernel down.
        repl.expect(Regex(r"In \[\d+\]: ")).expect("a prompt");
        repl.send(ControlCode::EndOfTransmission)
            .expect("pty write");
        let status = wait_exit(&repl);
        assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");

        let saved = std::fs::read_to_string(&history).expect("the history file was written");
        assert!(saved.contains("x = 41"), "{saved}");
        assert!(saved.contains("def double(a):"), "{saved}");
        assert!(
            !saved.contains("Ann"),
            "input() answers stay out of the history: {saved}"
        );
    }

    fn wait_exit(repl: &OsSession) -> WaitStatus {
        let deadline = std::time::Instant::now() + HANG;
        loop {
            match repl.get_process().status() {
                Ok(WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                Ok(status) => return status,
                Err(err) => panic!("cannot read pyk's status: {err}"),
            }
        }
    }
}
