# Sources of the desktop monitor, added to the procpool executable by gui/CMakeLists.txt.
target_sources(procpool PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/monitor.cpp
  ${CMAKE_CURRENT_LIST_DIR}/monitor.h
)
