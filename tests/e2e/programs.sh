# Runs every end-to-end program through the shim over one transport ($1).
. "$(dirname "$0")/lib.sh"
start_server "$1"
for prog in device_query memory streams; do
	out=$(run "$E2E_BIN/$prog" 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] || fail "$prog exited with status $rc"
	echo "$out" | grep -q "^$prog: PASS$" || fail "$prog did not pass"
done
stop_server
grep -q "refused" "$WORK/server.log" || fail "the server logged no refused request"
echo "all programs passed over $1"
