// SPDX-License-Identifier: Apache-2.0
// Verbs that talk to the running daemon over its control socket: status, reload,
// mode. The socket path comes from the configuration (--config). Exit status:
// 0 done, 1 the daemon refused (e.g. invalid configuration on reload), 2 the
// daemon could not be reached or the caller is not root.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>

#include "layerlock/base/escape.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/daemon/control.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace json = boost::json;

namespace {

// Sends one request; prints the failure and returns nullopt when there is no answer.
std::optional<json::object> ask(const Options& o, const json::object& request) {
    if (::geteuid() != 0) {
        std::fprintf(stderr, "layerlock: must be run as root to talk to layerlockd (its control socket is root-only)\n");
        return std::nullopt;
    }
    auto cfg = load_config(o);
    if (!cfg) return std::nullopt;
    auto reply = daemon::control_request(cfg->daemon.control_socket, json::serialize(request));
    if (!reply) {
        std::fprintf(stderr, "layerlock: %s\n", reply.error().message().c_str());
        return std::nullopt;
    }
    boost::system::error_code ec;
    auto v = json::parse(*reply, ec);
    if (ec || !v.is_object()) {
        std::fprintf(stderr, "layerlock: unreadable answer from layerlockd\n");
        return std::nullopt;
    }
    return v.as_object();
}

bool refused(const json::object& r) {
    if (r.contains("ok") && r.at("ok").is_bool() && r.at("ok").as_bool()) return false;
    auto it = r.find("error");
    std::fprintf(stderr, "layerlock: %s\n",
                 it != r.end() && it->value().is_string() ? it->value().as_string().c_str() : "refused");
    return true;
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
    std::printf("\n%zu container(s) gated\n", containers.size());
    std::printf("  %-10s %-14s %-24s %-32s %-8s %s\n", "RUNTIME", "ID", "NAME", "IMAGE", "MODE", "BASELINE");
    for (const auto& cv : containers) {
        const auto& c = cv.as_object();
        std::printf("  %-10s %-14s %-24s %-32s %-8s %s\n", text(c.at("runtime")).c_str(),
                    text(c.at("id")).substr(0, 12).c_str(), text(c.at("name")).c_str(), text(c.at("image")).c_str(),
                    text(c.at("mode")).c_str(), text(c.at("baseline")).c_str());
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
    if (!r) return 2;
    if (refused(*r)) return 1;
    if (o.json) std::printf("%s\n", json::serialize(*r).c_str());
    else print_status(*r);
    return 0;
}

int reload(const Options& o) {
    auto r = ask(o, {{"verb", "reload"}});
    if (!r) return 2;
    if (refused(*r)) return 1;
    std::printf("configuration reloaded\n");
    return 0;
}

int mode(const Options& o) {
    auto r = ask(o, {{"verb", "mode"}, {"container", o.container}, {"mode", o.mode}});
    if (!r) return 2;
    if (refused(*r)) return 1;
    std::printf("container %s: mode %s%s\n", base::escape(o.container).c_str(), text(r->at("mode")).c_str(),
                o.mode == "clear" ? " (override cleared)" : " (live override, survives reload)");
    return 0;
}

}  // namespace layerlock::cli
