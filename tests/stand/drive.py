"""The PAM drivers' output (tests/module/pamdrive.c,
tests/bench/module_bench_drive.c; their escaping is tests/stand/escape.h)
and module_bench_drive as a Driver."""

import re
import subprocess

from stand.proc import Daemon, Lines, StandError

# The message with the link shows the short link alone on a line.
LINK_RE = re.compile(r"^(https?://\S+/l/[A-Za-z0-9_-]+)$", re.M)


def link_in(text):
    """The short link a message shows on a line of its own, or None."""
    m = LINK_RE.search(text)
    return m.group(1) if m else None


def unescape(s):
    """The drivers' escaping undone: newline as \\n, backslash as \\\\."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append("\n" if s[i + 1] == "n" else s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def kv(text):
    """'a=1 b=2' as {"a": 1, "b": 2}."""
    return {k: int(v) for k, v in (f.split("=", 1) for f in text.split())}


class Driver(Daemon):
    """One module_bench_drive process (PAM transactions one after the other
    in one process; see its header comment), its stderr in
    workdir/NAME.log.  timeout: what any one wait for its output may take
    (seconds, or a function returning them: see Lines)."""

    def __init__(self, argv, workdir, name, env=None, timeout=60.0,
                 ready_timeout=None):
        super().__init__(name, workdir)
        self.start(argv, stdin=subprocess.PIPE, env=env)
        self.lines = Lines(self.proc.stdout, timeout)
        first = self.lines.get("the driver's READY", ready_timeout)
        m = re.fullmatch(r"READY (\d+)", first)
        if not m:
            raise StandError("driver: unexpected first line %r" % first)
        self.pid = int(m.group(1))

    def login(self, on_link=None):
        """One PAM transaction; on_link(link) plays the phone for the first
        link shown (its answer is res["phone"]).  The bench runs
        prompt = auto and confirm = no: a prompt is an error.  Returns
        the RESULT line's numbers, with "msgs" ((t_ns, style, text) each),
        "logs" (the module's log lines), "links" (how many were shown) and
        "phone"."""
        self.proc.stdin.write("login\n")
        self.proc.stdin.flush()
        res = {"msgs": [], "logs": [], "links": 0, "phone": None}
        while True:
            line = self.lines.get("the sign-in")
            tag, _, rest = line.partition(" ")
            if tag == "MSG":
                t, style, text = rest.split(" ", 2)
                text = unescape(text)
                res["msgs"].append((int(t), style, text))
                if style == "PROMPT":
                    raise StandError("unexpected prompt %r (prompt = auto, "
                                     "confirm = no)" % text)
                link = link_in(text) if style == "INFO" else None
                if link:
                    res["links"] += 1
                    if res["links"] == 1 and on_link is not None:
                        res["phone"] = on_link(link)
            elif tag == "LOG":
                res["logs"].append(unescape(rest.split(" ", 1)[1]))
            elif tag == "RESULT":
                res.update(kv(rest))
                return res
            else:
                raise StandError("driver: unexpected line %r" % line)

    def quit(self, timeout=60.0):
        """Ends the process: its EXIT numbers; its exit status is then
        self.status."""
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.stdin.close()
        while True:
            line = self.lines.get("the driver's EXIT")
            if line.startswith("EXIT "):
                break
        try:
            self.status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise StandError("the driver did not exit within %.0f s of "
                             "quit" % timeout) from None
        return kv(line[5:])
