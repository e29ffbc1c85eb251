// SPDX-License-Identifier: Apache-2.0
#include "layerlock/watch/watcher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "layerlock/base/fs.hpp"

namespace layerlock::watch {
namespace {

constexpr std::uint32_t kMask = IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK;

std::string join(const std::string& dir, const char* name) { return dir + "/" + name; }

}  // namespace

base::Result<UpperWatcher> UpperWatcher::open(std::size_t max_watches_per_container) {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return base::unexpected(base::Error::from_errno("inotify_init1"));
    return UpperWatcher(base::UniqueFd(fd), max_watches_per_container);
}

bool UpperWatcher::watch_one(const std::string& container, const std::string& rel) {
    auto& c = containers_[container];
    if (c.wds.size() >= cap_) {
        if (!c.degraded) batch_.degraded.insert(container);
        c.degraded = true;
        return false;
    }
    // The path is resolved by the kernel from the upper directory; a symlink
    // planted in the container is never followed (IN_DONT_FOLLOW, IN_ONLYDIR).
    std::string full = c.upper + rel;
    int wd = ::inotify_add_watch(fd_.get(), full.c_str(), kMask);
    if (wd < 0) {
        if (errno == ENOSPC) {   // the host's inotify limit: degrade, never fail the daemon
            c.degraded = true;
            batch_.degraded.insert(container);
        }
        return false;
    }
    c.wds.insert(wd);
    dirs_[wd] = {container, rel};
    return true;
}

// Watches `rel` first, then lists it: whatever was created before the watch
// existed is seen by the listing, whatever comes after by the watch.
void UpperWatcher::watch_tree(const std::string& container, const std::string& rel) {
    std::vector<std::string> todo = {rel};
    while (!todo.empty()) {
        std::string dir = std::move(todo.back());
        todo.pop_back();
        if (!watch_one(container, dir)) continue;
        auto root = base::open_dir(containers_[container].upper);
        if (!root) continue;
        auto dfd = base::open_beneath(root->get(), dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
        if (!dfd) continue;
        DIR* d = ::fdopendir(dfd->release());
        if (!d) continue;
        while (dirent* de = ::readdir(d)) {
            if (!std::strcmp(de->d_name, ".") || !std::strcmp(de->d_name, "..")) continue;
            if (!rel.empty()) touch(container, join(dir, de->d_name));   // a new directory's content
            if (de->d_type == DT_DIR) todo.push_back(join(dir, de->d_name));
        }
        ::closedir(d);
    }
}

void UpperWatcher::add(const std::string& container, const std::string& upper_dir) {
    if (containers_.count(container)) return;
    containers_[container].upper = upper_dir;
    watch_tree(container, "");
}

void UpperWatcher::remove(const std::string& container) {
    auto it = containers_.find(container);
    if (it == containers_.end()) return;
    for (int wd : it->second.wds) {
        ::inotify_rm_watch(fd_.get(), wd);
        dirs_.erase(wd);
    }
    containers_.erase(it);
}

void UpperWatcher::touch(const std::string& container, const std::string& path, const std::string& from) {
    // Bounded: a container creating paths faster than a window can hold gets a
    // reconcile scan instead of an ever-growing pending set.
    constexpr std::size_t kMaxPending = 65536;
    auto key = std::make_pair(container, path);
    if (pending_.size() >= kMaxPending && !pending_.count(key)) {
        batch_.reconcile.insert(container);
        return;
    }
    auto& t = pending_[key];
    t.container = container;
    t.path = path;
    ++t.events;
    if (!from.empty()) t.renamed_from = from;
}

void UpperWatcher::read_events() {
    alignas(inotify_event) char buf[65536];
    for (;;) {
        ssize_t len = ::read(fd_.get(), buf, sizeof buf);
        if (len <= 0) return;
        for (char* p = buf; p < buf + len;) {
            auto* ev = reinterpret_cast<inotify_event*>(p);
            p += sizeof(inotify_event) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                batch_.overflow = true;
                for (const auto& [name, c] : containers_) batch_.reconcile.insert(name);
                continue;
            }
            auto it = dirs_.find(ev->wd);
            if (it == dirs_.end()) continue;
            if (ev->mask & IN_IGNORED) {   // the directory went away
                containers_[it->second.container].wds.erase(ev->wd);
                dirs_.erase(it);
                continue;
            }
            if (ev->len == 0) continue;
            const Dir dir = it->second;
            std::string path = join(dir.path, ev->name);
            if (ev->mask & IN_MOVED_FROM) moved_from_[ev->cookie] = {dir.container, path};
            std::string from;
            if (ev->mask & IN_MOVED_TO) {
                if (auto m = moved_from_.find(ev->cookie); m != moved_from_.end()) {
                    from = m->second.second;
                    moved_from_.erase(m);
                }
            }
            touch(dir.container, path, from);
            if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) watch_tree(dir.container, path);
        }
    }
}

WatchBatch UpperWatcher::take() {
    for (auto& [key, t] : pending_) batch_.touched.push_back(std::move(t));
    pending_.clear();
    moved_from_.clear();   // a MOVED_FROM without its MOVED_TO: the path was touched anyway
    for (const auto& name : batch_.degraded) batch_.reconcile.insert(name);
    WatchBatch out = std::move(batch_);
    batch_ = {};
    return out;
}

std::size_t UpperWatcher::watch_count(const std::string& container) const {
    auto it = containers_.find(container);
    return it == containers_.end() ? 0 : it->second.wds.size();
}

}  // namespace layerlock::watch
