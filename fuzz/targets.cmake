# The fuzz targets and the engine sources their decoders live in (relative to engine/src), for
# the two builds that compile them: fuzz/CMakeLists.txt (libFuzzer, `make fuzz`) and
# tests/CMakeLists.txt (ctest replays fuzz/corpus/NAME and fuzz/crashes/NAME through each
# target's entry point on every run). A target fuzz_NAME is fuzz/fuzz_NAME.cpp.
set(PROCPOOL_FUZZ_TARGETS fuzz_frame fuzz_codec fuzz_shm fuzz_messages fuzz_inspection)
set(PROCPOOL_FUZZ_ENGINE_SOURCES frame.cpp codec.cpp errors.cpp attachments.cpp receivebuffers.cpp
    sharedring.cpp streamcopy.cpp copyhelpers.cpp workermessages.cpp inspectionframe.cpp)
