#!/usr/bin/env bash
# Prepares a privacyIDEA server for the login benchmark (bench/compare.sh with SERVERS containing
# `privacyidea`): installs privacyIDEA and gunicorn (requirements.txt) into bench/privacyidea/.venv,
# writes DIR/pi.cfg, creates the encryption key, the audit signing keys and the SQLite database,
# and enrols TOKENS TOTP tokens (serials PISEED0000000…, SHA-1, 6 digits, 30 s) whose seeds are
# those of iamd-bench's seeded users, as POST /token/init stores them (enrol.py: privacyIDEA's
# init_token in its application, one token at a time, seeds encrypted with the key file; only the
# enrolment's own SQLite writes skip fsync).
#
#   IAMD_BENCH_CREDENTIALS_FROM=TEXT bench/privacyidea/setup.sh DIR TOKENS
#   bench/privacyidea/.venv/bin/gunicorn --workers 2 --no-control-socket --bind 127.0.0.1:PORT \
#       "privacyidea.app:create_app(config_name='production', config_file='DIR/pi.cfg', silent=True)"
#
# The configuration is the one privacyIDEA's pip installation guide writes (SQLite, signed SQL
# audit in the same database, PI_AUDIT_SQL_TRUNCATE), with fresh secrets, every file in DIR, and
# PI_LOGLEVEL from the environment (default WARNING, as compare.sh runs iamd with IAMD_LOG=warn).
# Prints one line: how many tokens were enrolled and how long enrolling took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 2 ]; then
    echo "usage: IAMD_BENCH_CREDENTIALS_FROM=TEXT $0 DIR TOKENS" >&2
    exit 2
fi
dir=$(mkdir -p "$1" && cd "$1" && pwd)
tokens=$2
: "${IAMD_BENCH_CREDENTIALS_FROM:?the text iamd-bench derives the seeded users from}"
case ${PI_LOGLEVEL:-WARNING} in
    DEBUG | INFO | WARNING | ERROR) loglevel=${PI_LOGLEVEL:-WARNING} ;;
    *) echo "PI_LOGLEVEL must be DEBUG, INFO, WARNING or ERROR" >&2; exit 2 ;;
esac

venv=$here/.venv
if [ ! -x "$venv/bin/gunicorn" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
    echo "installing privacyIDEA into $venv ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if [ -e "$dir/pi.cfg" ]; then
    echo "$dir/pi.cfg exists: give setup.sh a new directory" >&2
    exit 1
fi
"$venv/bin/python" - "$dir" "$loglevel" >"$dir/pi.cfg" <<'PY'
import secrets, sys, uuid
d, level = sys.argv[1], sys.argv[2]
print(f"""import logging
SQLALCHEMY_DATABASE_URI = 'sqlite:///{d}/privacyidea.sqlite'
SECRET_KEY = '{secrets.token_hex(32)}'
PI_PEPPER = '{secrets.token_hex(32)}'
PI_ENCFILE = '{d}/enckey'
PI_AUDIT_KEY_PRIVATE = '{d}/private.pem'
PI_AUDIT_KEY_PUBLIC = '{d}/public.pem'
PI_AUDIT_SQL_TRUNCATE = True
PI_LOGFILE = '{d}/privacyidea.log'
PI_LOGLEVEL = logging.{level}
PI_NODE_UUID = '{uuid.uuid4()}'
SUPERUSER_REALM = ['super']""")
PY
export PRIVACYIDEA_CONFIGFILE=$dir/pi.cfg
manage() { "$venv/bin/pi-manage" "$@" >>"$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; exit 1; }; }
manage setup create_enckey
manage setup create_audit_keys
manage setup create_tables

result=$("$venv/bin/python" "$here/enrol.py" "$dir/pi.cfg" "$tokens" 2>>"$dir/setup.log") \
    || { cat "$dir/setup.log" >&2; exit 1; }
read -r enrolled elapsed <<<"$result"
version=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("privacyIDEA"))')
echo "privacyIDEA $version: enrolled $enrolled TOTP tokens in $elapsed s ($dir)"
