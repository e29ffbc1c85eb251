// SPDX-License-Identifier: Apache-2.0
// Background baseline builds: layer directories are queued as containers appear
// and imported one layer at a time (each import uses every configured hashing
// thread). A layer already complete costs one query. Never on the gate's path.
//
// A layer whose content has signed records (layerlock baseline import) takes
// them instead of being hashed, and is checked against them: when first used by
// this daemon, then every verify_interval_s (sampled). Each layer processed is
// reported (LayerReport), so that the daemon can tell a container's image trust.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/base/work_queue.hpp"

namespace layerlock::baseline {
class Store;
}

namespace layerlock::daemon {

struct BuilderOptions {
    std::string database;
    unsigned threads = 0;
    std::string verify = "sample";            // "sample" | "full" | "off" (config.hpp BaselineConfig)
    std::chrono::seconds verify_interval{3600};   // 0: only when first used
    std::size_t verify_sample = 64;
};

// What is known of one layer directory once processed (or checked again).
struct LayerReport {
    std::string layer;
    std::string content;        // diff id; empty when the engine's metadata does not tell it
    bool image_layer = true;    // false: an engine's per-container layer (Docker's "-init")
    bool complete = false;      // its records are stored
    std::string signed_by;      // its records are a signed baseline's (key id); empty: hashed on the host
    std::string tampered;       // what differs from the signed records; empty: nothing (or not checked)
    bool checked = false;       // this report follows a check against the signed records
};

class BaselineBuilder {
public:
    using Log = std::function<void(const std::string& layer, bool ok, const std::string& detail)>;
    using Report = std::function<void(const LayerReport&)>;
    BaselineBuilder(BuilderOptions options, Log log, Report report)
        : opts_(std::move(options)), log_(std::move(log)), report_(std::move(report)) {}
    ~BaselineBuilder() { stop(); }
    void start();
    void stop();
    void enqueue(const std::vector<std::string>& layers);
    // Last report of each layer processed so far (a copy).
    std::map<std::string, LayerReport> reports();

private:
    void run();
    void process(baseline::Store& store, const std::string& layer);
    void check_again(baseline::Store& store);
    // Compares the layer with its content's signed records; the differences described, or "".
    std::string verify(baseline::Store& store, const std::string& layer, const std::string& content, bool full);
    void publish(const LayerReport& r);
    void forget(const std::string& layer);
    BuilderOptions opts_;
    Log log_;
    Report report_;
    std::mutex mu_;
    base::WorkQueue<std::string> queue_;   // layers to hash or check
    std::set<std::string> queued_;
    std::map<std::string, LayerReport> reports_;   // guarded by mu_
    std::set<std::string> verified_;               // checked once since start (builder thread only)
    std::thread thread_;
};

}  // namespace layerlock::daemon
