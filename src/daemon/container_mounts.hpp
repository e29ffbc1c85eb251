// SPDX-License-Identifier: Apache-2.0
// The mounts of each gated container other than its root overlay: its tmpfs
// mounts (/dev, /dev/shm, --tmpfs, Kubernetes emptyDir of medium Memory) and its
// volumes (bind mounts of host directories and files, named volumes). Their
// content is never the image's, so the gate asks about execs and code opens on
// them too. Their superblocks may be the host's own (a bind-mounted host
// directory, /etc/hosts from the engine's directory), so they never get a
// filesystem mark: each gets a *mount* mark on the container's own view of it,
// reached through /proc/<pid>/root of a process of the container, so the host's
// access to the same files is never asked about.
//
// Each tracked container's mount table (/proc/<pid>/mountinfo) is followed as it
// changes (poll POLLPRI, on its own thread "ll-mounts": volumes mounted after
// start, `docker cp`, Kubernetes volume mounts). Found mounts are published in the
// registry (by unique mount id) for the gate's reader. Internal to src/daemon.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/discovery/mounts.hpp"
#include "layerlock/gate/fanotify_group.hpp"
#include "layerlock/registry/registry.hpp"

namespace layerlock::daemon {

class ContainerMounts {
public:
    using Log = std::function<void(bool warning, const std::string& line)>;
    ContainerMounts(gate::FanotifyGroup& group, registry::Registry& registry, Log log)
        : group_(group), registry_(registry), log_(std::move(log)) {}
    ~ContainerMounts() { stop(); }
    ContainerMounts(const ContainerMounts&) = delete;
    ContainerMounts& operator=(const ContainerMounts&) = delete;

    void start();
    void stop() noexcept;
    // Any thread. Follows the mounts of the container at `dev` through process
    // `pid` (0: a process of it is looked for in /proc).
    void track(dev_t dev, pid_t pid);
    void forget(dev_t dev);
    // The container's code gate changed: its mount marks ask for opens or not.
    void refresh(dev_t dev);
    std::size_t marked() const { return marked_.load(); }

private:
    struct Tracked {
        pid_t pid = 0;
        discovery::MountWatcher watcher;
        std::map<std::uint64_t, std::uint64_t> marked;   // mountinfo id -> unique id
        bool opens = false;
    };
    enum class Op { Track, Forget, Refresh };
    struct Command {
        Op op;
        dev_t dev;
        pid_t pid;
    };
    void run();
    void push(Command c);
    void apply(const Command& c);
    void sync(dev_t dev, Tracked& t);
    bool mark(dev_t dev, Tracked& t, const discovery::CodeMount& m);

    gate::FanotifyGroup& group_;
    registry::Registry& registry_;
    Log log_;
    std::map<dev_t, Tracked> tracked_;   // the thread's own
    std::mutex mu_;
    std::vector<Command> commands_;
    base::UniqueFd wake_, stop_;
    std::thread thread_;
    std::atomic<std::size_t> marked_{0};
};

}  // namespace layerlock::daemon
