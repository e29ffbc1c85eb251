// SPDX-License-Identifier: Apache-2.0
// The alert sinks. Every name that came from a container (path, comm, container
// name) is escaped before it reaches any output; journald fields carry the
// escaped form too, so `journalctl -o cat` can never print a raw control byte.
#include <fcntl.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "layerlock/alert/alerts.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::alert {

using base::escape;
using base::json_escape;

namespace {

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

class JournaldSink final : public Sink {
public:
    void write(const model::DriftEvent& ev) override {
        if (ev.quiet) return;   // expected runtime changes: stored and in JSON lines only
        const std::string msg = message(ev);
        auto f = [](const char* k, const std::string& v) { return std::string(k) + "=" + v; };
        const std::string fields[] = {
            f("MESSAGE", msg),
            f("PRIORITY", std::to_string(model::syslog_priority(ev.severity))),
            f("SYSLOG_IDENTIFIER", "layerlockd"),
            f("LAYERLOCK_KIND", ev.kind),
            f("LAYERLOCK_SEVERITY", std::string(model::to_string(ev.severity))),
            f("LAYERLOCK_ACTION", ev.action),
            f("LAYERLOCK_REASON", escape(ev.reason)),
            f("LAYERLOCK_RUNTIME", std::string(model::to_string(ev.runtime))),
            f("LAYERLOCK_CONTAINER_ID", or_unknown(escape(ev.container_id))),
            f("LAYERLOCK_CONTAINER_NAME", or_unknown(escape(ev.container_name))),
            f("LAYERLOCK_IMAGE", or_unknown(escape(ev.image))),
            f("LAYERLOCK_IMAGE_ID", escape(ev.image_id)),
            f("LAYERLOCK_K8S_POD", escape(ev.k8s_pod)),
            f("LAYERLOCK_K8S_NAMESPACE", escape(ev.k8s_namespace)),
            f("LAYERLOCK_K8S_CONTAINER", escape(ev.k8s_container)),
            f("LAYERLOCK_PATH", escape(ev.path)),
            f("LAYERLOCK_SHA256", escape(ev.sha256)),
            f("LAYERLOCK_PID", std::to_string(ev.pid)),
            f("LAYERLOCK_COMM", escape(ev.comm)),
            f("LAYERLOCK_EXE", escape(ev.exe)),
            f("LAYERLOCK_LOCATION", escape(ev.location)),
            f("LAYERLOCK_MOUNT", escape(ev.mount)),
            f("LAYERLOCK_CMDLINE", escape(ev.cmdline)),
            f("LAYERLOCK_UID", ev.uid >= 0 ? std::to_string(ev.uid) : std::string()),
            f("LAYERLOCK_PROCESS_TREE", escape(ev.process_tree)),
            f("LAYERLOCK_PARENT_COMM", escape(ev.parent_comm)),
            f("LAYERLOCK_UNKNOWN", escape(ev.unknown)),
            f("LAYERLOCK_CHANGE", escape(ev.change)),
            f("LAYERLOCK_PACKAGE", escape(ev.package)),
            f("LAYERLOCK_DETAIL", escape(ev.detail)),
            f("LAYERLOCK_COUNT", ev.count > 1 ? std::to_string(ev.count) : std::string()),
        };
        constexpr std::size_t n = sizeof fields / sizeof fields[0];
        iovec iov[n];
        std::size_t used = 0;
        for (const auto& s : fields) {
            if (s.back() == '=') continue;   // empty optional field
            iov[used++] = {const_cast<char*>(s.data()), s.size()};
        }
        sd_journal_sendv(iov, static_cast<int>(used));
    }
};

class StderrSink final : public Sink {
public:
    void write(const model::DriftEvent& ev) override {
        if (ev.quiet) return;
        std::string line = "layerlockd: " + message(ev) + "\n";
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
    }
};

class JsonLinesSink final : public Sink {
public:
    explicit JsonLinesSink(base::UniqueFd fd) : fd_(std::move(fd)) {}
    void write(const model::DriftEvent& ev) override {
        std::string line = to_json(ev) + "\n";
        [[maybe_unused]] auto n = ::write(fd_.get(), line.data(), line.size());  // O_APPEND: one write per record
    }

private:
    base::UniqueFd fd_;
};

}  // namespace

// key=value pairs: every string that came from a container (or may hold a space)
// is quoted and escaped (base/escape.hpp: no unescaped '"', control byte or
// invalid UTF-8 survives), so no value can end its field or its line; closed
// vocabularies (kind, severity, action, runtime, change), numbers and hex digests
// are written bare.
namespace {
void quoted(std::string& m, std::string_view key, std::string_view value) {
    m += ' ';
    m += key;
    m += "=\"";
    m += escape(value);
    m += '"';
}
void bare(std::string& m, std::string_view key, std::string_view value) {
    m += ' ';
    m += key;
    m += '=';
    m += value;
}
}  // namespace

std::string message(const model::DriftEvent& ev) {
    std::string m = ev.kind + " drift " + ev.action + ":";
    bare(m, "severity", model::to_string(ev.severity));
    quoted(m, "reason", ev.reason);
    bare(m, "runtime", model::to_string(ev.runtime));
    quoted(m, "container", or_unknown(ev.container_name));
    quoted(m, "id", or_unknown(ev.container_id.substr(0, 12)));
    quoted(m, "image", or_unknown(ev.image));
    quoted(m, "path", ev.path);
    bare(m, "pid", std::to_string(ev.pid));
    quoted(m, "comm", ev.comm);
    quoted(m, "parent", ev.parent_comm);
    if (!ev.exe.empty()) quoted(m, "exe", ev.exe);
    if (!ev.location.empty()) quoted(m, "location", ev.location);
    if (!ev.mount.empty()) quoted(m, "mount", ev.mount);
    if (!ev.cmdline.empty()) quoted(m, "cmdline", ev.cmdline);
    if (ev.uid >= 0) bare(m, "uid", std::to_string(ev.uid));
    if (!ev.k8s_pod.empty() || !ev.k8s_namespace.empty() || !ev.k8s_container.empty()) {
        quoted(m, "k8s_namespace", ev.k8s_namespace);
        quoted(m, "k8s_pod", ev.k8s_pod);
        quoted(m, "k8s_container", ev.k8s_container);
    }
    if (!ev.sha256.empty()) quoted(m, "sha256", ev.sha256);
    if (!ev.unknown.empty()) quoted(m, "unknown", ev.unknown);
    if (!ev.change.empty()) quoted(m, "change", ev.change);
    if (!ev.package.empty()) quoted(m, "package", ev.package);
    if (!ev.detail.empty()) quoted(m, "detail", ev.detail);
    if (ev.count > 1) bare(m, "count", std::to_string(ev.count));
    return m;
}

std::string to_json(const model::DriftEvent& ev) {
    auto q = [](const std::string& s) { return "\"" + json_escape(s) + "\""; };
    return "{\"time_us\":" + std::to_string(ev.time_us) + ",\"kind\":" + q(ev.kind) +
           ",\"severity\":" + q(std::string(model::to_string(ev.severity))) + ",\"action\":" + q(ev.action) +
           ",\"reason\":" + q(ev.reason) + ",\"runtime\":" + q(std::string(model::to_string(ev.runtime))) +
           ",\"container_id\":" + q(ev.container_id) + ",\"container_name\":" + q(ev.container_name) +
           ",\"image\":" + q(ev.image) + ",\"image_id\":" + q(ev.image_id) + ",\"k8s_pod\":" + q(ev.k8s_pod) +
           ",\"k8s_namespace\":" + q(ev.k8s_namespace) + ",\"k8s_container\":" + q(ev.k8s_container) +
           ",\"path\":" + q(ev.path) + ",\"sha256\":" + q(ev.sha256) +
           ",\"pid\":" + std::to_string(ev.pid) + ",\"comm\":" + q(ev.comm) +
           ",\"parent_comm\":" + q(ev.parent_comm) + ",\"exe\":" + q(ev.exe) + ",\"location\":" + q(ev.location) +
           ",\"mount\":" + q(ev.mount) + ",\"cmdline\":" + q(ev.cmdline) + ",\"uid\":" + std::to_string(ev.uid) +
           ",\"process_tree\":" + q(ev.process_tree) + ",\"unknown\":" + q(ev.unknown) +
           ",\"change\":" + q(ev.change) + ",\"detail\":" + q(ev.detail) + ",\"package\":" + q(ev.package) + ",\"count\":" + std::to_string(ev.count) +
           ",\"quiet\":" + (ev.quiet ? "true" : "false") + "}";
}

std::unique_ptr<Sink> journald_sink() { return std::make_unique<JournaldSink>(); }
std::unique_ptr<Sink> stderr_sink() { return std::make_unique<StderrSink>(); }

base::Result<std::unique_ptr<Sink>> json_lines_sink(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return base::unexpected(base::Error::from_errno("open " + path));
    return std::unique_ptr<Sink>(std::make_unique<JsonLinesSink>(base::UniqueFd(fd)));
}

}  // namespace layerlock::alert
