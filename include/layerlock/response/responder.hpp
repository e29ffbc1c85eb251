// SPDX-License-Identifier: Apache-2.0
// Response actions — Detect, Isolate, Evict — taken when an alert matches a
// [[response]] block (kind glob, minimum severity, the container's mode, image and
// container globs; the first block that matches decides):
//   kill        SIGKILL the offending process (if it is still the container's)
//   freeze      freeze the container's cgroup (as docker pause); `layerlock thaw` undoes it
//   stop        stop the container through its engine (Docker's API; others: SIGKILL to its init)
//   quarantine  keep a copy of the drifted file (quarantine.hpp), taken by the gate from the
//               event's own fd before the alert is even queued, so deleting it cannot save it
//   forensics   a tar bundle: the alert, the container's processes (cmdlines, environments),
//               its listeners and connections, its writable layer's drift (as docker diff),
//               the quarantined sample, the engine's inspect output
// Each action is published as its own event (kind "response", action = the verb,
// detail = its outcome). The responder is an alert sink: matching runs on the alert
// thread, the actions on their own bounded queue and thread ("ll-response"), so a
// slow engine never delays an alert. Nothing here runs on the gate's path.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "layerlock/alert/alerts.hpp"
#include "layerlock/base/work_queue.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/response/quarantine.hpp"

namespace layerlock::response {

struct Target {
    model::Container info;
    model::Mode mode = model::Mode::Monitor;
};

struct ResponderHooks {
    std::function<std::optional<Target>(const std::string& container_id)> container;
    std::function<config::ResponseConfig()> config;
    std::function<void(model::DriftEvent)> publish;
    std::string state_dir;       // quarantine/ and forensics/ live here
    std::string docker_socket;
    std::string database;        // the baseline, for the drift listing of a bundle
};

// The actions the first matching rule asks for (pure; exposed for tests).
std::vector<std::string> actions_for(const std::vector<config::ResponseRule>& rules, const model::DriftEvent& ev,
                                     model::Mode mode);

class Responder final : public alert::Sink {
public:
    explicit Responder(ResponderHooks hooks);
    ~Responder() override;
    void start();
    void stop() noexcept;

    // The alert thread. Refused when the response queue is full (the alert's
    // actions are not taken; counted in dropped()).
    base::Result<void> write(const model::DriftEvent& ev) override;
    std::string_view name() const override { return "responder"; }
    // Any thread, before the alert is published: keeps the file open as `fd` when a
    // rule asks to quarantine this alert's file. Returns the sample's SHA-256.
    std::optional<std::string> keep_sample(int fd, const model::DriftEvent& ev);
    // The control socket's `thaw`: unfreezes a container frozen by a response.
    base::Result<void> thaw(const std::string& container_id);
    std::uint64_t dropped() const;

private:
    struct Job {
        model::DriftEvent ev;
        std::vector<std::string> actions;
        Target target;
    };
    void run();
    void act(const Job& job, const std::string& action);
    base::Result<std::string> kill(const Job& job);
    base::Result<std::string> freeze(const Job& job);
    base::Result<std::string> stop_container(const Job& job);
    base::Result<std::string> forensics(const Job& job);
    void report(const Job& job, const std::string& action, const base::Result<std::string>& outcome);

    ResponderHooks hooks_;
    Quarantine quarantine_;
    std::mutex mu_;
    base::WorkQueue<Job> queue_;
    std::atomic<std::uint64_t> dropped_{0};   // jobs refused: the queue was full
    std::map<std::string, std::string> frozen_;   // container id -> freezer control file (under mu_)
    std::thread thread_;
};

}  // namespace layerlock::response
