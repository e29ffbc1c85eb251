// SPDX-License-Identifier: Apache-2.0
// The gate's worker threads (small and large lanes, so one huge hash never holds
// up the others): an upper file no content could make the image's is answered
// unhashed (policy::classify_unhashed); a file of the size of the image's file at
// its path is compared with that file byte for byte; only what is left is hashed
// before the answer. Answer first, then alert: the alert goes to a lane.
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
    const auto& c = *job.container;
    job.st = job.ev->st;
    policy::Classification cls;
    std::optional<model::Sha256> content;
    // A file whose version changes while it is read is judged again, on the version
    // now there (a copy-up by another process's chmod mid-way, say); one that keeps
    // changing is drift: what was read is not what would run.
    for (int attempt = 0;; ++attempt) {
        const auto img = gate.env_.image_file(c, job.path);
        const bool origin = has_overlay_origin(c, job.path);
        std::optional<bool> same;   // byte for byte the image's file at the path?
        if (img.known) {
            auto upper = compare_with_image(job, img, origin, same, o);
            if (auto unhashed = policy::classify_unhashed(upper)) return answer_unhashed(job, *unhashed, img.present, o);
        }
        const auto facts = facts_of_content(job, img, origin, same, content);
        cls = policy::classify(facts);
        if (facts.source != policy::Source::UpperLayer) break;   // undecided: nothing was judged
        // The image's bytes (a copy-up, a renamed image file) that a rule prohibits.
        if (!cls.drift && prohibited(c, job.path, content ? content : img.digest, o)) cls = policy::prohibited_file();
        const auto version = version_after_reading(job, attempt);
        if (version == Version::Judged) break;
        if (version == Version::Newer) continue;
        cls = policy::changed_while_judged();
        content.reset();   // not the digest of any one version of the file
        counters.changed_while_judged.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    return answer_judged(job, cls, content, o);
}

// What is known of the executed upper file without its content: whether the image
// has a file at its path, of its size, and whether overlayfs marked it a copy. Of
// the size of the image's file at the path, it is compared with that file in its
// layer at memory speed instead of hashed at SHA-256 speed (`same`).
policy::UpperFile ExecGate::Impl::compare_with_image(Job& job, const ImageFile& img, bool origin,
                                                     std::optional<bool>& same, const GateOptions& o) {
    auto& ev = *job.ev;
    const auto& c = *job.container;
    const auto size = static_cast<std::uint64_t>(job.st.st_size);
    policy::UpperFile upper{img.present, img.present && img.size == size, origin};
    if (upper.could_be_copy_up) {
        same = same_as_layer_file(c, img.layer, job.path, ev.fd(), size, ev.deadline());
        if (same) counters.compared.fetch_add(1, std::memory_order_relaxed);
        if (same == false) upper.could_be_copy_up = false;
    }
    // A marked copy too large to hash quickly: its size alone may rule out every image file.
    if (origin && !upper.could_be_copy_up && size >= o.large_file_bytes)
        upper.size_in_image = gate.env_.image_has_size(c, size);
    return upper;
}

// The facts the content decides on: the comparison's result, or the file hashed
// (`content`). Source stays Unknown (undecided) when neither could be had in time.
policy::ExecFacts ExecGate::Impl::facts_of_content(Job& job, const ImageFile& img, bool origin,
                                                   std::optional<bool> same, std::optional<model::Sha256>& content) {
    auto& ev = *job.ev;
    policy::ExecFacts facts;
    content.reset();
    if (same == true) {
        facts.source = policy::Source::UpperLayer;
        facts.image_file_at_path = true;
        facts.equals_image_file_at_path = true;
        return facts;
    }
    // A marked copy (renamed image file?), or the comparison was not possible:
    // the content decides.
    content = hash_event(ev, ev.deadline());
    // Of the image file's size, but neither compared nor its digest known (the
    // baseline is incomplete): whether it is a copy-up cannot be told.
    const bool copy_up_unknown = img.present && img.size == static_cast<std::uint64_t>(job.st.st_size) && !same &&
                                 !img.digest;
    if (content && img.known && !copy_up_unknown && Clock::now() < ev.deadline()) {
        facts.source = policy::Source::UpperLayer;
        facts.content = *content;
        facts.image_at_path = img.digest;
        facts.image_file_at_path = img.present;
        facts.has_overlay_origin = origin;
        // Only a marked copy needs the image searched by content (renamed image file).
        if (origin && img.digest != *content) facts.content_in_image = gate.env_.content_in_image(*job.container, *content);
    }
    return facts;
}

// Whether what was read is still the version judged: Judged; or a newer version is
// there and time is left to judge it (Newer, job.st updated); or it keeps changing.
ExecGate::Impl::Version ExecGate::Impl::version_after_reading(Job& job, int attempt) {
    struct stat now{};
    const bool readable = ::fstat(job.ev->fd(), &now) == 0;
    if (readable && policy::FileKey::of(now) == policy::FileKey::of(job.st)) return Version::Judged;
    if (readable && attempt < 2 && Clock::now() < job.ev->deadline()) {
        job.st = now;
        return Version::Newer;
    }
    return Version::KeepsChanging;
}

// The answer (unless the deadline sweep gave it already), the verdict cached, and
// the alert handed to a lane. True when the lane took the event's fd.
bool ExecGate::Impl::answer_judged(Job& job, const policy::Classification& cls,
                                   const std::optional<model::Sha256>& content, const GateOptions& o) {
    auto& ev = *job.ev;
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

}  // namespace layerlock::gate
