# Sources of headless mode, added to the procpool executable by gui/CMakeLists.txt.
target_sources(procpool PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/headless.cpp
  ${CMAKE_CURRENT_LIST_DIR}/headless.h
)
