// SPDX-License-Identifier: Apache-2.0
// Network drift: a listening TCP or UDP socket in a container's network namespace
// that is not in its baseline. The baseline is what the container listened on in
// its first `network.learn_seconds` (stored, with the window's end, in the event
// table's database, so a restart neither forgets nor relearns it) plus what
// [[listen]] declares for its image or name. Each container's sockets are read
// from inside its namespace (sock_diag, process/sockets.hpp), when a new process
// starts in it (the process monitor pokes) and every `network.check_interval_s`;
// a new listener is alerted once, naming the process that owns it. A container in
// the host's network namespace is reported once as such and not checked.
// One background thread, "ll-net". Internal to src/daemon.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/process/sockets.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/gate/exec_gate.hpp"

namespace layerlock::daemon {

class NetworkWatch {
public:
    struct Hooks {
        std::function<std::vector<std::shared_ptr<const gate::GatedContainer>>()> containers;
        std::function<config::NetworkConfig()> config;
        std::function<void(model::DriftEvent)> publish;
        std::string database;
    };
    explicit NetworkWatch(Hooks hooks) : hooks_(std::move(hooks)) {}
    ~NetworkWatch() { stop(); }
    NetworkWatch(const NetworkWatch&) = delete;
    NetworkWatch& operator=(const NetworkWatch&) = delete;

    void start();
    void stop() noexcept;
    // Any thread: look at this container's listeners soon (a new process started).
    void poke(dev_t dev);
    std::uint64_t checks() const { return checks_.load(); }

private:
    using Clock = std::chrono::steady_clock;
    struct State {
        std::string id;                      // engine id the baseline is stored under
        base::UniqueFd diag;                 // sock_diag socket inside its namespace
        std::uint64_t netns = 0;
        std::set<std::string> learned, reported;
        bool learned_loaded = false, host_network_reported = false;
    };
    void run();
    void check(const gate::GatedContainer& c, State& s, const config::NetworkConfig& cfg);
    void alert_host_network(const gate::GatedContainer& c);
    void alert_listener(const gate::GatedContainer& c, const process::Listener& l, const config::NetworkConfig& cfg);

    Hooks hooks_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<dev_t, Clock::time_point> poked_;   // under mu_
    bool stopping_ = false;                      // under mu_
    std::map<dev_t, State> states_;              // the thread's own
    std::thread thread_;
    std::atomic<std::uint64_t> checks_{0};
    std::optional<baseline::EventStore> store_;  // the thread's own connection
};

}  // namespace layerlock::daemon
