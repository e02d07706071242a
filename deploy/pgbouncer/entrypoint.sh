#!/bin/sh
# Writes the one user's password (from PRISM_DB_PASSWORD) where pgbouncer.ini expects it,
# outside the image, then runs PgBouncer in the foreground.
set -eu
: "${PRISM_DB_PASSWORD:?set PRISM_DB_PASSWORD}"
umask 077
printf '"prism" "%s"\n' "$PRISM_DB_PASSWORD" > /tmp/pgbouncer-userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
