// SPDX-License-Identifier: Apache-2.0
// A library an attacker drops into a container: prints a marker when loaded
// (LD_PRELOAD, dlopen) and, built as libll_test_dep.so's stand-in, answers for
// it (LD_LIBRARY_PATH). The code-open gate must keep it from ever loading.
#include <cstdio>

extern "C" const char* ll_test_dep_message() { return "MARKER-hook-as-dep"; }

__attribute__((constructor)) static void announce() { std::fprintf(stdout, "MARKER-hook-loaded\n"); std::fflush(stdout); }
