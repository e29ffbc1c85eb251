// SPDX-License-Identifier: Apache-2.0
// doctest entry point shared by every test executable. Privileged test files call
// require_root() first: outside CI a non-root run skips (exit 77, meson's skip
// code); under CI=true it fails, because CI runs as root on a real kernel and a
// skipped privileged test there would hide a regression.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace layerlock::test {

void require_root() {
    if (::geteuid() == 0) return;
    const char* ci = std::getenv("CI");
    if (ci && std::strcmp(ci, "true") == 0) {
        std::fprintf(stderr, "privileged test needs root; CI=true so this is a failure\n");
        std::exit(1);
    }
    std::fprintf(stderr, "privileged test needs root: skipped\n");
    std::exit(77);
}

}  // namespace layerlock::test

int main(int argc, char** argv) {
    doctest::Context ctx;
    ctx.applyCommandLine(argc, argv);
    return ctx.run();
}
