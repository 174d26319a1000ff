# Debian packages, one per install component (`make package`, or `cpack --preset default` after
# a build), for the /usr prefix:
#
#   libprocpool<SOVERSION>  component runtime:     the shared library, under its SONAME
#   libprocpool-dev         component development: headers, CMake package, libprocpool.so link
#   procpool                component application: the executable, its monitor module, the
#                                                  desktop entry and the icon
#
# Dependencies on other Debian packages come from dpkg-shlibdeps (package dpkg-dev, and `file`)
# reading the packaged binaries; the packages' dependencies on each other are exact versions:
# they come from one build.
set(procpool_runtime_package libprocpool${PROJECT_VERSION_MAJOR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME procpool)
set(CPACK_PACKAGE_VENDOR procpool)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Each package's description below starts with its own synopsis line: CPackDeb would put this
# summary in front of them all, unless it is CPack's own default, which it is left as.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
# The Maintainer field is mandatory: -DCPACK_PACKAGE_CONTACT=... names a real one.
set(CPACK_PACKAGE_CONTACT "procpool maintainers <maintainers@procpool.invalid>"
    CACHE STRING "Maintainer of the Debian packages")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
if(TARGET procpool)
  list(APPEND CPACK_COMPONENTS_ALL application)
endif()
if(TARGET procpool_monitor_library)
  list(APPEND CPACK_COMPONENTS_ALL monitor monitor_development)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # NAME_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libprocpool.so.N is in no installed package while the packages are made: dpkg-shlibdeps finds
# it in the build tree and leaves it out (CPack passes --ignore-missing-info); the dependency on
# the runtime package comes from the component dependencies below.
get_target_property(procpool_engine_dir procpool_engine LIBRARY_OUTPUT_DIRECTORY)
if(NOT procpool_engine_dir)
  get_target_property(procpool_engine_dir procpool_engine BINARY_DIR)
endif()
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${procpool_engine_dir})
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_COMPONENT_RUNTIME_DISPLAY_NAME "procpool library")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "managed process pools for Qt 6 - library
procpool runs tasks in pools of worker processes: each worker is the
application's own executable started again, so a crash, a leak or a hang in a
task costs a worker, never the application. Pools live in named namespaces,
accept only the task types they were started for, and hand back results as
QFutures.
.
This package contains the shared library.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${procpool_runtime_package})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# Control files of a shared library's package (COMPONENT, library LIBRARY, package PACKAGE),
# besides CPack's postinst and postrm that run ldconfig:
# - shlibs, so that packages built against this one depend on it through their own
#   dpkg-shlibdeps: on this version or a later one of the same SONAME (written here: CMake
#   3.25's CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS applies to every package, and then warns about
#   the monitor module, a plugin without a SONAME);
# - triggers, the ldconfig trigger that Debian's policy asks of a shared library package.
function(procpool_library_control component library package)
  set(dir ${PROJECT_BINARY_DIR}/debian/${component})
  file(CONFIGURE OUTPUT ${dir}/shlibs CONTENT
       "${library} ${PROJECT_VERSION_MAJOR} ${package} (>= ${PROJECT_VERSION})\n")
  file(CONFIGURE OUTPUT ${dir}/triggers CONTENT "activate-noawait ldconfig\n")
  string(TOUPPER ${component} upper)
  set(CPACK_DEBIAN_${upper}_PACKAGE_CONTROL_EXTRA ${dir}/shlibs ${dir}/triggers PARENT_SCOPE)
endfunction()
procpool_library_control(runtime libprocpool ${procpool_runtime_package})

set(CPACK_COMPONENT_DEVELOPMENT_DISPLAY_NAME "procpool development files")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION "managed process pools for Qt 6 - development files
procpool runs tasks in pools of worker processes that are the application's
own executable started again, and hands back results as QFutures.
.
This package contains the headers and the CMake package:
find_package(procpool) and link procpool::engine.")
set(CPACK_COMPONENT_DEVELOPMENT_DEPENDS runtime)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libprocpool-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The CMake package finds Qt 6 Core, and the public headers include it.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "qt6-base-dev (>= 6.4)")

set(CPACK_COMPONENT_APPLICATION_DISPLAY_NAME "procpool monitor and command-line driver")
set(CPACK_COMPONENT_APPLICATION_DESCRIPTION "monitor and command-line driver for procpool process pools
procpool runs tasks in pools of worker processes. This package contains the
procpool program: a desktop monitor that starts pools, submits sample tasks
and shows their workers, tasks and results as they run, and, with --headless,
the same from the command line.")
set(CPACK_COMPONENT_APPLICATION_DEPENDS runtime)
set(CPACK_DEBIAN_APPLICATION_PACKAGE_NAME procpool)
set(CPACK_DEBIAN_APPLICATION_PACKAGE_SECTION devel)
# Loaded by Qt at run time, so invisible to dpkg-shlibdeps: the SVG icon engine (the monitor's
# icons are SVG files) and the platform plugins that show a window.
set(CPACK_DEBIAN_APPLICATION_PACKAGE_DEPENDS "libqt6svg6, qt6-qpa-plugins")

set(CPACK_COMPONENT_MONITOR_DISPLAY_NAME "procpool monitor library")
set(CPACK_COMPONENT_MONITOR_DESCRIPTION "managed process pools for Qt 6 - monitor window library
procpool runs tasks in pools of worker processes. This library opens the
procpool monitor inside a Qt Widgets application, on that application's own
pools: workers, futures, charts and worker output, live, with the actions an
operator takes on them.")
set(CPACK_COMPONENT_MONITOR_DEPENDS runtime)
set(CPACK_DEBIAN_MONITOR_PACKAGE_NAME libprocpool-monitor${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_MONITOR_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_MONITOR_PACKAGE_DEPENDS "libqt6svg6, qt6-qpa-plugins") # as the application's
procpool_library_control(monitor libprocpool-monitor libprocpool-monitor${PROJECT_VERSION_MAJOR})

set(CPACK_COMPONENT_MONITOR_DEVELOPMENT_DISPLAY_NAME "procpool monitor development files")
set(CPACK_COMPONENT_MONITOR_DEVELOPMENT_DESCRIPTION "managed process pools for Qt 6 - monitor window development files
The header of procpool::MonitorWindow and its part of the CMake package:
find_package(procpool COMPONENTS monitor) and link procpool::monitor.")
set(CPACK_COMPONENT_MONITOR_DEVELOPMENT_DEPENDS monitor development)
set(CPACK_DEBIAN_MONITOR_DEVELOPMENT_PACKAGE_NAME libprocpool-monitor-dev)
set(CPACK_DEBIAN_MONITOR_DEVELOPMENT_PACKAGE_SECTION libdevel)

include(CPack)
