#!/bin/sh
# sb-seed [DB]: make the demo data set with `sb-backend seed`, once.
#
# DB defaults to $SB_DB. When the file is there already it is kept: running
# `docker compose up` again (to scale, say) must not replace the database
# under running backends, which would keep the old file open while new ones
# read the new one. `docker compose down -v` removes the volume, and the next
# `up` seeds afresh. The data set is written under another name and renamed
# when complete, so a seed that was killed halfway leaves no database behind.
# SB_USERS, SB_POSTS_PER_USER and SB_SEED size it, as for `sb-backend seed`.
set -eu
db=${1:-${SB_DB:?sb-seed: no database path: give one, or set SB_DB}}
if [ -s "$db" ]; then
    echo "sb-seed: $db is there already; keeping it"
    exit 0
fi
tmp="$db.seeding"
sb-backend seed --db "$tmp"
rm -f "$db-wal" "$db-shm"   # of an older file by that name, if any
mv -f "$tmp" "$db"
echo "sb-seed: $db is ready"
