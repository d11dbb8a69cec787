# wait_for FILE: until FILE exists and is not empty, at most ${WAIT_SECONDS:-300} seconds.
wait_for() {
    waited=0
    until [ -s "$1" ]; do
        if [ "$waited" -ge "${WAIT_SECONDS:-300}" ]; then
            echo "birthreg: gave up waiting for $1" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}
