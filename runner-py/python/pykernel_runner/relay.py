"""The fd relay: a small process that keeps fds 1 and 2 drained whatever the runner does.

C code that holds the GIL (``ctypes.PyDLL(None).printf`` of 100 KB) blocks once the
fd-1 pipe (64 KiB) is full, and a drain thread in the runner needs the GIL, so the cell
would hang. Instead a process forked at start-up (before any thread; standard library,
no exec) always reads the capture pipes into its own memory, spilling to an unlinked
temporary file past ``MEMORY_CAP``, and hands the bytes to the runner through the data
pipe as records: a kind byte (``SYNC``, or 1 and 2 for the fd), a 4-byte length, then
the bytes.

Order: a Python-level write goes after fd output written before it. ``Relay.sync``
writes a sequence number on the control pipe; the relay reads what the capture pipes
hold then and queues a ``SYNC`` record behind it, and the runner reads records up to
that one. ``Relay.pending`` skips the round trip when nothing can be in flight: the
relay keeps a byte in its busy pipe from before it reads a capture pipe until what it
read is in the data pipe, so polling the capture pipes, the busy pipe, then the data
pipe (the way bytes move) finds any byte written before the poll began.

Death: the relay leaves the runner's process group (interrupts and the host's group
kill are not for it) and ends when the control pipe does, that is when the runner
exits. What the runner never read (a segfault's or faulthandler's text, say) then goes
to the runner's log, which the host keeps as the stderr tail of the exit report.
"""

import _signal as signal
import _thread
import os
import select

SYNC = 0
MEMORY_CAP = 32 * 1024 * 1024
_READ = 65536
# What one sync reads from a capture pipe at most: the largest pipe Linux gives without
# privileges, so every byte written before the request is taken, and a writer that never
# stops cannot hold the sync.
_SYNC_READ = 1024 * 1024
# The crash text written to the log at most (the host keeps a shorter tail anyway).
_CRASH_TAIL = 64 * 1024


class Relay:
    """The runner's end of the relay: the control, data and busy pipes."""

    def __init__(self, pid, ctl_w, data_r, busy_r, capture_fds, deliver):
        self.pid = pid
        self.ctl_w = ctl_w
        self.data_r = data_r
        self.busy_r = busy_r
        self.capture_fds = capture_fds  # polled only, never read while the relay lives
        self.deliver = deliver  # deliver(fd, bytes), called with ``lock`` held
        self.lock = _thread.allocate_lock()
        self.alive = True
        self._buffer = bytearray()
        self._seq = 0
        self._acked = 0

    def pending(self):
        """Whether fd output may be on its way; the caller holds ``lock``."""
        try:
            for fds in (self.capture_fds, (self.busy_r,), (self.data_r,)):
                if select.select(fds, (), (), 0)[0]:
                    return True
        except (OSError, ValueError):
            return True
        return False

    def read(self):
        """Delivers the records the data pipe holds now; returns how many payload bytes.
        The caller holds ``lock``."""
        delivered = 0
        for _ in range(16):
            try:
                data = os.read(self.data_r, 1 << 18)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self._gone()
                break
            delivered += self._parse(data)
            if len(data) < 1 << 18:
                break
        return delivered

    def sync(self):
        """Has the relay take everything written to the capture pipes so far and delivers
        it; returns how many payload bytes came. The caller holds ``lock``."""
        self._seq += 1
        try:
            os.write(self.ctl_w, self._seq.to_bytes(8, "big"))
        except OSError:
            self._gone()
            return 0
        delivered = 0
        while self.alive and self._acked < self._seq:
            try:
                select.select((self.data_r,), (), (), 1.0)
            except InterruptedError:
                continue
            except (OSError, ValueError):
                self._gone()
                break
            delivered += self.read()
        return delivered

    def close(self):
        """Closes the runner's ends (a forked child of the runner)."""
        self.alive = False
        for fd in (self.ctl_w, self.data_r, self.busy_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def _parse(self, data):
        buffer = self._buffer
        buffer += data
        delivered = 0
        start = 0
        end = len(buffer)
        while end - start >= 5:
            size = int.from_bytes(buffer[start + 1 : start + 5], "big")
            if end - start - 5 < size:
                break
            kind = buffer[start]
            payload = bytes(buffer[start + 5 : start + 5 + size])
            start += 5 + size
            if kind == SYNC:
                self._acked = max(self._acked, int.from_bytes(payload, "big"))
            else:
                delivered += size
                self.deliver(kind, payload)
        del buffer[:start]
        return delivered

    def _gone(self):
        """The relay died: the runner drains the capture pipes itself from now on."""
        if not self.alive:
            return
        self.alive = False
        try:
            os.waitpid(self.pid, os.WNOHANG)
        except OSError:
            pass


def start(captures, close_in_child, log_fd, deliver):
    """Forks the relay for ``captures`` ([(read fd, 1 or 2)]); returns its ``Relay``.

    ``close_in_child`` are the runner's fds the relay must not hold (the frame and
    request channels, fds 0-2, the capture pipes' write ends); ``log_fd`` is where the
    relay writes what the runner never read once the runner is gone. Raises OSError when
    the relay cannot be started.
    """
    ctl_r, ctl_w = os.pipe()
    data_r, data_w = os.pipe()
    busy_r, busy_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in tuple(close_in_child) + (ctl_w,):
                try:
                    os.close(fd)
                except OSError:
                    pass
            _serve(captures, ctl_r, data_r, data_w, busy_r, busy_w, log_fd)
        finally:
            os._exit(0)
    for fd in (ctl_r, data_w, busy_w):
        os.close(fd)
    os.set_blocking(data_r, False)
    return Relay(pid, ctl_w, data_r, busy_r, [fd for fd, _ in captures], deliver)


class _Queue:
    """Bytes the relay holds for the data pipe: in memory up to ``MEMORY_CAP``, then in an
    unlinked temporary file, in order."""

    def __init__(self):
        self.chunks = []  # in memory, oldest first; chunks[0] may be partly written
        self.size = 0
        self.spill = None
        self.spill_read = 0
        self.spill_write = 0

    def __bool__(self):
        return bool(self.chunks) or self.spill_read < self.spill_write

    def put(self, data):
        if self.spill is None and self.size + len(data) <= MEMORY_CAP:
            self.chunks.append(data)
            self.size += len(data)
            return
        if self.spill is None:
            import tempfile

            self.spill = tempfile.TemporaryFile()
        self.spill.seek(self.spill_write)
        self.spill.write(data)
        self.spill_write += len(data)

    def head(self):
        """The oldest bytes, refilled from the spill file when memory is empty."""
        if not self.chunks and self.spill_read < self.spill_write:
            self.spill.seek(self.spill_read)
            data = self.spill.read(min(1 << 20, self.spill_write - self.spill_read))
            self.spill_read += len(data)
            if self.spill_read >= self.spill_write:
                self.spill.close()
                self.spill = None
                self.spill_read = self.spill_write = 0
            self.chunks.append(data)
            self.size += len(data)
        return self.chunks[0]

    def consume(self, count):
        head = self.chunks[0]
        if count >= len(head):
            self.chunks.pop(0)
        else:
            self.chunks[0] = head[count:]
        self.size -= count

    def take_all(self):
        parts = []
        while self:
            head = self.head()
            parts.append(head)
            self.consume(len(head))
        return b"".join(parts)


def _serve(captures, ctl_r, data_r, data_w, busy_r, busy_w, log_fd):
    """The relay's loop: read the capture pipes, answer syncs, feed the data pipe."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    os.set_blocking(data_w, False)
    kinds = dict(captures)
    capture_fds = [fd for fd, _ in captures]
    queue = _Queue()
    # (kind, payload start, record end) by offset in what goes into the data pipe, for the
    # records the runner may not have read yet when it dies.
    records = []
    queued = 0  # bytes ever queued
    written = 0  # bytes ever written into the data pipe
    busy = False
    control = b""

    def take(fd, limit):
        nonlocal queued
        got = 0
        while got < limit:
            try:
                data = os.read(fd, _READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                capture_fds.remove(fd)
                return
            if not data:
                capture_fds.remove(fd)
                return
            got += len(data)
            records.append((kinds[fd], queued + 5, queued + 5 + len(data)))
            queue.put(bytes((kinds[fd],)) + len(data).to_bytes(4, "big") + data)
            queued += 5 + len(data)

    while True:
        try:
            ready, _, _ = select.select(
                capture_fds + [ctl_r], (data_w,) if queue else (), ()
            )
        except InterruptedError:
            continue
        seqs = []
        if ctl_r in ready:
            data = os.read(ctl_r, 4096)
            if not data:
                break
            control += data
            while len(control) >= 8:
                seqs.append(control[:8])
                control = control[8:]
        readable = capture_fds if seqs else [fd for fd in capture_fds if fd in ready]
        if readable:
            if not busy:
                os.write(busy_w, b"x")
                busy = True
            for fd in list(readable):
                take(fd, _SYNC_READ if seqs else 4 * _READ)
        for seq in seqs:
            queue.put(bytes((SYNC,)) + (8).to_bytes(4, "big") + seq)
            queued += 13
        while queue:
            head = queue.head()
            try:
                count = os.write(data_w, head)
            except (BlockingIOError, InterruptedError):
                break
            queue.consume(count)
            written += count
        if busy and not queue:
            os.read(busy_r, 1)
            busy = False
        # Records wholly behind the last megabyte written are in the runner's hands.
        if len(records) > 2048:
            drop = 0
            while drop < len(records) and records[drop][2] < written - _SYNC_READ:
                drop += 1
            del records[:drop]
    _after_runner(capture_fds, take, queue, records, data_r, written, log_fd)


def _after_runner(capture_fds, take, queue, records, data_r, written, log_fd):
    """The runner is gone: log what it never read, the end of it at most."""
    for fd in list(capture_fds):
        take(fd, _SYNC_READ)
    unread = []
    size = 0
    while size < _SYNC_READ:
        try:
            data = os.read(data_r, _READ)
        except OSError:
            break
        if not data:
            break
        unread.append(data)
        size += len(data)
    start = written - size
    stream = b"".join(unread) + queue.take_all()
    parts = []
    for kind, payload_start, end in records:
        if kind != SYNC and end > start:
            parts.append(stream[max(payload_start, start) - start : end - start])
    text = b"".join(parts)[-_CRASH_TAIL:]
    while text:
        try:
            text = text[os.write(log_fd, text) :]
        except OSError:
            return
