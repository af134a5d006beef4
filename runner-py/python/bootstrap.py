# The launcher bootstrap: run as `python -u -c <this>` on the far side of a launcher
# (ssh, docker or kubectl exec, a sandbox). It reads the runner package from stdin, checks
# its hash, imports it from a private cache directory (or from memory) and starts it.
# Passed through a remote shell in single quotes: no single quote or backslash below
# (a newline is bytes((10,)), a NUL bytes(1)).
import os, sys


def boot():
    # Header: `pykernel-runner <sha256> <cache name> <length> <settings length>`, read a
    # byte at a time so nothing after the package and settings is taken from the frames.
    head = b""
    while not head.endswith(bytes((10,))):
        byte = os.read(0, 1)
        if not byte or len(head) > 400:
            sys.exit("pykernel bootstrap: no runner package on stdin")
        head += byte
    magic, digest, name, length, settings_length = head.decode().split()
    if magic != "pykernel-runner":
        sys.exit("pykernel bootstrap: stdin does not start with a runner package")
    data = read_exactly(int(length))
    settings = unpack(read_exactly(int(settings_length)))
    if sha256_hex(data) != digest:
        sys.exit("pykernel bootstrap: the runner package does not match its hash")
    files = unpack(data)
    # Settings from the host for the runner: only its own variables, never PATH and such.
    for key, value in settings.items():
        if key.startswith("PYKERNEL_"):
            os.environ[key] = value.decode()
    package = cached(name, files)
    keep = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    if package is None:
        sys.meta_path.insert(0, MemoryFinder(name, files))
    else:
        sys.path.insert(0, os.path.dirname(package))
    import pykernel_runner as runner

    sys.dont_write_bytecode = keep
    runner.RUNNER_HASH = digest
    detach()
    runner.main()


def sha256_hex(data):
    # The builtin sha256 where there is one: hashlib loads OpenSSL, which costs a start
    # far more than hashing the package does.
    for name in ("_sha2", "_sha256"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        return module.sha256(data).hexdigest()
    from hashlib import sha256

    return sha256(data).hexdigest()


def read_exactly(length):
    chunks, left = [], length
    while left:
        chunk = os.read(0, min(left, 1 << 20))
        if not chunk:
            sys.exit("pykernel bootstrap: the runner package was cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def unpack(data):
    # Each entry: name, NUL, length, NUL, contents.
    entries, at = {}, 0
    while at < len(data):
        end = data.index(bytes(1), at)
        size_end = data.index(bytes(1), end + 1)
        size = int(data[end + 1 : size_end])
        entries[data[at:end].decode()] = data[size_end + 1 : size_end + 1 + size]
        at = size_end + 1 + size
    return entries


def private(path):
    # A directory only this user can change.
    info = os.lstat(path)
    return info.st_uid == os.getuid() and info.st_mode & 0o40077 == 0o40000


def cached(name, files):
    # The package in `<cache>/pykernel/<name>/pykernel_runner`, written there when it is
    # missing, so Python keeps its bytecode between starts; None when that cannot be
    # trusted or written.
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    try:
        root = os.path.join(base, "pykernel")
        os.makedirs(root, 0o700, exist_ok=True)
        version = os.path.join(root, name)
        package = os.path.join(version, "pykernel_runner")
        for path in (version, package):
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            if not private(path):
                return None
        for file, contents in files.items():
            path = os.path.join(package, file)
            try:
                with open(path, "rb") as f:
                    if f.read() == contents:
                        continue
            except OSError:
                pass
            temp = "%s.%d.tmp" % (path, os.getpid())
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "wb") as f:
                f.write(contents)
            os.replace(temp, path)
        return package
    except OSError:
        return None


class MemoryFinder:
    # Imports the runner package from the bytes received, without touching the disk.

    def __init__(self, name, files):
        self.base = "/pykernel-memory/%s/pykernel_runner" % name
        self.files = files

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "pykernel_runner":
            short = "__init__"
        elif fullname.startswith("pykernel_runner."):
            short = fullname[len("pykernel_runner.") :]
        else:
            return None
        if short + ".py" not in self.files:
            return None
        from importlib.machinery import ModuleSpec

        spec = ModuleSpec(fullname, self, origin="%s/%s.py" % (self.base, short))
        spec.has_location = True
        if short == "__init__":
            spec.submodule_search_locations = [self.base]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        origin = module.__spec__.origin
        source = self.files[os.path.basename(origin)]
        exec(compile(source, origin, "exec"), module.__dict__)


def detach():
    # The runner leads its own session and process group, so that it can kill the group
    # at the end of its input, and adopts orphans (Linux), so that it finds a daemon.
    try:
        os.setsid()
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
        except Exception:
            pass


boot()
