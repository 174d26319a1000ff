# The desktop monitor, compiled once (procpool_monitor_objects) and linked three ways:
# - procpool_monitor, a static library: the tests link the same models and widgets;
# - the module that the procpool executable loads (below);
# - procpool::monitor, the installed shared library libprocpool-monitor.so, whose one public
#   class, procpool::MonitorWindow (include/procpool/monitorwindow.h), opens the monitor in an
#   application's own window on its own pools.
# Qt Widgets is linked here and only here: the executable, and so every worker it starts, stays
# on Qt Core. Qt Network (QLocalSocket) reaches the inspection sockets of attached processes.
find_package(Qt6 6.4 REQUIRED COMPONENTS Widgets Network)

add_library(procpool_monitor_objects OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/activitychart.cpp
  ${CMAKE_CURRENT_LIST_DIR}/activitychart.h
  ${CMAKE_CURRENT_LIST_DIR}/attachdialog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/attachdialog.h
  ${CMAKE_CURRENT_LIST_DIR}/catalogsubmitdialog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/catalogsubmitdialog.h
  ${CMAKE_CURRENT_LIST_DIR}/chartwidget.cpp
  ${CMAKE_CURRENT_LIST_DIR}/chartwidget.h
  ${CMAKE_CURRENT_LIST_DIR}/demoworkload.cpp
  ${CMAKE_CURRENT_LIST_DIR}/demoworkload.h
  ${CMAKE_CURRENT_LIST_DIR}/enginewatcher.cpp
  ${CMAKE_CURRENT_LIST_DIR}/enginewatcher.h
  ${CMAKE_CURRENT_LIST_DIR}/futuremodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/futuremodel.h
  ${CMAKE_CURRENT_LIST_DIR}/hostsbox.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hostsbox.h
  ${CMAKE_CURRENT_LIST_DIR}/logmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/logmodel.h
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow.h
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow_actions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow_attach.cpp
  ${CMAKE_CURRENT_LIST_DIR}/monitor.cpp
  ${CMAKE_CURRENT_LIST_DIR}/monitor.h
  ${CMAKE_CURRENT_LIST_DIR}/monitorwindow.cpp
  ${CMAKE_CURRENT_LIST_DIR}/include/procpool/monitorwindow.h
  ${CMAKE_CURRENT_LIST_DIR}/namespacemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/namespacemodel.h
  ${CMAKE_CURRENT_LIST_DIR}/progressdelegate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/progressdelegate.h
  ${CMAKE_CURRENT_LIST_DIR}/remoteprocess.cpp
  ${CMAKE_CURRENT_LIST_DIR}/remoteprocess.h
  ${CMAKE_CURRENT_LIST_DIR}/rowruns.h
  ${CMAKE_CURRENT_LIST_DIR}/startpooldialog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/startpooldialog.h
  ${CMAKE_CURRENT_LIST_DIR}/style.cpp
  ${CMAKE_CURRENT_LIST_DIR}/style.h
  ${CMAKE_CURRENT_LIST_DIR}/submitdialog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/submitdialog.h
  ${CMAKE_CURRENT_LIST_DIR}/submitoptions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/submitoptions.h
  ${CMAKE_CURRENT_LIST_DIR}/workermodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/workermodel.h
  ${PROJECT_SOURCE_DIR}/resources/procpool.qrc
)
# The sample tasks (gui/sampletasks.cpp) are not part of the library: each program links them
# exactly once, since a task name may be registered only once per process.
set_target_properties(procpool_monitor_objects PROPERTIES AUTORCC ON POSITION_INDEPENDENT_CODE ON
                      DEFINE_SYMBOL PROCPOOL_MONITOR_BUILDING)
include(GenerateExportHeader)
generate_export_header(procpool_monitor_objects
  BASE_NAME PROCPOOL_MONITOR
  EXPORT_FILE_NAME ${CMAKE_CURRENT_BINARY_DIR}/monitor-include/procpool/procpool_monitor_export.h)
target_include_directories(procpool_monitor_objects PUBLIC
  ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_CURRENT_LIST_DIR}/include ${CMAKE_CURRENT_BINARY_DIR}/monitor-include)
# The engine's reader of /proc (procstat_p.h), built from the same sources as the monitor.
target_include_directories(procpool_monitor_objects PRIVATE ${PROJECT_SOURCE_DIR}/engine/src)
target_link_libraries(procpool_monitor_objects PUBLIC procpool::engine Qt6::Widgets
                      PRIVATE Qt6::Network procpool_warnings)
target_compile_definitions(procpool_monitor_objects PRIVATE QT_NO_CAST_FROM_ASCII PROCPOOL_MONITOR_BUILDING)

add_library(procpool_monitor STATIC)
target_link_libraries(procpool_monitor PUBLIC procpool_monitor_objects)

# procpool::monitor. Only procpool::MonitorWindow is exported; the rest stays inside.
add_library(procpool_monitor_library SHARED $<TARGET_OBJECTS:procpool_monitor_objects>)
add_library(procpool::monitor ALIAS procpool_monitor_library)
set_target_properties(procpool_monitor_library PROPERTIES
  OUTPUT_NAME procpool-monitor
  EXPORT_NAME monitor
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
target_include_directories(procpool_monitor_library PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}/include>
  $<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}/monitor-include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(procpool_monitor_library PUBLIC procpool::engine Qt6::Widgets PRIVATE Qt6::Network)
# Components: "monitor" is the library with its SONAME (libprocpool-monitorN), "monitor_development"
# its header, the libprocpool-monitor.so link and its part of the CMake package
# (find_package(procpool COMPONENTS monitor)).
install(TARGETS procpool_monitor_library EXPORT procpoolMonitorTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    COMPONENT monitor NAMELINK_COMPONENT monitor_development)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/include/procpool/monitorwindow.h
              ${CMAKE_CURRENT_BINARY_DIR}/monitor-include/procpool/procpool_monitor_export.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/procpool COMPONENT monitor_development)
install(EXPORT procpoolMonitorTargets NAMESPACE procpool::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/procpool COMPONENT monitor_development)

# The module the procpool executable loads to show the window (gui/main.cpp): the executable
# and its workers stay on Qt Core. It finds the sample tasks in the executable, which exports
# its symbols for that.
add_library(procpool_monitor_module MODULE ${CMAKE_CURRENT_LIST_DIR}/module.cpp)
target_link_libraries(procpool_monitor_module PRIVATE procpool_monitor procpool_warnings)
set_target_properties(procpool_monitor_module PROPERTIES
  PREFIX "" OUTPUT_NAME procpool-monitor
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_target_properties(procpool PROPERTIES ENABLE_EXPORTS ON)
add_dependencies(procpool procpool_monitor_module)
install(TARGETS procpool_monitor_module LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/procpool
        COMPONENT application)
file(RELATIVE_PATH module_dir_from_bin ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}
     ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/procpool)
target_compile_definitions(procpool PRIVATE
  PROCPOOL_MONITOR_MODULE="procpool-monitor.so"
  PROCPOOL_MONITOR_MODULE_DIR="${module_dir_from_bin}")

# The desktop entry and the application icon, for `cmake --install`.
install(FILES ${PROJECT_SOURCE_DIR}/resources/procpool.desktop
        DESTINATION ${CMAKE_INSTALL_DATADIR}/applications COMPONENT application)
install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/procpool.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps COMPONENT application)
