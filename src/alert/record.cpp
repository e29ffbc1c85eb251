// SPDX-License-Identifier: Apache-2.0
#include "layerlock/alert/record.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <ctime>

#include "layerlock/base/escape.hpp"

namespace layerlock::alert {
namespace {

namespace json = boost::json;
using base::escape;

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// An exec is gated before the new program runs: the process that will run it is
// named by the executed file (Falco's proc.name), its caller's parent is proc.pname.
bool exec_event(const model::DriftEvent& ev) {
    return ev.change.empty() && (ev.kind == "binary") && ev.reason != "run-by-loader";
}

std::string_view file_name(std::string_view p) {
    auto slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

// "registry.example/app:1.2" -> ("registry.example/app", "1.2"); a digest reference
// ("app@sha256:...") has no tag.
std::pair<std::string, std::string> split_image(const std::string& ref) {
    auto at = ref.find('@');
    std::string name = ref.substr(0, at);
    auto colon = name.rfind(':');
    if (colon != std::string::npos && name.find('/', colon) == std::string::npos)
        return {name.substr(0, colon), name.substr(colon + 1)};
    return {name, ""};
}

void put(json::object& o, const char* key, const std::string& raw) {
    if (!raw.empty()) o[key] = escape(raw);
}

}  // namespace

std::string_view rule_of(const model::DriftEvent& ev) {
    const auto& k = ev.kind;
    if (k == "response") return "layerlock: response action";
    if (!ev.change.empty()) {   // file drift
        if (k == "binary" && ev.change == "metadata") return "Container Drift Detected (chmod)";
        if (k == "binary") return "Container Drift Detected (open+create)";
        if (k == "config" && ev.reason == "sensitive-file") return "Write below etc";
        if (k == "config") return "Write below etc";
        if (k == "package") return "Package database modified in container";
        return "Container file drift";
    }
    if (k == "binary" && ev.reason == "mounted-binary") return "Execution from a volume or tmpfs in container";
    if (k == "binary" && ev.reason == "run-by-loader") return "Dropped binary run by the dynamic loader in container";
    if (k == "binary" && ev.reason == "prohibited") return "Prohibited binary executed in container";
    if (k == "binary") return "Drop and execute new binary in container";
    if (k == "script") return "Execution of a script not in the image";
    if (k == "library") return "Load of a library not in the image";
    if (k == "fileless" && ev.reason == "memfd") return "Fileless execution via memfd_create";
    if (k == "fileless") return "Execution of a deleted executable in container";
    if (k == "shell") return "Run shell untrusted";
    if (k == "package") return "Launch Package Management Process in Container";
    if (k == "network" && ev.reason == "host-network") return "Container in the host network namespace";
    if (k == "network") return "Unexpected listening port in container";
    if (k == "image" && ev.reason == "layer-tampered") return "Container image layer differs from its signed baseline";
    if (k == "image" && ev.reason == "unsigned-baseline") return "Container image without a signed baseline";
    if (k == "image" && ev.reason == "image-digest-changed") return "Container image reference points to another image";
    return "layerlock drift";
}

std::string_view falco_priority(model::Severity s) {
    switch (s) {
        case model::Severity::Critical: return "Critical";
        case model::Severity::High: return "Error";
        case model::Severity::Medium: return "Warning";
        case model::Severity::Low: return "Notice";
        case model::Severity::Info: return "Informational";
    }
    return "Warning";
}

std::vector<std::string> tags_of(const model::DriftEvent& ev) {
    const auto& k = ev.kind;
    std::vector<std::string> t = {"container", "drift", "layerlock"};
    auto add = [&](std::initializer_list<const char*> more) { t.insert(t.end(), more.begin(), more.end()); };
    if (!ev.change.empty()) {
        if (k == "binary") add({"filesystem", "mitre_command_and_control", "T1105", "TA0011"});
        else if (k == "config" && ev.reason == "sensitive-file") add({"filesystem", "mitre_persistence", "T1098", "TA0003"});
        else if (k == "package") add({"software_mgmt", "mitre_persistence", "T1072", "TA0003"});
        else add({"filesystem"});
        return t;
    }
    if (k == "binary") add({"process", "mitre_command_and_control", "T1105", "TA0011"});
    else if (k == "script") add({"process", "mitre_execution", "T1059", "TA0002"});
    else if (k == "library") add({"process", "mitre_defense_evasion", "T1574.006", "TA0005"});
    else if (k == "fileless") add({"process", "mitre_defense_evasion", "T1620", "TA0005"});
    else if (k == "shell") add({"shell", "mitre_execution", "T1059.004", "TA0002"});
    else if (k == "package") add({"software_mgmt", "mitre_persistence", "T1072", "TA0003"});
    else if (k == "network") add({"network", "mitre_command_and_control", "T1571", "TA0011"});
    else if (k == "response") add({"response"});
    else if (k == "image") add({"image", "mitre_persistence", "T1525", "TA0003"});
    return t;
}

std::string rfc3339(std::int64_t ns) {
    std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1'000'000'000));
    return buf;
}

std::vector<std::string> unknowns_of(const model::DriftEvent& ev) {
    std::vector<std::string> out;
    std::string_view rest = ev.unknown;   // "container metadata, sha256"
    while (!rest.empty()) {
        auto comma = rest.find(", ");
        out.emplace_back(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    const bool process_expected = ev.change.empty() && ev.kind != "response" && ev.reason != "host-network";
    if (ev.pid == 0 && process_expected && std::find(out.begin(), out.end(), "process") == out.end())
        out.emplace_back("process");
    return out;
}

boost::json::object record(const model::DriftEvent& ev, const std::string& hostname) {
    json::object o;
    o["time"] = rfc3339(ev.time_ns ? ev.time_ns : ev.time_us * 1000);
    if (!hostname.empty()) o["hostname"] = escape(hostname);
    o["kind"] = ev.kind;
    o["severity"] = std::string(model::to_string(ev.severity));
    o["action"] = ev.action;
    put(o, "reason", ev.reason);
    o["rule"] = std::string(rule_of(ev));
    json::array tags;
    for (auto& t : tags_of(ev)) tags.emplace_back(t);
    o["tags"] = std::move(tags);
    o["runtime"] = std::string(model::to_string(ev.runtime));
    put(o, "container_id", ev.container_id);
    put(o, "container_name", ev.container_name);
    put(o, "image", ev.image);
    put(o, "image_id", ev.image_id);
    put(o, "k8s_namespace", ev.k8s_namespace);
    put(o, "k8s_pod", ev.k8s_pod);
    put(o, "k8s_container", ev.k8s_container);
    put(o, "path", ev.path);
    put(o, "location", ev.location);
    put(o, "mount", ev.mount);
    put(o, "sha256", ev.sha256);
    put(o, "change", ev.change);
    put(o, "detail", ev.detail);
    put(o, "package", ev.package);
    o["count"] = ev.count;
    if (ev.last_ns) o["last_time"] = rfc3339(ev.last_ns);
    if (ev.quiet) o["quiet"] = true;
    if (ev.pid > 0) o["pid"] = ev.pid;
    if (ev.ppid > 0) o["ppid"] = ev.ppid;
    put(o, "comm", ev.comm);
    put(o, "exe", ev.exe);
    put(o, "cmdline", ev.cmdline);
    if (ev.uid >= 0) o["uid"] = ev.uid;
    put(o, "user", ev.user);
    put(o, "parent_comm", ev.parent_comm);
    put(o, "process_tree", ev.process_tree);
    json::array unknown;
    for (auto& u : unknowns_of(ev)) unknown.emplace_back(u);
    if (!unknown.empty()) o["unknown"] = std::move(unknown);
    return o;
}

boost::json::object falco_record(const model::DriftEvent& ev, const std::string& hostname) {
    json::object f;
    auto put_f = [&](const char* key, const std::string& raw) {
        if (!raw.empty()) f[key] = escape(raw);
    };
    put_f("container.id", ev.container_id.substr(0, 12));
    put_f("container.full_id", ev.container_id);
    put_f("container.name", ev.container_name);
    const auto [repo, tag] = split_image(ev.image);
    put_f("container.image.repository", repo);
    put_f("container.image.tag", tag);
    if (starts(ev.image_id, "sha256:")) put_f("container.image.digest", ev.image_id);
    put_f("container.image", ev.image);
    if (exec_event(ev)) {
        put_f("proc.name", std::string(file_name(ev.path)).substr(0, 15));
        put_f("proc.exepath", ev.path);
        put_f("proc.pname", ev.parent_comm.empty() ? ev.comm : ev.parent_comm);
    } else {
        put_f("proc.name", ev.comm);
        put_f("proc.exepath", ev.exe);
        put_f("proc.cmdline", ev.cmdline);
        put_f("proc.pname", ev.parent_comm);
    }
    if (ev.pid > 0) f["proc.pid"] = ev.pid;
    if (ev.ppid > 0) f["proc.ppid"] = ev.ppid;
    if (ev.uid >= 0) f["user.uid"] = ev.uid;
    put_f("user.name", ev.user);
    put_f("fd.name", ev.path);
    put_f("k8s.ns.name", ev.k8s_namespace);
    put_f("k8s.pod.name", ev.k8s_pod);
    put_f("layerlock.kind", ev.kind);
    put_f("layerlock.action", ev.action);
    put_f("layerlock.severity", std::string(model::to_string(ev.severity)));
    put_f("layerlock.reason", ev.reason);
    put_f("layerlock.sha256", ev.sha256);
    put_f("layerlock.change", ev.change);
    put_f("layerlock.package", ev.package);
    put_f("layerlock.location", ev.location);
    put_f("layerlock.detail", ev.detail);
    put_f("layerlock.runtime", std::string(model::to_string(ev.runtime)));
    if (ev.count > 1) f["layerlock.count"] = ev.count;
    if (ev.last_ns) f["layerlock.last_time"] = rfc3339(ev.last_ns);
    json::object o;
    o["time"] = rfc3339(ev.time_ns ? ev.time_ns : ev.time_us * 1000);
    o["rule"] = std::string(rule_of(ev));
    o["priority"] = std::string(falco_priority(ev.severity));
    std::string output = std::string(rule_of(ev)) + " (";
    bool first = true;
    for (const auto& [k, v] : f) {
        if (!v.is_string()) continue;
        output += (first ? "" : " ") + std::string(k) + "=" + std::string(v.as_string());
        first = false;
    }
    o["output"] = output + ")";
    o["output_fields"] = std::move(f);
    o["source"] = "layerlock";
    json::array tags;
    for (auto& t : tags_of(ev)) tags.emplace_back(t);
    o["tags"] = std::move(tags);
    if (!hostname.empty()) o["hostname"] = escape(hostname);
    return o;
}

const std::string& host_name() {
    static const std::string name = [] {
        char buf[256] = {};
        return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string();
    }();
    return name;
}

}  // namespace layerlock::alert
