#!/usr/bin/env bash
# Installs rtud: its binaries, the systemd unit, the configuration file and
# the group `rtud` (whose members may use the control socket).
#
# Usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--no-build] [--build-dir DIR]
#   --prefix DIR     where the programs go (default /usr/local): DIR/bin/rtud,
#                    DIR/bin/rtuctl, DIR/lib/librtuclient.so, DIR/include/rtuclient.h.
#                    The unit goes to DIR/lib/systemd/system for /usr and
#                    /usr/local (both in systemd's search path), else to
#                    /etc/systemd/system; its ExecStart names DIR/bin/rtud.
#   --destdir DIR    stage everything under DIR (for packaging): no group is
#                    created and systemd is not told.
#   --no-build       do not run `swift build -c release`; take the binaries
#                    from the build directory as they are.
#   --build-dir DIR  where the binaries are (default: swift's release bin path).
#
# The configuration always goes to /etc/rtud/rtud.toml, where the unit looks
# for it; an existing file is kept. Safe to run again: files already equal
# are left alone. Every action is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
destdir=""
build=1
build_dir=""

usage() {
  sed -n '5,16s/^# \{0,1\}//p' "$0" >&2
  exit "${1:-2}"
}

needs_value() {
  [ $# -ge 2 ] && [ -n "$2" ] || { echo "install.sh: $1 needs a value" >&2; usage 2; }
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) needs_value "$@"; prefix=$2; shift 2 ;;
    --destdir) needs_value "$@"; destdir=$2; shift 2 ;;
    --build-dir) needs_value "$@"; build_dir=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done

case "$prefix" in
  /*) ;;
  *) echo "install.sh: --prefix must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac
prefix=${prefix%/}
if [ -n "$destdir" ]; then
  mkdir -p "$destdir"
  destdir=$(cd "$destdir" && pwd)
fi

command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
if [ "$build" = 1 ]; then
  echo "install: swift build -c release"
  swift build -c release
fi
[ -n "$build_dir" ] || build_dir=$(swift build -c release --show-bin-path)
[ -x "$build_dir/rtud" ] || { echo "install.sh: no rtud binary in $build_dir (build first, or give --build-dir)" >&2; exit 1; }

case "$prefix" in
  /usr | /usr/local) unit_dir=$prefix/lib/systemd/system ;;
  *) unit_dir=/etc/systemd/system ;;
esac

# put SOURCE TARGET MODE [NAME]: installs SOURCE as $destdir/TARGET unless an
# equal file is there; NAME is what the message calls SOURCE.
put() {
  local source=$1 target=$2 mode=$3 name=${4:-$1}
  if [ -f "$destdir$target" ] && cmp -s "$source" "$destdir$target"; then
    echo "install: $destdir$target unchanged"
  else
    install -D -m "$mode" "$source" "$destdir$target"
    echo "install: $destdir$target <- $name"
  fi
}

put "$build_dir/rtud" "$prefix/bin/rtud" 0755
if [ -x "$build_dir/rtuctl" ]; then
  put "$build_dir/rtuctl" "$prefix/bin/rtuctl" 0755
else
  echo "install: no rtuctl in $build_dir, skipped"
fi

library_installed=0
if [ -f "$build_dir/librtuclient.so" ]; then
  put "$build_dir/librtuclient.so" "$prefix/lib/librtuclient.so" 0755
  library_installed=1
else
  echo "install: no librtuclient.so in $build_dir, skipped"
fi
# The header goes with the library it declares, not without it.
if [ "$library_installed" = 1 ]; then
  put include/rtuclient.h "$prefix/include/rtuclient.h" 0644
fi

# The unit names the binary by its installed path.
unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s|^ExecStart=/usr/local/bin/rtud |ExecStart=$prefix/bin/rtud |" systemd/rtud.service > "$unit"
grep -q "^ExecStart=$prefix/bin/rtud --config /etc/rtud/rtud.toml\$" "$unit" || {
  echo "install.sh: systemd/rtud.service has no 'ExecStart=/usr/local/bin/rtud --config /etc/rtud/rtud.toml' line to rewrite" >&2
  exit 1
}
chmod 0644 "$unit"
put "$unit" "$unit_dir/rtud.service" 0644 "systemd/rtud.service (ExecStart=$prefix/bin/rtud)"

if [ -e "$destdir/etc/rtud/rtud.toml" ]; then
  echo "install: $destdir/etc/rtud/rtud.toml exists, kept (the shipped one is $PWD/etc/rtud.toml)"
else
  put etc/rtud.toml /etc/rtud/rtud.toml 0644
fi

if [ -n "$destdir" ]; then
  echo "install: group rtud not created (--destdir: the package's own scripts do that)"
else
  if getent group rtud >/dev/null; then
    echo "install: group rtud exists"
  else
    groupadd --system rtud
    echo "install: group rtud created"
  fi
  if [ "$library_installed" = 1 ] && command -v ldconfig >/dev/null; then ldconfig; fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "install: systemd reloaded; start with: systemctl enable --now rtud"
  fi
fi
