# procpool — the two everyday commands are `make run` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build run test bench install clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	       -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

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

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

# ---- sanitizers and fuzzing (clang; scripts/install-deps.sh installs it with PROCPOOL_DEPS_EXTRA=1)
.PHONY: deps-extra test-sanitize test-asan test-tsan fuzz
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
SANITIZER_JOBS ?= $(JOBS)
comma := ,
# The crash tests kill workers with SIGSEGV, abort() and an exhausted address space on purpose:
# ASan must let those deaths happen (handle_*=0) and let malloc() fail (allocator_may_return_null).
# Leak checking is off: every worker is a full test executable that leaves through exit() with
# Qt's and procpool's process-lifetime singletons alive, which LeakSanitizer reports.
ASAN_ENV = ASAN_OPTIONS=handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:allocator_may_return_null=1:detect_leaks=0:halt_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Qt is not instrumented: TSan ignores the memory accesses of its interceptors when Qt makes
# them (ignore_noninstrumented_modules), QProcess forks from the engine thread (die_after_fork),
# and the crash tests' SIGSEGV and abort() must reach the pool (handle_*). tests/tsan_vfork.c
# turns QProcess's vfork-style clone() into a fork() TSan knows about (see there).
TSAN_ENV = LD_PRELOAD=$(CURDIR)/$(TSAN_DIR)/tsan_vfork.so TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:die_after_fork=0:handle_segv=0:handle_abort=0:suppressions=$(CURDIR)/tests/tsan.supp
# The threaded suites (tst_payload for the copy helpers): what TSan can say something about;
# tsan_canary checks it still can.
TSAN_TESTS = ^(tst_pool|tst_registry|tst_chaos|tst_forkserver|tst_payload|tsan_canary)$$

deps-extra:
	@PROCPOOL_DEPS_EXTRA=1 ./scripts/install-deps.sh

# The whole suite under ASan+UBSan, then the threaded suites under TSan, each in its own build.
test-sanitize: test-asan test-tsan

# $(call configure-sanitized,DIR,SANITIZER FLAGS,C COMPILER,C++ COMPILER): an instrumented build
# of the engine and the tests. ASan+UBSan use clang; TSan uses GCC, because clang 14's TSan
# runtime aborts ("CHECK failed ... thr->slot") when QProcess forks from the engine thread.
configure-sanitized = CC=$(3) CXX=$(4) cmake -S . -B $(1) -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROCPOOL_BUILD_GUI=OFF \
  "-DCMAKE_CXX_FLAGS=$(2) -fno-omit-frame-pointer" "-DCMAKE_EXE_LINKER_FLAGS=$(2)" \
  "-DCMAKE_SHARED_LINKER_FLAGS=$(2)" >/dev/null

test-asan: deps-extra
	@$(call configure-sanitized,$(ASAN_DIR),-fsanitize=address$(comma)undefined -fno-sanitize-recover=undefined,clang,clang++)
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	@# example_consumer builds a plain project against the installed (instrumented) library.
	@cd $(ASAN_DIR) && $(ASAN_ENV) ctest --output-on-failure -j $(SANITIZER_JOBS) --timeout 1800 \
	  -E '^example_consumer$$'

test-tsan: deps-extra
	@$(call configure-sanitized,$(TSAN_DIR),-fsanitize=thread,gcc,g++)
	@cmake --build $(TSAN_DIR) -j $(JOBS) --target tst_pool tst_registry tst_chaos tst_forkserver tst_payload tsan_canary worker_program
	@cc -O2 -Wall -Wextra -shared -fPIC tests/tsan_vfork.c -o $(TSAN_DIR)/tsan_vfork.so -ldl
	@cd $(TSAN_DIR) && $(TSAN_ENV) ctest --output-on-failure -j $(SANITIZER_JOBS) --timeout 1800 \
	  -R '$(TSAN_TESTS)'

# libFuzzer on the frame decoder, the codec, the shared-memory rings and a call's messages,
# for FUZZ_SECONDS each. New inputs go to
# $(FUZZ_DIR)/corpus-*; the committed seeds in fuzz/corpus/ are only read.
fuzz: deps-extra
	@CC=clang CXX=clang++ cmake -S fuzz -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS)
	@for target in frame codec shm messages; do \
	  mkdir -p $(FUZZ_DIR)/corpus-$$target $(FUZZ_DIR)/artifacts-$$target; \
	  echo "fuzz_$$target: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_DIR)/fuzz_$$target -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts-$$target/ \
	    $(FUZZ_DIR)/corpus-$$target fuzz/corpus/$$target >$(FUZZ_DIR)/fuzz_$$target.log 2>&1; \
	  status=$$?; grep -E '^(Done|stat::(number_of|new_units))' $(FUZZ_DIR)/fuzz_$$target.log; \
	  if [ $$status -ne 0 ]; then tail -n 60 $(FUZZ_DIR)/fuzz_$$target.log; exit 1; fi; \
	done

# Engine vs Python's ProcessPoolExecutor vs the machine's limits; BENCH_ARGS e.g. --json out.json
bench: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target procpool_bench bench_floor
	@python3 bench/run_bench.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

install: build
	@cmake --install $(BUILD_DIR) --prefix $(PREFIX)

clean:
	@rm -rf $(BUILD_DIR)
