# Shared by scripts/demo.sh and scripts/test.sh: install what is missing,
# then configure and build, doing nothing that is already done.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
DEBIAN_PACKAGES="autoconf automake libtool pkg-config make gcc g++ git clang-format libzmq3-dev
	libprotobuf-c-dev protobuf-c-compiler libelf-dev libzstd-dev libcmocka-dev libinih-dev libmicrohttpd-dev curl
	clang llvm-15-dev"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The Debian packages vcuda builds with; apt-get only when one is missing.
install_deps() {
	missing=
	for p in $DEBIAN_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		say "installing Debian packages:$missing"
		sudo=
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
	fi
	# The CUDA toolkit is not a Debian package: it must be where CUDA installs it.
	CUDA_DIR=${CUDA_DIR:-/usr/local/cuda}
	if ! command -v nvcc >/dev/null 2>&1; then
		[ -x "$CUDA_DIR/bin/nvcc" ] || die "nvcc not found: install the CUDA toolkit (CUDA_DIR=$CUDA_DIR)"
		PATH=$CUDA_DIR/bin:$PATH
		export PATH
	fi
}

# configure_build DIR [CONFIGURE ARGS...]: an out-of-tree build in DIR.
configure_build() {
	dir=$1
	shift
	if [ ! -x "$TOP/configure" ] || [ "$TOP/configure.ac" -nt "$TOP/configure" ]; then
		say "generating configure"
		(cd "$TOP" && autoreconf -fi >/dev/null 2>&1) || (cd "$TOP" && autoreconf -fi)
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/config.status" ]; then
		say "configuring in $dir"
		(cd "$dir" && "$TOP/configure" --with-cuda="$CUDA_DIR" "$@" >/dev/null) ||
			die "configure failed (see $dir/config.log)"
	fi
	say "building in $dir"
	make -C "$dir" -j"$JOBS" -s >/dev/null
}
