# Thin wrapper over meson/ninja for the README's commands.
#   make run    install what is missing, build, run the demo (wrap + sample policy)
#   make test   install what is missing, build (plain and ASan+UBSan), run every test
#   make bench  build optimised and run the benchmarks in bench/
.PHONY: all build run test bench lint fuzz clean

BUILD ?= build

all: build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized -Dwerror=true

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

run:
	@scripts/install-deps.sh build
	@$(MAKE) --no-print-directory build >/dev/null
	@scripts/demo.sh $(BUILD)/mcpwall

test:
	@scripts/test.sh

bench:
	@scripts/install-deps.sh bench
	@scripts/bench.sh

lint:
	@scripts/lint.sh

fuzz:
	@scripts/fuzz.sh

clean:
	rm -rf build build-asan build-release build-fuzz
