// SPDX-License-Identifier: Apache-2.0
// The gate's after and alert lanes (background priority): the alerts of answered
// events, hashing first the files answered unhashed. Nothing waits on them: an
// exec has its answer before its alert is built. publish() is called only after
// respond().
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
// CopiedImageFile) and the verdict cached with the digest. On shutdown, or
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

void ExecGate::Impl::report(const PendingExec& ev, const GatedContainer* c, const std::string& path,
                            const policy::Verdict& v, const std::optional<model::Sha256>& digest,
                            std::optional<ProcessNames> names) {
    gate.env_.publish(event_for(ev, c, path, v, digest, std::move(names)));
}

model::DriftEvent ExecGate::Impl::event_for(const PendingExec& ev, const GatedContainer* c, const std::string& path,
                                            const policy::Verdict& v, const std::optional<model::Sha256>& digest,
                                            std::optional<ProcessNames> names) {
    model::DriftEvent d;
    d.kind = std::string(policy::name(ev.kind));
    if (ev.mount) {
        d.location = ev.mount->location;
        d.mount = ev.mount->mount_point;
    } else if (v.what.drift) {
        d.location = "writable-layer";
    }
    d.severity = v.what.severity;
    // Drift (judged, not a fallback answer) by its kind's configured severity.
    if (v.what.drift && v.what.reason != policy::Reason::Undecided) d.severity = severity_of(ev.kind, options());
    d.action = std::string(policy::name(v.outcome));
    d.reason = std::string(policy::name(v.what.reason));
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

}  // namespace layerlock::gate
