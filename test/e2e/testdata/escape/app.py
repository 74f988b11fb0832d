# The isolation suite's function: each op tries to get out of its
# execution environment and reports what happened.
import ctypes
import errno
import os
import socket
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)
ticks = 0
listener = None


def _tick():
    global ticks
    while True:
        ticks += 1
        time.sleep(0.01)


def _serve(sock):
    while True:
        try:
            c, _ = sock.accept()
            c.sendall(b"hello")
            c.close()
        except OSError:
            return


def _errno_of(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def _connect(addr, port):
    def f():
        s = socket.create_connection((addr, port), timeout=2)
        s.close()
    return _errno_of(f)


def my_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 9))  # UDP connect sends nothing
        return s.getsockname()[0]
    except OSError:
        return ""
    finally:
        s.close()


def handler(event, context):
    global listener
    op = event["op"]
    if op == "whoami":
        status = open("/proc/self/status").read()
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        return {"uid": os.getuid(), "gid": os.getgid(),
                "cap_eff": fields["CapEff"].strip(), "no_new_privs": fields["NoNewPrivs"].strip(),
                "seccomp": fields["Seccomp"].strip(), "hostname": socket.gethostname()}
    if op == "processes":
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    out.append(open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").decode())
                except OSError:
                    pass
        return {"processes": out}
    if op == "cat":
        with open(event["path"]) as f:
            return {"text": f.read()}
    if op == "read":
        return {p: _errno_of(lambda p=p: open(p, "rb").read(1)) for p in event["paths"]}
    if op == "write":
        def w(p):
            with open(p, "w") as f:
                f.write("x")
        return {p: _errno_of(lambda p=p: w(p)) for p in event["paths"]}
    if op == "tmp-put":
        open("/tmp/" + event["name"], "w").write("secret")
        return {"listing": os.listdir("/tmp")}
    if op == "tmp-fill":
        # Write event["mb"] MB to /tmp, then remove it; report how much
        # was written and the error that stopped it, if any.
        chunk, written, err = b"\0" * (1 << 20), 0, None
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(event["mb"]):
                    f.write(chunk)
                    f.flush()
                    written += 1
                os.fsync(f.fileno())
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
        finally:
            if os.path.exists("/tmp/fill"):
                os.remove("/tmp/fill")
        return {"written_mb": written, "error": err}
    if op == "tmp-list":
        return {"listing": os.listdir("/tmp")}
    if op == "syscalls":
        res = {}
        r = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
        res["mount"] = "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
        r = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH to pid 1
        res["ptrace"] = "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
        r = libc.unshare(0x10000000)  # CLONE_NEWUSER
        res["unshare_user"] = "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
        return res
    if op == "alloc":
        blocks = []
        for _ in range(event["mb"]):
            b = bytearray(1 << 20)
            for i in range(0, len(b), 4096):
                b[i] = 1
            blocks.append(b)
        return {"allocated_mb": len(blocks)}
    if op == "forkbomb":
        children = 0
        err = ""
        while True:
            try:
                pid = os.fork()
            except OSError as e:
                err = errno.errorcode.get(e.errno, str(e.errno))
                break
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            children += 1
            if children > 5000:
                break
        return {"children": children, "error": err}
    if op == "ticks":
        if not any(t.name == "ticker" for t in threading.enumerate()):
            threading.Thread(target=_tick, name="ticker", daemon=True).start()
            time.sleep(0.05)
        return {"ticks": ticks}
    if op == "listen":
        if listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("0.0.0.0", 8080))
            listener.listen(16)
            threading.Thread(target=_serve, args=(listener,), daemon=True).start()
        return {"ip": my_ip()}
    if op == "connect":
        return {t: _connect(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in event["targets"]}
    if op == "ip":
        return {"ip": my_ip()}
    return {"error": "unknown op " + op}
