# The desktop monitor: a static library (so that tests link the same models and widgets) added
# to the procpool executable by gui/CMakeLists.txt. Qt Widgets is linked here and only here:
# the engine and worker start-up stay on Qt Core (main() runs workerMain() before any of this).
find_package(Qt6 6.4 REQUIRED COMPONENTS Widgets)

add_library(procpool_monitor STATIC
  ${CMAKE_CURRENT_LIST_DIR}/chartwidget.cpp
  ${CMAKE_CURRENT_LIST_DIR}/chartwidget.h
  ${CMAKE_CURRENT_LIST_DIR}/demoworkload.cpp
  ${CMAKE_CURRENT_LIST_DIR}/demoworkload.h
  ${CMAKE_CURRENT_LIST_DIR}/enginewatcher.cpp
  ${CMAKE_CURRENT_LIST_DIR}/enginewatcher.h
  ${CMAKE_CURRENT_LIST_DIR}/futuremodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/futuremodel.h
  ${CMAKE_CURRENT_LIST_DIR}/logmodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/logmodel.h
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mainwindow.h
  ${CMAKE_CURRENT_LIST_DIR}/monitor.cpp
  ${CMAKE_CURRENT_LIST_DIR}/monitor.h
  ${CMAKE_CURRENT_LIST_DIR}/namespacemodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/namespacemodel.h
  ${CMAKE_CURRENT_LIST_DIR}/procstat.cpp
  ${CMAKE_CURRENT_LIST_DIR}/procstat.h
  ${CMAKE_CURRENT_LIST_DIR}/progressdelegate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/progressdelegate.h
  ${CMAKE_CURRENT_LIST_DIR}/rowruns.h
  ${CMAKE_CURRENT_LIST_DIR}/startpooldialog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/startpooldialog.h
  ${CMAKE_CURRENT_LIST_DIR}/style.cpp
  ${CMAKE_CURRENT_LIST_DIR}/style.h
  ${CMAKE_CURRENT_LIST_DIR}/submitdialog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/submitdialog.h
  ${CMAKE_CURRENT_LIST_DIR}/workermodel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/workermodel.h
  ${PROJECT_SOURCE_DIR}/resources/procpool.qrc
)
# The sample tasks (gui/sampletasks.cpp) are not part of the library: each program links them
# exactly once, since a task name may be registered only once per process.
set_target_properties(procpool_monitor PROPERTIES AUTORCC ON)
target_include_directories(procpool_monitor PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(procpool_monitor PUBLIC procpool::engine Qt6::Widgets PRIVATE procpool_warnings)
target_compile_definitions(procpool_monitor PRIVATE QT_NO_CAST_FROM_ASCII)
target_link_libraries(procpool PRIVATE procpool_monitor)

# The desktop entry and the application icon, for `cmake --install`.
install(FILES ${PROJECT_SOURCE_DIR}/resources/procpool.desktop
        DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/procpool.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
