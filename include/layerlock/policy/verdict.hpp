// SPDX-License-Identifier: Apache-2.0
// Pure exec-gate decisions: what the gate learned about one executed file, plus
// the container's mode and the configured fallback, give a Verdict with a reason.
// No syscalls, no SQLite, no logging: unit-tested without root.
#pragma once

#include <optional>
#include <string_view>

#include "layerlock/model/types.hpp"

namespace layerlock::policy {

// Where the executed file came from, as established on the event's own fd.
enum class Source {
    LowerLayer,   // the fd's inode is an image layer's inode (identity proven)
    UpperLayer,   // the fd's inode lives in the container's writable layer
    Undecided,    // an error or timeout stopped the gate from finding out
};

struct ExecFacts {
    Source source = Source::Undecided;
    // For UpperLayer: the hash of the executed content, and the image's file at
    // the same path (nullopt: the image has no regular file there).
    std::optional<model::Sha256> content;
    std::optional<model::Sha256> image_at_path;
    bool has_overlay_origin = false;     // kernel copy-up marker on the upper file
    bool content_in_image = false;       // the content equals some image file
};

// Classification of a file, independent of mode: what the verdict cache stores.
struct Classification {
    bool drift = false;                  // binary drift: deny in enforce mode
    bool alert = false;                  // worth an alert even when allowed
    model::Severity severity = model::Severity::Info;
    std::string_view reason;             // static string: image-layer, copy-up, ...
};

struct Verdict {
    model::Action action = model::Action::Allow;
    Classification what;
    std::string_view alert_action;       // "denied" | "alerted" | "allowed"
};

Classification classify(const ExecFacts& facts);

// `undecided_answer` is the configured on_error fallback.
Verdict decide(const Classification& c, model::Mode mode, model::Action undecided_answer);

// True when the classification must not be cached (it depends on transient state).
inline bool cacheable(const Classification& c) { return c.reason != "undecided"; }

}  // namespace layerlock::policy
