// SPDX-License-Identifier: Apache-2.0
// The Daemon object: wiring of every module, declared here so its methods can be
// split by concern (daemon.cpp: start-up, discovery, signals; control_verbs.cpp:
// the control socket's verbs). Internal to src/daemon.
#pragma once

#include <sys/eventfd.h>

#include <boost/json/object.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "baseline_builder.hpp"
#include "layerlock/base/work_queue.hpp"
#include "layerlock/baseline/image_facts.hpp"
#include "layerlock/alert/alerts.hpp"
#include "layerlock/config/config.hpp"
#include "layerlock/discovery/containers.hpp"
#include "layerlock/watch/file_drift.hpp"
#include "layerlock/daemon/metrics.hpp"
#include "layerlock/control/control.hpp"
#include "layerlock/discovery/mounts.hpp"
#include "layerlock/gate/exec_gate.hpp"
#include "layerlock/policy/file_rules.hpp"
#include "layerlock/watch/reconcile.hpp"
#include "layerlock/watch/watcher.hpp"
#include "container_mounts.hpp"
#include "network_watch.hpp"
#include "layerlock/process/monitor.hpp"
#include "layerlock/response/responder.hpp"
#include "layerlock/registry/registry.hpp"

namespace layerlock::baseline {
class Store;
class EventStore;
}

namespace layerlock::daemon {

// A file drift event for one change of a container (file_drift.cpp).
model::DriftEvent file_event(const gate::GatedContainer& c, const watch::FileChange& ch,
                             const policy::FileVerdict& v);

// Hands alerts to a sink owned elsewhere (the responder).
std::unique_ptr<alert::Sink> forwarding_sink(alert::Sink& to);

// Stores every drift event in the event table (file_drift.cpp).

class Daemon final : public gate::Environment {
public:
    Daemon(config::Config cfg, std::string log_level_override)
        : cfg_(std::move(cfg)), log_level_override_(std::move(log_level_override)) {}
    int run();

    // gate::Environment
    std::shared_ptr<const gate::GatedContainer> container_for(dev_t dev) override { return registry_.find(dev); }
    const std::atomic<std::uint64_t>* containers_generation() override { return &registry_.generation_counter(); }
    gate::ImageFile image_file(const gate::GatedContainer& c, const std::string& path) override {
        return baseline::image_file(database_, {c.info.lowers, c.lower_fds}, path);
    }
    bool content_in_image(const gate::GatedContainer& c, const model::Sha256& content) override {
        return baseline::content_in_image(database_, c.info.lowers, content);
    }
    bool image_has_size(const gate::GatedContainer& c, std::uint64_t size) override {
        return baseline::image_has_size(database_, c.info.lowers, size);
    }
    gate::MountRef mount_for(std::uint64_t mount_id) override { return registry_.find_mount(mount_id); }
    model::MountAction mount_action(const gate::GatedContainer& c, const gate::GatedMount&,
                                    const std::string& path) override {
        std::lock_guard lock(cfg_mu_);
        return config::mount_action_for(cfg_, path, c.info.name, c.info.image);
    }
    // Every alert of the gate, the process monitor, the network check and the
    // responder goes out here: the uid's name is added (the container's passwd).
    void publish(model::DriftEvent ev) override;
    void sample(int fd, const model::DriftEvent& ev) override {
        if (responder_) (void)responder_->keep_sample(fd, ev);
    }
    void prepare_worker() override { baseline::open_thread_store(database_); }
    void tick() override;

private:
    // The start-up steps, in run()'s order.
    void prepare_process();
    base::Result<void> step_lock();
    base::Result<void> step_socket_is_ours();
    base::Result<void> step_group();
    base::Result<void> step_database();
    base::Result<void> step_alerts();
    base::Result<void> step_gate();
    base::Result<void> step_threads();
    void step_behaviour();
    std::optional<response::Target> response_target(const std::string& container_id);
    std::string thaw(const std::string& container);
    base::Result<std::vector<std::unique_ptr<alert::Sink>>> make_sinks(const config::Config& c);
    void discovery_loop();
    void sync_mounts(const std::string& table);
    void sync_other_namespaces();
    // `via`: a process of the mount namespace the mount is in (0: the host's).
    void add_container(const discovery::OverlayMount& m, model::Runtime rt, pid_t via,
                       std::map<std::uint64_t, dev_t>& into);
    void remove_container(std::uint64_t mount_id, std::map<std::uint64_t, dev_t>& from);
    void note_unmarkable(std::uint64_t mount_id, const std::string& mount_point, const base::Error& why);
    std::chrono::milliseconds prune_unmarkable();
    void metadata_loop();
    bool learn_metadata(dev_t dev, std::size_t attempt);
    void republish(const gate::GatedContainer& old, const model::Container& info);
    base::Result<void> reload();
    model::Mode mode_of(const model::Container& info);   // live override, then config
    model::CodeGate code_gate_of(const model::Container& info);
    // Turns the opens of a container's marks on or off after its code gate changed.
    void apply_code_gate(const gate::GatedContainer& c);
    policy::FileRules current_file_rules() {
        std::lock_guard lock(cfg_mu_);
        return watch::file_rules(cfg_);
    }
    std::string handle_control(const std::string& request);
    MetricsSnapshot metrics_snapshot();
    // [metrics] textfile_path, rewritten every interval_s (read on each round: a
    // reload turns it on, off or elsewhere).
    void metrics_loop();
    std::string status_json();
    boost::json::object behaviour_json();
    std::string set_live_mode(const std::string& container, const std::string& mode);
    void file_drift_loop();
    void queue_reconcile(dev_t dev);
    void watch_loop(base::Result<watch::UpperWatcher> w);
    void watch_container(dev_t dev);
    void unwatch_container(dev_t dev);
    void wake_watch_thread();
    void apply_watch_commands(watch::UpperWatcher& w);
    void handle_batch(watch::WatchBatch batch, baseline::Store& store, baseline::EventStore& events);
    void judge_touched(const watch::TouchedPath& t, baseline::Store& store, baseline::EventStore& events);
    void reconcile_container(const gate::GatedContainer& c, baseline::Store& store, baseline::EventStore& events);
    // Scan limits for a container's writable layer: a file the gate hashed (same
    // inode, same version) is not hashed again.
    watch::ScanLimits drift_limits(dev_t dev);
    std::optional<std::size_t> report_finding(const gate::GatedContainer& c, const watch::Finding& f,
                                              baseline::EventStore& events, const watch::TouchedPath* touched = nullptr);
    int wait_for_signals();
    int serve();        // after the first discovery, until a stop signal: the exit status
    void shut_down();   // the mirror of run()'s start-up
    // Live file drift: when each (container, path) was last hashed (watch thread).
    static constexpr std::chrono::seconds kRehashAfter{30};
    std::map<std::pair<dev_t, std::string>, std::chrono::steady_clock::time_point> recently_hashed_;
    // Image trust (image_trust.cpp).
    void on_layer_report(const LayerReport& r);       // builder thread
    void judge_image_trust(const gate::GatedContainer& c);
    void check_image_ref(const model::Container& info);
    void image_named(const gate::GatedContainer& c);  // metadata thread, once the container is named
    void image_gone(dev_t dev);
    struct ImageTrust {
        bool named = false;                 // metadata learned: alerts can name it
        bool unsigned_reported = false;
        std::set<std::string> tamper_reported;   // layer + what differed, alerted once each
    };
    std::mutex trust_mu_;
    std::map<dev_t, ImageTrust> trust_;

    // uid names by (container id, uid), read from the container's /etc/passwd; kept
    // a minute (an image's users rarely change; a container's may).
    struct UserName {
        std::string name;
        std::chrono::steady_clock::time_point until;
    };
    std::mutex users_mu_;
    std::map<std::pair<std::string, std::int64_t>, UserName> users_;

    config::Config cfg_;
    std::string log_level_override_;   // --log-level: outranks daemon.log_level, also on reload
    std::mutex cfg_mu_;
    std::string database_;
    base::UniqueFd lock_fd_;
    std::optional<gate::FanotifyGroup> group_;
    std::unique_ptr<alert::AlertQueue> alerts_;
    std::unique_ptr<gate::ExecGate> gate_;
    std::unique_ptr<BaselineBuilder> builder_;
    std::unique_ptr<discovery::Metadata> metadata_;
    std::unique_ptr<ContainerMounts> container_mounts_;
    std::unique_ptr<response::Responder> responder_;
    std::unique_ptr<process::ProcessMonitor> process_monitor_;
    std::unique_ptr<NetworkWatch> network_watch_;
    registry::Registry registry_;
    std::vector<dev_t> host_devs_;
    std::map<std::uint64_t, dev_t> mounts_;      // mount id → overlay dev (discovery thread)
    // The same for overlays found in other mount namespaces, and the tables of the
    // namespaces holding them, watched like the host's (discovery thread).
    std::map<std::uint64_t, dev_t> other_mounts_;
    // Container overlays that could not be marked (discovery thread): see note_unmarkable.
    struct Unmarkable {
        std::chrono::steady_clock::time_point first, last;
        bool warned = false;
    };
    static constexpr std::chrono::milliseconds kSettle{2000}, kRetry{250};
    std::map<std::uint64_t, Unmarkable> unmarkable_;
    std::map<ino_t, discovery::MountWatcher> namespace_watch_;
    ino_t own_namespace_ = discovery::mount_namespace_of(0);
    discovery::NamespaceLister namespaces_;
    base::UniqueFd stop_fd_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    std::atomic<bool> stopping_{false};
    std::thread discovery_thread_, metadata_thread_;
    base::WorkQueue<dev_t> metadata_queue_;   // containers whose engine metadata is wanted
    std::atomic<bool> initial_sync_done_{false};
    std::atomic<bool> discovery_failed_{false};   // the mount table could not be watched: run() stops
    std::chrono::steady_clock::time_point last_watchdog_{};
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::int64_t started_ns_ = 0;   // CLOCK_REALTIME at start
    std::thread metrics_thread_;
    std::mutex metrics_mu_;
    std::condition_variable metrics_cv_;
    std::map<std::string, model::Mode> live_modes_;   // container id → mode (layerlock mode); under cfg_mu_
    control::ControlServer control_;
    std::thread drift_thread_;
    base::WorkQueue<dev_t> drift_queue_;      // containers to reconcile
    std::thread watch_thread_;
    std::mutex watch_mu_;
    std::vector<std::pair<dev_t, bool>> watch_commands_;   // (dev, add?) for the watch thread
    base::UniqueFd watch_wake_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};   // new watch_commands_
    std::set<dev_t> degraded_;                              // watch thread only
    config::WatchConfig watch_cfg_;                         // fixed at start (restart to change)
};

}  // namespace layerlock::daemon
