#!/bin/sh
# As in the official nginx image: run the scripts in /docker-entrypoint.d/ before nginx starts,
# then become the command.
set -e
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    for script in /docker-entrypoint.d/*.sh; do
        if [ -x "$script" ]; then
            echo "$0: running $script"
            "$script"
        fi
    done
fi
exec "$@"
