// SPDX-License-Identifier: Apache-2.0
// The host's mount namespaces other than the daemon's, found by listing /proc and
// reading each process's /proc/<pid>/ns/mnt link identity (stat: no readlink
// parsing). Used to find overlays an engine mounted in a namespace of its own; the
// tables themselves are read by MountWatcher::open(pid).
#include <dirent.h>
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <string>

#include "layerlock/discovery/mounts.hpp"

namespace layerlock::discovery {

ino_t mount_namespace_of(pid_t pid) {
    std::string path = pid == 0 ? std::string("/proc/self/ns/mnt") : "/proc/" + std::to_string(pid) + "/ns/mnt";
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

namespace {

// `lookup(pid)`: the pid's mount namespace, 0 when it cannot be read.
template <typename Lookup>
std::vector<Namespace> group_by_namespace(ino_t own, Lookup lookup) {
    std::map<ino_t, pid_t> seen;
    DIR* proc = ::opendir("/proc");
    if (!proc) return {};
    while (dirent* d = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(d->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) continue;
        ino_t ns = lookup(static_cast<pid_t>(pid));
        if (ns == 0 || ns == own) continue;  // exited, or a kernel thread
        auto [it, added] = seen.emplace(ns, static_cast<pid_t>(pid));
        if (!added && pid < it->second) it->second = static_cast<pid_t>(pid);
    }
    ::closedir(proc);
    std::vector<Namespace> out;
    out.reserve(seen.size());
    for (const auto& [ns, pid] : seen) out.push_back({ns, pid});
    return out;
}

}  // namespace

std::vector<Namespace> NamespaceLister::list(ino_t own) {
    bool full = listings_++ % full_every_ == 0;
    std::map<pid_t, ino_t> now;
    auto out = group_by_namespace(own, [&](pid_t pid) {
        ino_t ns = 0;
        if (auto it = known_.find(pid); !full && it != known_.end()) ns = it->second;
        else ns = mount_namespace_of(pid);
        now.emplace(pid, ns);
        return ns;
    });
    known_ = std::move(now);  // pids gone since are forgotten
    return out;
}

}  // namespace layerlock::discovery
