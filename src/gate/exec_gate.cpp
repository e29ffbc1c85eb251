// SPDX-License-Identifier: Apache-2.0
// Threads of the exec gate. The reader answers what it can at once (own pid,
// its own table of warm allows, cache hit, image-layer inode) and hands the rest to a worker lane (small or
// large files, so one huge hash never holds up the others). A worker answers an
// upper file that no content could make the image's (policy::classify_unhashed)
// without hashing it; a file of the size of the image's file at its path is
// compared with that file byte for byte; only what is left is hashed before the
// answer. The "after" lane (background priority) builds and publishes the alerts
// of answered execs, hashing first the files answered unhashed. The reader also
// sweeps deadlines: an event whose worker has not answered in time gets the
// fallback.
// Answer first, then alert: publish() is called only after respond().
#include "layerlock/gate/exec_gate.hpp"

#include <poll.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>

#include "gate_impl.hpp"
#include "layerlock/base/clock.hpp"
#include "layerlock/base/thread.hpp"
#include "layerlock/digest/sha256.hpp"
#include "layerlock/gate/direct_syscall.hpp"

namespace layerlock::gate {

ExecGate::ExecGate(FanotifyGroup& group, Environment& env, GateOptions opts)
    : group_(group), env_(env), cache_(opts.cache_entries),
      impl_(std::make_unique<Impl>(*this, std::move(opts))) {
    // The warm path's fields must stay within the first page of the gate's state.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
    static_assert(offsetof(Impl, counters) + sizeof(GateCounters) <= 4096);
#pragma GCC diagnostic pop
}

ExecGate::~ExecGate() { stop(); }

const GateCounters& ExecGate::counters() const { return impl_->counters; }

void ExecGate::set_options(const GateOptions& opts) {
    std::lock_guard lock(impl_->opts_mu);
    auto keep_workers = impl_->opts.workers;
    impl_->opts = opts;
    impl_->opts.workers = keep_workers;
    cache_.clear();   // verdicts of image files a new [[prohibit]] rule may name
    impl_->opts_version.fetch_add(1, std::memory_order_release);
}

void ExecGate::forget_verdicts() {
    cache_.clear();
    impl_->opts_version.fetch_add(1, std::memory_order_release);   // the reader drops its warm table and ignore marks
}

base::Result<void> ExecGate::start() {
    auto o = impl_->options();
    // Normal priority, all of them: an exec waits on each (base/thread.hpp).
    auto started = impl_->reader_started.get_future();
    impl_->threads.emplace_back([this] {
        base::name_this_thread("ll-gate-read");
        impl_->reader_loop();
    });
    if (auto why = started.get(); !why.empty()) {
        impl_->threads.back().join();
        impl_->threads.clear();
        return base::unexpected(base::Error::plain("gate reader: " + why));
    }
    for (unsigned i = 0; i < std::max(1u, o.workers); ++i)
        impl_->threads.emplace_back([this] {
            base::name_this_thread("ll-gate-hash");
            impl_->worker_loop(impl_->small);
        });
    impl_->threads.emplace_back([this] {
        base::name_this_thread("ll-gate-large");
        impl_->worker_loop(impl_->large);
    });
    // Alerts of execs already answered, and the hashes some of them need: no exec
    // waits on these (refused background priority: normal priority, same work).
    impl_->threads.emplace_back([this] {
        (void)base::become_background_thread("ll-gate-after");
        impl_->after_loop(impl_->after);
    });
    impl_->threads.emplace_back([this] {
        (void)base::become_background_thread("ll-gate-alert");
        impl_->after_loop(impl_->alerts);
    });
    return {};
}

void ExecGate::stop() noexcept {
    if (!impl_ || impl_->stopping.exchange(true)) return;
    while (!impl_->reader_done) {   // until the reader has left its blocking read
        if (auto* w = impl_->wakeup.load()) w->request_stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    impl_->small.stop();
    impl_->large.stop();
    impl_->after.stop(/*drain=*/true);   // their alerts still go out, without hashing
    impl_->alerts.stop(/*drain=*/true);
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
    impl_->threads.clear();
}

void ExecGate::Impl::reader_loop() {
    {
        ReaderWakeup w(options().tick);
        reader_started.set_value(w.error());
        if (!w.error().empty()) {
            reader_done = true;   // nothing read, nothing to answer
            return;
        }
        wakeup = &w;
        while (!w.stop_requested() && !stopping) {
            read_batch();   // blocks until events or a wake-up signal
            if (w.take_tick()) {
                gate.env_.tick();
                sync_tables();
            }
            w.take_deadline();
            if (!in_flight.empty()) sweep_deadlines();
            if (!in_flight.empty() && !deadline_armed) arm_deadline(w);
            if (in_flight.empty() && deadline_armed) {
                w.disarm_deadline();
                deadline_armed = false;
            }
        }
        wakeup = nullptr;
    }
    reader_done = true;
    drain_on_stop();
}

void ExecGate::Impl::renew_tables() {
    seen.fill({});
    seen_mounts.fill({});
    forget_warm();
    tables_generation = generation_source->load(std::memory_order_acquire);
}

// What is looked up after sync_tables() is at least as new as the generation the
// tables are marked with: an answer from a newer state is dropped at the next sync.
const std::shared_ptr<const GatedContainer>& ExecGate::Impl::container_for(dev_t dev) {
    if (!generation_source) return unseen = gate.env_.container_for(dev);
    auto& slot = seen[static_cast<std::size_t>(dev) % seen.size()];
    if (!slot.c || slot.dev != dev) slot = {dev, gate.env_.container_for(dev)};
    return slot.c;
}

// Timer at the oldest waiting event's deadline (FIFO = deadline order), then every
// 20 ms while events wait for workers, so deadlines are met within 20 ms.
void ExecGate::Impl::arm_deadline(ReaderWakeup& w) {
    w.arm_deadline(in_flight.front()->deadline() - Clock::now(), std::chrono::milliseconds(20));
    deadline_armed = true;
}

// Reads one bounded batch: each event carries an open fd, so a batch never
// holds more fds than the buffer has room for events.
void ExecGate::Impl::read_batch() {
    long len = direct::read(group_fd, events_buf, sizeof events_buf);
    if (len <= 0) return;   // -EINTR: a wake-up signal
    // The options as of now (a reload while the reader slept applies to these events),
    // copied only when set_options changed them: no lock per read.
    if (opts_version.load(std::memory_order_acquire) != reader_opts_version) [[unlikely]]
        refresh_options();
    const GateOptions& o = reader_opts;
    auto* m = reinterpret_cast<fanotify_event_metadata*>(events_buf);
    for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
        if (m->vers != FANOTIFY_METADATA_VERSION) [[unlikely]] {
            if (m->fd >= 0) answer(m->fd, o.on_error), direct::close(m->fd);
            continue;
        }
        if (m->mask & FAN_Q_OVERFLOW) [[unlikely]]
            counters.queue_overflows.fetch_add(1);
        if (m->fd < 0) [[unlikely]]
            continue;
        bump(counters.events);
        if (m->pid == self) [[unlikely]] {   // the daemon itself never waits on its own gate
            answer(m->fd, model::Action::Allow);
            direct::close(m->fd);
            continue;
        }
        sync_tables();
        struct stat st;
        if (direct::fstat(m->fd, &st) != 0) [[unlikely]] {
            handle(m->fd, m->pid, nullptr, o);
            continue;
        }
        const bool exec = m->mask & FAN_OPEN_EXEC_PERM;
        if (exec) ++exec_count[static_cast<std::uint32_t>(m->pid) % exec_count.size()];
        if (answer_warm(m->fd, st, o)) continue;   // image files (and copy-ups), exec or open alike
        if (exec) handle(m->fd, m->pid, &st, o);
        else handle_open(m->fd, m->pid, st, o);
    }
}

// New options may answer differently: the warm table starts again.
// Ignore marks go too: an image file let through the kernel unasked may be one a
// new [[prohibit]] rule names.
void ExecGate::Impl::refresh_options() {
    auto v = opts_version.load(std::memory_order_acquire);
    reader_opts = options();
    const bool first = reader_opts_version == ~std::uint64_t{0};
    reader_opts_version = v;
    forget_warm();
    if (!first && ignore_count > 0) {
        gate.group_.flush_inode_marks();
        ignore_count = 0;
    }
}

inline bool ExecGate::Impl::answer_warm(int event_fd, const struct stat& st, const GateOptions& o) {
    if (!generation_source) return false;
    const auto key = policy::FileKey::of(st);
    const auto& w = warm[policy::FileKeyHash{}(key) % warm.size()];
    if (!w.used || !(w.key == key)) return false;
    answer(event_fd, model::Action::Allow);
    bump(counters.warm_hits);   // allowed in all = allowed + warm_hits
    if (w.image_layer && o.ignore_marks) [[unlikely]] maybe_ignore(event_fd, o);
    direct::close(event_fd);
    return true;
}

// Only for allows that need no alert.
void ExecGate::Impl::remember_warm(const struct stat& st, bool image_layer) {
    if (!generation_source) return;
    const auto key = policy::FileKey::of(st);
    warm[policy::FileKeyHash{}(key) % warm.size()] = {key, image_layer, true};
}

void ExecGate::Impl::handle(int event_fd, pid_t pid, const struct stat* stp, const GateOptions& o) {
    struct stat st {};
    static const std::shared_ptr<const GatedContainer> none;
    std::optional<policy::Classification> hit;
    std::optional<model::Sha256> hit_digest;
    if (stp) st = *stp;
    const auto& c = stp ? container_for(st.st_dev) : none;
    if (!c && stp) {   // not an overlay: maybe a tmpfs or volume mount of a container
        if (auto t = target_of(event_fd, st); t.c) {
            handle_mount_exec(pending(event_fd, pid, st, o), t, o);
            return;
        }
    }
    const auto key = policy::FileKey::of(st);
    // An untrusted image (gate/exec_gate.hpp) is judged afresh: no cached verdict.
    if (c && !c->image_untrusted.load(std::memory_order_relaxed)) hit = gate.cache_.get(key, &hit_digest);
    // A file judged before and unchanged since, nothing to report: answered here
    // without allocating or reading the clock, and remembered in the warm table.
    if (hit && !hit->alert) {
        auto v = policy::decide(*hit, c->mode, o.on_error);
        answer(event_fd, v.action);
        count(v);
        const bool image_layer = !hit->drift && hit->reason == "image-layer";
        if (v.action == model::Action::Allow) remember_warm(st, image_layer);
        if (image_layer) maybe_ignore(event_fd, o);
        ::close(event_fd);
        return;
    }
    auto ev = pending(event_fd, pid, st, o);
    if (!c) {
        counters.unknown_container.fetch_add(1, std::memory_order_relaxed);
        auto v = policy::decide(policy::undecided(),
                                model::Mode::Monitor, o.on_error);
        ev->respond(v.action);
        count(v);
        return;
    }
    if (hit) {   // cached, and worth an alert: reported with the path and the digest
        answer_now(ev, c, *hit, o, hit_digest);
        return;
    }
    bool deleted = false;
    std::string path = container_path(ev->fd(), *c, &deleted);
    if (!deleted && served_from_lower(*c, path, ev->st)) {
        if (c->image_untrusted.load(std::memory_order_relaxed)) {   // an image file, of an image not trusted
            counters.untrusted_image.fetch_add(1, std::memory_order_relaxed);
            answer_now(ev, c, policy::undecided(), o, std::nullopt, path);
            return;
        }
        counters.image_inode_fast_path.fetch_add(1, std::memory_order_relaxed);
        policy::Classification cls = policy::classify({policy::Source::LowerLayer, {}, {}, false, false});
        std::optional<model::Sha256> digest;
        if (prohibited(*c, path, std::nullopt, o)) {
            cls = policy::prohibited_file();
            digest = gate.env_.image_file(*c, path).digest;   // for the alert (the baseline's)
        }
        gate.cache_.put(key, cls, digest);
        answer_now(ev, c, cls, o, digest, path);
        return;
    }
    Lane& lane = static_cast<std::uint64_t>(ev->st.st_size) >= o.large_file_bytes ? large : small;
    if (in_flight.size() >= o.max_pending || !lane.push({ev, c, path}, o.max_pending)) {
        counters.overload.fetch_add(1, std::memory_order_relaxed);
        auto v = policy::decide(policy::undecided(), c->mode, o.on_error);
        ev->respond(v.action);
        count(v);
        report(*ev, c.get(), path, v, std::nullopt);
        return;
    }
    in_flight.push_back(std::move(ev));
}

void ExecGate::Impl::answer_now(PendingPtr& ev, const std::shared_ptr<const GatedContainer>& c,
                                const policy::Classification& cls, const GateOptions& o,
                                const std::optional<model::Sha256>& digest, std::string path) {
    auto v = policy::decide(cls, c->mode, o.on_error);
    std::optional<ProcessNames> names{};
    if (cls.alert) names = caller_names(ev->pid());  // while the process still waits in execve
    if (cls.drift && !o.allow.empty()) {
        if (path.empty()) {
            bool deleted = false;
            path = container_path(ev->fd(), *c, &deleted);
        }
        apply_exec_allow(v, *c, path, ev->pid(), names, o);
    }
    ev->respond(v.action);
    count(v);
    if (!cls.drift && cls.reason == "image-layer") maybe_ignore(ev->fd(), o);
    if (v.what.alert) {
        Job job{ev, c, path};
        job.verdict = v;
        job.names = std::move(names);
        job.digest = digest;
        job.path_from_fd = path.empty();
        job.st = ev->st;
        after_answer(std::move(job), o);
    }
}

void ExecGate::Impl::maybe_ignore(int event_fd, const GateOptions& o) {
    if (!o.ignore_marks) return;
    if (ignore_count >= o.ignore_marks_max) {   // ignore marks pin inodes: evict them all
        gate.group_.flush_inode_marks();
        ignore_count = 0;
    }
    if (gate.group_.ignore_inode(event_fd)) {
        ++ignore_count;
        counters.ignore_marks.fetch_add(1, std::memory_order_relaxed);
    }
}

void ExecGate::Impl::worker_loop(Lane& lane) {
    gate.env_.prepare_worker();
    digest::prepare_thread();
    while (auto job = lane.pop()) {
        // Unanswered: judge it (else the deadline sweep answered). The fd stays open
        // when the job went on to the after lane, which closes it. An open whose
        // opener's argv decides whether it is code reads that first, here.
        // Decided once: open_after_argv clears check_argv and may judge the job itself
        // (a second judge here closed the fd under the after lane's hash of it).
        const auto o = options();
        const bool handed_on = !job->ev->answered() && (job->check_access ? open_after_access(*job, o)
                                                        : job->check_argv ? open_after_argv(*job, o)
                                                                          : judge(*job, o));
        if (!handed_on) job->ev->close_fd();
    }
}

bool ExecGate::Impl::judge(Job& job, const GateOptions& o) {
    auto& ev = *job.ev;
    const auto& c = *job.container;
    job.st = ev.st;
    policy::Classification cls;
    std::optional<model::Sha256> content;
    // A file whose version changes while it is read is judged again, on the version
    // now there (a copy-up by another process's chmod mid-way, say); one that keeps
    // changing is drift: what was read is not what would run.
    for (int attempt = 0;; ++attempt) {
        const auto size = static_cast<std::uint64_t>(job.st.st_size);
        auto img = gate.env_.image_file(c, job.path);
        const bool origin = has_overlay_origin(c, job.path);
        std::optional<bool> same;   // byte for byte the image's file at the path?
        if (img.known) {
            policy::UpperFile upper{img.present, img.present && img.size == size, origin};
            // Of the size of the image's file at the path: compared with that file in
            // its layer at memory speed, instead of hashed at SHA-256 speed.
            if (upper.could_be_copy_up) {
                same = same_as_layer_file(c, img.layer, job.path, ev.fd(), size, ev.deadline());
                if (same) counters.compared.fetch_add(1, std::memory_order_relaxed);
                if (same == false) upper.could_be_copy_up = false;
            }
            // A marked copy too large to hash quickly: its size alone may rule out every image file.
            if (origin && !upper.could_be_copy_up && size >= o.large_file_bytes)
                upper.size_in_image = gate.env_.image_has_size(c, size);
            if (auto unhashed = policy::classify_unhashed(upper)) return answer_unhashed(job, *unhashed, img.present, o);
        }
        policy::ExecFacts facts;
        content.reset();
        if (same == true) {
            facts.source = policy::Source::UpperLayer;
            facts.image_file_at_path = true;
            facts.equals_image_file_at_path = true;
        } else {
            // A marked copy (renamed image file?), or the comparison was not possible:
            // the content decides.
            content = hash_event(ev, ev.deadline());
            // Of the image file's size, but neither compared nor its digest known (the
            // baseline is incomplete): whether it is a copy-up cannot be told.
            const bool copy_up_unknown = img.present && img.size == size && !same && !img.digest;
            if (content && img.known && !copy_up_unknown && Clock::now() < ev.deadline()) {
                facts.source = policy::Source::UpperLayer;
                facts.content = *content;
                facts.image_at_path = img.digest;
                facts.image_file_at_path = img.present;
                facts.has_overlay_origin = origin;
                // Only a marked copy needs the image searched by content (renamed image file).
                if (origin && img.digest != *content) facts.content_in_image = gate.env_.content_in_image(c, *content);
            }
        }
        cls = policy::classify(facts);
        if (facts.source != policy::Source::UpperLayer) break;   // undecided: nothing was judged
        // The image's bytes (a copy-up, a renamed image file) that a rule prohibits.
        if (!cls.drift && prohibited(c, job.path, content ? content : img.digest, o)) cls = policy::prohibited_file();
        // What was read must still be the version judged.
        struct stat now{};
        const bool readable = ::fstat(ev.fd(), &now) == 0;
        if (readable && policy::FileKey::of(now) == policy::FileKey::of(job.st)) break;
        if (readable && attempt < 2 && Clock::now() < ev.deadline()) {
            job.st = now;
            continue;
        }
        cls = policy::changed_while_judged();
        content.reset();   // not the digest of any one version of the file
        counters.changed_while_judged.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    auto v = verdict_for(job, cls, o);
    std::optional<ProcessNames> names = std::move(job.names);
    if (v.what.alert && !names) names = caller_names(ev.pid());  // while the process still waits in execve
    if (v.what.alert && job.code) {   // the opener (an interpreter, the loader) may be gone right after the answer
        if (names->exe.empty()) names->exe = read_exe(ev.pid());
        if (names->cmdline.empty()) names->cmdline = read_cmdline(ev.pid());
    }
    if (!ev.respond(v.action)) return false;   // too late: the deadline sweep answered (and reported)
    count(v);
    if (policy::cacheable(cls)) gate.cache_.put(policy::FileKey::of(job.st), cls, content);
    if (!v.what.alert) return false;
    Job next{job.ev, job.container, job.path};
    next.verdict = v;
    next.names = std::move(names);
    next.digest = content;
    next.st = job.st;
    next.code = job.code;
    // Drift keeps the fd for the after lane (a sample may be kept from it);
    // otherwise the path is known and the worker closes it.
    if (v.what.drift) return after_answer(std::move(next), o);
    after_answer(std::move(next), o);
    return false;
}

// Drift decided without the content: answered now, hashed after (for the alert's
// digest and reason) on the after lane, or here when that lane is full.
bool ExecGate::Impl::answer_unhashed(Job& job, const policy::Classification& cls, bool image_file_at_path,
                                     const GateOptions& o) {
    auto& ev = *job.ev;
    auto v = verdict_for(job, cls, o);
    auto names = job.names ? std::move(*job.names) : caller_names(ev.pid());   // while the process still waits
    if (v.what.alert && job.code) {   // the opener may be gone right after the answer
        if (names.exe.empty()) names.exe = read_exe(ev.pid());
        if (names.cmdline.empty()) names.cmdline = read_cmdline(ev.pid());
    }
    if (!ev.respond(v.action)) return false;   // too late: the deadline sweep answered (and reported)
    count(v);
    counters.drift_unhashed.fetch_add(1, std::memory_order_relaxed);
    if (job.code) gate.cache_.put(policy::FileKey::of(job.st), cls);   // the file's own verdict, for later execs
    if (!v.what.alert) return false;
    Job next{job.ev, job.container, job.path};
    next.verdict = v;
    next.code = job.code;
    next.names = std::move(names);
    next.unhashed = true;
    next.image_file_at_path = image_file_at_path;
    next.st = job.st;
    return after_answer(std::move(next), o);
}

std::optional<model::Sha256> ExecGate::Impl::hash_event(const PendingExec& ev, Clock::time_point deadline) {
    digest::HashLimits limits;
    limits.deadline = deadline;
    std::uint64_t bytes = 0;
    auto d = digest::sha256_fd(ev.fd(), limits, &bytes);
    counters.hashed.fetch_add(1, std::memory_order_relaxed);
    counters.hashed_bytes.fetch_add(bytes, std::memory_order_relaxed);
    return d ? std::optional(*d) : std::nullopt;
}

bool ExecGate::Impl::after_answer(Job job, const GateOptions& o) {
    if ((job.unhashed ? after : alerts).push(job, o.max_pending)) return true;
    finish(job, o);
    return false;
}

void ExecGate::Impl::after_loop(Lane& lane) {
    gate.env_.prepare_worker();
    digest::prepare_thread();
    while (auto job = lane.pop()) finish(*job, options());
}

namespace {
// Alerts waiting behind this many hashes go out without their digest (it is
// reported with LAYERLOCK_UNKNOWN=sha256; the live file-drift check of the same
// file records it): a flood of large dropped files must not delay the alert of
// the next one by minutes.
constexpr std::size_t kHashBacklog = 16;
}  // namespace

// The alert of an answered exec. For drift decided unhashed, the digest of the
// executed file is taken first: kept only if the file is still the version that
// was executed (FileKey unchanged after hashing; any write in between changes its
// ctime); then the reason is refined (a copy of an image file is
// "copied-image-file") and the verdict cached with the digest. On shutdown, or
// behind kHashBacklog hashes, the alert goes out without hashing.
void ExecGate::Impl::finish(Job& job, const GateOptions& o) {
    auto& ev = *job.ev;
    const auto& c = *job.container;
    std::optional<model::Sha256> content = job.digest;
    if (job.unhashed && !stopping && after.size() < kHashBacklog) {
        content = hash_event(ev, Clock::now() + o.hash_timeout);
        struct stat now{};
        if (content && (::fstat(ev.fd(), &now) != 0 || !(policy::FileKey::of(now) == policy::FileKey::of(job.st))))
            content.reset();   // not the version that was executed
    }
    if (job.path_from_fd) {
        bool deleted = false;
        job.path = container_path(ev.fd(), c, &deleted);
    }
    auto v = job.verdict;
    if (job.unhashed && content && !ev.mount) {
        policy::ExecFacts facts;
        facts.source = policy::Source::UpperLayer;
        facts.content = *content;
        facts.image_file_at_path = job.image_file_at_path;
        facts.content_in_image = !job.image_file_at_path && gate.env_.content_in_image(c, *content);
        auto cls = policy::classify(facts);
        // Same answer; for an exec the reason may be more precise. The cache keeps
        // the file's own verdict (what a later exec of it is), with its digest.
        if (cls.drift && !job.code && v.what.drift) v.what = cls;   // (not an allowed drift's low alert)
        if (cls.drift) gate.cache_.put(policy::FileKey::of(job.st), cls, content);
    }
    auto d = event_for(ev, &c, job.path, v, content, std::move(job.names));
    if (job.code && d.cmdline.empty()) d.cmdline = read_cmdline(ev.pid());   // (answered on the reader: if still there)
    if (v.what.drift && ev.fd() >= 0) gate.env_.sample(ev.fd(), d);   // before the fd goes
    ev.close_fd();   // done with the file before the alert goes out
    gate.env_.publish(std::move(d));
}

void ExecGate::Impl::sweep_deadlines() {
    auto now = Clock::now();
    while (!in_flight.empty()) {
        auto& front = in_flight.front();
        if (!front->answered() && front->deadline() > now) break;
        if (!front->answered()) {
            auto o = options();
            auto v = policy::decide(policy::undecided(),
                                    model::Mode::Monitor, o.on_error);
            // The path is read while the worker still owns the fd open: once this
            // answer wins, the worker may close it at any moment.
            bool deleted = false;
            auto c = gate.env_.container_for(front->st.st_dev);
            std::string path = c ? container_path(front->fd(), *c, &deleted) : std::string();
            if (front->respond(v.action)) {
                counters.timeouts.fetch_add(1, std::memory_order_relaxed);
                count(v);
                report(*front, c.get(), path, v, std::nullopt);
            }
        }
        in_flight.pop_front();
    }
}

// Shutdown: no new events once the marks are gone; answer whatever the kernel
// already queued, then every event still waiting for a worker.
void ExecGate::Impl::drain_on_stop() {
    gate.group_.flush_all();
    ::fcntl(gate.group_.fd(), F_SETFL, ::fcntl(gate.group_.fd(), F_GETFL) | O_NONBLOCK);
    auto o = options();
    alignas(fanotify_event_metadata) char buf[4096];
    for (;;) {
        ssize_t len = ::read(gate.group_.fd(), buf, sizeof buf);
        if (len <= 0) break;
        auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
        for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
            if (m->fd < 0) continue;
            answer(m->fd, o.on_error);
            ::close(m->fd);
        }
    }
    for (auto& ev : in_flight) ev->respond(o.on_error);
    in_flight.clear();
}

void ExecGate::Impl::report(const PendingExec& ev, const GatedContainer* c, const std::string& path,
                            const policy::Verdict& v, const std::optional<model::Sha256>& digest,
                            std::optional<ProcessNames> names) {
    gate.env_.publish(event_for(ev, c, path, v, digest, std::move(names)));
}

model::DriftEvent ExecGate::Impl::event_for(const PendingExec& ev, const GatedContainer* c, const std::string& path,
                                            const policy::Verdict& v, const std::optional<model::Sha256>& digest,
                                            std::optional<ProcessNames> names) {
    model::DriftEvent d;
    d.kind = std::string(ev.kind);
    if (ev.mount) {
        d.location = ev.mount->location;
        d.mount = ev.mount->mount_point;
    } else if (v.what.drift) {
        d.location = "writable-layer";
    }
    d.severity = v.what.severity;
    // Drift (judged, not a fallback answer) by its kind's configured severity.
    if (v.what.drift && v.what.reason != "undecided") d.severity = severity_of(ev.kind, options());
    d.action = std::string(v.alert_action);
    d.reason = std::string(v.what.reason);
    d.path = path;
    d.pid = ev.pid();
    model::stamp(d, base::now_ns());
    if (digest) d.sha256 = model::to_hex(*digest);
    const bool digest_unknown = !digest && v.what.drift;   // hash failed, or the file changed after the exec
    if (!names) names = process_names(ev.pid());
    else add_parent_name(*names, ev.pid());
    d.comm = std::move(names->comm);
    d.exe = std::move(names->exe);
    d.parent_comm = std::move(names->parent_comm);
    d.ppid = names->ppid;
    d.cmdline = std::move(names->cmdline);
    d.uid = names->uid >= 0 ? names->uid : read_uid(ev.pid());   // the caller's (an exec keeps it unless setuid)
    if (c) {
        model::describe_container(d, c->info);
        if (c->info.metadata_known && c->info.image.empty()) d.unknown = "image";
    } else {
        d.unknown = "container";
    }
    if (digest_unknown) d.unknown += d.unknown.empty() ? "sha256" : ", sha256";
    return d;
}

namespace {
std::atomic<int> g_crash_fd{-1};

extern "C" void on_fatal_signal(int sig) {
    int fd = g_crash_fd.exchange(-1);
    if (fd >= 0) ::close(fd);   // the kernel allows every pending exec at once
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}
}  // namespace

void release_group_on_crash(int group_fd) {
    g_crash_fd.store(group_fd);
    struct sigaction sa{};
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace layerlock::gate
