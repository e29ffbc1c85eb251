// SPDX-License-Identifier: Apache-2.0
// The daemon's threads by role. The gate's reader and workers stand between a
// process and its execve(): they keep the normal priority. Everything else that
// can take a CPU for long (alert sinks, file drift, baseline builds, engine
// metadata) runs as background work, so on a busy 2-vCPU host it yields to the
// execs the gate has just answered and to the containers' own processes.
#pragma once

namespace layerlock::base {

// Names the calling thread (at most 15 bytes are kept): `top -H`, `ps -L`, perf.
void name_this_thread(const char* name);

// Names the calling thread and lowers its CPU priority to nice +10 (threads it
// creates inherit that). False when the kernel or a seccomp filter refused it;
// the thread then simply runs at normal priority.
bool become_background_thread(const char* name);

}  // namespace layerlock::base
