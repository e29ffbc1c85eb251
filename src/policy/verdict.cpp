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
            return {false, false, Severity::Info, Reason::ImageLayer};
        case Source::Undecided:
            return undecided();
        case Source::UpperLayer:
            break;
    }
    if (f.equals_image_file_at_path) return {false, false, Severity::Info, Reason::CopyUp};
    if (!f.content) return undecided();
    if (f.image_at_path && *f.image_at_path == *f.content)
        return {false, false, Severity::Info, Reason::CopyUp};
    if (f.has_overlay_origin && f.content_in_image)
        return {false, true, Severity::Low, Reason::RenamedImageFile};
    if (f.image_at_path || f.image_file_at_path) return {true, true, Severity::High, Reason::ModifiedImageFile};
    if (f.content_in_image) return {true, true, Severity::High, Reason::CopiedImageFile};
    return {true, true, Severity::High, Reason::NewFile};
}

std::optional<Classification> classify_unhashed(const UpperFile& f) {
    if (f.could_be_copy_up || (f.has_overlay_origin && f.size_in_image)) return std::nullopt;
    if (f.image_file_at_path) return Classification{true, true, Severity::High, Reason::ModifiedImageFile};
    return Classification{true, true, Severity::High, Reason::NewFile};
}

Classification undecided() { return {false, true, Severity::Medium, Reason::Undecided}; }

Classification changed_while_judged() { return {true, true, Severity::High, Reason::ChangedWhileJudged}; }

Verdict decide(const Classification& c, model::Mode mode, model::Action undecided_answer) {
    if (c.reason == Reason::Undecided) {
        bool deny = undecided_answer == model::Action::Deny;
        return {undecided_answer, c, deny ? Outcome::Denied : Outcome::Allowed};
    }
    if (!c.drift) return {model::Action::Allow, c, Outcome::Allowed};
    if (mode == model::Mode::Enforce) return {model::Action::Deny, c, Outcome::Denied};
    if (mode == model::Mode::Learn) return {model::Action::Allow, c, Outcome::Learned};
    return {model::Action::Allow, c, Outcome::Alerted};
}

}  // namespace layerlock::policy
