// SPDX-License-Identifier: Apache-2.0
#include "layerlock/base/unique_fd.hpp"

#include <unistd.h>

namespace layerlock::base {

void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);  // close() errors are not actionable; the fd is gone either way
    fd_ = fd;
}

}  // namespace layerlock::base
