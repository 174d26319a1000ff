#!/usr/bin/env bash
# ctest "example_consumer": the installed procpool package works for another Qt application.
#
#   install_and_build_example.sh BUILD_DIR SOURCE_DIR [CMAKE] [GENERATOR]
#
# 1. installs BUILD_DIR into a fresh temporary prefix (cmake --install);
# 2. copies SOURCE_DIR/examples/consumer elsewhere and configures it against that prefix only;
# 3. builds it and runs the consumer, which starts a real pool from the installed libprocpool.
# Any failure stops the script with a message and a non-zero exit code.
set -euo pipefail

fail() { echo "example_consumer: FAILED: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || fail "usage: $0 BUILD_DIR SOURCE_DIR [CMAKE] [GENERATOR]"
build_dir=$(cd "$1" && pwd) || fail "no build directory '$1'"
source_dir=$(cd "$2" && pwd) || fail "no source directory '$2'"
cmake=${3:-cmake}
generator=${4:-}
[[ -f "$build_dir/CMakeCache.txt" ]] || fail "'$build_dir' is not a CMake build directory"
[[ -f "$source_dir/examples/consumer/CMakeLists.txt" ]] \
    || fail "no examples/consumer in '$source_dir'"

work=$(mktemp -d "${TMPDIR:-/tmp}/procpool-example.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
prefix=$work/prefix
step() { echo; echo "== $*"; }

step "installing $build_dir into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" || fail "cmake --install"
config=$(find "$prefix" -name procpoolConfig.cmake -print -quit)
[[ -n "$config" ]] || fail "no procpoolConfig.cmake under $prefix"
libdir=$(dirname "$(dirname "$(dirname "$config")")") # <libdir>/cmake/procpool/procpoolConfig.cmake
ls "$libdir"/libprocpool.so* >/dev/null 2>&1 || fail "no libprocpool.so in $libdir"
[[ -f "$prefix/include/procpool/procpool.h" && -f "$prefix/include/procpool/procpool_export.h" ]] \
    || fail "headers missing under $prefix/include/procpool"

# The example is built from a copy, in a directory that knows nothing of this source tree.
cp -R "$source_dir/examples/consumer" "$work/src"

# Qt is the same Qt the library was built against (its location is not procpool's business).
qt_dir=$(sed -n 's/^Qt6_DIR:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
configure_args=(-S "$work/src" -B "$work/build"
                -DCMAKE_PREFIX_PATH="$prefix"
                -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
                "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror")
[[ -n "$qt_dir" ]] && configure_args+=(-DQt6_DIR="$qt_dir")
[[ -n "$generator" ]] && configure_args+=(-G "$generator")

step "configuring the consumer against $prefix"
"$cmake" "${configure_args[@]}" || fail "configuring examples/consumer"
found=$(sed -n 's/^procpool_DIR:[A-Z]*=//p' "$work/build/CMakeCache.txt")
[[ "$found" == "$prefix"/* ]] \
    || fail "find_package(procpool) found '$found', not the package in $prefix"

step "building the consumer"
"$cmake" --build "$work/build" || fail "building examples/consumer"
consumer=$work/build/consumer
[[ -x "$consumer" ]] || fail "no consumer executable"

step "running the consumer"
# The consumer must load the installed library, never the one in the build tree.
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
loaded=$(ldd "$consumer" | awk '/libprocpool\.so/ { print $3 }')
[[ "$loaded" == "$libdir"/* ]] || fail "the consumer would load libprocpool from '$loaded'"
set +e
output=$("$consumer" 2>&1)
status=$?
set -e
echo "$output"
[[ $status -eq 0 ]] || fail "the consumer exited with status $status"
grep -q '^consumer: all good$' <<<"$output" || fail "the consumer did not report success"

# The installed procpool executable links Qt Core only (its workers are itself) and loads the
# monitor from the installed module.
if [[ -x "$prefix/bin/procpool" ]]; then
    step "the installed procpool executable and its monitor module"
    if ldd "$prefix/bin/procpool" | grep -q 'libQt6Widgets'; then
        fail "bin/procpool links Qt Widgets: every worker it starts would map it"
    fi
    shot=$work/monitor.png
    QT_QPA_PLATFORM=offscreen "$prefix/bin/procpool" --screenshot "$shot" --screenshot-after 300 \
        || fail "the installed monitor did not run"
    [[ -s "$shot" ]] || fail "the installed monitor saved no screenshot"
fi

echo
echo "example_consumer: OK"
