#!/bin/bash
# sb-healthcheck http://HOST:PORT/PATH [SECONDS]
#
# Exit 0 when a GET of the URL answers 200 within SECONDS (default 3), 1
# otherwise. For Docker HEALTHCHECKs, so that the image needs neither curl nor
# wget: plain HTTP/1.0 over bash's /dev/tcp.
set -u
url=${1:?usage: sb-healthcheck http://HOST:PORT/PATH [SECONDS]}
limit=${2:-3}
rest=${url#http://}
[ "$rest" != "$url" ] || { echo "sb-healthcheck: only http:// URLs" >&2; exit 2; }
hostport=${rest%%/*}
path=/
[ "$hostport" = "$rest" ] || path=/${rest#*/}
host=${hostport%:*}
port=${hostport##*:}
[ "$host" != "$hostport" ] || port=80

{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || {
    echo "sb-healthcheck: cannot connect to $hostport" >&2
    exit 1
}
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' \
    "$path" "$hostport" >&3
if ! IFS=' ' read -r -t "$limit" _ status _ <&3; then
    echo "sb-healthcheck: no answer from $url in ${limit}s" >&2
    exit 1
fi
exec 3<&-
status=${status%$'\r'}
if [ "$status" != 200 ]; then
    echo "sb-healthcheck: $url answered $status" >&2
    exit 1
fi
exit 0
