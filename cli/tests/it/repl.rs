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

    /// `pyk repl` in a pty, at its first prompt; `None` when no test Python is set.
    fn spawn_repl() -> Option<OsSession> {
        let python = python()?;
        let mut command = pyk_with_python(&python, &["repl"]);
        // rustyline treats TERM=dumb as a terminal it cannot edit on.
        command.env("TERM", "xterm");
        let mut repl = Session::spawn(command).expect("pyk runs in a pty");
        repl.set_expect_timeout(Some(HANG));
        repl.expect("In [1]: ").expect("first prompt");
        Some(repl)
    }

    // A terminal sends `\r` for Enter. Each test writes its lines in one write, as a
    // paste or a fast typist does, so the editor gets them all in one read.

    #[test]
    fn tab_completes_keywords_and_names_from_the_kernel() {
        let Some(mut repl) = spawn_repl() else { return };
        // `impo` alone would be a NameError: the cell runs only if Tab completed it.
        repl.send("impo\t").expect("pty write");
        repl.expect("import").expect("Tab completed the keyword");
        repl.send(" json\r").expect("pty write");
        repl.expect("In [2]: ").expect("the import ran");
        repl.send("x_long_name = 41\r").expect("pty write");
        repl.expect("In [3]: ").expect("the assignment ran");
        repl.send("x_lo\t").expect("pty write");
        repl.expect("x_long_name").expect("Tab completed the name");
        repl.send(" + 1\r").expect("pty write");
        repl.expect("Out[3]: 42").expect("the completed name ran");
        repl.send("json.du\t").expect("pty write");
        repl.expect("json.dump")
            .expect("Tab completed the attribute");
        repl.send("s(1)\r").expect("pty write");
        repl.expect("Out[4]: '1'").expect("the completed call ran");
    }

    #[test]
    fn lines_sent_in_one_write_all_run_in_order() {
        let Some(mut repl) = spawn_repl() else { return };
        repl.send("x = 1\rx = x * 10 + 2\rx = x * 10 + 3\rx\r")
            .expect("pty write");
        repl.expect("Out[4]: 123")
            .expect("all four lines ran, in order");
        repl.expect("In [5]: ").expect("the next prompt");
    }

    #[test]
    fn lines_typed_while_a_cell_runs_run_after_it() {
        let Some(mut repl) = spawn_repl() else { return };
        let gate = temp_dir("repl-typeahead").join("gate");
        // The cell waits for the test, so the lines below are typed while it runs (the
        // terminal holds them: the editor is not reading).
        let cell = format!(
            "import os, time\r\
             if True:\r\
             \x20   print('waiting', flush=True)\r\
             \x20   while not os.path.exists({gate:?}): time.sleep(0.02)\r\r"
        );
        repl.send(cell).expect("pty write");
        repl.expect("waiting").expect("the cell runs");
        repl.send("y = 6\ry * 7\r").expect("pty write");
        std::fs::write(&gate, "").expect("the temp dir is writable");
        repl.expect("Out[4]: 42")
            .expect("the lines typed ahead ran after the cell");
    }

    #[test]
    fn a_pasted_block_keeps_its_body_and_its_grouping() {
        let Some(mut repl) = spawn_repl() else { return };
        repl.send("for i in range(3):\r    print('row', i)\r\rprint('after')\r")
            .expect("pty write");
        for row in ["row 0", "row 1", "row 2"] {
            repl.expect(row).expect("the block's body ran");
        }
        repl.expect("after").expect("the cell after the block");
        repl.expect("In [3]: ")
            .expect("the block and the print were two cells");
    }

    #[test]
    fn a_bracketed_paste_is_one_cell() {
        let Some(mut repl) = spawn_repl() else { return };
        // What a terminal sends for a paste while bracketed paste is on, then Enter. The
        // paste's blank line does not end the block; its missing last one is asked for.
        repl.send("\x1b[200~def triple(v):\r\r    return v * 3\rtriple(4)\x1b[201~\r")
            .expect("pty write");
        repl.expect("...: ").expect("a continuation prompt");
        repl.send("\r").expect("pty write");
        repl.expect("Out[1]: 12")
            .expect("the pasted cell ran whole");
        repl.expect("In [2]: ").expect("the next prompt");
    }

    #[test]
    fn input_is_answered_by_a_line_typed_ahead() {
        let Some(mut repl) = spawn_repl() else { return };
        repl.send("name = input('who? ')\rAnn\rprint('hello', name)\r")
            .expect("pty write");
        repl.expect("hello Ann")
            .expect("the line after the cell answered input()");
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
