// SPDX-License-Identifier: Apache-2.0
#include "permission_event.hpp"

#include "layerlock/gate/exec_gate.hpp"
#include "layerlock/gate/fanotify_group.hpp"

namespace layerlock::gate {

bool PendingExec::respond(model::Action a) noexcept {
    std::lock_guard lock(fd_mu_);
    if (answered_.exchange(true, std::memory_order_acq_rel)) return false;
    if (recent && a == model::Action::Allow) recent->note(pid_, policy::FileKey::of(st));
    if (!FanotifyGroup::respond(group_fd_, fd_.get(), a) && answer_failures)
        answer_failures->fetch_add(1, std::memory_order_relaxed);
    if (latency)
        latency->observe(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - born_).count()));
    return true;
}

void PendingExec::close_fd() noexcept {
    std::lock_guard lock(fd_mu_);
    fd_.reset();
}

}  // namespace layerlock::gate
