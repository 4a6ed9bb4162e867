"""pam_ion's files as the module wants them: root's, with the mode asked
for (the module refuses a configuration, a secret, a user map or a cache
directory that root does not own)."""

import os


def write_private(path, text, mode, replace=False):
    """Writes text to a new file path (O_EXCL, O_NOFOLLOW) with mode, owned
    by root when the harness runs as root; returns path.  replace: through
    path.new and a rename, as an editor replaces a file."""
    target = path
    if replace:
        path = target + ".new"
        if os.path.lexists(path):
            os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)
    os.chmod(path, mode)
    if replace:
        os.rename(path, target)
    return target


def empty_dir(path):
    """Removes the files in path (the cache's entries)."""
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))


class ModuleFiles:
    """A pam_ion configuration in the directory dir: client_secret (0600),
    relay_key (0600: the key and a newline unless relay_key_text gives the
    file's text), pam_ion.users (0644), cache/ (0700, unless cache_dir
    names one) and pam_ion.conf (0644).

    pam_ion.conf holds, in this order, issuer, client_id,
    client_secret_file, relay_url, relay_key_file, user_map_file and
    cache_dir, then options (a dict: a value None drops that key, omit
    drops the keys named), then extra_lines as they are.  self.options and
    self.lines are what was written; rewrite() writes it again."""

    def __init__(self, dir, issuer, client_id, client_secret, relay_url,
                 relay_key, user_map, options=None, extra_lines=(), omit=(),
                 comment="# written by the pam_ion test stand",
                 secret_mode=0o600, relay_key_text=None,
                 relay_key_mode=0o600, cache_dir=None):
        self.dir = dir
        self.conf = os.path.join(dir, "pam_ion.conf")
        self.secret_file = os.path.join(dir, "client_secret")
        self.relay_key_file = os.path.join(dir, "relay_key")
        self.map_file = os.path.join(dir, "pam_ion.users")
        self.cache_dir = cache_dir or os.path.join(dir, "cache")
        self.comment = comment
        write_private(self.secret_file, client_secret + "\n", secret_mode)
        write_private(self.relay_key_file, relay_key + "\n"
                      if relay_key_text is None else relay_key_text,
                      relay_key_mode)
        write_private(self.map_file, user_map, 0o644)
        if not os.path.isdir(self.cache_dir):
            os.mkdir(self.cache_dir, 0o700)
        opts = {
            "issuer": issuer,
            "client_id": client_id,
            "client_secret_file": self.secret_file,
            "relay_url": relay_url,
            "relay_key_file": self.relay_key_file,
            "user_map_file": self.map_file,
            "cache_dir": self.cache_dir,
        }
        for k, v in (options or {}).items():
            if v is None:
                opts.pop(k, None)
            else:
                opts[k] = v
        for k in omit:
            opts.pop(k, None)
        self.options = opts
        self.extra_lines = list(extra_lines)
        self.lines = []
        self.rewrite()

    def rewrite(self, *more_lines):
        """Writes pam_ion.conf (again: by a rename, as an editor would),
        with more_lines after the others; the module reads it anew at every
        sign-in."""
        self.lines = [self.comment]
        self.lines += ["%s = %s" % kv for kv in self.options.items()]
        self.lines += self.extra_lines + list(more_lines)
        write_private(self.conf, "\n".join(self.lines) + "\n", 0o644,
                      replace=os.path.exists(self.conf))

    def line_of(self, prefix):
        """1-based line number of the config line starting with prefix."""
        for i, line in enumerate(self.lines, 1):
            if line.startswith(prefix):
                return i
        raise KeyError(prefix)


def module_line(module, conf, args=()):
    """The pam.d line of pam_ion: auth required MODULE config=CONF ARGS."""
    return "auth required %s config=%s%s\n" % (
        module, conf, "".join(" " + a for a in args))


def write_pam_dir(path, stacks):
    """A pam.d directory for pam_start_confdir: one file per service
    (stacks: name -> text; libpam wants an "other" as the default).
    Returns path."""
    os.mkdir(path, 0o755)
    for service, text in stacks.items():
        write_private(os.path.join(path, service), text, 0o644)
    return path
