"""The test stand: what the Python harnesses under tests/ start and write
the same way, in one place.  Python 3 standard library only.

    build.py    where the source, the build and the binaries are; what a
                binary links (ldd) and whether it has ASan in it
    proc.py     free ports, child processes that die with the harness,
                their logs, a child's stdout line by line with timeouts,
                HTTP without proxies
    files.py    files as the module wants them (root's, with a mode): the
                client secret, the relay key, the user map, the cache
                directory, pam_ion.conf and a pam.d directory
    daemons.py  the stand-in provider (tests/provider/provider.js) and the
                real relay (pam-ion-relay) with a --client-keys file whose
                keys come from pam-ion-relay --new-client-key
    nginx.py    Debian's nginx in front of the relay, with the documented
                site (packaging/nginx) in a prefix directory of its own
    redis.py    Debian's redis-server for the relay's Redis store, in a
                directory of its own, on a free loopback port or a unix
                socket, with a password or an ACL user if asked
    drive.py    the drivers' output (tests/module/pamdrive,
                tests/bench/module_bench_drive) and the link the module
                shows; module_bench_drive as a Driver

A harness puts the tests directory on its path, relative to its own file,
and imports what it needs:

    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), ".."))
    from stand.daemons import Provider, Relay

Used by tests/module (moduletest.py, hostile.py), tests/valgrind,
tests/bench/module_bench.py, tests/e2e, tests/provider/selftest.py,
tests/relay/relaytest.py (the key hashes), tests/relay/test_proxy.py
(nginx) and scripts/demo-signin.py.
The scripted phone is tests/provider/phone.py; stand.build puts that
directory on the path, so `import phone` works after importing the stand.
"""
