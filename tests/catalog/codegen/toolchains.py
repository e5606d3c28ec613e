"""The compilers the code generators' proofs need, installed on first use as the project's test set-up would.

TypeScript, TypeORM, reflect-metadata, Node's types and the pg driver (to run the entities on PostgreSQL)
come from the npm registry into a cache folder (`.cache/node-codegen` in the work tree, which ignores itself
for git; `CUSTODIAN_NODE_CODEGEN_DIR` moves it) and are reused while their versions stay the same. The JPA
API is Debian's libjpa-2.1-spec-java (javax.persistence 2.1); `apt-get update` runs only when the install
fails without it. A toolchain that cannot be installed raises `ToolchainMissing` with the reason: the tests
fail with it, because a skipped compile proves nothing.
"""

import fcntl
import glob
import json
import os
import shutil
import subprocess
import zipfile
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ToolchainMissing",
    "NODE_PACKAGES",
    "node_toolchain",
    "tsc_check",
    "node_run",
    "jpa_api_jar",
    "javac_check",
]

REPO = Path(__file__).resolve().parents[3]
# Majors pinned so a new release cannot change what the proof means between two runs.
NODE_PACKAGES = ["typescript@5", "typeorm@1", "reflect-metadata@0.2", "@types/node@20", "pg@8"]
JPA_PACKAGE = "libjpa-2.1-spec-java"
JDK_PACKAGE = "default-jdk-headless"
INSTALL_TIMEOUT = 600
COMPILE_TIMEOUT = 300
TSCONFIG = {
    "compilerOptions": {
        "target": "ES2021",
        "module": "commonjs",
        "moduleResolution": "node",
        "strict": True,
        "experimentalDecorators": True,
        "emitDecoratorMetadata": True,
        "noEmit": True,
        "rootDir": "src",
        "skipLibCheck": True,
        "types": ["node"],
    },
    "include": ["src/**/*.ts"],
}


class ToolchainMissing(Exception):
    """A compiler or library the proof needs is not there and could not be installed; says why."""


def _run(command: list[str], timeout: int, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
    except FileNotFoundError as exc:
        raise ToolchainMissing(f"{command[0]} is not installed: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolchainMissing(f"{' '.join(command)} took more than {timeout} s") from exc


def _tail(result: subprocess.CompletedProcess, lines: int = 30) -> str:
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-lines:])


@contextmanager
def _locked(path: Path):
    """One installer at a time (parallel test workers share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cache_dir() -> Path:
    """The cache folder, made on first use with a .gitignore of its own: a build product, not source."""
    directory = Path(os.environ.get("CUSTODIAN_NODE_CODEGEN_DIR") or REPO / ".cache" / "node-codegen")
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return directory


def node_toolchain() -> Path:
    """The folder whose node_modules hold NODE_PACKAGES, installed with npm unless they already are."""
    directory = _cache_dir()
    stamp = directory / "custodian-packages.json"
    wanted = json.dumps(NODE_PACKAGES)
    tsc = directory / "node_modules" / ".bin" / "tsc"
    if tsc.exists() and stamp.exists() and stamp.read_text() == wanted:
        return directory
    if shutil.which("npm") is None:
        raise ToolchainMissing("npm is not installed (Debian: apt-get install -y nodejs npm).")
    with _locked(directory / "install.lock"):
        if tsc.exists() and stamp.exists() and stamp.read_text() == wanted:
            return directory
        command = ["npm", "install", "--prefix", str(directory), "--no-audit", "--no-fund", *NODE_PACKAGES]
        result = _run(command, INSTALL_TIMEOUT)
        if result.returncode != 0 or not tsc.exists():
            raise ToolchainMissing(f"{' '.join(command)} failed (exit {result.returncode}):\n{_tail(result)}")
        stamp.write_text(wanted)
    return directory


def tsc_check(project: Path, out_dir: str | None = None) -> subprocess.CompletedProcess:
    """Type-check `project` (files under src/) with tsc, strict, decorators on, against the cached packages;
    with `out_dir`, also write the JavaScript there (relative to the project).

    A tsconfig.json is written there and node_modules linked to the cache, so imports of "typeorm" resolve
    as they would in an application.
    """
    toolchain = node_toolchain()
    options = {**TSCONFIG["compilerOptions"], **({"noEmit": False, "outDir": out_dir} if out_dir else {})}
    (project / "tsconfig.json").write_text(json.dumps({**TSCONFIG, "compilerOptions": options}, indent=2))
    modules = project / "node_modules"
    if not modules.exists():
        modules.symlink_to(toolchain / "node_modules", target_is_directory=True)
    tsc = toolchain / "node_modules" / ".bin" / "tsc"
    return _run([str(tsc), "-p", str(project / "tsconfig.json")], COMPILE_TIMEOUT)


def node_run(script: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a Node.js script; its folder's node_modules should link to the toolchain (tsc_check links it)."""
    node_toolchain()
    if shutil.which("node") is None:
        raise ToolchainMissing("node is not installed (Debian: apt-get install -y nodejs).")
    return _run(["node", str(script)], COMPILE_TIMEOUT, env)


def _jpa_jars() -> list[str]:
    jars = glob.glob("/usr/share/java/*persistence*.jar") + glob.glob("/usr/share/java/*jpa*.jar")
    return sorted(jar for jar in set(jars) if _has_jpa_api(jar))


def _has_jpa_api(jar: str) -> bool:
    """Whether the jar holds javax.persistence (read as a ZIP: no jar tool needed)."""
    try:
        with zipfile.ZipFile(jar) as archive:
            return "javax/persistence/Entity.class" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _apt_install(package: str) -> None:
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    result = _run(install, INSTALL_TIMEOUT, env)
    if result.returncode != 0:
        # The package lists may be missing or old on a new machine: refresh them once, then try again.
        update = _run(["apt-get", "update"], INSTALL_TIMEOUT, env)
        result = _run(install, INSTALL_TIMEOUT, env)
        if result.returncode != 0:
            raise ToolchainMissing(
                f"{' '.join(install)} failed (exit {result.returncode}) after apt-get update "
                f"(exit {update.returncode}):\n{_tail(result)}"
            )


def jpa_api_jar() -> str:
    """A jar with the javax.persistence API: Debian's libjpa-2.1-spec-java, installed when absent."""
    jars = _jpa_jars()
    if not jars:
        if shutil.which("apt-get") is None:
            raise ToolchainMissing(
                f"No javax.persistence jar in /usr/share/java and no apt-get to install {JPA_PACKAGE}."
            )
        with _locked(_cache_dir() / "apt.lock"):
            if not _jpa_jars():
                _apt_install(JPA_PACKAGE)
        jars = _jpa_jars()
        if not jars:
            raise ToolchainMissing(
                f"{JPA_PACKAGE} is installed but /usr/share/java has no javax.persistence jar."
            )
    return jars[0]


def javac_check(sources: list[Path], classes: Path) -> subprocess.CompletedProcess:
    """Compile `sources` with javac against the JPA API jar into `classes`."""
    jar = jpa_api_jar()
    if shutil.which("javac") is None:
        with _locked(_cache_dir() / "apt.lock"):
            _apt_install(JDK_PACKAGE)
    classes.mkdir(parents=True, exist_ok=True)
    command = [
        "javac",
        "-encoding",
        "UTF-8",
        "-Xlint:all",
        "-d",
        str(classes),
        "-cp",
        jar,
        *map(str, sources),
    ]
    return _run(command, COMPILE_TIMEOUT)
