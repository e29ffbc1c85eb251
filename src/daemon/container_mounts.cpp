// SPDX-License-Identifier: Apache-2.0
#include "container_mounts.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/base/thread.hpp"

namespace layerlock::daemon {
namespace {

// A process whose root is the container's overlay (for a container whose engine
// did not name its init pid): the lowest pid found, 0 if none.
pid_t find_process_of(dev_t dev) {
    pid_t best = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        struct stat st{};
        if (::stat(("/proc/" + name + "/root").c_str(), &st) != 0 || st.st_dev != dev) continue;
        const pid_t pid = static_cast<pid_t>(std::stol(name));
        if (best == 0 || pid < best) best = pid;
    }
    return best;
}

}  // namespace

void ContainerMounts::start() {
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    thread_ = std::thread([this] {
        base::name_this_thread("ll-mounts");   // normal priority: a new mount is gated at once
        run();
    });
}

void ContainerMounts::stop() noexcept {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof one);
    thread_.join();
}

void ContainerMounts::push(Command c) {
    {
        std::lock_guard lock(mu_);
        commands_.push_back(c);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void ContainerMounts::track(dev_t dev, pid_t pid) { push({Op::Track, dev, pid}); }
void ContainerMounts::forget(dev_t dev) { push({Op::Forget, dev, 0}); }
void ContainerMounts::refresh(dev_t dev) { push({Op::Refresh, dev, 0}); }

void ContainerMounts::run() {
    for (;;) {
        std::vector<pollfd> fds = {{stop_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        std::vector<dev_t> order;
        for (const auto& [dev, t] : tracked_) {
            fds.push_back({t.watcher.fd(), POLLPRI, 0});
            order.push_back(dev);
        }
        if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) {
            log_(true, std::string("mounts: poll: ") + std::strerror(errno) + " (new container mounts are not gated)");
            return;
        }
        if (fds[0].revents) return;
        if (fds[1].revents) {
            std::uint64_t n;
            [[maybe_unused]] auto r = ::read(wake_.get(), &n, sizeof n);
            std::vector<Command> cmds;
            {
                std::lock_guard lock(mu_);
                cmds.swap(commands_);
            }
            for (const auto& c : cmds) apply(c);
        }
        for (std::size_t i = 2; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            auto it = tracked_.find(order[i - 2]);
            if (it != tracked_.end()) sync(it->first, it->second);
        }
    }
}

void ContainerMounts::apply(const Command& c) {
    if (c.op == Op::Forget) {
        if (auto it = tracked_.find(c.dev); it != tracked_.end()) {
            for (const auto& [id, unique] : it->second.marked) registry_.remove_mount(unique);
            marked_ -= std::min(marked_.load(), it->second.marked.size());
            tracked_.erase(it);
        }
        return;
    }
    auto container = registry_.find(c.dev);
    if (!container) return;
    const bool opens = container->code_gate != model::CodeGate::Off;
    auto it = tracked_.find(c.dev);
    if (c.op == Op::Refresh) {
        if (it == tracked_.end() || it->second.opens == opens) return;
        it->second.opens = opens;
        it->second.marked.clear();   // marked again below, with the new mask
        sync(c.dev, it->second);
        return;
    }
    if (it != tracked_.end()) return;   // already followed
    pid_t pid = c.pid ? c.pid : find_process_of(c.dev);
    if (pid == 0 || discovery::mount_namespace_of(pid) == discovery::mount_namespace_of(0)) {
        log_(true, "container overlay=" + container->info.id +
                       ": no process of it found; its tmpfs and volume mounts are not gated");
        return;
    }
    auto watcher = discovery::MountWatcher::open(pid);
    if (!watcher) return;   // exited meanwhile
    auto [pos, added] = tracked_.emplace(c.dev, Tracked{pid, std::move(*watcher), {}, opens});
    sync(c.dev, pos->second);
}

// Marks every code mount of the container not marked yet; forgets those gone.
void ContainerMounts::sync(dev_t dev, Tracked& t) {
    auto table = t.watcher.read();
    if (!table) return;
    auto mounts = discovery::code_mounts(discovery::parse_mount_entries(*table));
    std::map<std::uint64_t, std::uint64_t> still;
    for (const auto& m : mounts) {
        auto known = t.marked.find(m.entry.mount_id);
        if (known != t.marked.end()) {
            still.insert(*known);
            continue;
        }
        if (mark(dev, t, m)) still[m.entry.mount_id] = t.marked[m.entry.mount_id];
    }
    for (const auto& [id, unique] : t.marked)
        if (!still.count(id)) registry_.remove_mount(unique);
    t.marked = std::move(still);
    std::size_t total = 0;
    for (const auto& [d, each] : tracked_) total += each.marked.size();
    marked_ = total;
}

// Through the container's own root: the mount as the container sees it. The
// final component is not followed (a symlink there is not the mount), and the fd's
// mount must be the one the table names (not one stacked over it since).
bool ContainerMounts::mark(dev_t dev, Tracked& t, const discovery::CodeMount& m) {
    const std::string path = "/proc/" + std::to_string(t.pid) + "/root" + m.entry.mount_point;
    base::UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd || base::mount_id_of(fd.get(), false) != m.entry.mount_id) return false;
    const auto unique = base::mount_id_of(fd.get(), true);
    auto container = registry_.find(dev);
    if (!container || unique == 0) return false;
    if (auto r = group_.mark_mount(fd.get(), t.opens); !r) {
        log_(true, "mark mount=\"" + base::escape(m.entry.mount_point) + "\" of overlay=" + container->info.id + ": " +
                       r.error().message());
        return false;
    }
    if (!t.opens) (void)group_.set_mount_opens(fd.get(), false);   // a refresh turned opens off
    auto gm = std::make_shared<gate::GatedMount>(gate::GatedMount{unique, m.entry.mount_point, m.location});
    registry_.put_mount(unique, {container, std::move(gm)});
    t.marked[m.entry.mount_id] = unique;
    log_(false, "gating " + m.location + " mount=\"" + base::escape(m.entry.mount_point) + "\" of overlay=" +
                    container->info.id);
    return true;
}

}  // namespace layerlock::daemon
