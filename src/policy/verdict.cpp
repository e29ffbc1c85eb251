// SPDX-License-Identifier: Apache-2.0
// The verdict rules of the exec gate, in one place:
//   image layer inode                         -> allow, quiet
//   upper file, same content as image at path -> allow, quiet (copy-up by chmod/chown/touch;
//                                                compared byte for byte or by digest)
//   upper file with the kernel's copy-up origin
//     marker whose content is an image file   -> allow, low alert (hard-linked/renamed image file)
//   any other upper file                      -> binary drift (new, modified, or copied by a process)
//   undecided                                 -> the configured fallback, medium alert
//   changed while being judged                -> binary drift (what was checked is not what runs)
// An upper file that is neither the same size as the image's file at its path nor
// marked by the kernel's copy-up cannot be either allowed kind: it is drift before
// any hashing (classify_unhashed).
#include "layerlock/policy/verdict.hpp"

namespace layerlock::policy {

using model::Severity;

Classification classify(const ExecFacts& f) {
    switch (f.source) {
        case Source::LowerLayer:
            return {false, false, Severity::Info, "image-layer"};
        case Source::Undecided:
            return undecided();
        case Source::UpperLayer:
            break;
    }
    if (f.equals_image_file_at_path) return {false, false, Severity::Info, "copy-up"};
    if (!f.content) return undecided();
    if (f.image_at_path && *f.image_at_path == *f.content)
        return {false, false, Severity::Info, "copy-up"};
    if (f.has_overlay_origin && f.content_in_image)
        return {false, true, Severity::Low, "renamed-image-file"};
    if (f.image_at_path || f.image_file_at_path) return {true, true, Severity::High, "modified-image-file"};
    if (f.content_in_image) return {true, true, Severity::High, "copied-image-file"};
    return {true, true, Severity::High, "new-file"};
}

std::optional<Classification> classify_unhashed(const UpperFile& f) {
    if (f.could_be_copy_up || (f.has_overlay_origin && f.size_in_image)) return std::nullopt;
    if (f.image_file_at_path) return Classification{true, true, Severity::High, "modified-image-file"};
    return Classification{true, true, Severity::High, "new-file"};
}

Classification undecided() { return {false, true, Severity::Medium, "undecided"}; }

Classification changed_while_judged() { return {true, true, Severity::High, "changed-while-judged"}; }

Verdict decide(const Classification& c, model::Mode mode, model::Action undecided_answer) {
    if (c.reason == "undecided") {
        bool deny = undecided_answer == model::Action::Deny;
        return {undecided_answer, c, deny ? "denied" : "allowed"};
    }
    if (!c.drift) return {model::Action::Allow, c, "allowed"};
    if (mode == model::Mode::Enforce) return {model::Action::Deny, c, "denied"};
    if (mode == model::Mode::Learn) return {model::Action::Allow, c, "learned"};
    return {model::Action::Allow, c, "alerted"};
}

}  // namespace layerlock::policy
