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

# Engine vs Python's ProcessPoolExecutor vs the machine's limits; BENCH_ARGS e.g. --json out.json
bench: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target procpool_bench bench_floor
	@python3 bench/run_bench.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

install: build
	@cmake --install $(BUILD_DIR) --prefix $(PREFIX)

clean:
	@rm -rf $(BUILD_DIR)
