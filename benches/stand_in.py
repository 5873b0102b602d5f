"""The demo's verifying stand-in (`demo --serve`) for the benches: started once per
bench, it prints its URL and then the test credentials as `NAME=value` lines."""

import os
import subprocess


def start(demo, *flags, quiet=False):
    """Start `demo --serve FLAGS`. Returns its process, its URL, and this process's
    environment with the stand-in's credentials and without AWS_PROFILE."""
    server = subprocess.Popen([demo, "--serve", *flags], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL if quiet else None, text=True)
    url = server.stdout.readline().strip()
    env = dict(os.environ)
    for _ in range(3):
        name, value = server.stdout.readline().strip().split("=", 1)
        env[name] = value
    env.pop("AWS_PROFILE", None)
    return server, url, env
