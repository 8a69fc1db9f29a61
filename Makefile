# nicvisor: the two commands are `make demo` and `make check`.
# Everything else is meson and ninja; this file only sequences them.

BUILD ?= build
MESON_OPTS ?= --buildtype=debugoptimized
# The aarch64 cross build (tools/cross/); `make check` builds and tests it here too.
CROSS_BUILD ?= $(BUILD)/arm64

.PHONY: all deps deps-cross deps-pkg build cross-arm64 deb check demo images bench-boot bench-net \
	bench-switch bench-blk bench-api bench-restart format clean

all: build

deps:
	@./tools/deps.sh

$(BUILD)/build.ninja:
	CC=clang meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps-cross:
	@./tools/deps.sh cross

# Every program and unit test for aarch64 (Debian's :arm64 packages).
cross-arm64: deps-cross
	./tools/cross/arm64.sh build $(CROSS_BUILD)

deps-pkg:
	@./tools/deps.sh pkg

# Debian packages of both builds (amd64 and arm64) in $(BUILD)/deb.
deb: deps-pkg build cross-arm64
	./tools/pkg/build-deb.sh $(BUILD) $(BUILD)/deb
	./tools/pkg/build-deb.sh $(CROSS_BUILD) $(BUILD)/deb

images: build
	ninja -C $(BUILD) images

check: deps-cross deps-pkg build
	meson test -C $(BUILD) --print-errorlogs --num-processes 1 || \
		./tools/test-failures.py $(BUILD) --rerun nested

demo: build
	./tools/demo/demo.sh $(BUILD)

bench-boot: build
	./tools/bench/boot/bench_boot.py --build $(BUILD)

bench-net: build
	./tools/deps.sh bench
	./tools/bench/net/bench_net.py --build $(BUILD)

# BENCH_ARGS=--quick: one short round, to try it out.
bench-switch: build
	./tools/deps.sh bench
	./tools/bench/switch/bench_switch.py --build $(BUILD) $(BENCH_ARGS)

bench-blk: build
	./tools/bench/blk/bench_blk.py --build $(BUILD)

# The peer is ovsdb-server (openvswitch-common).
bench-api: build
	./tools/deps.sh bench
	./tools/bench/api/bench_api.py --build $(BUILD) $(BENCH_ARGS)

# The gap guests see while the switch restarts (ours and OVS-DPDK).
bench-restart: build
	./tools/bench/restart/bench_restart.py --build $(BUILD) $(BENCH_ARGS)

format:
	./tools/check-style.sh --fix

clean:
	rm -rf $(BUILD)
