// SPDX-License-Identifier: Apache-2.0
// containerd tasks from their bundle directories: which task a rootfs mount belongs
// to, its CRI annotations (OCI spec, config.json) and its init pid (init.pid, written
// by the shim once runc created the task). Files only: containerd's own record of a
// container (image reference, labels) lives in its bolt database, which is not read
// here; a task started without the CRI image annotation has no image reference.
// Owns no state; the daemon decides when to ask (and how long to wait for init.pid).
#include <climits>
#include <exception>

#include "engine_paths.hpp"
#include "json_fields.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/discovery/engines.hpp"

namespace layerlock::discovery {
namespace {

constexpr std::string_view kTaskDir = "/io.containerd.runtime.v2.task/";
constexpr std::size_t kMaxSpecBytes = 4u << 20;

// CRI annotations (containerd's pkg/cri/annotations).
constexpr std::string_view kSandboxName = "io.kubernetes.cri.sandbox-name";
constexpr std::string_view kSandboxNamespace = "io.kubernetes.cri.sandbox-namespace";
constexpr std::string_view kContainerName = "io.kubernetes.cri.container-name";
constexpr std::string_view kImageName = "io.kubernetes.cri.image-name";

bool is_name(std::string_view s) { return detail::is_plain_name(s); }

EngineContainer from_spec(const detail::json::value& v) {
    EngineContainer c;
    const detail::json::object* ann = detail::object_at(v.if_object(), "annotations");
    c.k8s_pod = detail::string_at(ann, kSandboxName);
    c.k8s_namespace = detail::string_at(ann, kSandboxNamespace);
    c.k8s_container = detail::string_at(ann, kContainerName);
    c.image = detail::string_at(ann, kImageName);
    return c;
}

}  // namespace

std::optional<ContainerdTask> containerd_task(std::string_view mount_point) {
    auto parts = detail::split_marked(mount_point, kTaskDir, "rootfs");
    if (!parts) return std::nullopt;
    std::string_view rest = parts->tail;
    std::string_view dir = mount_point.substr(0, parts->root.size() + kTaskDir.size() + rest.size());
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view ns = rest.substr(0, slash), id = rest.substr(slash + 1);
    if (!is_name(ns) || !is_name(id)) return std::nullopt;
    return ContainerdTask{std::string(ns), std::string(id), std::string(dir)};
}

base::Result<EngineContainer> parse_oci_spec(std::string_view json) {
    try {
        auto v = detail::parse_json(json, "containerd spec");
        if (!v) return base::unexpected(v.error());
        if (!v->is_object()) return base::unexpected(base::Error::plain("containerd spec: not a JSON object"));
        return from_spec(*v);
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(std::string("containerd spec: ") + e.what()));
    }
}

pid_t parse_pid(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (text.empty() || text.size() > 10) return 0;
    long long v = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return 0;
        v = v * 10 + (ch - '0');
    }
    return v > 0 && v <= INT_MAX ? pid_t(v) : 0;
}

base::Result<EngineContainer> read_containerd_task(const ContainerdTask& task) {
    auto spec = base::read_file(task.dir + "/config.json", kMaxSpecBytes);
    if (!spec) return base::unexpected(spec.error());
    auto c = parse_oci_spec(*spec);
    if (!c) return base::unexpected(c.error());
    c->id = task.id;
    c->ns = task.ns;
    c->name = task.id;   // what `ctr containers ls` shows; nerdctl's names live in the bolt DB
    if (auto pid = base::read_file(task.dir + "/init.pid", 64)) c->pid = parse_pid(*pid);
    return c;
}

}  // namespace layerlock::discovery
