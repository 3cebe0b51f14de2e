#!/bin/sh
# Installs vcuda's dependencies, builds it, and runs every test: unit tests,
# the transport conformance suite and the end-to-end programs, first in the
# normal build, then in an AddressSanitizer/UndefinedBehaviorSanitizer build;
# then runs each libFuzzer target over its corpus (make fuzz-check),
# checks that the release tarball builds and passes (make distcheck)
# and that the sources are formatted with the checked-in .clang-format.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the normal build's tests only
. "$(dirname "$0")/common.sh"

quick=0
[ "${1:-}" = "--quick" ] && quick=1
install_deps

status=0
summary=

# show_failures OUTPUT DIR: the tests OUTPUT says failed, and the end of
# each failed test's log under DIR.
show_failures() {
	for trs in $(find "$2" -name '*.trs' -exec grep -lE '^:test-result: (FAIL|ERROR)' {} +); do
		echo "--- ${trs%.trs}.log"
		tail -n 40 "${trs%.trs}.log"
	done
	grep -E '^(FAIL|ERROR):' "$1" || true
}

# run_suite NAME DIR: make check in DIR; records the counts.
run_suite() {
	say "testing ($1)"
	if ! make -C "$2" -j"$JOBS" check >"$2/check.out" 2>&1; then
		status=1
		show_failures "$2/check.out" "$2/tests"
	fi
	grep -E '^# (TOTAL|PASS|FAIL|ERROR):' "$2/check.out" | sed "s/^/$1 /"
	p=$(sed -n 's/^# PASS: *//p' "$2/check.out")
	f=$(sed -n 's/^# FAIL: *//p' "$2/check.out")
	e=$(sed -n 's/^# ERROR: *//p' "$2/check.out")
	summary="$summary ${p:-0}:$(( ${f:-0} + ${e:-0} ))"
}

configure_build "$TOP/build"
run_suite normal "$TOP/build"
# run_step NAME COMMAND...: one more check that passes or fails as a whole.
run_step() {
	name=$1
	shift
	say "$name"
	if "$@" >"$TOP/build/$name.out" 2>&1; then
		summary="$summary 1:0"
		echo "PASS: $name"
	else
		status=1
		summary="$summary 0:1"
		tail -n 40 "$TOP/build/$name.out"
		# distcheck leaves its build behind when a test fails there
		[ "$name" = distcheck ] && show_failures "$TOP/build/$name.out" "$TOP/build"
		echo "FAIL: $name"
	fi
}

check_format() {
	command -v clang-format >/dev/null || { echo "clang-format is not installed"; return 1; }
	cd "$TOP" && git ls-files '*.c' '*.h' | grep -v '^tests/e2e/check.h' |
		xargs clang-format --dry-run --Werror
}

if [ $quick -eq 0 ]; then
	configure_build "$TOP/build-asan" --enable-sanitizers
	run_suite sanitizers "$TOP/build-asan"
	# Every decoder of guest input over its corpus, then briefly at random.
	run_step fuzz make -C "$TOP/build" fuzz-check
	run_step distcheck make -C "$TOP/build" -j"$JOBS" distcheck
	run_step format check_format
fi

passed=0
failed=0
for s in $summary; do
	passed=$((passed + ${s%%:*}))
	failed=$((failed + ${s##*:}))
done
echo "$passed passed, $failed failed"
exit $status
