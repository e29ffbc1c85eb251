// SPDX-License-Identifier: Apache-2.0
// Verbs that talk to the running daemon over its control socket: status, reload,
// mode. The socket path comes from the configuration (--config). Exit status:
// 0 done, 1 the daemon refused (e.g. invalid configuration on reload), 2 the
// daemon could not be reached, the caller is not root, or the daemon answered
// "not-found" (no gated container of that name). With --json the daemon's answer
// is printed as one JSON object, whatever it says.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>

#include "layerlock/base/escape.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/control/control.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace json = boost::json;

namespace {

// Sends one request; prints the failure and returns nullopt when there is no answer.
std::optional<json::object> ask(const Options& o, const json::object& request) {
    if (::geteuid() != 0) {
        error("must be run as root to talk to layerlockd (its control socket is root-only)");
        return std::nullopt;
    }
    auto cfg = load_config(o);
    if (!cfg) return std::nullopt;
    auto reply = control::control_request(cfg->daemon.control_socket, json::serialize(request));
    if (!reply) {
        error(reply.error().message());
        return std::nullopt;
    }
    boost::system::error_code ec;
    auto v = json::parse(*reply, ec);
    if (ec || !v.is_object()) {
        error("unreadable answer from layerlockd");
        return std::nullopt;
    }
    return v.as_object();
}

// kOk when the daemon did it; otherwise prints why and says which exit status it is.
int outcome(const json::object& r) {
    if (r.contains("ok") && r.at("ok").is_bool() && r.at("ok").as_bool()) return kOk;
    auto it = r.find("error");
    error(it != r.end() && it->value().is_string() ? std::string(it->value().as_string()) : "refused");
    auto code = r.find("code");
    const bool not_found = code != r.end() && code->value().is_string() && code->value().as_string() == "not-found";
    return not_found ? kFailure : kNegative;
}

// Prints the answer as JSON (with --json) and returns the exit status.
int answered(const Options& o, const json::object& r) {
    if (o.json) std::printf("%s\n", json::serialize(r).c_str());
    return outcome(r);
}

std::string text(const json::value& v) {
    if (v.is_string()) return std::string(v.as_string());
    return json::serialize(v);
}

void print_status(const json::object& s) {
    std::printf("layerlockd %s  pid %s  mode %s  on_error %s  up %ss\n", text(s.at("version")).c_str(),
                text(s.at("pid")).c_str(), text(s.at("mode")).c_str(), text(s.at("on_error")).c_str(),
                text(s.at("uptime_seconds")).c_str());
    const auto& containers = s.at("containers").as_array();
    std::printf("\n%zu container(s) gated, %s tmpfs/volume mount(s)\n", containers.size(),
                text(s.at("gated_mounts")).c_str());
    std::printf("  %-10s %-14s %-24s %-32s %-8s %-6s %s\n", "RUNTIME", "ID", "NAME", "IMAGE", "MODE", "CODE", "BASELINE");
    for (const auto& cv : containers) {
        const auto& c = cv.as_object();
        std::printf("  %-10s %-14s %-24s %-32s %-8s %-6s %s\n", text(c.at("runtime")).c_str(),
                    text(c.at("id")).substr(0, 12).c_str(), text(c.at("name")).c_str(), text(c.at("image")).c_str(),
                    text(c.at("mode")).c_str(), text(c.at("code_gate")).c_str(), text(c.at("baseline")).c_str());
    }
    std::printf("\ncounters\n");
    for (const auto& [k, v] : s.at("counters").as_object())
        std::printf("  %-22s %s\n", std::string(k).c_str(), text(v).c_str());
    const auto& b = s.at("baseline").as_object();
    std::printf("\nbaseline %s: %s layers, %s files\n", text(b.at("database")).c_str(),
                text(b.at("layers")).c_str(), text(b.at("files")).c_str());
}

}  // namespace

int status(const Options& o) {
    auto r = ask(o, {{"verb", "status"}});
    if (!r) return kFailure;
    if (int rc = answered(o, *r); rc != kOk || o.json) return rc;
    print_status(*r);
    return kOk;
}

int reload(const Options& o) {
    auto r = ask(o, {{"verb", "reload"}});
    if (!r) return kFailure;
    if (int rc = answered(o, *r); rc != kOk || o.json) return rc;
    std::printf("configuration reloaded from %s\n", text(r->at("config")).c_str());
    return kOk;
}

int mode(const Options& o) {
    auto r = ask(o, {{"verb", "mode"}, {"container", o.container}, {"mode", o.mode}});
    if (!r) return kFailure;
    if (int rc = answered(o, *r); rc != kOk || o.json) return rc;
    std::printf("container %s: mode %s%s\n", base::escape(o.container).c_str(), text(r->at("mode")).c_str(),
                o.mode == "clear" ? " (override cleared)" : " (live override, survives reload)");
    return kOk;
}

}  // namespace layerlock::cli

namespace layerlock::cli {

int thaw(const Options& o) {
    auto r = ask(o, {{"verb", "thaw"}, {"container", o.container}});
    if (!r) return kFailure;
    if (int rc = answered(o, *r); rc != kOk || o.json) return rc;
    std::printf("container %s: thawed\n", base::escape(o.container).c_str());
    return kOk;
}

}  // namespace layerlock::cli
