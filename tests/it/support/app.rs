//! A Functions app folder and the real `handler` binary, started as the Functions host would.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{CLIENT, TENANT, client};

/// The repository root (the real Functions app).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The function folders at the repository root (those holding a `function.json`), sorted:
/// tests derive the app's functions from here, so adding one needs no test edit.
pub fn function_folders() -> Vec<String> {
    let mut functions: Vec<String> = std::fs::read_dir(repo_root())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    functions.sort();
    functions
}

/// A temporary Functions app: the repository's function folders, a `host.json` with a chosen
/// route prefix, and a local secrets file.
pub struct AppDir {
    dir: tempfile::TempDir,
    prefix: String,
}

impl AppDir {
    /// The repository's app with `routePrefix` set to `prefix`.
    pub fn new(prefix: &str) -> AppDir {
        let dir = tempfile::tempdir().unwrap();
        let root = repo_root();
        let mut host: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("host.json")).unwrap())
                .unwrap();
        host["extensions"]["http"]["routePrefix"] = json!(prefix);
        std::fs::write(dir.path().join("host.json"), host.to_string()).unwrap();
        // Every function folder at the repository root, as the host would find them.
        for function in &function_folders() {
            std::fs::create_dir(dir.path().join(function)).unwrap();
            std::fs::copy(
                root.join(function).join("function.json"),
                dir.path().join(function).join("function.json"),
            )
            .unwrap();
        }
        let app = AppDir {
            dir,
            prefix: prefix.to_owned(),
        };
        app.write(
            "local.secrets.json",
            &json!({"demo": "demo-value", "db-password": "s3cret-Value-42"}).to_string(),
        );
        app
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The same app with `host.json` turning on neither forwarding nor proxying: the host then
    /// invokes every function with payloads (`POST /{name}`), and funcgate takes only those.
    /// Function folders and `host.json` are copied; other files stay in this folder.
    pub fn invoked_copy(&self) -> AppDir {
        let dir = tempfile::tempdir().unwrap();
        let mut host: Value =
            serde_json::from_str(&std::fs::read_to_string(self.path().join("host.json")).unwrap())
                .unwrap();
        host["customHandler"]["enableForwardingHttpRequest"] = json!(false);
        host["customHandler"]["enableProxyingHttpRequest"] = json!(false);
        std::fs::write(dir.path().join("host.json"), host.to_string()).unwrap();
        for entry in std::fs::read_dir(self.path()).unwrap().flatten() {
            let json = entry.path().join("function.json");
            if json.is_file() {
                let folder = dir.path().join(entry.file_name());
                std::fs::create_dir(&folder).unwrap();
                std::fs::copy(&json, folder.join("function.json")).unwrap();
            }
        }
        AppDir {
            dir,
            prefix: self.prefix.clone(),
        }
    }

    /// Writes a file relative to the app root, creating folders.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The binary under test: `FUNCGATE_HANDLER_BIN` (benchmarks point it at the shipped build),
/// else the one Cargo built for this test.
pub fn handler_binary() -> PathBuf {
    std::env::var_os("FUNCGATE_HANDLER_BIN")
        // The handler runs in its app folder: a relative path would not be found from there.
        .map(|p| std::fs::canonicalize(&p).unwrap_or_else(|_| PathBuf::from(p)))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_handler")))
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start the handler.
pub struct HandlerConfig<'a> {
    /// Environment beyond `PATH` (the process starts with an otherwise empty environment).
    pub env: Vec<(String, String)>,
    /// `Some(port)`: as the host does (FUNCTIONS_CUSTOMHANDLER_PORT); `None`: standalone.
    pub host_port: Option<u16>,
    pub app: &'a AppDir,
    /// Another build of the handler (the load benchmark's baseline); `None`: this build.
    pub binary: Option<PathBuf>,
}

impl<'a> HandlerConfig<'a> {
    /// Host mode with the usual settings pointing at `instance`.
    pub fn hosted(app: &'a AppDir, instance: &str) -> HandlerConfig<'a> {
        HandlerConfig {
            env: vec![
                ("AUTH_TENANT_ID".into(), TENANT.into()),
                ("AUTH_CLIENT_ID".into(), CLIENT.into()),
                ("AUTH_INSTANCE".into(), instance.into()),
            ],
            host_port: Some(free_port()),
            app,
            binary: None,
        }
    }

    /// Adds or replaces a setting.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.into(), value.into()));
        self
    }

    /// Removes a setting.
    pub fn unset(mut self, name: &str) -> Self {
        self.env.retain(|(k, _)| k != name);
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(self.binary.clone().unwrap_or_else(handler_binary));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.app.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(port) = self.host_port {
            cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .env(
                    "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
                    "4e4b4b4b-0000-4000-8000-000000000000",
                )
                .env("FUNCTIONS_APP_ROOT_PATH", self.app.path());
        }
        cmd
    }

    /// Runs the handler expecting it to exit; returns (exit code, stdout, stderr).
    pub fn run_to_exit(&self) -> (Option<i32>, String, String) {
        let mut child = self.command().spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut out = String::new();
                let mut err = String::new();
                child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status.code(), out, err);
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("handler did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the handler expecting a settings failure: exit code 2 and exactly one line on
    /// stderr, naming `setting`.
    pub fn assert_fails_naming(&self, setting: &str) {
        let (code, _out, err) = self.run_to_exit();
        assert_eq!(code, Some(2), "exit code for {setting}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr, got {err:?}");
        assert!(
            lines[0].starts_with(&format!("funcgate: {setting}: ")),
            "{setting}: {}",
            lines[0]
        );
    }

    /// Starts the handler and waits for the readiness probe (`GET /`) to answer.
    pub async fn start(self, port: u16) -> Handler {
        match self.try_start(port).await {
            Ok(handler) => handler,
            Err(why) => panic!("{why}"),
        }
    }

    async fn try_start(&self, port: u16) -> Result<Handler, String> {
        // One pipe for stdout and stderr, of which the test keeps a writer: see `Logs`.
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mark = writer.try_clone().unwrap();
        let mut command = self.command();
        command.stdout(writer.try_clone().unwrap()).stderr(writer);
        let mut child = command.spawn().unwrap();
        drop(command);
        let read = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&read);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // A signal, not the end: closing the pipe would cost the handler its output.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let logs = Logs {
            read,
            mark,
            marks: AtomicU64::new(0),
        };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(15);
        let http = client();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("handler exited with {status}: {}", logs.text()));
            }
            // The host polls every 25 ms and counts any HTTP answer as ready.
            if http.get(format!("{base}/")).send().await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "handler never became ready");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Handler {
            child,
            base,
            logs,
            prefix: self.app.prefix.clone(),
        })
    }

    /// Starts in host mode on the configured port.
    pub async fn spawn(mut self) -> Handler {
        // Tests run in parallel: a port free a moment ago may be taken; try another.
        for _ in 0..4 {
            let port = self.host_port.expect("host mode needs a port");
            match self.try_start(port).await {
                Ok(handler) => return handler,
                Err(why) if why.contains("cannot listen") => self.host_port = Some(free_port()),
                Err(why) => panic!("{why}"),
            }
        }
        panic!("no free port for the handler");
    }
}

/// What a handler printed (stdout and stderr, through one pipe).
///
/// The test keeps a writer of that pipe too. The handler writes a call's lines before it
/// replies, but the thread reading the pipe may run well after the test has the reply (on a
/// loaded machine, many milliseconds later); a mark written into the pipe and then read back
/// shows that everything written before it has been read, with no guessing at delays.
struct Logs {
    read: Arc<Mutex<Vec<u8>>>,
    mark: std::io::PipeWriter,
    marks: AtomicU64,
}

impl Logs {
    /// Everything written before this call, and what the handler goes on writing for a
    /// moment (a line a background task writes as the reply leaves). A mark shorter than
    /// `PIPE_BUF` reaches the pipe whole, after what was written before it; it is taken out
    /// of the text again.
    fn text(&self) -> String {
        let n = self.marks.fetch_add(1, Ordering::Relaxed);
        let mark = format!("\u{0}funcgate-test-mark-{n}\u{0}");
        (&self.mark).write_all(mark.as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut read = self.read.lock().unwrap();
            // memchr's searcher, as the scan holds the lock the reading thread needs.
            if let Some(at) = memchr::memmem::find(&read, mark.as_bytes()) {
                read.drain(at..at + mark.len());
                break;
            }
            drop(read);
            assert!(Instant::now() < deadline, "the log pipe was not read");
            std::thread::sleep(Duration::from_millis(2));
        }
        let len = || self.read.lock().unwrap().len();
        let give_up = Instant::now() + Duration::from_millis(500);
        let (mut seen, mut since) = (len(), Instant::now());
        while since.elapsed() < Duration::from_millis(30) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
            let now = len();
            if now != seen {
                (seen, since) = (now, Instant::now());
            }
        }
        String::from_utf8_lossy(&self.read.lock().unwrap()).into_owned()
    }
}

/// A running handler; killed (SIGKILL, like the host does) when dropped.
pub struct Handler {
    child: Child,
    pub base: String,
    /// What the handler printed.
    logs: Logs,
    prefix: String,
}

impl Handler {
    /// `127.0.0.1:PORT`, for raw connections.
    #[allow(dead_code, reason = "the load benchmark shares this module")]
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// A URL under the handler.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A public route's URL: `path` under the app's route prefix.
    pub fn route(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            self.url(path)
        } else {
            format!("{}/{}{path}", self.base, self.prefix)
        }
    }

    /// Everything the handler printed before this call: a call's lines are there once its
    /// reply has come back.
    pub fn logs(&self) -> String {
        self.logs.text()
    }

    /// What the reading thread has taken from the pipe so far, without waiting.
    fn logs_now(&self) -> String {
        String::from_utf8_lossy(&self.logs.read.lock().unwrap()).into_owned()
    }

    /// The logs once they contain `needle` (lines written by background tasks arrive after
    /// the reply); panics with the logs after `within`.
    #[allow(dead_code, reason = "not every user of this module waits for a line")]
    pub async fn wait_for_log(&self, needle: &str, within: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let logs = self.logs_now();
            if logs.contains(needle) {
                return logs;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} in the logs within {within:?}:\n{logs}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The process id.
    #[allow(dead_code, reason = "the load benchmark reads the handler's RSS")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the handler as the platform does (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "handler did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until the handler logs that signing keys are loaded.
    pub async fn wait_for_keys(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.logs_now().contains("signing keys loaded") {
            assert!(
                Instant::now() < deadline,
                "keys never loaded: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
