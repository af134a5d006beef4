//! Tests of the JSON-RPC layer without Python, and a scripted session with real Python
//! (gated by `PYKERNEL_TEST_PYTHON`).

use std::time::Duration;

use pykernel::KernelOptions;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

use crate::{
    ServiceOptions,
    serve::{
        ServeOptions,
        lines::{Line, Lines},
        rpc::Incoming,
        serve,
    },
};

/// How long a test waits for one line before it fails instead of hanging.
const LINE_WAIT: Duration = Duration::from_secs(60);

/// `pyk serve` over in-memory pipes, driven line by line.
struct Client {
    input: WriteHalf<DuplexStream>,
    output: Lines<BufReader<ReadHalf<DuplexStream>>>,
    server: tokio::task::JoinHandle<Result<(), crate::ServiceError>>,
}

impl Client {
    fn start(kernel: KernelOptions, max_line_bytes: usize) -> Self {
        let service = ServiceOptions::new(kernel)
            .with_pool_size(0)
            .with_default_timeout(None);
        let options = ServeOptions::new(service).with_max_line_bytes(max_line_bytes);
        let (client, server) = tokio::io::duplex(1 << 16);
        let (server_in, server_out) = tokio::io::split(server);
        let (client_in, client_out) = tokio::io::split(client);
        Self {
            input: client_out,
            output: Lines::new(BufReader::new(client_in), 1 << 24),
            server: tokio::spawn(serve(options, server_in, server_out)),
        }
    }

    async fn send(&mut self, line: &str) {
        self.input
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the server reads");
    }

    /// The next line the server wrote, with varying values masked.
    async fn recv(&mut self) -> String {
        let line = tokio::time::timeout(LINE_WAIT, self.output.next())
            .await
            .expect("a line in time")
            .expect("readable")
            .expect("a line before the end");
        let Line::Text(line) = line else {
            panic!("a line over the limit")
        };
        mask(&String::from_utf8(line).expect("utf-8"))
    }

    /// Ends the input and checks the server ends and writes nothing more.
    async fn finish(mut self) -> String {
        self.input.shutdown().await.expect("closing the input");
        let ended = tokio::time::timeout(LINE_WAIT, self.server)
            .await
            .expect("the server ends in time");
        let rest = tokio::time::timeout(LINE_WAIT, self.output.next())
            .await
            .expect("the output ends in time")
            .expect("readable");
        format!(
            "ended: {:?}, more output: {:?}",
            ended.map(|res| res.is_ok()),
            rest
        )
    }
}

/// Replaces values that change between runs (process ids, times, paths) with `_`.
fn mask(line: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    mask_value(&mut value);
    serde_json::to_string(&value).unwrap_or_default()
}

fn mask_value(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                if matches!(key.as_str(), "pid" | "idleSeconds" | "cwd" | "traceback") {
                    *value = Value::from("_");
                } else {
                    mask_value(value);
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(mask_value),
        _ => {}
    }
}

/// Sends each line and reads `replies` lines after each, as one transcript.
async fn check(client: &mut Client, steps: &[(&str, usize)]) -> String {
    let mut transcript = String::new();
    for (line, replies) in steps {
        transcript.push_str(&format!("> {line}\n"));
        client.send(line).await;
        for _ in 0..*replies {
            transcript.push_str(&format!("< {}\n", client.recv().await));
        }
    }
    transcript
}

#[test]
fn incoming_lines_are_classified() {
    let lines = [
        r#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{"code":"1"}}"#,
        r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"a"}}"#,
        r#"{"jsonrpc":"2.0","id":"pyk-1","result":{"value":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":"pyk-2","error":{"code":1,"message":"no"}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"sessions"}"#,
        r#"{"jsonrpc":"1.0","id":4,"method":"sessions"}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"sessions","params":3}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"sessions"}"#,
        r#"{"jsonrpc":"2.0","id":6}"#,
        r#"[{"jsonrpc":"2.0","id":7,"method":"sessions"}]"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"sessions""#,
    ];
    let rendered: Vec<String> = lines
        .iter()
        .map(|line| format!("{:?}", Incoming::parse(line.as_bytes())))
        .collect();
    insta::assert_snapshot!(rendered.join("\n"), @r#"
    Request { id: Number(1), method: "execute", params: Object {"code": String("1")} }
    Notification { method: "$/cancelRequest", params: Object {"id": String("a")} }
    Response { id: String("pyk-1"), result: Ok(Object {"value": String("x")}) }
    Response { id: String("pyk-2"), result: Err(RpcError { code: 1, message: "no", data: None }) }
    Request { id: Number(3), method: "sessions", params: Object {} }
    Invalid { id: Some(Number(4)), error: RpcError { code: -32600, message: "invalid request: `jsonrpc` must be \"2.0\"", data: None } }
    Invalid { id: Some(Number(5)), error: RpcError { code: -32600, message: "invalid request: `params` must be an object or an array", data: None } }
    Invalid { id: None, error: RpcError { code: -32600, message: "invalid request: `id` must be a string or an integer", data: None } }
    Invalid { id: Some(Number(6)), error: RpcError { code: -32600, message: "invalid request: a response has exactly one of `result` and `error`", data: None } }
    Invalid { id: None, error: RpcError { code: -32600, message: "invalid request: batches are not supported; send one object per line", data: None } }
    Invalid { id: None, error: RpcError { code: -32700, message: "parse error: EOF while parsing an object at line 1 column 43", data: None } }
    "#);
}

#[tokio::test]
async fn lines_over_the_limit_are_skipped_and_reading_goes_on() {
    let input: &[u8] = b"short\n0123456789abcdef\n\n  \nnext\r\nlast\n  ";
    let mut lines = Lines::new(input, 10);
    let mut items = Vec::new();
    while let Some(line) = lines.next().await.expect("in-memory reads") {
        items.push(match line {
            Line::Text(text) => String::from_utf8_lossy(&text).into_owned(),
            Line::TooLong => "<too long>".to_owned(),
        });
    }
    assert_eq!(items, ["short", "<too long>", "next", "last"]);
}

#[tokio::test]
async fn bad_input_gets_errors_and_the_connection_goes_on() {
    // No pool and no cell: nothing here starts a kernel.
    let mut client = Client::start(KernelOptions::new(), 200);
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"x","params":"{}"}}"#,
        "a".repeat(300)
    );
    let transcript = check(
        &mut client,
        &[
            ("not json", 1),
            (r#"[1, 2]"#, 1),
            (r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#, 1),
            (
                r#"{"jsonrpc":"2.0","id":2,"method":"execute","params":{"cod":"1"}}"#,
                1,
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"execute","params":{"code":"1","timeout":-1}}"#,
                1,
            ),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"execute","params":{"session":"","code":"1"}}"#,
                1,
            ),
            (&long, 1),
            (
                r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":77}}"#,
                0,
            ),
            (r#"{"jsonrpc":"2.0","id":"pyk-404","result":null}"#, 0),
            (
                r#"{"jsonrpc":"2.0","id":5,"method":"interrupt","params":{"session":"none"}}"#,
                1,
            ),
            (
                r#"{"jsonrpc":"2.0","id":6,"method":"shutdown","params":{"session":"none"}}"#,
                1,
            ),
            (r#"{"jsonrpc":"2.0","id":7,"method":"sessions"}"#, 1),
        ],
    )
    .await;
    insta::assert_snapshot!(transcript + &client.finish().await, @r#"
    > not json
    < {"error":{"code":-32700,"message":"parse error: expected ident at line 1 column 2"},"id":null,"jsonrpc":"2.0"}
    > [1, 2]
    < {"error":{"code":-32600,"message":"invalid request: batches are not supported; send one object per line"},"id":null,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":1,"method":"nope"}
    < {"error":{"code":-32601,"message":"method not found: \"nope\""},"id":1,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":2,"method":"execute","params":{"cod":"1"}}
    < {"error":{"code":-32602,"message":"invalid params: missing field `code`"},"id":2,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":3,"method":"execute","params":{"code":"1","timeout":-1}}
    < {"error":{"code":-32602,"message":"invalid params: `timeout` must be a positive number of seconds"},"id":3,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":4,"method":"execute","params":{"session":"","code":"1"}}
    < {"error":{"code":-32602,"message":"invalid session name ``: use 1 to 128 characters without control characters"},"id":4,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":9,"method":"x","params":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
    < {"error":{"code":-32004,"message":"line too long: over the limit of 200 bytes; it was skipped"},"id":null,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":77}}
    > {"jsonrpc":"2.0","id":"pyk-404","result":null}
    > {"jsonrpc":"2.0","id":5,"method":"interrupt","params":{"session":"none"}}
    < {"error":{"code":-32002,"message":"no session named `none` is running"},"id":5,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":6,"method":"shutdown","params":{"session":"none"}}
    < {"id":6,"jsonrpc":"2.0","result":{}}
    > {"jsonrpc":"2.0","id":7,"method":"sessions"}
    < {"id":7,"jsonrpc":"2.0","result":{"sessions":[]}}
    ended: Ok(true), more output: None
    "#);
}

#[tokio::test]
async fn a_scripted_session_streams_asks_calls_and_shuts_down() {
    let Some(python) = pykernel_runner::testing::test_python() else {
        return;
    };
    let mut client = Client::start(KernelOptions::new().with_python(python), 1 << 20);
    let mut transcript = check(
        &mut client,
        &[
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{"code":"import sys\nprint('out')\nprint('err', file=sys.stderr)\ndisplay({'text/plain': 'shown'}, raw=True)\n6 * 7"}}"#,
                5,
            ),
            (
                r#"{"jsonrpc":"2.0","id":2,"method":"execute","params":{"session":"s2","code":"name = input('who? ')\nprint('hi', name)","allowStdin":true}}"#,
                1,
            ),
            (r#"{"jsonrpc":"2.0","id":"pyk-1","result":{"value":"ada"}}"#, 2),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"execute","params":{"code":"host_call('add', [1, 2]) * 10"}}"#,
                1,
            ),
            (r#"{"jsonrpc":"2.0","id":"pyk-2","result":3}"#, 2),
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"execute","params":{"code":"host_call('fail')"}}"#,
                1,
            ),
            (r#"{"jsonrpc":"2.0","id":"pyk-3","error":{"code":1,"message":"no such tool"}}"#, 2),
            (r#"{"jsonrpc":"2.0","id":5,"method":"execute","params":{"code":"1/0"}}"#, 2),
            (r#"{"jsonrpc":"2.0","id":6,"method":"complete","params":{"code":"impo","cursor":4}}"#, 1),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"execute","params":{"code":"import time\nprint('spinning', flush=True)\nwhile True: time.sleep(0.01)"}}"#,
                1,
            ),
            (r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":7}}"#, 2),
            (r#"{"jsonrpc":"2.0","id":8,"method":"sessions","params":{}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":9,"method":"restart","params":{"session":"s2"}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":10,"method":"shutdown","params":{"session":"s2"}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":11,"method":"shutdown","params":{"session":"s2"}}"#, 1),
        ],
    )
    .await;
    transcript.push_str(&client.finish().await);
    insta::assert_snapshot!(transcript, @r#"
    > {"jsonrpc":"2.0","id":1,"method":"execute","params":{"code":"import sys\nprint('out')\nprint('err', file=sys.stderr)\ndisplay({'text/plain': 'shown'}, raw=True)\n6 * 7"}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"data":"out\n","type":"stdout"},"requestId":1}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"data":"err\n","type":"stderr"},"requestId":1}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"shown"},"type":"display"},"requestId":1}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"42"},"type":"result"},"requestId":1}}
    < {"id":1,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":1,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":2,"method":"execute","params":{"session":"s2","code":"name = input('who? ')\nprint('hi', name)","allowStdin":true}}
    < {"id":"pyk-1","jsonrpc":"2.0","method":"input","params":{"password":false,"prompt":"who? ","requestId":2,"session":"s2"}}
    > {"jsonrpc":"2.0","id":"pyk-1","result":{"value":"ada"}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"data":"hi ada\n","type":"stdout"},"requestId":2}}
    < {"id":2,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":1,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":3,"method":"execute","params":{"code":"host_call('add', [1, 2]) * 10"}}
    < {"id":"pyk-2","jsonrpc":"2.0","method":"call","params":{"args":[1,2],"name":"add","session":"default"}}
    > {"jsonrpc":"2.0","id":"pyk-2","result":3}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"30"},"type":"result"},"requestId":3}}
    < {"id":3,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":2,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":4,"method":"execute","params":{"code":"host_call('fail')"}}
    < {"id":"pyk-3","jsonrpc":"2.0","method":"call","params":{"args":null,"name":"fail","session":"default"}}
    > {"jsonrpc":"2.0","id":"pyk-3","error":{"code":1,"message":"no such tool"}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"ename":"HostCallError","evalue":"no such tool","traceback":"_","type":"error"},"requestId":4}}
    < {"id":4,"jsonrpc":"2.0","result":{"cancelled":false,"error":{"ename":"HostCallError","evalue":"no such tool","traceback":"_"},"executionCount":3,"kernelKilled":false,"kernelRestarted":false,"status":"error","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":5,"method":"execute","params":{"code":"1/0"}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"ename":"ZeroDivisionError","evalue":"division by zero","traceback":"_","type":"error"},"requestId":5}}
    < {"id":5,"jsonrpc":"2.0","result":{"cancelled":false,"error":{"ename":"ZeroDivisionError","evalue":"division by zero","traceback":"_"},"executionCount":4,"kernelKilled":false,"kernelRestarted":false,"status":"error","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":6,"method":"complete","params":{"code":"impo","cursor":4}}
    < {"id":6,"jsonrpc":"2.0","result":{"cursorEnd":4,"cursorStart":0,"matches":["import"]}}
    > {"jsonrpc":"2.0","id":7,"method":"execute","params":{"code":"import time\nprint('spinning', flush=True)\nwhile True: time.sleep(0.01)"}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"data":"spinning\n","type":"stdout"},"requestId":7}}
    > {"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":7}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"ename":"KeyboardInterrupt","evalue":"","traceback":"_","type":"error"},"requestId":7}}
    < {"id":7,"jsonrpc":"2.0","result":{"cancelled":true,"error":{"ename":"KeyboardInterrupt","evalue":"","traceback":"_"},"executionCount":5,"kernelKilled":false,"kernelRestarted":false,"status":"error","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":8,"method":"sessions","params":{}}
    < {"id":8,"jsonrpc":"2.0","result":{"sessions":[{"alive":true,"busy":false,"cwd":"_","generation":1,"idleSeconds":"_","name":"default","pid":"_"},{"alive":true,"busy":false,"cwd":"_","generation":1,"idleSeconds":"_","name":"s2","pid":"_"}]}}
    > {"jsonrpc":"2.0","id":9,"method":"restart","params":{"session":"s2"}}
    < {"id":9,"jsonrpc":"2.0","result":{"generation":2,"session":"s2"}}
    > {"jsonrpc":"2.0","id":10,"method":"shutdown","params":{"session":"s2"}}
    < {"id":10,"jsonrpc":"2.0","result":{}}
    > {"jsonrpc":"2.0","id":11,"method":"shutdown","params":{"session":"s2"}}
    < {"id":11,"jsonrpc":"2.0","result":{}}
    ended: Ok(true), more output: None
    "#);
}

#[tokio::test]
async fn display_metadata_goes_with_displays_updates_and_results() {
    let Some(python) = pykernel_runner::testing::test_python() else {
        return;
    };
    let mut client = Client::start(KernelOptions::new().with_python(python), 1 << 20);
    let mut transcript = check(
        &mut client,
        &[(
            r#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{"code":"display({'text/plain': 'a'}, raw=True, display_id='d', metadata={'text/plain': {'w': 1}})\ndisplay({'text/plain': 'b'}, raw=True, display_id='d', update=True, metadata={'w': 2})\ndisplay({'text/plain': 'plain'}, raw=True)\nclass R:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n        return {'text/plain': 'r'}, {'text/plain': {'k': 3}}\nR()"}}"#,
            5,
        )],
    )
    .await;
    transcript.push_str(&client.finish().await);
    insta::assert_snapshot!(transcript, @r#"
        > {"jsonrpc":"2.0","id":1,"method":"execute","params":{"code":"display({'text/plain': 'a'}, raw=True, display_id='d', metadata={'text/plain': {'w': 1}})\ndisplay({'text/plain': 'b'}, raw=True, display_id='d', update=True, metadata={'w': 2})\ndisplay({'text/plain': 'plain'}, raw=True)\nclass R:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n        return {'text/plain': 'r'}, {'text/plain': {'k': 3}}\nR()"}}
        < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"a"},"displayId":"d","metadata":{"text/plain":{"w":1}},"type":"display"},"requestId":1}}
        < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"b"},"displayId":"d","metadata":{"w":2},"type":"update_display"},"requestId":1}}
        < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"plain"},"type":"display"},"requestId":1}}
        < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"r"},"metadata":{"text/plain":{"k":3}},"type":"result"},"requestId":1}}
        < {"id":1,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":1,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
        ended: Ok(true), more output: None
        "#);
}

#[tokio::test]
async fn two_opens_share_a_session_until_the_last_close() {
    let Some(python) = pykernel_runner::testing::test_python() else {
        return;
    };
    let mut client = Client::start(KernelOptions::new().with_python(python), 1 << 20);
    let mut transcript = check(
        &mut client,
        &[
            (r#"{"jsonrpc":"2.0","id":1,"method":"session.open","params":{"session":"team"}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":2,"method":"session.open","params":{"session":"team"}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":3,"method":"execute","params":{"session":"team","code":"x = 1"}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":4,"method":"session.close","params":{"owner":1}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":5,"method":"execute","params":{"session":"team","code":"x + 1"}}"#, 2),
            (r#"{"jsonrpc":"2.0","id":6,"method":"session.close","params":{"owner":2}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":7,"method":"session.close","params":{"owner":2}}"#, 1),
            (r#"{"jsonrpc":"2.0","id":8,"method":"sessions"}"#, 1),
        ],
    )
    .await;
    transcript.push_str(&client.finish().await);
    insta::assert_snapshot!(transcript, @r#"
    > {"jsonrpc":"2.0","id":1,"method":"session.open","params":{"session":"team"}}
    < {"id":1,"jsonrpc":"2.0","result":{"generation":1,"owner":1,"owners":1,"pid":"_","session":"team"}}
    > {"jsonrpc":"2.0","id":2,"method":"session.open","params":{"session":"team"}}
    < {"id":2,"jsonrpc":"2.0","result":{"generation":1,"owner":2,"owners":2,"pid":"_","session":"team"}}
    > {"jsonrpc":"2.0","id":3,"method":"execute","params":{"session":"team","code":"x = 1"}}
    < {"id":3,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":1,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":4,"method":"session.close","params":{"owner":1}}
    < {"id":4,"jsonrpc":"2.0","result":{"closed":false}}
    > {"jsonrpc":"2.0","id":5,"method":"execute","params":{"session":"team","code":"x + 1"}}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"2"},"type":"result"},"requestId":5}}
    < {"id":5,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":2,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":6,"method":"session.close","params":{"owner":2}}
    < {"id":6,"jsonrpc":"2.0","result":{"closed":true}}
    > {"jsonrpc":"2.0","id":7,"method":"session.close","params":{"owner":2}}
    < {"error":{"code":-32602,"message":"no open session has owner 2"},"id":7,"jsonrpc":"2.0"}
    > {"jsonrpc":"2.0","id":8,"method":"sessions"}
    < {"id":8,"jsonrpc":"2.0","result":{"sessions":[]}}
    ended: Ok(true), more output: None
    "#);
}

#[tokio::test]
async fn host_calls_of_sandboxed_sessions_name_their_own_session() {
    let Some(python) = pykernel_runner::testing::test_python() else {
        return;
    };
    // Every sandboxed runner has the same pid in its own PID namespace: the call must still
    // name the session that made it.
    let sandbox = pykernel::Sandbox::new();
    if let Err(why) = sandbox.check() {
        println!("skipped: {why}");
        return;
    }
    let kernel = KernelOptions::new()
        .with_python(python)
        .with_sandbox(sandbox);
    let mut client = Client::start(kernel, 1 << 20);
    let mut transcript = String::new();
    for (id, session) in [(1, "a"), (2, "b")] {
        let execute = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"execute","params":{{"session":"{session}","code":"host_call('who', '{session}')"}}}}"#
        );
        transcript.push_str(&check(&mut client, &[(&execute, 1)]).await);
        let reply = format!(r#"{{"jsonrpc":"2.0","id":"pyk-{id}","result":"{session}"}}"#);
        transcript.push_str(&check(&mut client, &[(&reply, 2)]).await);
    }
    transcript.push_str(&client.finish().await);
    insta::assert_snapshot!(transcript, @r#"
    > {"jsonrpc":"2.0","id":1,"method":"execute","params":{"session":"a","code":"host_call('who', 'a')"}}
    < {"id":"pyk-1","jsonrpc":"2.0","method":"call","params":{"args":"a","name":"who","session":"a"}}
    > {"jsonrpc":"2.0","id":"pyk-1","result":"a"}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"'a'"},"type":"result"},"requestId":1}}
    < {"id":1,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":1,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    > {"jsonrpc":"2.0","id":2,"method":"execute","params":{"session":"b","code":"host_call('who', 'b')"}}
    < {"id":"pyk-2","jsonrpc":"2.0","method":"call","params":{"args":"b","name":"who","session":"b"}}
    > {"jsonrpc":"2.0","id":"pyk-2","result":"b"}
    < {"jsonrpc":"2.0","method":"output","params":{"output":{"bundle":{"text/plain":"'b'"},"type":"result"},"requestId":2}}
    < {"id":2,"jsonrpc":"2.0","result":{"cancelled":false,"executionCount":1,"kernelKilled":false,"kernelRestarted":false,"status":"ok","stdinRequested":false,"timedOut":false}}
    ended: Ok(true), more output: None
    "#);
}
