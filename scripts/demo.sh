#!/bin/sh
# Installs vcuda's dependencies, builds it, starts vcudad on the CPU device
# and runs CUDA example programs through the shim, then stops the server.
# The examples run over shm:// (shared memory, as guests on the server's own
# host would), the first also over ipc://.
. "$(dirname "$0")/common.sh"

install_deps
configure_build "$TOP/build"
make -C "$TOP/build" -s examples >/dev/null

B=$TOP/build
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/vcuda-demo.XXXXXX")
url="ipc://$run_dir/vcudad.sock"
shm="shm://$run_dir/shm.sock"
say "starting vcudad (CPU device) at $url and $shm"
allow_root=
[ "$(id -u)" -eq 0 ] && allow_root=--allow-root # a demo; a real server runs as its own user
VCUDA_CPU_MEMORY=${VCUDA_CPU_MEMORY:-1G} "$B/server/vcudad" --listen "$url" --listen "$shm" \
	--backend cpu $allow_root --cpu-device "$B/emulator/.libs/libcuda.so.1" \
	>"$run_dir/vcudad.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$run_dir"' EXIT
for _ in $(seq 50); do
	[ -S "$run_dir/vcudad.sock" ] && [ -S "$run_dir/shm.sock" ] && break
	sleep 0.1
done

status=0
first=$(head -n 1 "$B/examples/bin/list" | awk '{ print $1 }')
say "running $first through the shim over $url"
VCUDA_SHIM_DIR="$B/shim/.libs" "$B/tools/vcuda-run" --server "$url" -- "$B/examples/bin/$first" ||
	status=1
for ex in $(cat "$B/examples/bin/list"); do
	say "running $ex through the shim over $shm"
	VCUDA_SHIM_DIR="$B/shim/.libs" "$B/tools/vcuda-run" --server "$shm" -- "$B/examples/bin/$ex" ||
		status=1
done
say "server log"
cat "$run_dir/vcudad.log"
exit $status
