"""Enrols COUNT TOTP tokens into privacyIDEA the way its REST enrolment (POST /token/init) stores
them: privacyIDEA's own init_token, inside its application, one token at a time, with the
parameters /token/init would pass (type totp, otpkey, SHA-1, 6 digits, 30 s), so that its token
library writes the rows and encrypts each seed with PI_ENCFILE. Serials are PISEED{index:07} and
seeds those of iamd-bench's seeded users (crates/bench/src/seed.rs, `seeded_user`), so that
`iamd-bench --scenario privacyidea-validate --seeded-users N --credentials-from TEXT` computes the
same codes.

Only this process's SQLite connections run with `synchronous=OFF`: privacyIDEA commits several
times per token, with an fsync each, about 0.2-0.4 s per token on this machine's disk, which would
make thousands of tokens take hours. What is stored is the same; the server later runs with
SQLite's defaults.

usage: IAMD_BENCH_CREDENTIALS_FROM=TEXT bench/privacyidea/.venv/bin/python enrol.py PI_CFG COUNT [START [PREFIX]]
prints: TOKENS_HELD SECONDS
"""
import hashlib
import os
import sys
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine


def seed(prefix: str, index: int, credentials_from: str) -> bytes:
    """SHA-256 of the text, NUL, "seed", NUL and the user's name: seed.rs's `derive("seed")`."""
    name = f"{prefix}{index:07}"
    return hashlib.sha256(b"\0".join([credentials_from.encode(), b"seed", name.encode()])).digest()


@event.listens_for(Engine, "connect")
def _no_fsync(dbapi_connection, _record):
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def main() -> None:
    config_file, count = sys.argv[1], int(sys.argv[2])
    start = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    prefix = sys.argv[4] if len(sys.argv) > 4 else "seed-user-"
    credentials_from = os.environ.get("IAMD_BENCH_CREDENTIALS_FROM")
    if not credentials_from:
        sys.exit("enrol.py: set IAMD_BENCH_CREDENTIALS_FROM (the text iamd-bench derives seeds from)")
    # Imported after the listener is in place, so that every connection privacyIDEA opens has it.
    from privacyidea.app import create_app
    from privacyidea.lib.token import get_tokens, init_token

    app = create_app(config_name="production", config_file=config_file, silent=True)
    with app.app_context():
        started = time.monotonic()
        for index in range(start, start + count):
            init_token({
                "type": "totp",
                "serial": f"PISEED{index:07}",
                "otpkey": seed(prefix, index, credentials_from).hex(),
                "genkey": "0",
                "hashlib": "sha1",
                "otplen": "6",
                "timeStep": "30",
            })
        elapsed = time.monotonic() - started
        held = get_tokens(tokentype="totp", count=True)
    if held != count:
        sys.exit(f"enrol.py: enrolled {count} tokens, but privacyIDEA holds {held} TOTP tokens")
    print(f"{held} {elapsed:.1f}")


if __name__ == "__main__":
    main()
