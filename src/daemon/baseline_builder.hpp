// SPDX-License-Identifier: Apache-2.0
// Background baseline builds: layer directories are queued as containers appear
// and imported one layer at a time (each import uses every configured hashing
// thread). A layer already complete costs one query. Never on the gate's path.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace layerlock::daemon {

class BaselineBuilder {
public:
    using Log = std::function<void(const std::string& layer, bool ok, const std::string& detail)>;
    BaselineBuilder(std::string database, unsigned threads, Log log)
        : database_(std::move(database)), threads_(threads), log_(std::move(log)) {}
    ~BaselineBuilder() { stop(); }
    void start();
    void stop();
    void enqueue(const std::vector<std::string>& layers);

private:
    void run();
    void forget(const std::string& layer);
    std::string database_;
    unsigned threads_;
    Log log_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> queue_;
    std::set<std::string> queued_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace layerlock::daemon
