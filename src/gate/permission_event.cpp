// SPDX-License-Identifier: Apache-2.0
#include "permission_event.hpp"

#include "layerlock/gate/fanotify_group.hpp"

namespace layerlock::gate {

bool PendingExec::respond(model::Action a) noexcept {
    if (answered_.exchange(true, std::memory_order_acq_rel)) return false;
    FanotifyGroup::respond(group_fd_, fd_.get(), a);
    return true;
}

}  // namespace layerlock::gate
