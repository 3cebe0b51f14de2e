#!/bin/sh
# embed.sh FILE SYMBOL: FILE as a C array named SYMBOL (and SYMBOL_len), so
# that it lies in the program's own loaded image, as nvcc puts fat binaries.
set -eu
printf '/* Generated from %s by bench/embed.sh. */\n#include <stddef.h>\n' "$(basename "$1")"
printf '__attribute__((aligned(16))) const unsigned char %s[] = {\n' "$2"
od -An -v -tx1 "$1" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
printf '};\nconst size_t %s_len = sizeof(%s);\n' "$2" "$2"
