#!/bin/sh
# Regenerates the fuzzers' seed corpora from seed.cu (needs nvcc). The
# protocol corpus is recorded traffic: run the end-to-end tests with
# VCUDA_RECORD_DIR set and copy a sample of what it holds to corpus/protocol;
# 'make-seeds.sh sessions RECORD_DIR' turns such a recording into the
# handler fuzzer's corpus.
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# The handler fuzzer's sessions: each program's recorded requests, in the
# order they came, framed as fuzz_handlers.c reads them ("VQ", then per
# request a 2-byte header length, a 4-byte payload length of 0, the header).
#   make-seeds.sh sessions RECORD_DIR
le16() { printf "\\$(printf %o $(($1 & 255)))\\$(printf %o $(($1 >> 8 & 255)))"; }
if [ "${1:-}" = sessions ]; then
	rec=${2:?usage: make-seeds.sh sessions RECORD_DIR}
	mkdir -p corpus/handlers
	for pid in $(ls "$rec" | sed -n 's/^req-\([0-9]*\)-.*/\1/p' | sort -u); do
		out=corpus/handlers/session-$pid
		printf 'VQ' >"$out"
		for f in $(ls "$rec" | grep "^req-$pid-" | sort -t- -k3 -n | head -n 64); do
			le16 "$(wc -c <"$rec/$f")" >>"$out"
			printf '\0\0\0\0' >>"$out"
			cat "$rec/$f" >>"$out"
		done
	done
	# Single requests too, the scalar calls among them.
	ls "$rec" | awk 'NR % 7 == 0' | while read -r f; do cp "$rec/$f" corpus/handlers/; done
	exit 0
fi
# The image fuzzer's seed: the session image test_image writes.
#   make-seeds.sh image BUILD_DIR
if [ "${1:-}" = image ]; then
	b=$(cd "${2:?usage: make-seeds.sh image BUILD_DIR}" && pwd)
	mkdir -p corpus/image
	VCUDA_IMAGE_SEED=$PWD/corpus/image/session KERNELS=$b/tests/e2e/bin/kernels.fatbin \
		VCUDA_CPU_DEVICE=$b/emulator/.libs/libcuda.so.1 "$b/tests/unit/test_image" >/dev/null
	exit 0
fi

mkdir -p corpus/ptx corpus/fatbin corpus/nvinfo corpus/dprintf corpus/protocol
nvcc -ptx -o corpus/ptx/seed.ptx seed.cu
nvcc -fatbin -o corpus/fatbin/zstd.fatbin seed.cu
nvcc -fatbin -Xfatbin -compress-all -Xfatbin -compress-mode=speed -o corpus/fatbin/lz4.fatbin seed.cu
nvcc -fatbin --no-compress -o corpus/fatbin/raw.fatbin seed.cu
nvcc -cubin -arch=sm_80 -o corpus/nvinfo/seed.cubin seed.cu
# dprintf inputs: a format, a NUL, then the argument buffer.
printf 'x=%%d y=%%5.2f s=%%s p=%%p %%n\0\001\0\0\0\0\0\0\0\0\0\0\0\0\0\370\077' >corpus/dprintf/basic
printf '%%lld %%-8u %%#x %%c %%%%\0\377\377\377\377\377\377\377\377\007\0\0\0\101\0\0\0' >corpus/dprintf/ints

