# The two commands a newcomer types: `make run` and `make test`. Both install what is missing
# (Debian packages, as root), configure with CMake + Ninja (+ ccache) and build incrementally.
BUILD      ?= build/release
ASAN_BUILD ?= build/asan
RELEASE_BUILD ?= build/optimized
ADDR       ?= 127.0.0.1:8080
DATA_DIR   ?= ./skiff-data
CTEST_JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build release run test test-unit test-integration test-asan bench format clean

all: build

deps:
	@scripts/deps.sh test
	@scripts/peers.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

run: build
	$(BUILD)/skiff up --addr $(ADDR) --data-dir $(DATA_DIR)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(CTEST_JOBS) --timeout 900

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(CTEST_JOBS) -L unit

test-integration: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(CTEST_JOBS) -L integration

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DSKIFF_SANITIZE=address,undefined $(CMAKE_FLAGS)

test-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(CTEST_JOBS) --timeout 900

# The binary to deploy: profile-guided (a training run of the gateway path) and link-time
# optimized, in $(RELEASE_BUILD)/skiff. Slower to build than `make build` (two builds).
release: deps
	scripts/release.sh $(RELEASE_BUILD)

bench: release
	@scripts/deps.sh bench
	bench/run.sh $(RELEASE_BUILD)/skiff
	bench/serving.sh $(RELEASE_BUILD)/skiff
	bench/gateway.sh $(RELEASE_BUILD)/skiff
	bench/pipelines.sh $(RELEASE_BUILD)/skiff

format:
	find src tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf build
