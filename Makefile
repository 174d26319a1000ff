# procpool — the two everyday commands are `make run` and `make test`.
#
# Each target is a short alias for presets of CMakePresets.json, which say how each build is
# configured, built and tested (plain `cmake --preset NAME`, `cmake --build --preset NAME`,
# `ctest --preset NAME` and `cpack --preset default` do the same without make):
#   default  build/       RelWithDebInfo: run, test, package, install, and bench (build preset)
#   asan     build-asan/  clang, AddressSanitizer + UndefinedBehaviorSanitizer, the suite (docs/development.md)
#   tsan     build-tsan/  GCC, ThreadSanitizer, the threaded suites
#   fuzz     build-fuzz/  clang, the libFuzzer targets of fuzz/
# The Makefile adds what presets cannot: installing the Debian packages the build needs
# (scripts/install-deps.sh) and the variables below.
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SANITIZER_JOBS ?= $(JOBS)
# Empty: the presets' RelWithDebInfo. Applies to build/ (the sanitizer builds keep theirs).
BUILD_TYPE ?=
FUZZ_SECONDS ?= 60
BENCH_ARGS ?=
BUILD_DIR := build
ifeq ($(origin BUILD_DIR),command line)
  $(error BUILD_DIR is fixed by the presets; for another build directory, add a configure preset \
    of your own (inheriting "default") to CMakeUserPresets.json)
endif

# $(call preset,NAME,[CONFIGURE ARGUMENTS],CTEST JOBS): configure, build and test one preset.
preset = cmake --preset $(1)$(if $(2), $(2)) && cmake --build --preset $(1) -j $(JOBS) && \
         ctest --preset $(1) -j $(3)

.PHONY: all deps deps-extra deps-docs deps-bench configure build run test package install docs clean \
        distclean test-sanitize test-asan test-tsan fuzz bench bench-transport

all: build

deps:
	@./scripts/install-deps.sh

# clang and its sanitizer runtimes, and Xvfb for screenshots.
deps-extra:
	@PROCPOOL_DEPS_EXTRA=1 ./scripts/install-deps.sh

deps-docs:
	@PROCPOOL_DEPS_DOCS=1 ./scripts/install-deps.sh

# Qt Remote Objects, which bench-transport measures the inspection socket against.
deps-bench:
	@PROCPOOL_DEPS_BENCH=1 ./scripts/install-deps.sh

configure: deps
	cmake --preset default$(if $(BUILD_TYPE), -DCMAKE_BUILD_TYPE=$(BUILD_TYPE))

build: configure
	cmake --build --preset default -j $(JOBS)

# Without a display, `make run` runs this headless workload instead of the desktop monitor:
# two namespaces, a protected pool, a worker crash, a task that throws and a rejected
# submission, reported as they finish, then the registry and a summary.
HEADLESS_DEMO ?= --namespace cpu --workers 2 --prefix cpu \
  --submit primes:300000 --count 6 --submit crash --submit throw:boom --submit sleep:300 --count 4 \
  --namespace render --workers 1 --prefix render --task-type render \
  --submit echo:64 --count 3 --submit-type render --submit sleep:10 --list

run: build
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  ./$(BUILD_DIR)/gui/procpool; \
	else \
	  echo "make run: no display (DISPLAY and WAYLAND_DISPLAY are unset), so headless mode:"; \
	  echo "  $(BUILD_DIR)/gui/procpool --headless $(HEADLESS_DEMO)"; \
	  ./$(BUILD_DIR)/gui/procpool --headless $(HEADLESS_DEMO); status=$$?; \
	  if [ $$status -eq 1 ]; then \
	    echo "make run: exit status 1 is this demo's expected outcome: its crash, throw and rejected submission fail on purpose"; \
	    exit 0; \
	  fi; \
	  exit $$status; \
	fi

# The suites, example_consumer (an installation) and package_consumer (the Debian packages).
test: build
	ctest --preset default -j $(JOBS)

# The Debian packages libprocpool0, libprocpool-dev and procpool, in build/packages/.
package: build
	cpack --preset default

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The API reference from the public headers' //! comments: build/docs/html/index.html. Doxygen's
# warnings are errors, so a comment that no longer matches its declaration fails here.
docs: deps-docs configure
	cmake --build --preset default --target docs
	@echo "make docs: $(BUILD_DIR)/docs/html/index.html"

# The whole suite under ASan+UBSan, then the threaded suites under TSan, each in its own build.
test-sanitize: test-asan test-tsan

test-asan: deps-extra
	$(call preset,asan,,$(SANITIZER_JOBS))

test-tsan: deps-extra
	$(call preset,tsan,,$(SANITIZER_JOBS))

# Each fuzz target for FUZZ_SECONDS, a test of the fuzz preset; new inputs and crashing ones
# stay in build-fuzz/fuzz/, the committed seeds in fuzz/corpus/ are only read.
fuzz: deps-extra
	$(call preset,fuzz,-DPROCPOOL_FUZZ_SECONDS=$(FUZZ_SECONDS),$(JOBS))
	@awk '/^[0-9]+\/[0-9]+ Test: / { target = $$3 } \
	      /^(Done|stat::(average_exec_per_sec|new_units_added))/ { print target ": " $$0 }' \
	  build-fuzz/Testing/Temporary/LastTest.log

# Engine vs Python's ProcessPoolExecutor vs the machine's limits; BENCH_ARGS e.g. --json out.json
bench: configure
	cmake --build --preset bench -j $(JOBS)
	python3 bench/run_bench.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

# The inspection socket's transport against Qt Remote Objects: 20,000 task records at 10 Hz.
# TRANSPORT_ARGS: RECORDS CHANGED SECONDS ROUNDS (default 20000 500 10 3).
bench-transport: deps-bench configure
	cmake --preset default >/dev/null # finds Qt Remote Objects if deps-bench just installed it
	cmake --build --preset default --target procpool_transport_bench -j $(JOBS)
	$(BUILD_DIR)/bench/procpool_transport_bench $(TRANSPORT_ARGS)

clean:
	rm -rf $(BUILD_DIR)

distclean: clean
	rm -rf build-asan build-tsan build-fuzz
