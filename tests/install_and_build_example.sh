#!/usr/bin/env bash
# ctest "example_consumer" and "package_consumer": the installed procpool works for another Qt
# application, installed by CMake or from the Debian packages.
#
#   install_and_build_example.sh [--packages CPACK] BUILD_DIR SOURCE_DIR [CMAKE] [GENERATOR]
#
# 1. installs BUILD_DIR into a fresh temporary prefix (cmake --install); or, with --packages,
#    makes the Debian packages of BUILD_DIR with CPACK, checks their contents and dependencies
#    and unpacks them all (dpkg-deb -x) into a fresh root, whose usr/ is then the prefix;
# 2. copies SOURCE_DIR/examples/consumer elsewhere and configures it against that prefix only;
# 3. builds it and runs the consumer, which starts a real pool from the installed libprocpool;
# 4. runs the installed procpool executable, which loads the installed monitor module.
# Any failure stops the script with a message and a non-zero exit code.
set -euo pipefail

test_name=example_consumer
cpack=
if [[ ${1:-} == --packages ]]; then
    test_name=package_consumer
    cpack=${2:?--packages needs the cpack command}
    shift 2
fi
fail() { echo "$test_name: FAILED: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || fail "usage: $0 [--packages CPACK] BUILD_DIR SOURCE_DIR [CMAKE] [GENERATOR]"
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
step() { echo; echo "== $*"; }

# ---- the Debian packages ----------------------------------------------------------------------
# deb_paths DEB: the paths of the files and links DEB installs, without the leading ".".
deb_paths() { dpkg-deb --fsys-tarfile "$1" | tar -t | sed -n 's|^\./|/|p' | grep -v '/$'; }
# expect_depends DEB REGEX WHY: DEB's Depends line has an entry matching REGEX.
expect_depends() {
    local depends
    depends=$(dpkg-deb -f "$1" Depends)
    grep -Eq "(^|, )($2)(,|$)" <<<"$depends" \
        || fail "$(basename "$1") does not depend on $2 ($3); its Depends: $depends"
}
expect_path() { grep -Eqx "$2" <<<"$(deb_paths "$1")" || fail "$(basename "$1") has no $2"; }
expect_no_path() {
    ! grep -Eq "$2" <<<"$(deb_paths "$1")" \
        || fail "$(basename "$1") has $2, which belongs elsewhere"
}

unpack_packages() {
    command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (package dpkg)"
    step "making the Debian packages of $build_dir"
    "$cpack" --config "$build_dir/CPackConfig.cmake" -B "$work/packages" || fail "cpack"

    local deb name runtime_name=
    runtime= dev= app= monitor= monitor_dev=
    for deb in "$work/packages"/*.deb; do
        [[ -f "$deb" ]] || fail "cpack made no .deb file"
        name=$(dpkg-deb -f "$deb" Package)
        case $name in
            libprocpool-dev) dev=$deb ;;
            libprocpool-monitor-dev) monitor_dev=$deb ;;
            libprocpool-monitor[0-9]*) monitor=$deb ;;
            libprocpool[0-9]*) runtime=$deb; runtime_name=$name ;;
            procpool) app=$deb ;;
            *) fail "an unexpected package $name" ;;
        esac
        step "$(basename "$deb")"
        dpkg-deb -I "$deb"
        dpkg-deb -c "$deb"
    done
    [[ -n "$runtime" && -n "$dev" ]] || fail "no runtime library package or no -dev package"
    local version soversion
    version=$(dpkg-deb -f "$runtime" Version)
    soversion=${runtime_name#libprocpool}

    step "checking the packages' contents and dependencies"
    # The runtime package: the library under its SONAME, for the /usr prefix, and nothing else.
    # Its dependencies come from dpkg-shlibdeps.
    expect_path "$runtime" "/usr/lib/([^/]+/)?libprocpool\.so\.$soversion"
    expect_path "$runtime" "/usr/lib/([^/]+/)?libprocpool\.so\.$soversion\.[0-9.]+"
    expect_no_path "$runtime" '^/usr/(include|lib/([^/]+/)?cmake)/|libprocpool\.so$'
    expect_depends "$runtime" 'libqt6core6 \(>= [^)]+\)' "found by dpkg-shlibdeps"
    expect_depends "$runtime" 'libc6 \(>= [^)]+\)' "found by dpkg-shlibdeps"
    # ... and its shlibs file tells dpkg-shlibdeps of packages built against it.
    local shlibs
    shlibs=$(dpkg-deb --ctrl-tarfile "$runtime" | tar -xO ./shlibs) \
        || fail "$runtime_name has no shlibs file"
    [[ "$shlibs" == "libprocpool $soversion $runtime_name (>= $version)" ]] \
        || fail "the shlibs file of $runtime_name says '$shlibs'"
    # The -dev package: headers, CMake package and the link, with the runtime of its version.
    expect_path "$dev" "/usr/include/procpool/procpool\.h"
    expect_path "$dev" "/usr/include/procpool/procpool_export\.h"
    expect_path "$dev" "/usr/lib/([^/]+/)?cmake/procpool/procpoolConfig\.cmake"
    expect_path "$dev" "/usr/lib/([^/]+/)?libprocpool\.so"
    expect_no_path "$dev" 'libprocpool\.so\.'
    expect_depends "$dev" "$runtime_name \(= $version\)" "the library it links"
    expect_depends "$dev" 'qt6-base-dev( \([^)]+\))?' "the CMake package finds Qt 6 Core"
    # The application package: with the runtime, and Qt Widgets for the monitor module.
    if [[ -n "$app" ]]; then
        expect_path "$app" "/usr/bin/procpool"
        expect_path "$app" "/usr/lib/([^/]+/)?procpool/procpool-monitor\.so"
        expect_path "$app" "/usr/share/applications/procpool\.desktop"
        expect_no_path "$app" 'libprocpool\.so|^/usr/include/'
        expect_depends "$app" "$runtime_name \(= $version\)" "the library it links"
        expect_depends "$app" 'libqt6widgets6 \(>= [^)]+\)' "the monitor module, by dpkg-shlibdeps"
        expect_depends "$app" 'libqt6svg6' "the monitor's SVG icons"
    fi

    # The monitor library for applications' own windows, and its development files.
    if [[ -n "$app" ]]; then
        [[ -n "$monitor" && -n "$monitor_dev" ]] || fail "no monitor library package or no its -dev package"
        expect_path "$monitor" "/usr/lib/([^/]+/)?libprocpool-monitor\.so\.$soversion"
        expect_no_path "$monitor" '^/usr/(include|lib/([^/]+/)?cmake)/|libprocpool-monitor\.so$'
        expect_depends "$monitor" "$runtime_name \(= $version\)" "the library it links"
        expect_depends "$monitor" 'libqt6widgets6 \(>= [^)]+\)' "found by dpkg-shlibdeps"
        expect_path "$monitor_dev" "/usr/include/procpool/monitorwindow\.h"
        expect_path "$monitor_dev" "/usr/include/procpool/procpool_monitor_export\.h"
        expect_path "$monitor_dev" "/usr/lib/([^/]+/)?cmake/procpool/procpoolMonitorTargets\.cmake"
        expect_path "$monitor_dev" "/usr/lib/([^/]+/)?libprocpool-monitor\.so"
        expect_depends "$monitor_dev" "libprocpool-monitor$soversion \(= $version\)" "the library it links"
        expect_depends "$monitor_dev" "libprocpool-dev \(= $version\)" "the engine's CMake package"
    fi

    root=$work/root
    for deb in "$runtime" "$dev" ${app:+"$app"} ${monitor:+"$monitor"} ${monitor_dev:+"$monitor_dev"}; do
        dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x $(basename "$deb")"
    done
    prefix=$root/usr

    local lib soname
    lib=$(find "$prefix/lib" -name "libprocpool.so.$soversion" -print -quit)
    soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [[ "$soname" == "libprocpool.so.$soversion" ]] \
        || fail "the SONAME of $lib is '$soname', not the package's libprocpool.so.$soversion"

    if [[ -n "$app" ]]; then
        step "the desktop entry and what it names"
        local desktop=$prefix/share/applications/procpool.desktop program icon
        cat "$desktop"
        if command -v desktop-file-validate >/dev/null; then
            desktop-file-validate "$desktop" || fail "desktop-file-validate"
        fi
        program=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")
        icon=$(sed -n 's/^Icon=//p' "$desktop")
        # A bare Exec name is looked up in PATH: the package puts programs in /usr/bin.
        [[ "$program" == /* ]] || program=/usr/bin/$program
        [[ -x "$root$program" ]] || fail "Exec=$program of the desktop entry is not in the package"
        # A bare Icon name is looked up in the icon themes, hicolor being the fallback of all.
        if [[ "$icon" == /* ]]; then
            [[ -f "$root$icon" ]] || fail "Icon=$icon of the desktop entry is not in the package"
        else
            compgen -G "$prefix/share/icons/hicolor/*/apps/$icon.*" >/dev/null \
                || fail "Icon=$icon of the desktop entry is not in share/icons/hicolor"
        fi
        echo "Exec=$program and Icon=$icon are in the package"
    fi
}

# ---- the installation by CMake ----------------------------------------------------------------
install_build() {
    prefix=$work/prefix
    step "installing $build_dir into $prefix"
    "$cmake" --install "$build_dir" --prefix "$prefix" || fail "cmake --install"
}

if [[ -n "$cpack" ]]; then unpack_packages; else install_build; fi

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
elif [[ -n "${app:-}" ]]; then
    fail "the procpool package has no usr/bin/procpool"
fi

# An application's own window on its own pools: examples/monitorwindow, built against the
# installed monitor component and run offscreen.
if [[ -f "$prefix/include/procpool/monitorwindow.h" ]]; then
    step "building and running examples/monitorwindow"
    cp -R "$source_dir/examples/monitorwindow" "$work/monitorwindow-src"
    window_args=("${configure_args[@]}")
    window_args[0]=-S; window_args[1]="$work/monitorwindow-src"
    window_args[2]=-B; window_args[3]="$work/monitorwindow-build"
    "$cmake" "${window_args[@]}" || fail "configuring examples/monitorwindow"
    "$cmake" --build "$work/monitorwindow-build" || fail "building examples/monitorwindow"
    window=$work/monitorwindow-build/monitorwindow
    loaded=$(ldd "$window" | awk '/libprocpool-monitor\.so/ { print $3 }')
    [[ "$loaded" == "$libdir"/* ]] || fail "monitorwindow would load libprocpool-monitor from '$loaded'"
    QT_QPA_PLATFORM=offscreen "$window" --check "$work/monitorwindow.png" \
        || fail "examples/monitorwindow did not show its pool"
    [[ -s "$work/monitorwindow.png" ]] || fail "examples/monitorwindow saved no picture"
elif [[ -n "${app:-}" || -x "$prefix/bin/procpool" ]]; then
    fail "the monitor is built but include/procpool/monitorwindow.h is not installed"
fi

echo
echo "$test_name: OK"
