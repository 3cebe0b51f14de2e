#!/bin/sh
# make bench: the CPU device's kernel speed against native C, then the
# remoting cost over shm://, ipc:// and tcp:// against a private vcudad on
# the CPU device.  BENCH_ARGS=--short for a quick run.
set -eu
: "${VCUDAD:?} ${VCUDA_CPU_DEVICE:?} ${BENCH:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/vcuda-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
# The CPU device's kernels on both tiers, with a fresh disk cache for the
# compiled tier; then the same kernels again from that cache (its hit rate).
if [ -n "${BENCH_KERNELS:-}" ]; then
	mkdir -m 700 "$work/cache"
	VCUDA_CPU_CACHE=$work/cache LD_LIBRARY_PATH=$(dirname "$VCUDA_CPU_DEVICE") \
		"$BENCH_KERNELS" "$KERNELS" ${BENCH_ARGS:-}
	echo "  the same kernels in a second process, from the disk cache:"
	VCUDA_CPU_CACHE=$work/cache LD_LIBRARY_PATH=$(dirname "$VCUDA_CPU_DEVICE") \
		"$BENCH_KERNELS" "$KERNELS" --short | tail -n 1
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

# Moving a session (vcuda-smi --migrate) between two servers on the CPU
# device: a guest stepping over SIZE of device memory, the same 16 MiB of
# it rewritten a step. First by stop and copy (the image in a directory on
# disk), then with pre-copy (in a memory file system), each beside the
# guest's own baseline: writing as much fresh host memory. The guest's
# pause is how long the call it moved at waited at the old server and then
# for the new one (the shim's figure). Not in the short run.
if [ -z "${BENCH_ARGS:-}" ] && [ -n "${MIGRATE:-}" ] && [ -x "$MIGRATE" ]; then
	for s in a b; do
		VCUDA_CPU_MEMORY=2G "$VCUDAD" --listen "ipc://$work/$s.sock" --backend cpu \
			$([ "$(id -u)" -eq 0 ] && echo --allow-root) \
			--cpu-device "$VCUDA_CPU_DEVICE" >"$work/$s.log" 2>&1 &
		eval "pid_$s=\$!"
	done
	pid="$pid_a $pid_b"
	sleep 1
	shm=$(mktemp -d /dev/shm/vcuda-bench.XXXXXX 2>/dev/null || true)
	from=a to=b
	# move MIB DIR: moves a guest of MIB MiB; its figures in $work/smi.out
	# and $work/guest.out, its pause in $pause
	move() {
		rm -f "$work/stop"
		VCUDA_LOG=remoting VCUDA_SHIM_DIR=$VCUDA_SHIM_DIR "$VCUDA_RUN" \
			--server "ipc://$work/$from.sock" -- "$MIGRATE" "$work/stop" "$1" hot \
			>"$work/guest.out" 2>&1 &
		guest=$!
		for _ in $(seq 600); do grep -q stepping "$work/guest.out" && break; sleep 0.1; done
		sleep 0.5
		wpid=$("$VCUDA_SMI" --server "ipc://$work/$from.sock" --json |
			sed -n 's/.*"session_pids": \[\([0-9]*\).*/\1/p')
		"$VCUDA_SMI" --server "ipc://$work/$from.sock" --migrate "$wpid" \
			--to "ipc://$work/$to.sock" --dir "$2" >"$work/smi.out" 2>&1 || cat "$work/smi.out"
		sleep 0.5
		touch "$work/stop"
		wait $guest || { cat "$work/guest.out"; exit 1; }
		grep -q "migrate: PASS" "$work/guest.out" || { cat "$work/guest.out"; exit 1; }
		pause=$(awk -v a="$(sed -n "s/.*waited \([0-9.]*\) ms at the source.*/\1/p" "$work/smi.out")" \
			-v b="$(sed -n 's/.*answered \([0-9.]*\) ms after the old server.*/\1/p' "$work/guest.out")" \
			'BEGIN { printf "%.1f", a + b }')
		t=$from from=$to to=$t
	}
	echo "moving a session, CPU device (16 MiB of it rewritten a step)"
	printf '%-9s %-10s %8s %12s %12s %12s %12s %11s %16s\n' "memory" "how" "rounds" \
		"sent before" "sent at stop" "source wait" "guest pause" "vs stop+copy" \
		"baseline: fresh"
	for mib in 64 256 1024; do
		move "$mib" "$work"
		stopcopy=$pause
		printf '%-9s %-10s %8s %12s %12s %12s %12s %11s %16s\n' "$mib MiB" "stop+copy" - - \
			"$(sed -n 's/.*image *\([0-9.]*\) MiB.*/\1 MiB/p' "$work/smi.out")" \
			"$(sed -n 's/.*waited \([0-9.]*\) ms.*/\1 ms/p' "$work/smi.out")" \
			"$pause ms" "1.00x" \
			"$(sed -n 's/.*memory took \([0-9.]*\) ms.*/\1 ms/p' "$work/guest.out")"
		[ -n "$shm" ] || continue
		move "$mib" "$shm"
		printf '%-9s %-10s %8s %12s %12s %12s %12s %11s %16s\n' "" "pre-copy" \
			"$(sed -n 's/.*sent meanwhile .* in \([0-9]*\) round.*/\1/p' "$work/smi.out")" \
			"$(sed -n 's/.*sent meanwhile *\([0-9.]*\) MiB.*/\1 MiB/p' "$work/smi.out")" \
			"$(sed -n 's/.*sent at stop *\([0-9.]*\) MiB.*/\1 MiB/p' "$work/smi.out")" \
			"$(sed -n 's/.*waited \([0-9.]*\) ms.*/\1 ms/p' "$work/smi.out")" \
			"$pause ms" \
			"$(awk -v p="$pause" -v s="$stopcopy" 'BEGIN { printf "%.2fx", (s > 0 ? p / s : 0) }')" \
			"$(sed -n 's/.*memory took \([0-9.]*\) ms.*/\1 ms/p' "$work/guest.out")"
	done
	[ -n "$shm" ] && rm -rf "$shm"
	kill $pid_a $pid_b
	wait $pid_a $pid_b 2>/dev/null || true
	pid=
fi
