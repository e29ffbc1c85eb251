// SPDX-License-Identifier: Apache-2.0
// Pure exec-gate decisions: what the gate learned about one executed file, plus
// the container's mode and the configured fallback, give a Verdict with a reason.
// No syscalls, no SQLite, no logging: unit-tested without root.
#pragma once

#include <optional>
#include <string_view>

#include "layerlock/model/types.hpp"
#include "layerlock/policy/reasons.hpp"

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
    // the same path (nullopt: the image has no regular file there, or its digest
    // was not needed: see image_file_at_path).
    std::optional<model::Sha256> content;
    std::optional<model::Sha256> image_at_path;
    bool image_file_at_path = false;     // the image has a regular file at the path
    // The executed file was compared byte for byte with the image's file at the
    // path and is equal (then `content` need not be known).
    bool equals_image_file_at_path = false;
    bool has_overlay_origin = false;     // kernel copy-up marker on the upper file
    bool content_in_image = false;       // the content equals some image file
};

// Classification of a file, independent of mode: what the verdict cache stores.
struct Classification {
    bool drift = false;                  // binary drift: deny in enforce mode
    bool alert = false;                  // worth an alert even when allowed
    model::Severity severity = model::Severity::Info;
    Reason reason = Reason::Undecided;
};

struct Verdict {
    model::Action action = model::Action::Allow;
    Classification what;
    Outcome outcome = Outcome::Allowed;  // the alert's action
};

Classification classify(const ExecFacts& facts);

// An upper-layer file as known before its content is hashed.
struct UpperFile {
    bool image_file_at_path = false;     // the image has a regular file at the same path
    // ... of the executed file's size, and not proven different byte for byte
    bool could_be_copy_up = false;
    bool has_overlay_origin = false;     // kernel copy-up marker on the upper file
    bool size_in_image = true;           // some image file has its size (true: not known)
};

// Only two kinds of upper file can be allowed, and both need the image's own
// bytes: a copy-up (the image's file at the same path, so of the same size) and a
// renamed image file (the kernel's origin marker, and the size of some image
// file: a marked copy grown past every image file cannot hold one's bytes; the
// gate asks for large files only, where a hash would be long). Any other upper file is binary
// drift whatever it holds: its classification needs no hash, and is returned here
// (nullopt: the content decides). The reason is provisional: NewFile may turn
// out to be CopiedImageFile once the content is hashed (after the answer).
std::optional<Classification> classify_unhashed(const UpperFile& f);

// `undecided_answer` is the configured on_error fallback.
Verdict decide(const Classification& c, model::Mode mode, model::Action undecided_answer);

// The gate could not decide (error, deadline, overload, unknown container): the
// configured fallback answers, with a medium alert. Never cached.
Classification undecided();

// The executed file changed while it was being judged (its version after the
// check is not the one the event reported): what was checked is not what would
// run. Drift, never cached.
Classification changed_while_judged();

// True when the classification must not be cached (it depends on transient state).
inline bool cacheable(const Classification& c) {
    return c.reason != Reason::Undecided && c.reason != Reason::ChangedWhileJudged;
}

}  // namespace layerlock::policy
