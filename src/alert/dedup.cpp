// SPDX-License-Identifier: Apache-2.0
#include "layerlock/alert/dedup.hpp"

namespace layerlock::alert {

std::string Deduper::key_of(const model::DriftEvent& ev) {
    std::string k;
    for (const std::string* part : {&ev.container_id, &ev.kind, &ev.path, &ev.sha256, &ev.action, &ev.reason,
                                    &ev.change, &ev.package, &ev.detail}) {
        k += *part;
        k += '\0';   // names hold any byte but NUL
    }
    return k;
}

bool Deduper::admit(const model::DriftEvent& ev, Clock::time_point now) {
    if (window_.count() == 0) return true;
    auto key = key_of(ev);
    if (auto it = open_.find(key); it != open_.end() && now < it->second.closes) {
        it->second.count += ev.count;
        it->second.last_ns = ev.time_ns ? ev.time_ns : ev.time_us * 1000;
        ++suppressed_;
        return false;
    }
    if (open_.size() >= max_keys_) {
        ++overflow_;
        return true;
    }
    // (A window past its close still open here is summed up by the next due().)
    if (open_.count(key)) return true;
    Window w{ev, ev.count, 0, now + window_};
    closing_.emplace(w.closes, key);
    open_.emplace(std::move(key), std::move(w));
    return true;
}

std::vector<model::DriftEvent> Deduper::due(Clock::time_point now, bool all) {
    std::vector<model::DriftEvent> out;
    while (!closing_.empty() && (all || closing_.begin()->first <= now)) {
        auto it = open_.find(closing_.begin()->second);
        closing_.erase(closing_.begin());
        if (it == open_.end()) continue;
        Window& w = it->second;
        if (w.last_ns != 0) {   // repeated: one summary
            model::DriftEvent s = std::move(w.first);
            s.count = w.count;
            s.last_ns = w.last_ns;
            out.push_back(std::move(s));
        }
        open_.erase(it);
    }
    return out;
}

std::optional<Deduper::Clock::time_point> Deduper::next_due() const {
    if (closing_.empty()) return std::nullopt;
    return closing_.begin()->first;
}

}  // namespace layerlock::alert
