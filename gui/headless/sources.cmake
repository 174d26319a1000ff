# Sources of headless mode, added to the procpool executable by gui/CMakeLists.txt.
target_sources(procpool PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/attach.cpp
  ${CMAKE_CURRENT_LIST_DIR}/attach.h
  ${CMAKE_CURRENT_LIST_DIR}/headless.cpp
  ${CMAKE_CURRENT_LIST_DIR}/headless.h
  ${CMAKE_CURRENT_LIST_DIR}/hostflags.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hostflags.h
  ${CMAKE_CURRENT_LIST_DIR}/jobs.cpp
  ${CMAKE_CURRENT_LIST_DIR}/jobs.h
  ${CMAKE_CURRENT_LIST_DIR}/options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/options.h
  ${CMAKE_CURRENT_LIST_DIR}/outcome.cpp
  ${CMAKE_CURRENT_LIST_DIR}/outcome.h
  ${CMAKE_CURRENT_LIST_DIR}/program.cpp
  ${CMAKE_CURRENT_LIST_DIR}/program.h
  ${CMAKE_CURRENT_LIST_DIR}/runner.cpp
  ${CMAKE_CURRENT_LIST_DIR}/runner.h
  ${CMAKE_CURRENT_LIST_DIR}/runner_display.cpp
  ${CMAKE_CURRENT_LIST_DIR}/signals.cpp
  ${CMAKE_CURRENT_LIST_DIR}/signals.h
  ${CMAKE_CURRENT_LIST_DIR}/taskcall.cpp
  ${CMAKE_CURRENT_LIST_DIR}/taskcall.h
  ${CMAKE_CURRENT_LIST_DIR}/terminal.cpp
  ${CMAKE_CURRENT_LIST_DIR}/terminal.h
)
