#!/bin/sh
# make bench: the CPU device's kernel speed against native C, then the
# remoting cost over shm://, ipc:// and tcp:// against a private vcudad on
# the CPU device.  BENCH_ARGS=--short for a quick run.
set -eu
: "${VCUDAD:?} ${VCUDA_CPU_DEVICE:?} ${BENCH:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/vcuda-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
if [ -n "${BENCH_KERNELS:-}" ]; then
	LD_LIBRARY_PATH=$(dirname "$VCUDA_CPU_DEVICE") "$BENCH_KERNELS" "$KERNELS" ${BENCH_ARGS:-}
	echo
fi
for transport in shm ipc tcp; do
	case $transport in
	shm) listen="shm://$work/vcudad.sock" extra= ;;
	ipc) listen="ipc://$work/vcudad.sock" extra= ;;
	tcp) listen="tcp://127.0.0.1:*" extra=--insecure ;; # as the raw baseline: no CURVE
	esac
	# The redirection below happens in the background child: a log left
	# from the last server must not be read as this one's.
	rm -f "$work/log"
	# Room for the 256 MiB page-locked buffer in the shared heap.
	VCUDA_SHM_HEAP=512M VCUDA_CPU_MEMORY=1G "$VCUDAD" --listen "$listen" $extra --backend "${VCUDA_TEST_BACKEND:-cpu}" \
		$([ "$(id -u)" -eq 0 ] && echo --allow-root) \
		--cpu-device "$VCUDA_CPU_DEVICE" >"$work/log" 2>&1 &
	pid=$!
	url=
	for _ in $(seq 50); do
		url=$(sed -n 's/.*listening at \([^ ]*\).*/\1/p' "$work/log" 2>/dev/null | head -n 1)
		[ -n "$url" ] && break
		sleep 0.1
	done
	[ -n "$url" ] || { cat "$work/log"; exit 1; }
	"$BENCH" --server "$url" ${BENCH_ARGS:-}
	echo
	kill $pid
	wait $pid || true
	pid=
done
