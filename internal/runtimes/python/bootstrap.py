# Hearth runtime interface client for Python (3.9+, standard library only).
#
# Launch, with cwd = $LAMBDA_TASK_ROOT and only the environment the server builds:
#
#     <python3> $LAMBDA_RUNTIME_DIR/bootstrap.py
#
# <python3> is the real interpreter (what `python3 -c 'import sys;print(sys.executable)'`
# prints), never a pyenv shim. No interpreter flags, on purpose:
#   -S/-I  no: -S drops site-packages (boto3 and friends installed on the host) and .pth
#          processing; -I and -E also ignore PYTHONPATH, which Lambda users set.
#   -s     no: saves nothing measurable and hides per-user site-packages.
#   -u     not needed: main() makes stdout and stderr flush at every write, as Lambda's
#          client does, and both are flushed before every POST, so output is in the pipe
#          before the result is posted.
#   -B     not used: when LAMBDA_TASK_ROOT is writable, Python caches the user's bytecode in
#          __pycache__ there, which makes later cold starts faster. Mount the task root
#          read-only (as Lambda does) if it must stay pristine; Python then skips the write.
#
# Optional, once after installing this file (e.g. when the server unpacks the clients):
#
#     <python3> $LAMBDA_RUNTIME_DIR/bootstrap.py --precompile
#
# Python parses a script run as __main__ at every start and never caches it (~8 ms for
# this client on a slow host). So the client's code is kept in the string below and its
# compiled form cached in $LAMBDA_RUNTIME_DIR/__pycache__/bootstrap.<tag>.hearth, keyed
# on this file's size and mtime and the interpreter version. The first start with a
# writable runtime directory writes the cache; --precompile writes it up front (exit
# status 0 on success), for sandboxes that mount the runtime directory read-only.
#
# The client talks to the Runtime API (2018-06-01) over one persistent HTTP/1.1
# connection on a raw socket. It imports nothing heavy at start-up: no http.client
# (pulls in email), no socket.py (enum), no json package (re), and logging is configured
# lazily when user code first imports it.

import os
import sys

_CLIENT_SOURCE = r'''
import os
import sys
import time

import _socket

_API = "/2018-06-01/runtime"
_THIS_FILE = __file__
_ERROR_INDENT = "\u00a0"  # the official client indents traceback lines with NO-BREAK SPACE
# The official client writes non-ASCII as UTF-8 (ensure_ascii=False) for python3.12 and
# \u escapes before; later versions are assumed to follow 3.12.
_ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in (
    "AWS_Lambda_python3.12",
    "AWS_Lambda_python3.13",
    "AWS_Lambda_python3.14",
)

# AWS_LAMBDA_LOG_FORMAT=JSON (LoggingConfig.LogFormat): the logging module and error
# reports write JSON records; print() output stays plain text, as with the official client.
_LOG_JSON = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"

_request_id = None  # request id of the invocation in flight, for log records


# ---------------------------------------------------------------------------------------
# Errors


class _Fault(Exception):
    """A runtime-detected error with a Lambda error type (Runtime.*)."""

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.msg = message
        self.trace = trace


class _Fatal(Exception):
    """The Runtime API misbehaved; the process must exit."""


def _make_error(message, error_type, stack_trace, request_id):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id or "",
        "stackTrace": stack_trace or [],
    }


def _exception_error(exc, request_id):
    """Builds the error document for an exception raised by user code."""
    import traceback

    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(exc.__traceback__)]
    for i, frame in enumerate(frames):
        if frame[0] != _THIS_FILE:  # drop this client's own frames, as the official one does
            frames = frames[i:]
            break
    try:
        message = str(exc)
    except Exception:
        message = "<exception str() failed>"
    return _make_error(message, type(exc).__name__, traceback.format_list(frames), request_id)


def _fault_error(fault, request_id):
    return _make_error(fault.msg, fault.error_type, fault.trace, request_id)


def _log_error(error):
    """Prints an error the way the official client does: to stdout as one line, its
    lines joined with CR (so that the error is one log event) and the trace indented
    with NBSP; or, with the JSON log format, as one JSON record."""
    if _LOG_JSON:
        record = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "level": "ERROR"}
        record.update(error)
        try:
            sys.stdout.write(_json_dumps(record) + "\n")
        except Exception:
            pass
        return
    line = "[ERROR]"
    if error["errorType"]:
        line += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            line += ":"
        line += " " + error["errorMessage"]
    lines = [line]
    trace = error.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
                continue
            for text in element.splitlines():
                stripped = text.lstrip(" ")
                lines.append(_ERROR_INDENT * (len(text) - len(stripped)) + stripped)
    try:
        sys.stdout.write("\r".join(lines) + "\n")
    except Exception:
        pass


# ---------------------------------------------------------------------------------------
# JSON without importing the json package (it imports re and enum, ~5-10 ms). The C
# accelerator module _json has had the same interface since Python 3.2; if it ever
# changes, fall back to the json package.


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


# Decimal (DynamoDB numbers): the official client writes str(d) verbatim (simplejson
# RawJSON), so Decimal("1.50") stays 1.50 and long fractions keep every digit; NaN
# becomes NaN. The standard encoders cannot emit raw text, so each Decimal is encoded as
# a placeholder string, replaced afterwards. The marker has a per-process random part:
# no user string can be mistaken for it.
_DECIMAL_MARK = None


def _json_default_for(decimals):
    def default(obj):
        global _DECIMAL_MARK
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return float("nan")
            if _DECIMAL_MARK is None:
                _DECIMAL_MARK = "\x00hearth-decimal-" + os.urandom(8).hex() + ":"
            decimals.append(str(obj))
            return "%s%d\x00" % (_DECIMAL_MARK, len(decimals) - 1)
        raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")

    return default


def _put_decimals(text, decimals):
    mark = '"' + _DECIMAL_MARK.replace("\x00", "\\u0000")
    for i, d in enumerate(decimals):
        text = text.replace("%s%d\\u0000\"" % (mark, i), d, 1)
    return text


try:
    import _json

    _scan_once = _json.make_scanner(_ScanContext)
    _make_encoder = _json.make_encoder
    _encode_str = _json.encode_basestring_ascii if _ENSURE_ASCII else _json.encode_basestring

    def _json_loads(text):
        end = len(text)
        i = 0
        while i < end and text[i] in " \t\n\r":
            i += 1
        try:
            obj, i = _scan_once(text, i)
        except StopIteration:
            return _json_loads_slow(text)
        while i < end and text[i] in " \t\n\r":
            i += 1
        if i != end:
            return _json_loads_slow(text)
        return obj

    def _json_dumps(obj):
        decimals = []
        encode = _make_encoder({}, _json_default_for(decimals), _encode_str, None, ": ", ", ", False, False, True)
        text = "".join(encode(obj, 0))
        return _put_decimals(text, decimals) if decimals else text

    if _json_loads('{"a": [1, 2.5, "\\u00e9", null, true]} ') != {"a": [1, 2.5, "\u00e9", None, True]}:
        raise ImportError("unexpected _json behaviour")
    if _json_dumps({"a": [1, None, "x"]}) != '{"a": [1, null, "x"]}':
        raise ImportError("unexpected _json behaviour")
except Exception:

    def _json_loads(text):
        import json

        return json.loads(text)

    def _json_dumps(obj):
        import json

        decimals = []
        text = json.dumps(obj, default=_json_default_for(decimals), ensure_ascii=_ENSURE_ASCII)
        return _put_decimals(text, decimals) if decimals else text


def _json_loads_slow(text):
    # Only used to produce the json package's exact error message.
    import json

    return json.loads(text)


# ---------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client for the Runtime API: one persistent connection.


class _Stale(Exception):
    """The kept-alive connection was closed before any byte of the response arrived."""


class _Truncated(Exception):
    """The connection was closed in the middle of a response."""


class _RuntimeClient:
    def __init__(self, address):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise _Fatal(f"AWS_LAMBDA_RUNTIME_API must be host:port, got {address!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self._host = host
        self._port = int(port)
        self._prefix = b"\r\nHost: " + address.encode("ascii") + b"\r\nUser-Agent: hearth-python/" + (
            "%d.%d.%d" % sys.version_info[:3]
        ).encode("ascii")
        self._sock = None
        self._buf = bytearray()
        self._got = False

    def _connect(self):
        err = None
        # A bytes host: a str would make _socket import the idna codec (and re), ~10 ms.
        for family, socktype, proto, _, addr in _socket.getaddrinfo(
            self._host.encode("idna" if not self._host.isascii() else "ascii"), self._port, 0, _socket.SOCK_STREAM
        ):
            sock = _socket.socket(family, socktype, proto)
            try:
                sock.connect(addr)
            except OSError as e:
                sock.close()
                err = e
                continue
            if family != getattr(_socket, "AF_UNIX", None):
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self._sock = sock
            self._buf = bytearray()
            return
        raise _Fatal(f"cannot connect to the Runtime API at {self._host}:{self._port}: {err}")

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._buf = bytearray()

    def request(self, method, path, body=b"", headers=b""):
        """Sends one request and returns (status, headers, body). Retries once on a fresh
        connection if the server had closed the idle one."""
        head = method + b" " + path + b" HTTP/1.1" + self._prefix + headers
        if method != b"GET" or body:
            head += b"\r\nContent-Length: " + str(len(body)).encode("ascii")
        head += b"\r\n\r\n"
        what = f"{method.decode()} {path.decode()}"
        for attempt in (0, 1):
            reused = self._sock is not None
            if not reused:
                self._connect()
            self._got = False  # whether any byte of the response arrived
            try:
                sock = self._sock
                if len(body) <= 65536:
                    sock.sendall(head + body)
                else:
                    sock.sendall(head)
                    sock.sendall(body)
                return self._read_response(method)
            except (_Stale, BrokenPipeError, ConnectionResetError) as e:
                # With nothing of a response received, the server had closed the idle
                # connection and did not see the request: retry once on a new one.
                self._close()
                if self._got or not reused or attempt:
                    raise _Fatal(f"{what}: connection lost: {e or 'closed by the server'}")
            except (_Truncated, OSError) as e:
                self._close()
                raise _Fatal(f"{what}: {e}")
        raise _Fatal(f"{what}: connection lost twice")

    def _fill(self):
        data = self._sock.recv(65536)
        if not data:
            raise _Truncated("connection closed mid-response")
        self._buf += data

    def _read_head(self, first):
        buf = self._buf
        start = 0
        while True:
            i = buf.find(b"\r\n\r\n", start)
            if i >= 0:
                head = bytes(buf[:i])
                del buf[: i + 4]
                return head
            start = max(0, len(buf) - 3)
            try:
                data = self._sock.recv(65536)
            except ConnectionResetError:
                if first and not buf:
                    raise _Stale()
                raise _Truncated("connection reset mid-response")
            if not data:
                if first and not buf:
                    raise _Stale()
                raise _Truncated("connection closed mid-response")
            self._got = True
            buf += data

    def _read_response(self, method):
        first = True
        while True:
            head = self._read_head(first)
            first = False
            lines = head.decode("latin-1").split("\r\n")
            status_line = lines[0].split(" ", 2)
            if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
                raise _Fatal(f"malformed status line from the Runtime API: {lines[0]!r}")
            status = int(status_line[1])
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200 and status != 101:
                continue  # interim response; the real one follows
            break
        keep = status_line[0] != "HTTP/1.0"
        conn = headers.get("connection", "").lower()
        if conn == "close":
            keep = False
        elif conn == "keep-alive":
            keep = True
        if method == b"HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            body = self._read_to_eof()
            keep = False
        if not keep:
            self._close()
        return status, headers, body

    def _read_exact(self, n):
        buf = self._buf
        if len(buf) >= n:
            body = bytes(buf[:n])
            del buf[:n]
            return body
        body = bytearray(n)
        view = memoryview(body)
        have = len(buf)
        view[:have] = buf
        del buf[:]
        recv_into = self._sock.recv_into
        while have < n:
            got = recv_into(view[have:], n - have)
            if not got:
                raise _Truncated("connection closed mid-body")
            have += got
        view.release()
        return body

    def _read_line(self):
        buf = self._buf
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                line = bytes(buf[:i])
                del buf[: i + 2]
                return line
            self._fill()

    def _read_chunked(self):
        parts = []
        while True:
            size_line = self._read_line()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Fatal(f"malformed chunk size from the Runtime API: {size_line!r}")
            if size == 0:
                while self._read_line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._read_exact(size))
            if self._read_line() != b"":
                raise _Fatal("malformed chunk terminator from the Runtime API")

    def _read_to_eof(self):
        parts = [bytes(self._buf)]
        del self._buf[:]
        while True:
            data = self._sock.recv(65536)
            if not data:
                return b"".join(parts)
            parts.append(data)

    # Runtime API verbs -------------------------------------------------------------

    def next(self):
        status, headers, body = self.request(b"GET", b"/2018-06-01/runtime/invocation/next")
        if status != 200:
            raise _Fatal(f"GET /runtime/invocation/next: status {status}: {_excerpt(body)}")
        return headers, body

    def post(self, path, body, content_type=b"application/json", extra=b""):
        status, _, resp = self.request(
            b"POST", path, body, b"\r\nContent-Type: " + content_type + extra
        )
        # 413: the body was over the Runtime API's limit. The API has already
        # failed the invocation (Function.ResponseSizeTooLarge), so carry on
        # with the next one, as AWS's Node client does; any other refusal
        # means the API and this runtime disagree, and the runtime exits.
        if not 200 <= status < 300 and status != 413:
            raise _Fatal(f"POST {path.decode()}: status {status}: {_excerpt(resp)}")

    def post_result(self, request_id, body, content_type):
        self.post(b"%s/invocation/%s/response" % (_API.encode(), _quote(request_id)), body, content_type)

    def post_error(self, request_id, error):
        self.post(b"%s/invocation/%s/error" % (_API.encode(), _quote(request_id)), _encode_error(error))

    def post_init_error(self, error):
        error_type = error["errorType"].encode("latin-1", "replace")
        error_type = error_type.replace(b"\r", b" ").replace(b"\n", b" ")
        self.post(
            b"%s/init/error" % _API.encode(),
            _encode_error(error),
            extra=b"\r\nLambda-Runtime-Function-Error-Type: " + error_type,
        )


def _excerpt(body):
    return bytes(body[:512]).decode("utf-8", "replace")


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(s):
    raw = s.encode("utf-8")
    if all(c in _UNRESERVED for c in raw):
        return raw
    return b"".join(bytes((c,)) if c in _UNRESERVED else b"%%%02X" % c for c in raw)


def _encode_error(error):
    try:
        return _json_dumps(error).encode("utf-8")
    except Exception:
        return _json_dumps(_make_error(repr(error.get("errorMessage")), error.get("errorType"), [], error.get("requestId"))).encode(
            "utf-8", "backslashreplace"
        )


# ---------------------------------------------------------------------------------------
# Context object handed to the handler (mirrors awslambdaric.lambda_context).


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __repr__(self):
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __repr__(self):
        return (
            f"Client([installation_id={self.installation_id},app_title={self.app_title},"
            f"app_version_name={self.app_version_name},app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext:
    __slots__ = ("custom", "env", "client")

    def __repr__(self):
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


def _obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    get = d.get if isinstance(d, dict) else (lambda _k: None)
    for field in cls.__slots__:
        setattr(obj, field, get(field))
    return obj


def _parse_json_header(value, name):
    try:
        return _json_loads(value)
    except Exception as e:
        raise _Fault("Runtime.LambdaContextUnmarshalError", f"Unable to parse {name} JSON: {e}")


_ENV_FUNCTION_NAME = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
_ENV_FUNCTION_VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
_ENV_LOG_GROUP = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
_ENV_LOG_STREAM = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
_ENV_MEMORY = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a string, as in the official client


class LambdaContext:
    def __init__(self, request_id, client_context, identity, deadline_ms, invoked_function_arn):
        self.aws_request_id = request_id
        self.log_group_name = _ENV_LOG_GROUP
        self.log_stream_name = _ENV_LOG_STREAM
        self.function_name = _ENV_FUNCTION_NAME
        self.memory_limit_in_mb = _ENV_MEMORY
        self.function_version = _ENV_FUNCTION_VERSION
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = _obj_from_dict(CognitoIdentity, {})
        if isinstance(identity, dict):
            self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


# ---------------------------------------------------------------------------------------
# Logging: the official client adds a root handler that prints
# "[LEVEL]\t<time>Z\t<request id>\t<message>", or with AWS_LAMBDA_LOG_FORMAT=JSON one
# JSON record per line, and sets the root logger's level from AWS_LAMBDA_LOG_LEVEL.
# Importing logging costs several milliseconds, so the handler is installed the moment
# user code imports logging.

# LogRecord attributes that are not copied into JSON records as extra fields.
_RESERVED_LOG_FIELDS = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
        "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
        "relativeCreated", "thread", "threadName", "processName", "process",
        "aws_request_id", "tenant_id", "_frame_type",
    )
)


def _json_formatter(logging):
    """The official client's JsonFormatter: timestamp, level, message, logger,
    exception fields, requestId, location, then the record's extra attributes."""
    import json
    import traceback

    encode = json.JSONEncoder(ensure_ascii=False).encode

    class JsonFormatter(logging.Formatter):
        def formatTime(self, record, datefmt=None):
            t = time.gmtime(record.created)
            return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % int(record.msecs)

        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc = record.exc_info
            result = {
                "timestamp": self.formatTime(record),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc[2]) if exc else None,
                "errorType": exc[0].__name__ if exc else None,
                "errorMessage": str(exc[1]) if exc else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
            }
            if getattr(record, "tenant_id", None) is not None:
                result["tenantId"] = record.tenant_id
            result.update(
                (k, v) for k, v in record.__dict__.items() if k not in _RESERVED_LOG_FIELDS and k not in result
            )
            return encode({k: v for k, v in result.items() if v is not None}) + "\n"

    return JsonFormatter()


def _setup_logging(logging):
    if getattr(logging, "_hearth_configured", False):
        return
    logging._hearth_configured = True
    logging.Formatter.converter = time.gmtime

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                sys.stdout.write(self.format(record))
            except Exception:
                self.handleError(record)

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ""
            record.tenant_id = None
            return True

    handler = LambdaLoggerHandler()
    if _LOG_JSON:
        handler.setFormatter(_json_formatter(logging))
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    handler.addFilter(LambdaLoggerFilter())
    root = logging.getLogger()
    # Lambda's levels are TRACE..FATAL; logging has no TRACE, so TRACE means DEBUG.
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    level = {"TRACE": "DEBUG"}.get(level, level)
    if level in ("CRITICAL", "FATAL", "ERROR", "WARNING", "WARN", "INFO", "DEBUG", "NOTSET"):
        root.setLevel(level)
    root.addHandler(handler)


class _LoggingImportHook:
    """A meta path finder that configures logging right after its first import."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "logging":
            return None
        try:
            sys.meta_path.remove(_LoggingImportHook)
        except ValueError:
            pass
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_and_setup(module):
            exec_module(module)
            _setup_logging(module)

        try:
            loader.exec_module = exec_and_setup
        except Exception:
            pass
        return spec

    @staticmethod
    def invalidate_caches():
        pass


def _install_logging_hook():
    logging = sys.modules.get("logging")
    if logging is not None:
        _setup_logging(logging)
    else:
        sys.meta_path.insert(0, _LoggingImportHook)


def _ensure_logging():
    # Covers a logging module whose loader could not be hooked.
    logging = sys.modules.get("logging")
    if logging is not None and not getattr(logging, "_hearth_configured", False):
        _setup_logging(logging)


# ---------------------------------------------------------------------------------------
# Handler loading


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}")
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _Fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    name = modname.replace("/", ".")
    try:
        __import__(name)
        module = sys.modules[name]
    except ImportError as e:
        raise _Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}")
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'")


def _setup_sys_path(task_root):
    paths = [task_root]
    version = "python%d.%d" % sys.version_info[:2]
    for extra in ("/opt/python/lib/" + version + "/site-packages", "/opt/python"):
        if os.path.isdir(extra):
            paths.append(extra)
    rest = sys.path
    if not getattr(sys.flags, "safe_path", False):
        rest = rest[1:]  # this script's directory; user code must not see it
    rest = [p for p in rest if p not in paths]
    sys.path[:] = paths + rest


def _flush_output():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _fatal(message):
    _flush_output()
    try:
        sys.stderr.write(f"hearth-python: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(1)


# ---------------------------------------------------------------------------------------
# Main loop


def _invoke(client, handler, headers, body):
    global _request_id
    request_id = headers.get("lambda-runtime-aws-request-id")
    if not request_id:
        raise _Fatal("GET /runtime/invocation/next: missing Lambda-Runtime-Aws-Request-Id")
    _request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    error = None
    try:
        client_context = headers.get("lambda-runtime-client-context")
        if client_context:
            client_context = _parse_json_header(client_context, "Client Context")
        else:
            client_context = None
        identity = headers.get("lambda-runtime-cognito-identity")
        if identity:
            identity = _parse_json_header(identity, "Cognito Identity")
        else:
            identity = None
        try:
            deadline = int(headers.get("lambda-runtime-deadline-ms", "0"))
        except ValueError:
            deadline = 0
        context = LambdaContext(
            request_id, client_context, identity, deadline, headers.get("lambda-runtime-invoked-function-arn")
        )
        if body:
            try:
                event = _json_loads(body.decode("utf-8"))
            except Exception:
                try:  # the json package's encoding detection and exact error message
                    import json

                    event = json.loads(bytes(body))
                except Exception as e:
                    raise _Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}")
        else:
            event = None

        result = handler(event, context)

        if isinstance(result, bytes):
            payload, content_type = result, b"application/unknown"
        else:
            try:
                payload, content_type = _json_dumps(result).encode("utf-8"), b"application/json"
            except Exception as e:
                raise _Fault("Runtime.MarshalError", f"Unable to marshal response: {e}")
    except _Fault as fault:
        error = _fault_error(fault, request_id)
    except Exception as e:
        error = _exception_error(e, request_id)

    if error is not None:
        _log_error(error)
        _flush_output()
        client.post_error(request_id, error)
    else:
        _flush_output()
        client.post_result(request_id, payload, content_type)


class _Unbuffered:
    """Flushes its stream at every write, as Lambda's client wraps stdout and stderr:
    output reaches the pipe at once, newline or not, and survives an os._exit or a
    crash. (The interpreter is not started unbuffered: Lambda does not set
    PYTHONUNBUFFERED, and Python processes the function starts are buffered there.)"""

    def __init__(self, stream):
        self._stream = stream

    def write(self, data):
        n = self._stream.write(data)
        self._stream.flush()
        return n

    def writelines(self, lines):
        self._stream.writelines(lines)
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main():
    if sys.stdout is not None:
        sys.stdout = _Unbuffered(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = _Unbuffered(sys.stderr)
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _setup_sys_path(task_root)

    try:
        client = _RuntimeClient(os.environ.get("AWS_LAMBDA_RUNTIME_API", ""))
    except _Fatal as e:
        _fatal(str(e))

    _install_logging_hook()
    try:
        try:
            handler = _load_handler(os.environ.get("_HANDLER", ""))
        except _Fault as fault:
            error = _fault_error(fault, None)
        except Exception as e:
            error = _exception_error(e, None)
        else:
            error = None
        _ensure_logging()
        if error is not None:
            _log_error(error)
            _flush_output()
            client.post_init_error(error)
            _flush_output()
            os._exit(1)

        while True:
            headers, body = client.next()
            _invoke(client, handler, headers, body)
            _ensure_logging()
    except _Fatal as e:
        _fatal(str(e))

'''
_CLIENT_END_LINE = sys._getframe().f_lineno  # the line after the closing quotes


def _client_code():
    """Returns (code, save) for the client: code from the cache when it is fresh, else
    freshly compiled with line numbers matching this file; save writes the cache."""
    import marshal

    here = __file__
    tag = sys.implementation.cache_tag or "python"
    cache = os.path.join(os.path.dirname(os.path.abspath(here)), "__pycache__", "bootstrap.%s.hearth" % tag)
    try:
        st = os.stat(here)
        stamp = ("%s|%s|%d|%d\n" % (sys.version, tag, st.st_mtime_ns, st.st_size)).encode()
    except OSError:
        stamp = None
    if stamp is not None:
        try:
            with open(cache, "rb") as f:
                data = f.read()
            if data.startswith(stamp):
                return marshal.loads(data[len(stamp):]), None
        except Exception:
            pass
    first = _CLIENT_END_LINE - 1 - _CLIENT_SOURCE.count("\n")  # line of `_CLIENT_SOURCE = r`
    code = compile("\n" * (first - 1) + _CLIENT_SOURCE, here, "exec", dont_inherit=True)

    def save():
        if stamp is None:
            return False
        # Unique even across PID namespaces sharing the directory.
        tmp = "%s.%d.%s.tmp" % (cache, os.getpid(), os.urandom(6).hex())
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(tmp, "xb") as f:
                f.write(stamp + marshal.dumps(code))
            os.replace(tmp, cache)
            return True
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False

    return code, save


def _zygote(ctl_fd):
    """Serves as a zygote: a pre-initialized interpreter that never runs user code and
    forks one bootstrap per request. Hearth starts it as

        <python3> $LAMBDA_RUNTIME_DIR/bootstrap.py --zygote

    with the environment's interpreter settings (PYTHON*, LANG, TZ, LD_LIBRARY_PATH...)
    and a SOCK_SEQPACKET socket on fd ctl_fd. A request is one message

        b"spawn\0" CWD b"\0" KEY=VALUE b"\0" KEY=VALUE ...

    carrying one file descriptor (SCM_RIGHTS): the environment's output. The zygote
    forks, answers b"pid PID" at once (the child makes its session before anything else), and later
    b"exit PID STATUS" (STATUS as waitpid returns it) when the child ends. It exits when
    the socket closes. Returns only in a child, which is then placed in its environment:
    its own session, killed when the zygote dies, stdout and stderr to the output, cwd,
    and exactly the environment's variables; the caller runs the client as an
    ordinary start would."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    # What the interpreter put in its environment as it started (LC_CTYPE when it
    # coerces the C locale); it puts the same into an ordinary start's.
    started_env = dict(os.environb)
    ctl = _socket.socket(fileno=ctl_fd)
    me = os.getpid()
    fdsize = ctypes.sizeof(ctypes.c_int)

    def reap(*_):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            try:
                ctl.send(b"exit %d %d" % (pid, status))
            except OSError:
                os._exit(0)

    signal.signal(signal.SIGCHLD, reap)
    # What exists now is shared with every child until written: keep the collector
    # from touching it (and copying its pages) in them.
    import gc

    gc.collect()
    gc.freeze()
    while True:
        try:
            msg, anc, _, _ = ctl.recvmsg(1 << 20, _socket.CMSG_SPACE(fdsize))
        except InterruptedError:
            continue
        if not msg:
            os._exit(0)
        fds = [int.from_bytes(data[i:i + fdsize], sys.byteorder)
               for level, kind, data in anc
               if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
               for i in range(0, len(data) - len(data) % fdsize, fdsize)]
        fields = msg.split(b"\0")
        if fields[0] != b"spawn" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            ctl.send(b"error bad request")
            continue
        out = fds[0]
        # No exit report may overtake the pid's.
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0 or os.getppid() != me:  # PR_SET_PDEATHSIG
                    os._exit(127)
                ctl.close()
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.close(out)
                os.chdir(fields[1])
                os.environ.clear()
                for kv in fields[2:]:
                    k, sep, v = kv.partition(b"=")
                    if sep and k:
                        os.environb[k] = v
                for k, v in started_env.items():
                    if k not in os.environb:
                        os.environb[k] = v
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                # site may have imported random (a .pth file's imports): random
                # reseeds its instance after a fork, and again here explicitly.
                if "random" in sys.modules:
                    sys.modules["random"].seed()
                return
            except BaseException:
                os._exit(127)
        os.close(out)
        try:
            ctl.send(b"pid %d" % pid)
        except OSError:
            os._exit(0)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        reap()


def _stem(fd):
    """Serves as a stem: a pre-started runtime that waits for its environment. Hearth
    starts it with the ordinary command line, the environment's interpreter settings
    (the variables the interpreter reads at start, and PATH) plus _HEARTH_STEM_FD=fd,
    and the read end of a pipe on fd. The driver writes one JSON message

        {"cwd": "/var/task", "env": ["KEY=VALUE", ...]}

    and closes the pipe. The stem reads it to the end (nothing at all: released unused,
    exit 0), closes fd, replaces its whole environment with env (keeping what the
    interpreter itself added as it started, LC_CTYPE under locale coercion, as an
    ordinary start keeps it), changes to cwd, and returns: the caller then runs the
    client exactly as an ordinary start does. No user code runs before."""
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    if not chunks:
        sys.exit(0)
    text = b"".join(chunks).decode("utf-8")
    try:
        import _json

        class _Ctx:
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            parse_constant = None

        msg, _ = _json.make_scanner(_Ctx)(text, 0)
    except Exception:
        import json

        msg = json.loads(text)
    started_env = dict(os.environb)
    os.environ.clear()
    for kv in msg["env"]:
        k, sep, v = kv.encode("utf-8", "surrogateescape").partition(b"=")
        if sep and k:
            os.environb[k] = v
    for k, v in started_env.items():
        if k not in os.environb:
            os.environb[k] = v
    os.chdir(msg["cwd"])
    # Directories that did not exist, or were empty, when the stem started (the
    # task root, mounted since) must be looked at afresh.
    sys.path_importer_cache.clear()


if __name__ == "__main__":
    _code, _save = _client_code()
    if sys.argv[1:] == ["--precompile"]:
        sys.exit(0 if _save is None or _save() else 1)
    _stem_fd = os.environ.pop("_HEARTH_STEM_FD", None)
    if sys.argv[1:2] == ["--zygote"]:
        _save = None
        import time  # noqa: F401 -- what the client imports, ready in every child
        import _json  # noqa: F401
        import _socket

        _zygote(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
        del sys.argv[1:], _socket, _json, time
    del _zygote
    if _save is not None and not sys.dont_write_bytecode:
        _save()
    del _save
    if _stem_fd is not None:
        import time  # noqa: F401 -- what the client imports, ready before the message
        import _json  # noqa: F401
        import _socket

        _stem(int(_stem_fd))
        del _socket, _json, time
    del _stem, _stem_fd
    exec(_code, globals())
    del _code
    main()  # noqa: F821 -- defined by the client code
