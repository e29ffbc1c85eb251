// SPDX-License-Identifier: Apache-2.0
// Verbs of the response actions: `layerlock quarantine list|export`, `layerlock
// forensics list` (offline: they read the state directory next to the database)
// and `layerlock thaw NAME` (asks the daemon, which froze the container).
#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "layerlock/base/escape.hpp"
#include "layerlock/response/bundle.hpp"
#include "layerlock/response/quarantine.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string state_dir(const config::Config& c) { return fs::path(c.baseline.database).parent_path().string(); }

std::string time_text(std::int64_t us) {
    std::time_t t = us / 1'000'000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

int quarantine_list(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    response::Quarantine q(state_dir(*cfg) + "/quarantine", cfg->response.quarantine_max_bytes);
    auto samples = q.list();
    if (o.json) {
        json::array out;
        for (const auto& s : samples)
            out.push_back(json::object{{"sha256", s.sha256}, {"size", s.size}, {"time_us", s.time_us},
                                       {"container_id", s.container_id}, {"container_name", s.container_name},
                                       {"image", s.image}, {"path", s.path}, {"kind", s.kind}});
        std::printf("%s\n", json::serialize(out).c_str());
        return kOk;
    }
    if (samples.empty()) std::printf("no samples\n");
    for (const auto& s : samples)   // sidecar values are stored escaped already
        std::printf("%s %s %10llu %-8s %-20s %s\n", time_text(s.time_us).c_str(), s.sha256.c_str(),
                    static_cast<unsigned long long>(s.size), s.kind.c_str(), s.container_name.c_str(), s.path.c_str());
    return kOk;
}

int quarantine_export(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    response::Quarantine q(state_dir(*cfg) + "/quarantine", cfg->response.quarantine_max_bytes);
    if (auto r = q.export_to(o.sha256, o.dest); !r) {
        error(r.error().message());
        return kFailure;
    }
    if (o.json)
        std::printf("%s\n", json::serialize(json::object{{"sha256", o.sha256}, {"dest", base::escape(o.dest)}}).c_str());
    else
        std::printf("%s -> %s\n", base::escape(o.sha256).c_str(), base::escape(o.dest).c_str());
    return kOk;
}

int forensics_list(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    std::vector<fs::path> bundles;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state_dir(*cfg) + "/forensics", ec))
        if (e.path().extension() == ".tar") bundles.push_back(e.path());
    std::sort(bundles.begin(), bundles.end());
    json::array out;
    for (const auto& b : bundles) {
        auto entries = response::bundle_entries(b.string());
        if (o.json) {
            json::array names;
            if (entries)
                for (const auto& n : *entries) names.push_back(json::string(base::escape(n)));
            out.push_back(json::object{{"bundle", base::escape(b.string())}, {"entries", std::move(names)}});
            continue;
        }
        std::printf("%s\n", base::escape(b.string()).c_str());
        if (entries)
            for (const auto& n : *entries) std::printf("  %s\n", base::escape(n).c_str());
    }
    if (o.json) std::printf("%s\n", json::serialize(out).c_str());
    else if (bundles.empty()) std::printf("no forensics bundles\n");
    return kOk;
}

}  // namespace layerlock::cli
