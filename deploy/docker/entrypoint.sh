#!/bin/sh
# sb-entrypoint: the image's entrypoint. Runs its arguments (sb-backend by
# default) in place of itself, so that the program gets the signals.
#
# An sb-backend without SB_ID is named after its container (compose) or its
# pod (Kubernetes): that name is the container ID that `docker ps` shows, so
# the name sb-client prints under "served by" is the one to `docker kill`.
set -eu
if [ "${1:-}" = sb-backend ] && [ -z "${SB_ID:-}" ]; then
    SB_ID=$(uname -n)
    export SB_ID
fi
exec "$@"
