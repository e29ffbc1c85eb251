// SPDX-License-Identifier: Apache-2.0
#include "layerlock/base/thread.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>

namespace layerlock::base {

namespace {
constexpr int kBackgroundNice = 10;
}

void name_this_thread(const char* name) {
    char shortened[16] = {};
    std::strncpy(shortened, name, sizeof shortened - 1);
    (void)::pthread_setname_np(::pthread_self(), shortened);
}

bool become_background_thread(const char* name) {
    name_this_thread(name);
    // PRIO_PROCESS with a thread id sets that thread's nice value alone (Linux).
    return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice) == 0;
}

}  // namespace layerlock::base
