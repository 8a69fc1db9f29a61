# nicvisor: the two commands are `make demo` and `make check`.
# Everything else is meson and ninja; this file only sequences them.

BUILD ?= build
MESON_OPTS ?= --buildtype=debugoptimized

.PHONY: all deps build check demo images bench-boot bench-net bench-blk format clean

all: build

deps:
	@./tools/deps.sh

$(BUILD)/build.ninja:
	CC=clang meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

images: build
	ninja -C $(BUILD) images

check: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 1 || \
		{ ./tools/test-failures.py $(BUILD); exit 1; }

demo: build
	./tools/demo/demo.sh $(BUILD)

bench-boot: build
	./tools/bench/boot/bench_boot.py --build $(BUILD)

bench-net: build
	./tools/deps.sh bench
	./tools/bench/net/bench_net.py --build $(BUILD)

bench-blk: build
	./tools/bench/blk/bench_blk.py --build $(BUILD)

format:
	./tools/check-style.sh --fix

clean:
	rm -rf $(BUILD)
