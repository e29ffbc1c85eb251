// SPDX-License-Identifier: Apache-2.0
#include "layerlock/daemon/containers.hpp"

#include <climits>
#include <cstdlib>

#include "layerlock/base/fs.hpp"

namespace layerlock::daemon {
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

}  // namespace

model::Container from_mount(const discovery::OverlayMount& m, model::Runtime rt) {
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
    auto ids = discovery::parse_list(*body);
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

bool Metadata::enrich(model::Container& c) {
    if (c.runtime != model::Runtime::Docker) return false;
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

std::vector<model::Container> scan_containers(const config::Config& cfg, Metadata* meta) {
    std::vector<model::Container> out;
    auto text = base::read_file("/proc/self/mountinfo");
    if (!text) return out;
    for (const auto& m : discovery::parse_mountinfo(*text)) {
        auto rt = discovery::classify(m, cfg.discovery.docker_root);
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

}  // namespace layerlock::daemon
