# Sourced by scripts and tests that use bench/c/udptool.c, the kernel-side UDP
# peer (send, recv, echo, rtt, flood; see the top of udptool.c):
#
#   . scripts/lib-udptool.sh
#   build_udptool "$OUT" || exit 1
#   "$UDPTOOL" recv --bind 198.18.0.2:9000 --count 1000 --check
#
# build_udptool OUTDIR compiles OUTDIR/udptool when it is missing or older than
# the source, and sets UDPTOOL to its path. It prints nothing on stdout; it
# returns non-zero (with gcc's message on stderr) when the build fails.

build_udptool() {
    local out=${1:?build_udptool: OUTDIR needed}
    local src bin tmp
    src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench/c/udptool.c"
    bin="$out/udptool"
    command -v gcc >/dev/null || { echo "build_udptool: gcc not found" >&2; return 1; }
    mkdir -p "$out" || return 1
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
        # Build beside the target and rename: a concurrent user never runs half a binary.
        tmp="$bin.tmp.$$"
        if ! gcc -O2 -Wall -Wextra -o "$tmp" "$src" -lm; then
            rm -f "$tmp"
            echo "build_udptool: compiling $src failed" >&2
            return 1
        fi
        mv -f "$tmp" "$bin" || { rm -f "$tmp"; return 1; }
    fi
    UDPTOOL=$bin
}
