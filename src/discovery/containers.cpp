// SPDX-License-Identifier: Apache-2.0
// Containers from the mount table, named by their engine: Docker through its Engine
// API (cached by merged dir), containerd and Podman through the state files that
// containerd.cpp and podman.cpp parse. No parsing here, only the choice of
// source and the bounded wait for an init pid; the gate never waits on any of it.
#include "layerlock/discovery/containers.hpp"

#include <climits>
#include <cstdlib>
#include <thread>

#include "layerlock/base/fs.hpp"
#include "layerlock/discovery/engines.hpp"

namespace layerlock::discovery {
namespace {

std::string real_path(const std::string& p) {
    char buf[PATH_MAX];
    if (::realpath(p.c_str(), buf)) return buf;
    return p;
}

std::string dir_name_before(const std::string& path, const std::string& leaf) {
    // ".../overlay2/<id>/merged" → "<id>"
    auto end = path.size() - leaf.size() - 1;
    auto slash = path.rfind('/', end - 1);
    return path.substr(slash + 1, end - slash - 1);
}

// Podman's run root for root (containers-storage.conf "runroot"), where its pidfiles live.
constexpr std::string_view kPodmanRunRoot = "/run/containers/storage";

// Reads an engine's files until they name the init pid or kPidWait has passed:
// containerd and Podman mount the root filesystem before runc creates the process.
template <typename Read>
base::Result<EngineContainer> read_with_pid(Read read) {
    auto deadline = std::chrono::steady_clock::now() + Metadata::kPidWait;
    for (;;) {
        auto r = read();
        if (!r || r->pid != 0 || std::chrono::steady_clock::now() >= deadline) return r;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool apply(model::Container& c, base::Result<EngineContainer> e) {
    if (!e) return false;
    c.id = std::move(e->id);
    c.name = std::move(e->name);
    c.image = std::move(e->image);
    c.image_id = std::move(e->image_id);
    c.pid = e->pid;
    c.engine_namespace = std::move(e->ns);
    c.k8s_pod = std::move(e->k8s_pod);
    c.k8s_namespace = std::move(e->k8s_namespace);
    c.k8s_container = std::move(e->k8s_container);
    if (e->cri_o) c.runtime = model::Runtime::CriO;  // same storage layout as Podman, another engine
    c.metadata_known = true;
    return true;
}

}  // namespace

model::Container from_mount(const OverlayMount& m, model::Runtime rt) {
    model::Container c;
    c.runtime = rt;
    c.mount_point = m.mount_point;
    c.mount_id = m.mount_id;
    c.dev = m.dev;
    for (const auto& l : m.lowers) c.lowers.push_back(real_path(l));
    c.upper = real_path(m.upper);
    if (m.mount_point.ends_with("/merged")) c.id = dir_name_before(m.mount_point, "merged");
    else if (m.mount_point.ends_with("/rootfs")) c.id = dir_name_before(m.mount_point, "rootfs");
    return c;
}

bool Metadata::refresh_docker() {
    auto body = docker_.get("/containers/json?all=1");
    if (!body) return false;
    auto ids = parse_list(*body);
    if (!ids) return false;
    for (const auto& id : *ids) {
        if (inspected_.count(id)) continue;
        auto info = docker_.inspect(id);
        if (!info) continue;
        if (!info->merged_dir.empty()) {
            inspected_[id] = true;
            by_merged_[info->merged_dir] = std::move(*info);
        }
    }
    return true;
}

bool Metadata::enrich_docker(model::Container& c) {
    std::lock_guard lock(mu_);
    auto it = by_merged_.find(c.mount_point);
    if (it == by_merged_.end() || it->second.pid == 0) {
        if (!refresh_docker()) return false;
        // A container's state changes (created → running): inspect it again.
        for (auto& [merged, info] : by_merged_)
            if (merged == c.mount_point)
                if (auto fresh = docker_.inspect(info.id)) info = std::move(*fresh);
        it = by_merged_.find(c.mount_point);
        if (it == by_merged_.end()) return false;
    }
    const auto& d = it->second;
    c.id = d.id;
    c.name = d.name;
    c.image = d.image;
    c.image_id = d.image_id;
    c.pid = d.pid;
    c.metadata_known = true;
    return true;
}

// The task's files first (id, pid, CRI annotations); the image reference and its
// digest, which only containerd's database holds, from its API. The engine being
// down leaves them unknown (the alert says so), nothing else.
bool Metadata::enrich_containerd(model::Container& c) {
    auto task = containerd_task(c.mount_point);
    if (!task || !apply(c, read_with_pid([&] { return read_containerd_task(*task); }))) return false;
    std::string socket = containerd_socket_for(task->dir);
    if (socket.empty()) return true;
    if (c.image.empty()) {
        if (auto img = containerd_.image_of(socket, task->ns, task->id)) {
            c.image = img->reference;
            c.image_id = img->digest;
        }
    } else if (c.image_id.empty()) {
        if (auto digest = containerd_.image_digest(socket, task->ns, c.image)) c.image_id = *digest;
    }
    return true;
}

bool Metadata::enrich(model::Container& c) {
    switch (c.runtime) {
        case model::Runtime::Docker: return enrich_docker(c);
        case model::Runtime::Containerd: return enrich_containerd(c);
        case model::Runtime::Podman:
        case model::Runtime::CriO: {
            auto layer = storage_layer(c.mount_point);
            return layer && apply(c, read_with_pid([&] {
                       return read_storage_container(*layer, std::string(kPodmanRunRoot));
                   }));
        }
        default: return false;
    }
}

std::vector<model::Container> scan_containers(const config::Config& cfg, Metadata* meta) {
    std::vector<model::Container> out;
    auto text = base::read_file("/proc/self/mountinfo");
    if (!text) return out;
    for (const auto& m : parse_mountinfo(*text)) {
        auto rt = classify(m, cfg.discovery.docker_root);
        if (rt == model::Runtime::Unknown) continue;
        auto c = from_mount(m, rt);
        if (meta) meta->enrich(c);
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<model::Container> select_containers(const std::vector<model::Container>& all,
                                                const std::vector<std::string>& wanted,
                                                std::vector<std::string>* missing) {
    std::vector<model::Container> out;
    for (const auto& w : wanted) {
        bool found = false;
        for (const auto& c : all) {
            bool match = c.name == w || c.id == w || (w.size() >= 4 && c.id.rfind(w, 0) == 0);
            if (match) { out.push_back(c); found = true; break; }
        }
        if (!found && missing) missing->push_back(w);
    }
    return out;
}

}  // namespace layerlock::discovery
