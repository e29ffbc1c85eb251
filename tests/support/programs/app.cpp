// SPDX-License-Identifier: Apache-2.0
// A small dynamic program for the code-open gate's tests, shipped in a test image
// with its loader and libc: prints the message of the library it was linked
// against (libll_test_dep.so, found through its RUNPATH, or through
// LD_LIBRARY_PATH first), and with "dlopen PATH" loads a library at run time.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>

extern "C" const char* ll_test_dep_message();

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "dlopen") == 0) {
        void* h = ::dlopen(argv[2], RTLD_NOW);
        if (!h) {
            std::printf("dlopen failed: %s\n", ::dlerror());
            return 3;
        }
        std::printf("dlopen ok\n");
    }
    std::printf("app: %s\n", ll_test_dep_message());
    return 0;
}
