# Shared by the end-to-end tests: start a private vcudad, run programs
# through the shim, stop it. Paths come from the Makefile's test environment.
set -u
: "${VCUDAD:?} ${VCUDA_RUN:?} ${VCUDA_SHIM_DIR:?} ${VCUDA_CPU_DEVICE:?} ${E2E_BIN:?}"
: "${VCUDA_KEYGEN:=$(dirname "$VCUDA_RUN")/vcuda-keygen}"
BACKEND=${VCUDA_TEST_BACKEND:-cpu}
export VCUDA_SHIM_DIR VCUDA_CPU_DEVICE
# The CPU device's memory: enough for the biggest test, small enough for CI.
export VCUDA_CPU_MEMORY=${VCUDA_CPU_MEMORY:-2G}
# In the sanitizer build, programs nvcc built load the shim, which needs the
# sanitizer runtime ahead of libc.
if [ -n "${VCUDA_TEST_PRELOAD:-}" ]; then
	LD_PRELOAD=$VCUDA_TEST_PRELOAD
	ASAN_OPTIONS=verify_asan_link_order=0:${ASAN_OPTIONS:-}
	export LD_PRELOAD ASAN_OPTIONS
fi
# vcudad refuses root without --allow-root; CI runs as root.
ALLOW_ROOT=
[ "$(id -u)" -eq 0 ] && ALLOW_ROOT=--allow-root
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vcuda-e2e.XXXXXX")
# Tests that measure timing (E2E_ALONE=1: share.test's fairness between
# guests) run alone: make check runs the others in parallel, and their
# load would be measured too. Each test holds a lock in the build tree,
# shared, and those exclusively.
# (A process a test leaves behind keeps its lock: after 2 minutes a test
# goes on without.)
if command -v flock >/dev/null 2>&1 && [ -w "$E2E_BIN/.." ]; then
	exec 9>>"$E2E_BIN/../e2e.lock"
	if [ "${E2E_ALONE:-0}" = 1 ]; then
		flock -x -w 120 9 || echo "note: running beside other tests (the lock stayed taken)"
	else
		flock -s -w 120 9 || true
	fi
fi
SERVER_PID=
SERVER_URL=

cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# fail MESSAGE: the server's log, then the message, last, where a reader
# of the end of the test's log (CI shows only that) finds it.
fail() {
	if [ -f "$WORK/server.log" ]; then
		echo "--- server log ---"
		cat "$WORK/server.log"
		echo "--- end of server log ---"
	fi
	echo "FAIL: $*"
	exit 1
}

# Keys for tcp:// servers: the server's, and a guest's it accepts; guests
# (run, and the hostile client) use them through the environment.
make_keys() {
	[ -f "$WORK/keys/guest.key" ] && return 0
	mkdir -p "$WORK/keys/allowed"
	"$VCUDA_KEYGEN" -d "$WORK/keys" server guest >/dev/null || fail "vcuda-keygen failed"
	cp "$WORK/keys/guest.pub" "$WORK/keys/allowed/"
	VCUDA_KEY=$WORK/keys/guest.key
	VCUDA_SERVER_KEY=$WORK/keys/server.pub
	export VCUDA_KEY VCUDA_SERVER_KEY
}

# start_server ipc|tcp: a vcudad on a private endpoint; sets SERVER_URL.
# tcp:// servers take keys (make_keys), unless VCUDAD_KEYS is set to other
# options (--insecure, or keys of the test's own).
start_server() {
	keys=
	case $1 in
	ipc) listen="ipc://$WORK/vcudad.sock" ;;
	shm) listen="shm://$WORK/vcudad.sock" ;;
	tcp)
		listen="tcp://127.0.0.1:*"
		make_keys
		keys=${VCUDAD_KEYS:---key $WORK/keys/server.key --allow-keys $WORK/keys/allowed}
		;;
	*) fail "unknown transport $1" ;;
	esac
	# The redirection happens in the background child: the last server's
	# log must not be read as this one's.
	[ -f "$WORK/server.log" ] && cat "$WORK/server.log" >>"$WORK/server.log.old"
	rm -f "$WORK/server.log"
	"$VCUDAD" --listen "$listen" --backend "$BACKEND" --cpu-device "$VCUDA_CPU_DEVICE" \
		$ALLOW_ROOT $keys ${VCUDAD_OPTS:-} >"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 100); do
		SERVER_URL=$(sed -n 's/.*listening at \([^ ]*\).*/\1/p' "$WORK/server.log" 2>/dev/null |
			head -n 1)
		[ -n "$SERVER_URL" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || fail "vcudad did not start"
		sleep 0.1
	done
	[ -n "$SERVER_URL" ] || fail "vcudad did not say where it listens"
	echo "vcudad $SERVER_PID ($BACKEND) at $SERVER_URL"
}

stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || fail "vcudad exited with status $? on SIGTERM"
	SERVER_PID=
	check_server_log
}

# A sanitizer report or a crash in any server process fails the test.
check_server_log() {
	if grep -qE 'Sanitizer|runtime error:|killed by signal' "$WORK/server.log"; then
		fail "the server reported a fault"
	fi
}

# run PROGRAM ARGS...: through the shim; its output goes to stdout.
# (Leaks of the programs themselves are theirs, not vcuda's: not checked.)
run() {
	ASAN_OPTIONS=detect_leaks=0:${ASAN_OPTIONS:-} "$VCUDA_RUN" --server "$SERVER_URL" -- "$@"
}

# kill_guest PID...: ends guests started as `run ... &` (the shell that
# runs each and the program under it), so that a failed test leaves none.
kill_guest() {
	for p in "$@"; do
		# (without the sanitizer runtime lib.sh preloads: pkill hangs with it)
		env -u LD_PRELOAD pkill -KILL -P "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	return 0
}

# wait_for FILE PATTERN SECONDS
wait_for() {
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_exit PID SECONDS: the exit status of a background job, which is
# killed (and the test failed) if it runs longer.
wait_exit() {
	for _ in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1" 2>/dev/null
		fail "process $1 still ran after $2 s"
	fi
	wait "$1"
}
