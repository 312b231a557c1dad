//! `cargo funcgate package`: the zip the Functions host expects (host.json, every function
//! folder, the executable under the name host.json gives it, executable bit set; no
//! local.settings.json, no sources), then the proof that it starts: unpacked into a fresh
//! folder and started from there as the host starts it, it answers the host's probe and
//! `GET /health`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use funcgate::testing::IdentityProvider;
use zip::write::SimpleFileOptions;

use crate::Failure;
use crate::project::Project;

#[derive(Args)]
pub(crate) struct PackageArgs {
    /// Build for this target (x86_64-unknown-linux-musl: a static executable for any
    /// Functions image)
    #[arg(long)]
    target: Option<String>,
    /// The cargo profile to build with
    #[arg(long, default_value = "release")]
    profile: String,
    /// Where to write the zip (default: dist/<executable>.zip)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip starting the packaged app (for a target this machine cannot run)
    #[arg(long)]
    no_start_check: bool,
}

pub(crate) fn run(args: &PackageArgs) -> Result<ExitCode, Failure> {
    let project = Project::find()?;
    let exe = project.executable()?;
    let mut extra = vec!["--profile".to_owned(), args.profile.clone()];
    if let Some(target) = &args.target {
        extra.extend(["--target".to_owned(), target.clone()]);
    }
    let built = project.build(&extra).map_err(|why| match &args.target {
        Some(target) if target.contains("musl") => format!(
            "{why}: a musl build needs `rustup target add {target}` and a musl C compiler for aws-lc (Debian/Ubuntu: apt-get install musl-tools)"
        ),
        _ => why,
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| project.root.join("dist").join(format!("{exe}.zip")));
    let entries = write_zip(&project, &built, &exe, &out)?;
    for (mode, size, name) in &entries {
        println!("{mode:o} {size:>9} {name}");
    }
    println!("wrote {}", out.display());
    if args.no_start_check {
        return Ok(ExitCode::SUCCESS);
    }
    // The health function by its folder or, under a profile (no folders), by the built-in's
    // route: the scaffolded app registers it.
    let health = (project.profile().is_some()
        || project.function_folders().iter().any(|f| f == "health"))
    .then(|| project.public_path("health"));
    start_check(&out, &exe, health.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the zip; returns (mode, size, name) per entry.
fn write_zip(
    project: &Project,
    built: &Path,
    exe: &str,
    out: &Path,
) -> Result<Vec<(u32, u64, String)>, Failure> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let mut files: Vec<(PathBuf, String, u32)> = vec![(
        project.root.join("host.json"),
        "host.json".to_owned(),
        0o644,
    )];
    for folder in project.function_folders() {
        for path in files_under(&project.root.join(&folder)) {
            let rel = path
                .strip_prefix(&project.root)
                .map_err(|_| format!("{} is outside the app", path.display()))?
                .to_string_lossy()
                .replace('\\', "/");
            files.push((path, rel, 0o644));
        }
    }
    files.push((built.to_owned(), exe.to_owned(), 0o755));
    // Written beside the target and renamed, so a failed run never leaves half a zip.
    let partial = out.with_extension("zip.partial");
    let file = std::fs::File::create(&partial).map_err(|e| io(&partial, e))?;
    let mut zip = zip::ZipWriter::new(file);
    let mut listed = Vec::new();
    for (path, name, mode) in &files {
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        // The executable dominates the zip: deflated quickly (a debug build is 200 MB).
        let level = if *mode == 0o755 { 1 } else { 6 };
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(level))
            .unix_permissions(*mode);
        zip.start_file(name.as_str(), options)
            .map_err(|e| format!("{}: {e}", partial.display()))?;
        zip.write_all(&bytes).map_err(|e| io(&partial, e))?;
        listed.push((*mode, bytes.len() as u64, name.clone()));
    }
    zip.finish()
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, out).map_err(|e| io(out, e))?;
    Ok(listed)
}

/// Every file under `dir`, sorted (hidden files left out).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Unpacks `zip` into a fresh folder and starts `exe` from there as the host does (working
/// directory the app root, `FUNCTIONS_CUSTOMHANDLER_PORT` set, trusting a loopback issuer so
/// its settings load); it must answer the readiness probe, and `GET /health` with 200 when the
/// app has that function.
pub(crate) fn start_check(zip_path: &Path, exe: &str, health: Option<&str>) -> Result<(), Failure> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
    let file = std::fs::File::open(zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("{}: {e}", zip_path.display()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(format!("the zip holds an unsafe path {:?}", entry.name()));
        };
        let target = dir.path().join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", rel.display()))?;
        std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777))
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    let program = dir.path().join(exe);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&program)
            .map_err(|_| format!("the zip has no {exe} (host.json's defaultExecutablePath)"))?
            .permissions()
            .mode();
        if mode & 0o111 == 0 {
            return Err(format!("{exe} in the zip is not executable"));
        }
    }
    let issuer = IdentityProvider::start_on(0).map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("a free port: {e}"))?
        .port();
    let mut child = Command::new(&program)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_APP_ROOT_PATH", dir.path())
        .env("FUNCTIONS_WORKER_RUNTIME", "custom")
        .envs(issuer.settings())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {exe} from the zip: {e}"))?;
    let result = probe(&mut child, port, health);
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    match result {
        Ok(what) => {
            println!("started {exe} from the zip as the host would: {what}");
            Ok(())
        }
        Err(why) => Err(format!(
            "{why}{}",
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {}", stderr.trim())
            }
        )),
    }
}

/// Waits for the probe (the host gives 30 s), then checks `/health`.
fn probe(
    child: &mut std::process::Child,
    port: u16,
    health: Option<&str>,
) -> Result<String, Failure> {
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the packaged app exited with {status} before it was ready"
            ));
        }
        if http.get(format!("{base}/")).send().is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err("the packaged app did not answer the host's probe within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let Some(path) = health else {
        return Ok("it answers the host's probe (no health function to call)".into());
    };
    match http.get(format!("{base}{path}")).send() {
        Ok(resp) if resp.status().as_u16() == 200 => Ok(format!("GET {path} answers 200")),
        Ok(resp) => Err(format!(
            "the packaged app answers GET {path} with {}",
            resp.status()
        )),
        Err(e) => Err(format!("the packaged app does not answer GET {path}: {e}")),
    }
}
