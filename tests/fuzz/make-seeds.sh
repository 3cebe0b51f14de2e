#!/bin/sh
# Regenerates the fuzzers' seed corpora from seed.cu (needs nvcc). The
# protocol corpus is recorded traffic: run the end-to-end tests with
# VCUDA_RECORD_DIR set and copy a sample of what it holds to corpus/protocol.
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p corpus/ptx corpus/fatbin corpus/nvinfo corpus/dprintf corpus/protocol
nvcc -ptx -o corpus/ptx/seed.ptx seed.cu
nvcc -fatbin -o corpus/fatbin/zstd.fatbin seed.cu
nvcc -fatbin -Xfatbin -compress-all -Xfatbin -compress-mode=speed -o corpus/fatbin/lz4.fatbin seed.cu
nvcc -fatbin --no-compress -o corpus/fatbin/raw.fatbin seed.cu
nvcc -cubin -arch=sm_80 -o corpus/nvinfo/seed.cubin seed.cu
# dprintf inputs: a format, a NUL, then the argument buffer.
printf 'x=%%d y=%%5.2f s=%%s p=%%p %%n\0\001\0\0\0\0\0\0\0\0\0\0\0\0\0\370\077' >corpus/dprintf/basic
printf '%%lld %%-8u %%#x %%c %%%%\0\377\377\377\377\377\377\377\377\007\0\0\0\101\0\0\0' >corpus/dprintf/ints
